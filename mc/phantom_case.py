"""A synthetic treatment case written as DICOM: the planning CT of a water box with a bone
insert and an air cavity, its structures and an RT Ion Plan of PBS proton beams, with the
calibration that maps its CT numbers onto library materials. No patient data: every file is
made here with pydicom (:func:`geometry.ct.write_ct_series`, :func:`geometry.structures.write_rtstruct`,
:func:`mc.plan.write_rt_ion_plan`). The tests, the example ``examples/plan_water_box`` and the
plan benchmark use it.

Layout (patient coordinates, mm; head-first supine): a box of water (0 HU) spanning
``size_mm`` centred on x = z = 0 with its anterior face at y = 0 (a gantry-0 beam enters there
and travels towards +y); a bone insert (1000 HU) ``bone_mm`` = (x0, x1, y0, y1) through the whole
height in z; an air cavity (-1000 HU) ``cavity_mm`` likewise; air (-1000 HU) around the box
(``margin_mm`` on every side). Structures: ``External`` (the box, EXTERNAL), ``Bone``
(ORGAN), ``Cavity`` (CAVITY), ``Target`` (PTV, the box ``target_mm`` = (x0, x1, y0, y1) between
z = -``target_half_height_mm`` and +``target_half_height_mm``).

The calibration written beside (``calibration.yaml``, :mod:`geometry.ct` YAML format) maps
HU < -900 to air at its nominal density, -900 <= HU < 500 to water at 1 g/cm^3 and HU >= 500 to
cortical bone at 1.85 g/cm^3 (the library materials' nominal densities,
:mod:`physics.materials`), so the CT is exactly the phantom :func:`phantom_arrays` describes.
"""

import os

import numpy as np

from geometry.ct import write_ct_series
from geometry.structures import box_contours, write_rtstruct
from physics.materials import get_material

from .plan import write_rt_ion_plan

#: HU of the three regions.
HU_AIR, HU_WATER, HU_BONE = -1000, 0, 1000


def calibration_text():
    """YAML of the three-material calibration of the phantom (module docstring)."""
    air, water, bone = (get_material(n) for n in ("air", "water", "bone_cortical"))
    return (
        "# Calibration of the flashmc synthetic phantom (mc.phantom_case): three library materials at\n"
        "# their nominal densities (physics.materials: NIST dry air, water, ICRP cortical bone).\n"
        f"source: flashmc phantom calibration (air {air.density:g}, water {water.density:g}, "
        f"bone_cortical {bone.density:g} g/cm^3)\n"
        "hu_to_density:\n"
        f"  - [-1000, {air.density!r}]\n  - [-901, {air.density!r}]\n  - [-900, {water.density!r}]\n"
        f"  - [499, {water.density!r}]\n  - [500, {bone.density!r}]\n  - [3000, {bone.density!r}]\n"
        "hu_to_material:\n  - [-1024, air]\n  - [-900, water]\n  - [500, bone_cortical]\n")


def phantom_arrays(size_mm=(60.0, 120.0, 60.0), voxel_mm=2.0, margin_mm=10.0, bone_mm=(-30.0, 10.0, 30.0, 40.0),
                   cavity_mm=(10.0, 30.0, 50.0, 60.0)):
    """(hu [ix, iy, iz], origin_mm of voxel 0,0,0, spacing_mm) of the phantom. The box's faces,
    the insert and the cavity lie on voxel boundaries."""
    sx, sy, sz = size_mm
    lower = np.array([-sx / 2 - margin_mm, -margin_mm, -sz / 2 - margin_mm])
    extent = np.array([sx, sy, sz]) + 2 * margin_mm
    n = np.round(extent / voxel_mm).astype(int)
    centres = [lower[a] + voxel_mm * (np.arange(n[a]) + 0.5) for a in range(3)]
    X, Y, Z = np.meshgrid(*centres, indexing="ij")
    inside = (np.abs(X) < sx / 2) & (Y > 0) & (Y < sy) & (np.abs(Z) < sz / 2)
    hu = np.full(n, HU_AIR, np.float64)
    hu[inside] = HU_WATER
    for box, value in ((bone_mm, HU_BONE), (cavity_mm, HU_AIR)):
        x0, x1, y0, y1 = box
        hu[inside & (X > x0) & (X < x1) & (Y > y0) & (Y < y1)] = value
    return hu, lower + voxel_mm / 2, np.full(3, float(voxel_mm))


def _structures(size_mm, bone_mm, cavity_mm, target_mm, z_planes, target_half_height_mm):
    sx, sy, _ = size_mm

    def rect(x0, x1, y0, y1, planes=z_planes):
        return box_contours((x0, y0), (x1, y1), planes)

    return {"External": (rect(-sx / 2, sx / 2, 0.0, sy), "EXTERNAL"),
            "Bone": (rect(*bone_mm), "ORGAN"),
            "Cavity": (rect(*cavity_mm), "CAVITY"),
            "Target": (rect(*target_mm, planes=z_planes[np.abs(z_planes) < target_half_height_mm]), "PTV")}


def write_phantom_case(folder, beams, *, fractions=1, size_mm=(60.0, 120.0, 60.0), voxel_mm=2.0, margin_mm=10.0,
                       bone_mm=(-30.0, 10.0, 30.0, 40.0), cavity_mm=(10.0, 30.0, 50.0, 60.0),
                       target_mm=(-15.0, 15.0, 55.0, 85.0), target_half_height_mm=15.0):
    """Write the case into ``folder``: ``ct/`` (the CT series), ``rtstruct.dcm``, ``rtplan.dcm``
    (``beams``: see :func:`mc.plan.write_rt_ion_plan`) and ``calibration.yaml``. Returns a dict
    of the paths and the UIDs."""
    os.makedirs(folder, exist_ok=True)
    hu, origin, spacing = phantom_arrays(size_mm, voxel_mm, margin_mm, bone_mm, cavity_mm)
    ct = write_ct_series(os.path.join(folder, "ct"), hu, spacing, origin)
    z_planes = ct.axis_centres_mm(2)
    z_planes = z_planes[np.abs(z_planes) < size_mm[2] / 2]
    rtstruct = os.path.join(folder, "rtstruct.dcm")
    write_rtstruct(rtstruct, _structures(size_mm, bone_mm, cavity_mm, target_mm, z_planes, target_half_height_mm),
                   frame_of_reference_uid=ct.frame_of_reference_uid, study_instance_uid=ct.study_instance_uid,
                   referenced_series_uid=ct.series_instance_uid, referenced_sop_uids=list(ct.sop_instance_uids))
    rtplan = os.path.join(folder, "rtplan.dcm")
    plan_uid = write_rt_ion_plan(rtplan, beams, frame_of_reference_uid=ct.frame_of_reference_uid,
                                 study_instance_uid=ct.study_instance_uid, fractions=fractions)
    calibration = os.path.join(folder, "calibration.yaml")
    with open(calibration, "w", encoding="utf-8") as f:
        f.write(calibration_text())
    return {"ct": os.path.join(folder, "ct"), "structures": rtstruct, "plan": rtplan, "calibration": calibration,
            "frame_of_reference_uid": ct.frame_of_reference_uid, "plan_uid": plan_uid, "hu": hu,
            "origin_mm": origin, "spacing_mm": spacing}
