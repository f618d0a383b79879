"""Energy-loss straggling of charged hadrons.

Units: MeV, g/cm^2.

* Bohr variance with the relativistic factor (ICRU Report 49, 1993; Ahlen 1980,
  Rev. Mod. Phys. 52:121): sigma^2 = 4 pi N_A r_e^2 (m_e c^2)^2 z^2 (Z/A) rho s
  (1 - beta^2/2)/(1 - beta^2) = 0.15691 MeV^2 cm^2/g z^2 (Z/A) rho s (1 - beta^2/2)/(1 - beta^2).
* Vavilov parameter kappa = xi / T_max, xi = (K/2) z^2 (Z/A) rho s / beta^2 with K/2 =
  0.153537 MeV cm^2/mol (PDG). kappa >= 10 is the Gaussian regime (Vavilov 1957; GEANT3 GFLUCT).

Sampling used by the transport kernel (``mc.transport``): when the mean loss exceeds five
standard deviations the loss is Gaussian with the Bohr variance (truncated to [0, T]); for
thinner steps (the Landau-Vavilov regime, where a Gaussian would give negative losses) a gamma
distribution with the same mean and variance is drawn. The gamma law reproduces the first two
moments and the positive skew of the Vavilov distribution but not its Landau tail; for voxel
dose and range straggling, which sum many steps, only the first two moments matter (central
limit theorem).
"""

import numpy as np

from .constants import BETHE_K, ELECTRON_MASS_MEV

#: 4 pi N_A r_e^2 (m_e c^2)^2 [MeV^2 cm^2 / mol] = K m_e c^2.
BOHR_CONSTANT = BETHE_K * ELECTRON_MASS_MEV


def bohr_variance(T, mass_MeV, z_over_a, areal_density, z=1):
    """Relativistic Bohr energy-loss variance [MeV^2] for a path of ``areal_density`` [g/cm^2]."""
    gamma = 1.0 + np.asarray(T, dtype=float) / mass_MeV
    beta2 = 1.0 - 1.0 / gamma**2
    return BOHR_CONSTANT * z * z * z_over_a * areal_density * (1.0 - 0.5 * beta2) / (1.0 - beta2)

