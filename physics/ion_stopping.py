"""Electronic stopping power and CSDA range of light ions (1H to 12C and beyond) in materials.

Units: kinetic energy per nucleon ``T_per_u`` in MeV/u (T / A, the convention of the ICRU 73 and
ICRU 90 ion tables), total kinetic energy T in MeV, rest energy M c^2 in MeV, mass stopping power
S/rho in MeV cm^2/g, CSDA range in g/cm^2. The proton-equivalent energy of an ion is the kinetic
energy of a proton of the same velocity, T_p = T m_p / M.

Model
-----
High energies (T_p >= T_J = 8 MeV): the Bethe formula of :func:`physics.stopping.bethe_mass_stopping`
(PDG eq. 34.5 with exact T_max, Sternheimer density effect, Barkas-Berger shell correction and the
Bloch term L_2), written as a stopping number L with the higher-order terms of ICRU Report 49 (1993)
Sec. 2:

    S_B = K z^2 <Z/A> / beta^2 [L_0 + z L_1 + L_2(z) + L_M(z)].                              (1)

* Barkas (z^3) term L_1 of Ashley, Ritchie & Brandt, Phys. Rev. B 5, 2393 (1972) ("ARB"), the form
  used in ICRU Report 49 Sec. 2 (with the extension of Jackson & McCarthy, Phys. Rev. B 6, 4131,
  1972), for one element of atomic number Z_i:

      L_1,i = F_ARB(b_i / x_i^1/2) / (Z_i^1/2 x_i^3/2),   x_i = beta^2 / (alpha^2 Z_i),        (2)

  F_ARB the ARB function (47 points, as digitised in Geant4 G4EmCorrections, Initialise(): F = 21.5
  at 0.02 falling to 0.0025 at 10, continued as 1/W beyond), b_i the screening parameter per
  element as chosen in Geant4 G4EmCorrections::BarkasCorrection (H 1.8, He 0.6, Z 3-10 1.8,
  11-17 1.4, Ar 1.8, 19-25 1.4, 26-50 1.35, heavier 1.3). A compound adds the elemental L_1,i
  weighted by electrons, w_i Z_i / A_i (Bragg additivity of the stopping number); Geant4 weights by
  atoms and, in recent releases, multiplies by 1.29: neither is done here.
* Bloch term L_2 = -y^2 sum 1/(n(n^2 + y^2)), y = z alpha / beta: already in
  :func:`physics.stopping.bethe_mass_stopping` (Bloch 1933; ICRU 49 Sec. 2).
* Mott term, the lowest order in z alpha of the Mott correction (S. P. Ahlen, Rev. Mod. Phys. 52,
  121, 1980; the O(z^3) relativistic part of the Lindhard-Sorensen correction, Phys. Rev. A 53, 2443,
  1996; Geant4 G4EmCorrections::MottCorrection, pi alpha beta z in units of L/2):

      L_M = (pi / 2) alpha z beta.                                                           (3)

  It grows with beta: for 12C in water it raises S by 0.34 % at 83 MeV/u and 0.55 % at 417 MeV/u,
  which is the size of the deficit of eq. (1) without it against ICRU 90 Table A.15 (-0.40 % and
  -0.59 %). ICRU 49 (and so the ICRU 90 alpha table) omits it: for 4He it adds 0.09-0.16 % at
  50-250 MeV/u, which is the observed excess over ICRU 90 Table A.12 there.

Low energies (T_p < T_J): effective charge. The stopping of the ion is that of a proton of the same
velocity (the project's proton model, :func:`physics.stopping.electronic_mass_stopping`) scaled by
the square of the ion's effective charge gamma z (Ziegler, Biersack & Littmark, *The Stopping and
Range of Ions in Solids*, Pergamon 1985, "ZBL", Ch. 3):

    S_low(T) = (gamma z)^2 S_p(T_p).                                                         (4)

* z = 2 (ZBL helium effective charge; E in keV/u, Z_2 the atom-averaged target Z):

      gamma_He = [1 + (0.007 + 0.00005 Z_2) exp(-(7.6 - ln E)^2)]
                 * sqrt(1 - exp(-sum_{i=0..5} c_i (ln E)^i)),                                (5)
      c = (0.2865, 0.1266, -0.001429, 0.02402, -0.01135, 0.001475).

* z >= 3 (ZBL heavy-ion effective charge after the Brandt-Kitagawa theory, Phys. Rev. B 25, 5631,
  1982, with the screening length of Ziegler & Manoyan, Nucl. Instrum. Meth. B 35, 215, 1988).
  With v_F the target Fermi velocity (units of the Bohr velocity v_0, ZBL table per element,
  atom-averaged for compounds) and v_1^2 = T_p / (25 keV v_F^2):

      y_r = v_F v_1 (1 + 0.2 / v_1^2) / z^(2/3)                          (v_1 >= 1),
      y_r = 0.692308 v_F (1 + 2 v_1^2/3 + v_1^4/15) / z^(2/3)            (v_1 < 1),         (6)
      q = 1 - exp(0.803 y_r^0.3 - 1.3167 y_r^0.6 - 0.38157 y_r - 0.008983 y_r^2),  q >= 1/z,
      Lambda = 10 v_F (1 - q)^(2/3) / (z^(1/3) (6 + q)),
      gamma = q [1 + (1 - q) / (2 q v_F^2) ln(1 + Lambda^2)]
              * [1 + (0.18 + 0.0015 Z_2) exp(-(7.6 - ln(T_p / keV))^2) / z^2].

  Eqs. (5) and (6) are written as implemented in Geant4 G4ionEffectiveCharge (V. Ivanchenko), which
  cites ZBL 1985 and Ziegler & Manoyan 1988; the Fermi velocities are ZBL's, as tabulated in Geant4
  G4IonisParamElm/G4IonisParamMat.

Junction. At T_J the two are joined continuously as the proton model of :mod:`physics.stopping`
joins its low-energy fit to Bethe (GEANT3 GDRELX, CERN Program Library W5013; the same smoothing in
the Geant4 Physics Reference Manual, ion ionisation):

    S(T) = S_B(T) (1 + c / T_p),   c = (S_low(T_J) / S_B(T_J) - 1) T_J,   T_p >= T_J.        (7)

T_J = 8 MeV (proton-equivalent; 8 MeV/u for any ion) is where the Barkas-Berger shell correction of
eq. (1) becomes valid (eta = beta gamma >= 0.13, :data:`physics.stopping.T_SHELL_MEV`); below it
that correction is only extrapolated. For z = 1 with the Barkas and Mott terms switched off the model
is the project's proton model exactly (c then equals the proton junction constant).

CSDA range: R(T) = A int_0^{T/A} dT'_u / S(T'_u) [g/cm^2], integrated in ln T on a log grid from
T_u,min = 1 keV/u (trapezoid rule), with the part below T_u,min taken as 2 A T_u,min / S(T_u,min)
(S proportional to velocity there, as in the proton model's low-energy limit).                   (8)

Accuracy (liquid water, I = 78 eV; tests/test_ion_stopping.py): the electronic stopping of 12C is
within 0.3 % of ICRU Report 90 Table A.15 from 16.7 to 500 MeV/u (-0.30 % at 16.7, -0.04 % to -0.12 %
at 50-417 MeV/u) and of 4He within 0.25 % of Table A.12 from 10 to 250 MeV/u (+0.14 % to +0.21 %, the
Mott term); CSDA ranges of 12C at 100-400 MeV/u are +0.08 % to +0.17 %, of 4He at 100-200 MeV/u
-0.13 %. Below 10 MeV/u eq. (4) is a few % off: 12C +2.2 % at 1.25 MeV/u, -1.4 % at 5 MeV/u (ICRU 90);
4He +5 % at 1-2 MeV/u, of which +4 % is the proton model (ICRU 49 elemental Bragg additivity) against
the ICRU 90 proton table at the same velocity and +1 to +1.5 % the ZBL helium charge. Below 0.5 MeV/u
the proton model, and so eq. (4), is 5-30 % above ICRU 90 in water. The range at >= 100 MeV/u hardly
feels this: less than 1.7 % of the 12C range at 100 MeV/u (1.6 % for 4He) is spent below 10 MeV/u.

Nuclear stopping is neglected. ICRU 90 tabulates it (Snuc): for 12C in water Snuc/Sel is 0.12 % at
0.83 MeV/u, 0.10 % at 1.25 MeV/u, 0.06 % at 8.3 MeV/u and 0.04 % at 83 MeV/u; for 4He 0.09 % at
1 MeV/u and 0.04 % at 100 MeV/u. Omitting it lengthens the CSDA range at >= 100 MeV/u by about
0.03-0.05 %.
"""

