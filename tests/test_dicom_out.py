"""DICOM RT Dose writing and reading (mc/dicom_out.py).

References: an analytic dose (3D Gaussian + linear gradient, 1e-3..70 Gy) on a non-cubic grid
with a negative origin, read back (a) by read_rt_dose, (b) independently by SimpleITK (GDCM;
raw pixels x DoseGridScaling from its own header parse) and by pymedphys (its own axes code);
RT Dose files of other orientations built here with pydicom from the analytic function evaluated
at each pixel's patient position (PS3.3 C.7.6.2.1.1 and C.8.8.3.2), so that read_rt_dose must
find every value at its position. Tolerances: the quantisation bound of the module docstring,
max / (2 (2^32 - 1)) (1 + 1e-9) for 32-bit data (the plan-recomputation requirement is 1e-5 of
the maximum; both are checked) and max / (2 (2^16 - 1)) for 16-bit data; positions exactly (values representable
in a Decimal String).

dicompyler-core 0.5.6 reads RT Dose only through ``pydicom.dicomio.read_file``, removed in pydicom
3, so SimpleITK and pymedphys are the independent readers here.
"""

import os

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    RTDoseStorage,
    RTIonPlanStorage,
    generate_uid,
)

import mc
from mc.dicom_out import (
    PIXEL_MAX_32,
    RTDose,
    quantise_dose,
    read_rt_dose,
    write_rt_dose,
)
from mc.errors import ConfigError

SHAPE = (31, 24, 17)  # nx, ny, nz: all different
SPACING_MM = np.array([2.5, 2.0, 3.0])
ORIGIN_MM = np.array([-41.25, -120.5, -30.0])
MARKER_INDEX = (27, 5, 13)
MARKER_GY = 70.0
QUANT_BOUND = 1.0 / (2.0 * PIXEL_MAX_32) * (1.0 + 1e-9)  # of the maximum, module docstring
FOR_UID = generate_uid()
STUDY_UID = generate_uid()
PLAN_UID = generate_uid()


def analytic_dose_gy():
    """60 Gy Gaussian + 10 Gy gradient along x + 1 mGy, and a 70 Gy marker voxel."""
    x, y, z = (ORIGIN_MM[a] + SPACING_MM[a] * np.arange(SHAPE[a]) for a in range(3))
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    gauss = np.exp(-((X + 5) ** 2 / (2 * 8.0**2) + (Y + 95) ** 2 / (2 * 6.0**2) + (Z + 6) ** 2 / (2 * 10.0**2)))
    dose = 1e-3 + 60.0 * gauss + 10.0 * (X - x[0]) / (x[-1] - x[0])
    dose[MARKER_INDEX] = MARKER_GY
    return dose


def marker_position_mm():
    return ORIGIN_MM + SPACING_MM * np.array(MARKER_INDEX)


def write(path, dose=None, **kw):
    args = {"frame_of_reference_uid": FOR_UID, "study_instance_uid": STUDY_UID,
            "referenced_plan_sop_instance_uid": PLAN_UID}
    args.update(kw)
    return write_rt_dose(str(path), analytic_dose_gy() if dose is None else dose, ORIGIN_MM, SPACING_MM, **args)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("rtdose") / "dose.dcm"
    write(path, patient_id="PHANTOM-1", patient_name="Water^Phantom", dose_comment="dose to water",
          fractions=30, series_description="flashmc test dose")
    return str(path)


# --------------------------------------------------------------------------------------------
# round trip and independent readers


def test_the_analytic_dose_spans_the_required_range():
    dose = analytic_dose_gy()
    assert dose.min() < 2e-3 and dose.max() == MARKER_GY
    assert len(set(SHAPE)) == 3 and len(set(SPACING_MM)) == 3 and np.all(ORIGIN_MM < 0)


