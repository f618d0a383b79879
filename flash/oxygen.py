"""Radiolytic oxygen depletion under a voxel's dose-rate history, oxygen-dependent
radiosensitivity, the FLASH-modified dose, and a threshold FLASH effectiveness model.

Units: pO2 in mmHg, dose in Gy, dose rate in Gy/s, time in s.

**Oxygen kinetics** (one well-mixed compartment per voxel, after the reaction-diffusion models
of Pratx & Kapp 2019, Phys. Med. Biol. 64:185005, and Petersson et al. 2020, "A quantitative
analysis of the role of oxygen tension in FLASH radiation therapy", Int. J. Radiat. Oncol. Biol.
Phys. 107:539, reduced to a re-oxygenation time constant). Two depletion laws (``law``):

* ``"constant"`` (default): consumption proportional to the dose rate, independent of pO2
  (k = 0) or Michaelis-Menten-like with half-saturation k (k > 0),

      dp/dt = -g Ddot(t) p/(p + k) + (p0 - p)/tau,

  k = 0 is the linear law (pO2 capped at zero), the ``linearModel = True`` branch of the
  reference code of Petersson et al. 2020 (FLASH-OER, github.com/sjmcmahon/FLASH-OER,
  ``flashOERModel.py``);
* ``"proportional"``: consumption proportional to the dose rate and to pO2,

      dp/dt = -g' Ddot(t) p + (p0 - p)/tau,

  the default (``linearModel = False``) of the reference code of Petersson et al. 2020, with
  g' = 0.053 per Gy (their ``REFoxDep``).

Re-oxygenation from the vasculature towards the tissue's baseline p0 has the time constant
tau (> 0). Defaults: g = 5.18e-4 atm/Gy x 760 mmHg/atm = 0.39368 mmHg/Gy (the reference code's
``REFoxDep = 0.000518``, O2 as a fraction of 1 atm, per Gy), g' = 0.053 /Gy and tau = 1 s
(``REFoxRec = 1.0`` per s), the values of Petersson et al. (2020). Measurements are lower:
Jansen et al. (2021, Med. Phys. 48:3172) found 0.04-0.25 % atm per 10 Gy for 224 MeV protons in
sealed water (0.03-0.19 mmHg/Gy), and 0.17-0.18 mmHg/Gy have been reported for scanned protons
in saline, so g is the parameter to vary first. k = 0 by default: the depletion g-values fall at
low oxygen (< 25 uM; El Khatib et al. 2022) but no half-saturation constant for radiolytic
consumption could be verified.

**Integration.** Within a beam segment the dose rate is constant, so both laws have closed
forms for k = 0: p(t) relaxes exponentially to its steady state and int S(p(t)) dt is
elementary (:func:`_inv_lin`). For k > 0 the pO2 and the weight integral are integrated
together with the Dormand-Prince 5(4) embedded Runge-Kutta pair (Dormand & Prince 1980,
J. Comput. Appl. Math. 6:19; coefficients of Hairer, Norsett & Wanner, Solving Ordinary
Differential Equations I, 2nd ed., Table 5.2) with adaptive steps, relative tolerance
:data:`RK_RTOL` per unit of the integral (DMF accurate to better than 1e-6).

**Radiosensitivity** (Alper & Howard-Flanders 1956, Nature 178:978): relative to anoxia,
S(p) = (m p + K)/(p + K), maximum oxygen enhancement m = 3 and half-effect pO2 K = 7.6 mmHg
(1 % O2), the values of Petersson et al. (2020).

**FLASH-modified dose**: each dose increment is weighted by the radiosensitivity at the pO2 of
the moment relative to the baseline (what a conventional, slow delivery sees),

    D_FLASH = int S(p(t))/S(p0) Ddot(t) dt,    DMF = D_FLASH / D,

the dose of a conventional delivery with the same (single-hit, linear) effect; DMF = 1 means
no sparing, DMF < 1 sparing (the oxygen-enhancement weighting of Petersson et al. 2020).

**Threshold FLASH effectiveness model** (:func:`fem_dose`, after Krieger et al. 2022, Med.
Phys., "A quantitative FLASH effectiveness model to reveal potentials and pitfalls of high
dose rate proton therapy"): where a voxel's dose rate reaches the threshold (40 Gy/s) and its dose exceeds
a dose threshold D_T, the dose above D_T is multiplied by a FLASH modifying factor;
defaults D_T = 4 Gy and factor 0.7 (a 0.6-0.8 range is used in FLASH planning studies built on
this model, e.g. Wuyckens et al. 2025). The exact parametrisation of Krieger et al. could not
be checked here: this is our statement of the model, with every parameter exposed.

Tissue pO2 presets (:data:`TISSUE_PO2_MMHG`, defined with their sources in
:mod:`physics.tissue`): bone marrow 9.9 mmHg, normal tissue 45.8 mmHg, hypoxic tumour 2.5 mmHg.
"""

