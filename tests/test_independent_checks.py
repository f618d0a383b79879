"""Checks of the run against references that share no code with the function under test: a
formula written out here from its paper, a hand calculation, a textbook distribution, or the
same physics seen through another code path.

* Variable RBE in a Monte Carlo run: McNamara, Schuemann & Paganetti 2015, Phys. Med. Biol.
  60:8399, eq. 1 (the linear-quadratic RBE) with eqs. 5-6 (RBE_max and RBE_min as functions of
  LETd and alpha/beta), evaluated at the physical dose per fraction of each voxel (README "LET
  and RBE": with ``rbe.dose_per_fraction_Gy`` the dose scaled so that the mean over the voxels
  at >= 95 % of the maximum is that dose; without it the absolute dose of ``beam.protons``; for
  a plan the dose divided by its fractions).
* ``/dose_std`` against the scatter of independent seeds: the batch estimate of the variance
  and the sample variance of K independent runs estimate the same variance, so their ratio is
  F-distributed (normal theory: Cochran's theorem; the sample variance of K runs is
  sigma^2 chi^2(K-1)/(K-1)).
* Dose normalisation: dose = deposit / (density x voxel volume) x J per MeV (1.602176634e-13,
  exact in the SI since 2019) x the protons the dose is for (README "Configuration": beam.protons,
  else the sum of the spot weights, else the primaries simulated); the sum of the deposits
  against the run's energy-balance counter (summed in the kernel, not from the voxel tally).
* Source sampling through the configuration (mm, mrad, MeV) and the kernel's source stage:
  sample moments and Kolmogorov-Smirnov tests against the configured Gaussians; position-angle
  correlation against the configured coefficient (standard error (1 - rho^2)/sqrt(n) of a
  sample correlation, Fisher 1915).
* A beam along x against the same beam along z (README "Configuration": the transverse axes of
  a beam along x are global y and z), voxel by voxel after transposing the grid.
* A voxel file whose material and density arrays disagree in axis order is refused with one line.

Every statistical tolerance is computed here from the run's own statistics or from the sample
size, with its false-alarm probability stated; the seeds are fixed, so the outcome is
reproducible.
"""

import math
import os

import h5py
import numpy as np
import pytest
from scipy import stats

from mc.config import load_config_text
from mc.run import main, simulate

#: Joules per MeV: 1e6 x the elementary charge 1.602176634e-19 C (exact, SI 2019 / CODATA 2018).
J_PER_MEV = 1.602176634e-13


def _simulate(text, *overrides):
    cfg, _ = load_config_text(text, list(overrides))
    return simulate(cfg)


# ---- 1. variable RBE at the fraction dose ------------------------------------------------------
def mcnamara_rbe(d, let_d, ab):
    """RBE of McNamara et al. 2015 (PMB 60:8399) at physical dose per fraction ``d`` [Gy], LETd in
    water [keV/um] and photon alpha/beta [Gy], written out from the paper:
    RBE_max = 0.99064 + 0.35605 LETd / (a/b)          (eq. 5)
    RBE_min = 1.1012 - 0.0038703 sqrt(a/b) LETd       (eq. 6)
    RBE = [sqrt((a/b)^2 + 4 d (a/b) RBE_max + 4 d^2 RBE_min^2) - a/b] / (2 d)   (eq. 1)."""
    d, let_d, ab = (np.asarray(x, float) for x in (d, let_d, ab))
    rmax = 0.99064 + 0.35605 * let_d / ab
    rmin = 1.1012 - 0.0038703 * np.sqrt(ab) * let_d
    return (np.sqrt(ab**2 + 4.0 * d * ab * rmax + 4.0 * d**2 * rmin**2) - ab) / (2.0 * d)


#: 100 MeV in water, 2 mm layers; beam.protons chosen so that the high-dose region gets about
#: 70 Gy (35 fractions of 2 Gy) (a total dose far from the fraction dose, so that evaluating
#: the RBE at the total dose cannot go unnoticed).
RBE_CASE = """
geometry: {type: box, material: water, size_mm: [20, 20, 90], voxel_mm: [20, 20, 2]}
beam: {energy_MeV: 100, position_mm: [0, 0, -1], protons: 4.5e10}
run: {primaries: 3000, seed: 11, batches: 10}
rbe: {models: [mcnamara], dose_per_fraction_Gy: 2.0, default_alpha_beta_Gy: 2.0}
"""


