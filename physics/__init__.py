"""Physics: materials, stopping powers, straggling, multiple scattering, kernel tables."""