def test_read_rt_dose_gives_back_the_dose_origin_and_spacing(written):
    dose = analytic_dose_gy()
    rt = read_rt_dose(written)
    assert isinstance(rt, RTDose) and rt.dose_gy.shape == SHAPE and rt.dose_gy.dtype == np.float64
    err = np.max(np.abs(rt.dose_gy - dose)) / dose.max()
    assert err < 1e-5
    assert err <= QUANT_BOUND, err  # ~1.2e-10: the stated quantisation bound
    assert np.array_equal(rt.origin_mm, ORIGIN_MM) and np.array_equal(rt.spacing_mm, SPACING_MM)
    assert rt.frame_of_reference_uid == FOR_UID and rt.study_instance_uid == STUDY_UID
    assert rt.referenced_plan_uid == PLAN_UID and rt.referenced_beam_numbers == ()
    assert (rt.dose_type, rt.summation_type, rt.manufacturer) == ("PHYSICAL", "PLAN", "flashmc")
    assert rt.dose_comment == "dose for 30 fractions; dose to water" and rt.patient_id == "PHANTOM-1"
    assert np.allclose(rt.axis_centres_mm(1), ORIGIN_MM[1] + SPACING_MM[1] * np.arange(SHAPE[1]))


def test_the_header_follows_the_rt_dose_module(written):
    dose = analytic_dose_gy()
    ds = pydicom.dcmread(written, force=False)
    nx, ny, nz = SHAPE
    assert ds.file_meta.MediaStorageSOPClassUID == RTDoseStorage
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPClassUID == RTDoseStorage and ds.Modality == "RTDOSE"
    assert ds.SeriesInstanceUID not in (FOR_UID, STUDY_UID) and ds.SOPInstanceUID != ds.SeriesInstanceUID
    assert [float(v) for v in ds.ImagePositionPatient] == ORIGIN_MM.tolist()
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in ds.PixelSpacing] == [SPACING_MM[1], SPACING_MM[0]]  # row (y), column (x)
    assert [float(v) for v in ds.GridFrameOffsetVector] == (SPACING_MM[2] * np.arange(nz)).tolist()
    assert (ds.Rows, ds.Columns, int(ds.NumberOfFrames)) == (ny, nx, nz)
    assert ds.FrameIncrementPointer == 0x3004000C
    assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (32, 32, 31, 0)
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
    assert ds.Manufacturer == "flashmc" and ds.SoftwareVersions == mc.__version__
    assert len(ds.ContentDate) == 8 and len(ds.ContentTime) >= 6
    assert ds.FrameOfReferenceUID == FOR_UID and ds.StudyInstanceUID == STUDY_UID
    plan = ds.ReferencedRTPlanSequence[0]
    assert plan.ReferencedSOPClassUID == RTIonPlanStorage and plan.ReferencedSOPInstanceUID == PLAN_UID
    # DoseGridScaling: the maximum / (2^32 - 1), rounded up by less than 1e-9
    ideal = dose.max() / PIXEL_MAX_32
    assert ideal <= float(ds.DoseGridScaling) <= ideal * (1 + 1e-9)
    assert PIXEL_MAX_32 - 10 <= int(ds.pixel_array.max()) <= PIXEL_MAX_32
    with open(written, "rb") as f:
        assert f.read(132)[128:] == b"DICM"  # PS3.10 preamble and prefix


def test_the_scaling_is_rounded_up_and_bounds_the_quantisation_error():
    # 500 maxima log-uniform over 1e-6..1e6 Gy (about half of them round down to nearest at 10
    # digits, so rounding to nearest would fail) and the extremes of float64
    rng = np.random.default_rng(7)
    maxima = np.concatenate([10.0 ** rng.uniform(-6, 6, 500), [1e-300, 1.7e308 / 2**33, 70.0]])
    for dmax in maxima:
        dose = np.array([0.0, 0.37 * dmax, dmax]).reshape(1, 1, 3)
        pixels, text = quantise_dose(dose)
        scaling = float(text)
        assert len(text) <= 16 and pydicom.valuerep.DSfloat(text, validation_mode=pydicom.config.RAISE) == scaling
        ideal = dmax / PIXEL_MAX_32
        assert ideal <= scaling <= ideal * (1 + 1e-9)
        assert pixels.dtype == np.uint32 and pixels.max() <= PIXEL_MAX_32
        assert np.max(np.abs(pixels * scaling - dose)) <= QUANT_BOUND * dmax


def test_simpleitk_reads_the_same_grid_and_values(written):
    dose = analytic_dose_gy()
    reader = sitk.ImageFileReader()
    reader.SetFileName(written)
    image = reader.Execute()
    scaling = float(reader.GetMetaData("3004|000e"))  # GDCM's own parse of DoseGridScaling
    assert np.allclose(image.GetOrigin(), ORIGIN_MM, rtol=0, atol=1e-9)
    assert np.allclose(image.GetSpacing(), SPACING_MM, rtol=0, atol=1e-9)
    assert np.allclose(image.GetDirection(), np.eye(3).ravel())
    assert image.GetSize() == SHAPE
    values = sitk.GetArrayFromImage(image).astype(np.float64) * scaling  # [z, y, x]
    assert values.shape == SHAPE[::-1]
    assert np.max(np.abs(values.transpose(2, 1, 0) - dose)) / dose.max() <= QUANT_BOUND


