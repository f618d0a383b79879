"""Batch tallies: energy deposit per voxel with batch statistics, and the energy balance.

For batch b with n_b primaries depositing E_b [MeV] in a voxel, the tally keeps
A1 = sum_b E_b and A2 = sum_b E_b^2 / n_b. With N = sum_b n_b and B batches, the mean deposit
per primary is m = A1/N and its standard error (batch method; e.g. Walters, Kawrakow & Rogers
2002, Med. Phys. 29:2745, "History by history statistical estimators") is
sqrt((A2 - A1^2/N) / (N (B - 1))), which for equal batches is the usual
sqrt(sum_b (d_b - m)^2 / (B (B - 1))) of the per-batch means d_b = E_b/n_b.
"""

import numpy as np

from physics.constants import J_PER_MEV

from .transport import N_COUNTERS, PAR_DOSE_TO_WATER, PAR_SECONDARY_TALLY, accumulate_batch


class EnergyTally:
    """Accumulates per-voxel energy deposits over batches (MeV)."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.a1 = np.zeros(self.shape)
        self.a2 = np.zeros(self.shape)
        self.n_primaries = 0
        self.n_batches = 0

    def add_batch(self, edep, n):
        """Add a batch of ``n`` primaries' deposits [MeV]; ``edep`` is zeroed afterwards."""
        accumulate_batch(edep, self.a1, self.a2, 1.0 / n)
        self.n_primaries += int(n)
        self.n_batches += 1

    def mean_per_primary(self):
        return self.a1 / self.n_primaries

    def std_per_primary(self):
        """Standard error of :meth:`mean_per_primary` (0 with fewer than two batches)."""
        if self.n_batches < 2:
            return np.zeros(self.shape)
        N = self.n_primaries
        var = (self.a2 - self.a1 * self.a1 / N) / (N * (self.n_batches - 1))
        return np.sqrt(np.maximum(var, 0.0))


def energy_to_dose(edep_mev, density_g_cm3, voxel_volume_cm3):
    """Dose [Gy] from deposited energy [MeV] in voxels of given density and volume."""
    return edep_mev * J_PER_MEV / (density_g_cm3 * voxel_volume_cm3 * 1.0e-3)


def new_counters():
    return np.zeros(N_COUNTERS)


class BatchBuffers:
    """Per-batch kernel outputs: energy deposit [MeV] (``edep``), its water-equivalent and
    secondary-particle parts when enabled (else 1x1x1 placeholders), the number of primaries
    reaching each voxel layer along z (``fluence_z``) and the energy counters."""

    def __init__(self, shape, water=False, secondary=False):
        self.edep = np.zeros(shape)
        self.edep_water = np.zeros(shape) if water else np.zeros((1, 1, 1))
        self.edep_sec = np.zeros(shape) if secondary else np.zeros((1, 1, 1))
        self.fluence_z = np.zeros(shape[2])
        self.counters = new_counters()

    def check(self, shape, params):
        """Raise ValueError unless the buffers fit a grid of ``shape`` and the tallies that
        ``params`` switch on (a mismatch would make the kernel write out of bounds)."""
        shape = tuple(shape)
        need = [("edep", self.edep, True), ("edep_water", self.edep_water, params[PAR_DOSE_TO_WATER] != 0.0),
                ("edep_sec", self.edep_sec, params[PAR_SECONDARY_TALLY] != 0.0)]
        for name, arr, on in need:
            if on and arr.shape != shape:
                raise ValueError(f"BatchBuffers.{name} has shape {arr.shape}, the grid {shape}: "
                                 "build the buffers with the grid's shape and the same tally switches")
        if self.fluence_z.shape != (shape[2],):
            raise ValueError(f"BatchBuffers.fluence_z has {self.fluence_z.shape[0]} layers, the grid {shape[2]}")

    def kernel_args(self):
        return self.edep, self.edep_water, self.edep_sec, self.fluence_z, self.counters
