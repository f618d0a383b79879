"""Electronic stopping power of protons (and other z = 1 hadrons) in materials.

Units: kinetic energy T in MeV, mass stopping power S/rho in MeV cm^2/g.

Model
-----
* T >= 2 MeV: the Bethe formula in the form of the PDG Review of Particle Physics
  ("Passage of particles through matter", eq. 34.5) with the exact maximum energy transfer
  T_max, the density-effect correction delta (Sternheimer & Peierls 1971, Phys. Rev. B 3, 3681;
  general rules for X0, X1, a, m = 3), the shell correction C/Z of Barkas & Berger (1964),
  NASA SP-3013 (the formula quoted by W. R. Leo, *Techniques for Nuclear and Particle Physics
  Experiments*, 1994, eq. 2.33; valid for eta = beta*gamma >= 0.13, scaled down
  logarithmically to zero between 8 and 2 MeV as in GEANT3 GDRELX and Geant4
  G4EmCorrections) and the Bloch correction L2 = -y^2 sum 1/(n(n^2+y^2)), y = z alpha / beta
  (Bloch 1933; ICRU Report 49, 1993, Sec. 2). The Barkas (z^3) term is not included; PSTAR
  includes it, and without it the water stopping powers stay within 0.3 % of PSTAR above
  10 MeV and the CSDA ranges within 0.1 % from 20 to 300 MeV (tests/test_physics_tables.py).
* T < 2 MeV: the ICRU Report 49 (1993) parametrisation of Andersen-Ziegler form for protons,
  1/S = 1/S_low + 1/S_high with S_low = A2 T^0.45, S_high = A3/T ln(1 + A4/T + A5 T), T in
  keV/u, S in eV/(1e15 atoms/cm^2) (per molecule for the molecular rows); below 10 keV/u
  (40 keV/u for carbon) S scales as sqrt(T) (velocity-proportional stopping). Coefficients as
  tabulated in ICRU 49 and distributed with Geant4 (G4BraggModel). Compounds use Bragg
  additivity of the elemental rows (no chemical-binding factor). The ICRU 49 molecular row for
  liquid water is deliberately not used: evaluated at 2 MeV it exceeds PSTAR by 14 %, which
  the junction below would carry up to ~10 MeV; elemental additivity is within 3 % of PSTAR
  at 1-2 MeV and gives water CSDA ranges within 0.1 % of PSTAR from 20 to 300 MeV.
* Junction at 2 MeV: the Bethe value is multiplied by (1 + c/T) with
  c = (S_ICRU49(2 MeV)/S_Bethe(2 MeV) - 1) * 2 MeV, so that S(T) is continuous and the
  correction fades as 1/T (GEANT3 GDRELX, CERN Program Library W5013).

Nuclear stopping (elastic Coulomb recoils on whole atoms) is neglected: for protons above
0.5 MeV it is below 0.1 % of the electronic stopping (compare the electronic and nuclear
columns of NIST PSTAR, Berger et al., ICRU Report 49).
"""

import numpy as np

from .elements import element
from .constants import AMU_MEV, AVOGADRO, BETHE_K, ELECTRON_MASS_MEV, FINE_STRUCTURE, PROTON_MASS_MEV

#: Energy [MeV per proton mass] where the low-energy parametrisation hands over to Bethe.
T_JOIN_MEV = 2.0
#: Lower bound of the shell-correction formula's validity, eta = beta*gamma = 0.13 (~8 MeV).
T_SHELL_MEV = 8.0
#: Proton mass in u, used to convert kinetic energy to keV/u for the ICRU 49 fits.
_PROTON_MASS_U = PROTON_MASS_MEV / AMU_MEV

# ICRU Report 49 (1993) proton parametrisation: A1..A5 per element (Z), eV/(1e15 atoms/cm^2),
# T in keV/u. Values as distributed in Geant4 G4BraggModel / G4hICRU49p.
ICRU49_ELEMENT_COEFFS = {
    1: (1.254, 1.440, 242.6, 12000.0, 0.1159),
    2: (1.229, 1.397, 484.5, 5873.0, 0.05225),
    6: (2.631, 2.601, 1701.0, 1279.0, 0.01638),
    7: (2.954, 3.350, 1683.0, 1900.0, 0.02513),
    8: (2.652, 3.000, 1920.0, 2000.0, 0.02230),
    9: (2.085, 2.352, 2157.0, 2634.0, 0.01816),
    11: (2.542, 2.869, 2628.0, 1854.0, 0.01472),
    12: (3.791, 4.293, 2862.0, 1009.0, 0.01397),
    14: (4.914, 5.598, 3193.0, 232.7, 0.01419),
    15: (3.232, 3.647, 3561.0, 1560.0, 0.01267),
    16: (3.447, 3.891, 3792.0, 1219.0, 0.01211),
    17: (5.301, 6.008, 3969.0, 645.1, 0.01183),
    18: (5.731, 6.500, 4253.0, 530.0, 0.01123),
    19: (5.152, 5.833, 4482.0, 545.7, 0.01129),
    20: (5.521, 6.252, 4710.0, 553.3, 0.01112),
    22: (4.858, 5.489, 5260.0, 651.1, 0.008930),
    26: (3.519, 3.963, 6065.0, 1243.0, 0.007782),
    30: (4.210, 4.750, 6953.0, 295.2, 0.006809),
}

