"""A treatment plan to recompute: the ``dicom`` block of a configuration turned into a voxel
grid, structure masks and the plan's spots.

:func:`load_case` reads the planning CT (:mod:`geometry.ct`), converts it with the HU
calibration onto the dose grid, reads the RTSTRUCT and rasterises its structures on that grid
(:mod:`geometry.structures`), crops the CT to a structure (voxels outside become air), applies
the material overrides of structures (in the order given, later ones winning), and reads the RT
Ion Plan (:mod:`mc.plan`) and the machine's beam model (:mod:`mc.beam_model`) to build the
spots (:mod:`mc.plan_source`). The CT, the plan and the structure set must share one
FrameOfReferenceUID (DICOM PS3.3 C.7.4.1): the plan's isocentre and the contours are then in the
CT's patient coordinates. Every problem is a ConfigError naming the file, the attribute and the
fix, raised before any transport.

Cases are cached in the process by the ``dicom`` block's content, so the command line's
validation and the run read the files once.
"""

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from geometry.ct import ct_to_grid, grid_geometry, load_calibration, read_ct_series
from geometry.structures import read_rtstruct, structure_masks
from geometry.voxel import VoxelGrid
from physics.materials import get_material

from .beam_model import load_machine
from .errors import ConfigError
from .plan import read_rt_ion_plan
from .plan_source import air_to_grid, plan_spots


@dataclass
class PatientCase:
    """Everything a plan recomputation transports and reports: the CT, the selected beams of
    the plan, the machine, the voxel grid (cm), the structure masks on it ({name: bool array}),
    the plan's spots (:class:`mc.plan_source.PlanSpots`) and the number of fractions the dose is
    reported for."""

    ct: object
    plan: object
    beams: list
    machine: object
    grid: VoxelGrid
    source: object
    fractions: int
    masks: dict = field(default_factory=dict)
    structure_types: dict = field(default_factory=dict)
    calibration_source: str = ""
    alpha_beta_Gy: dict = field(default_factory=dict)
    structures_path: str | None = None
    calibration_path: str | None = None

    @property
    def spots(self):
        return self.source.spots

    def fingerprint(self):
        """SHA-256 (hex) of what the case was built from: the CT's slice UIDs, the bytes of the
        plan, structure set, machine and calibration files, the calibration's source; a
        checkpoint of the run resumes only with the same inputs."""
        h = hashlib.sha256()
        h.update("".join(self.ct.sop_instance_uids).encode())
        for path in (self.plan.path, self.structures_path, self.machine.path, self.calibration_path):
            if path and os.path.isfile(path):
                with open(path, "rb") as f:
                    h.update(f.read())
        h.update(self.calibration_source.encode())
        return h.hexdigest()


def _value_error(exc):
    return ConfigError(str(exc))


def _check_frames(ct, plan, structure_set):
    if plan.frame_of_reference_uid != ct.frame_of_reference_uid:
        raise ConfigError(f"{plan.path}: FrameOfReferenceUID (0020,0052) {plan.frame_of_reference_uid} differs from "
                          f"the CT's {ct.frame_of_reference_uid}; give the plan made on this CT")
    if structure_set is not None and structure_set.frame_of_reference_uid not in ("", ct.frame_of_reference_uid):
        raise ConfigError(f"{structure_set.path}: FrameOfReferenceUID (0020,0052) "
                          f"{structure_set.frame_of_reference_uid} differs from the CT's "
                          f"{ct.frame_of_reference_uid}; give the structure set drawn on this CT")


def _masks(dcfg, structure_set, shape, origin_mm, spacing_mm):
    names = list(structure_set.structures)
    try:
        masks = structure_masks(structure_set, shape, origin_mm, spacing_mm)
    except ValueError as exc:
        raise _value_error(exc) from None
    for what, used in (("crop_to", [dcfg.crop_to] if dcfg.crop_to else []),
                       ("material_overrides", list(dcfg.material_overrides)),
                       ("alpha_beta_Gy", list(dcfg.alpha_beta_Gy))):
        for n in used:
            if n not in masks:
                raise ConfigError(f"dicom.{what}: no structure {n!r} in {structure_set.path}; its structures are "
                                  f"{names}")
            if not masks[n].any():
                raise ConfigError(f"dicom.{what}: structure {n!r} covers no voxel centre of the dose grid; check "
                                  "the structure or the dose grid")
    return masks


