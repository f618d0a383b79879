"""HTML report of a dose comparison (:class:`mc.compare.Comparison`).

One self-contained HTML page, ``report.html``: every figure is embedded as a base64 PNG data URI
(RFC 2397), so the page needs no server and no other file; the same PNGs are written beside it.
Panels: axial, sagittal and coronal slices through the high-dose region of A (:func:`_centre`) with
the isodoses of A (solid)
and B (dashed) over the CT (``ct_folder``, resampled onto A's grid by trilinear interpolation) or
else over A's dose; the gamma map of the map criterion (global; >= max_gamma shown as the cap);
the cumulative DVHs of A and B per structure; the dose difference B - A (colour range: its 99.5th
percentile) and, with Monte Carlo standard deviations, the same where it exceeds two of them; a
table of the gamma pass
rates and DVH metrics; the inputs' identifiers (file, SOP Instance UID, FrameOfReferenceUID, date).
Isodose levels are percentages of the prescription dose (or of A's maximum without one).
Image orientation: axial slices show x to the right and y downwards (the usual radiological view of
an LPS grid: patient's right on the left of the image); sagittal y to the right, z up; coronal x to
the right, z up.
"""

import base64
import html
import io
import os

import numpy as np

#: Isodose levels [% of the prescription or of A's maximum].
ISODOSE_PERCENT = (20, 50, 80, 95, 107)
#: Panel names and their file names (in the report folder).
PANELS = {"slices": "slices.png", "gamma": "gamma.png", "dvh": "dvh.png", "difference": "difference.png",
          "beyond_2sd": "difference_beyond_2sd.png"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _centre(dose):
    """Voxel the slices pass through: the dose-weighted centroid of the voxels at >= 80 % of the
    dose's 99.5th percentile (robust to isolated hot voxels, e.g. Monte Carlo dose in air)."""
    d = np.nan_to_num(np.asarray(dose, float))
    top = np.percentile(d, 99.5)
    if top <= 0:
        return np.unravel_index(np.argmax(d), d.shape)
    w = np.where(d >= 0.8 * top, d, 0.0)
    idx = np.indices(d.shape).reshape(3, -1)
    c = (idx * w.ravel()).sum(axis=1) / w.sum()
    return tuple(int(round(v)) for v in c)


def _planes(shape, centre):
    """(name, index tuple, horizontal axis, vertical axis) of the three orthogonal planes through ``centre``."""
    i, j, k = centre
    return (("axial", (slice(None), slice(None), k), 0, 1),
            ("sagittal", (i, slice(None), slice(None)), 1, 2),
            ("coronal", (slice(None), j, slice(None)), 0, 2))


def _extent(axes, h, v):
    ah, av = axes[h], axes[v]
    return [ah[0], ah[-1], av[0], av[-1]]


def _show(ax, img, axes, h, v, plane, **kw):
    """Draw the 2D ``img`` (indexed [h, v]) with physical extents; axial images with y increasing downwards."""
    origin = "upper" if plane == "axial" else "lower"
    ext = _extent(axes, h, v)
    if origin == "upper":
        ext = [ext[0], ext[1], ext[3], ext[2]]
    return ax.imshow(img.T, origin=origin, extent=ext, aspect="equal", **kw)


def _slices_figure(comp, background, bg_label, levels_gy):
    plt = _pyplot()
    a, b = comp.reference.dose_gy, comp.evaluated_on_reference_gy
    axes = comp.reference.axes_mm()
    centre = _centre(a)
    fig, axs = plt.subplots(1, 3, figsize=(15, 5))
    for ax, (plane, idx, h, v) in zip(axs, _planes(a.shape, centre)):
        _show(ax, background[idx], axes, h, v, plane, cmap="gray")
        hh, vv = np.meshgrid(axes[h], axes[v], indexing="ij")
        for dose, style in ((a, "solid"), (np.nan_to_num(b, nan=0.0), "dashed")):
            if np.nanmax(dose[idx]) > min(levels_gy):
                ax.contour(hh, vv, dose[idx], levels=levels_gy, linestyles=style, cmap="jet", linewidths=1.2)
        ax.set_title(f"{plane} (A solid, B dashed) over {bg_label}")
        ax.set_xlabel("xyz"[h] + " [mm]")
        ax.set_ylabel("xyz"[v] + " [mm]")
    return _png(fig)


def _map_figure(comp, values, title, cmap, vmin, vmax, unit):
    plt = _pyplot()
    a = comp.reference.dose_gy
    axes = comp.reference.axes_mm()
    centre = _centre(a)
    fig, axs = plt.subplots(1, 3, figsize=(15, 5))
    for ax, (plane, idx, h, v) in zip(axs, _planes(a.shape, centre)):
        im = _show(ax, np.ma.masked_invalid(values[idx]), axes, h, v, plane, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(f"{title}: {plane}")
        ax.set_xlabel("xyz"[h] + " [mm]")
        ax.set_ylabel("xyz"[v] + " [mm]")
    fig.colorbar(im, ax=list(axs), shrink=0.8, label=unit)
    return _png(fig)


def _dvh_figure(comp):
    from .dose_volume import cumulative_dvh

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    top = float(np.nanmax([np.nanmax(comp.reference.dose_gy), np.nanmax(comp.evaluated_on_reference_gy)]))
    bins = np.linspace(0.0, 1.05 * top, 400)
    for n, (name, m) in enumerate(comp.masks.items()):
        color = f"C{n % 10}"
        ax.plot(bins, cumulative_dvh(comp.reference.dose_gy, m, bins), color=color, label=f"{name} A")
        ax.plot(bins, cumulative_dvh(comp.evaluated_on_reference_gy, m, bins), color=color, ls="--",
                label=f"{name} B")
    if not comp.masks:
        ax.text(0.5, 0.5, "no structures given", transform=ax.transAxes, ha="center")
    ax.set_xlabel("dose [Gy]")
    ax.set_ylabel("volume receiving >= dose [%]")
    ax.set_title("cumulative DVH (A solid, B dashed)")
    ax.grid(alpha=0.3)
    if comp.masks:
        ax.legend(fontsize=8)
    return _png(fig)


def _background(comp, ct_folder):
    if ct_folder is None:
        return comp.reference.dose_gy, "A's dose"
    from geometry.ct import read_ct_series

    from .dose_volume import resample_to
    from .errors import ConfigError

    try:
        ct = read_ct_series(ct_folder)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    axes_ct = tuple(ct.origin_mm[k] + ct.spacing_mm[k] * np.arange(ct.hu.shape[k]) for k in range(3))
    hu = resample_to(ct.hu, axes_ct, comp.reference.axes_mm())
    return np.nan_to_num(hu, nan=-1000.0), f"CT ({os.path.basename(os.path.normpath(str(ct_folder)))})"


def _fmt(v, digits=3):
    return "&ndash;" if v is None else f"{v:.{digits}f}"


def _tables(comp):
    rows = ["<h2>Gamma pass rates</h2>",
            (f"<p>A is the reference, B the evaluated distribution; low-dose cut-off {comp.cutoff_percent:g} % of "
            "A's maximum; pymedphys.gamma.</p>"),
            "<table id='gamma-table'><tr><th>criterion</th><th>global [%]</th><th>local [%]</th></tr>"]
    for label, rate in comp.gamma["global"].items():
        rows.append(f"<tr><td>{label}</td><td>{_fmt(rate, 2)}</td><td>{_fmt(comp.gamma['local'].get(label), 2)}"
                    "</td></tr>")
    rows.append("</table>")
    keys = ("D98_Gy", "D95_Gy", "D50_Gy", "D2_Gy", "Dmean_Gy", "V95_percent")
    rows += ["<h2>DVH metrics</h2>",
             (f"<p>Prescription for V95: {_fmt(comp.prescription_gy)} Gy ({html.escape(comp.prescription_source)})."
             " D<sub>x</sub>: minimum dose of the hottest x % of the volume (ICRU 83), no interpolation.</p>"),
             "<table id='dvh-table'><tr><th>structure</th><th>dose</th>"
             + "".join(f"<th>{k}</th>" for k in keys) + f"<th>gamma {comp.map_criterion} [%]</th></tr>"]
    for name, s in comp.structures.items():
        for which in ("A", "B"):
            m = s[which] or {}
            g = s["gamma_global"].get(comp.map_criterion) if which == "A" else None
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{which}</td>"
                        + "".join(f"<td>{_fmt(m.get(k))}</td>" for k in keys) + f"<td>{_fmt(g, 2)}</td></tr>")
    rows.append("</table>")
    return rows


def _identifiers(comp):
    rows = [("<h2>Inputs</h2><table id='inputs-table'><tr><th></th><th>file</th><th>kind</th>"
            "<th>SOP Instance UID</th><th>FrameOfReferenceUID</th><th>date</th><th>grid</th></tr>")]
    for role, d in (("A (reference)", comp.reference), ("B (evaluated)", comp.evaluated)):
        i = d.identifiers()
        grid = f"{i['shape']} voxels of {[round(v, 3) for v in i['spacing_mm']]} mm"
        rows.append(f"<tr><td>{role}</td>" + "".join(f"<td>{html.escape(str(i[k]))}</td>" for k in
                    ("file", "kind", "sop_instance_uid", "frame_of_reference_uid", "date")) + f"<td>{grid}</td></tr>")
    rows.append("</table>")
    rows += [f"<p class='note'>{html.escape(n)}</p>" for n in comp.notes]
    if comp.uncertainty is not None:
        rows.append(f"<p id='uncertainty'>Voxels above the cut-off whose |B - A| is within 2 combined MC standard "
                    f"deviations: {comp.uncertainty['within_2sd_percent']:.2f} % (from "
                    f"{html.escape(', '.join(comp.uncertainty['sources']))}).</p>")
    return rows


def render_figures(comp, ct_folder=None):
    """The report's PNGs: panel name -> PNG bytes (see PANELS)."""
    diff_pct = 100.0 * comp.difference_gy / float(np.nanmax(comp.reference.dose_gy))
    # colour range: the 99.5th percentile of |B - A| (isolated hot voxels would wash the map out)
    finite = np.abs(diff_pct[np.isfinite(diff_pct)])
    lim = max(float(np.percentile(finite, 99.5)) if finite.size else 0.0, 1e-6)
    gamma = comp.gamma_maps[comp.map_criterion]
    background, bg_label = _background(comp, ct_folder)
    norm = comp.prescription_gy or float(np.nanmax(comp.reference.dose_gy))
    levels = [p / 100.0 * norm for p in ISODOSE_PERCENT]
    figures = {"slices": _slices_figure(comp, background, bg_label, levels),
               "gamma": _map_figure(comp, gamma, f"gamma {comp.map_criterion} (global)", "RdYlGn_r", 0.0,
                                    max(2.0, float(np.nanmax(gamma)) if np.isfinite(gamma).any() else 2.0), "gamma"),
               "dvh": _dvh_figure(comp),
               "difference": _map_figure(comp, diff_pct, "B - A", "RdBu_r", -lim, lim, "% of A's maximum")}
    if comp.uncertainty is not None:  # only the voxels above the cut-off beyond 2 combined s.d.
        beyond = np.where(comp.uncertainty["beyond_2sd_mask"], diff_pct, np.nan)
        figures["beyond_2sd"] = _map_figure(comp, beyond, "B - A beyond 2 s.d.", "RdBu_r", -lim, lim,
                                            "% of A's maximum")
    return figures


def report_html(comp, figures):
    """The report page as text, with ``figures`` (panel -> PNG bytes) embedded as base64 data URIs."""
    a, b = os.path.basename(comp.reference.path), os.path.basename(comp.evaluated.path)
    titles = {"slices": "Isodoses (levels " + ", ".join(f"{p} %" for p in ISODOSE_PERCENT) + " of "
              + ("the prescription" if comp.prescription_gy else "A's maximum") + ")",
              "gamma": f"Gamma map {comp.map_criterion} (global, cut-off {comp.cutoff_percent:g} %)",
              "dvh": "DVH overlay", "difference": "Dose difference B - A",
              "beyond_2sd": "Dose difference B - A where it exceeds 2 combined Monte Carlo standard deviations "
                            "(voxels above the cut-off; the others are blank)"}
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>Dose comparison: {html.escape(b)} vs {html.escape(a)}</title>",
             ("<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:3px 7px;text-align:right}img{max-width:100%}"
             ".note{color:#555}</style></head><body>"),
             f"<h1>Dose comparison: B = {html.escape(b)} evaluated against A = {html.escape(a)}</h1>"]
    parts += _identifiers(comp)
    parts += _tables(comp)
    for name, png in figures.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>{html.escape(titles[name])}</h2><img id='panel-{name}' alt='{name}' "
                     f"src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(comp, folder, ct_folder=None):
    """Write ``report.html`` and the panels' PNGs into ``folder`` (created); returns the HTML path."""
    os.makedirs(folder, exist_ok=True)
    figures = render_figures(comp, ct_folder)
    for name, png in figures.items():
        with open(os.path.join(folder, PANELS[name]), "wb") as f:
            f.write(png)
    path = os.path.join(folder, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(report_html(comp, figures))
    return path
