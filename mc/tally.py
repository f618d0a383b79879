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

from numba import njit

from .transport import (LET_EPS, LET_EPS_LM, LET_EPS_LW, LET_LEN, LET_LEN_LM, LET_LEN_LW, LET_PRIMARY, N_COUNTERS,
                        N_LET, PAR_DOSE_TO_WATER, PAR_LET, PAR_SECONDARY_TALLY, accumulate_batch)


class EnergyTally:
    """Accumulates per-voxel energy deposits over batches (MeV)."""

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.a1 = np.zeros(self.shape)
        self.a2 = np.zeros(self.shape)
        self.n_primaries = 0
        self.n_batches = 0

    def add_batch(self, edep, n, box=None, col_z=None):
        """Add a batch of ``n`` primaries' deposits [MeV], which lie in the voxel block ``box``
        (int64[6] as :func:`full_box`, default the whole grid) and there, per column along z,
        in the layer range ``col_z`` (as :func:`empty_cols`; default all layers); ``edep`` is
        zeroed afterwards."""
        if box is None:
            box = full_box(self.shape)
        if col_z is None:
            col_z = full_cols(self.shape)
        accumulate_batch(edep, self.a1, self.a2, 1.0 / n, box, col_z)
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


def empty_box():
    """A voxel bounding box (int64[6]: lowest x, y, z index, then highest) holding nothing."""
    return np.array([2**62, 2**62, 2**62, -1, -1, -1], np.int64)


def full_box(shape):
    """The bounding box of a whole grid of ``shape``."""
    return np.array([0, 0, 0, shape[0] - 1, shape[1] - 1, shape[2] - 1], np.int64)


def widen_box(box, other):
    """Widen ``box`` in place to cover ``other`` too."""
    box[:3] = np.minimum(box[:3], other[:3])
    box[3:] = np.maximum(box[3:], other[3:])


def empty_cols(n):
    """Per-column layer ranges (int32 (2, n): lowest and highest iz of each of the n columns
    along z, flat index ix ny + iy) holding nothing."""
    out = np.empty((2, n), np.int32)
    clear_cols(out)
    return out


def full_cols(shape):
    """Layer ranges covering every column of a grid of ``shape``."""
    out = np.zeros((2, shape[0] * shape[1]), np.int32)
    out[1] = shape[2] - 1
    return out


def clear_cols(cols):
    """Empty the layer ranges ``cols`` in place."""
    cols[0] = 2**30
    cols[1] = -1


def cols_size(box, cols, ny):
    """Number of voxels in the layer ranges ``cols`` of the columns of ``box`` (grid of ``ny``
    columns along y): the size of :func:`mc.transport.pack_columns`'s output per array."""
    ix, iy = np.meshgrid(np.arange(box[0], box[3] + 1), np.arange(box[1], box[4] + 1), indexing="ij")
    c = (ix * ny + iy).ravel()
    lo = np.maximum(cols[0, c], box[2])
    hi = np.minimum(cols[1, c], box[5])
    return int(np.maximum(hi - lo + 1, 0).sum())


def widen_cols(cols, other):
    """Widen the layer ranges ``cols`` in place to cover ``other`` too."""
    np.minimum(cols[0], other[0], out=cols[0])
    np.maximum(cols[1], other[1], out=cols[1])


def new_counters():
    return np.zeros(N_COUNTERS)


