"""Discrete nuclear interactions at the end of a step (:mod:`physics.nuclear`).

Free paths are sampled with the step majorant of the total cross section (the
fictitious-interaction method, :func:`physics.tables.majorant_sigma`); at a site the
interaction is real with probability sigma(T)/majorant, and its channel (p-p elastic, p-16O
elastic, or a non-elastic reaction on one of the material's elements) is drawn in proportion
to the channel cross sections there. Charged products that are transported go on the particle
stack; the others deposit their energy on the spot (:mod:`mc.kernel.score`).

Ions (4He, 12C and the fragments with z > 1): every real interaction is a nuclear reaction (the
total reaction cross section of Tripathi et al. 1996/1999, :mod:`physics.ion_nuclear`; elastic
nuclear scattering of ions is not modelled), whose products are drawn by the abrasion-ablation
model of :mod:`physics.fragmentation` (:func:`ion_reaction`): charged fragments and nucleons
go on the stack, neutrons and gamma rays and the binding energy are booked.
"""

import math

from mc.jit import jit_rare, jit_stage
from physics.nuclear import (CHANNEL_NONE, CHANNEL_PO_ELASTIC, CHANNEL_PP_ELASTIC, cos_lab_elastic,
                             pp_elastic_energies, sample_nonelastic_products)
from physics.po_elastic import po_elastic_collision
from physics.fragmentation import sample_fragmentation
from physics.species import SPECIES_PROTON

from .layout import (COUNTER_BINDING, COUNTER_NEUTRAL, COUNTER_NONELASTIC,
                     COUNTER_NONELASTIC_ENERGY,
                     COUNTER_NONELASTIC_PRIMARY, COUNTER_NONELASTIC_PRIMARY_ENERGY, COUNTER_NOT_TRANSPORTED,
                     COUNTER_PO_ELASTIC, COUNTER_PP_ELASTIC, COUNTER_REJECTED, PRODUCT_COS, PRODUCT_PHI,
                     PRODUCT_SPECIES, PRODUCT_T)
from .lookup import U, lin3
from .rng import uniform
from .score import deposit_local, deposit_product, let_block
from .stack import has_room, push

_TWO_PI = 2.0 * math.pi


@jit_stage
def rotate(u, v, w, ct, s1, s2):
    """Direction (u, v, w) turned by a polar angle theta and azimuth phi about itself, given
    ct = cos(theta), s1 = sin(theta) cos(phi), s2 = sin(theta) sin(phi). The local frame is
    e1 = (u w, v w, -(1 - w^2)) / sqrt(1 - w^2), e2 = (-v, u, 0) / sqrt(1 - w^2)."""
    sw2 = 1.0 - w * w
    if sw2 > 1e-12:
        isw = 1.0 / math.sqrt(sw2)
        un = ct * u + (s1 * u * w - s2 * v) * isw
        vn = ct * v + (s1 * v * w + s2 * u) * isw
        wn = ct * w - s1 * sw2 * isw
    else:
        un = s1
        vn = s2
        wn = ct if w > 0.0 else -ct
    # renormalise (rounding only: the rotation preserves the norm)
    nrm = 1.5 - 0.5 * (un * un + vn * vn + wn * wn)
    return un * nrm, vn * nrm, wn * nrm


@jit_stage
def select_channel(st, row, m, fT, maj, nuc, part):
    """The process at an interaction site in material ``m`` (table row ``row``) for a particle
    at table index ``fT``, sampled with the majorant ``maj`` [cm^2/g]: CHANNEL_NONE for a
    fictitious site (probability 1 - sigma/maj), else the kind (``physics.nuclear.CHANNEL_*``)
    of a channel drawn in proportion to its cross section (``part``: scratch, one element per
    channel); returns (kind, channel index; -1 for a fictitious site)."""
    n_chan = nuc.chan_kind.shape[1]
    tot = 0.0
    for kc in range(n_chan):
        part[kc] = lin3(nuc.chan_xs, row, kc, fT)
        tot += part[kc]
    if uniform(st) * maj >= tot:
        return CHANNEL_NONE, -1
    r = uniform(st) * tot
    kc = 0
    while kc < n_chan - 1 and r >= part[kc]:
        r -= part[kc]
        kc += 1
    return nuc.chan_kind[U(m), U(kc)], kc


