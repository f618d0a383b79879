"""The modified microdosimetric kinetic model (physics/mkm.py) against the published model curves
of Inaniwa et al. (2010, Phys. Med. Biol. 55:6721) for HSG cells, and against analytic limits.

References written in here (not read at run time):

* z1D*(E) for Z = 1..6 and D10(LET) for He and C: the curves of Inaniwa et al. 2010 as digitised
  by the pyMKM authors (github.com/BeppeMagro/pymkm @ e7433f171c802137f70fcb1700a5fe7f44eca7ba,
  validation_results/mk_table_classic{,_dose}/reference_data/inaniwa2010_kc_Z*_rd0.32_rn3.9_b00.0615*.txt;
  the shared reference files inaniwa2010_mkm_zstar_vs_energy_digitised.csv and
  inaniwa2010_mkm_hsg_D10_vs_LET_digitised.csv). No digitising accuracy is stated; the z1D*
  values are whole multiples of 0.04447 Gy, the y-resolution of the digitising (one pixel).
* LET inputs (electronic, water, rho = 1 g/cm^3, keV/um = 0.1 x MeV cm^2/g) at the digitised
  energies, log-log interpolated: H, He, C from ICRU Report 90 (2016) Tables A.9, A.12, A.15 (the
  shared icru90_*_water_stopping_range.csv); Li, Be, B (no ICRU table) from MSTAR 3.12 (Paul &
  Schinner) water tables as shipped with pyMKM @ e7433f17 (pymkm/data/defaults/mstar_3_12/).
  For the D10(LET) curves the energy at each LET is the high-energy-branch inverse of the ICRU 90
  table (MSTAR instead moves the D10 values by < 0.6 %).
* RBE10 = D10_x / D10 with the HSG X-ray LQ parameters alpha_x = 0.313 Gy^-1, beta_x = 0.0615
  Gy^-2 (D10_x = 4.0822 Gy); the shared derived_inaniwa2010_mkm_hsg_RBE10_vs_LET.csv.
"""

import numpy as np
import pytest

from physics import mkm
from physics.constants import AMU_MEV, PROTON_MASS_MEV
from physics.materials import get_material
from physics.stopping import electronic_mass_stopping

#: (Z, E [MeV/u], LET [keV/um], z1D* [Gy] digitised from Inaniwa et al. 2010), HSG parameters
#: r_d = 0.32 um, R_n = 3.9 um, beta0 = 0.0615 Gy^-2. Points from the z1D* maximum of each ion
#: upward (the therapeutic range); see test_zstar_below_the_maximum for the low-energy flank.
ZSTAR_INANIWA2010 = (
    (1, 0.95376, 26.58, 12.675),
    (1, 2.4584, 13.45, 6.4041),
    (1, 6.3916, 6.469, 2.5794),
    (1, 13.516, 3.555, 1.2452),
    (1, 38.963, 1.511, 0.44473),
    (2, 1.0575, 98.22, 30.642),
    (2, 2.2948, 56.36, 23.17),
    (2, 4.4909, 33.88, 13.964),
    (2, 13.989, 13.75, 4.803),
    (2, 56.904, 4.45, 1.3342),
    (2, 155.78, 2.102, 0.57814),
    (3, 2.5227, 119.8, 30.019),
    (3, 5.0227, 70.86, 24.015),
    (3, 9.7451, 41.93, 14.32),
    (3, 25.336, 19.36, 6.1817),
    (3, 115.26, 5.915, 1.6455),
    (4, 4.6884, 132.7, 28.463),
    (4, 9.9143, 73.51, 21.97),
    (4, 27.377, 32.32, 10.006),
    (4, 95.376, 12.09, 3.4244),
    (4, 274.95, 5.939, 1.5121),
    (5, 8.2748, 132.6, 27.351),
    (5, 14.731, 83.46, 22.726),
    (5, 31.691, 44.86, 13.253),
    (5, 101.3, 18.06, 5.0254),
    (5, 272.59, 9.325, 2.4015),
    (6, 11.576, 143.0, 26.461),
    (6, 23.854, 80.14, 21.525),
    (6, 46.283, 47.14, 13.52),
    (6, 117.26, 23.2, 6.3596),
    (6, 282.14, 13.1, 3.3355),
)