def test_mcnamara_rbe_in_a_run_is_evaluated_at_the_fraction_dose():
    a = _simulate(RBE_CASE)
    D, L = a.dose.astype(float), a.let["let_d_water"]
    hit = D > 0
    # the reference dose by its definition (README): mean over the voxels >= 95 % of the maximum
    d_ref = D[D >= 0.95 * D.max()].mean()
    assert 50.0 < d_ref < 90.0  # the total dose: ~35 fractions of 2 Gy
    d_frac = 2.0 * D / d_ref
    expected = mcnamara_rbe(d_frac[hit], L[hit], 2.0)
    assert np.allclose(a.rbe["mcnamara"][hit], expected, rtol=1e-6, atol=0)
    assert np.all(a.rbe["mcnamara"][~hit] == 0.0)
    assert np.allclose(a.dose_rbe["mcnamara"][hit], expected * D[hit], rtol=1e-6)
    # a plateau voxel (10-12 mm deep) and the dose maximum (76-78 mm, the distal edge of the
    # 77 mm range), by hand. Measured here: LETd 0.98 and 11.2 keV/um, fraction dose 0.42 and
    # 2.0 Gy -> RBE 1.143 and 1.579; at the total dose (14.4 and 68.7 Gy) they would be 1.100 and
    # 1.066.
    for k in (5, int(np.argmax(D[0, 0]))):
        Lk, dk = L[0, 0, k], d_frac[0, 0, k]
        by_hand = (math.sqrt(4.0 + 8.0 * dk * (0.99064 + 0.35605 * Lk / 2.0)
                             + 4.0 * dk**2 * (1.1012 - 0.0038703 * math.sqrt(2.0) * Lk) ** 2) - 2.0) / (2.0 * dk)
        assert a.rbe["mcnamara"][0, 0, k] == pytest.approx(by_hand, rel=1e-6), k
        at_total = mcnamara_rbe(D[0, 0, k], Lk, 2.0)
        assert by_hand - at_total > 0.02, k  # the two evaluations are far apart here
    # plateau LETd: S(95 MeV) = 0.76 keV/um for the primaries (PSTAR), raised by slow secondaries
    assert 0.7 < L[0, 0, 5] < 1.3

    # twice the fractions for the same total dose: 1 Gy per fraction; the same seed gives the
    # same dose and LET, and the RBE rises as eq. 1 says wherever RBE_max > RBE_min
    b = _simulate(RBE_CASE, "rbe.dose_per_fraction_Gy=1.0")
    assert np.array_equal(b.dose, a.dose)
    assert np.allclose(b.rbe["mcnamara"][hit], mcnamara_rbe(0.5 * d_frac[hit], L[hit], 2.0), rtol=1e-6)
    rmax = 0.99064 + 0.35605 * L / 2.0
    rmin = 1.1012 - 0.0038703 * math.sqrt(2.0) * L
    up = hit & (rmax > rmin + 1e-3)
    assert up.sum() > 20 and np.all(b.rbe["mcnamara"][up] > a.rbe["mcnamara"][up])

    # no dose_per_fraction_Gy: /dose itself is the fraction dose (beam.protons per fraction);
    # 1/15 of the protons (15 fractions of ~4.6 Gy) -> the RBE at D/15
    c = _simulate(RBE_CASE, "rbe.dose_per_fraction_Gy=null", "beam.protons=3.0e9")
    assert np.allclose(c.dose[hit], D[hit] / 15.0, rtol=1e-6)
    assert np.allclose(c.rbe["mcnamara"][hit], mcnamara_rbe(D[hit] / 15.0, L[hit], 2.0), rtol=1e-5)


def _plan_case(folder, fractions, meterset_mu):
    from mc.phantom_case import write_phantom_case

    spots = np.array([[x, y] for x in (-6.0, 0.0, 6.0) for y in (-6.0, 0.0, 6.0)])
    beam = dict(name="AP", isocentre_mm=[0.0, 60.0, 0.0], gantry_deg=0.0, meterset_mu=meterset_mu,
                layers=[(120.0, spots, np.ones(len(spots)))])
    return write_phantom_case(str(folder), [beam], fractions=fractions)


