"""Cumulative EQD2/BED of courses (mc.reirradiation): hand values through the whole CLI, metrics,
pass/fail at the limit, resampling, recovery, outputs, JSON report and every bad input."""

import json
import math

import h5py
import numpy as np
import pytest
import yaml
from pydicom.uid import generate_uid

from geometry.structures import box_contours, write_rtstruct
from mc.dicom_out import read_rt_dose, write_rt_dose
from mc.dose_volume import resample_trilinear
from mc.errors import ConfigError
from mc.reirradiation import (
    REPORT_SCHEMA,
    ConstraintConfig,
    constraint_result,
    dose_metric_gy,
    main,
)

SHAPE, ORIGIN, SPACING = (10, 10, 6), (-9.0, -9.0, -5.0), (2.0, 2.0, 2.0)
# the "Cord" box holds voxel centres x, y in {-3, -1, 1, 3}, z in {-3, -1, 1}: 4 x 4 x 3 voxels of 8 mm^3
CORD = box_contours((-4.0, -4.0), (4.0, 4.0), [-3.0, -1.0, 1.0])


@pytest.fixture
def case(tmp_path):
    """Writer of courses, RTSTRUCT and config in tmp_path; returns a dict of helpers."""
    frame, study = generate_uid(), generate_uid()
    write_rtstruct(tmp_path / "rs.dcm", {"Cord": (CORD, "ORGAN")}, frame_of_reference_uid=frame,
                   study_instance_uid=study)

    def dose(name, values, origin=ORIGIN, spacing=SPACING, shape=SHAPE, for_uid=None, **kw):
        arr = np.broadcast_to(np.asarray(values, float), shape) if np.ndim(values) == 0 else values
        write_rt_dose(tmp_path / name, arr, origin, spacing, frame_of_reference_uid=for_uid or frame,
                      study_instance_uid=study, **kw)
        return name

    def config(courses, constraints, **extra):
        data = {"courses": courses, "structures_file": "rs.dcm", "constraints": constraints,
                "output": {"rt_dose_file": "out/eqd2.dcm", "hdf5_file": "out/eqd2.h5"}, **extra}
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
        return str(tmp_path / "c.yaml")

    def run(cfg_path, capsys=None):
        status = main([cfg_path, "--json", str(tmp_path / "r.json")])
        report = json.loads((tmp_path / "r.json").read_text()) if status in (0, 1) else None
        return status, report

    return {"dose": dose, "config": config, "run": run, "dir": tmp_path, "frame": frame}


def _value(report, name):
    return next(r for r in report["constraints"] if r["name"] == name)


def test_two_courses_hand_values(case):
    # 8 Gy x 1 then 20 Gy / 5, uniform: EQD2 at a/b 2 = 20 + 30 = 50 Gy; at a/b 10 = 12 + 23.333 Gy
    c1, c2 = case["dose"]("c1.dcm", 8.0), case["dose"]("c2.dcm", 20.0)
    cfg = case["config"](
        [{"name": "first", "dose_file": c1, "fractions": 1}, {"name": "second", "dose_file": c2, "fractions": 5}],
        {"cord_eqd2": {"structure": "Cord", "metric": "Dmax", "EQD2_max_Gy": 60},
         "cord_bed": {"structure": "Cord", "metric": "D0.03cc", "BED_max_Gy": 90}},
        alpha_beta_Gy={"default": 10, "structures": {"Cord": "spinal_cord"}})
    status, report = case["run"](cfg)
    assert status == 1  # the BED constraint (100 Gy > 90 Gy) fails
    eqd2, bed = _value(report, "cord_eqd2"), _value(report, "cord_bed")
    assert eqd2["value_Gy"] == pytest.approx(50.0, rel=1e-8) and eqd2["pass"] and eqd2["alpha_beta_Gy"] == 2.0
    assert eqd2["margin_Gy"] == pytest.approx(10.0, rel=1e-7)
    assert eqd2["per_course_Gy"] == pytest.approx({"first": 20.0, "second": 30.0}, rel=1e-8)
    assert bed["value_Gy"] == pytest.approx(100.0, rel=1e-8) and not bed["pass"]
    assert bed["margin_Gy"] == pytest.approx(-10.0, rel=1e-7)
    # the map is written at the default a/b (10 Gy): 12 + 23.333 Gy everywhere
    rt = read_rt_dose(case["dir"] / "out/eqd2.dcm")
    np.testing.assert_allclose(rt.dose_gy, 12.0 + 70.0 / 3.0, rtol=1e-8)
    assert "EQD2" in rt.dose_comment and "alpha/beta 10 Gy" in rt.dose_comment
    assert rt.dose_type == "EFFECTIVE" and rt.frame_of_reference_uid == case["frame"]
    with h5py.File(case["dir"] / "out/eqd2.h5", "r") as f:
        np.testing.assert_allclose(f["eqd2"][...], 12.0 + 70.0 / 3.0, rtol=1e-8)
        np.testing.assert_allclose(f["bed"][...], 14.4 + 28.0, rtol=1e-8)
        np.testing.assert_allclose(f["eqd2"].attrs["origin_mm"], ORIGIN)
        assert int(f["structures/Cord"][...].sum()) == 48