#: Tolerance of the z1D* comparison: 5 % + 0.09 Gy. 0.09 Gy is two digitising pixels (2 x 0.0445
#: Gy); 5 % covers the unknown stopping table of the source (ICRU 90 and MSTAR LETs differ by up
#: to 2 % here and z1D* is nearly proportional to LET on the falling branch) and the reading of a
#: log-energy axis (one pixel in x moves a point of slope -1 by ~1-2 %).
ZSTAR_REL_TOL, ZSTAR_ABS_TOL_GY = 0.05, 0.09

#: (Z, LET [keV/um], E [MeV/u] from ICRU 90 at that LET, D10 [Gy] digitised from Inaniwa et al.
#: 2010), HSG (alpha0 = 0.172 Gy^-1, beta0 = 0.0615 Gy^-2, r_d = 0.32 um, R_n = 3.9 um).
D10_INANIWA2010 = (
    (2, 13.45, 14.38, 3.44),
    (2, 28.68, 5.561, 2.305),
    (2, 56.13, 2.307, 1.408),
    (2, 96.53, 1.084, 1.093),
    (2, 119.8, 0.7885, 1.071),
    (2, 207.2, 0.2892, 1.368),
    (6, 17.43, 177.3, 3.444),
    (6, 39.95, 57.12, 2.283),
    (6, 70.01, 28.22, 1.59),
    (6, 105.3, 16.98, 1.292),
    (6, 143.8, 11.5, 1.228),
    (6, 252.4, 5.593, 1.564),
    (6, 443.0, 2.355, 2.285),
    (6, 827.8, 0.4377, 3.135),
)
#: Tolerance of D10 and RBE10: 3 %. The digitised D10 points follow a smooth line to ~1 %; the
#: choice of stopping table for E(LET) moves D10 by < 0.6 %; the rest is the source's own
#: numerical integration, which is not documented.
D10_REL_TOL = 0.03

#: RBE10 of carbon from the derived RBE10 file (D10_x = 4.0822 Gy over the D10 above):
#: (LET [keV/um], RBE10).
RBE10_C_INANIWA2010 = ((17.43, 1.1853), (84.83, 2.8667), (93.37, 3.0194), (143.8, 3.3243))

#: 12C at 290 MeV/u in water: electronic LET 12.87 keV/um (ICRU 90 Sel = 128.68 MeV cm^2/g, the
#: shared derived_icru90_carbon12_water_range_grid.csv) - the plateau of the HIMAC beam.
C290_E_MEV_U, C290_LET_KEV_UM = 290.0, 12.87
#: 12C of LET 90 keV/um: E = 20.65 MeV/u on the ICRU 90 table (high-energy branch).
C90_E_MEV_U, C90_LET_KEV_UM = 20.65, 90.0


def _hsg_d10(Z, E, let):
    a, b = mkm.alpha_beta(mkm.zstar_direct(Z, E, let, mkm.HSG), mkm.HSG)
    return float(mkm.d10_Gy(a, b))


# --------------------------------------------------------------------------- published curves

@pytest.mark.parametrize("Z,E,let,ref", ZSTAR_INANIWA2010)
def test_zstar_against_inaniwa2010(Z, E, let, ref):
    z = mkm.zstar_direct(Z, E, let, mkm.HSG)
    assert abs(z - ref) <= ZSTAR_REL_TOL * ref + ZSTAR_ABS_TOL_GY, (Z, E, z, ref)


def test_zstar_below_the_maximum():
    """On the low-energy flank of carbon (1.7 and 3.2 MeV/u; z1D* digitised 8.85 and 12.50 Gy)
    the model is higher than the digitised curve (by ~6 %, reported); the check here is that it
    stays within 10 % and keeps the published shape: rising with E up to the maximum near
    11.6 MeV/u (26.5 Gy), then falling."""
    for E, let, ref in ((1.6979, 523.4, 8.8501), (3.1828, 372.7, 12.497)):
        assert abs(mkm.zstar_direct(6, E, let) / ref - 1.0) < 0.10
    E = np.array([1.6979, 3.1828, 6.0178, 11.576, 23.854, 46.283])
    let = np.array([523.4, 372.7, 238.7, 143.0, 80.14, 47.14])
    z = np.array([mkm.zstar_direct(6, e, x) for e, x in zip(E, let)])
    assert np.argmax(z) == 3 and np.all(np.diff(z[:4]) > 0) and np.all(np.diff(z[3:]) < 0)