@jit_stage
def azimuth(st):
    """cos and sin of an azimuth uniform on [0, 2 pi)."""
    phi = _TWO_PI * uniform(st)
    return math.cos(phi), math.sin(phi)


@jit_stage
def is_transported(T, sp, spc, stack, n_stack):
    """Whether a product of species ``sp`` and kinetic energy ``T`` [MeV] is followed: above its
    species' cut-off, of a transported species, and with room on the stack."""
    return T > spc.cutoff[sp] and spc.transported[sp] != 0 and has_room(stack, n_stack)


@jit_stage
def pp_elastic(st, T, u, v, w, cph, sph, x, y, z, ix, iy, iz, m, rho, stack, n_stack, spc, dep, tal, tab,
               do_sec, do_water, do_let):
    """p-p elastic collision (isotropic in the centre-of-mass frame, :mod:`physics.nuclear`) of a
    proton of kinetic energy ``T`` [MeV] and direction (u, v, w), at azimuth (cph, sph): the more
    energetic proton carries the track on (and keeps its primary status), the other is pushed on
    the stack or deposited. Returns (T1, u, v, w, n_stack) of the continuing proton."""
    tal.counters[COUNTER_PP_ELASTIC] += 1.0
    T1, T2 = pp_elastic_energies(st, T)
    M_p = spc.mass[SPECIES_PROTON]
    c1 = cos_lab_elastic(T1, T, M_p)
    c2 = cos_lab_elastic(T2, T, M_p)
    s1 = math.sqrt(max(0.0, 1.0 - c1 * c1))
    s2 = math.sqrt(max(0.0, 1.0 - c2 * c2))
    u2, v2, w2 = rotate(u, v, w, c2, -s2 * cph, -s2 * sph)
    u, v, w = rotate(u, v, w, c1, s1 * cph, s1 * sph)
    if is_transported(T2, SPECIES_PROTON, spc, stack, n_stack):
        n_stack = push(stack, n_stack, x, y, z, u2, v2, w2, T2, SPECIES_PROTON)
    else:
        deposit_product(T2, spc.cutoff[SPECIES_PROTON], spc.row0[SPECIES_PROTON] + m,
                        spc.secondary_class[SPECIES_PROTON], let_block(spc.let_block[SPECIES_PROTON], False), rho,
                        ix, iy, iz, dep, tal, tab, do_sec, do_water, do_let)
    return T1, u, v, w, n_stack


@jit_stage
def po_elastic(st, T, M, u, v, w, cph, sph, ix, iy, iz, row, fT, nuc, dep, tal, tab, do_sec, do_water):
    """p-16O elastic collision (ICRU 63, :func:`physics.po_elastic.po_elastic_collision`) of a
    projectile of kinetic energy ``T`` [MeV], mass ``M`` [MeV] and direction (u, v, w), at
    azimuth (cph, sph): the recoil's energy is deposited on the spot, the projectile is deflected
    by the momentum transfer. Returns (T3, u, v, w) of the projectile."""
    tal.counters[COUNTER_PO_ELASTIC] += 1.0
    d_rec, c1 = po_elastic_collision(st, T, M, nuc.po_elastic)
    s1 = math.sqrt(1.0 - c1 * c1)
    u, v, w = rotate(u, v, w, c1, s1 * cph, s1 * sph)
    deposit_local(d_rec, ix, iy, iz, row, fT, dep, tal, tab, do_sec, do_water)
    return T - d_rec, u, v, w


@jit_stage
def count_reaction(T, primary, counters):
    """Count a non-elastic reaction of a particle of kinetic energy ``T`` [MeV] (of a primary if
    ``primary``): events and the energy entering them."""
    counters[COUNTER_NONELASTIC] += 1.0
    counters[COUNTER_NONELASTIC_ENERGY] += T
    if primary:
        counters[COUNTER_NONELASTIC_PRIMARY] += 1.0
        counters[COUNTER_NONELASTIC_PRIMARY_ENERGY] += T


