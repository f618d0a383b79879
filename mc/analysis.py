"""Small analysis helpers on depth-dose curves (numpy only). Depths in mm or cm as given.

Distal fall-off (used for R80 and the other distal ranges): the Bragg peak is the deepest local
maximum of the curve (no higher sample within ``PEAK_WINDOW`` samples on either side) that holds
at least ``PEAK_MIN_FRACTION`` of the curve's maximum and after which the dose falls below
``TAIL_FRACTION`` of the peak by the last sample (the distal end of the phantom). A dense slab
(bone) earlier on the beam path may hold the curve's highest dose; it is not the peak, because
a later local maximum (the water Bragg peak, or an SOBP plateau) comes after it. A beam that
leaves the phantom with more than ``TAIL_FRACTION`` of its peak dose (a shoot-through beam) has
no distal fall-off in the phantom and no distal range (NaN). R_level is then the first depth
after the peak where the dose falls through ``level`` x the peak dose (linear interpolation
between the two bracketing samples). R80 is the depth of the distal 80 % point, which lies at
the mean projected range of the protons (Bortfeld 1997, Med. Phys. 24:2024, section II.D).
"""

import numpy as np

#: Half-width (samples) of the neighbourhood a Bragg-peak candidate must be the maximum of.
PEAK_WINDOW = 2
#: A Bragg-peak candidate holds at least this fraction of the curve's maximum (excludes noise in
#: the distal tail, which holds a few per cent of the peak at most).
PEAK_MIN_FRACTION = 0.3
#: The dose at the distal end must be below this fraction of the peak for a distal fall-off.
TAIL_FRACTION = 0.1


def bragg_peak_index(dose):
    """Index of the Bragg peak of a depth-dose curve (see the module docstring), or ``None``
    where the curve has no distal fall-off inside the phantom."""
    dose = np.asarray(dose, float)
    n = dose.size
    if n < 2 or not np.any(dose > 0):
        return None
    floor = PEAK_MIN_FRACTION * dose.max()
    for p in range(n - 2, -1, -1):
        lo, hi = max(0, p - PEAK_WINDOW), min(n, p + PEAK_WINDOW + 1)
        if dose[p] >= floor and dose[p] >= dose[lo:hi].max() and dose[-1] < TAIL_FRACTION * dose[p]:
            return p
    return None


def r_distal(depth, dose, level):
    """Depth where ``dose`` falls through ``level`` x the Bragg-peak dose on the distal side of
    the Bragg peak (R80: level=0.8), by linear interpolation between the two bracketing points.
    Returns NaN where the curve has no distal fall-off in the phantom (see the module docstring)
    or never falls below the level after its peak."""
    depth = np.asarray(depth, float)
    dose = np.asarray(dose, float)
    i_peak = bragg_peak_index(dose)
    if i_peak is None:
        return float("nan")
    target = level * dose[i_peak]
    after = np.nonzero(dose[i_peak:] < target)[0]
    if after.size == 0:
        return float("nan")
    j = i_peak + after[0]
    d0, d1 = dose[j - 1], dose[j]
    return float(depth[j - 1] + (target - d0) / (d1 - d0) * (depth[j] - depth[j - 1]))
