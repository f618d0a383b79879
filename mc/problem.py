"""The geometry and the source a configuration describes: :func:`build_geometry` turns
``cfg.geometry`` (lengths in mm) into a :class:`geometry.voxel.VoxelGrid` (lengths in cm,
densities in g/cm^3), or, for a treatment plan (``cfg.dicom``), the planning CT on the dose
grid (:func:`mc.patient.load_case`); :func:`build_source` gives the spots: the ``beam`` block's
(:func:`mc.source.build_spots`) or the plan's (:mod:`mc.plan_source`). The other objects of a
run are built beside them: the physics tables by :func:`physics.tables.build_tables`, the
kernel's inputs by :func:`mc.batch.kernel_inputs`.
"""

import numpy as np

from geometry.phantoms import box, load_voxel_file, long_bone, slabs

from .errors import ConfigError
from .source import build_spots


def build_geometry(cfg):
    """Voxel grid described by ``cfg.geometry`` or ``cfg.dicom`` (ConfigError naming the field on
    failure)."""
    if cfg.dicom is not None:
        from .patient import load_case

        return load_case(cfg.dicom).grid
    g = cfg.geometry
    vox = np.asarray(g.voxel_mm) / 10.0
    corner = None if g.corner_mm is None else np.asarray(g.corner_mm) / 10.0
    try:
        if g.type == "box":
            return box(g.material, np.asarray(g.size_mm) / 10.0, vox, g.density_g_cm3, corner)
        if g.type == "bone":
            b = g.bone
            return long_bone(np.asarray(g.size_mm) / 10.0, vox, b.centre_depth_mm / 10.0, b.outer_radius_mm / 10.0,
                             b.cortical_thickness_mm / 10.0, g.material, b.cortical, b.marrow, corner)
        if g.type == "slabs":
            layers = [(s.material, s.thickness_mm / 10.0, s.density_g_cm3) for s in g.slabs]
            return slabs(layers, np.asarray(g.size_mm[:2]) / 10.0, vox, corner)
        return load_voxel_file(g.file)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def build_source(cfg, grid):
    """The spots (:class:`mc.source.SpotArrays`) of ``cfg.beam``, checked against ``grid``, or
    those of the plan of ``cfg.dicom`` (weights in protons per fraction)."""
    if cfg.dicom is not None:
        from .patient import load_case

        case = load_case(cfg.dicom)
        if cfg.flash is not None:
            try:
                cfg.flash.check_names(set(case.masks))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if cfg.flash is not None and len(case.beams) > 1:
            raise ConfigError(f"flash: the FLASH analysis delivers one beam's spots; the plan has "
                              f"{len(case.beams)} beams selected: set dicom.beams to one of "
                              f"{[b.name or b.number for b in case.beams]}")
        return case.spots
    return build_spots(cfg.beam, grid)
