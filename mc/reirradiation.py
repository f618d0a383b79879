"""Cumulative dose of radiotherapy courses (re-irradiation) in EQD2 and BED, with dose-volume
constraints per structure: ``python -m mc.reirradiation config.yaml [--json PATH]``.

Inputs (YAML, strict: unknown keys are errors, units in the key names; format in README
"Re-irradiation"): the courses in time order, each a DICOM RT Dose file or a flashmc HDF5 output
with its number of fractions; an RTSTRUCT; alpha/beta per structure; constraints; outputs.

Conventions and models:

* Dose of a course. An RT Dose (DICOM PS3.3 C.8.8.3, read by :func:`mc.dicom_out.read_rt_dose`)
  is the course's total dose as stored (DoseType PHYSICAL or EFFECTIVE is reported), or with
  ``rbe: constant_1.1`` 1.1 times it (ICRU Report 78, 2007). A flashmc HDF5 output (README
  "Output") gives ``rbe: constant_1.1`` -> 1.1 x ``/dose``, or ``rbe: <model>`` ->
  ``/dose_rbe/<model>``; if the file has ``/plan`` (a plan recomputation), ``/dose`` is for
  ``/plan`` attribute ``dose_fractions`` fractions and is scaled by fractions / dose_fractions
  to the course (equal fractions), else ``/dose`` is taken as the course total.
* BED and EQD2 per voxel: :mod:`physics.bed` (n equal fractions of D/n per voxel; courses add in
  BED; an earlier course's BED times its recovery factor, off by default).
* Dose file kinds (PS3.3 C.8.8.3.1, DoseSummationType (3004,000A)): PLAN, other values or none
  are the course total; FRACTION_SESSION is one fraction and is multiplied by the course's
  fractions; BEAM, BEAM_SESSION and CONTROL_POINT (part of a plan) are refused (sum the beams
  first). ``rbe: constant_1.1`` on an RT Dose of DoseType (3004,0004) EFFECTIVE is refused (it is
  already RBE-weighted). A flashmc HDF5 dataset must be 3-D, finite, >= 0, with 3-vector
  ``origin_mm`` and ``spacing_mm`` (> 0) attributes.
* Registration: rigid only (no deformable registration). Course i's dose is mapped to the
  reference coordinates, those of the first course (patient LPS, mm). Courses with the
  first course's FrameOfReferenceUID (0020,0052) share its coordinates; any other course needs
  ``transform_to_reference_4x4``: the homogeneous 4x4 matrix taking a point of the course's
  patient coordinates [mm] to the reference coordinates (the rigid registration, e.g. from a
  DICOM Spatial Registration object, PS3.3 C.20.2, FrameOfReferenceTransformationMatrix
  (3006,00C6), which maps the registered frame into the reference frame). The RTSTRUCT must lie
  in the first course's frame of reference.
* Summation grid (:func:`union_grid`): the first course's spacing and voxel lattice (so its
  voxel centres are kept and it is not interpolated), extended to the bounding box of all
  courses' voxel-centre boxes after their transforms; at most :data:`MAX_SUM_VOXELS` voxels.
  Every course is sampled at its voxel centres by trilinear interpolation
  (scipy.ndimage.map_coordinates, order 1) of its voxel-centre values; points outside the hull
  of a course's voxel centres get dose 0 from it (its grid is taken to cover all its dose).
* Structures: voxel masks on the summation grid (:func:`geometry.structures.structure_masks`,
  voxel-centre rule); a constrained structure with contour points outside the grid's outer
  voxel faces is an error (its mask would be cut).
* Metrics of a structure's cumulative EQD2 (or BED) voxel values, voxel volume v [cm^3]:
  ``Dmax`` the largest voxel value; ``D<V>cc`` (e.g. D0.03cc, D2cc) the minimum dose of the
  hottest V cm^3 (ICRU Report 83, 2010, sec. 3.7.1 "D_V"; D0.03cc as the near-point maximum of
  spine SBRT, e.g. Sahgal et al. 2013, Int. J. Radiat. Oncol. Biol. Phys. 85:341): the voxels
  sorted by decreasing dose, D_V is the dose of the k-th with k = ceil(V / v - 1e-9), the first
  voxel at which the cumulative volume reaches V (no interpolation between voxels; a structure
  smaller than V is an error).
* Constraints: of the cumulative dose, or with ``course: <name>`` of that course alone (no
  recovery); pass when value <= limit (a value equal to the limit passes); margin = limit -
  value [Gy] (negative when failing). With no constraints the report says so and ``all_pass``
  is null. The published cumulative cord limits (Nieder et al. 2006; Sahgal et al. 2012; see
  :mod:`physics.bed`) are sums of raw BED without recovery: do not combine them with a recovery
  model.
* Recovery: ``months_elapsed`` of a course is the time from its end to the start of the LAST
  course.
* Exit status: 0 all constraints pass or none were given, 1 some fail, 2 invalid input (one-line
  message naming the field) or any other error (one line "error: ...").

Outputs: the cumulative EQD2 map at ``output.alpha_beta_Gy`` as an RT Dose (DoseType EFFECTIVE,
DoseComment naming EQD2 and alpha/beta) and as HDF5 (``/eqd2``, ``/bed`` [Gy] and the resampled
course doses ``/course_dose/<name>`` [Gy], the constrained structures' voxel masks
``/structures/<name>``, all with ``origin_mm`` and ``spacing_mm`` attributes; the
report as the root attribute ``report_json``); the report as text and, with ``--json``, JSON
(schema :data:`REPORT_SCHEMA`). Output paths that cannot be written are invalid input (status 2).
"""

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import Literal

