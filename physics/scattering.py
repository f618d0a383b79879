"""Multiple Coulomb scattering: radiation length, scattering length and scattering powers.

Units: lengths in g/cm^2 (areal density), pv and energies in MeV, angles in rad.

* Radiation length X0 (PDG Review of Particle Physics, "Passage of particles through matter",
  eq. 34.26, Tsai 1974 Rev. Mod. Phys. 46:815): 1/X0 = 4 alpha r_e^2 N_A/A
  {Z^2 [L_rad - f(Z)] + Z L'_rad}; compounds 1/X0 = sum_i w_i/X0_i. Water: 36.08 g/cm^2.
* Scattering length X_S (Gottschalk 2010, Med. Phys. 37:352, "On the scattering power of
  radiotherapy protons"): 1/(rho X_S) = alpha N r_e^2 Z^2/A [2 ln(33219 (A Z)^(-1/3)) - 1];
  compounds by weight fractions. Water: 46.88 g/cm^2.
* Differential Moliere scattering power (Gottschalk 2010, abstract and Sec. V):
  T_dM = f_dM(pv, p1v1) (E_s/pv)^2 / X_S [rad^2 per g/cm^2], E_s = 15.0 MeV,
  f_dM = 0.5244 + 0.1975 lg(1-(pv/p1v1)^2) + 0.2320 lg(pv) - 0.0098 lg(pv) lg(1-(pv/p1v1)^2),
  with p1v1 the particle's initial pv. T is the rate of growth of the *projected* (one-plane)
  angular variance theta_0^2, as in Fermi-Eyges theory (E_s = 15.0 MeV = 21.2 MeV/sqrt 2, the
  projected form of Rossi's constant).
* Highland (1975, 1979 erratum) projected rms angle for a slab, and the generalised Highland
  formula for thick targets of Gottschalk et al. (1993), Nucl. Instrum. Meth. B 74:467:
  theta_0^2 = [14.1 MeV (1 + lg(L/X0)/9)]^2 int_0^L dx / (X0 (pv)^2).
"""

import math

import numpy as np

from mc.jit import jit_stage
from mc.kernel.rng import uniform

from .constants import AVOGADRO, ELECTRON_RADIUS_CM, FINE_STRUCTURE
from .elements import element

_TSAI_LOW_Z = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}

#: Gottschalk (2010) scattering-power constant E_s [MeV].
E_S_MEV = 15.0
#: Coefficients (c0, c1, c2, c3) of Gottschalk's (2010, abstract and Sec. V) fit
#: f_dM = c0 + c1 lg(1-(pv/p1v1)^2) + c2 lg(pv) - c3 lg(pv) lg(1-(pv/p1v1)^2), pv in MeV.
F_DM_COEFFS = (0.5244, 0.1975, 0.2320, 0.0098)


def element_radiation_length(Z):
    """Radiation length [g/cm^2] of element Z (Tsai; PDG eq. 34.26)."""
    el = element(Z)
    a = FINE_STRUCTURE * Z
    a2 = a * a
    f = a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    if Z in _TSAI_LOW_Z:
        lrad, lprad = _TSAI_LOW_Z[Z]
    else:
        lrad = np.log(184.15 * Z ** (-1.0 / 3.0))
        lprad = np.log(1194.0 * Z ** (-2.0 / 3.0))
    inv = 4.0 * FINE_STRUCTURE * ELECTRON_RADIUS_CM**2 * AVOGADRO / el.A * (Z * Z * (lrad - f) + Z * lprad)
    return 1.0 / inv


def radiation_length(material):
    """Radiation length X0 [g/cm^2] of a material (weight-fraction additivity of 1/X0)."""
    return 1.0 / sum(w / element_radiation_length(Z) for Z, w in material.composition.items())


def element_scattering_length(Z):
    """Gottschalk (2010) scattering length X_S [g/cm^2] of element Z."""
    el = element(Z)
    inv = (FINE_STRUCTURE * AVOGADRO * ELECTRON_RADIUS_CM**2 * Z * Z / el.A
           * (2.0 * np.log(33219.0 * (el.A * Z) ** (-1.0 / 3.0)) - 1.0))
    return 1.0 / inv


def scattering_length(material):
    """Scattering length X_S [g/cm^2] of a material (weight-fraction additivity of 1/X_S)."""
    return 1.0 / sum(w / element_scattering_length(Z) for Z, w in material.composition.items())


