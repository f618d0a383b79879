"""Monte Carlo dose of DICOM plans: the same dose as the equivalent phantom and beam written in
YAML, IEC 61217 rotations seen in the dose, the machine's spot size in air at the isocentre, and
the RT Dose written beside the HDF5 output.

References: the YAML phantom path (geometry.phantoms voxel file, beam.spots), independent of the
CT, structure, plan and beam-model code; the drift optics of the machine's Gaussian beam
(sigma(z)^2 = sigma0^2 + 2 rho sigma0 theta0 z + theta0^2 z^2, computed here by hand from the
machine table); the range of protons in water (ICRU 49 / PSTAR CSDA range of 100 MeV protons,
7.718 g/cm^2); pymedphys' gamma index; SimpleITK as a second RT Dose reader.
"""

import os

import h5py
import numpy as np
import pytest
import yaml

from geometry.ct import write_ct_series
from mc.config import ConfigError, load_config_text
from mc.phantom_case import calibration_text, phantom_arrays, write_phantom_case
from mc.run import main, simulate
from physics.tables import build_tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MACHINE = os.path.join(ROOT, "examples", "machines", "generic_pbs.yaml")

#: PSTAR CSDA range of 100 MeV protons in liquid water [mm] (ICRU Report 49).
CSDA_100MEV_MM = 77.18