import math
from dataclasses import dataclass

import numpy as np

from mc.jit import jit, jit_inline
from physics.tissue import TISSUE_PO2_MMHG  # noqa: F401  (the presets, importable from here too)

#: Radiolytic depletion of the "constant" law [mmHg/Gy]: 5.18e-4 atm O2 per Gy (Petersson et al.
#: 2020, reference code ``REFoxDep = 0.000518`` in fractions of 1 atm) x 760 mmHg/atm.
G_CONSTANT_MMHG_PER_GY = 5.18e-4 * 760.0

#: Relative depletion of the "proportional" law [1/Gy] (Petersson et al. 2020, reference code
#: ``REFoxDep = 0.053`` with ``linearModel = False``).
G_PROPORTIONAL_PER_GY = 0.053

#: Depletion laws (module docstring), with the code the compiled kernel uses for each.
LAWS = {"constant": 0, "proportional": 1}

#: Relative error tolerance of the adaptive Runge-Kutta integration (k > 0) per unit of the
#: radiosensitivity integral; the DMF error stays well below 1e-6.
RK_RTOL = 1e-9

#: FLASH dose-rate threshold [Gy/s]: the >= 40 Gy/s commonly taken as the onset of the FLASH
#: effect and used in the first clinical proton FLASH trial (Mascia et al. 2023, JAMA Oncol.
#: 9:62, FAST-01).
FLASH_DOSE_RATE_GY_S = 40.0


