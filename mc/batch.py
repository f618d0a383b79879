"""One batch of histories: generator states, the kernel's inputs, and the call of the kernel.

A batch's random numbers come from a xoshiro256+ state (uint64[4]) derived from the run's seed
and the batch index (and, in per-spot mode, the spot index) through
``numpy.random.SeedSequence``, so a batch's histories do not depend on which process runs it.
:func:`kernel_inputs` turns the grid, the physics tables, the spots and the physics
configuration into the kernel's bundles (:mod:`mc.kernel.bundles`: lengths in cm, energies in
MeV, the final range in g/cm^2), once per run; :func:`run_batch` transports one batch into a
:class:`mc.tally.BatchBuffers`.
"""

import numpy as np

from .kernel import bundles as kb
from .kernel.transport import transport_batch
from .schedule import CALL_PRIMARIES

KernelInputs = kb.KernelInputs


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


def kernel_inputs(grid, tables, spots, physics_cfg, dose_to_water=False, secondary=False, let=False, nuclear=None,
                  zstar=None):
    """The kernel's inputs (:class:`mc.kernel.bundles.KernelInputs`) for the voxel grid, its
    physics tables (:func:`physics.tables.build_tables`), the beam's spots
    (:class:`mc.source.SpotArrays`), the ``physics`` block of the config (step control,
    switches, the cut-off of every species) and the optional tallies; ``nuclear`` (default
    ``physics_cfg.nuclear`` when None) switches the nuclear interactions; ``zstar`` the MKM's
    z1D* table (:func:`mc.rbe_dose.mkm_zstar_table`) of a run with the MKM."""
    if nuclear is None:
        nuclear = physics_cfg.nuclear
    params = kb.params_bundle(physics_cfg, dose_to_water, secondary, let)
    return kb.KernelInputs(kb.source_bundle(spots), kb.geometry_bundle(grid), kb.tables_bundle(tables, zstar),
                           kb.species_bundle(tables, physics_cfg.cutoff_MeV),
                           kb.nuclear_bundle(tables, params, nuclear), params)


def with_spots(inputs, spots):
    """The same inputs with the source of another :class:`mc.source.SpotArrays`."""
    return inputs._replace(source=kb.source_bundle(spots))


def run_batch(seed, n, inputs, buf, stop=None):
    """Transport one batch of ``n`` primaries (generator state ``seed``, see :func:`batch_seed`;
    not modified) with the :class:`mc.kernel.bundles.KernelInputs` ``inputs`` into the
    :class:`mc.tally.BatchBuffers` ``buf``, in kernel calls of at most
    :data:`mc.schedule.CALL_PRIMARIES` primaries that carry the generator state and the tallies
    on (the same result as one call, bit for bit). ``stop``: a function asked before every call
    after the first; when it returns True the batch is abandoned (everything it added to ``buf``
    is zeroed) and False is returned. Returns True when the batch is complete (its deposits
    per class then booked into the counters)."""
    if n > 0:
        buf.check(inputs.geometry.material.shape, inputs.params)
    state = np.array(seed, np.uint64)  # a copy, advanced by the calls
    tallies = kb.tallies_bundle(buf)
    done = 0
    while True:
        k = min(int(n) - done, CALL_PRIMARIES)
        transport_batch(k, state, *inputs, tallies)
        done += k
        if done >= n:
            break
        if stop is not None and stop():
            buf.discard()
            return False
    buf.finish_batch()
    return True