class BatchBuffers:
    """Per-batch kernel outputs: energy deposit [MeV] (``edep``), its water-equivalent and
    secondary-particle parts when enabled (else 1x1x1 placeholders), the number of primaries
    reaching each voxel layer along z (``fluence_z``) and the energy counters."""

    def __init__(self, shape, water=False, secondary=False, let=False):
        self.edep = np.zeros(shape)
        self.edep_water = np.zeros(shape) if water else np.zeros((1, 1, 1))
        self.edep_sec = np.zeros(shape) if secondary else np.zeros((1, 1, 1))
        self.let = np.zeros((N_LET,) + tuple(shape)) if let else np.zeros((N_LET, 1, 1, 1))
        # touched-voxel list for per-spot read-out (placeholders unless enable_touched())
        self.touched_mark = np.zeros(1, np.int8)
        self.touched = np.zeros(1, np.int64)
        self.n_touched = np.zeros(1, np.int64)
        self.fluence_z = np.zeros(shape[2])
        self.counters = new_counters()
        # voxels the kernel deposited in since the last accumulation lie in this block and, per
        # column along z, in a range of layers
        self.bbox = empty_box()
        self.col_z = empty_cols(shape[0] * shape[1])

    def enable_touched(self):
        n = self.edep.size
        self.touched_mark = np.zeros(n, np.int8)
        self.touched = np.zeros(n, np.int64)
        self.n_touched[0] = 0

    def move_to(self, other, idx, factor):
        """Add ``factor`` x this buffer's tallies at flat voxel indices ``idx`` to ``other`` (a
        BatchBuffers of the same grid and switches) and zero them here; returns the moved
        energy deposits [MeV] (already multiplied by ``factor``)."""
        moved = None
        for name in ("edep", "edep_water", "edep_sec"):
            src = getattr(self, name)
            if src.size == 1 and self.edep.size > 1:
                continue
            flat = src.reshape(-1)
            v = flat[idx] * factor
            getattr(other, name).reshape(-1)[idx] += v
            flat[idx] = 0.0
            if name == "edep":
                moved = v
        if self.let.shape[1:] == self.edep.shape:
            flat = self.let.reshape(N_LET, -1)
            other.let.reshape(N_LET, -1)[:, idx] += flat[:, idx] * factor
            flat[:, idx] = 0.0
        widen_box(other.bbox, self.bbox)
        self.bbox[:] = empty_box()
        widen_cols(other.col_z, self.col_z)
        clear_cols(self.col_z)
        return moved

    def take_touched(self):
        """Flat indices of the voxels touched since the last call; resets the list."""
        idx = self.touched[:self.n_touched[0]].copy()
        self.touched_mark[idx] = 0
        self.n_touched[0] = 0
        return idx

    def check(self, shape, params):
        """Raise ValueError unless the buffers fit a grid of ``shape`` and the tallies that
        ``params`` switch on (a mismatch would make the kernel write out of bounds)."""
        shape = tuple(shape)
        need = [("edep", self.edep, True), ("edep_water", self.edep_water, params[PAR_DOSE_TO_WATER] != 0.0),
                ("edep_sec", self.edep_sec, params[PAR_SECONDARY_TALLY] != 0.0),
                ("let", self.let[0], params[PAR_LET] != 0.0)]
        for name, arr, on in need:
            if on and arr.shape != shape:
                raise ValueError(f"BatchBuffers.{name} has shape {arr.shape}, the grid {shape}: "
                                 "build the buffers with the grid's shape and the same tally switches")
        if self.fluence_z.shape != (shape[2],):
            raise ValueError(f"BatchBuffers.fluence_z has {self.fluence_z.shape[0]} layers, the grid {shape[2]}")

    def kernel_args(self):
        return (self.edep, self.edep_water, self.edep_sec, self.fluence_z, self.let, self.counters,
                self.touched_mark, self.touched, self.n_touched, self.bbox, self.col_z)


# second-moment layout of LetTally.m2: (numerator^2, denominator^2, numerator x denominator)
# per (numerator, denominator) pair: LETd and LETt in the medium and LETd in water (the one
# the RBE models use), all particles
_M2_NAMES = ("let_d", "let_t", "let_d_water")
_M2_PAIRS = np.array([[LET_EPS_LM, LET_EPS], [LET_LEN_LM, LET_LEN], [LET_EPS_LW, LET_EPS]], np.int64)


@njit(cache=True)
def _accumulate_let(b, t, q, pairs, box, col_z):
    """sums ``t`` += batch ``b`` (all N_LET sums), ``q`` (m2) += the batch products of
    ``pairs``; zero ``b``. Only the column layer ranges (``col_z``) of the voxel block ``box``
    are visited, and in them only voxels the batch touched cost more than a read."""
    n_k = b.shape[0]
    ny = b.shape[2]
    for x in range(box[0], box[3] + 1):
        for y in range(box[1], box[4] + 1):
            c = x * ny + y
            for i in range(max(col_z[0, c], box[2]), min(col_z[1, c], box[5]) + 1):
                if b[LET_EPS, x, y, i] == 0.0 and b[LET_LEN, x, y, i] == 0.0:
                    continue
                for j in range(pairs.shape[0]):
                    num = b[pairs[j, 0], x, y, i]
                    den = b[pairs[j, 1], x, y, i]
                    q[3 * j, x, y, i] += num * num
                    q[3 * j + 1, x, y, i] += den * den
                    q[3 * j + 2, x, y, i] += num * den
                for k in range(n_k):
                    t[k, x, y, i] += b[k, x, y, i]
                    b[k, x, y, i] = 0.0


