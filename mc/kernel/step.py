"""The step plan of the kernel: how far a step goes, its energy-loss straggling, and where and
by how much multiple scattering turns it.

All in the residual CSDA range R [g/cm^2] of the material where the step starts (table row
``row``), and in fractional table indices f of kinetic energies (:mod:`mc.kernel.lookup`).
"""

import math
from typing import NamedTuple

from mc.jit import jit_stage
from physics.scattering import E_S2_MEV2, F_DM_COEFFS, deflection_draw, f_dm_of
from physics.straggling import sample_energy_loss

from .lookup import U, lin, range_index
from .rng import gauss_pair, uniform

_FDM0, _FDM1, _FDM2, _FDM3 = F_DM_COEFFS
_INV_LN10 = 1.0 / math.log(10.0)
#: Hinge candidates tried per step before the last one is kept. The acceptance probability
#: f_dM(hinge)/A is 0.7-0.93 once a particle has lost 1 % of its initial energy and above 0.27
#: after 0.1 % (from 3 to 300 MeV), so the cap is reached with negligible probability.
MAX_HINGE_TRIES = 64


class StepPlan(NamedTuple):
    """A planned step (ranges in g/cm^2 of the start material, energies in MeV)."""

    row: int  # table row of the start voxel (species and material)
    R0: float  # residual range at the start
    R_s: float  # residual range at the planned end
    f_stop: float  # table index of the mean energy at the planned end
    E_stop: float  # mean energy at the planned end
    final: bool  # the last step of the track: to the cut-off, where the particle ends
    planned_int: bool  # its length is the free path to the sampled interaction site
    maj: float  # majorant of the nuclear mass cross section over the step [cm^2/g]
    c_str: float  # straggling factor: sampled / mean energy loss (scales every deposit)
    hinge: bool  # the step has a multiple-scattering hinge
    f_h: float  # table index of the energy at the hinge
    k_mcs: float  # projected-angle variance per unit of rho l / X_S walked [rad^2]
    chi2: float  # the deflection's random numbers (physics.scattering.deflection_draw)
    px: float
    py: float
    pz: float


@jit_stage
def step_range(R0, max_frac, final_range):
    """Range [g/cm^2] a step from residual range R0 may use up: dR = a R0 + r_f (1 - a)
    (2 - r_f/R0) for R0 > r_f, else R0 (the step function of Geant4, Physics Reference Manual,
    "Step limitation"; a = ``max_frac``, r_f = ``final_range``)."""
    if R0 > final_range:
        return max_frac * R0 + final_range * (1.0 - max_frac) * (2.0 - final_range / R0)
    return R0


@jit_stage
def step_length(T, fT, row, rho, n_mfp, db_vox, r_cut, f_cut, tab, sigma_tab, par):
    """The step's length in residual range, and its end. From the step function
    (:func:`step_range`), at most rho times ``par.max_step``, in the reference mode
    ``par.voxel_steps`` at most to the first voxel boundary (``db_vox`` [cm] away), and at most
    the free path to the next discrete-interaction site (``n_mfp`` mean free paths of the step
    majorant, the fictitious-interaction method of :func:`physics.tables.majorant_sigma`). A
    step that would end below the cut-off range ``r_cut`` (energy index ``f_cut``) is the last:
    it ends at the cut-off. Returns (R0, R_s, f_stop, E_stop, final, planned_int, maj)."""
    range_tab = tab.range
    R0 = lin(range_tab, row, fT)
    dR = step_range(R0, par.max_range_fraction, par.final_range)
    if par.max_step > 0.0 and dR > rho * par.max_step:
        dR = rho * par.max_step
    if par.voxel_steps and rho * db_vox < dR:
        dR = rho * db_vox
    # free path to the next discrete-interaction site, sampled with the majorant
    maj0 = lin(sigma_tab, row, fT)
    planned_int = False
    if maj0 > 0.0 and n_mfp < maj0 * dR:
        dR = n_mfp / maj0
        planned_int = True
    R_stop = R0 - dR
    final = R_stop <= r_cut
    if final:
        # last step: to the cut-off energy, where the particle ends (before any site)
        planned_int = False
        f_stop = f_cut
    else:
        f_stop = range_index(range_tab, tab.range_bins, tab.bin0, row, R_stop)
        if f_stop < f_cut:
            f_stop = f_cut
    if f_stop > fT:
        f_stop = fT
    E_stop = lin(tab.energy, 0, f_stop)
    if E_stop > T:
        E_stop = T
    R_s = lin(range_tab, row, f_stop)
    return R0, R_s, f_stop, E_stop, final, planned_int, maj0


