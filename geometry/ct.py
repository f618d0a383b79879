"""CT series in, voxel grid out: reading and writing DICOM CT series, the stoichiometric
HU calibration, and the conversion of a CT onto a (dose) voxel grid.

Coordinates and conventions
---------------------------
* DICOM files use the patient coordinate system (LPS: +x to the patient's left, +y posterior,
  +z superior), in mm (DICOM PS3.3 C.7.6.2.1.1).
* :class:`CTImage` holds Hounsfield units ``hu`` [HU] as float32, indexed ``[ix, iy, iz]``
  along increasing patient x, y, z; ``origin_mm`` is the centre of voxel (0, 0, 0) and
  ``spacing_mm`` the voxel size along x, y, z. Arrays are flipped and transposed on reading so
  that this holds whatever the slices' orientation (among the axial ones accepted below).
* The :class:`geometry.voxel.VoxelGrid` made by :func:`ct_to_grid` has the same axes, in cm:
  grid coordinates are patient coordinates divided by 10.

DICOM attributes (PS3.3; keyword and tag)
-----------------------------------------
* SOP Common (C.12.1): SOPClassUID (0008,0016), here CT Image Storage
  1.2.840.10008.5.1.4.1.1.2 (PS3.4 B.5); SOPInstanceUID (0008,0018).
* Patient (C.7.1.1): PatientName (0010,0010), PatientID (0010,0020). General Study (C.7.2.1):
  StudyInstanceUID (0020,000D). General Series (C.7.3.1): SeriesInstanceUID (0020,000E),
  PatientPosition (0018,5100). Frame of Reference (C.7.4.1): FrameOfReferenceUID (0020,0052).
* Image Plane (C.7.6.2): ImagePositionPatient (0020,0032), the centre of the first pixel
  transmitted; ImageOrientationPatient (0020,0037), the direction cosines of the first row
  (X) then of the first column (Y); PixelSpacing (0028,0030) = [spacing between adjacent rows,
  spacing between adjacent columns]. Pixel (column i, row j) lies at
  S + i dc X + j dr Y (PS3.3 C.7.6.2.1.1, Equation C.7.6.2.1-1) with S = ImagePositionPatient,
  dc = PixelSpacing[1], dr = PixelSpacing[0]. Slices are ordered by their position along the
  normal n = X x Y, n . S.
* Image Pixel (C.7.6.3): Rows (0028,0010), Columns (0028,0011), PixelData (7FE0,0010).
  CT Image (C.8.2.1): HU = RescaleSlope (0028,1053) x stored value + RescaleIntercept
  (0028,1052).

Accepted series: one series (one SeriesInstanceUID and FrameOfReferenceUID) of at least two
axial slices with equal Rows, Columns, PixelSpacing and ImageOrientationPatient, whose row and
column directions are each +-1 along patient x or y (e.g. HFS [1,0,0,0,1,0], HFP
[-1,0,0,0,-1,0]), stacked along z at the same in-plane position, evenly spaced (tolerance 1 %
of the spacing). Files that are not DICOM (no DICOM preamble) and DICOM files of other SOP
classes (RT Structure Set, RT Plan, ...) are skipped and counted.

Calibration
-----------
:func:`load_calibration` reads a YAML file (default ``geometry/calibration/schneider2000.yaml``,
the stoichiometric calibration of Schneider, Bortfeld & Schlegel 2000, Phys. Med. Biol.
45:459; its header documents the format and the sources) or an MCsquare scanner folder
(``HU_Density_Conversion.txt`` + ``HU_Material_Conversion.txt``, as read by MCsquare's
src/data_ct.c). Mass density [g/cm^3] is piecewise linear in HU and clamped to the first/last
tabulated density outside the table. Material bins: in the YAML format a bin includes its lower
bound; in the MCsquare format a bin (t_i, t_i+1] includes its upper bound (MCsquare's
Binary_Search, src/compute_math.c); HU below the first bound take the first material, above the
last the last one.

Resampling onto a dose grid (:func:`ct_to_grid`)
------------------------------------------------
The dose grid starts at the CT's outer lower corner and covers it: n = ceil(extent / spacing)
voxels per axis; the part of the last voxels beyond the CT is filled with air (HU -1000) on the
CT's own voxel lattice. Each CT voxel (real or air-filled) belongs to the dose voxel holding its
centre (bins are half-open, [lower, upper)). A dose voxel's density is the mean mass density of
its CT voxels: with a dose grid dividing the CT exactly, the total mass sum(rho V) is conserved.
Its material is the one holding the largest mass among its CT voxels (ties: the first in the
calibration's order). This majority-by-mass assignment is an approximation: a voxel of mixed
tissues is transported as one of them at the mean density (no elemental mixing). The dose
spacing must not be finer than the CT spacing on any axis (each dose voxel then holds at least
one CT voxel centre).
"""

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physics.materials import get_material

from .voxel import VoxelGrid

#: SOP Class UID of CT Image Storage (DICOM PS3.4 B.5).
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

#: Default calibration file (Schneider et al. 2000).
DEFAULT_CALIBRATION = Path(__file__).resolve().parent / "calibration" / "schneider2000.yaml"

