"""Nucleus-nucleus total reaction cross sections and the attenuation of primary ions.

Units: energies per nucleon E in MeV/u (laboratory kinetic energy of the projectile divided by
its mass number A_P, target at rest), centre-of-mass kinetic energy E_cm in MeV, lengths in fm,
microscopic cross sections in mb (1 mb = 1e-27 cm^2), mass (macroscopic) cross sections in
cm^2/g, depths in cm (water of density 1 g/cm^3 unless stated).

Total reaction cross section sigma_R
------------------------------------
**Universal parametrisation** of Tripathi, Cucinotta & Wilson (1996, Nucl. Instrum. Meth. B
117:347; the same formulas in NASA TP-3621, 1997), equation numbers of the NIM B paper:

* (1) sigma_R = pi r0^2 (A_P^1/3 + A_T^1/3 + delta_E)^2 (1 - B/E_cm), r0 = 1.1 fm;
* (2) B = 1.44 Z_P Z_T / R [MeV, 1.44 MeV fm = e^2], the Coulomb barrier at
* (3) R = r_P + r_T + 1.2 (A_P^1/3 + A_T^1/3) / E_cm^1/3 [fm], with
* (4) r_i = 1.29 (r_i)_rms, the rms radii of the nuclei (see ``RMS_RADIUS_FM``);
* (5) delta_E = 1.85 S + 0.16 S / E_cm^1/3 - C(E) + 0.91 (A_T - 2 Z_T) Z_P / (A_T A_P),
  the last term the neutron excess of the target;
* (6) S = A_P^1/3 A_T^1/3 / (A_P^1/3 + A_T^1/3), the mass asymmetry;
* (7) C(E) = D [1 - exp(-E/T1)] - 0.292 exp(-E/792) cos(0.229 E^0.453), T1 = 40 MeV/u
  (transparency and Pauli blocking);
* (8) D = 1.75 for 12C + 12C; the paper scales D with the mean nuclear density of the pair,
  D = 1.75 rho_(A_P+A_T) / rho_(A_C+A_C), and divides it by 3 for lithium. This module keeps
  D = 1.75 for every nucleus-nucleus pair, as Geant4's G4TripathiCrossSection does: the density
  rule as read from Tripathi's reference code (distributed with TALYS, function ``tripathi``:
  rho_A = A / (4/3 pi r_A^3), r_A = 1.29 (r_A)_rms, D/3 for Li) gives sigma_R(6Li + C) = 1180 mb
  at 790 MeV/u, 1.7 times the D = 1.75 value (683 mb) and far from the smooth A-dependence of
  the other pairs; for 12C + O the rule would add 0.4 %.

**Light systems**: when one of the two nuclei is n, p, d, 3He or 4He, the modified form of
Tripathi, Cucinotta & Wilson (1999, Nucl. Instrum. Meth. B 155:349; NASA TP-1999-209726):

* sigma_R = pi r0^2 (A_P^1/3 + A_T^1/3 + delta_E)^2 (1 - R_c B/E_cm) X_m  (eq. 1 of the 1999
  paper), the neutron-excess term of delta_E taken for the heavier partner;
* X_m = 1 - X1 exp(-E/(X1 S_L)) (eq. 14), X1 = 2.83 - 3.1e-2 A + 1.7e-4 A^2 (A the heavier
  partner's mass number), S_L = 1.2 + 1.6 [1 - exp(-E/15)];
* T1, D and the Coulomb multiplier R_c from the paper's Table 1 (``_light_parameters``):
  nucleon + X: T1 = 23 MeV/u (18 for neutrons), D = 1.85 + 0.16/(1 + exp((500 - E)/200));
  d + X: T1 = 23, D = 1.65 + 0.1/(1 + exp((500 - E)/200)); 3He + X: T1 = 40, D = 1.55;
  4He + X: D = 2.77 - 8.0e-3 A_T + 1.8e-5 A_T^2 - 0.8/(1 + exp((250 - E)/G)), T1 = 40,
  G = 75 (special T1, G for Be, N, Al, Fe and 4He targets); R_c = 13.5 (p+d, d+d, d+4He),
  21 (p+3He), 27 (p+4He), 2.2 (p+Li), 6.0 (d+12C), 1 otherwise.
  The parameter values were checked against Geant4's ``G4TripathiLightCrossSection.cc``
  (version with the 2010 correction of X_m to eq. 14).

**Hydrogen targets** are treated in inverse kinematics: an ion of energy E per nucleon on a
proton at rest is the same collision as a proton of the same velocity on the ion at rest (same
E_cm), so 12C + H is the light-system p + 12C formula above, evaluated with the ion's E = T/A
(the proton of equal velocity has an energy 0.76 % higher, m_p A / M; this changes sigma_R by
< 0.4 %, the ambiguity of the energy variable of the parametrisation).
For a nucleon on hydrogen (p + p, n + p) there is no reaction channel below the pion-production
threshold (279.7 MeV for p + p, as in ``physics.nuclear.PION_THRESHOLD_MEV``); above it the small
inelastic nucleon-nucleon cross section (pion production, zero at threshold and of order
10 mb at 500 MeV in the Particle Data Group's NN cross-section compilation) is neglected and
sigma_R = 0, the same treatment as the proton model of :mod:`physics.nuclear`.

rms radii ``RMS_RADIUS_FM``: the table of measured rms (charge) radii for A <= 26 used by
NUCFRG2 (Wilson et al. 1995, NASA TP-3533) and by Tripathi's code (p 0.85, 4He 1.671, 12C
2.471, 16O 2.730 fm ...); above A = 26, r_rms = 0.84 A^1/3 + 0.55 fm (same source).

Nuclear masses (for E_cm): A u + Delta - Z m_e with the atomic mass excess Delta of the 2016
Atomic Mass Evaluation (Wang et al. 2017, Chin. Phys. C 41:030003) for the light isotopes in
``MASS_EXCESS_MEV``; Delta = 0 for others (E_cm then errs by < 0.1 %, sigma_R by < 0.01 %).

``variant="geant4"`` reproduces the radius conventions of Geant4's implementations instead of
the paper's eq. (4), for comparison with evaluations made with them: in the universal formula
r_rms = 0.6 * 1.36 A^1/3 / 1.1 (the code divides 0.6 * 1.36 fm A^1/3 by r0 = 1.1 fm,
``G4TripathiCrossSection.cc``); in
the light formula r_i = 1.29 sqrt(5/3) r_rms (``G4TripathiLightCrossSection.cc`` applies
1.29 to the radius ``G4WilsonRadius`` returns, which already is sqrt(5/3) r_rms). Both only
change the Coulomb barrier B: for 12C + H/C/O the paper's radii change sigma_R by < 0.4 %
above 100 MeV/u (up to 3-5 % at 10 MeV/u); for 4He + H, where B is multiplied by R_c = 27,
by -6 % at 100 MeV/u and -1.2 % at 500 MeV/u (the paper's radii agree with Tripathi's
reference code, which applies R_c with the same radii).

Primary-ion survival
--------------------
N/N0(x) = exp(-integral_0^x Sigma(E(x')) rho dx') (exponential attenuation without build-up
of secondary ions of the same species), Sigma the mass reaction cross section of the material
(:func:`mass_reaction_xs_cm2_g`), E(x) the continuous-slowing-down energy at depth x:
x(E) = integral_E^E0 A_P dE' / (rho S(E')), S the mass electronic stopping power of the ion,
here :func:`physics.ion_stopping.ion_mass_stopping`, the stopping power the transport uses
(Bethe with shell, density-effect, Bloch, Barkas and Mott terms; CSDA ranges of 12C in water
within 0.17 % of ICRU Report 90 Table A.15). The integration starts at 1 MeV/u (the residual range below,
< 0.003 g/cm^2 for 12C, is neglected). This is the total reaction cross section, which
includes reactions that leave the projectile's charge unchanged (neutron removal), so N/N0 is
the survival of the unreacted primary, below the measured survival of ions of charge Z_P.
"""

