"""Strong scaling: the same run (150 MeV protons in water, 1 mm voxels, nuclear interactions on)
on 1, 2, ... N MPI ranks; transport rate and speed-up versus one rank. Writes
benchmarks/results/scaling.json and scaling.png.

    python benchmarks/scaling.py [--max-ranks N] [--primaries P]

Each configuration runs ``mpirun -n k python -m mc.run`` (JIT loaded from the numba cache: a
first single-rank run warms it) and reads the rate rank 0 measured over the batch loop
(transport plus the per-round reductions; start-up and output excluded) from the HDF5 file.
The single-rank reference of each measurement is the mean rate of one rank pinned to each core
in turn (at most ``--baseline-cores`` cores, spread over the machine): the cores of a virtual
machine often run at different speeds at the same moment (the development VM's two vCPUs
differed by up to 1.5x), and an unpinned single rank lands on either, whereas k ranks use k
cores; k times the mean per-core rate is the ideal for k ranks. The speed of a virtual machine
also drifts over minutes, so each k-rank run is bracketed by such references, one set right
before and one right after it (the after set of one run is the before set of the next), and
its reference is the mean of the two.
Beside it, k independent processes running the kernel over one common time window (each set up
and warmed up first, then started together; process i pinned to core i when k <= cores) give the
ceiling the machine itself sets (shared cores, memory bandwidth, CPU quota), as a speed-up over
one such process (the mean over the same cores): on virtual machines two "cores" often deliver
well under twice the throughput of one.
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
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CFG = """
geometry: {{type: box, material: water, size_mm: [100, 100, 300], voxel_mm: [1, 1, 1]}}
beam: {{energy_MeV: 150, spot_sigma_mm: [4, 4], position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 11, batches: {b}, round_batches: {b}, checkpoint_interval_s: 3600}}
output: {{path: {out}, plot: false}}
"""


def _pin(core):
    """A ``preexec_fn`` that pins the child process to ``core`` (None: no pinning)."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {core})


def baseline_cores(n_max):
    """Up to ``n_max`` cores of this process's CPU set, spread evenly over it ([None] where
    the CPU set cannot be read: no pinning)."""
    if not hasattr(os, "sched_getaffinity"):
        return [None]
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) <= n_max:
        return cores
    return [cores[int(i * len(cores) / n_max)] for i in range(n_max)]


def run_ranks(k, cfg, out, core=None):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    cmd = [sys.executable, "-m", "mc.run", cfg, "--quiet", "--set", f"output.path={out}"]
    if k > 1 and not mpirun:
        raise SystemExit("benchmarks/scaling.py: more than one rank needs mpirun on the PATH "
                         "(pip install -e '.[mpi]')")
    if mpirun:
        cmd = [mpirun, "-n", str(k)] + cmd
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, preexec_fn=_pin(core))
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    with h5py.File(out) as f:
        return float(f["/run"].attrs["protons_per_s"]), wall


def _worker(cfg_path, tmp, idx, duration):
    """One independent process of :func:`independent_processes`: set up and warm up, report
    ready, wait for the common start, transport batches for ``duration`` seconds, write the
    rate."""
    sys.path.insert(0, ROOT)
    import numpy as np

    from mc.config import load_config
    from mc.batch import batch_seed, kernel_inputs, run_batch
    from mc.problem import build_geometry
    from mc.source import build_spots
    from mc.tally import BatchBuffers
    from physics.tables import build_tables

    cfg, _ = load_config(cfg_path)
    grid = build_geometry(cfg)
    spots = build_spots(cfg.beam, grid)
    tab = build_tables(grid.materials)
    inputs = kernel_inputs(grid, tab, spots, cfg.physics)
    buf = BatchBuffers(grid.shape)
    run_batch(batch_seed(idx, 0), 200, inputs, buf)
    open(os.path.join(tmp, f"ready{idx}"), "w").close()
    go = os.path.join(tmp, "go")
    while not os.path.exists(go):
        time.sleep(0.01)
    with open(go) as f:
        t_start = float(f.read())
    while time.time() < t_start:
        time.sleep(0.001)
    n, b = 0, 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration:
        run_batch(batch_seed(1000 + idx, b), 2000, inputs, buf)
        buf.edep[...] = 0.0
        n += 2000
        b += 1
    rate = n / (time.perf_counter() - t0)
    with open(os.path.join(tmp, f"rate{idx}"), "w") as f:
        f.write(repr(float(np.float64(rate))))


