"""Nuclear interactions of protons: cross sections and the non-elastic product model.

Units: kinetic energy T in MeV, microscopic cross sections in mb (1 mb = 1e-27 cm^2), mass
(macroscopic) cross sections in cm^2/g.

Processes (the transport kernel samples them as discrete events, :mod:`mc.kernel.interact`):

* **Non-elastic p + nucleus (Z >= 2)**: total reaction cross section of Wellisch & Axen (1996,
  Phys. Rev. C 54:1329), in the form implemented in Geant4's ``G4ProtonInelasticCrossSection``
  ("Axen-Wellisch" data set): a geometric cross section pi r0^2 (r0 = 1.36 fm) with A- and
  neutron-number-dependent factors, a high-energy correction and two logistic factors that give
  the rise above the Coulomb barrier and the maximum near 20-30 MeV (:func:`nonelastic_xs_mb`).
  Against the Barashenkov (1989, JINR P2-89-770) evaluation of measured data at 20-250 MeV
  (``tests/test_nuclear.py``) it lies 0-8 % above for O (mean +3.7 %, so the primary
  attenuation in water comes out ~4 % strong), -3 to +6 % for Ca, -1 to +5 % for N and -2 to
  +9 % for C; rms deviation 4 %, maximum 9 %.
  Hydrogen has no non-elastic channel below the pion-production threshold,
  T = m_pi (4 m_p + m_pi) / (2 m_p) = 279.7 MeV; above it the (small) p-p inelastic cross
  section is neglected.
* **Elastic p-p** (nuclear, hydrogen targets): the cross section of Fippel & Soukup (2004,
  Med. Phys. 31:2263), sigma/rho = 0.315 T^-1.126 + 3.78e-6 T cm^2 per g of water for
  10 < T < 300 MeV (converted here to mb per H atom with water's hydrogen mass fraction
  0.1119; 32 mb at 100 MeV, 23 mb at 200 MeV), zero below 10 MeV. The angular distribution is
  isotropic in the centre-of-mass frame, so the energy shared between the two protons is
  uniform; lab angles follow from relativistic two-body kinematics. Both protons are
  transported.
* **Elastic p-16O** (oxygen targets, 7-250 MeV, the 250 MeV value above): scattering above
  5 degrees in the centre of mass (Coulomb, nuclear and their interference: the single-scattering
  tail that the Gaussian multiple scattering leaves out), with the angular distributions of ICRU
  Report 63 and the cross section they integrate to (401 mb at 70 MeV, 2.06 b at 20 MeV),
  :mod:`physics.po_elastic`; the 16O recoil energy is deposited on the spot, the proton's
  deflection follows from the momentum transfer. The law of Fippel & Soukup (2004) used before
  had no elastic scattering below 50 MeV, where ICRU 63's angular data turn 11 % of the protons
  of a 70 MeV beam by more than 5 degrees. Elastic scattering on other nuclei (C, N, Ca, ...) is
  not modelled.

Non-elastic products: the energy-cascade model of Fippel & Soukup (2004) with band
parameters that reproduce, at the band's representative energy, the energy partition of p + 16O
non-elastic reactions of ICRU Report 63 (2000, *Nuclear data for neutron and proton radiotherapy
and for radiation protection*): the multiplicities and angle-integrated spectra of emitted
protons, deuterons and alpha particles and the recoil energy fraction, as distributed with
MCsquare (``Materials/oxygen/ICRU_Nuclear_inelastic.dat``, identical in github e0404/MCsquare @
4359baaf and in the MCsquare of the opentps-core 2.0.0 wheel). From those, per reaction of a
proton of energy T, the shares of T carried by secondary protons (f_p), by deuterons (f_d), by
alphas and recoils (deposited locally here) and the rest (neutrons, gamma rays, tritons, 3He
and the binding energy: not absorbed) are, at 50 / 100 / 150 / 200 / 250 MeV: f_p 0.376 /
0.418 / 0.455 / 0.475 / 0.507, f_d 0.070 / 0.092 / 0.097 / 0.100 / 0.092, alphas and recoils
0.127 / 0.091 / 0.070 / 0.060 / 0.053, rest 0.427 / 0.400 / 0.377 / 0.365 / 0.348; the mean
secondary-proton energy is 15.5 / 24.7 / 34.4 / 43.9 / 54.3 MeV. In the cascade the particle
kind is drawn independently of its energy, so P_p, P_d and P_n below follow
from these shares and the cascade's own emitted, binding and residual energies; the exponent
p = 0.90 gives the ICRU 63 mean secondary-proton energy (0.80-0.96 when fitted energy by
energy). ``benchmarks/nuclear_partition.py`` derives the bands and prints the model against
ICRU 63 (every share within 0.01 of T at the bands' energies, 0.025 in between, 30-250 MeV).
The parameters of the MOQUI
code (Lee et al. 2022, Phys. Med. Biol. 67:174001), used before, sent 0.62-0.74 of T to
secondary protons and 0.25-0.32 away: they had been fitted to Geant4/TOPAS depth doses within
MOQUI, whose transport does not deposit the short-range share or the binding energy
(moqui/base/mqi_po_inelastic.hpp, github MGHPhysicsResearch/moquimc @ 6c5f2994), so they do not
carry over to a code that deposits them.

The cascade: starting from the projectile's kinetic energy E_r = T, each emission removes a binding energy
E_b (5 MeV for the first particle, times 0.65 for each further one) and a particle energy
dE = E_min + (E_r - E_min) u^p (u uniform, E_min = 2 MeV); with probability P_p the particle
is a proton, with probability P_d - P_p a deuteron (both transported; polar angle below),
with probability P_n - P_d a neutral
particle (neutron or gamma ray, whose energy leaves the geometry), otherwise a short-range
fragment (triton, helium ion or recoil nucleus) deposited on the spot. Emission stops when
E_r - E_b <= E_min; the remainder E_r (excitation of the residual nucleus) is deposited
locally.

Emission angles of the transported protons and deuterons: the systematics of Kalbach (1988, Phys.
Rev. C 37:2350, Eqs. (2) and (10)), the angular law of the continuum in ENDF evaluations. In the
centre-of-mass frame of projectile and target the polar-angle cosine mu* has the density

    f(mu*) = a / (2 sinh a) [cosh(a mu*) + r sinh(a mu*)],                                   (K1)

    a = C1 X1 + C2 X1^3 + C3 M_a m_b X3^4,   X1 = e_b min(e_a, E_t1) / e_a,
                                            X3 = e_b min(e_a, E_t3) / e_a,                  (K2)

with e_a = T + S_a and e_b = dE + S_b the entrance and exit channel energies (S the separation
energies of the particle from the compound nucleus 17F of p + 16O, AME2020: S_p = 0.600 MeV,
S_d = 14.04 MeV), C1 = 0.04 MeV^-1, C2 = 1.8e-6 MeV^-3, C3 = 6.7e-7 MeV^-4, E_t1 = 130 MeV,
E_t3 = 41 MeV, M_a = 1 (incident nucleon or deuteron) and m_b = 1 (emitted proton or deuteron).
Every emission takes the multistep-direct form r = 1, f ~ exp(a mu*), sampled by inversion,
mu* = 1 + ln(u + (1 - u) exp(-2a)) / a. The laboratory direction follows by adding the
centre-of-mass velocity beta_cm = p c / (T + M + M(16O)) along the projectile (Galilean
composition, beta_cm <= 0.06 here) to a centre-of-mass velocity whose laboratory speed is the
particle's: the kinetic energy dE stays the laboratory energy drawn above, whose spectra the
bands were set on, so the energy booking is untouched. Against the double-differential
spectra of ICRU 63 (p + 16O at 150 MeV) the mean laboratory cosine of the emitted protons is
0.31, 0.33, 0.54, 0.75 and 0.87 at 0-10, 10-30, 30-60, 60-100 and 100-200 MeV (ICRU 63: 0.21,
0.32, 0.57, 0.76, 0.88; ``tests/test_nuclear.py``). The symmetric compound form (r = 0) for
all but the first emission gives 0.26, 0.20 and 0.32 in the three lowest bins, and the law of
Fippel & Soukup (2004) used before, cos(theta) uniform on [2 dE/T - 1, 1], 0.03, 0.12 and 0.29:
too many secondaries at large angles. In the first millimetre of water these put 1.2-1.4 %
(150 MeV) and 2.5 % (230 MeV) more dose than ICRU 63's double-differential data imply; with
(K1) the difference is 0.0 and 0.4 % (``benchmarks/entrance_reference.py``).

Deuterons are transported
because their ranges are not short (ICRU 63 mean energies 33-47 MeV at 100-200 MeV: CSDA ranges
0.6-1.2 cm, twice a proton's at half the energy) and they carry 0.09-0.10 of the reaction
energy: deposited on the spot they raised the entrance dose of a 150-230 MeV beam by ~3 %.
Alpha particles and recoils travel well under a millimetre (an 8 MeV alpha 0.07 mm in water)
and are deposited on the spot; heavy charged secondaries give a small share of the dose (d, t,
3He and alpha particles < 0.1 % of the dose of a 160 MeV beam; Paganetti 2002, Phys. Med. Biol.
47:747). The model was built for
16O; it is applied to every nucleus with Z >= 2, the cross section supplying the target
dependence.
"""

