"""JIT settings of flashmc, in one place.

Every numba-compiled function of the engine is decorated with one of the decorators below, so
the compilation options are set here and nowhere else:

* :data:`jit` compiled to machine code on first call and cached on disk, with numpy's error
  model (a float division by zero gives inf or nan as in numpy, instead of the exception and
  the zero test that Python semantics would put before every division) and exact IEEE
  arithmetic: the tallies, the FLASH model, and the samplers that the kernel calls but that
  were validated without fast-math (gamma deviates, non-elastic products);
* :data:`jit_kernel` the transport kernel and the functions that set up its arrays, with the
  fast-math subset :data:`FASTMATH`;
* :data:`jit_stage` a stage of the kernel (the voxel walk, the step plan, a table look-up, a
  sampler of a step): the kernel's floating-point flags; inlined into the kernel by LLVM
  (numba's ``forceinline``, LLVM's ``alwaysinline``), so it costs no call; and compiled
  without numba's reference counting (``_nrt=False``): a stage reads and writes arrays that
  its caller owns and allocates none (numba refuses to compile an allocation in it);
* :data:`jit_rare` the same for a stage that runs rarely (a nuclear interaction) and is
  called, not inlined;
* stages of both kinds are compiled without the CPython and C wrappers that let Python call a
  function (:data:`COMPILED_ONLY`; only compiled code calls them, and the wrappers were a fifth
  of the first run's compile time); tests call them through :func:`python_entry`;
* :data:`jit_inline` inlined at numba's IR level, so compiled with its caller's flags: the
  random-number generator, which serves the fast-math kernel and the exact samplers alike.

Why stages are inlined by LLVM and not by numba: numba's IR inlining copies a function's IR
block by block, each copy duplicating the function's whole variable scope, a cost that grows
with the square of the function's size; with the voxel walk and the step plan inlined that way
the kernel took 2.1x longer to compile (60 s instead of 28 s on the development VM), and with
a particle's step loop as one more inlined level 3.4x. Why without reference counting: a stage
that takes bundles of arrays (:mod:`mc.kernel.bundles`) would take and drop a reference to
every array it reads each time it runs, and the atomic counter updates left in the step loop
made the kernel 1.9x slower.

**Cache that cannot go stale.** numba keys a cached function on its own source file only,
but a kernel freezes the values of globals it reads from other modules (a constant in
``physics/scattering.py``, an inlined helper in another file) into its machine code: with a
plain numba cache, editing such a constant can leave the compiled kernel, and the results,
unchanged. The cache directory used here is named after a hash of every source file of the
engine's packages (:data:`PACKAGES`), so any edit to any of them selects a new, empty
directory and everything is compiled afresh (:func:`cache_dir`). The base directory is
``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/flashmc`` (default ``~/.cache/flashmc``);
``python -m mc.jit`` prints it, ``python -m mc.jit --clear`` removes the directories of
other source versions.

**Pure-Python mode.** With ``NUMBA_DISABLE_JIT=1`` the decorators return the Python
functions unchanged and the whole engine runs as plain Python (slowly: about 230 protons/s
for 150 MeV in water), so a history can be stepped through in a debugger or measured by a coverage
tool. Intrinsics, which have no Python body, are written as a Python function with a numba
:func:`~numba.extending.overload` (:func:`f64_bits`); integer overflow in the random-number
generator, which is modular arithmetic by design, is silenced in this mode.

This module imports nothing from the rest of flashmc (it must be imported before any
compiled function is defined, and every module may import it).
"""

import functools
import glob
import hashlib
import os
import pickle
import shutil
import sys

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

#: Floating-point flags of the transport kernel (LLVM fast-math subset): fused multiply-add
#: ("contract"), division as multiplication by the reciprocal ("arcp"), no signed-zero
#: distinction ("nsz"). Library functions stay exact, NaN/inf semantics and the order of
#: additions (no reassociation) are kept, so results are deterministic for a given build
#: (measured: the kernel ~5 % faster on the development VM).
FASTMATH = frozenset({"contract", "arcp", "nsz"})

#: numba's error model: "numpy" (no zero-division checks, inf/nan as numpy gives them).
ERROR_MODEL = "numpy"

#: Whether compiled functions are cached on disk (see the module docstring).
CACHE = True

#: True when numba is switched off (``NUMBA_DISABLE_JIT=1``): pure-Python mode.
DISABLED = bool(numba.config.DISABLE_JIT)

#: The packages whose source files key the cache directory.
PACKAGES = ("physics", "geometry", "mc", "flash")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def source_files(root=ROOT, packages=PACKAGES):
    """The Python source files of ``packages`` under ``root``, sorted (paths)."""
    out = []
    for pkg in packages:
        out += glob.glob(os.path.join(root, pkg, "**", "*.py"), recursive=True)
    return sorted(out)