import math

import numpy as np

from .constants import AMU_MEV, AVOGADRO, ELECTRON_MASS_MEV
from .elements import element
from .ion_stopping import ion_mass_stopping
from .materials import get_material

MB_CM2 = 1.0e-27

#: r0 of eq. (1) [fm] (Tripathi et al. 1996 and 1999).
R0_FM = 1.1
#: e^2 = 1.44 MeV fm of the Coulomb barrier, eq. (2).
E2_MEV_FM = 1.44
#: Ratio of the equivalent sharp radius to the rms radius, eq. (4).
RADIUS_FACTOR = 1.29
#: D of 12C + 12C, eq. (8).
D_CARBON = 1.75
#: T1 of eq. (7) for nucleus-nucleus pairs [MeV/u].
T1_UNIVERSAL = 40.0

#: Measured rms radii [fm] for A = 1..26 (NUCFRG2, Wilson et al. 1995 NASA TP-3533; Tripathi's
#: code; Geant4 G4WilsonRadius). A = 5 and 8 have no bound ground state; their entries are
#: the source's interpolations.
RMS_RADIUS_FM = (0.85, 2.095, 1.976, 1.671, 1.986, 2.57, 2.41, 2.23, 2.519, 2.45, 2.42, 2.471, 2.440,
                 2.58, 2.611, 2.730, 2.662, 2.727, 2.9, 3.040, 2.867, 2.969, 2.94, 3.075, 3.11, 3.06)

