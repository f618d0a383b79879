"""Nuclear interactions: cross sections against evaluated data, kinematics and energy
conservation of single events, and their effect on the beam against independent references
(evaluated attenuation, Bortfeld's analytic Bragg curve, published secondary-dose fractions)."""

import numpy as np
import pytest

from mc.analysis import r_distal
from mc.jit import python_entry
from physics import bragg, nuclear
from physics.constants import AVOGADRO, PROTON_MASS_MEV
from physics.elements import element
from physics.materials import get_material
from physics.nuclear import (CHANNEL_NONELASTIC, CHANNEL_PP_ELASTIC, build_channels, nonelastic_xs_mb, pp_elastic_xs_mb,
                             product_model_parameters, sample_nonelastic_products)
from physics.species import SPECIES_PROTON
from physics.tables import build_tables

from .reference_data import BARASHENKOV_NONELASTIC_MB, ICRU63_ENTRANCE_EXCESS_PERCENT, ICRU63_O16_PROTON_MEAN_COS

cos_lab_elastic = python_entry(nuclear.cos_lab_elastic)  # a stage: compiled callers only
kalbach_cos_cm = python_entry(nuclear.kalbach_cos_cm)
kalbach_slope = python_entry(nuclear.kalbach_slope)


def test_nonelastic_cross_sections_agree_with_evaluated_data():
    # Wellisch-Axen against the Barashenkov evaluation of measurements, 20-250 MeV, C N O Ca:
    # the published comparisons quote agreement of a few per cent, worst for light nuclei.
    devs = []
    for Z, rows in BARASHENKOV_NONELASTIC_MB.items():
        T = np.array([r[0] for r in rows], float)
        ref = np.array([r[1] for r in rows], float)
        devs.extend(nonelastic_xs_mb(T, Z) / ref - 1.0)
    devs = np.array(devs)
    assert np.max(np.abs(devs)) < 0.10
    assert np.sqrt(np.mean(devs**2)) < 0.05


def test_hydrogen_channels():
    # no non-elastic p-p channel below the pion threshold; the p-p elastic channel of water
    # reproduces Fippel & Soukup's per-gram-of-water expression (units check)
    assert np.all(nonelastic_xs_mb([10.0, 100.0, 250.0], 1) == 0.0)
    T = np.array([20.0, 50.0, 100.0, 200.0])
    ch = build_channels([get_material("water")], T)
    k = list(ch.kind[0]).index(CHANNEL_PP_ELASTIC)
    expected = 0.315 * T**-1.126 + 3.78e-6 * T
    w_h = get_material("water").composition[1]
    assert ch.xs[0, k] == pytest.approx(expected * w_h / (2 * 1.00794 / 18.01528), rel=1e-9)
    # 32 mb per H atom at 100 MeV
    assert pp_elastic_xs_mb(100.0)[0] == pytest.approx(32.0, abs=0.5)
    # non-elastic channel of water = n_O sigma_O
    k = list(ch.kind[0]).index(CHANNEL_NONELASTIC)
    n_o = get_material("water").composition[8] * AVOGADRO / element(8).A
    assert ch.xs[0, k] == pytest.approx(n_o * nonelastic_xs_mb(T, 8) * 1e-27, rel=1e-12)


@pytest.mark.parametrize("T", [12.0, 100.0, 230.0])
def test_pp_elastic_kinematics_conserve_momentum(T):
    # lab angles of the two protons for CM-isotropic scattering: energy shares T1 + T2 = T;
    # longitudinal and transverse momentum must balance (relativistic)
    M = PROTON_MASS_MEV
    for f in (0.5, 0.7, 0.95):
        T1, T2 = f * T, (1.0 - f) * T
        c1, c2 = cos_lab_elastic(T1, T, M), cos_lab_elastic(T2, T, M)
        p0, p1, p2 = (np.sqrt(t * (t + 2 * M)) for t in (T, T1, T2))
        assert p1 * c1 + p2 * c2 == pytest.approx(p0, rel=1e-12)
        assert p1 * np.sqrt(1 - c1**2) == pytest.approx(p2 * np.sqrt(1 - c2**2), rel=1e-9)


