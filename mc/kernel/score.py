"""Scoring: deposits made on the spot, the LET sums and the touched-voxel list.

The deposits along a step are scored inside the voxel walk (:func:`mc.kernel.walk.walk_step`);
here are the deposits of particles that end where they are (below the cut-off, products that
are not transported, nuclear recoils and short-range fragments) and the helpers of the
optional tallies:

* dose to water: a deposit is weighted by the water/medium mass stopping-power ratio
  S_w/S_m at the depositing particle's energy (Paganetti 2009, Phys. Med. Biol. 54:4399,
  eq. 1). Heavy fragments and recoils deposited on the spot, whose ratio is not tabulated,
  take the projectile's ratio at the reaction energy (the water/medium ratio of the
  electronic stopping power changes little with the particle at equal velocity);
* LET: sums of eps L and l L (eps the deposit [MeV], l the track length [cm], L the
  unrestricted electronic stopping power [keV/um]) per voxel, for all transported charged
  particles and for primaries (layout ``mc.kernel.layout.LET_*``; the estimators are in
  :class:`mc.tally.LetTally`);
* the touched-voxel list: every voxel with a deposit, once, so that one spot's deposits can be
  read out without scanning the grid (per-spot dose for the FLASH analysis).

Energies in MeV, lengths in cm, mass stopping powers in MeV cm^2/g.
"""

from mc.jit import jit_stage

from .layout import (CLASS_LOCAL, COUNTER_CUTOFF, COUNTER_NOT_TRANSPORTED, LET_EPS, LET_EPS_LM, LET_EPS_LW, LET_LEN,
                     LET_LEN_LM, LET_LEN_LW, LET_PRIMARY)
from .lookup import U, energy_index, lin

#: keV/um per MeV/cm.
KEV_PER_UM = 0.1


@jit_stage
def mark(touched_mark, touched, nt, v_flat):
    """List flat voxel index ``v_flat`` in ``touched[nt]`` unless already flagged; returns the
    new count."""
    if touched_mark[U(v_flat)] == 0:
        touched_mark[U(v_flat)] = 1
        touched[U(nt)] = v_flat
        nt += 1
    return nt


@jit_stage
def let_add(let_acc, k, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w):
    """Add one track segment to the six LET sums starting at ``k``."""
    a = U(ix)
    b = U(iy)
    c = U(iz)
    let_acc[U(k + LET_EPS), a, b, c] += eps
    let_acc[U(k + LET_EPS_LM), a, b, c] += eps * Ld_m
    let_acc[U(k + LET_EPS_LW), a, b, c] += eps * Ld_w
    let_acc[U(k + LET_LEN), a, b, c] += ell
    let_acc[U(k + LET_LEN_LM), a, b, c] += ell * Lt_m
    let_acc[U(k + LET_LEN_LW), a, b, c] += ell * Lt_w


@jit_stage
def let_score(let_acc, primary, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w):
    """Add one track segment (deposit ``eps`` [MeV], length ``ell`` [cm]) with its LET in the
    medium and in water [keV/um] for the dose weighting (``Ld_*``) and the length weighting
    (``Lt_*``; the same for a condensed-history step) to the all-particle and, for a primary,
    the primary-only LET sums."""
    let_add(let_acc, 0, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w)
    if primary:
        let_add(let_acc, LET_PRIMARY, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w)


@jit_stage
def let_dump(let_acc, primary, ix, iy, iz, T, row, f, range_tab, s_int_tab, water_ratio, rho):
    """LET sums of a particle of kinetic energy ``T`` [MeV] (table index ``f``, row ``row``)
    that stops on the spot, as if it slowed down continuously over its residual track
    R(T)/rho: the length weighting sees the track-mean stopping power T/R(T), the dose
    weighting the dose-mean int_0^T S dT'/T (each energy loss dT' carries its own S)."""
    R = lin(range_tab, row, f)
    if R > 0.0 and T > 0.0:
        s_t = T / R
        s_d = lin(s_int_tab, row, f) / T
        wr = lin(water_ratio, row, f) * KEV_PER_UM
        let_score(let_acc, primary, ix, iy, iz, T, R / rho, s_d * rho * KEV_PER_UM, s_d * wr,
                  s_t * rho * KEV_PER_UM, s_t * wr)


@jit_stage
def deposit_track_end(T, f, row, rho, ix, iy, iz, primary, cls, dep, tal, tab, nz, ny,
                      do_sec, do_water, do_let, do_touch, nt):
    """The end of a track: a particle of kinetic energy ``T`` [MeV] (table index ``f``, table
    row ``row``) below the cut-off, or at the end of its last step (what the straggling of the
    last step left is far below a voxel's range), deposits it in voxel (ix, iy, iz) of density
    ``rho``; ``cls`` is its deposit class. Returns the touched-voxel count."""
    tal.edep[ix, iy, iz] += T
    dep[cls] += T
    tal.counters[COUNTER_CUTOFF] += T
    if do_sec and not primary:
        tal.edep_sec[ix, iy, iz] += T
    if do_water:
        tal.edep_water[ix, iy, iz] += T * lin(tab.water_ratio, row, f)
    if do_let:
        let_dump(tal.let, primary, ix, iy, iz, T, row, f, tab.range, tab.stopping_integral, tab.water_ratio, rho)
    if do_touch:
        nt = mark(tal.touched_mark, tal.touched, nt, (ix * ny + iy) * nz + iz)
    return nt


@jit_stage
def deposit_product(T, cutoff, row, cls, rho, ix, iy, iz, dep, tal, tab, do_sec, do_water, do_let):
    """A charged product of kinetic energy ``T`` [MeV] (table row ``row`` of its species in
    this voxel's material, deposit class ``cls``) that is not transported, because it is below
    its species' cut-off ``cutoff`` or the particle stack is full, deposits its energy in voxel
    (ix, iy, iz) of density ``rho``; dose to water and LET use its own species and energy."""
    tal.edep[ix, iy, iz] += T
    dep[cls] += T
    if T > cutoff:
        tal.counters[COUNTER_NOT_TRANSPORTED] += T
    else:
        tal.counters[COUNTER_CUTOFF] += T
    if do_sec:
        tal.edep_sec[ix, iy, iz] += T
    f = energy_index(T, tab.lnT0, tab.inv_dlnT)
    if do_water:
        tal.edep_water[ix, iy, iz] += T * lin(tab.water_ratio, row, f)
    if do_let:
        let_dump(tal.let, False, ix, iy, iz, T, row, f, tab.range, tab.stopping_integral, tab.water_ratio, rho)


@jit_stage
def deposit_local(E, ix, iy, iz, row, f, dep, tal, tab, do_sec, do_water):
    """Energy ``E`` [MeV] of short-range fragments or a nuclear recoil, deposited on the spot in
    voxel (ix, iy, iz); dose to water with the projectile's stopping-power ratio (table row
    ``row``, index ``f`` of its energy at the reaction)."""
    tal.edep[ix, iy, iz] += E
    dep[CLASS_LOCAL] += E
    if do_sec:
        tal.edep_sec[ix, iy, iz] += E
    if do_water:
        tal.edep_water[ix, iy, iz] += E * lin(tab.water_ratio, row, f)
