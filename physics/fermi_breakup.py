"""Fermi break-up of light excited nuclei (A <= 12): channel weights and momenta of the fragments.

A prefragment (A, Z) with excitation energy E* [MeV] (left by the abrasion stage of projectile
fragmentation) breaks up at once into fragments of a fixed pool, with the probability of each channel
proportional to its microcanonical phase space (Fermi 1950, Prog. Theor. Phys. 5:570; Bondorf, Botvina,
Iljinov, Mishustin & Sneppen 1995, Phys. Rep. 257:133, section on the Fermi break-up; implemented the same way
in Geant4's classic ``G4FermiBreakUp``, V. Lara 1998, Geant4 Physics Reference Manual "Fermi break-up
model").

Units: energies and masses (m c^2) in MeV, momenta in MeV/c, lengths in fm.

Pool of fragments (ground states only; the excited levels of the fragments that Geant4 includes, e.g.
the 6Li 2.19 MeV or 7Li 0.48 MeV states, are left out): n, p, d, t, 3He, 4He, 5He, 5Li, 6Li, 7Li, 7Be,
8Be, 9Be, 9B, 10B, 11B, 10C, 11C, 12C, with ground-state spins s from ENSDF/NNDC (table :data:`POOL`)
and nuclear masses m_i from AME2020 (:mod:`physics.nuclides`). 5He, 5Li, 8Be and 9B are particle
unbound; they decay at once, two-body and isotropic in their rest frame: 5He -> 4He + n, 5Li -> 4He + p,
8Be -> 4He + 4He, 9B -> p + 8Be (and 8Be -> 2 alpha), so only bound members leave the break-up.

Channels. A channel of (A, Z) is a multiset of n >= 2 pool members with sum A_i = A and sum Z_i = Z
(and, for a bound pool member, the one-member channel "(A, Z) itself"). The invariant mass of the
prefragment is M* = M_ref(A, Z) + E*, with M_ref the ground-state mass of (A, Z) if it is in the pool,
else the lowest sum m_i of its channels (the excitation of an unbound combination is measured from its
lowest threshold). The weight of an n-body channel (Bondorf et al. 1995, Fermi break-up section; Geant4
``G4FermiConfiguration::DecayProbability``):

    K   = M* - sum m_i - E_C                                                            (1)
    W_n = (S_n / G_n) (V / (2 pi hbar c)^3)^(n-1) Phi_n(K)                              (2)
    Phi_n(K) = (prod m_i / sum m_i)^(3/2) (2 pi)^(3(n-1)/2) / Gamma(3(n-1)/2) K^(3n/2 - 5/2)   (3)
    S_n = prod (2 s_i + 1),   G_n = prod over species of (multiplicity)!,   V = (4 pi / 3) r0^3 A   (4)
    E_C = (3/5) (e^2 / r0) (1 + kappa)^(-1/3) [Z^2 / A^(1/3) - sum Z_i^2 / A_i^(1/3)]             (5)

Eq. (3) is the non-relativistic n-body phase-space integral (for n = 2 it is 4 pi sqrt(2) mu^(3/2)
K^(1/2), mu the reduced mass); W_n is a density of states per MeV for every n. r0 = 1.3 fm and
kappa = V/V0 - 1 = 1 are the constants of Geant4's classic model (``G4FermiConfiguration.cc``, CVS
revision 1.8 of 2005: ``Kappa = 1.0``, ``r0 = 1.3*fermi``); Geant4 writes the volume factor as
kappa (4 pi / 3) r0^3 A, which equals eq. (4) for kappa = 1. W = 0 unless K > 0 and M* > sum m_i (the
second condition matters where E_C < 0, e.g. neutron emission from a charged nucleus; Geant4 checks it
the same way, before subtracting the Coulomb term). The Coulomb energy is subtracted in the weight only:
the fragments' kinetic energies share M* - sum m_i, i.e. the Coulomb energy E_C becomes kinetic energy as
they separate. Per channel the E*-independent factor is stored as a logarithm log_c, with the threshold
q = sum m_i + E_C - M_ref, so that

    W(E*) = exp(log_c + (3n/2 - 5/2) ln(E* - q))   for E* > q and E* > q_mass = sum m_i - M_ref.   (6)

Competition. Only the multi-fragment channels compete. If none is open at E* and (A, Z) is a bound
pool member, the prefragment stays whole and E* is emitted as gamma energy (returned separately; Geant4
likewise leaves a nucleus below its break-up thresholds to the photon-evaporation stage). If none is open
and (A, Z) is unbound (not in the pool, or 5He, 5Li, 8Be, 9B), it goes into its channel of lowest mass sum
(kinematically open at any E* >= 0 by the definition of M_ref). A consequence of eq. (1): the Coulomb term
raises the weight's thresholds above the mass thresholds (12C* -> 3 alpha: mass threshold 7.27 MeV,
weight threshold 11.6 MeV), as in Geant4's classic model.

Kinematics (:func:`sample_breakup`), in the prefragment's rest frame: uniform non-relativistic n-body
phase space on the surface sum p_i^2 / 2 m_i = K_tot = M* - sum m_i, sum p_i = 0 (eq. 7-9 in
:func:`_phase_space_momenta`), then one common scale factor lambda on all momenta so that
sum sqrt(m_i^2 + lambda^2 p_i^2) = M* exactly (Newton's method; momentum stays zero), then the decays of
the unbound members (exact relativistic two-body momenta, Lorentz-boosted into the prefragment frame).
"""