def test_plan_rbe_uses_the_dose_of_one_fraction(tmp_path):
    # the same total dose in 5 fractions of 10 MU and in 10 fractions of 5 MU (dose_for: plan,
    # the dose of all fractions): the dose is the same, the RBE is evaluated at D/5 and at D/10
    machine = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "machines",
                           "generic_pbs.yaml")
    runs = {}
    for n, mu in ((5, 10.0), (10, 5.0)):
        case = _plan_case(tmp_path / f"f{n}", n, mu)
        runs[n] = _simulate(
            f"dicom: {{ct: {case['ct']}, plan: {case['plan']}, structures: {case['structures']}, "
            f"calibration: {case['calibration']}, machine: {machine}, dose_grid_mm: [4, 4, 4]}}\n"
            "run: {primaries: 4000, batches: 10, seed: 7}\nphysics: {nuclear: false}\n"
            "rbe: {models: [mcnamara], default_alpha_beta_Gy: 2.0}\n")
    D = runs[5].dose.astype(float)
    assert np.allclose(runs[10].dose, D, rtol=1e-6)
    hit = D > 0
    L = runs[5].let["let_d_water"][hit]
    for n, r in runs.items():
        assert r.case.fractions == n
        assert np.allclose(r.rbe["mcnamara"][hit], mcnamara_rbe(D[hit] / n, L, 2.0), rtol=1e-6), n
    # at 10 fractions the fraction dose is half as large: the RBE is higher where it matters
    top = D > 0.5 * D.max()
    assert np.all(runs[10].rbe["mcnamara"][top] > runs[5].rbe["mcnamara"][top])


# ---- 2. /dose_std against the scatter of independent seeds -----------------------------------
#: 70 MeV in water (range 41 mm), 10 x 10 x 3 mm voxels; B = 10 batches of 200 primaries.
STD_CASE = """
geometry: {type: box, material: water, size_mm: [30, 30, 60], voxel_mm: [10, 10, 3]}
beam: {energy_MeV: 70, spot_sigma_mm: [4, 4], position_mm: [0, 0, -1]}
run: {primaries: 2000, seed: 1, batches: 10}
output: {plot: false}
"""
STD_RUNS, STD_BATCHES = 80, 10


def test_dose_std_matches_the_scatter_of_independent_seeds(tmp_path):
    # K runs with seeds 101..180, read from their HDF5 files (/dose, /dose_std)
    cfg = tmp_path / "std.yaml"
    cfg.write_text(STD_CASE)
    dose, var = [], []
    for k in range(STD_RUNS):
        out = tmp_path / f"seed{k}.h5"
        assert main([str(cfg), "--quiet", "--set", f"run.seed={101 + k}", "--set", f"output.path={out}"]) == 0
        with h5py.File(out) as f:
            dose.append(f["dose"][()].astype(float))
            var.append(f["dose_std"][()].astype(float) ** 2)
    dose, var = np.array(dose), np.array(var)
    mean = dose.mean(axis=0)
    hot = mean >= 0.2 * mean.max()
    assert hot.sum() >= 10
    # Pooled over the hot voxels: S = sum_i (sample variance of voxel i over the K seeds) and
    # V = sum_i (mean over the K runs of the reported variance s_i^2). Both estimate
    # sum_i sigma_i^2. For one voxel (or voxels whose fluctuations are fully correlated, the
    # worst case) (K-1) S / sum sigma^2 is chi^2(K-1) and K(B-1) V / sum sigma^2 is
    # chi^2(K(B-1)) (batch means of 200 histories are close to normal), independent of S, so S/V
    # follows F(K-1, K(B-1)); with less than full correlation between voxels, S is a weighted
    # sum of independent chi^2(K-1) terms (one per eigenvector of the voxels' covariance), which
    # scatters less about its mean than one such term, so the F bounds are conservative (as
    # B -> infinity they become chi^2(K-1)/(K-1): 0.56..1.61). Two-sided 99.9 % bounds for K = 80, B = 10:
    # 0.55..1.66. Measured: S/V = 1.01 (two other sets of 80 seeds: 1.07, 1.00; ten sets of 60:
    # 0.78..1.14); a /dose_std twice too large gives S/V / 4 = 0.25 (1.5 times: 0.45).
    ratio = (dose[:, hot].var(axis=0, ddof=1)).sum() / var[:, hot].mean(axis=0).sum()
    dfn, dfd = STD_RUNS - 1, STD_RUNS * (STD_BATCHES - 1)
    lo, hi = stats.f.ppf([0.0005, 0.9995], dfn, dfd)
    assert lo < ratio < hi, (ratio, lo, hi)


