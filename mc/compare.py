"""Comparison of two dose distributions: gamma index, dose difference, DVH metrics.

``python -m mc.compare A B [--structures RS.dcm] [--prescription-Gy D] [--json PATH] [--report DIR]
[--ct DIR]`` compares the dose B (the *evaluated* distribution) with the dose A (the *reference*).
A and B are DICOM RT Dose files (PS3.3 C.8.8.3, read by :func:`mc.dicom_out.read_rt_dose`) or
flashmc HDF5 outputs (``/dose`` and, if present, ``/dose_std`` in Gy with the attributes
``origin_mm`` and ``spacing_mm``; ``/structures/<name>`` masks; ``/plan`` attributes; see
:mod:`mc.output`).

Conventions and sources
-----------------------
* Grids: arrays indexed [ix, iy, iz] along the patient x, y, z axes (LPS, mm; DICOM PS3.3
  C.7.6.2.1.1); ``origin_mm`` is the centre of voxel (0, 0, 0). Everything is evaluated on A's
  grid. B (and its ``/dose_std``) is resampled onto A's voxel centres by trilinear interpolation
  between B's voxel centres (:class:`scipy.interpolate.RegularGridInterpolator`, method
  "linear"). A's voxels whose centre lies outside the box spanned by B's voxel centres get NaN and
  are excluded from every statistic, A's DVHs included (their number is reported in ``notes``);
  grids that do not overlap at all are an error.
* Dose types: an RT Dose is read as stored (DoseType PHYSICAL or EFFECTIVE, shown with the
  inputs); from a flashmc HDF5 output ``--hdf5-dose`` picks ``dose`` (physical dose to the medium,
  default), ``dose_to_water`` or ``dose_rbe/<model>`` (RBE-weighted). Comparing a PHYSICAL with an
  EFFECTIVE dose is reported in ``notes``.
* Gamma index (Low, Harms, Mutic and Purdy, Med. Phys. 25 (1998) 656, Eq. 4-6), computed by
  :func:`pymedphys.gamma` (version 0.41): A is the reference, B the evaluated distribution, passed on
  B's own grid (pymedphys interpolates B linearly at steps of DTA / ``interp_fraction`` around each
  reference point, so B is interpolated once); reference voxels outside B's grid are excluded.
  Global gamma: the dose criterion is a percentage of the maximum of A; local gamma: of A's dose
  at the reference point. Reference voxels below the low-dose cut-off (a percentage of A's
  maximum, default 10 %) are excluded. A voxel passes if gamma <= 1; the search stops at
  ``max_gamma`` (values >= max_gamma mean "at least max_gamma"). Pass rates are percentages of the
  non-excluded reference voxels.
* Dose difference: B - A [Gy] on A's grid, and in percent of A's maximum.
* Monte Carlo uncertainty: with ``/dose_std`` (one standard deviation, Gy) of A and/or B, the
  combined s.d. is sigma = sqrt(sA^2 + sB^2) (independent runs); a voxel whose |B - A| <= 2 sigma is
  "within 2 s.d."; the fraction of such voxels above the cut-off is reported.
* DVHs (cumulative, from voxels): a voxel belongs to a structure if its centre lies inside it (the
  rule of :func:`geometry.structures.structure_masks`) and then counts with its full volume. D_x
  [Gy] is the minimum dose received by the hottest x % of the structure's volume (ICRU Report 83,
  2010, section 3.7: D98 "near-minimum", D50 "median", D2 "near-maximum" dose): with the N voxel
  doses sorted in decreasing order d_1 >= d_2 >= ..., D_x = d_k with k = ceil(x N / 100), without
  interpolation (all voxels have the same volume). Dmean is the voxel mean. V95 [%] is the volume
  fraction receiving >= 95 % of the prescription dose: ``--prescription-Gy``, or else the D50 of
  A in the target (the first structure whose RTROIInterpretedType (3006,00A4) is PTV, CTV or GTV,
  else the first structure); which one is used is stated in the output.
"""

import argparse
import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from .dose_volume import GRID_TOL_MM, dose_at_volume_gy, resample_to
from .errors import ConfigError

