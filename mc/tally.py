"""Tallies: energy deposit per voxel with batch statistics, LET, the batch buffers the kernel
writes into, and the tallies of one process (:class:`RankTallies`) with their reduction over
MPI ranks. Energies in MeV, doses in Gy, LET in keV/um.

For batch b with n_b primaries depositing E_b [MeV] in a voxel, the tally keeps
A1 = sum_b E_b and A2 = sum_b E_b^2 / n_b. With N = sum_b n_b and B batches, the mean deposit
per primary is m = A1/N and its standard error (batch method; e.g. Walters, Kawrakow & Rogers
2002, Med. Phys. 29:2745, "History by history statistical estimators") is
sqrt((A2 - A1^2/N) / (N (B - 1))), which for equal batches is the usual
sqrt(sum_b (d_b - m)^2 / (B (B - 1))) of the per-batch means d_b = E_b/n_b.

Only the voxels a batch reached are visited: the kernel reports the block of voxels it
deposited in (``box``, :func:`empty_box`) and, per column of voxels along z, the range of
layers (``col_z``, :func:`empty_cols`); the compiled helpers :func:`accumulate_batch`,
:func:`move_columns`, :func:`pack_columns` and :func:`unpack_add_columns` work over those
column ranges.
"""

import math

import numpy as np

from physics.constants import J_PER_MEV
from physics.species import FRAGMENT_GROUPS

from .jit import jit
from .kernel.layout import (CLASS_LOCAL, CLASS_PRIMARY, CLASS_SECONDARY_OTHER, CLASS_SECONDARY_PROTON,
                            COUNTER_DEP_LOCAL, COUNTER_DEP_PRIMARY, COUNTER_DEP_SEC_OTHER, COUNTER_DEP_SEC_PROTON,
                            COUNTER_DEPOSITED, LET_EPS, LET_EPS_LM, LET_EPS_LW, LET_LEN, LET_LEN_LM, LET_LEN_LW,
                            LET_EPS_Z, LET_PRIMARY, N_CLASSES, N_COUNTERS, N_LET, N_LET_ION, let_group_block)
from .parallel import REDUCE_CHUNK
from .spot_dose import SpotDose


#: The bound on the energy one run can deposit, used when none is given [MeV] (:func:`deposit_quantum`).
DEFAULT_ENERGY_BOUND_MEV = 1.0e9


def deposit_quantum(energy_bound_MeV=DEFAULT_ENERGY_BOUND_MEV):
    """The quantum q [MeV] of the integer dose sums (:func:`accumulate_batch`): the smallest
    power of two with 2^62 q >= ``energy_bound_MeV``, a bound on the energy the whole run can
    deposit in one voxel (the run's incident energy, :func:`run_energy_bound`), so that no sum
    can overflow. Each batch's deposit in a voxel is rounded to a multiple of q, an error of at
    most q/2 per batch: for 1e9 protons of 230 MeV, q = 2^-22 MeV = 0.24 eV."""
    return 2.0 ** math.ceil(math.log2(max(float(energy_bound_MeV), 1.0) / 2.0**62))


def run_energy_bound(primaries, energies_MeV, sigmas_MeV, factor=4.0):
    """An upper bound [MeV] on the energy a run can deposit in one voxel: ``primaries`` times
    the largest energy a spot's Gaussian can give (mean + 13 sigma: the polar Box-Muller
    deviates of :mod:`mc.kernel.rng`, from 53-bit uniforms, stay within 12.1), times ``factor``
    (per-spot scoring weights a spot's deposits by up to about 2)."""
    t_max = float(np.max(np.asarray(energies_MeV) + 13.0 * np.asarray(sigmas_MeV)))
    return factor * float(primaries) * t_max


