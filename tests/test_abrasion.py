"""Tests of physics/abrasion.py: Glauber abrasion of light-ion projectiles and its samplers.

References written in as constants:

* ``NP_TOTAL_MB``: the measured np total cross section, ~73 mb at 100 MeV and ~34 mb at
  400 MeV (round values, +-1 mb, of the SAID partial-wave solution of Arndt et al., the curve of
  the Particle Data Group's "NN total cross sections" figure). ``PP_BAND_MB``: the pp total
  cross section lies in 23-33 mb between 100 and 400 MeV (same compilation).
* ``REF_TRIPATHI`` values come from :func:`physics.ion_nuclear.reaction_xs_mb` (Tripathi et al.
  1996/1999, tested in ``tests/test_ion_nuclear.py``), an independent model of the same quantity.
* ``KOX_PARAMETRISATION``: 12C + C and 12C + O from the parametrisation of Kox et al. (1987,
  Phys. Rev. C 35:1678) fitted to their measured reaction cross sections, file
  ``nuclear_reaction_xs_formulas_mb.csv`` of the project's carbon/helium reference set.
* Closed forms derived in the test: the hypergeometric mean and variance, the Fermi-gas hole
  depth moments (2/5 E_F, 12/175 E_F^2), Goldhaber's variance, and the wounded-nucleon identity
  <n> = A_P sigma_NA / sigma_AA with the Gaussian optical-limit nucleon-nucleus cross section
  sigma_NA = pi a_T^2 [ln x + gamma_E + E1(x)], x = sigma_NN A_T / (pi a_T^2).
"""

import math

import numba
import numpy as np
import pytest
from scipy.special import exp1

from physics import abrasion as ab
from physics.ion_nuclear import reaction_xs_mb

# Round values of the np total cross section [mb] (SAID / PDG compilation, +-1 mb), by lab energy [MeV].
NP_TOTAL_MB = {100.0: 73.0, 400.0: 34.0}
# Band of the pp total cross section [mb] between 100 and 400 MeV (same compilation).
PP_BAND_MB = (23.0, 33.0)

# 12C + C / O, Kox et al. (1987) parametrisation [mb], nuclear_reaction_xs_formulas_mb.csv.
KOX_PARAMETRISATION = {(6, 12): {100: 939.8, 200: 888.1, 400: 865.4},
                       (8, 16): {100: 1066.6, 200: 1012.9, 400: 989.3}}

# Optical-limit Glauber reproduces measured reaction cross sections of light systems to ~10 %
# (zero-range NN interaction, no NN correlations, no Pauli blocking); the parametrisations of the
# reference set differ from each other by up to ~5 % (its README). The tolerance against
# Tripathi is the two in quadrature; against Kox (a fit to measurements) the 10 % alone.
TOL_TRIPATHI = math.hypot(0.10, 0.05)
TOL_KOX = 0.10


def test_sigma_nn_against_measured_values():
    """Charagi & Gupta (1990) against the measured np total cross section (5 %: the +-1 mb of the
    round values plus the fit's scatter) and the pp band (10 % either side: the fit's quality
    for pp, which has no np-like 1/beta^2 rise to anchor it)."""
    for E, ref in NP_TOTAL_MB.items():
        _, s_np = ab.sigma_nn_mb(E)
        assert abs(s_np / ref - 1.0) < 0.05, (E, s_np, ref)
    s_pp, _ = ab.sigma_nn_mb(np.array([100.0, 200.0, 300.0, 400.0]))
    assert np.all(s_pp > 0.9 * PP_BAND_MB[0]) and np.all(s_pp < 1.1 * PP_BAND_MB[1]), s_pp
    # (B3) for N = Z partners is the plain mean of sigma_pp and sigma_np
    s_pp, s_np = ab.sigma_nn_mb(200.0)
    assert ab.sigma_nn_average_mb(6, 12, 8, 16, 200.0) == pytest.approx(0.5 * (s_pp + s_np), rel=1e-12)


@pytest.mark.parametrize("target", [(6, 12), (8, 16), (1, 1)])
@pytest.mark.parametrize("E", [100.0, 200.0, 400.0])
def test_glauber_reaction_xs_against_tripathi_12c(target, E):
    """12C + C, O, H: measured 100 / 200 / 400 MeV/u differences -3.7 / -6.0 / -6.2 % (C),
    -0.0 / -2.8 / -3.0 % (O), +3.3 / -10.5 / -9.1 % (H)."""
    zt, at = target
    glauber = ab.glauber_reaction_xs_mb(6, 12, zt, at, E)
    ref = reaction_xs_mb(6, 12, zt, at, E)[0]
    assert abs(glauber / ref - 1.0) < TOL_TRIPATHI, (target, E, glauber, ref)


def test_glauber_reaction_xs_against_tripathi_4he_oxygen_400():
    """4He + O at 400 MeV/u: measured +2.7 %."""
    glauber = ab.glauber_reaction_xs_mb(2, 4, 8, 16, 400.0)
    ref = reaction_xs_mb(2, 4, 8, 16, 400.0)[0]
    assert abs(glauber / ref - 1.0) < TOL_TRIPATHI, (glauber, ref)


