"""Abrasion of light-ion projectiles (4He, 12C and their fragments) in a nucleus-nucleus reaction.

Given that a projectile (Z_P, A_P) of energy E per nucleon reacts with a target nucleus (Z_T, A_T)
(the reaction rate is Tripathi's total reaction cross section, :mod:`physics.ion_nuclear`), this
module draws what the collision removes from the projectile: the number n of abraded nucleons,
how many of them are protons, the excitation energy of the prefragment (A_P - n nucleons) and
its momentum kick. The statistical break-up of the prefragment is not done here.

Units: energies per nucleon E in MeV/u (laboratory kinetic energy of the projectile over A_P),
lengths in fm, cross sections in mb (1 fm^2 = 10 mb) inside formulas converted to fm^2,
momenta in MeV/c, excitation energies in MeV.

(A) Abrasion in the Glauber optical limit
-----------------------------------------
Hüfner, Schäfer & Schürmann (1975, Phys. Rev. C 12:1888, "Abrasion-ablation in reactions
between relativistic heavy ions"): a projectile nucleon at transverse position s (relative to the
projectile's centre) traverses the target on a straight line and is removed if it collides with
any target nucleon, probability 1 - exp(-sigma_NN T_T(b - s)) at impact parameter b. Averaged
over the projectile's nucleons, the probability that a given one is removed is

    (A1) p(b) = (1/A_P) integral d^2s T_P(s) [1 - exp(-sigma_NN T_T(b - s))],

T(s) = integral dz rho(s, z) the thickness function of a nucleus, normalised to A. The nucleons
are removed independently, so the number removed is Binomial(A_P, p(b)); a reaction is n >= 1:

    (A2) sigma_R = integral 2 pi b db [1 - (1 - p(b))^A_P],
    (A3) P(n | reaction) = integral 2 pi b db C(A_P, n) p^n (1 - p)^(A_P - n) / sigma_R, n = 1..A_P.

(The equation numbers A1-A3 are this module's; the paper's own numbering was not checked.)
Densities: Gaussian (the ground state of a harmonic-oscillator well for s-shell nuclei, the
usual light-nucleus shape), rho(r) = A (pi a^2)^(-3/2) exp(-r^2/a^2), so

    (A4) <r^2> = (3/2) a^2,   T(s) = A / (pi a^2) exp(-s^2/a^2),

with <r^2>^(1/2) the measured rms (charge) radius of :func:`physics.ion_nuclear.rms_radius_fm`
(NUCFRG2 table, Wilson et al. 1995 NASA TP-3533, for A <= 26; 0.84 A^1/3 + 0.55 fm above).
**Radius choice**: the charge radius, not the point-nucleon radius r_pt^2 = r_ch^2 - r_p^2
(r_p = 0.8 fm). The zero-range NN interaction of (A1) has no range of its own; a Gaussian NN
profile function of slope beta (Gamma(b) ~ exp(-b^2 / 2 beta)) would add 2 beta to the
transverse mean-square width of the overlap, and the proton's charge size adds
2 x (2/3) r_p^2 = 0.85 fm^2 for a nucleus-nucleus pair, the same order as 2 beta for NN
scattering at 100-1000 MeV (beta of a few tenths of fm^2 in Glauber analyses such as Horiuchi et
al. 2007, Phys. Rev. C 75:044607; not re-read here), so the charge radii stand for the finite NN
range; this is a physical argument, not a fit. Measured against Tripathi's sigma_R
(:func:`physics.ion_nuclear.reaction_xs_mb`) at 100 / 200 / 400 MeV/u with charge radii:
12C + C -3.7 / -6.0 / -6.2 %, 12C + O -0.0 / -2.8 / -3.0 %, 12C + H +3.3 / -10.5 / -9.1 %,
4He + O +41 / +31 / +2.7 %; point-nucleon radii lower each value by another 5-8 % (12C + C
-11.6 / -13.4 / -13.6 %). Against the Kox et al. (1987, Phys. Rev.
C 35:1678) parametrisation of measured 12C + C / O cross sections: -2.2 / -8.3 / -5.6 % (C),
+1.5 / -5.0 / -2.5 % (O). The 4He + O excess at 100-200 MeV/u is over the Tripathi light-system
formula (1999), whose 4He + X term D(E) (a Fermi function of (250 - E)/75) makes sigma_R rise by
29 % from 175 to 400 MeV/u (426 -> 552 mb for O) where the isospin-averaged sigma_NN falls by
5 %; the Glauber value falls by 2 % there (not tested against Tripathi at 100-200 MeV/u).
``density="point"`` is kept as an option for this comparison.

Hydrogen target: a single nucleon is a point, T_T(s) = delta^2(s) (A_T = 1). The zero-range
interaction is then the profile sigma_NN delta^2(b - s) (the optical-limit exponent
1 - exp(-sigma T_T) taken to first order, as there is one target nucleon to meet), and

    (A5) p(b) = (1/A_P) integral d^2s T_P(s) sigma_NN delta^2(b - s) = sigma_NN T_P(b) / A_P,

clipped at 1: below ~40 MeV/u sigma_NN T_P(0)/A_P exceeds 1 for 12C (mean sigma_NN above
pi a^2 = 128 mb), where the zero-range point picture has no meaning and every projectile
nucleon near the proton's path is taken as removed. A nucleon projectile (A_P = 1) is a point in the same way,
p(b) = 1 - exp(-sigma_NN T_T(b)), and loses itself (n = 1) whenever it reacts.

(B) Nucleon-nucleon cross sections
----------------------------------
Charagi & Gupta (1990, Phys. Rev. C 41:1610), free total cross sections [mb] as functions of the
projectile velocity beta = v/c per nucleon (the coefficients were not re-read from the paper here;
they are checked against measured NN cross sections, ``tests/test_abrasion.py``):

    (B1) sigma_pp = 13.73 - 15.04/beta + 8.76/beta^2 + 68.67 beta^4,
    (B2) sigma_np = -70.67 - 18.18/beta + 25.26/beta^2 + 113.85 beta,

beta from gamma = 1 + E/(u c^2) (u the atomic mass unit). Checked (tests): sigma_np 72.8 mb at
100 MeV and 34.7 mb at 400 MeV (SAID/PDG np total cross section ~73 and ~34 mb); sigma_pp
21.6-28.5 mb at 100-400 MeV. Isospin average of the pair (Z_P, A_P) + (Z_T, A_T), N = A - Z:

    (B3) sigma_NN = [(Z_P Z_T + N_P N_T) sigma_pp + (Z_P N_T + N_P Z_T) sigma_np] / (A_P A_T).

sigma_NN is the total (elastic + inelastic) NN cross section: in abrasion any collision removes
the nucleon from the projectile's spectator part.

(C) Charge of the removed nucleons
----------------------------------
The n removed nucleons are n drawn without replacement from the A_P nucleons of which Z_P are
protons: z is hypergeometric, mean n Z_P/A_P, variance n (Z_P/A_P)(N_P/A_P)(A_P - n)/(A_P - 1)
(position and isospin of a nucleon are independent in (A1)).

(D) Excitation energy of the prefragment
----------------------------------------
Gaimard & Schmidt (1991, Nucl. Phys. A 531:709): each hole left by an abraded nucleon adds the
depth of its single-particle state below the Fermi surface. In a Fermi gas the removed nucleon's
momentum is uniform in the Fermi sphere, |p| = p_F u^(1/3) (u uniform in [0, 1)), so

    (D1) epsilon = E_F (1 - u^(2/3)),   <epsilon> = (2/5) E_F,   var(epsilon) = (12/175) E_F^2

(<u^(2/3)> = 3/5, <u^(4/3)> = 3/7), and E* is the sum over the n independent holes (mean
(2/5) n E_F, variance (12/175) n E_F^2). E_F = p_F^2 / (2 m_N), m_N the mean nucleon mass.

Fermi momenta p_F: Moniz et al. (1971, Phys. Rev. Lett. 26:445, Table I, quasi-elastic electron
scattering): 6Li 169, 12C 221, 24Mg 235, 40Ca 251, natNi 260, 89Y 254, natSn 260, 181Ta 265,
208Pb 265 MeV/c (+-5 MeV/c). **Rule for other A** (a choice, :func:`fermi_momentum_MeV_c`):
6Li's value for A <= 6 (so 4He, 3He, d get 169 MeV/c: no 4He value in that table), linear in A
between tabulated nuclei, 208Pb's above.

(E) Momentum kick of the prefragment
------------------------------------
Goldhaber (1974, Phys. Lett. B 53:306): the prefragment of A_F nucleons carries minus the sum of
the Fermi momenta of the A_P - A_F removed ones (total momentum zero in the projectile's frame);
each Cartesian component is Gaussian with

    (E1) sigma^2 = sigma0^2 A_F (A_P - A_F) / (A_P - 1),   sigma0 = p_F / sqrt(5)

(sigma0^2 = <p_x^2> of a nucleon in the Fermi sphere; same p_F as in (D)).

Left out: the target's abrasion and excitation, the extra excitation from final-state
interactions of the participants ("frictional" energy of Gaimard & Schmidt), the surface-energy
excitation of the prefragment, Coulomb deflection and the Fermi-motion smearing of sigma_NN, Pauli
blocking (in-medium NN cross sections). Below ~50 MeV/u a reaction is no longer a clean
participant-spectator collision; the tables still hold the optical-limit values there.
"""