import h5py
import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from geometry.structures import mask_volume_cm3, read_rtstruct, structure_masks
from physics.bed import (
    ALPHA_BETA_PRESETS_GY,
    RECOVERY_MODELS,
    bed_gy,
    eqd2_from_bed_gy,
    recovery_factor,
)
from physics.rbe import MODELS as RBE_MODELS
from physics.rbe import RBE_CONSTANT

from .config import _check_alpha_beta, _Strict, format_validation_error
from .dicom_out import read_rt_dose, write_rt_dose
from .dose_volume import hottest_dose_gy, resample_trilinear
from .errors import ConfigError

#: Identifier of the JSON report layout.
REPORT_SCHEMA = "flashmc.reirradiation/1"
#: Metric names: Dmax, or D<V>cc with V in cm^3.
METRIC_PATTERN = re.compile(r"^(Dmax|D(\d+(?:\.\d+)?)cc)$")
#: Largest deviation of a transform's upper-left 3x3 block from a rotation (orthonormal, det +1).
RIGID_TOL = 1e-6


# ------------------------------------------------------------------------------------ configuration

def _alpha_beta(v):
    return _check_alpha_beta(v, ALPHA_BETA_PRESETS_GY)


def _no_bool(v):
    """YAML ``true``/``false`` would pass as 1/0 Gy: refuse booleans where a number or a preset is meant."""
    if isinstance(v, bool):
        raise ValueError(f"got the boolean {v!r}; give alpha/beta as a number in Gy or a preset name "  # noqa: TRY004
                         f"({', '.join(ALPHA_BETA_PRESETS_GY)})")
    return v


class RecoveryConfig(_Strict):
    """Recovery of an earlier course (physics.bed): model and ``months_elapsed``, the time from the end
    of that course to the start of the LAST course (the one whose cumulative dose is checked)."""

    model: Literal[RECOVERY_MODELS] = "none"
    months_elapsed: float = Field(ge=0)


