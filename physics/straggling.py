"""Energy-loss straggling of charged hadrons.

Units: MeV, g/cm^2.

* Bohr variance with the relativistic factor (ICRU Report 49, 1993; Ahlen 1980,
  Rev. Mod. Phys. 52:121): sigma^2 = 4 pi N_A r_e^2 (m_e c^2)^2 z^2 (Z/A) rho s
  (1 - beta^2/2)/(1 - beta^2) = 0.15691 MeV^2 cm^2/g z^2 (Z/A) rho s (1 - beta^2/2)/(1 - beta^2).
* Vavilov parameter kappa = xi / T_max, xi = (K/2) z^2 (Z/A) rho s / beta^2 with K/2 =
  0.153537 MeV cm^2/mol (PDG). kappa >= 10 is the Gaussian regime (Vavilov 1957; GEANT3 GFLUCT).

Sampling used by the transport kernel (:mod:`mc.kernel.step`): when the mean loss exceeds five
standard deviations the loss is Gaussian with the Bohr variance (truncated to [0, T]); for
thinner steps (the Landau-Vavilov regime, where a Gaussian would give negative losses) a gamma
distribution with the same mean and variance is drawn. The gamma law reproduces the first two
moments and the positive skew of the Vavilov distribution but not its Landau tail; for voxel
dose and range straggling, which sum many steps, only the first two moments matter (central
limit theorem).
"""

import math

import numpy as np

from mc.jit import jit, jit_stage
from mc.kernel.rng import gauss_pair, uniform

from .constants import BETHE_K, ELECTRON_MASS_MEV

#: 4 pi N_A r_e^2 (m_e c^2)^2 [MeV^2 cm^2 / mol] = K m_e c^2.
BOHR_CONSTANT = BETHE_K * ELECTRON_MASS_MEV


def bohr_variance(T, mass_MeV, z_over_a, areal_density, z=1):
    """Relativistic Bohr energy-loss variance [MeV^2] for a path of ``areal_density`` [g/cm^2]."""
    gamma = 1.0 + np.asarray(T, dtype=float) / mass_MeV
    beta2 = 1.0 - 1.0 / gamma**2
    return BOHR_CONSTANT * z * z * z_over_a * areal_density * (1.0 - 0.5 * beta2) / (1.0 - beta2)



# ---- samplers used by the transport kernel (compiled) -------------------------------------

#: Gaussian regime of the energy-loss sampler: the mean loss exceeds this many standard
#: deviations (below it a Gaussian would give negative losses too often).
GAUSSIAN_SIGMAS = 5.0

#: Squeeze constant of Marsaglia & Tsang (2000), ACM Trans. Math. Softw. 26:363: accept
#: x = d v without a logarithm if u < 1 - 0.0331 g^4.
_MT_SQUEEZE = 0.0331


@jit
def sample_gamma(st, k):
    """Gamma(k, 1) deviate (generator state ``st``, :mod:`mc.kernel.rng`): Marsaglia & Tsang
    (2000, ACM Trans. Math. Softw. 26:363) for k >= 1, d = k - 1/3, c = 1/sqrt(9 d),
    x = d (1 + c g)^3 for a standard normal g, accepted with their squeeze or log test; for
    k < 1 the boost Gamma(k) = Gamma(k + 1) U^(1/k) of the same paper."""
    boost = 1.0
    if k < 1.0:
        boost = uniform(st) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        g, _ = gauss_pair(st)
        v = 1.0 + c * g
        if v <= 0.0:
            continue
        v = v * v * v
        uu = uniform(st)
        if uu < 1.0 - _MT_SQUEEZE * g * g * g * g or math.log(uu) < 0.5 * g * g + d * (1.0 - v + math.log(v)):
            return d * v * boost


@jit_stage
def sample_energy_loss(st, mean, var, gauss):
    """Energy loss [MeV] of a step with mean ``mean`` and variance ``var`` [MeV^2]: Gaussian
    (from the standard normal ``gauss`` the caller drew, truncated at 0) when the mean exceeds
    :data:`GAUSSIAN_SIGMAS` standard deviations, else a gamma law with the same mean and
    variance (see the module docstring)."""
    if var <= 0.0 or mean <= 0.0:
        return mean
    if mean * mean > GAUSSIAN_SIGMAS * GAUSSIAN_SIGMAS * var:
        d = mean + math.sqrt(var) * gauss
        return d if d > 0.0 else 0.0
    return sample_gamma(st, mean * mean / var) * (var / mean)
