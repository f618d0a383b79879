"""Accuracy harness: proton depth-dose physics in water and behind heterogeneities against
independent references. One command writes JSON and PNG figures:

    python benchmarks/accuracy.py [--primaries N] [--out benchmarks/results]

For 70, 100, 150, 200 and 230 MeV mono-energetic pencil beams (no energy spread) in water
(I = 78 eV, ICRU 90) it reports, against the references named:

* integrated depth dose (IDD) beside Bortfeld's (1997) analytic curve with its nuclear
  build-down term (R0 = flashmc's CSDA range; ``physics.bragg``);
* R80, R90 and the distal 80-20 % fall-off, against the CSDA range (flashmc tables, and the
  PSTAR value for I = 75 eV for scale) and Bortfeld's curve;
* peak-to-entrance ratio (entrance: mean of the first 2 mm), against Bortfeld's curve;
* primary fluence vs depth, against Bortfeld's linear attenuation (beta = 0.012 /cm) and
  exp(-int n_O sigma dz) with Barashenkov's evaluated p + O cross section (JINR 1989);
* the fraction of the dose from secondary particles vs depth;
* the energy budget: fraction of the incident energy released in non-elastic reactions and
  the part of it not absorbed (neutral particles + binding), against Bortfeld's gamma = 0.6;
* lateral sigma of the beam core vs depth (Gaussian fit to the central profile), against the
  Fermi-Eyges/generalised-Highland prediction (multiple Coulomb scattering only).

Heterogeneities: a 150 MeV beam through 20 mm cortical bone, 40 mm lung or 10 mm titanium
after 30 mm water; the shift of R80 against the water-equivalent thickness (WET) predicted by
the stopping-power tables, WET = R_w(E_in) - R_w(E_out) along the CSDA path.

No measured IDDs are stored in the repository; this harness compares with analytic models and
evaluated data only.
"""

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from mc.analysis import r_distal  # noqa: E402
from mc.config import load_config_text  # noqa: E402
from mc.run import simulate  # noqa: E402
from physics import bragg  # noqa: E402
from physics.constants import AVOGADRO, PROTON_MASS_MEV  # noqa: E402
from physics.elements import element  # noqa: E402
from physics.materials import get_material  # noqa: E402
from physics.scattering import generalized_highland_sigma_x, radiation_length  # noqa: E402
from physics.tables import build_tables  # noqa: E402
from tests.reference_data import BARASHENKOV_NONELASTIC_MB, PSTAR  # noqa: E402

ENERGIES = (70.0, 100.0, 150.0, 200.0, 230.0)
DZ_MM = 0.5

IDD_CFG = """
geometry: {{type: box, material: water, size_mm: [300, 300, {depth}], voxel_mm: [300, 300, {dz}]}}
beam: {{energy_MeV: {E}, position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: {seed}, batches: 10}}
output: {{secondary_dose: true, plot: false}}
"""

LAT_CFG = """
geometry: {{type: box, material: water, size_mm: [80, 300, {depth}], voxel_mm: [0.5, 300, 5]}}
beam: {{energy_MeV: {E}, position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: {seed}, batches: 4}}
output: {{plot: false}}
"""

SLAB_CFG = """
geometry: {{type: slabs, size_mm: [300, 300, {total}], voxel_mm: [300, 300, {dz}],
           slabs: [{{material: water, thickness_mm: 30}}, {{material: {m}, thickness_mm: {t}}},
                   {{material: water, thickness_mm: {rest}}}]}}
beam: {{energy_MeV: 150, position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 5, batches: 4}}
output: {{plot: false}}
"""


def run(text):
    cfg, _ = load_config_text(text)
    return simulate(cfg)


def falloff_80_20(z, d):
    return r_distal(z, d, 0.2) - r_distal(z, d, 0.8)


def barashenkov_fluence(z, R0, tab):
    """exp(-int_0^z n_O sigma_O(E(z')) dz') in water along the CSDA energy-depth relation."""
    rows = BARASHENKOV_NONELASTIC_MB[8]
    n_o = get_material("water").composition[8] * AVOGADRO / element(8).A
    zz = np.linspace(0.0, R0, 2000)
    E = tab.energy_from_range(0, np.maximum(R0 - zz, 1e-6))
    mu = n_o * np.interp(E, [r[0] for r in rows], [r[1] for r in rows]) * 1e-27
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (mu[1:] + mu[:-1]) * np.diff(zz))])
    return np.exp(-np.interp(z, zz, cum))


