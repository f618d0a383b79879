"""LET tallies against evaluated stopping powers and the analytic primary-proton LET model of
Wilkens & Oelfke (2003); RBE models against hand calculations from their papers' formulas; the
RBE-weighted dose, the SOBP plan and the LET/RBE output."""

import h5py
import numpy as np
import pytest

from mc.analysis import r_distal
from mc.config import ConfigError, load_config_text
from mc.run import main
from mc.sobp import sobp_layers
from physics import bragg
from physics.let import primary_depth_curves
from physics.rbe import ALPHA_BETA_PRESETS_GY, rbe, rbe_max_min, rbe_weighted_dose
from physics.tables import build_tables

from .reference_data import ICRU90_WATER, PSTAR, bohr_energy_sigma, icru90_energy_along_depth, icru90_water_stopping

PENCIL_150 = """
geometry: {type: box, material: water, size_mm: [200, 200, 170], voxel_mm: [200, 200, 0.5]}
beam: {energy_MeV: 150, position_mm: [0, 0, -1]}
run: {primaries: 20000, seed: 5, batches: 10}
output: {let: true}"""


@pytest.fixture(scope="module")
def pencil_150():
    from mc.run import simulate

    cfg, _ = load_config_text(PENCIL_150)
    return simulate(cfg)


def _falloff(z, d):
    return r_distal(z, d, 0.2) - r_distal(z, d, 0.8)


def test_let_150MeV_entrance_and_bragg_peak(pencil_150):
    res = pencil_150
    z = res.grid.axis_centres_cm(2)
    dz = res.grid.spacing_cm[2]
    idd = res.dose[0, 0]
    L = res.let
    R0 = build_tables(["water"]).csda_range(0, 150.0)
    # Entrance (first 2 mm): primaries carry LET = S(150 MeV). Reference: the electronic
    # stopping power of water at 150 MeV, PSTAR 5.443 MeV cm^2/g (I = 75 eV) and ICRU 90
    # 5.417 MeV cm^2/g (I = 78 eV, our water) = 0.544 / 0.542 keV/um.
    entr = L["let_d_water_primary"][0, 0, :4].mean()
    assert entr == pytest.approx(0.1 * ICRU90_WATER[150][0], rel=0.01)
    assert entr == pytest.approx(0.1 * PSTAR["water_pstar"][150][0], rel=0.015)
    # with secondary protons (the clinical LETd) it is higher (slow secondaries)
    all_entr = L["let_d"][0, 0, :4].mean()
    assert entr < all_entr < 1.2
    # Peak and distal edge: primary LETd and LETt against the analytic model of Wilkens &
    # Oelfke (2003) (physics.let), compared at the same dose level (peak, R90, R80, R50, R20)
    # of each curve so that sub-millimetre range offsets do not enter. The model's Gaussian
    # range straggling width is set so that its distal 80-20 % fall-off equals the simulated
    # one (the simulation's fall-off is ~10 % wider than Bortfeld's 0.012 R0^0.935, see the
    # accuracy table in README). Measured (LETd): -1.5, -1.9, -0.7, -2.3 and +0.1 % at the peak,
    # R90, R80, R50 and R20, with standard errors of 1.1, 0.9, 0.8, 0.8 and 1.2 %. This model shares
    # the engine's range tables; the test below has an independent reference.
    mc_falloff = _falloff(z, idd)
    za = np.arange(R0 - 1.5, R0 + 0.6, 0.001)
    lo, hi = 0.5 * bragg.sigma_straggling(R0), 2.0 * bragg.sigma_straggling(R0)
    for _ in range(40):
        sig = 0.5 * (lo + hi)
        if _falloff(za, primary_depth_curves(za, R0, sig)[0]) < mc_falloff:
            lo = sig
        else:
            hi = sig
    da, ld_a, lt_a = primary_depth_curves(za, R0, sig)
    for level in (1.0, 0.9, 0.8, 0.5, 0.2):
        z_mc = z[np.argmax(idd)] if level == 1.0 else r_distal(z, idd, level)
        z_an = za[np.argmax(da)] if level == 1.0 else r_distal(za, da, level)
        k = int(np.argmin(abs(z - z_mc)))
        vox = abs(za - z_an) <= dz / 2  # the model averaged over one voxel at its own level
        ref_d = np.sum(da[vox] * ld_a[vox]) / np.sum(da[vox])
        ref_t = np.interp(z_an, za, lt_a)
        # 3 % model agreement plus 3 standard errors of the voxel's LET (ratio estimator of
        # the all-particle LET, 0.7-2 % here; largest at R20, where few protons stop per voxel)
        se_d = res.let_std["let_d"][0, 0, k] / L["let_d"][0, 0, k]
        se_t = res.let_std["let_t"][0, 0, k] / L["let_t"][0, 0, k]
        assert L["let_d_primary"][0, 0, k] == pytest.approx(ref_d, rel=0.03 + 3 * se_d), level
        assert L["let_t_primary"][0, 0, k] == pytest.approx(ref_t, rel=0.03 + 3 * se_t), level
    # the peak value itself: 7-8 keV/um for this mono-energetic beam with no energy spread
    assert 6.5 < L["let_d_primary"][0, 0, np.argmax(idd)] < 9.0
    # the tally's own statistical error at the peak is well below those tolerances
    assert res.let_std["let_d"][0, 0, np.argmax(idd)] < 0.02 * L["let_d"][0, 0, np.argmax(idd)]