#: Gamma criteria (dose %, distance-to-agreement mm) reported.
GAMMA_CRITERIA = ((3.0, 3.0), (2.0, 2.0), (1.0, 1.0))
#: Default low-dose cut-off [% of the reference maximum].
DEFAULT_CUTOFF_PERCENT = 10.0
#: Volume percentages x of the reported D_x (ICRU Report 83 near-minimum, D95, median, near-maximum).
DVH_LEVELS_PERCENT = (98, 95, 50, 2)
#: V95: fraction of the prescription dose [%].
V_LEVEL_PERCENT = 95.0
#: Structure types taken as the target for the default prescription (RTROIInterpretedType, PS3.3 C.8.8.8).
TARGET_TYPES = ("PTV", "CTV", "GTV")
#: Search limit of the gamma maps (gamma values are capped there).
DEFAULT_MAX_GAMMA = 2.0
#: pymedphys' default: B is interpolated at steps of DTA / interp_fraction.
DEFAULT_INTERP_FRACTION = 10


def criterion_label(dose_percent, distance_mm):
    """'3%/3mm' style label."""
    return f"{dose_percent:g}%/{distance_mm:g}mm"


# ---------------------------------------------------------------------------------------------- inputs

@dataclass
class DoseDistribution:
    """A dose grid read from an RT Dose or a flashmc HDF5 output, with its identifiers."""

    path: str
    kind: str  # "RTDOSE" or "HDF5"
    dose_gy: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: np.ndarray
    dose_std_gy: np.ndarray | None = None
    frame_of_reference_uid: str = ""
    sop_instance_uid: str = ""
    date: str = ""
    masks: dict = field(default_factory=dict)
    structure_types: dict = field(default_factory=dict)
    dose_type: str = ""  # PHYSICAL or EFFECTIVE (RBE-weighted)
    dataset: str = ""  # the HDF5 dataset read, or the RT Dose's DoseSummationType

    def axes_mm(self):
        """Voxel-centre coordinates [mm] along x, y, z."""
        return tuple(self.origin_mm[a] + self.spacing_mm[a] * np.arange(self.dose_gy.shape[a]) for a in range(3))

    def identifiers(self):
        """File name, kind, SOP Instance UID, FrameOfReferenceUID and date, for reports."""
        return {"file": os.path.basename(self.path), "path": self.path, "kind": self.kind,
                "dose_type": self.dose_type, "dataset": self.dataset,
                "sop_instance_uid": self.sop_instance_uid, "frame_of_reference_uid": self.frame_of_reference_uid,
                "date": self.date, "shape": list(self.dose_gy.shape), "origin_mm": self.origin_mm.tolist(),
                "spacing_mm": self.spacing_mm.tolist()}


def _hdf5_array(path, f, name, shape=None):
    """A finite 3-D float dataset ``name`` of an HDF5 file (ConfigError naming it otherwise)."""
    import h5py

    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise ConfigError(f"{path}: HDF5 file without a /{name} dataset; give a flashmc output (or another "
                          "--hdf5-dose) or an RT Dose file")
    arr = np.asarray(f[name][...], dtype=np.float64)
    if arr.ndim != 3 or (shape is not None and arr.shape != shape):
        want = "3-D" if shape is None else f"of the dose's shape {shape}"
        raise ConfigError(f"{path}: /{name} has shape {arr.shape}; it must be {want}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{path}: /{name} holds NaN or infinite values")
    return arr


def _hdf5_vector(path, d, key, positive):
    if key not in d.attrs:
        raise ConfigError(f"{path}: /dose lacks the attribute {key}; write the output with flashmc >= schema 1.0 "
                          "(mc/output.py)")
    v = np.asarray(d.attrs[key], dtype=np.float64).ravel()
    if v.shape != (3,) or not np.all(np.isfinite(v)) or (positive and np.any(v <= 0)):
        raise ConfigError(f"{path}: /dose attribute {key} must be 3 finite{' positive' if positive else ''} numbers "
                          f"[mm], got {d.attrs[key]!r}")
    return v


