"""Render a comparison report (mc/report.py) in headless Chromium and save a PNG screenshot.

``python -m benchmarks.report_screenshot REPORT_DIR [OUT.png]`` builds a synthetic comparison
(a Gaussian dose A, B = 1.02 A shifted by 1 mm, a box PTV) in REPORT_DIR if it holds no
report.html, then runs ``chromium --headless --screenshot=OUT --window-size=1400,3000``.
"""

import os
import subprocess
import sys

import numpy as np


def _make(folder):
    from geometry.structures import box_contours, write_rtstruct
    from mc.compare import compare
    from mc.dicom_out import write_rt_dose
    from mc.report import write_report

    frame, study = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    shape, origin, spacing = (30, 30, 16), (-29.0, -29.0, -15.0), (2.0, 2.0, 2.0)
    x, y, z = np.meshgrid(*(origin[k] + spacing[k] * np.arange(shape[k]) for k in range(3)), indexing="ij")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, scale, shift in (("A.dcm", 1.0, 0.0), ("B.dcm", 1.02, 1.0)):
        dose = scale * 60.0 * np.exp(-((x - shift) ** 2 + y ** 2) / 300.0 - z ** 2 / 150.0)
        paths.append(write_rt_dose(os.path.join(folder, name), dose, origin, spacing,
                                   frame_of_reference_uid=frame, study_instance_uid=study))
    rs = write_rtstruct(os.path.join(folder, "RS.dcm"), {"PTV": (box_contours((-8, -8), (8, 8),
                        [float(v) for v in range(-8, 9, 2)]), "PTV")}, frame_of_reference_uid=frame,
                        study_instance_uid=study)
    return write_report(compare(*paths, structures_path=str(rs), local=False, interp_fraction=3), folder)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folder = argv[0] if argv else "results/compare_report"
    out = argv[1] if len(argv) > 1 else os.path.join(folder, "screenshot.png")
    html = os.path.join(folder, "report.html")
    if not os.path.exists(html):
        html = _make(folder)
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={os.path.abspath(out)}",
                    "--window-size=1400,3000", "file://" + os.path.abspath(html)], check=True, capture_output=True)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
