"""Elastic scattering of protons on 16O: the evaluated cross sections of ICRU Report 63.

Units: kinetic energy T in MeV, cross sections in b (1 b = 1e-24 cm^2) and b/sr, angles in
degrees in the centre-of-mass (CM) frame.

**Data.** ICRU Report 63 (2000, *Nuclear data for neutron and proton radiotherapy and for
radiation protection*), p + 16O elastic scattering at 7-250 MeV (32 energies): the differential
cross section dsigma/dOmega at theta* = 5, 10, ..., 180 degrees and an integrated cross section
sigma_ICRU(T), as distributed with MCsquare (``Materials/oxygen/ICRU_Nuclear_elastic.dat``,
SHA-256 0a8b8ed5...2decb3, identical in the MCsquare of the opentps-core 2.0.0 wheel;
:data:`ICRU63_PO_ELASTIC` below, transcribed number for number). The angular data are the full
elastic scattering: Coulomb, nuclear and their interference. At 5 degrees they are the
Rutherford cross section of the point charges (7 MeV: 516 b/sr tabulated, 527 b/sr
Rutherford); at larger angles the nuclear part dominates.

**Why the large-angle part is a discrete process.** The multiple Coulomb scattering of the
kernel is Gaussian (Gottschalk's differential Moliere scattering power,
:mod:`physics.scattering`): it gives the width of the core of Moliere's distribution and leaves
out its single-scattering tail and all nuclear elastic scattering. Per transport step the
Gaussian's projected width is 0.4-1.8 degrees in water (Highland's formula for a step that uses
up 30 % of the residual range, at most 20 mm; the largest for the last step below 10 MeV), so
collisions above 5 degrees are the tail (beyond 2.8 standard deviations of a step's Gaussian,
beyond 3.7 above 20 MeV) and are
sampled one by one, as in MCsquare (Souris, Lee & Sterpin 2016, Med. Phys. 43:1700) and in the mixed
schemes of class-II condensed-history codes. Other nuclei (C, N, Ca, ...) keep only the
Gaussian scattering.

**Model.** Between two tabulated angles dsigma/dOmega is a power of x = 1 - mu*
(mu* = cos theta*), exact for Rutherford scattering (n = 2), which dominates the steep first
interval at low energy:

    dsigma/dOmega = f_k (x / x_k)^(-n_k),   n_k = ln(f_k / f_k+1) / ln(x_k+1 / x_k),        (E1)

f_k the value at theta_k = 5 (k + 1) degrees, x_k = 1 - cos theta_k. Interval k has the weight

    w_k = 2 pi f_k x_k^n_k (x_k+1^(1 - n_k) - x_k^(1 - n_k)) / (1 - n_k)                   (E2)

(2 pi f_k x_k ln(x_k+1 / x_k) for n_k = 1). The cross section for deflections above 5 degrees
is their sum, sigma_el(T) = sum_k w_k, interpolated linearly in (ln T, ln sigma) between the
tabulated energies, zero below 7 MeV (where ICRU 63 gives none), the 250 MeV value above
250 MeV. sigma_el is 0.53 to 0.90 of the integrated sigma_ICRU of the file (7 MeV: 12.5 b
against 23.7 b; 70 MeV: 0.40 b against 0.45 b). MCsquare samples sigma_ICRU as the rate of
collisions above 5 degrees, with angles from a histogram of the 5-degree data that integrates
to 0.87-0.96 of it: sigma_ICRU exceeds what its own angular data give above 5 degrees under any
interpolation that follows their fall between 5 and 10 degrees (a power of x: 0.53-0.90; ln f
linear in mu*: 0.68-0.95). Over the full range of a 70 MeV proton in water sigma_el makes 13 %
of the protons scatter above 5 degrees (MCsquare: 19 %) and 1.7 % above 30 degrees, which
stop 1-3 mm short of the Bragg peak. The interval is drawn from the cumulative weights, x within it
by inversion,

    x = (x_k^(1 - n_k) + u (x_k+1^(1 - n_k) - x_k^(1 - n_k)))^(1 / (1 - n_k))              (E3)

(x = x_k (x_k+1 / x_k)^u for n_k = 1).

Between tabulated energies T_i < T < T_i+1 the distribution of T_i+1 is used with probability
(T - T_i) / (T_i+1 - T_i), else that of T_i (the linear interpolation of the two densities).
Kinematics (relativistic two-body, projectile mass m, target mass M = 16O nucleus): the CM
momentum p*^2 = M^2 T (T + 2m) / s with s = (m + M)^2 + 2 M T, the recoil's kinetic energy

    T_rec = p*^2 (1 - mu*) / M,                                                                (E4)

deposited on the spot (a 16O recoil of < 1 MeV travels a few micrometres), and the projectile
keeps T - T_rec and turns by the laboratory angle of the momentum transfer,
cos theta = (p1^2 + p3^2 - T_rec (T_rec + 2M)) / (2 p1 p3) with (pc)^2 = T (T + 2m).
"""

