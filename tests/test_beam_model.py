"""Machine beam model (mc/beam_model.py): YAML and MCsquare BDL readers, interpolation, in-air
drift optics, protons per MU, the example machine and the error messages.

References: hand computations (numbers written out below), a numpy sample of the correlated
Gaussian phase space propagated along straight lines, a minimal reader that follows MCsquare's C
reader (read_UPenn_BDL, src/data_beam_model.c: fixed line layout and column order), and
MCsquare's MU-to-protons formula (ConvertMuToProtons, src/compute_beam_model.c)."""

import os
from pathlib import Path

import numpy as np
import pytest

from mc.beam_model import (
    BDL_COLUMNS,
    BDL_HEADER,
    LayerOptics,
    Machine,
    drift,
    load_machine,
    protons_per_mu_from_chamber,
    write_bdl,
)
from mc.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERIC_YAML = os.path.join(ROOT, "examples", "machines", "generic_pbs.yaml")
GENERIC_BDL = os.path.join(ROOT, "examples", "machines", "generic_pbs_bdl.txt")

#: Two energies of a double-Gaussian machine, columns in MCsquare's order (values chosen so
#: that the interpolation at 105 MeV, a quarter of the interval, is exact in decimal).
ROW_100 = "100 100.3 0.66 8.0e7 0.95 4.0 0.006 0.1 5.5 0.0065 -0.3 0.05 39 0.045 -0.12 22 0.036 -0.22"
ROW_120 = "120 120.7 0.62 9.2e7 0.97 3.6 0.005 -0.1 4.7 0.0057 -0.26 0.03 31 0.044 -0.2 18 0.030 -0.21"


HEADER = " ".join(BDL_COLUMNS)


def bdl_text(rows=(ROW_100, ROW_120), header=HEADER, count=None, extra="", nozzle="420.0",
             smx="2000.0", smy="1800.0"):
    """An MCsquare BDL in the layout of MCsquare's BDL/BDL_default_DN_RangeShifter.txt."""
    return (f"{BDL_HEADER}\n# test machine\n\nNozzle exit to Isocenter distance\n{nozzle}\n\n"
            f"SMX to Isocenter distance\n{smx}\n\nSMY to Isocenter distance\n{smy}\n\n{extra}"
            f"Beam parameters\n{len(rows) if count is None else count} energies\n\n{header}\n"
            + "\n".join(rows) + "\n")


