"""geometry/structures.py: RTSTRUCT reading and writing, contour-to-voxel masks.

References: analytic areas and voxel counts worked out by hand; a slow pure-Python even-odd crossing test;
dicompyler-core (DicomParser reading our files, dvhcalc.get_dvh computing structure volumes on an RTDOSE
grid built here). All DICOM data are synthetic, built with pydicom in the tests."""

import importlib
import math
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RTDoseStorage, generate_uid

from geometry.structures import (
    box_contours,
    cylinder_contours,
    mask_volume_cm3,
    read_rtstruct,
    slice_plane_indices,
    structure_masks,
    structure_summary,
    write_rtstruct,
)

FOR_UID = "1.2.826.0.1.3680043.8.498.1001"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1002"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1003"
PLANES_MM = np.arange(0.0, 13.0, 3.0)  # contour planes every 3 mm, z = 0 ... 12 mm


def _write(path, structures, **kw):
    return write_rtstruct(str(path), structures, frame_of_reference_uid=FOR_UID, study_instance_uid=STUDY_UID, **kw)


def _centres(shape, origin, spacing):
    return [origin[a] + spacing[a] * np.arange(shape[a]) for a in range(3)]


def _one_plane_mask(contours, shape_xy, origin_xy, spacing_xy, tmp_path, name="s"):
    """The [ix, iy] mask of ``contours`` (all on z = 0) on a one-slice grid of 1 mm thickness."""
    p = _write(tmp_path / f"{name}.dcm", {name: (contours, "ORGAN")})
    m = structure_masks(read_rtstruct(p), (*shape_xy, 1), (*origin_xy, 0.0), (*spacing_xy, 1.0))[name]
    return m[:, :, 0]


# ------------------------------------------------------------------------------------------ round trip

def test_write_read_round_trip_and_second_reader(tmp_path):
    box = box_contours((-10.0, -20.0), (15.5, 12.25), PLANES_MM)
    ring = cylinder_contours((1.0, -2.0), 30.0, PLANES_MM, 48) + cylinder_contours((1.0, -2.0), 12.0, PLANES_MM, 48)
    sop_uids = [generate_uid() for _ in range(3)]
    p = _write(tmp_path / "rs.dcm", {"PTV": (box, "PTV"), "Ring": (ring, "ORGAN", (10, 20, 30)),
                                    "Body": (cylinder_contours((0, 0), 80.0, PLANES_MM), "external")},
               referenced_series_uid=SERIES_UID, referenced_sop_uids=sop_uids, patient_id="P1")
    ss = read_rtstruct(p)
    assert ss.frame_of_reference_uid == FOR_UID and ss.referenced_series_uid == SERIES_UID
    assert list(ss.structures) == ["PTV", "Ring", "Body"] and ss.notes == []
    assert [s.number for s in ss.structures.values()] == [1, 2, 3]
    assert [s.interpreted_type for s in ss.structures.values()] == ["PTV", "ORGAN", "EXTERNAL"]
    assert ss.structures["Ring"].color == (10, 20, 30)
    for name, written in (("PTV", box), ("Ring", ring)):
        got = ss.structures[name].contours
        assert len(got) == len(written)
        for a, b in zip(got, written, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)  # DS strings keep >= 12 significant digits
    ds = pydicom.dcmread(p)  # the file as pydicom sees it
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.3" and ds.Modality == "RTSTRUCT"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID and ds.PatientID == "P1"
    series = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert [c.ReferencedSOPInstanceUID for c in series.ContourImageSequence] == sop_uids
    # a second reader: dicompyler-core's parser
    parser = _dicompyler().DicomParser(p)
    rois = parser.GetStructures()
    assert {r["name"]: r["type"] for r in rois.values()} == {"PTV": "PTV", "Ring": "ORGAN", "Body": "EXTERNAL"}
    assert list(rois[2]["color"]) == [10, 20, 30]
    planes = parser.GetStructureCoordinates(1)
    assert sorted(float(z) for z in planes) == list(PLANES_MM)
    np.testing.assert_allclose(np.array(planes["6.00"][0]["data"], float), box[2], atol=1e-9)


