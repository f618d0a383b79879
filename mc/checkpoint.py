"""Checkpoints of a run: the summed tallies after a number of complete rounds, written by rank 0
beside the output (``output.path`` + ``.checkpoint.npz``) so that an interrupted run can be
resumed (``--resume``) and give the result of an uninterrupted one.

Format (``numpy.savez``): ``meta``, a JSON string with ``rounds_done``, ``primaries_done``,
``elapsed_s`` (seconds of transport so far) and ``fingerprint`` (:func:`config_fingerprint`);
every array of :meth:`mc.tally.RankTallies.arrays` under its name (energy sums in MeV);
``counts`` (:meth:`mc.tally.RankTallies.counts`: primaries and batches summed); in per-spot
mode the committed per-spot entries as ``spot_k`` (spot), ``spot_i`` (flat voxel index) and
``spot_v`` (weighted deposit, MeV).
"""

import hashlib
import json
import os
import tempfile

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


def write_checkpoint(path, total, rounds_done, primaries_done, elapsed, fingerprint):
    """Write the run totals ``total`` (a :class:`mc.tally.RankTallies`) after ``rounds_done``
    rounds of ``primaries_done`` primaries and ``elapsed`` seconds of transport to ``path``,
    atomically (a temporary file beside it, then renamed)."""
    arrays = {name: a for name, a in total.arrays()}
    arrays["counts"] = total.counts()
    if total.spots is not None:
        k, i, v = total.spots.arrays()
        arrays.update(spot_k=k, spot_i=i, spot_v=v)
    meta = {"rounds_done": rounds_done, "primaries_done": primaries_done, "elapsed_s": elapsed,
            "fingerprint": fingerprint}
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-ckpt-", suffix=".npz", dir=d)
    os.close(fd)
    try:
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_checkpoint(path, total, fingerprint):
    """Load the checkpoint ``path`` into ``total`` (a :class:`mc.tally.RankTallies` of the same
    configuration) and return its meta data; ConfigError if there is none or it belongs to
    another configuration (``fingerprint``, see :func:`config_fingerprint`)."""
    if not os.path.isfile(path):
        raise ConfigError(f"--resume: no checkpoint {path!r} to resume from (it is written beside output.path)")
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        if meta["fingerprint"] != fingerprint:
            raise ConfigError(f"--resume: the checkpoint {path!r} belongs to a different configuration; resume "
                              "with the same config (only run.target_uncertainty, time_limit_s and "
                              "checkpoint_interval_s may change) or start afresh without --resume")
        for name, a in total.arrays():
            a[...] = f[name]
        total.set_counts(f["counts"])
        if total.spots is not None:
            total.spots.absorb(f["spot_k"], f["spot_i"], f["spot_v"])
    return meta