import math
from dataclasses import dataclass

import numpy as np

from mc.jit import jit, jit_stage
from mc.kernel.layout import PRODUCT_COS, PRODUCT_SPECIES, PRODUCT_T
from mc.kernel.rng import uniform

from .constants import AVOGADRO, DEUTERON_MASS_MEV, O16_MASS_MEV, PROTON_MASS_MEV
from .elements import element
from .po_elastic import po_elastic_xs_mb
from .species import SPECIES_DEUTERON, SPECIES_PROTON

MB_CM2 = 1.0e-27

#: Process kinds of a nuclear channel (values shared with :mod:`mc.kernel.interact`).
CHANNEL_NONE = 0
CHANNEL_PP_ELASTIC = 1
CHANNEL_NONELASTIC = 2
CHANNEL_PO_ELASTIC = 3

#: Pion-production threshold of p-p collisions [MeV] (m_pi0 = 134.977 MeV, PDG).
PION_THRESHOLD_MEV = 134.9768 * (4.0 * PROTON_MASS_MEV + 134.9768) / (2.0 * PROTON_MASS_MEV)

#: Hydrogen mass fraction of water, used by Fippel & Soukup (2004) to express their p-p cross
#: section per gram of water.
_W_H_WATER = 2 * 1.00794 / 18.01528


