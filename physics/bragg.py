"""Analytic Bragg curve of Bortfeld (1997, Med. Phys. 24:2024), an independent reference for
depth-dose shape, primary attenuation and the nuclear energy budget in water.

Units: depth z and range R0 in cm, energy in MeV, integrated depth dose in MeV cm^2/g per
proton per unit fluence (equivalently, for a broad beam or a laterally integrated pencil beam,
MeV/cm per proton divided by the density).

Model (Bortfeld 1997):

* range-energy relation R0 = alpha E0^p with alpha = 0.0022 cm MeV^-p, p = 1.77 (water);
* primary fluence falls linearly through non-elastic nuclear interactions,
  Phi(z) = Phi0 [1 + beta (R0 - z)] / (1 + beta R0), beta = 0.012 cm^-1;
* a fraction gamma = 0.6 of the energy released in non-elastic interactions is absorbed
  locally, the rest is carried away (neutral secondaries);
* range straggling is Gaussian, sigma_mono = 0.012 R0^0.935 cm (eq. 18), widened by the beam
  energy spread: sigma^2 = sigma_mono^2 + sigma_E0^2 alpha^2 p^2 E0^(2p-2) (eq. 19);
* the straggled curve (eq. 27) is
  D(z) = Phi0 exp(-zeta^2/4) sigma^(1/p) Gamma(1/p) / (sqrt(2 pi) rho p alpha^(1/p) (1 + beta R0))
         x [D_{-1/p}(-zeta)/sigma + (beta/p + gamma beta + epsilon/R0) D_{-1/p-1}(-zeta)],
  zeta = (R0 - z)/sigma, D_nu the parabolic cylinder functions; far proximal to the peak
  (zeta > 20, where the two forms differ by < 0.1 %) the unstraggled form
  D(z) = Phi0 [(R0 - z)^(1/p - 1) + (beta + gamma beta p + epsilon p/R0) (R0 - z)^(1/p)] /
         (rho p alpha^(1/p) (1 + beta R0))
  is used. epsilon (a low-energy fluence tail of the incident spectrum) is zero for a clean
  beam.

The caller may pass its own R0 (e.g. the CSDA range of a different I-value) instead of
alpha E0^p.
"""

import numpy as np
from scipy.special import gamma as gamma_fn
from scipy.special import pbdv

ALPHA = 0.0022  # cm MeV^-p
P = 1.77
BETA = 0.012  # cm^-1
GAMMA = 0.6


def range_cm(E0):
    """Bortfeld's range-energy relation R0 = alpha E0^p [cm] (water)."""
    return ALPHA * np.asarray(E0, float) ** P


def sigma_straggling(R0, E0=None, sigma_E0=0.0):
    """Range-straggling width [cm] for range ``R0`` [cm] and beam energy spread ``sigma_E0``
    [MeV] at energy ``E0`` [MeV] (Bortfeld eqs. 18-19)."""
    s2 = (0.012 * R0**0.935) ** 2
    if sigma_E0 > 0.0:
        s2 += sigma_E0**2 * ALPHA**2 * P**2 * E0 ** (2 * P - 2)
    return np.sqrt(s2)


def primary_fluence(z, R0):
    """Relative primary fluence Phi(z)/Phi0 at depth ``z`` [cm] (linear model, beta)."""
    z = np.asarray(z, float)
    return np.where(z < R0, (1.0 + BETA * (R0 - z)) / (1.0 + BETA * R0), 0.0)


def depth_dose(z, R0, sigma, epsilon=0.0, rho=1.0, gamma=GAMMA):
    """Bortfeld's straggled depth dose [MeV cm^2/g per unit incident fluence] at depths ``z``
    [cm] for range ``R0`` [cm] and straggling width ``sigma`` [cm]; ``gamma``: the share of the
    energy released in non-elastic reactions that is absorbed locally (Bortfeld: 0.6)."""
    z = np.asarray(z, float)
    out = np.empty_like(z)
    zeta = (R0 - z) / sigma
    far = zeta > 20.0
    norm = rho * P * ALPHA ** (1.0 / P) * (1.0 + BETA * R0)
    d = R0 - z[far]
    out[far] = (d ** (1.0 / P - 1.0) + (BETA + gamma * BETA * P + epsilon * P / R0) * d ** (1.0 / P)) / norm
    zn = zeta[~far]
    d1, _ = pbdv(-1.0 / P, -zn)
    d2, _ = pbdv(-1.0 / P - 1.0, -zn)
    pref = np.exp(-zn * zn / 4.0) * sigma ** (1.0 / P) * gamma_fn(1.0 / P) / (np.sqrt(2.0 * np.pi) * norm)
    out[~far] = pref * (d1 / sigma + (BETA / P + gamma * BETA + epsilon / R0) * d2)
    return out


def nonelastic_energy_budget(E0, R0=None):
    """Energy [MeV per incident proton] released in non-elastic interactions before the end of
    range in the linear-attenuation model, and the part of it not absorbed locally
    ((1 - gamma) of it): returns (released, not_local). Protons removed at depth z carry the
    residual energy ((R0 - z)/alpha)^(1/p); the removal rate is beta/(1 + beta R0) per cm."""
    R0 = range_cm(E0) if R0 is None else R0
    released = BETA / (1.0 + BETA * R0) * ALPHA ** (-1.0 / P) * R0 ** (1.0 / P + 1.0) / (1.0 / P + 1.0)
    return released, (1.0 - GAMMA) * released
