"""Condensed-history transport of one batch of histories: the kernel's control loop.

One call transports one batch of primaries and all their charged secondaries and adds to the
tallies passed in. Everything is a plain array in a typed bundle (:mod:`mc.kernel.bundles`);
the kernel never calls back into Python. The loop below is short: each stage of a history is
a named function of its own module.

    for each history:
        sample_source                                  (mc.kernel.source)
        distance_to_grid: move to the grid, or missed  (mc.kernel.walk)
        for the primary, then each particle popped from the stack (mc.kernel.stack):
            start_particle
            for each step:
                locate, start_walker                   (mc.kernel.walk)
                plan_step: length, straggling, hinge   (mc.kernel.step)
                walk_step: the voxel walk and deposits (mc.kernel.walk)
                deposit_track_end, or                  (mc.kernel.score)
                interact: channel, products            (mc.kernel.interact)

Units: positions and step lengths in cm, energies in MeV, densities in g/cm^3, areal densities
and ranges in g/cm^2, angles in rad.

Steps span many voxels (class II condensed history with the voxel walk of the VMC family of
codes: Kawrakow, Fippel & Friedrich 1996, Med. Phys. 23:445; for protons Fippel & Soukup 2004,
Med. Phys. 31:2263). Physics of a step of a charged hadron starting in a voxel of material m,
density rho:

1. Step plan (:func:`mc.kernel.step.step_length`), in the residual CSDA range R(T) [g/cm^2]
   of that material: the range lost dR = a R + r_f (1 - a)(2 - r_f/R) for R > r_f, else the
   whole residual range (the step function of Geant4, Physics Reference Manual, "Step
   limitation"; a = ``max_range_fraction``, r_f = ``final_range``), at most rho times
   ``max_step`` (see item 4), or less if the next discrete-interaction site (number of mean free
   paths drawn from an exponential, consumed along the path) comes first. The step ends at the
   energy where R has dropped by dR (table index ``f_stop``); a last step ends at the cut-off
   energy of the species, where the particle deposits what is left. With ``voxel_steps`` every
   step also ends at the first voxel boundary (the reference mode against which the multi-voxel
   steps are tested).
2. Voxel walk (:func:`mc.kernel.walk.walk_step`; Amanatides & Woo 1987): the straight path is
   cut at voxel boundaries. Each segment of length l in a voxel of material m', density rho',
   loses the mean CSDA energy of its own material: its residual range in m' drops by rho' l and
   the energy follows the exact inverse of the piecewise-linear R(ln T) table
   (:mod:`physics.tables`). Heterogeneous voxels (CT) therefore need no step end at every
   boundary, and the mean energy loss telescopes, so energy is conserved exactly.
3. Straggling (:func:`mc.kernel.step.straggling_factor`, :mod:`physics.straggling`): the
   energy at the step's end, T_b, gets the variance (S(T_b)/rho)^2 (Omega_R(T_a) - Omega_R(T_b)),
   Omega_R the range-straggling integral of the relativistic Bohr variance
   (:mod:`physics.tables`): the first-order propagation of Bohr straggling through a thick
   absorber (Tschalaer 1968; ICRU Report 49). Because a step's end is fixed in residual range,
   the energy deviations of earlier steps carry over as range deviations, and the range
   straggling of a track (the distal fall-off) does not depend on the step length. Gaussian
   when the mean loss exceeds 5 sigma, otherwise a gamma law with the same mean and variance
   (thin steps). The sampled/mean ratio scales every segment's deposit of the step. (In a step
   that crosses materials the variance is that of the starting material.) The last step of a
   track (to the cut-off) is not straggled: it ends at a fixed point, its range straggling is
   below 0.05 mm, and the thick-absorber variance, which assumes the particle goes on, would
   only move energy between its path and its end point.
4. Multiple Coulomb scattering (:func:`mc.kernel.step.scattering_plan`,
   :mod:`physics.scattering`): Gaussian projected angles with variance
   theta^2 = z^2 E_s^2 f_dM int dR/(pv)^2 / X_S per plane, T_dM = f_dM (E_s/pv)^2 / X_S the
   differential Moliere scattering power of Gottschalk (2010, Med. Phys. 37:352) with f_dM at
   the mid-step pv and the particle's initial p1v1, the integral of 1/(pv)^2 exact (table) and
   X_S that of each segment's material. The deflection is applied at a random hinge (Fippel &
   Soukup 2004): the path goes straight to the hinge, turns there and goes straight on. The
   hinge density along the step is proportional to T_dM, i.e. the hinge lies where a uniform
   fraction of the step's scattering has happened; this gives the lateral-displacement
   variance int T(s')(z - s')^2 ds' at every depth z in the step (for constant T, uniform in
   path length). It matters in the first centimetres of a track, where f_dM rises from zero:
   placing the hinge by 1/(pv)^2 alone widened the lateral spread there by 3-6 % with steps of
   20-30 % of the range. With one hinge per step the second moments are right at every depth,
   but inside a long step the lateral profile is a scale mixture of Gaussians (tracks turned
   at different hinges, or not yet), with too narrow a core: a Gaussian fitted to the core of
   a 150 MeV point beam's profile came out 16-20 % narrow at 5-6 cm with the 49 mm first step
   of ``max_range_fraction`` 0.3. The step-length limit ``max_step`` (default 20 mm) keeps the
   core within a few per cent of that of short steps. The part of the step after the hinge is
   estimated in the hinge voxel's material.
5. Deposits: each segment's energy goes to its voxel; below the cut-off the remaining kinetic
   energy is deposited where the particle ends (its residual range is far below a voxel).
6. Discrete nuclear interactions (:mod:`mc.kernel.interact`, :mod:`physics.nuclear`) happen
   at the end of a step whose length was set by the sampled free path (in a segment of another
   material, the site is where that material's cross section uses up the free path). Free
   paths are sampled with the majorant of the total cross section over the energies the step
   can reach (:func:`physics.tables.majorant_sigma`) and a site is accepted with probability
   sigma(T_site)/majorant, so the sites follow the energy-dependent cross section exactly
   (fictitious-interaction method) even where it changes fast within a step. At an accepted
   site the channel (p-p elastic, p-16O elastic, or a non-elastic reaction on one of the
   material's elements) is drawn in proportion to the channel cross sections there. Charged
   products that are transported are pushed on the particle stack and followed after the
   current particle ends, in the same loop. A product that cannot be stored (stack of
   ``STACK_MAX`` or ``MAX_PRODUCTS`` full) is deposited on the spot and counted in
   ``COUNTER_NOT_TRANSPORTED``; products below their species' cut-off are deposited on the spot.
7. Dose to water and LET (:mod:`mc.kernel.score`): see there.

A *primary* is a source particle until it undergoes a non-elastic reaction; after a p-p
elastic collision the more energetic of the two protons carries the primary on.

Energy balance counters (``mc.kernel.layout.COUNTER_*``) record every MeV: incident =
deposited + missed + escaped through each face (charged particles) + neutral particles +
nuclear binding energy, each booked where it arises (the binding energy from the product
model's own sum, so the balance is a check, not an identity); the deposit is split into
primaries, secondary protons, other transported secondaries and local deposits (short-range
fragments and nuclear recoils).

Glossary of the kernel's symbols
--------------------------------
``st``            generator state (uint64[4], :mod:`mc.kernel.rng`)
``x, y, z``       position [cm]; ``u, v, w`` unit direction
``T``             kinetic energy [MeV]; ``fT`` its fractional table index (ln T grid)
``sp``            species index (:mod:`physics.species`); ``M`` its mass [MeV], ``z2`` charge^2
``row``           table row of (species, material) = ``spc.row0[sp] + m``; ``m`` material
                  index, ``rho`` density [g/cm^3] of the current voxel
``R``             residual CSDA range [g/cm^2] in the current material (``R0`` at the step's
                  start, ``R_s`` at its planned end, ``R_h`` at the hinge, ``R_int`` at the
                  interaction site, ``R_lim`` the highest of those still ahead)
``f_stop``        table index of the step's mean end energy ``E_stop``; ``E_cur`` the mean CSDA
                  energy along the walk, ``i_cur`` its table interval
``c_str``         straggling factor: sampled/mean energy loss of the step
``n_mfp``         mean free paths left to the next discrete-interaction site
``maj``           step majorant of the nuclear mass cross section [cm^2/g]
``f_h``           table index of the hinge; ``k_mcs`` projected-angle variance per unit of
                  rho l / X_S; ``chi2, px, py, pz`` the deflection's random part
``ix, iy, iz``    voxel indices; ``vi`` flat index; ``tm*, td*, st*`` voxel-walk state per axis
``why``           how a walk ended (``WHY_*``); ``face`` where a particle escaped (``NO_FACE``)
``cls``           deposit class (``CLASS_*``); ``dep`` the batch's deposit per class [MeV]
``box``, ``cz0``  the voxel block with deposits; first layer of the current run in a z-column
``iz_max``        the deepest voxel layer the primary has reached (primary fluence)
``nt``            length of the touched-voxel list (per-spot scoring)
"""