def gauss_core_sigma(x, prof, guess):
    """Sigma [same units as x] of a Gaussian fitted to the central +-2.5 guess of a profile."""
    from scipy.optimize import curve_fit

    sel = np.abs(x) < 2.5 * max(guess, 0.1)
    if sel.sum() < 5:
        sel = np.argsort(np.abs(x))[:9]

    def g(xx, a, s):
        return a * np.exp(-0.5 * (xx / s) ** 2)

    p, _ = curve_fit(g, x[sel], prof[sel], p0=(prof.max(), max(guess, 0.05)))
    return abs(p[1])


def water_case(E, n, seed, tab):
    R0 = float(tab.csda_range(0, E))
    depth = int(np.ceil(R0 * 10 * 1.15 / 10.0) * 10)
    res = run(IDD_CFG.format(depth=depth, dz=DZ_MM, E=E, n=n, seed=seed))
    z = res.grid.axis_centres_cm(2)
    dz = res.grid.spacing_cm[2]
    idd = res.edep_per_primary.sum(axis=(0, 1)) / dz  # MeV/cm per primary (= MeV cm^2/g in water)
    # one voxel per depth layer: its relative standard error is the IDD's
    idd_std = idd * res.dose_std[0, 0, :] / np.maximum(res.dose[0, 0, :], 1e-300)
    sec = res.edep_secondary_per_primary.sum(axis=(0, 1)) / dz
    sig = float(bragg.sigma_straggling(R0))
    ref = bragg.depth_dose(z, R0, sig)
    z_edges = res.grid.lower_cm[2] + np.arange(res.grid.shape[2]) * dz
    phi = res.primary_fluence_z
    eb = res.energy_balance
    released, _ = bragg.nonelastic_energy_budget(E, R0)
    n_entr = int(round(0.2 / dz))
    out = {
        "energy_MeV": E, "primaries": n,
        "csda_range_mm": 10 * R0,
        "pstar_csda_range_I75_mm": 10 * PSTAR["water_pstar"][int(E)][1] if int(E) in PSTAR["water_pstar"] else None,
        "R80_mm": 10 * r_distal(z, idd, 0.8), "R90_mm": 10 * r_distal(z, idd, 0.9),
        "falloff_80_20_mm": 10 * falloff_80_20(z, idd),
        "bortfeld_R80_mm": 10 * r_distal(z, ref, 0.8), "bortfeld_R90_mm": 10 * r_distal(z, ref, 0.9),
        "bortfeld_falloff_80_20_mm": 10 * falloff_80_20(z, ref),
        "peak_to_entrance": float(idd.max() / idd[:n_entr].mean()),
        "bortfeld_peak_to_entrance": float(ref.max() / ref[:n_entr].mean()),
        "peak_MeV_cm2_g": float(idd.max()), "bortfeld_peak_MeV_cm2_g": float(ref.max()),
        "entrance_MeV_cm2_g": float(idd[:n_entr].mean()), "bortfeld_entrance_MeV_cm2_g": float(ref[:n_entr].mean()),
        "fluence_mid_range": float(np.interp(R0 / 2, z_edges, phi)),
        "bortfeld_fluence_mid_range": float(bragg.primary_fluence(R0 / 2, R0)),
        "barashenkov_fluence_mid_range": float(barashenkov_fluence(R0 / 2, R0, tab)),
        # primaries only (secondary protons' reactions are listed separately)
        "nonelastic_fraction_of_primaries": eb["primary_nonelastic_events"] / n,
        "bortfeld_nonelastic_fraction_of_primaries": bragg.BETA * R0 / (1.0 + bragg.BETA * R0),
        "nonelastic_events_per_primary_all_protons": eb["nonelastic_events"] / n,
        "primary_released_energy_fraction": eb["primary_nonelastic_energy_MeV"] / eb["incident_MeV"],
        "released_energy_fraction": eb["nonelastic_energy_MeV"] / eb["incident_MeV"],
        "bortfeld_released_energy_fraction": released / E,
        "not_absorbed_fraction_of_released": (eb["neutral_MeV"] + eb["binding_MeV"]) / eb["nonelastic_energy_MeV"],
        "bortfeld_not_absorbed_fraction_of_released": 1.0 - bragg.GAMMA,
        "neutral_fraction_of_incident": eb["neutral_MeV"] / eb["incident_MeV"],
        "binding_fraction_of_incident": eb["binding_MeV"] / eb["incident_MeV"],
        "secondary_dose_fraction_mid_range": float(np.interp(R0 / 2, z, sec / np.maximum(idd, 1e-300))),
        "energy_imbalance": eb["relative_imbalance"],
        "protons_per_s": res.run_info["protons_per_s"],
    }
    curves = {"z_cm": z, "idd": idd, "idd_std": idd_std, "ref": ref, "sec": sec, "z_edges": z_edges, "phi": phi,
              "phi_bortfeld": bragg.primary_fluence(z_edges, R0), "phi_barashenkov": barashenkov_fluence(z_edges, R0, tab)}
    return out, curves