#: ICRU Report 63 (2000), p + 16O non-elastic reactions, shares of the proton's energy T carried by
#: secondary protons, by deuterons, by alphas + recoils, and not absorbed (neutrons, gamma rays,
#: tritons, 3He, binding), and the mean secondary-proton energy [MeV]: from the multiplicities and
#: spectra distributed with MCsquare (Materials/oxygen/ICRU_Nuclear_inelastic.dat, github
#: e0404/MCsquare @ 4359baaf). T [MeV]: (f_p, f_d, f_local, f_rest, <E_p>).
ICRU63_O16 = {50: (0.376, 0.070, 0.127, 0.427, 15.5), 100: (0.418, 0.092, 0.091, 0.400, 24.7),
              120: (0.442, 0.097, 0.079, 0.381, 29.2), 150: (0.455, 0.097, 0.070, 0.377, 34.4),
              200: (0.475, 0.100, 0.060, 0.365, 43.9), 250: (0.507, 0.092, 0.053, 0.348, 54.3)}


@pytest.mark.parametrize("T", sorted(ICRU63_O16))
def test_nonelastic_energy_partition_follows_icru63(T):
    # The product model's mean shares of T against ICRU 63 (an independent evaluation of measured
    # data and nuclear-model calculations). Allowance: 0.01 of T at the energies the bands were set
    # at (50, 100, 150, 200, 250 MeV: two-decimal rounding of the band probabilities), 0.025 at
    # 120 MeV inside a band (the shares vary within it; 0.02 seen), 1.5 MeV on the mean proton
    # energy (a single exponent for all bands); plus 4 s.e. of the means of n reactions
    # (per-reaction shares scatter by < 0.25 of T).
    par = product_model_parameters()
    st = np.array([7, 8, 9, 10], np.uint64)
    prod = np.empty((64, 3))
    n = 20000
    shares = np.zeros((n, 4))
    e_p_sum, n_p = 0.0, 0
    for i in range(n):
        k, e_loc, e_neu, e_bind, _ = sample_nonelastic_products(st, float(T), par, prod)
        is_p = prod[:k, 0] == SPECIES_PROTON
        e_p = prod[:k, 1][is_p].sum()
        shares[i] = (e_p / T, prod[:k, 1][~is_p].sum() / T, e_loc / T, (e_neu + e_bind) / T)
        e_p_sum += e_p
        n_p += int(is_p.sum())
    allowance = 0.025 if T == 120 else 0.01
    se = shares.std(axis=0) / np.sqrt(n)
    for j, ref in enumerate(ICRU63_O16[T][:4]):
        assert abs(shares[:, j].mean() - ref) < allowance + 4 * se[j], (j, shares[:, j].mean(), ref)
    assert e_p_sum / n_p == pytest.approx(ICRU63_O16[T][4], abs=1.5)


def test_nonelastic_event_conserves_energy():
    par = product_model_parameters()
    st = np.array([1, 2, 3, 4], np.uint64)
    prod = np.empty((64, 3))
    for T in (8.0, 60.0, 150.0, 230.0):
        for _ in range(2000):
            n, e_loc, e_neu, e_bind, e_ovf = sample_nonelastic_products(st, T, par, prod)
            assert e_ovf == 0.0
            e_p = prod[:n, 1].sum()
            assert e_p + e_loc + e_neu + e_bind == pytest.approx(T, rel=1e-12)
            assert min(e_loc, e_neu, e_bind) >= 0.0
            assert np.all(prod[:n, 1] >= par[2]) and np.all(np.abs(prod[:n, 2]) <= 1.0)
            # binding energies 5, 3.25, ... MeV: never more than the geometric-series sum
            assert e_bind <= par[0] / (1.0 - par[1]) + 1e-12


@pytest.mark.parametrize("a", [0.05, 0.7, 3.5])
def test_kalbach_sampler_follows_its_density(a):
    # the inversion of a exp(a mu) / (2 sinh a) against the density itself: mean
    # coth(a) - 1/a and the distribution function in ten bins (naive quadrature)
    st = np.array([3, 1, 4, 1], np.uint64)
    mu = np.array([kalbach_cos_cm(st, a) for _ in range(40000)])
    assert np.all(np.abs(mu) <= 1.0)
    mean = 1.0 / np.tanh(a) - 1.0 / a
    assert abs(mu.mean() - mean) < 4 * mu.std() / np.sqrt(mu.size)
    edges = np.linspace(-1, 1, 11)
    x = np.linspace(-1, 1, 20001)
    cdf = np.concatenate([[0], np.cumsum(np.exp(a * 0.5 * (x[1:] + x[:-1])) * np.diff(x))])
    p = np.diff(np.interp(edges, x, cdf / cdf[-1]))
    h = np.histogram(mu, edges)[0] / mu.size
    assert np.all(np.abs(h - p) < 4 * np.sqrt(p * (1 - p) / mu.size) + 1e-4)


