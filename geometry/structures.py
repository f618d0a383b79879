"""RT Structure Sets (DICOM RTSTRUCT): read, write, and turn contours into voxel masks.

Sources (DICOM PS3.3, Information Object Definitions):

* A.19 RT Structure Set IOD; SOP Class "RT Structure Set Storage" 1.2.840.10008.5.1.4.1.1.481.3 (PS3.4 B.5).
* C.8.8.5 Structure Set Module: StructureSetROISequence (3006,0020) with ROINumber (3006,0022),
  ROIName (3006,0026), ReferencedFrameOfReferenceUID (3006,0024); ReferencedFrameOfReferenceSequence
  (3006,0010) > FrameOfReferenceUID (0020,0052) > RTReferencedStudySequence (3006,0012) >
  RTReferencedSeriesSequence (3006,0014) > SeriesInstanceUID (0020,000E).
* C.8.8.6 ROI Contour Module: ROIContourSequence (3006,0039) with ReferencedROINumber (3006,0084),
  ROIDisplayColor (3006,002A) (RGB, 0-255) and ContourSequence (3006,0040) > ContourGeometricType
  (3006,0042), NumberOfContourPoints (3006,0046), ContourData (3006,0050) (x, y, z triplets in mm).
* C.8.8.8 RT ROI Observations Module: RTROIObservationsSequence (3006,0080) > RTROIInterpretedType
  (3006,00A4) (defined terms such as EXTERNAL, PTV, CTV, GTV, ORGAN, OAR).
* C.7.6.2.1.1: the patient coordinate system (LPS: +x to the patient's left, +y posterior, +z head), mm.

Conventions. Contour points are (N, 3) float arrays in mm in the patient coordinate system. Masks are
bool arrays indexed [ix, iy, iz] on a rectilinear grid whose axes are the patient axes; ``origin_mm`` is
the centre of voxel (0, 0, 0) and ``spacing_mm`` the voxel size along x, y, z (as
:class:`geometry.voxel.VoxelGrid`, in mm, the DICOM unit: pass ``10 * grid.origin_cm``,
``10 * grid.spacing_cm``). Only closed planar contours enclose a region: ContourGeometricType CLOSED_PLANAR,
and CLOSEDPLANAR_XOR (PS3.3 C.8.8.6.3); POINT, OPEN_PLANAR and OPEN_NONPLANAR contours are skipped and
noted in ``StructureSet.notes``. Contours must be axial (constant z, within :data:`PLANE_TOLERANCE_MM`).

Rasterisation (:func:`structure_masks`), each voxel taking the state of its centre:

* Along z. Contour plane j at z_j stands for the slab [z_j - s/2, z_j + s/2), where s is the
  structure's contour-plane spacing: the smallest distance between its planes (as dicompyler-core's
  ``CalculatePlaneThickness``), or the grid's z spacing for a structure drawn on a single plane. A grid
  slice uses the plane whose slab holds its voxel-centre z, i.e. the nearest plane if it lies within half a
  spacing; a slice in no slab (beyond the first or last plane, or in a gap where planes were skipped) is
  empty. On a grid whose z slices tile the slabs, the mask volume is then the sum over planes of s x (the
  in-plane voxel area inside), the convention of dicompyler-core's DVH calculation (``dvhcalc``).
* In the plane (even-odd rule). A voxel centre is inside if it lies inside an odd number of the plane's
  contours. This is how holes and islands are commonly encoded in RTSTRUCT files: a contour drawn inside
  another one removes its area, and a contour inside that hole adds an island (the "XOR" technique of
  PS3.3 C.8.8.6.3, Figures C.8.8.6-2 and -3; the alternative "keyhole" technique, one contour with a
  channel of zero width, gives the same region under this rule).
* Centres exactly on a boundary (a contour edge or a slab limit) are classified as the point displaced by
  :data:`TIE_BREAK_SHIFT_MM` = (1e-6, 1e-9, 1e-6) mm: a lexicographic (x, then y) symbolic perturbation
  (Edelsbrunner and Muecke, ACM Trans. Graphics 9 (1990) 66, "Simulation of simplicity"). So a centre on
  a boundary of the region facing -x (or, for an edge of constant y, facing -y) is inside, one facing +x
  (+y) outside; slabs are half-open. The displaced point lies on no edge, so the result does not depend
  on the contour's orientation (clockwise or counter-clockwise) or its start point; and a rectangle whose
  edges pass through voxel centres contains exactly (area / voxel area) of them, so its mask volume is its
  true volume. PS3.3 C.8.8.6.3 counts points on the contour path as part of the ROI; applied to voxel
  centres that would add half a voxel layer around every such structure (121 instead of 100 voxels for a
  10 mm square on a 1 mm grid), so it is not followed here. The shifts are far above the rounding of
  float64 coordinates (below 1e-12 mm for |x| < 1 m) and far below any contour detail.
"""