@pytest.mark.xfail(strict=True, reason="Tripathi's light-system 4He + X term D(E) rises sigma_R by 29 % from "
                   "175 to 400 MeV/u; the Glauber value is 41 % (100) and 31 % (200 MeV/u) above it")
@pytest.mark.parametrize("E", [100.0, 200.0])
def test_glauber_reaction_xs_against_tripathi_4he_oxygen_low(E):
    glauber = ab.glauber_reaction_xs_mb(2, 4, 8, 16, E)
    ref = reaction_xs_mb(2, 4, 8, 16, E)[0]
    assert abs(glauber / ref - 1.0) < TOL_TRIPATHI, (glauber, ref)


def test_glauber_reaction_xs_against_kox():
    """12C + C / O against Kox et al. (1987): measured -2.2 / -8.3 / -5.6 % (C) and +1.5 / -5.0 /
    -2.5 % (O) at 100 / 200 / 400 MeV/u."""
    for (zt, at), row in KOX_PARAMETRISATION.items():
        for E, ref in row.items():
            glauber = ab.glauber_reaction_xs_mb(6, 12, zt, at, float(E))
            assert abs(glauber / ref - 1.0) < TOL_KOX, (zt, E, glauber, ref)


@pytest.mark.parametrize("case", [(6, 12, 6, 12, 200.0), (6, 12, 1, 1, 10.0), (6, 12, 26, 56, 50.0),
                                  (2, 4, 8, 16, 100.0), (3, 7, 8, 16, 1000.0)])
def test_abraded_distribution_normalised(case):
    P = ab.abraded_distribution(*case)
    assert P.shape == (case[1] + 1,)
    assert P[0] == 0.0 and np.all(P >= 0.0)
    assert P.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("case", [(6, 12, 6, 12, 200.0), (6, 12, 8, 16, 100.0), (2, 4, 8, 16, 400.0),
                                  (6, 12, 20, 40, 50.0)])
def test_mean_abraded_wounded_nucleon_identity(case):
    """Sum_n n P(n) sigma_R = integral d^2b A_P p(b) = A_P sigma_NA (integrating (A1) over b first),
    sigma_NA = integral d^2b [1 - exp(-sigma T_T(b))] = pi a^2 [ln x + gamma_E + E1(x)] for a
    Gaussian target (u = b^2/a^2 turns it into pi a^2 integral_0^x (1 - e^-t)/t dt). Checks the
    b, s and azimuthal quadratures of (A1)-(A3) to 1e-6. The means themselves: 12C + C 3.12 at
    200 MeV/u, 12C + O 3.85 at 100 MeV/u, 4He + O 1.93 at 400 MeV/u."""
    zp, ap, zt, at, E = case
    a2 = ab.gaussian_width_sq_fm2(at)
    x = 0.1 * ab.sigma_nn_average_mb(zp, ap, zt, at, E) * at / (math.pi * a2)
    sigma_na_mb = 10.0 * math.pi * a2 * (math.log(x) + np.euler_gamma + exp1(x))
    mean_n = np.dot(np.arange(ap + 1), ab.abraded_distribution(*case))
    expected = ap * sigma_na_mb / ab.glauber_reaction_xs_mb(*case)
    assert mean_n == pytest.approx(expected, rel=1e-6)
    assert 1.0 < mean_n < 0.5 * ap  # peripheral collisions dominate: fewer than half the nucleons on average


def test_mean_abraded_hydrogen_target():
    """Point target (A5): integral d^2b A_P p(b) = sigma_NN A_P, so <n> = A_P sigma_NN / sigma_R
    (no clipping at 200 MeV/u: sigma_NN T_P(0)/A_P = 0.24). Measured <n> = 1.72."""
    mean_n = np.dot(np.arange(13), ab.abraded_distribution(6, 12, 1, 1, 200.0))
    expected = 12 * ab.sigma_nn_average_mb(6, 12, 1, 1, 200.0) / ab.glauber_reaction_xs_mb(6, 12, 1, 1, 200.0)
    assert mean_n == pytest.approx(expected, rel=1e-6)


@numba.njit
def _draw_abraded(st, ip, it, E, tab, n_draws, counts):
    for _ in range(n_draws):
        counts[ab.sample_abraded(st, ip, it, E, tab)] += 1


def _check_frequencies(counts, P):
    """Binomial 5-sigma check of observed counts against probabilities P."""
    N = counts.sum()
    f = counts / N
    tol = 5.0 * np.sqrt(P * (1.0 - P) / N) + 1e-4
    assert np.all(np.abs(f - P) < tol), (f, P)


