"""Strong scaling: the same run (150 MeV protons in water, 1 mm voxels, nuclear interactions on)
on 1, 2, ... N MPI ranks; transport rate and speed-up versus one rank. Writes
benchmarks/results/scaling.json and scaling.png.

    python benchmarks/scaling.py [--max-ranks N] [--primaries P]

Each configuration runs ``mpirun -n k python -m mc.run`` (JIT loaded from the numba cache: a
first single-rank run warms it) and reads the rate rank 0 measured over the batch loop
(transport plus the per-round reductions; start-up and output excluded) from the HDF5 file.
Beside it, k independent single-process runs started together give the ceiling the machine
itself sets (shared cores, memory bandwidth, CPU quota): on virtual machines two "cores" often
deliver well under twice the throughput of one.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CFG = """
geometry: {{type: box, material: water, size_mm: [100, 100, 300], voxel_mm: [1, 1, 1]}}
beam: {{energy_MeV: 150, spot_sigma_mm: [4, 4], position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 11, batches: {b}, round_batches: {b}, checkpoint_interval_s: 3600}}
output: {{path: {out}, plot: false}}
"""


def run_ranks(k, cfg, out):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    cmd = [sys.executable, "-m", "mc.run", cfg, "--quiet", "--set", f"output.path={out}"]
    if k > 1 or mpirun:
        cmd = [mpirun, "-n", str(k)] + cmd
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    with h5py.File(out) as f:
        return float(f["/run"].attrs["protons_per_s"]), wall


def independent_processes(k, cfg, tmp):
    """Aggregate rate of k independent single-process runs started together: the ceiling that
    the machine itself sets for k-way parallelism (shared cores, memory bandwidth, CPU quota)."""
    procs = []
    for i in range(k):
        out = os.path.join(tmp, f"ind{k}_{i}.h5")
        procs.append((subprocess.Popen([sys.executable, "-m", "mc.run", cfg, "--quiet", "--set", f"output.path={out}"],
                                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), out))
    total = 0.0
    for p, out in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(err)
        with h5py.File(out) as f:
            total += float(f["/run"].attrs["protons_per_s"])
    return total


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-ranks", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--primaries", type=int, default=120000)
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    batches = 24  # a multiple of 1, 2, 3, 4, 6, 8, 12, 24 ranks
    cfg = os.path.join(tmp, "scaling.yaml")
    with open(cfg, "w") as f:
        f.write(CFG.format(n=a.primaries, b=batches, out=os.path.join(tmp, "x.h5")))
    run_ranks(1, cfg, os.path.join(tmp, "warm.h5"))  # numba cache
    rows = []
    for k in range(1, a.max_ranks + 1):
        rate, wall = run_ranks(k, cfg, os.path.join(tmp, f"r{k}.h5"))
        ceiling = independent_processes(k, cfg, tmp) if k > 1 else rate
        rows.append({"ranks": k, "protons_per_s": rate, "wall_s": wall,
                     "independent_processes_protons_per_s": ceiling})
        print(f"{k} rank(s): {rate:.0f} protons/s, wall {wall:.1f} s; {k} independent processes together: "
              f"{ceiling:.0f} protons/s")
    base = rows[0]["protons_per_s"]
    for r in rows:
        r["speedup"] = r["protons_per_s"] / base
        r["efficiency"] = r["speedup"] / r["ranks"]
        r["hardware_ceiling_speedup"] = r["independent_processes_protons_per_s"] / base
        r["efficiency_vs_ceiling"] = r["speedup"] / r["hardware_ceiling_speedup"]
    res = {"rows": rows, "primaries": a.primaries, "batches": batches, "energy_MeV": 150.0, "voxel_mm": 1.0,
           "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d")}
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump(res, f, indent=2)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ks = [r["ranks"] for r in rows]
    ax.plot(ks, [r["speedup"] for r in rows], "o-", label="MPI ranks (measured)")
    ax.plot(ks, [r["hardware_ceiling_speedup"] for r in rows], "s:", label="independent processes (machine ceiling)")
    ax.plot(ks, ks, "k--", lw=1, label="ideal")
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("speed-up over one rank")
    ax.set_title(f"strong scaling, {a.primaries} protons, 150 MeV, 1 mm voxels")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "scaling.png"), dpi=110)
    print(f"wrote {os.path.join(a.out, 'scaling.json')} and scaling.png")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