def test_single_course_sbrt_bed10(case):
    # 24 Gy / 2 at a/b 10: BED10 = 24 (1 + 12/10) = 52.8 Gy
    c = case["dose"]("c.dcm", 24.0)
    cfg = case["config"]([{"name": "sbrt", "dose_file": c, "fractions": 2}],
                         {"t": {"structure": "Cord", "BED_max_Gy": 60}},
                         alpha_beta_Gy={"structures": {"Cord": "tumour"}})
    status, report = case["run"](cfg)
    assert status == 0 and _value(report, "t")["value_Gy"] == pytest.approx(52.8, rel=1e-8)


def test_json_schema(case):
    c = case["dose"]("c.dcm", 8.0)
    status, report = case["run"](case["config"]([{"name": "one", "dose_file": c, "fractions": 1}],
                                                {"k": {"structure": "Cord", "EQD2_max_Gy": 20.5}}))
    assert status == 0 and report["schema"] == REPORT_SCHEMA and report["all_pass"] is True
    assert set(report) >= {"schema", "courses", "reference_grid", "map_alpha_beta_Gy", "structures", "constraints",
                           "all_pass", "conventions", "files"}
    row = report["constraints"][0]
    assert set(row) == {"name", "structure", "course", "alpha_beta_Gy", "metric", "quantity", "value_Gy", "limit_Gy",
                        "margin_Gy", "pass", "per_course_Gy"}
    assert row["quantity"] == "EQD2" and row["metric"] == "Dmax" and row["limit_Gy"] == 20.5
    course = report["courses"][0]
    assert course["kind"] == "rtdose" and "PHYSICAL" in course["dose_used"] and course["bed_factor"] == 1.0
    assert report["structures"]["Cord"]["volume_cm3"] == pytest.approx(48 * 0.008)


def test_pass_fail_flips_at_the_limit():
    cons = ConstraintConfig(structure="Cord", EQD2_max_Gy=50.0)
    assert constraint_result("c", cons, 2.0, 50.0, {})["pass"] is True  # equal to the limit passes
    assert constraint_result("c", cons, 2.0, 50.0, {})["margin_Gy"] == 0.0
    assert constraint_result("c", cons, 2.0, math.nextafter(50.0, 100.0), {})["pass"] is False
    assert constraint_result("c", cons, 2.0, math.nextafter(50.0, 0.0), {})["pass"] is True


def test_metrics_hottest_volume():
    values = np.arange(1.0, 11.0)  # 10 voxels of 0.008 cm^3, hottest 10 Gy
    assert dose_metric_gy(values, "Dmax", 0.008) == 10.0
    assert dose_metric_gy(values, "D0.03cc", 0.008) == 7.0  # ceil(0.03/0.008) = 4th hottest
    assert dose_metric_gy(values, "D0.016cc", 0.008) == 9.0  # exactly 2 voxels
    assert dose_metric_gy(values, "D0.001cc", 0.008) == 10.0  # less than one voxel: the hottest
    with pytest.raises(ValueError, match="needs 2 cm"):
        dose_metric_gy(values, "D2cc", 0.008)