def lateral_case(E, n, seed, tab):
    R0 = float(tab.csda_range(0, E))
    depth = int(np.ceil(R0 * 10 / 10.0) * 10)
    res = run(LAT_CFG.format(depth=depth, E=E, n=n, seed=seed))
    x = res.grid.axis_centres_cm(0)
    zc = res.grid.axis_centres_cm(2)
    X0 = radiation_length(get_material("water"))
    rows = []
    for iz, zz in enumerate(zc):
        if zz > 0.95 * R0 or zz < 0.1 * R0:
            continue
        ref = generalized_highland_sigma_x(zz, E, tab.energy, tab.range_gcm2[0], X0, PROTON_MASS_MEV)
        prof = res.edep_per_primary[:, 0, iz]
        try:
            s = gauss_core_sigma(x, prof, ref)
        except RuntimeError:
            continue
        rows.append((float(zz), float(s), float(ref)))
    return rows


def heterogeneity_case(material, thickness_mm, n, tab_w):
    dz = DZ_MM
    rest = 200
    total = 30 + thickness_mm + rest
    base = run(SLAB_CFG.format(total=total, dz=dz, m="water", t=thickness_mm, rest=rest, n=n))
    het = run(SLAB_CFG.format(total=total, dz=dz, m=material, t=thickness_mm, rest=rest, n=n))
    z = base.grid.axis_centres_cm(2)
    r_b = r_distal(z, base.edep_per_primary.sum(axis=(0, 1)), 0.8)
    r_h = r_distal(z, het.edep_per_primary.sum(axis=(0, 1)), 0.8)
    # WET along the CSDA path
    tab = build_tables(["water", material])
    E_in = float(tab.energy_from_range(0, tab.csda_range(0, 150.0) - 3.0))
    rho = get_material(material).density
    E_out = float(tab.energy_from_range(1, tab.csda_range(1, E_in) - rho * thickness_mm / 10.0))
    wet = float(tab.csda_range(0, E_in) - tab.csda_range(0, E_out))
    return {"material": material, "thickness_mm": thickness_mm, "density_g_cm3": rho,
            "R80_water_mm": 10 * r_b, "R80_with_slab_mm": 10 * r_h,
            "shift_mm": 10 * (r_b - r_h), "predicted_shift_mm": 10 * (wet - thickness_mm / 10.0),
            "wet_mm": 10 * wet,
            "falloff_80_20_water_mm": 10 * falloff_80_20(z, base.edep_per_primary.sum(axis=(0, 1))),
            "falloff_80_20_with_slab_mm": 10 * falloff_80_20(z, het.edep_per_primary.sum(axis=(0, 1)))}