def nonelastic_xs_mb(T, Z, A=None):
    """Proton non-elastic (reaction) cross section [mb] on element ``Z`` at kinetic energy
    ``T`` [MeV] (array-like): Wellisch & Axen (1996), Geant4 form, with A the element's mean
    atomic mass [u] and N = round(A) - Z. Zero for hydrogen (see module docstring)."""
    T = np.atleast_1d(np.asarray(T, dtype=float))
    if Z == 1:
        return np.zeros_like(T)
    a = element(Z).A if A is None else float(A)
    n_neut = int(round(a)) - Z
    E = np.minimum(T, 19800.0) / 1000.0  # GeV
    out = np.zeros_like(T)
    ok = E > 0.0
    x = np.log10(E[ok])
    a13 = a ** (-1.0 / 3.0)
    b0 = 2.247 - 0.915 * (1.0 - a13)
    fac1 = b0 * (1.0 - a13)
    fac2 = np.log(n_neut) if n_neut > 1 else 1.0
    sig = 1.0e31 * np.pi * (1.36e-15) ** 2 * fac2 * (1.0 + 1.0 / a13 - fac1)  # mb
    sig = sig * (1.0 - 0.15 * np.exp(-E[ok])) / (1.0 - 0.0007 * a)
    ff1 = 0.70 - 0.002 * a
    ff2 = 1.00 + 1.0 / a
    ff3 = 0.8 + 18.0 / a - 0.002 * a
    ff4 = 1.0 - 1.0 / (1.0 + np.exp(-8.0 * ff1 * (x + 1.37 * ff2)))
    sig = sig * (1.0 + ff3 * ff4)
    g1 = 1.0 - 1.0 / a - 0.001 * a
    g2 = 1.17 - 2.7 / a - 0.0014 * a
    out[ok] = sig / (1.0 + np.exp(-8.0 * g1 * (x + 2.0 * g2)))
    return out


