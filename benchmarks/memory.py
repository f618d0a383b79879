"""Memory per voxel and transport rate of a plain dose run (no LET, no dose to water, no
secondary dose, no FLASH), the rate paired against a reference revision.

    python benchmarks/memory.py [--ref f49a3ef] [--pairs 6] [--auto-pairs 6] [--primaries 200000]
        [--throughput-primaries 300000] [--rss-repeats 2] [--skip-memory] [--skip-throughput]

The cases (1 mm voxels, 1 rank, 150 or 200 MeV, spot sigma 5 mm, source at z = -10 mm)
-----------------------------------------------------------------------------------
* ``water``: a water box of 121 x 121 x 360 voxels (5.27 M), 150 MeV;
* ``slabs``: a slab phantom of 120 x 120 x 350 voxels (5.04 M): water 100 mm, cortical bone
  30 mm, lung 70 mm, water 150 mm, 200 MeV (the Bragg peak in the last water slab).

Each case also runs on a *small* grid (half the lateral size in x and y, the same depth: about a
quarter of the voxels) and on a *tiny* one (5 x 5 x 5 voxels; the slab phantom as 5 x 5 x 4
with the same four materials, 1 mm each, so that the same physics tables are built).

Memory, three figures per case, in bytes per voxel (B/voxel)
-----------------------------------------------------------
* **peak resident set**: ``python -m mc.run case.yaml --quiet`` in a child process (started
  with :class:`subprocess.Popen` and reaped with :func:`os.wait4`, whose ``ru_maxrss`` is the
  child's peak resident set in KiB). Per voxel: (peak of the case - peak of the tiny grid) /
  (voxels of the case - voxels of the tiny grid), the tiny grid taking the interpreter,
  numpy, numba, the compiled kernel and the physics tables away; and the slope (peak of the
  case - peak of the small grid) / (voxels of the case - voxels of the small grid), which needs
  no tiny run and leaves out any part that does not grow with the grid but that the tiny run
  lacks (the small grid's own figure over the tiny one is reported as information).
  ``--rss-repeats`` runs of each grid (median reported). The numba cache is filled first by
  throwaway tiny runs, so that no compiler memory is counted (a run during which the cache
  gained files, i.e. compiled because the engine's sources changed, is flagged). The resident
  set counts only pages that were written: parts of a zeroed array that a run never touches
  are not in it.
* **numpy's traced peak**: in a child process, :mod:`tracemalloc` started around
  :func:`mc.run.simulate` and :func:`mc.output.write_result` of the case (after one untraced
  tiny run that loads the kernels; numpy reports its array allocations to tracemalloc, touched
  or not), the peak above the traced memory at the start, per voxel (as the memory test of
  tests/test_scale.py).
* **the estimate**: :func:`mc.memory.run_memory` ``(cfg, voxels).per_voxel`` (the refusal of a
  run too large for the machine uses it), with its parts; and its fixed part
  (:data:`mc.memory.PROCESS_BYTES`) beside the peak resident set of the tiny grid.

The requirement: at most 32 B/voxel, for each measurement.

Transport rate against a reference revision
-------------------------------------------
The reference (``--ref``, default f49a3ef: the revision before the integer dose sums, the
kernel calls of at most 20,000 primaries and the memory changes) is checked out with
``git worktree add --detach benchmarks/results/ref_run/<rev> <rev>`` (reused when present).
The water case, ``--throughput-primaries`` (3e5), runs as ``python -m mc.run case.yaml --quiet
--set output.path=...`` with the working directory and ``PYTHONPATH`` set to each tree and a
numba cache of its own per tree (``benchmarks/results/numba_cache/<tree>``). Both trees read
the same configuration text, with only keys both accept: ``run: {primaries: 300000, seed: 1,
batches: 10}``. After one warm-up run of each tree (compilation), ``--pairs`` pairs run in ABBA
order (pair i: current then reference for even i, reference then current for odd i). The
rate of a run is ``protons_per_s`` of its HDF5's ``/run`` attributes (the primaries over the
transport loop's time, compilation excluded); each pair gives the ratio current / reference,
reported as the median and quartiles (also the speed ratio from the runs' wall times,
reference / current, start-up and output included). The speed of a virtual machine drifts
within minutes by more than the difference sought, so only paired ratios are meaningful; a
pair in which a run got less than 90 % of a core (its CPU time over its wall time: another
process ran on the same core) is reported but left out when an undisturbed pair exists.
The requirement: median ratio >= 0.97.
``--auto-pairs`` more pairs run the current tree with its default layout (``run.batches`` and
``run.round_batches`` auto) against the reference's ``batches: 10`` (informative). The peak
resident sets of the timed runs, and of one run of each tree on the tiny grid, give both trees'
memory per voxel on the water case as the first measurement above does.

Writes ``benchmarks/results/memory.json`` (with the machine: CPUs, CPU model, revision and the
engine files that differ from it) and prints a table.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

LIMIT_B_PER_VOXEL = 32.0
LIMIT_RATIO = 0.97
#: A run whose CPU time over wall time is below this shared a core with another process.
CPU_SHARE_MIN = 0.9
#: Slabs of the heterogeneous case (material, thickness mm), along +z.
SLABS = (("water", 100), ("bone_cortical", 30), ("lung", 70), ("water", 150))
#: The tiny grid's slabs: the same materials (the same physics tables), 1 mm each.
TINY_SLABS = tuple((m, 1) for m, _ in SLABS)
CASES = {
    "water": {"beam": "{energy_MeV: 150, spot_sigma_mm: [5, 5], position_mm: [0, 0, -10]}",
              "grids": {"big": (121, 121, 360), "small": (61, 61, 360), "tiny": (5, 5, 5)}},
    "slabs": {"beam": "{energy_MeV: 200, spot_sigma_mm: [5, 5], position_mm: [0, 0, -10]}",
              "grids": {"big": (120, 120, 350), "small": (60, 60, 350), "tiny": (5, 5, 4)}},
}


# ---- configurations ----------------------------------------------------------------------------
def voxels(shape):
    return int(shape[0]) * int(shape[1]) * int(shape[2])


def config_text(case, grid, primaries, out, batches=None):
    """YAML of ``case`` on ``grid`` ("big", "small", "tiny"); ``batches`` None: the default."""
    x, y, z = CASES[case]["grids"][grid]
    if case == "water":
        geometry = f"{{type: box, material: water, size_mm: [{x}, {y}, {z}], voxel_mm: [1, 1, 1]}}"
    else:
        layers = TINY_SLABS if grid == "tiny" else SLABS
        assert sum(t for _, t in layers) == z
        slabs = ", ".join(f"{{material: {m}, thickness_mm: {t}}}" for m, t in layers)
        geometry = f"{{type: slabs, size_mm: [{x}, {y}, {z}], voxel_mm: [1, 1, 1], slabs: [{slabs}]}}"
    run = f"primaries: {primaries}, seed: 1" + ("" if batches is None else f", batches: {batches}")
    return (f"geometry: {geometry}\nbeam: {CASES[case]['beam']}\nrun: {{{run}}}\n"
            f"output: {{path: {out}, plot: false}}\n")


def write_config(work, name, text):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


# ---- child processes ---------------------------------------------------------------------------
def tree_env(tree, cache):
    """Environment of a run of ``tree`` with its own numba cache ``cache``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = tree + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NUMBA_CACHE_DIR"] = cache
    env.pop("FLASHMC_MEMORY_LIMIT", None)
    return env