@dataclass
class OxygenParams:
    """Oxygen-depletion and radiosensitivity parameters (module docstring): ``law`` "constant"
    uses ``g_mmHg_per_Gy`` and ``k_mmHg``, "proportional" uses ``g_proportional_per_Gy``."""

    g_mmHg_per_Gy: float = G_CONSTANT_MMHG_PER_GY
    k_mmHg: float = 0.0
    tau_s: float = 1.0
    oer_max: float = 3.0
    oer_K_mmHg: float = 7.6
    law: str = "constant"
    g_proportional_per_Gy: float = G_PROPORTIONAL_PER_GY

    def __post_init__(self):
        for name in ("g_mmHg_per_Gy", "k_mmHg", "g_proportional_per_Gy"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be >= 0, got {v}")
        for name in ("tau_s", "oer_K_mmHg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be > 0, got {v}")
        if not self.oer_max >= 1.0:
            raise ValueError(f"oer_max must be >= 1, got {self.oer_max}")
        if self.law not in LAWS:
            raise ValueError(f"law must be one of {', '.join(LAWS)}, got {self.law!r}")
        if self.law == "proportional" and self.k_mmHg != 0.0:
            raise ValueError(f"k_mmHg applies to law 'constant' only; set k_mmHg: 0 for law 'proportional', "
                             f"got {self.k_mmHg}")

    def as_array(self):
        """(g, k, tau, m, K, law code, g'), the ``par`` of :func:`oxygen_voxels`."""
        return np.array([self.g_mmHg_per_Gy, self.k_mmHg, self.tau_s, self.oer_max, self.oer_K_mmHg,
                         float(LAWS[self.law]), self.g_proportional_per_Gy])


def radiosensitivity(p, m=3.0, K=7.6):
    """Alper & Howard-Flanders radiosensitivity relative to anoxia, (m p + K)/(p + K)."""
    p = np.asarray(p, float)
    return (m * p + K) / (p + K)


@jit_inline
def _S(p, m, K):
    return (m * p + K) / (p + K)


@jit
def _inv_lin(c, b, dt, tau):
    """int_0^dt ds / (c + b exp(-s/tau)), for c + b exp(-s/tau) > 0 on [0, dt]."""
    if abs(c) > 1e-9 * (abs(b) + 1.0):
        return (dt + tau * math.log1p(b * math.expm1(-dt / tau) / (c + b))) / c
    # c -> 0: int exp(s/tau)/b ds - c int exp(2s/tau)/b^2 ds
    e1 = math.expm1(dt / tau)
    e2 = math.expm1(2.0 * dt / tau)
    return tau * e1 / b - c * tau * e2 / (2.0 * b * b)


@jit
def _segment(p, R, dt, p0, g, k, tau, m, K):
    """Advance pO2 ``p`` through ``dt`` s at dose rate ``R``; returns (p_end, int S(p) dt, p_min)."""
    if dt <= 0.0:
        return p, 0.0, p
    if k == 0.0:
        # linear law: p(t) = p_ss + (p - p_ss) exp(-t/tau), capped at 0 (written with expm1 and
        # log1p: at high dose rates |p_ss| >> p)
        if tau > 0.0:
            p_ss = p0 - g * R * tau
            if p_ss >= 0.0:
                b = p - p_ss
                p_end = p + b * math.expm1(-dt / tau)
                integ = m * dt - (m - 1.0) * K * _inv_lin(p_ss + K, b, dt, tau)
                return p_end, integ, min(p, p_end)
            # p_ss < 0: p reaches 0 at t_z and stays there while the beam is on
            if p > 0.0:
                b = p - p_ss
                t_z = tau * math.log1p(p / (-p_ss))
            else:
                b = 0.0
                t_z = 0.0
            if t_z >= dt:
                p_end = p + b * math.expm1(-dt / tau)
                integ = m * dt - (m - 1.0) * K * _inv_lin(p_ss + K, b, dt, tau)
                return max(p_end, 0.0), integ, max(p_end, 0.0)
            integ = 0.0
            if t_z > 0.0:
                integ = m * t_z - (m - 1.0) * K * _inv_lin(p_ss + K, b, t_z, tau)
            integ += _S(0.0, m, K) * (dt - t_z)
            return 0.0, integ, 0.0
        # no re-oxygenation: p falls linearly to 0
        t_z = p / (g * R) if g * R > 0.0 else 1e300
        if t_z >= dt:
            p_end = p - g * R * dt
            # int S dt with p linear in t: int S dp / (g R)
            if g * R > 0.0:
                integ = (m * (p - p_end) - (m - 1.0) * K * math.log((p + K) / (p_end + K))) / (g * R)
            else:
                integ = _S(p, m, K) * dt
            return p_end, integ, p_end
        integ = (m * p - (m - 1.0) * K * math.log((p + K) / K)) / (g * R) if p > 0.0 else 0.0
        integ += _S(0.0, m, K) * (dt - t_z)
        return 0.0, integ, 0.0
    return _segment_mm(p, R, dt, p0, g, k, tau, m, K)


@jit_inline
def _rate_mm(p, R, p0, g, k, inv_tau):
    q = max(p, 0.0)
    return -g * R * q / (q + k) + (p0 - q) * inv_tau


@jit
def _segment_mm(p, R, dt, p0, g, k, tau, m, K):
    """Michaelis-Menten law (k > 0) through ``dt`` s at dose rate ``R``: (p, int S dt) integrated
    with the adaptive Dormand-Prince 5(4) pair (module docstring); returns (p_end, int S dt, p_min).
    p moves monotonically towards its steady state (one autonomous equation), so p_min is the
    smaller end point."""
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    atol_p = 1e-12 * (p0 + k + 1.0)
    lam = g * R / k + inv_tau  # bound on |d(dp/dt)/dp|
    h = min(dt, 0.05 / lam) if lam > 0.0 else dt
    t = 0.0
    integ = 0.0
    p_start = p
    f1 = _rate_mm(p, R, p0, g, k, inv_tau)
    while t < dt:
        h = min(h, dt - t)
        f2 = _rate_mm(p + h * (f1 / 5.0), R, p0, g, k, inv_tau)
        p3 = p + h * (3.0 / 40.0 * f1 + 9.0 / 40.0 * f2)
        f3 = _rate_mm(p3, R, p0, g, k, inv_tau)
        p4 = p + h * (44.0 / 45.0 * f1 - 56.0 / 15.0 * f2 + 32.0 / 9.0 * f3)
        f4 = _rate_mm(p4, R, p0, g, k, inv_tau)
        p5 = p + h * (19372.0 / 6561.0 * f1 - 25360.0 / 2187.0 * f2 + 64448.0 / 6561.0 * f3 - 212.0 / 729.0 * f4)
        f5 = _rate_mm(p5, R, p0, g, k, inv_tau)
        p6 = p + h * (9017.0 / 3168.0 * f1 - 355.0 / 33.0 * f2 + 46732.0 / 5247.0 * f3 + 49.0 / 176.0 * f4
                      - 5103.0 / 18656.0 * f5)
        f6 = _rate_mm(p6, R, p0, g, k, inv_tau)
        p_new = p + h * (35.0 / 384.0 * f1 + 500.0 / 1113.0 * f3 + 125.0 / 192.0 * f4 - 2187.0 / 6784.0 * f5
                         + 11.0 / 84.0 * f6)
        f7 = _rate_mm(p_new, R, p0, g, k, inv_tau)
        # the weight integral: stages S(p_i), the same tableau (stage 2 has weight 0)
        s1, s3, s4, s5, s6, s7 = (_S(p, m, K), _S(p3, m, K), _S(p4, m, K), _S(p5, m, K), _S(p6, m, K),
                                  _S(p_new, m, K))
        d_int = h * (35.0 / 384.0 * s1 + 500.0 / 1113.0 * s3 + 125.0 / 192.0 * s4 - 2187.0 / 6784.0 * s5
                     + 11.0 / 84.0 * s6)
        # embedded error estimate (5th minus 4th order weights)
        e1, e3, e4, e5, e6, e7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                                  22.0 / 525.0, -1.0 / 40.0)
        err_p = h * abs(e1 * f1 + e3 * f3 + e4 * f4 + e5 * f5 + e6 * f6 + e7 * f7)
        err_s = h * abs(e1 * s1 + e3 * s3 + e4 * s4 + e5 * s5 + e6 * s6 + e7 * s7)
        err = max(err_p / (atol_p + RK_RTOL * max(abs(p), abs(p_new))), err_s / (RK_RTOL * h))
        if err <= 1.0:
            t += h
            p = max(p_new, 0.0)
            integ += d_int
            f1 = f7 if p_new >= 0.0 else _rate_mm(p, R, p0, g, k, inv_tau)
        h *= min(5.0, max(0.2, 0.9 * (err + 1e-300) ** -0.2))
    return p, integ, min(p_start, p)


