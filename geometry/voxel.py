"""Rectilinear voxel grids: material index and mass density per voxel.

Conventions (shared with the HDF5 output): arrays are indexed [ix, iy, iz]; ``spacing_cm`` is the
voxel size along x, y, z [cm]; ``origin_cm`` is the centre of voxel (0, 0, 0) [cm]. The grid
occupies [origin - spacing/2, origin - spacing/2 + shape * spacing) on each axis. Densities are
mass densities [g/cm^3]; material indices refer to ``materials`` (library names,
:mod:`physics.materials`).
"""

from dataclasses import dataclass

import numpy as np


#: Materials one grid can hold (``material_id`` is stored as uint8).
MAX_MATERIALS = 256


@dataclass
class VoxelGrid:
    """A voxelised phantom or patient (see module docstring for conventions and units).

    Stored compactly for transport (the kernel reads both per voxel it crosses): ``material_id``
    as uint8, ``density`` as float32 (7 significant digits, far finer than any CT density
    calibration). Inputs of other types are converted; material indices are checked before."""

    material_id: np.ndarray
    density: np.ndarray
    materials: tuple
    spacing_cm: np.ndarray
    origin_cm: np.ndarray

    def __post_init__(self):
        self.materials = tuple(self.materials)
        if len(self.materials) > MAX_MATERIALS:
            raise ValueError(f"geometry: {len(self.materials)} materials in one grid; at most {MAX_MATERIALS} "
                             "are supported (material_id is stored as uint8): merge similar materials")
        mid = np.asarray(self.material_id)
        self._check_material_ids(mid)  # before the cast, which would wrap negative values
        self.material_id = np.ascontiguousarray(mid, dtype=np.uint8)
        self.density = np.ascontiguousarray(self.density, dtype=np.float32)
        self.spacing_cm = np.asarray(self.spacing_cm, dtype=np.float64).reshape(3)
        self.origin_cm = np.asarray(self.origin_cm, dtype=np.float64).reshape(3)
        self.validate()

    def _check_material_ids(self, mid, where="geometry"):
        if mid.dtype.kind not in "iub" and mid.size and not np.all(np.isfinite(mid) & (mid == np.round(mid))):
            raise ValueError(f"{where}: material_id must hold whole numbers (indices into the materials "
                             f"{list(self.materials)}); found non-integer or NaN values")
        if mid.size and (mid.min() < 0 or mid.max() >= len(self.materials)):
            raise ValueError(f"{where}: material_id values must index the {len(self.materials)} "
                             f"materials {list(self.materials)}; found range [{mid.min()}, {mid.max()}]")

    @property
    def shape(self):
        return self.material_id.shape

    @property
    def lower_cm(self):
        """Outer corner of the grid (minimum x, y, z) [cm]."""
        return self.origin_cm - 0.5 * self.spacing_cm

    @property
    def upper_cm(self):
        """Opposite outer corner of the grid [cm]."""
        return self.lower_cm + np.array(self.shape) * self.spacing_cm

    @property
    def voxel_volume_cm3(self):
        return float(np.prod(self.spacing_cm))

    def axis_centres_cm(self, axis):
        """Voxel-centre coordinates [cm] along ``axis`` (0, 1, 2)."""
        return self.origin_cm[axis] + self.spacing_cm[axis] * np.arange(self.shape[axis])

    def validate(self, where="geometry"):
        """Raise ``ValueError`` naming the problem if the grid is not usable."""
        if self.material_id.ndim != 3:
            raise ValueError(f"{where}: material_id must be a 3D array, got shape {self.material_id.shape}")
        if self.density.shape != self.material_id.shape:
            raise ValueError(f"{where}: density shape {self.density.shape} differs from material_id "
                             f"shape {self.material_id.shape}")
        if np.any(self.spacing_cm <= 0) or not np.all(np.isfinite(self.spacing_cm)):
            raise ValueError(f"{where}: voxel spacing must be positive, got {self.spacing_cm * 10} mm")
        if not np.all(np.isfinite(self.origin_cm)):
            raise ValueError(f"{where}: origin must be finite")
        bad = ~np.isfinite(self.density)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{where}: density has {int(bad.sum())} NaN/inf voxel(s), first at index "
                             f"{idx}; fix the density map (e.g. the HU conversion) before transport")
        if np.any(self.density <= 0):
            idx = tuple(int(i) for i in np.argwhere(self.density <= 0)[0])
            raise ValueError(f"{where}: density must be > 0 g/cm^3 in every voxel; voxel {idx} has "
                             f"{self.density[idx]}")
        self._check_material_ids(self.material_id, where)

    def ray_entry(self, point_cm, direction):
        """Distance [cm] along ``direction`` from ``point_cm`` to where the ray enters the grid,
        or None if it misses (slab method)."""
        lo, hi = self.lower_cm, self.upper_cm
        t0, t1 = -np.inf, np.inf
        for a in range(3):
            if abs(direction[a]) < 1e-300:
                if point_cm[a] < lo[a] or point_cm[a] >= hi[a]:
                    return None
                continue
            ta = (lo[a] - point_cm[a]) / direction[a]
            tb = (hi[a] - point_cm[a]) / direction[a]
            t0 = max(t0, min(ta, tb))
            t1 = min(t1, max(ta, tb))
        if t1 <= max(t0, 0.0):
            return None
        return max(t0, 0.0)