def cache_files(cache):
    return sum(len(f) for _, _, f in os.walk(cache)) if os.path.isdir(cache) else 0


def run_child(cmd, tree, cache, log):
    """Run ``cmd`` in ``tree``; returns (peak resident set in bytes, wall s, kernels compiled,
    CPU share). The peak is the child's ``ru_maxrss`` from :func:`os.wait4`; the CPU share its
    CPU time over its wall time (below :data:`CPU_SHARE_MIN`: it shared a core with another
    process)."""
    n0 = cache_files(cache)
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=tree, env=tree_env(tree, cache), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} (in {tree}) exited with {code}:\n{tail}")
    return usage.ru_maxrss * 1024, wall, cache_files(cache) > n0, (usage.ru_utime + usage.ru_stime) / wall


def mc_run(tree, cache, config, log, out=None):
    cmd = [sys.executable, "-m", "mc.run", config, "--quiet"] + ([] if out is None else ["--set", f"output.path={out}"])
    return run_child(cmd, tree, cache, log)


def run_attrs(path):
    import h5py

    with h5py.File(path, "r") as f:
        return {k: (v.item() if getattr(v, "size", 0) == 1 else v) for k, v in f["run"].attrs.items()}


# ---- memory ------------------------------------------------------------------------------------
def traced_worker(config, tiny_config, out_json):
    """In this process: an untraced tiny run (loads the kernels), then ``tracemalloc`` around
    simulate + write_result of ``config``; writes the traced peak above the start and the
    estimate of :func:`mc.memory.run_memory` as JSON."""
    import gc
    import tracemalloc

    from mc.config import load_config
    from mc.memory import PROCESS_BYTES, run_memory
    from mc.output import write_result
    from mc.run import simulate

    tiny, _ = load_config(tiny_config)
    cfg, _ = load_config(config)
    simulate(tiny)
    gc.collect()
    n = None
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        res = simulate(cfg)
        n = int(res.grid.material_id.size)
        write_result(cfg.output.path, res, "", "")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    est = run_memory(cfg, n)
    with open(out_json, "w") as f:
        json.dump({"voxels": n, "traced_peak_above_start_bytes": peak - base, "traced_start_bytes": base,
                   "estimate_per_voxel": est.per_voxel, "estimate_parts": est.parts,
                   "estimate_total_bytes": est.total, "process_bytes": PROCESS_BYTES}, f)