def source_hash(root=ROOT, packages=PACKAGES):
    """SHA-256 (first 16 hex digits) of the names and contents of :func:`source_files`."""
    h = hashlib.sha256()
    for path in source_files(root, packages):
        h.update(os.path.relpath(path, root).replace(os.sep, "/").encode())
        h.update(b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()[:16]


_PREFIX = "flashmc-"


def cache_base():
    """The directory that holds one cache directory per source version: ``$NUMBA_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/flashmc`` (``~/.cache/flashmc``). A ``NUMBA_CACHE_DIR`` that
    already names a version directory (inherited by a child process) is taken as its base."""
    base = os.environ.get("NUMBA_CACHE_DIR", "")
    if base:
        base = os.path.abspath(base)
        if os.path.basename(base).startswith(_PREFIX):
            base = os.path.dirname(base)
        return base
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "flashmc")


def cache_dir(root=ROOT):
    """The cache directory of the current sources: :func:`cache_base` / flashmc-<hash>."""
    return os.path.join(cache_base(), _PREFIX + source_hash(root))


def _use_cache_dir():
    """Point numba's cache at :func:`cache_dir` (before any cached function is defined)."""
    path = cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        import tempfile

        path = os.path.join(tempfile.gettempdir(), f"flashmc-numba-{os.getuid() if hasattr(os, 'getuid') else 0}",
                            os.path.basename(path))
        os.makedirs(path, exist_ok=True)
    numba.config.CACHE_DIR = path
    return path


CACHE_DIR = None if DISABLED else _use_cache_dir()

if DISABLED:
    # xoshiro256+ (mc.kernel.rng) is arithmetic modulo 2^64; numpy's uint64 scalars warn on
    # the wrap-around that machine code does silently
    np.seterr(over="ignore")

jit = functools.partial(numba.njit, cache=CACHE, error_model=ERROR_MODEL)
jit_inline = functools.partial(numba.njit, cache=CACHE, error_model=ERROR_MODEL, inline="always")
jit_kernel = functools.partial(numba.njit, cache=CACHE, error_model=ERROR_MODEL, fastmath=set(FASTMATH))
#: The options of a function that only compiled code calls (a stage): no CPython or C wrapper is
#: generated for it (measured: the cold first run of the README example compiles in 27 s instead
#: of 33 s on the development VM). Tests call a stage through :func:`python_entry`.
COMPILED_ONLY = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

jit_stage = functools.partial(numba.njit, cache=CACHE, error_model=ERROR_MODEL, fastmath=set(FASTMATH), forceinline=True,
                              _nrt=False, **COMPILED_ONLY)
jit_rare = functools.partial(numba.njit, cache=CACHE, error_model=ERROR_MODEL, fastmath=set(FASTMATH), _nrt=False,
                             **COMPILED_ONLY)


def python_entry(stage):
    """``stage`` (a :data:`jit_stage` or :data:`jit_rare` function, which has no CPython wrapper)
    made callable from Python: a compiled trampoline that passes its arguments on. In pure-Python
    mode the stage itself."""
    if DISABLED:
        return stage

    @numba.njit(error_model=ERROR_MODEL)
    def entry(*args):
        return stage(*args)

    entry.__name__ = entry.__qualname__ = stage.__name__
    entry.__doc__ = stage.__doc__
    return entry


def is_cached(dispatcher):
    """Whether numba's on-disk cache holds a compiled version of ``dispatcher`` for the current
    sources (its index file exists, matches the source file's time stamp and lists at least
    one signature), so that calling it loads machine code instead of compiling. True in
    pure-Python mode and for a function without a disk cache (nothing to compile)."""
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if DISABLED or cache_file is None:
        return True
    try:
        return bool(cache_file._load_index())
    except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):  # unreadable: numba will compile
        return False


# ---- intrinsics, each a Python function with a compiled overload --------------------------------

def f64_bits(x):
    """The IEEE-754 bit pattern of the float64 ``x`` as an int64 (in compiled code a register
    move)."""
    return int(np.array(x, np.float64).view(np.int64))


@intrinsic
def _f64_bits_intrinsic(typingctx, x):
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


# (not inline="always": numba 0.68's typed inlining of this overload into the voxel walk lost a
# later conditional store of the calling function, the upper layer of a column's deposit range;
# LLVM inlines the one-instruction function anyway)
@overload(f64_bits)
def _f64_bits_overload(x):
    if isinstance(x, types.Float):
        return lambda x: _f64_bits_intrinsic(np.float64(x))
    return None


# ---- command line ---------------------------------------------------------------------------------

def _main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="python -m mc.jit", description="flashmc's numba cache: where it is, "
                                "and removal of the cache directories of other source versions.")
    p.add_argument("--clear", action="store_true", help="remove the cache directories of other source versions")
    args = p.parse_args(argv)
    base, cur = cache_base(), CACHE_DIR
    dirs = sorted(glob.glob(os.path.join(base, _PREFIX + "*")))
    print(f"numba cache of the current sources: {cur}")
    for d in dirs:
        size = sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(d) for f in fs)
        mark = " (current)" if cur and os.path.samefile(d, cur) else ""
        print(f"  {d}: {size / 1e6:.1f} MB{mark}")
        if args.clear and not mark:
            shutil.rmtree(d, ignore_errors=True)
            print("    removed")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
