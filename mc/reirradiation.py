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
* Registration: rigid only (no deformable registration). Course i's dose is mapped to the
  reference coordinates, those of the first course's grid (patient LPS, mm). Courses with the
  first course's FrameOfReferenceUID (0020,0052) share its coordinates; any other course needs
  ``transform_to_reference_4x4``: the homogeneous 4x4 matrix taking a point of the course's
  patient coordinates [mm] to the reference coordinates (the rigid registration, e.g. from a
  DICOM Spatial Registration object, PS3.3 C.20.2, FrameOfReferenceTransformationMatrix
  (3006,00C6), which maps the registered frame into the reference frame). The RTSTRUCT must lie
  in the first course's frame of reference.
* Resampling: every course is sampled at the voxel centres of the first course's grid by
  trilinear interpolation (scipy.ndimage.map_coordinates, order 1) of its voxel-centre values;
  points outside the hull of a course's voxel centres get dose 0 (the course's grid is taken to
  cover all its dose). A course whose grid holds no reference voxel centre is an error.
* Structures: voxel masks on the reference grid (:func:`geometry.structures.structure_masks`,
  voxel-centre rule).
* Metrics of a structure's cumulative EQD2 (or BED) voxel values, voxel volume v [cm^3]:
  ``Dmax`` the largest voxel value; ``D<V>cc`` (e.g. D0.03cc, D2cc) the minimum dose of the
  hottest V cm^3 (ICRU Report 83, 2010, sec. 3.7.1 "D_V"; D0.03cc as the near-point maximum of
  spine SBRT, e.g. Sahgal et al. 2013, Int. J. Radiat. Oncol. Biol. Phys. 85:341): the voxels
  sorted by decreasing dose, D_V is the dose of the k-th with k = ceil(V / v - 1e-9), the first
  voxel at which the cumulative volume reaches V (no interpolation between voxels; a structure
  smaller than V is an error).
* Constraints: pass when value <= limit (a value equal to the limit passes); margin = limit -
  value [Gy] (negative when failing).
* Exit status: 0 all constraints pass, 1 some fail, 2 invalid input (one-line message naming
  the field).

Outputs: the cumulative EQD2 map at ``output.alpha_beta_Gy`` as an RT Dose (DoseType EFFECTIVE,
DoseComment naming EQD2 and alpha/beta) and as HDF5 (``/eqd2``, ``/bed`` [Gy] and the resampled
course doses ``/course_dose/<name>`` [Gy], the constrained structures' voxel masks
``/structures/<name>``, all with ``origin_mm`` and ``spacing_mm`` attributes; the
report as the root attribute ``report_json``); the report as text and, with ``--json``, JSON
(schema :data:`REPORT_SCHEMA`).
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
from scipy.ndimage import map_coordinates

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
from .dose_volume import hottest_dose_gy
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


class RecoveryConfig(_Strict):
    """Recovery of an earlier course (physics.bed): model and months from its end to the new course."""

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
    structure: str
    metric: str = "Dmax"
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


def _read_hdf5_course(course, where):
    path = course.dose_file
    if course.rbe is None:
        raise ConfigError(f"{where}.rbe: {path} is a flashmc HDF5 output: say which dose to use, "
                          "rbe: constant_1.1 (1.1 x /dose) or a /dose_rbe model, e.g. rbe: mcnamara")
    with h5py.File(path, "r") as f:
        if "dose" not in f:
            raise ConfigError(f"{where}.dose_file: {path} has no /dose dataset; give a flashmc HDF5 output")
        if course.rbe == "constant_1.1":
            ds, factor, used = f["dose"], RBE_CONSTANT, "1.1 x /dose (constant RBE, ICRU Report 78)"
        else:
            key = f"dose_rbe/{course.rbe}"
            if key not in f:
                have = sorted(f["dose_rbe"]) if "dose_rbe" in f else []
                raise ConfigError(f"{where}.rbe: {path} has no /{key} (it holds /dose_rbe models {have}); "
                                  "use one of those or constant_1.1")
            ds, factor, used = f[key], 1.0, f"/{key} (variable RBE)"
        dose = np.asarray(ds[...], dtype=float) * factor
        origin, spacing = np.asarray(ds.attrs["origin_mm"], float), np.asarray(ds.attrs["spacing_mm"], float)
        plan = f["plan"].attrs if "plan" in f else {}
        frame = str(plan["frame_of_reference_uid"]) if "frame_of_reference_uid" in plan else None
        if "dose_fractions" in plan and int(plan["dose_fractions"]) != course.fractions:
            scale = course.fractions / int(plan["dose_fractions"])
            dose = dose * scale
            used += f", scaled by {course.fractions}/{int(plan['dose_fractions'])} fractions (/plan dose_fractions)"
    return CourseDose(dose, origin, spacing, frame or None, None, "flashmc_hdf5", used)


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
    factor = RBE_CONSTANT if course.rbe == "constant_1.1" else 1.0
    used = f"RT Dose DoseType {rt.dose_type}" + (" x 1.1 (constant RBE, ICRU Report 78)" if factor != 1 else "")
    return CourseDose(rt.dose_gy * factor, rt.origin_mm, rt.spacing_mm, rt.frame_of_reference_uid or None,
                      rt.study_instance_uid or None, "rtdose", used)


