"""CT series in, voxel grid out (geometry/ct.py) and the Schneider et al. (2000) tissue materials.

References used by the tests, independent of the code under test:
* DICOM slices built here with pydicom, pixel positions by the Image Plane equation of DICOM
  PS3.3 C.7.6.2.1.1 (P = S + i dc X + j dr Y), written out by hand;
* SimpleITK (ITK/GDCM), a second reader of the written series;
* hand-computed interpolations of the calibration table; block means computed with numpy
  reshapes; the Schneider_* materials of MCsquare (Materials/*/Material_Properties.dat: the same
  Table 6 weights restricted to H, C, N, O, P, Ca and renormalised, and the nominal densities).
"""

import os

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from geometry.ct import (
    CT_IMAGE_STORAGE,
    Calibration,
    CTImage,
    ct_to_grid,
    grid_geometry,
    load_calibration,
    read_ct_series,
    write_ct_series,
)
from physics.materials import bragg_I_value, get_material

HFS = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
HFP = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


# ---- DICOM slices built by hand --------------------------------------------------------------
def make_slice(path, pixels, ipp, iop=HFS, pixel_spacing=(2.0, 1.0), slope=1.0, intercept=-1024.0,
               series="1.2.826.0.1.3680043.8.498.1", frame="1.2.826.0.1.3680043.8.498.2",
               sop_class=CT_IMAGE_STORAGE, drop=()):
    """Write one CT slice: ``pixels`` [row j, column i] stored int16, ImagePositionPatient ``ipp``."""
    meta = FileMetaDataset()
    sop = generate_uid()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    ds.PatientName, ds.PatientID, ds.Modality = "test^ct", "TEST-1", "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.3", series, frame
    ds.PatientPosition = "HFS" if tuple(iop) == HFS else "HFP"
    ds.ImagePositionPatient = [f"{v:g}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:g}" for v in iop]
    ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
    for kw in drop:
        delattr(ds, kw)
    ds.save_as(path, enforce_file_format=True)
    return path


def make_series(folder, n=3, rows=4, cols=5, dz=2.0, z0=10.0, **kw):
    """``n`` slices of -1000 HU (stored 24) at z0, z0 + dz, ...; files named so that the file
    order is the reverse of the z order."""
    os.makedirs(folder, exist_ok=True)
    return [make_slice(os.path.join(folder, f"slice_{n - k:02d}.dcm"), np.full((rows, cols), 24),
                       (-4.0, -6.0, z0 + k * dz), **kw) for k in range(n)]


def edit(path, **values):
    """Change or (value None) delete attributes of a written slice."""
    ds = pydicom.dcmread(path)
    for kw, v in values.items():
        if v is None:
            delattr(ds, kw)
        else:
            setattr(ds, kw, v)
    ds.save_as(path)


