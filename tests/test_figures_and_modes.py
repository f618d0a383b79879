"""Distal fall-off (R80) on analytic Bragg curves with bone-like steps and a shoot-through
beam; the depth-dose and LET/RBE figures (axes from zero, central-axis area); output file
modes under the umask (HDF5, PNG, RT Dose)."""

import os
import stat
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar, nnls

from geometry.phantoms import box
from mc.analysis import bragg_peak_index, r_distal
from mc.dicom_out import write_rt_dose
from mc.output import (
    central_axis_dose,
    default_file_mode,
    depth_dose_figure,
    let_rbe_figure,
    save_figure,
    write_atomic,
)
from physics import bragg

E0_MEV = 150.0
R0_CM = bragg.range_cm(E0_MEV)
SIGMA_CM = bragg.sigma_straggling(R0_CM, E0_MEV)


def water_curve(z_cm, r0=R0_CM, sigma=SIGMA_CM):
    return bragg.depth_dose(z_cm, r0, sigma)


def r80_reference(f, lo, hi):
    """R80 of a continuous curve f on [lo, hi] by scipy: the maximum, then the 80 % root after it."""
    peak = minimize_scalar(lambda z: -f(z), bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    z_peak, d_peak = peak.x, -peak.fun
    return brentq(lambda z: f(z) - 0.8 * d_peak, z_peak, hi, xtol=1e-9)


def f_scalar(fn):
    return lambda z: float(fn(np.array([z]))[0])


Z_CM = np.arange(0.025, 17.5, 0.05)  # 0.5 mm samples
R80_WATER_CM = r80_reference(f_scalar(water_curve), R0_CM - 2.0, R0_CM + 1.0)


def test_r80_of_analytic_water_curve():
    # sampled every 0.5 mm with linear interpolation: within 0.05 mm of scipy's root
    assert R80_WATER_CM == pytest.approx(R0_CM, abs=0.03)  # Bortfeld: R80 ~ R0
    assert r_distal(Z_CM, water_curve(Z_CM), 0.8) == pytest.approx(R80_WATER_CM, abs=0.005)


def test_r80_after_a_bone_step_higher_than_the_peak():
    # a 30 mm bone-like slab holding 1.2 x the Bragg-peak dose (the curve's highest point) in
    # front of the peak: R80 is the peak's, not the slab's distal edge
    d = water_curve(Z_CM)
    bone = (Z_CM > 1.0) & (Z_CM < 4.0)
    d[bone] = 1.2 * d.max()
    assert np.argmax(d) < 80  # the global maximum is in the slab
    assert r_distal(Z_CM, d, 0.8) == pytest.approx(R80_WATER_CM, abs=0.005)
    assert Z_CM[bragg_peak_index(d)] == pytest.approx(R80_WATER_CM - 0.3, abs=0.3)


def test_r80_of_noisy_curve_with_zero_tail():
    rng = np.random.default_rng(7)
    d = water_curve(Z_CM) * (1.0 + 0.01 * rng.standard_normal(Z_CM.size))
    d[Z_CM > R0_CM + 1.0] = 0.0
    assert r_distal(Z_CM, d, 0.8) == pytest.approx(R80_WATER_CM, abs=0.03)


def sobp(z_cm, proximal_cm=10.0, distal_cm=14.0):
    """A spread-out Bragg peak over [proximal_cm, distal_cm]: Bortfeld curves of ranges
    proximal..distal every 2 mm, weights by non-negative least squares for a flat plateau."""
    ranges = np.arange(proximal_cm, distal_cm + 1e-9, 0.2)
    zf = np.linspace(proximal_cm, distal_cm - 0.3, 200)
    a = np.array([bragg.depth_dose(zf, r, bragg.sigma_straggling(r)) for r in ranges]).T
    w, _ = nnls(a, np.ones(zf.size))
    return lambda z: sum(wi * bragg.depth_dose(np.asarray(z, float), r, bragg.sigma_straggling(r))
                         for wi, r in zip(w, ranges))


def test_r80_of_sobp_with_bone_in_the_plateau():
    f = sobp(Z_CM)
    d = f(Z_CM)
    plateau = d[(Z_CM > 10.5) & (Z_CM < 13.5)]
    assert plateau.std() / plateau.mean() < 0.02
    bone = (Z_CM > 11.0) & (Z_CM < 12.0)
    d[bone] *= 1.7  # cortical bone: ~1.7 x water's stopping power per unit length
    # reference: the distal 80 % point of the plateau (the SOBP without bone), by scipy
    ref = brentq(lambda z: float(f(np.array([z]))[0]) - 0.8 * plateau.mean(), 13.8, 15.0, xtol=1e-9)
    assert r_distal(Z_CM, d, 0.8) == pytest.approx(ref, abs=0.05)


def test_shoot_through_beam_has_no_r80():
    # 250 MeV (R0 = 38.6 cm) through a 20 cm phantom with a bone-like slab at the entrance
    z = np.arange(0.025, 20.0, 0.05)
    d = water_curve(z, bragg.range_cm(250.0), bragg.sigma_straggling(bragg.range_cm(250.0), 250.0))
    d[(z > 1.0) & (z < 4.0)] *= 1.7
    assert np.isnan(r_distal(z, d, 0.8))
    assert bragg_peak_index(d) is None
    # the same curve without the slab, and a curve cut just behind its peak (exit at 90 %)
    assert np.isnan(r_distal(z, water_curve(z, 38.6, 0.4), 0.8))
    cut = Z_CM < R0_CM - 0.05
    assert np.isnan(r_distal(Z_CM[cut], water_curve(Z_CM[cut]), 0.8))


def fake_result(edep_z, shape_xy=(9, 9), voxel_mm=1.0, spike=0.15, seed=3):
    """A RunResult stand-in on a water box: lateral profile flat, the given depth profile, and
    +-spike noise on every voxel of the dose."""
    nz = edep_z.size
    grid = box("water", (shape_xy[0] * voxel_mm / 10, shape_xy[1] * voxel_mm / 10, nz * voxel_mm / 10),
               np.full(3, voxel_mm / 10))
    rng = np.random.default_rng(seed)
    edep = np.broadcast_to(edep_z / np.prod(shape_xy), shape_xy + (nz,)).copy()
    dose = edep * (1.0 + spike * rng.uniform(-1, 1, edep.shape))
    return SimpleNamespace(grid=grid, edep_per_primary=edep, edep_secondary_per_primary=None, dose=dose,
                           dose_std=0.05 * dose, protons=1e9, let={"let_d_water": np.ones_like(dose)},
                           dose_rbe={"fixed 1.1": 1.1 * dose})


def test_depth_dose_figure_marks_r80_and_starts_axes_at_zero():
    z_cm = np.arange(0.05, 17.5, 0.1)
    d = water_curve(z_cm)
    d[(z_cm > 1.0) & (z_cm < 4.0)] = 1.2 * d.max()
    res = fake_result(d)
    fig = depth_dose_figure(res)
    a1, a2 = fig.axes
    assert a1.get_ylim()[0] == 0.0 and a2.get_ylim()[0] == 0.0
    r80_mm = r_distal(z_cm * 10, d / 1.0, 0.8)
    lines = [ln for ln in a1.get_lines() if ln.get_label().startswith("R80")]
    assert len(lines) == 1 and lines[0].get_xdata()[0] == pytest.approx(r80_mm)
    assert r80_mm == pytest.approx(R80_WATER_CM * 10, abs=0.2)
    assert "3 x 3 voxels" in a2.get_title()


def test_depth_dose_figure_of_shoot_through_beam_says_no_falloff():
    z_cm = np.arange(0.05, 20.0, 0.1)
    d = water_curve(z_cm, 38.6, 0.4)
    d[(z_cm > 1.0) & (z_cm < 4.0)] *= 1.7
    fig = depth_dose_figure(fake_result(d))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not any(t.startswith("R80") for t in labels)
    assert any("no distal fall-off in the phantom" in t for t in labels)


def test_central_axis_dose_averages_3x3_voxels():
    res = fake_result(np.linspace(1.0, 2.0, 20), shape_xy=(9, 8))
    _, d, e, label = central_axis_dose(res)
    # 9 voxels along x: columns 3..5 (centres within 1 voxel of the middle); 8 along y: 3..4
    ref = res.dose[3:6, 3:5, :].mean(axis=(0, 1))
    assert np.allclose(d, ref, rtol=1e-12)
    assert np.allclose(e, res.dose_std[3:6, 3:5, :].mean(axis=(0, 1)), rtol=1e-12)
    assert "3 x 2 voxels (3 mm x 2 mm)" in label
    # the +-15 % voxel noise averages down: the 6-voxel mean is far closer to the truth than a column
    truth = res.edep_per_primary[0, 0, :]
    assert np.abs(d / truth - 1).max() < np.abs(res.dose[4, 4, :] / truth - 1).max()


def test_let_rbe_figure_axes_from_zero_and_area_label():
    res = fake_result(water_curve(np.arange(0.05, 17.5, 0.1)))
    fig = let_rbe_figure(res)
    assert fig.axes[0].get_ylim()[0] == 0.0 and fig.axes[1].get_ylim()[0] == 0.0
    assert "3 x 3 voxels" in fig.axes[0].get_ylabel()


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_output_files_follow_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    assert default_file_mode() == expected and os.umask(umask) == umask  # umask unchanged
    h5 = write_atomic(str(tmp_path / "d.h5"), lambda f: f.create_dataset("x", data=[1.0]))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = save_figure(plt.figure(), str(tmp_path / "f.png"))
    dcm = write_rt_dose(str(tmp_path / "rd.dcm"), np.ones((2, 3, 4)), [0, 0, 0], [1, 1, 1],
                        frame_of_reference_uid="1.2.3", study_instance_uid="1.2.4")
    for p in (h5, png, dcm):
        assert mode(p) == expected, (p, oct(mode(p)))
    assert sorted(os.listdir(tmp_path)) == ["d.h5", "f.png", "rd.dcm"]
    if umask == 0o022:
        assert expected == 0o644