class EnergyTally:
    """Accumulates per-voxel energy deposits over batches: a1 as integer multiples of the
    quantum ``q`` [MeV] (:func:`accumulate_batch`), a2 in MeV^2."""

    def __init__(self, shape, quantum=None):
        self.shape = tuple(shape)
        self.q = deposit_quantum() if quantum is None else float(quantum)
        self.a1 = np.zeros(self.shape, np.int64)
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
        if not accumulate_batch(edep, self.a1, self.a2, 1.0 / n, self.q, box, col_z):
            raise OverflowError(f"the dose sum overflowed its quantum of {self.q:.3g} MeV (a bound on the run's "
                                "energy too low)")
        self.n_primaries += int(n)
        self.n_batches += 1

    def sum_MeV(self):
        """The summed deposits [MeV] (float64)."""
        return self.a1 * self.q

    def mean_per_primary(self):
        return self.a1 * (self.q / self.n_primaries)

    def std_per_primary(self):
        """Standard error of :meth:`mean_per_primary` (0 with fewer than two batches)."""
        if self.n_batches < 2:
            return np.zeros(self.shape)
        N = self.n_primaries
        a1 = self.sum_MeV()
        var = (self.a2 - a1 * a1 / N) / (N * (self.n_batches - 1))
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
    columns along y): the size of :func:`pack_columns`'s output per array."""
    ix, iy = np.meshgrid(np.arange(box[0], box[3] + 1), np.arange(box[1], box[4] + 1), indexing="ij")
    c = (ix * ny + iy).ravel()
    lo = np.maximum(cols[0, c], box[2])
    hi = np.minimum(cols[1, c], box[5])
    return int(np.maximum(hi - lo + 1, 0).sum())


def x_slabs(box, cols, ny, values_per_voxel=1, limit=1 << 20):
    """Split ``box`` along x into consecutive blocks whose column ranges hold at most ``limit``
    values (``values_per_voxel`` per voxel; a block is at least one x plane): the pieces a
    reduction packs one at a time, so that it needs no grid-sized buffer. Yields (sub-box,
    number of voxels in its column ranges)."""
    if box[3] < box[0] or box[4] < box[1]:
        return
    ix, iy = np.meshgrid(np.arange(box[0], box[3] + 1), np.arange(box[1], box[4] + 1), indexing="ij")
    c = ix * ny + iy
    per_x = np.maximum(np.minimum(cols[1, c], box[5]) - np.maximum(cols[0, c], box[2]) + 1, 0).sum(axis=1)
    x0, n = int(box[0]), 0
    for k, m in enumerate(per_x):
        x = int(box[0]) + k
        if n > 0 and (n + m) * values_per_voxel > limit:
            yield np.array([x0, box[1], box[2], x - 1, box[4], box[5]], np.int64), n
            x0, n = x, 0
        n += int(m)
    yield np.array([x0, box[1], box[2], box[3], box[4], box[5]], np.int64), n


def widen_cols(cols, other):
    """Widen the layer ranges ``cols`` in place to cover ``other`` too."""
    np.minimum(cols[0], other[0], out=cols[0])
    np.maximum(cols[1], other[1], out=cols[1])


@jit
def accumulate_batch(edep, a1, a2, inv_n, q, box, col_z):
    """Add one batch's deposits to the tallies and zero ``edep``: each deposit E is rounded to
    the nearest multiple k q of the quantum ``q`` [MeV] (:func:`deposit_quantum`), a1 += k (an
    integer: exact, so the sum does not depend on the order of the batches, and the dose not on
    the number of ranks) and a2 += (k q)^2 / n. Visits the voxel block ``box`` (int64[6], lowest
    x, y, z index then highest, inclusive; the kernel's ``bbox``) and in it, per z-column (flat
    ix ny + iy), the layers col_z[0]..col_z[1] (the kernel's ranges, left as they are), outside
    which the batch deposited nothing; all arrays have the grid's shape. Returns False if an
    integer sum overflowed (a quantum too small for the run)."""
    ny = edep.shape[1]
    inv_q = 1.0 / q
    ok = True
    for i in range(box[0], box[3] + 1):
        for j in range(box[1], box[4] + 1):
            c = i * ny + j
            for k in range(max(col_z[0, c], box[2]), min(col_z[1, c], box[5]) + 1):
                x = edep[i, j, k]
                if x != 0.0:
                    n_q = np.int64(np.rint(x * inv_q))
                    a1[i, j, k] += n_q
                    ok = ok and a1[i, j, k] >= 0
                    xq = n_q * q
                    a2[i, j, k] += xq * xq * inv_n
                    edep[i, j, k] = 0.0
    return ok


