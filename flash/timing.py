"""Beam time structure: a delivery model that turns spots into beam-on time segments.

Units: time in s, beam current in nA, positions in mm, speeds in mm/ms (= m/s).

Pencil-beam scanning is delivered spot by spot ("step and shoot"): the beam is off while the
magnets move from one spot to the next, and while the energy changes between layers. The model
(the same components as the delivery-time models of, e.g., Zhao et al. 2022, Radiat. Oncol.
17:87: energy-layer switching, spot switching, spot spill):

* **spot dwell** (beam-on time of spot k): N_k e / I for N_k protons at nozzle current I,
  at least ``min_spot_time_s``;
* **spot switching** within a layer: max(|dx|/v_x, |dy|/v_y) for scanning speeds v_x, v_y
  (the two magnets move independently);
* **energy-layer switching**: ``layer_switch_down_s`` to a lower energy,
  ``layer_switch_up_s`` to a higher one;
* **spot order**: as given, or serpentine within each layer (rows of equal y, alternate rows
  reversed in x); layers in descending energy (``layer_order: descending``) or in the order
  of their first spot (``as_given``); spots are always grouped by layer;
* **accelerator time structure**:
  - ``cyclotron`` (isochronous): RF bunches at tens of MHz, quasi-continuous on the
    microsecond-to-second scales that matter for oxygen depletion: one segment per spot;
  - ``synchrocyclotron``: pulses of ``pulse_length_s`` every 1/``repetition_rate_Hz``; the
    average current I delivers I/f per pulse; a spot starts with the first pulse after its
    magnets settle and takes as many pulses as its charge needs (the last one partial);
  - ``linac``: the same pulse train (pulses of ~2 µs, the pulses that FLASH beam monitors
    track individually), optionally grouped into trains of ``pulses_per_train`` pulses every
    ``train_period_s``; the RF bunch structure within a pulse (ns) is not resolved.
  For pulsed machines ``beam_current_nA`` is the average current of the pulse train while it
  runs: each pulse carries I / f (within a train, for trains).

Defaults (each configurable): scanning speed 8 mm/ms, layer switching 0.6 s down and 6 s up,
minimum spot time 250 µs (the values of the IBA delivery-time model in the OpenTPS treatment
planning system and of openFLASH, Deffet et al. 2023); synchrocyclotron repetition 1 kHz (IBA
S2C2, same source) and pulse length 10 µs (within the 1-20 µs reported for Mevion
synchrocyclotron pulses); linac pulses 2 µs, and 200 Hz as a typical repetition rate (set the
machine's own). The nozzle current has no default that fits every
machine: conventional PBS runs at a few nA, FLASH-capable cyclotron nozzles at tens to
hundreds of nA (40-500 nA in published ultra-high-dose-rate PBS studies); the FLASH default
here is 200 nA.
"""

from dataclasses import dataclass

import numpy as np

from physics.constants import ELEMENTARY_CHARGE_C

ACCELERATORS = ("cyclotron", "synchrocyclotron", "linac")


@dataclass
class DeliveryParams:
    """Machine and delivery parameters (module docstring for meanings, units and sources)."""

    accelerator: str = "cyclotron"
    beam_current_nA: float = 200.0
    scan_speed_mm_per_ms: tuple = (8.0, 8.0)
    layer_switch_down_s: float = 0.6
    layer_switch_up_s: float = 6.0
    min_spot_time_s: float = 250e-6
    spot_order: str = "serpentine"
    layer_order: str = "descending"
    pulse_length_s: float = 10e-6
    repetition_rate_Hz: float = 1000.0
    pulses_per_train: int = 0
    train_period_s: float = 0.0

    def __post_init__(self):
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"accelerator must be one of {ACCELERATORS}, got {self.accelerator!r}")
        if self.beam_current_nA <= 0:
            raise ValueError("beam_current_nA must be positive")
        if self.accelerator != "cyclotron" and self.pulse_length_s * self.repetition_rate_Hz > 1.0:
            raise ValueError("pulse_length_s x repetition_rate_Hz exceeds 1: pulses would overlap")
        if self.pulses_per_train > 0 and self.train_period_s < self.pulses_per_train / self.repetition_rate_Hz:
            raise ValueError("train_period_s is shorter than pulses_per_train / repetition_rate_Hz: trains would overlap")


@dataclass
class Delivery:
    """Delivery timeline. Spot k (original index) is delivered as segments
    ``seg_ptr[k]:seg_ptr[k+1]`` with beam-on intervals [seg_t0, seg_t1] [s] carrying the
    fractions ``seg_frac`` of its protons; ``order`` lists the spots in delivery order;
    ``spot_start_s``/``spot_end_s`` bound each spot's segments; ``beam_on_s`` is each spot's
    total beam-on time."""

    order: np.ndarray
    spot_start_s: np.ndarray
    spot_end_s: np.ndarray
    beam_on_s: np.ndarray
    seg_ptr: np.ndarray
    seg_t0: np.ndarray
    seg_t1: np.ndarray
    seg_frac: np.ndarray

    @property
    def total_time_s(self):
        return float(self.spot_end_s.max() - self.spot_start_s.min()) if self.order.size else 0.0

    @property
    def rank(self):
        """Delivery rank of each spot (inverse of ``order``)."""
        r = np.empty_like(self.order)
        r[self.order] = np.arange(self.order.size)
        return r