def test_skipped_and_xor_contour_types_and_missing_type(tmp_path):
    p = _write(tmp_path / "rs.dcm", {"A": (box_contours((0, 0), (4, 4), [0.0, 3.0]), "ORGAN")})
    ds = pydicom.dcmread(p)
    seq = ds.ROIContourSequence[0].ContourSequence
    seq[1].ContourGeometricType = "CLOSEDPLANAR_XOR"  # PS3.3 C.8.8.6.3: kept, combined by the even-odd rule
    point = Dataset()
    point.ContourGeometricType, point.NumberOfContourPoints, point.ContourData = "POINT", 1, [1.0, 1.0, 0.0]
    seq.append(point)
    del ds.RTROIObservationsSequence
    ds.save_as(p)
    ss = read_rtstruct(p)
    assert len(ss.structures["A"].contours) == 2 and ss.structures["A"].interpreted_type is None
    assert len(ss.notes) == 1 and "POINT" in ss.notes[0] and "'A'" in ss.notes[0]


# ----------------------------------------------------------------------------------------- in-plane rule

def test_box_mask_has_the_analytic_voxel_count(tmp_path):
    # Edges between voxel centres: x in [-10.3, 10.3] holds the 21 centres -10..10 (1 mm grid), y in
    # [-5.7, 7.2] the 6 centres -4.5..7.0 of a 2.5 mm grid starting at -7; planes 0..12 mm every 3 mm cover
    # z in [-1.5, 13.5): the 15 centres -1..13 of a 1 mm grid.
    p = _write(tmp_path / "rs.dcm", {"Box": (box_contours((-10.3, -5.7), (10.3, 7.2), PLANES_MM), "PTV")})
    shape, origin, spacing = (31, 9, 26), (-15.0, -7.0, -6.0), (1.0, 2.5, 1.0)
    mask = structure_masks(read_rtstruct(p), shape, origin, spacing)["Box"]
    x, y, z = _centres(shape, origin, spacing)
    expected = (((x >= -10.3) & (x <= 10.3))[:, None, None] & ((y >= -5.7) & (y <= 7.2))[None, :, None]
                & ((z >= -1.5) & (z < 13.5))[None, None, :])
    assert mask.sum() == 21 * 5 * 15 == expected.sum()
    assert np.array_equal(mask, expected)
    assert mask_volume_cm3(mask, spacing) == pytest.approx(21 * 5 * 15 * 2.5 / 1000, rel=1e-12)


def _cut_cell_count(x, y, centre, r_in, r_out, dx, dy):
    """Cells of the grid (centres x, y; size dx, dy) meeting the annulus r_in <= rho <= r_out about centre."""
    gx, gy = np.meshgrid(x - centre[0], y - centre[1], indexing="ij")
    near = np.hypot(np.maximum(np.abs(gx) - dx / 2, 0), np.maximum(np.abs(gy) - dy / 2, 0))
    far = np.hypot(np.abs(gx) + dx / 2, np.abs(gy) + dy / 2)
    return int(np.count_nonzero((near <= r_out) & (far >= r_in)))