def test_sample_abraded_interpolates_without_bias():
    """Between grid energies the sampled law is the ln E-linear mixture of the two tables; below and
    above the grid the end tables."""
    tab = ab.build_abrasion_tables([(6, 12), (2, 4)], [1, (8, 16)])
    assert tab.cdf.shape == (2, 2, 7, ab.N_MAX + 1)
    assert list(tab.target_A) == [1, 16] and np.all(tab.cdf[1, :, :, 4:] == 1.0)
    st = np.array([11, 12, 13, 14], np.uint64)
    n_draws = 200_000
    w = math.log(150.0 / 100.0) / math.log(200.0 / 100.0)
    P = (1.0 - w) * ab.abraded_distribution(6, 12, 8, 16, 100.0) + w * ab.abraded_distribution(6, 12, 8, 16, 200.0)
    counts = np.zeros(ab.N_MAX + 1, np.int64)
    _draw_abraded(st, 0, 1, 150.0, tab, n_draws, counts)
    _check_frequencies(counts, np.pad(P, (0, ab.N_MAX + 1 - P.size)))
    for E, E_table in ((3.0, 10.0), (5000.0, 1000.0)):
        counts = np.zeros(ab.N_MAX + 1, np.int64)
        _draw_abraded(st, 1, 0, E, tab, n_draws, counts)
        P = ab.abraded_distribution(2, 4, 1, 1, E_table)
        _check_frequencies(counts, np.pad(P, (0, ab.N_MAX + 1 - P.size)))


@numba.njit
def _draw_protons(st, n, Z, A, n_draws):
    out = np.empty(n_draws)
    for i in range(n_draws):
        out[i] = ab.sample_removed_protons(st, n, Z, A)
    return out


@pytest.mark.parametrize("n, Z, A", [(5, 6, 12), (3, 2, 4), (4, 5, 11)])
def test_removed_protons_hypergeometric_moments(n, Z, A):
    """Mean n Z/A and variance n (Z/A)(1 - Z/A)(A - n)/(A - 1) (hypergeometric law)."""
    z = _draw_protons(np.array([1, 2, 3, 4], np.uint64), n, Z, A, 200_000)
    mean = n * Z / A
    var = n * (Z / A) * (1.0 - Z / A) * (A - n) / (A - 1.0)
    assert abs(z.mean() - mean) < 5.0 * math.sqrt(var / z.size)
    assert z.var() == pytest.approx(var, rel=0.02)
    assert z.min() >= max(0, n - (A - Z)) and z.max() <= min(n, Z)


@numba.njit
def _draw_holes(st, n, E_F, n_draws):
    out = np.empty(n_draws)
    for i in range(n_draws):
        out[i] = ab.sample_hole_excitation(st, n, E_F)
    return out


@pytest.mark.parametrize("n", [1, 3])
def test_hole_excitation_moments(n):
    """Fermi-gas hole depth E_F (1 - u^(2/3)): <u^(2/3)> = 3/5 and <u^(4/3)> = 3/7 give mean
    (2/5) E_F and variance (3/7 - 9/25) E_F^2 = (12/175) E_F^2 per hole; n holes add."""
    E_F = ab.fermi_energy_MeV(12)
    e = _draw_holes(np.array([5, 6, 7, 8], np.uint64), n, E_F, 200_000)
    mean = 0.4 * n * E_F
    var = 12.0 / 175.0 * n * E_F**2
    assert abs(e.mean() - mean) < 5.0 * math.sqrt(var / e.size)
    assert e.var() == pytest.approx(var, rel=0.02)
    assert e.min() >= 0.0 and e.max() <= n * E_F


def test_fermi_momenta_and_energy():
    """Moniz et al. (1971) Table I values at the tabulated nuclei; the A <= 6 and linear rules;
    E_F(12C) = 221^2 / (2 x 938.92) = 26.01 MeV."""
    assert ab.fermi_momentum_MeV_c(12) == 221.0
    assert ab.fermi_momentum_MeV_c(40) == 251.0
    assert ab.fermi_momentum_MeV_c(4) == 169.0
    assert ab.fermi_momentum_MeV_c(9) == pytest.approx(0.5 * (169.0 + 221.0))
    assert ab.fermi_energy_MeV(12) == pytest.approx(26.01, abs=0.01)


@numba.njit
def _draw_goldhaber(st, A_F, A_P, sigma0, n_draws):
    out = np.empty((n_draws, 3))
    for i in range(n_draws):
        out[i, 0], out[i, 1], out[i, 2] = ab.sample_goldhaber(st, A_F, A_P, sigma0)
    return out


def test_goldhaber_variance():
    """Each component Gaussian with sigma^2 = sigma0^2 A_F (A_P - A_F)/(A_P - 1) (Goldhaber 1974),
    sigma0 = p_F / sqrt(5); mean zero; no kick when nothing is removed."""
    sigma0 = ab.fermi_momentum_MeV_c(12) / math.sqrt(5.0)
    q = _draw_goldhaber(np.array([9, 8, 7, 6], np.uint64), 8, 12, sigma0, 200_000)
    var = sigma0**2 * 8 * 4 / 11.0
    assert np.all(np.abs(q.mean(axis=0)) < 5.0 * math.sqrt(var / q.shape[0]))
    assert q.var(axis=0) == pytest.approx(np.full(3, var), rel=0.02)
    assert _draw_goldhaber(np.array([9, 8, 7, 6], np.uint64), 12, 12, sigma0, 1)[0].tolist() == [0.0, 0.0, 0.0]