import numpy as np

from .constants import AMU_MEV, BETHE_K, FINE_STRUCTURE, PROTON_MASS_MEV
from .elements import element
from .stopping import T_SHELL_MEV, bethe_mass_stopping, electronic_mass_stopping, kinematics

#: Proton-equivalent junction energy T_J [MeV] between eq. (4) and eq. (1), eq. (7).
T_JOIN_ION_MEV = T_SHELL_MEV
#: Lower end of the CSDA integration grid [MeV/u], eq. (8).
T_MIN_PER_U = 1.0e-3
#: Bohr energy 1/2 m_p v_0^2 = 25 keV used to express velocities in v_0 units (ZBL; Geant4) [MeV].
_BOHR_ENERGY_MEV = 25.0e-3

#: ARB function F(W) of eq. (2): Ashley, Ritchie & Brandt, Phys. Rev. B 5, 2393 (1972), as digitised
#: in Geant4 G4EmCorrections (47 points). W = b / x^1/2 (dimensionless).
_ARB_W = np.array([0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8,
                   0.9, 1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1, 2.4, 3.0, 3.08, 3.1, 3.3, 3.5,
                   3.8, 4.0, 4.1, 4.8, 5.0, 5.1, 6.0, 6.5, 7.0, 7.1, 8.0, 9.0, 10.0])
