"""Throughput benchmark: protons per second per core for 150 MeV protons in water, 1 mm voxels.

Runs one process (one core), after a JIT warm-up run. The rate is the transport rate of the
batch loop (kernel and batch tallies; the rate ``python -m mc.run`` prints); the wall rate,
which adds set-up and the final dose arrays for the 3e6-voxel grid, is reported beside it.
The default 2e5 primaries in 10 batches keep the per-batch tally accumulation (a few ms per
batch for this grid) as small a part of the time as in production batches. The process is
pinned to each core in turn (at most ``--cores`` of them, spread over the machine): the cores
of a virtual machine can run at different speeds at the same moment (the development VM's two
vCPUs differed by up to 1.5x), so the rate per core is the mean over the cores of the median of
the repeats on each; the per-core medians and every repeat are in the JSON. Writes JSON:
    python benchmarks/throughput.py [--primaries N] [--energy MeV] [--cores K] [--out benchmarks/results]
"""

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from mc.config import load_config_text  # noqa: E402
from mc.run import simulate  # noqa: E402

CONFIG = """
geometry: {{type: box, material: water, size_mm: [100, 100, 300], voxel_mm: [1, 1, 1]}}
beam: {{energy_MeV: {energy}, energy_spread_MeV: 0.0, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 7, batches: {b}}}
output: {{plot: false}}
"""


def measure(energy, n, batches=10, repeats=3, n_cores=4):
    cfg, _ = load_config_text(CONFIG.format(energy=energy, n=n, b=batches))
    warm, _ = load_config_text(CONFIG.format(energy=energy, n=200, b=2))
    simulate(warm)  # JIT compile / load the cache
    from benchmarks.scaling import baseline_cores

    cores = baseline_cores(n_cores)
    old = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    per_core = []
    steps = None
    try:
        for c in cores:
            if c is not None:
                os.sched_setaffinity(0, {c})
            rates, wall_rates = [], []
            for _ in range(repeats):
                t0 = time.perf_counter()
                res = simulate(cfg)
                dt = time.perf_counter() - t0
                rates.append(res.run_info["protons_per_s"])  # transport of all batches incl. tallies
                wall_rates.append(n / dt)  # also geometry, tables, source set-up and dose arrays
                steps = res.run_info["steps"] / n
            per_core.append({"core": c, "protons_per_s": float(np.median(rates)), "rates": rates,
                             "wall_protons_per_s": float(np.median(wall_rates)), "wall_rates": wall_rates})
    finally:
        if old is not None:
            os.sched_setaffinity(0, old)
    return {"energy_MeV": energy, "primaries": n, "repeats": repeats,
            "protons_per_s_per_core": float(np.mean([c["protons_per_s"] for c in per_core])),
            "wall_protons_per_s": float(np.mean([c["wall_protons_per_s"] for c in per_core])),
            "per_core": per_core, "steps_per_primary": steps}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=200000)
    ap.add_argument("--energy", type=float, default=150.0)
    ap.add_argument("--repeats", type=int, default=3, help="runs per core (their median is the core's rate)")
    ap.add_argument("--cores", type=int, default=4, help="cores measured, one after the other (pinned)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    a = ap.parse_args(argv)
    if min(a.cores, a.repeats, a.primaries) < 1 or a.energy <= 0.0:
        ap.error("--cores, --repeats and --primaries must be at least 1 and --energy positive [MeV]")
    r = measure(a.energy, a.primaries, repeats=a.repeats, n_cores=a.cores)
    r.update({"machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(),
              "date": time.strftime("%Y-%m-%d")})
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "throughput.json")
    with open(path, "w") as f:
        json.dump(r, f, indent=2)
    cores = "; ".join(f"core {c['core']}: {c['protons_per_s']:.0f} (repeats {[round(x) for x in c['rates']]})"
                      for c in r["per_core"])
    print(f"{r['protons_per_s_per_core']:.0f} protons/s/core ({a.energy:g} MeV, water, 1 mm voxels, "
          f"{r['steps_per_primary']:.0f} steps/primary; wall clock incl. set-up {r['wall_protons_per_s']:.0f}/s; "
          f"{cores}); wrote {path}")


if __name__ == "__main__":
    main()
