"""Exceptions of the engine that several of its modules raise (a leaf module: it imports
nothing of flashmc, so that any module may import it).

:class:`ConfigError` is raised for anything wrong with a run's configuration or its inputs
(the config file, the geometry, the beam, the output path, a checkpoint to resume from),
before any transport where possible; the command line reports it and exits with status 2.
"""


class ConfigError(ValueError):
    """Invalid configuration; the message names the offending field and how to fix it."""