import itertools
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .ct import tag_text

#: RT Structure Set Storage SOP Class UID (PS3.4 Annex B.5).
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: CT Image Storage SOP Class UID (PS3.4 Annex B.5), for the contour images of ``referenced_sop_uids``.
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: Detached Study Management SOP Class UID (retired), allowed in a Referenced Study Sequence item (PS3.3 10.6.1).
DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
#: Contour geometric types that enclose a region (PS3.3 C.8.8.6.1 and C.8.8.6.3).
CLOSED_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
#: Largest z spread [mm] of the points of one axial contour, and largest z distance between contours taken to
#: lie on one plane: far above the rounding of 16-character decimal strings (DS), far below any CT slice spacing.
PLANE_TOLERANCE_MM = 1e-3
#: Displacement [mm] (x, y, z) deciding voxel centres exactly on a boundary (see the module docstring).
TIE_BREAK_SHIFT_MM = np.array([1e-6, 1e-9, 1e-6])
#: Display colours (RGB, 0-255) given in turn to the ROIs written by :func:`write_rtstruct`.
DEFAULT_COLORS = ((255, 0, 0), (0, 160, 255), (0, 200, 0), (255, 200, 0), (200, 0, 255), (0, 220, 220))


@dataclass
class Structure:
    """One ROI: ``number`` ROINumber (3006,0022), ``name`` ROIName (3006,0026), ``interpreted_type``
    RTROIInterpretedType (3006,00A4) or None, ``color`` ROIDisplayColor (3006,002A) as (R, G, B) 0-255 or
    None, ``contours`` its closed axial contours, each an (N, 3) array of patient coordinates [mm]."""

    number: int
    name: str
    interpreted_type: str | None
    color: tuple | None
    contours: list = field(default_factory=list)


@dataclass
class StructureSet:
    """An RT Structure Set: ``frame_of_reference_uid`` (0020,0052) of its contours, the referenced image
    series' ``referenced_series_uid`` (0020,000E) or None, ``structures`` name -> :class:`Structure` in file
    order, ``notes`` what was skipped while reading (one line each), ``path`` the file read."""

    frame_of_reference_uid: str | None
    referenced_series_uid: str | None
    structures: dict
    notes: list = field(default_factory=list)
    path: str = ""


# ----------------------------------------------------------------------------------------------- reading

