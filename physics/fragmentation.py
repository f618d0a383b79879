"""Nuclear reactions of light ions (4He, 12C and their fragments): an abrasion-ablation model.

When an ion of mass number A_P, charge Z_P and kinetic energy T [MeV] reacts (at the rate of the
total reaction cross section of Tripathi et al., :mod:`physics.ion_nuclear`) with a target
nucleus (Z_T, A_T) of the material, the products are drawn in the participant-spectator picture
of relativistic nucleus-nucleus collisions (Bowman, Swiatecki & Tsang 1973, LBL-2908; Hüfner,
Schäfer & Schürmann 1975, Phys. Rev. C 12:1888), in the projectile's direction of flight z:

(F1) Abrasion (:mod:`physics.abrasion`): the number n >= 1 of projectile nucleons removed in
     the overlap with the target, from the Glauber optical-limit distribution P(n | reaction)
     at the ion's energy per nucleon; z of them are protons (hypergeometric draw).
(F2) The prefragment, the spectator rest (A' = A_P - n, Z' = Z_P - z), gets the excitation
     energy E* of its n holes (Gaimard & Schmidt 1991, Nucl. Phys. A 531:709, Fermi-gas hole
     depths) and, in the projectile's rest frame, the momentum q of the Goldhaber (1974, Phys.
     Lett. B 53:306) kick (the removed nucleons' Fermi motion). Its invariant mass is
     M* = M_ref(A', Z') + E*, M_ref the ground-state mass (or the lowest break-up threshold of
     an unbound (A', Z')), :mod:`physics.fermi_breakup`; its four-momentum (sqrt(M*^2 + q^2), q)
     is Lorentz-boosted along z with the projectile's velocity beta_P = p_P / (T + M_P):
         P'_z = gamma_P (q_z + beta_P E'_0),  P'_T = q_T,  E' = gamma_P (E'_0 + beta_P q_z),
     so the longitudinal spread in the laboratory is gamma_P times the kick's.
(F3) Ablation: the prefragment breaks up statistically (Fermi break-up,
     :func:`physics.fermi_breakup.sample_breakup`) in its rest frame; the fragments' momenta
     are Lorentz-boosted with the prefragment's velocity P'/E', E' = sqrt(M*^2 + P'^2). A
     prefragment whose break-up channels are all closed keeps its ground state and sends E* off
     as gamma rays. A prefragment of one nucleon is that nucleon (E* = 0).
(F4) The participants: energy conservation leaves the removed nucleons the kinetic energy
         K = T + M_P - E' - sum_i m_i
     (m_i their rest masses), shared equally. Each removed nucleon then scatters quasi-freely
     on one target nucleon at rest (Serber 1947, Phys. Rev. 72:1114, the first stage of an
     intranuclear cascade): the pair shares k_i - S_T, S_T the target nucleon's separation
     energy, isotropically in the centre-of-mass frame (uniform energy transfer, as the p-p
     elastic model of :mod:`physics.nuclear`), the faster nucleon keeping the participant's
     identity and both at the lab angles of two-body kinematics with equal masses. The struck
     target nucleon is a proton with probability Z_T/A_T; a hydrogen target's is its free
     proton (S_T = 0). It comes from a state below the target's Fermi surface: its hole depth
     (Fermi gas, as in F2, with the target's Fermi momentum) is first taken from k_i - S_T and
     left as the target remnant's excitation, which is deposited on the spot (the remnant's
     evaporation products, mostly slow protons and alphas, travel micrometres; the neutrons and
     gamma rays among them are counted here as deposited). A participant with
     k_i <= S_T + hole leaves unscattered with k_i.
     If K < 0, the kick q took more energy than the removed nucleons had: it is drawn again (at
     most 20 times; after a first draw 3.9 % of the 12C reactions on H and 2.5 % on O at 100
     MeV/u, 0.01 % at 400 MeV/u, need another; this narrows the kick's distribution there by its rejected
     tail). If K is still negative (near the Coulomb barrier) E* is lowered to the value that
     makes K = 0; if even E* = 0 does not suffice, the reaction's energy T is deposited on the
     spot (12C on O: 0.5 % of the reactions at 20 MeV/u, 36 % at 10 MeV/u, 92 % at 5 MeV/u; 4He:
     26 % at 10 MeV/u; 12C has 1.4 mm of water left at 20 MeV/u, 0.4 mm at 10 MeV/u).
(F5) S_T: the mean binding energy per nucleon B/A of the target from the semi-empirical mass
     formula (Weizsäcker 1935), with the coefficients of Krane (1988, *Introductory Nuclear
     Physics*, eq. 3.28): a_V = 15.5, a_S = 16.8, a_C = 0.72, a_sym = 23.0 MeV, pairing
     34 A^(-3/4) MeV (:func:`separation_energy_MeV`; 8.10 MeV for 16O, AME2020 7.98).

Energy booking (every MeV of T): charged products (transported or deposited) + neutrons and
gamma rays (:data:`mc.kernel.layout.COUNTER_NEUTRAL`) + binding energy (sum of the products' rest
masses less M_P, plus S_T per struck target nucleon; :data:`mc.kernel.layout.COUNTER_BINDING`)
+ energy deposited on the spot (the target remnant's excitation). The binding is computed from
the masses and the kinematics from the momenta, so the kernel's energy balance checks the
kinematics.

Left out: the target's own abrasion beyond the struck nucleons (its remnant keeps only their
holes' excitation), the momentum balance with the target remnant, excited levels of the fragments
(:mod:`physics.fermi_breakup`), and pion production. Transverse directions of a reaction's
products are independent of each other's azimuth only through the break-up momenta.

Units: energies, masses in MeV, momenta in MeV/c.
"""

