"""MPI runner: the same dose for 1, 2 and 3 ranks; stopping rules; checkpoint, SIGTERM and
--resume giving the uninterrupted result; a failing rank failing the whole job loudly.

These tests start real processes (``mpirun`` from the ``mpich`` wheel of the [test] extra)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from mc.run import RunInterrupted

from .test_flash import FLASH_RUN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIRUN = shutil.which("mpirun") or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (pip install -e '.[mpi]')")

CFG = """
geometry: {type: box, material: water, size_mm: [40, 40, 100], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 100, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1], protons: 1.0e9}
run: {primaries: 12000, seed: 7, batches: 12, round_batches: 6}
output: {path: OUT, plot: false, let: true}
"""


def _run(args, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=e, timeout=300, **kw)


@needs_mpi
def test_same_dose_for_one_two_and_three_ranks(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(tmp_path / "n.h5")))
    doses = []
    for n in (1, 2, 3):
        out = tmp_path / f"n{n}.h5"
        r = _run([MPIRUN, "-n", str(n), sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set",
                  f"output.path={out}"])
        assert r.returncode == 0, r.stderr
        assert f"on {n} rank(s)" in r.stdout
        with h5py.File(out) as f:
            doses.append({k: f[k][()] for k in ("/dose", "/dose_std", "/let_d")})
            assert f["/run"].attrs["primaries"] == 12000
    for d in doses[1:]:
        # the dose bit for bit (integer sums); its standard error and the LET to float rounding
        assert np.array_equal(d["/dose"], doses[0]["/dose"])
        for k in ("/dose_std", "/let_d"):
            assert np.allclose(d[k], doses[0][k], rtol=1e-9, atol=0), k


@needs_mpi
def test_static_schedule_is_bitwise_repeatable(tmp_path):
    # batch b on rank b mod N: the same sums in the same order, run after run; the dynamic
    # schedule (default) gives the same dose too (integer sums)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(tmp_path / "s.h5")))
    doses = []
    for i, schedule in enumerate(("static", "static", "dynamic")):
        out = tmp_path / f"s{i}.h5"
        r = _run([MPIRUN, "-n", "2", sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set",
                  f"output.path={out}", "--set", f"run.schedule={schedule}"])
        assert r.returncode == 0, r.stderr
        with h5py.File(out) as f:
            doses.append(f["/dose"][()])
    assert np.array_equal(doses[0], doses[1])
    assert np.array_equal(doses[2], doses[0])


def test_target_uncertainty_stops_early(run_cfg, tmp_path):
    text = CFG.replace("OUT", str(tmp_path / "unused.h5"))
    res = run_cfg(text, "run.primaries=200000", "run.batches=100", "run.round_batches=10",
                  "run.target_uncertainty=0.05")
    assert res.run_info["stop_reason"] == "target_uncertainty"
    assert res.run_info["mean_relative_uncertainty"] <= 0.05
    assert res.primaries < 200000 and res.primaries % 20000 == 0
    # a time limit reached before any round is complete leaves no result, only the checkpoint
    with pytest.raises(RunInterrupted, match="time limit"):
        run_cfg(text, "run.primaries=200000", "run.batches=100", "run.round_batches=10", "run.time_limit_s=1e-6")


def test_sigterm_checkpoint_and_resume_give_the_uninterrupted_result(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(tmp_path / "ref.h5")).replace(
        "run: {primaries: 12000, seed: 7, batches: 12, round_batches: 6}",
        "run: {primaries: 240000, seed: 7, batches: 40, round_batches: 1, checkpoint_interval_s: 0}"))
    r = _run([sys.executable, "-m", "mc.run", str(cfg), "--quiet"])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "int.h5"
    ckpt = str(out) + ".checkpoint.npz"
    p = subprocess.Popen([sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set", f"output.path={out}"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not os.path.exists(ckpt) and time.time() - t0 < 120 and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 3, err
    assert "--resume" in err and os.path.exists(ckpt) and not out.exists()
    r = _run([sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--resume", "--set", f"output.path={out}"])
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(ckpt)
    with h5py.File(tmp_path / "ref.h5") as a, h5py.File(out) as b:
        for k in ("/dose", "/dose_std", "/let_d", "/primary_fluence_z"):
            assert np.array_equal(a[k][()], b[k][()]), k
    # a checkpoint of another configuration is refused
    r = _run([sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--resume", "--set", f"output.path={out}"])
    assert r.returncode == 2 and "no checkpoint" in r.stderr


@needs_mpi
@pytest.mark.parametrize("schedule", ["static", "dynamic"])
def test_a_failing_rank_fails_the_job_without_output(tmp_path, schedule):
    out = tmp_path / "f.h5"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(out)))
    r = _run([MPIRUN, "-n", "2", sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set",
              f"run.schedule={schedule}"], env={"FLASHMC_TEST_FAIL_BATCH": "1"})
    assert r.returncode != 0
    # static: batch 1 runs on rank 1; dynamic: on whichever rank takes it
    assert ("rank 1 of 2 failed" if schedule == "static" else "of 2 failed") in r.stderr
    assert not out.exists()


@needs_mpi
def test_the_dynamic_schedule_hands_batches_to_the_rank_that_is_free(tmp_path):
    """Rank 1 made to lag 0.3 s after each batch: with the dynamic schedule rank 0 takes most of
    the 16 batches; with the static one each rank runs its 8 whatever its speed; the dose is
    the same bit for bit."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(tmp_path / "x.h5")).replace(
        "run: {primaries: 12000, seed: 7, batches: 12, round_batches: 6}",
        "run: {primaries: 16000, seed: 7, batches: 16, round_batches: 16}"))
    got = {}
    for schedule in ("dynamic", "static"):
        out = tmp_path / f"{schedule}.h5"
        r = _run([MPIRUN, "-n", "2", sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set",
                  f"output.path={out}", "--set", f"run.schedule={schedule}"], env={"FLASHMC_TEST_SLOW_RANK": "1:0.3"})
        assert r.returncode == 0, r.stderr
        with h5py.File(out) as f:
            got[schedule] = (list(f["/run"].attrs["batches_per_rank"]), f["/dose"][()])
    assert got["static"][0] == [8, 8]
    assert got["dynamic"][0][0] >= 12 and sum(got["dynamic"][0]) == 16, got["dynamic"][0]
    assert np.array_equal(got["dynamic"][1], got["static"][1])


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    """A run stopped by its time limit leaves a checkpoint; resuming it with another energy, or
    another seed, is refused (exit status 2, one line) and the checkpoint is kept."""
    out = tmp_path / "a.h5"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(out)).replace(
        "run: {primaries: 12000, seed: 7, batches: 12, round_batches: 6}",
        "run: {primaries: 100000000, seed: 7, time_limit_s: 1}"))
    r = _run([sys.executable, "-m", "mc.run", str(cfg), "--quiet"])
    assert r.returncode in (0, 3), r.stderr
    ckpt = str(out) + ".checkpoint.npz"
    assert os.path.exists(ckpt)
    for other in ("beam.energy_MeV=120", "run.seed=8"):
        r = _run([sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--resume", "--set", other])
        assert r.returncode == 2 and "different configuration" in r.stderr, (other, r.stderr)
        assert os.path.exists(ckpt)


# the FLASH run of tests/test_flash.py, with more primaries and rounds of two batches
FLASH_CFG = FLASH_RUN.replace("run: {primaries: 6000, seed: 3, batches: 4}",
                              "run: {primaries: 60000, seed: 3, batches: 12, round_batches: 2}").replace(
    "output: {path: OUT}", "output: {path: OUT, plot: false}")
assert "batches: 12" in FLASH_CFG and "plot: false" in FLASH_CFG


def _datasets(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _same_outputs(a, b):
    """Every dataset of two output files: the dose bit for bit; the per-spot results (float sums
    of the spots' doses, merged in another order) to double rounding, stored as float32."""
    da, db = _datasets(a), _datasets(b)
    assert set(da) == set(db)
    for k, x in da.items():
        if k == "dose" or x.dtype.kind not in "fc":
            assert np.array_equal(x, db[k]), k
        else:
            assert np.allclose(x, db[k], rtol=1e-6, atol=0, equal_nan=True), k


@needs_mpi
def test_a_per_spot_run_on_two_ranks_and_through_a_resume_gives_the_one_rank_result(tmp_path):
    # Per-spot (FLASH) scoring: each rank keeps its spots' entries and rank 0 gathers them every
    # round; a checkpoint holds the committed entries. Two ranks, and one rank stopped by a time
    # limit and resumed, give the uninterrupted one-rank outputs: the dose, the per-spot dose rates,
    # the oxygen and sparing maps.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(FLASH_CFG.replace("OUT", str(tmp_path / "one.h5")))
    r = _run([sys.executable, "-m", "mc.run", str(cfg), "--quiet"])
    assert r.returncode == 0, r.stderr
    two = tmp_path / "two.h5"
    r = _run([MPIRUN, "-n", "2", sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set", f"output.path={two}"])
    assert r.returncode == 0, r.stderr
    _same_outputs(tmp_path / "one.h5", two)
    cut = tmp_path / "cut.h5"
    run = [sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set", f"output.path={cut}"]
    # a rank that lags 0.25 s after each batch: the 1 s limit stops it after a few of the 12
    r = _run(run + ["--set", "run.time_limit_s=1"], env={"FLASHMC_TEST_SLOW_RANK": "0:0.25"})
    assert r.returncode in (0, 3), r.stderr
    assert os.path.exists(str(cut) + ".checkpoint.npz")
    r = _run(run + ["--resume"])
    assert r.returncode == 0, r.stderr
    _same_outputs(tmp_path / "one.h5", cut)


ION_CFG = """
geometry: {type: box, material: water, size_mm: [40, 40, 120], voxel_mm: [4, 4, 2]}
beam: {particle: carbon, energy_MeV_per_u: 200, position_mm: [0, 0, -1]}
run: {primaries: 3000, seed: 5, batches: 8}
output: {path: OUT, let: true, plot: false}
rbe: {models: [mkm], dose_per_fraction_Gy: 2}
"""


@needs_mpi
def test_a_carbon_run_with_fragments_and_the_mkm_is_the_same_on_two_ranks(tmp_path):
    """Ion runs reduce their 31 LET sums (fragment groups, z1D*) like the proton's 12: the dose,
    the group doses and LET, z1D* and the MKM RBE on two ranks equal the one-rank result (the
    dose bit for bit, the rest to rounding)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(ION_CFG.replace("OUT", str(tmp_path / "n.h5")))
    out = []
    for n in (1, 2):
        path = tmp_path / f"n{n}.h5"
        r = _run([MPIRUN, "-n", str(n), sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set",
                  f"output.path={path}"])
        assert r.returncode == 0, r.stderr
        with h5py.File(path) as f:
            out.append({k: f[k][()] for k in ("/dose", "/let_d", "/let_d_water_He", "/dose_group/C", "/zstar_mix_Gy",
                                              "/rbe/mkm")})
    assert np.array_equal(out[0]["/dose"], out[1]["/dose"])
    for k, v in out[0].items():
        assert np.allclose(out[1][k], v, rtol=1e-6, atol=0), k