@jit
def move_columns(s4, d4, box, col_z):
    """d4 += s4 and s4 = 0 over the column ranges of ``box`` (as :func:`accumulate_batch`);
    ``s4`` and ``d4`` have shape (k,) + the grid's shape (a 3D array is passed as a[None])."""
    ny = s4.shape[2]
    for c in range(s4.shape[0]):
        for i in range(box[0], box[3] + 1):
            for j in range(box[1], box[4] + 1):
                q = i * ny + j
                for k in range(max(col_z[0, q], box[2]), min(col_z[1, q], box[5]) + 1):
                    d4[c, i, j, k] += s4[c, i, j, k]
                    s4[c, i, j, k] = 0.0


@jit
def pack_columns(s4, box, col_z, out):
    """Move the column ranges of ``box`` of ``s4`` (shape (k,) + grid, see
    :func:`move_columns`) into the flat array ``out`` (of :func:`cols_size` values
    per array k) in a fixed order, zeroing them in ``s4``."""
    ny = s4.shape[2]
    n = 0
    for c in range(s4.shape[0]):
        for i in range(box[0], box[3] + 1):
            for j in range(box[1], box[4] + 1):
                q = i * ny + j
                for k in range(max(col_z[0, q], box[2]), min(col_z[1, q], box[5]) + 1):
                    out[n] = s4[c, i, j, k]
                    s4[c, i, j, k] = 0.0
                    n += 1


@jit
def unpack_add_columns(d4, box, col_z, src):
    """Inverse of :func:`pack_columns`: add the flat ``src`` to the column ranges of ``box``."""
    ny = d4.shape[2]
    n = 0
    for c in range(d4.shape[0]):
        for i in range(box[0], box[3] + 1):
            for j in range(box[1], box[4] + 1):
                q = i * ny + j
                for k in range(max(col_z[0, q], box[2]), min(col_z[1, q], box[5]) + 1):
                    d4[c, i, j, k] += src[n]
                    n += 1


def book_class_deposits(counters, dep_class):
    """Add a batch's deposits per class of particle (``dep_class``, MeV) to the energy counters,
    their sum as the deposited energy, and zero them."""
    d, c = dep_class, counters
    c[COUNTER_DEPOSITED] += d[CLASS_PRIMARY] + d[CLASS_SECONDARY_PROTON] + d[CLASS_SECONDARY_OTHER] + d[CLASS_LOCAL]
    c[COUNTER_DEP_PRIMARY] += d[CLASS_PRIMARY]
    c[COUNTER_DEP_SEC_PROTON] += d[CLASS_SECONDARY_PROTON]
    c[COUNTER_DEP_SEC_OTHER] += d[CLASS_SECONDARY_OTHER]
    c[COUNTER_DEP_LOCAL] += d[CLASS_LOCAL]
    d[:] = 0.0