def write(tmp_path, text, name="bdl.txt"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rejects(tmp_path, text, *patterns, name="bdl.txt"):
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as info:
        load_machine(path)
    msg = str(info.value)
    assert path in msg and "\n" not in msg, msg
    for p in patterns:
        assert p in msg, msg
    return msg


# ---------------------------------------------------------------- the example machine
def test_yaml_and_bdl_of_the_generic_machine_agree(tmp_path):
    m, b = load_machine(GENERIC_YAML), load_machine(GENERIC_BDL)
    assert (m.name, m.source, m.range_shifters) == (b.name, b.source, b.range_shifters)
    assert (m.nozzle_to_isocentre_mm, m.smx_mm, m.smy_mm) == (b.nozzle_to_isocentre_mm, b.smx_mm, b.smy_mm)
    e = m.energies_MeV
    assert np.array_equal(e, b.energies_MeV) and e[0] == 70 and e[-1] == 230 and len(e) == 33
    for E in np.concatenate([e, 0.5 * (e[1:] + e[:-1]), [71.3, 187.9]]):
        assert m.layer(E) == b.layer(E)
    # the stored BDL is what write_bdl makes of the YAML file (the two are the same by construction)
    write_bdl(m, tmp_path / "again.txt")
    assert (tmp_path / "again.txt").read_text() == Path(GENERIC_BDL).read_text()
    rs = m.range_shifters[0]
    assert (rs.id, rs.type, rs.material, rs.mcsquare_material_id, rs.density_g_cm3, rs.wet_mm) == \
        ("RS_Block", "binary", "pmma", 64, 1.2, 74.1)


def test_generic_machine_follows_its_documented_formulas():
    # the straight lines and constants stated in the header of generic_pbs.yaml
    m = load_machine(GENERIC_YAML)
    for E in m.energies_MeV:
        lay = m.layer(E)
        assert lay.mean_energy_MeV == E
        assert lay.energy_spread_MeV == pytest.approx((1.006 - 0.002819 * E) * E / 100, abs=5.01e-5)
        assert lay.sigma_x_mm == pytest.approx(5.618 - 0.01737 * E, abs=5.01e-5)
        assert lay.divergence_x_mrad == pytest.approx(7.879 - 0.02073 * E, abs=5.01e-5)
        assert lay.sigma_y_mm == pytest.approx(7.249 - 0.02123 * E, abs=5.01e-5)
        assert lay.divergence_y_mrad == pytest.approx(9.928 - 0.03455 * E, abs=5.01e-5)
        assert (lay.correlation_x, lay.correlation_y, lay.weight1, lay.sigma2_x_mm) == (0.02, -0.28, 1.0, None)
        assert lay.protons_per_mu == pytest.approx(protons_per_mu_from_chamber(E), rel=5e-6)


def test_sigma_at_isocentre_of_the_generic_machine_by_hand():
    # 150 MeV: x: sigma0 = 5.618 - 0.01737*150 = 3.0125 mm, theta0 = 4.7695 mrad, rho = 0.02;
    # y: 4.0645 mm, 4.7455 mrad, -0.28; L = 410 mm.
    # x: 3.0125^2 + 2*0.02*3.0125*0.0047695*410 + (0.0047695*410)^2 = 13.134754 -> 3.624190 mm
    # y: 4.0645^2 - 2*0.28*4.0645*0.0047455*410 + (0.0047455*410)^2 = 15.877190 -> 3.984619 mm
    m = load_machine(GENERIC_YAML)
    assert m.sigma_at_isocentre_mm(150) == pytest.approx([3.624190, 3.984619], abs=2e-6)
    assert m.spot_sigma_at_mm(150, 0.0) == pytest.approx([3.0125, 4.0645], rel=1e-12)


# ---------------------------------------------------------------- MCsquare's BDL layout
def mcsquare_style_read(path):
    """Read a BDL as MCsquare's read_UPenn_BDL does: titles matched whole (LF line ends), the value
    on the next line, after 'Beam parameters' the count line, two lines skipped (blank, header),
    then 18 numbers per row in MCsquare's fixed order."""
    lines = Path(path).read_bytes().decode().split("\n")
    assert lines[0] == BDL_HEADER
    out = {}
    i = 1
    while i < len(lines):
        line = lines[i]
        if line in ("Nozzle exit to Isocenter distance", "SMX to Isocenter distance", "SMY to Isocenter distance"):
            out[line.split()[0]] = float(lines[i + 1].split()[0])
        elif line == "Beam parameters":
            n = int(lines[i + 1].split()[0])
            assert lines[i + 2] == ""
            rows = [[float(t) for t in lines[i + 4 + k].split()] for k in range(n)]
            assert all(len(r) == 18 for r in rows)
            out["table"] = np.array(rows)
            i += 3 + n
        i += 1
    return out


def test_mcsquare_reads_the_bdl_we_write(tmp_path):
    m = load_machine(write(tmp_path, bdl_text()))
    write_bdl(m, tmp_path / "out.txt")
    got = mcsquare_style_read(tmp_path / "out.txt")
    assert (got["Nozzle"], got["SMX"], got["SMY"]) == (420.0, 2000.0, 1800.0)
    cols = m.columns
    for k, c in enumerate(BDL_COLUMNS):
        assert np.array_equal(got["table"][:, k], cols[c]), c
    assert got["table"][0, 13] == 0.045  # Divergence2x in rad, as MCsquare samples tan(theta)
    # the generic machine's file too, and MCsquare's second Gaussian of a single-Gaussian machine has weight 0
    got = mcsquare_style_read(GENERIC_BDL)
    assert got["table"].shape == (33, 18) and not got["table"][:, 11].any()
    assert np.array_equal(got["table"][:, 0], load_machine(GENERIC_YAML).energies_MeV)


def test_tolerant_bdl_reading(tmp_path):
    # comments, CRLF, tabs, other title case, columns in another order, MCsquare's range-shifter
    # section with inline comments, a material number flashmc does not know
    order = list(BDL_COLUMNS[::-1])
    perm = [BDL_COLUMNS.index(c) for c in order]
    rows = ["\t".join(r.split()[k] for k in perm) + "   # a row comment" for r in (ROW_100, ROW_120)]
    rs = ("Range Shifter parameters\nRS_ID = RS_Block\t# ID of the range shifter as defined in the plan\n"
          "RS_type = binary\t# analog or binary\nRS_material = 64\t# MCsquare material ID\n"
          "RS_density = 1.20\t# g/cm3\nRS_WET = 74.1\t\t# mm\n\nRange Shifter parameters\nRS_ID = Lexan40\n"
          "RS_type = analog\nRS_material = 66\nRS_density = 1.2\nRS_thickness = 40\nRS_position = 300\n\n")
    text = bdl_text(rows=rows, header="\t".join(order), extra=rs).replace("SMY to Isocenter distance",
                                                                        "  smy TO isocenter   distance ")
    path = write(tmp_path, text.replace("\n", "\r\n") + "\n# trailing comment\n")
    m = load_machine(path)
    ref = load_machine(write(tmp_path, bdl_text(extra=rs), "plain.txt"))
    assert m.layer(111.0) == ref.layer(111.0) and m.double_gaussian
    assert (m.name, m.source, m.smy_mm) == ("bdl", "test machine\ntrailing comment", 1800.0)
    a, b = m.range_shifters
    assert (a.id, a.type, a.material, a.mcsquare_material_id, a.density_g_cm3, a.wet_mm) == \
        ("RS_Block", "binary", "pmma", 64, 1.2, 74.1)
    assert (b.material, b.mcsquare_material_id, b.wet_mm, b.thickness_mm, b.isocentre_distance_mm) == \
        (None, 66, None, 40.0, 300.0)
    # a BDL without second-Gaussian columns is a single-Gaussian machine
    single = load_machine(write(tmp_path, bdl_text(rows=[" ".join(r.split()[:11]) for r in (ROW_100, ROW_120)],
                                                   header=" ".join(BDL_COLUMNS[:11])), "single.txt"))
    assert not single.double_gaussian and single.layer(100).sigma2_x_mm is None


# ---------------------------------------------------------------- interpolation, optics, protons per MU
def test_interpolation_between_two_energies_by_hand(tmp_path):
    m = load_machine(write(tmp_path, bdl_text()))
    # t = (105 - 100) / (120 - 100) = 0.25 of every interval
    expected = LayerOptics(
        nominal_energy_MeV=105.0, mean_energy_MeV=105.4,        # 100.3 + 0.25 * 20.4
        energy_spread_MeV=0.6825, energy_spread_percent=0.65,   # 0.66 - 0.25 * 0.04; 0.65 % of 105 MeV
        protons_per_mu=8.3e7, weight1=0.955,
        sigma_x_mm=3.9, divergence_x_mrad=5.75, correlation_x=0.05,
        sigma_y_mm=5.3, divergence_y_mrad=6.3, correlation_y=-0.29,
        weight2=0.045, sigma2_x_mm=37.0, divergence2_x_mrad=44.75, correlation2_x=-0.14,
        sigma2_y_mm=21.0, divergence2_y_mrad=34.5, correlation2_y=-0.2175)
    got = m.layer(105)
    for name in expected.__dataclass_fields__:
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-12, abs=1e-15), name
    assert got.fraction2 == pytest.approx(0.045 / (0.955 + 0.045), rel=1e-12)
    assert m.protons_per_mu(105) == pytest.approx(8.3e7, rel=1e-12)
    assert m.layer(120).sigma_x_mm == 3.6 and m.layer(100).energy_spread_MeV == pytest.approx(0.66, rel=1e-12)


