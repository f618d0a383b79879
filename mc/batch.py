"""One batch of histories: generator states, kernel parameters, kernel arguments.

A batch's random numbers come from a xoshiro256+ state (uint64[4]) derived from the run's seed
and the batch index (and, in per-spot mode, the spot index) through
``numpy.random.SeedSequence``, so a batch's histories do not depend on which process runs it.
:func:`kernel_params` turns the physics configuration into the kernel's parameter vector
(``mc.transport.PAR_*``: energies in MeV; the step-length limit converted from mm to cm, the
final range from mm of water to g/cm^2), :func:`kernel_geometry_tables` lays out the grid, the physics tables and the nuclear
channels as the kernel's arguments, and :func:`run_batch` transports one batch into a
:class:`mc.tally.BatchBuffers`.
"""

import numpy as np

from physics.nuclear import product_model_parameters
from physics.species import species_arrays
from physics.tables import majorant_sigma

from .transport import (N_PARAMS, PAR_DOSE_TO_WATER, PAR_FINAL_RANGE, PAR_LET, PAR_MAX_RANGE_FRACTION, PAR_MAX_STEP,
                        PAR_SCATTERING, PAR_SECONDARY_TALLY, PAR_STRAGGLING, PAR_T_CUT, PAR_VOXEL_STEPS,
                        transport_batch)


def batch_seed(seed, batch):
    """Generator state (uint64[4], never all zero) of batch ``batch`` of a run with ``seed``."""
    state = np.random.SeedSequence(int(seed), spawn_key=(int(batch),)).generate_state(4, np.uint64)
    if not state.any():  # pragma: no cover  (probability 2^-256)
        state[0] = 1
    return state


def spot_seed(seed, batch, spot):
    """Generator state of spot ``spot`` in batch ``batch`` (per-spot mode)."""
    state = np.random.SeedSequence(int(seed), spawn_key=(int(batch), int(spot))).generate_state(4, np.uint64)
    if not state.any():  # pragma: no cover
        state[0] = 1
    return state


def kernel_params(physics_cfg, dose_to_water=False, secondary=False, let=False):
    """Kernel parameter vector (``mc.transport.PAR_*``)."""
    p = np.zeros(N_PARAMS)
    p[PAR_T_CUT] = physics_cfg.cutoff_MeV
    p[PAR_MAX_RANGE_FRACTION] = physics_cfg.max_range_fraction
    p[PAR_STRAGGLING] = float(physics_cfg.straggling)
    p[PAR_SCATTERING] = float(physics_cfg.multiple_scattering)
    p[PAR_DOSE_TO_WATER] = float(dose_to_water)
    p[PAR_SECONDARY_TALLY] = float(secondary)
    p[PAR_LET] = float(let)
    p[PAR_FINAL_RANGE] = physics_cfg.final_range_mm * 0.1  # mm of water -> g/cm^2
    p[PAR_VOXEL_STEPS] = float(physics_cfg.voxel_steps)
    p[PAR_MAX_STEP] = physics_cfg.max_step_mm * 0.1  # mm -> cm
    return p


_NUC_PAR = product_model_parameters()


_MAJORANTS = {}


def _majorant(tables, max_range_fraction, final_range):
    key = (id(tables), float(max_range_fraction), float(final_range))
    hit = _MAJORANTS.get(key)
    if hit is None or hit[0] is not tables:
        hit = (tables, majorant_sigma(tables, max_range_fraction, final_range))
        hit[1].setflags(write=False)
        _MAJORANTS[key] = hit
    return hit[1]


def kernel_geometry_tables(grid, tables, params, nuclear=True):
    """Geometry, physics-table and nuclear-channel arguments of
    :func:`mc.transport.transport_batch`, in order; the free-path cross section is the step
    majorant for the step limit in ``params`` (:func:`physics.tables.majorant_sigma`);
    ``nuclear=False`` switches every nuclear interaction off."""
    if nuclear:
        sigma = _majorant(tables, params[PAR_MAX_RANGE_FRACTION], params[PAR_FINAL_RANGE])
    else:
        sigma = np.zeros_like(tables.sigma_nuclear)
    return (grid.material_id, grid.density, grid.lower_cm, grid.spacing_cm,
            tables.lnT0, tables.inv_dlnT, tables.energy.reshape(1, -1), tables.range_gcm2,
            tables.water_ratio, sigma, tables.lg_pv, tables.inv_pv2, tables.range_straggling,
            tables.inv_scattering_length, tables.range_bins, tables.range_bin0, _CHARGE, _MASS,
            tables.chan_xs, tables.chan_kind, _NUC_PAR, tables.stopping, tables.stopping_integral,
            tables.energy_slope, tables.scattering_integral)


_CHARGE, _MASS = species_arrays()


def run_batch(seed, n, spots, grid, tables, params, buf, nuclear=True):
    """Transport one batch of ``n`` primaries (generator state ``seed``, see :func:`batch_seed`)
    into the :class:`mc.tally.BatchBuffers` ``buf``."""
    if n > 0:
        buf.check(grid.shape, params)
    transport_batch(n, seed, *spots.kernel_args(), *kernel_geometry_tables(grid, tables, params, nuclear),
                    params, *buf.kernel_args())