import math
from typing import NamedTuple

import numpy as np

from mc.jit import jit_stage
from mc.kernel.layout import MAX_FRAGMENTS, PRODUCT_COS, PRODUCT_PHI, PRODUCT_SPECIES, PRODUCT_T
from mc.kernel.rng import uniform

from .abrasion import (AbrasionTables, build_abrasion_tables, fermi_energy_MeV, fermi_momentum_MeV_c, sample_abraded,
                       sample_goldhaber, sample_hole_excitation, sample_removed_protons)
from .constants import PROTON_MASS_MEV
from .fermi_breakup import MAX_MULT, POOL, POOL_INDEX, BreakupTables, build_breakup_tables, sample_breakup
from .ion_nuclear import dominant_mass_number
from .nuclides import nuclide
from .species import SPECIES, SPECIES_PROTON, is_ion, species_of_nuclide

NEUTRON_MASS_MEV = nuclide("n").mass_MeV
# the kernel's break-up scratch (mc.kernel.layout.MAX_FRAGMENTS rows) holds the largest break-up
assert MAX_FRAGMENTS >= MAX_MULT, "mc.kernel.layout.MAX_FRAGMENTS below physics.fermi_breakup.MAX_MULT"
#: Draws of the Goldhaber kick before a reaction is given up as too close to the barrier (F4).
MAX_KICK_DRAWS = 20

_WEIZSACKER = (15.5, 16.8, 0.72, 23.0, 34.0)  # a_V, a_S, a_C, a_sym, a_P [MeV] (Krane 1988, eq. 3.28)


def separation_energy_MeV(Z, A):
    """(F5) Mean binding energy per nucleon B/A [MeV] of the nucleus (Z, A), semi-empirical mass
    formula with Krane's (1988) coefficients; 0 for a free nucleon."""
    if A <= 1:
        return 0.0
    a_v, a_s, a_c, a_sym, a_p = _WEIZSACKER
    N = A - Z
    delta = 0.0
    if Z % 2 == 0 and N % 2 == 0:
        delta = a_p * A ** -0.75
    elif Z % 2 == 1 and N % 2 == 1:
        delta = -a_p * A ** -0.75
    B = (a_v * A - a_s * A ** (2.0 / 3.0) - a_c * Z * (Z - 1) * A ** (-1.0 / 3.0) - a_sym * (A - 2 * Z) ** 2 / A
         + delta)
    return B / A