def test_kalbach_slope_against_published_values():
    # Kalbach (1988) Eq. (10) by hand: e_a = 150.6, e_b = 80.6 MeV -> X1 = 69.58, X3 = 21.94,
    # a = 0.04 X1 + 1.8e-6 X1^3 + 6.7e-7 X3^4 = 2.783 + 0.606 + 0.155 = 3.545
    assert kalbach_slope(150.0, 80.0, 0.6, 0.6) == pytest.approx(3.545, abs=2e-3)
    # below E_t3 both X1 and X3 equal e_b: e_a = 30.6, e_b = 10.6
    assert kalbach_slope(30.0, 10.0, 0.6, 0.6) == pytest.approx(0.04 * 10.6 + 1.8e-6 * 10.6**3 + 6.7e-7 * 10.6**4,
                                                                rel=1e-12)


@pytest.mark.parametrize("T", sorted(ICRU63_O16_PROTON_MEAN_COS))
def test_emission_angles_follow_icru63(T):
    # Mean laboratory cosine of the emitted protons per energy bin against ICRU 63's double-
    # differential data. Allowance 0.15: the cascade's energy law is not ICRU's, so a bin holds
    # a different mix of early (forward) and late emissions (seen: up to 0.13, at 0-10 MeV and
    # 230 MeV). The law used before (cos uniform on [2 dE/T - 1, 1]) is 0.18-0.29 too low in
    # the 0-60 MeV bins at 150 and 230 MeV.
    par = product_model_parameters()
    st = np.array([5, 6, 7, 8], np.uint64)
    prod = np.empty((64, 3))
    e, c = [], []
    for _ in range(20000):
        k, *_ = sample_nonelastic_products(st, float(T), par, prod)
        p = prod[:k][prod[:k, 0] == SPECIES_PROTON]
        e.extend(p[:, 1])
        c.extend(p[:, 2])
    e, c = np.array(e), np.array(c)
    for (lo, hi), ref in ICRU63_O16_PROTON_MEAN_COS[T].items():
        sel = (e >= lo) & (e < hi)
        assert abs(c[sel].mean() - ref) < 0.15 + 4 * c[sel].std() / np.sqrt(sel.sum()), (lo, hi, c[sel].mean(), ref)


@pytest.mark.parametrize("T", [150.0, 230.0])
def test_entrance_dose_matches_icru63_reference(run_cfg, T):
    # The first millimetre of a pencil beam in a laterally unbounded water layer: its dose
    # exceeds the primaries' electronic stopping (ICRU 90) by what nuclear-reaction products
    # leave in it; the reference integrates ICRU 63's double-differential cross sections
    # (benchmarks/entrance_reference.py). Allowance 0.5 % of the stopping term for the
    # reaction cross section (Wellisch-Axen is 4 % above ICRU 63 for O at 150 MeV) and the
    # local share (within 0.01 of T of ICRU 63), plus 4 s.e. The emission-angle law used before
    # gave +1.2-1.4 % (150 MeV) and +2.5 % (230 MeV) over the reference.
    from physics.stopping import electronic_mass_stopping

    res = run_cfg(f"""
geometry: {{type: box, material: water, size_mm: [400, 400, 10], voxel_mm: [400, 400, 1]}}
beam: {{energy_MeV: {T}, energy_spread_MeV: 0.0, position_mm: [0, 0, -1], spot_sigma_mm: [3, 3]}}
run: {{primaries: 1000000, seed: 13}}
""")
    water = get_material("water")
    s = float(np.atleast_1d(electronic_mass_stopping(water, T))[0])
    s_half = float(np.atleast_1d(electronic_mass_stopping(water, T - 0.05 * s))[0])
    expected = s_half * 0.1  # MeV per primary in 0.1 g/cm^2
    d1 = res.edep_per_primary[0, 0, 0]
    se = d1 * res.dose_std[0, 0, 0] / res.dose[0, 0, 0]
    excess = 100 * (d1 / expected - 1)
    assert abs(excess - ICRU63_ENTRANCE_EXCESS_PERCENT[int(T)]) < 0.5 + 4 * 100 * se / expected, excess