def let_sums(let):
    """Number of LET sums of the LET switch ``let``: True (a proton beam's N_LET) or the number
    itself (:func:`mc.run.tally_flags`: N_LET_ION for an ion beam)."""
    return N_LET if let is True else int(let)


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
        self.let = np.zeros((let_sums(let),) + tuple(shape)) if let else np.zeros((N_LET, 1, 1, 1))
        # touched-voxel list for per-spot read-out (placeholders unless enable_touched())
        self.touched_mark = np.zeros(1, np.int8)
        self.touched = np.zeros(1, np.int64)
        self.n_touched = np.zeros(1, np.int64)
        self.fluence_z = np.zeros(shape[2])
        self.counters = new_counters()
        self.dep_class = np.zeros(N_CLASSES)  # the batch's deposit per class, until finish_batch
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
            flat = self.let.reshape(self.let.shape[0], -1)
            other.let.reshape(self.let.shape[0], -1)[:, idx] += flat[:, idx] * factor
            flat[:, idx] = 0.0
        widen_box(other.bbox, self.bbox)
        self.bbox[:] = empty_box()
        widen_cols(other.col_z, self.col_z)
        clear_cols(self.col_z)
        return moved

    def finish_batch(self):
        """Book the complete batch's deposits per class of particle into the counters
        (:func:`book_class_deposits`)."""
        book_class_deposits(self.counters, self.dep_class)

    def discard(self):
        """Zero everything a batch in progress has added (a stopped batch is left out whole)."""
        x0, y0, z0, x1, y1, z1 = (int(v) for v in self.bbox)
        if x1 >= x0:
            region = (slice(x0, x1 + 1), slice(y0, y1 + 1), slice(z0, z1 + 1))
            for a in (self.edep, self.edep_water, self.edep_sec):
                if a.shape == self.edep.shape:
                    a[region] = 0.0
            if self.let.shape[1:] == self.edep.shape:
                self.let[(slice(None),) + region] = 0.0
        self.touched_mark[self.touched[:self.n_touched[0]]] = 0
        self.n_touched[0] = 0
        for a in (self.fluence_z, self.counters, self.dep_class):
            a[:] = 0.0
        self.bbox[:] = empty_box()
        clear_cols(self.col_z)

    def take_touched(self):
        """Flat indices of the voxels touched since the last call; resets the list."""
        idx = self.touched[:self.n_touched[0]].copy()
        self.touched_mark[idx] = 0
        self.n_touched[0] = 0
        return idx

    def check(self, shape, params):
        """Raise ValueError unless the buffers fit a grid of ``shape`` and the tallies that
        ``params`` (:class:`mc.kernel.bundles.Params`) switch on (a mismatch would make the kernel
        write out of bounds)."""
        shape = tuple(shape)
        need = [("edep", self.edep, True), ("edep_water", self.edep_water, params.dose_to_water),
                ("edep_sec", self.edep_sec, params.secondary), ("let", self.let[0], params.let)]
        for name, arr, on in need:
            if on and arr.shape != shape:
                raise ValueError(f"BatchBuffers.{name} has shape {arr.shape}, the grid {shape}: "
                                 "build the buffers with the grid's shape and the same tally switches")
        if self.fluence_z.shape != (shape[2],):
            raise ValueError(f"BatchBuffers.fluence_z has {self.fluence_z.shape[0]} layers, the grid {shape[2]}")



# second-moment layout of LetTally.m2: (numerator^2, denominator^2, numerator x denominator)
# per (numerator, denominator) pair: LETd and LETt in the medium and LETd in water (the one
# the RBE models use), all particles
_M2_NAMES = ("let_d", "let_t", "let_d_water")
_M2_PAIRS = np.array([[LET_EPS_LM, LET_EPS], [LET_LEN_LM, LET_LEN], [LET_EPS_LW, LET_EPS]], np.int64)