import math
from typing import NamedTuple

import numpy as np

from mc.jit import jit
from mc.kernel.rng import gauss_pair, uniform

from .constants import FINE_STRUCTURE
from .nuclides import nuclide

#: hbar c [MeV fm] (CODATA 2018, Tiesinga et al., Rev. Mod. Phys. 93, 025010, 2021).
HBARC_MEV_FM = 197.3269804
#: e^2 = alpha hbar c [MeV fm] (CODATA 2018): 1.439964 MeV fm.
E2_MEV_FM = FINE_STRUCTURE * HBARC_MEV_FM
#: Radius parameter r0 [fm] of the freeze-out volume and the Coulomb term, eq. (4)-(5) (Geant4
#: G4FermiConfiguration.cc, ``r0 = 1.3*fermi``).
R0_FM = 1.3
#: kappa = V/V0 - 1 of the Coulomb term, eq. (5), dimensionless (Geant4 G4FermiConfiguration.cc,
#: ``Kappa = 1.0``).
KAPPA = 1.0
#: Largest prefragment mass number and charge number handled.
A_MAX = 12
Z_MAX = 6
#: Most fragments in a channel (12 nucleons) and so the most rows of ``out`` (decays conserve A).
MAX_MULT = 12

#: The fragment pool: (name for :func:`physics.nuclides.nuclide`, Z, A, ground-state spin s [hbar]).
#: Spins: ENSDF (NNDC) ground states; n, p, t, 3He 1/2; d 1; 4He, 8Be, 10C, 12C 0; 5He, 5Li, 7Li, 7Be,
#: 9Be, 9B, 11B, 11C 3/2; 6Li 1; 10B 3.
POOL = (("n", 0, 1, 0.5), ("1H", 1, 1, 0.5), ("2H", 1, 2, 1.0), ("3H", 1, 3, 0.5), ("3He", 2, 3, 0.5),
        ("4He", 2, 4, 0.0), ("5He", 2, 5, 1.5), ("5Li", 3, 5, 1.5), ("6Li", 3, 6, 1.0), ("7Li", 3, 7, 1.5),
        ("7Be", 4, 7, 1.5), ("8Be", 4, 8, 0.0), ("9Be", 4, 9, 1.5), ("9B", 5, 9, 1.5), ("10B", 5, 10, 3.0),
        ("11B", 5, 11, 1.5), ("10C", 6, 10, 0.0), ("11C", 6, 11, 1.5), ("12C", 6, 12, 0.0))
#: Short names for printing channels.
POOL_LABELS = ("n", "p", "d", "t") + tuple(name for name, _, _, _ in POOL[4:])
POOL_INDEX = {name: k for k, (name, _, _, _) in enumerate(POOL)}
POOL_INDEX.update({label: k for k, label in enumerate(POOL_LABELS)})
#: Two-body decays of the unbound members (isotropic in the rest frame): member -> (a, b).
UNBOUND_DECAYS = {"5He": ("4He", "n"), "5Li": ("4He", "1H"), "8Be": ("4He", "4He"), "9B": ("1H", "8Be")}