def test_trilinear_resampling_reproduces_a_linear_field():
    def field(x, y, z):
        return 3.0 + 0.5 * x - 0.25 * y + 0.1 * z

    o, s, n = np.array([-10.0, -8.0, -6.0]), np.array([2.5, 2.0, 3.0]), (9, 9, 5)
    axes = [o[a] + s[a] * np.arange(n[a]) for a in range(3)]
    dose = field(*np.meshgrid(*axes, indexing="ij"))
    ro, rs, rn = np.array([-7.3, -5.1, -4.2]), np.array([1.7, 1.3, 1.1]), (6, 7, 8)
    shift = np.eye(4)
    shift[:3, 3] = [1.0, -0.5, 0.25]  # course point p -> reference point p + t
    out, inside = resample_trilinear(dose, o, s, rn, ro, rs, shift)
    rx = [ro[a] + rs[a] * np.arange(rn[a]) for a in range(3)]
    X, Y, Z = np.meshgrid(*rx, indexing="ij")
    assert inside == out.size
    np.testing.assert_allclose(out, field(X - 1.0, Y + 0.5, Z - 0.25), atol=1e-12)
    far, inside = resample_trilinear(dose, o + 500.0, s, rn, ro, rs)
    assert inside == 0 and not far.any()


def test_different_grids_and_recovery(case):
    # course 2 (20 Gy / 5) on a coarser, shifted grid covering the cord: uniform, so resampling keeps 20 Gy;
    # course 1 recovered 50 % (12 months): BED2 = 0.5 x 40 + 60 = 80 Gy, EQD2 = 40 Gy
    c1 = case["dose"]("c1.dcm", 8.0)
    c2 = case["dose"]("c2.dcm", 20.0, origin=(-12.0, -12.0, -8.0), spacing=(3.0, 3.0, 4.0), shape=(9, 9, 5))
    cfg = case["config"](
        [{"name": "a", "dose_file": c1, "fractions": 1,
          "recovery": {"model": "stepwise_6_12_months", "months_elapsed": 12}},
         {"name": "b", "dose_file": c2, "fractions": 5}],
        {"k": {"structure": "Cord", "EQD2_max_Gy": 40}})
    status, report = case["run"](cfg)
    assert status == 0 and _value(report, "k")["value_Gy"] == pytest.approx(40.0, rel=1e-8)
    assert report["courses"][0]["bed_factor"] == 0.5 and report["courses"][1]["resampled"] is True


def test_flashmc_hdf5_course(case):
    path = case["dir"] / "mc.h5"
    with h5py.File(path, "w") as f:
        for key, value in (("dose", 10.0), ("dose_rbe/mcnamara", 12.0)):
            ds = f.create_dataset(key, data=np.full(SHAPE, value))
            ds.attrs["origin_mm"], ds.attrs["spacing_mm"] = ORIGIN, SPACING
    cons = {"k": {"structure": "Cord", "BED_max_Gy": 100}}
    status, report = case["run"](case["config"]([{"name": "p", "dose_file": "mc.h5", "fractions": 1,
                                                  "rbe": "constant_1.1"}], cons))
    # 11 Gy x 1 at a/b 2: BED = 11 (1 + 5.5) = 71.5 Gy
    assert status == 0 and _value(report, "k")["value_Gy"] == pytest.approx(71.5, rel=1e-12)
    assert "1.1 x /dose" in report["courses"][0]["dose_used"]
    status, report = case["run"](case["config"]([{"name": "p", "dose_file": "mc.h5", "fractions": 2,
                                                  "rbe": "mcnamara"}], cons))
    # 12 Gy / 2 at a/b 2: BED = 12 (1 + 3) = 48 Gy
    assert status == 0 and _value(report, "k")["value_Gy"] == pytest.approx(48.0, rel=1e-12)


