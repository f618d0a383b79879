"""Tests of physics.fermi_breakup: channels, weights (eq. 1-6), thresholds, sampled kinematics.

References written out here: the n-body phase-space integral (Bondorf et al. 1995, Phys. Rep. 257:133,
sect. 3.2; n = 2: 4 pi sqrt(2) mu^(3/2) K^(1/2)), relativistic two-body kinematics, the analytic
single-particle energy density of three equal masses, and the measured break-up thresholds of the TUNL
light-nuclei evaluations.
"""

import itertools
import math

import numba
import numpy as np
import pytest

from physics.fermi_breakup import (
    MAX_MULT,
    POOL,
    build_breakup_tables,
    channel_names,
    channel_weights,
    draw_channel,
    sample_breakup,
)
from physics.nuclides import nuclide

BT = build_breakup_tables()
NAMES = channel_names(BT)
HBARC = 197.3269804  # MeV fm, CODATA 2018
E2 = 7.2973525693e-3 * HBARC  # e^2 = alpha hbar c = 1.4399645 MeV fm, CODATA 2018
R0, KAPPA = 1.3, 1.0  # fm; Geant4 G4FermiConfiguration.cc (Kappa = 1.0, r0 = 1.3*fermi)


def _channels(A, Z):
    """{channel name: channel index} of prefragment (A, Z)."""
    c0 = BT.first[A, Z]
    return {NAMES[c]: c for c in range(c0, c0 + BT.count[A, Z])}


def _mass(name):
    return nuclide(name).mass_MeV


def _coulomb(A, Z, frags):
    """E_C of eq. (5), written out: frags = [(A_i, Z_i), ...]."""
    coef = 0.6 * E2 / R0 / (1.0 + KAPPA) ** (1.0 / 3.0)
    return coef * (Z**2 / A ** (1 / 3) - sum(z**2 / a ** (1 / 3) for a, z in frags))


def _weight(c, E_star):
    return math.exp(BT.log_c[c] + (1.5 * BT.mult[c] - 2.5) * math.log(E_star - BT.q[c]))


@numba.njit
def _sample_many(seed, A, Z, E_star, bt, n):
    st = np.array([seed, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB], dtype=np.uint64)
    rows = np.zeros((n, MAX_MULT, 4))
    n_out = np.zeros(n, np.int64)
    e_gamma = np.zeros(n)
    for i in range(n):
        k, eg = sample_breakup(st, A, Z, E_star, bt, rows[i])
        n_out[i] = k
        e_gamma[i] = eg
    return rows, n_out, e_gamma


@numba.njit
def _draw_many(seed, A, Z, E_star, bt, n):
    st = np.array([seed, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB], dtype=np.uint64)
    counts = np.zeros(bt.mult.shape[0], np.int64)
    for _ in range(n):
        counts[draw_channel(st, A, Z, E_star, bt)] += 1
    return counts


def test_channels_of_12C_and_conservation():
    """12C has the break-up channels of the Fermi model listed below and the whole nucleus; every channel
    of every (A, Z) conserves A and Z and has <= 12 members."""
    ch = _channels(12, 6)
    for name in ("4He + 4He + 4He", "4He + 8Be", "p + 11B", "n + 11C", "6Li + 6Li", "d + 10B", "t + 9B",
                 "3He + 9Be", "12C"):
        assert name in ch, name
    assert "4He + 4He + 4He + 4He" not in ch
    for A in range(1, 13):
        for Z in range(0, min(A, 6) + 1):
            assert BT.count[A, Z] >= 1, (A, Z)
            for c in range(BT.first[A, Z], BT.first[A, Z] + BT.count[A, Z]):
                f = BT.frag[c, :BT.mult[c]]
                assert BT.pool_A[f].sum() == A and BT.pool_Z[f].sum() == Z, NAMES[c]
                assert np.all(BT.frag[c, BT.mult[c]:] == -1)