class BreakupTables(NamedTuple):
    """The Fermi break-up tables (numba-friendly bundle). Channel c of prefragment (A, Z) is one of
    ``first[A, Z] ... first[A, Z] + count[A, Z] - 1``."""

    ref_mass: np.ndarray  # (A_MAX+1, Z_MAX+1) M_ref(A, Z) [MeV]; 0 where no channel
    first: np.ndarray  # (A_MAX+1, Z_MAX+1) first channel of (A, Z)
    count: np.ndarray  # (A_MAX+1, Z_MAX+1) number of channels of (A, Z)
    whole: np.ndarray  # (A_MAX+1, Z_MAX+1) the one-member channel of a bound pool member, else -1
    lowest: np.ndarray  # (A_MAX+1, Z_MAX+1) the multi-fragment channel of lowest sum m_i, else -1
    mult: np.ndarray  # (n_channels,) number of fragments n
    frag: np.ndarray  # (n_channels, MAX_MULT) pool indices, -1 padded
    log_c: np.ndarray  # (n_channels,) ln of the E*-independent factor of eq. (2)-(3) [ln MeV^-(3n/2-3/2)]
    q: np.ndarray  # (n_channels,) weight threshold sum m_i + E_C - M_ref [MeV], eq. (6)
    q_mass: np.ndarray  # (n_channels,) mass threshold sum m_i - M_ref [MeV]
    sum_mass: np.ndarray  # (n_channels,) sum m_i [MeV]
    pool_mass: np.ndarray  # (n_pool,) nuclear mass [MeV]
    pool_Z: np.ndarray  # (n_pool,)
    pool_A: np.ndarray  # (n_pool,)
    pool_decay: np.ndarray  # (n_pool, 2) decay products of an unbound member, -1 if bound


def coulomb_energy_MeV(A, Z, frag_A, frag_Z):
    """Coulomb term E_C [MeV] of eq. (5) for prefragment (A, Z) and fragments with mass and charge
    numbers ``frag_A``, ``frag_Z`` (Geant4 G4FermiConfiguration::CoulombBarrier)."""
    coef = 0.6 * E2_MEV_FM / R0_FM * (1.0 + KAPPA) ** (-1.0 / 3.0)
    s = sum(z * z / a ** (1.0 / 3.0) for a, z in zip(frag_A, frag_Z))
    return coef * (Z * Z / A ** (1.0 / 3.0) - s)


def log_channel_factor(A, masses, spins, multiplicities):
    """ln of the E*-independent factor of W_n, eq. (2)-(4): ln[(S_n / G_n) (V / (2 pi hbar c)^3)^(n-1)
    (prod m_i / sum m_i)^(3/2) (2 pi)^(3(n-1)/2) / Gamma(3(n-1)/2)], masses in MeV, V in fm^3."""
    n = len(masses)
    volume = 4.0 * math.pi / 3.0 * R0_FM**3 * A
    log_s = sum(math.log(2.0 * s + 1.0) for s in spins)
    log_g = sum(math.lgamma(k + 1.0) for k in multiplicities)
    log_mass = 1.5 * (sum(math.log(m) for m in masses) - math.log(sum(masses)))
    log_v = (n - 1) * math.log(volume / (2.0 * math.pi * HBARC_MEV_FM) ** 3)
    return log_s - log_g + log_v + log_mass + 1.5 * (n - 1) * math.log(2.0 * math.pi) - math.lgamma(1.5 * (n - 1))


def enumerate_channels(A, Z):
    """All multisets of pool indices (non-decreasing tuples) with sum A_i = A and sum Z_i = Z."""
    out = []

    def extend(start, a_left, z_left, chosen):
        if a_left == 0:
            if z_left == 0:
                out.append(tuple(chosen))
            return
        for k in range(start, len(POOL)):
            _, zk, ak, _ = POOL[k]
            if ak <= a_left and zk <= z_left and (a_left - ak) >= (z_left - zk):
                extend(k, a_left - ak, z_left - zk, chosen + [k])

    extend(0, A, Z, [])
    return out


