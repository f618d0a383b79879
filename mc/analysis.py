"""Small analysis helpers on depth-dose curves (numpy only). Depths in mm or cm as given."""

import numpy as np


def r_distal(depth, dose, level):
    """Depth where ``dose`` falls to ``level`` x its maximum on the distal side of the maximum,
    by linear interpolation between the two bracketing points (R80: level=0.8). Returns NaN if
    the curve never falls below the level after its maximum."""
    depth = np.asarray(depth, float)
    dose = np.asarray(dose, float)
    i_max = int(np.argmax(dose))
    target = level * dose[i_max]
    after = np.nonzero(dose[i_max:] < target)[0]
    if after.size == 0:
        return float("nan")
    j = i_max + after[0]
    d0, d1 = dose[j - 1], dose[j]
    return float(depth[j - 1] + (target - d0) / (d1 - d0) * (depth[j] - depth[j - 1]))