def assert_one_line_error(exc_info, *parts):
    msg = str(exc_info.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"


# ---- reading: orientation and positions --------------------------------------------------------
@pytest.mark.parametrize("iop", [HFS, HFP, (0.0, 1.0, 0.0, 1.0, 0.0, 0.0)])
def test_marker_voxel_ends_up_at_its_patient_position(tmp_path, iop):
    # 4 rows x 5 columns, PixelSpacing [dr, dc] = [2, 1] mm, slices at z = 10, 12.5, 15 mm
    dr, dc = 2.0, 1.0
    S_xy = np.array([3.0, -7.0])
    marker = np.array([3.0 + 3 * dc * iop[0] + 1 * dr * iop[3], -7.0 + 3 * dc * iop[1] + 1 * dr * iop[4], 12.5])
    for k, z in enumerate((15.0, 10.0, 12.5)):  # files out of z order
        px = np.full((4, 5), 1000)  # stored 1000 -> 2 * 1000 - 1000 = 1000 HU
        if z == marker[2]:
            # P = S + i dc X + j dr Y (PS3.3 C.7.6.2.1.1): the marker at column i = 3, row j = 1
            px[1, 3] = 600  # -> 200 HU
        make_slice(tmp_path / f"s{k}.dcm", px, (*S_xy, z), iop=iop, pixel_spacing=(dr, dc), slope=2.0,
                   intercept=-1000.0)
    ct = read_ct_series(tmp_path)
    idx = np.unravel_index(np.argmin(ct.hu), ct.hu.shape)
    assert ct.hu[idx] == 200.0 and np.count_nonzero(ct.hu != 1000.0) == 1
    np.testing.assert_allclose(ct.origin_mm + np.array(idx) * ct.spacing_mm, marker, atol=1e-12)
    # axes increase along x, y, z; the in-plane spacing follows the row/column directions
    assert ct.hu.shape == ((5, 4, 3) if iop[0] else (4, 5, 3))
    np.testing.assert_allclose(ct.spacing_mm, (dc, dr, 2.5) if iop[0] else (dr, dc, 2.5))
    assert [os.path.basename(f) for f in ct.files] == ["s1.dcm", "s2.dcm", "s0.dcm"]


@pytest.mark.parametrize("position", ["HFS", "HFP"])
def test_write_read_round_trip_and_a_second_reader(tmp_path, position):
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(7)
    hu = rng.integers(-1024, 3000, size=(6, 5, 4)).astype(float) + 0.3  # rounded to integers on writing
    spacing, origin = (2.0, 2.5, 3.0), (-5.0, -7.5, 12.0)
    written = write_ct_series(tmp_path / "ct", hu, spacing, origin, patient_position=position, patient_id="P-7")
    ct = read_ct_series(tmp_path / "ct")
    np.testing.assert_array_equal(ct.hu, np.rint(hu))
    np.testing.assert_array_equal(ct.spacing_mm, spacing)
    np.testing.assert_array_equal(ct.origin_mm, origin)
    assert ct.patient_id == "P-7" and ct.patient_position == position
    for name in ("frame_of_reference_uid", "study_instance_uid", "series_instance_uid", "sop_instance_uids",
                 "files"):
        assert getattr(ct, name) == getattr(written, name)
    np.testing.assert_array_equal(written.hu, ct.hu)
    raw = pydicom.dcmread(ct.files[0])
    assert [float(v) for v in raw.ImageOrientationPatient] == list({"HFS": HFS, "HFP": HFP}[position])
    assert raw.SOPClassUID == CT_IMAGE_STORAGE and raw.pixel_array.dtype == np.int16
    # SimpleITK maps each of its voxels to a patient position; ours must hold the same HU there
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "ct")))
    image = reader.Execute()
    arr = sitk.GetArrayFromImage(image)  # [k, j, i]
    for index in np.ndindex(*arr.shape[::-1]):
        p = np.array(image.TransformIndexToPhysicalPoint(tuple(int(v) for v in index)))
        ours = tuple(np.rint((p - ct.origin_mm) / ct.spacing_mm).astype(int))
        assert arr[index[::-1]] == ct.hu[ours]


def test_other_files_are_skipped_and_counted(tmp_path):
    make_series(tmp_path, n=3)
    (tmp_path / "notes.txt").write_text("not DICOM")
    make_slice(tmp_path / "rs.dcm", np.zeros((4, 5)), (-4.0, -6.0, 10.0), sop_class="1.2.840.10008.5.1.4.1.1.481.3")
    ct = read_ct_series(tmp_path)
    assert ct.hu.shape == (5, 4, 3) and ct.n_skipped_not_dicom == 1 and ct.n_skipped_other == 1
    np.testing.assert_array_equal(ct.hu, -1000.0)


# ---- reading: malformed series -----------------------------------------------------------------
def test_no_ct_in_the_folder(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    make_slice(tmp_path / "plan.dcm", np.zeros((2, 2)), (0, 0, 0), sop_class="1.2.840.10008.5.1.4.1.1.481.5")
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, str(tmp_path), "SOPClassUID (0008,0016)", "1 not DICOM", "1 DICOM of other")