def independent_processes(k, cfg, tmp, duration=4.0, cores=None):
    """Aggregate transport rate of k independent single-process kernels running over the same
    time window (each set up and warmed up first, then all started at one wall-clock time):
    the ceiling that the machine itself sets for k-way parallelism (shared cores, memory
    bandwidth, CPU quota), without MPI."""
    for f in os.listdir(tmp):
        if f.startswith(("ready", "rate", "go")):
            os.remove(os.path.join(tmp, f))
    cores = cores or [None] * k
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", cfg, tmp, str(i), str(duration)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_pin(cores[i])) for i in range(k)]
    while sum(os.path.exists(os.path.join(tmp, f"ready{i}")) for i in range(k)) < k:
        if any(p.poll() not in (None, 0) for p in procs):
            raise RuntimeError("".join(p.communicate()[1] for p in procs))
        time.sleep(0.05)
    with open(os.path.join(tmp, "go.tmp"), "w") as f:
        f.write(repr(time.time() + 0.2))
    os.replace(os.path.join(tmp, "go.tmp"), os.path.join(tmp, "go"))
    total = 0.0
    for i, p in enumerate(procs):
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(err)
        with open(os.path.join(tmp, f"rate{i}")) as f:
            total += float(f.read())
    return total


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        _worker(argv[1], argv[2], int(argv[3]), float(argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-ranks", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--primaries", type=int, default=960000,
                    help="primaries per run (the default keeps the run's fixed costs, the final reduction and the "
                    "ranks' uneven finish, to a few per cent; runs of 1e7 or more primaries have less)")
    ap.add_argument("--repeats", type=int, default=3, help="paired measurements per rank count")
    ap.add_argument("--batches", type=int, default=48, help="batches (one round); a multiple of the rank counts "
                    "keeps the static schedule balanced (48: 1, 2, 3, 4, 6, 8, 12, 16, 24, 48 ranks)")
    ap.add_argument("--baseline-cores", type=int, default=4,
                    help="cores the single-rank reference is measured on, pinned, one after the other")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    a = ap.parse_args(argv)
    if min(a.baseline_cores, a.repeats, a.max_ranks, a.primaries, a.batches) < 1:
        ap.error("--baseline-cores, --repeats, --max-ranks, --primaries and --batches must be at least 1")
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    batches = a.batches
    cfg = os.path.join(tmp, "scaling.yaml")
    with open(cfg, "w") as f:
        f.write(CFG.format(n=a.primaries, b=batches, out=os.path.join(tmp, "x.h5")))
    run_ranks(1, cfg, os.path.join(tmp, "warm.h5"))  # numba cache
    # The speed of a virtual machine drifts over minutes: every k-way measurement is paired
    # with 1-way ones taken right before and right after it, and the speed-ups are medians over
    # the pairs.
    cores = baseline_cores(a.baseline_cores)
    all_cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    rows = []
    for k in range(1, a.max_ranks + 1):
        pairs = []
        one_rank = lambda: [run_ranks(1, cfg, os.path.join(tmp, "r1.h5"), c)[0] for c in cores]  # noqa: E731
        before = one_rank()
        for _ in range(a.repeats if k > 1 else 1):
            if k > 1:
                rk, wall = run_ranks(k, cfg, os.path.join(tmp, f"r{k}.h5"))
                after = one_rank()
                per_core = [0.5 * (x + y) for x, y in zip(before, after)]
                before = after
            else:
                per_core = before
            r1 = float(np.mean(per_core))
            if k == 1:
                rk, wall = r1, 0.0
            c1 = float(np.mean([independent_processes(1, cfg, tmp, cores=[c]) for c in cores]))
            pin_k = all_cores[:k] if len(all_cores) >= k else None
            ck = independent_processes(k, cfg, tmp, cores=pin_k) if k > 1 else c1
            pairs.append((r1, rk, wall, c1, ck, per_core))
            print(f"{k} rank(s): {rk:.0f} protons/s (1 rank just before and after, pinned to each of "
                  f"{len(cores)} core(s): "
                  f"{', '.join(f'{x:.0f}' for x in per_core)}, mean {r1:.0f}); {k} independent kernel "
                  f"process(es) over one time window: {ck:.0f} protons/s (1 process: {c1:.0f})")
        med = lambda i: float(np.median([p[i] for p in pairs]))  # noqa: E731
        rows.append({"ranks": k, "protons_per_s": med(1), "wall_s": med(2),
                     "independent_processes_protons_per_s": med(4),
                     "speedup": float(np.median([p[1] / p[0] for p in pairs])),
                     "hardware_ceiling_speedup": float(np.median([p[4] / p[3] for p in pairs])),
                     "pairs": [dict(zip(("one_rank_mean_over_cores", "k_ranks", "wall_s", "one_process_mean_over_cores",
                                         "k_processes", "one_rank_per_core"), p)) for p in pairs]})
    for r in rows:
        r["efficiency"] = r["speedup"] / r["ranks"]
        r["efficiency_vs_ceiling"] = r["speedup"] / r["hardware_ceiling_speedup"]
    res = {"rows": rows, "primaries": a.primaries, "batches": batches, "energy_MeV": 150.0, "voxel_mm": 1.0,
           "baseline_cores": cores,
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