def build_breakup_tables():
    """Build the :class:`BreakupTables` for every prefragment 1 <= A <= 12, 0 <= Z <= min(A, 6)."""
    pool_mass = np.array([nuclide(name).mass_MeV for name, _, _, _ in POOL])
    pool_Z = np.array([z for _, z, _, _ in POOL], dtype=np.int64)
    pool_A = np.array([a for _, _, a, _ in POOL], dtype=np.int64)
    pool_decay = -np.ones((len(POOL), 2), dtype=np.int64)
    for name, (a, b) in UNBOUND_DECAYS.items():
        pool_decay[POOL_INDEX[name]] = POOL_INDEX[a], POOL_INDEX[b]
        assert pool_mass[POOL_INDEX[name]] > pool_mass[POOL_INDEX[a]] + pool_mass[POOL_INDEX[b]]
    by_az = {(a, z): k for k, (_, z, a, _) in enumerate(POOL)}
    shape = (A_MAX + 1, Z_MAX + 1)
    ref_mass, first, count = np.zeros(shape), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    whole, lowest = -np.ones(shape, np.int64), -np.ones(shape, np.int64)
    rows = []  # (frag tuple, log_c, q, q_mass, sum_mass)
    for A in range(1, A_MAX + 1):
        for Z in range(0, min(A, Z_MAX) + 1):
            chans = enumerate_channels(A, Z)
            multi = [c for c in chans if len(c) >= 2]
            member = by_az.get((A, Z))
            bound = member is not None and pool_decay[member, 0] < 0
            sums = [sum(pool_mass[k] for k in c) for c in multi]
            if member is not None:
                m_ref = pool_mass[member]
            else:
                m_ref = min(sums)
            if bound:
                assert not sums or min(sums) > m_ref, (A, Z)  # a bound member lies below its thresholds
            ref_mass[A, Z], first[A, Z] = m_ref, len(rows)
            if bound:
                whole[A, Z] = len(rows)
                rows.append(((member,), -np.inf, 0.0, 0.0, m_ref))
            if multi:
                lowest[A, Z] = len(rows) + int(np.argmin(sums))
            for c, s in zip(multi, sums):
                e_c = coulomb_energy_MeV(A, Z, pool_A[list(c)], pool_Z[list(c)])
                mults = [c.count(k) for k in sorted(set(c))]
                log_c = log_channel_factor(A, pool_mass[list(c)], [POOL[k][3] for k in c], mults)
                rows.append((c, log_c, s + e_c - m_ref, s - m_ref, s))
            count[A, Z] = len(rows) - first[A, Z]
    n_ch = len(rows)
    frag = -np.ones((n_ch, MAX_MULT), np.int64)
    for i, r in enumerate(rows):
        frag[i, :len(r[0])] = r[0]
    return BreakupTables(ref_mass=ref_mass, first=first, count=count, whole=whole, lowest=lowest,
                         mult=np.array([len(r[0]) for r in rows], np.int64), frag=frag,
                         log_c=np.array([r[1] for r in rows]), q=np.array([r[2] for r in rows]),
                         q_mass=np.array([r[3] for r in rows]), sum_mass=np.array([r[4] for r in rows]),
                         pool_mass=pool_mass, pool_Z=pool_Z, pool_A=pool_A, pool_decay=pool_decay)


def channel_names(bt):
    """Names of all channels, e.g. '4He + 4He + 4He' (index = channel index)."""
    return [" + ".join(POOL_LABELS[k] for k in bt.frag[c, :bt.mult[c]]) for c in range(len(bt.mult))]


def channel_weights(bt, A, Z, E_star):
    """Probabilities of the channels ``first[A, Z] ...`` of prefragment (A, Z) at excitation ``E_star``
    [MeV]: eq. (6) normalised over the open multi-fragment channels; if none is open, probability 1 for
    the whole nucleus (bound pool member) or for the channel of lowest mass sum (module docstring)."""
    c0, nc = bt.first[A, Z], bt.count[A, Z]
    sl = slice(c0, c0 + nc)
    n, q, q_mass = bt.mult[sl], bt.q[sl], bt.q_mass[sl]
    is_open = (n >= 2) & (E_star > q) & (E_star > q_mass)
    p = np.zeros(nc)
    if not np.any(is_open):
        p[(bt.whole[A, Z] if bt.whole[A, Z] >= 0 else bt.lowest[A, Z]) - c0] = 1.0
        return p
    log_w = bt.log_c[sl][is_open] + (1.5 * n[is_open] - 2.5) * np.log(E_star - q[is_open])
    w = np.exp(log_w - log_w.max())
    p[is_open] = w / w.sum()
    return p