def pp_elastic_xs_mb(T):
    """Nuclear p-p elastic cross section [mb per H atom] at ``T`` [MeV] (Fippel & Soukup 2004;
    zero below 10 MeV; the 300 MeV value is held above 300 MeV)."""
    T = np.atleast_1d(np.asarray(T, dtype=float))
    t = np.minimum(T, 300.0)
    per_g_water = 0.315 * t ** -1.126 + 3.78e-6 * t  # cm^2 per g of water
    per_atom = per_g_water / _W_H_WATER * element(1).A / AVOGADRO / MB_CM2
    return np.where(T > 10.0, per_atom, 0.0)


@dataclass(frozen=True)
class NuclearChannels:
    """Kernel arrays of the nuclear channels of a set of materials.

    ``xs[m, k, i]`` mass cross section [cm^2/g] of channel k of material m at table energy i;
    ``kind[m, k]`` its process (``CHANNEL_*``); ``target_A[m, k]`` the target's mass number
    [u]; ``labels[m]`` readable channel names; ``target_Z[m, k]`` the target element's atomic
    number (0 for an unused channel) and ``first[m, k]`` whether k is the first channel of its
    element (the one that carries an ion's reaction cross section on it, :mod:`physics.tables`)."""

    xs: np.ndarray
    kind: np.ndarray
    target_A: np.ndarray
    labels: tuple
    target_Z: np.ndarray = None
    first: np.ndarray = None

    def total(self):
        """Total nuclear mass cross section [cm^2/g], shape (n_materials, n_energies)."""
        return self.xs.sum(axis=1)


def build_channels(materials, energy):
    """Nuclear channels of ``materials`` (:class:`physics.materials.Material`) on the kinetic
    energy grid ``energy`` [MeV]: p-p elastic on hydrogen, p-16O elastic on oxygen and
    non-elastic reactions on every element with Z >= 2."""
    per_mat = []
    for mat in materials:
        chans = []
        for Z, w in sorted(mat.composition.items()):
            el = element(Z)
            n_per_g = w * AVOGADRO / el.A  # atoms per gram
            if Z == 1:
                chans.append((CHANNEL_PP_ELASTIC, el.A, n_per_g * pp_elastic_xs_mb(energy) * MB_CM2, "p-p elastic",
                              Z, True))
            else:
                chans.append((CHANNEL_NONELASTIC, el.A, n_per_g * nonelastic_xs_mb(energy, Z) * MB_CM2,
                              f"p-{el.symbol} non-elastic", Z, True))
                if Z == 8:
                    chans.append((CHANNEL_PO_ELASTIC, el.A, n_per_g * po_elastic_xs_mb(energy) * MB_CM2,
                                  "p-O elastic", Z, False))
        per_mat.append(chans)
    n_k = max(1, max(len(c) for c in per_mat))
    xs = np.zeros((len(materials), n_k, len(energy)))
    kind = np.zeros((len(materials), n_k), np.int32)
    target_A = np.ones((len(materials), n_k))
    target_Z = np.zeros((len(materials), n_k), np.int64)
    first = np.zeros((len(materials), n_k), bool)
    labels = []
    for m, chans in enumerate(per_mat):
        for k, (kd, A, x, _, Z, is_first) in enumerate(chans):
            xs[m, k] = x
            kind[m, k] = kd
            target_A[m, k] = A
            target_Z[m, k] = Z
            first[m, k] = is_first
        labels.append(tuple(c[3] for c in chans))
    return NuclearChannels(xs, kind, target_A, tuple(labels), target_Z, first)


# ---- non-elastic product model --------------------------------------------------------------
#: Layout of the parameter vector of the product model (see module docstring).
NP_E_BIND = 0  # binding energy of the first emitted particle [MeV]
NP_E_RATIO = 1  # factor applied to the binding energy after each emission
NP_E_MIN = 2  # smallest emitted energy [MeV]
NP_N_BANDS = 3  # number of incident-energy bands that follow
NP_BAND0 = 4  # the bands, NP_BAND_LEN numbers each
#: Each band: upper energy [MeV], P_p, P_d (cumulative: proton or deuteron), P_n (cumulative:
#: proton, deuteron or neutral), exponent p.
NP_BAND_LEN = 5