import functools
import math

import numpy as np

from mc.jit import jit_stage
from mc.kernel.rng import uniform

from .constants import O16_MASS_MEV

#: Tabulated CM angles [degrees] of :data:`ICRU63_PO_ELASTIC`.
ANGLES_DEG = tuple(5.0 * (k + 1) for k in range(36))
#: Number of angular intervals between the tabulated angles.
N_INTERVALS = len(ANGLES_DEG) - 1

#: ICRU Report 63, p + 16O elastic: (T [MeV], sigma_ICRU [b],
#: dsigma/dOmega at theta* = 5, 10, ..., 180 deg [b/sr]) (module docstring).
ICRU63_PO_ELASTIC = (
    (7, 23.70378, (  # 7 MeV
        516, 31, 6.05, 2, 0.904, 0.494, 0.301, 0.194, 0.128, 0.0863, 0.0597, 0.0438, 0.0357, 0.0332, 0.0344, 0.0379,
        0.0426, 0.0474, 0.0517, 0.0551, 0.0572, 0.0582, 0.058, 0.0569, 0.0553, 0.0534, 0.0515, 0.0499, 0.0487, 0.048,
        0.0479, 0.0481, 0.0485, 0.049, 0.0494, 0.0499)),
    (8, 18.19752, (  # 8 MeV
        393, 23.6, 4.7, 1.62, 0.767, 0.435, 0.27, 0.173, 0.111, 0.0715, 0.0466, 0.0325, 0.0264, 0.0258, 0.029, 0.0341,
        0.0399, 0.0454, 0.0499, 0.0529, 0.0542, 0.0539, 0.0521, 0.0494, 0.0461, 0.0428, 0.0398, 0.0375, 0.0363, 0.036,
        0.0366, 0.0378, 0.0393, 0.0407, 0.0417, 0.0428)),
    (9, 14.42498, (  # 9 MeV
        308, 18.5, 3.77, 1.36, 0.676, 0.397, 0.249, 0.159, 0.0998, 0.0615, 0.0383, 0.026, 0.0218, 0.0228, 0.0271,
        0.0329, 0.039, 0.0443, 0.0483, 0.0506, 0.0512, 0.05, 0.0474, 0.0438, 0.0398, 0.0358, 0.0324, 0.0301, 0.029,
        0.0293, 0.0307, 0.0329, 0.0354, 0.0377, 0.0393, 0.041)),
    (10, 11.70327, (  # 10 MeV
        248, 14.9, 3.16, 1.25, 0.692, 0.45, 0.311, 0.217, 0.148, 0.0977, 0.0616, 0.0371, 0.0217, 0.0135, 0.0103,
        0.0104, 0.0126, 0.0155, 0.0185, 0.021, 0.0226, 0.0234, 0.0232, 0.0222, 0.0207, 0.0189, 0.0169, 0.015, 0.0132,
        0.0117, 0.0106, 0.00973, 0.00915, 0.00879, 0.0086, 0.00845)),
    (11, 9.727668, (  # 11 MeV
        203, 12.2, 2.67, 1.11, 0.647, 0.433, 0.303, 0.211, 0.143, 0.0926, 0.0572, 0.0337, 0.0196, 0.0124, 0.0101,
        0.0109, 0.0132, 0.016, 0.0186, 0.0205, 0.0215, 0.0216, 0.0209, 0.0196, 0.0178, 0.0158, 0.0138, 0.012, 0.0103,
        0.00902, 0.00802, 0.00733, 0.00689, 0.00663, 0.00651, 0.00641)),
    (12, 8.225665, (  # 12 MeV
        170, 10.2, 2.3, 1.02, 0.617, 0.422, 0.297, 0.205, 0.137, 0.0873, 0.0527, 0.0304, 0.0176, 0.0116, 0.0102,
        0.0114, 0.0137, 0.0161, 0.0181, 0.0193, 0.0196, 0.0192, 0.0181, 0.0165, 0.0146, 0.0127, 0.0109, 0.00927,
        0.00792, 0.00688, 0.00614, 0.00567, 0.00541, 0.00529, 0.00524, 0.00522)),
    (13, 7.064264, (  # 13 MeV
        143, 8.6, 2.03, 0.947, 0.598, 0.417, 0.293, 0.201, 0.132, 0.0824, 0.0486, 0.0276, 0.0162, 0.0115, 0.0109,
        0.0123, 0.0145, 0.0164, 0.0177, 0.0181, 0.0178, 0.0168, 0.0153, 0.0136, 0.0119, 0.0102, 0.00862, 0.00735,
        0.00635, 0.00564, 0.00519, 0.00495, 0.00487, 0.00487, 0.00489, 0.00494)),
    (14, 6.149307, (  # 14 MeV
        123, 7.38, 1.82, 0.9, 0.588, 0.414, 0.29, 0.197, 0.127, 0.0775, 0.0447, 0.0251, 0.0152, 0.0117, 0.0118,
        0.0134, 0.0153, 0.0166, 0.0171, 0.0168, 0.0158, 0.0144, 0.0127, 0.011, 0.00938, 0.00798, 0.00681, 0.00592,
        0.00529, 0.0049, 0.00471, 0.00468, 0.00474, 0.00483, 0.00491, 0.00501)),
    (15, 5.416772, (  # 15 MeV
        106, 6.42, 1.66, 0.868, 0.583, 0.413, 0.288, 0.193, 0.122, 0.0727, 0.041, 0.0229, 0.0145, 0.0121, 0.0128,
        0.0145, 0.016, 0.0167, 0.0165, 0.0155, 0.0139, 0.0121, 0.0103, 0.00867, 0.00729, 0.0062, 0.0054, 0.00486,
        0.00456, 0.00444, 0.00447, 0.00458, 0.00473, 0.00489, 0.00499, 0.00512)),
    (16, 4.820995, (  # 16 MeV
        92.5, 5.64, 1.54, 0.845, 0.58, 0.413, 0.286, 0.189, 0.117, 0.0681, 0.0375, 0.0209, 0.0139, 0.0124, 0.0136,
        0.0153, 0.0165, 0.0166, 0.0157, 0.014, 0.0121, 0.01, 0.00817, 0.00666, 0.00552, 0.00474, 0.00427, 0.00404,
        0.00399, 0.00407, 0.00423, 0.00442, 0.00462, 0.00479, 0.00491, 0.00504)),
    (17, 4.329518, (  # 17 MeV
        81.3, 5.01, 1.45, 0.83, 0.579, 0.413, 0.284, 0.185, 0.112, 0.0636, 0.0343, 0.0192, 0.0134, 0.0128, 0.0143,
        0.0159, 0.0166, 0.0162, 0.0147, 0.0126, 0.0103, 0.00819, 0.00638, 0.00503, 0.00413, 0.00362, 0.00341, 0.00341,
        0.00353, 0.00373, 0.00396, 0.00418, 0.00438, 0.00454, 0.00464, 0.00476)),
    (18, 3.918646, (  # 18 MeV
        72, 4.48, 1.37, 0.818, 0.579, 0.412, 0.281, 0.18, 0.107, 0.0594, 0.0314, 0.0176, 0.0129, 0.013, 0.0147,
        0.0161, 0.0165, 0.0156, 0.0137, 0.0113, 0.00881, 0.00664, 0.00494, 0.00377, 0.00309, 0.0028, 0.00278, 0.00293,
        0.00315, 0.0034, 0.00364, 0.00385, 0.00402, 0.00414, 0.00422, 0.00432)),
    (19, 3.570876, (  # 19 MeV
        64.1, 4.05, 1.31, 0.808, 0.578, 0.41, 0.277, 0.175, 0.102, 0.0554, 0.0287, 0.0163, 0.0126, 0.0132, 0.0149,
        0.0162, 0.0161, 0.0148, 0.0126, 0.00996, 0.00746, 0.00535, 0.00381, 0.00283, 0.00235, 0.00223, 0.00234,
        0.00256, 0.00282, 0.00307, 0.00327, 0.00344, 0.00356, 0.00365, 0.0037, 0.00377)),
    (20, 3.272842, (  # 20 MeV
        57.5, 3.68, 1.25, 0.8, 0.576, 0.407, 0.272, 0.169, 0.0972, 0.0515, 0.0263, 0.0152, 0.0123, 0.0132, 0.015,
        0.0159, 0.0155, 0.0138, 0.0114, 0.00872, 0.00627, 0.0043, 0.00294, 0.00215, 0.00183, 0.00183, 0.00201,
        0.00226, 0.00251, 0.00271, 0.00287, 0.00298, 0.00305, 0.0031, 0.00312, 0.00316)),
    (30, 1.6896, (  # 30 MeV
        23.7, 1.89, 1, 0.738, 0.523, 0.34, 0.2, 0.105, 0.0488, 0.0213, 0.0112, 0.00954, 0.0104, 0.0109, 0.0101,
        0.00824, 0.006, 0.00395, 0.00241, 0.00145, 0.000985, 0.00084, 0.000848, 0.000886, 0.000885, 0.000824,
        0.000713, 0.000581, 0.000458, 0.000367, 0.000322, 0.000321, 0.000351, 0.000394, 0.00043, 0.000467)),
    (40, 1.076592, (  # 40 MeV
        12.4, 1.33, 0.89, 0.654, 0.431, 0.249, 0.124, 0.0524, 0.019, 0.008, 0.00668, 0.00757, 0.00754, 0.0062,
        0.00427, 0.0025, 0.00131, 0.000713, 0.000533, 0.000544, 0.00058, 0.000563, 0.000483, 0.000368, 0.000249,
        0.000153, 8.9e-05, 6e-05, 5.9e-05, 7.9e-05, 0.000114, 0.000155, 0.000197, 0.000233, 0.000257, 0.000283)),
    (50, 0.752585, (  # 50 MeV
        7.56, 1.06, 0.78, 0.547, 0.329, 0.167, 0.0692, 0.0228, 0.00717, 0.00498, 0.00583, 0.00571, 0.00431, 0.00257,
        0.00125, 0.000589, 0.000409, 0.000436, 0.00047, 0.000432, 0.000333, 0.000217, 0.000122, 6.3e-05, 4e-05, 4e-05,
        5e-05, 6e-05, 6.5e-05, 6.4e-05, 5.9e-05, 5.1e-05, 4.4e-05, 3.7e-05, 3.4e-05, 3e-05)),
    (60, 0.553181, (  # 60 MeV
        5.08, 0.891, 0.666, 0.44, 0.24, 0.106, 0.0358, 0.00966, 0.00447, 0.00504, 0.00503, 0.00364, 0.00195, 0.000815,
        0.000375, 0.000342, 0.000401, 0.000394, 0.000307, 0.000193, 9.9e-05, 4.6e-05, 2.8e-05, 2.9e-05, 3.6e-05,
        4.1e-05, 4.1e-05, 3.7e-05, 3.1e-05, 2.5e-05, 2.1e-05, 1.7e-05, 1.5e-05, 1.3e-05, 1.3e-05, 1.2e-05)),
    (70, 0.452646, (  # 70 MeV
        3.26, 0.905, 0.674, 0.394, 0.186, 0.0722, 0.024, 0.00866, 0.00516, 0.00414, 0.00307, 0.00192, 0.00103,
        0.000517, 0.000287, 0.000199, 0.000158, 0.000123, 8.9e-05, 6e-05, 4e-05, 2.8e-05, 2.2e-05, 1.9e-05, 1.7e-05,
        1.6e-05, 1.4e-05, 1.3e-05, 1.1e-05, 1e-05, 9e-06, 9e-06, 8e-06, 8e-06, 8e-06, 8e-06)),
    (80, 0.359903, (  # 80 MeV
        2.44, 0.825, 0.584, 0.313, 0.132, 0.0445, 0.013, 0.00499, 0.00349, 0.0027, 0.00176, 0.000954, 0.000468,
        0.000245, 0.000159, 0.00012, 9e-05, 6.3e-05, 4.2e-05, 2.8e-05, 2.1e-05, 1.7e-05, 1.5e-05, 1.3e-05, 1.2e-05,
        1e-05, 9e-06, 8e-06, 8e-06, 7e-06, 7e-06, 7e-06, 6e-06, 6e-06, 6e-06, 6e-06)),
    (90, 0.292248, (  # 90 MeV
        1.91, 0.753, 0.502, 0.246, 0.0923, 0.0271, 0.00733, 0.0033, 0.00249, 0.00175, 0.001, 0.000494, 0.000246,
        0.000146, 0.000102, 7.4e-05, 5.1e-05, 3.4e-05, 2.3e-05, 1.7e-05, 1.4e-05, 1.2e-05, 1.1e-05, 9e-06, 8e-06,
        7e-06, 7e-06, 6e-06, 6e-06, 6e-06, 5e-06, 5e-06, 5e-06, 5e-06, 5e-06, 5e-06)),
    (100, 0.241334, (  # 100 MeV
        1.56, 0.688, 0.429, 0.192, 0.064, 0.0166, 0.00446, 0.00242, 0.00179, 0.00112, 0.00058, 0.000282, 0.000153,
        9.8e-05, 6.7e-05, 4.5e-05, 3e-05, 2.1e-05, 1.6e-05, 1.3e-05, 1.1e-05, 9e-06, 8e-06, 7e-06, 6e-06, 6e-06,
        5e-06, 5e-06, 5e-06, 4e-06, 4e-06, 4e-06, 4e-06, 4e-06, 4e-06, 4e-06)),
    (110, 0.202058, (  # 110 MeV
        1.31, 0.628, 0.365, 0.148, 0.0441, 0.0103, 0.00301, 0.00186, 0.00127, 0.000718, 0.000356, 0.000181, 0.000105,
        6.7e-05, 4.4e-05, 2.9e-05, 2e-05, 1.6e-05, 1.2e-05, 1e-05, 9e-06, 7e-06, 7e-06, 6e-06, 5e-06, 5e-06, 4e-06,
        4e-06, 4e-06, 4e-06, 4e-06, 3e-06, 3e-06, 3e-06, 3e-06, 3e-06)),
    (120, 0.171293, (  # 120 MeV
        1.14, 0.573, 0.31, 0.114, 0.0302, 0.00656, 0.00223, 0.00144, 0.000898, 0.000473, 0.000237, 0.000128, 7.6e-05,
        4.7e-05, 3e-05, 2.1e-05, 1.6e-05, 1.2e-05, 1e-05, 8e-06, 7e-06, 6e-06, 5e-06, 5e-06, 4e-06, 4e-06, 4e-06,
        3e-06, 3e-06, 3e-06, 3e-06, 3e-06, 3e-06, 3e-06, 3e-06, 3e-06)),
    (130, 0.146914, (  # 130 MeV
        1.01, 0.523, 0.262, 0.0874, 0.0207, 0.00441, 0.00176, 0.00111, 0.000633, 0.000326, 0.000171, 9.5e-05, 5.5e-05,
        3.3e-05, 2.2e-05, 1.6e-05, 1.3e-05, 1e-05, 8e-06, 7e-06, 6e-06, 5e-06, 5e-06, 4e-06, 4e-06, 3e-06, 3e-06,
        3e-06, 3e-06, 3e-06, 3e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06)),
    (140, 0.127504, (  # 140 MeV
        0.916, 0.479, 0.221, 0.0666, 0.0143, 0.00314, 0.00142, 0.000844, 0.000454, 0.000238, 0.00013, 7.1e-05, 4e-05,
        2.4e-05, 1.7e-05, 1.3e-05, 1.1e-05, 8e-06, 7e-06, 6e-06, 5e-06, 4e-06, 4e-06, 4e-06, 3e-06, 3e-06, 3e-06,
        3e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06)),
    (150, 0.112072, (  # 150 MeV
        0.85, 0.44, 0.187, 0.0506, 0.00991, 0.00238, 0.00116, 0.000637, 0.000336, 0.000184, 0.000101, 5.3e-05,
        2.9e-05, 1.9e-05, 1.4e-05, 1.1e-05, 9e-06, 7e-06, 6e-06, 5e-06, 4e-06, 4e-06, 3e-06, 3e-06, 3e-06, 3e-06,
        2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06)),
    (160, 0.099928, (  # 160 MeV
        0.806, 0.407, 0.158, 0.0383, 0.007, 0.00189, 0.000932, 0.000482, 0.000259, 0.000147, 7.9e-05, 4e-05, 2.3e-05,
        1.6e-05, 1.2e-05, 1e-05, 8e-06, 6e-06, 5e-06, 4e-06, 4e-06, 3e-06, 3e-06, 3e-06, 2e-06, 2e-06, 2e-06, 2e-06,
        2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06)),
    (180, 0.08354, (  # 180 MeV
        0.773, 0.358, 0.113, 0.0219, 0.00376, 0.00128, 0.000587, 0.000291, 0.000173, 9.9e-05, 4.9e-05, 2.4e-05,
        1.6e-05, 1.2e-05, 1e-05, 8e-06, 6e-06, 5e-06, 4e-06, 4e-06, 3e-06, 3e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06,
        2e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06)),
    (200, 0.075543, (  # 200 MeV
        0.81, 0.33, 0.0833, 0.0125, 0.00227, 0.000881, 0.000365, 0.000198, 0.000126, 6.6e-05, 3e-05, 1.7e-05, 1.3e-05,
        1e-05, 8e-06, 6e-06, 5e-06, 4e-06, 3e-06, 3e-06, 2e-06, 2e-06, 2e-06, 2e-06, 2e-06, 1e-06, 1e-06, 1e-06,
        1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06)),
    (220, 0.074238, (  # 220 MeV
        0.919, 0.32, 0.0625, 0.00715, 0.0015, 0.000589, 0.000238, 0.000149, 9.1e-05, 4.3e-05, 2.1e-05, 1.3e-05, 1e-05,
        8e-06, 6e-06, 5e-06, 4e-06, 3e-06, 3e-06, 2e-06, 2e-06, 2e-06, 2e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06,
        1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06)),
    (250, 0.082246, (  # 250 MeV
        1.24, 0.328, 0.0407, 0.00299, 0.000902, 0.000314, 0.000149, 0.0001, 5.3e-05, 2.4e-05, 1.4e-05, 1.1e-05, 8e-06,
        6e-06, 5e-06, 4e-06, 3e-06, 3e-06, 2e-06, 2e-06, 2e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06,
        1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06, 1e-06)),
)


