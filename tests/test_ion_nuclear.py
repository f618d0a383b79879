"""Tests of physics/ion_nuclear.py: nucleus-nucleus reaction cross sections (Tripathi et al.
1996/1999) and the survival of primary 12C ions in water.

Reference values written in as constants:

* ``REF_TRIPATHI``: an independent evaluation of the same formulas with Geant4's conventions,
  file ``nuclear_reaction_xs_formulas_mb.csv`` of the project's carbon/helium reference set
  (re-implementation of Geant4 ``G4TripathiCrossSection.cc`` @ 10552e7b and
  ``G4TripathiLightCrossSection.cc`` @ 0c9e661f with ``G4WilsonRadius`` radii; TP3621 form
  for 12C + C/O, light form for 12C + H and 4He + H/C/O), printed to 0.1 mb.
* ``KOX_PARAMETRISATION``: 12C + C and 12C + O from the parametrisation of Kox et al. (1987,
  Phys. Rev. C 35:1678), fitted to their measured reaction cross sections: an independent
  model of the same quantity, from the same reference file (column ``sigmaR_kox_mb``).
* ``REF_SURVIVAL``: model N/N0 of primary 12C in water (rho = 1 g/cm^3) from
  ``derived_c12_primary_survival_tripathi.csv`` of the same reference set: Tripathi-light
  12C + H and TP3621 12C + O along the ICRU Report 90 CSDA energy-depth relation.
* ICRU Report 90 (2016) Table A.15: CSDA range of 12C in water at 416.7 MeV/u 29.40 g/cm^2,
  333.3 MeV/u 20.51 g/cm^2.

The measured attenuation of primary 12C of Haettner et al. (2013, Phys. Med. Biol. 58:8265)
is not available as numbers (the digitised Haettner yields of the reference set have H-B only,
no C row), so it is not tested here.
"""

import math

import numpy as np
import pytest

from physics.constants import AVOGADRO
from physics.elements import element
from physics.ion_nuclear import (
    csda_energy_depth,
    ecm_mev,
    mass_reaction_xs_cm2_g,
    nuclear_mass_mev,
    primary_survival,
    reaction_xs_mb,
    tripathi_light_mb,
)
from physics.materials import get_material

# (projectile (Z, A), target (Z, A)) -> {E [MeV/u]: sigma_R [mb]}, nuclear_reaction_xs_formulas_mb.csv
REF_TRIPATHI = {
    ((6, 12), (1, 1)): {10: 396.9, 30: 407.6, 50: 335.4, 100: 270.5, 200: 242.0, 300: 236.8, 400: 239.4,
                        500: 244.7},
    ((6, 12), (6, 12)): {10: 1402.2, 30: 1269.2, 50: 1126.1, 100: 949.8, 200: 864.6, 300: 857.4, 400: 869.1,
                         500: 886.7},
    ((6, 12), (8, 16)): {10: 1513.8, 30: 1405.4, 50: 1260.0, 100: 1076.7, 200: 987.5, 300: 980.3,
                         400: 993.1, 500: 1012.0},
    ((2, 4), (1, 1)): {20: 29.5, 50: 109.4, 100: 102.2, 200: 95.9, 400: 99.0},
    ((2, 4), (6, 12)): {10: 673.1, 50: 547.7, 100: 385.0, 200: 353.4, 400: 461.0},
    ((2, 4), (8, 16)): {10: 787.1, 50: 641.6, 100: 466.9, 200: 433.0, 400: 551.6},
}

# target (Z, A) -> {E [MeV/u]: sigma_R [mb]}, 12C projectile, Kox et al. (1987) parametrisation,
# nuclear_reaction_xs_formulas_mb.csv
KOX_PARAMETRISATION = {(6, 12): {100: 939.8, 200: 888.1, 300: 872.8, 400: 865.4},
                       (8, 16): {100: 1066.6, 200: 1012.9, 300: 997.0, 400: 989.3}}