def measure_memory(case, work, cache, repeats, primaries, log):
    """Peak resident sets of ``case`` on its three grids (``repeats`` runs of each, the grids
    in turn), numpy's traced peak and the estimate; per voxel (module docstring)."""
    grids = CASES[case]["grids"]
    paths = {g: write_config(work, f"{case}_{g}", config_text(case, g, primaries, os.path.join(work, f"{case}_{g}.h5")))
             for g in grids}
    rows = {g: {"shape": list(grids[g]), "voxels": voxels(grids[g]), "peak_rss_bytes": [], "wall_s": [],
                "kernels_compiled": False} for g in grids}
    for _ in range(repeats):
        for g in ("tiny", "small", "big"):
            peak, wall, compiled, _ = mc_run(ROOT, cache, paths[g], log)
            rows[g]["peak_rss_bytes"].append(peak)
            rows[g]["wall_s"].append(wall)
            rows[g]["kernels_compiled"] |= compiled
            print(f"  {case} {g:5s} {rows[g]['voxels']:>9d} voxels: peak resident set {peak / 2**20:7.1f} MiB "
                  f"({wall:.1f} s)" + (" (kernels compiled)" if compiled else ""), flush=True)
    for r in rows.values():
        r["peak_rss_median_bytes"] = float(statistics.median(r["peak_rss_bytes"]))
    big, small, tiny = rows["big"], rows["small"], rows["tiny"]

    def per_voxel(a, b):
        return (a["peak_rss_median_bytes"] - b["peak_rss_median_bytes"]) / (a["voxels"] - b["voxels"])

    out_json = os.path.join(work, f"{case}_traced.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "traced", paths["big"], paths["tiny"], out_json]
    t0 = time.perf_counter()
    n0 = cache_files(cache)
    with open(log, "a") as f:
        r = subprocess.run(cmd, cwd=ROOT, env=tree_env(ROOT, cache), stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError(f"traced run of {case} failed (see {log})")
    with open(out_json) as f:
        traced = json.load(f)
    traced["wall_s"] = time.perf_counter() - t0
    traced["kernels_compiled"] = cache_files(cache) > n0
    est = traced["estimate_per_voxel"]
    measured = {"peak_rss_over_tiny": per_voxel(big, tiny), "peak_rss_slope_small_to_big": per_voxel(big, small),
                "traced_numpy_peak": traced["traced_peak_above_start_bytes"] / traced["voxels"]}
    return {"grids": rows, "traced": traced, "B_per_voxel": measured, "estimate_B_per_voxel": est,
            "small_grid_peak_rss_over_tiny_B_per_voxel": per_voxel(small, tiny),
            "estimate_parts_B_per_voxel": traced["estimate_parts"],
            "pass": {k: bool(v <= LIMIT_B_PER_VOXEL) for k, v in measured.items()},
            "above_estimate_B_per_voxel": {k: v - est for k, v in measured.items()},
            "tiny_peak_rss_bytes": tiny["peak_rss_median_bytes"], "estimate_process_bytes": traced["process_bytes"]}


# ---- transport rate against the reference --------------------------------------------------------
def git(*args, cwd=ROOT):
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def reference_tree(rev):
    """The worktree of ``rev`` under benchmarks/results/ref_run/ (added when absent)."""
    path = os.path.join(RESULTS, "ref_run", rev)
    want = git("rev-parse", f"{rev}^{{commit}}")
    if not os.path.exists(os.path.join(path, "mc", "run.py")):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        git("worktree", "add", "--detach", path, rev)
    have = git("rev-parse", "HEAD", cwd=path)
    if have != want:
        raise SystemExit(f"memory.py: {path} holds {have[:10]}, not {rev} ({want[:10]}); remove it "
                         f"(git worktree remove {path}) or give another --ref")
    return path, want


def imported_from(tree, cache):
    """The folder the package ``mc`` is imported from in a run of ``tree``."""
    r = subprocess.run([sys.executable, "-c", "import os, mc; print(os.path.dirname(os.path.abspath(mc.__file__)))"],
                       cwd=tree, env=tree_env(tree, cache), capture_output=True, text=True, check=True)
    return r.stdout.strip()


def throughput(rev, pairs, auto_pairs, primaries, work, log):
    """Paired transport rates of the current tree and the reference ``rev`` on the water case
    (module docstring)."""
    import numpy as np

    ref, commit = reference_tree(rev)
    trees = {"current": (ROOT, os.path.join(RESULTS, "numba_cache", "current")),
             "reference": (ref, os.path.join(RESULTS, "numba_cache", rev))}
    sources = {k: imported_from(*v) for k, v in trees.items()}
    for k, (tree, _) in trees.items():
        if os.path.realpath(sources[k]) != os.path.realpath(os.path.join(tree, "mc")):
            raise SystemExit(f"memory.py: the {k} tree's runs import mc from {sources[k]}, not {tree}/mc")
    placeholder = os.path.join(work, "placeholder.h5")
    configs = {"batches10": write_config(work, "throughput_batches10",
                                         config_text("water", "big", primaries, placeholder, batches=10)),
               "auto": write_config(work, "throughput_auto", config_text("water", "big", primaries, placeholder)),
               "tiny": write_config(work, "throughput_tiny",
                                    config_text("water", "tiny", primaries, placeholder, batches=10))}
    runs = []

    def one(which, layout, stage, pair=None):
        tree, cache = trees[which]
        out = os.path.join(work, f"throughput_{which}.h5")
        load = os.getloadavg()[0]
        peak, wall, compiled, share = mc_run(tree, cache, configs[layout], log, out)
        a = run_attrs(out)
        os.unlink(out)
        row = {"tree": which, "layout": layout, "stage": stage, "pair": pair,
               "protons_per_s": float(a["protons_per_s"]), "transport_s": float(a["elapsed_s"]),
               "batches": int(a["batches"]),
               "round_batches": int(a["round_batches"]) if "round_batches" in a else None, "wall_s": wall,
               "peak_rss_bytes": peak, "kernels_compiled": compiled, "cpu_share": share,
               "load_average_1min_before": load}
        runs.append(row)
        print(f"  {stage:9s} {'' if pair is None else pair:>2} {which:9s} ({layout:9s}, {row['batches']} batches): "
              f"{row['protons_per_s']:8.0f} protons/s, wall {wall:5.1f} s, CPU share {share:.2f}, "
              f"peak {peak / 2**20:4.0f} MiB"
              + (" (compiled)" if compiled else ""), flush=True)
        return row

    one("current", "batches10", "warm-up")
    one("reference", "batches10", "warm-up")
    tiny = {w: one(w, "tiny", "tiny")["peak_rss_bytes"] for w in trees}
    series = {}
    for layout, n in (("batches10", pairs), ("auto", auto_pairs)):
        if n < 1:
            continue
        if layout == "auto":
            one("current", "auto", "warm-up")
        rows = []
        for i in range(n):
            order = ("current", "reference") if i % 2 == 0 else ("reference", "current")
            got = {w: one(w, layout if w == "current" else "batches10", layout, i) for w in order}
            rows.append({"pair": i, "first": order[0], "current_protons_per_s": got["current"]["protons_per_s"],
                         "reference_protons_per_s": got["reference"]["protons_per_s"],
                         "ratio": got["current"]["protons_per_s"] / got["reference"]["protons_per_s"],
                         "wall_ratio": got["reference"]["wall_s"] / got["current"]["wall_s"],
                         "compiled": got["current"]["kernels_compiled"] or got["reference"]["kernels_compiled"],
                         "cpu_share_min": min(g["cpu_share"] for g in got.values())})
        calm = [r for r in rows if r["cpu_share_min"] >= CPU_SHARE_MIN and not r["compiled"]] or rows
        ratios = np.array([r["ratio"] for r in calm])
        walls = np.array([r["wall_ratio"] for r in calm])
        q, qw = np.percentile(ratios, [25, 50, 75]), np.percentile(walls, [25, 50, 75])
        series[layout] = {"pairs": rows, "pairs_used": [r["pair"] for r in calm],
                          "ratio_median_all_pairs": float(np.median([r["ratio"] for r in rows])),
                          "ratio_median": float(q[1]), "ratio_quartiles": [float(q[0]), float(q[2])],
                          "wall_speed_ratio_median": float(qw[1]),
                          "wall_speed_ratio_quartiles": [float(qw[0]), float(qw[2])],
                          **{f"{w}_protons_per_s_median": float(np.median([r[f"{w}_protons_per_s"] for r in calm]))
                             for w in trees},
                          "ratio_limit": LIMIT_RATIO, "pass": bool(q[1] >= LIMIT_RATIO)}
    timed = [r for r in runs if r["stage"] == "batches10"]
    peak = {w: float(np.median([r["peak_rss_bytes"] for r in timed if r["tree"] == w])) for w in trees}
    dv = voxels(CASES["water"]["grids"]["big"]) - voxels(CASES["water"]["grids"]["tiny"])
    return {"reference": rev, "reference_commit": commit, "reference_tree": os.path.relpath(ref, ROOT),
            "mc_imported_from": {k: os.path.relpath(v, ROOT) for k, v in sources.items()},
            "case": "water", "shape": list(CASES["water"]["grids"]["big"]), "primaries": primaries,
            "config_text": {k: open(v).read() for k, v in configs.items()},
            "order": "pair i: current then reference (i even), reference then current (i odd)",
            "note": "the speed of the virtual machine drifts within minutes: only the paired ratios are meaningful",
            "series": series, "peak_rss_median_bytes_batches10": peak, "tiny_peak_rss_bytes": tiny,
            "peak_rss_over_tiny_B_per_voxel": {w: (peak[w] - tiny[w]) / dv for w in trees}, "runs": runs}


# ---- driver ------------------------------------------------------------------------------------
def machine_info():
    from importlib.metadata import PackageNotFoundError, version

    from machine import cpu_model

    model = cpu_model()
    versions = {}
    for pkg in ("numpy", "numba", "h5py"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    dirty = git("status", "--porcelain", "--", "mc", "physics", "geometry", "flash")
    return {"nproc": os.cpu_count(),
            "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu_model": model, "machine": platform.machine(), "python": platform.python_version(), **versions,
            "revision": git("rev-parse", "--short", "HEAD"),
            "engine_files_differing_from_revision": [ln.split(None, 1)[1] for ln in dirty.splitlines()],
            "memory_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", default="f49a3ef", help="reference revision of the paired rate (default f49a3ef)")
    p.add_argument("--pairs", type=int, default=6, help="timed pairs, both trees with batches: 10 (default 6)")
    p.add_argument("--auto-pairs", type=int, default=6,
                   help="timed pairs with the current tree's default layout (default 6; 0: none)")
    p.add_argument("--primaries", type=int, default=200_000, help="primaries of the memory runs (default 2e5)")
    p.add_argument("--throughput-primaries", type=int, default=300_000, help="primaries of the timed runs (3e5)")
    p.add_argument("--rss-repeats", type=int, default=2, help="runs of each grid for the peak resident set")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--out", default=os.path.join(RESULTS, "memory.json"))
    return p


def summary(res):
    print(f"\nmemory of a plain dose run, B/voxel (requirement <= {LIMIT_B_PER_VOXEL:g} per measurement):")
    print(f"  {'case':6s} {'voxels':>8s} {'RSS-tiny':>9s} {'RSS slope':>9s} {'traced':>9s} {'estimate':>9s}"
          f"   tiny peak RSS / PROCESS_BYTES")
    for case, m in res.get("memory", {}).items():
        b, ok = m["B_per_voxel"], m["pass"]

        def cell(k):
            return f"{b[k]:7.1f}{' ' if ok[k] else '!'}"

        print(f"  {case:6s} {m['grids']['big']['voxels'] / 1e6:7.2f}M {cell('peak_rss_over_tiny'):>9s} "
              f"{cell('peak_rss_slope_small_to_big'):>9s} {cell('traced_numpy_peak'):>9s} "
              f"{m['estimate_B_per_voxel']:8.1f}    {m['tiny_peak_rss_bytes'] / 2**20:.0f} MiB / "
              f"{m['estimate_process_bytes'] / 2**20:.0f} MiB")
    if res.get("memory"):
        print("  ('!': above the requirement)")
    t = res.get("throughput")
    if t:
        for layout, s in t["series"].items():
            print(f"transport rate current/{t['reference']} ({layout}, water, {t['primaries']:g} primaries, "
                  f"{len(s['pairs_used'])} of {len(s['pairs'])} ABBA pairs undisturbed): median "
                  f"{s['ratio_median']:.3f} (quartiles "
                  f"{s['ratio_quartiles'][0]:.3f}-{s['ratio_quartiles'][1]:.3f}; requirement >= {LIMIT_RATIO:g}: "
                  f"{'pass' if s['pass'] else 'FAIL'}); wall-time speed ratio {s['wall_speed_ratio_median']:.3f}")
        print(f"  ({t['note']})")
        pv = t["peak_rss_over_tiny_B_per_voxel"]
        print(f"  peak resident set of the timed runs over each tree's tiny run: current {pv['current']:.1f}, "
              f"{t['reference']} {pv['reference']:.1f} B/voxel")
    print(f"benchmark took {res['benchmark_wall_s']:.0f} s; wrote {res['json']}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--worker", "traced"]:
        traced_worker(*argv[2:5])
        return 0
    a = _parser().parse_args(argv)
    if min(a.pairs, a.primaries, a.throughput_primaries, a.rss_repeats) < 1 or a.auto_pairs < 0:
        _parser().error("--pairs, --primaries, --throughput-primaries, --rss-repeats must be >= 1, --auto-pairs >= 0")
    t_start = time.perf_counter()
    os.makedirs(RESULTS, exist_ok=True)
    log = os.path.join(RESULTS, "memory_runs.log")
    open(log, "w").close()
    res = {"machine": machine_info(), "load_average_before": os.getloadavg(),
           "command": " ".join(["python", "benchmarks/memory.py", *argv]), "log": os.path.relpath(log, ROOT),
           "requirement_B_per_voxel": LIMIT_B_PER_VOXEL}
    cache = os.path.join(RESULTS, "numba_cache", "current")
    with tempfile.TemporaryDirectory(prefix="flashmc_memory_") as work:
        if not a.skip_memory:
            t0 = time.perf_counter()
            print("filling the numba cache (throwaway tiny runs)", flush=True)
            for case in CASES:
                mc_run(ROOT, cache, write_config(work, f"warm_{case}", config_text(
                    case, "tiny", 1000, os.path.join(work, "warm.h5"))), log)
            res["memory_primaries"] = a.primaries
            res["memory"] = {}
            for case in CASES:
                print(f"memory, {case}:", flush=True)
                res["memory"][case] = measure_memory(case, work, cache, a.rss_repeats, a.primaries, log)
            res["memory_wall_s"] = time.perf_counter() - t0
        if not a.skip_throughput:
            t0 = time.perf_counter()
            print(f"transport rate, current tree against {a.ref}:", flush=True)
            res["throughput"] = throughput(a.ref, a.pairs, a.auto_pairs, a.throughput_primaries, work, log)
            res["throughput_wall_s"] = time.perf_counter() - t0
    res["load_average_after"] = os.getloadavg()
    res["revision_after"] = git("rev-parse", "--short", "HEAD")  # (others may commit while it runs)
    res["benchmark_wall_s"] = time.perf_counter() - t_start
    res["json"] = os.path.relpath(a.out, ROOT)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    summary(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
