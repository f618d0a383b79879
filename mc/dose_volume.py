"""Dose grids and dose-volume quantities shared by the comparison of doses (:mod:`mc.compare`,
:mod:`mc.report`), the re-irradiation summation (:mod:`mc.reirradiation`) and the plan figure
(:mod:`mc.output`).

* Grids: arrays indexed [ix, iy, iz] along the patient x, y, z axes (LPS, mm); voxel-centre axes.
  :func:`resample_to` interpolates trilinearly between the source's voxel centres
  (:class:`scipy.interpolate.RegularGridInterpolator`, method "linear"); target centres outside
  the box of the source centres get NaN. :func:`resample_trilinear` does the same on a grid
  given by origin and spacing, through a rigid 4x4 transform from the source's patient
  coordinates to the target's (:func:`scipy.ndimage.map_coordinates`, order 1), with a chosen
  value outside.
* Dose-volume: every voxel of a structure counts with its full volume (the voxel-centre rule of
  :func:`geometry.structures.structure_masks`). D_V, the minimum dose of the hottest volume V
  (ICRU Report 83, 2010, section 3.7), is on voxels the k-th highest dose, k = ceil(V / v) for a
  voxel volume v, or ceil(x N / 100) for x % of N voxels (:func:`hottest_dose_gy`), without
  interpolation. The cumulative DVH is the fraction of the structure's voxels receiving at least
  each dose.
"""

import math

import numpy as np

#: Tolerance [mm] on a voxel centre lying on the border of the other grid.
GRID_TOL_MM = 1e-6


def resample_to(values, axes_from_mm, axes_to_mm):
    """``values`` on the grid of voxel centres ``axes_from_mm`` resampled by trilinear interpolation onto the
    centres ``axes_to_mm``; NaN where a target centre lies outside the box of the source centres."""
    from scipy.interpolate import RegularGridInterpolator

    if all(len(a) == len(b) and np.allclose(a, b, rtol=0, atol=GRID_TOL_MM) for a, b in zip(axes_from_mm, axes_to_mm)):
        return np.array(values, dtype=np.float64)
    pts = []
    for a_from, a_to in zip(axes_from_mm, axes_to_mm):
        t = np.array(a_to, dtype=np.float64)
        t[np.abs(t - a_from[0]) <= GRID_TOL_MM] = a_from[0]
        t[np.abs(t - a_from[-1]) <= GRID_TOL_MM] = a_from[-1]
        pts.append(t)
    axes = [a if len(a) > 1 else np.array([a[0], a[0] + 1.0]) for a in axes_from_mm]
    vals = np.asarray(values, dtype=np.float64)
    for k, a in enumerate(axes_from_mm):
        if len(a) == 1:  # a single plane: nearest value within the plane only
            vals = np.concatenate([vals, vals], axis=k)
    interp = RegularGridInterpolator(axes, vals, method="linear", bounds_error=False, fill_value=np.nan)
    mesh = np.meshgrid(*pts, indexing="ij")
    out = interp(np.stack([m.ravel() for m in mesh], axis=-1)).reshape(mesh[0].shape)
    for k, a in enumerate(axes_from_mm):
        if len(a) == 1:
            outside = np.abs(pts[k] - a[0]) > GRID_TOL_MM
            idx = [slice(None)] * 3
            idx[k] = outside
            out[tuple(idx)] = np.nan
    return out


def hottest_dose_gy(doses_gy, k):
    """The k-th highest of ``doses_gy`` [Gy] (k >= 1): the minimum dose of the hottest k voxels,
    the voxel form of D_V (ICRU Report 83, 2010, section 3.7) when the voxels have equal volumes."""
    d = np.sort(np.asarray(doses_gy, dtype=np.float64).ravel())[::-1]
    return float(d[min(max(int(k), 1), d.size) - 1])


def dose_at_volume_gy(doses_gy, volume_percent):
    """D_x: the minimum dose of the hottest ``volume_percent`` of the voxels (d_k, k = ceil(x N / 100))."""
    n = np.asarray(doses_gy).size
    return hottest_dose_gy(doses_gy, math.ceil(volume_percent * n / 100.0 - 1e-9))


def cumulative_dvh(dose_gy, mask, bins_gy):
    """Volume fraction [%] of the structure's voxels (finite dose) receiving >= each dose of ``bins_gy``."""
    d = np.asarray(dose_gy)[mask]
    d = np.sort(d[np.isfinite(d)])
    if d.size == 0:
        return np.zeros(len(bins_gy))
    return 100.0 * (d.size - np.searchsorted(d, bins_gy, side="left")) / d.size


def voxel_centres_mm(shape, origin_mm, spacing_mm):
    """(N, 3) patient coordinates [mm] of all voxel centres, C order of [ix, iy, iz]."""
    axes = [origin_mm[a] + spacing_mm[a] * np.arange(shape[a]) for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def resample_trilinear(dose, origin_mm, spacing_mm, ref_shape, ref_origin_mm, ref_spacing_mm, transform=None,
                       outside=0.0):
    """``dose`` [ix, iy, iz] (its grid: ``origin_mm``, ``spacing_mm``) sampled at the voxel centres of
    the reference grid by trilinear interpolation; ``transform`` (4x4) maps the dose's patient
    coordinates to the reference ones. Returns (array of ``ref_shape``, number of reference centres
    inside the hull of the dose grid's centres); points outside get ``outside``."""
    pts = voxel_centres_mm(ref_shape, np.asarray(ref_origin_mm, float), np.asarray(ref_spacing_mm, float))
    if transform is not None:
        inv = np.linalg.inv(np.asarray(transform, float))
        pts = pts @ inv[:3, :3].T + inv[:3, 3]
    idx = (pts - np.asarray(origin_mm, float)) / np.asarray(spacing_mm, float)
    hi = np.asarray(dose.shape) - 1
    tol = 1e-9
    inside = np.all((idx >= -tol) & (idx <= hi + tol), axis=1)
    idx = np.clip(idx, 0, hi)
    from scipy.ndimage import map_coordinates

    values = map_coordinates(np.asarray(dose, float), idx.T, order=1, mode="nearest")
    values[~inside] = outside
    return values.reshape(ref_shape), int(inside.sum())
