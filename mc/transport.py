"""Condensed-history transport kernel (numba ``njit``, ``cache=True``).

One call transports one batch of primaries and adds to the tallies passed in. Everything is a
plain array; the kernel never calls back into Python.

Units: positions and step lengths in cm, energies in MeV, densities in g/cm^3, areal densities
and ranges in g/cm^2, angles in rad.

Physics of a step (a charged hadron of species ``sp`` in voxel material ``m``, density rho):

1. Step length s: the first of (a) the distance to the voxel boundary along the direction,
   (b) ``max_range_fraction`` of the residual CSDA range R(T)/rho, (c) the distance to the next
   discrete interaction, sampled from the macroscopic cross section (number of mean free paths
   drawn from an exponential at birth and consumed along the path).
2. Mean energy loss from the range table (continuous slowing down): T_mean = T(R(T) - rho s),
   the exact inverse of the piecewise-linear R(ln T) table (``physics.tables``). The particle
   carries its energy's fractional table index, so a step costs no table search; the energy at
   a fractional index is interpolated linearly between grid energies (relative error
   < 3e-6; the deposits telescope, so energy is conserved exactly).
3. Straggling (``physics.straggling``): relativistic Bohr variance at the mid-step energy;
   Gaussian when the mean loss exceeds 5 sigma, otherwise a gamma law with the same mean and
   variance (thin steps, Landau-Vavilov regime).
4. Multiple Coulomb scattering: Gaussian projected angles with variance T_dM rho s per plane,
   T_dM the differential Moliere scattering power of Gottschalk (2010, Med. Phys. 37:352) at the
   mid-step pv and the particle's initial p1v1. The deflection is applied at a uniformly sampled
   point of the step ("random hinge", Fippel & Soukup 2004, Med. Phys. 31:2263), which gives
   the correct mean lateral displacement and its correlation with the angle.
5. The energy lost is deposited in the voxel where the step started; below ``T_cut`` the
   remaining kinetic energy is deposited there too (its residual range is far below a voxel).

Energy balance counters (``COUNTER_*``) record every MeV: incident = deposited + missed +
escaped through each face + removed by discrete interactions.
"""

import math

import numpy as np
from numba import njit

# Counter layout (float64 array of length N_COUNTERS).
COUNTER_INCIDENT = 0
COUNTER_DEPOSITED = 1
COUNTER_MISSED = 2
COUNTER_ESCAPED = 3  # 3..8: faces -x, +x, -y, +y, -z, +z
COUNTER_CUTOFF = 9  # part of the deposit made by particles falling below the cut-off
COUNTER_DISCRETE = 10  # energy of particles removed at a discrete interaction
COUNTER_HISTORIES = 11
COUNTER_STEPS = 12
COUNTER_DISCRETE_EVENTS = 13  # number of discrete interactions
N_COUNTERS = 14
FACE_NAMES = ("-x", "+x", "-y", "+y", "-z", "+z")

# Parameter vector layout.
PAR_T_CUT = 0
PAR_MAX_RANGE_FRACTION = 1
PAR_STRAGGLING = 2
PAR_SCATTERING = 3
PAR_DOSE_TO_WATER = 4
N_PARAMS = 5

_E_S2 = 15.0 * 15.0  # Gottschalk (2010) E_s^2 [MeV^2]
_PUSH = 1.0e-9  # cm: pushes a particle across the boundary it steps to
_INV_LN10 = 1.0 / math.log(10.0)
_TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always", error_model="numpy")
def _lin(tab, row, f):
    """Linear interpolation of tab[row] at fractional index f (clamped)."""
    n = tab.shape[1]
    if f <= 0.0:
        return tab[row, 0]
    i = int(f)
    if i >= n - 1:
        return tab[row, n - 1]
    a = tab[row, i]
    return a + (f - i) * (tab[row, i + 1] - a)