@pytest.mark.parametrize("keyword, tag", [("SeriesInstanceUID", "(0020,000E)"), ("FrameOfReferenceUID", "(0020,0052)")])
def test_mixed_series(tmp_path, keyword, tag):
    files = make_series(tmp_path)
    edit(files[1], **{keyword: "1.2.3.999"})
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[1]), f"{keyword} {tag}", "mixes CT series")


@pytest.mark.parametrize("shape, keyword, tag", [((3, 5), "Rows", "(0028,0010)"), ((4, 6), "Columns", "(0028,0011)")])
def test_slices_of_different_size(tmp_path, shape, keyword, tag):
    make_series(tmp_path, n=2)
    bad = make_slice(tmp_path / "odd.dcm", np.zeros(shape), (-4.0, -6.0, 14.0))
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(bad), f"{keyword} {tag}")


@pytest.mark.parametrize("keyword, tag, value", [("PixelSpacing", "(0028,0030)", ["2.0", "1.5"]),
                                                 ("ImageOrientationPatient", "(0020,0037)", [str(v) for v in HFP])])
def test_slices_of_different_spacing_or_orientation(tmp_path, keyword, tag, value):
    files = make_series(tmp_path)
    edit(files[2], **{keyword: value})
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[2]), f"{keyword} {tag}")


@pytest.mark.parametrize("iop", [(1.0, 0.0, 0.0, 0.0, 0.98480775, 0.17364818),  # oblique (10 degrees)
                                 (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal
                                 (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)])  # coronal
def test_non_axial_orientation(tmp_path, iop):
    files = make_series(tmp_path, iop=iop)
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, "ImageOrientationPatient (0020,0037)", "only axial")
    assert any(os.path.basename(f) in str(e.value) for f in files)


def test_duplicate_slice_positions(tmp_path):
    files = make_series(tmp_path, n=3)
    edit(files[2], ImagePositionPatient=["-4", "-6", "12"])  # z = 12 mm like files[1]
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[1]), os.path.basename(files[2]), "z = 12 mm",
                          "ImagePositionPatient (0020,0032)", "duplicate")


def test_missing_slice_uneven_spacing(tmp_path):
    files = make_series(tmp_path, n=5)  # z = 10, 12, 14, 16, 18
    os.remove(files[3])  # no slice at z = 16
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[4]), os.path.basename(files[2]), "z = 18 mm", "z = 14 mm",
                          "ImagePositionPatient (0020,0032)", "uneven")


def test_slices_not_stacked_along_z(tmp_path):
    files = make_series(tmp_path, n=3)
    edit(files[2], ImagePositionPatient=["-4", "-5", "14"])  # shifted 1 mm in y (tilted gantry)
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[2]), "ImagePositionPatient (0020,0032)", "in-plane")


def test_single_slice(tmp_path):
    files = make_series(tmp_path, n=1)
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[0]), "ImagePositionPatient (0020,0032)", "single CT slice")


@pytest.mark.parametrize("keyword, tag", [("ImagePositionPatient", "(0020,0032)"), ("PixelSpacing", "(0028,0030)"),
                                          ("RescaleSlope", "(0028,1053)"), ("RescaleIntercept", "(0028,1052)"),
                                          ("ImageOrientationPatient", "(0020,0037)"),
                                          ("FrameOfReferenceUID", "(0020,0052)"), ("PixelData", "(7FE0,0010)")])
def test_missing_required_attribute(tmp_path, keyword, tag):
    files = make_series(tmp_path)
    edit(files[1], **{keyword: None})
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[1]), f"{keyword} {tag}", "missing")


def test_attribute_with_wrong_multiplicity(tmp_path):
    files = make_series(tmp_path)
    edit(files[0], ImagePositionPatient=["1", "2"])
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[0]), "ImagePositionPatient (0020,0032)", "3 finite numbers")


def test_pixel_data_that_cannot_be_decoded(tmp_path):
    files = make_series(tmp_path)
    edit(files[1], PixelData=b"\x00\x00")  # 2 bytes for 4 x 5 pixels
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[1]), "PixelData (7FE0,0010)", "cannot be decoded")


