"""The numbers the README quotes for the FLASH module, recomputed: the sparing curves of
``examples/flash_curves.yaml`` (flash/sparing.py) and the two Monte Carlo runs of
``examples/flash_bone_marrow.yaml``. Each test builds the README's sentence from the values it
computes (rounded as the README prints them) and requires it in the README, so a change of
results that leaves the README behind fails here."""

import os
import re

import h5py
import numpy as np

from flash.curves import load_curves_config
from flash.oxygen import OxygenParams, uniform_dmf
from mc.run import main
from physics.tissue import TISSUE_PO2_MMHG

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return re.sub(r"\s+", " ", f.read())


def test_readme_sparing_curve_numbers():
    cfg = load_curves_config(os.path.join(ROOT, "examples", "flash_curves.yaml"))
    par = OxygenParams(**cfg.oxygen.model_dump())

    def dmf(dose, rate, tissue):
        return float(uniform_dmf(np.array([dose], float), np.array([rate], float), TISSUE_PO2_MMHG[tissue], par)[0][0])

    hi = [dmf(d, 1e4, "bone_marrow") for d in (8, 15, 30)]
    lo = [dmf(d, 100.0, "bone_marrow") for d in (8, 15, 30)]
    hyp = [dmf(d, 1e4, "hypoxic_tumour") for d in (2, 8, 15, 30)]
    normal = [dmf(d, r, "normal_tissue") for d in (2, 8, 15, 30) for r in (100.0, 1e4)]
    text = _readme()
    assert (f"at 10^4 Gy/s 8 Gy to marrow gives DMF {hi[0]:.2f}, 15 Gy {hi[1]:.2f}, 30 Gy {hi[2]:.2f} "
            f"(at 100 Gy/s: {lo[0]:.2f}, {lo[1]:.2f}, {lo[2]:.2f})") in text
    hyp_text = ", ".join(f"{v:.2f}" for v in hyp)
    assert f"the hypoxic tumour reaches {hyp_text} at 2, 8, 15, 30 Gy" in text
    assert min(normal) > 0.98 and "normal tissue (45.8 mmHg) stays above 0.98 up to 30 Gy" in text


def test_readme_bone_marrow_example_numbers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([os.path.join(ROOT, "examples", "flash_bone_marrow.yaml"), "--quiet"]) == 0
    with h5py.File(tmp_path / "results" / "flash_bone_marrow_transmission.h5") as f:
        a = dict(f["flash"].attrs)
    with h5py.File(tmp_path / "results" / "flash_bone_marrow_pbs.h5") as f:
        b = dict(f["flash"].attrs)
    text = _readme()
    assert (f"delivered in {a['delivery_time_s']:.2f} s, {100 * a['volume_fraction_flash']:.0f} % of the marrow "
            f"volume ({100 * a['dose_fraction_flash']:.0f} % of its dose) at >= 40 Gy/s PBS dose rate, marrow pO2 "
            f"down from 9.9 to {a['min_pO2_mmHg']:.1f} mmHg at the lowest, mean DMF {a['mean_dmf']:.3f} (the same "
            f"plan at 2 nA: {a['mean_dmf_conventional']:.3f}); median marrow dose {a['d50_physical_Gy']:.2f} Gy "
            f"physical, {a['d50_flash_Gy']:.2f} Gy FLASH-modified (oxygen model), {a['d50_fem_Gy']:.2f} Gy "
            "(threshold model)") in text
    assert b["volume_fraction_flash"] == 0.0
    assert (f"oxygen model gives mean DMF {b['mean_dmf']:.3f} ({b['mean_dmf_conventional']:.3f} at 2 nA) "
            "from the dose rate within each spot") in text