def pv_MeV(T, mass_MeV):
    """Momentum times velocity pv = T (T + 2M)/(T + M) [MeV] for kinetic energy T [MeV]."""
    T = np.asarray(T, dtype=float)
    return T * (T + 2.0 * mass_MeV) / (T + mass_MeV)


def f_dM(pv, p1v1):
    """Gottschalk (2010) correction factor of the differential Moliere scattering power.

    The fit goes to -infinity as pv -> p1v1 (zero depth); it is clamped at 0, which affects
    only the first few micrometres of path (f_dM = 0 needs 1 - (pv/p1v1)^2 ~ 1e-6)."""
    c0, c1, c2, c3 = F_DM_COEFFS
    lg_pv = np.log10(pv)
    lg_1 = np.log10(np.maximum(1.0 - (np.asarray(pv) / p1v1) ** 2, 1e-300))
    return np.maximum(c0 + c1 * lg_1 + c2 * lg_pv - c3 * lg_pv * lg_1, 0.0)


def scattering_power_dM(pv, p1v1, X_S, z=1):
    """Differential Moliere scattering power T_dM [rad^2 per g/cm^2]: growth of the projected
    angular variance per unit areal density (Gottschalk 2010)."""
    return z * z * f_dM(pv, p1v1) * (E_S_MEV / np.asarray(pv)) ** 2 / X_S


def highland_theta0(pv, L_over_X0, z=1):
    """Projected rms angle [rad] behind a thin slab, Highland (1979): 14.1 MeV z/pv sqrt(L/X0)
    (1 + lg(L/X0)/9)."""
    return 14.1 * z / pv * np.sqrt(L_over_X0) * (1.0 + np.log10(L_over_X0) / 9.0)


def _pv_along_depth(depth_g, T0, range_table_T, range_table_R, mass_MeV, n):
    """Depths 0..``depth_g`` [g/cm^2] (n + 1 points) and pv [MeV] there, for a particle of
    initial kinetic energy T0 [MeV] slowing down along the CSDA range table R(T) (path length =
    depth)."""
    zp = np.linspace(0.0, depth_g, n + 1)
    R0 = np.interp(T0, range_table_T, range_table_R)
    T = np.interp(R0 - zp, range_table_R, range_table_T)
    return zp, pv_MeV(T, mass_MeV)


def generalized_highland_sigma_x(depth_g, T0, range_table_T, range_table_R, X0, mass_MeV, z=1, n=4000):
    """Projected rms lateral displacement [g/cm^2] of an initially parallel,
    point-like beam at areal depth ``depth_g`` [g/cm^2] in a homogeneous medium, from the
    Fermi-Eyges moment A2 = int_0^z (z - z')^2 T(z') dz' with the generalised Highland
    scattering power of Gottschalk et al. (1993):
    theta_0^2(z) = [14.1 (1 + lg(z/X0)/9)]^2 int_0^z dz'/(X0 (pv)^2).

    ``range_table_T``/``range_table_R`` give the CSDA range R(T) [g/cm^2] used to find the
    energy at each depth. Returns the areal-density displacement; divide by density for cm.
    """
    zp, pv = _pv_along_depth(depth_g, T0, range_table_T, range_table_R, mass_MeV, n)
    integrand = (depth_g - zp) ** 2 / (X0 * pv**2)
    a2 = np.trapezoid(integrand, zp)
    log_factor = (14.1 * z * (1.0 + np.log10(depth_g / X0) / 9.0)) ** 2
    return np.sqrt(log_factor * a2)


def fermi_eyges_dm_sigma_x(depth_g, T0, range_table_T, range_table_R, X_S, mass_MeV, z=1, n=20000):
    """Projected rms lateral displacement [g/cm^2] of an initially parallel, point-like beam at
    areal depth ``depth_g`` [g/cm^2] in a homogeneous medium: the Fermi-Eyges moment
    A2 = int_0^z (z - z')^2 T_dM(z') dz' with Gottschalk's (2010) differential Moliere
    scattering power (:func:`scattering_power_dM`), the energy at each depth from the CSDA
    range table (path length = depth, no energy straggling). This is the continuous-scattering
    limit the transport kernel's random-hinge steps approach for any step length."""
    zp, pv = _pv_along_depth(depth_g, T0, range_table_T, range_table_R, mass_MeV, n)
    power = scattering_power_dM(pv, pv_MeV(T0, mass_MeV), X_S, z)
    return np.sqrt(np.trapezoid(power * (depth_g - zp) ** 2, zp))


# ---- functions of the transport kernel (compiled) -----------------------------------------