# ---- 3. dose normalisation -------------------------------------------------------------------
#: Water then cortical bone (1.85 g/cm^3), so that the density enters the conversion.
NORM_CASE = """
geometry: {type: slabs, size_mm: [20, 20, 40], voxel_mm: [10, 10, 2],
           slabs: [{material: water, thickness_mm: 20}, {material: bone_cortical, thickness_mm: 20}]}
beam: {energy_MeV: 70, position_mm: [0, 0, -1], spot_sigma_mm: [3, 3]}
run: {primaries: 1000, seed: 3, batches: 4}
output: {plot: false}
"""
TWO_SPOTS = "beam.spots=[{position_mm: [-3, 0, -1], weight: 2.0e8}, {position_mm: [3, 2, -1], weight: 3.0e8}]"


def _dose_by_hand(result, protons):
    """Dose [Gy] from the mean deposit per primary [MeV] of each voxel: E J_PER_MEV / (rho [g/cm^3]
    x 1e-3 kg/g x V [cm^3]) x the protons the dose is for."""
    vol_cm3 = float(np.prod(result.grid.spacing_cm))
    assert vol_cm3 == pytest.approx(1.0 * 1.0 * 0.2)
    return result.edep_per_primary * J_PER_MEV / (result.grid.density * 1.0e-3 * vol_cm3) * protons


@pytest.mark.parametrize("overrides, protons", [
    ((), 1000.0),  # no beam.protons, no spots: the primaries simulated
    ((TWO_SPOTS,), 5.0e8),  # spots: the sum of their weights (protons per spot)
    ((TWO_SPOTS, "beam.protons=7.0e9"), 7.0e9),  # beam.protons, given, wins
], ids=["primaries", "spot_weights", "beam_protons"])
def test_dose_normalisation_by_hand(overrides, protons):
    r = _simulate(NORM_CASE, *overrides)
    assert r.primaries == 1000 and r.protons == protons
    assert np.allclose(r.grid.density[0, 0, [0, -1]], [1.0, 1.85])
    hit = r.dose > 0
    assert hit.sum() > 20
    # float32 storage of the dose: 6e-8 relative
    assert np.allclose(r.dose, _dose_by_hand(r, protons), rtol=2e-7, atol=0)
    # the deposits of the voxel tally add up to the kernel's own energy-balance counter (summed
    # per batch and particle class, not from the tally); each batch's voxel deposit is rounded
    # to the tally's quantum (< 1e-9 MeV here)
    total = r.edep_per_primary.sum() * r.primaries
    assert total == pytest.approx(r.energy_balance["deposited_MeV"], rel=1e-9)
    # and they are most of the incident 1000 x 70 MeV: the protons stop in the bone (after 20 mm
    # of water 21 mm of water-equivalent range is left, ~13 mm of cortical bone); what is not
    # deposited leaves sideways, as neutral particles or binding energy (measured: 96-98 %)
    assert 0.9 < total / (1000 * 70.0) <= 1.0


def test_dose_file_of_spots_without_beam_protons(tmp_path):
    cfg = tmp_path / "norm.yaml"
    cfg.write_text(NORM_CASE)
    out = tmp_path / "norm.h5"
    assert main([str(cfg), "--quiet", "--set", TWO_SPOTS, "--set", f"output.path={out}"]) == 0
    with h5py.File(out) as f:
        dose, rho = f["dose"][()].astype(float), f["geometry/density_g_cm3"][()].astype(float)
        assert f["dose"].attrs["protons"] == 5.0e8 and f["dose"].attrs["primaries_simulated"] == 1000
        deposited = f["energy_balance"].attrs["deposited_MeV"]
        spacing_cm = np.asarray(f["dose"].attrs["spacing_mm"]) / 10.0
        per_primary = f["dose_per_primary"][()].astype(float)
    # energy in the grid from the file's dose: sum D rho V / J_PER_MEV = deposited MeV per
    # primary x the 5e8 protons of the two spots (2e8 + 3e8)
    energy = (dose * rho * 1.0e-3 * np.prod(spacing_cm)).sum() / J_PER_MEV
    assert energy == pytest.approx(deposited / 1000 * 5.0e8, rel=1e-6)
    assert np.allclose(per_primary * 5.0e8, dose, rtol=1e-6)