def test_primary_let_without_nuclear_interactions_is_the_stopping_power_of_the_straggled_spectrum(run_cfg):
    # An independent reference for LET along the whole curve: without nuclear interactions every
    # proton is a primary, and at depth z their energies spread around the CSDA energy E(z) with
    # Bohr's standard deviation sigma(z) (tests/reference_data.py: ICRU 90 stopping powers and
    # Bohr's formula written out, no code or constant of the engine). LETt is then <S> and LETd
    # <S^2>/<S> over that Gaussian spectrum (LETd weights each path by its deposit, S dl).
    # Tolerance: 0.5 % to 0.9 R0 (the spectrum is Gaussian; the log-log interpolation of the
    # tabulated S is good to 0.25 %), 1.5 % at 0.95 R0 (the spread is 3.4 MeV at 28 MeV: the
    # first-order propagation and the Gaussian shape begin to fail), plus 3 s.e.; observed
    # -0.3 % to +0.1 %, and +1.1 % (LETd) at 0.95 R0.
    res = run_cfg(PENCIL_150, "physics.nuclear=false")
    z = res.grid.axis_centres_cm(2)
    L = res.let
    zf, Tf = icru90_energy_along_depth(150.0, 15.7, 20001)
    sig = bohr_energy_sigma(zf, Tf)
    x = np.linspace(-6.0, 6.0, 241)
    w = np.exp(-0.5 * x * x)
    w /= w.sum()
    R0 = ICRU90_WATER[150][1]
    for frac, allowance in ((0.1, 0.005), (0.25, 0.005), (0.5, 0.005), (0.75, 0.005), (0.9, 0.005), (0.95, 0.015)):
        k = int(np.argmin(abs(z - frac * R0)))
        E, s = np.interp(z[k], zf, Tf), np.interp(z[k], zf, sig)
        S = 0.1 * icru90_water_stopping(np.clip(E + s * x, 0.5, None))  # keV/um
        let_t, let_d = (w * S).sum(), (w * S * S).sum() / (w * S).sum()
        se_d = res.let_std["let_d"][0, 0, k] / L["let_d"][0, 0, k]
        se_t = res.let_std["let_t"][0, 0, k] / L["let_t"][0, 0, k]
        assert L["let_d_primary"][0, 0, k] == pytest.approx(let_d, rel=allowance + 3 * se_d), frac
        assert L["let_t_primary"][0, 0, k] == pytest.approx(let_t, rel=allowance + 3 * se_t), frac


