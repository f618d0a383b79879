"""Checkpoints of a run: the summed tallies of its first batches, written by rank 0
beside the output (``output.path`` + ``.checkpoint.npz``) so that an interrupted run can be
resumed (``--resume``) and give the result of an uninterrupted one.

Format (``numpy.savez``): ``meta``, a JSON string with ``format`` (:data:`FORMAT`),
``batches_done`` (the batches 0 .. batches_done - 1 are in the sums), ``primaries_done``,
``elapsed_s`` (seconds of transport so far) and ``fingerprint`` (:func:`config_fingerprint`);
every array of :meth:`mc.tally.RankTallies.arrays` under its name (the dose sums as integer
multiples of the run's deposit quantum, the other energy sums in MeV);
``counts`` (:meth:`mc.tally.RankTallies.counts`: primaries and batches summed); in per-spot
mode the committed per-spot entries as ``spot_k`` (spot), ``spot_i`` (flat voxel index) and
``spot_v`` (weighted deposit, MeV).

Integrity: ``meta`` also holds ``sha256``, the SHA-256 (FIPS 180-4) of the other meta entries
(JSON, sorted keys) and of every array (name, dtype, shape and bytes, in name order); a file
whose digest does not match (edited, truncated, or written by something else) is refused. The
file holds plain numeric arrays and JSON text only and is read with ``allow_pickle=False``.
Its mode is that of any new file under the process's umask (0644 with the usual 022), not
the 0600 of the temporary file it is written to.
"""

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import ConfigError


def checkpoint_path(cfg):
    """Absolute path of the run's checkpoint: ``output.path`` + ``.checkpoint.npz``."""
    return os.path.abspath(cfg.output.path) + ".checkpoint.npz"


def config_fingerprint(cfg, inputs=""):
    """SHA-256 (hex) of the configuration without its stopping rules, and of ``inputs`` (a
    fingerprint of the files a configuration names, e.g. a plan's DICOM files:
    :meth:`mc.patient.PatientCase.fingerprint`): a checkpoint resumes only the configuration and
    the inputs that wrote it."""
    d = cfg.model_dump(mode="json")
    for k in ("target_uncertainty", "time_limit_s", "checkpoint_interval_s"):
        d["run"].pop(k, None)  # stopping rules may change between a run and its resumption
    return hashlib.sha256((json.dumps(d, sort_keys=True) + inputs).encode()).hexdigest()


def _digest(meta, arrays):
    """SHA-256 (hex) of ``meta`` (a dict, without ``sha256``) and of the named ``arrays``."""
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.data)
    return h.hexdigest()


def _umask():
    """The process's file-mode creation mask (POSIX umask(2); set and restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The version of the checkpoint format (2: integer dose sums, ``batches_done``; 3: 31 energy counters, the
#: forward fragment counts; an ion run's 31 LET sums).
FORMAT = 3


def write_checkpoint(path, total, batches_done, primaries_done, elapsed, fingerprint):
    """Write the run totals ``total`` (a :class:`mc.tally.RankTallies`) of the first
    ``batches_done`` batches, ``primaries_done`` primaries and ``elapsed`` seconds of transport
    to ``path``, atomically (a temporary file beside it, then renamed)."""
    arrays = {name: a for name, a in total.arrays()}
    arrays["counts"] = total.counts()
    if total.spots is not None:
        k, i, v = total.spots.arrays()
        arrays.update(spot_k=k, spot_i=i, spot_v=v)
    meta = {"format": FORMAT, "batches_done": batches_done, "primaries_done": primaries_done, "elapsed_s": elapsed,
            "fingerprint": fingerprint}
    meta["sha256"] = _digest(meta, arrays)
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-ckpt-", suffix=".npz", dir=d)
    os.close(fd)
    try:
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
        os.chmod(path, 0o666 & ~_umask())
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_checked(path):
    """Meta data and arrays of the checkpoint ``path``; ConfigError if it cannot be read (not a
    numpy .npz, truncated, holding objects that need pickle) or its digest does not match."""
    bad = (f"--resume: the checkpoint {path!r} is damaged or not a flashmc checkpoint"
           "; delete it and start afresh without --resume")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
        meta = json.loads(str(arrays.pop("meta")))
        digest = meta.pop("sha256")
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{bad} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if digest != _digest(meta, arrays):
        raise ConfigError(f"{bad} (its SHA-256 does not match its contents: it was edited or corrupted)")
    return meta, arrays


def read_checkpoint(path, total, fingerprint):
    """Load the checkpoint ``path`` into ``total`` (a :class:`mc.tally.RankTallies` of the same
    configuration) and return its meta data; ConfigError if there is none, it is damaged or
    edited (see the module docstring) or it belongs to another configuration (``fingerprint``,
    see :func:`config_fingerprint`)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--resume: no checkpoint {path!r} to resume from (it is written beside output.path)")
    meta, f = _load_checked(path)
    if meta.get("format") != FORMAT:
        raise ConfigError(f"--resume: the checkpoint {path!r} was written by another version of flashmc (format "
                          f"{meta.get('format', 1)}, this one reads {FORMAT}); start afresh without --resume")
    if meta.get("fingerprint") != fingerprint:
        raise ConfigError(f"--resume: the checkpoint {path!r} belongs to a different configuration; resume "
                          "with the same config (only run.target_uncertainty, time_limit_s and "
                          "checkpoint_interval_s may change) or start afresh without --resume")
    for name, a in total.arrays():
        if name not in f or f[name].shape != a.shape:
            raise ConfigError(f"--resume: the checkpoint {path!r} holds no {name} of this run's shape {a.shape} "
                              "(written by another version of flashmc?); start afresh without --resume")
        a[...] = f[name]
    total.set_counts(f["counts"])
    if total.spots is not None:
        total.spots.absorb(f["spot_k"], f["spot_i"], f["spot_v"])
    return meta
