"""Table look-ups of the kernel: interpolation on the energy grid and the range-table inverse.

The physics tables (:mod:`physics.tables`) are rows (one per species and material) on a
uniform grid in ln T; a kinetic energy T [MeV] has the fractional table index
f = (ln T - ln T_0) / d ln T. Ranges are CSDA ranges in g/cm^2.

Array subscripts are cast to unsigned (:data:`U`): numba then omits the negative-index
wrap-around arithmetic it adds to every signed subscript (measured: the kernel ~12 % faster
on the development VM, results bit for bit the same). Every such subscript is non-negative
by construction.
"""

import math

import numpy as np

from mc.jit import f64_bits, jit_stage
from physics.tables import RANGE_BIN_SHIFT

U = np.uint64


@jit_stage
def energy_index(T, lnT0, inv_dlnT):
    """Fractional table index of the kinetic energy ``T`` [MeV]."""
    return (math.log(T) - lnT0) * inv_dlnT


@jit_stage
def lin(tab, row, f):
    """Linear interpolation of tab[row] at fractional index f (clamped to the table)."""
    n = tab.shape[1]
    r = U(row)
    if f <= 0.0:
        return tab[r, 0]
    i = int(f)
    if i >= n - 1:
        return tab[r, U(n - 1)]
    a = tab[r, U(i)]
    return a + (f - i) * (tab[r, U(i + 1)] - a)


@jit_stage
def lin3(tab, row, k, f):
    """Linear interpolation of tab[row, k] at fractional index f (clamped to the table)."""
    n = tab.shape[2]
    r = U(row)
    c = U(k)
    if f <= 0.0:
        return tab[r, c, 0]
    i = int(f)
    if i >= n - 1:
        return tab[r, c, U(n - 1)]
    a = tab[r, c, U(i)]
    return a + (f - i) * (tab[r, c, U(i + 1)] - a)


@jit_stage
def frac_index(range_tab, row, i, R):
    """Fractional table index of the residual range R [g/cm^2] in interval i of row ``row``
    (clamped to the interval)."""
    a = range_tab[U(row), U(i)]
    f = (R - a) / (range_tab[U(row), U(i + 1)] - a)
    if f < 0.0:
        f = 0.0
    elif f > 1.0:
        f = 1.0
    return i + f


@jit_stage
def range_to_index(range_tab, row, R, i):
    """Fractional table index of the energy whose tabulated CSDA range is R [g/cm^2]: the exact
    inverse of the piecewise-linear R(ln T), found by walking from interval ``i`` (a guess near
    the answer keeps the walk short). Returns -1 when R is at or below the first table entry.
    Works for any table that increases along the row. The kernel locates range intervals with
    :func:`range_interval` instead; this walk is the reference its tests compare with."""
    n = range_tab.shape[1]
    if R <= range_tab[U(row), 0]:
        return -1.0
    if i > n - 2:
        i = n - 2
    if i < 0:
        i = 0
    while i > 0 and range_tab[U(row), U(i)] > R:
        i -= 1
    while i < n - 2 and range_tab[U(row), U(i + 1)] <= R:
        i += 1
    a = range_tab[U(row), U(i)]
    f = (R - a) / (range_tab[U(row), U(i + 1)] - a)
    if f > 1.0:
        f = 1.0
    return i + f