def interval_weights(dsdo):
    """Weights w_k [b] of the angular intervals of one tabulated energy (dsigma/dOmega ``dsdo``
    [b/sr] at :data:`ANGLES_DEG`), Eq. (E2), and the exponents n_k of (E1). Returns (weights,
    exponents)."""
    x = 1.0 - np.cos(np.radians(ANGLES_DEG))
    f = np.asarray(dsdo, dtype=float)
    n = np.log(f[:-1] / f[1:]) / np.log(x[1:] / x[:-1])
    one = np.abs(1.0 - n) < 1.0e-9
    q = np.where(one, 0.5, 1.0 - n)  # (a placeholder where n_k = 1)
    w = np.where(one, f[:-1] * x[:-1] * np.log(x[1:] / x[:-1]),
                 f[:-1] * x[:-1] ** n * (x[1:] ** q - x[:-1] ** q) / q)
    return 2.0 * np.pi * w, n


@functools.lru_cache(maxsize=1)
def _sigma_el_b():
    """(tabulated energies [MeV], sigma_el [b]) of the module docstring, computed once."""
    e = np.array([row[0] for row in ICRU63_PO_ELASTIC])
    s = np.array([interval_weights(row[2])[0].sum() for row in ICRU63_PO_ELASTIC])
    e.setflags(write=False)
    s.setflags(write=False)
    return e, s