class FragmentationTables(NamedTuple):
    """Everything :func:`sample_fragmentation` needs, per run (its species and materials)."""

    abr: tuple  # physics.abrasion tables
    bu: tuple  # physics.fermi_breakup tables
    proj_index: np.ndarray  # per species: row of the abrasion tables, -1 if it does not fragment
    fermi_energy: np.ndarray  # per species: E_F = p_F^2 / 2 m_N [MeV] of the hole excitation
    goldhaber_sigma0: np.ndarray  # per species: sigma_0 = p_F / sqrt(5) [MeV/c]
    target_index: np.ndarray  # [material, channel]: row of the target tables (-1: not a target)
    target_Z: np.ndarray  # per target: Z_T
    target_A: np.ndarray  # per target: A_T
    target_sep: np.ndarray  # per target: S_T [MeV] (F5)
    target_fermi_energy: np.ndarray  # per target: E_F [MeV] of its hole excitation (F4); 0 for hydrogen
    pool_species: np.ndarray  # per break-up pool member: species index (-1: neutron, not transported)
    nucleon_pool: np.ndarray  # pool index of the neutron [0] and of the proton [1]


def _placeholder(table_type, arrays):
    """A :class:`typing.NamedTuple` ``table_type`` of one-element arrays with the dtypes and
    dimensions of the name -> (dtype, ndim) map ``arrays`` (the kernel is typed, not sized, by
    its inputs, so a proton run shares the ion run's compiled kernel)."""
    return table_type(**{k: np.zeros((1,) * nd, dt) for k, (dt, nd) in arrays.items()})


_F8, _I8 = np.float64, np.int64
#: Field types of :class:`physics.abrasion.AbrasionTables` and :class:`physics.fermi_breakup.BreakupTables`
#: (checked against the built tables in tests/test_fragmentation.py).
ABRASION_FIELDS = {"cdf": (_F8, 4), "log_energy": (_F8, 1), "proj_Z": (_I8, 1), "proj_A": (_I8, 1),
                   "target_Z": (_I8, 1), "target_A": (_I8, 1), "sigma_mb": (_F8, 3)}
BREAKUP_FIELDS = {"ref_mass": (_F8, 2), "first": (_I8, 2), "count": (_I8, 2), "whole": (_I8, 2), "lowest": (_I8, 2),
                  "mult": (_I8, 1), "frag": (_I8, 2), "log_c": (_F8, 1), "q": (_F8, 1), "q_mass": (_F8, 1),
                  "sum_mass": (_F8, 1), "pool_mass": (_F8, 1), "pool_Z": (_I8, 1), "pool_A": (_I8, 1),
                  "pool_decay": (_I8, 2)}