#: Atomic mass excesses Delta [MeV], AME2016 (Wang et al. 2017), keyed by (Z, A).
MASS_EXCESS_MEV = {
    (0, 1): 8.071318, (1, 1): 7.288971, (1, 2): 13.135722, (1, 3): 14.949810, (2, 3): 14.931218,
    (2, 4): 2.424916, (3, 6): 14.086879, (3, 7): 14.907105, (4, 7): 15.769, (4, 9): 11.34845,
    (5, 10): 12.05061, (5, 11): 8.66771, (6, 10): 15.69867, (6, 11): 10.65034, (6, 12): 0.0,
    (6, 13): 3.125009, (7, 14): 2.863417, (7, 15): 0.101439, (8, 16): -4.737001, (20, 40): -34.8463,
}

#: The light nuclei of Tripathi et al. (1999): n, p, d, 3He, 4He as (Z, A).
LIGHT_NUCLEI = ((0, 1), (1, 1), (1, 2), (2, 3), (2, 4))


def nuclear_mass_mev(Z, A):
    """Rest energy of the bare nucleus (Z, A) [MeV]: A u + Delta - Z m_e (AME2016 Delta;
    0 where not tabulated)."""
    return A * AMU_MEV + MASS_EXCESS_MEV.get((int(Z), int(A)), 0.0) - Z * ELECTRON_MASS_MEV


def rms_radius_fm(A, variant="paper"):
    """rms radius of a nucleus of mass number ``A`` [fm]: ``RMS_RADIUS_FM`` for A <= 26, else
    0.84 A^1/3 + 0.55 (Wilson et al. 1995); ``variant="geant4"``: 0.6 * 1.36 A^1/3 / 1.1, the
    radius of ``G4TripathiCrossSection.cc`` (0.6 * 1.36 fm A^1/3 divided by r0 = 1.1 fm)."""
    if variant == "geant4":
        return 0.6 * 1.36 / R0_FM * A ** (1.0 / 3.0)
    a = int(round(A))
    if 1 <= a <= len(RMS_RADIUS_FM):
        return RMS_RADIUS_FM[a - 1]
    return 0.84 * A ** (1.0 / 3.0) + 0.55


def ecm_mev(Zp, Ap, Zt, At, E_u):
    """Kinetic energy in the centre-of-mass frame [MeV], sqrt(s) - m_P - m_T, of a projectile
    (Zp, Ap) of ``E_u`` MeV/u on a target (Zt, At) at rest (array-like E_u)."""
    mp = nuclear_mass_mev(Zp, Ap)
    mt = nuclear_mass_mev(Zt, At)
    t = Ap * np.atleast_1d(np.asarray(E_u, dtype=float))
    return np.sqrt(mp * mp + mt * mt + 2.0 * mt * (t + mp)) - mp - mt