def test_enumeration_against_brute_force():
    """For A <= 6 every multiset of pool members (2 to A of them) with the right A and Z is a channel
    and no other (brute force over all multisets)."""
    for A in range(2, 7):
        for Z in range(0, min(A, 6) + 1):
            expected = set()
            for n in range(2, A + 1):
                for combo in itertools.combinations_with_replacement(range(len(POOL)), n):
                    if sum(POOL[k][2] for k in combo) == A and sum(POOL[k][1] for k in combo) == Z:
                        expected.add(combo)
            got = {tuple(BT.frag[c, :BT.mult[c]]) for c in range(BT.first[A, Z], BT.first[A, Z] + BT.count[A, Z])
                   if BT.mult[c] >= 2}
            assert got == expected, (A, Z)


def test_two_body_weight_closed_form():
    """W(12C* -> p + 11B) at E* = 25 MeV, eq. (2) with the n = 2 phase space 4 pi sqrt(2) mu^(3/2) K^(1/2),
    S = 2 * 4, G = 1, V = 4 pi/3 r0^3 A, written out here; agreement to rounding (1e-10)."""
    m_p, m_b, m_c = _mass("p"), _mass("11B"), _mass("12C")
    mu = m_p * m_b / (m_p + m_b)
    K = 25.0 + m_c - m_p - m_b - _coulomb(12, 6, [(1, 1), (11, 5)])
    V = 4.0 * math.pi / 3.0 * R0**3 * 12
    w_hand = (2 * 4 / 1) * V / (2 * math.pi * HBARC) ** 3 * 4 * math.pi * math.sqrt(2) * mu**1.5 * K**0.5
    c = _channels(12, 6)["p + 11B"]
    assert _weight(c, 25.0) == pytest.approx(w_hand, rel=1e-10)


def test_three_body_weight_and_competition_at_14MeV():
    """At E* = 14 MeV only 12C* -> 8Be + alpha and -> 3 alpha are open; their probabilities are the
    hand-computed W ratio (3 alpha: S = 1, G = 3! = 6, Phi_3 = (m^3 / 3m)^(3/2) (2 pi)^3 / Gamma(3) K^2)."""
    m_a, m_8, m_c = _mass("4He"), _mass("8Be"), _mass("12C")
    V = 4.0 * math.pi / 3.0 * R0**3 * 12
    f = V / (2 * math.pi * HBARC) ** 3
    k3 = 14.0 + m_c - 3 * m_a - _coulomb(12, 6, [(4, 2)] * 3)
    w3 = (1 / 6) * f**2 * (m_a**3 / (3 * m_a)) ** 1.5 * (2 * math.pi) ** 3 / 2.0 * k3**2
    k2 = 14.0 + m_c - m_a - m_8 - _coulomb(12, 6, [(4, 2), (8, 4)])
    w2 = f * 4 * math.pi * math.sqrt(2) * (m_a * m_8 / (m_a + m_8)) ** 1.5 * k2**0.5
    ch = _channels(12, 6)
    assert _weight(ch["4He + 4He + 4He"], 14.0) == pytest.approx(w3, rel=1e-10)
    p = channel_weights(BT, 12, 6, 14.0)
    c0 = BT.first[12, 6]
    assert p[ch["4He + 4He + 4He"] - c0] == pytest.approx(w3 / (w2 + w3), rel=1e-10)
    assert p[ch["4He + 8Be"] - c0] == pytest.approx(w2 / (w2 + w3), rel=1e-10)
    assert np.count_nonzero(p) == 2