def build_fragmentation_tables(tables):
    """:class:`FragmentationTables` for the species and materials of ``tables``
    (:class:`physics.tables.PhysicsTables`): targets are the elements of the materials (with
    the mass number of :func:`physics.ion_nuclear.dominant_mass_number`), projectiles the ions
    among the species. A proton run's tables (no ions) get one-element placeholders of the same
    types (never read: only ions fragment), so that its set-up builds no Glauber or break-up
    tables (0.08 s)."""
    species = SPECIES[:len(tables.species_names)]
    if not any(is_ion(s) for s in species):
        n = len(species)
        return FragmentationTables(
            abr=_placeholder(AbrasionTables, ABRASION_FIELDS), bu=_placeholder(BreakupTables, BREAKUP_FIELDS),
            proj_index=np.full(n, -1, np.int64), fermi_energy=np.zeros(n), goldhaber_sigma0=np.zeros(n),
            target_index=np.full(tables.chan_target_Z.shape, -1, np.int64), target_Z=np.zeros(1, np.int64),
            target_A=np.zeros(1, np.int64), target_sep=np.zeros(1), target_fermi_energy=np.zeros(1),
            pool_species=np.zeros(1, np.int64),
            nucleon_pool=np.zeros(2, np.int64))
    n_m = tables.n_materials
    target_Z = sorted({int(z) for z in np.unique(tables.chan_target_Z) if z > 0})
    targets = [(z, 1 if z == 1 else dominant_mass_number(z)) for z in target_Z]
    t_of_z = {z: i for i, z in enumerate(target_Z)}
    target_index = np.full(tables.chan_target_Z.shape, -1, np.int64)
    for m in range(n_m):
        for k in range(tables.chan_target_Z.shape[1]):
            if tables.chan_first[m, k]:
                target_index[m, k] = t_of_z[int(tables.chan_target_Z[m, k])]
    projectiles = [(s.charge, s.A) for s in species if is_ion(s)]
    proj_index = np.full(len(species), -1, np.int64)
    p_f = np.zeros(len(species))
    e_f = np.zeros(len(species))
    ip = 0
    for i, s in enumerate(species):
        if is_ion(s):
            proj_index[i] = ip
            ip += 1
            p_f[i] = fermi_momentum_MeV_c(s.A)
            e_f[i] = fermi_energy_MeV(s.A)
    abr = build_abrasion_tables(projectiles, targets)  # (the default energy grid, 10-1000 MeV/u)
    bu = build_breakup_tables()
    pool_species = np.array([species_of_nuclide(Z, A) if Z > 0 else -1 for _, Z, A, _ in POOL], np.int64)
    pool_species[pool_species >= len(species)] = -1
    return FragmentationTables(
        abr=abr, bu=bu, proj_index=proj_index, fermi_energy=e_f, goldhaber_sigma0=p_f / math.sqrt(5.0),
        target_index=target_index, target_Z=np.array([t[0] for t in targets], np.int64),
        target_A=np.array([t[1] for t in targets], np.int64),
        target_sep=np.array([separation_energy_MeV(*t) for t in targets]),
        target_fermi_energy=np.array([0.0 if A == 1 else fermi_energy_MeV(A) for _, A in targets]),
        pool_species=pool_species,
        nucleon_pool=np.array([POOL_INDEX["n"], POOL_INDEX["1H"]], np.int64))


@jit_stage
def _write(out, n_out, sp, T, px, py, pz):
    """Product row ``n_out``: species, kinetic energy [MeV], cos of the polar angle and the azimuth
    [rad] of the momentum (px, py, pz) about the projectile's direction (z)."""
    p = math.sqrt(px * px + py * py + pz * pz)
    out[n_out, PRODUCT_SPECIES] = sp
    out[n_out, PRODUCT_T] = T
    out[n_out, PRODUCT_COS] = pz / p if p > 0.0 else 1.0
    out[n_out, PRODUCT_PHI] = math.atan2(py, px)
    return n_out + 1


@jit_stage
def _boost_z(qx, qy, qz, M, beta, gam):
    """(F2) Laboratory momentum and energy [MeV/c, MeV] of a body of mass ``M`` [MeV] with momentum
    (qx, qy, qz) in the frame that moves along z with velocity ``beta`` (Lorentz factor ``gam``)."""
    e = math.sqrt(M * M + qx * qx + qy * qy + qz * qz)
    return qx, qy, gam * (qz + beta * e), gam * (e + beta * qz)


@jit_stage
def _knockout(st, k, m, S_t, hole, p_target, is_h):
    """(F4) A participant nucleon of mass ``m`` and kinetic energy ``k`` [MeV] scatters on a target
    nucleon bound by ``S_t`` [MeV] whose state lies ``hole`` [MeV] below the Fermi surface:
    returns (T1, cos1, T2, cos2, target is a proton, struck)."""
    e = k - S_t - hole
    if e <= 0.0:
        return k, 1.0, 0.0, 1.0, False, False
    t1 = e * uniform(st)
    t2 = e - t1
    if t1 < t2:
        t1, t2 = t2, t1
    c1 = math.sqrt(min(1.0, t1 * (e + 2.0 * m) / (e * (t1 + 2.0 * m))))
    c2 = math.sqrt(min(1.0, t2 * (e + 2.0 * m) / (e * (t2 + 2.0 * m))))
    proton = is_h or uniform(st) < p_target
    return t1, c1, t2, c2, proton, True