@njit(cache=True, inline="always", error_model="numpy")
def range_to_index(range_tab, row, R, i):
    """Fractional table index of the energy whose tabulated CSDA range is R [g/cm^2]: the exact
    inverse of the piecewise-linear R(ln T), found by walking from interval ``i`` (the caller's
    current energy interval; ranges only shrink along a step, so the walk is short). Returns -1
    when R is at or below the first table entry."""
    n = range_tab.shape[1]
    if R <= range_tab[row, 0]:
        return -1.0
    if i > n - 2:
        i = n - 2
    if i < 0:
        i = 0
    while i > 0 and range_tab[row, i] > R:
        i -= 1
    while i < n - 2 and range_tab[row, i + 1] <= R:
        i += 1
    a = range_tab[row, i]
    f = (R - a) / (range_tab[row, i + 1] - a)
    if f > 1.0:
        f = 1.0
    return i + f


_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)
_TWO_M53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always", error_model="numpy")
def _uniform(st):
    """Uniform deviate in [0, 1) from the xoshiro256+ generator (Blackman & Vigna 2021, ACM
    Trans. Math. Softw. 47:36) whose state is the uint64[4] array ``st``; the upper 53 bits
    make the double."""
    s0 = st[0]
    s1 = st[1]
    s2 = st[2] ^ s0
    s3 = st[3] ^ s1
    result = s0 + st[3]
    t = s1 << _U17
    st[1] = s1 ^ s2
    st[0] = s0 ^ s3
    st[2] = s2 ^ t
    st[3] = (s3 << _U45) | (s3 >> _U19)
    return (result >> _U11) * _TWO_M53


@njit(cache=True, inline="always", error_model="numpy")
def _gauss_pair(st):
    """Two independent standard normal deviates (Marsaglia & Bray 1964 polar method)."""
    while True:
        a = 2.0 * _uniform(st) - 1.0
        b = 2.0 * _uniform(st) - 1.0
        q = a * a + b * b
        if 0.0 < q < 1.0:
            f = math.sqrt(-2.0 * math.log(q) / q)
            return a * f, b * f


@njit(cache=True, error_model="numpy")
def _gamma(st, k):
    """Gamma(k, 1) deviate: Marsaglia & Tsang (2000, ACM Trans. Math. Softw. 26:363) for
    k >= 1; for k < 1 the boost Gamma(k) = Gamma(k + 1) U^(1/k) (same paper, Sec. 6)."""
    boost = 1.0
    if k < 1.0:
        boost = _uniform(st) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        g, _ = _gauss_pair(st)
        v = 1.0 + c * g
        if v <= 0.0:
            continue
        v = v * v * v
        uu = _uniform(st)
        if uu < 1.0 - 0.0331 * g * g * g * g or math.log(uu) < 0.5 * g * g + d * (1.0 - v + math.log(v)):
            return d * v * boost


@njit(cache=True, inline="always", error_model="numpy")
def _sample_loss(st, mean, var, gauss):
    """Energy loss with given mean and variance [MeV]: Gaussian if mean > 5 sigma, else gamma."""
    if var <= 0.0 or mean <= 0.0:
        return mean
    if mean * mean > 25.0 * var:
        d = mean + math.sqrt(var) * gauss
        return d if d > 0.0 else 0.0
    return _gamma(st, mean * mean / var) * (var / mean)


@njit(cache=True, inline="always", error_model="numpy")
def _pv(T, M):
    return T * (T + 2.0 * M) / (T + M)