#: E_s^2 [MeV^2] of Gottschalk's (2010) scattering power.
E_S2_MEV2 = E_S_MEV * E_S_MEV
_INV_LN10 = 1.0 / math.log(10.0)
_FDM0, _FDM1, _FDM2, _FDM3 = F_DM_COEFFS


@jit_stage
def f_dm_of(p1v1_inv2, inv_pv2, lg_pv):
    """Gottschalk's (2010) f_dM (:func:`f_dM`) from 1/(p1v1)^2 and 1/(pv)^2 [MeV^-2] and
    lg(pv/MeV), as the kernel has them from its tables; not clamped: negative (no
    scattering) where pv is close to p1v1."""
    r2 = 1.0 - p1v1_inv2 / inv_pv2
    if r2 < 1e-300:
        r2 = 1e-300
    lg1 = math.log(r2) * _INV_LN10
    return _FDM0 + _FDM1 * lg1 + _FDM2 * lg_pv - _FDM3 * lg_pv * lg1


@jit_stage
def deflection_draw(st, u, v, w):
    """The random part of a multiple-scattering deflection of the direction (u, v, w), drawn
    before the step is walked (it does not depend on the walk, so its logarithm, square root
    and divisions run beside the walk instead of delaying the walk after the hinge): with two
    independent Gaussian projected angles of variance th0sq the space angle is theta^2 =
    th0sq chi2, chi2 = -2 ln q, q uniform, at a uniform azimuth phi; (q, phi) come from one
    point (a, b) uniform in the unit disc (q = a^2 + b^2 is uniform and independent of the
    point's polar angle psi; phi = 2 psi: cos = (a^2 - b^2)/q, sin = 2ab/q; Marsaglia & Bray
    1964, SIAM Rev. 6:260). Returns chi2 and the unit vector p perpendicular to the direction
    at azimuth phi, cos(phi) e1 + sin(phi) e2 in the frame e1 = (u w, v w, -(1 - w^2)) /
    sqrt(1 - w^2), e2 = (-v, u, 0) / sqrt(1 - w^2); see :func:`deflect_by`."""
    while True:
        a = 2.0 * uniform(st) - 1.0
        b = 2.0 * uniform(st) - 1.0
        q = a * a + b * b
        if 0.0 < q < 1.0:
            break
    chi2 = -2.0 * math.log(q)
    iq = 1.0 / q
    cph = (a * a - b * b) * iq
    sph = 2.0 * a * b * iq
    sw2 = 1.0 - w * w
    if sw2 > 1e-12:
        isw = 1.0 / math.sqrt(sw2)
        return chi2, (cph * u * w - sph * v) * isw, (cph * v * w + sph * u) * isw, -cph * sw2 * isw
    return chi2, cph, sph, 0.0


#: Below this theta^2 [rad^2] :func:`deflect_by` uses the series of cos and sin (error
#: < theta^6/720 < 2e-11).
_SERIES_THETA2 = 2.5e-3


@jit_stage
def deflect_by(u, v, w, th0sq, chi2, px, py, pz):
    """Direction (u, v, w) after multiple scattering with projected-angle variance ``th0sq``
    [rad^2] per plane: turned by the space angle theta, theta^2 = th0sq chi2, towards the unit
    vector (px, py, pz) perpendicular to it (chi2 and p from :func:`deflection_draw` for this
    direction): cos(theta) d + sin(theta) p."""
    if th0sq <= 0.0:
        return u, v, w
    th2 = th0sq * chi2
    if th2 < _SERIES_THETA2:
        ct = 1.0 - 0.5 * th2 + th2 * th2 / 24.0
        sn = math.sqrt(th2) * (1.0 - th2 / 6.0 + th2 * th2 / 120.0)
    else:
        th = math.sqrt(th2)
        if th > math.pi:
            th = math.pi
        ct = math.cos(th)
        sn = math.sin(th)
    un = ct * u + sn * px
    vn = ct * v + sn * py
    wn = ct * w + sn * pz
    # renormalise (rounding only: d and p are orthonormal)
    nrm = 1.5 - 0.5 * (un * un + vn * vn + wn * wn)
    return un * nrm, vn * nrm, wn * nrm


@jit_stage
def pv_of(T, M):
    """pv = T (T + 2M)/(T + M) [MeV] of a particle of kinetic energy ``T`` and mass ``M`` [MeV]
    (the compiled scalar form of :func:`pv_MeV`)."""
    return T * (T + 2.0 * M) / (T + M)