def test_pymedphys_finds_the_same_axes_and_values(written):
    from pymedphys.dicom import zyx_and_dose_from_dataset

    dose = analytic_dose_gy()
    (z, y, x), values = zyx_and_dose_from_dataset(pydicom.dcmread(written))
    for a, axis in enumerate((x, y, z)):
        assert np.allclose(axis, ORIGIN_MM[a] + SPACING_MM[a] * np.arange(SHAPE[a]), rtol=0, atol=1e-9)
    assert np.max(np.abs(values.transpose(2, 1, 0) - dose)) / dose.max() <= QUANT_BOUND


def test_the_marker_voxel_is_found_at_its_patient_position_by_every_reader(written):
    pos = marker_position_mm()
    tol = MARKER_GY * QUANT_BOUND
    rt = read_rt_dose(written)
    idx = tuple(int(i) for i in np.rint((pos - rt.origin_mm) / rt.spacing_mm))
    assert idx == MARKER_INDEX and abs(rt.dose_gy[idx] - MARKER_GY) <= tol
    assert np.unravel_index(np.argmax(rt.dose_gy), rt.shape) == MARKER_INDEX

    reader = sitk.ImageFileReader()
    reader.SetFileName(written)
    image = reader.Execute()
    i, j, k = image.TransformPhysicalPointToIndex(tuple(float(v) for v in pos))
    value = float(sitk.GetArrayViewFromImage(image)[k, j, i]) * float(reader.GetMetaData("3004|000e"))
    assert abs(value - MARKER_GY) <= tol

    from pymedphys.dicom import zyx_and_dose_from_dataset

    (z, y, x), values = zyx_and_dose_from_dataset(pydicom.dcmread(written))
    k, j, i = (int(np.argmin(np.abs(axis - p))) for axis, p in zip((z, y, x), pos[::-1]))
    assert (z[k], y[j], x[i]) == tuple(pos[::-1]) and abs(values[k, j, i] - MARKER_GY) <= tol


def test_beam_summation_carries_the_referenced_beam_number(tmp_path):
    path = write(tmp_path / "beam.dcm", summation_type="BEAM", referenced_beam_number=3)
    ds = pydicom.dcmread(path)
    assert ds.DoseSummationType == "BEAM"
    plan = ds.ReferencedRTPlanSequence[0]
    group = plan.ReferencedFractionGroupSequence[0]
    assert plan.ReferencedSOPClassUID == RTIonPlanStorage and plan.ReferencedSOPInstanceUID == PLAN_UID
    assert group.ReferencedFractionGroupNumber == 1 and group.ReferencedBeamSequence[0].ReferencedBeamNumber == 3
    rt = read_rt_dose(path)
    assert rt.summation_type == "BEAM" and rt.referenced_beam_numbers == (3,)


def test_effective_dose_type(tmp_path):
    path = write(tmp_path / "rbe.dcm", dose_type="EFFECTIVE", dose_comment="RBE 1.1 x dose to water")
    ds = pydicom.dcmread(path)
    assert ds.DoseType == "EFFECTIVE" and ds.DoseComment == "RBE 1.1 x dose to water"
    assert read_rt_dose(path).dose_type == "EFFECTIVE"


def test_without_a_plan_the_plan_sequence_is_omitted(tmp_path):
    path = write(tmp_path / "noplan.dcm", referenced_plan_sop_instance_uid=None)
    assert "ReferencedRTPlanSequence" not in pydicom.dcmread(path)
    assert read_rt_dose(path).referenced_plan_uid is None


def test_an_all_zero_dose_and_non_ascii_names(tmp_path):
    zero = np.zeros((3, 4, 2))
    assert quantise_dose(zero)[1] == "1"
    path = write(tmp_path / "zero.dcm", dose=np.zeros(SHAPE), patient_name="Müller^Jörg")
    ds = pydicom.dcmread(path)
    assert ds.SpecificCharacterSet == "ISO_IR 192" and str(ds.PatientName) == "Müller^Jörg"
    assert np.array_equal(read_rt_dose(path).dose_gy, np.zeros(SHAPE))