#: Relative tolerance on the slice spacing: a gap differing from the series' spacing by more
#: than this fraction of it is an error (a missing or extra slice).
SLICE_SPACING_TOLERANCE = 0.01

#: Slices closer than this along z [mm] are duplicates.
DUPLICATE_POSITION_MM = 1e-3

#: Tolerance on direction cosines (ImageOrientationPatient) and on equal PixelSpacing [mm].
ORIENTATION_TOLERANCE = 1e-4

#: ImageOrientationPatient (0020,0037) written for each patient position (PatientPosition
#: (0018,5100)) by :func:`write_ct_series`: head first supine / prone.
WRITE_ORIENTATIONS = {"HFS": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), "HFP": (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)}

#: Attributes every CT slice must have (keyword).
REQUIRED_ATTRIBUTES = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID",
                       "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns",
                       "RescaleSlope", "RescaleIntercept", "PixelData")

#: Value multiplicity of the multi-valued attributes read.
_VM = {"ImagePositionPatient": 3, "ImageOrientationPatient": 6, "PixelSpacing": 2}

#: HU of air used for the padding beyond the CT and for ``air_outside``.
AIR_HU = -1000.0


def _pydicom():
    try:
        import pydicom
    except ImportError:  # optional dependency
        raise ImportError("reading or writing DICOM needs pydicom: python -m pip install -e '.[dicom]'") from None
    return pydicom


def tag_text(keyword):
    """``"Keyword (gggg,eeee)"`` for a DICOM keyword (pydicom's data dictionary)."""
    tag = _pydicom().datadict.tag_for_keyword(keyword)
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _error(path, keyword, problem, fix):
    """ValueError with a one-line message naming the file, the attribute and the fix."""
    text = f"{path}: {tag_text(keyword)} {problem}; {fix}"
    return ValueError(" ".join(text.split()))


# ---- the CT image ------------------------------------------------------------------------------
@dataclass
class CTImage:
    """A CT series on a rectilinear grid along the patient axes (conventions: module docstring).

    ``hu`` [HU] float32 [ix, iy, iz]; ``spacing_mm``, ``origin_mm`` (centre of voxel 0,0,0) in
    patient coordinates [mm]; the identifiers of the series; ``sop_instance_uids`` and ``files``
    per slice in z order; ``n_skipped_not_dicom`` and ``n_skipped_other`` count the files of the
    folder that were not DICOM or not CT images."""

    hu: np.ndarray
    spacing_mm: np.ndarray
    origin_mm: np.ndarray
    frame_of_reference_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    patient_id: str = ""
    patient_name: str = ""
    patient_position: str = ""
    sop_instance_uids: tuple = field(default_factory=tuple)
    files: tuple = field(default_factory=tuple)
    n_skipped_not_dicom: int = 0
    n_skipped_other: int = 0

    def __post_init__(self):
        self.hu = np.asarray(self.hu, dtype=np.float32)
        self.spacing_mm = np.asarray(self.spacing_mm, dtype=np.float64).reshape(3)
        self.origin_mm = np.asarray(self.origin_mm, dtype=np.float64).reshape(3)
        if self.hu.ndim != 3:
            raise ValueError(f"CTImage: hu must be a 3D array [ix, iy, iz], got shape {self.hu.shape}")

    @property
    def shape(self):
        return self.hu.shape

    @property
    def lower_mm(self):
        """Outer corner of the CT (minimum x, y, z) [mm]."""
        return self.origin_mm - 0.5 * self.spacing_mm

    def axis_centres_mm(self, axis):
        """Voxel-centre coordinates [mm] along ``axis`` (0, 1, 2)."""
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(self.hu.shape[axis])


# ---- reading -----------------------------------------------------------------------------------
def _scan_folder(folder):
    """The CT Image datasets of ``folder`` (path, dataset; pixel data read on access) and the
    counts of non-DICOM files and of DICOM files of other SOP classes."""
    pydicom = _pydicom()
    slices, n_not_dicom, n_other = [], 0, 0
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(path, defer_size="1 KB")
        except pydicom.errors.InvalidDicomError:
            n_not_dicom += 1
            continue
        except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"{path}: cannot be read as DICOM ({exc}); remove or replace the file") from None
        if str(ds.get("SOPClassUID", "")) == CT_IMAGE_STORAGE:
            slices.append((str(path), ds))
        else:
            n_other += 1
    return slices, n_not_dicom, n_other


def _check_required(path, ds):
    for kw in REQUIRED_ATTRIBUTES:
        value = ds.get(kw)
        if value is None or (hasattr(value, "__len__") and len(value) == 0):
            raise _error(path, kw, "is missing or empty", "the CT slice must have it (DICOM PS3.3 CT Image IOD); "
                         "export the series again")
        if kw in _VM:
            vals = np.atleast_1d(np.asarray(value, dtype=object))
            try:
                ok = len(vals) == _VM[kw] and all(math.isfinite(float(v)) for v in vals)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise _error(path, kw, f"must hold {_VM[kw]} finite numbers, found {list(vals)}",
                             "fix or export the series again")


def _floats(ds, keyword):
    return np.array([float(v) for v in np.atleast_1d(ds.get(keyword))], dtype=np.float64)