@jit_stage
def straggling_factor(st, T, fT, f_stop, dE_plan, row, tab, spare, has_spare):
    """Energy-loss straggling of a step from index ``fT`` to ``f_stop`` with mean loss
    ``dE_plan`` [MeV]: the energy at the step's end, T_b, gets the variance
    (S(T_b)/rho)^2 (Omega_R(T_a) - Omega_R(T_b)) (first-order propagation of the Bohr variance
    through a thick absorber, Tschalaer 1968; the range-straggling integral Omega_R of
    :mod:`physics.tables`), sampled by :func:`physics.straggling.sample_energy_loss`. The
    Gaussian deviates come in pairs; the second of a pair (``spare``, ``has_spare``) serves the
    particle's next step. Returns (sampled/mean loss, spare, has_spare)."""
    s_end = lin(tab.stopping, row, f_stop)
    var = s_end * s_end * (lin(tab.range_straggling, row, fT) - lin(tab.range_straggling, row, f_stop))
    if has_spare:
        gs = spare
        has_spare = False
    else:
        gs, spare = gauss_pair(st)
        has_spare = True
    dEs = sample_energy_loss(st, dE_plan, var, gs)
    if dEs > T:
        dEs = T
    return dEs / dE_plan, spare, has_spare


@jit_stage
def scattering_plan(st, fT, f_stop, R0, R_s, row, sp, z2, p1v1_inv2, u, v, w, tab):
    """Multiple Coulomb scattering of a step: the projected-angle variance
    theta^2 = z^2 E_s^2 f_dM int dR/(pv)^2 / X_S per plane (Gottschalk 2010, Med. Phys. 37:352:
    the differential Moliere scattering power T_dM = f_dM (E_s/pv)^2 / X_S; f_dM at the mid-step
    pv and the particle's initial p1v1, the integral of 1/(pv)^2 exact from the table
    ``scattering_integral``, X_S that of each segment's material, summed by the walk), applied
    at a random hinge (Fippel & Soukup 2004, Med. Phys. 31:2263).

    The hinge lies where a uniform fraction of the step's scattering has happened, i.e. with
    density proportional to T_dM along the step (for constant T_dM, uniform in path length as in
    Fippel & Soukup), so that the lateral-displacement variance int T(s')(s - s')^2 ds' is right
    at every depth inside the step. In the table index f the density is f_dM(f) h(f), h the
    increment of the (piecewise-linear) scattering integral over the interval holding f; h falls
    with the index (checked when the tables are built), so h_max, that of the step's lowest
    interval, bounds it over the step, as A = c0 + c2 lg(pv_start) bounds f_dM (its
    lg(1 - (pv/p1v1)^2) term is <= 0 with a positive coefficient, and pv falls). Candidates
    uniform in f between the step's ends (no search) are accepted with probability
    (h/h_max)(f_dM/A) (von Neumann rejection); a squeeze, ln x >= 1 - 1/x, accepts most of them
    without the logarithm. The deflection's random numbers are drawn here too, before the walk.

    Returns (hinge, f_h, k_mcs, chi2, px, py, pz): whether there is a hinge, its table index,
    theta^2 per unit of rho l / X_S [rad^2 cm^2/g per cm^2/g], and the deflection draw."""
    f_mid = 0.5 * (fT + f_stop)
    lg_pv_tab, inv_pv2_tab, scat_int_tab = tab.lg_pv, tab.inv_pv2, tab.scattering_integral
    fdm = f_dm_of(p1v1_inv2, lin(inv_pv2_tab, sp, f_mid), lin(lg_pv_tab, sp, f_mid))
    if fdm <= 0.0:
        return False, fT, 0.0, 0.0, 0.0, 0.0, 0.0
    n_grid = scat_int_tab.shape[1]
    dsg_step = lin(scat_int_tab, row, fT) - lin(scat_int_tab, row, f_stop)
    k_mcs = fdm * z2 * E_S2_MEV2 * dsg_step / (R0 - R_s)
    a_max = _FDM0 + _FDM2 * lin(lg_pv_tab, sp, fT)
    i_lo = min(int(f_stop), n_grid - 2)
    ah_max = a_max * (scat_int_tab[U(row), U(i_lo + 1)] - scat_int_tab[U(row), U(i_lo)])
    df_step = fT - f_stop
    f_h = fT
    for _try in range(MAX_HINGE_TRIES):
        f_h = f_stop + uniform(st) * df_step
        ih = min(int(f_h), n_grid - 2)
        h = scat_int_tab[U(row), U(ih + 1)] - scat_int_tab[U(row), U(ih)]
        inv_h = lin(inv_pv2_tab, sp, f_h)
        lgp_h = lin(lg_pv_tab, sp, f_h)
        ua = uniform(st) * ah_max
        r2 = 1.0 - p1v1_inv2 / inv_h
        if r2 > 0.0 and ua <= h * (_FDM0 + _FDM2 * lgp_h + (_FDM1 - _FDM3 * lgp_h) * (1.0 - 1.0 / r2) * _INV_LN10):
            break
        if ua <= h * f_dm_of(p1v1_inv2, inv_h, lgp_h):
            break
    chi2, px, py, pz = deflection_draw(st, u, v, w)
    return True, f_h, k_mcs, chi2, px, py, pz