def _water_run(run_cfg, E, n, voxel_z=2.0, extra="", *overrides):
    return run_cfg(f"""
geometry: {{type: box, material: water, size_mm: [300, 300, {int(E * 1.6)}], voxel_mm: [300, 300, {voxel_z}]}}
beam: {{energy_MeV: {E}, position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 21, batches: 4}}
{extra}""", *overrides)


def _evaluated_primary_fluence(tab, E, z_cm):
    """exp(-int n_O sigma(E(z)) dz) with Barashenkov's evaluated p + O non-elastic cross section
    along the CSDA energy-depth relation of water (H contributes no non-elastic channel below
    the pion threshold)."""
    R0 = tab.csda_range(0, E)
    rows = BARASHENKOV_NONELASTIC_MB[8]
    z = np.linspace(0.0, z_cm, 400)
    Ez = tab.energy_from_range(0, R0 - z)
    sig = np.interp(Ez, [r[0] for r in rows], [r[1] for r in rows]) * 1e-27
    n_o = get_material("water").composition[8] * AVOGADRO / element(8).A
    return np.exp(-np.trapezoid(n_o * sig, z))


@pytest.mark.parametrize("E", [100.0, 150.0, 200.0])
def test_primary_fluence_at_mid_range_matches_evaluated_attenuation(run_cfg, E):
    n = 20000
    res = _water_run(run_cfg, E, n)
    tab = build_tables(["water"])
    R0 = tab.csda_range(0, E)
    z_edges = res.grid.lower_cm[2] + np.arange(res.grid.shape[2]) * res.grid.spacing_cm[2]
    k = int(np.argmin(abs(z_edges - R0 / 2)))
    zk = z_edges[k]
    phi = res.primary_fluence_z[k]
    ref_bortfeld = float(bragg.primary_fluence(zk, R0))  # linear model, beta = 0.012 /cm
    ref_eval = _evaluated_primary_fluence(tab, E, zk)
    # the criterion: the fluence within 5 % of both references
    assert phi == pytest.approx(ref_bortfeld, rel=0.05)
    assert phi == pytest.approx(ref_eval, rel=0.05)
    # the attenuation itself (1 - phi, only 4-12 % here, so the criterion above alone would
    # pass without any nuclear physics): within 15 % of the evaluated-data attenuation plus
    # 3 binomial standard deviations. Expected offsets: Wellisch-Axen is ~4 % above Barashenkov
    # for O, and p-p elastic collisions that leave the primary too little energy to reach
    # R0/2 remove another ~3 % of the attenuation. Observed: +13, +3, -0 % at 100, 150, 200 MeV,
    # with binomial standard deviations of 3.8, 2.5 and 2.0 % of the reference attenuation.
    att, att_ref = 1.0 - phi, 1.0 - ref_eval
    tol = 0.15 * att_ref + 3.0 * np.sqrt(phi * (1.0 - phi) / n)
    assert abs(att - att_ref) < tol


