"""Scale: the layout of batches, rounds and kernel calls (mc.schedule), integer dose sums that do
not depend on the order of the batches (mc.tally), every rank busy with more ranks than cores
and the dose bit for bit that of one rank, and stops honoured within seconds inside a batch of
1e9 primaries, leaving a checkpoint that --resume completes to the uninterrupted dose."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from mc import batch as mc_batch
from mc import schedule
from mc.batch import batch_seed, kernel_inputs, run_batch
from mc.config import load_config_text
from mc.problem import build_geometry
from mc.source import build_spots
from mc.tally import BatchBuffers, EnergyTally, deposit_quantum, full_box, full_cols, run_energy_bound
from physics.tables import build_tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIRUN = shutil.which("mpirun") or shutil.which("mpiexec")

CFG = """
geometry: {type: box, material: water, size_mm: [30, 30, 80], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 100, energy_spread_MeV: 0.5, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1]}
run: {primaries: 4000, seed: 11}
output: {path: OUT, plot: false, let: true, secondary_dose: true, dose_to_water: true}
"""


# ---- layout ----------------------------------------------------------------------------------------

def test_automatic_layout_keeps_every_rank_busy_and_batches_rank_independent():
    for ranks in (1, 2, 8, 128, 1024):
        lay = schedule.layout(10**9, ranks)
        assert lay.batches == 10**4  # 1e5 primaries each, whatever the number of ranks
        assert lay.busy_ranks == ranks and lay.round_batches <= schedule.BATCHES_PER_RANK * ranks
        assert schedule.layout_warnings(lay) == []
    assert schedule.layout(10**4, 1).batches == schedule.MIN_BATCHES
    assert sum(schedule.batch_sizes(10**9 + 7, 10**4)) == 10**9 + 7


def test_layout_warnings_name_the_field_and_the_fix():
    idle = schedule.layout_warnings(schedule.layout(10**7, 128, batches=10))
    assert len(idle) == 1 and idle[0].startswith("run.batches:") and "118 ranks idle" in idle[0]
    tiny = schedule.layout_warnings(schedule.layout(10**8, 1, batches=10**8))
    assert any(w.startswith("run.batches:") and "too small" in w for w in tiny)
    long = schedule.layout_warnings(schedule.layout(10**9, 1, batches=2))
    assert any("take about" in w and "auto" in w for w in long)
    rounds = schedule.layout_warnings(schedule.layout(10**9, 64, round_batches=8))
    assert rounds and rounds[0].startswith("run.round_batches:")


# ---- integer dose sums ---------------------------------------------------------------------------------

def test_deposit_quantum_bounds_the_sum():
    for bound in (1.0, 3.7e6, 2.3e11, 5e12):
        q = deposit_quantum(bound)
        assert 2.0**62 * q >= bound > 2.0**61 * q and math.log2(q) == round(math.log2(q))
    # 1e9 protons of 230 MeV (+13 sigma of 1 MeV), times 4: q = 2^-22 MeV
    assert deposit_quantum(run_energy_bound(1e9, [230.0], [1.0])) == 2.0**-22


def test_integer_sums_do_not_depend_on_the_order_of_the_batches():
    """The same 40 random batches summed in two orders: a1 identical; the mean within q/2 per
    batch of the exact (float, compensated) sum; the second moment to float rounding."""
    rng = np.random.default_rng(3)
    shape = (4, 5, 6)
    batches = [rng.exponential(1.0, shape) * (rng.random(shape) < 0.7) * 10.0 ** rng.integers(-6, 3) for _ in range(40)]
    q = deposit_quantum(1e7)
    sums = []
    for order in (range(40), rng.permutation(40)):
        t = EnergyTally(shape, q)
        for b in order:
            t.add_batch(batches[b].copy(), 1000, full_box(shape), full_cols(shape))
        sums.append(t)
    assert np.array_equal(sums[0].a1, sums[1].a1)
    exact = np.array([math.fsum(v) for v in np.stack(batches).reshape(40, -1).T]).reshape(shape)
    assert np.all(np.abs(sums[0].sum_MeV() - exact) <= 40 * q / 2)
    assert np.allclose(sums[0].a2, sums[1].a2, rtol=1e-12, atol=0)


def test_a_batch_cut_into_kernel_calls_gives_the_same_tallies(monkeypatch):
    """One batch in one kernel call and in calls of 7 primaries: every buffer equal bit for
    bit (the generator state and the per-class deposits carried from call to call)."""
    cfg, _ = load_config_text(CFG.replace("OUT", "unused.h5"))
    grid = build_geometry(cfg)
    inputs = kernel_inputs(grid, build_tables(grid.materials), build_spots(cfg.beam, grid), cfg.physics, True, True,
                           True)
    out = []
    for call in (10**6, 7):
        monkeypatch.setattr(mc_batch, "CALL_PRIMARIES", call)
        buf = BatchBuffers(grid.shape, True, True, True)
        assert run_batch(batch_seed(5, 0), 300, inputs, buf)
        out.append(buf)
    for name in ("edep", "edep_water", "edep_sec", "let", "fluence_z", "counters", "bbox", "col_z"):
        assert np.array_equal(getattr(out[0], name), getattr(out[1], name)), name
    # a stop request between calls abandons the batch and leaves the buffer empty
    buf = BatchBuffers(grid.shape, True, True, True)
    assert not run_batch(batch_seed(5, 0), 300, inputs, buf, stop=lambda: True)
    assert not buf.edep.any() and not buf.let.any() and not buf.counters.any() and not buf.fluence_z.any()


# ---- ranks, stops and resumption (subprocesses, as a user runs them) --------------------------------------

def _env(tmp_path):
    return dict(os.environ)  # the test session's numba cache: the kernels are compiled once


def _config(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[mpi]')")
def test_eight_ranks_on_two_cores_all_transport_and_give_the_one_rank_dose(tmp_path):
    """8 ranks on the 2 cores of the CI machine (mpich oversubscribes by default): with the
    automatic round length every rank gets batches (the static schedule deals them out, the
    dynamic one hands them out on demand), and the dose is that of one rank, bit for bit."""
    cfg = _config(tmp_path, CFG.replace("OUT", str(tmp_path / "one.h5")).replace("primaries: 4000",
                                                                                   "primaries: 48000"))
    doses = {}
    for n, schedule_name in ((1, "dynamic"), (8, "static"), (8, "dynamic")):
        out = tmp_path / f"r{n}{schedule_name}.h5"
        cmd = [sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set", f"output.path={out}", "--set",
               f"run.schedule={schedule_name}"]
        if n > 1:
            cmd = [MPIRUN, "-n", str(n)] + cmd
        r = subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        with h5py.File(out) as f:
            per_rank = f["/run"].attrs["batches_per_rank"]
            assert len(per_rank) == n and per_rank.sum() == f["/run"].attrs["batches"] == 10, per_rank
            if schedule_name == "static":
                assert np.all(per_rank > 0), per_rank  # every rank transported histories
            doses[n, schedule_name] = {k: f[k][()] for k in ("/dose", "/dose_to_water", "/dose_secondary",
                                                             "/dose_std", "/let_d")}
    one = doses[1, "dynamic"]
    for key in ((8, "static"), (8, "dynamic")):
        for k in ("/dose", "/dose_to_water", "/dose_secondary"):
            assert np.array_equal(doses[key][k], one[k]), (key, k)
        for k in ("/dose_std", "/let_d"):  # float sums: to rounding
            assert np.allclose(doses[key][k], one[k], rtol=1e-9, atol=0), (key, k)


BIG_BATCH = """
geometry: {type: box, material: water, size_mm: [30, 30, 80], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 100, position_mm: [0, 0, -1]}
run: {primaries: 1000000000, batches: 2, seed: 3}
output: {path: OUT, plot: false}
"""


def _wait_for_transport(p, timeout=300):
    """Read ``p``'s stderr until the runner says that transport starts; returns the time then."""
    t0 = time.time()
    for line in p.stderr:
        if line.startswith("flashmc: transporting"):
            return time.time()
        assert time.time() - t0 < timeout, "transport did not start"
    raise AssertionError(f"the run ended before transport (status {p.wait()})")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_inside_a_batch_of_a_billion_is_honoured_within_seconds(tmp_path, sig):
    out = tmp_path / "big.h5"
    cfg = _config(tmp_path, BIG_BATCH.replace("OUT", str(out)))
    p = subprocess.Popen([sys.executable, "-m", "mc.run", str(cfg)], cwd=ROOT, env=_env(tmp_path),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_transport(p)
        time.sleep(1.0)
        t_sig = time.time()
        p.send_signal(sig)
        err = p.communicate(timeout=60)[1]
        latency = time.time() - t_sig
    finally:
        p.kill()
    assert p.returncode == 3, err
    assert latency < 5.0, latency
    assert "--resume" in err and os.path.exists(str(out) + ".checkpoint.npz") and not out.exists()


def test_a_time_limit_inside_a_batch_of_a_billion_is_honoured_within_seconds(tmp_path):
    out = tmp_path / "big.h5"
    cfg = _config(tmp_path, BIG_BATCH.replace("OUT", str(out)).replace("seed: 3", "seed: 3, time_limit_s: 2"))
    r = subprocess.run([sys.executable, "-m", "mc.run", str(cfg), "--quiet"], cwd=ROOT, env=_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 3 and "time limit" in r.stderr, r.stderr
    with np.load(str(out) + ".checkpoint.npz") as f:
        meta = json.loads(str(f["meta"]))
    assert meta["batches_done"] == 0 and 2.0 <= meta["elapsed_s"] < 2.0 + 5.0, meta


def test_a_time_limit_leaves_a_checkpoint_that_resumes_to_the_uninterrupted_dose(tmp_path):
    """Wherever the time limit stops the run (inside a batch, after some rounds), --resume
    completes it to the dose of a run without a limit, bit for bit."""
    text = CFG.replace("primaries: 4000", "primaries: 240000, batches: 12, round_batches: 1")
    ref, cut = tmp_path / "ref.h5", tmp_path / "cut.h5"
    cfg = _config(tmp_path, text.replace("OUT", str(ref)))
    env = _env(tmp_path)
    r = subprocess.run([sys.executable, "-m", "mc.run", str(cfg), "--quiet"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    run = [sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set", f"output.path={cut}"]
    r = subprocess.run(run + ["--set", "run.time_limit_s=0.8"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode in (0, 3), r.stderr
    ckpt = str(cut) + ".checkpoint.npz"
    assert os.path.exists(ckpt)
    if r.returncode == 0:  # some rounds were complete: their result is written, stopped by the time limit
        with h5py.File(cut) as f:
            assert f["/run"].attrs["stop_reason"] == "time_limit" and f["/run"].attrs["primaries"] < 240000
    r = subprocess.run(run + ["--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(ckpt)
    with h5py.File(ref) as a, h5py.File(cut) as b:
        assert b["/run"].attrs["primaries"] == 240000
        for k in ("/dose", "/dose_to_water", "/dose_secondary", "/primary_fluence_z"):
            assert np.array_equal(a[k][()], b[k][()]), k
        for k in ("/dose_std", "/let_d"):
            assert np.allclose(a[k][()], b[k][()], rtol=1e-9, atol=0), k


# ---- memory ---------------------------------------------------------------------------------------------

PLAIN = """
geometry: {type: box, material: water, size_mm: [60, 60, 100], voxel_mm: [1, 1, 1]}
beam: {energy_MeV: 100, spot_sigma_mm: [5, 5], position_mm: [0, 0, -1]}
run: {primaries: 3000, seed: 2}
output: {path: OUT, plot: false}
"""


def test_a_run_too_large_for_the_memory_is_refused_before_allocating(tmp_path):
    """A fake limit of 200 MB against a 121 x 121 x 360 grid: exit status 2 within seconds, one
    line naming the field, the memory needed and available, and what to change; nothing written."""
    out = tmp_path / "big.h5"
    cfg = _config(tmp_path, PLAIN.replace("OUT", str(out)).replace("size_mm: [60, 60, 100]", "size_mm: [121, 121, 360]"))
    env = _env(tmp_path)
    env["FLASHMC_MEMORY_LIMIT"] = "200M"
    t0 = time.time()
    r = subprocess.run([sys.executable, "-m", "mc.run", str(cfg)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and time.time() - t0 < 60, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("flashmc: error:")]
    assert len(lines) == 1 and "Traceback" not in r.stderr and "compiling" not in r.stderr, r.stderr
    msg = lines[0]
    for words in ("geometry:", "needs", "GB of memory", "B per voxel on 5.27 M voxels (121x121x360)", "available",
                  "0.21 GB", "coarser dose grid"):
        assert words in msg, msg
    assert not out.exists() and not os.path.exists(str(out) + ".checkpoint.npz")


def test_peak_memory_of_a_plain_dose_run_is_within_the_estimate_and_32_bytes_per_voxel(tmp_path):
    """numpy's allocations traced through a whole plain dose run and its HDF5 output (360,000
    voxels): the peak above the start, per voxel, within the estimate of mc.memory (which the
    refusal above uses) and at most 32 B; and not far below it (the estimate is not padded)."""
    import tracemalloc

    from mc.memory import run_memory
    from mc.output import write_result
    from mc.run import simulate

    cfg, _ = load_config_text(PLAIN.replace("OUT", str(tmp_path / "p.h5")))
    voxels = 60 * 60 * 100
    est = run_memory(cfg, voxels).per_voxel
    # the kernels loaded (or compiled) first: numba's own Python objects are not the run's arrays
    tiny, _ = load_config_text(PLAIN.replace("OUT", str(tmp_path / "t.h5")).replace("[60, 60, 100]", "[5, 5, 5]"))
    write_result(str(tmp_path / "t.h5"), simulate(tiny), "", "")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        res = simulate(cfg)
        write_result(str(tmp_path / "p.h5"), res, "", "")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_voxel = (peak - base) / voxels
    assert per_voxel <= est + 4.0 and est <= 32.0, (per_voxel, est)  # 4 B: tables and small arrays, 1.4 MB
    assert per_voxel >= 0.75 * est, (per_voxel, est)


def test_the_reduction_packs_slabs_that_cover_the_block_within_the_chunk():
    """The slabs along x that a reduction packs one at a time cover every voxel of the column
    ranges once, each within the chunk unless it is a single x plane."""
    from mc.tally import cols_size, full_cols, x_slabs

    rng = np.random.default_rng(7)
    shape = (23, 17, 31)
    cols = full_cols(shape)
    cols[0] = rng.integers(0, 31, cols.shape[1])
    cols[1] = cols[0] + rng.integers(-3, 12, cols.shape[1])  # some empty columns (hi < lo)
    box = np.array([2, 1, 3, 20, 15, 27], np.int64)
    for per_voxel, limit in ((1, 50), (3, 400), (2, 10**9)):
        slabs = list(x_slabs(box, cols, shape[1], per_voxel, limit))
        assert slabs[0][0][0] == box[0] and slabs[-1][0][3] == box[3]
        assert all(a[0][3] + 1 == b[0][0] for a, b in zip(slabs[:-1], slabs[1:]))
        assert sum(n for _, n in slabs) == cols_size(box, cols, shape[1])
        for sub, n in slabs:
            assert n == cols_size(sub, cols, shape[1])
            assert n * per_voxel <= limit or sub[0] == sub[3]


def test_batch_sizes_and_rounds_are_computed_not_stored():
    """Batch sizes and rounds against the lists they stand for; 1e15 primaries in 1e10 batches
    cost no memory."""
    sizes = schedule.batch_sizes(1003, 10)
    assert [sizes[b] for b in range(10)] == [101, 101, 101, 100, 100, 100, 100, 100, 100, 100]
    for lo, hi in ((0, 10), (2, 5), (3, 3), (7, 12)):
        assert sizes.total(lo, hi) == sum(sizes[b] for b in range(lo, min(hi, 10)))
    rounds = schedule.Rounds(3, 10, 4)
    assert [rounds[r] for r in range(len(rounds))] == [(3, 7), (7, 10)]
    big = schedule.layout(10**15, 1)
    sizes = schedule.batch_sizes(10**15, big.batches)
    assert len(sizes) == 10**10 and sizes.total(0, len(sizes)) == 10**15
    assert len(schedule.Rounds(0, len(sizes), big.round_batches)) == 10**10 // 4