def test_dicom_file_that_cannot_be_parsed(tmp_path, monkeypatch):
    files = make_series(tmp_path)
    real = pydicom.dcmread

    def dcmread(path, **kw):
        if os.path.basename(path) == os.path.basename(files[0]):
            raise OSError("unexpected end of file")
        return real(path, **kw)

    monkeypatch.setattr(pydicom, "dcmread", dcmread)
    with pytest.raises(ValueError) as e:
        read_ct_series(tmp_path)
    assert_one_line_error(e, os.path.basename(files[0]), "cannot be read as DICOM", "unexpected end of file")


def test_write_errors(tmp_path):
    hu = np.zeros((2, 2, 2))
    cases = [((hu[:, :, :1], (1, 1, 1), (0, 0, 0)), {}, "at least 2 slices"),
             ((hu, (1, 0, 1), (0, 0, 0)), {}, "spacing_mm"),
             ((hu + 40000.0, (1, 1, 1), (0, 0, 0)), {}, "int16"),
             ((hu, (1, 1, 1), (0, 0, 0)), {"patient_position": "FFS"}, "patient_position")]
    for args, kw, part in cases:
        with pytest.raises(ValueError) as e:
            write_ct_series(tmp_path / "a", *args, **kw)
        assert_one_line_error(e, part)
    write_ct_series(tmp_path / "b", hu, (1, 1, 1), (0, 0, 0))
    with pytest.raises(ValueError) as e:
        write_ct_series(tmp_path / "b", hu, (1, 1, 1), (0, 0, 0))
    assert_one_line_error(e, str(tmp_path / "b"), "already holds .dcm files")


# ---- calibration -------------------------------------------------------------------------------
#: Schneider et al. (2000) HU-density points (the default calibration's table, as tabulated in GATE).
SCHNEIDER_CURVE = [(-1000, 0.00121), (-98, 0.93), (-97, 0.930486), (14, 1.03), (23, 1.031), (100, 1.1199),
                   (101, 1.0762), (1600, 1.9642), (3000, 2.8)]


def test_default_calibration_density_curve():
    cal = load_calibration()
    hu, rho = np.array(SCHNEIDER_CURVE).T
    np.testing.assert_array_equal(cal.density_g_cm3(hu), rho)
    # between the points, by hand: rho(50) = 1.031 + 27 * 0.0889 / 77 = 1.0621727;
    # rho(-500) = 0.00121 + 500 * 0.92879 / 902 = 0.5160609; rho(1000) = 1.0762 + 899 * 0.888 / 1499 = 1.6087634
    np.testing.assert_allclose(cal.density_g_cm3([50.0, -500.0, 1000.0]), [1.0621727, 0.5160609, 1.6087634],
                               atol=1e-6)
    # clamped outside the table
    np.testing.assert_array_equal(cal.density_g_cm3([-3000.0, -1024.0, 3001.0, 1e5]), [0.00121, 0.00121, 2.8, 2.8])
    assert cal.density_g_cm3(np.zeros((2, 3, 4))).shape == (2, 3, 4)


@pytest.mark.parametrize("hu, name", [(-5000, "schneider_air"), (-951, "schneider_air"), (-950, "schneider_lung"),
                                      (-120.5, "schneider_lung"), (-120, "schneider_adipose_1"),
                                      (7.9, "schneider_adipose_4"), (8, "schneider_adipose_5"),
                                      (19, "schneider_soft_tissue"), (79, "schneider_soft_tissue"),
                                      (80, "schneider_connective_tissue"), (119.9, "schneider_connective_tissue"),
                                      (120, "schneider_marrow_bone_01"), (1499, "schneider_marrow_bone_14"),
                                      (1500, "schneider_marrow_bone_15"), (30000, "schneider_marrow_bone_15")])
def test_default_calibration_material_bins(hu, name):
    cal = load_calibration()
    assert cal.materials[int(cal.material_index(hu))] == name