@njit(cache=True, error_model="numpy")
def transport_batch(
    n_histories, rng_state,
    spot_cdf, spot_energy, spot_energy_sigma, spot_pos, spot_dir, spot_ax1, spot_ax2,
    spot_sigma, spot_div, spot_species,
    mat_id, density, lower, spacing,
    lnT0, inv_dlnT, energy_tab, range_tab, water_ratio, sigma_tab, lg_pv_tab, inv_pv2_tab, bohr_tab,
    inv_xs, z_over_a, sp_charge, sp_mass,
    params,
    edep, edep_water, counters,
):
    """Transport ``n_histories`` primaries, drawing random numbers from the xoshiro256+ state
    ``rng_state`` (uint64[4], not modified), and add their
    energy deposits [MeV] to ``edep`` (and, if enabled, the water-equivalent deposit
    E (S_w/S_m) to ``edep_water``) and the energy bookkeeping to ``counters``.

    Source: spots with cumulative selection probabilities ``spot_cdf``; each has a mean energy
    and Gaussian sigma [MeV], a central position [cm] and unit direction, transverse unit axes
    ``spot_ax1``/``spot_ax2``, Gaussian position sigmas [cm] and angular sigmas [rad] along
    those axes, and a species index.
    """
    st = np.empty(4, np.uint64)
    st[:] = rng_state
    nx, ny, nz = mat_id.shape
    n_mat = inv_xs.shape[0]
    t_cut = params[PAR_T_CUT]
    max_frac = params[PAR_MAX_RANGE_FRACTION]
    do_strag = params[PAR_STRAGGLING] != 0.0
    do_mcs = params[PAR_SCATTERING] != 0.0
    do_water = params[PAR_DOSE_TO_WATER] != 0.0
    inv_dx = 1.0 / spacing[0]
    inv_dy = 1.0 / spacing[1]
    inv_dz = 1.0 / spacing[2]
    upper0 = lower[0] + nx * spacing[0]
    upper1 = lower[1] + ny * spacing[1]
    upper2 = lower[2] + nz * spacing[2]
    n_spots = spot_cdf.shape[0]
    deposited = 0.0
    n_steps = 0.0

    for _h in range(n_histories):
        counters[COUNTER_HISTORIES] += 1.0
        # ---- source -------------------------------------------------------------------
        k = np.searchsorted(spot_cdf, _uniform(st), side="right")
        if k >= n_spots:
            k = n_spots - 1
        sp = spot_species[k]
        M = sp_mass[sp]
        z2 = sp_charge[sp] * sp_charge[sp]
        T = spot_energy[k]
        if spot_energy_sigma[k] > 0.0:
            while True:
                ga, gb = _gauss_pair(st)
                T = spot_energy[k] + spot_energy_sigma[k] * ga
                if T > 0.0:
                    break
        g1, g2 = _gauss_pair(st)
        a1, a2 = _gauss_pair(st)
        g1 *= spot_sigma[k, 0]
        g2 *= spot_sigma[k, 1]
        a1 *= spot_div[k, 0]
        a2 *= spot_div[k, 1]
        x = spot_pos[k, 0] + g1 * spot_ax1[k, 0] + g2 * spot_ax2[k, 0]
        y = spot_pos[k, 1] + g1 * spot_ax1[k, 1] + g2 * spot_ax2[k, 1]
        z = spot_pos[k, 2] + g1 * spot_ax1[k, 2] + g2 * spot_ax2[k, 2]
        u = spot_dir[k, 0] + a1 * spot_ax1[k, 0] + a2 * spot_ax2[k, 0]
        v = spot_dir[k, 1] + a1 * spot_ax1[k, 1] + a2 * spot_ax2[k, 1]
        w = spot_dir[k, 2] + a1 * spot_ax1[k, 2] + a2 * spot_ax2[k, 2]
        nrm = 1.0 / math.sqrt(u * u + v * v + w * w)
        u *= nrm
        v *= nrm
        w *= nrm
        counters[COUNTER_INCIDENT] += T

        # ---- move to the grid (vacuum outside) -------------------------------------------
        t0 = -1e300
        t1 = 1e300
        miss = False
        for ax in range(3):
            if ax == 0:
                p, d, lo, hi = x, u, lower[0], upper0
            elif ax == 1:
                p, d, lo, hi = y, v, lower[1], upper1
            else:
                p, d, lo, hi = z, w, lower[2], upper2
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
            counters[COUNTER_MISSED] += T
            continue
        if t0 > 0.0:
            t0 += _PUSH
        x += t0 * u
        y += t0 * v
        z += t0 * w

        # ---- condensed-history loop ------------------------------------------------------
        p1v1 = _pv(T, M)
        p1v1_inv2 = 1.0 / (p1v1 * p1v1)
        fT = (math.log(T) - lnT0) * inv_dlnT
        n_mfp = -math.log(1.0 - _uniform(st))
        spare = 0.0
        has_spare = False
        while True:
            qx = (x - lower[0]) * inv_dx
            qy = (y - lower[1]) * inv_dy
            qz = (z - lower[2]) * inv_dz
            ix = int(qx)
            iy = int(qy)
            iz = int(qz)
            if qx < 0.0 or ix >= nx or qy < 0.0 or iy >= ny or qz < 0.0 or iz >= nz:
                if qx < 0.0:
                    face = 0
                elif ix >= nx:
                    face = 1
                elif qy < 0.0:
                    face = 2
                elif iy >= ny:
                    face = 3
                elif qz < 0.0:
                    face = 4
                else:
                    face = 5
                counters[COUNTER_ESCAPED + face] += T
                break
            m = mat_id[ix, iy, iz]
            rho = density[ix, iy, iz]
            row = sp * n_mat + m
            R = _lin(range_tab, row, fT)

            # distance to the voxel boundary
            # axis (0, 1, 2) and plane coordinate of the boundary the direction points to
            db = 1e300
            b_ax = -1
            b_pl = 0.0
            if u > 0.0:
                b_pl = lower[0] + (ix + 1) * spacing[0]
                db = (b_pl - x) / u
                b_ax = 0
            elif u < 0.0:
                b_pl = lower[0] + ix * spacing[0]
                db = (b_pl - x) / u
                b_ax = 0
            if v > 0.0:
                pl = lower[1] + (iy + 1) * spacing[1]
                t = (pl - y) / v
                if t < db:
                    db, b_ax, b_pl = t, 1, pl
            elif v < 0.0:
                pl = lower[1] + iy * spacing[1]
                t = (pl - y) / v
                if t < db:
                    db, b_ax, b_pl = t, 1, pl
            if w > 0.0:
                pl = lower[2] + (iz + 1) * spacing[2]
                t = (pl - z) / w
                if t < db:
                    db, b_ax, b_pl = t, 2, pl
            elif w < 0.0:
                pl = lower[2] + iz * spacing[2]
                t = (pl - z) / w
                if t < db:
                    db, b_ax, b_pl = t, 2, pl
            if db < 0.0:
                db = 0.0
            s = db + _PUSH
            to_boundary = True
            s_rng = max_frac * R / rho
            if s_rng < s:
                s = s_rng
                to_boundary = False
            # discrete interactions
            sig = _lin(sigma_tab, row, fT) * rho
            discrete = False
            if sig > 0.0:
                s_d = n_mfp / sig
                if s_d < s:
                    s = s_d
                    discrete = True
                    to_boundary = False
                else:
                    n_mfp -= sig * s

            # continuous energy loss (fT_end: table index of the mean end energy)
            fT_end = range_to_index(range_tab, row, R - rho * s, int(fT))
            if fT_end < 0.0:
                T_mean = 0.0
                fT_end = 0.0
            else:
                if fT_end > fT:
                    fT_end = fT
                T_mean = _lin(energy_tab, 0, fT_end)
                if T_mean > T:
                    T_mean = T
            dE = T - T_mean
            dE_mean = dE
            T_mid = T - 0.5 * dE
            if do_strag and dE > 0.0:
                var = _lin(bohr_tab, sp, 0.5 * (fT + fT_end)) * z_over_a[m] * rho * s
                if has_spare:
                    gs = spare
                    has_spare = False
                else:
                    gs, spare = _gauss_pair(st)
                    has_spare = True
                dE = _sample_loss(st, dE, var, gs)
                if dE > T:
                    dE = T

            # multiple scattering with a random hinge
            if do_mcs:
                # pv at the mid-step energy from tables at the log-mid index
                f_mid = 0.5 * (fT + fT_end)
                inv_pv2 = _lin(inv_pv2_tab, sp, f_mid)
                lgp = _lin(lg_pv_tab, sp, f_mid)
                r2 = 1.0 - p1v1_inv2 / inv_pv2
                if r2 < 1e-300:
                    r2 = 1e-300
                lg1 = math.log(r2) * _INV_LN10
                f = 0.5244 + 0.1975 * lg1 + 0.2320 * lgp - 0.0098 * lgp * lg1
                th0sq = 0.0
                if f > 0.0:
                    th0sq = f * z2 * _E_S2 * inv_pv2 * inv_xs[m] * rho * s
                hinge = _uniform(st) * s
                x += hinge * u
                y += hinge * v
                z += hinge * w
                if th0sq > 0.0:
                    # Box-Muller in polar form: space angle^2 = th0^2 (-2 ln U1), azimuth 2 pi U2
                    th2 = -2.0 * th0sq * math.log(1.0 - _uniform(st))
                    phi = _TWO_PI * _uniform(st)
                    th = math.sqrt(th2)
                    tx = th * math.cos(phi)
                    ty = th * math.sin(phi)
                    if th2 > 0.0:
                        if th2 < 2.5e-3:
                            # series of cos and sin/th, error < th^6/720 < 2e-11
                            ct = 1.0 - 0.5 * th2 + th2 * th2 / 24.0
                            sn = 1.0 - th2 / 6.0 + th2 * th2 / 120.0
                        else:
                            if th > math.pi:
                                th = math.pi
                            ct = math.cos(th)
                            sn = math.sin(th) / th
                        # rotate (u, v, w) by the projected angles (tx, ty) about the axes
                        # e1 = (u w, v w, -(1 - w^2)) / sqrt(1 - w^2), e2 = (-v, u, 0) / sqrt(1 - w^2)
                        sw2 = 1.0 - w * w
                        if sw2 > 1e-12:
                            sw = math.sqrt(sw2)
                            isw = 1.0 / sw
                            un = ct * u + sn * (tx * u * w - ty * v) * isw
                            vn = ct * v + sn * (tx * v * w + ty * u) * isw
                            wn = ct * w - sn * tx * sw
                        else:
                            sgn = 1.0 if w > 0.0 else -1.0
                            un = sn * tx
                            vn = sn * ty
                            wn = ct * sgn
                        # renormalise (rounding only: the rotation preserves the norm)
                        nrm = 1.5 - 0.5 * (un * un + vn * vn + wn * wn)
                        u = un * nrm
                        v = vn * nrm
                        w = wn * nrm
                rest = s - hinge
                x += rest * u
                y += rest * v
                z += rest * w
                # A boundary-limited step ends across that boundary: the hinge deflection can
                # leave the end point short of the plane by at most ~s theta^2/2 (second order
                # in the angle); it is snapped across instead of taking a micro-step.
                if to_boundary:
                    if b_ax == 0:
                        if u > 0.0 and x < b_pl + _PUSH:
                            x = b_pl + _PUSH
                        elif u < 0.0 and x > b_pl - _PUSH:
                            x = b_pl - _PUSH
                    elif b_ax == 1:
                        if v > 0.0 and y < b_pl + _PUSH:
                            y = b_pl + _PUSH
                        elif v < 0.0 and y > b_pl - _PUSH:
                            y = b_pl - _PUSH
                    elif b_ax == 2:
                        if w > 0.0 and z < b_pl + _PUSH:
                            z = b_pl + _PUSH
                        elif w < 0.0 and z > b_pl - _PUSH:
                            z = b_pl - _PUSH
            else:
                x += s * u
                y += s * v
                z += s * w

            # deposit
            edep[ix, iy, iz] += dE
            deposited += dE
            if do_water:
                edep_water[ix, iy, iz] += dE * _lin(water_ratio, row, fT)
            n_steps += 1.0
            T -= dE
            # table index of the new energy: the mean end point corrected by the straggling
            if T > 0.0:
                q = (dE - dE_mean) / T_mean if T_mean > 0.0 else 1.0
                if -1e-3 < q < 1e-3:
                    fT = fT_end - (q + 0.5 * q * q + q * q * q / 3.0) * inv_dlnT
                else:
                    fT = (math.log(T) - lnT0) * inv_dlnT
            if T <= t_cut:
                edep[ix, iy, iz] += T
                deposited += T
                counters[COUNTER_CUTOFF] += T
                if do_water:
                    edep_water[ix, iy, iz] += T * _lin(water_ratio, row, fT)
                break
            if discrete:
                # Discrete interaction: the particle is removed and its energy is booked to the
                # discrete channel. Non-elastic nuclear models replace this with products.
                counters[COUNTER_DISCRETE] += T
                counters[COUNTER_DISCRETE_EVENTS] += 1.0
                break
    counters[COUNTER_DEPOSITED] += deposited
    counters[COUNTER_STEPS] += n_steps


@njit(cache=True, error_model="numpy")
def accumulate_batch(edep, a1, a2, inv_n):
    """Add one batch's deposits to the tallies (a1 += E, a2 += E^2/n) and zero ``edep``; all
    arrays are C-contiguous with the same shape. Only nonzero voxels cost more than a read."""
    e = edep.ravel()
    s1 = a1.ravel()
    s2 = a2.ravel()
    for i in range(e.shape[0]):
        x = e[i]
        if x != 0.0:
            s1[i] += x
            s2[i] += x * x * inv_n
            e[i] = 0.0