# E0 [MeV/u] -> {depth [cm]: N/N0}, derived_c12_primary_survival_tripathi.csv
REF_SURVIVAL = {
    200: {2.0: 0.9058, 5.0: 0.7778, 8.0: 0.6573},
    290: {3.0: 0.8643, 8.0: 0.6770, 12.0: 0.5540, 15.0: 0.4709},
    400: {1.0: 0.9520, 3.0: 0.8631, 5.0: 0.7826, 8.0: 0.6761, 10.0: 0.6134, 13.0: 0.5302, 15.0: 0.4811,
          18.0: 0.4156, 20.0: 0.3766, 22.0: 0.3408, 24.0: 0.3076, 25.0: 0.2917, 26.0: 0.2758, 27.0: 0.2593},
}


def _rows():
    for (proj, targ), table in REF_TRIPATHI.items():
        for E, ref in table.items():
            yield proj, targ, E, ref


@pytest.mark.parametrize("proj,targ,E,ref", list(_rows()))
def test_geant4_conventions_reproduce_the_reference_evaluation(proj, targ, E, ref):
    """With Geant4's radius and D conventions the formulas must equal the third-party
    evaluation to its printing precision (0.1 mb) plus 0.05 % for the nuclear masses used
    for E_cm; a wrong constant or equation gives percent-level differences."""
    got = reaction_xs_mb(*proj, *targ, E, variant="geant4")[0]
    assert abs(got - ref) <= 0.06 + 5e-4 * ref, (proj, targ, E, got, ref)


@pytest.mark.parametrize("targ", [(1, 1), (6, 12), (8, 16)])
def test_paper_conventions_close_to_reference_above_100_MeV_per_u(targ):
    """The paper's radius convention (eq. 4: r = 1.29 r_rms with measured rms radii) changes
    only the Coulomb barrier: for 12C at 100-500 MeV/u the change computed from the formulas
    is 0.1-0.6 %, so 1 % bounds it."""
    for E, ref in REF_TRIPATHI[((6, 12), targ)].items():
        if E >= 100:
            got = reaction_xs_mb(6, 12, *targ, E)[0]
            assert abs(got / ref - 1.0) < 0.01, (targ, E, got, ref)


@pytest.mark.parametrize("targ,E", [(t, E) for t in KOX_PARAMETRISATION for E in KOX_PARAMETRISATION[t]])
def test_12C_on_C_and_O_agrees_with_the_kox_parametrisation(targ, E):
    """Tripathi against the independent parametrisation of Kox et al. (1987), fitted to measured
    12C reaction cross sections: the two lie within 2.7 % of each other at 100-400 MeV/u in the
    reference evaluation; tolerance 3.5 % (the two models' difference, not a statistical one)."""
    ref = KOX_PARAMETRISATION[targ][E]
    got = reaction_xs_mb(6, 12, *targ, E)[0]
    assert abs(got / ref - 1.0) <= 0.035, (targ, E, got, ref)


def test_hydrogen_target_is_inverse_kinematics():
    """An ion of E/u on H and a proton of the same velocity (kinetic energy E m_p A / M) on the
    ion at rest are one collision: the same E_cm (to rounding) and the same sigma_R up to the
    energy variable of the parametrisation, which differs by m_p A / M = 1.0076 for 12C
    (effect computed from the formula <= 0.32 %, bound 0.5 %)."""
    E = np.array([20.0, 100.0, 400.0])
    for Z, A in ((6, 12), (2, 4)):
        Ep = E * nuclear_mass_mev(1, 1) * A / nuclear_mass_mev(Z, A)
        np.testing.assert_allclose(ecm_mev(Z, A, 1, 1, E), ecm_mev(1, 1, Z, A, Ep), rtol=1e-10)
        np.testing.assert_allclose(reaction_xs_mb(Z, A, 1, 1, E), tripathi_light_mb(1, 1, Z, A, Ep), rtol=5e-3)