def test_schneider_materials_against_mcsquare():
    cal = load_calibration()
    assert len(cal.materials) == 24
    # nominal density = the curve at the bin's lower bound (MCsquare's Schneider_* densities)
    for bound, name in zip(cal.material_bounds_hu, cal.materials):
        assert get_material(name).density == pytest.approx(cal.density_g_cm3(bound), abs=5e-5)
    mcsquare = {  # % by mass of H, C, N, O, P, Ca in MCsquare's Material_Properties.dat
        "schneider_at_ag_si1": (11.634905, 68.304915, 0.200602, 19.859579, 0.0, 0.0),
        "schneider_softtissus": (10.383065, 13.508065, 3.024194, 72.883065, 0.201613, 0.0),
        "schneider_marrow_bone08": (5.633803, 26.659960, 3.621730, 40.744467, 7.344064, 15.995976),
        "schneider_marrow_bone15": (3.420523, 15.593561, 4.225352, 43.762575, 10.362173, 22.635815),
    }
    for alias, ref in mcsquare.items():
        m = get_material(alias)
        w = np.array([m.composition.get(z, 0.0) for z in (1, 6, 7, 8, 15, 20)])
        np.testing.assert_allclose(100 * w / w.sum(), ref, atol=1e-5)
    air = get_material("schneider_air")
    assert air.state == "gas" and air.I_eV == 85.7
    for name in cal.materials[1:]:
        m = get_material(name)
        assert m.state == "solid" and m.I_eV == pytest.approx(bragg_I_value(m.composition), rel=1e-12)
        assert "Schneider" in m.source and "Table 6" in m.source


def test_build_tables_accepts_the_schneider_materials():
    from physics.tables import build_tables

    cal = load_calibration()
    tables = build_tables(list(cal.materials))
    assert tables.material_names == cal.materials
    soft, bone = cal.materials.index("schneider_soft_tissue"), cal.materials.index("schneider_marrow_bone_15")
    r_soft, r_bone = tables.csda_range(soft, 150.0), tables.csda_range(bone, 150.0)
    assert 15.0 < r_soft < 17.0 and r_soft < r_bone  # g/cm^2: higher Z/A-weighted I, longer mass range
    assert get_material("water").I_eV == 78.0 and get_material("bone_cortical").density == 1.85


def write_yaml(tmp_path, curve="[[-1000, 0.001], [0, 1.0], [1000, 1.8]]",
               bins="[[-1000, air], [-500, water], [500, bone_cortical]]"):
    path = tmp_path / "cal.yaml"
    path.write_text(f"name: test\nhu_to_density: {curve}\nhu_to_material: {bins}\n")
    return path


@pytest.mark.parametrize("kw, parts", [
    ({"curve": "[[-1000, 0.001], [0, 1.0], [0, 1.8]]"}, ["hu_to_density[2]", "does not increase"]),
    ({"curve": "[[-1000, 0.001], [0, -1.0], [10, 1.8]]"}, ["hu_to_density[1]", "must be > 0"]),
    ({"curve": "[[-1000, 0.001], [0], [10, 1.8]]"}, ["hu_to_density[1]", "pair"]),
    ({"bins": "[[-1000, air], [-500, unobtainium]]"}, ["hu_to_material[1]", "unknown material 'unobtainium'"]),
    ({"bins": "[[-1000, air], [-1000, water]]"}, ["hu_to_material[1]", "increasing"]),
    ({"bins": "[]"}, ["hu_to_material", "missing or empty"]),
])
def test_calibration_file_errors(tmp_path, kw, parts):
    path = write_yaml(tmp_path, **kw)
    with pytest.raises(ValueError) as e:
        load_calibration(path)
    assert_one_line_error(e, str(path), *parts)