@jit
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

    def __init__(self, shape, n_let=N_LET):
        self.shape = tuple(shape)
        self.sums = np.zeros((n_let,) + self.shape)
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
        let_d_water, let_t_water, and the same with the suffix ``_primary`` for primaries; for an
        ion beam (N_LET_ION sums) with the suffixes ``_H``, ``_He``, ``_Li-Be-B``, ``_C`` of the
        fragment groups instead."""
        s = self.sums
        out = {}
        blocks = ((0, ""), (LET_PRIMARY, "_primary"))
        if s.shape[0] == N_LET_ION:
            blocks = ((0, ""),) + tuple((let_group_block(g), "_" + name) for g, name in enumerate(FRAGMENT_GROUPS))
        for off, suffix in blocks:
            out["let_d" + suffix] = self._ratio(s[off + LET_EPS_LM], s[off + LET_EPS])
            out["let_t" + suffix] = self._ratio(s[off + LET_LEN_LM], s[off + LET_LEN])
        for off, suffix in blocks:
            out["let_d_water" + suffix] = self._ratio(s[off + LET_EPS_LW], s[off + LET_EPS])
            out["let_t_water" + suffix] = self._ratio(s[off + LET_LEN_LW], s[off + LET_LEN])
        return out

    def group_doses(self, density, to_gy):
        """For an ion beam (N_LET_ION sums), {fragment group: dose [Gy, float32]}: the energy the
        group's particles deposited along their tracks (the LET-scored deposits: short-range
        fragments and recoils deposited on the spot are in /dose but in no group) times
        ``to_gy`` [Gy g cm^-3 per MeV] over the ``density`` [g/cm^3]; None for a proton beam."""
        if self.sums.shape[0] != N_LET_ION:
            return None
        rho = np.asarray(density, np.float64)
        return {name: (self.sums[let_group_block(g) + LET_EPS] * to_gy / rho).astype(np.float32)
                for g, name in enumerate(FRAGMENT_GROUPS)}

    def zstar_mix(self):
        """For an ion beam with the MKM, the dose-weighted saturation-corrected specific energy
        z1D*_mix [Gy] per voxel (:mod:`physics.mkm` (M11): sum eps z1D* / sum eps over the
        LET-scored deposits); None for a proton beam."""
        if self.sums.shape[0] != N_LET_ION:
            return None
        return self._ratio(self.sums[LET_EPS_Z], self.sums[LET_EPS])

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


class RankTallies:
    """The tallies of one process (or, on rank 0, of the whole run): dose, optional dose to
    water, secondary dose and LET sums, primary fluence along z, the energy counters and, in
    per-spot mode, the per-spot deposits (:class:`mc.spot_dose.SpotDose`). Batches are added
    from a :class:`BatchBuffers` (:meth:`add`); at the end of a round the ranks' tallies are
    summed into rank 0's (:meth:`reduce_into`, :meth:`reduce_counts_into`,
    :meth:`gather_spots_into`)."""

    def __init__(self, shape, water, sec, let, per_spot_spots=0, quantum=None):
        self.dose = EnergyTally(shape, quantum)
        self.water = EnergyTally(shape, quantum) if water else None
        self.sec = EnergyTally(shape, quantum) if sec else None
        self.let = LetTally(shape, let_sums(let)) if let else None
        self.fluence = np.zeros(shape[2])
        self.counters = np.zeros(N_COUNTERS)
        self.spots = SpotDose(per_spot_spots, shape) if per_spot_spots else None
        self.shape = tuple(shape)
        # the voxels with tallies added since the last reduction: a block, and in it a range of
        # layers per column along z
        self.box = empty_box()
        self.col_z = empty_cols(self.shape[0] * self.shape[1])

    def add(self, buf, n):
        box, cols = buf.bbox, buf.col_z
        self.dose.add_batch(buf.edep, n, box, cols)
        if self.water is not None:
            self.water.add_batch(buf.edep_water, n, box, cols)
        if self.sec is not None:
            self.sec.add_batch(buf.edep_sec, n, box, cols)
        if self.let is not None:
            self.let.add_batch(buf.let, box, cols)
        widen_box(self.box, box)
        widen_cols(self.col_z, cols)
        box[:] = empty_box()
        clear_cols(cols)
        self.fluence += buf.fluence_z
        buf.fluence_z[:] = 0.0
        self.counters += buf.counters
        buf.counters[:] = 0.0

    def reduce_into(self, comm, total):
        """Sum this round's tallies of every rank into ``total`` (rank 0; None elsewhere) and
        zero them here: in one process over the column layer ranges of the block written, with
        several ranks over the block any rank wrote (chunked MPI reductions)."""
        if total is self:  # one rank adding into the run's totals directly
            self.box = empty_box()
            clear_cols(self.col_z)
            return
        if comm.size == 1:
            box, cols = self.box, self.col_z
        else:
            box, cols = comm.union_box(self.box), comm.union_cols(self.col_z)
        dst = dict(total.arrays()) if total is not None else {}
        for name, a in self.arrays():
            if a.ndim < 3 or a.shape[-3:] != self.shape:  # fluence, counters
                comm.reduce_add(a, dst.get(name))
                continue
            a4 = a if a.ndim == 4 else a[None]
            d4 = None if total is None else (dst[name] if a.ndim == 4 else dst[name][None])
            if comm.size == 1:
                move_columns(a4, d4, box, cols)
                continue
            # several ranks: the layer ranges of every rank, packed slab by slab along x (a buffer
            # of at most REDUCE_CHUNK values, or one x plane), summed into rank 0's buffer
            for sub, n in x_slabs(box, cols, self.shape[1], a4.shape[0], REDUCE_CHUNK):
                packed = np.empty(n * a4.shape[0], a4.dtype)
                pack_columns(a4, sub, cols, packed)
                comm.reduce_inplace(packed)
                if total is not None:
                    unpack_add_columns(d4, sub, cols, packed)
        self.box = empty_box()
        clear_cols(self.col_z)

    def reduce_counts_into(self, comm, total):
        """Sum this round's primary and batch counts of every rank into ``total`` (rank 0; None
        elsewhere) and zero them here."""
        if total is self:
            return
        c_loc = self.counts()
        c_sum = np.zeros_like(c_loc)
        comm.reduce_add(c_loc, c_sum)
        self.set_counts(np.zeros_like(c_sum))
        if total is not None:
            total.set_counts(total.counts() + c_sum)

    def gather_spots_into(self, comm, total):
        """Move the committed per-spot entries of every rank into ``total``'s store (rank 0)."""
        parts = comm.gather(self.spots.export())
        if comm.rank == 0:
            for k, i, v in parts:
                total.spots.absorb(k, i, v)

    def tallies(self):
        return [t for t in (self.dose, self.water, self.sec) if t is not None]

    def touch(self):
        """Write the dose tally arrays once (zeros), so that the memory pages of the grid are
        mapped during set-up rather than by the first batches (first-touch page faults cost
        ~2 ms per MB on the development VM, a few per cent of a short run's batch loop)."""
        self.dose.a1.fill(0.0)
        self.dose.a2.fill(0.0)

    def arrays(self):
        """(name, array) of every summed quantity, in a fixed order (reduction, checkpoint)."""
        out = []
        for name, t in (("dose", self.dose), ("water", self.water), ("sec", self.sec)):
            if t is not None:
                out += [(f"{name}_a1", t.a1), (f"{name}_a2", t.a2)]
        if self.let is not None:
            out += [("let_sums", self.let.sums), ("let_m2", self.let.m2)]
        out += [("fluence", self.fluence), ("counters", self.counters)]
        return out

    def counts(self):
        c = [t.n_primaries for t in self.tallies()] + [t.n_batches for t in self.tallies()]
        if self.let is not None:
            c.append(self.let.n_batches)
        return np.array(c, np.int64)

    def set_counts(self, c):
        ts = self.tallies()
        for i, t in enumerate(ts):
            t.n_primaries = int(c[i])
            t.n_batches = int(c[len(ts) + i])
        if self.let is not None:
            self.let.n_batches = int(c[2 * len(ts)])

    def zero(self):
        for _, a in self.arrays():
            a[...] = 0
        self.set_counts(np.zeros_like(self.counts()))
        self.box = empty_box()
        clear_cols(self.col_z)


