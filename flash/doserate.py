"""Dose-rate metrics per voxel from per-spot doses and the delivery timeline, and dose-rate
volume histograms.

Input per voxel: the doses d_s [Gy] it receives from spots s (in delivery order) and, from
:mod:`flash.timing`, each spot's beam-on segments [t0, t1] [s] with the fractions of its protons;
within a segment the dose accrues linearly in time. Definitions:

* **average dose rate** (ADR): D / (t_end - t_start), the voxel's dose over its irradiation
  time, from the start of the first to the end of the last segment that delivers dose to it
  (one of the five definitions compared by Deffet et al. 2023, arXiv:2303.02056, "Definition
  of dose rate for FLASH pencil-beam scanning proton therapy: a comparative study").
* **PBS dose rate** (Folkerts et al. 2020, Med. Phys., doi:10.1002/mp.14456, "A framework for
  defining FLASH dose rate for pencil beam scanning"): (D - 2 d*) / (t1 - t0), where t0 is the
  time the voxel's cumulative dose passes the dose threshold d* [Gy] and t1 the time it reaches
  D - d*; zero where D <= 2 d*. We could not check the paper's own equation and threshold
  values here: this is the form as it is used in the literature that compares dose-rate
  definitions, with d* a user parameter.
* **percentile dose rate** (Deffet et al. 2023): the same with a relative threshold,
  (1 - 2p) D / (t_(1-p) - t_p), the rate at which the central (1 - 2p) of the dose is delivered;
  p = 0.01 (98 %) by default. The openFLASH implementation of the same group rounds t_p and
  t_(1-p) to whole spots; here they are interpolated within segments.
* **dose-averaged dose rate** (DADR; van de Water et al. 2019, Acta Oncol. 58:1463):
  sum_s d_s Ddot_s / sum_s d_s with Ddot_s = d_s / tau_s, tau_s the delivery time of spot s
  (its dwell for a quasi-continuous beam; from its first pulse to the end of its last one for
  a pulsed beam).

The threshold-based rates are computed in continuous time (the crossing times are interpolated
within segments), not rounded to whole spots.
"""

import numpy as np

from mc.jit import jit


@jit
def _crossing(vptr_lo, vptr_hi, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, level):
    """Time at which the cumulative dose of one voxel reaches ``level`` [Gy]."""
    cum = 0.0
    for e in range(vptr_lo, vptr_hi):
        s = spot[e]
        d = dose[e]
        for q in range(seg_ptr[s], seg_ptr[s + 1]):
            dq = d * seg_frac[q]
            if cum + dq >= level and dq > 0.0:
                return seg_t0[q] + (level - cum) / dq * (seg_t1[q] - seg_t0[q])
            cum += dq
    return seg_t1[seg_ptr[spot[vptr_hi - 1] + 1] - 1]


@jit
def dose_rate_voxels(vptr, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, spot_time, d_star, pct,
                     out_dose, out_adr, out_pbs, out_pct, out_dadr, out_time):
    """Fill, per voxel j: total dose, ADR, PBS dose rate (threshold ``d_star`` Gy), percentile
    dose rate (``pct``), DADR [Gy/s] and irradiation time [s] (module docstring)."""
    for j in range(vptr.shape[0] - 1):
        lo = vptr[j]
        hi = vptr[j + 1]
        D = 0.0
        dadr = 0.0
        t_a = 1e300
        t_b = -1e300
        for e in range(lo, hi):
            s = spot[e]
            d = dose[e]
            D += d
            if spot_time[s] > 0.0:
                dadr += d * d / spot_time[s]
            a = seg_t0[seg_ptr[s]]
            b = seg_t1[seg_ptr[s + 1] - 1]
            if a < t_a:
                t_a = a
            if b > t_b:
                t_b = b
        out_dose[j] = D
        if hi == lo or D <= 0.0:
            out_adr[j] = 0.0
            out_pbs[j] = 0.0
            out_pct[j] = 0.0
            out_dadr[j] = 0.0
            out_time[j] = 0.0
            continue
        out_time[j] = t_b - t_a
        out_adr[j] = D / (t_b - t_a) if t_b > t_a else 0.0
        out_dadr[j] = dadr / D
        if D > 2.0 * d_star:
            t0 = _crossing(lo, hi, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, d_star)
            t1 = _crossing(lo, hi, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, D - d_star)
            out_pbs[j] = (D - 2.0 * d_star) / (t1 - t0) if t1 > t0 else 0.0
        else:
            out_pbs[j] = 0.0
        t0 = _crossing(lo, hi, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, pct * D)
        t1 = _crossing(lo, hi, spot, dose, seg_ptr, seg_t0, seg_t1, seg_frac, (1.0 - pct) * D)
        out_pct[j] = (1.0 - 2.0 * pct) * D / (t1 - t0) if t1 > t0 else 0.0


def voxel_table(spot_dose_map, delivery):
    """Per-voxel spot lists in delivery order from a :class:`mc.spot_dose.SpotDoseMap`:
    (voxels, vptr, spot, dose)."""
    m = spot_dose_map
    spot = np.repeat(np.arange(m.n_spots), np.diff(m.ptr))
    rank = delivery.rank
    order = np.lexsort((rank[spot], m.voxel))
    v = m.voxel[order]
    voxels, start = np.unique(v, return_index=True)
    vptr = np.append(start, v.size).astype(np.int64)
    return voxels, vptr, spot[order].astype(np.int64), m.dose[order]


def dose_rates(vptr, spot, dose, delivery, d_star_Gy=0.01, percentile=0.01):
    """All metrics for voxels given as CSR spot lists (see :func:`voxel_table`); returns a dict
    of arrays: dose [Gy], adr, pbs, percentile, dadr [Gy/s], irradiation_time [s]."""
    n = vptr.size - 1
    out = {k: np.zeros(n) for k in ("dose", "adr", "pbs", "percentile", "dadr", "irradiation_time")}
    if not (0.0 <= percentile < 0.5):
        raise ValueError("percentile must be in [0, 0.5)")
    dose_rate_voxels(vptr, spot, np.asarray(dose, float), delivery.seg_ptr, delivery.seg_t0, delivery.seg_t1,
                     delivery.seg_frac, delivery.spot_end_s - delivery.spot_start_s, float(d_star_Gy), float(percentile),
                     out["dose"], out["adr"], out["pbs"], out["percentile"], out["dadr"], out["irradiation_time"])
    return out


def drvh(dose_rate, dose=None, rates=None):
    """Dose-rate volume histogram: for each rate r in ``rates`` [Gy/s] the fraction of the
    voxels (and, with ``dose`` given, of the dose) at a dose rate >= r. Returns (rates,
    volume_fraction, dose_fraction or None)."""
    dr = np.asarray(dose_rate, float).ravel()
    if rates is None:
        rates = np.logspace(-2, 4, 121)
    rates = np.asarray(rates, float)
    if dr.size == 0:
        return rates, np.zeros(rates.size), None if dose is None else np.zeros(rates.size)
    vol = (dr[None, :] >= rates[:, None]).mean(axis=1)
    dfrac = None
    if dose is not None:
        d = np.asarray(dose, float).ravel()
        tot = d.sum()
        dfrac = ((dr[None, :] >= rates[:, None]) * d[None, :]).sum(axis=1) / tot if tot > 0 else np.zeros(rates.size)
    return rates, vol, dfrac