import math

import numpy as np

from mc.jit import jit_kernel, jit_stage
from physics.scattering import pv_of

from .bundles import needs_optional_tallies
from .interact import OUTCOME_ABSORBED, OUTCOME_FICTITIOUS, OUTCOME_NEW_TRACK, interact, interact_ions
from .layout import (CLASS_PRIMARY, COUNTER_HISTORIES, COUNTER_INCIDENT, COUNTER_MISSED,
                     COUNTER_SEGMENTS, COUNTER_STEPS, MAX_FRAGMENTS, MAX_PRODUCTS, N_LET, N_LET_ION, NO_FACE,
                     NOT_IN_GRID, PRODUCT_COLUMNS, WHY_INTERACTION, WHY_STEP_END)
from .lookup import U, energy_index, index_after_loss, lin
from .rng import uniform
from .score import count_escape, deposit_track_end, let_block, mark
from .source import sample_source
from .stack import new_stack, pop
from .step import plan_step
from .walk import (
    PUSH_CM,
    Walker,
    count_primary_layers,
    distance_to_grid,
    flat_grid,
    locate,
    start_walker,
    walk_step,
    widen,
)


@jit_kernel
def cut_off_tables(spc, tab):
    """Per species the table index of its cut-off energy, and per table row the CSDA range
    [g/cm^2] at the cut-off of the row's species."""
    n_sp = spc.cutoff.shape[0]
    f_cut = np.empty(n_sp)
    r_cut = np.empty(tab.range.shape[0])
    for s in range(n_sp):
        f_cut[s] = energy_index(spc.cutoff[s], tab.lnT0, tab.inv_dlnT)
        for mm in range(tab.n_materials):
            r = spc.row0[s] + mm
            r_cut[r] = lin(tab.range, r, f_cut[s])
    return f_cut, r_cut