@jit_stage
def sample_fragmentation(st, sp, T, M_P, A_P, Z_P, m, kc, ft, out, scratch):
    """Products of a nuclear reaction of an ion of species ``sp`` (mass number ``A_P``, charge
    ``Z_P``, rest energy ``M_P`` [MeV]) with kinetic energy ``T`` [MeV] on the target of channel
    ``kc`` of material ``m`` (model F1-F5 of the module docstring; ``ft``:
    :class:`FragmentationTables`). Writes the charged products to ``out`` (columns ``mc.kernel.layout.PRODUCT_*``;
    ``scratch``: a (``mc.kernel.layout.MAX_FRAGMENTS``, 4) work array) and returns (number of rows, energy of neutral
    particles, binding energy, energy deposited on the spot) [MeV]; with the products' kinetic
    energies they add up to T."""
    it = ft.target_index[m, kc]
    ip = ft.proj_index[sp]
    if it < 0 or ip < 0:
        return 0, 0.0, 0.0, T
    m_p = PROTON_MASS_MEV
    m_n = NEUTRON_MASS_MEV
    n = sample_abraded(st, ip, it, T / A_P, ft.abr)
    z = sample_removed_protons(st, n, Z_P, A_P)
    A1 = A_P - n
    Z1 = Z_P - z
    m_part = z * m_p + (n - z) * m_n
    p_proj = math.sqrt(T * (T + 2.0 * M_P))
    # (F2) the prefragment
    e_star = 0.0
    M_ref = 0.0
    if A1 >= 1:
        M_ref = ft.bu.ref_mass[A1, Z1] if A1 >= 2 else ft.bu.pool_mass[ft.nucleon_pool[Z1]]
        if A1 >= 2:
            e_star = sample_hole_excitation(st, n, ft.fermi_energy[sp])
    E_P = T + M_P
    beta_P = p_proj / E_P
    gam_P = E_P / M_P
    # (F2) the kick q in the projectile's frame, the prefragment boosted to the laboratory; (F4) a
    # kick that would leave the removed nucleons (which carry -q) less than their rest masses is
    # drawn again
    Px = Py = Pz = E1 = K = qz = 0.0
    for _ in range(MAX_KICK_DRAWS):
        qx = qy = qz = 0.0
        if A1 >= 1:
            qx, qy, qz = sample_goldhaber(st, A1, A_P, ft.goldhaber_sigma0[sp])
        Px, Py, Pz, E1 = _boost_z(qx, qy, qz, M_ref + e_star, beta_P, gam_P) if A1 >= 1 else (0.0, 0.0, 0.0, 0.0)
        K = E_P - E1 - m_part
        if K >= 0.0:
            break
    if K < 0.0 and e_star > 0.0:
        # (F4) near the barrier: the excitation that leaves K = 0 (E1 = E_P - m_part)
        e_rest = (E_P - m_part) / gam_P - beta_P * qz
        m2 = e_rest * e_rest - (Px * Px + Py * Py + qz * qz)
        if m2 > M_ref * M_ref:
            e_star = min(e_star, math.sqrt(m2) - M_ref)
        else:
            e_star = 0.0
        Px, Py, Pz, E1 = _boost_z(Px, Py, qz, M_ref + e_star, beta_P, gam_P)
        K = E_P - E1 - m_part
        if -1e-9 * T < K < 0.0:
            K = 0.0  # (rounding of the solution above)
    if K < 0.0:
        return 0, 0.0, 0.0, T
    n_out = 0
    e_neu = 0.0
    e_bind = m_part - M_P
    # (F3) break-up of the prefragment, boosted to the laboratory
    if A1 >= 1:
        n_out, e_neu, mass_sum = _prefragment(st, A1, Z1, e_star, M_ref, Px, Py, Pz, E1, ft, out, scratch)
        e_bind += mass_sum
    # (F4) the participants
    Zt = ft.target_Z[it]
    At = ft.target_A[it]
    S_t = ft.target_sep[it]
    k = K / n
    e_loc = 0.0
    for i in range(n):
        proton = i < z
        mi = m_p if proton else m_n
        hole = sample_hole_excitation(st, 1, ft.target_fermi_energy[it]) if At > 1 else 0.0
        t1, c1, t2, c2, tgt_p, struck = _knockout(st, k, mi, S_t, hole, Zt / At, At == 1)
        phi = 2.0 * math.pi * uniform(st)
        if proton:
            n_out = _write_angle(out, n_out, SPECIES_PROTON, t1, c1, phi)
        else:
            e_neu += t1
        if struck:
            e_bind += S_t
            e_loc += hole  # (F4) the target remnant's excitation: its evaporation, on the spot
            if tgt_p:
                n_out = _write_angle(out, n_out, SPECIES_PROTON, t2, c2, phi + math.pi)
            else:
                e_neu += t2
    return n_out, e_neu, e_bind, e_loc


