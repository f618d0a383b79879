"""FLASH module: beam time structure (:mod:`flash.timing`), per-voxel dose rates
(:mod:`flash.doserate`), radiolytic oxygen depletion and the FLASH-modified dose
(:mod:`flash.oxygen`), sparing curves (:mod:`flash.sparing`, CLI ``python -m flash.curves``)
and the analysis of a Monte Carlo run with a ``flash`` block (:mod:`flash.analysis`)."""