@jit_stage
def start_particle(st, T, M, tab):
    """A particle of kinetic energy ``T`` and mass ``M`` [MeV] starts a track: 1/(p1v1)^2
    [MeV^-2] (its initial pv, for Gottschalk's f_dM), the table index of T, and the number of
    mean free paths to its first discrete-interaction site (exponential)."""
    p1v1 = pv_of(T, M)
    return 1.0 / (p1v1 * p1v1), energy_index(T, tab.lnT0, tab.inv_dlnT), -math.log(1.0 - uniform(st))


def make_kernel(optional_tallies, ions=False):
    """The transport kernel (see :func:`transport_batch`), compiled either with the optional
    tallies (dose to water, secondary dose, LET, the touched-voxel list) enabled as the
    parameters say (``optional_tallies`` True) or with all of them left out (False); and with
    the ion reactions of :mod:`physics.fragmentation` (``ions``: the kernels of ion runs) or
    without (proton runs: their first run does not compile the fragmentation model).
    ``optional_tallies`` is a closure constant, so the second kernel has none of their code
    in the voxel walk (measured on the development VM: 5-7 % faster, paired runs, than one
    that tests the flags at run time). numba caches each under its own key.

    The history loop and the step loop of a particle are written in the kernel itself; every
    stage is a function of its own (:data:`mc.jit.jit_stage`), which LLVM inlines into the
    kernel. The stages are compiled once and shared by both kernels; the closure constant
    reaches them as a constant argument after inlining. ``ions`` selects the interaction stage
    in a branch that numba prunes before type inference (a stage held in the closure instead
    would be pickled into the cache key with a random identifier, and no run would find the
    cached kernel)."""

    @jit_kernel
    def kernel(n_histories, rng_state, src, geo, tab, spc, nuc, par, tal):
        """Transport one batch (see :func:`transport_batch`)."""
        st = rng_state  # advanced in place: the next call goes on with the same stream
        g = flat_grid(geo, tal.edep)
        f_cut_sp, r_cut_rows = cut_off_tables(spc, tab)
        opt = (optional_tallies and par.secondary, optional_tallies and par.dose_to_water,
               optional_tallies and par.let, optional_tallies and tal.touched.shape[0] > 1)
        do_sec, do_water, do_let, do_touch = opt
        # the arrays the loops use, bound once (reading a bundle's array field inside a loop would
        # take and drop a reference on every pass)
        counters, fluence_z, touched_mark, touched = tal.counters, tal.fluence_z, tal.touched_mark, tal.touched
        sp_mass, sp_charge, sp_row0s, sp_cutoff, sp_class = (spc.mass, spc.charge, spc.row0, spc.cutoff,
                                                             spc.secondary_class)
        sp_let, sp_blk, sp_group = spc.let_scored, spc.let_block, spc.group
        sigma_tab = nuc.sigma
        mat_flat, rho_flat = g.material, g.density
        nt = tal.n_touched[0]
        n_steps = 0.0
        n_segments = 0.0
        bbox = tal.bbox
        box = (bbox[0], bbox[1], bbox[2], bbox[3], bbox[4], bbox[5])
        dep = tal.dep_class  # the batch's deposit per class [MeV], over all its calls
        stack = new_stack()
        work = (stack, np.empty((MAX_PRODUCTS, PRODUCT_COLUMNS)), np.empty(nuc.chan_kind.shape[1]),
                np.empty((MAX_FRAGMENTS, 4)))
        for _h in range(n_histories):
            counters[COUNTER_HISTORIES] += 1.0
            x, y, z, u, v, w, T, sp = sample_source(st, src)
            counters[COUNTER_INCIDENT] += T
            t0 = distance_to_grid(x, y, z, u, v, w, g)
            if t0 < 0.0:
                counters[COUNTER_MISSED] += T
                continue
            x += t0 * u
            y += t0 * v
            z += t0 * w
            # typed, not literal, initial values: a literal 0 or False would have numba compile
            # every stage that takes them twice (once for the literal, once for the variable)
            cls = np.int64(CLASS_PRIMARY)
            iz_max = np.int64(NOT_IN_GRID)
            n_stack = np.int64(0)
            while True:  # ---- the primary, then every particle from the stack ------------
                primary = cls == CLASS_PRIMARY
                M = sp_mass[sp]
                z2 = sp_charge[sp] * sp_charge[sp]
                sp_row0 = sp_row0s[sp]
                let_p = do_let and sp_let[sp] != 0  # proton run: protons alone (README "LET and RBE")
                blk = let_block(sp_blk[sp], primary)
                p1v1_inv2, fT, n_mfp = start_particle(st, T, M, tab)
                spare, has_spare = 0.0, np.bool_(False)  # the second Gaussian of the straggling pair
                dep_p = 0.0  # deposited along this particle's steps [MeV]
                wk = Walker(x, y, z, u, v, w, 0.0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0)
                row, m, rho = sp_row0, 0, 1.0
                cont = False  # the voxel walk goes on from the last step (no turn since)
                while True:  # ---- condensed-history steps ----------------------------------
                    if not cont:
                        ix, iy, iz, face = locate(x, y, z, g)
                        if face != NO_FACE:
                            count_escape(counters, face, T, w, sp_group[sp])
                            break
                        if primary:
                            iz_max = count_primary_layers(fluence_z, iz_max, iz)
                        wk = start_walker(x, y, z, u, v, w, ix, iy, iz, g)
                        m = mat_flat[U(wk.vi)]
                        rho = rho_flat[U(wk.vi)]
                        row = sp_row0 + m
                    box = widen(box, wk.ix, wk.iy, wk.iz)
                    db_vox = max(min(wk.tmx, wk.tmy, wk.tmz) - wk.t_leg, 0.0) + PUSH_CM if par.voxel_steps else 0.0
                    plan, spare, has_spare = plan_step(st, T, fT, row, sp, rho, wk.u, wk.v, wk.w, z2, p1v1_inv2, n_mfp,
                                                       db_vox, r_cut_rows[U(row)], f_cut_sp[sp], spare, has_spare,
                                                       tab, sigma_tab, par)
                    (wk, T, E_cur, f_cur, n_mfp, row, m, rho, maj, why, face, turned, box, iz_max, nt, n_segments,
                     dep_p) = walk_step(wk, wk.iz, box, iz_max, T, fT, sp_row0, primary, blk, n_mfp, plan, g, tab,
                                        sigma_tab, tal, do_sec, do_water, let_p, do_touch, nt, n_segments, dep_p)
                    n_steps += 1.0
                    u, v, w = wk.u, wk.v, wk.w
                    x, y, z = wk.xs + wk.t_leg * u, wk.ys + wk.t_leg * v, wk.zs + wk.t_leg * w
                    if face != NO_FACE:
                        count_escape(counters, face, T, w, sp_group[sp])
                        break
                    cont = not turned
                    # table index of the new energy: the mean end point corrected by the straggling
                    fT = index_after_loss(T, E_cur, f_cur, fT, tab.lnT0, tab.inv_dlnT)
                    if T <= sp_cutoff[sp] or (plan.final and why == WHY_STEP_END):
                        nt = deposit_track_end(T, fT, row, rho, wk.ix, wk.iy, wk.iz, primary, blk, cls, dep, tal, tab,
                                               g.nz, g.ny, do_sec, do_water, let_p, do_touch, nt)
                        break
                    if why != WHY_INTERACTION:
                        continue
                    # ---- discrete nuclear interaction at the end of the step ------------------
                    n_mfp = -math.log(1.0 - uniform(st))
                    if do_touch:
                        nt = mark(touched_mark, touched, nt, (wk.ix * g.ny + wk.iy) * g.nz + wk.iz)
                    if ions:
                        outcome, T, u, v, w, n_stack = interact_ions(st, T, M, sp, primary, u, v, w, x, y, z, wk.ix,
                                                                     wk.iy, wk.iz, m, rho, row, fT, maj, work, n_stack,
                                                                     spc, nuc, dep, tal, tab, opt)
                    else:
                        outcome, T, u, v, w, n_stack = interact(st, T, M, sp, primary, u, v, w, x, y, z, wk.ix, wk.iy,
                                                                wk.iz, m, rho, row, fT, maj, work, n_stack, spc, nuc,
                                                                dep, tal, tab, opt)
                    if outcome == OUTCOME_ABSORBED:
                        break
                    if outcome != OUTCOME_FICTITIOUS:
                        cont = False
                        fT = energy_index(T, tab.lnT0, tab.inv_dlnT)
                        if outcome == OUTCOME_NEW_TRACK:
                            p1v1 = pv_of(T, M)
                            p1v1_inv2 = 1.0 / (p1v1 * p1v1)
                dep[cls] += dep_p
                if n_stack == 0:
                    break
                n_stack, x, y, z, u, v, w, T, sp = pop(stack, n_stack)
                cls = sp_class[sp]
        tal.n_touched[0] = nt
        bbox[0], bbox[1], bbox[2], bbox[3], bbox[4], bbox[5] = box
        counters[COUNTER_STEPS] += n_steps
        counters[COUNTER_SEGMENTS] += n_segments

    return kernel


