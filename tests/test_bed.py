"""BED and EQD2 of the linear-quadratic model (physics.bed) against hand computations."""

import numpy as np
import pytest

from physics import rbe
from physics.bed import (
    ALPHA_BETA_PRESETS_GY,
    bed_from_eqd2_gy,
    bed_gy,
    cumulative_bed_gy,
    eqd2_from_bed_gy,
    eqd2_gy,
    recovery_factor,
)

# Hand computations, BED = n d (1 + d/(a/b)), EQD2 = BED / (1 + 2/(a/b)):
#   8 Gy x 1,  a/b 2:  BED = 8 (1 + 8/2)     = 40 Gy,   EQD2 = 40 / 2     = 20 Gy
#   8 Gy x 1,  a/b 10: BED = 8 (1 + 8/10)    = 14.4 Gy, EQD2 = 14.4 / 1.2 = 12 Gy
#   20 Gy / 5, a/b 2:  BED = 20 (1 + 4/2)    = 60 Gy,   EQD2 = 60 / 2     = 30 Gy
#   20 Gy / 5, a/b 10: BED = 20 (1 + 4/10)   = 28 Gy,   EQD2 = 28 / 1.2   = 23.333 Gy
#   24 Gy / 2, a/b 10: BED = 24 (1 + 12/10)  = 52.8 Gy, EQD2 = 52.8 / 1.2 = 44 Gy
#   30 Gy / 10, a/b 10: BED = 30 (1 + 3/10)  = 39 Gy
HAND = [(8.0, 1, 2.0, 40.0, 20.0), (8.0, 1, 10.0, 14.4, 12.0), (20.0, 5, 2.0, 60.0, 30.0),
        (20.0, 5, 10.0, 28.0, 70.0 / 3.0), (24.0, 2, 10.0, 52.8, 44.0), (30.0, 10, 10.0, 39.0, 32.5)]


@pytest.mark.parametrize("dose, n, ab, bed, eqd2", HAND)
def test_bed_and_eqd2_match_hand_values(dose, n, ab, bed, eqd2):
    assert bed_gy(dose, n, ab) == pytest.approx(bed, rel=1e-12)
    assert eqd2_gy(dose, n, ab) == pytest.approx(eqd2, rel=1e-12)
    # Withers et al. 1983 form: EQD2 = D (d + a/b) / (2 + a/b)
    assert eqd2_gy(dose, n, ab) == pytest.approx(dose * (dose / n + ab) / (2.0 + ab), rel=1e-12)
    assert bed_from_eqd2_gy(eqd2_from_bed_gy(bed, ab), ab) == pytest.approx(bed, rel=1e-12)


def test_two_courses_add_in_bed():
    # 8 Gy x 1 then 20 Gy / 5: a/b 2: 40 + 60 = 100 Gy BED = 50 Gy EQD2; a/b 10: 12 + 23.333 = 35.333 Gy EQD2
    assert cumulative_bed_gy([(8.0, 1, 1.0), (20.0, 5, 1.0)], 2.0) == pytest.approx(100.0)
    assert eqd2_from_bed_gy(cumulative_bed_gy([(8.0, 1, 1.0), (20.0, 5, 1.0)], 10.0), 10.0) == pytest.approx(
        12.0 + 70.0 / 3.0)
    # recovery factor 0.75 on the first course: 0.75 x 40 + 60 = 90 Gy
    assert cumulative_bed_gy([(8.0, 1, 0.75), (20.0, 5, 1.0)], 2.0) == pytest.approx(90.0)


def test_voxelwise_map_on_small_grid():
    dose = np.array([[[0.0], [8.0]], [[16.0], [24.0]]])  # 2 fractions: d = 0, 4, 8, 12 Gy
    expected_bed = np.array([[[0.0], [8.0 * 3.0]], [[16.0 * 5.0], [24.0 * 7.0]]])  # a/b 2
    np.testing.assert_allclose(bed_gy(dose, 2, 2.0), expected_bed, rtol=1e-12)
    np.testing.assert_allclose(eqd2_gy(dose, 2, 2.0), expected_bed / 2.0, rtol=1e-12)
    # a voxel-wise alpha/beta map broadcasts
    ab = np.array([[[2.0], [10.0]], [[2.0], [10.0]]])
    assert eqd2_gy(dose, 2, ab)[0, 1, 0] == pytest.approx(8.0 * (4.0 + 10.0) / 12.0)


@pytest.mark.parametrize("model, months, factor", [
    ("none", 30.0, 1.0), ("stepwise_6_12_months", 0.0, 1.0), ("stepwise_6_12_months", 5.99, 1.0),
    ("stepwise_6_12_months", 6.0, 0.75), ("stepwise_6_12_months", 11.99, 0.75),
    ("stepwise_6_12_months", 12.0, 0.5), ("stepwise_6_12_months", 48.0, 0.5)])
def test_recovery_factor_steps(model, months, factor):
    assert recovery_factor(model, months) == factor


def test_presets_reuse_rbe_and_add_cauda_equina():
    for name, value in rbe.ALPHA_BETA_PRESETS_GY.items():
        assert ALPHA_BETA_PRESETS_GY[name] == value
    assert ALPHA_BETA_PRESETS_GY["spinal_cord"] == 2.0
    assert ALPHA_BETA_PRESETS_GY["tumour"] == 10.0
    assert ALPHA_BETA_PRESETS_GY["cauda_equina"] == 4.0


@pytest.mark.parametrize("call, match", [
    (lambda: bed_gy(8.0, 1, 0.0), "alpha/beta"), (lambda: bed_gy(8.0, 1, -2.0), "alpha/beta"),
    (lambda: bed_gy(8.0, 0, 2.0), "fractions"), (lambda: bed_gy(8.0, 1.5, 2.0), "fractions"),
    (lambda: bed_gy(-1.0, 1, 2.0), "non-negative"), (lambda: eqd2_from_bed_gy(10.0, 0.0), "alpha/beta"),
    (lambda: recovery_factor("linear", 6.0), "unknown recovery model"),
    (lambda: recovery_factor("none", -1.0), "months_elapsed"),
    (lambda: cumulative_bed_gy([(8.0, 1, 1.5)], 2.0), "recovery factor")])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