_ZIEGLER_UNIT = 1.0e-15 * 1.0e-6  # eV/(1e15 atoms/cm^2) -> MeV cm^2 per atom


def _andersen_ziegler(coeffs, t_kev_u, t_floor):
    """ICRU 49 / Andersen-Ziegler form in eV/(1e15 atoms/cm^2); sqrt(T) below ``t_floor``."""
    _, a2, a3, a4, a5 = coeffs
    t = np.maximum(t_kev_u, t_floor)
    s_low = a2 * t**0.45
    s_high = (a3 / t) * np.log(1.0 + a4 / t + a5 * t)
    s = s_low * s_high / (s_low + s_high)
    return np.where(t_kev_u < t_floor, s * np.sqrt(t_kev_u / t_floor), s)


def icru49_mass_stopping(material, T):
    """Proton electronic mass stopping power [MeV cm^2/g] from the ICRU 49 fits.

    ``T`` is the kinetic energy in MeV (array-like). Intended for T <= 2 MeV.
    """
    T = np.asarray(T, dtype=float)
    t_kev_u = T * 1.0e3 / _PROTON_MASS_U
    total = np.zeros_like(T)
    for Z, w in material.composition.items():
        if Z not in ICRU49_ELEMENT_COEFFS:
            raise KeyError(f"no ICRU 49 low-energy coefficients for Z={Z} (material {material.name})")
        floor = 40.0 if Z == 6 else 10.0
        per_atom = _andersen_ziegler(ICRU49_ELEMENT_COEFFS[Z], t_kev_u, floor) * _ZIEGLER_UNIT
        total = total + w * per_atom * AVOGADRO / element(Z).A
    return total


def kinematics(T, mass_MeV):
    """Return (beta^2, gamma) for kinetic energy ``T`` [MeV] and rest energy ``mass_MeV``."""
    gamma = 1.0 + np.asarray(T, dtype=float) / mass_MeV
    beta2 = 1.0 - 1.0 / gamma**2
    return beta2, gamma


def t_max(T, mass_MeV):
    """Maximum energy transfer to a free electron [MeV] (PDG eq. 34.4)."""
    beta2, gamma = kinematics(T, mass_MeV)
    r = ELECTRON_MASS_MEV / mass_MeV
    return 2.0 * ELECTRON_MASS_MEV * beta2 * gamma**2 / (1.0 + 2.0 * gamma * r + r * r)


def plasma_energy_eV(material):
    """Plasma energy hbar*omega_p = 28.816 sqrt(rho <Z/A>) eV (PDG Table 34.1)."""
    return 28.816 * np.sqrt(material.density * material.z_over_a)


def sternheimer_parameters(material):
    """Density-effect parameters (C-bar, X0, X1, a, m) by the general rules of Sternheimer &
    Peierls (1971), Phys. Rev. B 3, 3681, as implemented in GEANT3 (GPROBI/GDRELX).

    Gases are materials with ``state == 'gas'``.
    """
    I = material.I_eV
    cbar = 2.0 * np.log(I / plasma_energy_eV(material)) + 1.0
    m = 3.0
    if material.state == "gas":
        if cbar < 10.0:
            x0, x1 = 1.6, 4.0
        elif cbar < 10.5:
            x0, x1 = 1.7, 4.0
        elif cbar < 11.0:
            x0, x1 = 1.8, 4.0
        elif cbar < 11.5:
            x0, x1 = 1.9, 4.0
        elif cbar <= 12.25:
            x0, x1 = 2.0, 4.0
        elif cbar <= 13.804:
            x0, x1 = 2.0, 5.0
        else:
            x0, x1 = 0.326 * cbar - 2.5, 5.0
    elif I < 100.0:
        x0 = 0.2 if cbar < 3.681 else 0.326 * cbar - 1.0
        x1 = 2.0
    else:
        x0 = 0.2 if cbar < 5.215 else 0.326 * cbar - 1.5
        x1 = 3.0
    a = (cbar - 4.606 * x0) / (x1 - x0) ** m
    return cbar, x0, x1, a, m


def density_effect(material, beta2, gamma):
    """Density-effect correction delta (Sternheimer & Peierls 1971); insulator form (delta=0
    below X0)."""
    cbar, x0, x1, a, m = sternheimer_parameters(material)
    X = np.log10(np.sqrt(beta2) * gamma)
    mid = 4.6052 * X - cbar + a * np.clip(x1 - X, 0.0, None) ** m
    high = 4.6052 * X - cbar
    return np.where(X < x0, 0.0, np.where(X < x1, mid, high))