class CourseConfig(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    dose_file: str
    fractions: int = Field(ge=1)
    rbe: str | None = None
    transform_to_reference_4x4: list[list[float]] | None = None
    recovery: RecoveryConfig | None = None

    @field_validator("rbe")
    @classmethod
    def _rbe(cls, v):
        allowed = ("constant_1.1",) + tuple(m for m in RBE_MODELS if m != "constant")
        if v is not None and v not in allowed:
            raise ValueError(f"unknown rbe {v!r}; use constant_1.1 or a /dose_rbe model: {', '.join(allowed[1:])}")
        return v

    @field_validator("transform_to_reference_4x4")
    @classmethod
    def _rigid(cls, v):
        if v is None:
            return v
        m = np.asarray(v, dtype=float)
        if m.shape != (4, 4) or not np.allclose(m[3], [0, 0, 0, 1]):
            raise ValueError("must be a 4x4 matrix (list of 4 rows) with last row [0, 0, 0, 1]")
        r = m[:3, :3]
        if np.max(np.abs(r @ r.T - np.eye(3))) > RIGID_TOL or np.linalg.det(r) < 0:
            raise ValueError("the upper-left 3x3 block must be a rotation (orthonormal, determinant +1): "
                             "only rigid registration is supported")
        return v


class AlphaBetaConfig(_Strict):
    """Photon alpha/beta [Gy or a preset of physics.bed.ALPHA_BETA_PRESETS_GY]: ``default`` and per
    structure (ROIName); constraints use their structure's value."""

    default: float | str = 2.0
    structures: dict[str, float | str] = Field(default_factory=dict)

    @field_validator("default", mode="before")
    @classmethod
    def _default_not_bool(cls, v):
        return _no_bool(v)

    @field_validator("structures", mode="before")
    @classmethod
    def _each_not_bool(cls, v):
        if isinstance(v, dict):
            for k, x in v.items():
                if isinstance(x, bool):
                    try:
                        _no_bool(x)
                    except ValueError as exc:
                        raise ValueError(f"{k}: {exc}") from None
        return v

    @field_validator("default")
    @classmethod
    def _default(cls, v):
        return _alpha_beta(v)

    @field_validator("structures")
    @classmethod
    def _each(cls, v):
        out = {}
        for k, x in v.items():
            try:
                out[k] = _alpha_beta(x)
            except ValueError as exc:
                raise ValueError(f"{k}: {exc}") from None
        return out

    def value_gy(self, structure):
        v = self.structures.get(structure, self.default)
        return float(ALPHA_BETA_PRESETS_GY[v]) if isinstance(v, str) else float(v)


class ConstraintConfig(_Strict):
    """A limit on a structure's ``metric`` of the cumulative EQD2 or BED, or with ``course`` of that
    one course's alone (without recovery), e.g. the per-course conditions of Nieder et al. 2006 and
    Sahgal et al. 2012."""

    structure: str
    metric: str = "Dmax"
    course: str | None = None
    EQD2_max_Gy: float | None = Field(default=None, gt=0)
    BED_max_Gy: float | None = Field(default=None, gt=0)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v):
        if not METRIC_PATTERN.match(v) or v == "D0cc" or (v != "Dmax" and float(v[1:-2]) <= 0):
            raise ValueError(f"unknown metric {v!r}; use Dmax or D<V>cc with V > 0 in cm^3 (e.g. D0.03cc, D2cc)")
        return v

    @model_validator(mode="after")
    def _one_limit(self):
        if (self.EQD2_max_Gy is None) == (self.BED_max_Gy is None):
            raise ValueError("give exactly one of EQD2_max_Gy and BED_max_Gy")
        return self


class OutputConfig(_Strict):
    rt_dose_file: str | None = None
    hdf5_file: str | None = None
    alpha_beta_Gy: float | str | None = None

    @field_validator("alpha_beta_Gy", mode="before")
    @classmethod
    def _ab_not_bool(cls, v):
        return _no_bool(v)

    @field_validator("alpha_beta_Gy")
    @classmethod
    def _ab(cls, v):
        return None if v is None else _alpha_beta(v)


class ReirradiationConfig(_Strict):
    courses: list[CourseConfig] = Field(min_length=1)
    structures_file: str
    alpha_beta_Gy: AlphaBetaConfig = Field(default_factory=AlphaBetaConfig)
    constraints: dict[str, ConstraintConfig] = Field(default_factory=dict)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _courses(self):
        names = [c.name for c in self.courses]
        if len(set(names)) != len(names):
            raise ValueError(f"courses: names must be unique, got {names}")
        if self.courses[0].transform_to_reference_4x4 is not None:
            raise ValueError("courses.0.transform_to_reference_4x4: the first course defines the reference "
                             "coordinates; remove its transform")
        if self.courses[-1].recovery is not None:
            raise ValueError(f"courses.{len(names) - 1}.recovery: recovery applies to earlier courses only; "
                             "remove it from the last course")
        for key, cons in self.constraints.items():
            if cons.course is not None and cons.course not in names:
                raise ValueError(f"constraints.{key}.course: {cons.course!r} is not a course name; use one of {names}")
        return self

    def resolve_paths(self, base_dir):
        def rel(p):
            return p if p is None or os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, p))
        for c in self.courses:
            c.dose_file = rel(c.dose_file)
        self.structures_file = rel(self.structures_file)
        self.output.rt_dose_file = rel(self.output.rt_dose_file)
        self.output.hdf5_file = rel(self.output.hdf5_file)


def load_reirradiation_config(path):
    """Read and validate the YAML at ``path`` (relative file names against its folder)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f.read())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}; check indentation") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with keys courses, structures_file, "
                          "alpha_beta_Gy, constraints, output")
    try:
        cfg = ReirradiationConfig.model_validate(data)
    except ValidationError as exc:
        text = format_validation_error(exc).replace(":\n  ", ": ").replace("\n  ", "; ")
        raise ConfigError(f"{path}: {text}") from None
    cfg.resolve_paths(os.path.dirname(os.path.abspath(path)))
    return cfg


# ------------------------------------------------------------------------------------ course doses

@dataclass
class CourseDose:
    """A course's dose [Gy] on its own grid (patient LPS, mm; origin = centre of voxel (0,0,0))."""

    dose_gy: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: np.ndarray
    frame_of_reference_uid: str | None
    study_instance_uid: str | None
    kind: str
    dose_used: str