def _bad_cases(case):
    c1 = case["dose"]("c1.dcm", 8.0)
    far = case["dose"]("far.dcm", 8.0, origin=(1e5, 1e5, 1e5))
    other = case["dose"]("other.dcm", 8.0, for_uid=generate_uid())
    cons = {"k": {"structure": "Cord", "EQD2_max_Gy": 50}}
    one = [{"name": "a", "dose_file": c1, "fractions": 1}]
    with h5py.File(case["dir"] / "mc.h5", "w") as f:
        ds = f.create_dataset("dose", data=np.ones(SHAPE))
        ds.attrs["origin_mm"], ds.attrs["spacing_mm"] = ORIGIN, SPACING
    rot = [[0.5, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    return [
        (one + [{"name": "b", "dose_file": far, "fractions": 1}], cons, {}, "courses: the union of the courses' grids"),
        (one + [{"name": "b", "dose_file": other, "fractions": 1}], cons, {}, "courses.1.transform_to_reference_4x4"),
        (one + [{"name": "b", "dose_file": other, "fractions": 1, "transform_to_reference_4x4": rot}], cons, {},
         "courses.1.transform_to_reference_4x4: the upper-left"),
        (one, cons, {"alpha_beta_Gy": {"default": 0}}, "alpha_beta_Gy.default"),
        (one, cons, {"alpha_beta_Gy": {"structures": {"Cord": -2}}}, "alpha_beta_Gy.structures: Cord: alpha/beta"),
        ([{"name": "a", "dose_file": c1, "fractions": 0}], cons, {}, "courses.0.fractions"),
        (one, {"k": {"structure": "Cauda", "EQD2_max_Gy": 50}}, {}, "constraints.k.structure: 'Cauda'"),
        (one, {"k": {"structure": "Cord", "EQD2_max_Gy": 50, "BED_max_Gy": 90}}, {}, "exactly one of"),
        (one, {"k": {"structure": "Cord", "EQD2_max_Gy": 50, "metric": "Dmean"}}, {}, "constraints.k.metric"),
        (one, {"k": {"structure": "Cord", "EQD2_max_Gy": 50, "metric": "D2cc"}}, {}, "constraints.k: structure"),
        (one, cons, {"spacing_mm": 2}, "spacing_mm: unknown key"),
        ([{"name": "a", "dose_file": "mc.h5", "fractions": 1}], cons, {}, "courses.0.rbe"),
        ([{"name": "a", "dose_file": "mc.h5", "fractions": 1, "rbe": "wedenberg"}], cons, {}, "dose_rbe/wedenberg"),
        ([{"name": "a", "dose_file": "none.dcm", "fractions": 1}], cons, {}, "courses.0.dose_file: "),
        ([{"name": "a", "dose_file": c1, "fractions": 1,
           "recovery": {"model": "stepwise_6_12_months", "months_elapsed": 7}}], cons, {}, "courses.0.recovery"),
    ]


def test_every_bad_input_exits_2_with_one_line_naming_the_field(case, capsys):
    for courses, cons, extra, expected in _bad_cases(case):
        status, _ = case["run"](case["config"](courses, cons, **extra))
        err = capsys.readouterr().err.strip()
        assert status == 2, expected
        assert expected in err and "\n" not in err, (expected, err)


def test_rtstruct_in_another_frame_is_refused(case, capsys):
    write_rtstruct(case["dir"] / "rs.dcm", {"Cord": (CORD, "ORGAN")}, frame_of_reference_uid=generate_uid(),
                   study_instance_uid=generate_uid())
    c1 = case["dose"]("c1.dcm", 8.0)
    status, _ = case["run"](case["config"]([{"name": "a", "dose_file": c1, "fractions": 1}],
                                           {"k": {"structure": "Cord", "EQD2_max_Gy": 50}}))
    assert status == 2 and "structures_file:" in capsys.readouterr().err
    assert issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------- the union of the courses' grids

def _half_grid_case(case, first_is_half):
    """Course "half" (8 Gy x 1) covers voxel centres x in [-9, -1] mm only; course "full" (30 Gy x 1) the whole
    grid. Hand values at a/b 2 (BED = D (1 + D/2)): cord voxels at x = 1, 3 get 30 Gy only: BED 480 Gy,
    EQD2 240 Gy; at x = -3, -1 both: 40 + 480 = 520 Gy, EQD2 260 Gy. Dmax = 260 Gy in either order."""
    half = case["dose"]("half.dcm", 8.0, shape=(5, 10, 6))
    full = case["dose"]("full.dcm", 30.0)
    courses = [{"name": "half", "dose_file": half, "fractions": 1}, {"name": "full", "dose_file": full, "fractions": 1}]
    return courses if first_is_half else courses[::-1]


@pytest.mark.parametrize("first_is_half", [True, False])
def test_dose_outside_the_first_course_grid_is_summed(case, first_is_half):
    cfg = case["config"](_half_grid_case(case, first_is_half), {"k": {"structure": "Cord", "EQD2_max_Gy": 250}})
    status, report = case["run"](cfg)
    row = _value(report, "k")
    assert status == 1 and row["value_Gy"] == pytest.approx(260.0, rel=1e-9)
    assert row["per_course_Gy"] == pytest.approx({"half": 20.0, "full": 240.0}, rel=1e-9)
    assert report["reference_grid"]["shape"] == [10, 10, 6]
    assert report["reference_grid"]["origin_mm"] == pytest.approx(list(ORIGIN), abs=1e-9)
    with h5py.File(case["dir"] / "out/eqd2.h5", "r") as f:
        half = f["course_dose/half"][...]
    assert np.all(half[:5] == pytest.approx(8.0)) and not half[5:].any()  # 0 outside its grid
    assert int(report["structures"]["Cord"]["volume_cm3"] / 0.008 + 0.5) == 48


def test_union_grid_keeps_the_first_lattice_and_spacing():
    from mc.reirradiation import union_grid

    shift = np.eye(4)
    shift[:3, 3] = [5.0, 0.0, -3.0]
    shape, origin, spacing = union_grid([((3, 3, 3), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0)),
                                         ((2, 2, 2), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))], [None, shift])
    # second box (after the shift) x in [5, 6], z in [-3, -2]: x up to 6 -> index 3; z down to -3 -> index -2
    assert shape == (4, 3, 5) and origin.tolist() == [0.0, 0.0, -4.0] and spacing.tolist() == [2.0, 2.0, 2.0]