@jit_stage
def emit_products(st, n_prod, prod, draw_azimuth, u, v, w, x, y, z, ix, iy, iz, m, rho, stack, n_stack, spc, dep, tal,
                  tab, do_sec, do_water, do_let):
    """The ``n_prod`` charged products of a reaction (rows of ``prod``, columns ``PRODUCT_*``) of
    a projectile with direction (u, v, w) at (x, y, z) [cm], voxel (ix, iy, iz) of material
    ``m`` and density ``rho``: a transported product goes on the stack in the direction of its
    polar angle to the projectile and an azimuth drawn uniformly (``draw_azimuth``: the proton
    model's products) or its own (``PRODUCT_PHI``: the fragments of an ion reaction); the
    others are deposited on the spot with their own species' dose to water and LET. Returns the
    stack count."""
    for j in range(n_prod):
        Tj = prod[j, PRODUCT_T]
        spj = int(prod[j, PRODUCT_SPECIES])
        if is_transported(Tj, spj, spc, stack, n_stack):
            cj = prod[j, PRODUCT_COS]
            sj = math.sqrt(max(0.0, 1.0 - cj * cj))
            ph = _TWO_PI * uniform(st) if draw_azimuth else prod[j, PRODUCT_PHI]
            uj, vj, wj = rotate(u, v, w, cj, sj * math.cos(ph), sj * math.sin(ph))
            n_stack = push(stack, n_stack, x, y, z, uj, vj, wj, Tj, spj)
        else:
            deposit_product(Tj, spc.cutoff[spj], spc.row0[spj] + m, spc.secondary_class[spj],
                            let_block(spc.let_block[spj], False), rho, ix, iy, iz, dep, tal, tab, do_sec, do_water,
                            do_let and spc.let_scored[spj] != 0)
    return n_stack


@jit_stage
def nonelastic(st, T, M, primary, u, v, w, x, y, z, ix, iy, iz, m, rho, row, fT, stack, n_stack, prod, spc, nuc, dep,
               tal, tab, do_sec, do_water, do_let):
    """Non-elastic reaction of a projectile of kinetic energy ``T`` [MeV], mass ``M`` [MeV] and
    direction (u, v, w):
    the projectile is absorbed, its energy shared by the products of
    :func:`physics.nuclear.sample_nonelastic_products`. Transported products go on the stack in
    the direction given by their polar angle to the projectile and a uniform azimuth; the
    others, short-range fragments and the residual excitation are deposited on the spot;
    neutral particles and binding energy are booked. Returns the stack count."""
    counters = tal.counters
    count_reaction(T, primary, counters)
    n_prod, e_loc, e_neu, e_bind, e_ovf = sample_nonelastic_products(st, T, nuc.product_model, prod, M)
    counters[COUNTER_NEUTRAL] += e_neu
    counters[COUNTER_BINDING] += e_bind
    counters[COUNTER_NOT_TRANSPORTED] += e_ovf
    n_stack = emit_products(st, n_prod, prod, True, u, v, w, x, y, z, ix, iy, iz, m, rho, stack, n_stack, spc, dep, tal,
                            tab, do_sec, do_water, do_let)
    deposit_local(e_loc, ix, iy, iz, row, fT, dep, tal, tab, do_sec, do_water)
    return n_stack


@jit_stage
def ion_reaction(st, T, sp, primary, u, v, w, x, y, z, ix, iy, iz, m, kc, rho, row, fT, stack, n_stack, prod, scratch,
                 spc, nuc, dep, tal, tab, do_sec, do_water, do_let):
    """Nuclear reaction of an ion of species ``sp`` and kinetic energy ``T`` [MeV] on the target of
    channel ``kc`` of material ``m``: counted as a non-elastic reaction (of a primary if
    ``primary``), its products drawn by :func:`physics.fragmentation.sample_fragmentation`.
    Transported products go on the stack in their own direction about the ion's; the others
    are deposited on the spot; neutral particles and binding energy are booked. Returns the
    stack count."""
    counters = tal.counters
    count_reaction(T, primary, counters)
    n_prod, e_neu, e_bind, e_loc = sample_fragmentation(st, sp, T, spc.mass[sp], spc.A[sp], int(spc.charge[sp]), m, kc,
                                                        nuc.frag, prod, scratch)
    counters[COUNTER_NEUTRAL] += e_neu
    counters[COUNTER_BINDING] += e_bind
    n_stack = emit_products(st, n_prod, prod, False, u, v, w, x, y, z, ix, iy, iz, m, rho, stack, n_stack, spc, dep,
                            tal, tab, do_sec, do_water, do_let)
    if e_loc > 0.0:
        deposit_local(e_loc, ix, iy, iz, row, fT, dep, tal, tab, do_sec, do_water)
    return n_stack