def _hdf5_dataset(f, key, path, where):
    """The 3-D float array of dataset ``key`` with its grid attributes, checked (one-line errors)."""
    ds = f.get(key)
    if not isinstance(ds, h5py.Dataset):
        raise ConfigError(f"{where}.dose_file: {path}: /{key} is not a dataset (it is a group or absent); give a "
                          "flashmc HDF5 output (README 'Output')")
    if ds.ndim != 3 or min(ds.shape) < 1:
        raise ConfigError(f"{where}.dose_file: {path}: /{key} has shape {ds.shape}, not a 3-D dose grid "
                          "[ix, iy, iz]; give a flashmc HDF5 output")
    try:
        values = np.asarray(ds[...], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}.dose_file: {path}: /{key} is not numeric ({exc}); give a dose in Gy") from None
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ConfigError(f"{where}.dose_file: {path}: /{key} holds NaN, infinite or negative values; "
                          "give a dose in Gy (finite, >= 0)")
    grid = []
    for attr in ("origin_mm", "spacing_mm"):
        try:
            vec = np.asarray(ds.attrs[attr], dtype=float).reshape(-1)
        except (KeyError, TypeError, ValueError):
            vec = np.zeros(0)
        ok = vec.shape == (3,) and np.all(np.isfinite(vec)) and (attr == "origin_mm" or np.all(vec > 0))
        if not ok:
            raise ConfigError(f"{where}.dose_file: {path}: /{key} attribute {attr} must be 3 finite numbers [mm]"
                              f"{' > 0' if attr == 'spacing_mm' else ''} (x, y, z); write it with the dose grid")
        grid.append(vec)
    return values, grid[0], grid[1]


def _read_hdf5_course(course, where):
    path = course.dose_file
    if course.rbe is None:
        raise ConfigError(f"{where}.rbe: {path} is a flashmc HDF5 output: say which dose to use, "
                          "rbe: constant_1.1 (1.1 x /dose) or a /dose_rbe model, e.g. rbe: mcnamara")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ConfigError(f"{where}.dose_file: {path} cannot be read as HDF5 ({exc}); give a flashmc output") from None
    with f:
        if course.rbe == "constant_1.1":
            key, factor, used = "dose", RBE_CONSTANT, "1.1 x /dose (constant RBE, ICRU Report 78)"
        else:
            key = f"dose_rbe/{course.rbe}"
            if key not in f:
                have = sorted(f["dose_rbe"]) if isinstance(f.get("dose_rbe"), h5py.Group) else []
                raise ConfigError(f"{where}.rbe: {path} has no /{key} (it holds /dose_rbe models {have}); "
                                  "use one of those or constant_1.1")
            factor, used = 1.0, f"/{key} (variable RBE)"
        dose, origin, spacing = _hdf5_dataset(f, key, path, where)
        dose = dose * factor
        plan = f["plan"].attrs if "plan" in f else {}
        frame = str(plan["frame_of_reference_uid"]) if "frame_of_reference_uid" in plan else None
        if "dose_fractions" in plan:
            planned = plan["dose_fractions"]
            if np.ndim(planned) != 0 or not float(planned) >= 1 or float(planned) != int(planned):
                raise ConfigError(f"{where}.dose_file: {path}: /plan attribute dose_fractions {planned!r} is not a "
                                  "whole number >= 1; correct the file")
            if int(planned) != course.fractions:
                dose = dose * (course.fractions / int(planned))
                used += f", scaled by {course.fractions}/{int(planned)} fractions (/plan dose_fractions)"
    return CourseDose(dose, origin, spacing, frame or None, None, "flashmc_hdf5", used)


#: DoseSummationType (3004,000A) values (PS3.3 C.8.8.3.1) of a part of a plan: refused.
PARTIAL_SUMMATIONS = ("BEAM", "BEAM_SESSION", "CONTROL_POINT")


def _rt_dose_course(course, where, rt):
    """(total dose of the course [Gy], description) of an RT Dose, from DoseSummationType (3004,000A) and
    DoseType (3004,0004) (PS3.3 C.8.8.3): FRACTION_SESSION is one fraction (x fractions); BEAM, BEAM_SESSION
    and CONTROL_POINT are parts of a plan (refused); PLAN, other values or none: the course total."""
    path, summation = course.dose_file, rt.summation_type or "absent"
    if summation in PARTIAL_SUMMATIONS:
        raise ConfigError(f"{where}.dose_file: {path} has DoseSummationType (3004,000A) {summation}, the dose of "
                          "part of a plan; sum the beams first or give the PLAN dose")
    if course.rbe == "constant_1.1" and rt.dose_type == "EFFECTIVE":
        raise ConfigError(f"{where}.rbe: {path} has DoseType (3004,0004) EFFECTIVE: the dose is already "
                          "RBE-weighted; remove rbe or give the PHYSICAL dose")
    dose, used = rt.dose_gy, f"RT Dose DoseType {rt.dose_type or 'absent'}, DoseSummationType {summation}"
    if summation == "FRACTION_SESSION":
        dose = dose * course.fractions
        used += f" (one fraction) x {course.fractions} fractions"
    else:
        used += " (the course total)"
    if course.rbe == "constant_1.1":
        dose = dose * RBE_CONSTANT
        used += " x 1.1 (constant RBE, ICRU Report 78)"
    return dose, used