class LetTally:
    """Dose-averaged and track-averaged LET per voxel [keV/um] from the kernel's LET sums.

    Estimators (the stopping-power scoring recommended by Cortes-Giraldo & Carabe 2015, Phys.
    Med. Biol. 60:2645, and Granville & Sawakuchi 2015, Phys. Med. Biol. 60:N283, rather than
    the energy deposit per step, which depends on the step length):

    * LETd = sum_i eps_i L_i / sum_i eps_i  (eps_i energy deposited by voxel segment i),
    * LETt = sum_i l_i L_i / sum_i l_i      (l_i its length),

    L_i the unrestricted electronic stopping power averaged over the segment's CSDA energy
    interval (dose-weighted, int S dE / dE, for LETd; length-weighted, dE / dl, for LETt), in
    the voxel's medium or, for the ``_water`` variants, in liquid water at the same energy. The
    sums run over every transported charged particle (for proton beams: primary and
    secondary protons, the clinical convention) or over primaries only. Particles that stop
    on the spot below the cut-off contribute their residual track with its mean stopping power
    T/R(T); short-range fragments and recoils deposited on the spot are not in the LET sums
    (their stopping powers are not tabulated; < 0.1 % of the dose, Paganetti 2002).

    The standard errors of LETd and LETt (all particles, medium) and of LETd in water are the
    ratio-estimator (delta
    method) error over the B batches with per-batch sums (N_b, D_b) and R = sum N_b / sum D_b:
    var R = B/(B-1) sum_b (N_b - R D_b)^2 / (sum_b D_b)^2 (e.g. Cochran 1977, Sampling
    Techniques, eq. 6.9).
    """

    def __init__(self, shape):
        self.shape = tuple(shape)
        self.sums = np.zeros((N_LET,) + self.shape)
        self.m2 = np.zeros((3 * len(_M2_NAMES),) + self.shape)
        self.n_batches = 0

    @property
    def nbytes(self):
        return self.sums.nbytes + self.m2.nbytes

    def add_batch(self, batch, box=None, col_z=None):
        """Add a batch's LET sums (shape (N_LET,) + grid), nonzero only in the voxel block
        ``box`` and its column layer ranges ``col_z`` (defaults: everywhere); ``batch`` is
        zeroed afterwards."""
        if box is None:
            box = full_box(self.shape)
        if col_z is None:
            col_z = full_cols(self.shape)
        _accumulate_let(batch, self.sums, self.m2, _M2_PAIRS, box, col_z)
        self.n_batches += 1

    @staticmethod
    def _ratio(num, den):
        out = np.zeros_like(num)
        np.divide(num, den, out=out, where=den > 0)
        return out

    def averages(self):
        """{name: array [keV/um]}: let_d, let_t (all transported charged particles, medium),
        let_d_water, let_t_water, and the same with the suffix ``_primary`` for primaries."""
        s = self.sums
        out = {}
        for off, suffix in ((0, ""), (LET_PRIMARY, "_primary")):
            out["let_d" + suffix] = self._ratio(s[off + LET_EPS_LM], s[off + LET_EPS])
            out["let_t" + suffix] = self._ratio(s[off + LET_LEN_LM], s[off + LET_LEN])
        for off, suffix in ((0, ""), (LET_PRIMARY, "_primary")):
            out["let_d_water" + suffix] = self._ratio(s[off + LET_EPS_LW], s[off + LET_EPS])
            out["let_t_water" + suffix] = self._ratio(s[off + LET_LEN_LW], s[off + LET_LEN])
        return out

    def std(self):
        """Standard errors [keV/um] of let_d, let_t and let_d_water (zero with fewer than two
        batches)."""
        out = {}
        B = self.n_batches
        for j, ((kn, kd), name) in enumerate(zip(_M2_PAIRS, _M2_NAMES)):
            num, den = self.sums[kn], self.sums[kd]
            if B < 2:
                out[name] = np.zeros(self.shape)
                continue
            R = self._ratio(num, den)
            q = self.m2[3 * j] - 2.0 * R * self.m2[3 * j + 2] + R * R * self.m2[3 * j + 1]
            var = self._ratio(B / (B - 1.0) * np.maximum(q, 0.0), den * den)
            out[name] = np.sqrt(var)
        return out