@jit
def _segment_prop(p, R, dt, p0, gp, tau, m, K):
    """Proportional law through ``dt`` s at dose rate ``R``: p relaxes exponentially with rate
    a = g' R + 1/tau to p_ss = p0/(tau a); returns (p_end, int S dt, p_min)."""
    if dt <= 0.0:
        return p, 0.0, p
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    a = gp * R + inv_tau
    if a <= 0.0:
        return p, _S(p, m, K) * dt, p
    p_ss = p0 * inv_tau / a
    b = p - p_ss
    p_end = p_ss + b * math.exp(-a * dt)
    integ = m * dt - (m - 1.0) * K * _inv_lin(p_ss + K, b, dt, 1.0 / a)
    return p_end, integ, min(p, p_end)


@jit
def _instantaneous(p, dq, g, k, m, K, law, gp, p0, tau):
    """Dose ``dq`` delivered at once: (p after it, int S dD). Constant law, k = 0: p falls by
    g dq, capped at 0; proportional law: p exp(-g' dq); both exact. k > 0: a 1e-12 s segment."""
    if law == 1:
        p_new = p * math.exp(-gp * dq)
        if gp > 0.0:
            return p_new, m * dq - (m - 1.0) * K * _inv_lin(K, p, dq, 1.0 / gp)
        return p, _S(p, m, K) * dq
    if k == 0.0:
        p_new = max(p - g * dq, 0.0)
        if g > 0.0 and p > 0.0:
            integ_d = (m * (p - p_new) - (m - 1.0) * K * math.log((p + K) / (p_new + K))) / g
            if p - g * dq < 0.0:
                integ_d += _S(0.0, m, K) * (dq - p / g)
        else:
            integ_d = _S(p, m, K) * dq
        return p_new, integ_d
    R = dq / 1e-12
    p_new, integ, _ = _segment(p, R, 1e-12, p0, g, k, tau, m, K)
    return p_new, R * integ