KERNEL_PLAIN = make_kernel(False)
KERNEL_OPTIONAL = make_kernel(True)
KERNEL_ION_PLAIN = make_kernel(False, ions=True)
KERNEL_ION_OPTIONAL = make_kernel(True, ions=True)


def check_let_sums(n_histories, tables, species, params, tallies):
    """The LET tally must hold every sum the kernel writes (numba does not check bounds): an ion
    run's species table (a block of sums per fragment group) or an MKM z1D* table needs
    ``N_LET_ION`` sums, a proton run ``N_LET``. Raises a ValueError before any transport."""
    if not params.let or n_histories == 0:
        return
    need = N_LET_ION if species.let_block.max() >= 0 or tables.zstar.shape[1] > 1 else N_LET
    if tallies.let.shape[0] != need:
        raise ValueError(f"the LET tally has {tallies.let.shape[0]} sums, the kernel writes {need} for these "
                         "species (mc.tally.BatchBuffers with let=N_LET_ION for an ion beam, mc.run.tally_flags)")


def kernel_for(params, tallies, species):
    """The compiled kernel a batch needs: with or without the optional tallies
    (:func:`mc.kernel.bundles.needs_optional_tallies`), with the ion reactions if the species
    table holds ions."""
    optional = needs_optional_tallies(params, tallies)
    if species.ion_reaction.any():
        return KERNEL_ION_OPTIONAL if optional else KERNEL_ION_PLAIN
    return KERNEL_OPTIONAL if optional else KERNEL_PLAIN