_ARB_F = np.array([21.5, 20.0, 18.0, 15.6, 15.0, 14.0, 13.5, 13.0, 12.2, 9.25, 7.0, 6.0, 4.5, 3.5, 3.0, 2.5,
                   2.0, 1.7, 1.2, 1.0, 0.86, 0.7, 0.61, 0.52, 0.5, 0.43, 0.42, 0.3, 0.2, 0.13, 0.1, 0.09, 0.08,
                   0.07, 0.06, 0.051, 0.04, 0.03, 0.024, 0.02, 0.013, 0.01, 0.009, 0.008, 0.006, 0.0032,
                   0.0025])

#: Fermi velocities v_F / v_0 of the elements (ZBL 1985; as tabulated in Geant4 G4IonisParamElm).
FERMI_VELOCITY = {1: 1.0309, 2: 0.15976, 6: 1.0, 7: 1.058, 8: 0.93942, 9: 0.74562, 11: 0.45259, 12: 0.71074,
                  13: 0.90519, 14: 0.97411, 15: 0.97184, 16: 0.89852, 17: 0.70827, 18: 0.39816, 19: 0.36552,
                  20: 0.62712, 22: 0.9943, 26: 0.92705, 29: 1.0661, 30: 0.97411, 53: 0.55379}

#: ZBL helium effective-charge coefficients c_0..c_5 of eq. (5).
_ZBL_HE_COEFFS = (0.2865, 0.1266, -0.001429, 0.02402, -0.01135, 0.001475)


def barkas_b_parameter(Z):
    """ARB screening parameter b of eq. (2) for a target element Z (Geant4 G4EmCorrections choice)."""
    if Z == 1:
        return 1.8
    if Z == 2:
        return 0.6
    if Z <= 10 or Z == 18:
        return 1.8
    if Z <= 25:
        return 1.4
    if Z <= 50:
        return 1.35
    return 1.3


def _arb_function(W):
    """F_ARB(W) of eq. (2): linear interpolation of the table, F(W <= 0.02) = 21.5, F ~ 1/W beyond 10."""
    W = np.asarray(W, dtype=float)
    inner = np.interp(W, _ARB_W, _ARB_F)
    return np.where(W > _ARB_W[-1], _ARB_F[-1] * _ARB_W[-1] / np.maximum(W, _ARB_W[-1]), inner)


