"""RT Ion Plan in, spots out: IEC 61217 geometry, the plan's bookkeeping (meterset -> protons),
refusals of plans that cannot be recomputed, and the spots against a hand computation.

References: the IEC 61217 definitions quoted in :mod:`mc.plan` (gantry 90 puts the source on
the patient's left for a head-first-supine patient; the patient support turns counter-clockwise
seen from above), the DICOM attribute definitions (PS3.3 C.8.8.25), and the machine table
(examples/machines/generic_pbs.yaml) read here with yaml, not with mc.beam_model.
"""

import math
import os

import numpy as np
import pytest
import yaml

from mc.config import ConfigError, load_config_text
from mc.plan import beam_axes, read_rt_ion_plan, spot_rays, write_rt_ion_plan
from mc.plan_source import plan_spots

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MACHINE = os.path.join(ROOT, "examples", "machines", "generic_pbs.yaml")
FOR_UID, STUDY_UID = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"

X, Y, Z = np.eye(3)


@pytest.mark.parametrize("position, gantry, couch, source_side, x_b, y_b", [
    # HFS: gantry 0 source anterior (-y); 90 on the patient's left (+x); 180 posterior; 270 right
    ("HFS", 0, 0, -Y, X, Z),
    ("HFS", 90, 0, X, Y, Z),
    ("HFS", 180, 0, Y, -X, Z),
    ("HFS", 270, 0, -X, -Y, Z),
    # couch 90 (counter-clockwise from above) turns the head from the gantry towards -X_f and the
    # patient's left towards the gantry (+Y_f), so a gantry-90 source (on +X_f) is at the feet
    ("HFS", 90, 90, -Z, Y, X),
    ("HFS", 90, 270, Z, Y, -X),
    ("HFS", 0, 90, -Y, -Z, X),
    # feet first supine: gantry 90 source on +X_f, which is the patient's right
    ("FFS", 90, 0, -X, Y, -Z),
    # head first prone: gantry 0 source above the patient's back
    ("HFP", 0, 0, Y, -X, Z),
    ("FFP", 0, 0, Y, X, -Z),
])
def test_iec61217_beam_axes(position, gantry, couch, source_side, x_b, y_b):
    axes = beam_axes(gantry, couch, 0.0, position)
    assert np.allclose(axes[2], source_side, atol=1e-15)
    assert np.allclose(axes[0], x_b, atol=1e-15)
    assert np.allclose(axes[1], y_b, atol=1e-15)
    assert np.allclose(np.cross(axes[0], axes[1]), axes[2])


def test_collimator_turns_the_spot_map_about_the_beam_axis():
    # collimator 90: X_b turns onto the gantry's Y axis (the patient's head for HFS gantry 0)
    axes = beam_axes(0.0, 0.0, 90.0, "HFS")
    assert np.allclose(axes[0], Z, atol=1e-15) and np.allclose(axes[1], -X, atol=1e-15)
    with pytest.raises(ConfigError, match="PatientPosition"):
        beam_axes(0.0, 0.0, 0.0, "SITTING")


def _plan(tmp_path, beams, fractions=1, name="plan.dcm", **kw):
    path = str(tmp_path / name)
    write_rt_ion_plan(path, beams, frame_of_reference_uid=FOR_UID, study_instance_uid=STUDY_UID,
                      fractions=fractions, **kw)
    return path


def _beam(**over):
    b = dict(isocentre_mm=[10.0, 20.0, -5.0], gantry_deg=0.0, couch_deg=0.0, meterset_mu=50.0,
             layers=[(150.0, [[0.0, 0.0], [10.0, -20.0]], [1.0, 3.0]), (120.0, [[5.0, 5.0]], [4.0])])
    b.update(over)
    return b


def test_plan_round_trip_and_meterset(tmp_path):
    plan = read_rt_ion_plan(_plan(tmp_path, [_beam(), _beam(gantry_deg=90.0, name="LAT")], fractions=5))
    assert plan.fractions_planned == 5 and len(plan.beams) == 2
    b = plan.beams[0]
    assert b.gantry_deg == 0.0 and np.allclose(b.isocentre_mm, [10.0, 20.0, -5.0])
    assert [layer.nominal_energy_MeV for layer in b.layers] == [150.0, 120.0]
    # spot MU = BeamMeterset x weight / FinalCumulativeMetersetWeight = 50 x w / 8
    assert np.allclose(np.concatenate([layer.mu for layer in b.layers]), [6.25, 18.75, 25.0])
    assert plan.beam("LAT").gantry_deg == 90.0 and plan.beam(2).name == "LAT"
    with pytest.raises(ConfigError, match="no beam"):
        plan.beam("AP")