def transport_batch(n_histories, rng_state, source, geometry, tables, species, nuclear, params, tallies):
    """Transport ``n_histories`` primaries and all their charged secondaries, drawing random
    numbers from the xoshiro256+ state ``rng_state`` (uint64[4], advanced in place, so that a
    batch transported in several calls draws the same numbers as in one); the inputs are
    the bundles of :mod:`mc.kernel.bundles` (:class:`~mc.kernel.bundles.Source`,
    :class:`~mc.kernel.bundles.Geometry`, :class:`~mc.kernel.bundles.Tables`,
    :class:`~mc.kernel.bundles.SpeciesTable`, :class:`~mc.kernel.bundles.Nuclear`,
    :class:`~mc.kernel.bundles.Params`). Adds to the :class:`~mc.kernel.bundles.Tallies`:

    * the energy deposits [MeV] to ``edep`` (and, if enabled, the water-equivalent deposit
      E (S_w/S_m) to ``edep_water``, and the part deposited by secondaries to ``edep_sec``);
    * if enabled, LET sums to ``let`` (``mc.kernel.layout.LET_*``);
    * to ``fluence_z[k]`` the number of primaries that reach voxel layer k along z (a primary
      stops being one at a non-elastic nuclear interaction);
    * the energy bookkeeping to ``counters`` (``mc.kernel.layout.COUNTER_*``), and the energy
      deposited per class of particle (``mc.kernel.layout.CLASS_*``) to ``dep_class``, which
      the caller books into the counters when the batch is complete
      (:meth:`mc.tally.BatchBuffers.finish_batch`): every tally is a running sum over the
      batch's calls, so the cut into calls changes no bit of the result;
    * if ``touched`` has more than one element, the flat index (ix ny + iy) nz + iz of every
      voxel that receives a deposit, once each, to ``touched[n_touched[0]:]`` (``touched_mark``
      flags listed voxels; the caller resets both), so that the deposits of one spot can be
      read out without scanning the grid (per-spot dose for dose-rate analysis);
    * the bounding box of the voxels it deposited in to ``bbox`` (widened, never narrowed: the
      caller resets it), so that batch tallies are accumulated over that block only; and, per
      column of voxels along z (flat index ix ny + iy), the lowest and highest iz that received
      a deposit, widened into ``col_z[0]`` and ``col_z[1]`` (the caller resets them to 2^30 and
      -1).

    Runs the kernel compiled without the optional tallies when none is on, and the kernel
    with the ion reactions only for ion runs (:func:`kernel_for`)."""
    check_let_sums(n_histories, tables, species, params, tallies)
    kernel = kernel_for(params, tallies, species)
    kernel(n_histories, rng_state, source, geometry, tables, species, nuclear, params, tallies)
