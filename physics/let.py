"""Analytic LET of primary protons in water, the reference for the Monte Carlo LET tallies.

Following Wilkens & Oelfke (2003, Med. Phys. 30:806, "Analytical linear energy transfer
calculations for proton therapy", sec. II): at depth z a mono-energetic beam's primary protons
have residual ranges r = R - z with the total range R Gaussian about R0 (range straggling
width sigma), so their fluence per unit residual range is

    phi(r; z) ~ exp(-(r + z - R0)^2 / (2 sigma^2)),   r > 0,

(nuclear removal, nearly independent of r, cancels in the averages) and, with S(E(r)) the
electronic stopping power at the energy of residual CSDA range r and dr = dE/S,

    LETt(z) = int phi S dr / int phi dr = int phi dE / int phi dE/S,
    LETd(z) = int phi S^2 dr / int phi S dr = int phi S dE / int phi dE.

Wilkens & Oelfke evaluate these with the Bragg-Kleeman range-energy approximation; here S and
R(E) are flashmc's tables for water (``physics.tables``), so the comparison with the Monte Carlo
isolates the transport and the scoring. Units: depths and ranges in cm (water, rho = 1 g/cm^3),
LET in keV/um.
"""

import numpy as np

from .tables import build_tables

_KEV_PER_UM = 0.1  # 1 MeV cm^2/g in water = 1 MeV/cm = 0.1 keV/um


def primary_let(z_cm, R0_cm, sigma_cm, material="water"):
    """(LETd, LETt) [keV/um] of primary protons at depths ``z_cm`` for a beam of CSDA range
    ``R0_cm`` with Gaussian range straggling ``sigma_cm`` (module docstring)."""
    _, let_d, let_t = primary_depth_curves(z_cm, R0_cm, sigma_cm, material)
    return let_d, let_t


def primary_depth_curves(z_cm, R0_cm, sigma_cm, material="water"):
    """Primary-proton depth dose (relative: int phi S dr, nuclear removal ignored), LETd and
    LETt [keV/um] at depths ``z_cm`` from the same model, so that the LET at a given dose level
    of the distal edge (R80, R50, ...) can be compared with a simulation at its own R80, R50,
    independent of small range offsets."""
    tab = build_tables([material])
    E = tab.energy
    S = tab.stopping[0] * _KEV_PER_UM
    r = tab.range_gcm2[0]
    dE = np.gradient(E)
    z = np.atleast_1d(np.asarray(z_cm, float))
    dose = np.empty_like(z)
    let_d = np.empty_like(z)
    let_t = np.empty_like(z)
    for i, zi in enumerate(z):
        phi = np.exp(-0.5 * ((r + zi - R0_cm) / sigma_cm) ** 2) * dE
        dose[i] = np.sum(phi)
        let_d[i] = np.sum(phi * S) / dose[i] if dose[i] > 0 else 0.0
        let_t[i] = dose[i] / np.sum(phi / S) if dose[i] > 0 else 0.0
    return dose, let_d, let_t