def test_a_failing_write_leaves_no_file(tmp_path, monkeypatch):
    def failing_dcmwrite(filename, dataset, *args, **kwargs):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pydicom, "dcmwrite", failing_dcmwrite)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path / "dose.dcm")
    assert os.listdir(tmp_path) == []
    # an existing file of the same name is left as it was
    (tmp_path / "dose.dcm").write_bytes(b"old")
    with pytest.raises(OSError):
        write(tmp_path / "dose.dcm")
    assert os.listdir(tmp_path) == ["dose.dcm"] and (tmp_path / "dose.dcm").read_bytes() == b"old"


# --------------------------------------------------------------------------------------------
# refusals of the writer


def _small_dose():
    return np.ones((3, 4, 2))


REFUSALS = [
    ({"dose": np.full((3, 4, 2), np.nan)}, "NaN or infinite"),
    ({"dose": np.full((3, 4, 2), np.inf)}, "NaN or infinite"),
    ({"dose": -_small_dose()}, "negative"),
    ({"dose": np.ones((3, 4))}, "3D array"),
    ({"dose": np.ones((3, 0, 2))}, "3D array"),
    ({"spacing_mm": [1.0, 0.0, 1.0]}, "spacing_mm must be positive"),
    ({"spacing_mm": [1.0, -2.0, 1.0]}, "spacing_mm must be positive"),
    ({"spacing_mm": [1.0, 1.0]}, "spacing_mm must be 3 finite"),
    ({"origin_mm": [0.0, np.nan, 0.0]}, "origin_mm must be 3 finite"),
    ({"dose_type": "RBE"}, "DoseType (3004,0004)"),
    ({"summation_type": "FRACTION"}, "DoseSummationType (3004,000A)"),
    ({"summation_type": "BEAM"}, "ReferencedBeamNumber (300C,0006)"),
    ({"summation_type": "BEAM", "referenced_beam_number": 1, "referenced_plan_sop_instance_uid": None},
     "ReferencedRTPlanSequence (300C,0002)"),
    ({"summation_type": "BEAM", "referenced_beam_number": 0}, "referenced_beam_number must be a positive"),
    ({"summation_type": "BEAM", "referenced_beam_number": 1, "referenced_fraction_group_number": -1},
     "referenced_fraction_group_number"),
    ({"referenced_beam_number": 2}, "referenced_beam_number is given but DoseSummationType"),
    ({"fractions": 0}, "fractions must be a positive"),
    ({"fractions": 2.5}, "fractions must be a positive"),
    ({"dose_comment": "x" * 65}, "DoseComment (3004,0006)"),
    ({"series_description": "x" * 65}, "SeriesDescription (0008,103E)"),
    ({"patient_id": "x" * 65}, "PatientID (0010,0020)"),
    ({"patient_name": "x" * 65}, "PatientName (0010,0010)"),
    ({"patient_birth_date": "1970-01-01"}, "PatientBirthDate (0010,0030)"),
    ({"patient_sex": "male"}, "PatientSex (0010,0040)"),
    ({"frame_of_reference_uid": ""}, "FrameOfReferenceUID (0020,0052)"),
    ({"study_instance_uid": "not a uid"}, "StudyInstanceUID (0020,000D)"),
    ({"referenced_plan_sop_instance_uid": "1.2.x"}, "ReferencedSOPInstanceUID (0008,1155)"),
    ({"referenced_plan_sop_class_uid": ""}, "ReferencedSOPClassUID (0008,1150)"),
]


@pytest.mark.parametrize("override,message", REFUSALS, ids=[m for _, m in REFUSALS])
def test_the_writer_refuses_bad_input(tmp_path, override, message):
    kw = dict(override)
    dose = kw.pop("dose", _small_dose())
    origin = kw.pop("origin_mm", [0.0, 0.0, 0.0])
    spacing = kw.pop("spacing_mm", [1.0, 1.0, 1.0])
    args = {"frame_of_reference_uid": FOR_UID, "study_instance_uid": STUDY_UID,
            "referenced_plan_sop_instance_uid": PLAN_UID}
    args.update(kw)
    path = tmp_path / "dose.dcm"
    with pytest.raises(ConfigError) as err:
        write_rt_dose(str(path), dose, origin, spacing, **args)
    text = str(err.value)
    assert message in text and str(path) in text and "\n" not in text
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# reading other orientations, offsets and bit depths