def _read_hdf5(path, dataset="dose"):
    """A flashmc HDF5 output: the dose ``dataset`` (``dose``, ``dose_to_water`` or ``dose_rbe/<model>``) on the
    grid of /dose, /dose_std when the dataset is /dose, the /structures masks and the /plan identifiers."""
    import h5py

    with h5py.File(path, "r") as f:
        base = _hdf5_array(path, f, "dose")
        dose = base if dataset == "dose" else _hdf5_array(path, f, dataset, base.shape)
        d = f["dose"]
        origin, spacing = _hdf5_vector(path, d, "origin_mm", False), _hdf5_vector(path, d, "spacing_mm", True)
        std = _hdf5_array(path, f, "dose_std", base.shape) if dataset == "dose" and "dose_std" in f else None
        plan = f["plan"].attrs if "plan" in f else {}
        masks, types = {}, {}
        for key, ds in (f["structures"].items() if "structures" in f else []):
            name = str(ds.attrs.get("name", key))
            masks[name] = np.asarray(ds[...], dtype=bool)
            if masks[name].shape != base.shape:
                raise ConfigError(f"{path}: /structures/{key} has shape {masks[name].shape}, not the dose's {base.shape}")
            types[name] = str(ds.attrs.get("interpreted_type", "")) or None
        return DoseDistribution(
            path=path, kind="HDF5", dose_gy=dose, origin_mm=origin, spacing_mm=spacing, dose_std_gy=std,
            frame_of_reference_uid=str(plan.get("frame_of_reference_uid", "")),
            sop_instance_uid=str(plan.get("sop_instance_uid", "")), date=str(f.attrs.get("created", "")),
            masks=masks, structure_types=types,
            dose_type="EFFECTIVE" if dataset.startswith("dose_rbe") else "PHYSICAL", dataset=f"/{dataset}")


def load_dose(path, hdf5_dataset="dose"):
    """Read an RT Dose file or a flashmc HDF5 output (its ``hdf5_dataset``) into a :class:`DoseDistribution`
    (ConfigError if neither)."""
    import h5py

    from .dicom_out import read_rt_dose

    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: file not found; give an RT Dose (.dcm) file or a flashmc HDF5 output (.h5)")
    if h5py.is_hdf5(path):
        return _read_hdf5(path, hdf5_dataset.strip("/"))
    rd = read_rt_dose(path)
    if not np.all(np.isfinite(rd.dose_gy)):
        raise ConfigError(f"{path}: the RT Dose holds NaN or infinite values")
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    date = str(ds.get("ContentDate", "") or ds.get("InstanceCreationDate", "") or ds.get("StudyDate", ""))
    return DoseDistribution(path=path, kind="RTDOSE", dose_gy=rd.dose_gy, origin_mm=rd.origin_mm,
                            spacing_mm=rd.spacing_mm, frame_of_reference_uid=rd.frame_of_reference_uid,
                            sop_instance_uid=rd.sop_instance_uid, date=date, dose_type=rd.dose_type or "",
                            dataset=f"DoseSummationType {rd.summation_type}" if rd.summation_type else "")


# ------------------------------------------------------------------------------------------ resampling

def _check_settings(prescription_gy, cutoff_percent, criteria, map_criterion, interp_fraction):
    """ConfigError naming the option for settings outside their meaning."""
    if prescription_gy is not None and not (math.isfinite(prescription_gy) and prescription_gy > 0):
        raise ConfigError(f"--prescription-Gy must be a positive dose, got {prescription_gy}")
    if not (math.isfinite(cutoff_percent) and 0.0 <= cutoff_percent < 100.0):
        raise ConfigError(f"--cutoff-percent must lie in [0, 100), got {cutoff_percent}")
    if int(interp_fraction) < 1:
        raise ConfigError(f"--interp-fraction must be a whole number >= 1, got {interp_fraction}")
    for crit in list(criteria) + [tuple(map_criterion)]:
        if len(crit) != 2 or not all(math.isfinite(v) and v > 0 for v in crit):
            raise ConfigError(f"--map-criterion / gamma criterion {crit} must be two positive numbers 'dose%,mm'")


