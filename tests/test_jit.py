"""The JIT settings (mc.jit): a compiled-code cache that cannot go stale, and the pure-Python
mode (NUMBA_DISABLE_JIT=1) in which the whole engine runs without compilation."""

import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from mc import jit as mcjit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = """
geometry: {type: box, material: water, size_mm: [20, 20, 60], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 70, position_mm: [0, 0, -5], spot_sigma_mm: [1, 1]}
run: {primaries: 400, batches: 2, seed: 11}
output: {path: out.h5, plot: false}
"""


def _copy_sources(dst):
    for pkg in mcjit.PACKAGES:
        shutil.copytree(os.path.join(ROOT, pkg), os.path.join(dst, pkg),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _run(cwd, cache, *args, env=None):
    e = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    e.update({"NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(cwd)})
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "mc.run", *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=900)


def _dose(path):
    with h5py.File(path, "r") as f:
        return f["dose"][()]


def _cache_files(cache):
    return sorted(os.path.join(a, n) for a, _, ns in os.walk(cache) for n in ns)


def test_the_cache_directory_follows_every_source_file(tmp_path, monkeypatch):
    _copy_sources(tmp_path)
    h0 = mcjit.source_hash(tmp_path)
    assert h0 == mcjit.source_hash(tmp_path)
    for rel in ("physics/scattering.py", "mc/kernel/walk.py", "flash/oxygen.py", "geometry/voxel.py"):
        p = tmp_path / rel
        text = p.read_text()
        p.write_text(text + "\n# edited\n")
        assert mcjit.source_hash(tmp_path) != h0, rel
        p.write_text(text)
    assert mcjit.source_hash(tmp_path) == h0
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    assert mcjit.cache_dir(tmp_path) == str(tmp_path / "cache" / f"flashmc-{h0}")
    # a child process inherits numba's variable pointing at a version directory: same base
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache" / f"flashmc-{h0}"))
    assert mcjit.cache_base() == str(tmp_path / "cache")


def test_an_edited_constant_changes_the_result_with_a_warm_cache(tmp_path):
    # In a copy of the sources: a cold run compiles and caches the kernel; a second run loads it
    # (no file is added to the cache) and gives the same dose; then Gottschalk's E_s in
    # physics/scattering.py, a constant the kernel in mc/kernel reads from another module, is
    # doubled: the next run must compile afresh and give a different dose (with numba's
    # per-file cache it gave the old dose bit for bit).
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    _copy_sources(proj)
    (proj / "small.yaml").write_text(SMALL)
    first = _run(proj, cache, "small.yaml", "--quiet")
    assert first.returncode == 0, first.stderr
    dose0 = _dose(proj / "out.h5")
    files = _cache_files(cache)
    assert files, "nothing was cached"
    again = _run(proj, cache, "small.yaml", "--quiet")
    assert again.returncode == 0, again.stderr
    assert np.array_equal(_dose(proj / "out.h5"), dose0)
    assert _cache_files(cache) == files, "the warm run compiled instead of loading the cache"
    src = proj / "physics" / "scattering.py"
    text = src.read_text()
    assert "E_S_MEV = 15.0\n" in text
    src.write_text(text.replace("E_S_MEV = 15.0\n", "E_S_MEV = 30.0\n"))
    edited = _run(proj, cache, "small.yaml", "--quiet")
    assert edited.returncode == 0, edited.stderr
    dose1 = _dose(proj / "out.h5")
    assert not np.array_equal(dose1, dose0)
    # twice the scattering angle: a wider beam, less dose on the axis at depth
    axis = (slice(4, 6), slice(4, 6), slice(10, 15))
    assert dose1[axis].sum() < 0.95 * dose0[axis].sum()
    assert len([d for d in os.listdir(cache) if d.startswith("flashmc-")]) == 2


def test_pure_python_mode_runs_the_engine_and_agrees_with_the_compiled_kernel(tmp_path):
    # NUMBA_DISABLE_JIT=1: every compiled function runs as Python (debugger, coverage). The
    # same histories come out: the compiled kernel fuses multiply-adds (mc.jit.FASTMATH), so
    # the two differ by rounding, and a rounding difference can in principle flip a decision
    # of one history: at least 97.5 % of the voxels must agree to 1e-9 of the maximum dose.
    (tmp_path / "small.yaml").write_text(SMALL)
    cache = tmp_path / "cache"
    py = _run(tmp_path, cache, str(tmp_path / "small.yaml"), "--quiet", "--set", "output.path=py.h5",
              env={"NUMBA_DISABLE_JIT": "1", "PYTHONPATH": ROOT})
    assert py.returncode == 0, py.stderr
    assert not os.path.exists(cache) or not _cache_files(cache), "pure-Python mode compiled something"
    # (the compiled run uses the suite's cache: the same sources, compiled once)
    jit = _run(tmp_path, os.environ.get("NUMBA_CACHE_DIR", mcjit.cache_base()), str(tmp_path / "small.yaml"),
               "--quiet", "--set", "output.path=jit.h5", env={"PYTHONPATH": ROOT})
    assert jit.returncode == 0, jit.stderr
    a, b = _dose(tmp_path / "py.h5"), _dose(tmp_path / "jit.h5")
    assert a.max() > 0
    close = np.isclose(a, b, rtol=0, atol=1e-9 * a.max())
    assert close.mean() > 0.975, f"{(~close).sum()} voxels differ"
    with h5py.File(tmp_path / "py.h5", "r") as f:
        assert abs(f["energy_balance"].attrs["relative_imbalance"]) < 1e-9


@pytest.mark.parametrize("x", [0.0, -0.0, 1.5, -3.25e-300, 1e308, float("inf")])
def test_bit_pattern_of_a_float_in_python_and_compiled(x):
    from numba import njit

    ref = int(np.array(x, np.float64).view(np.int64))
    assert mcjit.f64_bits(x) == ref
    assert njit(lambda v: mcjit.f64_bits(v))(x) == ref