@jit
def _log_weight(bt, c, E_star):
    """ln W of channel c at excitation E_star, eq. (6); -inf if closed or a one-member channel."""
    if bt.mult[c] < 2 or E_star <= bt.q[c] or E_star <= bt.q_mass[c]:
        return -np.inf
    return bt.log_c[c] + (1.5 * bt.mult[c] - 2.5) * math.log(E_star - bt.q[c])


@jit
def draw_channel(st, A, Z, E_star, bt):
    """Channel index drawn with the probabilities of :func:`channel_weights` (uniforms from ``st``)."""
    c0 = bt.first[A, Z]
    c1 = c0 + bt.count[A, Z]
    l_max = -np.inf
    for c in range(c0, c1):
        l_max = max(l_max, _log_weight(bt, c, E_star))
    if l_max == -np.inf:
        return bt.whole[A, Z] if bt.whole[A, Z] >= 0 else bt.lowest[A, Z]
    total = 0.0
    for c in range(c0, c1):
        total += math.exp(_log_weight(bt, c, E_star) - l_max)
    r = uniform(st) * total
    last = c0
    for c in range(c0, c1):
        w = math.exp(_log_weight(bt, c, E_star) - l_max)
        if w > 0.0:
            last = c
            r -= w
            if r < 0.0:
                return c
    return last


@jit
def _phase_space_momenta(st, c, M_star, bt, out):
    """Momenta [MeV/c] of the n fragments of channel c in the rest frame of invariant mass M_star, in
    ``out[j, 1:4]`` (``out[j, 0]`` = pool index). Non-relativistic microcanonical sampling, then made
    exact and relativistic:

    (7) draw p_i = sqrt(m_i) g_i, g_i three standard normals: density prop. to exp(-sum p_i^2 / 2 m_i);
    (8) p_i -> p_i - (m_i / M) P, P = sum p_i, M = sum m_i: in the coordinates u_i = p_i / sqrt(2 m_i),
        where the kinetic energy T = |u|^2 is a Euclidean norm, this is the orthogonal projection onto the
        subspace P = 0, so the projected vector is an isotropic Gaussian of that 3(n-1)-dim subspace;
    (9) p_i -> s p_i with s^2 = K_tot / T: an isotropic Gaussian scaled to the sphere |u|^2 = K_tot is
        uniform on it, and the map p -> u is linear, so the momenta are uniform on the microcanonical
        surface delta(sum p_i^2 / 2 m_i - K_tot) delta^3(sum p_i), i.e. distributed as non-relativistic
        n-body phase space;
    (10) p_i -> lambda p_i with sum sqrt(m_i^2 + lambda^2 p_i^2) = M_star (Newton; lambda < 1 slightly),
         so energy is conserved exactly and relativistically while sum p_i = 0 is kept.
    """
    n = bt.mult[c]
    m_sum = bt.sum_mass[c]
    k_tot = M_star - m_sum
    px = 0.0
    py = 0.0
    pz = 0.0
    for j in range(n):
        k = bt.frag[c, j]
        sm = math.sqrt(bt.pool_mass[k])
        g1, g2 = gauss_pair(st)
        g3, _ = gauss_pair(st)
        out[j, 0] = k
        out[j, 1] = sm * g1
        out[j, 2] = sm * g2
        out[j, 3] = sm * g3
        px += out[j, 1]
        py += out[j, 2]
        pz += out[j, 3]
    t = 0.0
    for j in range(n):
        m = bt.pool_mass[bt.frag[c, j]]
        out[j, 1] -= m / m_sum * px
        out[j, 2] -= m / m_sum * py
        out[j, 3] -= m / m_sum * pz
        t += (out[j, 1] ** 2 + out[j, 2] ** 2 + out[j, 3] ** 2) / (2.0 * m)
    s = math.sqrt(k_tot / t) if (k_tot > 0.0 and t > 0.0) else 0.0
    lam = s
    for _ in range(60):  # eq. (10): f(lam) = sum E_i - M*, convex and increasing in lam > 0
        f = -M_star
        df = 0.0
        for j in range(n):
            m = bt.pool_mass[bt.frag[c, j]]
            p2 = out[j, 1] ** 2 + out[j, 2] ** 2 + out[j, 3] ** 2
            e = math.sqrt(m * m + lam * lam * p2)
            f += e
            df += lam * p2 / e
        if df <= 0.0:
            break
        step = f / df
        lam -= step
        if abs(step) <= 1.0e-15 * lam:
            break
    for j in range(n):
        out[j, 1] *= lam
        out[j, 2] *= lam
        out[j, 3] *= lam
    return n