def test_structure_outside_the_union_grid_is_refused(case, capsys):
    write_rtstruct(case["dir"] / "rs.dcm", {"Cord": (box_contours((-4.0, -4.0), (14.0, 4.0), [-3.0, -1.0, 1.0]),
                                                     "ORGAN")}, frame_of_reference_uid=case["frame"],
                   study_instance_uid=generate_uid())
    c1 = case["dose"]("c1.dcm", 8.0)
    status, _ = case["run"](case["config"]([{"name": "a", "dose_file": c1, "fractions": 1}],
                                           {"k": {"structure": "Cord", "EQD2_max_Gy": 50}}))
    err = capsys.readouterr().err.strip()
    assert status == 2 and "structures_file: structure 'Cord'" in err and "outside" in err and "\n" not in err


# ---------------------------------------------------------------- non-uniform courses, transforms

def _hot(point_mm, hot_gy=10.0, cold_gy=2.0):
    """Dose on the test grid: ``cold_gy`` everywhere, ``hot_gy`` in the voxel centred at ``point_mm``."""
    arr = np.full(SHAPE, cold_gy)
    arr[tuple(round((p - o) / s) for p, o, s in zip(point_mm, ORIGIN, SPACING))] = hot_gy
    return arr


def test_hot_spots_in_different_voxels_are_summed_per_voxel(case):
    # 1 fraction each, a/b 2: cold voxels 2 Gy -> BED 4 Gy per course; hot 10 Gy -> BED 60 Gy.
    # Per voxel the maximum is 60 + 4 = 64 Gy BED (EQD2 32 Gy); the sum of the courses' maxima would be 60 Gy.
    c1 = case["dose"]("c1.dcm", _hot((-3.0, -3.0, -1.0)))
    c2 = case["dose"]("c2.dcm", _hot((3.0, 1.0, 1.0)))
    status, report = case["run"](case["config"](
        [{"name": "a", "dose_file": c1, "fractions": 1}, {"name": "b", "dose_file": c2, "fractions": 1}],
        {"k": {"structure": "Cord", "EQD2_max_Gy": 40}}))
    row = _value(report, "k")
    assert status == 0 and row["value_Gy"] == pytest.approx(32.0, rel=1e-9)
    assert row["per_course_Gy"] == pytest.approx({"a": 30.0, "b": 30.0}, rel=1e-9)