def read_course_dose(course, where):
    """The :class:`CourseDose` of ``course`` (``where`` names its config field for messages)."""
    path = course.dose_file
    if not os.path.isfile(path):
        raise ConfigError(f"{where}.dose_file: {path} not found; give an RT Dose (.dcm) or flashmc HDF5 (.h5) file")
    if h5py.is_hdf5(path):
        return _read_hdf5_course(course, where)
    if course.rbe not in (None, "constant_1.1"):
        raise ConfigError(f"{where}.rbe: {course.rbe!r} selects a /dose_rbe model of a flashmc HDF5 output, but "
                          f"{path} is an RT Dose; use constant_1.1 or leave rbe out")
    rt = read_rt_dose(path)
    dose, used = _rt_dose_course(course, where, rt)
    return CourseDose(dose, rt.origin_mm, rt.spacing_mm, rt.frame_of_reference_uid or None,
                      rt.study_instance_uid or None, "rtdose", used)


def _registration(i, course, ref_frame, frame):
    """(transform or None, description) of course ``i`` relative to the first course."""
    where = f"courses.{i}.transform_to_reference_4x4"
    if course.transform_to_reference_4x4 is not None:
        return np.asarray(course.transform_to_reference_4x4, float), "explicit rigid 4x4 transform"
    if i == 0:
        return None, "reference (first course)"
    if frame is None or ref_frame is None or frame != ref_frame:
        raise ConfigError(f"{where}: course {course.name!r} has FrameOfReferenceUID (0020,0052) {frame!r}, the first "
                          f"course {ref_frame!r}; different or unknown frames need a rigid transform: give the 4x4 "
                          "matrix from this course's coordinates to the first course's")
    return None, "same FrameOfReferenceUID (0020,0052)"


# ------------------------------------------------------------------------------------ metrics

def dose_metric_gy(values_gy, metric, voxel_volume_cm3):
    """``metric`` (Dmax or D<V>cc, module docstring) of the voxel values [Gy] of one structure."""
    v = np.asarray(values_gy, float).ravel()
    if v.size == 0:
        raise ValueError("the structure holds no voxel of the dose grid")
    if metric == "Dmax":
        return float(v.max())
    volume_cm3 = float(METRIC_PATTERN.match(metric).group(2))
    k = math.ceil(volume_cm3 / voxel_volume_cm3 - 1e-9)
    if k > v.size:
        raise ValueError(f"{metric} needs {volume_cm3:g} cm^3 but the structure holds {v.size * voxel_volume_cm3:.4g} "
                         "cm^3 on the dose grid")
    return hottest_dose_gy(v, k)


def constraint_result(name, cons, alpha_beta, value_gy, per_course_gy):
    """One row of the report: value vs limit, pass when value <= limit, margin = limit - value."""
    quantity = "EQD2" if cons.EQD2_max_Gy is not None else "BED"
    limit = cons.EQD2_max_Gy if quantity == "EQD2" else cons.BED_max_Gy
    return {"name": name, "structure": cons.structure, "course": cons.course, "alpha_beta_Gy": alpha_beta,
            "metric": cons.metric,
            "quantity": quantity, "value_Gy": value_gy, "limit_Gy": float(limit),
            "margin_Gy": float(limit) - value_gy, "pass": bool(value_gy <= limit), "per_course_Gy": per_course_gy}


# ------------------------------------------------------------------------------------ the analysis

@dataclass
class Result:
    """Cumulative maps on the reference grid and the report (a JSON-ready dict)."""

    eqd2_gy: np.ndarray
    bed_gy: np.ndarray
    course_doses_gy: dict
    origin_mm: np.ndarray
    spacing_mm: np.ndarray
    masks: dict
    report: dict
    frame_of_reference_uid: str | None
    study_instance_uid: str | None


#: Largest number of voxels of the summation grid (the union of the courses' grids), ~1 GB per float64 map set.
MAX_SUM_VOXELS = 50_000_000