def is_light_system(Zp, Ap, Zt, At):
    """True when the 1999 light-system formula applies (one partner is n, p, d, 3He or 4He)."""
    return (int(Zp), int(Ap)) in LIGHT_NUCLEI or (int(Zt), int(At)) in LIGHT_NUCLEI


def _geometric_xs_mb(Ap, At, delta_e):
    """pi r0^2 (A_P^1/3 + A_T^1/3 + delta_E)^2 [mb] (eq. 1; 1 fm^2 = 10 mb)."""
    return 10.0 * math.pi * R0_FM**2 * (Ap ** (1.0 / 3.0) + At ** (1.0 / 3.0) + delta_e) ** 2


def _c_of_e(E, D, T1):
    """Transparency/Pauli-blocking term C(E) (eq. 7)."""
    return D * (1.0 - np.exp(-E / T1)) - 0.292 * np.exp(-E / 792.0) * np.cos(0.229 * E**0.453)


def tripathi_universal_mb(Zp, Ap, Zt, At, E_u, variant="paper"):
    """sigma_R [mb] of Tripathi et al. (1996), eqs. (1)-(8), for projectile (Zp, Ap) of ``E_u``
    MeV/u (array-like) on target (Zt, At); zero below the Coulomb barrier. ``variant``: see
    the module docstring."""
    E = np.atleast_1d(np.asarray(E_u, dtype=float))
    ecm = ecm_mev(Zp, Ap, Zt, At, E)
    a13 = Ap ** (1.0 / 3.0) + At ** (1.0 / 3.0)
    r_sum = RADIUS_FACTOR * (rms_radius_fm(Ap, variant) + rms_radius_fm(At, variant))
    R = r_sum + 1.2 * a13 / np.cbrt(ecm)  # eq. (3)
    B = E2_MEV_FM * Zp * Zt / R  # eq. (2)
    D = D_CARBON  # eq. (8), see the module docstring
    S = Ap ** (1.0 / 3.0) * At ** (1.0 / 3.0) / a13  # eq. (6)
    delta_e = (1.85 * S + 0.16 * S / np.cbrt(ecm) - _c_of_e(E, D, T1_UNIVERSAL)
               + 0.91 * (At - 2.0 * Zt) * Zp / (At * Ap))  # eq. (5)
    sig = _geometric_xs_mb(Ap, At, delta_e) * (1.0 - B / ecm)  # eq. (1)
    return np.where(ecm > B, np.maximum(sig, 0.0), 0.0)


def _light_parameters(Zp, Ap, Zt, At, E):
    """(T1 [MeV/u], D, R_c) of the light-system formula, Tripathi et al. (1999) Table 1; the
    light partner is whichever of the two is n, p, d, 3He or 4He (the projectile if both)."""
    if (Zp, Ap) in LIGHT_NUCLEI:
        zl, al, zh, ah = Zp, Ap, Zt, At
    else:
        zl, al, zh, ah = Zt, At, Zp, Ap
    rc = 1.0
    if (zl, al) in ((1, 1), (0, 1)) or (zh, ah) in ((1, 1), (0, 1)):
        neutron = (zl, al) == (0, 1) or (zh, ah) == (0, 1)
        t1 = 18.0 if neutron else 23.0
        d = 1.85 + 0.16 / (1.0 + np.exp((500.0 - E) / 200.0))
        other = (zh, ah) if (zl, al) in ((1, 1), (0, 1)) else (zl, al)
        if not neutron:
            rc = {(1, 2): 13.5, (2, 3): 21.0, (2, 4): 27.0}.get(other, 2.2 if other[0] == 3 else 1.0)
    elif (zl, al) == (1, 2) or (zh, ah) == (1, 2):
        t1 = 23.0
        d = 1.65 + 0.1 / (1.0 + np.exp((500.0 - E) / 200.0))
        other = (zh, ah) if (zl, al) == (1, 2) else (zl, al)
        rc = {(1, 2): 13.5, (2, 4): 13.5, (6, 12): 6.0}.get(other, 1.0)
    elif (zl, al) == (2, 3) or (zh, ah) == (2, 3):
        t1, d = 40.0, np.full_like(E, 1.55)
    else:  # 4He + X
        other_z, other_a = (zh, ah) if (zl, al) == (2, 4) else (zl, al)
        t1, g = {4: (25.0, 300.0), 7: (40.0, 500.0), 13: (25.0, 300.0), 26: (40.0, 300.0)}.get(
            other_z, (40.0, 300.0) if (other_z, other_a) == (2, 4) else (40.0, 75.0))
        d = 2.77 - 8.0e-3 * other_a + 1.8e-5 * other_a**2 - 0.8 / (1.0 + np.exp((250.0 - E) / g))
    return t1, d, rc