def read_rtstruct(path):
    """Read an RTSTRUCT file into a :class:`StructureSet` (ValueError naming the file and tag if malformed)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = str(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: RTSTRUCT file not found; give the path of an RT Structure Set (.dcm) file")
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable DICOM file ({exc}); give an RT Structure Set file") from None
    _check_is_rtstruct(ds, path)
    for kw in ("StructureSetROISequence", "ROIContourSequence"):
        if kw not in ds or len(ds[kw].value) == 0:
            raise ValueError(f"{path}: {tag_text(kw)} is missing or empty; the RT Structure Set IOD requires it "
                             "(PS3.3 C.8.8.5/C.8.8.6); re-export the structure set from the planning system")
    rois = _read_roi_table(ds, path)
    types = {int(o.ReferencedROINumber): (str(o.get("RTROIInterpretedType", "")) or None)
             for o in ds.get("RTROIObservationsSequence", []) if "ReferencedROINumber" in o}
    notes = []
    contours = {}
    colors = {}
    for item in ds.ROIContourSequence:
        number = int(item.get("ReferencedROINumber", -1))
        if number not in rois:
            raise ValueError(f"{path}: {tag_text('ReferencedROINumber')} {number} in {tag_text('ROIContourSequence')} "
                             f"matches no {tag_text('ROINumber')} of {tag_text('StructureSetROISequence')} "
                             f"(numbers {sorted(rois)}); repair the structure set")
        color = item.get("ROIDisplayColor")
        colors[number] = tuple(int(c) for c in color) if color is not None and len(color) == 3 else None
        contours.setdefault(number, []).extend(_read_contours(item, rois[number], number, path, notes))
    structures = {}
    for number, name in rois.items():
        structures[name] = Structure(number, name, types.get(number), colors.get(number), contours.get(number, []))
    return StructureSet(_frame_of_reference_uid(ds), _referenced_series_uid(ds), structures, notes, path)


def _check_is_rtstruct(ds, path):
    modality = str(ds.get("Modality", ""))
    sop_class = str(ds.get("SOPClassUID", ""))
    if modality != "RTSTRUCT":
        raise ValueError(f"{path}: {tag_text('Modality')} is {modality!r}, not 'RTSTRUCT'; "
                         "give an RT Structure Set file (structures), not an image, plan or dose")
    if sop_class != RT_STRUCTURE_SET_STORAGE:
        raise ValueError(f"{path}: {tag_text('SOPClassUID')} is {sop_class!r}, not RT Structure Set Storage "
                         f"{RT_STRUCTURE_SET_STORAGE}; give an RT Structure Set file")


def _read_roi_table(ds, path):
    """ROINumber -> ROIName from StructureSetROISequence; numbers and names must be unique."""
    rois = {}
    for item in ds.StructureSetROISequence:
        if "ROINumber" not in item or "ROIName" not in item:
            raise ValueError(f"{path}: an item of {tag_text('StructureSetROISequence')} lacks {tag_text('ROINumber')} "
                             f"or {tag_text('ROIName')} (both Type 1/2, PS3.3 C.8.8.5); repair the structure set")
        number, name = int(item.ROINumber), str(item.ROIName).strip()
        if number in rois:
            raise ValueError(f"{path}: {tag_text('ROINumber')} {number} is used twice in "
                             f"{tag_text('StructureSetROISequence')} (ROIs {rois[number]!r} and {name!r}); "
                             "ROI numbers must be unique: renumber one of them")
        if name in rois.values():
            raise ValueError(f"{path}: duplicate {tag_text('ROIName')} {name!r} in {tag_text('StructureSetROISequence')}; "
                             "structures are selected by name: rename one of them in the planning system")
        rois[number] = name
    return rois


def _contour_values(contour, where):
    """The numbers of a contour's ContourData (3006,0050): parsed from the element's raw text (a
    backslash-separated Decimal String, PS3.5 6.2) with numpy when it is still undecoded, which
    is many times faster than pydicom's value-by-value conversion for large structure sets."""
    elem = contour.get_item("ContourData")
    if elem is None:
        return np.zeros(0)
    value = elem.value
    try:
        if isinstance(value, (bytes, bytearray)):
            text = value.decode("ascii", "replace").strip(" \x00")
            return np.array(text.split("\\"), dtype=float) if text else np.zeros(0)
        return np.asarray(contour.ContourData if value is not None else [], dtype=float)
    except ValueError:
        raise ValueError(f"{where}: {tag_text('ContourData')} holds a value that is not a number; re-export the "
                         "structure set") from None