def po_elastic_xs_mb(T):
    """p-16O elastic cross section for CM angles >= 5 degrees [mb per O atom] at ``T`` [MeV]
    (array-like): the integral sigma_el of the ICRU 63 angular data, interpolated in
    (ln T, ln sigma); zero below 7 MeV, the 250 MeV value above."""
    T = np.atleast_1d(np.asarray(T, dtype=float))
    e, s = _sigma_el_b()
    lnT = np.log(np.clip(T, e[0], e[-1]))
    out = np.exp(np.interp(lnT, np.log(e), np.log(s * 1.0e3)))
    return np.where(T >= e[0], out, 0.0)


def po_elastic_table():
    """Kernel table of the angular distributions, shape (32, 1 + 2 N_INTERVALS): per tabulated
    energy its T [MeV], the cumulative probabilities at the ends of the intervals (the last is
    1) and the exponents n_k of (E1)."""
    out = np.zeros((len(ICRU63_PO_ELASTIC), 1 + 2 * N_INTERVALS))
    for i, (T, _, dsdo) in enumerate(ICRU63_PO_ELASTIC):
        w, n = interval_weights(dsdo)
        out[i, 0] = T
        out[i, 1:1 + N_INTERVALS] = np.cumsum(w) / w.sum()
        out[i, N_INTERVALS] = 1.0
        out[i, 1 + N_INTERVALS:] = n
    out.setflags(write=False)
    return out