#: Incident-energy bands of the product model: upper T [MeV], probability of a proton,
#: cumulative probability of a proton or a deuteron, cumulative probability of a proton, a
#: deuteron or a neutral, exponent of the energy law. They reproduce the ICRU Report 63
#: p + 16O energy partition at 30, 50, 70, 100, 150, 200 and 250 MeV (the band's representative
#: energy; module docstring, benchmarks/nuclear_partition.py).
_BANDS = (
    (40.0, 0.50, 0.56, 0.82, 0.90),
    (60.0, 0.48, 0.57, 0.88, 0.90),
    (85.0, 0.47, 0.57, 0.90, 0.90),
    (125.0, 0.47, 0.58, 0.91, 0.90),
    (175.0, 0.50, 0.60, 0.93, 0.90),
    (225.0, 0.51, 0.61, 0.94, 0.90),
    (1.0e9, 0.53, 0.63, 0.95, 0.90),
)


def product_model_parameters():
    """Parameter vector of the non-elastic product model for the transport kernel."""
    p = [5.0, 0.65, 2.0, float(len(_BANDS))]
    for band in _BANDS:
        p.extend(band)
    return np.array(p, dtype=float)


# ---- samplers used by the transport kernel (compiled) -------------------------------------

#: Kalbach (1988, Phys. Rev. C 37:2350, Eq. (10)) angular-distribution slope constants: C1
#: [MeV^-1], C2 [MeV^-3], C3 [MeV^-4], E_t1 and E_t3 [MeV].
KALBACH_C1 = 0.04
KALBACH_C2 = 1.8e-6
KALBACH_C3 = 6.7e-7
KALBACH_ET1_MEV = 130.0
KALBACH_ET3_MEV = 41.0
#: Separation energies [MeV] of a proton and of a deuteron from 17F, the compound nucleus of
#: p + 16O (AME2020 mass excesses: 17F 1951.70 keV, 16O -4737.00 keV, 15O 2855.61 keV, 1H 7288.97
#: keV, 2H 13135.72 keV).
S_PROTON_17F_MEV = 0.600
S_DEUTERON_17F_MEV = 14.04


@jit_stage
def kalbach_slope(e_in, e_out, s_in, s_out):
    """Kalbach's slope parameter a of (K2) for a nucleon or deuteron of kinetic energy ``e_out``
    [MeV] emitted after an incident nucleon or deuteron of ``e_in`` [MeV] (M_a = m_b = 1);
    ``s_in``, ``s_out`` the separation energies [MeV] of the two from the compound nucleus."""
    ea = e_in + s_in
    eb = e_out + s_out
    x1 = eb * min(ea, KALBACH_ET1_MEV) / ea
    x3 = eb * min(ea, KALBACH_ET3_MEV) / ea
    return KALBACH_C1 * x1 + KALBACH_C2 * x1 ** 3 + KALBACH_C3 * x3 ** 4


@jit_stage
def kalbach_cos_cm(st, a):
    """Centre-of-mass polar-angle cosine drawn from the multistep-direct form of (K1), density
    a exp(a mu) / (2 sinh a) on [-1, 1], by inversion."""
    u = uniform(st)
    if a < 1.0e-6:
        return 2.0 * u - 1.0
    c = 1.0 + math.log(u + (1.0 - u) * math.exp(-2.0 * a)) / a
    return -1.0 if c < -1.0 else c


@jit_stage
def cos_lab(mu_cm, beta_cm, t, m):
    """Laboratory polar-angle cosine of a particle of mass ``m`` [MeV] and laboratory kinetic
    energy ``t`` [MeV] emitted at ``mu_cm`` in a frame moving with ``beta_cm`` along the
    projectile: the frame velocity added to the centre-of-mass velocity of that direction whose
    sum has the particle's speed (Galilean composition)."""
    g = 1.0 + t / m
    b2 = 1.0 - 1.0 / (g * g)
    disc = b2 - beta_cm * beta_cm * (1.0 - mu_cm * mu_cm)
    u_cm = -beta_cm * mu_cm + math.sqrt(disc if disc > 0.0 else 0.0)
    if u_cm < 0.0:
        u_cm = 0.0
    c = (u_cm * mu_cm + beta_cm) / math.sqrt(b2)
    return 1.0 if c > 1.0 else (-1.0 if c < -1.0 else c)


