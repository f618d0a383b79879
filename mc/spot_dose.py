"""Per-spot dose: the energy each pencil-beam spot deposits in each voxel, kept sparse.

:class:`SpotDose` collects, during the run, one entry per (spot, voxel) reached (flat voxel
index, deposit in MeV weighted as the runner scores it; 16 bytes per entry), staged per round
so that an abandoned round can be discarded. At the end it is converted to Gy and thresholded
into a :class:`SpotDoseMap` (compressed sparse rows, 12 bytes per stored entry, plus a
grid-sized remainder of the entries below the threshold), which the FLASH analysis
(``flash.doserate``) reads.
"""

import numpy as np


class SpotDose:
    """Dose of each spot, kept sparse while the run goes on: a batch's read-outs are staged,
    and on :meth:`commit` merged into one entry per (spot, voxel), so the memory is bounded by
    the number of distinct voxels each spot has reached (16 bytes each), not by the number of
    batches. :meth:`finalize` thresholds and converts them into a :class:`SpotDoseMap`."""

    def __init__(self, n_spots, shape):
        self.shape = tuple(shape)
        self.idx = [np.zeros(0, np.int64) for _ in range(n_spots)]
        self.val = [np.zeros(0) for _ in range(n_spots)]
        self.staged = []
        self.peak_entries = 0

    @property
    def entries(self):
        return int(sum(i.size for i in self.idx))

    def add(self, k, idx, vals):
        """Deposits [MeV, weighted] of spot ``k`` at flat voxel indices ``idx``; staged until
        :meth:`commit` (a round of batches that is abandoned is :meth:`discard`-ed)."""
        if idx.size:
            self.staged.append((k, idx, vals))

    def _merge(self, k, idx_parts, val_parts):
        i = np.concatenate([self.idx[k]] + idx_parts)
        v = np.concatenate([self.val[k]] + val_parts)
        u, inv = np.unique(i, return_inverse=True)
        self.idx[k] = u
        self.val[k] = np.bincount(inv, weights=v, minlength=u.size)

    def _merge_groups(self, items):
        groups = {}
        for k, idx, vals in items:
            g = groups.setdefault(int(k), ([], []))
            g[0].append(np.asarray(idx, np.int64))
            g[1].append(vals)
        for k, (ii, vv) in groups.items():
            self._merge(k, ii, vv)
        self.peak_entries = max(self.peak_entries, self.entries)

    def commit(self):
        self._merge_groups(self.staged)
        self.staged = []

    def discard(self):
        self.staged = []

    def arrays(self):
        """Committed entries as flat arrays (spot, voxel, value)."""
        ks = [np.full(self.idx[k].size, k, np.int64) for k in range(len(self.idx))]
        return (np.concatenate(ks) if ks else np.zeros(0, np.int64),
                np.concatenate(self.idx) if self.idx else np.zeros(0, np.int64),
                np.concatenate(self.val) if self.val else np.zeros(0))

    def export(self):
        """Committed entries as flat arrays (spot, voxel, value); clears them here."""
        out = self.arrays()
        self.idx = [np.zeros(0, np.int64) for _ in self.idx]
        self.val = [np.zeros(0) for _ in self.val]
        return out

    def absorb(self, spot, idx, val):
        """Add exported entries (from another rank or a checkpoint)."""
        if spot.size == 0:
            return
        order = np.argsort(spot, kind="stable")
        spot, idx, val = spot[order], idx[order], val[order]
        bounds = np.searchsorted(spot, np.arange(len(self.idx) + 1))
        self._merge_groups((k, idx[bounds[k]:bounds[k + 1]], val[bounds[k]:bounds[k + 1]])
                           for k in range(len(self.idx)) if bounds[k + 1] > bounds[k])

    def finalize(self, to_gy, threshold_fraction=0.0):
        """Convert to Gy (``to_gy``: Gy per MeV of deposit, grid-shaped, for the delivered
        protons). Entries below ``threshold_fraction`` of the spot's maximum go to the
        per-voxel ``remainder``, so stored doses + remainder = total dose exactly."""
        g = np.asarray(to_gy).reshape(-1)
        ptr = [0]
        vox, dose = [], []
        remainder = np.zeros(g.size)
        before = self.entries
        for k in range(len(self.idx)):
            u = self.idx[k]
            d = self.val[k] * g[u]
            keep = d >= threshold_fraction * d.max() if d.size else np.zeros(0, bool)
            remainder[u[~keep]] += d[~keep]
            vox.append(u[keep])
            dose.append(d[keep])
            ptr.append(ptr[-1] + int(keep.sum()))
            self.idx[k] = np.zeros(0, np.int64)
            self.val[k] = np.zeros(0)
        vox = np.concatenate(vox) if vox else np.zeros(0, np.int64)
        dose = np.concatenate(dose) if dose else np.zeros(0)
        idx_type = np.int32 if g.size < 2**31 else np.int64
        m = SpotDoseMap(self.shape, np.asarray(ptr, np.int64), vox.astype(idx_type), dose,
                        remainder.reshape(self.shape), float(threshold_fraction))
        m.entries_before_threshold = before
        m.peak_entries_during_run = max(self.peak_entries, before)
        return m


class SpotDoseMap:
    """Per-spot dose [Gy] in compressed sparse rows: spot k has voxels ``voxel[ptr[k]:ptr[k+1]]``
    (flat indices into the grid) with doses ``dose[ptr[k]:ptr[k+1]]``; ``remainder`` (grid) is
    the dose of entries below the storage threshold. Memory: 12 bytes per stored entry (int32
    voxel index, float64 dose) plus the grid-sized remainder."""

    def __init__(self, shape, ptr, voxel, dose, remainder, threshold_fraction):
        self.shape = tuple(shape)
        self.ptr = ptr
        self.voxel = voxel
        self.dose = dose
        self.remainder = remainder
        self.threshold_fraction = threshold_fraction

    @property
    def n_spots(self):
        return self.ptr.size - 1

    @property
    def nbytes(self):
        return self.ptr.nbytes + self.voxel.nbytes + self.dose.nbytes

    def total(self):
        """Sum over spots of the stored doses plus the remainder [Gy], grid-shaped."""
        out = np.bincount(self.voxel, weights=self.dose, minlength=int(np.prod(self.shape)))
        return out.reshape(self.shape) + self.remainder

    def spot(self, k):
        s = slice(self.ptr[k], self.ptr[k + 1])
        return self.voxel[s], self.dose[s]

    def by_voxel(self):
        """The same entries grouped by voxel: (voxels, vptr, spot, dose) with voxel
        ``voxels[j]`` receiving doses ``dose[vptr[j]:vptr[j+1]]`` from spots
        ``spot[vptr[j]:vptr[j+1]]`` in increasing spot order."""
        spot = np.repeat(np.arange(self.n_spots), np.diff(self.ptr))
        order = np.lexsort((spot, self.voxel))
        v = self.voxel[order]
        voxels, start = np.unique(v, return_index=True)
        vptr = np.append(start, v.size).astype(np.int64)
        return voxels, vptr, spot[order], self.dose[order]