def _machine():
    with open(MACHINE, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    rows = [dict(zip(doc["layers"]["columns"], r)) for r in doc["layers"]["rows"]]
    return doc, {r["nominal_energy_MeV"]: r for r in rows}


def _plan_config(case, primaries, extra=""):
    return (f"dicom: {{ct: {case['ct']}, plan: {case['plan']}, structures: {case['structures']}, "
            f"calibration: {case['calibration']}, machine: {MACHINE}}}\n"
            f"run: {{primaries: {primaries}, batches: 20, seed: 7}}\n"
            "physics: {nuclear: false}\n" + extra)


# --------------------------------------------------------------------------------------------
# a DICOM plan and the same phantom and beam written in YAML
SPOTS_XY = np.array([[x, y] for x in (-6.0, 0.0, 6.0) for y in (-6.0, 0.0, 6.0)])
ISO = np.array([0.0, 60.0, 0.0])


def _yaml_equivalent(tmp_path, case, primaries):
    """The phantom as a voxel file (materials from the HU by hand: -1000 air, 0 water, 1000
    cortical bone at their nominal densities) and the plan's spots written out by hand from the
    machine table and the IEC geometry of a gantry-0 beam on a head-first-supine patient (X_b =
    +x, Y_b = +z, the source towards -y), each with the energy left after the CSDA loss in the
    air between the nozzle exit and the CT (NIST dry air, 1.20479e-3 g/cm^3)."""
    hu, origin, spacing = case["hu"], case["origin_mm"], case["spacing_mm"]
    material = np.where(hu < -900, 0, np.where(hu < 500, 1, 2))
    density = np.array([1.20479e-3, 1.0, 1.85])[material]
    voxels = str(tmp_path / "phantom.npz")
    np.savez(voxels, material_id=material, density_g_cm3=density, materials=np.array(["air", "water", "bone_cortical"]),
             spacing_mm=spacing, origin_mm=origin)
    doc, rows = _machine()
    r = rows[120.0]
    L, smx, smy = doc["nozzle_to_isocentre_mm"], doc["smx_to_isocentre_mm"], doc["smy_to_isocentre_mm"]
    air = build_tables(["air"])
    spots = []
    for X, Y in SPOTS_XY:
        start = ISO + [X * (1 - L / smx), -L, Y * (1 - L / smy)]
        d = np.array([X / smx, 1.0, Y / smy])
        d /= np.linalg.norm(d)
        # the air from the nozzle exit to the CT's face (y = origin - half a voxel): CSDA loss
        path_cm = (origin[1] - spacing[1] / 2 - start[1]) / d[1] / 10.0
        energy = air.energy_from_range(0, air.csda_range(0, r["mean_energy_MeV"]) - 1.20479e-3 * path_cm)
        spots.append({"position_mm": start.tolist(), "direction": d.tolist(), "energy_MeV": float(energy),
                      "weight": 10.0 / len(SPOTS_XY) * r["protons_per_mu"]})
    beam = {"energy_MeV": r["mean_energy_MeV"], "energy_spread_MeV": r["energy_spread_MeV"],
            "spot_sigma_mm": [r["sigma_x_mm"], r["sigma_y_mm"]],
            "divergence_mrad": [r["divergence_x_mrad"], r["divergence_y_mrad"]],
            "correlation": [r["correlation_x"], r["correlation_y"]], "spots": spots}
    text = yaml.safe_dump({"geometry": {"type": "voxels", "file": voxels}, "beam": beam,
                           "run": {"primaries": primaries, "batches": 20, "seed": 8},
                           "physics": {"nuclear": False}})
    return load_config_text(text)[0]


@pytest.fixture(scope="module")
def water_box_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    beam = dict(isocentre_mm=ISO.tolist(), gantry_deg=0.0, couch_deg=0.0, meterset_mu=10.0,
                layers=[(120.0, SPOTS_XY, np.ones(len(SPOTS_XY)))])
    return folder, write_phantom_case(str(folder), [beam])


def test_dicom_plan_gives_the_dose_of_the_equivalent_yaml_phantom(water_box_case):
    import pymedphys

    folder, case = water_box_case
    n = 300_000
    plan_cfg = load_config_text(_plan_config(case, n))[0]
    a = simulate(plan_cfg)
    b = simulate(_yaml_equivalent(folder, case, n))
    assert a.protons == pytest.approx(b.protons, rel=1e-12)
    assert np.array_equal(a.grid.material_id, b.grid.material_id.astype(a.grid.material_id.dtype)) or \
        [a.grid.materials[i] for i in a.grid.material_id.ravel()[::97]] == \
        [b.grid.materials[i] for i in b.grid.material_id.ravel()[::97]]
    assert np.allclose(a.grid.density, b.grid.density, rtol=1e-6)
    # statistics: where the dose is above 20 % of the maximum the differences, in combined
    # standard errors (each from 20 batches: Student's t with ~19 degrees of freedom, P(|t| > 4)
    # = 8e-4), average to zero and exceed 4 in at most 0.5 % of the voxels
    hot = a.dose > 0.2 * a.dose.max()
    z = (a.dose - b.dose)[hot] / np.hypot(a.dose_std, b.dose_std)[hot]
    assert abs(z.mean()) < 4.0 / np.sqrt(hot.sum())
    assert np.mean(np.abs(z) > 4.0) < 0.005
    # gamma 1 %/1 mm (global, 10 % threshold): >= 99 % of the voxels pass
    axes = tuple(a.grid.axis_centres_cm(i) * 10.0 for i in range(3))
    g = pymedphys.gamma(axes, b.dose, axes, a.dose, 1.0, 1.0, lower_percent_dose_cutoff=10, max_gamma=2.0)
    valid = np.isfinite(g)
    assert valid.sum() > 1000
    assert np.mean(g[valid] <= 1.0) >= 0.99


# --------------------------------------------------------------------------------------------
# gantry and couch angles seen in the dose
def _cube_case(tmp_path, gantry, couch, position="HFS"):
    """A 100 mm cube of water (0 HU) centred on the isocentre (the origin), 4 mm voxels, with
    one 100 MeV spot at the isocentre."""
    from mc.phantom_case import calibration_text as cal_text
    from mc.plan import write_rt_ion_plan

    n = 25
    hu = np.zeros((n, n, n))
    origin = np.full(3, -50.0 + 2.0)
    ct = write_ct_series(str(tmp_path / "ct"), hu, np.full(3, 4.0), origin)
    plan = str(tmp_path / "plan.dcm")
    write_rt_ion_plan(plan, [dict(isocentre_mm=[0.0, 0.0, 0.0], gantry_deg=gantry, couch_deg=couch, meterset_mu=1.0,
                                  layers=[(100.0, [[0.0, 0.0]], [1.0])])],
                      frame_of_reference_uid=ct.frame_of_reference_uid, study_instance_uid=ct.study_instance_uid,
                      patient_position=position)
    cal = tmp_path / "cal.yaml"
    cal.write_text(cal_text())
    text = (f"dicom: {{ct: {tmp_path / 'ct'}, plan: {plan}, calibration: {cal}, machine: {MACHINE}}}\n"
            "run: {primaries: 4000, batches: 2, seed: 3}\nphysics: {nuclear: false}\n")
    return load_config_text(text)[0]


@pytest.mark.parametrize("gantry, couch, position, axis, sign", [
    (0.0, 0.0, "HFS", 1, +1),     # source anterior: the beam travels posterior (+y)
    (90.0, 0.0, "HFS", 0, -1),    # source on the patient's left: travels to the right (-x)
    (270.0, 0.0, "HFS", 0, +1),
    (90.0, 90.0, "HFS", 2, +1),   # couch 90: the source at the feet, the beam travels superior (+z)
    (90.0, 270.0, "HFS", 2, -1),
    (90.0, 0.0, "FFS", 0, +1),    # feet first: gantry 90 is on the patient's right
])
def test_gantry_and_couch_rotate_the_dose(tmp_path, gantry, couch, position, axis, sign):
    r = simulate(_cube_case(tmp_path, gantry, couch, position))
    d = r.dose
    c = [r.grid.axis_centres_cm(a) * 10.0 for a in range(3)]
    profile = d.sum(axis=tuple(a for a in range(3) if a != axis))
    # Bragg peak: CSDA range of 100 MeV in water, less the ~2 % of the range between the peak and
    # R_CSDA (Bortfeld 1997), from the entrance face at -50 mm (sign +1) or +50 mm (sign -1);
    # within two 4 mm voxels
    peak = c[axis][np.argmax(profile)]
    depth = 50.0 + sign * peak
    assert depth == pytest.approx(0.98 * CSDA_100MEV_MM, abs=8.0)
    # entry side: dose in the first voxel layer on the source side, none beyond the peak
    entry = profile[0] if sign > 0 else profile[-1]
    exit_ = profile[-1] if sign > 0 else profile[0]
    assert entry > 0.1 * profile.max() and exit_ == 0.0
    # the other two axes: the dose is centred on the isocentre (within a voxel)
    for a in range(3):
        if a != axis:
            p = d.sum(axis=tuple(b for b in range(3) if b != a))
            assert abs((p * c[a]).sum() / p.sum()) < 4.0


# --------------------------------------------------------------------------------------------
# spot size in air at the isocentre
def test_spot_sigma_in_air_at_the_isocentre_follows_the_machine(tmp_path):
    """A 2 mm slab of air (HU -1000) through the isocentre, 0.5 mm voxels across: the dose
    profile of one 150 MeV spot along x and z is the spot's fluence profile there. Its sigma
    (second moment, less the voxel's w^2/12) must be within 2 % of the machine's drift optics
    evaluated by hand: the air scatters by ~0.03 mrad, which widens the spot by ~1e-4 mm."""
    from mc.plan import write_rt_ion_plan

    hu = np.full((161, 2, 161), -1000.0)
    ct = write_ct_series(str(tmp_path / "ct"), hu, np.array([0.5, 1.0, 0.5]), np.array([-40.0, -0.5, -40.0]))
    plan = str(tmp_path / "plan.dcm")
    write_rt_ion_plan(plan, [dict(isocentre_mm=[0.0, 0.0, 0.0], gantry_deg=0.0, couch_deg=0.0, meterset_mu=1.0,
                                  layers=[(150.0, [[0.0, 0.0]], [1.0])])],
                      frame_of_reference_uid=ct.frame_of_reference_uid, study_instance_uid=ct.study_instance_uid)
    cal = tmp_path / "cal.yaml"
    cal.write_text(calibration_text())
    cfg = load_config_text(f"dicom: {{ct: {tmp_path / 'ct'}, plan: {plan}, calibration: {cal}, machine: {MACHINE}}}\n"
                           "run: {primaries: 40000, batches: 4, seed: 5}\nphysics: {nuclear: false}\n")[0]
    r = simulate(cfg)
    doc, rows = _machine()
    row, L = rows[150.0], doc["nozzle_to_isocentre_mm"]
    for axis, key in ((0, "x"), (2, "y")):  # X_b = patient x, Y_b = patient z (gantry 0, HFS)
        s0, t0, rho = row[f"sigma_{key}_mm"], row[f"divergence_{key}_mrad"] * 1e-3, row[f"correlation_{key}"]
        expected = np.sqrt(s0**2 + 2 * rho * s0 * t0 * L + (t0 * L) ** 2)
        c = r.grid.axis_centres_cm(axis) * 10.0
        p = r.dose.sum(axis=tuple(b for b in range(3) if b != axis))
        mean = (p * c).sum() / p.sum()
        sigma = np.sqrt((p * (c - mean) ** 2).sum() / p.sum() - 0.5**2 / 12)
        assert sigma == pytest.approx(expected, rel=0.02)
        assert abs(mean) < 0.05 * expected


# --------------------------------------------------------------------------------------------
# the command line: HDF5 and RT Dose
def test_command_line_writes_rt_dose_matching_the_hdf5(tmp_path, water_box_case):
    import SimpleITK as sitk

    from mc.dicom_out import read_rt_dose

    _, case = water_box_case
    out = tmp_path / "out" / "plan.h5"
    cfg = tmp_path / "plan.yaml"
    cfg.write_text(_plan_config(case, 20000, f"output: {{path: {out}, plot: false}}\n"
                                "rbe: {models: [constant]}\n"))
    assert main([str(cfg), "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        dose = f["dose"][()].astype(np.float64)
        origin, spacing = f["dose"].attrs["origin_mm"], f["dose"].attrs["spacing_mm"]
        assert f["plan"].attrs["dose_fractions"] == 1 and f["plan/mu"][()].sum() == pytest.approx(10.0)
        assert set(f["structures"]) == {"External", "Bone", "Cavity", "Target"}
        rbe = f["dose_rbe/constant"][()]
    rt = read_rt_dose(str(out.with_name("plan_dose.dcm")))
    assert rt.dose_type == "PHYSICAL" and rt.frame_of_reference_uid == case["frame_of_reference_uid"]
    assert rt.referenced_plan_uid == case["plan_uid"]
    assert np.allclose(rt.origin_mm, origin) and np.allclose(rt.spacing_mm, spacing)
    assert np.max(np.abs(rt.dose_gy - dose)) <= 1e-5 * dose.max()
    # an independent reader: SimpleITK (array [z, y, x]; pixel values times DoseGridScaling)
    img = sitk.ReadImage(str(out.with_name("plan_dose.dcm")))
    scaling = float(img.GetMetaData("3004|000e"))
    arr = sitk.GetArrayFromImage(img).astype(np.float64) * scaling
    assert np.allclose(img.GetOrigin(), origin) and np.allclose(img.GetSpacing(), spacing)
    assert np.max(np.abs(arr.transpose(2, 1, 0) - dose)) <= 1e-5 * dose.max()
    eff = read_rt_dose(str(out.with_name("plan_dose_rbe_constant.dcm")))
    assert eff.dose_type == "EFFECTIVE"
    assert np.max(np.abs(eff.dose_gy - rbe)) <= 1e-5 * rbe.max()
    assert np.allclose(rbe[dose > 0], 1.1 * dose[dose > 0], rtol=1e-6)


def test_command_line_refuses_a_plan_of_another_ct(tmp_path, water_box_case, capsys):
    _, case = water_box_case
    other = write_phantom_case(str(tmp_path / "other"), [dict(isocentre_mm=ISO.tolist(), layers=[
        (120.0, [[0.0, 0.0]], [1.0])])])
    cfg = tmp_path / "plan.yaml"
    cfg.write_text(_plan_config(dict(case, plan=other["plan"]), 1000, f"output: {{path: {tmp_path / 'o.h5'}}}\n"))
    assert main([str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "FrameOfReferenceUID (0020,0052)" in err and "give the plan made on this CT" in err
    assert not (tmp_path / "o.h5").exists()
    cfg.write_text(_plan_config(dict(case, ct=str(tmp_path / "none")), 1000))
    assert main([str(cfg), "--quiet"]) == 2
    assert "none" in capsys.readouterr().err


def test_phantom_arrays_layout():
    hu, origin, spacing = phantom_arrays()
    assert hu.shape == (40, 70, 40) and np.allclose(spacing, 2.0)
    # the anterior face of the box is at y = 0: the first water voxel centre at y = 1 mm
    iy = np.argmax(hu[20, :, 20] > -900)
    assert origin[1] + iy * spacing[1] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# two beams: a dose per beam, MPI, --set, structure alpha/beta
@pytest.fixture(scope="module")
def two_beam_case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    ap = dict(name="AP", isocentre_mm=ISO.tolist(), gantry_deg=0.0, meterset_mu=10.0,
              layers=[(120.0, SPOTS_XY, np.ones(len(SPOTS_XY)))])
    lat = dict(name="LAT", isocentre_mm=ISO.tolist(), gantry_deg=90.0, meterset_mu=20.0,
               layers=[(90.0, SPOTS_XY, np.ones(len(SPOTS_XY)))])
    return folder, write_phantom_case(str(folder), [ap, lat], fractions=3)


def test_dose_per_beam_sums_to_the_plan_dose(tmp_path, two_beam_case):
    from mc.dicom_out import read_rt_dose

    _, case = two_beam_case
    out = tmp_path / "two.h5"
    cfg = tmp_path / "two.yaml"
    cfg.write_text(_plan_config(case, 60000, f"output: {{path: {out}, plot: false}}\n").replace(
        "machine:", "dose_per_beam: true, machine:"))
    assert main([str(cfg), "--quiet"]) == 0
    plan = read_rt_dose(str(tmp_path / "two_dose.dcm"))
    beams = [read_rt_dose(str(tmp_path / f"two_beam{n}_dose.dcm")) for n in (1, 2)]
    assert plan.summation_type == "PLAN" and [b.summation_type for b in beams] == ["BEAM", "BEAM"]
    assert [b.referenced_beam_numbers for b in beams] == [(1,), (2,)]
    assert all(b.referenced_plan_uid == case["plan_uid"] for b in beams)
    stds = []
    for name in ("two", "two_beam1", "two_beam2"):
        with h5py.File(tmp_path / f"{name}.h5") as f:
            stds.append(f["dose_std"][()])
            if name == "two":
                protons, rho = f["dose"].attrs["protons"], f["geometry/density_g_cm3"][()]
                total_protons = protons
            else:
                protons -= f["dose"].attrs["protons"]
    assert abs(protons) < 1e-12 * total_protons  # the beams' protons add up to the plan's
    # the beam doses (independent runs) sum to the plan dose within the statistics, in tissue
    s, d = beams[0].dose_gy + beams[1].dose_gy, plan.dose_gy
    avg = np.where(rho > 0.1, 0.5 * (s + d), 0.0)
    sel = avg > 0.3 * avg.max()
    z = (s - d)[sel] / np.sqrt(stds[0] ** 2 + stds[1] ** 2 + stds[2] ** 2)[sel]
    # (20 batches per run: Student's t with 19 degrees of freedom, P(|t| > 4) = 8e-4)
    assert abs(z.mean()) < 4.0 / np.sqrt(sel.sum())
    assert np.mean(np.abs(z) > 4.0) < 0.01


def test_structure_alpha_beta_and_set_overrides(tmp_path, two_beam_case):
    _, case = two_beam_case
    text = _plan_config(case, 4000, "rbe: {models: [wedenberg], default_alpha_beta_Gy: 2.0}\n").replace(
        "machine:", "alpha_beta_Gy: {Target: 10.0, Bone: tumour}, machine:")
    cfg, _ = load_config_text(text, ["dicom.dose_grid_mm=[4,4,4]", "dicom.beams=[LAT]", "dicom.dose_for=fraction"])
    r = simulate(cfg)
    assert np.allclose(r.grid.spacing_cm, 0.4) and [b.name for b in r.case.beams] == ["LAT"]
    assert r.case.fractions == 1
    ab = r.rbe_info["alpha_beta_Gy"]
    target, bone = r.case.masks["Target"], r.case.masks["Bone"]
    assert np.all(ab[target] == 10.0) and np.all(ab[bone] == 10.0)  # preset 'tumour' = 10 Gy
    assert np.all(ab[~(target | bone)] == 2.0)
    # the models are evaluated at the absolute dose of one fraction
    assert r.rbe_info["fraction_dose_scale"] == 1.0 and r.rbe_info["dose_per_fraction_Gy"] is None
    # one beam of two, one fraction of three: DoseSummationType BEAM_SESSION referencing beam 2
    from mc.dicom_out import read_rt_dose, write_case_doses

    paths = write_case_doses(str(tmp_path / "sub.h5"), r, r.case)
    rt = read_rt_dose(paths[0])
    assert rt.summation_type == "BEAM_SESSION" and rt.referenced_beam_numbers == (2,)
    assert read_rt_dose(paths[1]).dose_type == "EFFECTIVE"


def test_two_ranks_give_the_dose_of_one(tmp_path, two_beam_case):
    import shutil
    import subprocess
    import sys

    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        pytest.skip("mpirun not installed (pip install -e '.[mpi]')")
    _, case = two_beam_case
    cfg = tmp_path / "p.yaml"
    cfg.write_text(_plan_config(case, 8000, "output: {plot: false}\nrun: {schedule: static}\n").replace(
        "run: {primaries: 8000, batches: 20, seed: 7}\n", ""))
    doses = []
    for n in (1, 2):
        out = tmp_path / f"r{n}.h5"
        r = subprocess.run([mpirun, "-n", str(n), sys.executable, "-m", "mc.run", str(cfg), "--quiet", "--set",
                            f"output.path={out}", "--set", "run.primaries=8000", "--set", "run.batches=8"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        with h5py.File(out) as f:
            doses.append(f["dose"][()])
    assert np.allclose(doses[0], doses[1], rtol=1e-6, atol=0)


def test_flash_analysis_of_a_plan_uses_its_structures(water_box_case):
    from flash.analysis import analyse
    from physics.tissue import TISSUE_PO2_MMHG

    _, case = water_box_case
    text = _plan_config(case, 6000, "flash: {structure: Target, tissue_pO2: {Target: hypoxic_tumour, Bone: 30.0}}\n")
    cfg, _ = load_config_text(text)
    r = simulate(cfg)
    r.flash = analyse(r, cfg)
    p0 = r.flash.maps["pO2_baseline"]
    target, bone = r.case.masks["Target"], r.case.masks["Bone"]
    assert np.all(p0[target] == TISSUE_PO2_MMHG["hypoxic_tumour"]) and np.all(p0[bone] == 30.0)
    assert np.all(p0[~(target | bone)] == TISSUE_PO2_MMHG["normal_tissue"])
    # the structure statistics count the target's voxels with dose
    assert r.flash.stats["structure_voxels"] == int((target & (r.dose > 0)).sum()) > 0
    with pytest.raises(ConfigError, match=r"flash.structure: unknown material 'Spine'.*plan's structures"):
        from mc.problem import build_source

        cfg2, _ = load_config_text(text.replace("structure: Target", "structure: Spine"))
        build_source(cfg2, None)
    with pytest.raises(ConfigError, match="flash.structure: unknown material 'Target'"):
        load_config_text("geometry: {type: box, size_mm: [10, 10, 10]}\nflash: {structure: Target}\n")


def test_a_checkpoint_resumes_only_the_same_dicom_inputs(tmp_path):
    import shutil

    from mc.checkpoint import config_fingerprint
    from mc.patient import load_case

    beam = dict(isocentre_mm=ISO.tolist(), meterset_mu=10.0, layers=[(120.0, [[0.0, 0.0]], [1.0])])
    case = write_phantom_case(str(tmp_path / "c"), [beam])
    cfg = load_config_text(_plan_config(case, 1000))[0]
    before = config_fingerprint(cfg, load_case(cfg.dicom).fingerprint())
    assert config_fingerprint(cfg, load_case(cfg.dicom).fingerprint()) == before
    # the same file name, another plan (a different meterset): another fingerprint
    from mc.plan import write_rt_ion_plan

    other = str(tmp_path / "other.dcm")
    write_rt_ion_plan(other, [dict(beam, meterset_mu=11.0)], frame_of_reference_uid=case["frame_of_reference_uid"],
                      study_instance_uid=load_case(cfg.dicom).ct.study_instance_uid)
    shutil.copy(other, case["plan"])
    import mc.patient

    mc.patient._CACHE.clear()
    assert config_fingerprint(cfg, load_case(cfg.dicom).fingerprint()) != before
