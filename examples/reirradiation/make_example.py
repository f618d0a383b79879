"""Re-irradiation example: a thoracic spine metastasis treated with 8 Gy x 1, then SBRT 24 Gy in 2
fractions (synthetic, analytic doses); writes the RT Dose files and the RTSTRUCT into
results/reirradiation/, runs ``python -m mc.reirradiation`` on reirradiation.yaml and plots the
cumulative EQD2 (alpha/beta 2 Gy) on the central axial slice and the cord's cumulative DVH.

Geometry (patient LPS, mm; +y posterior): vertebral body = box x in [-15, 15], y in [-20, 5];
spinal cord = cylinder of radius 5 mm about (x, y) = (0, 14); both for z in [-30, 30].

Doses (analytic, not transported):
* course 1, 8 Gy x 1: a box field x in [-30, 30], y in [-35, 35], z in [-25, 25] with Gaussian
  penumbra (sigma 3 mm): 8 Gy times the product of erf edges per axis, on a 2 mm grid;
* course 2, SBRT 24 Gy / 2: 24 Gy inside the vertebral body, falling off as exp(-r / 3 mm) with
  the distance r [mm] from the body (steep fall-off toward the cord), on a 2.5 mm grid shifted
  from course 1's (so the tool resamples it, trilinearly).
Both files share one FrameOfReferenceUID, so no transform is needed.

Run from the repository root: ``python examples/reirradiation/make_example.py`` (a few seconds).
"""

import json
import os
import sys

import numpy as np
from pydicom.uid import generate_uid
from scipy.special import erf

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, ROOT)

from geometry.structures import box_contours, cylinder_contours, write_rtstruct
from mc.dicom_out import write_rt_dose
from mc.reirradiation import main

OUT = os.path.join(ROOT, "results", "reirradiation")
BODY_LO_MM, BODY_HI_MM = (-15.0, -20.0), (15.0, 5.0)
CORD_CENTRE_MM, CORD_RADIUS_MM = (0.0, 14.0), 5.0
Z_PLANES_MM = np.arange(-30.0, 30.1, 2.0)


def grid(origin_mm, spacing_mm, shape):
    """Voxel-centre coordinate arrays x, y, z [mm] indexed [ix, iy, iz]."""
    axes = [origin_mm[a] + spacing_mm[a] * np.arange(shape[a]) for a in range(3)]
    return np.meshgrid(*axes, indexing="ij")


def box_field_gy(x, y, z, dose_gy=8.0, sigma_mm=3.0):
    """Box field x in [-30, 30], y in [-35, 35], z in [-25, 25] mm with Gaussian penumbrae."""
    def edge(u, lo, hi):
        s = sigma_mm * np.sqrt(2.0)
        return 0.5 * (erf((u - lo) / s) - erf((u - hi) / s))
    return dose_gy * edge(x, -30, 30) * edge(y, -35, 35) * edge(z, -25, 25)


def sbrt_gy(x, y, z, dose_gy=24.0, falloff_mm=3.0):
    """24 Gy in the vertebral body, exp(-r / falloff) outside (r: distance to the body [mm])."""
    dx = np.maximum(np.maximum(BODY_LO_MM[0] - x, x - BODY_HI_MM[0]), 0)
    dy = np.maximum(np.maximum(BODY_LO_MM[1] - y, y - BODY_HI_MM[1]), 0)
    dz = np.maximum(np.maximum(-30.0 - z, z - 30.0), 0)
    return dose_gy * np.exp(-np.sqrt(dx**2 + dy**2 + dz**2) / falloff_mm)