@jit
def _two_body_decay(st, j, n_out, bt, out):
    """Decay the unbound member in row j (eq. 11): products a, b back to back with the exact two-body
    momentum p* = sqrt[(M^2 - (m_a + m_b)^2)(M^2 - (m_a - m_b)^2)] / 2M, isotropic in the rest frame;
    a is boosted to the frame of row j, p_a = p* + P [(P . p*) / (M (E_P + M)) + e_a / M], and
    p_b = P - p_a. Row j becomes a, row n_out becomes b; returns n_out + 1."""
    k = int(out[j, 0])
    a = bt.pool_decay[k, 0]
    b = bt.pool_decay[k, 1]
    M = bt.pool_mass[k]
    ma = bt.pool_mass[a]
    mb = bt.pool_mass[b]
    p_star = math.sqrt((M * M - (ma + mb) ** 2) * (M * M - (ma - mb) ** 2)) / (2.0 * M)
    cos_t = 2.0 * uniform(st) - 1.0
    sin_t = math.sqrt(max(0.0, 1.0 - cos_t * cos_t))
    phi = 2.0 * math.pi * uniform(st)
    qx = p_star * sin_t * math.cos(phi)
    qy = p_star * sin_t * math.sin(phi)
    qz = p_star * cos_t
    ea = math.sqrt(ma * ma + p_star * p_star)
    Px = out[j, 1]
    Py = out[j, 2]
    Pz = out[j, 3]
    EP = math.sqrt(M * M + Px * Px + Py * Py + Pz * Pz)
    f = (Px * qx + Py * qy + Pz * qz) / (M * (EP + M)) + ea / M
    ax = qx + f * Px
    ay = qy + f * Py
    az = qz + f * Pz
    out[j, 0] = a
    out[j, 1] = ax
    out[j, 2] = ay
    out[j, 3] = az
    out[n_out, 0] = b
    out[n_out, 1] = Px - ax
    out[n_out, 2] = Py - ay
    out[n_out, 3] = Pz - az
    return n_out + 1


@jit
def sample_breakup(st, A, Z, E_star, bt, out):
    """Fermi break-up of prefragment (A, Z), 1 <= A <= 12, 0 <= Z <= min(A, 6), with excitation
    ``E_star`` >= 0 [MeV], in its rest frame.

    Draws the channel with the weights of eq. (6) (:func:`draw_channel`), the momenta of its fragments
    with eq. (7)-(10) and decays the unbound members with eq. (11). Writes ``out[j] = (pool index,
    px, py, pz)`` [MeV/c] for the bound fragments (``out`` has at least :data:`MAX_MULT` rows and 4
    columns) and returns (number of rows, gamma energy [MeV]); the gamma energy is ``E_star`` when the
    prefragment stays whole, else 0. Conserved: sum p = 0, sum sqrt(m^2 + p^2) = M* - E_gamma, A and Z.
    """
    M_star = bt.ref_mass[A, Z] + E_star
    c = draw_channel(st, A, Z, E_star, bt)
    if bt.mult[c] == 1:
        out[0, 0] = bt.frag[c, 0]
        out[0, 1] = 0.0
        out[0, 2] = 0.0
        out[0, 3] = 0.0
        return 1, E_star
    n_out = _phase_space_momenta(st, c, M_star, bt, out)
    j = 0
    while j < n_out:
        if bt.pool_decay[int(out[j, 0]), 0] >= 0:
            n_out = _two_body_decay(st, j, n_out, bt, out)  # row j is re-examined (9B -> p + 8Be)
        else:
            j += 1
    return n_out, 0.0
