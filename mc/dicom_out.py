"""DICOM RT Dose: write a dose grid as an RT Dose object, and read one back.

Standard: DICOM PS3.3, RT Dose IOD (A.18), RT Dose Module (C.8.8.3), Image Plane Module
(C.7.6.2), Image Pixel Module (C.7.6.3), Multi-frame Module (C.7.6.6), SOP Common Module
(C.12.1); file format PS3.10 with the Explicit VR Little Endian transfer syntax
(1.2.840.10008.1.2.1). SOP Class: RT Dose Storage 1.2.840.10008.5.1.4.1.1.481.2.

Conventions:

* flashmc's side: a dose array indexed [ix, iy, iz] in Gy on a grid whose axes are the patient
  x, y, z axes (LPS, DICOM patient coordinate system, C.7.6.2.1.1); ``origin_mm`` is the centre
  of voxel (0, 0, 0) and ``spacing_mm`` the voxel size along x, y, z, both in mm.
* DICOM's side (as written): ImagePositionPatient (0020,0032) = centre of the first voxel;
  ImageOrientationPatient (0020,0037) = [1, 0, 0, 0, 1, 0] (rows along +x, columns along +y);
  PixelSpacing (0028,0030) = [row spacing (y), column spacing (x)]; GridFrameOffsetVector
  (3004,000C) = z offsets of the frames relative to the first (C.8.8.3.2 option a), with
  FrameIncrementPointer (0028,0009) = (3004,000C); pixel data ordered frames[z] x rows[y] x
  columns[x]; Rows (0028,0010) = ny, Columns (0028,0011) = nx.
* Pixel values: 32-bit unsigned integers (BitsAllocated (0028,0100) = BitsStored = 32,
  HighBit = 31, PixelRepresentation = 0; C.8.8.3.4.1) times DoseGridScaling (3004,000E) give Gy
  (DoseUnits (3004,0002) = GY). The scaling is the dose maximum / (2^32 - 1), rounded up to
  10 significant digits (a Decimal String holds at most 16 characters), so the maximum maps to
  about 2^32 - 1 and the quantisation error of every voxel is at most half a step:
  max / (2 (2^32 - 1)) (1 + 1e-9) = 1.2e-10 of the maximum.
* DoseType (3004,0004): PHYSICAL, or EFFECTIVE (physical dose after correction for biological
  effect, i.e. RBE-weighted dose); DoseSummationType (3004,000A): PLAN or BEAM. The
  ReferencedRTPlanSequence (300C,0002) names the plan (RT Ion Plan Storage
  1.2.840.10008.5.1.4.1.1.481.8 by default); for BEAM it holds ReferencedFractionGroupSequence
  (300C,0020) > ReferencedBeamSequence (300C,0004) > ReferencedBeamNumber (300C,0006). Without a
  plan UID the sequence is omitted (it is Type 1C: such a PLAN dose does not reference a plan).

Reading accepts any axial ImageOrientationPatient whose direction cosines are +-1 (rows along
x or y, columns along the other), GridFrameOffsetVector relative (first element 0, offsets
along row x column direction) or absolute (patient z, with orientation [1, 0, 0, 0, 1, 0]), and
16- or 32-bit pixels; the grid is returned on increasing patient x, y, z. Files are written to
a temporary file in the target folder and renamed, so an RT Dose file is complete or absent;
it gets the permission bits of an ordinary new file under the umask (0644 under umask 022; see
``mc.output.chmod_default``).
"""

import os
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np
import pydicom
from pydicom import config as pydicom_config
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    RTDoseStorage,
    RTIonPlanStorage,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds, validate_value

from geometry.ct import tag_text

from . import __version__
from .errors import ConfigError
from .output import replace_atomically

