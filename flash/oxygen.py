"""Radiolytic oxygen depletion under a voxel's dose-rate history, oxygen-dependent
radiosensitivity, the FLASH-modified dose, and a threshold FLASH effectiveness model.

Units: pO2 in mmHg, dose in Gy, dose rate in Gy/s, time in s.

**Oxygen kinetics** (one well-mixed compartment per voxel, after the reaction-diffusion models
of Pratx & Kapp 2019, Phys. Med. Biol. 64:185005, and Petersson et al. 2020, Int. J. Radiat.
Oncol. Biol. Phys. 107:539, reduced to a re-oxygenation time constant):

    dp/dt = -g Ddot(t) p/(p + k) + (p0 - p)/tau,

radiolytic consumption proportional to the dose rate, Michaelis-Menten-like in pO2 with
half-saturation k (k = 0: the linear law, consumption independent of pO2 until the oxygen is
gone, pO2 capped at zero), and re-oxygenation from the vasculature towards the tissue's
baseline p0 with time constant tau (> 0). Defaults: g = 0.39 mmHg/Gy and tau = 1 s, the values
of the model of Petersson et al. (2020) (depletion 5.18e-4 atm O2 per Gy = 0.39 mmHg/Gy,
recovery rate 1/s). Measurements are lower: Jansen et al. (2021, Med. Phys. 48:3172) found
0.04-0.25 % atm per 10 Gy for 224 MeV protons in sealed water (0.03-0.19 mmHg/Gy), and 0.17-0.18
mmHg/Gy have been reported for scanned protons in saline, so g is the parameter to vary
first. k = 0 by default: the depletion g-values fall at low oxygen (< 25 uM; El Khatib et al.
2022) but no half-saturation constant for radiolytic consumption could be verified.

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

#: FLASH dose-rate threshold [Gy/s]: the >= 40 Gy/s commonly taken as the onset of the FLASH
#: effect and used in the first clinical proton FLASH trial (Mascia et al. 2023, JAMA Oncol.
#: 9:62, FAST-01).
FLASH_DOSE_RATE_GY_S = 40.0


@dataclass
class OxygenParams:
    """Oxygen-depletion and radiosensitivity parameters (module docstring)."""

    g_mmHg_per_Gy: float = 0.39
    k_mmHg: float = 0.0
    tau_s: float = 1.0
    oer_max: float = 3.0
    oer_K_mmHg: float = 7.6

    def __post_init__(self):
        for name in ("g_mmHg_per_Gy", "k_mmHg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be >= 0, got {v}")
        for name in ("tau_s", "oer_K_mmHg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be > 0, got {v}")
        if not self.oer_max >= 1.0:
            raise ValueError(f"oer_max must be >= 1, got {self.oer_max}")

    def as_array(self):
        return np.array([self.g_mmHg_per_Gy, self.k_mmHg, self.tau_s, self.oer_max, self.oer_K_mmHg])


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
        return (dt + tau * math.log((c + b * math.exp(-dt / tau)) / (c + b))) / c
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
        # linear law: p(t) = p_ss + (p - p_ss) exp(-t/tau), capped at 0
        if tau > 0.0:
            p_ss = p0 - g * R * tau
            if p_ss >= 0.0:
                b = p - p_ss
                e = math.exp(-dt / tau)
                p_end = p_ss + b * e
                integ = m * dt - (m - 1.0) * K * _inv_lin(p_ss + K, b, dt, tau)
                return p_end, integ, min(p, p_end)
            # p_ss < 0: p reaches 0 at t_z and stays there while the beam is on
            if p > 0.0:
                b = p - p_ss
                t_z = tau * math.log(b / (-p_ss))
            else:
                b = 0.0
                t_z = 0.0
            if t_z >= dt:
                p_end = p_ss + b * math.exp(-dt / tau)
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
    # Michaelis-Menten law: RK4 sub-steps, trapezoidal weight integral
    scale = g * R * dt / (k + 0.05 * (p + k) + 1e-12)
    # sub-steps: resolve the depletion and keep the explicit RK4 step below tau (stability)
    n = int(min(1e6, max(8.0, 4.0 * scale, (4.0 * dt / tau) if tau > 0 else 0.0)))
    h = dt / n
    integ = 0.0
    pm = p
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    for _ in range(n):
        s0 = _S(p, m, K)
        k1 = -g * R * p / (p + k) + (p0 - p) * inv_tau
        q = max(p + 0.5 * h * k1, 0.0)
        k2 = -g * R * q / (q + k) + (p0 - q) * inv_tau
        q = max(p + 0.5 * h * k2, 0.0)
        k3 = -g * R * q / (q + k) + (p0 - q) * inv_tau
        q = max(p + h * k3, 0.0)
        k4 = -g * R * q / (q + k) + (p0 - q) * inv_tau
        p = max(p + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0, 0.0)
        integ += 0.5 * h * (s0 + _S(p, m, K))
        if p < pm:
            pm = p
    return p, integ, pm


@jit
def oxygen_voxels(vptr, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, p0_vox, par, out_pmin, out_dflash, out_pend):
    """For every voxel j (entries ``vptr[j]:vptr[j+1]`` of ``spot``/``dose``, spots in delivery
    order): integrate the pO2 through its time-ordered beam segments and the gaps between them;
    write the minimum pO2, the FLASH-modified dose and the pO2 after its last segment.
    ``par`` = (g, k, tau, m, K) (:class:`OxygenParams`)."""
    g, k, tau, m, K = par[0], par[1], par[2], par[3], par[4]
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
                    # instantaneous: dp/dD = -g p/(p + k); exact for k = 0
                    if k == 0.0:
                        p_new = max(p - g * dq, 0.0)
                        if g > 0.0 and p > 0.0:
                            integ_d = (m * (p - p_new) - (m - 1.0) * K * math.log((p + K) / (p_new + K))) / g
                            if p - g * dq < 0.0:
                                integ_d += _S(0.0, m, K) * (dq - p / g)
                        else:
                            integ_d = _S(p, m, K) * dq
                        d_fl += integ_d / s_ref
                        p = p_new
                    else:
                        R = dq / 1e-12
                        p, integ, pm = _segment(p, R, 1e-12, p0, g, k, tau, m, K)
                        d_fl += R * integ / s_ref
                else:
                    R = dq / dt
                    p, integ, pm = _segment(p, R, dt, p0, g, k, tau, m, K)
                    d_fl += R * integ / s_ref
                if p < pmin:
                    pmin = p
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