def _box_corners_mm(shape, origin_mm, spacing_mm, transform):
    """The 8 corners of the box of a grid's voxel centres, in reference coordinates."""
    hi = np.asarray(origin_mm, float) + np.asarray(spacing_mm, float) * (np.asarray(shape) - 1)
    corners = np.array([[(origin_mm[a], hi[a])[(k >> a) & 1] for a in range(3)] for k in range(8)], float)
    if transform is not None:
        corners = corners @ transform[:3, :3].T + transform[:3, 3]
    return corners


def union_grid(grids, transforms):
    """(shape, origin_mm, spacing_mm) of the summation grid: the first grid's spacing and voxel lattice
    (its voxel centres are kept), extended to hold the bounding box of all grids' voxel-centre boxes
    (each ``grids`` item (shape, origin_mm, spacing_mm), mapped by its 4x4 transform or None)."""
    corners = np.vstack([_box_corners_mm(*g, t) for g, t in zip(grids, transforms)])
    origin, spacing = np.asarray(grids[0][1], float), np.asarray(grids[0][2], float)
    lo = np.floor((corners.min(axis=0) - origin) / spacing + 1e-9)
    hi = np.ceil((corners.max(axis=0) - origin) / spacing - 1e-9)
    return tuple(int(n) for n in hi - lo + 1), origin + lo * spacing, spacing


def _load_courses(cfg):
    """(course doses on the summation grid, course report rows, reference CourseDose, summation grid)."""
    doses = [read_course_dose(c, f"courses.{i}") for i, c in enumerate(cfg.courses)]
    ref = doses[0]
    regs = [_registration(i, c, ref.frame_of_reference_uid, d.frame_of_reference_uid)
            for i, (c, d) in enumerate(zip(cfg.courses, doses))]
    grid = union_grid([(d.dose_gy.shape, d.origin_mm, d.spacing_mm) for d in doses], [t for t, _ in regs])
    if math.prod(grid[0]) > MAX_SUM_VOXELS:
        raise ConfigError(f"courses: the union of the courses' grids has {grid[0]} voxels at the first course's "
                          f"spacing {grid[2].tolist()} mm, over {MAX_SUM_VOXELS}; check the files' positions and "
                          "transform_to_reference_4x4, or crop the dose grids")
    on_ref, rows = {}, []
    for i, (c, d, (transform, registration)) in enumerate(zip(cfg.courses, doses, regs)):
        same_grid = (transform is None and d.dose_gy.shape == grid[0] and np.allclose(d.origin_mm, grid[1])
                     and np.allclose(d.spacing_mm, grid[2]))
        if same_grid:
            on_ref[c.name] = d.dose_gy
        else:
            on_ref[c.name], _ = resample_trilinear(d.dose_gy, d.origin_mm, d.spacing_mm, *grid, transform)
        rec = c.recovery or RecoveryConfig(model="none", months_elapsed=0.0)
        rows.append({"name": c.name, "dose_file": c.dose_file, "kind": d.kind, "dose_used": d.dose_used,
                     "fractions": c.fractions, "frame_of_reference_uid": d.frame_of_reference_uid,
                     "registration": registration, "resampled": not same_grid,
                     "recovery_model": rec.model, "months_elapsed": rec.months_elapsed,
                     "bed_factor": recovery_factor(rec.model, rec.months_elapsed),
                     "max_dose_Gy": float(on_ref[c.name].max())})
    return on_ref, rows, ref, grid


def _cumulative_bed(cfg, on_ref, rows, alpha_beta):
    total = np.zeros(next(iter(on_ref.values())).shape)
    for c, row in zip(cfg.courses, rows):
        total += row["bed_factor"] * bed_gy(on_ref[c.name], c.fractions, alpha_beta)
    return total


def _check_inside(cfg, ss, names, grid):
    """Refuse a constrained structure with contour points outside the summation grid's outer voxel
    faces: its mask (and so its metrics) would be cut there."""
    shape, origin, spacing = grid
    lo, hi = origin - spacing / 2, origin + spacing * (np.asarray(shape) - 0.5)
    tol = 1e-6
    for name in names:
        pts = np.vstack([c for c in ss.structures[name].contours] or [np.zeros((0, 3))])
        if pts.size and (np.any(pts < lo - tol) or np.any(pts > hi + tol)):
            raise ConfigError(f"structures_file: structure {name!r} in {cfg.structures_file} extends to "
                              f"{pts.min(axis=0).round(2).tolist()} .. {pts.max(axis=0).round(2).tolist()} mm, outside "
                              f"the courses' dose grids ({lo.round(2).tolist()} .. {hi.round(2).tolist()} mm); give "
                              "dose grids that cover the whole structure")


