"""FLASH analysis of a Monte Carlo run with per-spot doses: delivery timeline, per-voxel dose
rates, oxygen depletion and FLASH-modified dose under the FLASH delivery and, for comparison,
the same plan at a conventional nozzle current; DVH and dose-rate volume histogram of a
structure (a material).

Units: Gy, Gy/s, s, mmHg. The per-spot doses below the storage threshold
(``flash.spot_dose_threshold``) are not time-resolved: they enter the maps of dose and of
FLASH-modified dose unmodified (DMF = 1) and no dose rate.
"""

from dataclasses import dataclass, field

import numpy as np

from mc.output import save_figure
from physics.tissue import TISSUE_PO2_MMHG

from .doserate import dose_rates, drvh, voxel_table
from .oxygen import FLASH_DOSE_RATE_GY_S, OxygenParams, fem_dose, oxygen_voxels
from .timing import DeliveryParams, deliver

#: Names of the per-voxel maps written to /flash (all grid-shaped).
MAP_UNITS = {
    "dose_rate_adr": "Gy/s", "dose_rate_pbs": "Gy/s", "dose_rate_percentile": "Gy/s", "dose_rate_dadr": "Gy/s",
    "irradiation_time": "s", "pO2_baseline": "mmHg", "pO2_min": "mmHg", "pO2_min_conventional": "mmHg",
    "dose_flash": "Gy", "dose_conventional": "Gy", "dmf": "1", "dmf_conventional": "1", "dose_fem": "Gy",
}
MAP_DESCRIPTIONS = {
    "dose_rate_adr": "average dose rate: dose over irradiation time (FLASH delivery)",
    "dose_rate_pbs": "PBS dose rate with dose threshold pbs_threshold_Gy (Folkerts et al. 2020)",
    "dose_rate_percentile": "percentile dose rate (1-2p) D / (t_(1-p) - t_p) (Deffet et al. 2023)",
    "dose_rate_dadr": "dose-averaged dose rate (van de Water et al. 2019)",
    "irradiation_time": "time from the first to the last beam segment delivering dose to the voxel",
    "pO2_baseline": "tissue pO2 before irradiation",
    "pO2_min": "minimum pO2 during the FLASH delivery",
    "pO2_min_conventional": "minimum pO2 during the conventional delivery",
    "dose_flash": "oxygen-weighted (FLASH-modified) dose of the FLASH delivery: int S(p)/S(p0) dD",
    "dose_conventional": "oxygen-weighted dose of the same plan at the conventional current",
    "dmf": "dose-modifying factor of the FLASH delivery, dose_flash / dose (1: no sparing, < 1: sparing)",
    "dmf_conventional": "dose_conventional / dose: the oxygen depletion of the conventional delivery itself",
    "dose_fem": "FLASH-modified dose of the threshold FLASH effectiveness model",
}