@jit_stage
def plan_step(st, T, fT, row, sp, rho, u, v, w, z2, p1v1_inv2, n_mfp, db_vox, r_cut, f_cut, spare, has_spare,
              tab, sigma_tab, par):
    """The :class:`StepPlan` of the next step of a particle of kinetic energy ``T`` [MeV]
    (table index ``fT``, species ``sp``, charge squared ``z2``, initial 1/(p1v1)^2 [MeV^-2])
    direction (u, v, w), starting in a voxel of density ``rho`` [g/cm^3] (table row ``row``):
    its length (:func:`step_length`), its straggling (:func:`straggling_factor`; not on the
    last step of a track, which ends at a fixed point: its range straggling is below 0.05 mm,
    and the thick-absorber variance, which assumes the particle goes on, would only move energy
    between its path and its end point) and its multiple-scattering hinge
    (:func:`scattering_plan`). Returns (plan, spare, has_spare)."""
    R0, R_s, f_stop, E_stop, final, planned_int, maj0 = step_length(T, fT, row, rho, n_mfp, db_vox, r_cut, f_cut,
                                                                    tab, sigma_tab, par)
    dE_plan = T - E_stop
    c_str = 1.0
    if par.straggling and dE_plan > 0.0 and not final:
        c_str, spare, has_spare = straggling_factor(st, T, fT, f_stop, dE_plan, row, tab, spare, has_spare)
    hinge = False
    f_h, k_mcs, chi2, px, py, pz = fT, 0.0, 0.0, 0.0, 0.0, 0.0
    if par.scattering and dE_plan > 0.0 and R0 > R_s:
        hinge, f_h, k_mcs, chi2, px, py, pz = scattering_plan(st, fT, f_stop, R0, R_s, row, sp, z2, p1v1_inv2,
                                                              u, v, w, tab)
    plan = StepPlan(row, R0, R_s, f_stop, E_stop, final, planned_int, maj0, c_str, hinge, f_h, k_mcs, chi2, px, py,
                    pz)
    return plan, spare, has_spare