# ---- what an interaction did to the particle -----------------------------------------------
OUTCOME_FICTITIOUS = 0  # a rejected site of the majorant sampling: nothing happened
OUTCOME_DEFLECTED = 1  # elastic scattering on a nucleus: new energy and direction, same track
OUTCOME_NEW_TRACK = 2  # p-p elastic: the continuing proton starts anew (its initial pv for f_dM)
OUTCOME_ABSORBED = 3  # non-elastic: the projectile is gone, its products on the stack


def make_interact(ions):
    """The interaction stage (:func:`interact` below), compiled with the ion reactions
    (``ions`` True: the stage of ion runs) or without them (False: proton runs, whose kernel
    then has none of the fragmentation code to compile). ``ions`` is a closure constant, so
    the branch is pruned before type inference."""

    @jit_rare
    def interact(st, T, M, sp, primary, u, v, w, x, y, z, ix, iy, iz, m, rho, row, fT, maj, work, n_stack, spc, nuc,
                 dep, tal, tab, opt):
        """The discrete interaction at a site: the channel (:func:`select_channel`, a fictitious
        site counted in ``COUNTER_REJECTED``), then p-p elastic, p-16O elastic or a non-elastic
        reaction of the particle (kinetic energy ``T`` [MeV], mass ``M`` [MeV], species ``sp``, direction (u, v, w),
        position (x, y, z) [cm] in voxel (ix, iy, iz) of material ``m``, density ``rho``, table row
        ``row``, index ``fT``; ``maj`` the step majorant [cm^2/g]). ``work`` holds the stack, the
        product buffer, the channel scratch and the break-up scratch; ``opt`` the switches of the optional tallies
        (secondary dose, dose to water, LET, touched voxels). Returns (outcome ``OUTCOME_*``, T, u,
        v, w, n_stack)."""
        stack, prod, part, scratch = work
        do_sec, do_water, do_let, _ = opt
        kind, kc = select_channel(st, row, m, fT, maj, nuc, part)
        if kind == CHANNEL_NONE:
            tal.counters[COUNTER_REJECTED] += 1.0
            return OUTCOME_FICTITIOUS, T, u, v, w, n_stack
        if ions:
            if spc.ion_reaction[sp] != 0:
                n_stack = ion_reaction(st, T, sp, primary, u, v, w, x, y, z, ix, iy, iz, m, kc, rho, row, fT, stack,
                                       n_stack, prod, scratch, spc, nuc, dep, tal, tab, do_sec, do_water, do_let)
                return OUTCOME_ABSORBED, T, u, v, w, n_stack
        cph, sph = azimuth(st)
        if kind == CHANNEL_PP_ELASTIC:
            T, u, v, w, n_stack = pp_elastic(st, T, u, v, w, cph, sph, x, y, z, ix, iy, iz, m, rho, stack, n_stack, spc,
                                             dep, tal, tab, do_sec, do_water, do_let)
            return OUTCOME_NEW_TRACK, T, u, v, w, n_stack
        if kind == CHANNEL_PO_ELASTIC:
            T, u, v, w = po_elastic(st, T, M, u, v, w, cph, sph, ix, iy, iz, row, fT, nuc, dep, tal, tab, do_sec,
                                    do_water)
            return OUTCOME_DEFLECTED, T, u, v, w, n_stack
        n_stack = nonelastic(st, T, M, primary, u, v, w, x, y, z, ix, iy, iz, m, rho, row, fT, stack, n_stack, prod,
                             spc, nuc, dep, tal, tab, do_sec, do_water, do_let)
        return OUTCOME_ABSORBED, T, u, v, w, n_stack

    return interact


#: The interaction stage of proton runs and of ion runs (:func:`make_interact`).
interact = make_interact(False)
interact_ions = make_interact(True)