def tripathi_light_mb(Zp, Ap, Zt, At, E_u, variant="paper"):
    """sigma_R [mb] of Tripathi et al. (1999) for light systems (eqs. 1 and 14 of that paper,
    parameters of its Table 1; see the module docstring), projectile (Zp, Ap) of ``E_u`` MeV/u
    (array-like) on target (Zt, At); zero where the formula turns negative."""
    E = np.atleast_1d(np.asarray(E_u, dtype=float))
    ecm = ecm_mev(Zp, Ap, Zt, At, E)
    a13 = Ap ** (1.0 / 3.0) + At ** (1.0 / 3.0)
    scale = RADIUS_FACTOR * (math.sqrt(5.0 / 3.0) if variant == "geant4" else 1.0)
    r_sum = scale * (rms_radius_fm(Ap) + rms_radius_fm(At))
    R = r_sum + 1.2 * a13 / np.cbrt(ecm)
    B = E2_MEV_FM * Zp * Zt / R
    t1, D, rc = _light_parameters(int(Zp), int(Ap), int(Zt), int(At), E)
    S = Ap ** (1.0 / 3.0) * At ** (1.0 / 3.0) / a13
    if At >= Ap:
        excess, a_heavy = 0.91 * (At - 2.0 * Zt) * Zp / (At * Ap), At
    else:
        excess, a_heavy = 0.91 * (Ap - 2.0 * Zp) * Zt / (At * Ap), Ap
    delta_e = 1.85 * S + 0.16 * S / np.cbrt(ecm) - _c_of_e(E, D, t1) + excess
    x1 = 2.83 - 3.1e-2 * a_heavy + 1.7e-4 * a_heavy**2
    s_l = 1.2 + 1.6 * (1.0 - np.exp(-E / 15.0))
    x_m = 1.0 - x1 * np.exp(-E / (x1 * s_l))  # eq. (14)
    coulomb = 1.0 - rc * B / ecm
    sig = _geometric_xs_mb(Ap, At, delta_e) * coulomb * x_m
    # below the (R_c-scaled) Coulomb barrier, or where X_m < 0, there is no reaction: both
    # factors negative at once (ions below ~0.5 MeV/u) would otherwise give a positive product
    return np.where((coulomb > 0.0) & (x_m > 0.0), np.maximum(sig, 0.0), 0.0)


def reaction_xs_mb(Zp, Ap, Zt, At, E_u, variant="paper"):
    """Total reaction cross section sigma_R [mb] of projectile (Zp, Ap) at ``E_u`` MeV/u
    (array-like) on target nucleus (Zt, At): zero for nucleon + nucleon (below the pion
    threshold, neglected above); the light-system formula (Tripathi et al. 1999) when one
    partner is n, p, d, 3He or 4He, which covers every ion on hydrogen in inverse kinematics;
    the universal formula (Tripathi et al. 1996) otherwise."""
    Zp, Ap, Zt, At = int(Zp), int(Ap), int(Zt), int(At)
    E = np.atleast_1d(np.asarray(E_u, dtype=float))
    if Ap == 1 and At == 1:
        return np.zeros_like(E)
    if is_light_system(Zp, Ap, Zt, At):
        return tripathi_light_mb(Zp, Ap, Zt, At, E, variant)
    return tripathi_universal_mb(Zp, Ap, Zt, At, E, variant)