def test_free_paths_are_exponential_with_constant_cross_section():
    # One non-elastic channel with a constant 0.01 cm^2/g, sampled with a majorant twice as
    # large (half the sites rejected): the primary fluence behind z cm of water must be
    # exp(-0.01 z) exactly, within binomial noise (4 s.d.); primaries do not stop or leave
    # the 40 cm wide grid within 10 cm at 150 MeV.
    from mc.batch import batch_seed, kernel_inputs, run_batch
    from mc.config import load_config_text
    from mc.problem import build_geometry
    from mc.source import build_spots
    from mc.tally import BatchBuffers

    cfg, _ = load_config_text("""
geometry: {type: box, material: water, size_mm: [400, 400, 100], voxel_mm: [400, 400, 10]}
beam: {energy_MeV: 150, position_mm: [0, 0, -1]}
run: {primaries: 10}""")
    grid = build_geometry(cfg)
    spots = build_spots(cfg.beam, grid)
    tab = build_tables(grid.materials)
    inputs = kernel_inputs(grid, tab, spots, cfg.physics)
    assert inputs.nuclear.chan_xs is tab.chan_xs
    chan = np.zeros_like(tab.chan_xs)
    k = list(tab.chan_kind[0]).index(CHANNEL_NONELASTIC)
    chan[0, k, :] = 0.01
    sigma = np.full_like(tab.sigma_nuclear, 0.02)
    for a in (chan, sigma):
        a.setflags(write=False)  # (read-only as the tables: the kernel already compiled)
    inputs = inputs._replace(nuclear=inputs.nuclear._replace(chan_xs=chan, sigma=sigma))
    n = 20000
    buf = BatchBuffers(grid.shape)
    run_batch(batch_seed(3, 0), n, inputs, buf)
    z = np.arange(grid.shape[2]) * grid.spacing_cm[2]
    ref = np.exp(-0.01 * z)
    got = buf.fluence_z / n
    assert np.all(np.abs(got - ref) < 4.0 * np.sqrt(ref * (1.0 - ref) / n) + 1e-12)
    from mc.balance import energy_balance
    eb = energy_balance(buf.counters)
    # each candidate site is rejected with probability 1/2: the two counts (~1900 each here) differ
    # by a binomial spread of ~3.2 % of either; 10 % is 3 standard deviations
    assert eb["rejected_interaction_sites"] == pytest.approx(eb["nonelastic_events"], rel=0.1)


def test_energy_balance_closes_per_channel(run_cfg):
    # bone, lung and titanium slabs in a narrow water column: charged particles escape through
    # the sides and back, neutrals leave, fragments deposit on the spot
    res = run_cfg("""
geometry: {type: slabs, size_mm: [30, 30, 120], voxel_mm: [3, 3, 2],
           slabs: [{material: water, thickness_mm: 20}, {material: bone_cortical, thickness_mm: 20},
                   {material: lung, thickness_mm: 40}, {material: titanium, thickness_mm: 10},
                   {material: water, thickness_mm: 30}]}
beam: {energy_MeV: 160, spot_sigma_mm: [4, 4], position_mm: [0, 0, -5]}
run: {primaries: 3000, seed: 8, batches: 3}
output: {secondary_dose: true}""")
    eb = res.energy_balance
    assert eb["incident_MeV"] == pytest.approx(3000 * 160.0, rel=1e-12)
    for k in ("neutral_MeV", "binding_MeV", "deposited_secondary_proton_MeV", "deposited_local_fragments_MeV",
              "escaped_+z_MeV", "escaped_+x_MeV"):
        assert eb[k] > 0.0, k
    assert abs(eb["relative_imbalance"]) < 1e-9
    assert abs(eb["deposit_split_imbalance"]) < 1e-9
    n = res.primaries
    assert res.edep_per_primary.sum() * n == pytest.approx(eb["deposited_MeV"], rel=1e-9)
    sec = eb["deposited_secondary_proton_MeV"] + eb["deposited_secondary_other_MeV"] + \
        eb["deposited_local_fragments_MeV"]
    assert res.edep_secondary_per_primary.sum() * n == pytest.approx(sec, rel=1e-9)
    assert eb["nonelastic_events"] > 0 and eb["pp_elastic_events"] > 0 and eb["po_elastic_events"] > 0


def test_energy_carried_off_by_neutrals_is_in_published_range(run_cfg):
    # Of the energy released in non-elastic reactions along a 150 MeV beam in water, the share not
    # absorbed (neutrals and binding): ICRU 63's p + 16O partition, weighted along the track by the
    # released energy, gives 0.396 (first generation; the bands of the product model reproduce it,
    # test above); Bortfeld (1997, Med. Phys. 24:2024) takes 0.40 (gamma = 0.6, a rounded figure).
    # Allowance 0.03 for the secondaries' own reactions (released at lower energies, where ICRU 63
    # loses more) and for C and N read as O, plus the binomial-like scatter of 8000 histories
    # (~0.01). A broken neutral channel fails it (no neutrals: ~0.07 binding only; all fragments
    # to neutrals: ~0.55). The released energy itself (kinetic energy of protons entering
    # non-elastic reactions) follows Bortfeld's linear attenuation model within 15 % (our cross
    # sections are ~4 % above evaluated data and include secondaries; -4 % observed).
    E = 150.0
    res = _water_run(run_cfg, E, 8000)
    eb = res.energy_balance
    not_local = (eb["neutral_MeV"] + eb["binding_MeV"]) / eb["nonelastic_energy_MeV"]
    assert abs(not_local - 0.396) < 0.04
    released, _ = bragg.nonelastic_energy_budget(E, build_tables(["water"]).csda_range(0, E))
    assert eb["nonelastic_energy_MeV"] / eb["incident_MeV"] == pytest.approx(released / E, rel=0.15)