def test_rotation_transform_through_the_cli(case):
    # course b lies in another frame; p_ref = R p_b with R the rotation by +90 deg about z: (x, y) -> (-y, x).
    # Its hot voxel at (-3, 3, -1) in its own coordinates lands on (-3, -3, -1), course a's hot voxel:
    # BED 60 + 60 = 120 Gy, EQD2 60 Gy. The identity or the inverse rotation would put it elsewhere (32 Gy).
    c1 = case["dose"]("c1.dcm", _hot((-3.0, -3.0, -1.0)))
    c2 = case["dose"]("c2.dcm", _hot((-3.0, 3.0, -1.0)), for_uid=generate_uid())
    rot = [[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    status, report = case["run"](case["config"](
        [{"name": "a", "dose_file": c1, "fractions": 1},
         {"name": "b", "dose_file": c2, "fractions": 1, "transform_to_reference_4x4": rot}],
        {"k": {"structure": "Cord", "EQD2_max_Gy": 50}}))
    assert status == 1 and _value(report, "k")["value_Gy"] == pytest.approx(60.0, rel=1e-9)
    assert report["courses"][1]["registration"] == "explicit rigid 4x4 transform"
    with h5py.File(case["dir"] / "out/eqd2.h5", "r") as f:
        b = f["course_dose/b"][...]
    assert b[3, 3, 2] == pytest.approx(10.0, rel=1e-9) and np.sum(b > 2.0 + 1e-9) == 1


# ---------------------------------------------------------------- what a dose file stands for

def test_fraction_session_dose_is_multiplied_by_the_fractions(case):
    # 2 Gy per fraction, 4 fractions: 8 Gy, BED (a/b 2) = 8 (1 + 1) = 16 Gy, EQD2 8 Gy
    c = case["dose"]("fx.dcm", 2.0, summation_type="FRACTION_SESSION")
    status, report = case["run"](case["config"]([{"name": "a", "dose_file": c, "fractions": 4}],
                                                {"k": {"structure": "Cord", "EQD2_max_Gy": 10}}))
    assert status == 0 and _value(report, "k")["value_Gy"] == pytest.approx(8.0, rel=1e-9)
    used = report["courses"][0]["dose_used"]
    assert "FRACTION_SESSION" in used and "x 4 fractions" in used


def test_plan_dose_fractions_scaling_of_a_flashmc_output(case):
    # /dose 4 Gy for /plan dose_fractions 1; course of 5 fractions: 1.1 x 4 x 5 = 22 Gy in 5 fractions,
    # BED (a/b 2) = 22 (1 + 4.4/2) = 70.4 Gy
    path = case["dir"] / "mc.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("dose", data=np.full(SHAPE, 4.0))
        ds.attrs["origin_mm"], ds.attrs["spacing_mm"] = ORIGIN, SPACING
        f.create_group("plan").attrs["dose_fractions"] = 1
    status, report = case["run"](case["config"]([{"name": "p", "dose_file": "mc.h5", "fractions": 5,
                                                  "rbe": "constant_1.1"}], {"k": {"structure": "Cord", "BED_max_Gy": 80}}))
    assert status == 0 and _value(report, "k")["value_Gy"] == pytest.approx(70.4, rel=1e-12)
    assert "scaled by 5/1 fractions" in report["courses"][0]["dose_used"]


def test_per_course_constraint_and_no_constraints(case, capsys):
    c1, c2 = case["dose"]("c1.dcm", 8.0), case["dose"]("c2.dcm", 20.0)
    courses = [{"name": "a", "dose_file": c1, "fractions": 1}, {"name": "b", "dose_file": c2, "fractions": 5}]
    # course b alone: EQD2 (a/b 2) 30 Gy; cumulative 50 Gy
    status, report = case["run"](case["config"](courses, {"b_only": {"structure": "Cord", "course": "b",
                                                                     "EQD2_max_Gy": 35}}))
    row = _value(report, "b_only")
    assert status == 0 and row["value_Gy"] == pytest.approx(30.0, rel=1e-9) and row["course"] == "b"
    capsys.readouterr()
    status, report = case["run"](case["config"](courses, {}))
    assert status == 0 and report["all_pass"] is None and report["constraints_checked"] == 0
    assert "No constraints checked" in capsys.readouterr().out


def test_unexpected_error_exits_2_not_1(case, capsys, monkeypatch):
    import mc.reirradiation as reirr

    def boom(cfg):
        raise RuntimeError("broken\nsomewhere")

    monkeypatch.setattr(reirr, "run_reirradiation", boom)
    c1 = case["dose"]("c1.dcm", 8.0)
    status, _ = case["run"](case["config"]([{"name": "a", "dose_file": c1, "fractions": 1}], {}))
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: RuntimeError: broken somewhere") and "\n" not in err


def _hdf5(path, dose=None, attrs=None, group=False):
    with h5py.File(path, "w") as f:
        if group:
            f.create_group("dose")
            return
        ds = f.create_dataset("dose", data=np.ones(SHAPE) if dose is None else dose)
        for k, v in ({"origin_mm": ORIGIN, "spacing_mm": SPACING} if attrs is None else attrs).items():
            ds.attrs[k] = v


def test_more_bad_inputs_exit_2_with_one_line(case, capsys):
    d = case["dir"]
    eff = case["dose"]("eff.dcm", 8.0, dose_type="EFFECTIVE")
    beam = case["dose"]("beam.dcm", 8.0, summation_type="BEAM", referenced_beam_number=1,
                        referenced_plan_sop_instance_uid=generate_uid())
    c1 = case["dose"]("c1.dcm", 8.0)
    nan = np.ones(SHAPE)
    nan[0, 0, 0] = np.nan
    files = {"group.h5": {"group": True}, "noorigin.h5": {"attrs": {"spacing_mm": SPACING}},
             "flat.h5": {"dose": np.ones((10, 10))}, "nan.h5": {"dose": nan},
             "zero.h5": {"attrs": {"origin_mm": ORIGIN, "spacing_mm": (2.0, 0.0, 2.0)}}}
    for name, kw in files.items():
        _hdf5(d / name, **kw)
    (d / "afile").write_text("x")
    (d / "adir").mkdir()
    cons = {"k": {"structure": "Cord", "EQD2_max_Gy": 50}}
    one = [{"name": "a", "dose_file": c1, "fractions": 1}]
    cases = [([{"name": "a", "dose_file": eff, "fractions": 1, "rbe": "constant_1.1"}], {}, "already RBE-weighted"),
             ([{"name": "a", "dose_file": beam, "fractions": 1}], {}, "DoseSummationType (3004,000A) BEAM"),
             (one, {"alpha_beta_Gy": {"default": True}}, "alpha_beta_Gy.default"),
             (one, {"alpha_beta_Gy": {"structures": {"Cord": False}}}, "boolean"),
             (one, {"output": {"hdf5_file": "afile/x.h5"}}, "output.hdf5_file"),
             (one, {"output": {"rt_dose_file": "afile/x.dcm"}}, "output.rt_dose_file"),
             (one, {"output": {"hdf5_file": "adir"}}, "output: cannot write")]
    for name, text in (("group.h5", "/dose is not a dataset"), ("noorigin.h5", "/dose attribute origin_mm"),
                       ("flat.h5", "/dose has shape (10, 10), not a 3-D"), ("nan.h5", "/dose holds NaN"),
                       ("zero.h5", "/dose attribute spacing_mm")):
        cases.append(([{"name": "a", "dose_file": name, "fractions": 1, "rbe": "constant_1.1"}], {},
                      f"courses.0.dose_file: {d / name}: {text}"))
    for courses, extra, expected in cases:
        status, _ = case["run"](case["config"](courses, cons, **extra))
        err = capsys.readouterr().err.strip()
        assert status == 2, (expected, err)
        assert expected in err and "\n" not in err, (expected, err)
    status, _ = case["run"](case["config"](one, {"k": {"structure": "Cord", "course": "zz", "EQD2_max_Gy": 5}}))
    assert status == 2 and "constraints.k.course" in capsys.readouterr().err
    status = main([case["config"](one, cons), "--json", str(d / "afile" / "r.json")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("error: --json") and "\n" not in err