def test_letd_rises_through_distal_falloff_and_exceeds_lett(pencil_150):
    res = pencil_150
    z = res.grid.axis_centres_cm(2)
    idd = res.dose[0, 0]
    L = res.let
    levels = (1.0, 0.9, 0.8, 0.5, 0.2)
    ks = [int(np.argmax(idd))] + [int(np.argmin(abs(z - r_distal(z, idd, f)))) for f in levels[1:]]
    let_d = L["let_d"][0, 0, ks]
    std = res.let_std["let_d"][0, 0, ks]
    assert np.all(np.diff(let_d) > 2 * np.sqrt(std[1:] ** 2 + std[:-1] ** 2))
    # LETt <= LETd in every voxel with dose, for every variant: with deposits eps = l L the
    # inequality is Cauchy-Schwarz, sum l L^2 sum l >= (sum l L)^2. Deposits carry energy-loss
    # straggling around l L, so where the LET is uniform (the entrance, where the two are
    # equal to ~1e-7) they may cross by that noise: 1e-5 relative is allowed there.
    hit = res.dose > 0
    for sfx in ("", "_water", "_primary", "_water_primary"):
        assert np.all(L["let_t" + sfx][hit] <= L["let_d" + sfx][hit] * (1 + 1e-5)), sfx
    assert np.mean(L["let_t"][hit] < L["let_d"][hit]) > 0.9


def test_let_uncertainty_matches_seed_to_seed_scatter(run_cfg):
    # two independent runs: their LETd differences, divided by the combined standard errors,
    # must scatter like a unit normal where the dose is well sampled
    text = """
geometry: {type: box, material: water, size_mm: [40, 40, 80], voxel_mm: [40, 40, 2]}
beam: {energy_MeV: 90, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1]}
run: {primaries: 6000, seed: 1, batches: 10}
output: {let: true}"""
    a = run_cfg(text)
    b = run_cfg(text, "run.seed=2")
    sel = a.dose > 0.2 * a.dose.max()
    diff = (a.let["let_d"] - b.let["let_d"])[sel]
    s = np.sqrt(a.let_std["let_d"] ** 2 + b.let_std["let_d"] ** 2)[sel]
    zscore = diff / s
    assert sel.sum() > 20
    assert np.mean(np.abs(zscore) < 3) > 0.9
    # batch-estimated errors with 10 batches: the rms z-score is 1 within ~35 %
    assert 0.6 < np.sqrt(np.mean(zscore**2)) < 1.5


def test_let_in_medium_and_in_water(run_cfg):
    # in cortical bone, LET in the medium = S_bone(E) rho_bone and in water = S_water(E): the
    # ratio of the two is rho_bone (S_bone/S_water), ~1.85 x 0.897 at ~100 MeV (PSTAR
    # 6.534/7.286) for the primaries
    res = run_cfg("""
geometry: {type: slabs, size_mm: [40, 40, 40], voxel_mm: [40, 40, 5],
           slabs: [{material: water, thickness_mm: 20}, {material: bone_cortical, thickness_mm: 20}]}
beam: {energy_MeV: 120, position_mm: [0, 0, -5]}
run: {primaries: 2000, seed: 2, batches: 4}
output: {let: true}""")
    L = res.let
    bone = res.grid.material_id[0, 0] == 1
    rho = res.grid.density[0, 0][bone]
    ratio = L["let_d_primary"][0, 0][bone] / L["let_d_water_primary"][0, 0][bone]
    pstar = PSTAR["bone_cortical"][100][0] / PSTAR["water_pstar"][100][0]
    assert np.allclose(ratio, rho * pstar, rtol=0.02)
    water = ~bone
    assert np.allclose(L["let_d"][0, 0][water], L["let_d_water"][0, 0][water], rtol=1e-12)


# ---- RBE models -------------------------------------------------------------------------------
# Hand calculations at LETd = 2.5 keV/um, alpha/beta = 2 Gy, d = 2 Gy from each paper's formula:
# RBE = [sqrt(ab^2 + 4 d ab RBEmax + 4 d^2 RBEmin^2) - ab] / (2 d)
#  McNamara 2015: RBEmax = 0.99064 + 0.35605 * 2.5/2 = 1.4357025
#                 RBEmin = 1.1012 - 0.0038703 * sqrt(2) * 2.5 = 1.0875165...
#                 sqrt(4 + 16 * 1.4357025 + 16 * 1.0875164^2) = sqrt(45.89421) -> RBE = 1.19363
#  Wedenberg 2013: RBEmax = 1 + 0.434 * 2.5/2 = 1.5425, RBEmin = 1
#                 sqrt(4 + 24.68 + 16) = 6.68431... -> RBE = 1.17108
#  Carabe 2012:   RBEmax = 0.843 + 0.154 * 2.686/2 * 2.5 = 1.360055
#                 RBEmin = 1.09 + 0.006 * 2.686/2 * 2.5 = 1.110145
#                 sqrt(4 + 21.76088 + 19.71875) = 6.74386 -> RBE = 1.18596
HAND = {"mcnamara": 1.19363, "wedenberg": 1.17108, "carabe": 1.18596, "constant": 1.1}