def _machine_row(E):
    """Protons per MU and optics of the generic machine at E [MeV], interpolated by hand from
    the YAML table."""
    with open(MACHINE, encoding="utf-8") as f:
        table = yaml.safe_load(f)["layers"]
    rows = sorted((dict(zip(table["columns"], r)) for r in table["rows"]), key=lambda r: r["nominal_energy_MeV"])
    for lo, hi in zip(rows[:-1], rows[1:]):
        if lo["nominal_energy_MeV"] <= E <= hi["nominal_energy_MeV"]:
            t = (E - lo["nominal_energy_MeV"]) / (hi["nominal_energy_MeV"] - lo["nominal_energy_MeV"])
            return {k: lo[k] + t * (hi[k] - lo[k]) for k in lo}
    raise AssertionError(E)


def test_spots_follow_the_plan_and_the_machine(tmp_path):
    from mc.beam_model import load_machine

    machine = load_machine(MACHINE)
    plan = read_rt_ion_plan(_plan(tmp_path, [_beam(layers=[(152.5, [[10.0, -20.0]], [2.0])], meterset_mu=7.0)],
                                  fractions=3))
    src = plan_spots(plan.beams, machine).spots
    row = _machine_row(152.5)
    # MU -> protons: 7 MU x protons per MU at 152.5 MeV (linear between the 150 and 155 MeV rows)
    assert src.weight[0] == pytest.approx(7.0 * row["protons_per_mu"], rel=1e-12)
    assert src.energy[0] == pytest.approx(row["mean_energy_MeV"], rel=1e-12)
    assert src.sigma[0] * 10 == pytest.approx([row["sigma_x_mm"], row["sigma_y_mm"]], rel=1e-12)
    assert src.corr[0] == pytest.approx([row["correlation_x"], row["correlation_y"]], rel=1e-12)
    # gantry 0, HFS: X_b = +x, Y_b = +z, source towards -y; the ray through (10, -20) at the
    # isocentre plane comes from the virtual sources SMX, SMY upstream
    L, smx, smy = machine.nozzle_to_isocentre_mm, machine.smx_mm, machine.smy_mm
    iso = np.array([10.0, 20.0, -5.0])
    start = iso + np.array([10.0 * (1 - L / smx), -L, -20.0 * (1 - L / smy)])
    d = np.array([10.0 / smx, 1.0, -20.0 / smy])
    assert src.pos[0] * 10 == pytest.approx(start, abs=1e-9)
    assert src.dir[0] == pytest.approx(d / np.linalg.norm(d), abs=1e-12)
    # the ray passes through the aimed point at the isocentre plane
    t = (iso[1] - start[1]) / src.dir[0][1]
    assert start + t * src.dir[0] == pytest.approx(iso + [10.0, 0.0, -20.0], abs=1e-9)
    assert abs(src.ax1[0] @ src.dir[0]) < 1e-15 and abs(src.ax2[0] @ src.dir[0]) < 1e-15


def test_spot_rays_of_a_lateral_beam(tmp_path):
    plan = read_rt_ion_plan(_plan(tmp_path, [_beam(gantry_deg=90.0, layers=[(150.0, [[0.0, 0.0]], [1.0])])]))
    start, direction, _ = spot_rays(plan.beams[0], 2000.0, 2000.0, 400.0)
    # gantry 90, HFS: the beam leaves the nozzle on the patient's left and travels to the right
    assert start[0] == pytest.approx([10.0 + 400.0, 20.0, -5.0], abs=1e-9)
    assert direction[0] == pytest.approx(-X, abs=1e-15)


def _expect(tmp_path, match, beams=None, **kw):
    with pytest.raises(ConfigError, match=match) as info:
        read_rt_ion_plan(_plan(tmp_path, beams or [_beam()], **kw))
    msg = str(info.value)
    assert "\n" not in msg and "plan.dcm" in msg
    return msg