def test_pristine_bragg_curve_shape_150MeV(run_cfg):
    # mono-energetic 150 MeV, no energy spread: peak-to-entrance ratio and R80 against Bortfeld's
    # analytic curve (1997, Med. Phys. 24:2024, eqs. 26-29, nuclear build-down included) with
    # R0 = our CSDA range and his gamma (the locally absorbed share of the energy released in
    # non-elastic reactions) replaced by the run's own, from its energy balance (0.61 here, after
    # ICRU 63's partition; the MOQUI parameters gave 0.69, which moves the reference ratio by
    # -2 %). Peak and entrance are means
    # of 4 bins (2 mm), so that their standard errors (16 batches) hold. Tolerance: 3 s.e. of the
    # ratio plus 3 % for the model's approximations (the secondaries' energy absorbed where the
    # reaction happens, a Gaussian range spread of the width of Bortfeld's eq. 18); observed +1.3 %
    # (s.e. 1.0 %).
    E = 150.0
    res = _water_run(run_cfg, E, 16000, 0.5, "", "run.batches=16")
    z = res.grid.axis_centres_cm(2)
    d, s = res.dose[0, 0].astype(float), res.dose_std[0, 0].astype(float)
    k = int(np.argmax(d))
    peak, entr = slice(k - 2, k + 2), slice(0, 4)
    pe_mc = d[peak].mean() / d[entr].mean()
    se = pe_mc * np.hypot(np.sqrt((s[peak] ** 2).sum()) / d[peak].sum(), np.sqrt((s[entr] ** 2).sum()) / d[entr].sum())
    eb = res.energy_balance
    gamma = 1.0 - (eb["neutral_MeV"] + eb["binding_MeV"]) / eb["nonelastic_energy_MeV"]
    R0 = build_tables(["water"]).csda_range(0, E)
    ref = bragg.depth_dose(z, R0, bragg.sigma_straggling(R0), gamma=gamma)
    kr = int(np.argmax(ref))
    pe_ref = ref[kr - 2:kr + 2].mean() / ref[entr].mean()
    assert abs(pe_mc / pe_ref - 1.0) < 0.03 + 3.0 * se / pe_mc, (pe_mc, pe_ref, se)
    idd = res.edep_per_primary.sum(axis=(0, 1))
    assert abs(r_distal(z, idd, 0.8) - r_distal(z, ref, 0.8)) < 0.05  # 0.5 mm


def test_secondary_protons_build_up_with_depth(run_cfg):
    # Paganetti (2002, Phys. Med. Biol. 47:747): secondary protons give up to ~10 % of the
    # dose proximal to the Bragg peak of a 160 MeV beam, building up from the surface
    res = _water_run(run_cfg, 160.0, 4000, extra="output: {secondary_dose: true}")
    z = res.grid.axis_centres_cm(2)
    total = res.edep_per_primary.sum(axis=(0, 1))
    sec = res.edep_secondary_per_primary.sum(axis=(0, 1))
    frac = sec / np.where(total > 0, total, 1.0)
    R0 = build_tables(["water"]).csda_range(0, 160.0)
    f_entr = frac[z < 0.4].mean()
    f_mid = frac[(z > 0.4 * R0) & (z < 0.6 * R0)].mean()
    assert f_entr < f_mid
    assert 0.05 < f_mid < 0.15


def test_nuclear_switch_off(run_cfg):
    res = _water_run(run_cfg, 100.0, 300, extra="physics: {nuclear: false}")
    eb = res.energy_balance
    assert eb["nonelastic_events"] == 0 and eb["neutral_MeV"] == 0 and eb["pp_elastic_events"] == 0
    assert res.primary_fluence_z[int(0.9 * 7.7 / 0.2)] == pytest.approx(1.0)