def dominant_mass_number(Z):
    """Mass number used for an element as target: round(standard atomic weight), the most
    abundant isotope for H, C, N, O, Na ... Ca (>= 92 % abundance for these)."""
    return int(round(element(Z).A))


def mass_reaction_xs_cm2_g(Zp, Ap, E_u, composition, variant="paper"):
    """Macroscopic (mass) reaction cross section Sigma/rho [cm^2/g] of projectile (Zp, Ap) at
    ``E_u`` MeV/u (array-like) in a material of ``composition`` {Z: mass fraction}:
    sum_i w_i N_A / A_i sigma_R,i (A_i the element's atomic weight [g/mol], sigma_R,i for its
    dominant isotope)."""
    E = np.atleast_1d(np.asarray(E_u, dtype=float))
    out = np.zeros_like(E)
    for Z, w in composition.items():
        out += element_mass_reaction_xs_cm2_g(Zp, Ap, E, Z, w, variant)
    return out


def element_mass_reaction_xs_cm2_g(Zp, Ap, E_u, Z, mass_fraction, variant="paper"):
    """The part of :func:`mass_reaction_xs_cm2_g` [cm^2/g] due to element ``Z`` of mass fraction
    ``mass_fraction``: w N_A / A_Z sigma_R (sigma_R for the element's dominant isotope)."""
    atoms_per_g = mass_fraction * AVOGADRO / element(Z).A
    return atoms_per_g * reaction_xs_mb(Zp, Ap, Z, dominant_mass_number(Z), E_u, variant) * MB_CM2


def csda_energy_depth(E0_u, Zp=6, Ap=12, material="water", density=None, n=2000, e_min_u=1.0):
    """CSDA energy-depth relation of an ion (Zp, Ap) entering ``material`` (name or
    :class:`physics.materials.Material`) with ``E0_u`` MeV/u: returns (depth [cm] increasing
    from 0 to the CSDA range, E [MeV/u] decreasing from E0 to ``e_min_u``), from
    x(E) = integral_E^E0 A_P dE'/(rho S(E')) with S the ion stopping power the transport uses
    (:func:`physics.ion_stopping.ion_mass_stopping`; trapezoidal rule on a logarithmic grid of
    ``n`` points)."""
    mat = get_material(material) if isinstance(material, str) else material
    rho = mat.density if density is None else float(density)
    mass = nuclear_mass_mev(Zp, Ap)
    E = np.geomspace(E0_u, e_min_u, n)
    inv_s = 1.0 / ion_mass_stopping(mat, E, Zp, mass, Ap)  # g/(MeV cm^2)
    dx = 0.5 * (inv_s[1:] + inv_s[:-1]) * Ap * (E[:-1] - E[1:]) / rho
    return np.concatenate([[0.0], np.cumsum(dx)]), E


def primary_survival(E0_u, depth_cm, Zp=6, Ap=12, material="water", density=None, variant="paper"):
    """Fraction N/N0 of primary ions (Zp, Ap) of initial ``E0_u`` MeV/u that have not undergone
    a nuclear reaction at ``depth_cm`` (array-like) in ``material``:
    exp(-integral_0^x rho Sigma(E(x')) dx') along the CSDA energy-depth relation
    (:func:`csda_energy_depth`); NaN beyond the CSDA range."""
    mat = get_material(material) if isinstance(material, str) else material
    rho = mat.density if density is None else float(density)
    x, E = csda_energy_depth(E0_u, Zp, Ap, mat, rho)
    mu = rho * mass_reaction_xs_cm2_g(Zp, Ap, E, mat.composition, variant)  # 1/cm
    att = np.concatenate([[0.0], np.cumsum(0.5 * (mu[1:] + mu[:-1]) * np.diff(x))])
    d = np.atleast_1d(np.asarray(depth_cm, dtype=float))
    out = np.exp(-np.interp(d, x, att))
    return np.where((d >= 0.0) & (d <= x[-1]), out, np.nan)