def _check_consistent(slices):
    """Raise naming the first slice whose series, frame of reference, size, pixel spacing or
    orientation differs from the first slice's."""
    first_path, first = slices[0]
    for path, ds in slices[1:]:
        for kw in ("SeriesInstanceUID", "FrameOfReferenceUID"):
            if str(ds.get(kw)) != str(first.get(kw)):
                raise _error(path, kw, f"is {str(ds.get(kw))!r} but {first_path} has {str(first.get(kw))!r}: "
                             "the folder mixes CT series", "put each CT series in a folder of its own")
        for kw in ("Rows", "Columns"):
            if int(ds.get(kw)) != int(first.get(kw)):
                raise _error(path, kw, f"is {int(ds.get(kw))} but {first_path} has {int(first.get(kw))}",
                             "all slices of the series must have the same size")
        for kw in ("PixelSpacing", "ImageOrientationPatient"):
            a, b = _floats(first, kw), _floats(ds, kw)
            if not np.allclose(a, b, rtol=0.0, atol=ORIENTATION_TOLERANCE):
                raise _error(path, kw, f"is {b.tolist()} but {first_path} has {a.tolist()}",
                             "all slices of the series must share pixel spacing and orientation")


def _axis_of(v):
    """(axis, sign) of a direction cosine vector that is +-1 along one patient axis, else None."""
    axis = int(np.argmax(np.abs(v)))
    unit = np.zeros(3)
    unit[axis] = np.sign(v[axis])
    if np.allclose(v, unit, rtol=0.0, atol=ORIENTATION_TOLERANCE):
        return axis, int(unit[axis])
    return None


def _orientation(path, ds):
    """In-plane layout of an axial slice: (axis of the row direction, sign along x, sign along
    y, normal), or a ValueError naming the file for any other orientation."""
    iop = _floats(ds, "ImageOrientationPatient")
    row, col = _axis_of(iop[:3]), _axis_of(iop[3:])
    if row is None or col is None or {row[0], col[0]} != {0, 1}:
        raise _error(path, "ImageOrientationPatient", f"is {iop.tolist()}: only axial slices whose rows and "
                     "columns run along the patient x and y axes are supported (not oblique, sagittal or "
                     "coronal)", "reformat the series as axial slices")
    sign = {row[0]: row[1], col[0]: col[1]}
    return row[0], sign[0], sign[1], np.cross(iop[:3], iop[3:])


def _slice_positions(slices, normal):
    """Sort the slices by increasing patient z (n . S along the normal n = +-z) and return the
    sorted slices, their z [mm] and the slice spacing [mm]; raise on a single slice, duplicates,
    uneven spacing or slices not stacked along z."""
    if len(slices) < 2:
        raise _error(slices[0][0], "ImagePositionPatient", "is given by a single CT slice: the slice spacing "
                     "needs at least two", "export the whole CT series into the folder")
    pos = np.array([_floats(ds, "ImagePositionPatient") for _, ds in slices])
    order = np.argsort(np.sign(normal[2]) * (pos @ normal), kind="stable")  # the normal is +-z
    slices = [slices[i] for i in order]
    pos = pos[order]
    z = pos[:, 2]
    spacing = _floats(slices[0][1], "PixelSpacing")
    shift = np.abs(pos[:, :2] - pos[0, :2]).max(axis=1)
    bad = np.flatnonzero(shift > SLICE_SPACING_TOLERANCE * spacing.min())
    if bad.size:
        raise _error(slices[bad[0]][0], "ImagePositionPatient", f"in-plane position {pos[bad[0], :2].tolist()} "
                     f"differs from {pos[0, :2].tolist()} of {slices[0][0]}: the slices are not stacked along z "
                     "(tilted gantry?)", "resample the series onto a rectilinear grid")
    gaps = np.diff(z)
    dup = np.flatnonzero(gaps < DUPLICATE_POSITION_MM)
    if dup.size:
        k = dup[0]
        raise _error(slices[k + 1][0], "ImagePositionPatient", f"puts the slice at z = {z[k + 1]:g} mm like "
                     f"{slices[k][0]}: duplicate slice position", "keep one slice per position")
    dz = float(np.median(gaps))
    uneven = np.flatnonzero(np.abs(gaps - dz) > SLICE_SPACING_TOLERANCE * dz)
    if uneven.size:
        k = uneven[0]
        raise _error(slices[k + 1][0], "ImagePositionPatient", f"gives z = {z[k + 1]:g} mm, {gaps[k]:g} mm from "
                     f"z = {z[k]:g} mm of {slices[k][0]}, but the slice spacing is {dz:g} mm (uneven spacing: "
                     "a missing or extra slice?)", "provide the complete, evenly spaced series")
    return slices, z, (z[-1] - z[0]) / (len(z) - 1)


def _slice_hu(path, ds, row_axis, sign_x, sign_y):
    """HU of one slice as a float32 array [ix, iy] along increasing patient x and y."""
    try:
        stored = ds.pixel_array
    except (RuntimeError, NotImplementedError, ValueError, TypeError, AttributeError, OSError, KeyError) as exc:
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise _error(path, "PixelData", f"cannot be decoded ({exc}; transfer syntax {ts})",
                     "install a pixel-data handler for it (pydicom documentation) or export uncompressed") from None
    hu = stored.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    hu = hu.T if row_axis == 0 else hu  # pixel_array is [row j, column i]; the column index runs along X
    if sign_x < 0:
        hu = hu[::-1, :]
    if sign_y < 0:
        hu = hu[:, ::-1]
    return hu.astype(np.float32)


