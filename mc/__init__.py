"""flashmc Monte Carlo engine: configuration, source, transport kernel, tallies, runner, output."""

__version__ = "0.1.0"