@pytest.mark.parametrize("Z,let,E,ref", D10_INANIWA2010)
def test_d10_against_inaniwa2010(Z, let, E, ref):
    assert _hsg_d10(Z, E, let) == pytest.approx(ref, rel=D10_REL_TOL)


def test_rbe10_against_the_derived_inaniwa2010_curve():
    D10_x = 2.0 * np.log(10.0) / (0.313 + np.sqrt(0.313**2 + 4.0 * 0.0615 * np.log(10.0)))
    assert D10_x == pytest.approx(4.0822, abs=1e-4)
    lets = [row[1] for row in D10_INANIWA2010 if row[0] == 6]
    Es = [row[2] for row in D10_INANIWA2010 if row[0] == 6]
    for let, ref in RBE10_C_INANIWA2010:
        E = float(np.exp(np.interp(np.log(let), np.log(lets), np.log(Es))))
        r = float(mkm.rbe10(mkm.zstar_direct(6, E, let), mkm.HSG))
        assert r == pytest.approx(ref, rel=D10_REL_TOL), (let, r, ref)


def test_rbe10_of_hsg_for_plateau_and_high_let_carbon():
    """Acceptance: RBE10 of HSG cells for mono-energetic carbon.

    Plateau, 290 MeV/u (12.87 keV/um): the published modified-MKM curve (Inaniwa et al. 2010,
    D10 vs LET) starts at 17.43 keV/um with RBE10 = 1.185 and falls monotonically towards lower
    LET, so 1 < RBE10 < 1.185. High LET, 90 keV/um: the published curve gives RBE10 = 2.867 at
    84.83 and 3.019 at 93.37 keV/um, interpolated 2.96 at 90 keV/um; 3 % tolerance as above."""
    low = float(mkm.rbe10(mkm.zstar_direct(6, C290_E_MEV_U, C290_LET_KEV_UM)))
    assert 1.0 < low < 1.1853
    ref = np.interp(90.0, [84.83, 93.37], [2.8667, 3.0194])
    high = float(mkm.rbe10(mkm.zstar_direct(6, C90_E_MEV_U, C90_LET_KEV_UM)))
    assert high == pytest.approx(ref, rel=D10_REL_TOL)


# ------------------------------------------------------------------------------ analytic limits

def test_hsg_parameters_and_z0():
    """Inaniwa et al. 2010 HSG values, and z0 of (M9) written out: (3.9/0.32)^2 = 148.535,
    z0 = 148.535 / sqrt(0.0615 x 149.535) = 48.98 Gy."""
    c = mkm.HSG
    assert (c.alpha0_per_Gy, c.beta0_per_Gy2, c.domain_radius_um, c.nucleus_radius_um) == (0.172, 0.0615, 0.32, 3.9)
    q = (3.9 / 0.32) ** 2
    assert c.z0_Gy == pytest.approx(q / np.sqrt(0.0615 * (1.0 + q)), rel=1e-12)
    assert c.z0_Gy == pytest.approx(48.98, abs=0.01)
    with pytest.raises(ValueError):
        mkm.MKMCell("bad", 0.1, 0.05, -0.3, 4.0, 0.2, 0.05)