def read_ct_series(folder):
    """Read the CT series of ``folder`` (one file per slice) into a :class:`CTImage`.

    Raises ValueError naming the file and the DICOM attribute for: no CT image in the folder,
    mixed series or frames of reference, slices of different size, pixel spacing or
    orientation, a non-axial orientation, missing attributes, a single slice, duplicate or
    unevenly spaced slices (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; give the folder holding the CT series (one file per slice)")
    slices, n_not_dicom, n_other = _scan_folder(folder)
    if not slices:
        raise ValueError(f"{folder}: no CT Image file (SOPClassUID (0008,0016) = {CT_IMAGE_STORAGE}) among its "
                         f"files ({n_not_dicom} not DICOM, {n_other} DICOM of other SOP classes); give the folder "
                         "of the CT series")
    for path, ds in slices:
        _check_required(path, ds)
    _check_consistent(slices)
    row_axis, sign_x, sign_y, normal = _orientation(*slices[0])
    slices, z, dz = _slice_positions(slices, normal)
    first = slices[0][1]
    ps = _floats(first, "PixelSpacing")  # [between rows (along Y), between columns (along X)]
    spacing_xy = (ps[1], ps[0]) if row_axis == 0 else (ps[0], ps[1])
    n_xy = (int(first.Columns), int(first.Rows)) if row_axis == 0 else (int(first.Rows), int(first.Columns))
    corner = _floats(first, "ImagePositionPatient")
    origin = [corner[a] if s > 0 else corner[a] - (n_xy[a] - 1) * spacing_xy[a]
              for a, s in ((0, sign_x), (1, sign_y))]
    hu = np.stack([_slice_hu(p, ds, row_axis, sign_x, sign_y) for p, ds in slices], axis=2)
    return CTImage(
        hu=hu, spacing_mm=np.array([spacing_xy[0], spacing_xy[1], dz]), origin_mm=np.array([*origin, z[0]]),
        frame_of_reference_uid=str(first.FrameOfReferenceUID), study_instance_uid=str(first.StudyInstanceUID),
        series_instance_uid=str(first.SeriesInstanceUID), patient_id=str(first.get("PatientID", "")),
        patient_name=str(first.get("PatientName", "")), patient_position=str(first.get("PatientPosition", "")),
        sop_instance_uids=tuple(str(ds.SOPInstanceUID) for _, ds in slices), files=tuple(p for p, _ in slices),
        n_skipped_not_dicom=n_not_dicom, n_skipped_other=n_other)


# ---- writing -----------------------------------------------------------------------------------
def _ds_text(value):
    """A Decimal String (DS, at most 16 characters, PS3.5 6.2) for a number."""
    return _pydicom().valuerep.format_number_as_ds(float(value))


def _check_write_inputs(folder, hu, spacing_mm, origin_mm, patient_position, rescale_intercept):
    hu = np.asarray(hu, dtype=np.float64)
    if hu.ndim != 3 or hu.shape[2] < 2 or min(hu.shape) < 1 or not np.all(np.isfinite(hu)):
        raise ValueError(f"write_ct_series: hu must be a finite 3D array [ix, iy, iz] with at least 2 slices, "
                         f"got shape {hu.shape}")
    spacing = np.asarray(spacing_mm, dtype=np.float64).reshape(3)
    origin = np.asarray(origin_mm, dtype=np.float64).reshape(3)
    if not (np.all(spacing > 0) and np.all(np.isfinite(spacing)) and np.all(np.isfinite(origin))):
        raise ValueError(f"write_ct_series: spacing_mm must be 3 positive numbers and origin_mm 3 finite numbers, "
                         f"got {spacing.tolist()} and {origin.tolist()}")
    if patient_position not in WRITE_ORIENTATIONS:
        raise ValueError(f"write_ct_series: patient_position {patient_position!r} is not one of "
                         f"{sorted(WRITE_ORIENTATIONS)}")
    stored = np.rint(hu - rescale_intercept)
    info = np.iinfo(np.int16)
    if stored.min() < info.min or stored.max() > info.max:
        raise ValueError(f"write_ct_series: hu range [{hu.min():g}, {hu.max():g}] does not fit int16 pixels with "
                         f"RescaleIntercept {rescale_intercept:g}; clip the HU or change rescale_intercept")
    folder = Path(folder)
    if folder.exists() and any(p.suffix.lower() == ".dcm" for p in folder.iterdir()):
        raise ValueError(f"{folder}: already holds .dcm files; write the series to an empty folder")
    return folder, stored.astype(np.int16), spacing, origin


def _series_dataset(uids, patient_id, patient_name, patient_position, series_description):
    """The attributes shared by every slice of the written series (CT Image IOD, PS3.3 A.3)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient_name, patient_id, "", ""
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID = uids["study"], "", "", ""
    ds.ReferringPhysicianName, ds.AccessionNumber = "", ""
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "CT", uids["series"], 1
    ds.SeriesDescription, ds.PatientPosition = series_description, patient_position
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = uids["frame"], ""
    ds.Manufacturer = "flashmc"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleType = "1", "HU"
    ds.KVP, ds.AcquisitionNumber = "", ""
    ds.ImageOrientationPatient = [_ds_text(v) for v in WRITE_ORIENTATIONS[patient_position]]
    return ds