@pytest.mark.parametrize("model", sorted(HAND))
def test_rbe_models_reproduce_hand_calculations(model):
    assert rbe(model, 2.0, 2.5, 2.0) == pytest.approx(HAND[model], abs=5e-5)


def test_rbe_max_min_coefficients():
    # the published coefficients, evaluated at LETd = 10 keV/um, alpha/beta = 4 Gy
    rmax, rmin = rbe_max_min("mcnamara", 10.0, 4.0)
    assert (rmax, rmin) == pytest.approx((0.99064 + 0.35605 * 2.5, 1.1012 - 0.0038703 * 2.0 * 10.0))
    rmax, rmin = rbe_max_min("carabe", 10.0, 4.0)
    assert (rmax, rmin) == pytest.approx((0.843 + 0.154 * 0.6715 * 10.0, 1.09 + 0.006 * 0.6715 * 10.0))
    rmax, rmin = rbe_max_min("wedenberg", 10.0, 4.0)
    assert (rmax, rmin) == pytest.approx((1.0 + 0.434 * 2.5, 1.0))


@pytest.mark.parametrize("model", ["mcnamara", "wedenberg", "carabe"])
def test_rbe_limits(model):
    ab = np.array([1.0, 2.0, 10.0])
    # low LET: RBE -> the LQ value with the model's LET-independent terms (Wedenberg: exactly
    # 1 at any dose)
    r0max, r0min = rbe_max_min(model, 0.0, ab)
    low = rbe(model, 2.0, 1e-9, ab)
    expected = {"mcnamara": (0.99064, 1.1012), "wedenberg": (1.0, 1.0), "carabe": (0.843, 1.09)}[model]
    assert np.allclose(r0max, expected[0]) and np.allclose(r0min, expected[1])
    d = 2.0
    lq = (np.sqrt(ab**2 + 4 * d * ab * expected[0] + 4 * d**2 * expected[1] ** 2) - ab) / (2 * d)
    assert np.allclose(low, lq, rtol=1e-8)
    if model == "wedenberg":
        assert np.allclose(low, 1.0, atol=1e-9)
    # dose limits of the LQ form: d -> 0 gives RBEmax, d -> infinity gives RBEmin
    L = 4.0
    rmax, rmin = rbe_max_min(model, L, ab)
    assert np.allclose(rbe(model, 1e-9, L, ab), rmax, rtol=1e-6)
    assert np.allclose(rbe(model, 1e7, L, ab), rmin, rtol=1e-4)
    # RBE rises with LET and falls with alpha/beta and with dose (rmax > rmin here)
    assert np.all(np.diff(rbe(model, 2.0, [1.0, 3.0, 6.0, 12.0], 2.0)) > 0)
    assert np.all(np.diff(rbe(model, 2.0, 5.0, [1.0, 3.0, 10.0])) < 0)
    assert np.all(np.diff(rbe(model, [0.5, 2.0, 8.0], 5.0, 2.0)) < 0)


def test_rbe_weighted_dose_at_the_hand_calculated_point():
    # 2 Gy at LETd 2.5 keV/um, alpha/beta 2 Gy: RBE-weighted dose = hand RBE x 2 Gy
    for model, r in HAND.items():
        assert rbe_weighted_dose(model, 2.0, 2.5, 2.0) == pytest.approx(2.0 * r, abs=1e-4)
    assert rbe_weighted_dose("mcnamara", 0.0, 5.0, 2.0) == 0.0
    with pytest.raises(ValueError, match="alpha/beta"):
        rbe("mcnamara", 2.0, 2.0, 0.0)