def test_drift_by_hand_and_by_sampling(tmp_path):
    # Gaussian 1 at 100 MeV: x: sigma0 4 mm, theta0 5 mrad, rho -0.5; y: 3 mm, 4 mrad, +0.6; L = 410 mm
    row = "100 100 0.7 8e7 1 4.0 0.005 -0.5 3.0 0.004 0.6"
    m = load_machine(write(tmp_path, bdl_text(rows=[row, "120 120 0.6 9e7 1 3.6 0.005 0 3 0.004 0"],
                                              header=" ".join(BDL_COLUMNS[:11]), nozzle="410")))
    # x: 16 - 2*0.5*4*0.005*410 + (0.005*410)^2 = 16 - 8.2 + 4.2025 = 12.0025
    # y: 9 + 2*0.6*3*0.004*410 + (0.004*410)^2 = 9 + 5.904 + 2.6896 = 17.5936
    sigma = m.sigma_at_isocentre_mm(100)
    assert sigma == pytest.approx([np.sqrt(12.0025), np.sqrt(17.5936)], rel=1e-12)
    _, rho = m.optics_at(100, 410)
    # rho(z) = (rho0 sigma0 + theta0 z) / sigma(z): (-2 + 2.05) / 3.464462, (1.8 + 1.64) / 4.194473
    assert rho == pytest.approx([0.05 / np.sqrt(12.0025), 3.44 / np.sqrt(17.5936)], rel=1e-12)
    # 1e5 protons sampled from the correlated Gaussian and moved on straight lines (slope tan theta)
    rng = np.random.default_rng(2026)
    n = 100_000
    for axis, (s0, t0, r0) in enumerate([(4.0, 0.005, -0.5), (3.0, 0.004, 0.6)]):
        cov = [[s0 * s0, r0 * s0 * t0], [r0 * s0 * t0, t0 * t0]]
        x, th = rng.multivariate_normal([0.0, 0.0], cov, size=n).T
        x_iso = x + 410.0 * np.tan(th)
        se_sigma = sigma[axis] / np.sqrt(2 * (n - 1))  # standard error of a sample standard deviation
        assert abs(x_iso.std(ddof=1) - sigma[axis]) < 3 * se_sigma
        se_rho = (1 - rho[axis] ** 2) / np.sqrt(n)      # standard error of a sample correlation
        assert abs(np.corrcoef(x_iso, th)[0, 1] - rho[axis]) < 3 * se_rho
    # the waist of x lies at z = -rho0 sigma0 / theta0 = 400 mm, where sigma = sigma0 sqrt(1 - rho0^2)
    s_w, r_w = drift(4.0, 5.0, -0.5, 400.0)
    assert s_w == pytest.approx(4.0 * np.sqrt(0.75), rel=1e-12) and abs(r_w) < 1e-12


