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

from .layout import (CLASS_LOCAL, COUNTER_CUTOFF, COUNTER_ESCAPED, COUNTER_FORWARD, COUNTER_NOT_TRANSPORTED,
                     FACE_PLUS_Z, FORWARD_COS, LET_EPS, LET_EPS_LM, LET_EPS_LW, LET_LEN, LET_LEN_LM, LET_LEN_LW,
                     LET_EPS_Z, LET_PRIMARY)
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
def count_escape(counters, face, T, w, grp):
    """A charged particle of kinetic energy ``T`` [MeV], direction cosine ``w`` along z and
    fragment group ``grp`` leaves the grid through ``face``: its energy is booked there, and it
    is counted in ``COUNTER_FORWARD`` if it leaves through +z within ``FORWARD_CONE_DEG``."""
    counters[COUNTER_ESCAPED + face] += T
    if face == FACE_PLUS_Z and w >= FORWARD_COS:
        counters[COUNTER_FORWARD + grp] += 1.0


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
def let_score(let_acc, blk, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w, zs):
    """Add one track segment (deposit ``eps`` [MeV], length ``ell`` [cm]) with its LET in the
    medium and in water [keV/um] for the dose weighting (``Ld_*``) and the length weighting
    (``Lt_*``; the same for a condensed-history step) to the all-particle sums and, if
    ``blk`` >= 0, to the block of sums starting there (:func:`let_block`); with the MKM
    (``zs`` > 0, the particle's z1D* [Gy]) eps zs to ``LET_EPS_Z``."""
    let_add(let_acc, 0, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w)
    if blk >= 0:
        let_add(let_acc, blk, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w)
    if zs > 0.0:
        let_acc[U(LET_EPS_Z), U(ix), U(iy), U(iz)] += eps * zs


@jit_stage
def zstar_at(zstar_tab, row, f):
    """z1D* [Gy] of table row ``row`` at table index ``f`` (:func:`mc.rbe_dose.mkm_zstar_table`),
    or 0 when the run has no MKM (a 1 x 1 placeholder table)."""
    if zstar_tab.shape[1] > 1:
        return lin(zstar_tab, row, f)
    return 0.0


@jit_stage
def let_block(sp_block, primary):
    """The second block of LET sums a particle adds to: its fragment group's in an ion run
    (``sp_block`` >= 0, :class:`mc.kernel.bundles.SpeciesTable` ``let_block``), else the
    primaries' block for a primary and none (-1) for a secondary."""
    if sp_block >= 0:
        return sp_block
    return LET_PRIMARY if primary else -1


@jit_stage
def let_dump(let_acc, blk, ix, iy, iz, T, row, f, range_tab, s_int_tab, water_ratio, zstar_tab, rho):
    """LET sums of a particle of kinetic energy ``T`` [MeV] (table index ``f``, row ``row``)
    that stops on the spot, as if it slowed down continuously over its residual track
    R(T)/rho: the length weighting sees the track-mean stopping power T/R(T), the dose
    weighting the dose-mean int_0^T S dT'/T (each energy loss dT' carries its own S); z1D*
    that at T (the residual energy of a track end is below the cut-off)."""
    R = lin(range_tab, row, f)
    if R > 0.0 and T > 0.0:
        s_t = T / R
        s_d = lin(s_int_tab, row, f) / T
        wr = lin(water_ratio, row, f) * KEV_PER_UM
        let_score(let_acc, blk, ix, iy, iz, T, R / rho, s_d * rho * KEV_PER_UM, s_d * wr,
                  s_t * rho * KEV_PER_UM, s_t * wr, zstar_at(zstar_tab, row, f))


@jit_stage
def deposit_track_end(T, f, row, rho, ix, iy, iz, primary, blk, cls, dep, tal, tab, nz, ny,
                      do_sec, do_water, do_let, do_touch, nt):
    """The end of a track: a particle of kinetic energy ``T`` [MeV] (table index ``f``, table
    row ``row``) below the cut-off, or at the end of its last step (what the straggling of the
    last step left is far below a voxel's range), deposits it in voxel (ix, iy, iz) of density
    ``rho``; ``cls`` is its deposit class, ``blk`` its second block of LET sums
    (:func:`let_block`). Returns the touched-voxel count."""
    tal.edep[ix, iy, iz] += T
    dep[cls] += T
    tal.counters[COUNTER_CUTOFF] += T
    if do_sec and not primary:
        tal.edep_sec[ix, iy, iz] += T
    if do_water:
        tal.edep_water[ix, iy, iz] += T * lin(tab.water_ratio, row, f)
    if do_let:
        let_dump(tal.let, blk, ix, iy, iz, T, row, f, tab.range, tab.stopping_integral, tab.water_ratio, tab.zstar, rho)
    if do_touch:
        nt = mark(tal.touched_mark, tal.touched, nt, (ix * ny + iy) * nz + iz)
    return nt


@jit_stage
def deposit_product(T, cutoff, row, cls, blk, rho, ix, iy, iz, dep, tal, tab, do_sec, do_water, do_let):
    """A charged product of kinetic energy ``T`` [MeV] (table row ``row`` of its species in
    this voxel's material, deposit class ``cls``) that is not transported, because it is below
    its species' cut-off ``cutoff`` or the particle stack is full, deposits its energy in voxel
    (ix, iy, iz) of density ``rho``; dose to water and LET use its own species and energy
    (``blk``: its second block of LET sums, :func:`let_block`)."""
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
        let_dump(tal.let, blk, ix, iy, iz, T, row, f, tab.range, tab.stopping_integral, tab.water_ratio, tab.zstar, rho)


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