def _read_contours(item, name, number, path, notes):
    """The closed axial contours of one ROIContourSequence item, as (N, 3) arrays [mm]."""
    out = []
    skipped = {}
    for k, c in enumerate(item.get("ContourSequence", [])):
        where = f"{path}: contour {k} of ROI {name!r} (ROINumber {number})"
        kind = str(c.get("ContourGeometricType", ""))
        if kind not in CLOSED_TYPES:
            skipped[kind or "no type"] = skipped.get(kind or "no type", 0) + 1
            continue
        data = _contour_values(c, where)
        if data.size == 0 or data.size % 3:
            raise ValueError(f"{where}: {tag_text('ContourData')} has {data.size} values, not a positive multiple "
                             "of 3 (x, y, z triplets, PS3.3 C.8.8.6); re-export the structure set")
        pts = data.reshape(-1, 3)
        n_declared = c.get("NumberOfContourPoints")
        if n_declared is not None and int(n_declared) != len(pts):
            raise ValueError(f"{where}: {tag_text('NumberOfContourPoints')} is {int(n_declared)} but "
                             f"{tag_text('ContourData')} holds {len(pts)} points; re-export the structure set")
        if not np.all(np.isfinite(pts)):
            raise ValueError(f"{where}: {tag_text('ContourData')} holds NaN or infinite coordinates; "
                             "re-export the structure set")
        spread = float(np.ptp(pts[:, 2]))
        if spread > PLANE_TOLERANCE_MM:
            raise ValueError(f"{where}: {tag_text('ContourData')} is not axial: z spans {pts[:, 2].min():g} to "
                             f"{pts[:, 2].max():g} mm (tolerance {PLANE_TOLERANCE_MM:g} mm); only contours "
                             "drawn on axial planes are supported: re-contour on axial slices")
        if len(pts) < 3:
            skipped[f"{kind} with fewer than 3 points"] = skipped.get(f"{kind} with fewer than 3 points", 0) + 1
            continue
        out.append(pts)
    for kind, n in skipped.items():
        notes.append(f"ROI {name!r}: {n} {kind} contour(s) skipped (only closed planar contours enclose a region)")
    return out


def _frame_of_reference_uid(ds):
    if "FrameOfReferenceUID" in ds:
        return str(ds.FrameOfReferenceUID)
    for item in ds.get("ReferencedFrameOfReferenceSequence", []):
        if "FrameOfReferenceUID" in item:
            return str(item.FrameOfReferenceUID)
    for item in ds.StructureSetROISequence:
        if "ReferencedFrameOfReferenceUID" in item:
            return str(item.ReferencedFrameOfReferenceUID)
    return None


def _referenced_series_uid(ds):
    for ref in ds.get("ReferencedFrameOfReferenceSequence", []):
        for study in ref.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                if "SeriesInstanceUID" in series:
                    return str(series.SeriesInstanceUID)
    return None


# ------------------------------------------------------------------------------------------- voxel masks

def structure_masks(structure_set, shape, origin_mm, spacing_mm, names=None):
    """Voxel masks name -> bool array [ix, iy, iz] of the structures (all, or those in ``names``) on the grid
    of ``shape`` with voxel (0,0,0) centred at ``origin_mm`` and voxel size ``spacing_mm`` (module docstring)."""
    shape, origin, spacing = _check_grid(shape, origin_mm, spacing_mm)
    available = list(structure_set.structures)
    if names is None:
        names = available
    elif isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in structure_set.structures]
    if unknown:
        raise ValueError(f"structure_masks: unknown structure name(s) {unknown}; the structure set "
                         f"{structure_set.path or ''} holds {available}")
    grid_z = origin[2] + spacing[2] * np.arange(shape[2])
    masks = {}
    for name in names:
        planes_z, plane_contours = _group_planes(structure_set.structures[name].contours)
        mask = np.zeros(shape, dtype=bool)
        slice_plane = slice_plane_indices(planes_z, grid_z, spacing[2])
        for j, contours in enumerate(plane_contours):
            slices = np.flatnonzero(slice_plane == j)
            if slices.size:
                mask[:, :, slices] = _plane_mask(contours, shape[:2], origin[:2], spacing[:2])[:, :, None]
        masks[name] = mask
    return masks


