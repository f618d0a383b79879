"""The comparison example (README "Compare plans"): recompute the plan of
examples/plan_water_box with flashmc, make a stand-in for a planning system's RT Dose from it
(the same dose shifted by 1 mm along +y, the beam direction, and scaled by 1.02: the kind of
difference a range error and an output calibration error make), and compare the two with
``python -m mc.compare``: gamma pass rates, DVH metrics per structure, the HTML report. Run from
the repository root:

    python examples/compare/make_example.py

It writes into results/compare/: flashmc.h5 (and its RT Dose), tps_dose.dcm, compare.json and
report/report.html.
"""

import os
import sys

import numpy as np
from scipy.ndimage import shift

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "results", "compare")

#: The stand-in planning dose: shifted by this much along +y [mm] and scaled by this factor.
SHIFT_Y_MM, SCALE = 1.0, 1.02


def main():
    from mc import compare, run
    from mc.dicom_out import read_rt_dose, write_rt_dose

    os.makedirs(OUT, exist_ok=True)
    plan = os.path.join(ROOT, "examples", "plan_water_box", "plan.yaml")
    h5 = os.path.join(OUT, "flashmc.h5")
    status = run.main([plan, "--quiet", "--no-plot", "--set", f"output.path={h5}", "--set", "run.primaries=500000"])
    if status != 0:
        return status
    mc_dose = read_rt_dose(os.path.join(OUT, "flashmc_dose.dcm"))
    # shift by linear interpolation on the grid (1 mm = half a voxel), scale
    moved = SCALE * shift(mc_dose.dose_gy, (0.0, SHIFT_Y_MM / mc_dose.spacing_mm[1], 0.0), order=1, mode="nearest")
    tps = os.path.join(OUT, "tps_dose.dcm")
    write_rt_dose(tps, np.maximum(moved, 0.0), mc_dose.origin_mm, mc_dose.spacing_mm,
                  frame_of_reference_uid=mc_dose.frame_of_reference_uid, study_instance_uid=mc_dose.study_instance_uid,
                  referenced_plan_sop_instance_uid=mc_dose.referenced_plan_uid,
                  dose_comment=f"flashmc dose shifted {SHIFT_Y_MM:g} mm in y, x {SCALE:g}")
    structures = os.path.join(ROOT, "examples", "plan_water_box", "case", "rtstruct.dcm")
    ct = os.path.join(ROOT, "examples", "plan_water_box", "case", "ct")
    return compare.main([tps, h5, "--structures", structures, "--ct", ct, "--no-local",
                         "--json", os.path.join(OUT, "compare.json"), "--report", os.path.join(OUT, "report")])


if __name__ == "__main__":
    sys.exit(main())