import math
from typing import NamedTuple

import numpy as np

from mc.jit import jit
from mc.kernel.rng import gauss_pair, uniform

from .constants import AMU_MEV, PROTON_MASS_MEV
from .ion_nuclear import dominant_mass_number, rms_radius_fm

#: Neutron rest energy [MeV] (CODATA 2018).
NEUTRON_MASS_MEV = 939.56542052
#: Mean nucleon mass [MeV] of the Fermi energy E_F = p_F^2 / (2 m_N), (D).
NUCLEON_MASS_MEV = 0.5 * (PROTON_MASS_MEV + NEUTRON_MASS_MEV)

#: Proton rms charge radius [fm] subtracted in quadrature for ``density="point"`` (the value of
#: the comparison in the module docstring; CODATA 2018 gives 0.8414 fm).
PROTON_RMS_RADIUS_FM = 0.8

#: Charagi & Gupta (1990) coefficients of (B1) for sigma_pp [mb]: c0 + c1/beta + c2/beta^2 + c3 beta^4.
SIGMA_PP_COEF_MB = (13.73, -15.04, 8.76, 68.67)
#: Charagi & Gupta (1990) coefficients of (B2) for sigma_np [mb]: c0 + c1/beta + c2/beta^2 + c3 beta.
SIGMA_NP_COEF_MB = (-70.67, -18.18, 25.26, 113.85)