def layer_energies(energy_MeV):
    """Energies rounded to 1 keV: spots with equal rounded energy form one layer."""
    return np.round(np.asarray(energy_MeV, float), 3)


def delivery_order(xy_mm, energy_MeV, spot_order="serpentine", layer_order="descending", row_tol_mm=0.5):
    """Spot indices in delivery order: layers (equal energies to 1 keV) in descending energy or
    as first given; within a layer as given or serpentine (rows of equal y within
    ``row_tol_mm``, x increasing on even rows and decreasing on odd ones)."""
    e = layer_energies(energy_MeV)
    xy = np.asarray(xy_mm, float)
    _, first = np.unique(e, return_index=True)
    layers = e[np.sort(first)]  # in order of first appearance
    if layer_order == "descending":
        layers = np.sort(layers)[::-1]
    elif layer_order != "as_given":
        raise ValueError(f"layer_order must be 'descending' or 'as_given', got {layer_order!r}")
    out = []
    for le in layers:
        idx = np.nonzero(e == le)[0]
        if spot_order == "serpentine":
            # rows: sorted y values split where consecutive ones differ by more than row_tol_mm
            ys = np.sort(xy[idx, 1])
            cuts = ys[1:][np.diff(ys) > row_tol_mm]
            row = np.searchsorted(cuts, xy[idx, 1], side="right")
            rows = np.unique(row)
            for r_i, r in enumerate(rows):
                sel = idx[row == r]
                sel = sel[np.argsort(xy[sel, 0], kind="stable")]
                out.extend(sel[::-1] if r_i % 2 else sel)
        elif spot_order == "as_given":
            out.extend(idx)
        else:
            raise ValueError(f"spot_order must be 'serpentine' or 'as_given', got {spot_order!r}")
    return np.asarray(out, np.int64)


def deliver(xy_mm, energy_MeV, protons, params=None, start_s=0.0):
    """Delivery timeline (:class:`Delivery`) of spots at transverse positions ``xy_mm`` (n, 2)
    with energies [MeV] and proton numbers, for the machine ``params``
    (:class:`DeliveryParams`)."""
    p = params or DeliveryParams()
    xy = np.asarray(xy_mm, float).reshape(-1, 2)
    energy = layer_energies(energy_MeV)
    n_p = np.asarray(protons, float)
    n = n_p.size
    order = delivery_order(xy, energy, p.spot_order, p.layer_order)
    current_A = p.beam_current_nA * 1e-9
    vx, vy = (float(v) for v in p.scan_speed_mm_per_ms)
    start = np.zeros(n)
    end = np.zeros(n)
    on = np.zeros(n)
    segs = [[] for _ in range(n)]
    t = float(start_s)
    prev = None
    period = 1.0 / p.repetition_rate_Hz if p.accelerator != "cyclotron" else 0.0
    for k in order:
        if prev is not None:
            if energy[k] != energy[prev]:
                t += p.layer_switch_down_s if energy[k] < energy[prev] else p.layer_switch_up_s
            else:
                dx, dy = np.abs(xy[k] - xy[prev])
                t += max(dx / vx, dy / vy) * 1e-3  # mm / (mm/ms) -> ms -> s
        dwell = n_p[k] * ELEMENTARY_CHARGE_C / current_A
        if p.accelerator == "cyclotron":
            dwell = max(dwell, p.min_spot_time_s)
            segs[k].append((t, t + dwell, 1.0))
            start[k], end[k], on[k] = t, t + dwell, dwell
            t += dwell
        elif n_p[k] <= 0.0:
            # a spot of zero weight (e.g. a layer the SOBP fit left empty) takes no pulse
            start[k], end[k], on[k] = t, t, 0.0
        else:
            # pulses at times i * period (+ train gating); per-pulse charge I * period
            per_pulse = current_A * period / ELEMENTARY_CHARGE_C  # protons per pulse
            need = n_p[k] / per_pulse  # pulses, the last one partial
            if p.pulses_per_train > 0 and p.train_period_s > 0:
                i = int(np.floor(t / p.train_period_s)) * p.pulses_per_train  # first pulse of the current train
            else:
                i = int(np.ceil(t / period - 1e-12))
            got = 0.0
            first = None
            while got < need - 1e-12:
                if p.pulses_per_train > 0 and p.train_period_s > 0:
                    # pulse i belongs to train i // pulses_per_train starting at train starts
                    tr, j = divmod(i, p.pulses_per_train)
                    tp = tr * p.train_period_s + j * period
                else:
                    tp = i * period
                if tp + 1e-15 < t:
                    i += 1
                    continue
                f = min(1.0, need - got)
                seg_len = p.pulse_length_s * f
                segs[k].append((tp, tp + seg_len, f / need))
                if first is None:
                    first = tp
                got += f
                i += 1
            start[k] = first
            end[k] = segs[k][-1][1]
            on[k] = sum(b - a for a, b, _ in segs[k])
            t = end[k]
        prev = k
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum([len(s) for s in segs])
    flat = [s for k in range(n) for s in segs[k]]
    arr = np.array(flat, float).reshape(-1, 3)
    return Delivery(order, start, end, on, ptr, arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy())