def test_track_structure_conserves_the_let():
    """int D(r) 2 pi r dr = LET/rho = 0.1602 LET [Gy um^2] (the core dose (M6) is defined by it),
    evaluated on a fine log grid; the penumbra is K_p / r^2 with K_p = 1.25e-4 (z*/beta)^2."""
    assert mkm.GY_UM2_PER_KEV_UM == pytest.approx(0.1602176634, rel=1e-12)
    for Z, E, let in ((1, 100.0, 0.73), (2, 10.0, 20.0), (6, 290.0, 12.87), (6, 11.5, 143.0)):
        beta = float(mkm.ion_beta(E))
        Rc, Rp = 0.0116 * beta, 0.0616 * E**1.7
        r = np.geomspace(Rc, Rp, 200001)
        pen = np.trapezoid(mkm.track_dose_Gy(r, Z, E, let) * 2.0 * np.pi * r, r)
        core = float(mkm.track_dose_Gy(0.5 * Rc, Z, E, let)) * np.pi * Rc**2
        assert core > 0
        assert core + pen == pytest.approx(0.1602176634 * let, rel=1e-4)
        zeff = Z * (1.0 - np.exp(-125.0 * beta * Z ** (-2.0 / 3.0)))
        assert float(mkm.track_dose_Gy(2.0 * Rc, Z, E, let)) == pytest.approx(
            1.25e-4 * (zeff / beta) ** 2 / (2.0 * Rc) ** 2, rel=1e-12)
        assert float(mkm.track_dose_Gy(1.01 * Rp, Z, E, let)) == 0.0
        assert float(mkm.track_dose_Gy(0.99 * Rp, Z, E, let)) == pytest.approx(
            1.25e-4 * (zeff / beta) ** 2 / (0.99 * Rp) ** 2, rel=1e-12)
        assert float(mkm.penumbra_radius_um(E)) == pytest.approx(Rp, rel=1e-12)
        assert float(mkm.core_radius_um(beta)) == pytest.approx(Rc, rel=1e-12)


def test_quadrature_reproduces_the_let_and_converges():
    """int z(b) 2 pi b db = LET/rho (the identity under (M7)); doubling the quadrature moves z1D*
    by < 1e-5."""
    for Z, E, let in ((1, 0.1, 80.9), (2, 1.0, 100.0), (6, 290.0, 12.87), (6, 11.5, 143.0), (6, 0.5, 800.0)):
        assert mkm.impact_integral_Gy_um2(Z, E, let, 0.32) == pytest.approx(0.1602176634 * let, rel=1e-4)
        z1, z2 = mkm.zstar_direct(Z, E, let), mkm.zstar_direct(Z, E, let, refine=2)
        assert z2 == pytest.approx(z1, rel=1e-5)


def test_small_specific_energy_gives_no_saturation():
    """z << z0: z' = z, so z1D* -> z1D (M8, M10). A 200 MeV proton in HSG domains (z ~ 0.1 Gy,
    z0 = 49 Gy), and any ion in a cell with beta0 -> 0 (z0 -> infinity)."""
    z_sat = mkm.zstar_direct(1, 200.0, 0.45, mkm.HSG)
    z_lin = mkm.zstar_direct(1, 200.0, 0.45, mkm.HSG, saturate=False)
    assert z_sat == pytest.approx(z_lin, rel=1e-5)
    big_z0 = mkm.MKMCell("no saturation", 0.172, 1e-12, 0.32, 3.9, 0.313, 0.0615)
    assert big_z0.z0_Gy > 1e6
    assert mkm.zstar_direct(6, 11.5, 143.0, big_z0) == pytest.approx(
        mkm.zstar_direct(6, 11.5, 143.0, mkm.HSG, saturate=False), rel=1e-6)
    assert mkm.saturation_corrected(1e-3, 48.98) == pytest.approx(1e-3, rel=1e-9)


def test_narrow_track_limit():
    """R_p << r_d: a track inside the domain deposits all its energy there, z(b) = z_c =
    0.1602 LET / (pi r_d^2) for b < r_d - R_p and 0 beyond, so z1D = z_c and, by (M8)-(M10),
    z1D* = z0^2 (1 - exp(-(z_c/z0)^2)) / z_c. A 0.05 MeV/u He ion (R_p = 3.7e-4 um)."""
    let = 200.0
    zc = 0.1602176634 * let / (np.pi * 0.32**2)
    z0 = mkm.HSG.z0_Gy
    assert mkm.zstar_direct(2, 0.05, let, saturate=False) == pytest.approx(zc, rel=3e-3)
    assert mkm.zstar_direct(2, 0.05, let) == pytest.approx(z0**2 * (1.0 - np.exp(-(zc / z0) ** 2)) / zc, rel=3e-3)


