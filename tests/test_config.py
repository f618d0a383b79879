"""Every invalid input is rejected before transport with a message naming the field."""

import numpy as np
import pytest

from mc.config import ConfigError, load_config, load_config_text
from mc.problem import build_geometry
from mc.run import main
from mc.source import build_spots

GOOD = """
geometry: {type: box, material: water, size_mm: [20, 20, 50], voxel_mm: [2, 2, 2]}
beam: {energy_MeV: 100, position_mm: [0, 0, -10]}
run: {primaries: 100, seed: 1, batches: 2}
"""


def rejects(text, *patterns, overrides=()):
    with pytest.raises(ConfigError) as info:
        cfg, _ = load_config_text(text, list(overrides))
        build_spots(cfg.beam, build_geometry(cfg))
    for p in patterns:
        assert p in str(info.value), str(info.value)
    return str(info.value)


def test_good_config_and_overrides():
    cfg, resolved = load_config_text(GOOD, ["beam.energy_MeV=70", "run.primaries=20000",
                                            "output.path=run70.h5", "beam.spot_sigma_mm=[3,5]"])
    assert cfg.beam.energy_MeV == 70 and cfg.run.primaries == 20000 and cfg.output.path == "run70.h5"
    assert cfg.beam.spot_sigma_mm == [3, 5]
    assert resolved["beam"]["energy_MeV"] == 70


def test_unknown_key():
    rejects(GOOD.replace("energy_MeV: 100", "energy_MeV: 100, enrgy_spread: 1"), "beam.enrgy_spread",
            "unknown key")
    rejects(GOOD, "beam.colour", overrides=["beam.colour=red"])


def test_unknown_material():
    msg = rejects(GOOD.replace("material: water", "material: adamantium"), "geometry.material", "adamantium")
    assert "water" in msg  # lists the valid names


def test_unknown_material_in_slab():
    rejects("""
geometry: {type: slabs, size_mm: [20, 20, 20], slabs: [{material: water, thickness_mm: 10},
           {material: unobtainium, thickness_mm: 10}]}""", "geometry.slabs.1.material")


@pytest.mark.parametrize("energy", [-5, 0])
def test_non_positive_energy(energy):
    rejects(GOOD, "beam.energy_MeV", overrides=[f"beam.energy_MeV={energy}"])


def test_energy_outside_tables():
    rejects(GOOD, "beam.energy_MeV", "outside", overrides=["beam.energy_MeV=5000"])
    rejects(GOOD, "beam.energy_MeV", "cut-off", overrides=["beam.energy_MeV=0.3"])


def test_beam_missing_the_grid():
    rejects(GOOD, "beam.position_mm", "misses the grid", overrides=["beam.position_mm=[50,0,-10]"])
    rejects(GOOD, "beam.position_mm", "misses", overrides=["beam.direction=[0,0,-1]"])


def test_spot_missing_the_grid_is_named():
    rejects(GOOD, "beam.spots[1]", overrides=[
        "beam.spots=[{position_mm: [0,0,-10]}, {position_mm: [0, 40, -10]}]"])


def test_bad_yaml_reports_line():
    rejects("geometry: {type: box\n  size_mm: [1, 2\n", "not valid YAML", "line")


def test_bad_geometry_sizes():
    rejects(GOOD, "geometry.size_mm", overrides=["geometry.size_mm=[20,20,-5]"])
    rejects(GOOD, "not a whole number", overrides=["geometry.voxel_mm=[3,3,3]"])
    rejects(GOOD, "geometry.density_g_cm3", overrides=["geometry.density_g_cm3=-1"])


def test_batches_and_primaries():
    rejects(GOOD, "run.batches", overrides=["run.batches=1"])
    rejects(GOOD, "run.batches", overrides=["run.batches=500"])


def _voxel_file(tmp_path, density, materials=("water", "bone_cortical"), ext="npz"):
    mat = np.zeros((4, 4, 5), np.int32)
    mat[:, :, 2:] = 1
    path = tmp_path / f"phantom.{ext}"
    np.savez(path, material_id=mat, density_g_cm3=density, materials=np.array(materials),
             spacing_mm=np.array([2.0, 2.0, 2.0]), origin_mm=np.array([-3.0, -3.0, 1.0]))
    return path


def _voxel_cfg(path):
    return f"""
geometry: {{type: voxels, file: {path}}}
beam: {{energy_MeV: 60, position_mm: [0, 0, -10]}}
run: {{primaries: 50, batches: 2}}"""


def _voxel_h5(tmp_path, density):
    import h5py

    mat = np.zeros((4, 4, 5), np.int32)
    mat[:, :, 2:] = 1
    path = tmp_path / "phantom.h5"
    with h5py.File(path, "w") as f:
        f["material_id"] = mat
        f["density_g_cm3"] = density
        f["materials"] = np.array([b"water", b"bone_cortical"])
        f["spacing_mm"] = np.array([2.0, 2.0, 2.0])
        f["origin_mm"] = np.array([-3.0, -3.0, 1.0])
    return path


@pytest.mark.parametrize("fmt", ["npz", "h5"])
def test_voxel_file_loads_and_runs(tmp_path, run_cfg, fmt):
    d = np.full((4, 4, 5), 1.0)
    path = _voxel_file(tmp_path, d) if fmt == "npz" else _voxel_h5(tmp_path, d)
    res = run_cfg(_voxel_cfg(path))
    assert res.grid.shape == (4, 4, 5) and res.grid.materials == ("water", "bone_cortical")
    assert np.allclose(res.grid.origin_cm, [-0.3, -0.3, 0.1])
    assert res.dose.sum() > 0