def test_spot_central_ray_passes_through_its_aim():
    m = load_machine(GENERIC_YAML)
    point, d = m.spot_central_ray(80.0, -60.0)
    # x at the nozzle exit: 80 (2234.8 - 410) / 2234.8; y: -60 (1859.1 - 410) / 1859.1
    assert point == pytest.approx([80 * 1824.8 / 2234.8, -60 * 1449.1 / 1859.1, -410.0], rel=1e-12)
    assert point + d * 410.0 / d[2] == pytest.approx([80.0, -60.0, 0.0], abs=1e-9)


def test_protons_per_mu_by_hand():
    # N = Q (W/e) / (S rho d e) = 3e-9 C * 34.23 J/C / (6.44 MeV cm2/g * 1.20479e-3 g/cm3 * 1 cm * 1.602176634e-13 J/MeV)
    #   = 1.02690e-7 J / 1.243104e-15 J = 8.26077e7
    assert protons_per_mu_from_chamber(100.0, air_stopping_MeV_cm2_g=6.44) == pytest.approx(8.26077e7, rel=1e-5)
    # MCsquare's own fit to ICRU air stopping powers (ConvertMuToProtons) at 100 MeV:
    # 9.6139e-9 E^4 - 7.0508e-6 E^3 + 2.0028e-3 E^2 - 0.27615 E + 20.082 = 6.40559 MeV cm2/g;
    # flashmc's Bethe stopping power of air agrees within 1 %
    s_mcsquare = 6.40559
    assert protons_per_mu_from_chamber(100.0) == pytest.approx(
        protons_per_mu_from_chamber(100.0, air_stopping_MeV_cm2_g=s_mcsquare), rel=0.01)
    # with MCsquare's W = 35.87 eV the definition gives 8.7031e7 protons/MU at 100 MeV; MCsquare's
    # BDL_default_DN.txt lists ProtonsMU = 86703300 at 100 MeV: ProtonsMU follows this MU definition
    n_mcsquare = protons_per_mu_from_chamber(100.0, w_air_J_per_C=35.87, air_stopping_MeV_cm2_g=s_mcsquare)
    assert n_mcsquare == pytest.approx(8.7031e7, rel=1e-4)
    assert 86703300 == pytest.approx(n_mcsquare, rel=0.005)
    # vectorised, and falling with energy as the stopping power does
    n = protons_per_mu_from_chamber(np.array([70.0, 150.0, 230.0]))
    assert n.shape == (3,) and np.all(np.diff(n) > 0)


