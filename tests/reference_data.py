"""Reference numbers used by the tests, with their sources. Values are copied from the
published tables; nothing here is computed by flashmc.

PSTAR: M. J. Berger, J. S. Coursey, M. A. Zucker, J. Chang, "ESTAR, PSTAR, and ASTAR: Computer
Programs for Calculating Stopping-Power and Range Tables for Electrons, Protons, and Helium
Ions", NIST Standard Reference Database 124 (method of ICRU Report 49, 1993). Columns used:
electronic mass stopping power [MeV cm^2/g] and CSDA range [g/cm^2]. I-values and densities
as PSTAR uses them are in physics.materials (water 75 eV in PSTAR).

ICRU90: ICRU Report 90 (2016), Appendix Table A.9, protons in liquid water, I = 78 eV.

The functions at the end interpolate ICRU 90 and write out Bohr's straggling formula; they share
no code or constant with the engine.
"""

import numpy as np
from scipy.integrate import cumulative_trapezoid, solve_ivp

# T [MeV]: (S_el [MeV cm^2/g], CSDA range [g/cm^2])
PSTAR = {
    "water_pstar": {1: (260.6, 2.458e-3), 2: (158.5, 7.555e-3), 5: (79.06, 3.623e-2), 10: (45.64, 0.1230),
                    20: (26.05, 0.4260), 50: (12.44, 2.227), 70: (9.555, 4.080), 100: (7.286, 7.718),
                    150: (5.443, 15.77), 200: (4.491, 25.96), 225: (4.169, 31.74), 250: (3.910, 37.94),
                    300: (3.519, 51.45)},
    "air": {10: (40.04, 0.1408), 50: (10.98, 2.528), 100: (6.441, 8.744), 150: (4.815, 17.86),
            200: (3.975, 29.37), 250: (3.462, 42.90)},
    "adipose": {10: (47.39, 0.1179), 50: (12.82, 2.156), 100: (7.492, 7.492), 150: (5.591, 15.33),
                200: (4.610, 25.25), 250: (4.012, 36.92)},
    "bone_compact": {10: (41.94, 0.1345), 50: (11.54, 2.408), 100: (6.776, 8.319), 150: (5.068, 16.98),
                     200: (4.185, 27.91), 250: (3.645, 40.76)},
    "bone_cortical": {10: (40.06, 0.1414), 50: (11.11, 2.508), 100: (6.534, 8.642), 150: (4.892, 17.62),
                      200: (4.042, 28.94), 250: (3.522, 42.24)},
    "muscle": {10: (45.14, 0.1244), 50: (12.31, 2.251), 100: (7.208, 7.802), 150: (5.384, 15.95),
               200: (4.442, 26.24), 250: (3.868, 38.35)},
    "pmma": {10: (44.50, 0.1261), 50: (12.12, 2.286), 100: (7.093, 7.927), 150: (5.298, 16.20),
             200: (4.371, 26.67), 250: (3.805, 38.98)},
    "titanium": {10: (29.67, 0.1961), 50: (8.629, 3.279), 100: (5.140, 11.11), 150: (3.869, 22.49),
                 200: (3.206, 36.78), 250: (2.800, 53.53)},
}

ICRU90_WATER = {1: (257.4, 2.487e-3), 2: (156.9, 7.639e-3), 5: (78.42, 3.656e-2), 10: (45.32, 0.1240),
                20: (25.89, 0.4289), 30: (18.64, 0.891), 40: (14.79, 1.498), 50: (12.38, 2.240),
                60: (10.72, 3.111), 80: (8.578, 5.212), 100: (7.250, 7.759), 150: (5.417, 15.86),
                200: (4.470, 26.09), 300: (3.504, 51.70)}
#: ICRU Report 90 Table A.9: detour factor (mean projected range / CSDA range) of protons in water.
ICRU90_WATER_DETOUR = {60: 0.9986, 80: 0.9986, 100: 0.9987, 150: 0.9987, 200: 0.9988, 300: 0.9989}