def _check_overlap(a, b):
    ax_a, ax_b = a.axes_mm(), b.axes_mm()
    for k, name in enumerate("xyz"):
        lo, hi = max(ax_a[k][0], ax_b[k][0]), min(ax_a[k][-1], ax_b[k][-1])
        if lo > hi + GRID_TOL_MM:
            raise ConfigError(f"{b.path}: its dose grid ({name} {ax_b[k][0]:g} to {ax_b[k][-1]:g} mm) does not "
                              f"overlap the grid of {a.path} ({name} {ax_a[k][0]:g} to {ax_a[k][-1]:g} mm); "
                              "compare doses of the same patient and frame of reference")


def _check_frames(a, b):
    fa, fb = a.frame_of_reference_uid, b.frame_of_reference_uid
    if fa and fb and fa != fb:
        raise ConfigError(f"{b.path}: FrameOfReferenceUID (0020,0052) {fb} differs from {a.path}'s {fa}; the doses "
                          "are in different patient coordinate systems: compare doses on the same CT")


# ------------------------------------------------------------------------------------------------ gamma

def gamma_index(axes_mm, reference_gy, evaluated_gy, dose_percent, distance_mm, cutoff_percent=DEFAULT_CUTOFF_PERCENT,
                local=False, max_gamma=DEFAULT_MAX_GAMMA, interp_fraction=DEFAULT_INTERP_FRACTION,
                evaluated_axes_mm=None):
    """Gamma index of ``evaluated_gy`` against ``reference_gy`` (on the grid ``axes_mm``; ``evaluated_gy`` on
    ``evaluated_axes_mm`` if given, which pymedphys then interpolates itself) by :func:`pymedphys.gamma`
    (module docstring); NaN below the cut-off and where a dose is NaN."""
    import pymedphys

    ref = np.asarray(reference_gy, dtype=np.float64)
    ev = np.asarray(evaluated_gy, dtype=np.float64)
    valid = np.isfinite(ref) & (np.isfinite(ev) if evaluated_axes_mm is None else True)
    ref_max = float(np.max(ref[valid])) if valid.any() else 0.0
    if ref_max <= 0:
        raise ConfigError("gamma_index: the reference dose is zero (or undefined) everywhere it overlaps the "
                          "evaluated dose; nothing to compare")
    box = _finite_box(valid)
    sub_axes = tuple(np.asarray(a)[b] for a, b in zip(axes_mm, box))
    ev_axes, ev_in = (sub_axes, np.where(valid, ev, 0.0)[box]) if evaluated_axes_mm is None else \
        (tuple(np.asarray(a) for a in evaluated_axes_mm), np.nan_to_num(ev))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymedphys' deprecation notice for ``quiet``
        g_box = pymedphys.gamma(sub_axes, np.where(valid, ref, 0.0)[box], ev_axes, ev_in,
                                dose_percent, distance_mm, lower_percent_dose_cutoff=cutoff_percent,
                                interp_fraction=interp_fraction, max_gamma=max_gamma, local_gamma=local,
                                global_normalisation=ref_max, quiet=True)
    g = np.full(ref.shape, np.nan)
    g[box] = g_box
    g[~valid] = np.nan
    return g


def _finite_box(valid):
    """Index slices of the smallest box holding all ``True`` voxels (the overlap of two grids is a box)."""
    box = []
    for k in range(3):
        idx = np.flatnonzero(valid.any(axis=tuple(j for j in range(3) if j != k)))
        box.append(slice(int(idx[0]), int(idx[-1]) + 1))
    return tuple(box)


def pass_rate_percent(gamma, mask=None):
    """Percentage of the evaluated (non-NaN) voxels, within ``mask`` if given, with gamma <= 1; None if none."""
    sel = np.isfinite(gamma) if mask is None else np.isfinite(gamma) & mask
    n = int(sel.sum())
    return None if n == 0 else 100.0 * float(np.sum(gamma[sel] <= 1.0)) / n