# ---- 4. source sampling against the configured distributions ---------------------------------
SOURCE_BEAM = """
geometry: {type: box, material: water, size_mm: [60, 60, 100], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 120, energy_spread_MeV: 1.2, position_mm: [2, -3, -50], direction: [0, 0, 1],
       spot_sigma_mm: [3, 5], divergence_mrad: [2, 4], correlation: [0.6, 0]}
"""
SOURCE_SAMPLES = 20000


@pytest.fixture(scope="module")
def source_sample():
    """SOURCE_SAMPLES primaries from the kernel's source stage, fed with the spots that the
    configuration describes (mm, mrad, MeV converted by the run's own code path)."""
    from mc.batch import batch_seed
    from mc.jit import python_entry
    from mc.kernel import source
    from mc.kernel.bundles import source_bundle
    from mc.problem import build_geometry, build_source

    cfg, _ = load_config_text(SOURCE_BEAM)
    src = source_bundle(build_source(cfg, build_geometry(cfg)))
    sample = python_entry(source.sample_source)
    st = batch_seed(12345, 0).copy()
    return np.array([sample(st, src)[:7] for _ in range(SOURCE_SAMPLES)])


def _gaussian_matches(x, mean, sigma, what):
    """Sample mean within 4 standard errors (sigma/sqrt(n)), sample sigma within 4 standard errors
    (sigma/sqrt(2n), normal theory) and a Kolmogorov-Smirnov test against N(mean, sigma) at
    p > 1e-4: false-alarm probabilities 6e-5, 6e-5 and 1e-4."""
    n = x.size
    assert x.mean() == pytest.approx(mean, abs=4 * sigma / math.sqrt(n)), what
    assert x.std(ddof=1) == pytest.approx(sigma, rel=4 / math.sqrt(2 * n)), what
    assert stats.kstest(x, "norm", args=(mean, sigma)).pvalue > 1e-4, what


def test_source_energy_spread(source_sample):
    # 1.2 MeV (1 sigma) around 120 MeV; with n = 20000 the sigma is known to 0.5 % (4 s.e.:
    # 2 %), so a spread off by 10 % fails by 20 standard errors
    _gaussian_matches(source_sample[:, 6], 120.0, 1.2, "energy [MeV]")


def test_source_spot_sigma_and_position(source_sample):
    x, y, z = source_sample[:, 0], source_sample[:, 1], source_sample[:, 2]
    # the first transverse axis of a beam along +z is +x, the second +y (README): 3 and 5 mm
    _gaussian_matches(x, 0.2, 0.3, "x [cm]")
    _gaussian_matches(y, -0.3, 0.5, "y [cm]")
    assert np.all(z == -5.0)  # on the source plane


def test_source_divergence_and_correlation(source_sample):
    x, y = source_sample[:, 0], source_sample[:, 1]
    u, v, w = source_sample[:, 3], source_sample[:, 4], source_sample[:, 5]
    assert np.allclose(u * u + v * v + w * w, 1.0, atol=1e-12)
    # projected angles: tan(theta_x) = u/w, tan(theta_y) = v/w (for a beam along z exactly the
    # sampled Gaussian deviates: the direction is (theta_x, theta_y, 1) normalised); 2 and 4 mrad
    tx, ty = u / w, v / w
    _gaussian_matches(tx, 0.0, 2.0e-3, "theta_x [rad]")
    _gaussian_matches(ty, 0.0, 4.0e-3, "theta_y [rad]")
    # position-angle correlation along x: 0.6, standard error (1 - rho^2)/sqrt(n) = 0.0045
    n = x.size
    assert np.corrcoef(x, tx)[0, 1] == pytest.approx(0.6, abs=4 * (1 - 0.36) / math.sqrt(n))
    # none along y, nor across the axes: standard error 1/sqrt(n) = 0.007
    for a, b in ((y, ty), (x, ty), (y, tx), (tx, ty)):
        assert abs(np.corrcoef(a, b)[0, 1]) < 4 / math.sqrt(n)


# ---- 5. a beam along x -----------------------------------------------------------------------
#: 80 MeV (range 52 mm) in a water box, 2 mm along the beam, 4 mm across; the spot is elliptic
#: (2 x 5 mm) and off axis along the second transverse axis, so that the transverse axes of the
#: beam along x (README: global y, then z) are seen in the dose.
Z_BEAM = """
geometry: {type: box, material: water, size_mm: [24, 24, 70], voxel_mm: [4, 4, 2], corner_mm: [-12, -12, 0]}
beam: {energy_MeV: 80, position_mm: [0, 3, -1], direction: [0, 0, 1], spot_sigma_mm: [2, 5]}
run: {primaries: 6000, seed: 21, batches: 20}
"""
X_BEAM = """
geometry: {type: box, material: water, size_mm: [70, 24, 24], voxel_mm: [2, 4, 4], corner_mm: [0, -12, -12]}
beam: {energy_MeV: 80, position_mm: [-1, 0, 3], direction: [1, 0, 0], spot_sigma_mm: [2, 5]}
run: {primaries: 6000, seed: 22, batches: 20}
"""