@dataclass
class FlashResult:
    """Maps (grid-shaped), deliveries and structure statistics of a FLASH analysis."""

    maps: dict
    delivery: object
    delivery_conventional: object
    spot_protons: np.ndarray
    spot_energy: np.ndarray
    structure: str
    stats: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def summary(self):
        s = self.stats
        return (f"FLASH delivery {self.delivery.total_time_s:.3g} s (conventional "
                f"{self.delivery_conventional.total_time_s:.3g} s); {self.structure}: "
                f"{100 * s['volume_fraction_flash']:.1f} % of volume and {100 * s['dose_fraction_flash']:.1f} % of dose "
                f"at >= {FLASH_DOSE_RATE_GY_S:g} Gy/s (PBS dose rate), mean DMF {s['mean_dmf']:.4f} "
                f"(conventional delivery {s['mean_dmf_conventional']:.4f}); median dose {s['d50_physical_Gy']:.3g} Gy "
                f"physical, {s['d50_flash_Gy']:.3g} Gy FLASH-modified (oxygen), {s['d50_fem_Gy']:.3g} Gy (FEM)")

    def write_hdf5(self, f, grid_attrs):
        """Write this analysis to the open HDF5 file ``f`` under /flash (schema in README);
        ``grid_attrs(dataset, units)`` gives a grid-shaped dataset its units and grid
        attributes (spacing, origin, axes)."""
        g = f.create_group("flash")
        for name, arr in self.maps.items():
            ds = g.create_dataset(name, data=np.asarray(arr, np.float32), compression="gzip", compression_opts=1)
            grid_attrs(ds, MAP_UNITS[name])
            ds.attrs["description"] = MAP_DESCRIPTIONS[name]
        g.attrs["structure"] = self.structure
        for k, v in self.stats.items():
            g.attrs[k] = v
        for k, v in self.params.items():
            g.attrs[k] = v
        for name, dl in (("delivery", self.delivery), ("delivery_conventional", self.delivery_conventional)):
            h = g.create_group(name)
            h.create_dataset("order", data=dl.order)
            h.create_dataset("spot_start_s", data=dl.spot_start_s)
            h.create_dataset("spot_end_s", data=dl.spot_end_s)
            h.create_dataset("beam_on_s", data=dl.beam_on_s)
            h.attrs["total_time_s"] = dl.total_time_s
        for name, entry in getattr(self, "per_material", {}).items():
            h = g.create_group(f"histograms/{name}")
            for k, v in entry.items():
                if np.ndim(v):
                    h.create_dataset(k, data=np.asarray(v))
                else:
                    h.attrs[k] = v
            h.attrs["description"] = ("cumulative DVHs (fraction of the material's irradiated voxels at >= "
                                      "dose_levels_Gy) and dose-rate volume histograms (fraction of voxels, and of "
                                      "dose, at >= dose_rate_levels_Gy_per_s) of the FLASH delivery")
        g.create_dataset("spot_protons", data=self.spot_protons)
        g.create_dataset("spot_energy_MeV", data=self.spot_energy)


def _po2_map(grid, fcfg, masks=None):
    """Baseline pO2 [mmHg] per voxel: by material, then by the structures of ``masks`` ({name:
    voxel mask}, a plan's) named in ``flash.tissue_pO2``, in its order."""
    def value(v):
        return TISSUE_PO2_MMHG[v] if isinstance(v, str) else float(v)

    masks = masks or {}
    lut = np.array([value(fcfg.tissue_pO2.get(name, fcfg.default_tissue)) for name in grid.materials])
    p0 = lut[grid.material_id]
    for name, v in fcfg.tissue_pO2.items():
        if name in masks:
            p0[masks[name]] = value(v)
    return p0


def _structure_mask(grid, name, masks=None):
    """Voxels of the analysed structure: a plan's structure of that name, else a material."""
    if masks and name in masks:
        return masks[name]
    sid = grid.materials.index(name) if name in grid.materials else -1
    return grid.material_id == sid


def _delivery_params(dcfg, current_nA=None):
    return DeliveryParams(
        accelerator=dcfg.accelerator,
        beam_current_nA=dcfg.beam_current_nA if current_nA is None else current_nA,
        scan_speed_mm_per_ms=tuple(dcfg.scan_speed_mm_per_ms), layer_switch_down_s=dcfg.layer_switch_down_s,
        layer_switch_up_s=dcfg.layer_switch_up_s, min_spot_time_s=dcfg.min_spot_time_s,
        spot_order=dcfg.spot_order, layer_order=dcfg.layer_order, pulse_length_s=dcfg.pulse_length_s,
        repetition_rate_Hz=dcfg.repetition_rate_Hz, pulses_per_train=dcfg.pulses_per_train,
        train_period_s=dcfg.train_period_s)


def spot_geometry(spots):
    """Transverse spot positions [mm] (along the beam's two transverse axes), energies [MeV]
    and relative weights of a run's spots (``spots``: :class:`mc.source.SpotArrays`)."""
    pos_mm = spots.pos * 10.0
    xy = np.column_stack([np.einsum("ij,ij->i", pos_mm, spots.ax1), np.einsum("ij,ij->i", pos_mm, spots.ax2)])
    return xy, spots.energy.copy(), spots.weight / spots.weight.sum()


