"""Reference numbers used by the tests, with their sources. Values are copied from the
published tables; nothing here is computed by flashmc.

PSTAR: M. J. Berger, J. S. Coursey, M. A. Zucker, J. Chang, "ESTAR, PSTAR, and ASTAR: Computer
Programs for Calculating Stopping-Power and Range Tables for Electrons, Protons, and Helium
Ions", NIST Standard Reference Database 124 (method of ICRU Report 49, 1993). Columns used:
electronic mass stopping power [MeV cm^2/g] and CSDA range [g/cm^2]. I-values and densities
as PSTAR uses them are in physics.materials (water 75 eV in PSTAR).

ICRU90: ICRU Report 90 (2016), Appendix Table A.9, protons in liquid water, I = 78 eV.
"""

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