#: DoseType (3004,0004) values written (C.8.8.3; ERROR, the third defined term, is not a dose).
DOSE_TYPES = ("PHYSICAL", "EFFECTIVE")
#: DoseSummationType (3004,000A) values written (C.8.8.3).
SUMMATION_TYPES = ("PLAN", "BEAM", "FRACTION_SESSION", "BEAM_SESSION")
#: Summation types that reference beams (ReferencedBeamSequence (300C,0004)).
BEAM_SUMMATIONS = ("BEAM", "BEAM_SESSION")
#: Largest pixel value of 32-bit unsigned pixel data.
PIXEL_MAX_32 = 2**32 - 1
#: Significant digits of DoseGridScaling (a Decimal String holds at most 16 characters).
SCALING_DIGITS = 10
#: Tolerance [mm] for direction cosines and frame offsets read from a file.
GEOMETRY_TOL_MM = 1e-3
#: PatientSex (0010,0040) enumerated values (C.7.1.1); empty is allowed (Type 2).
PATIENT_SEX_VALUES = ("", "M", "F", "O")
MANUFACTURER = "flashmc"


# --------------------------------------------------------------------------------------------
# writing


def _check_dose(path, dose_gy):
    dose = np.asarray(dose_gy, dtype=np.float64)
    if dose.ndim != 3 or min(dose.shape) < 1:
        raise ConfigError(f"{path}: dose_gy must be a non-empty 3D array indexed [ix, iy, iz], got shape "
                          f"{dose.shape}")
    bad = ~np.isfinite(dose)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(f"{path}: dose_gy holds {int(bad.sum())} NaN or infinite values (first at index {idx}); "
                          "an RT Dose needs finite doses: fix the dose calculation")
    if dose.min() < 0:
        idx = tuple(int(i) for i in np.unravel_index(np.argmin(dose), dose.shape))
        raise ConfigError(f"{path}: dose_gy holds negative values (minimum {dose.min():g} Gy at index {idx}); "
                          "an RT Dose of DoseType PHYSICAL or EFFECTIVE is non-negative: fix the dose")
    return dose


def _check_vector(path, name, value, positive):
    v = np.asarray(value, dtype=np.float64)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ConfigError(f"{path}: {name} must be 3 finite numbers (x, y, z in mm), got {value!r}")
    if positive and np.any(v <= 0):
        raise ConfigError(f"{path}: {name} must be positive along x, y and z, got {v.tolist()} mm")
    return v


def _check_value(path, keyword, vr, value, required=False):
    """``value`` validated against the value representation ``vr`` (PS3.5 6.2) of ``keyword``."""
    text = "" if value is None else str(value)
    if required and not text:
        raise ConfigError(f"{path}: {tag_text(keyword)} is required (Type 1) but empty: pass it")
    try:
        validate_value(vr, text, pydicom_config.RAISE)
    except ValueError as exc:
        raise ConfigError(f"{path}: {tag_text(keyword)} = {text!r} is not a valid {vr} value ({exc}); "
                          "shorten or correct it") from None
    return text