def dvh(dose, bins=None):
    """Cumulative DVH: (dose levels [Gy], fraction of voxels receiving >= each level)."""
    d = np.asarray(dose, float).ravel()
    if bins is None:
        bins = np.linspace(0.0, max(float(d.max()) * 1.05, 1e-12), 201)
    return bins, ((d[None, :] >= bins[:, None]).mean(axis=1) if d.size else np.zeros(bins.size))


def _d50(dose):
    d = np.asarray(dose, float)
    return float(np.median(d)) if d.size else 0.0


def analyse(result, cfg):
    """FLASH analysis of ``result`` (a per-spot run of ``cfg``, which has a ``flash`` block)."""
    fcfg = cfg.flash
    grid = result.grid
    sd = result.spot_dose
    if sd is None:
        raise ValueError("the FLASH analysis needs per-spot doses: run with a flash block (per-spot mode)")
    if getattr(result, "spots", None) is None:
        raise ValueError("the FLASH analysis needs the run's spot arrays (RunResult.spots, set by mc.run.simulate)")
    xy, energy, w = spot_geometry(result.spots)
    protons = result.protons * w
    d_flash = deliver(xy, energy, protons, _delivery_params(fcfg.delivery))
    d_conv = deliver(xy, energy, protons, _delivery_params(fcfg.delivery, fcfg.conventional_current_nA))
    voxels, vptr, spot, dose = voxel_table(sd, d_flash)
    shape = grid.shape
    n_vox = int(np.prod(shape))

    def to_map(values, fill=0.0):
        out = np.full(n_vox, fill, float)
        out[voxels] = values
        return out.reshape(shape)

    rates = dose_rates(vptr, spot, dose, d_flash, fcfg.pbs_threshold_Gy, fcfg.percentile)
    masks = getattr(getattr(result, "case", None), "masks", None)
    p0_map = _po2_map(grid, fcfg, masks)
    p0 = p0_map.reshape(-1)[voxels]
    par = OxygenParams(**fcfg.oxygen.model_dump())
    out = {}
    for name, dl in (("flash", d_flash), ("conventional", d_conv)):
        # the voxel lists are in FLASH delivery order; the conventional delivery has the same order
        pmin = np.empty(voxels.size)
        dfl = np.empty(voxels.size)
        pend = np.empty(voxels.size)
        oxygen_voxels(vptr, spot, dose, dl.seg_ptr, dl.seg_t0, dl.seg_t1, dl.seg_frac, p0, par.as_array(),
                      pmin, dfl, pend)
        out[name] = (pmin, dfl)
    rem = sd.remainder
    timed = to_map(np.ones(voxels.size)) > 0  # voxels with a time-resolved dose history
    maps = {
        "dose_rate_adr": to_map(rates["adr"]), "dose_rate_pbs": to_map(rates["pbs"]),
        "dose_rate_percentile": to_map(rates["percentile"]), "dose_rate_dadr": to_map(rates["dadr"]),
        "irradiation_time": to_map(rates["irradiation_time"]), "pO2_baseline": p0_map,
        "pO2_min": np.where(timed, to_map(out["flash"][0]), p0_map),
        "pO2_min_conventional": np.where(timed, to_map(out["conventional"][0]), p0_map),
        "dose_flash": to_map(out["flash"][1]) + rem,
        "dose_conventional": to_map(out["conventional"][1]) + rem,
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        maps["dmf"] = np.where(result.dose > 0, maps["dose_flash"] / result.dose, 1.0)
        maps["dmf_conventional"] = np.where(result.dose > 0, maps["dose_conventional"] / result.dose, 1.0)
    metric = {"pbs": "dose_rate_pbs", "adr": "dose_rate_adr", "percentile": "dose_rate_percentile",
              "dadr": "dose_rate_dadr"}[fcfg.fem.dose_rate_metric]
    maps["dose_fem"] = fem_dose(result.dose, maps[metric], fcfg.fem.dose_threshold_Gy,
                                fcfg.fem.dose_rate_threshold_Gy_per_s, fcfg.fem.fmf)
    # structure statistics
    sel = _structure_mask(grid, fcfg.structure, masks) & (result.dose > 0)
    stats = {"structure_voxels": int(sel.sum())}
    D = result.dose[sel]
    rate = maps["dose_rate_pbs"][sel]
    flash_vox = rate >= FLASH_DOSE_RATE_GY_S
    stats["volume_fraction_flash"] = float(flash_vox.mean()) if sel.any() else 0.0
    stats["dose_fraction_flash"] = float(D[flash_vox].sum() / D.sum()) if sel.any() and D.sum() > 0 else 0.0
    stats["mean_dmf"] = float(np.average(maps["dmf"][sel], weights=D)) if sel.any() and D.sum() > 0 else 1.0
    stats["mean_dmf_conventional"] = (float(np.average(maps["dmf_conventional"][sel], weights=D))
                                      if sel.any() and D.sum() > 0 else 1.0)
    stats["d50_physical_Gy"] = _d50(D)
    stats["d50_conventional_Gy"] = _d50(maps["dose_conventional"][sel])
    stats["d50_flash_Gy"] = _d50(maps["dose_flash"][sel])
    stats["d50_fem_Gy"] = _d50(maps["dose_fem"][sel])
    stats["min_pO2_mmHg"] = float(maps["pO2_min"][sel].min()) if sel.any() else float("nan")
    stats["delivery_time_s"] = d_flash.total_time_s
    stats["delivery_time_conventional_s"] = d_conv.total_time_s
    stats["spot_dose_bytes"] = int(sd.nbytes)
    stats["spot_dose_entries"] = int(sd.voxel.size)
    stats["spot_dose_entries_before_threshold"] = int(getattr(sd, "entries_before_threshold", sd.voxel.size))
    stats["spot_dose_peak_bytes_during_run"] = 16 * int(getattr(sd, "peak_entries_during_run", sd.voxel.size))
    # DVH and DRVH of every material
    per = {}
    rate_levels = np.logspace(-2, 4, 61)  # Gy/s
    for mi, name in enumerate(grid.materials):
        m = (grid.material_id == mi) & (result.dose > 0)
        if not m.any():
            continue
        Dm = result.dose[m]
        levels = np.linspace(0.0, float(Dm.max()) * 1.05, 101)
        entry = {"dose_levels_Gy": levels, "dvh_physical": dvh(Dm, levels)[1],
                 "dvh_conventional": dvh(maps["dose_conventional"][m], levels)[1],
                 "dvh_flash": dvh(maps["dose_flash"][m], levels)[1], "dvh_fem": dvh(maps["dose_fem"][m], levels)[1],
                 "dose_rate_levels_Gy_per_s": rate_levels}
        for key in ("adr", "pbs", "percentile", "dadr"):
            _, vol, dfrac = drvh(maps["dose_rate_" + key][m], Dm, rate_levels)
            entry[f"drvh_volume_{key}"] = vol
            entry[f"drvh_dose_{key}"] = dfrac
        fl = maps["dose_rate_pbs"][m] >= FLASH_DOSE_RATE_GY_S
        entry["volume_fraction_flash"] = float(fl.mean())
        entry["dose_fraction_flash"] = float(Dm[fl].sum() / Dm.sum())
        per[name] = entry
    stats_per = per
    params = {"pbs_threshold_Gy": fcfg.pbs_threshold_Gy, "percentile": fcfg.percentile,
              "beam_current_nA": fcfg.delivery.beam_current_nA, "conventional_current_nA": fcfg.conventional_current_nA,
              "accelerator": fcfg.delivery.accelerator, **{f"oxygen_{k}": v for k, v in fcfg.oxygen.model_dump().items()},
              **{f"fem_{k}": v for k, v in fcfg.fem.model_dump().items()}}
    fr = FlashResult(maps, d_flash, d_conv, protons, energy, fcfg.structure, stats, params)
    fr.per_material = stats_per
    return fr


def plot_flash(path_png, result, title=None):
    """DVH of the structure (physical; oxygen-weighted conventional and FLASH; FEM), its
    dose-rate volume histogram, and central-axis depth profiles of the PBS dose rate and the
    minimum pO2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = result.flash
    grid = result.grid
    sel = _structure_mask(grid, fr.structure, getattr(getattr(result, "case", None), "masks", None)) \
        & (result.dose > 0)
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    a = ax[0, 0]
    if sel.any():
        bins = np.linspace(0, result.dose[sel].max() * 1.05, 201)
        for arr, lab, st in ((result.dose, "physical dose", "k-"),
                             (fr.maps["dose_conventional"],
                              f"conventional ({fr.params['conventional_current_nA']:g} nA), oxygen-weighted", "C0--"),
                             (fr.maps["dose_flash"], f"FLASH ({fr.params['beam_current_nA']:g} nA), oxygen-weighted", "C3-"),
                             (fr.maps["dose_fem"], "FLASH, threshold FEM", "C2-.")):
            b, v = dvh(arr[sel], bins)
            a.plot(b, 100 * v, st, label=lab)
    a.set_xlabel("dose (Gy)")
    a.set_ylabel(f"volume of {fr.structure} (%)")
    a.set_title("DVH")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    a = ax[0, 1]
    if sel.any():
        for key, lab in (("dose_rate_pbs", "PBS dose rate"), ("dose_rate_percentile", "percentile (98 %)"),
                         ("dose_rate_adr", "average"), ("dose_rate_dadr", "dose-averaged")):
            r, v, _ = drvh(fr.maps[key][sel])
            a.semilogx(r, 100 * v, label=lab)
    a.axvline(FLASH_DOSE_RATE_GY_S, color="k", ls=":", lw=1, label="40 Gy/s")
    a.set_xlabel("dose rate (Gy/s)")
    a.set_ylabel(f"volume of {fr.structure} at >= dose rate (%)")
    a.set_title("dose-rate volume histogram (FLASH delivery)")
    a.legend(fontsize=7, loc="lower left")
    a.grid(alpha=0.3, which="both")
    ix, iy = grid.shape[0] // 2, grid.shape[1] // 2
    z = grid.axis_centres_cm(2) * 10.0
    a = ax[1, 0]
    # voxels without dose have no dose rate: left out (NaN, a gap in the line), not drawn at a floor
    rate = fr.maps["dose_rate_pbs"][ix, iy].astype(float)
    rate[~((result.dose[ix, iy] > 0) & (rate > 0))] = np.nan
    a.semilogy(z, rate, "C3-", label="PBS dose rate, FLASH (voxels with dose)")
    a.axhline(FLASH_DOSE_RATE_GY_S, color="k", ls=":", lw=1)
    a.set_xlabel("depth z (mm)")
    a.set_ylabel("dose rate (Gy/s), central axis")
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=7)
    a = ax[1, 1]
    a.plot(z, fr.maps["pO2_baseline"][ix, iy], "k--", label="baseline pO2")
    a.plot(z, fr.maps["pO2_min"][ix, iy], "C3-", label="minimum pO2, FLASH")
    a.plot(z, fr.maps["pO2_min_conventional"][ix, iy], "C0-", label="minimum pO2, conventional")
    a.set_xlabel("depth z (mm)")
    a.set_ylabel("pO2 (mmHg), central axis")
    a.grid(alpha=0.3)
    a.legend(fontsize=7)
    fig.suptitle(title or "flashmc FLASH analysis")
    fig.tight_layout()
    return save_figure(fig, path_png, dpi=100)