# ---------------------------------------------------------------- errors
def test_energy_outside_the_table(tmp_path):
    m = load_machine(GENERIC_YAML)
    for call in (m.layer, m.protons_per_mu, m.sigma_at_isocentre_mm):
        with pytest.raises(ConfigError) as info:
            call(69.9)
        assert "69.9 MeV" in str(info.value) and "70 to 230 MeV" in str(info.value) and GENERIC_YAML in str(info.value)
    with pytest.raises(ConfigError, match="231 MeV"):
        m.layer(231)
    with pytest.raises(ConfigError, match="nan MeV"):
        m.layer(float("nan"))
    with pytest.raises(ConfigError, match="use 1"):
        m.spot_sigma_at_mm(100, 0.0, gaussian=2)


def test_malformed_bdl(tmp_path):
    good = bdl_text()
    rejects(tmp_path, good.replace("SMY to Isocenter distance\n1800.0\n", ""), "'SMY to Isocenter distance'",
            "missing")
    rejects(tmp_path, good.replace("Beam parameters", "Beam parameter"), "line 13", "unexpected line")
    rejects(tmp_path, good.replace(" 3.6 ", " 3,6 "), "line 18", "SpotSize1x", "'3,6' is not a number")
    rejects(tmp_path, good.replace("\n120 ", "\n95 "), "line 18", "NominalEnergy", "strictly increasing")
    rejects(tmp_path, good.replace(" 4.0 ", " -4.0 "), "line 17", "SpotSize1x", "must be positive")
    rejects(tmp_path, good.replace(" -0.3 ", " -1.0 "), "line 17", "Correlation1y", "strictly between -1 and 1")
    rejects(tmp_path, good.replace(" 0.006 ", " nan "), "line 17", "Divergence1x", "not finite")
    rejects(tmp_path, bdl_text(count=3), "announces 3 energies but 2 rows")
    rejects(tmp_path, bdl_text(count=1), "announces 1 energies but more than 1")
    rejects(tmp_path, good.replace("Weight1", "Wieght1"), "line 16", "unknown column 'Wieght1'")
    rejects(tmp_path, good.replace("\n420.0\n", "\n\n"), "line 4", "has no value")
    rejects(tmp_path, good.replace("2000.0", "300"), "line 8", "must exceed")
    rejects(tmp_path, good.replace(BDL_HEADER, "--Lookup table BDL format--"), "line 1", "not supported")
    rejects(tmp_path, bdl_text(extra="Range Shifter parameters\nRS_ID = A\nRS_typ = binary\n\n"), "line 15",
            "unknown range shifter key 'RS_typ'")
    rejects(tmp_path, bdl_text(extra="Range Shifter parameters\nRS_ID = A\nRS_type = binary\nRS_material = 64\n"
                                     "RS_density = 1.2\n\n"), "line 13", "neither a water-equivalent")
    rejects(tmp_path, bdl_text(rows=[ROW_100]), "at least two")