def voxel_centres_mm(shape, origin_mm, spacing_mm):
    """(N, 3) patient coordinates [mm] of all voxel centres, C order of [ix, iy, iz]."""
    axes = [origin_mm[a] + spacing_mm[a] * np.arange(shape[a]) for a in range(3)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def resample_trilinear(dose, origin_mm, spacing_mm, ref_shape, ref_origin_mm, ref_spacing_mm, transform=None):
    """``dose`` [ix, iy, iz] (its grid: ``origin_mm``, ``spacing_mm``) sampled at the voxel centres of
    the reference grid by trilinear interpolation; ``transform`` (4x4) maps the dose's patient
    coordinates to the reference ones. Returns (array of ``ref_shape``, number of reference centres
    inside the hull of the dose grid's centres); outside points get 0."""
    pts = voxel_centres_mm(ref_shape, np.asarray(ref_origin_mm, float), np.asarray(ref_spacing_mm, float))
    if transform is not None:
        inv = np.linalg.inv(np.asarray(transform, float))
        pts = pts @ inv[:3, :3].T + inv[:3, 3]
    idx = (pts - np.asarray(origin_mm, float)) / np.asarray(spacing_mm, float)
    hi = np.asarray(dose.shape) - 1
    tol = 1e-9
    inside = np.all((idx >= -tol) & (idx <= hi + tol), axis=1)
    idx = np.clip(idx, 0, hi)
    values = map_coordinates(np.asarray(dose, float), idx.T, order=1, mode="nearest")
    values[~inside] = 0.0
    return values.reshape(ref_shape), int(inside.sum())


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
    return {"name": name, "structure": cons.structure, "alpha_beta_Gy": alpha_beta, "metric": cons.metric,
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


def _load_courses(cfg):
    """(course doses on the reference grid, course report rows, reference CourseDose)."""
    doses = [read_course_dose(c, f"courses.{i}") for i, c in enumerate(cfg.courses)]
    ref = doses[0]
    shape = ref.dose_gy.shape
    on_ref, rows = {}, []
    for i, (c, d) in enumerate(zip(cfg.courses, doses)):
        transform, registration = _registration(i, c, ref.frame_of_reference_uid, d.frame_of_reference_uid)
        same_grid = (transform is None and d.dose_gy.shape == shape and np.allclose(d.origin_mm, ref.origin_mm)
                     and np.allclose(d.spacing_mm, ref.spacing_mm))
        if same_grid:
            on_ref[c.name] = d.dose_gy
        else:
            on_ref[c.name], inside = resample_trilinear(d.dose_gy, d.origin_mm, d.spacing_mm, shape,
                                                        ref.origin_mm, ref.spacing_mm, transform)
            if inside == 0:
                raise ConfigError(f"courses.{i}.dose_file: the grid of {c.dose_file} does not overlap the first "
                                  "course's grid (no reference voxel centre inside it); check the files and "
                                  "transform_to_reference_4x4")
        rec = c.recovery or RecoveryConfig(model="none", months_elapsed=0.0)
        rows.append({"name": c.name, "dose_file": c.dose_file, "kind": d.kind, "dose_used": d.dose_used,
                     "fractions": c.fractions, "frame_of_reference_uid": d.frame_of_reference_uid,
                     "registration": registration, "resampled": not same_grid,
                     "recovery_model": rec.model, "months_elapsed": rec.months_elapsed,
                     "bed_factor": recovery_factor(rec.model, rec.months_elapsed),
                     "max_dose_Gy": float(on_ref[c.name].max())})
    return on_ref, rows, ref


def _cumulative_bed(cfg, on_ref, rows, alpha_beta):
    total = np.zeros(next(iter(on_ref.values())).shape)
    for c, row in zip(cfg.courses, rows):
        total += row["bed_factor"] * bed_gy(on_ref[c.name], c.fractions, alpha_beta)
    return total


def _masks(cfg, ref):
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
    return structure_masks(ss, ref.dose_gy.shape, ref.origin_mm, ref.spacing_mm, names)


def _evaluate(cfg, on_ref, rows, masks, voxel_cm3):
    results = []
    for key, cons in cfg.constraints.items():
        ab = cfg.alpha_beta_Gy.value_gy(cons.structure)
        mask = masks[cons.structure]
        convert = (lambda b, ab=ab: eqd2_from_bed_gy(b, ab)) if cons.EQD2_max_Gy is not None else (lambda b: b)
        try:
            total = dose_metric_gy(convert(_cumulative_bed(cfg, on_ref, rows, ab))[mask], cons.metric, voxel_cm3)
            per_course = {c.name: dose_metric_gy(convert(bed_gy(on_ref[c.name], c.fractions, ab))[mask],
                                                 cons.metric, voxel_cm3) for c in cfg.courses}
        except ValueError as exc:
            raise ConfigError(f"constraints.{key}: structure {cons.structure!r}: {exc}; choose another metric "
                              "or a finer dose grid") from None
        results.append(constraint_result(key, cons, ab, total, per_course))
    return results


def run_reirradiation(cfg):
    """Sum the courses of ``cfg`` (:class:`ReirradiationConfig`) and check its constraints."""
    on_ref, rows, ref = _load_courses(cfg)
    masks = _masks(cfg, ref)
    voxel_cm3 = float(np.prod(ref.spacing_mm)) / 1000.0
    out_ab = cfg.output.alpha_beta_Gy if cfg.output.alpha_beta_Gy is not None else cfg.alpha_beta_Gy.default
    out_ab = float(ALPHA_BETA_PRESETS_GY[out_ab]) if isinstance(out_ab, str) else float(out_ab)
    bed_map = _cumulative_bed(cfg, on_ref, rows, out_ab)
    constraints = _evaluate(cfg, on_ref, rows, masks, voxel_cm3)
    report = {"schema": REPORT_SCHEMA, "courses": rows,
              "reference_grid": {"shape": list(ref.dose_gy.shape), "origin_mm": ref.origin_mm.tolist(),
                                 "spacing_mm": ref.spacing_mm.tolist(),
                                 "frame_of_reference_uid": ref.frame_of_reference_uid},
              "map_alpha_beta_Gy": out_ab,
              "structures": {n: {"volume_cm3": mask_volume_cm3(m, ref.spacing_mm)} for n, m in masks.items()},
              "constraints": constraints, "all_pass": all(r["pass"] for r in constraints),
              "conventions": "BED = n d (1 + d/(a/b)), EQD2 = BED/(1 + 2/(a/b)), equal fractions per voxel; "
                             "rigid registration only; trilinear resampling onto the first course's grid; "
                             "D_V = dose of the voxel at which the hottest cumulative volume reaches V; "
                             "pass when value <= limit", "files": {}}
    return Result(eqd2_from_bed_gy(bed_map, out_ab), bed_map, on_ref, ref.origin_mm, ref.spacing_mm, masks, report,
                  ref.frame_of_reference_uid, ref.study_instance_uid)


# ------------------------------------------------------------------------------------ outputs

def write_outputs(cfg, result):
    """Write the RT Dose and HDF5 files named in ``cfg.output``; their paths go into the report."""
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
    return result.report["files"]


def format_report(report):
    """The report as text lines."""
    lines = [f"Courses ({len(report['courses'])}), summed in BED on the first course's grid:"]
    for c in report["courses"]:
        lines.append(f"  {c['name']}: {c['fractions']} fraction(s), {c['dose_used']}, max {c['max_dose_Gy']:.2f} Gy, "
                     f"{c['registration']}, BED factor {c['bed_factor']:g} ({c['recovery_model']})")
    lines.append(f"Cumulative EQD2 map at alpha/beta {report['map_alpha_beta_Gy']:g} Gy")
    for r in report["constraints"]:
        lines.append(f"  {r['name']}: {r['structure']} {r['metric']} {r['quantity']} (a/b {r['alpha_beta_Gy']:g} Gy) "
                     f"= {r['value_Gy']:.2f} Gy, limit {r['limit_Gy']:g} Gy, margin {r['margin_Gy']:+.2f} Gy: "
                     f"{'PASS' if r['pass'] else 'FAIL'}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m mc.reirradiation",
                                description="cumulative EQD2/BED of radiotherapy courses and constraint checks")
    p.add_argument("config", help="YAML file (README 'Re-irradiation')")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH")
    args = p.parse_args(argv)
    try:
        cfg = load_reirradiation_config(args.config)
        result = run_reirradiation(cfg)
        write_outputs(cfg, result)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(result.report))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result.report, f, indent=2)
    return 0 if result.report["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