def write_ct_series(folder, hu, spacing_mm, origin_mm, *, patient_id="FLASHMC-PHANTOM", patient_name="flashmc^phantom",
                    patient_position="HFS", frame_of_reference_uid=None, study_instance_uid=None,
                    series_instance_uid=None, series_description="flashmc phantom", rescale_intercept=-1024.0):
    """Write ``hu`` [HU, array [ix, iy, iz] along patient x, y, z] as a CT series, one file per
    slice (``CT_0000.dcm``, ... in z order) in ``folder`` (created; it must not hold .dcm files).

    ``spacing_mm`` and ``origin_mm`` (centre of voxel 0,0,0) in patient coordinates [mm]; pixels
    are stored as int16 with RescaleSlope 1 and ``rescale_intercept`` (HU rounded to integers);
    ``patient_position`` "HFS" or "HFP" selects ImageOrientationPatient (WRITE_ORIENTATIONS).
    UIDs not given are generated (pydicom.uid.generate_uid). Returns the :class:`CTImage` as
    written (HU after rounding, UIDs, files)."""
    _pydicom()  # a clear message when pydicom is missing
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder, stored, spacing, origin = _check_write_inputs(folder, hu, spacing_mm, origin_mm, patient_position,
                                                          rescale_intercept)
    folder.mkdir(parents=True, exist_ok=True)
    uids = {"study": study_instance_uid or generate_uid(), "series": series_instance_uid or generate_uid(),
            "frame": frame_of_reference_uid or generate_uid()}
    base = _series_dataset(uids, patient_id, patient_name, patient_position, series_description)
    row_dir = np.array(WRITE_ORIENTATIONS[patient_position][:3])
    col_dir = np.array(WRITE_ORIENTATIONS[patient_position][3:])
    nx, ny, nz = stored.shape
    corner = origin.copy()  # ImagePositionPatient: the first pixel is at the end the rows/columns start from
    corner[0] += 0.0 if row_dir[0] > 0 else (nx - 1) * spacing[0]
    corner[1] += 0.0 if col_dir[1] > 0 else (ny - 1) * spacing[1]
    files, sops = [], []
    for k in range(nz):
        plane = stored[:, :, k][:: int(row_dir[0]), :: int(col_dir[1])]
        meta = FileMetaDataset()
        sop = generate_uid()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CT_IMAGE_STORAGE, sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"CT_{k:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.update(base)
        ds.SOPInstanceUID, ds.InstanceNumber = sop, k + 1
        z = origin[2] + k * spacing[2]
        ds.ImagePositionPatient = [_ds_text(corner[0]), _ds_text(corner[1]), _ds_text(z)]
        ds.SliceLocation, ds.SliceThickness = _ds_text(z), _ds_text(spacing[2])
        ds.PixelSpacing = [_ds_text(spacing[1]), _ds_text(spacing[0])]  # [between rows (y), between columns (x)]
        ds.Rows, ds.Columns = ny, nx
        ds.RescaleIntercept = _ds_text(rescale_intercept)
        ds.PixelData = np.ascontiguousarray(plane.T, dtype="<i2").tobytes()  # rows along y, columns along x
        ds.save_as(path, enforce_file_format=True)
        files.append(str(path))
        sops.append(sop)
    return CTImage(hu=(stored.astype(np.float64) + rescale_intercept).astype(np.float32), spacing_mm=spacing,
                   origin_mm=origin, frame_of_reference_uid=uids["frame"], study_instance_uid=uids["study"],
                   series_instance_uid=uids["series"], patient_id=patient_id, patient_name=patient_name,
                   patient_position=patient_position, sop_instance_uids=tuple(sops), files=tuple(files))


# ---- calibration -------------------------------------------------------------------------------
#: MCsquare material labels (MCsquare Materials/list.dat) used when a scanner folder comes without
#: its list.dat: air, water and the Schneider et al. (2000) bins.
MCSQUARE_LABELS = {13: "Air", 17: "Water", 39: "Schneider_Air", 40: "Schneider_Lung", 46: "Schneider_SoftTissus",
                   47: "Schneider_ConnectiveTissue", **{40 + i: f"Schneider_AT_AG_SI{i}" for i in range(1, 6)},
                   **{47 + i: f"Schneider_Marrow_Bone{i:02d}" for i in range(1, 16)}}


def _check_curve(where, hu, rho, labels):
    """Strictly increasing finite HU and finite positive densities; ``labels[i]`` names entry i."""
    for i, (h, r) in enumerate(zip(hu, rho)):
        if not (math.isfinite(h) and math.isfinite(r)):
            raise ValueError(f"{where}: {labels[i]}: HU {h} and density {r} must be finite numbers")
        if r <= 0:
            raise ValueError(f"{where}: {labels[i]}: density {r:g} g/cm^3 must be > 0")
        if i and h <= hu[i - 1]:
            raise ValueError(f"{where}: {labels[i]}: HU {h:g} does not increase (previous entry {hu[i - 1]:g}); "
                             "list the points in strictly increasing HU")