def barkas_L1(material, beta2):
    """Barkas stopping-number term L_1 (per unit projectile charge) of ``material``, eq. (2).

    Elemental ARB terms, weighted by electrons (w_i Z_i / A_i). ``beta2`` array-like.
    """
    beta2 = np.asarray(beta2, dtype=float)
    num = np.zeros_like(beta2)
    den = 0.0
    for Z, w in material.composition.items():
        x = beta2 / (FINE_STRUCTURE**2 * Z)
        l1 = _arb_function(barkas_b_parameter(Z) / np.sqrt(x)) / (np.sqrt(Z) * x**1.5)
        weight = w * Z / element(Z).A
        num = num + weight * l1
        den += weight
    return num / den


def mott_L(z, beta2):
    """Lowest-order Mott term L_M = (pi/2) alpha z beta of eq. (3) (Ahlen 1980)."""
    return 0.5 * np.pi * FINE_STRUCTURE * z * np.sqrt(np.asarray(beta2, dtype=float))


def bethe_ion_mass_stopping(material, T, z, mass_MeV, barkas=True, mott=True):
    """Bethe mass stopping power [MeV cm^2/g] of a bare ion of charge ``z`` and rest energy ``mass_MeV``
    at total kinetic energy ``T`` [MeV], eq. (1): :func:`physics.stopping.bethe_mass_stopping` (shell,
    density, Bloch) plus the Barkas term z L_1 (eq. 2) and the Mott term L_M (eq. 3)."""
    T = np.asarray(T, dtype=float)
    beta2, _ = kinematics(T, mass_MeV)
    s = bethe_mass_stopping(material, T, z, mass_MeV)
    extra = np.zeros_like(T)
    if barkas:
        extra = extra + z * barkas_L1(material, beta2)
    if mott:
        extra = extra + mott_L(z, beta2)
    return s + BETHE_K * z * z * material.z_over_a / beta2 * extra


def _target_averages(material):
    """Atom-averaged target atomic number Z_2 and Fermi velocity v_F / v_0 (as Geant4 G4IonisParamMat)."""
    atoms = z_sum = v_sum = 0.0
    for Z, w in material.composition.items():
        if Z not in FERMI_VELOCITY:
            raise KeyError(f"no ZBL Fermi velocity for Z={Z} (material {material.name})")
        n = w / element(Z).A
        atoms += n
        z_sum += n * Z
        v_sum += n * FERMI_VELOCITY[Z]
    return z_sum / atoms, v_sum / atoms


def effective_charge_fraction(material, T_p, z):
    """Fractional effective charge gamma of an ion of charge ``z`` at proton-equivalent energy ``T_p``
    [MeV] in ``material``: 1 for z = 1, eq. (5) for z = 2, eq. (6) for z >= 3 (ZBL 1985)."""
    T_p = np.asarray(T_p, dtype=float)
    if z == 1:
        return np.ones_like(T_p)
    z2, v_f = _target_averages(material)
    if z == 2:
        ln_e = np.maximum(np.log(T_p * 1.0e3 * AMU_MEV / PROTON_MASS_MEV), 0.0)  # E in keV/u
        x = sum(c * ln_e**i for i, c in enumerate(_ZBL_HE_COEFFS))
        z2_term = (0.007 + 0.00005 * z2) * np.exp(-((7.6 - ln_e) ** 2))
        return (1.0 + z2_term) * np.sqrt(-np.expm1(-x))
    v1sq = T_p / (_BOHR_ENERGY_MEV * v_f**2)
    z13 = z ** (1.0 / 3.0)
    fast = v_f * np.sqrt(v1sq) * (1.0 + 0.2 / np.maximum(v1sq, 1.0)) / z13**2
    slow = 0.692308 * v_f * (1.0 + 2.0 * v1sq / 3.0 + v1sq**2 / 15.0) / z13**2
    y = np.where(v1sq >= 1.0, fast, slow)
    y3 = y**0.3
    q = np.maximum(-np.expm1(0.803 * y3 - 1.3167 * y3**2 - 0.38157 * y - 0.008983 * y * y), 1.0 / z)
    lam = 10.0 * v_f * (1.0 - q) ** (2.0 / 3.0) / (z13 * (6.0 + q))
    screening = 1.0 + (1.0 - q) / (2.0 * q * v_f**2) * np.log1p(lam**2)
    z2_term = 1.0 + (0.18 + 0.0015 * z2) * np.exp(-((7.6 - np.log(T_p * 1.0e3)) ** 2)) / z**2
    return q * screening * z2_term


