"""Geometry stages of the kernel: entering the grid, locating a voxel, and the voxel walk.

The grid is a box of nx x ny x nz voxels (lower corner ``lower``, voxel size ``spacing``,
cm), vacuum outside. A step is a straight leg, or two legs turned at the multiple-scattering
hinge; each leg is cut at the voxel boundaries it crosses by the voxel walk of Amanatides &
Woo (1987, "A fast voxel traversal algorithm for ray tracing", Eurographics '87, 3-10): per
axis, the path length to the next voxel plane (``tm*``), the path length between planes
(``td*``) and the index step (``st*``, +1, -1 or 0); the next boundary is the smallest
``tm``. Each voxel segment loses the mean CSDA energy of its own material (module docstring
of :mod:`mc.kernel.transport`), so a step may cross any number of materials.

Deposits lie on straight legs (step start to hinge, hinge to step end), so the box of the
legs' end voxels holds every voxel they cross (``box``, widened at the ends of the legs); per
column of voxels along z the walk records the range of layers it deposited in
(:func:`col_run`), so that a batch's tallies are summed over those voxels only.
"""

from typing import NamedTuple

import numpy as np

from mc.jit import jit_kernel, jit_stage
from physics.scattering import deflect_by

from .layout import NO_FACE, NOT_IN_GRID, WHY_ESCAPED, WHY_HINGE, WHY_INTERACTION, WHY_STEP_END
from .lookup import U, energy_at, frac_index, lin, range_interval, range_interval_inside
from .score import KEV_PER_UM, let_score, mark, zstar_at

#: Pushes a particle across the boundary it steps to [cm].
PUSH_CM = 1.0e-9
#: A path length that no voxel walk reaches [cm].
FAR_CM = 1.0e300


class Grid(NamedTuple):
    """The kernel's view of the voxel grid: flat (C-order) views of the arrays read and written
    per voxel segment, whose flat index vi = (ix ny + iy) nz + iz the walk keeps up to date by
    strides, and the grid's constants."""

    material: np.ndarray  # material index per voxel (flat)
    density: np.ndarray  # mass density [g/cm^3] per voxel (flat)
    edep: np.ndarray  # the energy-deposit tally [MeV] (flat)
    nx: int
    ny: int
    nz: int
    nyz: int  # ny nz: the flat-index stride along x
    lower: np.ndarray  # (3,) lower corner [cm]
    spacing: np.ndarray  # (3,) voxel size [cm]
    upper: tuple  # upper corner [cm]
    inv_spacing: tuple  # 1 / voxel size [1/cm]


class Walker(NamedTuple):
    """State of the voxel walk along one straight leg."""

    xs: float  # start of the leg [cm]
    ys: float
    zs: float
    u: float  # unit direction of the leg
    v: float
    w: float
    t_leg: float  # path length walked along the leg [cm]
    ix: int  # current voxel
    iy: int
    iz: int
    vi: int  # its flat index
    tmx: float  # path length from the leg's start to the next voxel plane on each axis [cm]
    tmy: float
    tmz: float
    tdx: float  # path length between voxel planes on each axis [cm]
    tdy: float
    tdz: float
    stx: int  # index step on each axis (+1, -1, 0)
    sty: int
    stz: int


@jit_kernel
def flat_grid(geo, edep):
    """The :class:`Grid` of the :class:`mc.kernel.bundles.Geometry` ``geo`` and the deposit
    tally ``edep`` (all C-contiguous; ``edep`` may be a one-voxel placeholder when no history
    is run)."""
    nx, ny, nz = geo.material.shape
    lo, h = geo.lower, geo.spacing
    return Grid(geo.material.reshape(geo.material.size), geo.density.reshape(geo.density.size),
                edep.reshape(edep.size), nx, ny, nz, ny * nz, lo, h,
                (lo[0] + nx * h[0], lo[1] + ny * h[1], lo[2] + nz * h[2]),
                (1.0 / h[0], 1.0 / h[1], 1.0 / h[2]))