def _check_bins(where, bounds, names, labels):
    """Strictly increasing bounds and library materials; returns the canonical material names."""
    out = []
    for i, (b, name) in enumerate(zip(bounds, names)):
        if not math.isfinite(b) or (i and b <= bounds[i - 1]):
            raise ValueError(f"{where}: {labels[i]}: lower HU bound {b} must be finite and larger than the previous "
                             "one; list the bins in strictly increasing HU")
        try:
            out.append(get_material(name).name)
        except KeyError:
            raise ValueError(f"{where}: {labels[i]}: unknown material {name!r}; use a library material "
                             "(physics.materials.material_names())") from None
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Calibration:
    """CT calibration: HU -> mass density and HU -> material (conventions: module docstring).

    ``hu_points`` [HU] (strictly increasing) and ``density_points_g_cm3`` [g/cm^3] (> 0): the
    piecewise-linear density curve; ``material_bounds_hu`` [HU] (strictly increasing) and
    ``materials`` (library names): the material bins; ``bins_include_upper``: False for bins
    [t_i, t_i+1) (YAML format), True for (t_i, t_i+1] (MCsquare format); ``source``: its origin."""

    hu_points: np.ndarray
    density_points_g_cm3: np.ndarray
    material_bounds_hu: np.ndarray
    materials: tuple
    bins_include_upper: bool = False
    source: str = ""

    def __post_init__(self):
        hu = np.asarray(self.hu_points, dtype=np.float64).ravel()
        rho = np.asarray(self.density_points_g_cm3, dtype=np.float64).ravel()
        bounds = np.asarray(self.material_bounds_hu, dtype=np.float64).ravel()
        names = tuple(self.materials)
        where = f"calibration {self.source}".strip()
        if len(hu) < 2 or len(rho) != len(hu) or len(bounds) < 1 or len(names) != len(bounds):
            raise ValueError(f"{where}: need at least 2 (HU, density) points and 1 (HU, material) bin of equal "
                             f"lengths, got {len(hu)} HU for {len(rho)} densities, {len(bounds)} bounds for "
                             f"{len(names)} materials")
        _check_curve(where, hu, rho, [f"density point {i}" for i in range(len(hu))])
        object.__setattr__(self, "materials", _check_bins(where, bounds, names,
                                                          [f"material bin {i}" for i in range(len(bounds))]))
        object.__setattr__(self, "hu_points", hu)
        object.__setattr__(self, "density_points_g_cm3", rho)
        object.__setattr__(self, "material_bounds_hu", bounds)

    def density_g_cm3(self, hu):
        """Mass density [g/cm^3] of CT numbers ``hu`` [HU] (any shape): linear interpolation,
        clamped to the first/last tabulated density outside the table."""
        return np.interp(np.asarray(hu, dtype=np.float64), self.hu_points, self.density_points_g_cm3)

    def material_index(self, hu):
        """Index into ``materials`` of CT numbers ``hu`` [HU] (any shape): the bin holding it;
        below the first bound the first material, above the last bound the last one."""
        side = "left" if self.bins_include_upper else "right"
        idx = np.searchsorted(self.material_bounds_hu, np.asarray(hu, dtype=np.float64), side=side) - 1
        return np.clip(idx, 0, len(self.materials) - 1)


def _yaml_pairs(path, data, key, kinds):
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: {key} is missing or empty; it must be a list of [HU, {kinds[1]}] pairs "
                         f"(format: {DEFAULT_CALIBRATION.name})")
    out = []
    for i, entry in enumerate(entries):
        try:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2 or isinstance(entry[0], bool):
                raise TypeError
            out.append((float(entry[0]), float(entry[1]) if kinds[1] != "material" else str(entry[1])))
        except (TypeError, ValueError):
            raise ValueError(f"{path}: {key}[{i}] = {entry!r} is not a [HU, {kinds[1]}] pair") from None
    return out


def _load_yaml(path):
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(f"{path}: not valid YAML ({exc})".split())) from None
    data = data if isinstance(data, dict) else {}  # then the keys are reported missing
    curve = _yaml_pairs(path, data, "hu_to_density", ("HU", "density_g_cm3"))
    bins = _yaml_pairs(path, data, "hu_to_material", ("HU", "material"))
    hu, rho = [c[0] for c in curve], [c[1] for c in curve]
    _check_curve(path, hu, rho, [f"hu_to_density[{i}]" for i in range(len(hu))])
    if len(hu) < 2:
        raise ValueError(f"{path}: hu_to_density needs at least 2 points")
    names = _check_bins(path, [b[0] for b in bins], [b[1] for b in bins], [f"hu_to_material[{i}]" for i in
                                                                          range(len(bins))])
    label = f"{path} ({data['name']})" if data.get("name") else str(path)
    return Calibration(hu, rho, [b[0] for b in bins], names, False, label)


def _mcsquare_rows(path):
    """(line number, first two fields) of each data line of an MCsquare table ('#' starts a
    comment, as in MCsquare's src/data_ct.c)."""
    if not path.is_file():
        raise ValueError(f"{path}: missing; an MCsquare scanner folder holds HU_Density_Conversion.txt and "
                         "HU_Material_Conversion.txt")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}: line {n}: {line.strip()!r} needs two fields (HU and a value)")
        rows.append((n, fields[0], fields[1]))
    if not rows:
        raise ValueError(f"{path}: holds no data line")
    return rows