def field_gy(p):
    """Analytic reference dose [Gy] at patient positions p[..., 3] (mm): gradients along every
    axis, so that a wrong flip or transpose changes the values."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    return 60.0 + 0.2 * x + 0.3 * y - 0.25 * z + 10.0 * np.exp(-(x**2 + y**2 + z**2) / 200.0)


def make_dose_file(path, iop, ipp, pixel_spacing, offsets, rows=6, columns=7, bits=32):
    """An RT Dose whose pixel (frame k, row i, column j) holds field_gy at its patient position
    ipp + j dc r + i dr c + o_k n (PS3.3 C.7.6.2.1.1, C.8.8.3.2; o_k relative to the first frame,
    or absolute z when offsets[0] != 0)."""
    iop, ipp, offsets = (np.asarray(v, dtype=np.float64) for v in (iop, ipp, offsets))
    r, c = iop[:3], iop[3:]
    n = np.cross(r, c)
    rel = offsets - offsets[0]
    k, i, j = np.meshgrid(np.arange(len(offsets)), np.arange(rows), np.arange(columns), indexing="ij")
    pos = (ipp + j[..., None] * pixel_spacing[1] * r + i[..., None] * pixel_spacing[0] * c
           + rel[k][..., None] * n)
    values = field_gy(pos)
    scaling = float(f"{values.max() / (2**bits - 1) * (1 + 1e-9):.9e}")  # as stored (<= 16 characters)
    pixels = np.rint(values / scaling).astype(np.uint32 if bits == 32 else np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTDoseStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = RTDoseStorage
    ds.Modality = "RTDOSE"
    ds.FrameOfReferenceUID = FOR_UID
    ds.ImageOrientationPatient = [f"{v:g}" for v in iop]
    ds.ImagePositionPatient = [f"{v:g}" for v in ipp]
    ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    ds.GridFrameOffsetVector = [f"{v:g}" for v in offsets]
    ds.NumberOfFrames, ds.FrameIncrementPointer = len(offsets), 0x3004000C
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit, ds.PixelRepresentation = bits - 1, 0
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = "GY", "PHYSICAL", "PLAN"
    ds.DoseGridScaling = repr(scaling)
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return pos, scaling


ORIENTATIONS = {  # McNoleg 2014 (arXiv:1406.0014) Table 1 names
    "HFS": [1, 0, 0, 0, 1, 0], "HFP": [-1, 0, 0, 0, -1, 0], "FFS": [-1, 0, 0, 0, 1, 0],
    "FFP": [1, 0, 0, 0, -1, 0], "HFDL": [0, -1, 0, 1, 0, 0], "FFDR": [0, -1, 0, -1, 0, 0],
}
GRID_CASES = [(name, [0, 2.5, 5, 7.5, 10], 32) for name in ORIENTATIONS] + [
    ("HFS", [0, -2.5, -5, -7.5, -10], 32),  # frames towards -z
    ("HFP", [0, -2.5, -5, -7.5], 16),
    ("HFS", [-12.5, -10, -7.5, -5], 32),    # absolute z (option b): first value = ImagePositionPatient z
    ("FFDR", [0, 2.5, 5], 16),
]


@pytest.mark.parametrize("name,offsets,bits", GRID_CASES, ids=[f"{c[0]}-{c[1][1]}-{c[2]}bit" for c in GRID_CASES])
def test_read_rt_dose_puts_every_value_at_its_patient_position(tmp_path, name, offsets, bits):
    ipp = [-7.5, 4.0, -12.5]
    pos, scaling = make_dose_file(tmp_path / "d.dcm", ORIENTATIONS[name], ipp, [2.0, 1.5], offsets, bits=bits)
    rt = read_rt_dose(tmp_path / "d.dcm")
    assert np.all(np.diff(rt.axis_centres_mm(0)) > 0) and np.all(rt.spacing_mm > 0)
    assert np.allclose(rt.origin_mm, pos.reshape(-1, 3).min(axis=0), rtol=0, atol=1e-9)
    assert rt.dose_gy.size == pos.size // 3 and rt.bits_allocated == bits
    ix, iy, iz = np.meshgrid(*(np.arange(s) for s in rt.shape), indexing="ij")
    centres = rt.origin_mm + np.stack([ix, iy, iz], axis=-1) * rt.spacing_mm
    assert np.max(np.abs(rt.dose_gy - field_gy(centres))) <= 0.5 * scaling * (1 + 1e-6)


def test_a_single_frame_uses_the_slice_thickness(tmp_path):
    make_dose_file(tmp_path / "d.dcm", ORIENTATIONS["HFS"], [0, 0, 5], [2.0, 1.5], [0])
    ds = pydicom.dcmread(tmp_path / "d.dcm")
    del ds.GridFrameOffsetVector
    ds.NumberOfFrames = 1
    ds.SliceThickness = "3"
    ds.save_as(tmp_path / "d.dcm")
    rt = read_rt_dose(tmp_path / "d.dcm")
    assert rt.shape == (7, 6, 1) and np.array_equal(rt.spacing_mm, [1.5, 2.0, 3.0])


# --------------------------------------------------------------------------------------------
# refusals of the reader


def _set(**values):
    def edit(ds):
        for k, v in values.items():
            setattr(ds, k, v)
    return edit


def _delete(keyword):
    def edit(ds):
        delattr(ds, keyword)
    return edit


def _truncate_pixels(ds):
    ds.PixelData = ds.PixelData[:40]


def _single_frame_without_thickness(ds):
    ds.NumberOfFrames = 1
    ds.PixelData = ds.PixelData[:4 * ds.Rows * ds.Columns]
    del ds.GridFrameOffsetVector
    del ds.SliceThickness


READ_REFUSALS = [
    (_set(Modality="CT"), "Modality (0008,0060)"),
    (_set(DoseUnits="RELATIVE"), "DoseUnits (3004,0002)"),
    (_delete("DoseGridScaling"), "DoseGridScaling (3004,000E)"),
    (_set(DoseGridScaling="-1"), "DoseGridScaling (3004,000E)"),
    (_set(BitsAllocated=8), "BitsAllocated (0028,0100)"),
    (_truncate_pixels, "PixelData (7FE0,0010)"),
    (_delete("ImagePositionPatient"), "ImagePositionPatient (0020,0032)"),
    (_set(ImageOrientationPatient=[0, 1, 0, 0, 0, -1]), "ImageOrientationPatient (0020,0037)"),  # sagittal
    (_set(ImageOrientationPatient=[0.8, 0.6, 0, -0.6, 0.8, 0]), "ImageOrientationPatient (0020,0037)"),
    (_set(ImageOrientationPatient=[1, 0, 0, 1, 0, 0]), "parallel row and column"),
    (_set(PixelSpacing=[2.0, 0.0]), "PixelSpacing (0028,0030)"),
    (_set(PixelSpacing=[2.0]), "PixelSpacing (0028,0030)"),
    (_set(GridFrameOffsetVector=[0, 3, 6]), "GridFrameOffsetVector (3004,000C) has 3 values"),
    (_set(GridFrameOffsetVector=[0, 3, 6, 10]), "not uniformly spaced"),
    (_set(GridFrameOffsetVector=[0, 0, 0, 0]), "not uniformly spaced"),
    (_set(GridFrameOffsetVector=[5, 8, 11, 14]), "neither relative"),
    (_single_frame_without_thickness, "SliceThickness (0018,0050)"),
]


@pytest.mark.parametrize("edit,message", READ_REFUSALS, ids=[m for _, m in READ_REFUSALS])
def test_the_reader_refuses_what_it_cannot_place(tmp_path, edit, message):
    good = write_rt_dose(str(tmp_path / "good.dcm"), np.ones((3, 5, 4)), [0, 0, 0], [1, 2, 3],
                         frame_of_reference_uid=FOR_UID, study_instance_uid=STUDY_UID)
    ds = pydicom.dcmread(good)
    edit(ds)
    bad = str(tmp_path / "bad.dcm")
    ds.save_as(bad)
    with pytest.raises(ConfigError) as err:
        read_rt_dose(bad)
    text = str(err.value)
    assert message in text and bad in text and "\n" not in text


def test_the_reader_refuses_non_dicom_and_missing_files(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom file")
    for path in (junk, tmp_path / "absent.dcm"):
        with pytest.raises(ConfigError, match="cannot be read as a DICOM file") as err:
            read_rt_dose(path)
        assert str(path) in str(err.value)