def _override_materials(grid, dcfg, masks):
    """The grid with the structures of ``dcfg.material_overrides`` set to their materials."""
    if not dcfg.material_overrides:
        return grid
    names = list(grid.materials)
    material, density = grid.material_id.copy(), grid.density.copy()
    for structure, ov in dcfg.material_overrides.items():
        m = get_material(ov.material)
        if m.name not in names:
            names.append(m.name)
        sel = masks[structure]
        material[sel] = names.index(m.name)
        density[sel] = m.density if ov.density_g_cm3 is None else ov.density_g_cm3
    used = np.flatnonzero(np.bincount(material.ravel(), minlength=len(names)))  # drop materials no voxel holds
    lut = np.zeros(len(names), np.uint8)
    lut[used] = np.arange(used.size)
    return VoxelGrid(lut[material], density, tuple(names[i] for i in used), grid.spacing_cm, grid.origin_cm)


def _select_beams(plan, keys):
    if keys is None:
        return list(plan.beams)
    beams = [plan.beam(k) for k in keys]
    if len({b.number for b in beams}) < len(beams):
        raise ConfigError(f"dicom.beams: {keys} names a beam twice")
    return beams


def _check_spots_hit(grid, source, beams):
    """Every spot's central ray must enter the grid (else its protons would be lost unseen)."""
    s = source.spots
    for i in range(s.weight.size):
        if grid.ray_entry(s.pos[i], s.dir[i]) is None:
            b = beams[int(source.beam_of[i])]
            raise ConfigError(f"dicom.plan: beam {b.number} ({b.name}): spot {int(source.spot_of[i])} at "
                              f"{np.round(s.pos[i] * 10, 1).tolist()} mm along {np.round(s.dir[i], 4).tolist()} misses "
                              "the dose grid (the CT); the plan does not belong to this CT or the CT is cropped")


#: Keys of the ``dicom`` block that determine the voxel grid and the structure masks.
_GEOMETRY_KEYS = ("ct", "calibration", "dose_grid_mm", "structures", "crop_to", "material_overrides", "alpha_beta_Gy")


def _load_geometry(dcfg):
    """(CT, calibration source, grid, structure set, masks) of ``dcfg``."""
    try:
        ct = read_ct_series(dcfg.ct)
        calibration = load_calibration(dcfg.calibration)
        shape, origin_mm, spacing_mm = grid_geometry(ct, dcfg.dose_grid_mm)
    except ValueError as exc:
        raise _value_error(exc) from None
    structure_set = None
    if dcfg.structures is not None:
        try:
            structure_set = read_rtstruct(dcfg.structures)
        except ValueError as exc:
            raise _value_error(exc) from None
    masks = _masks(dcfg, structure_set, shape, origin_mm, spacing_mm) if structure_set is not None else {}
    try:
        grid = ct_to_grid(ct, calibration, dcfg.dose_grid_mm, masks[dcfg.crop_to] if dcfg.crop_to else None)
    except ValueError as exc:
        raise _value_error(exc) from None
    grid = _override_materials(grid, dcfg, masks)
    return ct, calibration.source, grid, structure_set, masks


def _load(dcfg, geometry):
    ct, calibration_source, grid, structure_set, masks = geometry
    plan = read_rt_ion_plan(dcfg.plan)
    _check_frames(ct, plan, structure_set)
    beams = _select_beams(plan, dcfg.beams)
    machine = load_machine(dcfg.machine)
    source = plan_spots(beams, machine)
    _check_spots_hit(grid, source, beams)
    air_to_grid(source.spots, grid)
    types = {} if structure_set is None else {n: s.interpreted_type for n, s in structure_set.structures.items()}
    fractions = plan.fractions_planned if dcfg.dose_for == "plan" else 1
    return PatientCase(ct=ct, plan=plan, beams=beams, machine=machine, grid=grid, source=source,
                       fractions=fractions, masks=masks, structure_types=types,
                       calibration_source=calibration_source, alpha_beta_Gy=dict(dcfg.alpha_beta_Gy),
                       structures_path=dcfg.structures, calibration_path=dcfg.calibration)


_CACHE = {}
_GEOMETRY_CACHE = {}


def load_case(dcfg):
    """The :class:`PatientCase` of a :class:`mc.config.DicomConfig`, cached by its content (the
    CT on the dose grid and the masks by the keys that determine them, so that the beams of a
    plan recomputed one by one share them). One case is kept at a time: a CT can take hundreds
    of MB."""
    dump = dcfg.model_dump(mode="json")
    key = json.dumps(dump, sort_keys=True)
    if key not in _CACHE:
        gkey = json.dumps({k: dump[k] for k in _GEOMETRY_KEYS}, sort_keys=True)
        _CACHE.clear()  # before loading the next: two cases need not be held at once
        if gkey not in _GEOMETRY_CACHE:
            _GEOMETRY_CACHE.clear()
            _GEOMETRY_CACHE[gkey] = _load_geometry(dcfg)
        _CACHE[key] = _load(dcfg, _GEOMETRY_CACHE[gkey])
    return _CACHE[key]