def write_inputs():
    frame, study = generate_uid(), generate_uid()
    common = {"frame_of_reference_uid": frame, "study_instance_uid": study, "patient_id": "REIRR-DEMO"}
    o1, s1, n1 = (-40.0, -40.0, -36.0), (2.0, 2.0, 2.0), (41, 41, 37)
    write_rt_dose(os.path.join(OUT, "course1_8Gy_x1.dcm"), box_field_gy(*grid(o1, s1, n1)), o1, s1,
                  fractions=1, dose_comment="synthetic 8 Gy x 1 box field", **common)
    o2, s2, n2 = (-38.75, -38.75, -35.0), (2.5, 2.5, 2.5), (32, 32, 29)
    write_rt_dose(os.path.join(OUT, "course2_sbrt_24Gy_2fx.dcm"), sbrt_gy(*grid(o2, s2, n2)), o2, s2,
                  fractions=2, dose_comment="synthetic SBRT 24 Gy in 2", **common)
    write_rtstruct(os.path.join(OUT, "rtstruct.dcm"),
                   {"VertebralBody": (box_contours(BODY_LO_MM, BODY_HI_MM, Z_PLANES_MM), "GTV"),
                    "SpinalCord": (cylinder_contours(CORD_CENTRE_MM, CORD_RADIUS_MM, Z_PLANES_MM), "ORGAN")},
                   frame_of_reference_uid=frame, study_instance_uid=study)


def plot(report_path, figure_path):
    import h5py
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(os.path.join(OUT, "cumulative_eqd2.h5"), "r") as f:
        eqd2 = f["eqd2"][...]
        origin, spacing = f["eqd2"].attrs["origin_mm"], f["eqd2"].attrs["spacing_mm"]
        course = {k: f["course_dose"][k][...] for k in f["course_dose"]}
        cord = f["structures"]["SpinalCord"][...].astype(bool)
    with open(report_path, encoding="utf-8") as fh:
        report = json.load(fh)
    z = grid(origin, spacing, eqd2.shape)[2]
    k = int(np.argmin(np.abs(origin[2] + spacing[2] * np.arange(eqd2.shape[2]))))
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    extent = [origin[0] - spacing[0] / 2, origin[0] + spacing[0] * (eqd2.shape[0] - 0.5),
              origin[1] + spacing[1] * (eqd2.shape[1] - 0.5), origin[1] - spacing[1] / 2]
    im = a.imshow(eqd2[:, :, k].T, extent=extent, cmap="inferno")
    fig.colorbar(im, ax=a, label="cumulative EQD2 [Gy] (alpha/beta 2 Gy)")
    a.add_patch(plt.Rectangle(BODY_LO_MM, BODY_HI_MM[0] - BODY_LO_MM[0], BODY_HI_MM[1] - BODY_LO_MM[1],
                              fill=False, ec="cyan", label="vertebral body"))
    a.add_patch(plt.Circle(CORD_CENTRE_MM, CORD_RADIUS_MM, fill=False, ec="lime", label="spinal cord"))
    a.set(xlabel="x [mm] (patient left)", ylabel="y [mm] (posterior)", title=f"z = {z[0, 0, k]:.0f} mm")
    a.legend(loc="lower right", fontsize=8)
    from physics.bed import eqd2_gy

    levels = np.linspace(0, 1.05 * eqd2[cord].max(), 300)
    curves = [("cumulative", eqd2[cord])]
    for c in report["courses"]:
        curves.append((c["name"], eqd2_gy(course[c["name"]][cord], c["fractions"], 2.0)))
    for label, values in curves:
        b.plot(levels, [100.0 * np.mean(values >= v) for v in levels], label=label)
    for r in report["constraints"]:
        if r["quantity"] == "EQD2":
            b.axvline(r["limit_Gy"], ls="--", c="grey")
    b.set(xlabel="EQD2 [Gy] (alpha/beta 2 Gy)", ylabel="spinal cord volume [%]", title="spinal cord DVH")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path, dpi=120)
    return figure_path


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write_inputs()
    report_path = os.path.join(OUT, "report.json")
    status = main([os.path.join(HERE, "reirradiation.yaml"), "--json", report_path])
    print("figure:", plot(report_path, os.path.join(OUT, "reirradiation_example.png")))
    sys.exit(status)
