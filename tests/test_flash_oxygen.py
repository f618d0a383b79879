"""FLASH oxygen model against independent references: the Michaelis-Menten law (k > 0) against
scipy quadrature of its exact integral, the pO2-proportional law against the closed forms of
the reference code of Petersson et al. 2020 (FLASH-OER, ``flashOERModel.py``: ``oxygenCurve``,
``cumulativeOER``, restated here), and the default depletion g = 5.18e-4 atm/Gy x 760."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from flash.oxygen import (
    G_CONSTANT_MMHG_PER_GY,
    OxygenParams,
    radiosensitivity,
    uniform_dmf,
)

ATM_MMHG = 760.0


# ---- Michaelis-Menten law (k > 0) versus quadrature ---------------------------------------------
def _mm_dmf_quad(dose, rate, p0, k, g=G_CONSTANT_MMHG_PER_GY, tau=1.0, m=3.0, K=7.6):
    """DMF of one continuous irradiation under dp/dt = -g R p/(p + k) + (p0 - p)/tau by
    quadrature. (p + k) tau dp/dt = -(p - p_ss)(p - p_minus), the two roots of
    p^2 - (p0 - k - g R tau) p - p0 k; with u = ln(p - p_ss): dt = -tau (p + k)/(p - p_minus) du,
    so the irradiation time and int S dt are smooth integrals over u."""
    B = p0 - k - g * rate * tau
    root = math.sqrt(B * B + 4.0 * p0 * k)
    p_ss = (B + root) / 2.0 if B >= 0 else 2.0 * p0 * k / (root - B)
    p_minus = -p0 * k / p_ss

    def q(u):
        return p_ss + math.exp(u)

    def dtdu(u):
        return tau * (q(u) + k) / (q(u) - p_minus)

    u0 = math.log(p0 - p_ss)
    t_end = dose / rate

    def t_of(u):
        return quad(dtdu, u, u0, epsabs=0, epsrel=1e-13, limit=200)[0] - t_end

    u_end = brentq(t_of, u0 - 60.0, u0, xtol=1e-14, rtol=1e-15)
    integ = quad(lambda u: radiosensitivity(q(u), m, K) * dtdu(u), u_end, u0, epsabs=0, epsrel=1e-13,
                 limit=200)[0]
    return rate * integ / (dose * radiosensitivity(p0, m, K)), q(u_end)


@pytest.mark.parametrize("k", [0.5, 2.0, 10.0])
def test_michaelis_menten_dmf_agrees_with_quadrature_to_1e_6(k):
    for p0 in (9.9, 45.8):
        for rate in (40.0, 300.0, 1e4):
            for dose in (2.0, 10.0, 30.0):
                dmf, _ = uniform_dmf(dose, rate, p0, OxygenParams(k_mmHg=k))
                ref, _ = _mm_dmf_quad(dose, rate, p0, k)
                assert float(dmf) == pytest.approx(ref, rel=1e-6), (p0, rate, dose)


def test_michaelis_menten_final_pO2_agrees_with_quadrature():
    # the end pO2 of the integration (returned as the minimum: p falls monotonically here)
    for k, rate, dose in ((2.0, 100.0, 10.0), (0.5, 40.0, 30.0), (10.0, 1e3, 5.0)):
        _, pmin = uniform_dmf(dose, rate, 9.9, OxygenParams(k_mmHg=k))
        _, p_end = _mm_dmf_quad(dose, rate, 9.9, k)
        assert float(pmin) == pytest.approx(p_end, rel=1e-6)


# ---- the pO2-proportional law (Petersson et al. 2020, reference code default) -------------------
def _petersson_cumulative_oer(dose, rate, o2, dep=0.053, rec=1.0, centre=0.010):
    """``cumulativeOER`` of the reference code (linearModel = False): O2 as a fraction of 1 atm;
    the dose-averaged OER relative to full oxygenation (S/3)."""
    t = dose / rate
    r = dep * rate
    num = (t * (3 * rec * o2 + centre * (rec + r)) + 2 * centre * math.log((centre + o2) * (rec + r))
           - 2 * centre * math.log(centre * (rec + r) + o2 * (rec + r * math.exp(-(rec + r) * t))))
    return num / (t * (rec * o2 + centre * (rec + r))) / 3


def test_proportional_law_matches_the_reference_code_closed_forms():
    par = OxygenParams(law="proportional")
    for p0 in (2.5, 9.9, 45.8):
        for rate in (0.1, 40.0, 1e3):
            for dose in (2.0, 10.0, 30.0):
                dmf, pmin = uniform_dmf(dose, rate, p0, par)
                # our DMF is relative to S(p0); theirs to S at full oxygenation, m = 3
                ref = 3.0 * _petersson_cumulative_oer(dose, rate, p0 / ATM_MMHG) / float(radiosensitivity(p0))
                assert float(dmf) == pytest.approx(ref, rel=1e-9)
                # oxygenCurve: p(t) = p0/(rD + rec) (rD exp(-(rD + rec) t) + rec), rD = g' Ddot
                a = 0.053 * rate + 1.0
                p_end = p0 / a * (0.053 * rate * math.exp(-a * dose / rate) + 1.0)
                assert float(pmin) == pytest.approx(p_end, rel=1e-12)


def test_proportional_law_instantaneous_and_pulsed_by_quadrature():
    par = OxygenParams(law="proportional")
    p0, m, K, gp = 9.9, 3.0, 7.6, 0.053
    # an instantaneous dose D: p = p0 exp(-g' D'), DMF = int_0^D S(p0 exp(-g' D')) dD' / (D S(p0))
    for dose in (2.0, 10.0, 40.0):
        dmf, pmin = uniform_dmf(dose, 1e15, p0, par)
        ref = quad(lambda x: radiosensitivity(p0 * math.exp(-gp * x), m, K), 0, dose, epsabs=0, epsrel=1e-13)[0]
        assert float(dmf) == pytest.approx(ref / (dose * float(radiosensitivity(p0))), rel=1e-9)
        assert float(pmin) == pytest.approx(p0 * math.exp(-gp * dose), rel=1e-9)
    # two instantaneous 10 Gy pulses 0.5 s apart: recovery exp(-0.5/tau) of the deficit between them
    dmf2, _ = uniform_dmf(20.0, 1e15, p0, par, pulses=2, pulse_period_s=0.5)
    p1 = p0 * math.exp(-gp * 10.0)
    p2 = p0 - (p0 - p1) * math.exp(-0.5)
    second = quad(lambda x: radiosensitivity(p2 * math.exp(-gp * x), m, K), 0, 10.0, epsabs=0, epsrel=1e-13)[0]
    first = quad(lambda x: radiosensitivity(p0 * math.exp(-gp * x), m, K), 0, 10.0, epsabs=0, epsrel=1e-13)[0]
    assert float(dmf2) == pytest.approx((first + second) / (20.0 * float(radiosensitivity(p0))), rel=1e-9)


def test_law_names_and_parameters_are_checked():
    with pytest.raises(ValueError, match="law must be one of constant, proportional"):
        OxygenParams(law="exponential")
    with pytest.raises(ValueError, match="k_mmHg applies to law 'constant' only"):
        OxygenParams(law="proportional", k_mmHg=2.0)
    with pytest.raises(ValueError, match="g_proportional_per_Gy must be >= 0"):
        OxygenParams(law="proportional", g_proportional_per_Gy=-0.1)
    # the default law is unchanged by the new option; a five-entry parameter array (before the
    # law existed) still selects it
    assert OxygenParams().law == "constant"
    assert OxygenParams().as_array().shape == (7,)


def test_default_depletion_is_the_unrounded_reference_value():
    # Petersson et al. 2020, reference code REFoxDep = 0.000518 (fraction of 1 atm per Gy)
    assert G_CONSTANT_MMHG_PER_GY == pytest.approx(0.39368, abs=1e-12)
    assert OxygenParams().g_mmHg_per_Gy == G_CONSTANT_MMHG_PER_GY
    # instantaneous 10 Gy to marrow: p falls by 3.9368 mmHg
    _, pmin = uniform_dmf(10.0, 1e15, 9.9)
    assert float(pmin) == pytest.approx(9.9 - 3.9368, abs=1e-9)


# ---- figures ------------------------------------------------------------------------------------
def _capture(monkeypatch, module):
    """Replace ``module.save_figure`` by one that keeps the figure; returns the list it fills."""
    figs = []

    def keep(fig, path_png, dpi=110):
        figs.append(fig)
        return path_png

    monkeypatch.setattr(module, "save_figure", keep)
    return figs


def test_flash_curves_legends_lie_outside_the_axes(monkeypatch):
    import matplotlib.pyplot as plt

    from flash import sparing

    figs = _capture(monkeypatch, sparing)
    tissues = [("bone_marrow", 9.9), ("normal_tissue", 45.8), ("hypoxic_tumour", 2.5)]
    fem = {"dose_threshold_Gy": 4.0, "dose_rate_threshold": 40.0, "fmf": 0.7}
    rows = sparing.curve_rows([2.0, 8.0, 15.0, 30.0], np.logspace(-2, 4, 5), tissues, OxygenParams(), "dose_rate", fem)
    rows += sparing.curve_rows(np.linspace(0.5, 40, 5), [100.0], tissues, OxygenParams(), "dose", fem)
    sparing.plot_curves("unused.png", rows)
    fig = figs[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    for ax in fig.axes:
        leg = ax.get_legend()
        box = leg.get_window_extent(renderer)
        assert len(leg.get_texts()) >= 4
        # no overlap with the plotting area, and wholly on the figure
        assert not box.overlaps(ax.bbox), ax.get_title()
        assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1 and box.y0 >= fig_box.y0 - 1
    assert len(fig.axes[0].get_legend().get_texts()) == 16
    plt.close(fig)


def test_flash_dose_rate_panel_leaves_out_voxels_without_dose(monkeypatch):
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from flash import analysis
    from geometry.voxel import VoxelGrid

    figs = _capture(monkeypatch, analysis)
    shape = (3, 3, 10)
    grid = VoxelGrid(np.zeros(shape, np.uint8), np.ones(shape), ("water",), np.array([0.1, 0.1, 0.1]),
                     np.zeros(3))
    dose = np.zeros(shape)
    dose[:, :, :6] = 2.0  # the beam stops after six voxels along z
    rate = np.where(dose > 0, 100.0, 0.0)
    maps = {key: rate for key in ("dose_rate_pbs", "dose_rate_percentile", "dose_rate_adr", "dose_rate_dadr")}
    maps.update({key: dose for key in ("dose_conventional", "dose_flash", "dose_fem")})
    maps.update({key: np.full(shape, 9.9) for key in ("pO2_baseline", "pO2_min", "pO2_min_conventional")})
    fr = SimpleNamespace(maps=maps, structure="water", params={"conventional_current_nA": 0.05, "beam_current_nA": 300})
    analysis.plot_flash("unused.png", SimpleNamespace(flash=fr, grid=grid, dose=dose, case=None))
    fig = figs[0]
    y = np.asarray(fig.axes[2].get_lines()[0].get_ydata(), float)
    assert np.all(y[:6] == 100.0)
    assert np.all(np.isnan(y[6:]))  # no dose: not drawn (formerly a 1e-3 Gy/s floor)
    plt.close(fig)