@jit_stage
def range_interval(range_tab, range_bins, bin0, row, R):
    """Interval i of row ``row`` of ``range_tab`` holding the residual range R [g/cm^2], i.e. the
    largest i <= n - 2 with range_tab[row, i] <= R (0 when R is below the table), without a
    search: the bit pattern of R gives its bin of :data:`physics.tables.RANGE_BIN_SHIFT`
    (an exponent and the leading mantissa bits, i.e. a piecewise-linear log2 R) and
    ``range_bins[row, bin]`` the interval at the bin's lower edge (``bin0`` the first bin; see
    :func:`physics.tables.range_bin_table`). The bins are narrower than every table
    interval, so at most one table entry lies in a bin and one comparison, added to the bin's
    interval as 0 or 1, completes the look-up (:func:`physics.tables.range_bin_table` checks
    this when it builds the bins). The comparison is arithmetic, not a branch: whether R lies
    above the bin's table entry is a coin toss from one voxel segment to the next, and a
    mispredicted branch per segment made the kernel ~7 % slower on the development VM. The
    result does not depend on any earlier look-up, so consecutive voxel segments do not wait
    on each other's table reads."""
    n = range_tab.shape[1]
    nb = range_bins.shape[1]
    r = U(row)
    b = (f64_bits(R) >> RANGE_BIN_SHIFT) - bin0
    if b < 0:
        b = 0
    elif b >= nb:
        b = nb - 1
    i = np.int64(range_bins[r, U(b)])  # <= n - 2, so entry i + 1 exists
    i += np.int64(range_tab[r, U(i + 1)] <= R)
    return min(i, n - 2)


@jit_stage
def range_interval_inside(range_tab, range_bins, bin0, row, R):
    """:func:`range_interval` for a residual range R [g/cm^2] that lies within its row,
    range_tab[row, 0] <= R <= range_tab[row, n - 1], without the clamps of the bin and of the
    interval: every entry of the table is positive (the range at the lowest tabulated energy is
    2 T_0/S(T_0)), so R's bin is one of ``range_bins``. Returns n - 1 for R equal to the row's
    top entry. As for :func:`range_interval`, one comparison completes the look-up only above
    the range at the species' cut-off (:func:`physics.tables.range_bin_table` checks it there;
    below it the intervals of ion rows can be narrower than the bins). The voxel walk looks up
    only such ranges (a segment's end lies between the walk's limit, at least the range at the
    step's end, itself at least that at the cut-off, and the range at the step's start) and caps
    every interval at that of the segment's start, at most n - 2."""
    r = U(row)
    i = np.int64(range_bins[r, U((f64_bits(R) >> RANGE_BIN_SHIFT) - bin0)])
    return i + np.int64(range_tab[r, U(i + 1)] <= R)


@jit_stage
def range_index(range_tab, range_bins, bin0, row, R):
    """Fractional table index of the energy whose CSDA range is R [g/cm^2] (the exact inverse
    of the piecewise-linear R(ln T), as :func:`range_to_index`), located by
    :func:`range_interval`; -1 when R is at or below the first table entry."""
    if R <= range_tab[U(row), 0]:
        return -1.0
    return frac_index(range_tab, row, range_interval(range_tab, range_bins, bin0, row, R), R)


@jit_stage
def energy_at(energy_tab, range_tab, slope_tab, row, i, R, E_min):
    """Kinetic energy [MeV] at residual range R [g/cm^2] in interval i of row ``row`` (the
    piecewise-linear inverse of the range table, slope ``slope_tab`` [MeV cm^2/g]), at least
    ``E_min``."""
    ru = U(row)
    iu = U(i)
    E = energy_tab[0, iu] + (R - range_tab[ru, iu]) * slope_tab[ru, iu]
    return E if E > E_min else E_min


#: Below this relative energy change |q| :func:`index_after_loss` uses the series of ln(1 - q).
_SERIES_Q = 1.0e-3


@jit_stage
def index_after_loss(T, E_ref, f_ref, fT, lnT0, inv_dlnT):
    """Fractional table index of the kinetic energy ``T`` [MeV] near ``E_ref`` (index
    ``f_ref``): f_ref + ln(T/E_ref)/d ln T with ln(1 - q) = -(q + q^2/2 + q^3/3) for the
    small relative change q = (E_ref - T)/E_ref (error < q^4/4 < 3e-13), else from the
    logarithm; ``fT`` (unchanged) if T <= 0."""
    if T <= 0.0:
        return fT
    q = (E_ref - T) / E_ref if E_ref > 0.0 else 1.0
    if -_SERIES_Q < q < _SERIES_Q:
        return f_ref - (q + 0.5 * q * q + q * q * q / 3.0) * inv_dlnT
    return (math.log(T) - lnT0) * inv_dlnT