def _check_grid(shape, origin_mm, spacing_mm):
    shape_arr = np.asarray(shape)
    if shape_arr.shape != (3,) or not np.all(shape_arr == np.round(shape_arr)) or np.any(shape_arr < 1):
        raise ValueError(f"structure_masks: shape must be 3 positive whole numbers (nx, ny, nz), got {shape!r}")
    origin = np.asarray(origin_mm, dtype=float).reshape(-1)
    spacing = np.asarray(spacing_mm, dtype=float).reshape(-1)
    if origin.shape != (3,) or not np.all(np.isfinite(origin)):
        raise ValueError(f"structure_masks: origin_mm must be 3 finite numbers (centre of voxel (0,0,0), mm), "
                         f"got {origin_mm!r}")
    if spacing.shape != (3,) or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ValueError(f"structure_masks: spacing_mm must be 3 positive numbers (voxel size, mm), "
                         f"got {spacing_mm!r}")
    return tuple(int(n) for n in shape_arr), origin, spacing


def _group_planes(contours):
    """Contours grouped by plane: (sorted plane z [mm], list of the contours of each plane). Contours whose
    z differ by at most PLANE_TOLERANCE_MM share a plane (its z is their mean)."""
    if not contours:
        return np.zeros(0), []
    z = np.array([float(np.mean(c[:, 2])) for c in contours])
    order = np.argsort(z, kind="stable")
    groups = [[order[0]]]
    for a, b in itertools.pairwise(order):
        if z[b] - z[a] > PLANE_TOLERANCE_MM:
            groups.append([])
        groups[-1].append(b)
    planes_z = np.array([float(np.mean(z[g])) for g in groups])
    return planes_z, [[contours[i] for i in g] for g in groups]


def slice_plane_indices(planes_z_mm, grid_z_mm, grid_dz_mm):
    """For each grid slice (voxel-centre z [mm]), the index of the contour plane it takes its contours from,
    or -1 if none: plane j covers [z_j - s/2, z_j + s/2) with s the smallest plane spacing (``grid_dz_mm``
    for a single plane); see the module docstring."""
    planes_z = np.asarray(planes_z_mm, dtype=float)
    grid_z = np.asarray(grid_z_mm, dtype=float)
    if planes_z.size == 0:
        return np.full(grid_z.shape, -1)
    half = 0.5 * (float(np.min(np.diff(planes_z))) if planes_z.size > 1 else float(grid_dz_mm))
    zq = grid_z + TIE_BREAK_SHIFT_MM[2]
    j = np.searchsorted(planes_z - half, zq, side="right") - 1
    inside = (j >= 0) & (zq < planes_z[np.clip(j, 0, None)] + half)
    return np.where(inside, j, -1)


def _plane_mask(contours, shape_xy, origin_xy, spacing_xy):
    """Bool [ix, iy] of the voxel centres inside the plane's contours by the even-odd rule. Each contour is
    tested (matplotlib.path.Path.contains_points, crossing-number test) at the displaced centres
    (TIE_BREAK_SHIFT_MM) within its bounding box; the masks of the contours are combined by exclusive or."""
    from matplotlib.path import Path

    plane = np.zeros(shape_xy, dtype=bool)
    shift = TIE_BREAK_SHIFT_MM[:2]
    for c in contours:
        xy = np.asarray(c, dtype=float)[:, :2]
        lo = np.floor((xy.min(axis=0) - shift - origin_xy) / spacing_xy).astype(int)
        hi = np.ceil((xy.max(axis=0) - shift - origin_xy) / spacing_xy).astype(int)
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, np.array(shape_xy) - 1)
        if np.any(hi < lo):
            continue
        xs = origin_xy[0] + spacing_xy[0] * np.arange(lo[0], hi[0] + 1) + shift[0]
        ys = origin_xy[1] + spacing_xy[1] * np.arange(lo[1], hi[1] + 1) + shift[1]
        px, py = np.meshgrid(xs, ys, indexing="ij")
        path = Path(np.vstack([xy, xy[:1]]), closed=True)
        inside = path.contains_points(np.column_stack([px.ravel(), py.ravel()])).reshape(px.shape)
        plane[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1] ^= inside
    return plane


# --------------------------------------------------------------------------------------- volumes, reports