@jit
def _batch_variance(a1, a2, q, n, b):
    """Variance of the mean deposit per primary [MeV^2] of one voxel (batch method, see the
    module docstring) from its sums: integer a1 (quantum ``q``), a2, ``n`` primaries, ``b``
    batches (>= 2); negative rounding residues are 0."""
    s = a1 * q
    return max((a2 - s * s / n) / (n * (b - 1.0)), 0.0)


@jit
def _relative_uncertainty_hot(a1, a2, q, n, b, level):
    """Mean of s.e./mean over the voxels whose a1 is >= ``level`` of the largest (flat arrays);
    inf if there is none."""
    top = 0
    for i in range(a1.size):
        top = max(top, a1[i])
    if top <= 0:
        return np.inf
    total, count = 0.0, 0
    for i in range(a1.size):
        if a1[i] >= level * top:
            total += math.sqrt(_batch_variance(a1[i], a2[i], q, n, b)) / (a1[i] * q / n)
            count += 1
    return total / count


@jit
def _dose_arrays(a1, a2, q, n, b, to_gy, density, dose, dose_std):
    """dose = mean deposit per primary x ``to_gy`` / density, dose_std the same of its standard
    error (0 with fewer than two batches), voxel by voxel from the sums (flat arrays; no
    temporary array)."""
    for i in range(a1.size):
        k = to_gy / density[i]
        dose[i] = a1[i] * q / n * k
        dose_std[i] = math.sqrt(_batch_variance(a1[i], a2[i], q, n, b)) * k if b >= 2 else 0.0