def test_thresholds():
    """Mass thresholds against the measured ones (atomic-mass Q values of the TUNL evaluations; the
    nuclear masses of physics.nuclides differ from atomic-mass differences by the electron binding,
    0.8 keV for 12C -> 3 alpha, hence the 2 keV tolerance):
    12C -> 3 alpha 7.2747 MeV and 12C -> 8Be + alpha (alpha separation energy) 7.3666 MeV (Kelley, Purcell
    & Sheu 2017, Nucl. Phys. A 968:71, A = 12); 6Li -> alpha + d 1.4743 MeV (Tilley et al. 2002,
    Nucl. Phys. A 708:3, A = 5-7). The weight threshold q lies E_C of eq. (5) higher."""
    ch12, ch6 = _channels(12, 6), _channels(6, 3)
    for ch, name, ref, frags, A, Z in ((ch12, "4He + 4He + 4He", 7.2747, [(4, 2)] * 3, 12, 6),
                                       (ch12, "4He + 8Be", 7.3666, [(4, 2), (8, 4)], 12, 6),
                                       (ch6, "d + 4He", 1.4743, [(2, 1), (4, 2)], 6, 3)):
        c = ch[name]
        assert abs(BT.q_mass[c] - ref) < 2e-3, (name, BT.q_mass[c], ref)
        assert BT.q[c] - BT.q_mass[c] == pytest.approx(_coulomb(A, Z, frags), rel=1e-6)
    # closed just below, open just above the weight threshold
    c = ch12["4He + 8Be"]
    c0 = BT.first[12, 6]
    assert channel_weights(BT, 12, 6, BT.q[c] - 1e-6)[c - c0] == 0.0
    assert channel_weights(BT, 12, 6, BT.q[c] + 1e-6)[c - c0] == 1.0


@pytest.mark.parametrize("A,Z,E_star", [(12, 6, 40.0), (12, 6, 14.0), (12, 6, 5.0), (11, 6, 30.0), (10, 5, 25.0),
                                        (9, 5, 2.0), (9, 5, 0.0), (8, 4, 0.0), (5, 3, 0.5), (6, 3, 8.0), (3, 0, 1.0),
                                        (4, 2, 30.0)])
def test_conservation(A, Z, E_star):
    """Over 2000 break-ups: sum p = 0 (1e-9 MeV/c), sum sqrt(m^2 + p^2) = M* - E_gamma (1e-9 relative),
    sum A, sum Z conserved, only bound fragments in the output."""
    rows, n_out, e_gamma = _sample_many(7, A, Z, E_star, BT, 2000)
    M_star = BT.ref_mass[A, Z] + E_star
    for i in range(len(n_out)):
        r = rows[i, :n_out[i]]
        k = r[:, 0].astype(int)
        assert np.all(BT.pool_decay[k, 0] == -1)
        assert BT.pool_A[k].sum() == A and BT.pool_Z[k].sum() == Z
        assert np.all(np.abs(r[:, 1:].sum(axis=0)) < 1e-9)
        e = np.sqrt(BT.pool_mass[k] ** 2 + (r[:, 1:] ** 2).sum(axis=1)).sum()
        assert abs(e - (M_star - e_gamma[i])) < 1e-9 * M_star
    if (A, Z, E_star) == (12, 6, 5.0):  # below every weight threshold: stays whole, E* to gamma rays
        assert np.all(n_out == 1) and np.all(e_gamma == 5.0)
    else:
        assert np.all(e_gamma == 0.0)


def test_two_body_momentum_is_fixed():
    """6Li* at 2.5 MeV can only go to alpha + d; every alpha has the two-body momentum
    p* = sqrt[(M^2 - (m1 + m2)^2)(M^2 - (m1 - m2)^2)] / 2M (relativistic kinematics), to 1e-9."""
    p = channel_weights(BT, 6, 3, 2.5)
    assert p[_channels(6, 3)["d + 4He"] - BT.first[6, 3]] == 1.0
    M = _mass("6Li") + 2.5
    m1, m2 = _mass("4He"), _mass("2H")
    p_star = math.sqrt((M**2 - (m1 + m2) ** 2) * (M**2 - (m1 - m2) ** 2)) / (2 * M)
    rows, n_out, _ = _sample_many(11, 6, 3, 2.5, BT, 500)
    assert np.all(n_out == 2)
    pm = np.sqrt((rows[:, :2, 1:] ** 2).sum(axis=2))
    assert np.all(np.abs(pm / p_star - 1.0) < 1e-9)