#: Fermi momenta [MeV/c] by mass number, Moniz et al. (1971) Table I (Ni and Sn at their natural
#: mean mass numbers 58.69 and 118.71).
FERMI_MOMENTUM_TABLE = ((6.0, 169.0), (12.0, 221.0), (24.0, 235.0), (40.0, 251.0), (58.69, 260.0),
                        (89.0, 254.0), (118.71, 260.0), (181.0, 265.0), (208.0, 265.0))

#: Default energies per nucleon of the abrasion tables [MeV/u].
ENERGY_GRID_MEV_U = (10.0, 20.0, 50.0, 100.0, 200.0, 400.0, 1000.0)
#: Largest projectile mass number of the tables (the n axis runs 0..N_MAX).
N_MAX = 12

# Gauss-Legendre orders of the integrals over b, s and the azimuth of (A1)-(A3): doubling every
# order changes sigma_R by < 1e-9 relative and P(n) by < 1e-7 (12C + H, C, O, Fe; 4He + H; 10-1000 MeV/u).
_N_B, _N_S, _N_PHI = 48, 32, 24
_GAUSS_CUT = 6.0  # integrate Gaussians out to 6 widths (exp(-36))


# ---------------------------------------------------------------------------------------------
# (B) nucleon-nucleon cross sections
# ---------------------------------------------------------------------------------------------

def sigma_nn_mb(E_MeV_u):
    """Free (sigma_pp, sigma_np) [mb] at ``E_MeV_u`` MeV per nucleon (array-like), Charagi & Gupta
    (1990), eqs. (B1)-(B2) of the module docstring."""
    E = np.asarray(E_MeV_u, dtype=float)
    gamma = 1.0 + E / AMU_MEV
    beta = np.sqrt(1.0 - 1.0 / (gamma * gamma))
    a = SIGMA_PP_COEF_MB
    c = SIGMA_NP_COEF_MB
    s_pp = a[0] + a[1] / beta + a[2] / beta**2 + a[3] * beta**4
    s_np = c[0] + c[1] / beta + c[2] / beta**2 + c[3] * beta
    return s_pp, s_np