# Barashenkov evaluation of proton non-elastic (reaction) cross sections on nuclei, built on
# measured data: V. S. Barashenkov, "Nucleon-nucleus cross sections", JINR preprint P2-89-770
# (Dubna, 1989), as tabulated in Geant4 (G4ComponentBarNucleonNucleusXsc).
# Z: [(T [MeV], sigma [mb]), ...]
BARASHENKOV_NONELASTIC_MB = {
    6: [(20, 440), (30, 420), (50, 320), (70, 263), (100, 222), (150, 211), (200, 210), (250, 208)],
    7: [(20, 490), (30, 462), (50, 377), (70, 303), (100, 270), (150, 252), (200, 245), (250, 240)],
    8: [(20, 535), (30, 500), (50, 390), (70, 320), (100, 293), (150, 279), (200, 276), (250, 270)],
    20: [(20, 900), (30, 895), (50, 715), (70, 605), (100, 573), (150, 540), (200, 535), (250, 530)],
}


#: Proton rest energy [MeV] (CODATA 2018).
M_PROTON = 938.27208816


def icru90_water_stopping(T):
    """Electronic mass stopping power of protons in water [MeV cm^2/g]: ICRU Report 90 Table A.9,
    interpolated log-log between the tabulated energies."""
    t = np.array(sorted(ICRU90_WATER), float)
    s = np.array([ICRU90_WATER[k][0] for k in sorted(ICRU90_WATER)])
    return np.exp(np.interp(np.log(T), np.log(t), np.log(s)))


def icru90_energy_along_depth(T0, depth, n=4001):
    """Depths z [g/cm^2] on [0, depth] and the CSDA energy there [MeV], dE/dz = -S(E) with the
    ICRU 90 stopping powers."""
    z = np.linspace(0.0, depth, n)
    sol = solve_ivp(lambda _, y: -icru90_water_stopping(y), (0.0, depth), [T0], dense_output=True,
                    rtol=1e-10, atol=1e-10)
    return z, sol.sol(z)[0]


def bohr_energy_sigma(z, T):
    """Standard deviation [MeV] of the energy of protons along the water path ``z`` [g/cm^2] on
    which their mean energy is ``T`` [MeV]: Bohr's variance per unit path written out from the
    paper (Bohr 1915; relativistic factor as in ICRU Report 49, 1993, Sec. 2.6),
    d sigma^2/dz = 0.1569 MeV^2 cm^2/g (Z/A) (1 - beta^2/2)/(1 - beta^2), Z/A = 0.55509 mol/g for
    water (NIST), propagated through the thick absorber to first order (Tschalaer 1968, Nucl.
    Instrum. Methods 61:141): sigma(z)^2 = S(z)^2 int_0^z (d sigma^2/dz') / S(z')^2 dz', with the
    ICRU 90 stopping powers S."""
    g = 1.0 + T / M_PROTON
    b2 = 1.0 - 1.0 / g**2
    dvar = 0.1569 * 0.55509 * (1.0 - 0.5 * b2) / (1.0 - b2)
    S = icru90_water_stopping(T)
    return S * np.sqrt(cumulative_trapezoid(dvar / S**2, z, initial=0.0))

#: ICRU Report 63 (2000), p + 16O non-elastic reactions: mean laboratory cosine of the emitted
#: protons' polar angle to the beam, by emission-energy bin [MeV], at incident energies 70, 150
#: and 230 MeV. Integrated (linear in angle, over energy rows) from ICRU 63's double-differential
#: cross sections as distributed with MCsquare (Materials/oxygen/ICRU_Nuclear_inelastic.dat,
#: github e0404/MCsquare @ 4359baaf; the same file in the opentps-core 2.0.0 wheel).
ICRU63_O16_PROTON_MEAN_COS = {
    70: {(0, 10): 0.181, (10, 30): 0.383, (30, 60): 0.675},
    150: {(0, 10): 0.207, (10, 30): 0.318, (30, 60): 0.573, (60, 100): 0.764, (100, 200): 0.882},
    230: {(0, 10): 0.226, (10, 30): 0.293, (30, 60): 0.472, (60, 100): 0.646, (100, 200): 0.833},
}

#: Excess [% of S rho L] of the laterally integrated dose in the first 1 mm of water of a proton
#: beam of energy T [MeV] over the primaries' electronic stopping (ICRU 90) from the products of
#: nuclear reactions: ICRU Report 63 p + 16O double-differential cross sections of p, d and alpha
#: and recoil energy fraction (the file above) and p-p elastic scattering, products on straight
#: lines in the continuous-slowing-down approximation (benchmarks/entrance_reference.py, which
#: prints the parts: at 150 MeV protons 1.56, deuterons 0.28, alphas 1.13, recoils 0.66, p-p
#: elastic 0.08).
ICRU63_ENTRANCE_EXCESS_PERCENT = {70: 1.75, 100: 2.36, 150: 3.71, 200: 5.22, 230: 5.99}
