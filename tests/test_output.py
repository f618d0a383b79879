"""The command line writes a complete, self-describing HDF5 file and a depth-dose figure."""

import os
import stat

import h5py
import numpy as np
import yaml

from mc.run import main

CFG = """
geometry: {type: box, material: water, size_mm: [20, 20, 90], voxel_mm: [2, 2, 1]}
beam: {energy_MeV: 70, energy_spread_MeV: 0.5, spot_sigma_mm: [3, 3], position_mm: [0, 0, -10],
       protons: 2.0e8}
run: {primaries: 400, seed: 3, batches: 4}
output: {path: out/dose.h5, secondary_dose: true}
"""


def test_cli_writes_schema(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("out/dose.h5", str(tmp_path / "out" / "dose.h5")))
    old_umask = os.umask(0o022)
    try:
        assert main([str(cfg), "--quiet", "--set", "run.seed=4"]) == 0
    finally:
        os.umask(old_umask)
    for name in ("dose.h5", "dose_depth_dose.png"):  # readable by others under umask 022 (not mkstemp's 0600)
        assert stat.S_IMODE(os.stat(tmp_path / "out" / name).st_mode) == 0o644
    out = capsys.readouterr().out
    assert "protons/s" in out and "wrote" in out
    path = tmp_path / "out" / "dose.h5"
    assert (tmp_path / "out" / "dose_depth_dose.png").stat().st_size > 10000
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".tmp")]
    with h5py.File(path) as f:
        dose = f["/dose"][()]
        assert dose.shape == (10, 10, 90)
        assert f["/dose"].attrs["units"] == "Gy"
        assert np.allclose(f["/dose"].attrs["spacing_mm"], [2, 2, 1])
        assert np.allclose(f["/dose"].attrs["origin_mm"], [-9, -9, 0.5])
        assert f["/dose"].attrs["protons"] == 2.0e8
        std = f["/dose_std"][()]
        assert std.shape == dose.shape and np.all(std >= 0)
        per_p = f["/dose_per_primary"][()]
        assert np.allclose(dose, per_p * 2.0e8, rtol=1e-5)
        resolved = yaml.safe_load(f.attrs["config"])
        assert resolved["run"]["seed"] == 4  # the override is recorded
        assert "primaries: 400" in f.attrs["config_input"]
        assert f.attrs["version_flashmc"] and f.attrs["version_numba"]
        eb = dict(f["/energy_balance"].attrs)
        assert abs(eb["relative_imbalance"]) < 1e-9 and eb["neutral_MeV"] > 0
        sec = f["/dose_secondary"][()]
        assert sec.shape == dose.shape and 0 < sec.sum() < 0.2 * dose.sum()
        phi = f["/primary_fluence_z"][()]
        # the 3 mm spot on a 20 mm wide grid: a few primaries miss it or enter from the side
        assert phi.shape == (90,) and 0.98 < phi[0] <= 1.0 and np.all(np.diff(phi) <= 0)
        assert list(f["/geometry"].attrs["materials"]) == ["water"]
        # peak near the 70 MeV range in water (~40.8 mm)
        idd = dose.sum(axis=(0, 1))
        assert 35 < np.argmax(idd) < 42
