"""The transport kernel: one batch of histories, compiled with numba.

Start reading at :mod:`mc.kernel.transport` (the history loop and the glossary of symbols);
each stage of a history is a small compiled function in a module of its own:

* :mod:`mc.kernel.layout`    named indices of the counter, LET, stack and parameter arrays;
* :mod:`mc.kernel.bundles`   the typed bundles of arrays the kernel takes (source, geometry,
                             tables, species, nuclear data, parameters, tallies);
* :mod:`mc.kernel.rng`       the random-number generator (xoshiro256+) and Gaussian pairs;
* :mod:`mc.kernel.lookup`    table interpolation and the range-table look-up;
* :mod:`mc.kernel.source`    sampling a primary from the beam's spots;
* :mod:`mc.kernel.walk`      entering the grid, locating voxels and the voxel walk of a step;
* :mod:`mc.kernel.step`      the step plan: length, straggling, multiple-scattering hinge;
* :mod:`mc.kernel.score`     deposits on the spot and the optional tallies (dose to water, LET);
* :mod:`mc.kernel.interact`  discrete nuclear interactions and their products;
* :mod:`mc.kernel.stack`     the stack of secondary particles.

The physics samplers the stages call live beside their data in :mod:`physics`
(:mod:`physics.straggling`, :mod:`physics.scattering`, :mod:`physics.nuclear`). This package
file imports nothing, so that those modules can import :mod:`mc.kernel.rng`.
"""