#: Batches per run of the two beams: the batch standard errors have 19 degrees of freedom.
XZ_DOF = 19


def test_beam_along_x_gives_the_transposed_dose_of_a_beam_along_z():
    zb, xb = _simulate(Z_BEAM), _simulate(X_BEAM)
    # x-beam voxel [depth, y, z] <-> z-beam voxel [x, y, depth] with the beam's transverse axes
    # (x, y) for +z and (y, z) for +x: D_z[i, j, k] = D_x[k, i, j]
    dx, sx = np.transpose(xb.dose, (1, 2, 0)), np.transpose(xb.dose_std, (1, 2, 0))
    dz, sz = zb.dose, zb.dose_std
    assert dx.shape == dz.shape == (6, 6, 35)
    sel = 0.5 * (dx + dz) > 0.05 * dz.max()
    assert sel.sum() > 100
    t = (dx - dz)[sel] / np.sqrt(sx**2 + sz**2)[sel]
    # Two independent runs: each voxel's difference over its combined batch standard error is
    # close to Student's t with at least the 19 degrees of freedom of one run. Bonferroni over
    # the ~270 voxels for a 1e-3 false alarm of the whole comparison: |t| < 6.4. Measured (this
    # and two other seed pairs): max |t| = 2.7..3.4.
    limit = stats.t.ppf(1 - 0.0005 / sel.sum(), XZ_DOF)
    assert np.max(np.abs(t)) < limit, (np.max(np.abs(t)), limit)
    # the depth-dose curves (summed over the lateral voxels) layer by layer; the standard error
    # of a sum is at most the sum of the voxels' standard errors whatever their correlation, so
    # the same Bonferroni limit over the layers is conservative
    idd_x, idd_z = dx.sum(axis=(0, 1)), dz.sum(axis=(0, 1))
    s_idd = np.hypot(sx.sum(axis=(0, 1)), sz.sum(axis=(0, 1)))
    deep = idd_z > 0.05 * idd_z.max()
    limit = stats.t.ppf(1 - 0.0005 / deep.sum(), XZ_DOF)
    assert np.all(np.abs(idd_x - idd_z)[deep] < limit * s_idd[deep])


# ---- 6. a voxel file with its axes transposed ------------------------------------------------
# A voxel file declares its grid only through its arrays' shapes and spacing_mm (README
# "Configuration"): a file whose arrays are all stored transposed is self-consistent and cannot be
# told from a real grid of that shape. What can be caught is an axis order that differs between
# the arrays (one array written as [z, y, x], the other as [x, y, z]).
@pytest.mark.parametrize("fmt", ["npz", "h5"])
def test_voxel_file_with_one_array_transposed_is_refused_in_one_line(tmp_path, capsys, fmt):
    mat = np.zeros((4, 6, 10), np.int32)
    mat[:, :, 5:] = 1
    rho = np.where(mat == 1, 1.85, 1.0)
    # material_id written as [z, y, x], density as [x, y, z]
    arrays = dict(material_id=mat.transpose(2, 1, 0), density_g_cm3=rho,
                  materials=np.array([b"water", b"bone_cortical"]), spacing_mm=np.array([2.0, 3.0, 4.0]),
                  origin_mm=np.array([-3.0, -7.5, 2.0]))
    path = tmp_path / f"phantom.{fmt}"
    if fmt == "npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v
    cfg = tmp_path / "vox.yaml"
    cfg.write_text(f"geometry: {{type: voxels, file: {path}}}\nbeam: {{energy_MeV: 60, position_mm: [0, 0, -10]}}\n"
                   f"run: {{primaries: 50, batches: 2}}\noutput: {{path: {tmp_path / 'vox.h5'}, plot: false}}\n")
    assert main([str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("flashmc: error: geometry") and "(4, 6, 10)" in err and "(10, 6, 4)" in err, err
    assert not (tmp_path / "vox.h5").exists()