def _masks(cfg, ref, grid):
    try:
        ss = read_rtstruct(cfg.structures_file)
    except ValueError as exc:
        raise ConfigError(f"structures_file: {exc}") from None
    if (ss.frame_of_reference_uid and ref.frame_of_reference_uid
            and ss.frame_of_reference_uid != ref.frame_of_reference_uid):
        raise ConfigError(f"structures_file: {cfg.structures_file} has FrameOfReferenceUID (0020,0052) "
                          f"{ss.frame_of_reference_uid}, the first course {ref.frame_of_reference_uid}; give the "
                          "structure set drawn in the first course's frame of reference")
    names = sorted({c.structure for c in cfg.constraints.values()})
    for key, cons in cfg.constraints.items():
        if cons.structure not in ss.structures:
            raise ConfigError(f"constraints.{key}.structure: {cons.structure!r} is not in {cfg.structures_file} "
                              f"(ROIName (3006,0026) values {list(ss.structures)}); correct the name")
    _check_inside(cfg, ss, names, grid)
    return structure_masks(ss, *grid, names)


def _evaluate(cfg, on_ref, rows, masks, voxel_cm3):
    results = []
    for key, cons in cfg.constraints.items():
        ab = cfg.alpha_beta_Gy.value_gy(cons.structure)
        mask = masks[cons.structure]
        convert = (lambda b, ab=ab: eqd2_from_bed_gy(b, ab)) if cons.EQD2_max_Gy is not None else (lambda b: b)
        try:
            per_course = {c.name: dose_metric_gy(convert(bed_gy(on_ref[c.name], c.fractions, ab))[mask],
                                                 cons.metric, voxel_cm3) for c in cfg.courses}
            if cons.course is None:
                total = dose_metric_gy(convert(_cumulative_bed(cfg, on_ref, rows, ab))[mask], cons.metric, voxel_cm3)
            else:
                total = per_course[cons.course]
        except ValueError as exc:
            raise ConfigError(f"constraints.{key}: structure {cons.structure!r}: {exc}; choose another metric "
                              "or a finer dose grid") from None
        results.append(constraint_result(key, cons, ab, total, per_course))
    return results


def run_reirradiation(cfg):
    """Sum the courses of ``cfg`` (:class:`ReirradiationConfig`) and check its constraints."""
    on_ref, rows, ref, grid = _load_courses(cfg)
    masks = _masks(cfg, ref, grid)
    voxel_cm3 = float(np.prod(grid[2])) / 1000.0
    out_ab = cfg.output.alpha_beta_Gy if cfg.output.alpha_beta_Gy is not None else cfg.alpha_beta_Gy.default
    out_ab = float(ALPHA_BETA_PRESETS_GY[out_ab]) if isinstance(out_ab, str) else float(out_ab)
    bed_map = _cumulative_bed(cfg, on_ref, rows, out_ab)
    constraints = _evaluate(cfg, on_ref, rows, masks, voxel_cm3)
    report = {"schema": REPORT_SCHEMA, "courses": rows,
              "reference_grid": {"shape": list(grid[0]), "origin_mm": grid[1].tolist(),
                                 "spacing_mm": grid[2].tolist(),
                                 "frame_of_reference_uid": ref.frame_of_reference_uid},
              "map_alpha_beta_Gy": out_ab,
              "structures": {n: {"volume_cm3": mask_volume_cm3(m, grid[2])} for n, m in masks.items()},
              "constraints": constraints,
              "all_pass": all(r["pass"] for r in constraints) if constraints else None,
              "constraints_checked": len(constraints),
              "conventions": "BED = n d (1 + d/(a/b)), EQD2 = BED/(1 + 2/(a/b)), equal fractions per voxel; "
                             "rigid registration only; trilinear resampling onto the union of the courses' grids "
                             "(first course's spacing; 0 outside a course's grid); "
                             "D_V = dose of the voxel at which the hottest cumulative volume reaches V; "
                             "pass when value <= limit", "files": {}}
    return Result(eqd2_from_bed_gy(bed_map, out_ab), bed_map, on_ref, grid[1], grid[2], masks, report,
                  ref.frame_of_reference_uid, ref.study_instance_uid)


# ------------------------------------------------------------------------------------ outputs

def write_outputs(cfg, result):
    """Write the RT Dose and HDF5 files named in ``cfg.output``; their paths go into the report. A file
    that cannot be written is a ConfigError naming the ``output`` field."""
    for field, path in (("rt_dose_file", cfg.output.rt_dose_file), ("hdf5_file", cfg.output.hdf5_file)):
        if path:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"output.{field}: cannot create the folder of {path} ({exc.strerror}); "
                                  "give a writable path") from None
    try:
        _write_files(cfg, result)
    except OSError as exc:
        raise ConfigError(f"output: cannot write {exc.filename or 'an output file'} "
                          f"({exc.strerror or exc}); give writable output paths") from None
    return result.report["files"]