# -------------------------------------------------------------------------------------------------- DVH

def dvh_metrics(dose_gy, mask, spacing_mm, prescription_gy=None):
    """D98, D95, D50, D2, Dmean [Gy], V95 [%] (of ``prescription_gy``; None without one), volume [cm3] of the
    voxels of ``mask`` with a defined (finite) dose; None if there are none."""
    d = np.asarray(dose_gy)[mask]
    d = d[np.isfinite(d)]
    if d.size == 0:
        return None
    out = {f"D{x}_Gy": dose_at_volume_gy(d, x) for x in DVH_LEVELS_PERCENT}
    out["Dmean_Gy"] = float(d.mean())
    out["V95_percent"] = (None if prescription_gy is None else
                          100.0 * float(np.sum(d >= V_LEVEL_PERCENT / 100.0 * prescription_gy)) / d.size)
    out["volume_cm3"] = d.size * float(np.prod(spacing_mm)) / 1000.0
    return out


def _target_name(masks, types):
    for name in masks:
        if (types.get(name) or "").upper() in TARGET_TYPES:
            return name
    return next(iter(masks), None)


# ------------------------------------------------------------------------------------------- comparison

@dataclass
class Comparison:
    """The result of :func:`compare`: inputs, maps on A's grid, and the numbers reported."""

    reference: DoseDistribution
    evaluated: DoseDistribution
    evaluated_on_reference_gy: np.ndarray
    difference_gy: np.ndarray
    gamma_maps: dict  # label -> gamma array (global, the map criterion and the pass-rate criteria)
    gamma: dict  # "global"/"local" -> label -> pass rate [%]
    structures: dict  # name -> {"A": metrics, "B": metrics, "gamma_global": {label: rate}}
    masks: dict
    prescription_gy: float | None
    prescription_source: str
    uncertainty: dict | None
    cutoff_percent: float
    map_criterion: str
    notes: list = field(default_factory=list)


def _structure_masks(a, structures_path):
    """(masks on A's grid, types): from an RTSTRUCT file, else from A's HDF5 /structures."""
    if structures_path is None:
        return a.masks, a.structure_types
    from geometry.structures import read_rtstruct, structure_masks

    try:
        ss = read_rtstruct(os.fspath(structures_path))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if a.frame_of_reference_uid and ss.frame_of_reference_uid and ss.frame_of_reference_uid != a.frame_of_reference_uid:
        raise ConfigError(f"{ss.path}: FrameOfReferenceUID (0020,0052) {ss.frame_of_reference_uid} differs from the "
                          f"dose {a.path}'s {a.frame_of_reference_uid}; give the structure set drawn on this CT")
    masks = structure_masks(ss, a.dose_gy.shape, a.origin_mm, a.spacing_mm)
    return masks, {n: s.interpreted_type for n, s in ss.structures.items()}


def _uncertainty(a, b, b_on_a, diff, above):
    """Fraction [%] of voxels above the cut-off whose |B - A| <= 2 combined s.d., or None without /dose_std."""
    if a.dose_std_gy is None and b.dose_std_gy is None:
        return None
    var = np.zeros(a.dose_gy.shape)
    if a.dose_std_gy is not None:
        var += a.dose_std_gy ** 2
    if b.dose_std_gy is not None:
        var += resample_to(b.dose_std_gy, b.axes_mm(), a.axes_mm()) ** 2
    within = np.abs(diff) <= 2.0 * np.sqrt(var)
    sel = above & np.isfinite(diff)
    return {"within_2sd_mask": within & sel, "beyond_2sd_mask": ~within & sel,
            "within_2sd_percent": 100.0 * float(within[sel].sum()) / max(int(sel.sum()), 1),
            "sources": [x.kind + ":" + os.path.basename(x.path) for x in (a, b) if x.dose_std_gy is not None]}