def sigma_nn_average_mb(Zp, Ap, Zt, At, E_MeV_u):
    """Isospin-averaged NN cross section [mb] of the pair (Zp, Ap) + (Zt, At), eq. (B3)."""
    s_pp, s_np = sigma_nn_mb(E_MeV_u)
    Np, Nt = Ap - Zp, At - Zt
    return ((Zp * Zt + Np * Nt) * s_pp + (Zp * Nt + Np * Zt) * s_np) / (Ap * At)


# ---------------------------------------------------------------------------------------------
# (A) Glauber optical limit
# ---------------------------------------------------------------------------------------------

def gaussian_width_sq_fm2(A, density="charge"):
    """a^2 [fm^2] of the Gaussian density of a nucleus of mass number ``A``, eq. (A4):
    (2/3) <r^2>, <r^2> the rms charge radius squared (``density="charge"``) or that less
    ``PROTON_RMS_RADIUS_FM``^2 (``"point"``)."""
    r2 = rms_radius_fm(A) ** 2
    if density == "point":
        r2 -= PROTON_RMS_RADIUS_FM**2
    elif density != "charge":
        raise ValueError(f"density must be 'charge' or 'point', not {density!r}")
    return 2.0 / 3.0 * r2


def thickness_fm2(A, s_fm, a2_fm2):
    """Thickness function T(s) [fm^-2] of a Gaussian nucleus of ``A`` nucleons and width
    ``a2_fm2`` at transverse distance ``s_fm`` [fm], eq. (A4); normalised to A."""
    return A / (math.pi * a2_fm2) * np.exp(-np.asarray(s_fm) ** 2 / a2_fm2)


def _gauss_legendre(lo, hi, n):
    """Nodes and weights of the n-point Gauss-Legendre rule on [lo, hi]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def removal_probability(Zp, Ap, Zt, At, E_MeV_u, density="charge"):
    """p(b) of eq. (A1) ((A5) for a hydrogen target) on the Gauss-Legendre impact-parameter nodes:
    returns (b [fm], weights 2 pi b db [fm^2], p(b)). The azimuthal integral of (A1) is done
    in polar coordinates around the projectile's centre, |b - s|^2 = b^2 + s^2 - 2 b s cos(phi)."""
    sig_fm2 = 0.1 * float(sigma_nn_average_mb(Zp, Ap, Zt, At, E_MeV_u))
    ap2 = gaussian_width_sq_fm2(Ap, density) if Ap > 1 else 0.0
    at2 = gaussian_width_sq_fm2(At, density) if At > 1 else 0.0
    b_max = _GAUSS_CUT * math.sqrt(ap2 + at2)
    b_kink = 0.0  # (A5): p(b) = 1 for b < b_kink, where sigma T_P(b) / A_P >= 1
    if At == 1 and sig_fm2 / (math.pi * ap2) > 1.0:
        b_kink = math.sqrt(ap2 * math.log(sig_fm2 / (math.pi * ap2)))
    b, wb = _gauss_legendre(b_kink, max(b_max, 2.0 * b_kink), _N_B)
    if b_kink > 0.0:  # a separate rule on [0, b_kink], so that the kink of p(b) sits on a node boundary
        b0, wb0 = _gauss_legendre(0.0, b_kink, _N_B)
        b, wb = np.concatenate((b0, b)), np.concatenate((wb0, wb))
    wb = 2.0 * math.pi * b * wb
    if At == 1:  # (A5): point target
        p = np.minimum(sig_fm2 * thickness_fm2(Ap, b, ap2) / Ap, 1.0)
    elif Ap == 1:  # point projectile
        p = 1.0 - np.exp(-sig_fm2 * thickness_fm2(At, b, at2))
    else:  # (A1)
        s, ws = _gauss_legendre(0.0, _GAUSS_CUT * math.sqrt(ap2), _N_S)
        phi, wphi = _gauss_legendre(0.0, math.pi, _N_PHI)
        d2 = b[:, None, None] ** 2 + s[None, :, None] ** 2 - 2.0 * b[:, None, None] * s[None, :, None] * np.cos(phi)
        removed = 1.0 - np.exp(-sig_fm2 * thickness_fm2(At, np.sqrt(d2), at2))
        ring = 2.0 * (removed * wphi).sum(axis=-1)  # integral over phi in [0, 2 pi)
        p = (ring * thickness_fm2(Ap, s, ap2) * s * ws).sum(axis=-1) / Ap
    return b, wb, p