@jit_stage
def sample_cm_cosine(st, T, table):
    """CM polar-angle cosine mu* of a p-16O elastic collision at ``T`` [MeV]: the tabulated
    energy by the interpolation probability, the interval from the cumulative weights, x = 1 - mu*
    by (E3) (module docstring)."""
    n_e = table.shape[0]
    i = 0
    while i < n_e - 2 and table[i + 1, 0] <= T:
        i += 1
    f = (T - table[i, 0]) / (table[i + 1, 0] - table[i, 0])
    row = i + 1 if uniform(st) < f else i
    u = uniform(st)
    k = 0
    while k < N_INTERVALS - 1 and table[row, 1 + k] < u:
        k += 1
    x0 = 1.0 - math.cos(math.radians(5.0 * (k + 1)))
    x1 = 1.0 - math.cos(math.radians(5.0 * (k + 2)))
    q = 1.0 - table[row, 1 + N_INTERVALS + k]
    v = uniform(st)
    if abs(q) < 1.0e-9:
        x = x0 * math.exp(v * math.log(x1 / x0))
    else:
        a = x0 ** q
        x = (a + v * (x1 ** q - a)) ** (1.0 / q)
    return 1.0 - x


@jit_stage
def elastic_kinematics(T, M, mu):
    """Recoil energy (E4) [MeV] and the projectile's laboratory cos theta after an elastic
    collision with CM cosine ``mu`` of a projectile of kinetic energy ``T`` [MeV] and mass ``M``
    [MeV] on a 16O nucleus at rest (module docstring)."""
    s = (M + O16_MASS_MEV) ** 2 + 2.0 * O16_MASS_MEV * T
    p1sq = T * (T + 2.0 * M)
    d_rec = O16_MASS_MEV * p1sq / s * (1.0 - mu)
    if d_rec > T:
        d_rec = T
    T3 = T - d_rec
    p3sq = T3 * (T3 + 2.0 * M)
    if p3sq <= 0.0:
        return d_rec, 1.0
    c1 = (p1sq + p3sq - d_rec * (d_rec + 2.0 * O16_MASS_MEV)) / (2.0 * math.sqrt(p1sq * p3sq))
    if c1 > 1.0:
        c1 = 1.0
    elif c1 < -1.0:
        c1 = -1.0
    return d_rec, c1


@jit_stage
def po_elastic_collision(st, T, M, table):
    """A p-16O elastic collision of a projectile of kinetic energy ``T`` [MeV] and mass ``M``
    [MeV]: mu* from :func:`sample_cm_cosine`, then :func:`elastic_kinematics`. Returns (recoil
    energy [MeV], deposited on the spot by the caller; cos theta of the projectile)."""
    return elastic_kinematics(T, M, sample_cm_cosine(st, T, table))
