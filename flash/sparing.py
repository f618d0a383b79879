"""FLASH sparing curves: the dose-modifying factor DMF (= D_equivalent-conventional / D;
1 = no sparing, < 1 = sparing) of a uniform delivery versus dose rate and versus dose, for
several doses and tissue oxygen levels, from the oxygen-depletion model
(:mod:`flash.oxygen`) and the threshold FLASH effectiveness model.

A point (D, Ddot, p0) is the dose D [Gy] delivered at the constant dose rate Ddot [Gy/s] in one
continuous irradiation of D/Ddot seconds (or in equal pulses) to tissue at baseline pO2 p0
[mmHg]. CSV columns: ``curve`` (dose_rate or dose), ``model`` (oxygen or fem), ``dose_Gy``,
``dose_rate_Gy_per_s``, ``pO2_mmHg``, ``tissue``, ``dmf``, ``pO2_min_mmHg``.
"""

import csv
import os

import numpy as np

from mc.output import save_figure

from .oxygen import FLASH_DOSE_RATE_GY_S, OxygenParams, fem_dose, uniform_dmf

CSV_COLUMNS = ("curve", "model", "dose_Gy", "dose_rate_Gy_per_s", "pO2_mmHg", "tissue", "dmf", "pO2_min_mmHg")


def fem_dmf(dose, dose_rate, dose_threshold_Gy=4.0, dose_rate_threshold=FLASH_DOSE_RATE_GY_S, fmf=0.7):
    """DMF of the threshold FLASH effectiveness model (:func:`flash.oxygen.fem_dose` / dose)."""
    D = np.asarray(dose, float)
    return fem_dose(D, dose_rate, dose_threshold_Gy, dose_rate_threshold, fmf) / D


def curve_rows(doses, rates, tissues, params=None, curve="dose_rate", fem=None, pulses=1, pulse_period_s=None):
    """Rows (dicts with :data:`CSV_COLUMNS`) for every combination of ``doses`` [Gy],
    ``rates`` [Gy/s] and ``tissues`` (a list of (name, pO2 mmHg)). ``fem``: keyword arguments
    of :func:`fem_dmf`, or None to leave the FEM rows out."""
    par = params or OxygenParams()
    rows = []
    D, R = np.meshgrid(np.asarray(doses, float), np.asarray(rates, float), indexing="ij")
    for name, p0 in tissues:
        dmf, pmin = uniform_dmf(D, R, p0, par, pulses=pulses, pulse_period_s=pulse_period_s)
        for i in range(D.shape[0]):
            for j in range(D.shape[1]):
                rows.append({"curve": curve, "model": "oxygen", "dose_Gy": D[i, j], "dose_rate_Gy_per_s": R[i, j],
                             "pO2_mmHg": p0, "tissue": name, "dmf": dmf[i, j], "pO2_min_mmHg": pmin[i, j]})
    if fem is not None:
        f = fem_dmf(D, R, **fem)
        for i in range(D.shape[0]):
            for j in range(D.shape[1]):
                rows.append({"curve": curve, "model": "fem", "dose_Gy": D[i, j], "dose_rate_Gy_per_s": R[i, j],
                             "pO2_mmHg": float("nan"), "tissue": "", "dmf": f[i, j], "pO2_min_mmHg": float("nan")})
    return rows


def write_csv(path, rows):
    """Write rows atomically (temporary file, then rename)."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, path)
    return path


def plot_curves(path_png, rows, title=None):
    """Two panels: DMF versus dose rate (log) for each dose and tissue, and DMF versus dose."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # legends below their panels, outside the axes (up to 16 entries each): constrained layout
    # keeps the axes, the legends and the titles apart
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 7.5), layout="constrained")
    styles = ["-", "--", ":", "-."]
    for ax, curve, xkey, other, xlabel in ((a1, "dose_rate", "dose_rate_Gy_per_s", "dose_Gy", "dose rate (Gy/s)"),
                                           (a2, "dose", "dose_Gy", "dose_rate_Gy_per_s", "dose (Gy)")):
        sel = [r for r in rows if r["curve"] == curve]
        tissues = list(dict.fromkeys((r["tissue"], r["pO2_mmHg"]) for r in sel if r["model"] == "oxygen"))
        others = sorted({r[other] for r in sel})
        for ti, (tname, p0) in enumerate(tissues):
            for oi, ov in enumerate(others):
                pts = sorted((r[xkey], r["dmf"]) for r in sel
                             if r["model"] == "oxygen" and r["tissue"] == tname and r[other] == ov)
                if not pts:
                    continue
                x, y = zip(*pts)
                lab = f"{tname} ({p0:g} mmHg), " + (f"{ov:g} Gy" if other == "dose_Gy" else f"{ov:g} Gy/s")
                ax.plot(x, y, color=f"C{oi}", ls=styles[ti % len(styles)], label=lab)
        for oi, ov in enumerate(others):
            pts = sorted((r[xkey], r["dmf"]) for r in sel if r["model"] == "fem" and r[other] == ov)
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, color=f"C{oi}", ls="-", lw=0.8, alpha=0.5, marker=".", ms=3,
                        label=("FEM, " + (f"{ov:g} Gy" if other == "dose_Gy" else f"{ov:g} Gy/s")))
        if curve == "dose_rate":
            ax.set_xscale("log")
            ax.axvline(FLASH_DOSE_RATE_GY_S, color="k", ls=":", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("dose-modifying factor DMF = D_conventional-equivalent / D")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    a1.set_title("sparing versus dose rate")
    a2.set_title("sparing versus dose")
    fig.suptitle(title or "flashmc FLASH sparing curves (oxygen depletion model; FEM: threshold model)")
    return save_figure(fig, path_png)
