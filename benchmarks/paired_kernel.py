"""Paired comparison of the transport kernel with the kernel of a reference revision.

    python benchmarks/paired_kernel.py --ref 15d6fb8            # results and timing
    python benchmarks/paired_kernel.py --ref 15d6fb8 --check    # results only

The reference revision's ``mc/transport.py`` (the single-function kernel before the kernel
package) is taken from git and imported beside the current kernel, so both run in one
process on the same batches:

* **results**: for several cases (150 MeV in water; a water/bone/lung slab phantom with energy
  spread and divergence, with and without the optional tallies and the touched-voxel list; the
  reference mode with steps ending at voxel boundaries; no nuclear interactions) both kernels
  transport the same seeds, and every tally and counter is compared: equal bit for bit, or the
  largest relative difference is reported;
* **timing** (by default the throughput benchmark's case: 150 MeV, water, 1 mm voxels,
  100 x 100 x 300, nuclear interactions on; ``--timing-case water150_let`` adds the LET and
  dose-to-water tallies, i.e. times the kernel with the optional tallies): the two kernels alternate on the same batches (ABBA order, so a
  drift of the machine's speed cancels), and the ratio of kernel times new/old is reported per
  pair, as the median and quartiles. This VM's speed swings by up to 1.6x within minutes, so
  only such paired ratios are meaningful.

Writes ``benchmarks/results/paired_kernel.json``. The reference kernel is written to
``benchmarks/results/ref_kernel/<rev>/`` so that numba caches it between runs.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import mc.jit  # noqa: E402,F401  (sets the numba cache before any compiled function is defined)
from geometry.phantoms import box, slabs  # noqa: E402
from mc.config import load_config_text  # noqa: E402
from mc.kernel import bundles as kb  # noqa: E402
from mc.kernel.layout import N_CLASSES, N_COUNTERS, N_LET  # noqa: E402
from mc.kernel.transport import transport_batch  # noqa: E402
from mc.source import build_spots  # noqa: E402
from mc.tally import book_class_deposits  # noqa: E402
from physics.nuclear import product_model_parameters  # noqa: E402
from physics.species import species_arrays  # noqa: E402
from physics.tables import build_tables, majorant_sigma  # noqa: E402

CASES = {
    "water150": ("""
geometry: {type: box, material: water, size_mm: [100, 100, 300], voxel_mm: [1, 1, 1]}
beam: {energy_MeV: 150, position_mm: [0, 0, -10], spot_sigma_mm: [3, 3]}
run: {primaries: 1000, batches: 2}""", dict()),
    "slabs_plain": ("""
geometry: {type: slabs, size_mm: [30, 30, 120], voxel_mm: [1.5, 1.5, 2],
           slabs: [{material: water, thickness_mm: 30}, {material: bone_cortical, thickness_mm: 20},
                   {material: lung, thickness_mm: 20}, {material: water, thickness_mm: 50}]}
beam: {energy_MeV: 130, energy_spread_MeV: 1.0, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1],
       divergence_mrad: [4, 4]}
run: {primaries: 1000, batches: 2}""", dict()),
    "water150_let": (None, dict(base="water150", water=True, let=True)),
    "slabs_optional": (None, dict(base="slabs_plain", water=True, sec=True, let=True, touched=True)),
    "slabs_voxel_steps": (None, dict(base="slabs_plain", overrides=["physics.voxel_steps=true"])),
    "slabs_no_nuclear": (None, dict(base="slabs_plain", nuclear=False)),
    "water230_tilted": ("""
