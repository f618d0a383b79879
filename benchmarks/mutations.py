"""Mutation check: does the test suite catch plausible bugs?

    python benchmarks/mutations.py [--only NAME ...] [--list] [--timeout 900]

Each mutation below is one plausible bug (a constant off by a few per cent, a sign, a wrong
variable, a check left out) written as an exact text replacement in one source file. For each,
the tracked files of the repository are copied to a temporary folder, the replacement is
applied there (the text must occur exactly once), and the tests named for it are run in that
copy with its own numba cache (``python -m pytest -q -x``; the engine's cache directory is
keyed by a hash of its sources, so a mutated copy never loads code compiled from the original).
A mutation is *killed* when a test fails, and *survives* when they all pass; the survivors are
the suite's blind spots. The test list of a mutation is the files that exercise the feature,
not the whole suite, to keep the check to minutes; a survivor was also not caught by those.
The stored-answer regression cases (``tests/test_regression.py``) are left out on purpose: they
catch any change of results, deliberate or not, and say nothing about which value is right.

Not part of CI (each mutation recompiles the kernel): run it by hand after changing tests or
physics. Writes ``benchmarks/results/mutations.json`` and prints a table.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: name, file, original text, mutated text, tests to run, what the bug is
MUTATIONS = [
    ("scattering_Es_plus5pct", "physics/scattering.py", "E_S_MEV = 15.0", "E_S_MEV = 15.75",
     ["tests/test_transport.py", "tests/test_kernel.py"],
     "multiple-scattering constant E_s +5 % (lateral sigma at R0/2 +4.6 %)"),
    ("deflection_sign", "physics/scattering.py", "    un = ct * u + sn * px", "    un = ct * u - sn * px",
     ["tests/test_kernel.py", "tests/test_transport.py"],
     "a sign in the deflection (x component turned the wrong way)"),
    ("water_I_plus3eV", "physics/materials.py", 'Material("water", 1.0, _WATER, 78.0,',
     'Material("water", 1.0, _WATER, 81.0,', ["tests/test_physics_tables.py", "tests/test_transport.py"],
     "mean excitation energy of water 78 -> 81 eV"),
    ("bohr_variance_x1.1", "physics/straggling.py", "BOHR_CONSTANT = BETHE_K * ELECTRON_MASS_MEV",
     "BOHR_CONSTANT = 1.1 * BETHE_K * ELECTRON_MASS_MEV", ["tests/test_physics_tables.py", "tests/test_transport.py",
                                                          "tests/test_kernel.py"],
     "Bohr straggling variance x 1.1"),
    ("nonelastic_xs_x0.9", "physics/nuclear.py", "    out[ok] = sig / (1.0 + np.exp(-8.0 * g1 * (x + 2.0 * g2)))",
     "    out[ok] = 0.9 * sig / (1.0 + np.exp(-8.0 * g1 * (x + 2.0 * g2)))", ["tests/test_nuclear.py"],
     "non-elastic cross section x 0.9"),
    ("po_elastic_xs_x0.8", "physics/po_elastic.py", "    return 2.0 * np.pi * w, n", "    return 1.6 * np.pi * w, n",
     ["tests/test_po_elastic.py"], "p-16O elastic cross section x 0.8"),
    ("po_elastic_power_sign", "physics/po_elastic.py", "    q = 1.0 - table[row, 1 + N_INTERVALS + k]",
     "    q = 1.0 + table[row, 1 + N_INTERVALS + k]", ["tests/test_po_elastic.py"],
     "p-16O elastic angle drawn with the power law's exponent of the wrong sign inside an interval"),
    ("oxygen_g_x1.1", "flash/oxygen.py", "G_CONSTANT_MMHG_PER_GY = 5.18e-4 * 760.0",
     "G_CONSTANT_MMHG_PER_GY = 1.1 * 5.18e-4 * 760.0", ["tests/test_flash_references.py",
                                                       "tests/test_flash_oxygen.py", "tests/test_flash.py"],
     "radiolytic oxygen depletion g x 1.1 (the model's default)"),
    ("oxygen_steady_state_g", "flash/oxygen.py", "p_ss = p0 - g * R * tau", "p_ss = p0 - 1.1 * g * R * tau",
     ["tests/test_flash_references.py", "tests/test_flash_oxygen.py"],
     "g x 1.1 in the oxygen model's steady state (every configured g)"),
    ("oxygen_proportional_x1.1", "flash/oxygen.py", "G_PROPORTIONAL_PER_GY = 0.053",
     "G_PROPORTIONAL_PER_GY = 0.053 * 1.1", ["tests/test_flash_references.py", "tests/test_flash_oxygen.py"],
     "the pO2-proportional depletion constant x 1.1"),
    ("percentile_rate_at_pbs_threshold", "flash/doserate.py",
     "seg_t0, seg_t1, seg_frac, pct * D)", "seg_t0, seg_t1, seg_frac, d_star)",
     ["tests/test_flash_references.py", "tests/test_flash.py"],
     "percentile dose rate computed from the PBS threshold d* instead of p D"),
    ("spots_by_order_not_rank", "flash/doserate.py", "order = np.lexsort((rank[spot], m.voxel))",
     "order = np.lexsort((delivery.order[spot], m.voxel))", ["tests/test_flash_references.py", "tests/test_flash.py"],
     "a voxel's spot list sorted by delivery order instead of rank"),
    ("linac_train_start", "flash/timing.py",
     "i = int(np.floor(t / p.train_period_s)) * p.pulses_per_train",
     "i = int(np.ceil(t / p.train_period_s - 1e-12)) * p.pulses_per_train",
     ["tests/test_flash_references.py", "tests/test_flash.py"], "a spot of a linac train starts at the next train"),
    ("mcnamara_rbe_max", "physics/rbe.py", "return 0.99064 + 0.35605 * L / ab,", "return 0.99064 + 0.39 * L / ab,",
     ["tests/test_independent_checks.py", "tests/test_let_rbe.py"], "McNamara RBE_max slope 0.35605 -> 0.39"),
    ("rbe_at_total_dose", "mc/rbe_dose.py", "    d_frac = D * scale", "    d_frac = D",
     ["tests/test_independent_checks.py", "tests/test_let_rbe.py"],
     "variable RBE evaluated at the total dose instead of the fraction dose"),
    ("source_energy_sigma_x1.1", "mc/kernel/source.py", "T = src.energy[k] + src.energy_sigma[k] * ga",
     "T = src.energy[k] + 1.1 * src.energy_sigma[k] * ga", ["tests/test_independent_checks.py", "tests/test_kernel.py"],
     "the source's energy spread x 1.1"),
    ("source_divergence_ignored", "mc/kernel/source.py",
     "    a1 = src.div[k, 0] * (src.corr[k, 0] * g1 + src.corr_c[k, 0] * a1)", "    a1 = 0.0 * a1",
     ["tests/test_independent_checks.py", "tests/test_kernel.py"], "the beam divergence in x left out"),
    ("beam_x_transverse_axes", "mc/source.py",
     "else np.array([0.0, 1.0, 0.0])", "else np.array([0.0, 0.0, 1.0])",
     ["tests/test_independent_checks.py", "tests/test_transport.py"], "the transverse axes of a beam along x"),
    ("dose_std_x2", "mc/tally.py",
     "dose_std[i] = math.sqrt(_batch_variance(a1[i], a2[i], q, n, b)) * k if b >= 2 else 0.0",
     "dose_std[i] = 2.0 * math.sqrt(_batch_variance(a1[i], a2[i], q, n, b)) * k if b >= 2 else 0.0",
     ["tests/test_independent_checks.py", "tests/test_output.py"], "/dose_std doubled"),
    ("checkpoint_fingerprint_ignored", "mc/checkpoint.py", 'if meta.get("fingerprint") != fingerprint:',
     'if False:', ["tests/test_mpi.py", "tests/test_first_run_and_bad_input.py"],
     "a checkpoint of another configuration accepted"),
    ("static_instead_of_dynamic", "mc/parallel.py", "        if not dynamic:", "        if True:",
     ["tests/test_mpi.py"], "the dynamic MPI schedule replaced by the static one"),
    ("call_state_not_carried", "mc/kernel/transport.py",
     "        st = rng_state  # advanced in place: the next call goes on with the same stream",
     "        st = rng_state.copy()", ["tests/test_scale.py"],
     "the generator state not carried from one kernel call to the next"),
    ("dose_sum_float_rounding", "mc/tally.py", "                    n_q = np.int64(np.rint(x * inv_q))",
     "                    n_q = np.int64(x * inv_q)", ["tests/test_scale.py"],
     "deposits truncated instead of rounded to the quantum"),
]


def tracked_files(root=ROOT):
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def make_copy(dest, root=ROOT):
    """Copy the tracked files of ``root`` to ``dest``."""
    for rel in tracked_files(root):
        src = os.path.join(root, rel)
        if not os.path.isfile(src):
            continue
        dst = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def apply(dest, rel, old, new):
    path = os.path.join(dest, rel)
    with open(path) as f:
        text = f.read()
    count = text.count(old)
    if count != 1:
        raise SystemExit(f"mutation text found {count} times in {rel} (expected once): {old!r}")
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def run_one(m, timeout):
    name, rel, old, new, tests, what = m
    with tempfile.TemporaryDirectory(prefix=f"mut-{name}-") as tmp:
        make_copy(tmp)
        apply(tmp, rel, old, new)
        env = dict(os.environ)
        env["NUMBA_CACHE_DIR"] = os.path.join(tmp, ".numba-cache")
        env["PYTHONPATH"] = tmp
        t0 = time.time()
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                               cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
            status = "killed" if r.returncode != 0 else "survived"
            tail = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
            failed = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("FAILED")]
        except subprocess.TimeoutExpired:
            status, tail, failed = "timeout", "", []
        return {"name": name, "file": rel, "what": what, "tests": tests, "status": status,
                "caught_by": failed[:3], "pytest": tail, "seconds": round(time.time() - t0, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="names of the mutations to run (default all)")
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per mutation")
    args = p.parse_args(argv)
    todo = [m for m in MUTATIONS if not args.only or m[0] in args.only]
    if args.list:
        for m in todo:
            print(f"{m[0]:32s} {m[1]:28s} {m[5]}")
        return 0
    rows = []
    for m in todo:
        row = run_one(m, args.timeout)
        rows.append(row)
        caught = ", ".join(row["caught_by"])
        print(f"{row['status']:9s} {row['name']:32s} {row['seconds']:7.1f} s  {caught}", flush=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    res = {"revision": head.strip(), "date": time.strftime("%Y-%m-%d"), "rows": rows,
           "killed": sum(r["status"] == "killed" for r in rows), "total": len(rows)}
    out = os.path.join(ROOT, "benchmarks", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "mutations.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(f"{res['killed']} of {res['total']} mutations killed; wrote benchmarks/results/mutations.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