@jit_stage
def distance_to_grid(x, y, z, u, v, w, g):
    """Path length [cm] from (x, y, z) along (u, v, w) to where the ray enters the grid (0 if
    it starts inside, a little beyond the face otherwise), or -1 if it misses the grid (the
    slab method of Kay & Kajiya 1986, SIGGRAPH '86, 269-278: the intersection of the three
    axes' parameter intervals)."""
    t0 = -FAR_CM
    t1 = FAR_CM
    miss = False
    for ax in range(3):
        if ax == 0:
            p, d, lo, hi = x, u, g.lower[0], g.upper[0]
        elif ax == 1:
            p, d, lo, hi = y, v, g.lower[1], g.upper[1]
        else:
            p, d, lo, hi = z, w, g.lower[2], g.upper[2]
        if d == 0.0:
            if p < lo or p >= hi:
                miss = True
        else:
            ta = (lo - p) / d
            tb = (hi - p) / d
            if ta > tb:
                ta, tb = tb, ta
            if ta > t0:
                t0 = ta
            if tb < t1:
                t1 = tb
    if t0 < 0.0:
        t0 = 0.0
    if miss or t1 <= t0:
        return -1.0
    if t0 > 0.0:
        t0 += PUSH_CM
    return t0


@jit_stage
def locate(x, y, z, g):
    """Voxel (ix, iy, iz) holding the point (x, y, z) [cm], and :data:`NO_FACE`; or, for a point
    outside the grid, the face it lies beyond (0..5: -x, +x, -y, +y, -z, +z)."""
    qx = (x - g.lower[0]) * g.inv_spacing[0]
    qy = (y - g.lower[1]) * g.inv_spacing[1]
    qz = (z - g.lower[2]) * g.inv_spacing[2]
    ix = int(qx)
    iy = int(qy)
    iz = int(qz)
    face = NO_FACE
    if qx < 0.0:
        face = 0
    elif ix >= g.nx:
        face = 1
    elif qy < 0.0:
        face = 2
    elif iy >= g.ny:
        face = 3
    elif qz < 0.0:
        face = 4
    elif iz >= g.nz:
        face = 5
    return ix, iy, iz, face


@jit_stage
def dda_axis(p, d, lo, h, i):
    """Voxel-walk set-up on one axis (Amanatides & Woo 1987): from coordinate ``p`` [cm] in voxel
    ``i`` (grid origin ``lo``, spacing ``h``) moving with direction cosine ``d``, the path length
    to the next plane, the path length between planes and the index step.

    Written without branches on the sign of ``d`` (the index step and the plane ahead come from
    the comparisons as integers, an axis the leg does not move along gets a select): after a
    multiple-scattering turn the signs of the two sideways cosines are coin tosses, and the
    branches on them were mispredicted about once per step (measured on the development VM:
    the kernel 2 % faster, paired runs, results bit for bit the same)."""
    up = np.int64(d > 0.0)
    stp = up - np.int64(d < 0.0)
    inv = 1.0 / (d if stp != 0 else 1.0)
    tm = (lo + (i + up) * h - p) * inv
    td = abs(h * inv)
    if stp == 0:
        tm = FAR_CM
        td = FAR_CM
    return tm, td, stp


@jit_stage
def start_walker(x, y, z, u, v, w, ix, iy, iz, g):
    """The :class:`Walker` of a leg from (x, y, z) [cm] in voxel (ix, iy, iz) along (u, v, w)."""
    tmx, tdx, stx = dda_axis(x, u, g.lower[0], g.spacing[0], ix)
    tmy, tdy, sty = dda_axis(y, v, g.lower[1], g.spacing[1], iy)
    tmz, tdz, stz = dda_axis(z, w, g.lower[2], g.spacing[2], iz)
    return Walker(x, y, z, u, v, w, 0.0, ix, iy, iz, ix * g.nyz + iy * g.nz + iz,
                  tmx, tmy, tmz, tdx, tdy, tdz, stx, sty, stz)


@jit_stage
def widen(b, ix, iy, iz):
    """Bounding box ``b`` = (lowest x, y, z index, highest x, y, z index) widened to cover
    voxel (ix, iy, iz)."""
    return (min(b[0], ix), min(b[1], iy), min(b[2], iz), max(b[3], ix), max(b[4], iy), max(b[5], iz))


@jit_stage
def col_run(col_z, c, a, b):
    """Widen the deposit layer range of z-column ``c`` to cover layers a..b (either order)."""
    lo = min(a, b)
    hi = max(a, b)
    cu = U(c)
    if lo < col_z[0, cu]:
        col_z[0, cu] = lo
    if hi > col_z[1, cu]:
        col_z[1, cu] = hi