def test_alpha_beta_presets_are_the_documented_values():
    assert ALPHA_BETA_PRESETS_GY["tumour"] == 10.0
    assert 2.0 <= ALPHA_BETA_PRESETS_GY["late_normal_tissue"] <= 3.0


# ---- SOBP and the example ---------------------------------------------------------------------
def test_sobp_weights_give_a_flat_analytic_plateau():
    energy, esig, w = sobp_layers(100.0, 150.0, 3.0, 0.5)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0) and w[0] == w.max()
    assert np.all(np.diff(energy) < 0)
    tab = build_tables(["water"])
    R = tab.csda_range(0, energy)
    sig = np.sqrt((0.012 * R**0.935) ** 2 + (esig / tab.mass_stopping(0, energy)) ** 2)
    z = np.arange(10.2, 14.6, 0.02)
    dose = sum(wk * bragg.depth_dose(z, Rk, sk) for wk, Rk, sk in zip(w, R, sig))
    assert (dose.max() - dose.min()) / dose.mean() < 0.03


def test_sobp_example_writes_let_rbe_output_and_figure(tmp_path, capsys):
    out = tmp_path / "sobp.h5"
    rc = main(["examples/sobp_let_rbe.yaml", "--quiet", "--set", "run.primaries=3000",
               "--set", f"output.path={out}"])
    assert rc == 0
    assert (tmp_path / "sobp_let_rbe.png").stat().st_size > 20000
    with h5py.File(out) as f:
        dose = f["/dose"][()]
        for name in ("let_d", "let_t", "let_d_std", "let_t_std", "let_d_water", "let_t_water", "let_d_primary",
                     "let_t_primary", "let_d_water_primary", "let_t_water_primary"):
            assert f[name].shape == dose.shape and f[name].attrs["units"] == "keV/um", name
        assert set(f["/rbe"].attrs["models"]) == {"constant", "mcnamara", "wedenberg", "carabe"}
        hit = dose > 0
        for m in ("constant", "mcnamara", "wedenberg", "carabe"):
            r = f[f"/rbe/{m}"][()]
            # RBE-weighted dose = RBE x dose voxel by voxel (float32 storage)
            assert np.allclose(f[f"/dose_rbe/{m}"][()][hit], r[hit] * dose[hit], rtol=1e-5)
            assert f[f"/dose_rbe/{m}"].attrs["units"] == "Gy(RBE)"
        assert np.allclose(f["/rbe/constant"][()][hit], 1.1)
        assert np.allclose(f["/alpha_beta_Gy"][()], ALPHA_BETA_PRESETS_GY["late_normal_tissue"])
        assert "let_d_water_std" in f and np.all(f["/let_d_water_std"][()] >= 0)
        assert f["/rbe"].attrs["dose_per_fraction_Gy"] == 2.0


def test_rbe_and_sobp_config_errors():
    base = "geometry: {type: box, material: water, size_mm: [40, 40, 200]}\n"
    with pytest.raises(ConfigError, match="beam.protons"):
        load_config_text(base + "rbe: {dose_per_fraction_Gy: null}")
    with pytest.raises(ConfigError, match="rbe.models"):
        load_config_text(base + "rbe: {models: [lem]}")
    with pytest.raises(ConfigError, match="preset"):
        load_config_text(base + "rbe: {default_alpha_beta_Gy: marrowish}")
    with pytest.raises(ConfigError, match="alpha/beta"):
        load_config_text(base + "rbe: {alpha_beta_Gy: {water: -1}}")
    with pytest.raises(ConfigError, match="unknown material"):
        load_config_text(base + "rbe: {alpha_beta_Gy: {unobtainium: 3}}")
    with pytest.raises(ConfigError, match="distal_mm"):
        load_config_text(base + "beam: {sobp: {proximal_mm: 100, distal_mm: 90}}")
    with pytest.raises(ConfigError, match="exclude"):
        load_config_text(base + "beam: {sobp: {proximal_mm: 10, distal_mm: 90}, spots: [{weight: 1}]}")