GOOD_YAML = """\
name: test
nozzle_to_isocentre_mm: 410.0
smx_to_isocentre_mm: 2000.0
smy_to_isocentre_mm: 1800.0
range_shifters:
  - {id: RS1, type: binary, material: pmma, density_g_cm3: 1.19, wet_mm: 40.0}
layers:
  columns: [nominal_energy_MeV, mean_energy_MeV, energy_spread_MeV, protons_per_mu, sigma_x_mm, divergence_x_mrad,
            correlation_x, sigma_y_mm, divergence_y_mrad, correlation_y]
  rows:
    - [100, 100.3, 0.66, 8.0e+7, 4.0, 6.0, 0.1, 5.5, 6.5, -0.3]
    - [120, 120.7, 0.744, 9.2e+7, 3.6, 5.0, -0.1, 4.7, 5.7, -0.26]
"""


def test_yaml_machine_matches_the_same_bdl(tmp_path):
    m = load_machine(write(tmp_path, GOOD_YAML, "m.yaml"))
    # the same machine as Gaussian 1 of ROW_100, ROW_120 with Weight1 = 1 (0.744 MeV = 0.62 % of 120 MeV)
    rows = [" ".join(r.split()[:4] + ["1"] + r.split()[5:11]) for r in (ROW_100, ROW_120)]
    b = load_machine(write(tmp_path, bdl_text(rows=rows, header=" ".join(BDL_COLUMNS[:11]))))
    for E in (100, 105, 117.5, 120):
        ly, lb = m.layer(E), b.layer(E)
        for name in ly.__dataclass_fields__:
            a, b_ = getattr(ly, name), getattr(lb, name)
            if a is None or b_ is None:  # the second Gaussian's fields of a single-Gaussian machine
                assert a is None and b_ is None, name
            else:
                assert a == pytest.approx(b_, rel=1e-12), name
    assert m.range_shifters[0].mcsquare_material_id == 64 and isinstance(m, Machine)
    write_bdl(m, tmp_path / "m_bdl.txt")
    again = load_machine(str(tmp_path / "m_bdl.txt"))
    assert all(again.layer(E) == m.layer(E) for E in (100, 111.1, 120))


def test_malformed_yaml(tmp_path):
    def bad(text, *patterns):
        return rejects(tmp_path, text, *patterns, name="m.yaml")

    bad(GOOD_YAML.replace("name: test", "name: test\ncolour: red"), "colour: unknown key")
    bad(GOOD_YAML.replace("wet_mm: 40.0}", "wet_mm: 40.0, wedge: 1}"), "range_shifters[0].wedge: unknown key")
    bad(GOOD_YAML.replace("material: pmma", "material: wood"), "range_shifters[0].material", "unknown material")
    bad(GOOD_YAML.replace("correlation_y]", "correlation_y, halo]"), "unknown column 'halo'")
    bad(GOOD_YAML.replace("smy_to_isocentre_mm: 1800.0\n", ""), "smy_to_isocentre_mm: required key is missing")
    bad(GOOD_YAML.replace("5.5, 6.5", "5.5, six"), "layers.rows[0].divergence_y_mrad", "not a finite number")
    bad(GOOD_YAML.replace("- [120, 120.7", "- [99, 120.7"), "layers.rows[1].nominal_energy_MeV", "increasing")
    bad(GOOD_YAML.replace("3.6, 5.0", "-3.6, 5.0"), "layers.rows[1].sigma_x_mm", "must be positive")
    bad(GOOD_YAML.replace("0.1, 5.5", "1.0, 5.5"), "layers.rows[0].correlation_x", "strictly between -1 and 1")
    bad(GOOD_YAML.replace("-0.26]", "-0.26, 1]"), "layers.rows[1] must be a list of 10 numbers")
    bad(GOOD_YAML.replace("correlation_y]", "correlation_y, weight2]"), "all of weight2")
    bad(GOOD_YAML.replace("  rows:", "    rows:"), "not valid YAML at line")


def test_unreadable_and_unwritable(tmp_path):
    with pytest.raises(ConfigError, match="cannot read machine file"):
        load_machine(str(tmp_path / "nowhere.yaml"))
    m = load_machine(write(tmp_path, GOOD_YAML.replace("material: pmma", "material: lung"), "m.yaml"))
    assert m.range_shifters[0].mcsquare_material_id is None
    with pytest.raises(ConfigError, match="MCsquare material number"):
        write_bdl(m, tmp_path / "x.txt")
