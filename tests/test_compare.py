"""Plan comparison (mc/compare.py) and its HTML report (mc/report.py), against hand computations, direct
pymedphys.gamma calls and dicompyler-core's DVH of the same RT Dose + RTSTRUCT files."""

import base64
import importlib
import json
import math
import re
import warnings

import h5py
import numpy as np
import pydicom
import pytest
from scipy.special import erf, erfc

from geometry.structures import box_contours, cylinder_contours, write_rtstruct
from mc import compare as cmp
from mc import dose_volume
from mc.dicom_out import write_rt_dose
from mc.errors import ConfigError
from mc.report import PANELS

FOR = "1.2.826.0.1.3680043.8.498.1"
STUDY = "1.2.826.0.1.3680043.8.498.2"


def _axes(shape, origin, spacing):
    return tuple(origin[k] + spacing[k] * np.arange(shape[k]) for k in range(3))


def _rtdose(path, dose, origin, spacing, frame=FOR):
    return str(write_rt_dose(path, dose, origin, spacing, frame_of_reference_uid=frame, study_instance_uid=STUDY))


def _h5(path, dose, origin, spacing, std=None):
    with h5py.File(path, "w") as f:
        for name, arr in (("dose", dose), ("dose_std", std)):
            if arr is not None:
                ds = f.create_dataset(name, data=arr.astype(np.float32))
                ds.attrs["origin_mm"], ds.attrs["spacing_mm"] = np.asarray(origin), np.asarray(spacing)
        f.attrs["created"] = "2024-01-01T00:00:00"
    return str(path)


def _profile_x(values, ny=4, nz=4):
    """A dose varying along x only (values per x column), uniform along y and z."""
    return np.broadcast_to(np.asarray(values, float)[:, None, None], (len(values), ny, nz)).copy()


# --------------------------------------------------------------------------------------------------- gamma

def test_identical_doses_pass_everywhere():
    shape, origin, spacing = (20, 12, 8), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0)
    x, y, z = np.meshgrid(*_axes(shape, origin, spacing), indexing="ij")
    dose = 2.0 * np.exp(-((x - 20) ** 2 + (y - 12) ** 2 + (z - 8) ** 2) / 200.0)
    for pct, dta in cmp.GAMMA_CRITERIA:
        for local in (False, True):
            g = cmp.gamma_index(_axes(shape, origin, spacing), dose, dose, pct, dta, local=local)
            assert cmp.pass_rate_percent(g) == 100.0
            assert np.nanmax(g) == 0.0
            # the cut-off excludes exactly the voxels below 10 % of the maximum
            assert np.isnan(g).sum() == np.sum(dose < 0.1 * dose.max())


def test_one_mm_shift_of_an_erf_edge_passes_1mm_but_fails_dose_difference():
    # B(x) = A(x - 1 mm): each reference point finds its own dose 1 mm away, so gamma <= 1 at every voxel
    # (Low et al. 1998, Eq. 4); the dose difference on the grid, up to 2 Gy x [erf(1/3) - erf(0)] / 2 x 2
    # = erf(1/3) Gy = 0.363 Gy (x = 20 and 21 mm) = 18 % of the maximum, fails a 1 % criterion alone.
    x = np.arange(40) * 1.0
    a = _profile_x(2.0 * 0.5 * erfc((x - 20.0) / 3.0))
    b = _profile_x(2.0 * 0.5 * erfc((x - 21.0) / 3.0))
    axes = _axes(a.shape, (0, 0, 0), (1, 1, 1))
    g = cmp.gamma_index(axes, a, b, 1.0, 1.0, cutoff_percent=10)
    above = a >= 0.2
    assert np.all(np.isfinite(g[above])) and np.nanmax(g) <= 1.0 + 1e-9
    dd_fail = np.abs(b - a)[above] > 0.01 * a.max()
    assert dd_fail.mean() > 0.3  # most of the edge's above-cut-off voxels exceed 1 % in dose alone
    assert np.max(np.abs(b - a)) == pytest.approx(erf(1.0 / 3.0), rel=1e-12)