def test_unsupported_plans_are_refused(tmp_path):
    _expect(tmp_path, r"passive scattering.*ScanMode \(300A,0308\)", [_beam(scan_mode="NONE")])
    _expect(tmp_path, r"uniform scanning", [_beam(scan_mode="UNIFORM")])
    _expect(tmp_path, r"blocks", [_beam(NumberOfBlocks=1)])
    _expect(tmp_path, r"range compensators", [_beam(NumberOfCompensators=1)])
    _expect(tmp_path, r"range modulators", [_beam(NumberOfRangeModulators=1)])
    _expect(tmp_path, r"lateral spreading devices", [_beam(NumberOfLateralSpreadingDevices=2)])


def _edit(path, fn):
    import pydicom

    ds = pydicom.dcmread(path)
    fn(ds)
    ds.save_as(path)
    return path


@pytest.mark.parametrize("edit, match", [
    (lambda ds: setattr(ds.IonBeamSequence[0], "RadiationType", "ION"), r"RadiationType \(300C,00C6\) is ION"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[1], "GantryAngle", 30.0),
     r"GantryAngle \(300A,011E\) changes within the beam"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[2], "IsocenterPosition", [0.0, 0.0, 0.0]),
     r"IsocenterPosition \(300A,012C\) changes within the beam"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "BeamLimitingDeviceAngle", 10.0),
     r"BeamLimitingDeviceAngle \(300A,0120\) is 10 degrees; only 0"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "TableTopEccentricAngle", 5.0),
     "TableTopEccentricAngle"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "IsocenterPosition", [1.0, 2.0]),
     r"IsocenterPosition \(300A,012C\) must hold 3 finite number"),
    (lambda ds: setattr(ds.IonBeamSequence[0], "IonControlPointSequence", []), "IonControlPointSequence"),
    (lambda ds: setattr(ds, "FractionGroupSequence", []), r"FractionGroupSequence \(300A,0070\) is empty"),
    (lambda ds: ds.FractionGroupSequence.append(ds.FractionGroupSequence[0]), "2 fraction groups"),
    (lambda ds: delattr(ds.FractionGroupSequence[0].ReferencedBeamSequence[0], "ReferencedBeamNumber"),
     "ReferencedBeamNumber"),
    (lambda ds: setattr(ds.FractionGroupSequence[0].ReferencedBeamSequence[0], "BeamMeterset", -4.0),
     r"BeamMeterset \(300A,0086\) is -4"),
    (lambda ds: delattr(ds.IonBeamSequence[0], "BeamNumber"), r"BeamNumber \(300A,00C0\) is missing"),
    (lambda ds: delattr(ds.PatientSetupSequence[0], "PatientPosition"), r"PatientPosition \(0018,5100\) is missing"),
    (lambda ds: delattr(ds.PatientSetupSequence[0], "PatientSetupNumber"), "PatientSetupNumber"),
    (lambda ds: setattr(ds.IonBeamSequence[0], "PrimaryDosimeterUnit", "MINUTE"), "PrimaryDosimeterUnit"),
    (lambda ds: setattr(ds.IonBeamSequence[0], "NumberOfRangeShifters", 1), "NumberOfRangeShifters"),
    (lambda ds: setattr(ds, "SOPClassUID", "1.2.840.10008.5.1.4.1.1.481.5"), "not RT Ion Plan"),
    (lambda ds: setattr(ds.IonBeamSequence[0], "FinalCumulativeMetersetWeight", 9.0), "FinalCumulativeMetersetWeight"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "ScanSpotPositionMap", [0.0, 0.0, 1.0]),
     r"ScanSpotPositionMap \(300A,0394\) holds 3 values for 2 spots"),
    (lambda ds: delattr(ds.FractionGroupSequence[0].ReferencedBeamSequence[0], "BeamMeterset"), "BeamMeterset"),
    (lambda ds: delattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "IsocenterPosition"),
     r"IsocenterPosition \(300A,012C\) is missing"),
    (lambda ds: setattr(ds.FractionGroupSequence[0], "NumberOfFractionsPlanned", 0), "NumberOfFractionsPlanned"),
    (lambda ds: setattr(ds.IonBeamSequence[0].IonControlPointSequence[0], "TableTopPitchAngle", 2.0),
     r"TableTopPitchAngle \(300A,0140\) is 2 degrees"),
    (lambda ds: setattr(ds.IonBeamSequence[0], "TreatmentDeliveryType", "SETUP"), "no TREATMENT beam"),
])
def test_malformed_plans_name_the_attribute(tmp_path, edit, match):
    path = _edit(_plan(tmp_path, [_beam()]), edit)
    with pytest.raises(ConfigError, match=match) as info:
        read_rt_ion_plan(path)
    assert "\n" not in str(info.value) and "plan.dcm" in str(info.value)