def test_three_equal_masses_energy_density():
    """3 neutrons sharing K = 1 MeV ((A, Z) = (3, 0), no Coulomb term): with p_1 fixed, the other two share
    -p_1 and have relative energy K - e - e/2, whose two-body density is prop. to sqrt(K - 3e/2); with
    d^3 p_1 prop. to sqrt(e) de the single-particle density is f(e) prop. to sqrt(e) sqrt(e_max - e),
    e_max = 2K/3, i.e. x = e/e_max ~ Beta(3/2, 3/2): mean 1/2, variance 1/16, CDF
    F(x) = (2 theta - sin(4 theta)/2) / pi, theta = asin(sqrt x). 20000 samples: mean within 5 sigma
    (sigma = 0.25/sqrt(N)), variance within 5 sigma, chi2 of 10 equiprobable bins < 27.9 (p = 1e-3,
    9 dof). Relativistic corrections are O(K/m) = 1e-3, far below these tolerances."""
    n = 20000
    rows, n_out, _ = _sample_many(3, 3, 0, 1.0, BT, n)
    assert np.all(n_out == 3)
    m = _mass("n")
    e = np.sqrt(m**2 + (rows[:, 0, 1:] ** 2).sum(axis=1)) - m
    x = e / (2.0 / 3.0 * 1.0)
    assert x.max() < 1.0 + 1e-3
    assert abs(x.mean() - 0.5) < 5 * 0.25 / math.sqrt(n)
    var_sigma = math.sqrt((1 / 128 - 1 / 256) / n)  # sqrt((mu4 - sigma^4)/N), mu4 = 1/128 for Beta(3/2,3/2)
    assert abs(x.var() - 1 / 16) < 5 * var_sigma
    theta = np.arcsin(np.sqrt(np.clip(x, 0.0, 1.0)))
    u = (2 * theta - np.sin(4 * theta) / 2) / math.pi  # uniform on [0, 1) if f(e) is right
    counts = np.histogram(u, bins=10, range=(0.0, 1.0))[0]
    chi2 = ((counts - n / 10) ** 2 / (n / 10)).sum()
    assert chi2 < 27.9, chi2


def test_channel_frequencies_match_weights():
    """12C* at 40 MeV: 200000 drawn channels against N p_c of channel_weights, every channel within
    5 binomial sigma (plus 1 count); closed channels never drawn."""
    n = 200000
    counts = _draw_many(5, 12, 6, 40.0, BT, n)
    c0, nc = BT.first[12, 6], BT.count[12, 6]
    p = channel_weights(BT, 12, 6, 40.0)
    assert np.count_nonzero(p) > 30
    assert counts.sum() == n and counts[c0:c0 + nc].sum() == n
    got = counts[c0:c0 + nc]
    sigma = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(got - n * p) <= 5 * sigma + 1), np.max(np.abs(got - n * p) / (sigma + 1e-30))
    assert np.all(got[p == 0] == 0)


def test_fallbacks_below_thresholds():
    """Below every weight threshold a bound member stays whole (12C at 5 MeV); an unbound one goes into
    its lowest-mass channel (8Be at E* = 0 -> 2 alpha: the Coulomb term closes the weight)."""
    p12 = channel_weights(BT, 12, 6, 5.0)
    assert p12[_channels(12, 6)["12C"] - BT.first[12, 6]] == 1.0
    p8 = channel_weights(BT, 8, 4, 0.0)
    assert p8[_channels(8, 4)["4He + 4He"] - BT.first[8, 4]] == 1.0
    assert nuclide("n").Z == 0 and nuclide("neutron").mass_MeV == pytest.approx(939.56542052, abs=1e-6)