def mask_volume_cm3(mask, spacing_mm):
    """Volume [cm^3] of the voxels set in ``mask``: count x voxel volume (spacing_mm along x, y, z)."""
    spacing = np.asarray(spacing_mm, dtype=float).reshape(-1)
    if spacing.shape != (3,) or np.any(spacing <= 0) or not np.all(np.isfinite(spacing)):
        raise ValueError(f"mask_volume_cm3: spacing_mm must be 3 positive numbers (mm), got {spacing_mm!r}")
    return int(np.count_nonzero(mask)) * float(np.prod(spacing)) / 1000.0


def structure_summary(masks, spacing_mm, structure_set=None):
    """Rows for reports, one per mask: dicts with ``name``, ``interpreted_type`` (from ``structure_set`` if
    given, else None), ``voxels`` (count) and ``volume_cm3``."""
    rows = []
    for name, mask in masks.items():
        s = structure_set.structures.get(name) if structure_set is not None else None
        rows.append({"name": name, "interpreted_type": s.interpreted_type if s is not None else None,
                     "voxels": int(np.count_nonzero(mask)), "volume_cm3": mask_volume_cm3(mask, spacing_mm)})
    return rows


# ---------------------------------------------------------------------------------------- phantom contours

def box_contours(lo_mm, hi_mm, z_planes_mm):
    """Axial rectangles [lo_x, hi_x] x [lo_y, hi_y] (mm, ``lo_mm`` and ``hi_mm`` are (x, y)), one per plane z
    [mm], each a (4, 3) array traversed counter-clockwise seen from +z."""
    lo = np.asarray(lo_mm, dtype=float).reshape(-1)
    hi = np.asarray(hi_mm, dtype=float).reshape(-1)
    if lo.shape != (2,) or hi.shape != (2,) or not np.all(hi > lo):
        raise ValueError(f"box_contours: lo_mm and hi_mm must be (x, y) corners with hi > lo, got {lo_mm!r}, "
                         f"{hi_mm!r}")
    xy = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    return [np.column_stack([xy, np.full(4, float(z))]) for z in np.atleast_1d(z_planes_mm)]


def cylinder_contours(centre_xy_mm, radius_mm, z_planes_mm, n_points=64):
    """Axial circles of ``radius_mm`` about ``centre_xy_mm`` (x, y), one per plane z [mm]: regular polygons of
    ``n_points`` vertices on the circle (inscribed; area (n/2) r^2 sin(2 pi / n)), counter-clockwise from +z."""
    if not radius_mm > 0 or int(n_points) < 3:
        raise ValueError(f"cylinder_contours: need radius_mm > 0 and n_points >= 3, got {radius_mm!r}, "
                         f"{n_points!r}")
    cx, cy = (float(v) for v in centre_xy_mm)
    phi = 2.0 * math.pi * np.arange(int(n_points)) / int(n_points)
    xy = np.column_stack([cx + radius_mm * np.cos(phi), cy + radius_mm * np.sin(phi)])
    return [np.column_stack([xy, np.full(len(xy), float(z))]) for z in np.atleast_1d(z_planes_mm)]


# ----------------------------------------------------------------------------------------------- writing