def test_nan_density_in_voxel_file(tmp_path):
    d = np.full((4, 4, 5), 1.0)
    d[1, 2, 3] = np.nan
    msg = rejects(_voxel_cfg(_voxel_file(tmp_path, d)), "geometry", "NaN", "(1, 2, 3)")
    assert "density" in msg


def test_negative_density_in_voxel_file(tmp_path):
    d = np.full((4, 4, 5), 1.0)
    d[0, 0, 0] = -0.5
    rejects(_voxel_cfg(_voxel_file(tmp_path, d)), "density must be > 0")


def test_unknown_material_in_voxel_file(tmp_path):
    path = _voxel_file(tmp_path, np.full((4, 4, 5), 1.0), materials=("water", "vibranium"))
    rejects(_voxel_cfg(path), "geometry.file", "vibranium")


def test_unreadable_voxel_file(tmp_path):
    missing = tmp_path / "nope.npz"
    rejects(_voxel_cfg(missing), "geometry.file", "does not exist")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"this is not a zip archive")
    rejects(_voxel_cfg(corrupt), "geometry.file", "cannot read")


def test_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(GOOD.replace("material: water", "material: mithril"))
    assert main([str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "geometry.material" in err and "Traceback" not in err


def test_unwritable_output_path_rejected_before_transport(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD)
    assert main([str(cfg), "--quiet", "--set", f"output.path={blocker}/sub/dose.h5"]) == 2
    assert "output.path" in capsys.readouterr().err


def test_sobp_plan_sizes_are_bounded_with_the_field_named():
    base = "geometry: {type: box, material: water, size_mm: [40, 40, 200]}\n"
    with pytest.raises(ConfigError, match="layer_spacing_mm"):
        load_config_text(base + "beam: {sobp: {proximal_mm: 100, distal_mm: 150, layer_spacing_mm: 0.0001}}")
    with pytest.raises(ConfigError, match="spot_spacing_mm"):
        load_config_text(base + "beam: {sobp: {proximal_mm: 100, distal_mm: 150, field_size_mm: [1e6, 1e6], "
                                "spot_spacing_mm: 0.01}}")


def test_duplicate_key_is_rejected_with_its_line():
    msg = rejects(GOOD + "beam: {energy_MeV: 120}\n", "duplicate key 'beam'", "line 5", "line 3")
    assert "\n" not in msg
    rejects("geometry: {type: box, type: slabs}\n", "duplicate key 'type'", "line 1")
    rejects(GOOD, "--set", overrides=["beam.spot_sigma_mm={a: 1, a: 2}"])


def test_duplicate_key_in_one_run_of_several(tmp_path):
    p = tmp_path / "two.yaml"
    p.write_text(GOOD + "---\n" + GOOD.replace("seed: 1", "seed: 1, seed: 2"))
    from mc.config import load_configs

    with pytest.raises(ConfigError, match=r"duplicate key 'seed'.*at line 9"):
        load_configs(str(p))


def test_merge_keys_may_repeat_merged_keys():
    import yaml

    from mc.config import UniqueKeyLoader

    d = yaml.load("a: &p {x: 1, y: 2}\nb: {<<: *p, x: 3}\n", Loader=UniqueKeyLoader)
    assert d["b"] == {"x": 3, "y": 2}


def test_non_utf8_config_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(GOOD.encode() + b"# \xff\n")
    with pytest.raises(ConfigError, match=r"c.yaml: byte 0xff at line 5 is not UTF-8"):
        load_config(str(p))


def test_output_path_home_expanded_and_folders_refused():
    import os

    cfg, resolved = load_config_text(GOOD, ["output.path=~/runs/d.h5"])
    assert cfg.output.path == os.path.join(os.path.expanduser("~"), "runs", "d.h5")
    assert resolved["output"]["path"] == cfg.output.path
    rejects(GOOD, "output.path", "path separator", "dir/sub/dose.h5", overrides=["output.path=dir/sub/"])
    rejects(GOOD, "output.path", "empty", overrides=["output.path=''"])
    rejects(GOOD, "output.path", "empty", overrides=["output.path='  '"])


def test_primaries_beyond_float64_counts():
    from mc.config import MAX_PRIMARIES

    assert load_config_text(GOOD, [f"run.primaries={MAX_PRIMARIES}"])[0].run.primaries == 2**53
    rejects(GOOD, "run.primaries", "2^53", overrides=[f"run.primaries={MAX_PRIMARIES + 1}"])
    rejects(GOOD, "run.primaries", overrides=["run.primaries=10000000000000000000000"])


def test_voxel_file_with_a_size_or_spacing_in_the_config_is_refused(tmp_path):
    """The file gives the grid; a size_mm or voxel_mm beside it (which could only contradict it,
    e.g. a file whose axes are in another order than the user thinks) is refused, not ignored."""
    path = _voxel_file(tmp_path, np.ones((4, 4, 5)))
    for key, value in (("voxel_mm", "[2, 3, 4]"), ("size_mm", "[8, 18, 40]")):
        text = _voxel_cfg(path).replace("file: ", f"{key}: {value}, file: ")
        with pytest.raises(ConfigError, match=f"geometry.{key} is not used with type 'voxels'"):
            load_config_text(text)
    load_config_text(_voxel_cfg(path))  # without them: accepted