geometry: {type: box, material: water, size_mm: [80, 80, 400], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 230, position_mm: [5, -3, -10], direction: [0.1, -0.05, 1], spot_sigma_mm: [5, 3]}
run: {primaries: 600, batches: 2}""", dict(let=True)),
}


def reference_module(rev):
    """The reference revision's mc/transport.py, imported under its own name."""
    d = os.path.join(HERE, "results", "ref_kernel", rev)
    path = os.path.join(d, f"transport_{rev}.py")
    if not os.path.exists(path):
        got = subprocess.run(["git", "show", f"{rev}:mc/transport.py"], cwd=ROOT, capture_output=True, text=True)
        if got.returncode != 0:
            raise SystemExit(f"paired_kernel.py: --ref {rev}: no mc/transport.py at that revision ({got.stderr.strip()}); "
                             "give a revision of the single-function kernel, e.g. 15d6fb8")
        src = got.stdout
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            f.write(src)
    spec = importlib.util.spec_from_file_location(f"flashmc_ref_transport_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # (numba's cache finds the module's globals by its name)
    spec.loader.exec_module(mod)
    return mod


class Problem:
    """Grid, spots, tables and switches of one case, and fresh output buffers for either kernel."""

    def __init__(self, name):
        text, opts = CASES[name]
        if text is None:
            text = CASES[opts["base"]][0]
        cfg, _ = load_config_text(text, opts.get("overrides", []))
        g = cfg.geometry
        if g.type == "box":
            self.grid = box(g.material, np.asarray(g.size_mm) / 10.0, np.asarray(g.voxel_mm) / 10.0)
        else:
            self.grid = slabs([(s.material, s.thickness_mm / 10.0, s.density_g_cm3) for s in g.slabs],
                              np.asarray(g.size_mm[:2]) / 10.0, np.asarray(g.voxel_mm) / 10.0)
        self.spots = build_spots(cfg.beam, self.grid)
        self.tables = build_tables(self.grid.materials)
        self.phys = cfg.physics
        self.water, self.sec, self.let = opts.get("water", False), opts.get("sec", False), opts.get("let", False)
        self.touched = opts.get("touched", False)
        self.nuclear = opts.get("nuclear", True)

    def buffers(self):
        shape = self.grid.shape
        one = (1, 1, 1)
        n = int(np.prod(shape))
        b = dict(
            edep=np.zeros(shape), edep_water=np.zeros(shape if self.water else one),
            edep_sec=np.zeros(shape if self.sec else one),
            fluence_z=np.zeros(shape[2]), let=np.zeros((N_LET,) + (shape if self.let else one)),
            counters=np.zeros(N_COUNTERS), dep_class=np.zeros(N_CLASSES),
            touched_mark=np.zeros(n if self.touched else 1, np.int8),
            touched=np.zeros(n if self.touched else 1, np.int64), n_touched=np.zeros(1, np.int64),
            bbox=np.array([2**62, 2**62, 2**62, -1, -1, -1], np.int64),
            col_z=np.empty((2, shape[0] * shape[1]), np.int32))
        b["col_z"][0] = 2**30
        b["col_z"][1] = -1
        return b

    # ---- the current kernel --------------------------------------------------------------
    def new_inputs(self):
        par = kb.params_bundle(self.phys, self.water, self.sec, self.let)
        return (kb.source_bundle(self.spots), kb.geometry_bundle(self.grid), kb.tables_bundle(self.tables),
                kb.species_bundle(self.tables, self.phys.cutoff_MeV), kb.nuclear_bundle(self.tables, par, self.nuclear),
                par)

    def run_new(self, inputs, seed, n, buf):
        transport_batch(n, seed.copy(), *inputs, kb.Tallies(**buf))
        book_class_deposits(buf["counters"], buf["dep_class"])

    # ---- the reference kernel ------------------------------------------------------------
    def old_inputs(self, ref):
        p = np.zeros(ref.N_PARAMS)
        p[ref.PAR_T_CUT] = self.phys.cutoff_MeV
        p[ref.PAR_MAX_RANGE_FRACTION] = self.phys.max_range_fraction
        p[ref.PAR_STRAGGLING] = float(self.phys.straggling)
        p[ref.PAR_SCATTERING] = float(self.phys.multiple_scattering)
        p[ref.PAR_DOSE_TO_WATER] = float(self.water)
        p[ref.PAR_SECONDARY_TALLY] = float(self.sec)
        p[ref.PAR_LET] = float(self.let)
        p[ref.PAR_FINAL_RANGE] = self.phys.final_range_mm * 0.1
        p[ref.PAR_VOXEL_STEPS] = float(self.phys.voxel_steps)
        p[ref.PAR_MAX_STEP] = self.phys.max_step_mm * 0.1
        t, g, s = self.tables, self.grid, self.spots
        sigma = (majorant_sigma(t, p[ref.PAR_MAX_RANGE_FRACTION], p[ref.PAR_FINAL_RANGE]) if self.nuclear
                 else np.zeros_like(t.sigma_nuclear))
        charge, mass = species_arrays()
        return ((s.cdf, s.energy, s.energy_sigma, s.pos, s.dir, s.ax1, s.ax2, s.sigma, s.div, s.species,
                 g.material_id, g.density, g.lower_cm, g.spacing_cm,
                 t.lnT0, t.inv_dlnT, t.energy.reshape(1, -1), t.range_gcm2, t.water_ratio, sigma, t.lg_pv, t.inv_pv2,
                 t.range_straggling, t.inv_scattering_length, t.range_bins, t.range_bin0, charge, mass,
                 t.chan_xs, t.chan_kind, product_model_parameters(), t.stopping, t.stopping_integral,
                 t.energy_slope, t.scattering_integral), p)

    @staticmethod
    def run_old(ref, inputs, seed, n, buf):
        args, p = inputs
        ref.transport_batch(n, seed, *args, p, buf["edep"], buf["edep_water"], buf["edep_sec"], buf["fluence_z"],
                            buf["let"], buf["counters"], buf["touched_mark"], buf["touched"], buf["n_touched"],
                            buf["bbox"], buf["col_z"])


def seed_state(seed, batch):
    return np.random.SeedSequence(int(seed), spawn_key=(int(batch),)).generate_state(4, np.uint64)


def compare_case(ref, name, n, seeds):
    """Largest relative difference of each output of the two kernels over ``seeds``."""
    prob = Problem(name)
    new_in, old_in = prob.new_inputs(), prob.old_inputs(ref)
    worst = {}
    for s in seeds:
        a, b = prob.buffers(), prob.buffers()
        prob.run_old(ref, old_in, seed_state(s, 0), n, a)
        prob.run_new(new_in, seed_state(s, 0), n, b)
        if prob.touched:  # the lists hold the same voxels, maybe in another order
            a["touched"] = np.sort(a["touched"][:a["n_touched"][0]])
            b["touched"] = np.sort(b["touched"][:b["n_touched"][0]])
        for k in a:
            if k == "dep_class":  # booked into the counters (the old kernel has no such buffer)
                continue
            x, y = np.asarray(a[k], float), np.asarray(b[k], float)
            if x.shape != y.shape:
                d = np.inf
            else:
                scale = max(np.abs(x).max(initial=0.0), 1e-300)
                d = float(np.abs(x - y).max(initial=0.0) / scale)
            worst[k] = max(worst.get(k, 0.0), d)
    return worst


def timing(ref, pairs, n, case="water150"):
    """Paired kernel times (ABBA order) on ``case`` (default the throughput benchmark's); returns
    the per-pair ratios and the kernel times."""
    prob = Problem(case)
    new_in, old_in = prob.new_inputs(), prob.old_inputs(ref)
    bufs = [prob.buffers(), prob.buffers()]
    for b in bufs:  # compile and touch the pages
        prob.run_old(ref, old_in, seed_state(1, 0), 10, b)
        prob.run_new(new_in, seed_state(1, 0), 10, b)
    ratios, t_old, t_new = [], [], []
    for i in range(pairs):
        seed = seed_state(1000 + i, i)
        times = {}
        for which in (("old", "new") if i % 2 == 0 else ("new", "old")):
            buf = bufs[0] if which == "old" else bufs[1]
            for v in buf.values():
                if v.dtype.kind == "f":
                    v.fill(0.0)
            t0 = time.perf_counter()
            if which == "old":
                prob.run_old(ref, old_in, seed, n, buf)
            else:
                prob.run_new(new_in, seed, n, buf)
            times[which] = time.perf_counter() - t0
        ratios.append(times["new"] / times["old"])
        t_old.append(times["old"])
        t_new.append(times["new"])
    return np.array(ratios), np.array(t_old), np.array(t_new)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", default="15d6fb8", help="git revision of the reference kernel (mc/transport.py)")
    p.add_argument("--check", action="store_true", help="compare results only, no timing")
    p.add_argument("--pairs", type=int, default=40, help="timed pairs (default 40)")
    p.add_argument("--primaries", type=int, default=2000, help="primaries per timed batch (default 2000)")
    p.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES), help="result cases to compare")
    p.add_argument("--timing-case", default="water150", choices=list(CASES),
                   help="case of the timed pairs (default water150; water150_let times the kernel with the "
                        "optional tallies)")
    args = p.parse_args(argv)
    if args.pairs < 1 or args.primaries < 1:
        p.error("--pairs and --primaries must be at least 1")
    ref = reference_module(args.ref)
    out = {"reference": args.ref, "results": {}}
    for name in args.cases:
        t0 = time.perf_counter()
        worst = compare_case(ref, name, 200, [11, 12])
        same = all(v == 0.0 for v in worst.values())
        out["results"][name] = worst
        print(f"{name:20s} {'bit for bit' if same else 'differs'}  ({time.perf_counter() - t0:.0f} s)"
              + ("" if same else "  " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items() if v)))
    if not args.check:
        r, to, tn = timing(ref, args.pairs, args.primaries, args.timing_case)
        q = np.percentile(r, [25, 50, 75])
        out["timing"] = {"case": args.timing_case, "pairs": args.pairs, "primaries_per_batch": args.primaries, "ratio_median": q[1],
                         "ratio_quartiles": [q[0], q[2]], "old_s_median": float(np.median(to)),
                         "new_s_median": float(np.median(tn)), "ratios": r.tolist()}
        print(f"kernel time new/old: median {q[1]:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f}) over {args.pairs} pairs; "
              f"old {np.median(to) * 1e3:.1f} ms, new {np.median(tn) * 1e3:.1f} ms per {args.primaries} primaries")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "paired_kernel.json"), "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