@jit
def oxygen_voxels(vptr, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, p0_vox, par, out_pmin, out_dflash, out_pend):
    """For every voxel j (entries ``vptr[j]:vptr[j+1]`` of ``spot``/``dose``, spots in delivery
    order): integrate the pO2 through its time-ordered beam segments and the gaps between them;
    write the minimum pO2, the FLASH-modified dose and the pO2 after its last segment.
    ``par`` = (g, k, tau, m, K[, law, g']) (:meth:`OxygenParams.as_array`; law 0 "constant" when absent)."""
    g, k, tau, m, K = par[0], par[1], par[2], par[3], par[4]
    law = int(par[5]) if par.shape[0] > 5 else 0
    gp = par[6] if par.shape[0] > 6 else 0.0
    for j in range(vptr.shape[0] - 1):
        p0 = p0_vox[j]
        p = p0
        pmin = p0
        s_ref = _S(p0, m, K)
        t_prev = -1e300
        d_fl = 0.0
        for e in range(vptr[j], vptr[j + 1]):
            s = spot[e]
            d = dose[e]
            for q in range(seg_ptr[s], seg_ptr[s + 1]):
                t0 = seg_t0[q]
                t1 = seg_t1[q]
                if t_prev > -1e299 and t0 > t_prev and tau > 0.0:
                    p = p0 - (p0 - p) * math.exp(-(t0 - t_prev) / tau)
                dt = t1 - t0
                dq = d * seg_frac[q]
                if dt <= 0.0:
                    p, integ_d = _instantaneous(p, dq, g, k, m, K, law, gp, p0, tau)
                    d_fl += integ_d / s_ref
                else:
                    R = dq / dt
                    if law == 1:
                        p, integ, pm = _segment_prop(p, R, dt, p0, gp, tau, m, K)
                    else:
                        p, integ, pm = _segment(p, R, dt, p0, g, k, tau, m, K)
                    d_fl += R * integ / s_ref
                pmin = min(pmin, p)
                if dt > 0.0 and pm < pmin:
                    pmin = pm
                t_prev = t1
        out_pmin[j] = pmin
        out_dflash[j] = d_fl
        out_pend[j] = p