def test_calibration_file_not_found_or_not_yaml(tmp_path):
    with pytest.raises(ValueError) as e:
        load_calibration(tmp_path / "nope.yaml")
    assert_one_line_error(e, "nope.yaml", "not found")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hu_to_density: [[0, 1]\n")
    with pytest.raises(ValueError) as e:
        load_calibration(bad)
    assert_one_line_error(e, "bad.yaml", "not valid YAML")


def test_user_yaml_calibration(tmp_path):
    cal = load_calibration(write_yaml(tmp_path))
    assert cal.materials == ("air", "water", "bone_cortical")
    assert cal.density_g_cm3(500.0) == pytest.approx(1.4)  # 1.0 + 0.5 * 0.8
    assert [cal.materials[i] for i in cal.material_index([-2000, -500, 499.9, 500])] == [
        "air", "water", "water", "bone_cortical"]


#: MCsquare's default scanner (Scanners/default/HU_Density_Conversion.txt, HU_Material_Conversion.txt)
MCSQUARE_DENSITY = """# ===================
# HU\tdensity g/cm3
# ===================
-2000\t\t0.001
-1000\t\t0.001
-739\t\t0.28
-628\t\t0.4
-97\t\t0.942
-52\t\t0.977
0\t\t1.000
14\t\t1.053
70\t\t1.097
213\t\t1.143
220\t\t1.154
588\t\t1.335
1046\t\t1.560
1565\t\t1.825
5000\t\t1.825
"""
MCSQUARE_BOUNDS = (-1050, -950, -120, -82, -52, -22, 8, 19, 80, 120, 200, 300, 400, 500, 600, 700, 800, 900, 1000,
                   1100, 1200, 1300, 1400, 1500)


def write_mcsquare(folder, labels=range(39, 63), list_dat=None):
    folder.mkdir(parents=True)
    (folder / "HU_Density_Conversion.txt").write_text(MCSQUARE_DENSITY)
    lines = [f"{h}\t{lab}\t\t# comment" for h, lab in zip(MCSQUARE_BOUNDS, labels)]
    (folder / "HU_Material_Conversion.txt").write_text("# HU\tMaterial label\n\n" + "\n".join(lines) + "\n")
    if list_dat is not None:
        (folder.parent.parent / "Materials").mkdir()
        (folder.parent.parent / "Materials" / "list.dat").write_text(list_dat)
    return folder


def test_mcsquare_scanner_folder(tmp_path):
    cal = load_calibration(write_mcsquare(tmp_path / "MCsquare" / "Scanners" / "default"))
    assert cal.materials == load_calibration().materials  # the same 24 Schneider bins
    # MCsquare's bins include their upper bound: (-22, 8] is adipose 4
    names = [cal.materials[i] for i in cal.material_index([-1100, -1050, -1049, 8, 8.5, 1500, 1501])]
    assert names == ["schneider_air", "schneider_air", "schneider_air", "schneider_adipose_4", "schneider_adipose_5",
                     "schneider_marrow_bone_14", "schneider_marrow_bone_15"]
    # density by hand: 1.000 + 7 * 0.053 / 14 = 1.0265 at 7 HU
    np.testing.assert_allclose(cal.density_g_cm3([0.0, 7.0, 14.0]), [1.0, 1.0265, 1.053], atol=1e-12)


def test_mcsquare_list_dat_and_material_map(tmp_path):
    folder = write_mcsquare(tmp_path / "MCsquare" / "Scanners" / "water", labels=[13, 17] + [17] * 22,
                            list_dat="13 Air\n17 Water\n")
    cal = load_calibration(folder)
    assert set(cal.materials) == {"air", "water"}
    folder = write_mcsquare(tmp_path / "other", labels=[13, 99] + [13] * 22)
    with pytest.raises(ValueError) as e:
        load_calibration(folder)
    assert_one_line_error(e, "HU_Material_Conversion.txt", "line 4", "MCsquare material 99", "material_map")
    (folder / "list.dat").write_text("13 Air\n99 Gold_Alloy\n")
    cal = load_calibration(folder, material_map={"Gold_Alloy": "titanium"})
    assert cal.materials[1] == "titanium"
    (folder / "HU_Density_Conversion.txt").write_text("0 1.0\n10 x\n")
    with pytest.raises(ValueError) as e:
        load_calibration(folder)
    assert_one_line_error(e, "HU_Density_Conversion.txt", "line 2")


# ---- CT to voxel grid --------------------------------------------------------------------------
def simple_calibration():
    return Calibration([-1000.0, 0.0, 1000.0], [0.001, 1.0, 1.85], [-1000.0, -500.0, 500.0],
                       ("air", "water", "bone_cortical"), source="test")


def ct_image(hu, spacing=(1.0, 1.0, 1.0), origin=(0.5, 0.5, 0.5)):
    return CTImage(hu=np.asarray(hu, np.float32), spacing_mm=np.array(spacing, float),
                   origin_mm=np.array(origin, float))


def test_one_voxel_per_ct_voxel():
    rng = np.random.default_rng(3)
    hu = rng.integers(-1000, 1600, size=(4, 3, 5)).astype(float)
    hu[0, 0, 0] = 20.5  # a non-integer CT number
    ct = ct_image(hu, spacing=(1.0, 2.0, 2.5), origin=(-10.0, 4.0, 30.0))
    cal = load_calibration()
    grid = ct_to_grid(ct, cal)
    np.testing.assert_allclose(grid.density, cal.density_g_cm3(hu), rtol=1e-7)
    np.testing.assert_array_equal(np.array(grid.materials)[grid.material_id],
                                  np.array(cal.materials)[cal.material_index(hu)])
    np.testing.assert_allclose(grid.origin_cm, [-1.0, 0.4, 3.0])
    np.testing.assert_allclose(grid.spacing_cm, [0.1, 0.2, 0.25])
    assert len(grid.materials) == len(set(grid.materials))  # only the materials used


def test_resampling_conserves_mass_when_the_grid_divides_the_ct():
    rng = np.random.default_rng(4)
    hu = rng.uniform(-1000, 1500, size=(8, 6, 6))
    ct = ct_image(hu, spacing=(1.0, 1.5, 2.5), origin=(-3.5, 0.75, 101.25))
    cal = load_calibration()
    grid = ct_to_grid(ct, cal, dose_grid_mm=(2.0, 3.0, 5.0))
    assert grid.shape == (4, 3, 3)
    rho = cal.density_g_cm3(hu)
    np.testing.assert_allclose(grid.density, rho.reshape(4, 2, 3, 2, 3, 2).mean(axis=(1, 3, 5)), rtol=1e-6)
    mass_ct = rho.sum() * np.prod(ct.spacing_mm) * 1e-3  # g
    assert (grid.density.astype(float).sum() * grid.voxel_volume_cm3) == pytest.approx(mass_ct, rel=1e-6)
    np.testing.assert_allclose(grid.lower_cm, ct.lower_mm / 10.0)
    shape, origin, spacing = grid_geometry(ct, (2.0, 3.0, 5.0))
    assert shape == grid.shape
    np.testing.assert_allclose(origin / 10.0, grid.origin_cm)
    np.testing.assert_allclose(spacing / 10.0, grid.spacing_cm)


def test_resampling_beyond_the_ct_is_air():
    hu = np.full((5, 4, 3), 1000.0)  # 1.85 g/cm^3 bone
    ct = ct_image(hu)
    cal = simple_calibration()
    grid = ct_to_grid(ct, cal, dose_grid_mm=(2.0, 2.0, 2.0))
    assert grid.shape == (3, 2, 2)
    # voxel (2, 0, 1): CT centres x 4.5 (+ 5.5 beyond), y 0.5 and 1.5, z 2.5 (+ 3.5 beyond):
    # 2 bone voxels and 6 air voxels of the CT lattice
    assert grid.density[2, 0, 1] == pytest.approx((2 * 1.85 + 6 * 0.001) / 8, rel=1e-6)
    assert grid.materials[grid.material_id[2, 0, 1]] == "bone_cortical"  # 3.7 against 0.006 (x volume)
    assert grid.density[0, 0, 0] == pytest.approx(1.85) and grid.density[0, 0, 1] == pytest.approx(0.92550)


def test_water_box_with_bone_inserts_two_times_coarser():
    hu = np.zeros((8, 8, 8))  # water
    hu[2:4, 2:4, 2:4] = 1000.0  # a bone cube filling dose voxel (1, 1, 1)
    hu[4:6, 4:6, 4] = 1000.0  # 4 of the 8 CT voxels of dose voxel (2, 2, 2)
    hu[0, 6:8, 6] = 1000.0  # 2 of 8: 3.7 g/cm^3 of bone against 6.0 of water
    hu[6, 0:2, 0] = 1000.0
    hu[7, 0, 0] = 1000.0  # 3 of 8: 5.55 against 5.0 -- the majority of mass, not of voxels
    for cal in (simple_calibration(), load_calibration()):
        grid = ct_to_grid(ct_image(hu), cal, dose_grid_mm=(2.0, 2.0, 2.0))
        names = np.array(grid.materials)[grid.material_id]
        water, bone = cal.materials[cal.material_index(0.0)], cal.materials[cal.material_index(1000.0)]
        rho_w, rho_b = cal.density_g_cm3(0.0), cal.density_g_cm3(1000.0)
        expected = np.full((4, 4, 4), water, dtype=object)
        expected[1, 1, 1] = expected[2, 2, 2] = bone
        expected[3, 0, 0] = bone if 3 * rho_b > 5 * rho_w else water  # 5.55 > 5.0; Schneider: 4.83 < 5.09
        np.testing.assert_array_equal(names, expected)
        np.testing.assert_allclose(grid.density[[1, 2, 0, 3], [1, 2, 3, 0], [1, 2, 3, 0]],
                                   [rho_b, (rho_b + rho_w) / 2, (2 * rho_b + 6 * rho_w) / 8,
                                    (3 * rho_b + 5 * rho_w) / 8], rtol=1e-6)
    assert set(grid.materials) == {"schneider_adipose_4", "schneider_marrow_bone_10"}  # Schneider bins of 0, 1000 HU


def test_air_outside_the_body_mask():
    ct = ct_image(np.zeros((4, 4, 2)))
    cal = load_calibration()
    shape, _, _ = grid_geometry(ct, (2.0, 2.0, 2.0))
    body = np.zeros(shape, bool)
    body[0, :, :] = True
    grid = ct_to_grid(ct, cal, dose_grid_mm=(2.0, 2.0, 2.0), air_outside=body)
    assert grid.materials == ("schneider_air", "schneider_adipose_4")
    np.testing.assert_array_equal(grid.material_id, np.where(body, 1, 0))
    np.testing.assert_allclose(grid.density[~body], 0.00121)
    grid = ct_to_grid(ct, cal, air_outside=np.ones(ct.hu.shape, bool))
    assert grid.materials == ("schneider_adipose_4",)
    with pytest.raises(ValueError) as e:
        ct_to_grid(ct, cal, air_outside=body)
    assert_one_line_error(e, "air_outside", "(4, 4, 2)")


@pytest.mark.parametrize("dose, parts", [((2.0, 2.0, 0.5), ["dose_grid_mm[2]", "finer than the CT"]),
                                         ((2.0, -1.0, 2.0), ["dose_grid_mm", "positive"]),
                                         ((2.0, 2.0), ["dose_grid_mm", "3 positive"])])
def test_bad_dose_grid(dose, parts):
    with pytest.raises(ValueError) as e:
        ct_to_grid(ct_image(np.zeros((4, 4, 2))), load_calibration(), dose_grid_mm=dose)
    assert_one_line_error(e, *parts)


def test_dicom_to_voxel_grid(tmp_path):
    hu = np.zeros((10, 8, 6))
    hu[:, :, 3:] = 1200.0
    write_ct_series(tmp_path, hu, (1.0, 1.0, 2.0), (-4.5, -3.5, -5.0), patient_position="HFP")
    grid = ct_to_grid(read_ct_series(tmp_path), load_calibration(), dose_grid_mm=(2.0, 2.0, 2.0))
    assert grid.shape == (5, 4, 6)
    np.testing.assert_allclose(grid.lower_cm, [-0.5, -0.4, -0.6])
    np.testing.assert_array_equal(np.array(grid.materials)[grid.material_id[0, 0]],
                                  ["schneider_adipose_4"] * 3 + ["schneider_marrow_bone_12"] * 3)