def test_two_percent_scaling_fails_flat_high_dose_at_1mm_and_passes_3mm():
    # Profile along x [Gy]: 0 (below the cut-off), a 0.5 Gy plateau, a ramp of 0.5 Gy/mm, a 2 Gy plateau of
    # 10 voxels, the ramp down, 0.5 Gy. B = 1.02 A. By hand (global 1 %/1 mm, 1 % = 0.02 Gy):
    #  - 0.5 Gy plateaus: |B - A| = 0.01 Gy -> gamma <= 0.5, pass;
    #  - ramp voxels (1.0, 1.5 Gy): B equals A's dose 0.02 D / (1.02 x 0.5) <= 0.06 mm away: pass;
    #  - the 2 Gy voxel next to a ramp: B = 2.0 Gy at 0.078 mm on the ramp: pass;
    #  - the 8 inner 2 Gy voxels: B = 2.04 Gy (gamma 2) within 1 mm, the ramp starts 1 mm away and B
    #    reaches 2.0 Gy only 1.078 mm away: min gamma ~ 1.08 > 1, fail.
    # Expected pass rate: (26 - 8) / 26 above-cut-off columns = 69.23 %; at 3 %/3 mm |B - A| <= 2 % passes all.
    prof = [0] * 4 + [0.5] * 6 + [1.0, 1.5] + [2.0] * 10 + [1.5, 1.0] + [0.5] * 6 + [0] * 2
    a = _profile_x(prof)
    axes = _axes(a.shape, (0, 0, 0), (1, 1, 1))
    rate_1 = cmp.pass_rate_percent(cmp.gamma_index(axes, a, 1.02 * a, 1.0, 1.0))
    rate_3 = cmp.pass_rate_percent(cmp.gamma_index(axes, a, 1.02 * a, 3.0, 3.0))
    assert rate_1 == pytest.approx(100.0 * 18 / 26, abs=1e-9)
    assert rate_3 == 100.0