def _mcsquare_names(folder):
    """MCsquare material label -> name, from list.dat in the scanner folder or in MCsquare's
    Materials/ folder two levels up (MCsquare/Scanners/<scanner>/), else MCSQUARE_LABELS."""
    for cand in (folder / "list.dat", folder.parent.parent / "Materials" / "list.dat"):
        if cand.is_file():
            names = {}
            for line in cand.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and fields[0].isdigit():
                    names[int(fields[0])] = fields[1]
            return names, str(cand)
    return dict(MCSQUARE_LABELS), "geometry.ct.MCSQUARE_LABELS"


def _load_mcsquare(folder, material_map):
    dens_path, mat_path = folder / "HU_Density_Conversion.txt", folder / "HU_Material_Conversion.txt"
    curve, bins = _mcsquare_rows(dens_path), _mcsquare_rows(mat_path)
    for n, h, r in curve:
        if not (_is_number(h) and _is_number(r)):
            raise ValueError(f"{dens_path}: line {n}: {h!r} {r!r} is not an HU and a density [g/cm^3]")
    hu, rho = [float(r[1]) for r in curve], [float(r[2]) for r in curve]
    _check_curve(dens_path, hu, rho, [f"line {r[0]}" for r in curve])
    labels, names_from = _mcsquare_names(folder)
    bounds, names = [], []
    for n, h, lab in bins:
        if not (_is_number(h) and lab.isdigit()):
            raise ValueError(f"{mat_path}: line {n}: {h!r} {lab!r} is not an HU and a material label (integer)")
        mc_name = labels.get(int(lab), "")
        name = material_map.get(mc_name, mc_name)
        try:
            names.append(get_material(name).name)
        except KeyError:
            raise ValueError(f"{mat_path}: line {n}: MCsquare material {lab} ({mc_name or 'not in ' + names_from}) "
                             "has no flashmc library material; pass material_map={'<MCsquare name>': "
                             "'<library material>'} to load_calibration") from None
        bounds.append(float(h))
    _check_bins(mat_path, bounds, names, [f"line {r[0]}" for r in bins])
    return Calibration(hu, rho, bounds, names, True, f"{folder} (MCsquare scanner; labels from {names_from})")


def _is_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def load_calibration(path=None, material_map=None):
    """Load a :class:`Calibration`: ``path`` None for the default (Schneider et al. 2000,
    ``geometry/calibration/schneider2000.yaml``), a YAML file in that format, or an MCsquare
    scanner folder (HU_Density_Conversion.txt, HU_Material_Conversion.txt; material labels
    named by the folder's list.dat, MCsquare's Materials/list.dat or MCSQUARE_LABELS, and the
    names mapped to library materials by ``material_map`` {MCsquare name: library name}, else
    by name or alias, e.g. Schneider_AT_AG_SI1 -> schneider_adipose_1; ``material_map`` is used
    for MCsquare folders only). Errors name the file and the entry or line."""
    path = DEFAULT_CALIBRATION if path is None else Path(os.fspath(path))
    if path.is_dir():
        return _load_mcsquare(path, dict(material_map or {}))
    if not path.is_file():
        raise ValueError(f"{path}: calibration not found; give a YAML file (format: {DEFAULT_CALIBRATION}) or an "
                         "MCsquare scanner folder")
    return _load_yaml(path)


# ---- CT to voxel grid --------------------------------------------------------------------------
def _dose_spacing(ct, dose_grid_mm):
    s = np.asarray(dose_grid_mm, dtype=np.float64).ravel()
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"dose_grid_mm: must be 3 positive voxel sizes [mm] along x, y, z, got {dose_grid_mm!r}")
    for a in range(3):
        if s[a] < ct.spacing_mm[a] * (1.0 - 1e-9):
            raise ValueError(f"dose_grid_mm[{a}]: {s[a]:g} mm is finer than the CT spacing {ct.spacing_mm[a]:g} mm "
                             f"along {'xyz'[a]}, so some dose voxels would hold no CT voxel centre; choose a "
                             "spacing >= the CT's on every axis (or None for the CT's own grid)")
    return s


def grid_geometry(ct, dose_grid_mm=None):
    """(shape, origin_mm, spacing_mm) of the grid :func:`ct_to_grid` builds for ``ct`` and
    ``dose_grid_mm`` [mm] (None: the CT's grid): it starts at the CT's outer lower corner and
    has n = ceil(CT extent / spacing) voxels per axis; origin_mm is the centre of voxel 0,0,0."""
    if dose_grid_mm is None:
        return tuple(int(n) for n in ct.hu.shape), np.array(ct.origin_mm, float), np.array(ct.spacing_mm, float)
    s = _dose_spacing(ct, dose_grid_mm)
    extent = np.array(ct.hu.shape) * np.asarray(ct.spacing_mm, float)
    shape = tuple(int(n) for n in np.ceil(np.round(extent / s, 9)))
    return shape, ct.lower_mm + 0.5 * s, s