def _shell_coefficient_sum(I_eV, eta2):
    """Barkas & Berger (1964) shell correction C(I, eta) for one element (Leo 1994 eq. 2.33)."""
    return (0.422377 / eta2 + 0.0304043 / eta2**2 - 0.00038106 / eta2**3) * 1e-6 * I_eV**2 + (
        3.858019 / eta2 - 0.1667989 / eta2**2 + 0.00157955 / eta2**3
    ) * 1e-9 * I_eV**3


def shell_correction(material, T, mass_MeV):
    """Shell correction C/Z of the material (electron-weighted Bragg additivity of elemental C_i
    computed with the condensed-phase elemental I values).

    For T < 8 MeV (per proton mass) the value at 8 MeV is scaled by ln(T/2)/ln(8/2) and is zero
    at and below 2 MeV, as in GEANT3 GDRELX and Geant4 G4EmCorrections::ShellCorrectionSTD.
    """
    T = np.asarray(T, dtype=float)
    scale = mass_MeV / PROTON_MASS_MEV
    t_p = T / scale  # kinetic energy of a proton with the same velocity
    t_eval = np.maximum(t_p, T_SHELL_MEV)
    beta2, gamma = kinematics(t_eval, PROTON_MASS_MEV)
    eta2 = beta2 * gamma**2
    num = np.zeros_like(T)
    den = 0.0
    for Z, w in material.composition.items():
        el = element(Z)
        num = num + (w / el.A) * _shell_coefficient_sum(el.I_condensed_eV, eta2)
        den += w * Z / el.A
    c_over_z = num / den
    ramp = np.clip(np.log(np.maximum(t_p, 1e-30) / T_JOIN_MEV) / np.log(T_SHELL_MEV / T_JOIN_MEV), 0.0, 1.0)
    return np.where(t_p >= T_SHELL_MEV, c_over_z, c_over_z * ramp)


def bloch_correction(z, beta2, nterms=200):
    """Bloch correction L2 = -y^2 sum_{n>=1} 1/(n (n^2 + y^2)), y = z alpha / beta (ICRU 49)."""
    y2 = (z * FINE_STRUCTURE) ** 2 / np.asarray(beta2)
    n = np.arange(1, nterms + 1, dtype=float)
    terms = 1.0 / (n[:, None] * (n[:, None] ** 2 + np.atleast_1d(y2)[None, :]))
    return (-np.atleast_1d(y2) * terms.sum(axis=0)).reshape(np.shape(y2))


def bethe_mass_stopping(material, T, z=1, mass_MeV=PROTON_MASS_MEV):
    """Bethe mass stopping power [MeV cm^2/g] with shell, density and Bloch corrections."""
    T = np.asarray(T, dtype=float)
    beta2, gamma = kinematics(T, mass_MeV)
    tmax = t_max(T, mass_MeV)
    I = material.I_eV * 1e-6
    L = (
        0.5 * np.log(2.0 * ELECTRON_MASS_MEV * beta2 * gamma**2 * tmax / I**2)
        - beta2
        - 0.5 * density_effect(material, beta2, gamma)
        - shell_correction(material, T, mass_MeV)
        + bloch_correction(z, beta2)
    )
    return BETHE_K * z * z * material.z_over_a / beta2 * L


def electronic_mass_stopping(material, T, mass_MeV=PROTON_MASS_MEV):
    """Electronic mass stopping power [MeV cm^2/g] of a singly charged hadron of rest energy
    ``mass_MeV`` at kinetic energy ``T`` [MeV] in ``material``.

    Low energies use the proton ICRU 49 fit at the same velocity (T * m_p / M); above 2 MeV
    per proton mass, Bethe with the continuity factor (1 + c/T).
    """
    T = np.atleast_1d(np.asarray(T, dtype=float))
    if np.any(T <= 0) or not np.all(np.isfinite(T)):
        raise ValueError("kinetic energies must be positive and finite (MeV)")
    scale = mass_MeV / PROTON_MASS_MEV
    t_p = T / scale
    t_join = np.array([T_JOIN_MEV])
    s_low_join = icru49_mass_stopping(material, t_join)[0]
    s_bethe_join = bethe_mass_stopping(material, t_join, 1, PROTON_MASS_MEV)[0]
    c = (s_low_join / s_bethe_join - 1.0) * T_JOIN_MEV
    out = np.empty_like(T)
    lo = t_p < T_JOIN_MEV
    if np.any(lo):
        out[lo] = icru49_mass_stopping(material, t_p[lo])
    hi = ~lo
    if np.any(hi):
        out[hi] = bethe_mass_stopping(material, T[hi], 1, mass_MeV) * (1.0 + c / t_p[hi])
    return out