@jit_stage
def _write_angle(out, n_out, sp, T, c, phi):
    """Product row ``n_out`` from a polar-angle cosine ``c`` and azimuth ``phi`` about z."""
    out[n_out, PRODUCT_SPECIES] = sp
    out[n_out, PRODUCT_T] = T
    out[n_out, PRODUCT_COS] = c
    out[n_out, PRODUCT_PHI] = phi
    return n_out + 1


@jit_stage
def _boost(px, py, pz, e, bx, by, bz, gam):
    """Lorentz boost of the four-momentum (e, p) [MeV] by the velocity (bx, by, bz) (Lorentz factor
    ``gam``): the laboratory momentum and energy."""
    b2 = bx * bx + by * by + bz * bz
    bp = bx * px + by * py + bz * pz
    f = ((gam - 1.0) * bp / b2 if b2 > 0.0 else 0.0) + gam * e
    return px + f * bx, py + f * by, pz + f * bz, gam * (e + bp)


@jit_stage
def _prefragment(st, A1, Z1, e_star, M_ref, Px, Py, Pz, E1, ft, out, scratch):
    """(F3) The prefragment (A1, Z1) of excitation ``e_star`` and ground mass ``M_ref`` [MeV], lab
    momentum (Px, Py, Pz) [MeV/c] and energy ``E1`` [MeV]: its fragments, Lorentz-boosted to the
    laboratory, are written to ``out`` from row 0 (neutrons are only counted). A prefragment
    that stays whole emits its excitation as one gamma ray, isotropic in its frame (two-body
    decay to the ground state, so the recoil is exact). Returns (rows written, energy of neutrons
    and gamma rays [MeV], sum of the fragments' rest masses [MeV])."""
    M_star = M_ref + e_star
    bx = Px / E1
    by = Py / E1
    bz = Pz / E1
    gam = E1 / M_star
    if A1 == 1:
        n_f = 1
        e_gamma = 0.0
        scratch[0, 0] = ft.nucleon_pool[Z1]
        scratch[0, 1] = 0.0
        scratch[0, 2] = 0.0
        scratch[0, 3] = 0.0
    else:
        n_f, e_gamma = sample_breakup(st, A1, Z1, e_star, ft.bu, scratch)
    e_neu = 0.0
    if e_gamma > 0.0:
        # two-body decay M* -> M_ref + gamma in the prefragment frame
        p = (M_star * M_star - M_ref * M_ref) / (2.0 * M_star)
        c = 2.0 * uniform(st) - 1.0
        s = math.sqrt(max(0.0, 1.0 - c * c))
        ph = 2.0 * math.pi * uniform(st)
        nx = s * math.cos(ph)
        ny = s * math.sin(ph)
        scratch[0, 1] = -p * nx
        scratch[0, 2] = -p * ny
        scratch[0, 3] = -p * c
        e_neu += _boost(p * nx, p * ny, p * c, p, bx, by, bz, gam)[3]
    mass_sum = 0.0
    n_out = 0
    for j in range(n_f):
        kf = int(scratch[j, 0])
        mf = ft.bu.pool_mass[kf]
        px = scratch[j, 1]
        py = scratch[j, 2]
        pz = scratch[j, 3]
        lx, ly, lz, el = _boost(px, py, pz, math.sqrt(mf * mf + px * px + py * py + pz * pz), bx, by, bz, gam)
        T_lab = el - mf
        mass_sum += mf
        spf = ft.pool_species[kf]
        if spf < 0:
            e_neu += T_lab
        else:
            n_out = _write(out, n_out, spf, T_lab, lx, ly, lz)
    return n_out, e_neu, mass_sum