def test_nucleon_nucleon_and_sub_barrier_are_zero():
    """p + p and n + p: no reaction channel (below the pion threshold; neglected above);
    4He + H at 10 MeV/u: below the Coulomb barrier scaled by R_c = 27 (Tripathi et al. 1999)."""
    assert np.all(reaction_xs_mb(1, 1, 1, 1, [50.0, 250.0, 450.0]) == 0.0)
    assert np.all(reaction_xs_mb(0, 1, 1, 1, [50.0, 250.0]) == 0.0)
    assert reaction_xs_mb(2, 4, 1, 1, 10.0)[0] == 0.0


def test_ecm_relativistic_two_body():
    """E_cm = sqrt(s) - m_P - m_T; 12C (11174.862 MeV) on 12C at 200 MeV/u:
    s = 2 m^2 + 2 m (T + m), T = 2400 MeV."""
    m = 11174.862
    expected = math.sqrt(2.0 * m * m + 2.0 * m * (2400.0 + m)) - 2.0 * m
    assert ecm_mev(6, 12, 6, 12, 200.0)[0] == pytest.approx(expected, rel=1e-6)


def test_mass_cross_section_of_water_is_the_sum_over_elements():
    """Sigma/rho = sum_i w_i N_A / A_i sigma_i [cm^2/g], written out for H and O."""
    water = get_material("water")
    E = np.array([100.0, 300.0])
    expected = sum(w * AVOGADRO / element(Z).A * reaction_xs_mb(6, 12, Z, {1: 1, 8: 16}[Z], E) * 1e-27
                   for Z, w in water.composition.items())
    np.testing.assert_allclose(mass_reaction_xs_cm2_g(6, 12, E, water.composition), expected, rtol=1e-12)
    # order of magnitude: 400 MeV/u 12C has a nuclear mean free path of ~20 cm in water
    assert 1.0 / mass_reaction_xs_cm2_g(6, 12, 400.0, water.composition)[0] == pytest.approx(20.2, rel=0.03)


def test_csda_range_against_icru90():
    """CSDA range of 12C in water from the Bethe stopping power vs ICRU 90 Table A.15
    (416.7 MeV/u: 29.40 g/cm^2; 333.3 MeV/u: 20.51 g/cm^2). The module's Bethe formula has no
    Barkas term and lies 0.5 % long; 1 % is the bound."""
    for E0, r_icru in ((416.7, 29.40), (333.3, 20.51)):
        x, _ = csda_energy_depth(E0, density=1.0)
        assert x[-1] == pytest.approx(r_icru, rel=0.01)


def test_survival_against_reference_model():
    """N/N0 of primary 12C vs the third-party evaluation of the same model within 1 %
    (observed: <= 0.1 % to 27 cm at 400 MeV/u; the residual comes from the paper-vs-Geant4
    radius convention of sigma_R and from the 0.5 % longer Bethe range near the end of range,
    so a 1 % change of sigma_R shows up as ~1 % at 27 cm)."""
    for E0, table in REF_SURVIVAL.items():
        depths = np.array(sorted(table))
        ref = np.array([table[d] for d in depths])
        got = primary_survival(float(E0), depths, density=1.0)
        np.testing.assert_allclose(got, ref, rtol=0.01, err_msg=f"E0 = {E0} MeV/u")


def test_survival_first_centimetre_is_exponential():
    """Over 1 cm sigma_R hardly changes (400 MeV/u -> 391 MeV/u), so N/N0 = exp(-Sigma rho x)
    with Sigma at the entrance energy, to 0.05 %."""
    water = get_material("water")
    mu = mass_reaction_xs_cm2_g(6, 12, 400.0, water.composition)[0]
    assert primary_survival(400.0, 1.0, density=1.0)[0] == pytest.approx(math.exp(-mu), rel=5e-4)
    assert np.isnan(primary_survival(400.0, 30.0, density=1.0)[0])  # beyond the CSDA range