@pytest.mark.parametrize("case", ["scaled_shifted", "other_grid", "cutoff_20"])
def test_wrapper_agrees_with_direct_pymedphys(tmp_path, case):
    import pymedphys

    shape, origin, spacing = (16, 16, 8), (-15.0, -15.0, -7.0), (2.0, 2.0, 2.0)
    axes_a = _axes(shape, origin, spacing)

    def field(axes, scale=1.0, shift=0.0):
        x, y, z = np.meshgrid(*axes, indexing="ij")
        return scale * 2.0 * np.exp(-((x - shift) ** 2 / 60.0 + y ** 2 / 50.0 + z ** 2 / 20.0))

    cutoff = 20.0 if case == "cutoff_20" else 10.0
    if case == "other_grid":  # B on a grid offset by half a voxel, covering A
        axes_b = _axes((17, 17, 9), (-16.0, -16.0, -8.0), (2.0, 2.0, 2.0))
        b_native = field(axes_b, 1.03, 2.0)
    else:
        axes_b, b_native = axes_a, field(axes_a, 1.03, 2.0)
    a = field(axes_a)
    pa, pb = _rtdose(tmp_path / "a.dcm", a, origin, spacing), _rtdose(tmp_path / "b.dcm", b_native,
                                                                      [v[0] for v in axes_b], [v[1] - v[0] for v in axes_b])
    comp = cmp.compare(pa, pb, cutoff_percent=cutoff, criteria=((2.0, 2.0),), map_criterion=(2.0, 2.0), local=False,
                       interp_fraction=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = pymedphys.gamma(axes_a, a, axes_b, b_native, 2.0, 2.0, lower_percent_dose_cutoff=cutoff,
                            interp_fraction=5, max_gamma=2.0, quiet=True)
    direct = 100.0 * np.sum(g[np.isfinite(g)] <= 1) / np.isfinite(g).sum()
    # the wrapper hands pymedphys the same arrays: the same pass rate (0.5 % is the bound)
    assert comp.gamma["global"]["2%/2mm"] == pytest.approx(direct, abs=1e-9)
    assert 5.0 < direct < 99.9  # a case that tests something (not all passing or failing)
    # a criterion other than the map's is searched only up to gamma = 1.001: the same pass rate
    fast = cmp.compare(pa, pb, cutoff_percent=cutoff, criteria=((2.0, 2.0),), map_criterion=(1.0, 1.0), local=False,
                       interp_fraction=5)
    assert fast.gamma["global"]["2%/2mm"] == pytest.approx(direct, abs=1e-9)


# ------------------------------------------------------------------------------------------------ resampling

def test_trilinear_resampling_reproduces_a_linear_field_and_marks_outside():
    axes_b = _axes((10, 8, 6), (-9.0, -7.0, -5.0), (2.0, 2.5, 3.0))
    axes_a = _axes((12, 10, 7), (-10.3, -6.1, -4.4), (1.5, 1.7, 2.2))

    def lin(axes):
        x, y, z = np.meshgrid(*axes, indexing="ij")
        return 1.0 + 0.1 * x - 0.2 * y + 0.3 * z

    out = dose_volume.resample_to(lin(axes_b), axes_b, axes_a)
    inside = np.ones(out.shape, bool)
    for k in range(3):
        outside_k = (axes_a[k] < axes_b[k][0]) | (axes_a[k] > axes_b[k][-1])
        idx = [slice(None)] * 3
        idx[k] = outside_k
        inside[tuple(idx)] = False
    assert not inside.all() and inside.any()
    np.testing.assert_allclose(out[inside], lin(axes_a)[inside], rtol=0, atol=1e-12)
    assert np.all(np.isnan(out[~inside]))


# ------------------------------------------------------------------------------------------------------- DVH

def test_dose_at_volume_by_hand():
    d = np.arange(1, 101, dtype=float)  # 100 voxels of 1..100 Gy
    assert dose_volume.dose_at_volume_gy(d, 2) == 99.0  # the hottest 2 voxels: 100, 99
    assert dose_volume.dose_at_volume_gy(d, 50) == 51.0
    assert dose_volume.dose_at_volume_gy(d, 98) == 3.0
    m = cmp.dvh_metrics(d.reshape(10, 10, 1), np.ones((10, 10, 1), bool), (2, 2, 2), prescription_gy=80.0)
    assert m["Dmean_Gy"] == 50.5 and m["V95_percent"] == 25.0  # >= 76 Gy: 76..100
    assert m["volume_cm3"] == pytest.approx(0.8)


def _dicompyler_dvhcalc():
    import pydicom.dicomio

    if not hasattr(pydicom.dicomio, "read_file"):
        pydicom.dicomio.read_file = pydicom.dcmread
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module("dicompylercore.dvhcalc")


def test_dvh_metrics_agree_with_dicompyler_core(tmp_path):
    # Contours on every dose plane: dicompyler-core counts the dose-grid points inside each plane's contours
    # times the plane thickness, the voxels of structure_masks, so the voxel sets are the same; its DVH has
    # 1 cGy bins (D_x to a bin, Dmean from bin centres), 0.02 % of the ~60 Gy doses here: 1 % must hold.
    dvhcalc = _dicompyler_dvhcalc()
    shape, origin, spacing = (41, 41, 13), (-40.0, -40.0, -12.0), (2.0, 2.0, 2.0)
    x, y, z = np.meshgrid(*_axes(shape, origin, spacing), indexing="ij")
    dose = 60.0 * np.exp(-(x ** 2 + (y - 3) ** 2) / 900.0 - z ** 2 / 400.0) + 0.05 * x + 5.0
    planes = list(origin[2] + spacing[2] * np.arange(1, shape[2] - 1))
    rs = write_rtstruct(tmp_path / "rs.dcm", {"PTV": (cylinder_contours((1.3, 2.1), 15.2, planes), "PTV"),
                                             "Box": (box_contours((-31.0, -11.0), (9.0, 29.0), planes), "ORGAN")},
                        frame_of_reference_uid=FOR, study_instance_uid=STUDY)
    pa = _rtdose(tmp_path / "a.dcm", dose, origin, spacing)
    comp = cmp.compare(pa, pa, structures_path=rs, criteria=((3.0, 3.0),), map_criterion=(3.0, 3.0), local=False,
                       interp_fraction=2)
    assert comp.prescription_source == "D50 of A in the target 'PTV'"
    ds_rs = pydicom.dcmread(rs)
    for number, name in ((1, "PTV"), (2, "Box")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dvh = dvhcalc.get_dvh(ds_rs, pydicom.dcmread(pa), number)
        ours = comp.structures[name]["A"]
        assert ours["volume_cm3"] == pytest.approx(dvh.volume, rel=1e-6), name
        for x in cmp.DVH_LEVELS_PERCENT:
            assert ours[f"D{x}_Gy"] == pytest.approx(dvh.statistic(f"D{x}").value, rel=0.01), (name, x)
        assert ours["Dmean_Gy"] == pytest.approx(dvh.mean, rel=0.01), name
        v95 = dvh.relative_volume.volume_constraint(0.95 * comp.prescription_gy, dose_units="Gy").value
        assert ours["V95_percent"] == pytest.approx(v95, abs=1.0), name


# ------------------------------------------------------------------------------------------- CLI, JSON, report

def _small_pair(tmp_path, with_std=True):
    shape, origin, spacing = (16, 14, 8), (-15.0, -13.0, -7.0), (2.0, 2.0, 2.0)
    x, y, z = np.meshgrid(*_axes(shape, origin, spacing), indexing="ij")
    a = 2.0 * np.exp(-(x ** 2 + y ** 2 + z ** 2) / 150.0)
    pa = _rtdose(tmp_path / "a.dcm", a, origin, spacing)
    pb = _h5(tmp_path / "b.h5", 1.01 * a, origin, spacing, std=0.01 * a if with_std else None)
    rs = str(write_rtstruct(tmp_path / "rs.dcm", {"PTV": (box_contours((-6, -6), (6, 6), [-4.0, -2.0, 0.0, 2.0, 4.0]),
                                                          "PTV")}, frame_of_reference_uid=FOR, study_instance_uid=STUDY))
    return pa, pb, rs, a


def test_json_schema_and_report_content(tmp_path):
    pa, pb, rs, _ = _small_pair(tmp_path)
    out = tmp_path / "c.json"
    rep = tmp_path / "report"
    assert cmp.main([pa, pb, "--structures", rs, "--json", str(out), "--report", str(rep), "--no-local",
                     "--interp-fraction", "3"]) == 0
    s = json.loads(out.read_text())
    assert set(s["gamma"]) == {"3%/3mm", "2%/2mm", "1%/1mm"}
    assert all(0.0 <= v <= 100.0 for v in s["gamma"].values())
    assert s["gamma"]["3%/3mm"] == 100.0  # |B - A| = 1 % of A everywhere
    ptv = s["structures"]["PTV"]
    assert set(ptv) >= {"D98_Gy", "D95_Gy", "D50_Gy", "D2_Gy", "Dmean_Gy", "V95_percent", "volume_cm3", "evaluated"}
    assert ptv["evaluated"]["D50_Gy"] == pytest.approx(1.01 * ptv["D50_Gy"], rel=1e-6)  # float32 HDF5 storage
    assert s["gamma_settings"]["reference"] == "A" and s["gamma_settings"]["low_dose_cutoff_percent"] == 10.0
    # |B - A| = 0.01 A against 2 sd = 0.02 A: every voxel above the cut-off is within 2 s.d.
    assert s["within_2sd_percent"] == 100.0
    html_text = (rep / "report.html").read_text()
    for name, fname in PANELS.items():
        m = re.search(f"id='panel-{name}' alt='{name}' src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html_text)
        assert m, name
        png = base64.b64decode(m.group(1), validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == (rep / fname).read_bytes()
    assert f"{s['gamma']['1%/1mm']:.2f}" in html_text and f"{ptv['D95_Gy']:.3f}" in html_text
    assert FOR in html_text and "a.dcm" in html_text and "b.h5" in html_text
    assert "within 2 combined MC standard deviations: 100.00 %" in html_text
    assert "src='http" not in html_text and "<link" not in html_text  # self-contained


def _error_of(capsys, argv):
    assert cmp.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    pa, pb, rs, a = _small_pair(tmp_path, with_std=False)
    assert "file not found" in _error_of(capsys, [str(tmp_path / "missing.dcm"), pb])
    (tmp_path / "notes.txt").write_text("not a dose")
    assert "cannot be read as a DICOM file" in _error_of(capsys, [pa, str(tmp_path / "notes.txt")])
    assert "not RTDOSE" in _error_of(capsys, [pa, rs])  # an RTSTRUCT given as a dose
    far = _rtdose(tmp_path / "far.dcm", a, (500.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    assert "does not overlap" in _error_of(capsys, [pa, far])
    other = _rtdose(tmp_path / "other.dcm", a, (-15.0, -13.0, -7.0), (2.0, 2.0, 2.0), frame="1.2.3.4")
    assert "FrameOfReferenceUID (0020,0052)" in _error_of(capsys, [pa, other])
    rs_other = str(write_rtstruct(tmp_path / "rs2.dcm", {"PTV": (box_contours((-6, -6), (6, 6), [0.0]), "PTV")},
                                  frame_of_reference_uid="1.2.3.4", study_instance_uid=STUDY))
    err = _error_of(capsys, [pa, pb, "--structures", rs_other])
    assert "FrameOfReferenceUID (0020,0052)" in err and "structure set" in err
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_dataset("x", data=[1])
    assert "without a /dose dataset" in _error_of(capsys, [pa, str(tmp_path / "empty.h5")])
    assert "--map-criterion" in _error_of(capsys, [pa, pb, "--map-criterion", "1"])
    with pytest.raises(ConfigError, match="zero"):
        cmp.gamma_index(_axes((3, 3, 3), (0, 0, 0), (1, 1, 1)), np.zeros((3, 3, 3)), np.ones((3, 3, 3)), 1, 1)
    # options outside their meaning
    assert "--cutoff-percent" in _error_of(capsys, [pa, pb, "--cutoff-percent", "150"])
    assert "--interp-fraction" in _error_of(capsys, [pa, pb, "--interp-fraction", "0"])
    assert "--prescription-Gy" in _error_of(capsys, [pa, pb, "--prescription-Gy", "-1"])
    assert "--map-criterion" in _error_of(capsys, [pa, pb, "--map-criterion", "nan,1"])
    # malformed flashmc HDF5 inputs
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        d = f.create_dataset("dose", data=np.ones((4, 4)))
        d.attrs["origin_mm"], d.attrs["spacing_mm"] = [0.0, 0.0, 0.0], [2.0, 2.0, 2.0]
    assert "/dose has shape (4, 4); it must be 3-D" in _error_of(capsys, [pa, str(tmp_path / "flat.h5")])
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        d = f.create_dataset("dose", data=np.full((4, 4, 4), np.nan))
        d.attrs["origin_mm"], d.attrs["spacing_mm"] = [0.0, 0.0, 0.0], [2.0, 2.0, 2.0]
    assert "NaN" in _error_of(capsys, [pa, str(tmp_path / "nan.h5")])
    with h5py.File(tmp_path / "mask.h5", "w") as f:
        d = f.create_dataset("dose", data=np.ones((4, 4, 4)))
        d.attrs["origin_mm"], d.attrs["spacing_mm"] = [0.0, 0.0, 0.0], [2.0, 2.0, 2.0]
        f.create_dataset("structures/PTV", data=np.ones((3, 4, 4), np.uint8))
    assert "/structures/PTV has shape (3, 4, 4)" in _error_of(capsys, [str(tmp_path / "mask.h5"), pa])
    with h5py.File(tmp_path / "spacing.h5", "w") as f:
        d = f.create_dataset("dose", data=np.ones((4, 4, 4)))
        d.attrs["origin_mm"], d.attrs["spacing_mm"] = [0.0, 0.0, 0.0], [2.0, 0.0, 2.0]
    assert "spacing_mm must be 3 finite positive" in _error_of(capsys, [pa, str(tmp_path / "spacing.h5")])
    assert "without a /dose_rbe/x dataset" in _error_of(capsys, [pa, pb, "--hdf5-dose", "dose_rbe/x"])


def test_partial_overlap_is_excluded_and_stated(tmp_path):
    pa, _, _, a = _small_pair(tmp_path, with_std=False)
    half = _rtdose(tmp_path / "half.dcm", a[8:], (1.0, -13.0, -7.0), (2.0, 2.0, 2.0))
    comp = cmp.compare(pa, half, criteria=((3.0, 3.0),), map_criterion=(3.0, 3.0), local=False, interp_fraction=3)
    assert np.isnan(comp.evaluated_on_reference_gy[:8]).all() and not np.isnan(comp.evaluated_on_reference_gy[8:]).any()
    assert any(f"{8 * 14 * 8} of A's {a.size} voxels lie outside B's grid" in n for n in comp.notes)
    assert np.isnan(comp.gamma_maps["3%/3mm"][:8]).all()
    assert comp.gamma["global"]["3%/3mm"] == 100.0
    assert math.isfinite(cmp.to_json(comp)["max_abs_difference_Gy"])
    # A's and B's DVHs count the same voxels: those of A's grid inside B's
    for s in comp.structures.values():
        if s["A"] is not None:
            assert s["A"]["volume_cm3"] == s["B"]["volume_cm3"]


def test_report_renders_in_headless_chromium(tmp_path):
    """The report drawn by a real browser (Debian's chromium, when installed: CI has none) shows
    every panel: the DOM after loading holds each panel's image, decoded to its PNG's size."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    from benchmarks.report_screenshot import _make

    html_path = _make(str(tmp_path))
    probe = ("<script>window.onload=()=>{document.title=[...document.images].map(i=>i.id+':'+i.naturalWidth)"
             ".join(',')}</script>")
    text = open(html_path, encoding="utf-8").read().replace("</body>", probe + "</body>")
    page = tmp_path / "probe.html"
    page.write_text(text, encoding="utf-8")
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    widths = dict(item.split(":") for item in title.split(","))
    for name in ("slices", "gamma", "dvh", "difference"):
        assert int(widths[f"panel-{name}"]) > 100, name