@jit_stage
def cos_lab_elastic(Ti, T, M):
    """Laboratory polar-angle cosine of a particle leaving an elastic collision of two equal
    masses M [MeV] with kinetic energy Ti [MeV], the projectile having had T [MeV]
    (relativistic two-body kinematics: cos^2 theta = Ti (T + 2M) / (T (Ti + 2M)))."""
    c2 = Ti * (T + 2.0 * M) / (T * (Ti + 2.0 * M))
    if c2 > 1.0:
        c2 = 1.0
    return math.sqrt(c2)


@jit_stage
def pp_elastic_energies(st, T):
    """Kinetic energies [MeV] of the two protons after a p-p elastic collision of a proton of
    ``T`` [MeV], isotropic in the centre-of-mass frame (Fippel & Soukup 2004): the energy
    transfer is uniform, the more energetic proton gets T1 = T (1 + cos theta*)/2, uniform on
    [T/2, T]. Returns (T1, T2), T1 + T2 = T."""
    T1 = 0.5 * T * (2.0 - uniform(st))
    return T1, T - T1


@jit
def sample_nonelastic_products(st, T, nuc_par, prod, M=PROTON_MASS_MEV):
    """Products of a non-elastic reaction of a proton of kinetic energy ``T`` [MeV] (mass ``M``
    [MeV]) on a nucleus (16O kinematics for every target, like the rest of the model; a deuteron
    projectile takes its own mass in the centre-of-mass velocity but the proton's entrance
    channel, S_a = S_p(17F), in Kalbach's slope): the energy-cascade model of the module
    docstring, emission angles of (K1), with the parameters ``nuc_par``
    (:func:`product_model_parameters`). Fills ``prod[j]`` (columns
    ``mc.kernel.layout.PRODUCT_*``: species, kinetic energy [MeV], cos(polar angle to the
    projectile)) for the transported protons and deuterons and returns (number of them, energy
    deposited on the spot, energy of neutral particles, binding energy, part of the local energy
    that is protons or deuterons not stored because ``prod`` was full) [MeV]; the first four
    parts and the products' energies add up to ``T``."""
    nb = int(nuc_par[NP_N_BANDS])
    b = NP_BAND0
    for i in range(nb):
        b = NP_BAND0 + NP_BAND_LEN * i
        if T <= nuc_par[b]:
            break
    p_p = nuc_par[b + 1]
    p_d = nuc_par[b + 2]
    p_n = nuc_par[b + 3]
    power = nuc_par[b + 4]
    e_b = nuc_par[NP_E_BIND]
    e_min = nuc_par[NP_E_MIN]
    e_r = T
    n = 0
    e_loc = 0.0
    e_neu = 0.0
    e_bind = 0.0
    e_ovf = 0.0
    beta_cm = math.sqrt(T * (T + 2.0 * M)) / (T + M + O16_MASS_MEV)
    while e_r - e_b > e_min:
        e_r -= e_b
        e_bind += e_b
        d = e_min + (e_r - e_min) * uniform(st) ** power
        if d > e_r:
            d = e_r
        e_r -= d
        zeta = uniform(st)
        if zeta < p_d:
            if n < prod.shape[0]:
                if zeta < p_p:
                    a = kalbach_slope(T, d, S_PROTON_17F_MEV, S_PROTON_17F_MEV)
                    c = cos_lab(kalbach_cos_cm(st, a), beta_cm, d, PROTON_MASS_MEV)
                    prod[n, PRODUCT_SPECIES] = SPECIES_PROTON
                else:
                    a = kalbach_slope(T, d, S_PROTON_17F_MEV, S_DEUTERON_17F_MEV)
                    c = cos_lab(kalbach_cos_cm(st, a), beta_cm, d, DEUTERON_MASS_MEV)
                    prod[n, PRODUCT_SPECIES] = SPECIES_DEUTERON
                prod[n, PRODUCT_T] = d
                prod[n, PRODUCT_COS] = c
                n += 1
            else:
                e_loc += d
                e_ovf += d
        elif zeta < p_n:
            e_neu += d
        else:
            e_loc += d
        e_b *= nuc_par[NP_E_RATIO]
    e_loc += e_r
    return n, e_loc, e_neu, e_bind, e_ovf