def mean_relative_uncertainty(tally, level=0.5):
    """Mean relative standard error of a tally over the voxels at >= ``level`` of its maximum
    (computed voxel by voxel, without full-grid temporaries)."""
    if tally.n_batches < 2 or tally.a1.size == 0:
        return float("inf")
    return float(_relative_uncertainty_hot(tally.a1.reshape(-1), tally.a2.reshape(-1), tally.q,
                                           float(tally.n_primaries), float(tally.n_batches), level))


def tally_doses(tally, density, to_gy, dtype=np.float32):
    """(dose, its standard error) of an :class:`EnergyTally` on a grid of ``density`` [g/cm^3]:
    the mean deposit per primary [MeV] times ``to_gy`` [Gy g cm^-3 MeV^-1] over the density, in
    ``dtype`` (float32: 7 significant digits, far below any Monte Carlo uncertainty; 4 B per
    voxel each)."""
    dose = np.empty(tally.shape, dtype)
    std = np.empty(tally.shape, dtype)
    _dose_arrays(tally.a1.reshape(-1), tally.a2.reshape(-1), tally.q, float(tally.n_primaries),
                 float(tally.n_batches), float(to_gy), np.ascontiguousarray(density).reshape(-1), dose.reshape(-1),
                 std.reshape(-1))
    return dose, std


def compile_kernels(let, reduction):
    """Compile (or load from the numba cache) the tally kernels a run calls, on one-voxel
    arrays: the batch accumulation (with ``let``, the LET one too) and, for ``reduction``
    ``"move"`` (one rank with separate run totals) or ``"pack"`` (several ranks), the column
    moves of the reduction (None: one rank adding into the totals directly, no reduction)."""
    EnergyTally((1, 1, 1)).add_batch(np.zeros((1, 1, 1)), 1)
    if let:
        LetTally((1, 1, 1)).add_batch(np.zeros((N_LET, 1, 1, 1)))
    no_cols = empty_cols(1)
    for dtype in (np.float64, np.int64) if reduction else ():  # the integer dose sums and the others
        one4 = np.zeros((1, 1, 1, 1), dtype)
        if reduction == "move":
            move_columns(one4, one4, empty_box(), no_cols)
        else:
            pack_columns(one4, empty_box(), no_cols, np.zeros(0, dtype))
            unpack_add_columns(one4, empty_box(), no_cols, np.zeros(0, dtype))