@jit_stage
def count_primary_layers(fluence_z, iz_max, iz):
    """A primary has reached voxel layer ``iz``: add it to the fluence of every layer beyond
    ``iz_max`` (its deepest layer so far; :data:`mc.kernel.layout.NOT_IN_GRID` before it entered)
    up to ``iz``, and return the new deepest layer."""
    if iz > iz_max:
        if iz_max == NOT_IN_GRID:
            iz_max = iz - 1  # layers upstream of the entry point were not crossed
        for kz in range(iz_max + 1, min(iz + 1, fluence_z.shape[0])):
            fluence_z[U(kz)] += 1.0
        iz_max = iz
    return iz_max


@jit_stage
def walk_limit(R_s, R_h, hinge, R_int):
    """The highest residual range [g/cm^2, current material] at which the walk of a step stops,
    and why: the step's planned end R_s, its hinge R_h (if still ahead), the interaction site
    R_int (ties go to the planned end, then the hinge)."""
    R_lim = R_s
    why = WHY_STEP_END
    if hinge and R_h > R_lim:
        R_lim = R_h
        why = WHY_HINGE
    if R_int > R_lim:
        R_lim = R_int
        why = WHY_INTERACTION
    return R_lim, why


@jit_stage
def walk_step(wk, cz0, box, iz_max, T, fT, sp_row0, primary, blk, n_mfp, plan, g, tab, sigma_tab, tal,
              do_sec, do_water, do_let, do_touch, nt, n_segments, dep_p):
    """Walk one planned step (``plan``, from :func:`mc.kernel.step.plan_step`) of a particle of
    kinetic energy ``T`` [MeV] (table index ``fT``) through the voxels from the walker ``wk``,
    depositing each segment's energy, turning at the hinge, and deflecting at the end of a step
    that stopped short of its hinge.

    Each voxel segment's mean energy loss comes from the range table of the segment's own
    material: the residual range R drops by rho l, and the energy follows the piecewise-linear
    inverse T(R) of the table (interval ``i_cur``, slope ``tab.slope``); the straggling factor
    ``c_str`` scales every deposit. Within one material every limit of the walk is a residual
    range: the step's end R_s, its hinge R_h and the interaction site R_int = R - n_mfp/sigma
    (sigma the step majorant; the free path in areal density drops with R), so a segment only
    compares its end with the highest of them, ``R_lim`` (recomputed when the material changes
    or at the hinge). The scattering walked before the hinge, sum rho l / X_S, is booked per
    material run from the drop of R since ``R_leg0``. Segments that end at a voxel boundary in
    the walk's material run in a loop of their own; a change of material and the segment that
    ends at the walk's limit are handled below it (measured on the development VM: the kernel
    ~5 % faster, paired runs, than one loop for every kind of segment). That loop carries as
    little as it can, because its instructions, not a chain of dependent ones, set its speed:
    it compares the voxel's material index with the run's (the table row and the density are
    read where they are needed), its range look-up needs no clamps
    (:func:`mc.kernel.lookup.range_interval_inside`: the residual range of a segment's end lies
    between the walk's limit, at least the range at the species' cut-off, and the range at the
    step's start), and it leaves the primary fluence to the end of the walk: a straight leg's
    deepest layer is at one of its ends, so the layers a primary reached are those up to the
    deepest leg end (:func:`count_primary_layers`). (Measured: the kernel 4.7 % faster, paired
    runs, results bit for bit the same.)

    ``sp_row0`` is the species' first table row,
    ``primary`` whether the particle is a primary (fluence, secondary dose), ``blk`` its second
    block of LET sums (:func:`mc.kernel.score.let_block`), ``n_mfp``
    the number of mean free paths left to the next interaction site. ``cz0``, ``box`` and
    ``iz_max`` are the first layer of the current run of voxels in this z-column, the box of
    voxels with deposits and the primary's deepest layer so far (the walk starts in a layer the
    primary has reached); ``nt``, ``n_segments`` and
    ``dep_p`` the touched-voxel count, the segment count and the particle's deposit [MeV].

    Returns (walker, T, E_cur, f_cur, n_mfp, row, m, rho, maj, why, face, turned, box, iz_max,
    nt, n_segments, dep_p): the walker at the end (direction after the hinge or the end-point
    deflection), the kinetic energy, the mean CSDA energy at the end and its table index
    (before straggling), the free paths left, the table row, material, density (0 after an
    escape) and step majorant of the end voxel, how the walk ended (``WHY_*``), the face it escaped through
    (:data:`NO_FACE` if it did not), and whether the direction changed at the step's end."""
    (row0, R0, R_s, f_stop, E_stop, final, planned_int, maj0, c_str, hinge, f_h, k_mcs, chi2, px, py,
     pz) = plan
    xs, ys, zs, u, v, w, t_leg, ix, iy, iz, vi, tmx, tmy, tmz, tdx, tdy, tdz, stx, sty, stz = wk
    nx, ny, nz, nyz = g.nx, g.ny, g.nz, g.nyz
    mat_flat, rho_flat, edep_flat = g.material, g.density, g.edep
    range_tab, range_bins, bin0 = tab.range, tab.range_bins, tab.bin0
    energy_tab, slope_tab, water_ratio, s_int_tab = tab.energy, tab.slope, tab.water_ratio, tab.stopping_integral
    zstar_tab = tab.zstar
    edep_sec, edep_water, let_acc, col_z, fluence_z = tal.edep_sec, tal.edep_water, tal.let, tal.col_z, tal.fluence_z
    touched_mark, touched = tal.touched_mark, tal.touched
    n_grid = range_tab.shape[1]
    iz_hi = iz  # the deepest layer of the walk's legs so far (a straight leg's is at one of its ends)
    m = mat_flat[U(vi)]
    rho = rho_flat[U(vi)]
    scat = 0.0  # sum of rho l / X_S over the segments walked before the hinge
    f_cur = fT
    i_cur = min(int(fT), n_grid - 2)
    E_cur = T
    E_h = lin(energy_tab, 0, f_h) if hinge else 0.0
    # the start voxel's material, known from the plan
    row = row0
    row_c = row0
    m_c = row0 - sp_row0
    R_cur = R0
    R_h = lin(range_tab, row0, f_h) if hinge else 0.0
    maj = maj0
    R_int = R0 - (n_mfp / maj0 if maj0 > 0.0 else FAR_CM)
    R_leg0 = R0
    xs_c = tab.inv_xs[U(m)]
    R_lim, why_lim = walk_limit(R_s, R_h, hinge, R_int)
    why = WHY_ESCAPED
    escaped = NO_FACE
    while True:
        # ---- segments to the next voxel boundary in the walk's material -------------------
        while True:
            m = mat_flat[U(vi)]
            if m != m_c:
                break
            rho = rho_flat[U(vi)]
            t_xy = min(tmx, tmy)
            ell = min(t_xy, tmz) - t_leg
            if ell < 0.0:
                ell = 0.0
            R_next = R_cur - rho * ell
            if R_next <= R_lim:
                break
            # interval of R_next, from the bits of R_next (no search, no dependence on the
            # previous segment's interval)
            i_next = range_interval_inside(range_tab, range_bins, bin0, row, R_next)
            if i_next > i_cur:
                i_next = i_cur
            E_next = energy_at(energy_tab, range_tab, slope_tab, row, i_next, R_next, E_stop)
            if E_next > E_cur:
                E_next = E_cur
            dEm = E_cur - E_next
            d = c_str * dEm
            if d > T:
                d = T
            # (d >= 0: booked without a test, a zero adds nothing; the optional tallies divide
            # by the segment's loss, so they skip it. Measured: the kernel 3 % faster.)
            T -= d
            edep_flat[U(vi)] += d
            dep_p += d
            if d > 0.0:
                if do_sec and not primary:
                    edep_sec[U(ix), U(iy), U(iz)] += d
                if do_water or do_let:
                    fa = frac_index(range_tab, row, i_cur, R_cur)
                    fb = frac_index(range_tab, row, i_next, R_next)
                    wr = lin(water_ratio, row, 0.5 * (fa + fb))
                    if do_water:
                        edep_water[U(ix), U(iy), U(iz)] += d * wr
                    if do_let and ell > 0.0:
                        # exact CSDA averages of the mass stopping power over the segment
                        # [MeV cm^2/g]: dose-weighted int S dE / dE and length-weighted
                        # dE / (rho dl)
                        s_d = (lin(s_int_tab, row, fa) - lin(s_int_tab, row, fb)) / dEm
                        s_t = dEm / (rho * ell)
                        let_score(let_acc, blk, ix, iy, iz, d, ell, s_d * rho * KEV_PER_UM,
                                  s_d * wr * KEV_PER_UM, s_t * rho * KEV_PER_UM, s_t * wr * KEV_PER_UM,
                                  zstar_at(zstar_tab, row, 0.5 * (fa + fb)))
                if do_touch:
                    nt = mark(touched_mark, touched, nt, vi)
            n_segments += 1.0
            t_leg += ell
            R_cur = R_next
            i_cur = i_next
            E_cur = E_next
            # into the next voxel (the three axes written out: a shared helper for the index
            # step made the kernel ~10 % slower). The z face first, with one comparison (a beam
            # along z crosses z faces at most segments); ties go to x, then y. One unsigned
            # comparison per axis tests the grid's bounds. (Measured: the kernel 3 % faster,
            # paired runs, than the x-y-z order with two comparisons each.) A sideways step
            # picks x or y by arithmetic, not by a branch: which of the two a scattered track
            # crosses next is a coin toss (measured: 3.5 % faster).
            if tmz < t_xy:
                iz += stz
                vi += stz
                tmz += tdz
                if U(iz) >= U(nz):
                    escaped = 4 if stz < 0 else 5
                    break
            else:
                col_run(col_z, ix * ny + iy, cz0, iz)
                cz0 = iz
                bx = np.int64(tmx <= tmy)
                by = 1 - bx
                ix += stx * bx
                iy += sty * by
                vi += stx * bx * nyz + sty * by * nz
                tmx = tmx + tdx if bx != 0 else tmx
                tmy = tmy if bx != 0 else tmy + tdy
                if U(ix) >= U(nx) or U(iy) >= U(ny):
                    escaped = (0 if stx < 0 else 1) if U(ix) >= U(nx) else (2 if sty < 0 else 3)
                    break
        if escaped >= 0:
            why = WHY_ESCAPED
            rho = 0.0
            break
        if m != m_c:
            # ---- into another material: carry the energy index and the free path over ------
            row = sp_row0 + m
            m_c = m
            if hinge:
                scat += (R_leg0 - R_cur) * xs_c
            f_cur = frac_index(range_tab, row_c, i_cur, R_cur)
            if maj > 0.0:
                n_mfp = max(R_cur - R_int, 0.0) * maj
            row_c = row
            R_cur = lin(range_tab, row, f_cur)
            i_cur = min(int(f_cur), n_grid - 2)
            R_s = lin(range_tab, row, f_stop)
            R_h = lin(range_tab, row, f_h)
            maj = lin(sigma_tab, row, fT)
            R_int = R_cur - (n_mfp / maj if maj > 0.0 else FAR_CM)
            R_leg0 = R_cur
            xs_c = tab.inv_xs[U(m)]
            R_lim, why_lim = walk_limit(R_s, R_h, hinge, R_int)
            continue
        # ---- the segment that ends in this voxel at the step's end, hinge or interaction site
        rho = rho_flat[U(vi)]
        why = why_lim
        a_min = R_cur - R_lim
        if a_min < 0.0:
            a_min = 0.0
        ell = a_min / rho
        if why == WHY_STEP_END:
            R_next = R_s
            E_next = E_stop
            i_next = min(int(f_stop), n_grid - 2)
        elif why == WHY_HINGE:
            R_next = R_h
            E_next = E_h
            i_next = min(int(f_h), n_grid - 2)
        else:
            R_next = R_cur - a_min
            i_next = range_interval(range_tab, range_bins, bin0, row, R_next)
            if i_next > i_cur:
                i_next = i_cur
            E_next = energy_at(energy_tab, range_tab, slope_tab, row, i_next, R_next, E_stop)
        # its deposit, as in the loop above (written out twice: as a stage of its own, inlined
        # by LLVM, the kernel with the optional tallies was 4 % slower, paired ratio 1.041
        # against 0.994 for this form)
        if E_next > E_cur:
            E_next = E_cur
        dEm = E_cur - E_next
        d = c_str * dEm
        if d > T:
            d = T
        if d > 0.0:
            T -= d
            edep_flat[U(vi)] += d
            dep_p += d
            if do_sec and not primary:
                edep_sec[U(ix), U(iy), U(iz)] += d
            if do_water or do_let:
                fa = frac_index(range_tab, row, i_cur, R_cur)
                fb = frac_index(range_tab, row, i_next, R_next)
                wr = lin(water_ratio, row, 0.5 * (fa + fb))
                if do_water:
                    edep_water[U(ix), U(iy), U(iz)] += d * wr
                if do_let and ell > 0.0:
                    s_d = (lin(s_int_tab, row, fa) - lin(s_int_tab, row, fb)) / dEm
                    s_t = dEm / (rho * ell)
                    let_score(let_acc, blk, ix, iy, iz, d, ell, s_d * rho * KEV_PER_UM,
                              s_d * wr * KEV_PER_UM, s_t * rho * KEV_PER_UM, s_t * wr * KEV_PER_UM,
                              zstar_at(zstar_tab, row, 0.5 * (fa + fb)))
            if do_touch:
                nt = mark(touched_mark, touched, nt, vi)
        n_segments += 1.0
        t_leg += ell
        R_cur = R_next
        i_cur = i_next
        E_cur = E_next
        if why == WHY_HINGE:
            # ---- random hinge: deflect by the scattering of the whole planned step (walked
            # part, plus the rest estimated in the hinge voxel's material), and walk on
            x = xs + t_leg * u
            y = ys + t_leg * v
            z = zs + t_leg * w
            th0sq = k_mcs * (scat + (R_leg0 - R_s) * xs_c)
            u, v, w = deflect_by(u, v, w, th0sq, chi2, px, py, pz)
            hinge = False
            R_lim, why_lim = walk_limit(R_s, R_h, hinge, R_int)
            box = widen(box, ix, iy, iz)
            col_run(col_z, ix * ny + iy, cz0, iz)  # z may turn back after the hinge
            cz0 = iz
            xs = x
            ys = y
            zs = z
            t_leg = 0.0
            iz_hi = max(iz_hi, iz)  # the deepest layer of the first leg is at one of its ends
            tmx, tdx, stx = dda_axis(x, u, g.lower[0], g.spacing[0], ix)
            tmy, tdy, sty = dda_axis(y, v, g.lower[1], g.spacing[1], iy)
            tmz, tdz, stz = dda_axis(z, w, g.lower[2], g.spacing[2], iz)
            continue
        break
    # ---- the end of the walk -------------------------------------------------------------
    if primary:
        iz_max = count_primary_layers(fluence_z, iz_max, max(iz_hi, iz))
    if maj > 0.0:
        n_mfp = 0.0 if why == WHY_INTERACTION else max(R_cur - R_int, 0.0) * maj
    f_cur = f_stop if why == WHY_STEP_END else frac_index(range_tab, row, i_cur, R_cur)
    # the last voxel of the walk (back inside the grid after an escape)
    box = widen(box, min(max(ix, 0), nx - 1), min(max(iy, 0), ny - 1), min(max(iz, 0), nz - 1))
    if escaped < 0 or escaped >= 4:  # (runs left through x or y are recorded)
        col_run(col_z, ix * ny + iy, cz0, min(max(iz, 0), nz - 1))
    turned = False
    if escaped < 0:
        if why == WHY_STEP_END and planned_int and row == row0:
            # the planned interaction site, reached in the material it was sampled in
            why = WHY_INTERACTION
            n_mfp = 0.0
        if hinge:
            # the step ended before its hinge (interaction site in another material): deflect
            # at the end point by the scattering of the walked part
            u, v, w = deflect_by(u, v, w, k_mcs * (scat + (R_leg0 - R_cur) * xs_c), chi2, px, py, pz)
            turned = True
    wk = Walker(xs, ys, zs, u, v, w, t_leg, ix, iy, iz, vi, tmx, tmy, tmz, tdx, tdy, tdz, stx, sty, stz)
    return (wk, T, E_cur, f_cur, n_mfp, row, m, rho, maj, why, escaped, turned, box, iz_max, nt, n_segments,
            dep_p)