def compare(path_a, path_b, structures_path=None, prescription_gy=None, cutoff_percent=DEFAULT_CUTOFF_PERCENT,
            criteria=GAMMA_CRITERIA, map_criterion=(1.0, 1.0), local=True, max_gamma=DEFAULT_MAX_GAMMA,
            interp_fraction=DEFAULT_INTERP_FRACTION, hdf5_dataset="dose"):
    """Compare the evaluated dose ``path_b`` with the reference ``path_a`` (module docstring); a :class:`Comparison`.
    ``hdf5_dataset``: the dose read from a flashmc HDF5 input (``dose``, ``dose_to_water``,
    ``dose_rbe/<model>``)."""
    _check_settings(prescription_gy, cutoff_percent, criteria, map_criterion, interp_fraction)
    a, b = load_dose(path_a, hdf5_dataset), load_dose(path_b, hdf5_dataset)
    _check_frames(a, b)
    _check_overlap(a, b)
    masks, types = _structure_masks(a, structures_path)
    b_on_a = resample_to(b.dose_gy, b.axes_mm(), a.axes_mm())
    notes = [f"reference A = {a.path}; evaluated B = {b.path}; B resampled onto A's grid by trilinear interpolation"]
    n_out = int(np.sum(~np.isfinite(b_on_a)))
    if n_out:
        notes.append(f"{n_out} of A's {b_on_a.size} voxels lie outside B's grid: excluded (NaN) from all statistics")
    if a.dose_type and b.dose_type and a.dose_type != b.dose_type:
        notes.append(f"A is {a.dose_type} and B {b.dose_type} dose: an RBE-weighted dose is compared with a physical "
                     "one (for a flashmc output choose --hdf5-dose dose_rbe/<model>)")
    diff = b_on_a - a.dose_gy
    axes = a.axes_mm()
    ref_gy = np.where(np.isfinite(b_on_a), a.dose_gy, np.nan)
    native = {"evaluated_axes_mm": b.axes_mm()}
    maps, rates = {}, {"global": {}, "local": {}}
    for dose_pct, dist in criteria:
        label = criterion_label(dose_pct, dist)
        full = (dose_pct, dist) == tuple(map_criterion)
        for kind in (("global", "local") if local else ("global",)):
            g = gamma_index(axes, ref_gy, b.dose_gy, dose_pct, dist, cutoff_percent, local=(kind == "local"),
                            max_gamma=max_gamma if full else 1.001, interp_fraction=interp_fraction, **native)
            rates[kind][label] = pass_rate_percent(g)
            if kind == "global":
                maps[label] = g
    label = criterion_label(*map_criterion)
    if label not in maps:
        maps[label] = gamma_index(axes, ref_gy, b.dose_gy, *map_criterion, cutoff_percent, max_gamma=max_gamma,
                                  interp_fraction=interp_fraction, **native)
    prescription_source = "given (--prescription-Gy)"
    target = _target_name(masks, types)
    target_metrics = dvh_metrics(ref_gy, masks[target], a.spacing_mm) if target is not None else None
    if prescription_gy is None and target_metrics is not None:
        prescription_gy = target_metrics["D50_Gy"]
        prescription_source = f"D50 of A in the target '{target}'"
    elif prescription_gy is None:
        prescription_source = "none (no prescription, and no structure with dose on both grids): V95 not computed"
    structures = {}
    for name, m in masks.items():  # A and B over the same voxels: those of A's grid inside B's
        structures[name] = {"A": dvh_metrics(ref_gy, m, a.spacing_mm, prescription_gy),
                            "B": dvh_metrics(b_on_a, m, a.spacing_mm, prescription_gy),
                            "gamma_global": {lab: pass_rate_percent(g, m) for lab, g in maps.items()}}
    ref_max = float(np.nanmax(np.where(np.isfinite(b_on_a), a.dose_gy, np.nan)))
    above = a.dose_gy >= cutoff_percent / 100.0 * ref_max
    return Comparison(a, b, b_on_a, diff, maps, rates, structures, masks, prescription_gy, prescription_source,
                      _uncertainty(a, b, b_on_a, diff, above), cutoff_percent, label, notes)