def glauber_reaction_xs_mb(Zp, Ap, Zt, At, E_MeV_u, density="charge"):
    """Glauber optical-limit reaction cross section sigma_R [mb], eq. (A2), of projectile
    (Zp, Ap) at ``E_MeV_u`` MeV/u (scalar) on target (Zt, At). Zero for nucleon + nucleon."""
    return _glauber(Zp, Ap, Zt, At, E_MeV_u, density)[0]


def abraded_distribution(Zp, Ap, Zt, At, E_MeV_u, density="charge"):
    """P(n | reaction), n = 0..Ap, of eq. (A3) for projectile (Zp, Ap) at ``E_MeV_u`` MeV/u on
    target (Zt, At): array of length Ap + 1 with P[0] = 0 and sum 1."""
    return _glauber(Zp, Ap, Zt, At, E_MeV_u, density)[1]


def _glauber(Zp, Ap, Zt, At, E_MeV_u, density):
    """(sigma_R [mb] of (A2), P(n | reaction) of (A3) for n = 0..Ap)."""
    P = np.zeros(Ap + 1)
    if Ap == 1 and At == 1:
        P[1] = 1.0
        return 0.0, P
    _, wb, p = removal_probability(Zp, Ap, Zt, At, E_MeV_u, density)
    for n in range(1, Ap + 1):  # (A3) before division by sigma_R
        P[n] = np.sum(wb * math.comb(Ap, n) * p**n * (1.0 - p) ** (Ap - n))
    sigma_fm2 = np.sum(wb * (1.0 - (1.0 - p) ** Ap))  # (A2)
    return 10.0 * float(sigma_fm2), P / P.sum()


class AbrasionTables(NamedTuple):
    """Tabulated P(n | reaction) for the sampler :func:`sample_abraded`."""

    cdf: np.ndarray  # [projectile, target, energy, n], n = 0..N_MAX: P(N <= n), 1 beyond A_P
    log_energy: np.ndarray  # ln(E [MeV/u]) of the energy grid, increasing
    proj_Z: np.ndarray  # per projectile row: Z_P
    proj_A: np.ndarray  # per projectile row: A_P
    target_Z: np.ndarray  # per target row: Z_T
    target_A: np.ndarray  # per target row: A_T
    sigma_mb: np.ndarray  # [projectile, target, energy]: Glauber sigma_R [mb], eq. (A2)


def build_abrasion_tables(projectiles, targets, energies_MeV_u=ENERGY_GRID_MEV_U, density="charge"):
    """:class:`AbrasionTables` for ``projectiles`` ((Z, A) pairs, A <= ``N_MAX``), ``targets``
    ((Z, A) pairs, or element numbers Z, then A = :func:`physics.ion_nuclear.dominant_mass_number`,
    1 for hydrogen) and the increasing grid ``energies_MeV_u`` [MeV/u]."""
    proj = [(int(z), int(a)) for z, a in projectiles]
    targ = []
    for t in targets:
        if np.ndim(t) == 0:
            z = int(t)
            targ.append((z, 1 if z == 1 else dominant_mass_number(z)))
        else:
            targ.append((int(t[0]), int(t[1])))
    energies = np.asarray(energies_MeV_u, dtype=float)
    if any(a > N_MAX or a < 1 for _, a in proj):
        raise ValueError(f"projectile mass numbers must be 1..{N_MAX}: {proj}")
    if energies.ndim != 1 or energies.size < 1 or np.any(np.diff(energies) <= 0.0) or energies[0] <= 0.0:
        raise ValueError("energies_MeV_u must be positive and increasing")
    cdf = np.ones((len(proj), len(targ), energies.size, N_MAX + 1))
    sigma = np.zeros((len(proj), len(targ), energies.size))
    for ip, (zp, ap) in enumerate(proj):
        for it, (zt, at) in enumerate(targ):
            for ie, e in enumerate(energies):
                sigma[ip, it, ie], P = _glauber(zp, ap, zt, at, e, density)
                c = np.cumsum(P)
                c[ap] = 1.0
                cdf[ip, it, ie, :ap + 1] = c
    return AbrasionTables(cdf=cdf, log_energy=np.log(energies),
                          proj_Z=np.array([z for z, _ in proj], np.int64),
                          proj_A=np.array([a for _, a in proj], np.int64),
                          target_Z=np.array([z for z, _ in targ], np.int64),
                          target_A=np.array([a for _, a in targ], np.int64), sigma_mb=sigma)