def write_rtstruct(path, structures, *, frame_of_reference_uid, study_instance_uid, referenced_series_uid=None,
                   referenced_sop_uids=None, patient_id="FLASHMC-PHANTOM", patient_name="Phantom^Synthetic"):
    """Write an RT Structure Set (PS3.3 A.19) to ``path``. ``structures`` maps ROI name -> (contours,
    RTROIInterpretedType or None[, (R, G, B)]), contours being (N, 3) axial polygons in mm (patient LPS).
    ``referenced_series_uid`` names the image series (and ``referenced_sop_uids`` its CT images) the
    contours were drawn on. Returns the path."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rois = _check_structures_to_write(structures)
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_STRUCTURE_SET_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    _write_header(ds, sop_uid, study_instance_uid, frame_of_reference_uid, patient_id, patient_name)
    ref = Dataset()
    ref.FrameOfReferenceUID = frame_of_reference_uid
    if referenced_series_uid is not None:
        ref.RTReferencedStudySequence = [_referenced_study(study_instance_uid, referenced_series_uid,
                                                           referenced_sop_uids)]
    ds.ReferencedFrameOfReferenceSequence = [ref]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, (name, contours, kind, color) in enumerate(rois, start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = frame_of_reference_uid
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = "AUTOMATIC"
        ds.StructureSetROISequence.append(roi)
        ds.ROIContourSequence.append(_roi_contour_item(number, contours, color))
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.RTROIInterpretedType = kind or ""
        obs.ROIInterpreter = ""
        ds.RTROIObservationsSequence.append(obs)
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return path


def _check_structures_to_write(structures):
    """[(name, contours as (N, 3) arrays, interpreted type, colour)] after checking each contour."""
    rois = []
    for k, (name, spec) in enumerate(structures.items()):
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3):
            raise ValueError(f"write_rtstruct: structures[{name!r}] must be (contours, interpreted type"
                             f"[, (R, G, B)]), got {type(spec).__name__}")
        contours, kind = spec[0], spec[1]
        color = tuple(int(v) for v in spec[2]) if len(spec) == 3 else DEFAULT_COLORS[k % len(DEFAULT_COLORS)]
        arrays = []
        for i, c in enumerate(contours):
            pts = np.asarray(c, dtype=float)
            where = f"write_rtstruct: structures[{name!r}] contour {i}"
            if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 3 or not np.all(np.isfinite(pts)):
                raise ValueError(f"{where}: must be an (N, 3) array of finite x, y, z [mm] with N >= 3, "
                                 f"got shape {pts.shape}")
            if np.ptp(pts[:, 2]) > PLANE_TOLERANCE_MM:
                raise ValueError(f"{where}: not axial (z spans {np.ptp(pts[:, 2]):g} mm); ContourData (3006,0050) "
                                 "of a CLOSED_PLANAR contour must lie on one axial plane")
            arrays.append(pts)
        rois.append((str(name), arrays, None if kind is None else str(kind).upper(), color))
    return rois


def _write_header(ds, sop_uid, study_uid, frame_uid, patient_id, patient_name):
    """Patient, General Study, RT Series, General Equipment, Frame of Reference, Structure Set (label, date)
    and SOP Common attributes (PS3.3 C.7.1.1, C.7.2.1, C.8.8.1, C.7.5.1, C.7.4.1, C.8.8.5, C.12.1)."""
    import datetime

    from pydicom.uid import generate_uid

    now = datetime.datetime.now()
    ds.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = ds.StructureSetDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.StructureSetTime = now.strftime("%H%M%S")
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.OperatorsName = ""
    ds.Manufacturer = "flashmc"
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.StructureSetLabel = "flashmc"
    ds.InstanceNumber = 1


def _referenced_study(study_uid, series_uid, sop_uids):
    """RTReferencedStudySequence item: the study, then the series (and its CT images) the ROIs were drawn on."""
    from pydicom.dataset import Dataset

    series = Dataset()
    series.SeriesInstanceUID = series_uid
    series.ContourImageSequence = []
    for uid in sop_uids or []:
        img = Dataset()
        img.ReferencedSOPClassUID = CT_IMAGE_STORAGE
        img.ReferencedSOPInstanceUID = uid
        series.ContourImageSequence.append(img)
    study = Dataset()
    study.ReferencedSOPClassUID = DETACHED_STUDY_MANAGEMENT
    study.ReferencedSOPInstanceUID = study_uid
    study.RTReferencedSeriesSequence = [series]
    return study


def _roi_contour_item(number, contours, color):
    """ROIContourSequence item: the ROI's colour and its CLOSED_PLANAR contours (ContourData as DS strings
    of at most 16 characters, PS3.5 6.2)."""
    from pydicom.dataset import Dataset
    from pydicom.valuerep import format_number_as_ds

    item = Dataset()
    item.ReferencedROINumber = number
    item.ROIDisplayColor = list(color)
    if contours:
        item.ContourSequence = []
    for k, pts in enumerate(contours, start=1):
        c = Dataset()
        c.ContourNumber = k
        c.ContourGeometricType = "CLOSED_PLANAR"
        c.NumberOfContourPoints = len(pts)
        c.ContourData = [format_number_as_ds(float(v)) for v in pts.ravel()]
        item.ContourSequence.append(c)
    return item