def test_not_dicom_and_missing_file(tmp_path):
    bad = tmp_path / "plan.dcm"
    bad.write_text("not dicom")
    with pytest.raises(ConfigError, match="cannot read"):
        read_rt_ion_plan(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        read_rt_ion_plan(str(tmp_path / "nothing.dcm"))


def _insert_shifter(distance_mm, wet_mm=74.1):
    def edit(ds):
        from pydicom.dataset import Dataset

        b = ds.IonBeamSequence[0]
        rs = Dataset()
        rs.RangeShifterNumber, rs.RangeShifterID, rs.RangeShifterType = 1, "RS_Block", "BINARY"
        b.RangeShifterSequence, b.NumberOfRangeShifters = [rs], 1
        s = Dataset()
        s.RangeShifterSetting, s.ReferencedRangeShifterNumber = "IN", 1
        s.IsocenterToRangeShifterDistance, s.RangeShifterWaterEquivalentThickness = distance_mm, wet_mm
        b.IonControlPointSequence[0].RangeShifterSettingsSequence = [s]

    return edit


def test_energy_outside_the_machine_is_refused(tmp_path):
    from mc.beam_model import load_machine

    plan = read_rt_ion_plan(_plan(tmp_path, [_beam(layers=[(260.0, [[0.0, 0.0]], [1.0])])]))
    with pytest.raises(ConfigError, match="260 MeV is outside the table"):
        plan_spots(plan.beams, load_machine(MACHINE))


def test_a_range_shifter_moves_the_source_behind_it(tmp_path):
    from mc.beam_model import load_machine
    from mc.range_shifter import slab_of, through_slab

    machine = load_machine(MACHINE)
    beam = _beam(layers=[(150.0, [[0.0, 0.0]], [1.0])], meterset_mu=4.0)
    plan = read_rt_ion_plan(_edit(_plan(tmp_path, [beam], name="rs.dcm"), _insert_shifter(300.0)))
    setting = plan.beams[0].range_shifters[0]
    assert setting.water_equivalent_thickness_mm == pytest.approx(74.1) and setting.shifter_id == "RS_Block"
    src = plan_spots(plan.beams, machine).spots
    slab = slab_of(setting, machine, "")
    optics = machine.layer(150.0)
    drift = machine.nozzle_to_isocentre_mm - 300.0 - 10 * slab.thickness_cm
    E, spread, sigma, div, corr, survival = through_slab(slab, 150.0, optics.energy_spread_MeV, *optics.axes(1),
                                                         drift)
    # the source plane is the shifter's downstream face, 300 mm upstream of the isocentre (gantry 0: -y)
    assert src.pos[0] * 10 == pytest.approx([10.0, 20.0 - 300.0, -5.0], abs=1e-9)
    assert src.energy[0] == pytest.approx(E) and src.energy_sigma[0] == pytest.approx(spread)
    assert src.sigma[0] * 10 == pytest.approx(sigma) and src.corr[0] == pytest.approx(corr)
    assert src.weight[0] == pytest.approx(4.0 * machine.protons_per_mu(150.0) * survival)
    # the protons removed are booked, with their energy at the nozzle exit
    ps = plan_spots(plan.beams, machine)
    assert ps.removed_protons == pytest.approx(4.0 * machine.protons_per_mu(150.0) * (1 - survival))
    assert ps.removed_energy_MeV == pytest.approx(ps.removed_protons * optics.mean_energy_MeV)
    # 74.1 mm of water-equivalent PMMA takes 150 MeV protons to the energy of 7.41 cm less water range
    from physics.tables import build_tables

    water = build_tables(["water"])
    assert E == pytest.approx(float(water.energy_from_range(0, water.csda_range(0, 150.0) - 7.41)), rel=2e-3)
    # a shifter whose upstream face would lie upstream of the nozzle exit
    plan = read_rt_ion_plan(_edit(_plan(tmp_path, [beam], name="far.dcm"), _insert_shifter(390.0)))
    with pytest.raises(ConfigError, match="upstream of the nozzle exit"):
        plan_spots(plan.beams, machine)


def test_config_of_a_plan(tmp_path):
    text = f"dicom: {{ct: ct, plan: p.dcm, machine: {MACHINE}}}\nrun: {{primaries: 100}}\n"
    cfg, _ = load_config_text(text, base_dir=str(tmp_path))
    assert cfg.dicom.ct == str(tmp_path / "ct") and cfg.dicom.machine == MACHINE
    with pytest.raises(ConfigError, match="dicom excludes geometry and beam"):
        load_config_text(text + "beam: {energy_MeV: 100}\n")
    with pytest.raises(ConfigError, match="give a phantom"):
        load_config_text("run: {primaries: 100}\n")
    with pytest.raises(ConfigError, match=r"structures \['External'\] are named but dicom.structures"):
        load_config_text(text.replace("machine:", "crop_to: External, machine:"))
    with pytest.raises(ConfigError, match="dose_per_fraction_Gy"):
        load_config_text(text + "rbe: {dose_per_fraction_Gy: 2.0}\n")
    assert math.isclose(cfg.run.primaries, 100)


def test_a_meterset_in_particles_is_protons(tmp_path):
    from mc.beam_model import load_machine

    path = _edit(_plan(tmp_path, [_beam(layers=[(150.0, [[0.0, 0.0], [5.0, 0.0]], [1.0, 3.0])],
                                        meterset_mu=2.0e9)]),
                 lambda ds: setattr(ds.IonBeamSequence[0], "PrimaryDosimeterUnit", "NP"))
    src = plan_spots(read_rt_ion_plan(path).beams, load_machine(MACHINE)).spots
    assert src.weight == pytest.approx([0.5e9, 1.5e9], rel=1e-12)


def test_range_shifter_settings_that_change_are_refused(tmp_path):
    def change(ds):
        _insert_shifter(300.0)(ds)
        cp = ds.IonBeamSequence[0].IonControlPointSequence[2]
        from copy import deepcopy

        cp.RangeShifterSettingsSequence = deepcopy(ds.IonBeamSequence[0].IonControlPointSequence[0]
                                                   .RangeShifterSettingsSequence)
        cp.RangeShifterSettingsSequence[0].RangeShifterSetting = "OUT"

    with pytest.raises(ConfigError, match=r"RangeShifterSettingsSequence \(300A,0360\) changes"):
        read_rt_ion_plan(_edit(_plan(tmp_path, [_beam()]), change))


def test_air_between_nozzle_and_ct_slows_the_spots():
    # 40 cm of NIST dry air (1.20479e-3 g/cm^3) before a grid: the loss is S_air(E) rho L
    # (physics.stopping; S changes by 0.05 % over the loss), about 0.23 MeV at 150 MeV, to 0.5 %:
    # within one interval of the range table (500 per decade) its piecewise-linear inversion has
    # the interval's chord slope, up to 0.4 % off the local dR/dE
    from geometry.phantoms import box
    from mc.plan_source import air_to_grid
    from mc.source import SpotArrays
    from physics.materials import get_material
    from physics.stopping import electronic_mass_stopping

    grid = box("water", [4.0, 4.0, 4.0], [1.0, 1.0, 1.0])
    spots = SpotArrays(np.ones(1), np.array([150.0]), np.zeros(1), np.array([[0.0, 0.0, -40.0]]),
                       np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]]),
                       np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1, np.int32), np.ones(1))
    L = air_to_grid(spots, grid)
    assert L[0] == pytest.approx(40.0)
    air = get_material("air")
    loss = float(electronic_mass_stopping(air, np.array([150.0]))[0]) * air.density * 40.0
    assert 150.0 - spots.energy[0] == pytest.approx(loss, rel=5e-3)