def plots(out_dir, water, curves, lateral, het):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, (w, c) in enumerate(zip(water, curves)):
        col = f"C{i}"
        axes[0].plot(10 * c["z_cm"], c["idd"], color=col, lw=1.2, label=f"{w['energy_MeV']:g} MeV flashmc")
        axes[0].plot(10 * c["z_cm"], c["ref"], color=col, lw=0.8, ls="--")
        axes[1].plot(10 * c["z_cm"], c["idd"] / c["ref"].max(), color=col, lw=1.2)
        axes[1].plot(10 * c["z_cm"], c["ref"] / c["ref"].max(), color=col, lw=0.8, ls="--")
    axes[0].set_xlabel("depth in water (mm)")
    axes[0].set_ylabel("integrated depth dose (MeV cm$^2$/g per proton)")
    axes[0].set_title("IDD: solid flashmc, dashed Bortfeld (1997) analytic")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("depth in water (mm)")
    axes[1].set_ylabel("IDD / Bortfeld peak")
    axes[1].set_title("relative to each analytic peak")
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out_dir, "accuracy_idd.png"))

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, (w, c) in enumerate(zip(water, curves)):
        col = f"C{i}"
        R0 = w["csda_range_mm"]
        sel = 10 * c["z_edges"] < 0.97 * R0
        axes[0].plot(10 * c["z_edges"][sel], c["phi"][sel], color=col, lw=1.2, label=f"{w['energy_MeV']:g} MeV")
        axes[0].plot(10 * c["z_edges"][sel], c["phi_bortfeld"][sel], color=col, lw=0.8, ls="--")
        axes[0].plot(10 * c["z_edges"][sel], c["phi_barashenkov"][sel], color=col, lw=0.8, ls=":")
        frac = c["sec"] / np.maximum(c["idd"], 1e-300)
        s2 = 10 * c["z_cm"] < 1.02 * R0
        axes[1].plot(10 * c["z_cm"][s2], 100 * frac[s2], color=col, lw=1.0, label=f"{w['energy_MeV']:g} MeV")
    axes[0].set_xlabel("depth in water (mm)")
    axes[0].set_ylabel("primary protons reaching depth (fraction)")
    axes[0].set_title("solid flashmc, dashed Bortfeld linear, dotted Barashenkov p+O")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("depth in water (mm)")
    axes[1].set_ylabel("dose from secondary particles (% of total)")
    axes[1].set_title("secondary protons and nuclear fragments")
    axes[1].legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out_dir, "accuracy_fluence_secondaries.png"))

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, (E, rows) in enumerate(lateral.items()):
        if not rows:
            continue
        r = np.array(rows)
        axes[0].plot(10 * r[:, 0], 10 * r[:, 1], "o", ms=3, color=f"C{i}", label=f"{E:g} MeV flashmc")
        axes[0].plot(10 * r[:, 0], 10 * r[:, 2], "-", lw=0.8, color=f"C{i}")
    axes[0].set_xlabel("depth in water (mm)")
    axes[0].set_ylabel("lateral sigma of the core (mm)")
    axes[0].set_title("points flashmc (Gaussian core fit), lines generalised Highland")
    axes[0].legend(fontsize=8)
    names = [f"{h['material']} {h['thickness_mm']:g} mm" for h in het]
    xx = np.arange(len(het))
    axes[1].bar(xx - 0.2, [h["shift_mm"] for h in het], 0.4, label="flashmc R80 shift")
    axes[1].bar(xx + 0.2, [h["predicted_shift_mm"] for h in het], 0.4, label="WET - thickness (tables)")
    axes[1].set_xticks(xx, names)
    axes[1].set_ylabel("distal R80 shift (mm)")
    axes[1].set_title("150 MeV behind heterogeneities")
    axes[1].legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, out_dir, "accuracy_lateral_heterogeneity.png"))
    return paths


def _save(fig, out_dir, name):
    import matplotlib.pyplot as plt

    path = os.path.join(out_dir, name)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=40000, help="primaries per water IDD run")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    tab = build_tables(["water"])
    water, curves, lateral = [], [], {}
    for i, E in enumerate(ENERGIES):
        w, c = water_case(E, a.primaries, 100 + i, tab)
        water.append(w)
        curves.append(c)
        lateral[E] = lateral_case(E, max(2000, a.primaries // 8), 200 + i, tab)
        print(f"{E:5.0f} MeV: R80 {w['R80_mm']:.2f} mm (Bortfeld {w['bortfeld_R80_mm']:.2f}, CSDA "
              f"{w['csda_range_mm']:.2f}); 80-20 {w['falloff_80_20_mm']:.2f} mm (Bortfeld "
              f"{w['bortfeld_falloff_80_20_mm']:.2f}); P/E {w['peak_to_entrance']:.2f} (Bortfeld "
              f"{w['bortfeld_peak_to_entrance']:.2f}); fluence at R0/2 {w['fluence_mid_range']:.3f} (Bortfeld "
              f"{w['bortfeld_fluence_mid_range']:.3f}, Barashenkov {w['barashenkov_fluence_mid_range']:.3f}); "
              f"not absorbed {w['not_absorbed_fraction_of_released']:.2f} of released (Bortfeld 0.40)", flush=True)
    het = [heterogeneity_case(m, t, max(4000, a.primaries // 4), tab) for m, t in
           (("bone_cortical", 20.0), ("lung", 40.0), ("titanium", 10.0))]
    for h in het:
        print(f"150 MeV behind {h['thickness_mm']:g} mm {h['material']}: R80 shift {h['shift_mm']:.2f} mm, "
              f"predicted {h['predicted_shift_mm']:.2f} mm", flush=True)
    pngs = plots(a.out, water, curves, lateral, het)
    result = {"water": water, "lateral_sigma": {str(k): [{"depth_cm": r[0], "sigma_cm": r[1], "highland_cm": r[2]}
                                                          for r in v] for k, v in lateral.items()},
              "heterogeneities": het, "figures": [os.path.basename(p) for p in pngs],
              "machine": platform.machine(), "python": platform.python_version(),
              "date": time.strftime("%Y-%m-%d"), "elapsed_s": time.time() - t0}
    path = os.path.join(a.out, "accuracy.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=2)
    os.replace(path + ".tmp", path)
    print(f"wrote {path} and {', '.join(os.path.basename(p) for p in pngs)} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