def instantaneous_dmf(dose, p0, params=None):
    """DMF of a dose delivered instantaneously (the high-dose-rate limit) for the linear law
    (k = 0): p falls by g D' as the dose D' accrues, capped at zero;
    DMF = int_0^D S(p0 - g D') dD' / (D S(p0))."""
    par = params or OxygenParams()
    if par.law != "constant":
        raise ValueError(f"instantaneous_dmf: law 'constant' only, got {par.law!r}; use uniform_dmf")
    g, m, K = par.g_mmHg_per_Gy, par.oer_max, par.oer_K_mmHg
    D = np.asarray(dose, float)
    p0 = np.asarray(p0, float)
    D, p0 = np.broadcast_arrays(D, p0)
    p_end = np.maximum(p0 - g * D, 0.0)
    d_used = np.where(g > 0, (p0 - p_end) / max(g, 1e-300), D)
    integ = np.where(g > 0, (m * (p0 - p_end) - (m - 1) * K * np.log((p0 + K) / (p_end + K))) / max(g, 1e-300),
                     radiosensitivity(p0, m, K) * D)
    integ = integ + (D - d_used) * radiosensitivity(0.0, m, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = integ / (D * radiosensitivity(p0, m, K))
    return np.where(D > 0, out, 1.0)


def uniform_dmf(dose, dose_rate, p0, params=None, pulses=1, pulse_period_s=None):
    """DMF and minimum pO2 for ``dose`` [Gy] delivered at ``dose_rate`` [Gy/s] in ``pulses``
    equal pulses (one continuous irradiation by default; ``pulse_period_s`` between pulse
    starts) to tissue of baseline pO2 ``p0`` [mmHg]. Scalars or arrays (broadcast)."""
    par = params or OxygenParams()
    D, R, P0 = np.broadcast_arrays(np.asarray(dose, float), np.asarray(dose_rate, float), np.asarray(p0, float))
    shape = D.shape
    D, R, P0 = D.ravel(), R.ravel(), P0.ravel()
    n = D.size
    on = D / (R * pulses)  # beam-on time of each pulse
    period = on if pulse_period_s is None else np.full(n, float(pulse_period_s))
    if np.any(period < on * (1 - 1e-12)):
        raise ValueError("pulse_period_s is shorter than the pulse length dose/(dose_rate pulses)")
    # one "spot" per point, with its own pulse segments
    seg_ptr = np.arange(n + 1, dtype=np.int64) * pulses
    starts = (np.arange(pulses)[None, :] * period[:, None]).ravel()
    seg_t0 = starts
    seg_t1 = starts + np.repeat(on, pulses)
    seg_frac = np.full(n * pulses, 1.0 / pulses)
    vptr = np.arange(n + 1, dtype=np.int64)
    spot = np.arange(n, dtype=np.int64)
    pmin = np.empty(n)
    dfl = np.empty(n)
    pend = np.empty(n)
    oxygen_voxels(vptr, spot, D, seg_ptr, seg_t0, seg_t1, seg_frac, P0, par.as_array(), pmin, dfl, pend)
    with np.errstate(invalid="ignore", divide="ignore"):
        dmf = np.where(D > 0, dfl / D, 1.0)
    return dmf.reshape(shape), pmin.reshape(shape)


def fem_dose(dose, dose_rate, dose_threshold_Gy=4.0, dose_rate_threshold=FLASH_DOSE_RATE_GY_S, fmf=0.7):
    """Threshold FLASH effectiveness model (module docstring): the dose above
    ``dose_threshold_Gy`` of voxels at or above ``dose_rate_threshold`` [Gy/s] is multiplied by
    ``fmf``; returns the FLASH-modified dose [Gy]."""
    D = np.asarray(dose, float)
    R = np.asarray(dose_rate, float)
    flash = (R >= dose_rate_threshold) & (D > dose_threshold_Gy)
    return np.where(flash, dose_threshold_Gy + fmf * (D - dose_threshold_Gy), D)