def _check_choice(path, name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{path}: {name} = {value!r} is not one of {list(allowed)}")
    return value


def _check_positive_int(path, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{path}: {name} must be a positive whole number, got {value!r}")
    return int(value)


def _ds_ceiling(value):
    """``value`` > 0 rounded up to SCALING_DIGITS significant digits, as Decimal String text."""
    d = Decimal(float(value))
    r = d.quantize(Decimal(1).scaleb(d.adjusted() - SCALING_DIGITS + 1), rounding=ROUND_CEILING)
    return format(r.normalize(), "E")


def quantise_dose(dose_gy):
    """(uint32 pixels indexed [ix, iy, iz], DoseGridScaling text): pixels x scaling = dose to
    within scaling / 2 (see the module docstring). An all-zero dose gets scaling 1."""
    dmax = float(dose_gy.max())
    if dmax == 0.0:
        return np.zeros(dose_gy.shape, dtype=np.uint32), "1"
    text = _ds_ceiling(dmax / PIXEL_MAX_32)
    pixels = np.clip(np.rint(dose_gy / float(text)), 0, PIXEL_MAX_32)
    return pixels.astype(np.uint32), text


def _dose_comment(path, dose_comment, fractions):
    parts = []
    if fractions is not None:
        parts.append(f"dose for {_check_positive_int(path, 'fractions', fractions)} fractions")
    if dose_comment:
        parts.append(str(dose_comment))
    return _check_value(path, "DoseComment", "LO", "; ".join(parts))


def _referenced_plan(plan_uid, plan_class_uid, summation_type, beam_number, fraction_group_number):
    """ReferencedRTPlanSequence (300C,0002) per C.8.8.3 (one item)."""
    plan = Dataset()
    plan.ReferencedSOPClassUID = plan_class_uid
    plan.ReferencedSOPInstanceUID = plan_uid
    if summation_type != "PLAN":
        group = Dataset()
        group.ReferencedFractionGroupNumber = fraction_group_number
        if summation_type in BEAM_SUMMATIONS:
            items = []
            for number in beam_number:
                beam = Dataset()
                beam.ReferencedBeamNumber = number
                items.append(beam)
            group.ReferencedBeamSequence = Sequence(items)
        plan.ReferencedFractionGroupSequence = Sequence([group])
    return Sequence([plan])


def _patient_study_series(ds, text, now):
    """Patient (C.7.1.1), General Study (C.7.2.1), RT Series (C.8.8.1), Frame of Reference
    (C.7.4.1), General Equipment (C.7.5.1), SOP Common (C.12.1) modules."""
    if any(not v.isascii() for v in text.values()):
        ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = RTDoseStorage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceCreationDate, ds.InstanceCreationTime = now
    ds.PatientName = text["PatientName"]
    ds.PatientID = text["PatientID"]
    ds.PatientBirthDate = text["PatientBirthDate"]
    ds.PatientSex = text["PatientSex"]
    ds.StudyInstanceUID = text["StudyInstanceUID"]
    ds.StudyDate = ds.StudyTime = ds.ReferringPhysicianName = ds.StudyID = ds.AccessionNumber = ""
    ds.Modality = "RTDOSE"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = ""
    ds.OperatorsName = ""
    if text["SeriesDescription"]:
        ds.SeriesDescription = text["SeriesDescription"]
    ds.FrameOfReferenceUID = text["FrameOfReferenceUID"]
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = MANUFACTURER
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = now


def _image_modules(ds, pixels, scaling_text, origin_mm, spacing_mm):
    """Image Plane (C.7.6.2), Image Pixel (C.7.6.3), Multi-frame (C.7.6.6) modules and the grid
    attributes of the RT Dose module (C.8.8.3)."""
    nx, ny, nz = pixels.shape
    ds.ImagePositionPatient = [format_number_as_ds(float(v)) for v in origin_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [format_number_as_ds(float(spacing_mm[1])), format_number_as_ds(float(spacing_mm[0]))]
    ds.SliceThickness = format_number_as_ds(float(spacing_mm[2]))
    ds.GridFrameOffsetVector = [format_number_as_ds(float(k * spacing_mm[2])) for k in range(nz)]
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = tag_for_keyword("GridFrameOffsetVector")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ny, nx
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseGridScaling = scaling_text
    frames = np.ascontiguousarray(np.transpose(pixels, (2, 1, 0)), dtype="<u4")  # [z][y][x]
    ds.add_new(tag_for_keyword("PixelData"), "OW", frames.tobytes())


def _save_atomic(path, ds):
    """Write ``ds`` as a PS3.10 file to a temporary file beside ``path``, then rename it
    (:func:`mc.output.replace_atomically`)."""
    replace_atomically(path, ".dcm", lambda tmp: pydicom.dcmwrite(tmp, ds, enforce_file_format=True))


def write_rt_dose(path, dose_gy, origin_mm, spacing_mm, *, frame_of_reference_uid, study_instance_uid,
                  referenced_plan_sop_instance_uid=None, dose_type="PHYSICAL", summation_type="PLAN",
                  referenced_beam_number=None, patient_id="", patient_name="", patient_birth_date="",
                  patient_sex="", dose_comment="", series_description="", fractions=None,
                  referenced_plan_sop_class_uid=RTIonPlanStorage, referenced_fraction_group_number=1):
    """Write ``dose_gy`` [Gy, indexed ix, iy, iz] on the grid (``origin_mm``: centre of voxel
    (0,0,0), ``spacing_mm``; patient LPS axes) to ``path`` as a DICOM RT Dose (module docstring).

    The UIDs tie the dose to the CT's frame of reference and study and to the plan; for
    ``summation_type="BEAM"`` the plan UID and ``referenced_beam_number`` are required.
    ``fractions`` (the number of fractions the dose is for) and ``dose_comment`` (e.g. dose to
    water or to medium) are written to DoseComment (3004,0006). Returns the absolute path."""
    path = os.path.abspath(os.fspath(path))
    dose = _check_dose(path, dose_gy)
    origin = _check_vector(path, "origin_mm", origin_mm, positive=False)
    spacing = _check_vector(path, "spacing_mm", spacing_mm, positive=True)
    _check_choice(path, "dose_type (DoseType (3004,0004))", dose_type, DOSE_TYPES)
    _check_choice(path, "summation_type (DoseSummationType (3004,000A))", summation_type, SUMMATION_TYPES)
    _check_choice(path, "patient_sex (PatientSex (0010,0040))", patient_sex, PATIENT_SEX_VALUES)
    text = {"FrameOfReferenceUID": _check_value(path, "FrameOfReferenceUID", "UI", frame_of_reference_uid, True),
            "StudyInstanceUID": _check_value(path, "StudyInstanceUID", "UI", study_instance_uid, True),
            "PatientID": _check_value(path, "PatientID", "LO", patient_id),
            "PatientName": _check_value(path, "PatientName", "PN", patient_name),
            "PatientBirthDate": _check_value(path, "PatientBirthDate", "DA", patient_birth_date),
            "PatientSex": patient_sex,
            "SeriesDescription": _check_value(path, "SeriesDescription", "LO", series_description),
            "DoseComment": _dose_comment(path, dose_comment, fractions)}
    plan_uid = _check_value(path, "ReferencedSOPInstanceUID", "UI", referenced_plan_sop_instance_uid)
    if referenced_beam_number is not None and np.ndim(referenced_beam_number) == 0:
        referenced_beam_number = [referenced_beam_number]
    if summation_type in BEAM_SUMMATIONS:
        if not referenced_beam_number:
            raise ConfigError(f"{path}: DoseSummationType (3004,000A) {summation_type} needs referenced_beam_number "
                              "(ReferencedBeamNumber (300C,0006), C.8.8.3): pass the plan's beam number")
        if not plan_uid:
            raise ConfigError(f"{path}: DoseSummationType (3004,000A) {summation_type} needs "
                              "referenced_plan_sop_instance_uid (ReferencedRTPlanSequence (300C,0002), C.8.8.3)")
        for number in referenced_beam_number:
            _check_positive_int(path, "referenced_beam_number", number)
    if summation_type != "PLAN":
        _check_positive_int(path, "referenced_fraction_group_number", referenced_fraction_group_number)
    elif referenced_beam_number is not None:
        raise ConfigError(f"{path}: referenced_beam_number is given but DoseSummationType (3004,000A) is "
                          f"{summation_type}; a dose of one beam has summation_type='BEAM'")
    pixels, scaling_text = quantise_dose(dose)

    ds = Dataset()
    now = (time.strftime("%Y%m%d"), time.strftime("%H%M%S"))
    _patient_study_series(ds, text, now)
    _image_modules(ds, pixels, scaling_text, origin, spacing)
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    if text["DoseComment"]:
        ds.DoseComment = text["DoseComment"]
    ds.DoseSummationType = summation_type
    if plan_uid:
        ds.ReferencedRTPlanSequence = _referenced_plan(
            plan_uid, _check_value(path, "ReferencedSOPClassUID", "UI", referenced_plan_sop_class_uid, True),
            summation_type, referenced_beam_number, referenced_fraction_group_number)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTDoseStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    _save_atomic(path, ds)
    return path


# --------------------------------------------------------------------------------------------
# reading


@dataclass
class RTDose:
    """An RT Dose read back: ``dose_gy`` indexed [ix, iy, iz] on increasing patient x, y, z
    (LPS, mm; ``origin_mm`` = centre of voxel (0,0,0), ``spacing_mm`` along x, y, z)."""

    path: str
    dose_gy: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: np.ndarray
    frame_of_reference_uid: str
    study_instance_uid: str
    sop_instance_uid: str
    dose_type: str
    summation_type: str
    referenced_plan_uid: str | None = None
    referenced_beam_numbers: tuple = ()
    dose_comment: str = ""
    dose_grid_scaling: float = 1.0
    bits_allocated: int = 32
    manufacturer: str = ""
    patient_id: str = ""

    @property
    def shape(self):
        return self.dose_gy.shape

    def axis_centres_mm(self, axis):
        """Voxel-centre coordinates [mm] along ``axis`` (0, 1, 2 for x, y, z)."""
        return self.origin_mm[axis] + self.spacing_mm[axis] * np.arange(self.dose_gy.shape[axis])


def _require(path, ds, keyword):
    value = ds.get(keyword)
    if value is None or (not isinstance(value, (int, float)) and len(value) == 0):
        raise ConfigError(f"{path}: {tag_text(keyword)} is missing or empty; an RT Dose grid needs it (PS3.3 C.8.8.3)")
    return value


def _axis_of(path, cosines, what):
    """(patient axis, sign) of a direction cosine triplet that is +-1 along x or y."""
    c = np.asarray(cosines, dtype=np.float64)
    axis = int(np.argmax(np.abs(c)))
    unit = np.zeros(3)
    unit[axis] = np.sign(c[axis])
    if axis == 2 or np.max(np.abs(c - unit)) > GEOMETRY_TOL_MM:
        raise ConfigError(f"{path}: {tag_text('ImageOrientationPatient')} {what} direction {c.tolist()} is not +-1 "
                          "along the patient x or y axis; only axial dose grids are read: resample the dose")
    return axis, float(unit[axis])


def _frame_offsets_mm(path, ds, nframes, orientation):
    """Frame offsets [mm] from the first frame along row x column direction (C.8.8.3.2)."""
    if nframes == 1 and "GridFrameOffsetVector" not in ds:
        return np.zeros(1)
    g = np.atleast_1d(np.asarray(_require(path, ds, "GridFrameOffsetVector"), dtype=np.float64))
    if g.size != nframes:
        raise ConfigError(f"{path}: {tag_text('GridFrameOffsetVector')} has {g.size} values for {nframes} frames "
                          f"({tag_text('NumberOfFrames')}); the file is inconsistent")
    if g[0] != 0.0:  # option b: absolute patient z, only with orientation [1, 0, 0, 0, 1, 0]
        z0 = float(ds.ImagePositionPatient[2])
        if not np.allclose(orientation, [1, 0, 0, 0, 1, 0], atol=GEOMETRY_TOL_MM) or abs(g[0] - z0) > GEOMETRY_TOL_MM:
            raise ConfigError(f"{path}: {tag_text('GridFrameOffsetVector')} starts at {g[0]:g} mm: neither relative "
                              f"(first value 0) nor absolute z (first value = ImagePositionPatient z = {z0:g} mm "
                              "with ImageOrientationPatient [1,0,0,0,1,0]) per PS3.3 C.8.8.3.2")
        g = g - g[0]
    if nframes > 1:
        step = (g[-1] - g[0]) / (nframes - 1)
        if step == 0 or np.max(np.abs(g - step * np.arange(nframes))) > GEOMETRY_TOL_MM:
            raise ConfigError(f"{path}: {tag_text('GridFrameOffsetVector')} is not uniformly spaced (values "
                              f"{g[:4].tolist()}...); flashmc reads regular grids only: resample the dose")
    return g


def _frame_step_mm(path, ds, offsets):
    if offsets.size > 1:
        return (offsets[-1] - offsets[0]) / (offsets.size - 1)
    thickness = float(ds.get("SliceThickness") or 0.0)
    if thickness <= 0:
        raise ConfigError(f"{path}: a single-frame RT Dose needs a positive {tag_text('SliceThickness')} for the "
                          "voxel size along the slice normal")
    return thickness


def _dose_pixels(path, ds):
    """Pixel values x DoseGridScaling [Gy] as float64 [frame, row, column]."""
    bits = int(_require(path, ds, "BitsAllocated"))
    if bits not in (16, 32):
        raise ConfigError(f"{path}: {tag_text('BitsAllocated')} = {bits}; an RT Dose has 16 or 32 (C.8.8.3.4.1)")
    scaling = float(_require(path, ds, "DoseGridScaling"))
    if not np.isfinite(scaling) or scaling <= 0:
        raise ConfigError(f"{path}: {tag_text('DoseGridScaling')} = {scaling!r} must be a positive number")
    try:
        pixels = ds.pixel_array
    except (ValueError, NotImplementedError, RuntimeError, AttributeError, KeyError) as exc:
        raise ConfigError(f"{path}: {tag_text('PixelData')} cannot be decoded ({exc})") from None
    nframes = int(ds.get("NumberOfFrames") or 1)
    return pixels.reshape(nframes, int(ds.Rows), int(ds.Columns)).astype(np.float64) * scaling, scaling


def _referenced_plan_of(ds):
    """(plan SOP Instance UID or None, beam numbers) from ReferencedRTPlanSequence (300C,0002)."""
    seq = ds.get("ReferencedRTPlanSequence") or []
    if not seq:
        return None, ()
    plan = seq[0]
    beams = [int(b.ReferencedBeamNumber) for g in plan.get("ReferencedFractionGroupSequence") or []
             for b in g.get("ReferencedBeamSequence") or [] if "ReferencedBeamNumber" in b]
    return str(plan.get("ReferencedSOPInstanceUID", "")) or None, tuple(beams)


def _to_patient_axes(path, ds, values):
    """``values`` [frame, row, column] to [ix, iy, iz] on increasing axes; (array, origin, spacing)."""
    iop = np.asarray(_require(path, ds, "ImageOrientationPatient"), dtype=np.float64)
    ipp = np.asarray(_require(path, ds, "ImagePositionPatient"), dtype=np.float64)
    spacing = np.asarray(_require(path, ds, "PixelSpacing"), dtype=np.float64)
    if iop.shape != (6,) or ipp.shape != (3,) or spacing.shape != (2,) or np.any(spacing <= 0):
        raise ConfigError(f"{path}: {tag_text('ImageOrientationPatient')}, {tag_text('ImagePositionPatient')} or "
                          f"{tag_text('PixelSpacing')} has the wrong number of values or a non-positive spacing")
    row_axis, row_sign = _axis_of(path, iop[:3], "row")
    col_axis, col_sign = _axis_of(path, iop[3:], "column")
    if row_axis == col_axis:
        raise ConfigError(f"{path}: {tag_text('ImageOrientationPatient')} {iop.tolist()} has parallel row and "
                          "column directions")
    normal_sign = float(np.sign(np.cross(iop[:3], iop[3:])[2]))  # +-1 for an axial orientation
    offsets = _frame_offsets_mm(path, ds, values.shape[0], iop)
    # array axis a (frame, row, column) steps along patient axis axes[a] by steps[a] mm
    axes = (2, col_axis, row_axis)
    steps = np.array([normal_sign * _frame_step_mm(path, ds, offsets), col_sign * spacing[0],
                      row_sign * spacing[1]])
    origin = ipp.copy()
    for a in range(3):
        if steps[a] < 0:
            values = np.flip(values, axis=a)
            origin[axes[a]] += steps[a] * (values.shape[a] - 1)
            steps[a] = -steps[a]
    order = [axes.index(p) for p in range(3)]
    return np.ascontiguousarray(np.transpose(values, order)), origin, steps[order]


def read_rt_dose(path):
    """Read the DICOM RT Dose at ``path`` into an :class:`RTDose` (DoseUnits GY only)."""
    path = os.path.abspath(os.fspath(path))
    try:
        ds = pydicom.dcmread(path)
    except (OSError, InvalidDicomError) as exc:
        raise ConfigError(f"{path}: cannot be read as a DICOM file ({exc})") from None
    modality = ds.get("Modality", "")
    if modality != "RTDOSE":
        raise ConfigError(f"{path}: {tag_text('Modality')} is {modality!r}, not RTDOSE: pass an RT Dose file")
    units = str(ds.get("DoseUnits", ""))
    if units != "GY":
        raise ConfigError(f"{path}: {tag_text('DoseUnits')} is {units!r}; only absolute doses in GY are read")
    values, scaling = _dose_pixels(path, ds)
    dose, origin, spacing = _to_patient_axes(path, ds, values)
    plan_uid, beams = _referenced_plan_of(ds)
    return RTDose(path=path, dose_gy=dose, origin_mm=origin, spacing_mm=spacing,
                  frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
                  study_instance_uid=str(ds.get("StudyInstanceUID", "")),
                  sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
                  dose_type=str(ds.get("DoseType", "")), summation_type=str(ds.get("DoseSummationType", "")),
                  referenced_plan_uid=plan_uid, referenced_beam_numbers=beams,
                  dose_comment=str(ds.get("DoseComment", "")), dose_grid_scaling=scaling,
                  bits_allocated=int(ds.BitsAllocated), manufacturer=str(ds.get("Manufacturer", "")),
                  patient_id=str(ds.get("PatientID", "")))


# --------------------------------------------------------------------------------------------
# the doses of a plan recomputation


def write_case_doses(base_path, result, case, dose_to_water=False, beam_number=None):
    """Write the RT Dose files of a plan recomputation (:class:`mc.run.RunResult` with its
    :class:`mc.patient.PatientCase`) beside the HDF5 output ``base_path``: ``<base>_dose.dcm``
    (DoseType PHYSICAL: the dose to water if ``dose_to_water``, else to the medium) and, with RBE
    models, ``<base>_dose_rbe_<model>.dcm`` (EFFECTIVE: RBE-weighted dose) for every model; for
    the selected beams (all of the plan's, or ``beam_number`` alone) and ``case.fractions``
    fractions. DoseSummationType (PS3.3 C.8.8.3): PLAN for every beam and fraction, BEAM for
    some of the beams (referenced by number), FRACTION_SESSION and BEAM_SESSION for one fraction
    of a plan of several. Returns the paths written."""
    base = os.path.splitext(os.fspath(base_path))[0]
    grid, ct, plan = result.grid, case.ct, case.plan
    medium = "water" if dose_to_water else "medium"
    beams = [beam_number] if beam_number is not None else [b.number for b in case.beams]
    some_beams = beam_number is not None or len(beams) < len(plan.beams)
    one_session = case.fractions < plan.fractions_planned
    summation = {(False, False): "PLAN", (True, False): "BEAM", (False, True): "FRACTION_SESSION",
                 (True, True): "BEAM_SESSION"}[(some_beams, one_session)]
    common = {"origin_mm": grid.origin_cm * 10.0, "spacing_mm": grid.spacing_cm * 10.0,
              "frame_of_reference_uid": ct.frame_of_reference_uid,
              "study_instance_uid": plan.study_instance_uid or ct.study_instance_uid,
              "referenced_plan_sop_instance_uid": plan.sop_instance_uid, "patient_id": ct.patient_id,
              "patient_name": ct.patient_name, "fractions": case.fractions,
              "summation_type": summation, "referenced_beam_number": beams if some_beams else None}
    physical = result.dose_to_water if dose_to_water else result.dose
    paths = [write_rt_dose(f"{base}_dose.dcm", physical, dose_comment=f"flashmc MC dose to {medium}",
                           series_description=f"flashmc dose to {medium}", **common)]
    for model, dose in (result.dose_rbe or {}).items():
        paths.append(write_rt_dose(f"{base}_dose_rbe_{model}.dcm", dose, dose_type="EFFECTIVE",
                                   dose_comment=f"flashmc RBE ({model}) x dose to medium",
                                   series_description=f"flashmc RBE-weighted dose ({model})", **common))
    return paths