def test_circle_area_within_discretisation_bound(tmp_path):
    # Bound: voxels whose cell lies wholly inside (outside) the polygon have their centre inside (outside), so
    # |N A_vox - A_polygon| <= (cells cut by the polygon) A_vox. The inscribed n-gon's edges lie in the annulus
    # r cos(pi/n) <= rho <= r, so counting cells meeting that annulus over-counts the cut cells; and
    # 0 <= pi r^2 - A_polygon = pi r^2 - (n/2) r^2 sin(2 pi / n). Hence
    # |N A_vox - pi r^2| <= (cells meeting the annulus) A_vox + pi r^2 - A_polygon.
    centre, r, n = (0.37, -0.21), 20.3, 256
    shape, origin, spacing = (51, 51), (-25.0, -25.0), (1.0, 1.0)
    m = _one_plane_mask(cylinder_contours(centre, r, [0.0], n), shape, origin, spacing, tmp_path)
    x, y, _ = _centres((*shape, 1), (*origin, 0.0), (*spacing, 1.0))
    cut = _cut_cell_count(x, y, centre, r * math.cos(math.pi / n), r, *spacing)
    deficit = math.pi * r * r - 0.5 * n * r * r * math.sin(2 * math.pi / n)
    bound = cut * 1.0 + deficit
    assert abs(m.sum() * 1.0 - math.pi * r * r) <= bound
    assert bound < 0.2 * math.pi * r * r  # the bound is informative (about 10% here)


def test_ring_has_annulus_area_and_empty_centre(tmp_path):
    centre, r_out, r_in, n = (0.3, -0.2), 25.25, 10.1, 180
    shape, origin, spacing = (61, 61), (-30.0, -30.0), (1.0, 1.0)
    outer, inner = cylinder_contours(centre, r_out, [0.0], n), cylinder_contours(centre, r_in, [0.0], n)
    m = _one_plane_mask(outer + inner, shape, origin, spacing, tmp_path)
    assert np.array_equal(m, _one_plane_mask(inner + outer, shape, origin, spacing, tmp_path, "t"))  # order-free
    x, y, _ = _centres((*shape, 1), (*origin, 0.0), (*spacing, 1.0))
    rho = np.hypot(*np.meshgrid(x - centre[0], y - centre[1], indexing="ij"))
    c = math.cos(math.pi / n)
    assert not m[rho < r_in * c].any()  # strictly inside the inner polygon: the hole
    assert m[(rho > r_in) & (rho < r_out * c)].all()  # strictly between the polygons
    assert not m[rho > r_out].any()
    cut = (_cut_cell_count(x, y, centre, r_out * c, r_out, *spacing)
           + _cut_cell_count(x, y, centre, r_in * c, r_in, *spacing))
    deficits = [math.pi * r * r - 0.5 * n * r * r * math.sin(2 * math.pi / n) for r in (r_out, r_in)]
    assert abs(m.sum() - math.pi * (r_out ** 2 - r_in ** 2)) <= cut + max(deficits)


