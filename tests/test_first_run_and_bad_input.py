"""What a new user meets first: the notice that the kernels are being compiled (first run of a
source version only), and bad inputs that must give a one-line message and exit status 2
before any transport, instead of a traceback (issue 20, items 1 and 2), and the file mode of
checkpoints (item 3). Each test starts the command line as a user would (a subprocess)."""

import json
import os
import selectors
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mc.checkpoint import config_fingerprint, read_checkpoint, write_checkpoint
from mc.config import ConfigError, load_config_text
from mc import jit, run
from mc.kernel.transport import KERNEL_OPTIONAL, KERNEL_PLAIN
from mc.run import COMPILE_NOTICE
from mc.tally import RankTallies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CFG = """\
geometry: {type: box, material: water, size_mm: [20, 20, 40], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 70, position_mm: [0, 0, -1]}
run: {primaries: 200, seed: 1, batches: 2}
output: {path: OUT, plot: false}
"""


def _env(cache):
    e = dict(os.environ)
    e["NUMBA_CACHE_DIR"] = str(cache)
    return e


def run_cli(tmp_path, text, *args, module="mc.run", timeout=120):
    """Write ``text`` (str or bytes) as a config and run ``python -m module`` on it."""
    cfg = tmp_path / "c.yaml"
    if isinstance(text, bytes):
        cfg.write_bytes(text)
    else:
        cfg.write_text(text.replace("OUT", str(tmp_path / "d.h5")))
    return subprocess.run([sys.executable, "-m", module, str(cfg), *args], cwd=ROOT, capture_output=True,
                          text=True, env=_env(tmp_path / "cache"), timeout=timeout, check=False)


def one_line_error(r, *words):
    """Exit status 2, a 'flashmc: error:' message naming ``words``, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr
    msg = r.stderr[r.stderr.index("flashmc: error:"):]
    for w in words:
        assert w in msg, msg
    return msg


# ---- item 1: the first run says that it compiles --------------------------------------------------

def test_first_run_says_at_once_that_it_compiles(tmp_path):
    """In an empty numba cache the notice comes on stderr within seconds (the compilation
    itself takes minutes; the process is stopped once the notice is seen)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("OUT", str(tmp_path / "d.h5")))
    p = subprocess.Popen([sys.executable, "-m", "mc.run", str(cfg), "--quiet"], cwd=ROOT, env=_env(tmp_path / "nc"),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        sel = selectors.DefaultSelector()
        sel.register(p.stderr, selectors.EVENT_READ)
        ready = sel.select(timeout=30)
        line = p.stderr.readline() if ready else ""
    finally:
        p.kill()
        p.wait()
    assert line.strip() == COMPILE_NOTICE


def test_cache_check_sees_a_compiled_function(tmp_path):
    """:func:`mc.jit.is_cached` is False before a cached function is first compiled and True
    afterwards, in the same process and in a later one (which then prints no notice)."""
    (tmp_path / "twice.py").write_text(textwrap.dedent("""
        from mc.jit import jit

        @jit
        def twice(x):
            return 2 * x
    """))
    script = "import sys, twice; from mc.jit import is_cached; a = is_cached(twice.twice); twice.twice(1.0); " \
             "print(a, is_cached(twice.twice))"
    env = _env(tmp_path / "nc")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), ROOT])
    out = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False).stdout.split() for _ in range(2)]
    assert out == [["False", "True"], ["True", "True"]]


def test_the_notice_asks_for_the_kernel_that_the_run_calls(monkeypatch):
    """With only the plain kernel in the cache, a run with an optional tally (or per-spot
    scoring for FLASH) still compiles, so the notice must be given; and the other way round."""
    plain = load_config_text(CFG.replace("OUT", "d.h5"))[0]
    secondary = load_config_text(CFG.replace("OUT", "d.h5").replace("plot: false", "plot: false, secondary_dose: true"))[0]
    for cached, want in ((KERNEL_PLAIN, (True, False, False)), (KERNEL_OPTIONAL, (False, True, True))):
        monkeypatch.setattr(jit, "is_cached", lambda d, c=cached: d is c)
        got = (run.kernels_cached([plain]), run.kernels_cached([secondary]), run.kernels_cached([plain], per_spot=True))
        assert got == want, cached
        assert not run.kernels_cached([plain, secondary])


