"""Step-size convergence: 150 MeV protons in water for several ``physics.max_range_fraction``
values. For each it reports

* steps per primary;
* from the integrated depth dose (0.5 mm layers, nuclear interactions on): R80, the distal
  80-20 % fall-off, the peak-to-entrance ratio (entrance: mean of the first 2 mm) and the
  primary LETd at the peak, at R80 and at R20;
* from a point beam (nuclear interactions off, 0.25 mm bins across x, 1 mm along z): the
  lateral sigma at 3, 4, 4.5, 10 and 14 cm against the continuous Fermi-Eyges moment with
  Gottschalk's differential Moliere scattering power
  (:func:`physics.scattering.fermi_eyges_dm_sigma_x`), and the sigma of a Gaussian fitted to
  the core of the profile (central +-2.5 sigma). The beam sits at a bin centre: inside a step a
  point beam's profile is a mixture of tracks that have and have not turned at their hinge
  yet, and an unscattered part on a bin edge would bias the binned width. With one hinge per
  step the second moment is right at every depth but the profile inside a long step is a
  scale mixture of Gaussians with too narrow a core: the core fit shows it.

A converged step length gives the same numbers as shorter steps within their statistical
noise. Writes JSON:

    python benchmarks/step_convergence.py [--fractions 0.1 0.2 0.3] [--primaries N] [--out DIR]
"""

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.accuracy import gauss_core_sigma  # noqa: E402
from mc.analysis import r_distal  # noqa: E402
from mc.config import load_config_text  # noqa: E402
from mc.run import simulate  # noqa: E402
from physics.materials import get_material  # noqa: E402
from physics.scattering import fermi_eyges_dm_sigma_x, scattering_length  # noqa: E402
from physics.species import SPECIES  # noqa: E402
from physics.tables import build_tables  # noqa: E402

IDD = """
geometry: {{type: box, material: water, size_mm: [200, 200, 170], voxel_mm: [200, 200, 0.5]}}
beam: {{energy_MeV: 150, position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 5, batches: 10}}
physics: {{max_range_fraction: {a}}}
output: {{let: true, plot: false}}
"""
LAT = """
geometry: {{type: box, material: water, size_mm: [40, 40, 150], voxel_mm: [0.25, 40, 1]}}
beam: {{energy_MeV: 150, position_mm: [0.125, 0, -1]}}
run: {{primaries: {n}, seed: 3, batches: 10}}
physics: {{nuclear: false, max_range_fraction: {a}}}
output: {{plot: false}}
"""
LAT_DEPTHS_CM = (3.0, 4.0, 4.5, 10.0, 14.0)


def case(a, n, max_step_mm=None):
    over = [] if max_step_mm is None else [f"physics.max_step_mm={max_step_mm}"]
    r = simulate(load_config_text(IDD.format(n=n, a=a), over)[0])
    z = r.grid.axis_centres_cm(2)
    d = r.dose[0, 0]
    r80 = r_distal(z, d, 0.8)
    out = {"max_range_fraction": a, "steps_per_primary": r.run_info["steps"] / n, "R80_mm": 10 * r80,
           "falloff_80_20_mm": 10 * (r_distal(z, d, 0.2) - r80), "peak_to_entrance": float(d.max() / d[:4].mean())}
    let = r.let["let_d_primary"][0, 0]
    for name, zz in (("peak", z[np.argmax(d)]), ("R80", r80), ("R20", r_distal(z, d, 0.2))):
        out[f"primary_LETd_{name}_keV_um"] = float(let[int(np.argmin(abs(z - zz)))])
    lat = simulate(load_config_text(LAT.format(n=n, a=a), over)[0])
    x = lat.grid.axis_centres_cm(0)
    zc = lat.grid.axis_centres_cm(2)
    tab = build_tables(["water"])
    X_S = scattering_length(get_material("water"))
    rows = []
    for depth in LAT_DEPTHS_CM:
        iz = int(np.argmin(abs(zc - depth)))
        p = lat.edep_per_primary[:, 0, iz]
        m = (p * x).sum() / p.sum()
        sig = np.sqrt((p * (x - m) ** 2).sum() / p.sum() - 0.025**2 / 12)  # Sheppard's correction
        ref = fermi_eyges_dm_sigma_x(zc[iz], 150.0, tab.energy, tab.range_gcm2[0], X_S, SPECIES[0].mass_MeV)
        core = gauss_core_sigma(x - 0.0125, p, ref)
        rows.append({"depth_cm": float(zc[iz]), "sigma_mm": 10 * sig, "core_sigma_mm": 10 * core,
                     "fermi_eyges_mm": 10 * ref})
    out["lateral"] = rows
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--primaries", type=int, default=40000)
    ap.add_argument("--max-step-mm", type=float, default=None, help="physics.max_step_mm (default: the config's)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    a = ap.parse_args(argv)
    res = []
    for f in a.fractions:
        c = case(f, a.primaries, a.max_step_mm)
        res.append(c)
        lat = ", ".join(f"{r['depth_cm']:.2f} cm {r['sigma_mm']:.3f} ({r['sigma_mm'] / r['fermi_eyges_mm'] - 1:+.1%}, "
                        f"core {r['core_sigma_mm'] / r['fermi_eyges_mm'] - 1:+.1%})" for r in c["lateral"])
        print(f"max_range_fraction {f:g}: {c['steps_per_primary']:.1f} steps; R80 {c['R80_mm']:.2f} mm; "
              f"80-20 {c['falloff_80_20_mm']:.3f} mm; P/E {c['peak_to_entrance']:.3f}; primary LETd peak/R80/R20 "
              f"{c['primary_LETd_peak_keV_um']:.2f}/{c['primary_LETd_R80_keV_um']:.2f}/"
              f"{c['primary_LETd_R20_keV_um']:.2f} keV/um; lateral sigma (vs Fermi-Eyges; core fit) {lat}",
              flush=True)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "step_convergence.json")
    with open(path, "w") as fh:
        json.dump({"cases": res, "machine": platform.machine(), "python": platform.python_version(),
                   "date": time.strftime("%Y-%m-%d")}, fh, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