def _axis_bins(n_ct, s_ct, n_dose, s_dose):
    """Along one axis: the dose bin of each CT voxel centre, and per dose bin the number of CT
    lattice centres (CT voxels and air-filled ones beyond the CT) and of CT voxels it holds."""
    n_lattice = max(n_ct, int(np.ceil(np.round(n_dose * s_dose / s_ct - 0.5, 9))))
    centres = (np.arange(n_lattice) + 0.5) * s_ct
    b = np.minimum(np.floor(centres / s_dose).astype(np.int64), n_dose - 1)
    return b[:n_ct], np.bincount(b, minlength=n_dose), np.bincount(b[:n_ct], minlength=n_dose)


def _lookup(cal, hu):
    """Material index and density of the CT numbers ``hu``. CT numbers are usually whole numbers
    (stored integers, RescaleSlope 1): then through a table over their range, with the values
    the calibration gives at those numbers (the same result, several times faster)."""
    lo, hi = float(hu.min()), float(hu.max())
    if hi - lo <= 65536 and np.array_equal(hu, np.rint(hu)):
        table_hu = np.arange(lo, hi + 1.0)
        k = (hu - lo).astype(np.intp)
        return cal.material_index(table_hu).astype(np.uint8)[k], cal.density_g_cm3(table_hu)[k]
    return cal.material_index(hu), cal.density_g_cm3(hu)


def _resample(ct, cal, shape, spacing):
    """Material index (calibration order) and mean density of each voxel of the dose grid
    ``shape``, ``spacing`` [mm] (module docstring): a mass histogram per dose slab along x."""
    bins, n_all, n_real = zip(*(_axis_bins(ct.hu.shape[a], ct.spacing_mm[a], shape[a], spacing[a]) for a in range(3)))
    n_mat = len(cal.materials)
    air_m, air_rho = int(cal.material_index(AIR_HU)), float(cal.density_g_cm3(AIR_HU))
    key_yz = ((bins[1][:, None] * shape[2] + bins[2][None, :]) * n_mat)[None, :, :]
    all_yz, real_yz = np.outer(n_all[1], n_all[2]), np.outer(n_real[1], n_real[2])
    starts = np.searchsorted(bins[0], np.arange(shape[0] + 1))
    material = np.empty(shape, np.uint8)
    density = np.empty(shape, np.float32)
    size = shape[1] * shape[2] * n_mat
    for bx in range(shape[0]):
        i0, i1 = starts[bx], starts[bx + 1]
        mass = np.zeros(size)
        if i1 > i0:
            mat, rho = _lookup(cal, ct.hu[i0:i1])
            mass = np.bincount((key_yz + mat).ravel(), weights=rho.ravel(), minlength=size)
        mass = mass.reshape(shape[1], shape[2], n_mat)
        mass[:, :, air_m] += (n_all[0][bx] * all_yz - n_real[0][bx] * real_yz) * air_rho
        density[bx] = mass.sum(axis=2) / (n_all[0][bx] * all_yz)
        material[bx] = np.argmax(mass, axis=2)
    return material, density


def _convert(ct, cal, chunk=16):
    """Material index and density of every CT voxel, a chunk of rows along x at a time."""
    material = np.empty(ct.hu.shape, np.uint8)
    density = np.empty(ct.hu.shape, np.float32)
    for i0 in range(0, ct.hu.shape[0], chunk):
        material[i0:i0 + chunk], density[i0:i0 + chunk] = _lookup(cal, ct.hu[i0:i0 + chunk])
    return material, density


def ct_to_grid(ct, calibration, dose_grid_mm=None, air_outside=None):
    """:class:`geometry.voxel.VoxelGrid` [cm] of a :class:`CTImage` through ``calibration``.

    ``dose_grid_mm`` None: one voxel per CT voxel. Else 3 spacings [mm], none finer than the CT's:
    the grid of :func:`grid_geometry`, each voxel with the mean mass density of the CT voxels
    whose centres it holds (air, HU -1000, beyond the CT) and the material holding the largest
    mass among them (module docstring). ``air_outside``: optional boolean mask of the output
    grid's shape; voxels where it is False become air (material and density of HU -1000), e.g.
    outside the body contour. The grid keeps only the materials it uses."""
    if len(calibration.materials) > 256:
        raise ValueError(f"calibration: {len(calibration.materials)} materials; a voxel grid holds at most 256")
    shape, origin, spacing = grid_geometry(ct, dose_grid_mm)
    if dose_grid_mm is None:
        material, density = _convert(ct, calibration)
    else:
        material, density = _resample(ct, calibration, shape, spacing)
    if air_outside is not None:
        mask = np.asarray(air_outside)
        if mask.dtype != bool or mask.shape != shape:
            raise ValueError(f"air_outside: must be a boolean mask of the output grid's shape {shape} (grid_geometry), "
                             f"got {mask.dtype} {mask.shape}")
        material[~mask] = calibration.material_index(AIR_HU)
        density[~mask] = calibration.density_g_cm3(AIR_HU)
    used = np.flatnonzero(np.bincount(material.ravel(), minlength=len(calibration.materials)))
    lut = np.zeros(len(calibration.materials), np.uint8)
    lut[used] = np.arange(len(used))
    names = tuple(calibration.materials[i] for i in used)
    return VoxelGrid(lut[material], density, names, spacing / 10.0, origin / 10.0)
