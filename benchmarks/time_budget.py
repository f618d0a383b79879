"""Where a 150 MeV proton's transport time goes, and what a run costs besides transport.

Transport: the water box of ``benchmarks/vs_mcsquare.py`` (60 x 60 x 350 mm, 1 mm voxels,
150 MeV, sigma 3 mm) with parts of the physics switched off one at a time (nuclear
interactions, energy-loss straggling, multiple scattering; all three), in one process, the
variants alternating round after round so that they share the VM's slow and fast minutes.
For each: microseconds per primary (median over the rounds), its ratio to the full physics,
and the condensed-history steps and voxel segments per primary (secondaries included). The
difference to the full physics is what that part costs, including the steps and segments it
adds (scattering turns tracks across lateral voxel faces).

Start-up: ``python -m mc.run`` on the same box as the physicist runs it (kernels already in
numba's cache), with ``--startup-primaries`` (default 5e5, a run on which start-up weighs; the
speed case of ``benchmarks/vs_mcsquare.py`` has 1e7), ``--runs`` times: the wall time of the process, the
time of its imports (``python -X importtime``, top-level modules, numba's own modules loaded
with the first compiled kernel included), the transport time it reports (``/run``
``elapsed_s``) and the rest (loading the compiled kernels from the cache, set-up, the final
tallies and the HDF5 output). Writes JSON:
    python benchmarks/time_budget.py [--primaries N] [--rounds R] [--runs K] [--startup-primaries N]
                                     [--out benchmarks/results]
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from mc.config import load_config_text  # noqa: E402
from mc.run import simulate  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOX = """
geometry: {{type: box, material: water, size_mm: [60, 60, 350], voxel_mm: [1, 1, 1]}}
beam: {{energy_MeV: 150, energy_spread_MeV: 0.0, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 7, batches: {b}}}
physics: {{{physics}}}
output: {{path: {path}, plot: false}}
"""
VARIANTS = {
    "full physics": "",
    "no nuclear interactions": "nuclear: false",
    "no straggling": "straggling: false",
    "no multiple scattering": "multiple_scattering: false",
    "none of the three": "nuclear: false, straggling: false, multiple_scattering: false",
}


def transport_budget(primaries, rounds):
    """Per variant: the median microseconds per primary over ``rounds`` alternating rounds, the
    ratio to the full physics, steps and segments per primary."""
    out = os.path.join(tempfile.gettempdir(), "time_budget.h5")  # named by the config, not written here
    cfgs = {k: load_config_text(BOX.format(n=primaries, b=4, physics=p, path=out))[0] for k, p in VARIANTS.items()}
    for p in VARIANTS.values():  # compile or load every kernel before timing
        simulate(load_config_text(BOX.format(n=200, b=2, physics=p, path=out))[0])
    us = {k: [] for k in VARIANTS}
    per = {}
    for _ in range(rounds):
        for k, cfg in cfgs.items():
            info = simulate(cfg).run_info
            us[k].append(1e6 / info["protons_per_s"])
            per[k] = (info["steps"] / primaries, info["segments"] / primaries)
    full = np.median(us["full physics"])
    return {k: {"us_per_primary": float(np.median(v)), "us_per_primary_all": v,
                "ratio_to_full": float(np.median(v) / full), "steps_per_primary": per[k][0],
                "segments_per_primary": per[k][1]} for k, v in us.items()}


def import_seconds(stderr):
    """Total import time [s] of the top-level modules in ``python -X importtime`` output."""
    total = 0
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if m:  # a top-level module: its name is not indented
            total += int(m.group(1))
    return total * 1e-6


def startup_budget(runs, primaries):
    """Per ``python -m mc.run`` process: wall, imports, transport and the rest [s]; medians."""
    import h5py

    rows = []
    with tempfile.TemporaryDirectory() as d:
        cfg, h5 = os.path.join(d, "run.yaml"), os.path.join(d, "run.h5")
        with open(cfg, "w") as f:
            f.write(BOX.format(n=primaries, b="auto", physics="", path=h5))
        cmd = [sys.executable, "-X", "importtime", "-m", "mc.run", cfg, "--quiet"]
        subprocess.run(cmd, cwd=REPO, capture_output=True, check=True)  # the kernels into the cache
        for _ in range(runs):
            t0 = time.perf_counter()
            p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            with h5py.File(h5, "r") as f:
                transport = float(f["run"].attrs["elapsed_s"])
            imports = import_seconds(p.stderr)
            rows.append((wall, imports, transport, wall - imports - transport))
    a = np.median(np.array(rows), axis=0)
    return {"primaries": primaries, "runs": runs, "wall_s": float(a[0]), "imports_s": float(a[1]),
            "transport_s": float(a[2]), "rest_s": float(a[3]), "all": [list(r) for r in rows]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=200000, help="primaries per variant and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the alternating variants")
    ap.add_argument("--runs", type=int, default=5, help="python -m mc.run processes timed for the start-up")
    ap.add_argument("--startup-primaries", type=int, default=500000, help="primaries of each timed process")
    ap.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"))
    a = ap.parse_args(argv)
    result = {"transport": transport_budget(a.primaries, a.rounds),
              "startup": startup_budget(a.runs, a.startup_primaries), "primaries": a.primaries,
              "rounds": a.rounds, "machine": platform.machine(),
              "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}
    for k, v in result["transport"].items():
        print(f"{k:26s} {v['us_per_primary']:6.2f} us/primary  x{v['ratio_to_full']:.3f}  "
              f"{v['steps_per_primary']:5.2f} steps  {v['segments_per_primary']:6.1f} segments")
    s = result["startup"]
    print(f"python -m mc.run, {s['primaries']} primaries: wall {s['wall_s']:.2f} s = imports {s['imports_s']:.2f} "
          f"+ transport {s['transport_s']:.2f} + rest {s['rest_s']:.2f} (kernels from the cache, set-up, output)")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "time_budget.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