def _low_energy_stopping(material, T_p, z):
    """Eq. (4): (gamma z)^2 times the proton stopping at proton-equivalent energy ``T_p`` [MeV]."""
    gamma = effective_charge_fraction(material, T_p, z)
    return (gamma * z) ** 2 * electronic_mass_stopping(material, T_p)


def mass_number(mass_MeV):
    """Nucleon number A nearest to a rest energy [MeV] (A = round(M / u))."""
    return int(round(mass_MeV / AMU_MEV))


def ion_mass_stopping(material, T_per_u, Z, mass_MeV, A=None, barkas=True, mott=True):
    """Electronic mass stopping power [MeV cm^2/g] of a bare ion (charge ``Z``, rest energy ``mass_MeV``,
    nucleon number ``A``, default round(M/u)) at kinetic energy per nucleon ``T_per_u`` [MeV/u].

    Eq. (4) below the proton-equivalent junction T_J = 8 MeV, eq. (1) with the continuity factor of
    eq. (7) above. ``barkas`` / ``mott`` switch the terms of eqs. (2) and (3). Vectorised in ``T_per_u``.
    """
    t_u = np.atleast_1d(np.asarray(T_per_u, dtype=float))
    if np.any(t_u <= 0) or not np.all(np.isfinite(t_u)):
        raise ValueError("kinetic energies per nucleon must be positive and finite (MeV/u)")
    z = int(Z)
    A = mass_number(mass_MeV) if A is None else int(A)
    T = t_u * A
    t_p = T * PROTON_MASS_MEV / mass_MeV
    t_join_total = np.array([T_JOIN_ION_MEV * mass_MeV / PROTON_MASS_MEV])
    s_low_join = _low_energy_stopping(material, np.array([T_JOIN_ION_MEV]), z)[0]
    s_high_join = bethe_ion_mass_stopping(material, t_join_total, z, mass_MeV, barkas, mott)[0]
    c = (s_low_join / s_high_join - 1.0) * T_JOIN_ION_MEV
    out = np.empty_like(t_u)
    lo = t_p < T_JOIN_ION_MEV
    if np.any(lo):
        out[lo] = _low_energy_stopping(material, t_p[lo], z)
    hi = ~lo
    if np.any(hi):
        out[hi] = bethe_ion_mass_stopping(material, T[hi], z, mass_MeV, barkas, mott) * (1.0 + c / t_p[hi])
    return out


def ion_csda_range(material, T_per_u, Z, mass_MeV, A=None, points_per_decade=200, barkas=True, mott=True):
    """CSDA range [g/cm^2] of a bare ion at kinetic energy per nucleon ``T_per_u`` [MeV/u], eq. (8).

    R = A int dT_u / S on a log grid (``points_per_decade``) from 1 keV/u, plus 2 A T_min / S(T_min)
    for the part below. Divide by the density [g/cm^3] for a length in cm. Vectorised in ``T_per_u``.
    """
    t_u = np.atleast_1d(np.asarray(T_per_u, dtype=float))
    if np.any(t_u < T_MIN_PER_U) or not np.all(np.isfinite(t_u)):
        raise ValueError(f"kinetic energies per nucleon must be finite and >= {T_MIN_PER_U} MeV/u")
    A = mass_number(mass_MeV) if A is None else int(A)
    decades = max(np.log10(t_u.max() / T_MIN_PER_U), 1e-9)
    n = int(np.ceil(decades * points_per_decade)) + 1
    grid = T_MIN_PER_U * np.logspace(0.0, decades, n)
    s = ion_mass_stopping(material, grid, Z, mass_MeV, A, barkas, mott)
    integrand = A * grid / s  # A dT_u / S = A T_u / S d(ln T_u)
    dlog = np.diff(np.log(grid))
    cumulative = np.concatenate(([0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * dlog)))
    cumulative += 2.0 * A * T_MIN_PER_U / s[0]
    return np.interp(np.log(t_u), np.log(grid), cumulative)
