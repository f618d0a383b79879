"""Stored-answer regression cases: small inputs (``tests/regression/*.yaml``) whose results are
kept in HDF5 files beside them (``tests/regression/answers/<case>.h5``), so that a change of
the code that changes results (a refactor that should not, or physics that should) is caught
and seen.

Compared per case: the dose and its standard error, the dose to water, the secondary dose, the
LET averages, the primary fluence along z, the per-spot dose totals, and the energy counters.

Tolerance, stated per tier:

* **same build** (the answer was written with the same numba and llvmlite versions on a CPU
  with the same name and features): every array equal to 1e-12 of its largest value. The
  kernel is deterministic for a given build (fixed seeds, no threads, the order of additions
  fixed), so a refactor that leaves the histories alone passes bit for bit.
* **another build** (the compiler may fuse multiply-adds differently, and a rounding
  difference can change one decision of one history and everything after it in its batch):
  every voxel of the dose, the secondary dose and the dose to water within five combined
  standard errors of the two runs (plus 1e-9 of the maximum), the LET averages where the
  dose exceeds a tenth of its maximum within five combined standard errors of LETd, and the
  energy balance closing to 1e-9.

``python -m pytest tests/test_regression.py --update-answers`` rewrites the answers (after a
deliberate change of results: commit them with the change and say why in the commit).
"""

import glob
import os

import h5py
import llvmlite
import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

from mc.config import load_config
from mc.run import simulate

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regression")
CASES = sorted(glob.glob(os.path.join(HERE, "*.yaml")))
#: per-spot scoring for the cases whose name says so (the FLASH analysis' mode)
PER_SPOT = ("per_spot",)
GRID_ARRAYS = ("dose", "dose_std", "dose_to_water", "dose_to_water_std", "dose_secondary", "dose_secondary_std")
LET_KEPT = ("let_d", "let_t", "let_d_water", "let_d_primary")
SAME_BUILD_RTOL = 1e-12
N_SIGMA = 5.0


def build_id():
    """What makes two runs of the same input bit for bit equal: compiler versions and the CPU."""
    return (f"numba {numba.__version__}; llvmlite {llvmlite.__version__}; cpu {llvm.get_host_cpu_name()}; "
            f"features {llvm.get_host_cpu_features().flatten()}")


def run_case(path):
    cfg, _ = load_config(path)
    name = os.path.splitext(os.path.basename(path))[0]
    res = simulate(cfg, per_spot=any(k in name for k in PER_SPOT))
    out = {k: getattr(res, k) for k in GRID_ARRAYS if getattr(res, k) is not None}
    out["primary_fluence_z"] = res.primary_fluence_z
    if res.let is not None:
        out.update({f"let/{k}": res.let[k] for k in LET_KEPT})
        out.update({f"let_std/{k}": v for k, v in res.let_std.items()})
    if res.spot_dose is not None:
        sd = res.spot_dose
        out["spot_dose_sum"] = np.array([sd.spot(k)[1].sum() for k in range(sd.n_spots)])
    eb = {k: float(v) for k, v in res.energy_balance.items()}
    return out, eb


def write_answer(path, arrays, eb):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v, compression="gzip", compression_opts=4)
        g = f.create_group("energy_balance")
        for k, v in eb.items():
            g.attrs[k] = v
        f.attrs["build"] = build_id()


def read_answer(path):
    with h5py.File(path, "r") as f:
        arrays = {}
        f.visititems(lambda k, d: arrays.__setitem__(k, d[()]) if isinstance(d, h5py.Dataset) else None)
        eb = dict(f["energy_balance"].attrs)
        return arrays, eb, str(f.attrs["build"])


def _within_sigmas(a, b, sa, sb, what):
    tol = N_SIGMA * np.sqrt(sa * sa + sb * sb) + 1e-9 * max(np.abs(a).max(), np.abs(b).max())
    bad = np.abs(a - b) > tol
    assert not bad.any(), f"{what}: {bad.sum()} voxels differ by more than {N_SIGMA:g} standard errors"


@pytest.mark.parametrize("case", CASES, ids=[os.path.splitext(os.path.basename(c))[0] for c in CASES])
def test_stored_answer(case, request):
    answer = os.path.join(HERE, "answers", os.path.splitext(os.path.basename(case))[0] + ".h5")
    new, eb = run_case(case)
    if request.config.getoption("--update-answers"):
        write_answer(answer, new, eb)
        pytest.skip(f"answer written: {answer}")
    assert os.path.exists(answer), f"no stored answer {answer}: run pytest with --update-answers and commit it"
    old, eb_old, build = read_answer(answer)
    assert set(old) == set(new), f"stored quantities {sorted(old)} differ from computed {sorted(new)}"
    assert abs(eb["relative_imbalance"]) < 1e-9 and abs(eb["deposit_split_imbalance"]) < 1e-9
    if build == build_id():
        for k in old:
            scale = max(np.abs(old[k]).max(initial=0.0), 1e-300)
            np.testing.assert_allclose(new[k], old[k], rtol=0, atol=SAME_BUILD_RTOL * scale, err_msg=k)
        for k in ("deposited_MeV", "escaped_MeV", "neutral_MeV", "binding_MeV", "histories", "nonelastic_events"):
            assert eb[k] == pytest.approx(eb_old[k], rel=SAME_BUILD_RTOL, abs=0), k
        return
    for k in ("dose", "dose_to_water", "dose_secondary"):
        if k in old:
            _within_sigmas(new[k], old[k], new[k + "_std"], old[k + "_std"], k)
    if "let/let_d" in old:
        hot = old["dose"] > 0.1 * old["dose"].max()
        _within_sigmas(new["let/let_d"][hot], old["let/let_d"][hot], new["let_std/let_d"][hot],
                       old["let_std/let_d"][hot], "let_d")