def _crossings_inside(px, py, poly):
    """Slow reference: the even-odd crossing test of one point against one polygon (a ray towards +x)."""
    inside = False
    n = len(poly)
    for k in range(n):
        (x1, y1), (x2, y2) = poly[k][:2], poly[(k + 1) % n][:2]
        if (y1 > py) != (y2 > py) and px < x1 + (py - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def test_matches_a_pure_python_even_odd_reference(tmp_path):
    # A non-convex star, a hole inside it and an island inside the hole; vertices off the voxel centres.
    rng = np.random.default_rng(7)
    phi = np.linspace(0, 2 * np.pi, 23, endpoint=False)
    rad = np.where(np.arange(23) % 2 == 0, 18.0, 9.0) + rng.uniform(-0.4, 0.4, 23)
    star = np.column_stack([0.11 + rad * np.cos(phi), -0.13 + rad * np.sin(phi), np.zeros(23)])
    hole = cylinder_contours((1.07, 0.93), 6.3, [0.0], 12)[0]
    island = box_contours((-0.61, -1.29), (2.33, 2.71), [0.0])[0]
    contours = [star, hole, island]
    shape, origin, spacing = (45, 41), (-22.0, -20.0), (1.0, 1.0)
    m = _one_plane_mask(contours, shape, origin, spacing, tmp_path)
    x, y, _ = _centres((*shape, 1), (*origin, 0.0), (*spacing, 1.0))
    ref = np.array([[sum(_crossings_inside(xi, yj, c) for c in contours) % 2 == 1 for yj in y] for xi in x])
    assert np.array_equal(m, ref)
    assert m.sum() > 300 and not m[26, 21] and m[22, 20]  # (4, 1) mm in the hole, (0, 0) mm on the island


# ------------------------------------------------------------------------------ boundary (edge) rule

def _variants(poly):
    """The polygon from every start point, in both orientations."""
    out = []
    for p in (poly, poly[::-1]):
        out += [np.roll(p, k, axis=0) for k in range(len(p))]
    return out


def _on_z0(xy):
    return np.column_stack([np.asarray(xy, float), np.zeros(len(xy))])


@pytest.mark.parametrize("kind", ["square", "diamond", "l_shape"])
def test_edge_rule_is_independent_of_orientation_and_start(kind, tmp_path):
    # 1 mm grid, centres at the integers -7..7. Rule: a centre on the boundary counts as the point displaced
    # by (+1e-6, +1e-9) mm. Square [-5, 5]^2: the centres with -5 <= x < 5 and -5 <= y < 5, i.e. 100 = its
    # area in voxels. Diamond |x| + |y| <= 3: interior centres (|x| + |y| <= 2, 13 of them) plus the boundary
    # centres with x < 0 (5), i.e. 18 = its area 2 * 3^2.
    shapes = {"square": [(-5, -5), (5, -5), (5, 5), (-5, 5)], "diamond": [(3, 0), (0, 3), (-3, 0), (0, -3)],
              "l_shape": [(-4, -4), (4, -4), (4, 0), (0, 0), (0, 4), (-4, 4)]}
    gx, gy = np.meshgrid(np.arange(-7, 8), np.arange(-7, 8), indexing="ij")
    expected = {"square": (gx >= -5) & (gx < 5) & (gy >= -5) & (gy < 5),
                "diamond": (np.abs(gx) + np.abs(gy) <= 2) | ((np.abs(gx) + np.abs(gy) == 3) & (gx < 0)),
                "l_shape": (gx >= -4) & (gy >= -4) & (((gx < 4) & (gy < 0)) | ((gx < 0) & (gy < 4)))}[kind]
    area = {"square": 100, "diamond": 18, "l_shape": 48}[kind]
    variants = _variants(_on_z0(shapes[kind]))
    p = _write(tmp_path / "rs.dcm", {f"v{k}": ([v], "ORGAN") for k, v in enumerate(variants)})
    masks = structure_masks(read_rtstruct(p), (15, 15, 1), (-7.0, -7.0, 0.0), (1.0, 1.0, 1.0))
    for name, m in masks.items():
        assert np.array_equal(m[:, :, 0], expected), name
    assert expected.sum() == area


# ------------------------------------------------------------------------------------ contour planes

def _plane_used(mask, half_widths):
    """Per slice: the index of the plane whose square (half-width 2 + j mm) the slice shows, or -1 if empty."""
    counts = mask.sum(axis=(0, 1))
    return [-1 if c == 0 else half_widths.index(round(math.sqrt(c)) // 2) for c in counts]


@pytest.mark.parametrize("dz, z0, nz", [(1.0, -6.0, 25), (5.0, -10.0, 7), (1.5, -3.0, 13)])
def test_nearest_plane_rule(dz, z0, nz, tmp_path):
    # Plane j (z = 3 j mm) holds a square of half-width 2 + j mm (centres on a 1 mm grid from -10, so the
    # square holds (2 (2 + j))^2 of them) and identifies which plane a slice shows.
    half_widths = [2 + j for j in range(len(PLANES_MM))]
    contours = [box_contours((-h, -h), (h, h), [z])[0] for h, z in zip(half_widths, PLANES_MM, strict=True)]
    p = _write(tmp_path / "rs.dcm", {"S": (contours, "ORGAN")})
    mask = structure_masks(read_rtstruct(p), (21, 21, nz), (-10.0, -10.0, z0), (1.0, 1.0, dz))["S"]
    z = z0 + dz * np.arange(nz)
    expected = {1.0: [int(np.argmin(np.abs(PLANES_MM - zk))) if np.min(np.abs(PLANES_MM - zk)) < 1.5 else -1
                      for zk in z],
                5.0: [-1, -1, 0, 2, 3, -1, -1],  # z = -10 -5 0 5 10 15 20: 5 -> plane 6, 10 -> 9, 15 is 3 from 12
                # z = -3 ... 15 by 1.5: slabs are half-open, [-1.5, 1.5) for plane 0, ..., [10.5, 13.5) for plane 4
                1.5: [-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, -1, -1]}[dz]
    assert _plane_used(mask, half_widths) == expected


def test_single_plane_and_gaps():
    # one plane: the grid's z spacing is the slab thickness; planes 0 3 6 15 18: the gap (7.5, 13.5) is empty
    grid_z = np.arange(0.0, 21.0, 1.0)
    assert list(np.flatnonzero(slice_plane_indices([4.2], grid_z, 1.0) >= 0)) == [4]
    assert list(np.flatnonzero(slice_plane_indices([4.5], grid_z, 1.0) >= 0)) == [4]  # slab [4, 5)
    assert list(np.flatnonzero(slice_plane_indices([4.2], np.arange(0.0, 9.0, 2.0), 2.0) >= 0)) == [2]
    idx = slice_plane_indices([0.0, 3.0, 6.0, 15.0, 18.0], grid_z, 1.0)
    assert list(idx) == [0, 0, 1, 1, 1, 2, 2, 2, -1, -1, -1, -1, -1, -1, 3, 3, 3, 4, 4, 4, -1]
    assert not slice_plane_indices([], grid_z, 1.0).__ge__(0).any()


# ----------------------------------------------------------------------------- dicompyler-core agreement

def _dicompyler():
    """dicompyler-core's parser. Its 0.5.6 release imports ``read_file`` from ``pydicom.dicomio``, the alias of
    ``dcmread`` that pydicom 3 removed; the alias is restored for the import."""
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):
        pydicom.dicomio.read_file = pydicom.dcmread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its use of pydicom.pixel_data_handlers
        return importlib.import_module("dicompylercore.dicomparser")


def _uniform_rtdose(shape, origin_mm, spacing_mm, dose_gy):
    """An RT Dose (PS3.3 A.18, C.8.8.3) on the grid: columns along +x, rows along +y, frames along +z."""
    nx, ny, nz = shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = RTDoseStorage
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RTDoseStorage, generate_uid(), "RTDOSE"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.ImagePositionPatient = [float(v) for v in origin_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [float(spacing_mm[1]), float(spacing_mm[0])]  # (row spacing = dy, column spacing = dx)
    ds.Rows, ds.Columns, ds.NumberOfFrames = ny, nx, nz
    ds.GridFrameOffsetVector = [float(k * spacing_mm[2]) for k in range(nz)]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.DoseUnits, ds.DoseType, ds.DoseSummationType = "GY", "PHYSICAL", "PLAN"
    ds.DoseGridScaling = dose_gy / 1000.0
    ds.PixelData = np.full((nz, ny, nx), 1000, np.uint16).tobytes()
    return ds


def test_volumes_agree_with_dicompyler_core(tmp_path):
    # dicompyler-core's DVH volume is sum over contour planes of (dose-grid points inside by
    # matplotlib.path, XOR over the plane's contours) x pixel area x plane thickness (the smallest plane
    # spacing). With no grid point on a contour edge and z slices tiling each plane's slab, it counts the same
    # points as structure_masks, so the volumes must agree to rounding (rel 1e-9).
    dvhcalc = importlib.import_module("dicompylercore.dvhcalc")
    _dicompyler()
    ring = cylinder_contours((0.3, -0.2), 20.25, PLANES_MM) + cylinder_contours((0.3, -0.2), 8.1, PLANES_MM)
    p = _write(tmp_path / "rs.dcm", {"Box": (box_contours((-12.3, -7.6), (9.2, 15.3), PLANES_MM), "PTV"),
                                    "Ring": (ring, "ORGAN")})
    shape, origin, spacing = (61, 41, 21), (-30.0, -30.0, -3.0), (1.0, 1.5, 1.0)
    ss = read_rtstruct(p)
    masks = structure_masks(ss, shape, origin, spacing)
    dose = _uniform_rtdose(shape, origin, spacing, 2.0)
    for name, s in ss.structures.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dicompyler-core's use of deprecated pydicom modules
            dvh = dvhcalc.get_dvh(pydicom.dcmread(p), dose, s.number)
        assert dvh.volume == pytest.approx(mask_volume_cm3(masks[name], spacing), rel=1e-9), name
    assert masks["Box"].sum() == 22 * 16 * 15  # x -12..9, y -7.5..15 by 1.5 mm, z -1..13


# ----------------------------------------------------------------------------------- volumes, summary

def test_volume_and_summary_by_hand(tmp_path):
    mask = np.zeros((4, 5, 6), bool)
    mask[1:3, 0:5, 2] = True  # 10 voxels of 2 x 3 x 2.5 mm = 15 mm^3
    assert mask_volume_cm3(mask, (2.0, 3.0, 2.5)) == pytest.approx(0.15, rel=1e-12)
    p = _write(tmp_path / "rs.dcm", {"A": (box_contours((0, 0), (1, 1), [0.0]), "GTV")})
    rows = structure_summary({"A": mask}, (2.0, 3.0, 2.5), read_rtstruct(p))
    assert rows == [{"name": "A", "interpreted_type": "GTV", "voxels": 10, "volume_cm3": pytest.approx(0.15)}]
    with pytest.raises(ValueError, match="spacing_mm"):
        mask_volume_cm3(mask, (1.0, 0.0, 1.0))


# ------------------------------------------------------------------------------------------------ errors

def _set(path, seq_path, value):
    ds = pydicom.dcmread(path)
    obj = ds
    for attr in seq_path[:-1]:
        obj = obj[attr] if isinstance(attr, int) else getattr(obj, attr)
    if value is None:
        delattr(obj, seq_path[-1])
    else:
        setattr(obj, seq_path[-1], value)
    ds.save_as(path)


CONTOUR0 = ("ROIContourSequence", 0, "ContourSequence", 0)
MALFORMED = {
    "Modality (0008,0060)": [(("Modality",), "CT")],
    "SOPClassUID (0008,0016)": [(("SOPClassUID",), "1.2.840.10008.5.1.4.1.1.2")],
    "StructureSetROISequence (3006,0020)": [(("StructureSetROISequence",), None)],
    "ROIContourSequence (3006,0039)": [(("ROIContourSequence",), None)],
    "ContourData (3006,0050)": [((*CONTOUR0, "ContourData"), [0.0] * 10)],
    "NumberOfContourPoints (3006,0046)": [((*CONTOUR0, "NumberOfContourPoints"), 5)],
    "not axial": [((*CONTOUR0, "ContourData"), [0, 0, 0, 4, 0, 0, 4, 0, 3, 0, 0, 3])],
    "duplicate ROIName (3006,0026) 'A'": [(("StructureSetROISequence", 1, "ROIName"), "A")],
    "ROINumber (3006,0022) 1 is used twice": [(("StructureSetROISequence", 1, "ROINumber"), 1)],
    "ReferencedROINumber (3006,0084) 7": [(("ROIContourSequence", 1, "ReferencedROINumber"), 7)],
}


@pytest.mark.parametrize("expected", list(MALFORMED))
def test_malformed_rtstruct_raises_one_line_error(expected, tmp_path):
    p = _write(tmp_path / "bad.dcm", {"A": (box_contours((0, 0), (4, 4), [0.0, 3.0]), "ORGAN"),
                                     "B": (box_contours((5, 5), (9, 9), [0.0]), "ORGAN")})
    for seq_path, value in MALFORMED[expected]:
        _set(p, seq_path, value)
    with pytest.raises(ValueError) as err:
        read_rtstruct(p)
    msg = str(err.value)
    assert "\n" not in msg and "bad.dcm" in msg and expected in msg


def test_non_finite_contour_data_and_unreadable_files(tmp_path):
    p = _write(tmp_path / "nan.dcm", {"A": (box_contours((0, 0), (4, 4), [0.0]), "ORGAN")})
    ds = pydicom.dcmread(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns that 'NaN' is not a valid DS value, as intended here
        ds.ROIContourSequence[0].ContourSequence[0].ContourData = ["NaN"] + ["0"] * 11
        ds.save_as(p, enforce_file_format=True)
    for path, text in ((p, r"ContourData \(3006,0050\) holds NaN"), (tmp_path / "none.dcm", "not found")):
        with pytest.raises(ValueError, match=text):
            read_rtstruct(path)
    txt = tmp_path / "notes.txt"
    txt.write_text("not DICOM")
    with pytest.raises(ValueError, match="notes.txt: not a readable DICOM file"):
        read_rtstruct(txt)


def test_mask_and_writer_argument_errors(tmp_path):
    p = _write(tmp_path / "rs.dcm", {"PTV": (box_contours((0, 0), (4, 4), [0.0]), "PTV"),
                                    "Body": (box_contours((-9, -9), (9, 9), [0.0]), "EXTERNAL")})
    ss = read_rtstruct(p)
    with pytest.raises(ValueError, match=r"unknown structure name\(s\) \['Lung'\].*\['PTV', 'Body'\]"):
        structure_masks(ss, (4, 4, 4), (0, 0, 0), (1, 1, 1), names=["PTV", "Lung"])
    for args, field in ((((4, 4), (0, 0, 0), (1, 1, 1)), "shape"), (((4, 4, 4), (0, 0), (1, 1, 1)), "origin_mm"),
                        (((4, 4, 4), (0, 0, 0), (1, -1, 1)), "spacing_mm")):
        with pytest.raises(ValueError, match=field):
            structure_masks(ss, *args)
    tilted = np.array([[0, 0, 0], [4, 0, 0], [4, 4, 2.0]])
    for structures, text in (({"X": ([tilted], "PTV")}, "not axial"), ({"X": ([tilted[:, :2]], "PTV")}, r"\(N, 3\)"),
                             ({"X": [tilted]}, "must be \\(contours, interpreted type")):
        with pytest.raises(ValueError, match=text):
            _write(tmp_path / "w.dcm", structures)
    with pytest.raises(ValueError, match="hi > lo"):
        box_contours((0, 0), (0, 4), [0.0])
    with pytest.raises(ValueError, match="radius_mm > 0"):
        cylinder_contours((0, 0), -1.0, [0.0])


def test_contour_data_that_is_not_a_number(tmp_path):
    # a coordinate written as 123.456 mm, then one character of its text spoiled in the file
    p = str(tmp_path / "s.dcm")
    contour = np.array([[123.456, 0.0, 0.0], [130.0, 0.0, 0.0], [130.0, 5.0, 0.0]])
    write_rtstruct(p, {"A": ([contour], "ORGAN")}, frame_of_reference_uid="1.2.3", study_instance_uid="1.2.4")
    assert np.allclose(read_rtstruct(p).structures["A"].contours[0], contour)
    raw = open(p, "rb").read()
    assert raw.count(b"123.456") == 1
    with open(p, "wb") as f:
        f.write(raw.replace(b"123.456", b"12x.456"))
    with pytest.raises(ValueError, match=r"ContourData \(3006,0050\) holds a value that is not a number") as info:
        read_rtstruct(p)
    assert "\n" not in str(info.value) and "s.dcm" in str(info.value)