def _write_files(cfg, result):
    from pydicom.uid import generate_uid

    ab = result.report["map_alpha_beta_Gy"]
    if cfg.output.rt_dose_file:
        n = len(cfg.courses)
        write_rt_dose(cfg.output.rt_dose_file, result.eqd2_gy, result.origin_mm, result.spacing_mm,
                      frame_of_reference_uid=result.frame_of_reference_uid or generate_uid(),
                      study_instance_uid=result.study_instance_uid or generate_uid(), dose_type="EFFECTIVE",
                      dose_comment=f"cumulative EQD2 [Gy], alpha/beta {ab:g} Gy, {n} course(s)",
                      series_description="flashmc cumulative EQD2")
        result.report["files"]["rt_dose"] = cfg.output.rt_dose_file
    if cfg.output.hdf5_file:
        from .output import write_atomic

        result.report["files"]["hdf5"] = cfg.output.hdf5_file

        def writer(f):
            f.attrs["report_json"] = json.dumps(result.report)
            items = [("eqd2", result.eqd2_gy, f"cumulative EQD2 at alpha/beta {ab:g} Gy"),
                     ("bed", result.bed_gy, f"cumulative BED at alpha/beta {ab:g} Gy")]
            items += [(f"course_dose/{k}", v, "course dose on the reference grid") for k, v in
                      result.course_doses_gy.items()]
            for key, data, text in items:
                ds = f.create_dataset(key, data=data, compression="gzip", compression_opts=1)
                ds.attrs.update({"units": "Gy", "origin_mm": result.origin_mm, "spacing_mm": result.spacing_mm,
                                 "axes": "x,y,z", "description": text})
            for name, mask in result.masks.items():
                ds = f.create_dataset(f"structures/{name.replace('/', '_')}", data=mask.astype(np.uint8))
                ds.attrs.update({"units": "1 inside, 0 outside", "origin_mm": result.origin_mm,
                                 "spacing_mm": result.spacing_mm, "axes": "x,y,z", "name": name})
        write_atomic(cfg.output.hdf5_file, writer)


def format_report(report):
    """The report as text lines."""
    lines = [f"Courses ({len(report['courses'])}), summed in BED on the union of their grids:"]
    for c in report["courses"]:
        lines.append(f"  {c['name']}: {c['fractions']} fraction(s), {c['dose_used']}, max {c['max_dose_Gy']:.2f} Gy, "
                     f"{c['registration']}, BED factor {c['bed_factor']:g} ({c['recovery_model']})")
    lines.append(f"Cumulative EQD2 map at alpha/beta {report['map_alpha_beta_Gy']:g} Gy")
    if not report["constraints"]:
        lines.append("No constraints checked (all_pass: null).")
    for r in report["constraints"]:
        scope = f"course {r['course']}" if r["course"] else "cumulative"
        lines.append(f"  {r['name']}: {r['structure']} {r['metric']} {scope} {r['quantity']} "
                     f"(a/b {r['alpha_beta_Gy']:g} Gy) "
                     f"= {r['value_Gy']:.2f} Gy, limit {r['limit_Gy']:g} Gy, margin {r['margin_Gy']:+.2f} Gy: "
                     f"{'PASS' if r['pass'] else 'FAIL'}")
    return "\n".join(lines)


def _write_json(path, report):
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    except OSError as exc:
        raise ConfigError(f"--json: cannot write {path} ({exc.strerror or exc}); give a writable path") from None


def main(argv=None):
    """The command line; returns the exit status: 0 all constraints pass (or none were given), 1 some
    fail, 2 invalid input or any other error (one line on stderr)."""
    p = argparse.ArgumentParser(prog="python -m mc.reirradiation",
                                description="cumulative EQD2/BED of radiotherapy courses and constraint checks")
    p.add_argument("config", help="YAML file (README 'Re-irradiation')")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH")
    args = p.parse_args(argv)
    try:
        cfg = load_reirradiation_config(args.config)
        result = run_reirradiation(cfg)
        write_outputs(cfg, result)
        if args.json:
            _write_json(args.json, result.report)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - status 1 means "a constraint failed", never a crash
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"error: {text} (unexpected; please report it with the config)", file=sys.stderr)
        return 2
    print(format_report(result.report))
    return 1 if result.report["all_pass"] is False else 0


if __name__ == "__main__":
    sys.exit(main())