def to_json(comp):
    """The JSON summary: ``gamma`` (global, A the reference, the cut-off) label -> pass rate [%]; ``structures``
    name -> A's DVH metrics (with B's under ``"evaluated"`` and the per-structure gamma pass rates)."""
    structures = {}
    for name, s in comp.structures.items():
        entry = dict(s["A"] or {})
        entry["evaluated"] = s["B"]
        entry["gamma_pass_percent"] = s["gamma_global"]
        structures[name] = entry
    unc = comp.uncertainty
    return {"reference": comp.reference.identifiers(), "evaluated": comp.evaluated.identifiers(),
            "gamma": dict(comp.gamma["global"]), "gamma_local": dict(comp.gamma["local"]),
            "gamma_settings": {"reference": "A", "evaluated": "B", "low_dose_cutoff_percent": comp.cutoff_percent,
                               "global_normalisation": "maximum of A", "implementation": "pymedphys.gamma"},
            "structures": structures,
            "prescription_Gy": comp.prescription_gy, "prescription_source": comp.prescription_source,
            "max_abs_difference_Gy": float(np.nanmax(np.abs(comp.difference_gy))),
            "within_2sd_percent": None if unc is None else unc["within_2sd_percent"],
            "notes": comp.notes}


# ------------------------------------------------------------------------------------------------- CLI

def _parser():
    p = argparse.ArgumentParser(prog="python -m mc.compare", description="Compare dose B (evaluated) with dose A "
                                "(reference): gamma index, DVH metrics, dose difference.")
    p.add_argument("a", help="reference dose: RT Dose file or flashmc HDF5 output")
    p.add_argument("b", help="evaluated dose: RT Dose file or flashmc HDF5 output")
    p.add_argument("--structures", help="RT Structure Set file (default: A's HDF5 /structures, if any)")
    p.add_argument("--prescription-Gy", type=float, dest="prescription_gy",
                   help="prescription dose for V95 (default: D50 of A in the target)")
    p.add_argument("--cutoff-percent", type=float, default=DEFAULT_CUTOFF_PERCENT,
                   help="low-dose cut-off, %% of A's maximum (default 10)")
    p.add_argument("--map-criterion", default="1,1", help="gamma map criterion 'dose%%,mm' (default 1,1)")
    p.add_argument("--interp-fraction", type=int, default=DEFAULT_INTERP_FRACTION,
                   help="pymedphys interp_fraction (default 10)")
    p.add_argument("--no-local", action="store_true", help="skip the local gamma pass rates")
    p.add_argument("--hdf5-dose", default="dose", help="dataset of a flashmc HDF5 input: dose (default), "
                   "dose_to_water or dose_rbe/<model>")
    p.add_argument("--json", help="write the JSON summary to this path")
    p.add_argument("--report", help="write the HTML report and its PNGs into this folder")
    p.add_argument("--ct", help="CT series folder drawn under the report's isodoses")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        crit = tuple(float(v) for v in args.map_criterion.split(","))
        if len(crit) != 2 or not all(math.isfinite(v) and v > 0 for v in crit):
            raise ValueError
    except ValueError:
        print(f"error: --map-criterion {args.map_criterion!r} must be 'dose_percent,distance_mm', e.g. 1,1",
              file=sys.stderr)
        return 2
    try:
        comp = compare(args.a, args.b, args.structures, args.prescription_gy, args.cutoff_percent,
                       map_criterion=crit, local=not args.no_local, interp_fraction=args.interp_fraction,
                       hdf5_dataset=args.hdf5_dose)
        summary = to_json(comp)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(summary, f, indent=2)
        if args.report:
            from .report import write_report

            print(write_report(comp, args.report, ct_folder=args.ct))
    except Exception as exc:  # every failure: one line and status 2, before or instead of any output
        text = str(exc).splitlines()[0] if str(exc) else repr(exc)
        print(f"error: {text}", file=sys.stderr)
        return 2
    for kind in ("global", "local"):
        for label, rate in comp.gamma[kind].items():
            print(f"gamma {kind} {label} (cut-off {comp.cutoff_percent:g} %, A reference): "
                  f"{'n/a' if rate is None else f'{rate:.2f} %'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