@jit
def sample_abraded(st, ip, it, E_MeV_u, tab):
    """Number n >= 1 of nucleons abraded from projectile row ``ip`` by target row ``it`` at
    ``E_MeV_u`` MeV/u, from ``tab`` (:class:`AbrasionTables`). Between two grid energies the
    table of the upper one is used with probability w = (ln E - ln E_j)/(ln E_j+1 - ln E_j), so
    the drawn law is the ln E-linear interpolation of the two P(n) without bias; outside the
    grid the end table is used. ``st``: uint64[4] generator state."""
    le = tab.log_energy
    ne = le.shape[0]
    x = math.log(E_MeV_u)
    if x <= le[0]:
        ie = 0
    elif x >= le[ne - 1]:
        ie = ne - 1
    else:
        j = 0
        while le[j + 1] < x:
            j += 1
        ie = j + 1 if uniform(st) * (le[j + 1] - le[j]) < x - le[j] else j
    u = uniform(st)
    n_max = tab.proj_A[ip]
    n = 1
    while n < n_max and tab.cdf[ip, it, ie, n] <= u:
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# (C)-(E) samplers
# ---------------------------------------------------------------------------------------------

@jit
def sample_removed_protons(st, n, Zp, Ap):
    """Number of protons among ``n`` nucleons removed from a nucleus of ``Zp`` protons and ``Ap``
    nucleons (hypergeometric, (C)): the nucleons are drawn one by one without replacement."""
    z = 0
    protons = Zp
    left = Ap
    for _ in range(n):
        if uniform(st) * left < protons:
            z += 1
            protons -= 1
        left -= 1
    return z


@jit
def sample_hole_excitation(st, n, E_F_MeV):
    """Excitation energy E* [MeV] of ``n`` holes in a Fermi gas of Fermi energy ``E_F_MeV``: the
    sum of n independent hole depths E_F (1 - u^(2/3)), eq. (D1)."""
    e = 0.0
    for _ in range(n):
        e += E_F_MeV * (1.0 - uniform(st) ** (2.0 / 3.0))
    return e


def fermi_momentum_MeV_c(A):
    """Fermi momentum p_F [MeV/c] of a nucleus of mass number ``A`` (Moniz et al. 1971 Table I,
    ``FERMI_MOMENTUM_TABLE``; rule of (D): 6Li's value for A <= 6, linear in A between the
    tabulated nuclei, 208Pb's above)."""
    a, p = zip(*FERMI_MOMENTUM_TABLE)
    return float(np.interp(float(A), a, p))


def fermi_energy_MeV(A):
    """Fermi energy E_F = p_F^2 / (2 m_N) [MeV] of a nucleus of mass number ``A`` (D)."""
    return fermi_momentum_MeV_c(A) ** 2 / (2.0 * NUCLEON_MASS_MEV)


@jit
def sample_goldhaber(st, A_F, A_P, sigma0_MeV_c):
    """Momentum kick (qx, qy, qz) [MeV/c] of a prefragment of ``A_F`` nucleons left from a
    projectile of ``A_P`` (its rest frame), Goldhaber (1974), eq. (E1): independent Gaussians of
    sigma = sigma0 sqrt(A_F (A_P - A_F) / (A_P - 1)); zero if A_F = A_P or A_P = 1."""
    if A_P <= 1 or A_F >= A_P or A_F <= 0:
        return 0.0, 0.0, 0.0
    s = sigma0_MeV_c * math.sqrt(A_F * (A_P - A_F) / (A_P - 1.0))
    g1, g2 = gauss_pair(st)
    g3, _ = gauss_pair(st)
    return s * g1, s * g2, s * g3