def test_compile_timer_reports_the_compile_time(capsys):
    """Off a terminal the timer prints one line when compiling ends, and nothing when off."""
    with run.compile_timer(False):
        pass
    assert capsys.readouterr().err == ""
    with run.compile_timer(True):
        pass
    assert capsys.readouterr().err == "flashmc: kernels compiled in 0 s (cached for later runs)\n"


# ---- item 2: one-line messages and exit status 2 -----------------------------------------------

def test_too_many_primaries(tmp_path):
    one_line_error(run_cli(tmp_path, CFG, "--set", "run.primaries=10000000000000000000000"), "run.primaries", "2^53")


def test_non_utf8_config(tmp_path):
    text = CFG.replace("OUT", "d.h5").encode() + b"# caf\xe9\n"
    one_line_error(run_cli(tmp_path, text), "c.yaml", "0xe9", "line 5", "UTF-8")


def test_duplicate_key(tmp_path):
    one_line_error(run_cli(tmp_path, CFG + "run: {primaries: 400}\n"), "c.yaml", "duplicate key 'run'", "line 5",
                   "line 3")


@pytest.mark.parametrize("path, words", [("''", ["output.path", "empty"]),
                                         ("out/sub/", ["output.path", "path separator"])])
def test_bad_output_path(tmp_path, path, words):
    one_line_error(run_cli(tmp_path, CFG.replace("OUT", path)), *words)
    assert not (tmp_path / "out").exists()


def test_flash_structure_absent_from_the_grid(tmp_path):
    text = CFG + "flash: {structure: red_marrow}\n"
    one_line_error(run_cli(tmp_path, text), "flash.structure", "red_marrow", "water")


def _checkpoint(tmp_path):
    """A valid checkpoint of :data:`CFG` (one of its two rounds done) at its path."""
    cfg, _ = load_config_text(CFG.replace("OUT", str(tmp_path / "d.h5")).replace("seed: 1", "seed: 1, round_batches: 1"))
    total = RankTallies((10, 10, 20), False, False, False)
    path = str(tmp_path / "d.h5") + ".checkpoint.npz"
    write_checkpoint(path, total, 1, 100, 0.5, config_fingerprint(cfg))
    return cfg, total, path


def test_checkpoint_round_trip_and_mode(tmp_path):
    old = os.umask(0o027)
    try:
        cfg, total, path = _checkpoint(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    meta = read_checkpoint(path, total, config_fingerprint(cfg))
    assert (meta["batches_done"], meta["primaries_done"]) == (1, 100)
    old = os.umask(0o022)
    try:
        _checkpoint(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def _tamper(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    meta["batches_done"] = 0
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "tampered"])
def test_damaged_checkpoint_is_refused(tmp_path, damage):
    cfg, total, path = _checkpoint(tmp_path)
    with open(path, "rb") as f:
        data = f.read()
    if damage == "tampered":
        _tamper(path)
    else:
        with open(path, "wb") as f:
            f.write({"truncated": data[: len(data) // 2], "garbage": b"\x80\x04junk" * 50, "empty": b""}[damage])
    with pytest.raises(ConfigError, match="damaged"):
        read_checkpoint(path, total, config_fingerprint(cfg))
    text = CFG.replace("seed: 1", "seed: 1, round_batches: 1")
    one_line_error(run_cli(tmp_path, text, "--resume"), "--resume", "checkpoint", "damaged")


# ---- flash.curves: output folder checked before any work -------------------------------------------

@pytest.mark.parametrize("case", ["file", "read_only"])
def test_curves_output_dir_unwritable(tmp_path, case):
    out = tmp_path / "out"
    if case == "file":
        out.write_text("in the way")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        out.mkdir()
        out.chmod(0o500)
    r = run_cli(tmp_path, f"output_dir: {out}\nversus_dose_rate: {{points: 3}}\nversus_dose: {{points: 3}}\n",
                module="flash.curves", timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "output_dir" in r.stderr and str(out) in r.stderr, r.stderr