def test_mixed_field():
    """(M11): one species gives its own z1D*; a dose-weighted mean otherwise; zero dose gives 0."""
    z_c = mkm.zstar_direct(6, 100.0, 24.6)
    z_he = mkm.zstar_direct(2, 100.0, 2.8)
    assert float(mkm.zstar_mix([2.0], [z_c])) == pytest.approx(z_c, rel=1e-14)
    assert float(mkm.zstar_mix([2.0, 0.0], [z_c, z_he])) == pytest.approx(z_c, rel=1e-14)
    assert float(mkm.zstar_mix([1.5, 0.5], [z_c, z_he])) == pytest.approx(0.75 * z_c + 0.25 * z_he, rel=1e-14)
    d = np.array([[1.0, 3.0], [0.0, 0.0]])
    z = np.array([[2.0, 6.0], [2.0, 6.0]])
    np.testing.assert_allclose(mkm.zstar_mix(d, z, axis=1), [5.0, 0.0])
    a, b = mkm.alpha_beta(mkm.zstar_mix([2.0], [z_c]))
    assert float(a) == pytest.approx(0.172 + 0.0615 * z_c, rel=1e-14) and float(b) == 0.0615


def test_table_equals_direct_quadrature():
    """The fast path (table on 40 points per decade, linear in ln E) against the direct quadrature
    at the geometric mid-points between table energies (worst case), within 0.3 %. LET here: proton
    stopping of physics.stopping at equal velocity scaled by z*^2, a smooth realistic input."""
    water = get_material("water")
    E = mkm.energy_grid_MeV_u(0.5, 500.0, 40)
    charges = np.arange(1, 7)

    def let(Z, e):
        beta = mkm.ion_beta(e)
        return mkm.effective_charge(Z, beta) ** 2 * 0.1 * electronic_mass_stopping(water, e * PROTON_MASS_MEV / AMU_MEV)

    table = mkm.build_zstar_table(charges, E, np.array([let(Z, E) for Z in charges]), mkm.HSG)
    np.testing.assert_allclose(table.energies_MeV_u, E, rtol=1e-12)
    Em = np.sqrt(E[:-1] * E[1:])[::7]
    for Z in charges:
        direct = np.array([mkm.zstar_direct(int(Z), e, float(x)) for e, x in zip(Em, let(Z, Em))])
        np.testing.assert_allclose(table.lookup(np.full(Em.shape, Z), Em), direct, rtol=3e-3)
    np.testing.assert_allclose(table.lookup(6, E[10]), table.zstar[5, 10], rtol=1e-12)
    with pytest.raises(ValueError):
        table.lookup(7, 100.0)


def test_survival_and_rbe_analytic():
    """(M13)-(M14): S(D10) = 0.1; RBE -> alpha/alpha_x as D -> 0; RBE at D10 equals RBE10; RBE
    of the X-ray parameters themselves is 1; RBE at 2 Gy from the isoeffect written out."""
    cell = mkm.HSG
    z = mkm.zstar_direct(6, C90_E_MEV_U, C90_LET_KEV_UM)
    a, b = mkm.alpha_beta(z, cell)
    d10 = mkm.d10_Gy(a, b)
    assert float(mkm.survival(d10, a, b)) == pytest.approx(0.1, rel=1e-12)
    assert float(mkm.rbe(0.0, z, cell)) == pytest.approx(float(a) / 0.313, rel=1e-12)
    assert float(mkm.rbe(1e-6, z, cell)) == pytest.approx(float(a) / 0.313, rel=1e-4)
    assert float(mkm.rbe(d10, z, cell)) == pytest.approx(float(mkm.rbe10(z, cell)), rel=1e-12)
    x_like = (0.313 - cell.alpha0_per_Gy) / cell.beta0_per_Gy2   # alpha = alpha_x, beta = beta_x
    np.testing.assert_allclose(mkm.rbe([0.5, 2.0, 8.0], x_like, cell), 1.0, rtol=1e-12)
    effect = float(a) * 2.0 + float(b) * 4.0
    Dx = (-0.313 + np.sqrt(0.313**2 + 4.0 * 0.0615 * effect)) / (2.0 * 0.0615)
    assert float(mkm.rbe(2.0, z, cell)) == pytest.approx(Dx / 2.0, rel=1e-12)
    r = mkm.rbe([1.0, 2.0, 4.0], z, cell)
    assert np.all(np.diff(r) < 0)          # beta = beta_x, alpha > alpha_x: RBE falls with dose
