"""Condensed-history transport kernel (numba ``njit``, ``cache=True``).

One call transports one batch of primaries and adds to the tallies passed in. Everything is a
plain array; the kernel never calls back into Python.

Units: positions and step lengths in cm, energies in MeV, densities in g/cm^3, areal densities
and ranges in g/cm^2, angles in rad.

Steps span many voxels (class II condensed history with the voxel walk of the VMC family of
codes: Kawrakow, Fippel & Friedrich 1996, Med. Phys. 23:445; for protons Fippel & Soukup 2004,
Med. Phys. 31:2263). Physics of a step of a charged hadron of species ``sp`` starting in a voxel
of material m, density rho:

1. Step plan, in the residual CSDA range R(T) [g/cm^2] of that material: the range lost
   dR = a R + r_f (1 - a)(2 - r_f/R) for R > r_f, else the whole residual range (the step
   function of Geant4, Physics Reference Manual, "Step limitation"; a =
   ``max_range_fraction``, r_f = ``final_range``), at most rho times ``PAR_MAX_STEP`` (see
   item 4), or less if the next discrete-interaction site (number of mean free paths drawn
   from an exponential, consumed along the path) comes first. The step ends at the energy where R has dropped by dR (table index ``f_stop``); a
   last step ends at the cut-off energy ``T_cut``, where the particle deposits what is left.
   With ``PAR_VOXEL_STEPS`` every step also ends at the first voxel boundary (the reference
   mode against which the multi-voxel steps are tested).
2. Voxel walk (Amanatides & Woo 1987): the straight path is cut at voxel boundaries. Each
   segment of length l in a voxel of material m', density rho', loses the mean CSDA energy of
   its own material: its residual range in m' drops by rho' l and the energy follows the exact
   inverse of the piecewise-linear R(ln T) table (``physics.tables``). Heterogeneous voxels
   (CT) therefore need no step end at every boundary, and the mean energy loss telescopes, so
   energy is conserved exactly.
3. Straggling (``physics.straggling``): the energy at the step's end, T_b, gets the variance
   (S(T_b)/rho)^2 (Omega_R(T_a) - Omega_R(T_b)), Omega_R the range-straggling integral of the
   relativistic Bohr variance (``physics.tables``): the first-order propagation of Bohr
   straggling through a thick absorber (Tschalaer 1968; ICRU Report 49). Because a step's end
   is fixed in residual range, the energy deviations of earlier steps carry over as range
   deviations, and the range straggling of a track (the distal fall-off) does not depend on the
   step length. Gaussian when the mean loss exceeds 5 sigma, otherwise a gamma law with the
   same mean and variance (thin steps). The sampled/mean ratio scales every segment's deposit
   of the step. (In a step that crosses materials the variance is that of the starting
   material.) The last step of a track (to the cut-off) is not straggled: it ends at a fixed
   point, its range straggling is below 0.05 mm, and the thick-absorber variance, which assumes
   the particle goes on, would only move energy between its path and its end point.
4. Multiple Coulomb scattering: Gaussian projected angles with variance
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
   of ``max_range_fraction`` 0.3. The step-length limit ``PAR_MAX_STEP`` (default 20 mm) keeps
   the core within a few per cent of that of short steps. The part of the step after the
   hinge is estimated in the hinge voxel's material.
5. Deposits: each segment's energy goes to its voxel; below ``T_cut`` the remaining kinetic
   energy is deposited where the particle ends (its residual range is far below a voxel).
6. Discrete nuclear interactions (:mod:`physics.nuclear`) happen at the end of a step whose
   length was set by the sampled free path (in a segment of another material, the site is
   where that material's cross section uses up the free path). Free paths are sampled with the
   majorant of the total cross section over the energies the step can reach (``sigma_tab``,
   :func:`physics.tables.majorant_sigma`) and a site is accepted with probability
   sigma(T_site)/majorant, so the sites follow the energy-dependent cross section exactly
   (fictitious-interaction method) even where it changes fast within a step (thresholds, the
   p-p elastic rise at low energy). At an accepted site the channel (p-p elastic, p-16O
   elastic, or a non-elastic reaction on one of the material's elements) is drawn in proportion
   to the channel cross sections there. Charged products that are transported are pushed on a
   particle stack (position, direction, energy, species) and followed after the current
   particle ends, in the same loop. A product that cannot be stored (stack of ``STACK_MAX``
   or ``MAX_PRODUCTS`` full) is deposited on the spot and counted in
   ``COUNTER_NOT_TRANSPORTED``; protons below the cut-off are deposited on the spot as
   secondary-proton dose.
7. Dose to water of on-the-spot deposits: a proton's energy is weighted with the proton
   stopping-power ratio at its own energy; heavy fragments and recoils, whose ratio is not
   tabulated, with the projectile's ratio at the reaction energy (the water/medium ratio of
   the electronic stopping power changes little with the particle at equal velocity).

A *primary* is a source proton until it undergoes a non-elastic reaction; after a p-p elastic
collision the more energetic of the two protons carries the primary on.

Energy balance counters (``COUNTER_*``) record every MeV: incident = deposited + missed +
escaped through each face (charged particles) + neutral particles + nuclear binding energy,
each booked where it arises (the binding energy from the product model's own sum, so the
balance is a check, not an identity);
the deposit is split into primaries, secondary protons, other transported secondaries and
local deposits (short-range fragments and nuclear recoils).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from physics.nuclear import (CHANNEL_PO_ELASTIC, CHANNEL_PP_ELASTIC, NP_BAND0, NP_E_BIND, NP_E_MIN,
                             NP_E_RATIO, NP_N_BANDS, O16_MASS_MEV)
from physics.scattering import E_S_MEV, F_DM_COEFFS
from physics.tables import RANGE_BIN_SHIFT

# Counter layout (float64 array of length N_COUNTERS); energies in MeV.
COUNTER_INCIDENT = 0
COUNTER_DEPOSITED = 1  # all energy deposited in the grid
COUNTER_MISSED = 2  # primaries that miss the grid
COUNTER_ESCAPED = 3  # 3..8: charged particles leaving through faces -x, +x, -y, +y, -z, +z
COUNTER_CUTOFF = 9  # part of the deposit made by particles falling below the cut-off
COUNTER_NEUTRAL = 10  # neutrons and gamma rays from non-elastic reactions (leave the grid)
COUNTER_BINDING = 11  # nuclear binding energy absorbed in non-elastic reactions
COUNTER_HISTORIES = 12
COUNTER_STEPS = 13
COUNTER_NONELASTIC = 14  # number of non-elastic reactions
COUNTER_PP_ELASTIC = 15  # number of p-p elastic collisions
COUNTER_PO_ELASTIC = 16  # number of p-16O elastic collisions
COUNTER_DEP_PRIMARY = 17  # part of the deposit made by primaries
COUNTER_DEP_SEC_PROTON = 18  # ... by secondary protons
COUNTER_DEP_SEC_OTHER = 19  # ... by other transported secondaries
COUNTER_DEP_LOCAL = 20  # ... on the spot: short-range fragments, nuclear recoils
COUNTER_NONELASTIC_ENERGY = 21  # kinetic energy of protons entering non-elastic reactions
COUNTER_NOT_TRANSPORTED = 22  # charged products deposited on the spot: stack or buffer full
COUNTER_NONELASTIC_PRIMARY = 23  # non-elastic reactions of primaries
COUNTER_NONELASTIC_PRIMARY_ENERGY = 24  # kinetic energy of primaries entering them
COUNTER_REJECTED = 25  # fictitious (rejected) discrete-interaction sites
COUNTER_SEGMENTS = 26  # voxel segments walked (a step crossing k boundaries has k + 1)
N_COUNTERS = 27
FACE_NAMES = ("-x", "+x", "-y", "+y", "-z", "+z")

# Parameter vector layout.
PAR_T_CUT = 0
PAR_MAX_RANGE_FRACTION = 1
PAR_STRAGGLING = 2
PAR_SCATTERING = 3
PAR_DOSE_TO_WATER = 4
PAR_SECONDARY_TALLY = 5
PAR_LET = 6
PAR_FINAL_RANGE = 7  # g/cm^2
PAR_VOXEL_STEPS = 8  # 1: every step ends at the first voxel boundary (reference mode)
PAR_MAX_STEP = 9  # cm: longest step, as areal density rho x this (0: only the step function)
N_PARAMS = 10

# LET accumulator layout (first axis of ``let_acc``): for all transported charged particles
# (k = 0..5) and for primaries only (k = LET_PRIMARY + 0..5). L is the unrestricted electronic
# stopping power [keV/um] at the step's mean kinetic energy, in the voxel's medium (L_m) or in
# liquid water (L_w); eps the energy deposited [MeV], l the track length [cm].
LET_EPS = 0  # sum eps
LET_EPS_LM = 1  # sum eps L_m
LET_EPS_LW = 2  # sum eps L_w
LET_LEN = 3  # sum l
LET_LEN_LM = 4  # sum l L_m
LET_LEN_LW = 5  # sum l L_w
LET_PRIMARY = 6
N_LET = 12
_KEV_PER_UM = 0.1  # 1 MeV/cm = 0.1 keV/um

STACK_MAX = 256  # particle stack depth (a full stack deposits further products on the spot)
MAX_PRODUCTS = 64  # transported products of one non-elastic reaction (more: deposited locally)

_E_S2 = E_S_MEV * E_S_MEV  # Gottschalk (2010) E_s^2 [MeV^2]
_FDM0, _FDM1, _FDM2, _FDM3 = F_DM_COEFFS  # Gottschalk's (2010) f_dM fit (physics.scattering)
# Hinge candidates tried per step before the last one is kept. The acceptance probability
# f_dM(hinge)/A is 0.7-0.93 once a particle has lost 1 % of its initial energy and above 0.27
# after 0.1 % (from 3 to 300 MeV), so the cap is reached with negligible probability.
_MAX_HINGE_TRIES = 64
_PUSH = 1.0e-9  # cm: pushes a particle across the boundary it steps to
_INV_LN10 = 1.0 / math.log(10.0)
_TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always", error_model="numpy")
def _lin(tab, row, f):
    """Linear interpolation of tab[row] at fractional index f (clamped)."""
    n = tab.shape[1]
    r = _U(row)
    if f <= 0.0:
        return tab[r, 0]
    i = int(f)
    if i >= n - 1:
        return tab[r, _U(n - 1)]
    a = tab[r, _U(i)]
    return a + (f - i) * (tab[r, _U(i + 1)] - a)


@njit(cache=True, inline="always", error_model="numpy")
def range_to_index(range_tab, row, R, i):
    """Fractional table index of the energy whose tabulated CSDA range is R [g/cm^2]: the exact
    inverse of the piecewise-linear R(ln T), found by walking from interval ``i`` (a guess near
    the answer keeps the walk short). Returns -1 when R is at or
    below the first table entry. Works for any table that increases along the row. The kernel
    locates range intervals with :func:`range_interval` instead; this walk is the reference its
    tests compare with."""
    n = range_tab.shape[1]
    if R <= range_tab[_U(row), 0]:
        return -1.0
    if i > n - 2:
        i = n - 2
    if i < 0:
        i = 0
    while i > 0 and range_tab[_U(row), _U(i)] > R:
        i -= 1
    while i < n - 2 and range_tab[_U(row), _U(i + 1)] <= R:
        i += 1
    a = range_tab[_U(row), _U(i)]
    f = (R - a) / (range_tab[_U(row), _U(i + 1)] - a)
    if f > 1.0:
        f = 1.0
    return i + f


@njit(cache=True, inline="always", error_model="numpy")
def _frac_index(range_tab, row, i, R):
    """Fractional table index of range R [g/cm^2] in interval i of row ``row``."""
    a = range_tab[_U(row), _U(i)]
    f = (R - a) / (range_tab[_U(row), _U(i + 1)] - a)
    if f < 0.0:
        f = 0.0
    elif f > 1.0:
        f = 1.0
    return i + f


# Array subscripts in the kernel are cast to unsigned (``_U``): numba then omits the
# negative-index wrap-around arithmetic it adds to every signed subscript (measured: the
# kernel ~12 % faster on the development VM, results bit for bit the same). Every such
# subscript is non-negative by construction.
_U = np.uint64


@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE-754 bit pattern of a float64 as an int64 (a register move)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(cache=True, inline="always", error_model="numpy")
def range_interval(range_tab, range_bins, bin0, row, R):
    """Interval i of row ``row`` of ``range_tab`` holding the residual range R [g/cm^2], i.e. the
    largest i <= n - 2 with range_tab[row, i] <= R (0 when R is below the table), without a
    search: the bit pattern of R gives its bin of :data:`physics.tables.RANGE_BIN_SHIFT`
    (an exponent and the leading mantissa bits, i.e. a piecewise-linear log2 R) and
    ``range_bins[row, bin]`` the interval at the bin's lower edge (``bin0`` the first bin; see
    :func:`physics.tables.range_bin_table`). The bins are narrower than every table
    interval, so at most one table entry lies in a bin and one comparison, added to the bin's
    interval as 0 or 1, completes the look-up (:func:`physics.tables.range_bin_table` checks
    this when it builds the bins). The comparison is arithmetic, not a branch: whether R lies
    above the bin's table entry is a coin toss from one voxel segment to the next, and a
    mispredicted branch per segment made the kernel ~7 % slower on the development VM. The
    result does not depend on any earlier look-up, so consecutive voxel segments do not wait
    on each other's table reads."""
    n = range_tab.shape[1]
    nb = range_bins.shape[1]
    r = _U(row)
    b = (_f64_bits(R) >> RANGE_BIN_SHIFT) - bin0
    if b < 0:
        b = 0
    elif b >= nb:
        b = nb - 1
    i = np.int64(range_bins[r, _U(b)])  # <= n - 2, so entry i + 1 exists
    i += np.int64(range_tab[r, _U(i + 1)] <= R)
    return min(i, n - 2)


@njit(cache=True, inline="always", error_model="numpy")
def _range_index(range_tab, range_bins, bin0, row, R):
    """Fractional table index of the energy whose CSDA range is R [g/cm^2] (the exact inverse
    of the piecewise-linear R(ln T), as :func:`range_to_index`), located by
    :func:`range_interval`; -1 when R is at or below the first table entry."""
    if R <= range_tab[_U(row), 0]:
        return -1.0
    return _frac_index(range_tab, row, range_interval(range_tab, range_bins, bin0, row, R), R)


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


@njit(cache=True, inline="always", error_model="numpy")
def _push(stack, n, x, y, z, u, v, w, T, sp):
    stack[n, 0] = x
    stack[n, 1] = y
    stack[n, 2] = z
    stack[n, 3] = u
    stack[n, 4] = v
    stack[n, 5] = w
    stack[n, 6] = T
    stack[n, 7] = sp



@njit(cache=True, inline="always", error_model="numpy")
def _let_add(let_acc, k, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w):
    a = _U(ix)
    b = _U(iy)
    c = _U(iz)
    let_acc[_U(k + LET_EPS), a, b, c] += eps
    let_acc[_U(k + LET_EPS_LM), a, b, c] += eps * Ld_m
    let_acc[_U(k + LET_EPS_LW), a, b, c] += eps * Ld_w
    let_acc[_U(k + LET_LEN), a, b, c] += ell
    let_acc[_U(k + LET_LEN_LM), a, b, c] += ell * Lt_m
    let_acc[_U(k + LET_LEN_LW), a, b, c] += ell * Lt_w


@njit(cache=True, inline="always", error_model="numpy")
def _let_score(let_acc, primary, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w):
    """Add one track segment (deposit ``eps`` [MeV], length ``ell`` [cm]) with its LET in the
    medium and in water [keV/um] for the dose weighting (``Ld_*``) and the length weighting
    (``Lt_*``; the same for a condensed-history step) to the all-particle and, for a primary,
    the primary-only LET sums."""
    _let_add(let_acc, 0, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w)
    if primary:
        _let_add(let_acc, LET_PRIMARY, ix, iy, iz, eps, ell, Ld_m, Ld_w, Lt_m, Lt_w)


@njit(cache=True, inline="always", error_model="numpy")
def _let_dump(let_acc, primary, ix, iy, iz, T, row, f, range_tab, s_int_tab, water_ratio, rho):
    """LET sums of a particle of kinetic energy ``T`` [MeV] (table index ``f``) that stops on
    the spot, as if it slowed down continuously over its residual track R(T)/rho: the length
    weighting sees the track-mean stopping power T/R(T), the dose weighting the dose-mean
    int_0^T S dT'/T (each energy loss dT' carries its own S)."""
    R = _lin(range_tab, row, f)
    if R > 0.0 and T > 0.0:
        s_t = T / R
        s_d = _lin(s_int_tab, row, f) / T
        wr = _lin(water_ratio, row, f) * _KEV_PER_UM
        _let_score(let_acc, primary, ix, iy, iz, T, R / rho, s_d * rho * _KEV_PER_UM, s_d * wr,
                   s_t * rho * _KEV_PER_UM, s_t * wr)


@njit(cache=True, inline="always", error_model="numpy")
def _proton_on_spot(T, t_cut, ix, iy, iz, m, rho, edep, edep_sec, edep_water, let_acc, dep, counters,
                    do_sec, do_water, do_let, lnT0, inv_dlnT, water_ratio, range_tab, s_int_tab):
    """A secondary proton of kinetic energy ``T`` [MeV] that is not transported (below the
    cut-off, or the particle stack is full) deposits its energy in voxel (ix, iy, iz) of
    material ``m`` as a secondary-proton deposit; dose to water and LET use the proton row
    (species 0) at its own energy."""
    edep[ix, iy, iz] += T
    dep[1] += T
    if T > t_cut:
        counters[COUNTER_NOT_TRANSPORTED] += T
    else:
        counters[COUNTER_CUTOFF] += T
    if do_sec:
        edep_sec[ix, iy, iz] += T
    f = (math.log(T) - lnT0) * inv_dlnT
    if do_water:
        edep_water[ix, iy, iz] += T * _lin(water_ratio, m, f)
    if do_let:
        _let_dump(let_acc, False, ix, iy, iz, T, m, f, range_tab, s_int_tab, water_ratio, rho)


@njit(cache=True, error_model="numpy")
def _nonelastic(st, T, nuc_par, prod):
    """Products of a non-elastic reaction of a proton of kinetic energy ``T`` [MeV]: the
    energy-cascade model of :mod:`physics.nuclear` with parameters ``nuc_par``. Fills
    ``prod[j] = (species, kinetic energy [MeV], cos(polar angle to the projectile))`` for the
    transported protons and returns (number of them, energy deposited on the spot, energy of
    neutral particles, binding energy, part of the local energy that is protons not stored
    because ``prod`` was full) [MeV]; the first four parts add up to ``T``."""
    nb = int(nuc_par[NP_N_BANDS])
    b = NP_BAND0
    for i in range(nb):
        b = NP_BAND0 + 4 * i
        if T <= nuc_par[b]:
            break
    p_p = nuc_par[b + 1]
    p_n = nuc_par[b + 2]
    power = nuc_par[b + 3]
    e_b = nuc_par[NP_E_BIND]
    e_min = nuc_par[NP_E_MIN]
    e_r = T
    n = 0
    e_loc = 0.0
    e_neu = 0.0
    e_bind = 0.0
    e_ovf = 0.0
    while e_r - e_b > e_min:
        e_r -= e_b
        e_bind += e_b
        d = e_min + (e_r - e_min) * _uniform(st) ** power
        if d > e_r:
            d = e_r
        e_r -= d
        zeta = _uniform(st)
        if zeta < p_p:
            if n < prod.shape[0]:
                lo = 2.0 * d / T - 1.0
                c = lo + (1.0 - lo) * _uniform(st)
                prod[n, 0] = 0.0
                prod[n, 1] = d
                prod[n, 2] = c if c < 1.0 else 1.0
                n += 1
            else:
                e_loc += d
                e_ovf += d
        elif zeta < p_n:
            e_neu += d
        else:
            e_loc += d
        e_b *= nuc_par[NP_E_RATIO]
    e_loc += e_r
    return n, e_loc, e_neu, e_bind, e_ovf


@njit(cache=True, inline="always", error_model="numpy")
def _rotate(u, v, w, ct, s1, s2):
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


@njit(cache=True, inline="always", error_model="numpy")
def _mark(touched_mark, touched, nt, v_flat):
    """List flat voxel index ``v_flat`` in ``touched[nt]`` unless already flagged; returns the
    new count."""
    if touched_mark[_U(v_flat)] == 0:
        touched_mark[_U(v_flat)] = 1
        touched[_U(nt)] = v_flat
        nt += 1
    return nt


@njit(cache=True, inline="always", error_model="numpy")
def _widen(b, ix, iy, iz):
    """Bounding box ``b`` = (lowest x, y, z index, highest x, y, z index) widened to cover
    voxel (ix, iy, iz)."""
    return (min(b[0], ix), min(b[1], iy), min(b[2], iz), max(b[3], ix), max(b[4], iy), max(b[5], iz))


@njit(cache=True, inline="always", error_model="numpy")
def _col_run(col_z, c, a, b):
    """Widen the deposit layer range of z-column ``c`` to cover layers a..b (either order)."""
    lo = min(a, b)
    hi = max(a, b)
    cu = _U(c)
    if lo < col_z[0, cu]:
        col_z[0, cu] = lo
    if hi > col_z[1, cu]:
        col_z[1, cu] = hi


@njit(cache=True, inline="always", error_model="numpy")
def _energy_at(energy_tab, range_tab, slope_tab, row, i, R, E_min):
    """Kinetic energy [MeV] at residual range R [g/cm^2] in interval i of row ``row`` (the
    piecewise-linear inverse of the range table, slope ``slope_tab``), at least ``E_min``."""
    ru = _U(row)
    iu = _U(i)
    E = energy_tab[0, iu] + (R - range_tab[ru, iu]) * slope_tab[ru, iu]
    return E if E > E_min else E_min


@njit(cache=True, inline="always", error_model="numpy")
def _walk_limit(R_s, R_h, hinge, R_int):
    """The highest residual range [g/cm^2, current material] at which the walk of a step
    stops, and why: 1 the step's planned end R_s, 3 its hinge R_h (if still ahead), 2 the
    interaction site R_int (ties go to the planned end, then the hinge)."""
    R_lim = R_s
    why = 1
    if hinge and R_h > R_lim:
        R_lim = R_h
        why = 3
    if R_int > R_lim:
        R_lim = R_int
        why = 2
    return R_lim, why


@njit(cache=True, inline="always", error_model="numpy")
def _dda_axis(p, d, lo, h, i):
    """Voxel-walk set-up on one axis (Amanatides & Woo 1987, Eurographics '87, 3-10): from
    coordinate ``p`` [cm] in voxel ``i`` (grid origin ``lo``, spacing ``h``) moving with
    direction cosine ``d``, the path length to the next plane, the path length between planes
    and the index step."""
    if d > 0.0:
        inv = 1.0 / d
        return (lo + (i + 1) * h - p) * inv, h * inv, 1
    if d < 0.0:
        inv = 1.0 / d
        return (lo + i * h - p) * inv, -h * inv, -1
    return 1e300, 1e300, 0


@njit(cache=True, inline="always", error_model="numpy")
def _deflection_draw(st, u, v, w):
    """The random part of a multiple-scattering deflection of the direction (u, v, w), drawn
    before the step is walked (it does not depend on the walk, so its logarithm, square root
    and divisions run beside the walk instead of delaying the walk after the hinge): with two
    independent Gaussian projected angles of variance th0sq the space angle is theta^2 =
    th0sq chi2, chi2 = -2 ln q, q uniform, at a uniform azimuth phi; (q, phi) come from one
    point (a, b) uniform in the unit disc (q = a^2 + b^2 is uniform and independent of the
    point's polar angle psi; phi = 2 psi: cos = (a^2 - b^2)/q, sin = 2ab/q; Marsaglia & Bray
    1964). Returns chi2 and the unit vector p perpendicular to the direction at azimuth phi,
    cos(phi) e1 + sin(phi) e2 in the frame e1 = (u w, v w, -(1 - w^2)) / sqrt(1 - w^2),
    e2 = (-v, u, 0) / sqrt(1 - w^2); see :func:`_deflect_by`."""
    while True:
        a = 2.0 * _uniform(st) - 1.0
        b = 2.0 * _uniform(st) - 1.0
        q = a * a + b * b
        if 0.0 < q < 1.0:
            break
    chi2 = -2.0 * math.log(q)
    iq = 1.0 / q
    cph = (a * a - b * b) * iq
    sph = 2.0 * a * b * iq
    sw2 = 1.0 - w * w
    if sw2 > 1e-12:
        isw = 1.0 / math.sqrt(sw2)
        return chi2, (cph * u * w - sph * v) * isw, (cph * v * w + sph * u) * isw, -cph * sw2 * isw
    return chi2, cph, sph, 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _deflect_by(u, v, w, th0sq, chi2, px, py, pz):
    """Direction (u, v, w) after multiple scattering with projected-angle variance ``th0sq``
    [rad^2] per plane: turned by the space angle theta, theta^2 = th0sq chi2, towards the unit
    vector (px, py, pz) perpendicular to it (chi2 and p from :func:`_deflection_draw` for this
    direction): cos(theta) d + sin(theta) p."""
    if th0sq <= 0.0:
        return u, v, w
    th2 = th0sq * chi2
    if th2 < 2.5e-3:
        # series of cos and sin, error < th^6/720 < 2e-11
        ct = 1.0 - 0.5 * th2 + th2 * th2 / 24.0
        sn = math.sqrt(th2) * (1.0 - th2 / 6.0 + th2 * th2 / 120.0)
    else:
        th = math.sqrt(th2)
        if th > math.pi:
            th = math.pi
        ct = math.cos(th)
        sn = math.sin(th)
    un = ct * u + sn * px
    vn = ct * v + sn * py
    wn = ct * w + sn * pz
    # renormalise (rounding only: d and p are orthonormal)
    nrm = 1.5 - 0.5 * (un * un + vn * vn + wn * wn)
    return un * nrm, vn * nrm, wn * nrm


@njit(cache=True, inline="always", error_model="numpy")
def _f_dm(p1v1_inv2, inv_pv2, lg_pv):
    """Gottschalk's (2010) f_dM (see :mod:`physics.scattering`) from 1/(p1v1)^2 and 1/(pv)^2
    [MeV^-2] and lg(pv/MeV); may be negative (no scattering) where pv is close to p1v1."""
    r2 = 1.0 - p1v1_inv2 / inv_pv2
    if r2 < 1e-300:
        r2 = 1e-300
    lg1 = math.log(r2) * _INV_LN10
    return _FDM0 + _FDM1 * lg1 + _FDM2 * lg_pv - _FDM3 * lg_pv * lg1


@njit(cache=True, inline="always", error_model="numpy")
def _lin3(tab, row, k, f):
    """Linear interpolation of tab[row, k] at fractional index f (clamped)."""
    n = tab.shape[2]
    r = _U(row)
    c = _U(k)
    if f <= 0.0:
        return tab[r, c, 0]
    i = int(f)
    if i >= n - 1:
        return tab[r, c, _U(n - 1)]
    a = tab[r, c, _U(i)]
    return a + (f - i) * (tab[r, c, _U(i + 1)] - a)


@njit(cache=True, inline="always", error_model="numpy")
def _cos_lab_elastic(Ti, T, M):
    """Laboratory polar-angle cosine of a particle leaving an elastic collision of two equal
    masses M [MeV] with kinetic energy Ti [MeV], the projectile having had T [MeV]
    (relativistic two-body kinematics: cos^2 theta = Ti (T + 2M) / (T (Ti + 2M)))."""
    c2 = Ti * (T + 2.0 * M) / (T * (Ti + 2.0 * M))
    if c2 > 1.0:
        c2 = 1.0
    return math.sqrt(c2)


def _make_kernel(optional_tallies):
    """The transport kernel (see :func:`transport_batch`), compiled either with the optional
    tallies (dose to water, secondary dose, LET, the touched-voxel list) enabled as the
    parameters say (``optional_tallies`` True) or with all of them left out (False).
    ``optional_tallies`` is a closure constant, so the second kernel has none of their code
    in the voxel walk (measured on the development VM: 5-7 % faster, paired runs, than one
    that tests the flags at run time). numba caches each under its own key."""

    # fastmath subset: fused multiply-add, division as multiplication by the reciprocal, no
    # signed-zero distinction. Library functions stay exact, NaN/inf semantics and the order of
    # additions (no reassociation) are kept, so results are deterministic for a given build
    # (measured: ~5 % faster on the development VM).
    @njit(cache=True, error_model="numpy", fastmath={"contract", "arcp", "nsz"})
    def kernel(
        n_histories, rng_state,
        spot_cdf, spot_energy, spot_energy_sigma, spot_pos, spot_dir, spot_ax1, spot_ax2,
        spot_sigma, spot_div, spot_species,
        mat_id, density, lower, spacing,
        lnT0, inv_dlnT, energy_tab, range_tab, water_ratio, sigma_tab, lg_pv_tab, inv_pv2_tab, rstrag_tab,
        inv_xs, range_bins, bin0, sp_charge, sp_mass,
        chan_xs, chan_kind, nuc_par, stop_tab, s_int_tab, slope_tab, scat_int_tab,
        params,
        edep, edep_water, edep_sec, fluence_z, let_acc, counters,
        touched_mark, touched, n_touched, bbox, col_z,
    ):
        """Transport one batch (see :func:`transport_batch`)."""
        st = np.empty(4, np.uint64)
        st[:] = rng_state
        nx, ny, nz = mat_id.shape
        # flat views of the voxel arrays read and written per voxel segment (all C-contiguous):
        # the walk keeps the flat index vi = (ix ny + iy) nz + iz up to date by strides
        mat_flat = mat_id.reshape(mat_id.size)
        rho_flat = density.reshape(density.size)
        edep_flat = edep.reshape(edep.size)  # (a placeholder when no history is run)
        nyz = ny * nz
        n_mat = inv_xs.shape[0]
        n_chan = chan_kind.shape[1]
        t_cut = params[PAR_T_CUT]
        max_frac = params[PAR_MAX_RANGE_FRACTION]
        final_range = params[PAR_FINAL_RANGE]
        vox_lim = params[PAR_VOXEL_STEPS] != 0.0
        max_step = params[PAR_MAX_STEP]
        f_cut = (math.log(t_cut) - lnT0) * inv_dlnT
        n_grid = range_tab.shape[1]
        r_cut_rows = np.empty(range_tab.shape[0])  # CSDA range at the cut-off, per table row
        for r in range(range_tab.shape[0]):
            r_cut_rows[r] = _lin(range_tab, r, f_cut)
        do_strag = params[PAR_STRAGGLING] != 0.0
        do_mcs = params[PAR_SCATTERING] != 0.0
        do_water = optional_tallies and params[PAR_DOSE_TO_WATER] != 0.0
        do_sec = optional_tallies and params[PAR_SECONDARY_TALLY] != 0.0
        do_let = optional_tallies and params[PAR_LET] != 0.0
        do_touch = optional_tallies and touched.shape[0] > 1
        nt = n_touched[0]
        n_fluence = fluence_z.shape[0]
        inv_dx = 1.0 / spacing[0]
        inv_dy = 1.0 / spacing[1]
        inv_dz = 1.0 / spacing[2]
        upper0 = lower[0] + nx * spacing[0]
        upper1 = lower[1] + ny * spacing[1]
        upper2 = lower[2] + nz * spacing[2]
        n_spots = spot_cdf.shape[0]
        n_steps = 0.0
        n_segments = 0.0
        # deposits lie on straight legs (step start to hinge, hinge to step end): the box of the
        # legs' end voxels holds every voxel they cross
        box = (bbox[0], bbox[1], bbox[2], bbox[3], bbox[4], bbox[5])
        # deposits by class: 0 primaries, 1 secondary protons, 2 other transported secondaries,
        # 3 local deposits of short-range products
        dep = np.zeros(4)
        stack = np.empty((STACK_MAX, 8))
        prod = np.empty((MAX_PRODUCTS, 3))
        part = np.empty(n_chan)
        M_p = sp_mass[0]

        for _h in range(n_histories):
            counters[COUNTER_HISTORIES] += 1.0
            # ---- source -------------------------------------------------------------------
            k = np.searchsorted(spot_cdf, _uniform(st), side="right")
            if k >= n_spots:
                k = n_spots - 1
            sp = spot_species[k]
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

            # ---- the primary, then every stacked secondary -----------------------------------
            cls = 0  # deposit class of the particle in flight (see ``dep``)
            iz_max = -2  # deepest voxel layer a primary has reached (-2: not yet in the grid)
            n_stack = 0
            while True:
                M = sp_mass[sp]
                z2 = sp_charge[sp] * sp_charge[sp]
                p1v1 = _pv(T, M)
                p1v1_inv2 = 1.0 / (p1v1 * p1v1)
                fT = (math.log(T) - lnT0) * inv_dlnT
                n_mfp = -math.log(1.0 - _uniform(st))
                spare = 0.0
                has_spare = False
                dep_p = 0.0  # deposited along this particle's steps [MeV]
                # ---- condensed-history loop of one particle: one iteration per step ----------
                cont = False  # the voxel walk goes on from the last step (no turn since)
                while True:
                    if not cont:
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
                        if cls == 0 and iz > iz_max:
                            if iz_max == -2:
                                iz_max = iz - 1  # layers upstream of the entry point were not crossed
                            for kz in range(iz_max + 1, min(iz + 1, n_fluence)):
                                fluence_z[_U(kz)] += 1.0
                            iz_max = iz
                        vi = ix * nyz + iy * nz + iz
                        m = mat_flat[_U(vi)]
                        rho = rho_flat[_U(vi)]
                        row = sp * n_mat + m

                        # voxel walk (Amanatides & Woo 1987): parameter of the next plane on each axis
                        tmx, tdx, stx = _dda_axis(x, u, lower[0], spacing[0], ix)
                        tmy, tdy, sty = _dda_axis(y, v, lower[1], spacing[1], iy)
                        tmz, tdz, stz = _dda_axis(z, w, lower[2], spacing[2], iz)
                        xs = x  # start of the straight leg the walk follows
                        ys = y
                        zs = z
                        t_leg = 0.0
                    cz0 = iz  # first layer of the current run of voxels in this z-column
                    box = _widen(box, ix, iy, iz)

                    # ---- plan the step in areal density of the start material [g/cm^2] ------
                    R0 = _lin(range_tab, row, fT)
                    if R0 > final_range:
                        dR = max_frac * R0 + final_range * (1.0 - max_frac) * (2.0 - final_range / R0)
                    else:
                        dR = R0
                    if max_step > 0.0 and dR > rho * max_step:
                        dR = rho * max_step
                    if vox_lim:
                        db = min(tmx, tmy, tmz) - t_leg
                        if db < 0.0:
                            db = 0.0
                        if rho * (db + _PUSH) < dR:
                            dR = rho * (db + _PUSH)
                    # free path to the next discrete-interaction site, sampled with the majorant
                    maj0 = _lin(sigma_tab, row, fT)
                    planned_int = False
                    if maj0 > 0.0 and n_mfp < maj0 * dR:
                        dR = n_mfp / maj0
                        planned_int = True
                    row0 = row
                    R_stop = R0 - dR
                    R_cut_row = r_cut_rows[_U(row)]
                    final = R_stop <= R_cut_row
                    if final:
                        # last step: to the cut-off energy, where the particle ends
                        planned_int = False  # the particle stops before the site
                        f_stop = f_cut
                        dR = R0 - R_cut_row
                    else:
                        f_stop = _range_index(range_tab, range_bins, bin0, row, R_stop)
                        if f_stop < f_cut:
                            f_stop = f_cut
                    if f_stop > fT:
                        f_stop = fT
                    E_stop = _lin(energy_tab, 0, f_stop)
                    if E_stop > T:
                        E_stop = T
                    dE_plan = T - E_stop
                    # energy-loss straggling of the planned step (not of the last one, see the
                    # module docstring): one factor scales every deposit
                    c_str = 1.0
                    if do_strag and dE_plan > 0.0 and not final:
                        s_end = _lin(stop_tab, row, f_stop)
                        var = s_end * s_end * (_lin(rstrag_tab, row, fT) - _lin(rstrag_tab, row, f_stop))
                        if has_spare:
                            gs = spare
                            has_spare = False
                        else:
                            gs, spare = _gauss_pair(st)
                            has_spare = True
                        dEs = _sample_loss(st, dE_plan, var, gs)
                        if dEs > T:
                            dEs = T
                        c_str = dEs / dE_plan
                    # multiple scattering: projected-angle variance of the step
                    # theta^2 = z^2 E_s^2 f_dM int dR/(pv)^2 / X_S, with f_dM at the mid-step pv and
                    # the exact integral of 1/(pv)^2 (``scat_int_tab``); random hinge
                    hinge = False
                    k_mcs = 0.0
                    f_h = fT
                    chi2 = 0.0
                    px = 0.0
                    py = 0.0
                    pz = 0.0
                    R_s = _lin(range_tab, row0, f_stop)
                    if do_mcs and dE_plan > 0.0 and R0 > R_s:
                        f_mid = 0.5 * (fT + f_stop)
                        fdm = _f_dm(p1v1_inv2, _lin(inv_pv2_tab, sp, f_mid), _lin(lg_pv_tab, sp, f_mid))
                        if fdm > 0.0:
                            dsg_step = _lin(scat_int_tab, row, fT) - _lin(scat_int_tab, row, f_stop)
                            # per unit of rho l / X_S walked (the segments' sum ``scat``)
                            k_mcs = fdm * z2 * _E_S2 * dsg_step / (R0 - R_s)
                            hinge = True
                            # hinge where a uniform fraction of the step's scattering has happened,
                            # i.e. with density proportional to T_dM along the step (for constant
                            # T_dM, uniform in path length as in Fippel & Soukup 2004), so that the
                            # lateral-displacement variance int T(s')(s - s')^2 ds' is right at every
                            # depth inside the step. In the table index f the density is
                            # f_dM(f) h(f), h the increment of the (piecewise-linear) scattering
                            # integral int dR/(pv)^2 over the interval holding f; h falls with the
                            # index (checked when the tables are built), so h_max, that of the
                            # step's lowest interval, bounds it over the step, as A = c0 + c2
                            # lg(pv_start) bounds f_dM (its lg(1 - (pv/p1v1)^2) term is <= 0 with a
                            # positive coefficient, and pv falls). Candidates uniform in f between
                            # the step's ends (no search) are accepted with probability
                            # (h/h_max)(f_dM/A); a squeeze, ln x >= 1 - 1/x, accepts most of them
                            # without the logarithm. (Written out: as an inlined helper it made the
                            # kernel ~5 % slower.)
                            a_max = _FDM0 + _FDM2 * _lin(lg_pv_tab, sp, fT)
                            i_lo = min(int(f_stop), n_grid - 2)
                            ah_max = a_max * (scat_int_tab[_U(row), _U(i_lo + 1)] - scat_int_tab[_U(row), _U(i_lo)])
                            df_step = fT - f_stop
                            for _try in range(_MAX_HINGE_TRIES):
                                f_h = f_stop + _uniform(st) * df_step
                                ih = min(int(f_h), n_grid - 2)
                                h = scat_int_tab[_U(row), _U(ih + 1)] - scat_int_tab[_U(row), _U(ih)]
                                inv_h = _lin(inv_pv2_tab, sp, f_h)
                                lgp_h = _lin(lg_pv_tab, sp, f_h)
                                ua = _uniform(st) * ah_max
                                r2 = 1.0 - p1v1_inv2 / inv_h
                                if r2 > 0.0 and ua <= h * (_FDM0 + _FDM2 * lgp_h + (_FDM1 - _FDM3 * lgp_h)
                                                           * (1.0 - 1.0 / r2) * _INV_LN10):
                                    break
                                if ua <= h * _f_dm(p1v1_inv2, inv_h, lgp_h):
                                    break
                            # the deflection's random numbers, for the hinge (or the step's end)
                            chi2, px, py, pz = _deflection_draw(st, u, v, w)
                    scat = 0.0  # sum of rho l / X_S over the segments walked before the hinge

                    # ---- walk the step through the voxels -----------------------------------
                    # Each voxel segment's mean energy loss comes from the range table of the
                    # segment's own material: the residual range R drops by rho l, and the energy
                    # follows the piecewise-linear inverse T(R) of the table (interval ``i_cur``,
                    # slope ``slope_tab``). Within one material every limit of the walk is a
                    # residual range: the step's end R_s, its hinge R_h and the interaction site
                    # R_int = R - n_mfp / sigma (sigma the step majorant; the free path in areal
                    # density drops with R), so a segment only compares its end with the highest
                    # of them, ``R_lim`` (recomputed when the material changes or at the hinge).
                    # The scattering walked before the hinge, sum rho l / X_S, is booked per
                    # material run from the drop of R since ``R_leg0``.
                    f_cur = fT
                    i_cur = min(int(fT), n_grid - 2)
                    E_cur = T
                    E_h = _lin(energy_tab, 0, f_h) if hinge else 0.0
                    # the start voxel's material, known from the plan
                    row_c = row0
                    R_cur = R0
                    R_h = _lin(range_tab, row0, f_h) if hinge else 0.0
                    maj = maj0
                    R_int = R0 - (n_mfp / maj0 if maj0 > 0.0 else 1e300)
                    R_leg0 = R0
                    xs_c = inv_xs[_U(m)]
                    R_lim, why_lim = _walk_limit(R_s, R_h, hinge, R_int)
                    why = 0  # how the walk ended: 0 escape, 1 planned end, 2 interaction site, 3 hinge
                    escaped = -1
                    while True:
                        # segments to the next voxel boundary in the walk's material (the common
                        # case) in a loop of their own; a change of material and the segment that
                        # ends at the walk's limit are handled below it (measured on the
                        # development VM: the kernel ~5 % faster, paired runs, than one loop for
                        # every kind of segment; results bit for bit the same)
                        while True:
                            m = mat_flat[_U(vi)]
                            rho = rho_flat[_U(vi)]
                            row = sp * n_mat + m
                            if row != row_c:
                                break
                            ell = min(tmx, tmy, tmz) - t_leg
                            if ell < 0.0:
                                ell = 0.0
                            R_next = R_cur - rho * ell
                            if R_next <= R_lim:
                                break
                            # interval of R_next, from the bits of R_next (no search, no
                            # dependence on the previous segment's interval)
                            i_next = range_interval(range_tab, range_bins, bin0, row, R_next)
                            if i_next > i_cur:
                                i_next = i_cur
                            E_next = _energy_at(energy_tab, range_tab, slope_tab, row, i_next, R_next, E_stop)
                            if E_next > E_cur:
                                E_next = E_cur
                            dEm = E_cur - E_next
                            d = c_str * dEm
                            if d > T:
                                d = T
                            if d > 0.0:
                                T -= d
                                edep_flat[_U(vi)] += d
                                dep_p += d
                                if do_sec and cls != 0:
                                    edep_sec[_U(ix), _U(iy), _U(iz)] += d
                                if do_water or do_let:
                                    fa = _frac_index(range_tab, row, i_cur, R_cur)
                                    fb = _frac_index(range_tab, row, i_next, R_next)
                                    wr = _lin(water_ratio, row, 0.5 * (fa + fb))
                                    if do_water:
                                        edep_water[_U(ix), _U(iy), _U(iz)] += d * wr
                                    if do_let and ell > 0.0:
                                        # exact CSDA averages of the mass stopping power over
                                        # the segment [MeV cm^2/g]: dose-weighted int S dE / dE
                                        # and length-weighted dE / (rho dl)
                                        s_d = (_lin(s_int_tab, row, fa) - _lin(s_int_tab, row, fb)) / dEm
                                        s_t = dEm / (rho * ell)
                                        _let_score(let_acc, cls == 0, ix, iy, iz, d, ell, s_d * rho * _KEV_PER_UM,
                                                   s_d * wr * _KEV_PER_UM, s_t * rho * _KEV_PER_UM,
                                                   s_t * wr * _KEV_PER_UM)
                                if do_touch:
                                    nt = _mark(touched_mark, touched, nt, vi)
                            n_segments += 1.0
                            t_leg += ell
                            R_cur = R_next
                            i_cur = i_next
                            E_cur = E_next
                            # into the next voxel (the three axes written out: a shared helper for
                            # the index step made the kernel ~10 % slower)
                            if tmx <= tmy and tmx <= tmz:
                                _col_run(col_z, ix * ny + iy, cz0, iz)
                                cz0 = iz
                                ix += stx
                                vi += stx * nyz
                                tmx += tdx
                                if ix < 0 or ix >= nx:
                                    escaped = 0 if stx < 0 else 1
                            elif tmy <= tmz:
                                _col_run(col_z, ix * ny + iy, cz0, iz)
                                cz0 = iz
                                iy += sty
                                vi += sty * nz
                                tmy += tdy
                                if iy < 0 or iy >= ny:
                                    escaped = 2 if sty < 0 else 3
                            else:
                                iz += stz
                                vi += stz
                                tmz += tdz
                                if iz < 0 or iz >= nz:
                                    escaped = 4 if stz < 0 else 5
                                elif cls == 0 and iz > iz_max:
                                    if iz < n_fluence:
                                        fluence_z[_U(iz)] += 1.0
                                    iz_max = iz
                            if escaped >= 0:
                                break
                        if escaped >= 0:
                            why = 0
                            break
                        if row != row_c:
                            # into another material: carry the energy index and the free path over
                            if hinge:
                                scat += (R_leg0 - R_cur) * xs_c
                            f_cur = _frac_index(range_tab, row_c, i_cur, R_cur)
                            if maj > 0.0:
                                n_mfp = max(R_cur - R_int, 0.0) * maj
                            row_c = row
                            R_cur = _lin(range_tab, row, f_cur)
                            i_cur = min(int(f_cur), n_grid - 2)
                            R_s = _lin(range_tab, row, f_stop)
                            R_h = _lin(range_tab, row, f_h)
                            maj = _lin(sigma_tab, row, fT)
                            R_int = R_cur - (n_mfp / maj if maj > 0.0 else 1e300)
                            R_leg0 = R_cur
                            xs_c = inv_xs[_U(m)]
                            R_lim, why_lim = _walk_limit(R_s, R_h, hinge, R_int)
                            continue
                        # the segment that ends in this voxel at the step's end, its hinge or the
                        # interaction site
                        why = why_lim
                        a_min = R_cur - R_lim
                        if a_min < 0.0:
                            a_min = 0.0
                        ell = a_min / rho
                        if why == 1:
                            R_next = R_s
                            E_next = E_stop
                            i_next = min(int(f_stop), n_grid - 2)
                        elif why == 3:
                            R_next = R_h
                            E_next = E_h
                            i_next = min(int(f_h), n_grid - 2)
                        else:
                            R_next = R_cur - a_min
                            i_next = range_interval(range_tab, range_bins, bin0, row, R_next)
                            if i_next > i_cur:
                                i_next = i_cur
                            E_next = _energy_at(energy_tab, range_tab, slope_tab, row, i_next, R_next, E_stop)
                        # its deposit, as in the loop above (written out twice: an inline helper
                        # taking the tally arrays made the kernel with the optional tallies 2.2x
                        # slower, numba reference-counting the arrays on every segment)
                        if E_next > E_cur:
                            E_next = E_cur
                        dEm = E_cur - E_next
                        d = c_str * dEm
                        if d > T:
                            d = T
                        if d > 0.0:
                            T -= d
                            edep_flat[_U(vi)] += d
                            dep_p += d
                            if do_sec and cls != 0:
                                edep_sec[_U(ix), _U(iy), _U(iz)] += d
                            if do_water or do_let:
                                fa = _frac_index(range_tab, row, i_cur, R_cur)
                                fb = _frac_index(range_tab, row, i_next, R_next)
                                wr = _lin(water_ratio, row, 0.5 * (fa + fb))
                                if do_water:
                                    edep_water[_U(ix), _U(iy), _U(iz)] += d * wr
                                if do_let and ell > 0.0:
                                    s_d = (_lin(s_int_tab, row, fa) - _lin(s_int_tab, row, fb)) / dEm
                                    s_t = dEm / (rho * ell)
                                    _let_score(let_acc, cls == 0, ix, iy, iz, d, ell, s_d * rho * _KEV_PER_UM,
                                               s_d * wr * _KEV_PER_UM, s_t * rho * _KEV_PER_UM,
                                               s_t * wr * _KEV_PER_UM)
                            if do_touch:
                                nt = _mark(touched_mark, touched, nt, vi)
                        n_segments += 1.0
                        t_leg += ell
                        R_cur = R_next
                        i_cur = i_next
                        E_cur = E_next
                        if why == 3:
                            # random hinge: deflect by the scattering of the whole planned step
                            # (walked part, plus the rest estimated in the hinge voxel's material)
                            x = xs + t_leg * u
                            y = ys + t_leg * v
                            z = zs + t_leg * w
                            th0sq = k_mcs * (scat + (R_leg0 - R_s) * xs_c)
                            u, v, w = _deflect_by(u, v, w, th0sq, chi2, px, py, pz)
                            hinge = False
                            R_lim, why_lim = _walk_limit(R_s, R_h, hinge, R_int)
                            box = _widen(box, ix, iy, iz)
                            _col_run(col_z, ix * ny + iy, cz0, iz)  # z may turn back after the hinge
                            cz0 = iz
                            xs = x
                            ys = y
                            zs = z
                            t_leg = 0.0
                            tmx, tdx, stx = _dda_axis(x, u, lower[0], spacing[0], ix)
                            tmy, tdy, sty = _dda_axis(y, v, lower[1], spacing[1], iy)
                            tmz, tdz, stz = _dda_axis(z, w, lower[2], spacing[2], iz)
                            continue
                        break
                    if maj > 0.0:
                        n_mfp = 0.0 if why == 2 else max(R_cur - R_int, 0.0) * maj
                    f_cur = f_stop if why == 1 else _frac_index(range_tab, row, i_cur, R_cur)
                    n_steps += 1.0
                    # the last voxel of the walk (back inside the grid after an escape)
                    box = _widen(box, min(max(ix, 0), nx - 1), min(max(iy, 0), ny - 1), min(max(iz, 0), nz - 1))
                    if escaped < 0 or escaped >= 4:  # (runs left through x or y are recorded)
                        _col_run(col_z, ix * ny + iy, cz0, min(max(iz, 0), nz - 1))
                    x = xs + t_leg * u
                    y = ys + t_leg * v
                    z = zs + t_leg * w
                    if escaped >= 0:
                        counters[COUNTER_ESCAPED + escaped] += T
                        break
                    if why == 1 and planned_int and row == row0:
                        # the planned interaction site, reached in the material it was sampled in
                        why = 2
                        n_mfp = 0.0
                    # the next step goes on along the same leg unless the direction changes
                    cont = not hinge
                    if hinge:
                        # the step ended before its hinge (interaction site in another material):
                        # deflect at the end point by the scattering of the walked part
                        u, v, w = _deflect_by(u, v, w, k_mcs * (scat + (R_leg0 - R_cur) * xs_c), chi2, px, py, pz)
                    # table index of the new energy: the mean end point corrected by the straggling
                    if T > 0.0:
                        q = (E_cur - T) / E_cur if E_cur > 0.0 else 1.0
                        if -1e-3 < q < 1e-3:
                            fT = f_cur - (q + 0.5 * q * q + q * q * q / 3.0) * inv_dlnT
                        else:
                            fT = (math.log(T) - lnT0) * inv_dlnT
                    if T <= t_cut or (final and why == 1):
                        # the end of the track (what the straggling of the last step left is far
                        # below a voxel's range): the rest is deposited here
                        edep[ix, iy, iz] += T
                        dep[cls] += T
                        counters[COUNTER_CUTOFF] += T
                        if do_sec and cls != 0:
                            edep_sec[ix, iy, iz] += T
                        if do_water:
                            edep_water[ix, iy, iz] += T * _lin(water_ratio, row, fT)
                        if do_let:
                            _let_dump(let_acc, cls == 0, ix, iy, iz, T, row, fT, range_tab, s_int_tab, water_ratio, rho)
                        if do_touch:
                            nt = _mark(touched_mark, touched, nt, (ix * ny + iy) * nz + iz)
                        break
                    if why != 2:
                        continue
                    sig_mass = maj
                    # ---- discrete nuclear interaction at the end of the step -----------------
                    n_mfp = -math.log(1.0 - _uniform(st))
                    if do_touch:
                        nt = _mark(touched_mark, touched, nt, (ix * ny + iy) * nz + iz)
                    tot = 0.0
                    for kc in range(n_chan):
                        part[kc] = _lin3(chan_xs, row, kc, fT)
                        tot += part[kc]
                    if _uniform(st) * sig_mass >= tot:
                        counters[COUNTER_REJECTED] += 1.0
                        continue
                    r = _uniform(st) * tot
                    kc = 0
                    while kc < n_chan - 1 and r >= part[kc]:
                        r -= part[kc]
                        kc += 1
                    kind = chan_kind[_U(m), _U(kc)]
                    phi = _TWO_PI * _uniform(st)
                    cph = math.cos(phi)
                    sph = math.sin(phi)
                    if kind == CHANNEL_PP_ELASTIC:
                        # p-p elastic, isotropic in the centre-of-mass frame; the more energetic
                        # proton continues this track (and keeps its primary status)
                        counters[COUNTER_PP_ELASTIC] += 1.0
                        T1 = 0.5 * T * (2.0 - _uniform(st))  # (1 + cos theta*)/2 in [1/2, 1]
                        T2 = T - T1
                        c1 = _cos_lab_elastic(T1, T, M_p)
                        c2 = _cos_lab_elastic(T2, T, M_p)
                        s1 = math.sqrt(max(0.0, 1.0 - c1 * c1))
                        s2 = math.sqrt(max(0.0, 1.0 - c2 * c2))
                        u2, v2, w2 = _rotate(u, v, w, c2, -s2 * cph, -s2 * sph)
                        u, v, w = _rotate(u, v, w, c1, s1 * cph, s1 * sph)
                        cont = False
                        T = T1
                        fT = (math.log(T) - lnT0) * inv_dlnT
                        p1v1 = _pv(T, M)
                        p1v1_inv2 = 1.0 / (p1v1 * p1v1)
                        if T2 > t_cut and n_stack < STACK_MAX:
                            _push(stack, n_stack, x, y, z, u2, v2, w2, T2, 0.0)
                            n_stack += 1
                        else:
                            _proton_on_spot(T2, t_cut, ix, iy, iz, m, rho, edep, edep_sec, edep_water, let_acc, dep,
                                            counters, do_sec, do_water, do_let, lnT0, inv_dlnT, water_ratio, range_tab,
                                            s_int_tab)
                        continue
                    if kind == CHANNEL_PO_ELASTIC:
                        # p-16O elastic (Fippel & Soukup 2004): the recoil energy is exponential
                        # with mean t_avg, truncated at the kinematic maximum, and is deposited on
                        # the spot; the deflection follows from the momentum transfer.
                        counters[COUNTER_PO_ELASTIC] += 1.0
                        t_avg = 0.65 * math.exp(-0.0013 * T) - 0.71 * math.exp(-0.0177 * T)
                        g = 1.0 + T / M_p
                        bg2 = g * g - 1.0
                        mr = O16_MASS_MEV / M_p
                        t_max = 2.0 * O16_MASS_MEV * bg2 / (1.0 + 2.0 * g * mr + mr * mr)
                        if t_max > T:
                            t_max = T
                        d_rec = -t_avg * math.log(1.0 - _uniform(st) * (1.0 - math.exp(-t_max / t_avg)))
                        if d_rec > t_max:
                            d_rec = t_max
                        T3 = T - d_rec
                        p1sq = T * (T + 2.0 * M_p)
                        p3sq = T3 * (T3 + 2.0 * M_p)
                        c1 = (p1sq + p3sq - d_rec * (d_rec + 2.0 * O16_MASS_MEV)) / (2.0 * math.sqrt(p1sq * p3sq))
                        if c1 > 1.0:
                            c1 = 1.0
                        elif c1 < -1.0:
                            c1 = -1.0
                        s1 = math.sqrt(1.0 - c1 * c1)
                        u, v, w = _rotate(u, v, w, c1, s1 * cph, s1 * sph)
                        cont = False
                        edep[ix, iy, iz] += d_rec
                        dep[3] += d_rec
                        if do_sec:
                            edep_sec[ix, iy, iz] += d_rec
                        if do_water:
                            # heavy recoil: the projectile's stopping-power ratio (the ratio depends
                            # little on the particle; documented approximation)
                            edep_water[ix, iy, iz] += d_rec * _lin(water_ratio, row, fT)
                        T = T3
                        fT = (math.log(T) - lnT0) * inv_dlnT
                        continue
                    # non-elastic: the projectile is absorbed, its energy shared by the products
                    counters[COUNTER_NONELASTIC] += 1.0
                    counters[COUNTER_NONELASTIC_ENERGY] += T
                    if cls == 0:
                        counters[COUNTER_NONELASTIC_PRIMARY] += 1.0
                        counters[COUNTER_NONELASTIC_PRIMARY_ENERGY] += T
                    n_prod, e_loc, e_neu, e_bind, e_ovf = _nonelastic(st, T, nuc_par, prod)
                    counters[COUNTER_NEUTRAL] += e_neu
                    counters[COUNTER_BINDING] += e_bind
                    counters[COUNTER_NOT_TRANSPORTED] += e_ovf
                    for j in range(n_prod):
                        Tj = prod[j, 1]
                        if Tj > t_cut and n_stack < STACK_MAX:
                            cj = prod[j, 2]
                            sj = math.sqrt(max(0.0, 1.0 - cj * cj))
                            ph = _TWO_PI * _uniform(st)
                            uj, vj, wj = _rotate(u, v, w, cj, sj * math.cos(ph), sj * math.sin(ph))
                            _push(stack, n_stack, x, y, z, uj, vj, wj, Tj, prod[j, 0])
                            n_stack += 1
                        else:
                            _proton_on_spot(Tj, t_cut, ix, iy, iz, m, rho, edep, edep_sec, edep_water, let_acc, dep,
                                            counters, do_sec, do_water, do_let, lnT0, inv_dlnT, water_ratio, range_tab,
                                            s_int_tab)
                    edep[ix, iy, iz] += e_loc
                    dep[3] += e_loc
                    if do_sec:
                        edep_sec[ix, iy, iz] += e_loc
                    if do_water:
                        # fragments deposited on the spot: the projectile's stopping-power ratio
                        edep_water[ix, iy, iz] += e_loc * _lin(water_ratio, row, fT)
                    break
                dep[cls] += dep_p
                # ---- next particle from the stack --------------------------------------------
                if n_stack == 0:
                    break
                n_stack -= 1
                x = stack[n_stack, 0]
                y = stack[n_stack, 1]
                z = stack[n_stack, 2]
                u = stack[n_stack, 3]
                v = stack[n_stack, 4]
                w = stack[n_stack, 5]
                T = stack[n_stack, 6]
                sp = int(stack[n_stack, 7])
                cls = 1 if sp == 0 else 2
        n_touched[0] = nt
        bbox[0], bbox[1], bbox[2], bbox[3], bbox[4], bbox[5] = box
        counters[COUNTER_DEPOSITED] += dep[0] + dep[1] + dep[2] + dep[3]
        counters[COUNTER_DEP_PRIMARY] += dep[0]
        counters[COUNTER_DEP_SEC_PROTON] += dep[1]
        counters[COUNTER_DEP_SEC_OTHER] += dep[2]
        counters[COUNTER_DEP_LOCAL] += dep[3]
        counters[COUNTER_STEPS] += n_steps
        counters[COUNTER_SEGMENTS] += n_segments

    return kernel


_KERNEL_PLAIN = _make_kernel(False)
_KERNEL_OPTIONAL = _make_kernel(True)


def transport_batch(
    n_histories, rng_state,
    spot_cdf, spot_energy, spot_energy_sigma, spot_pos, spot_dir, spot_ax1, spot_ax2,
    spot_sigma, spot_div, spot_species,
    mat_id, density, lower, spacing,
    lnT0, inv_dlnT, energy_tab, range_tab, water_ratio, sigma_tab, lg_pv_tab, inv_pv2_tab, rstrag_tab,
    inv_xs, range_bins, bin0, sp_charge, sp_mass,
    chan_xs, chan_kind, nuc_par, stop_tab, s_int_tab, slope_tab, scat_int_tab,
    params,
    edep, edep_water, edep_sec, fluence_z, let_acc, counters,
    touched_mark, touched, n_touched, bbox, col_z,
):
    """Transport ``n_histories`` primaries and all their charged secondaries, drawing random
    numbers from the xoshiro256+ state ``rng_state`` (uint64[4], not modified), and add

    * their energy deposits [MeV] to ``edep`` (and, if enabled, the water-equivalent deposit
      E (S_w/S_m) to ``edep_water``, and the part deposited by secondaries to ``edep_sec``);
    * if enabled, LET sums to ``let_acc`` (``LET_*`` layout; ``stop_tab[row]`` the electronic
      mass stopping power [MeV cm^2/g] on the energy grid, ``s_int_tab[row]`` its integral
      over energy from 0 [MeV^2 cm^2/g]);
    * to ``fluence_z[k]`` the number of primaries that reach voxel layer k along z (a primary
      stops being one at a non-elastic nuclear interaction);
    * the energy bookkeeping to ``counters`` (``COUNTER_*``);
    * if ``touched`` has more than one element, the flat index (ix ny + iy) nz + iz of every
      voxel that receives a deposit, once each, to ``touched[n_touched[0]:]`` (``touched_mark``
      flags listed voxels; the caller resets both), so that the deposits of one spot can be
      read out without scanning the grid (per-spot dose for dose-rate analysis);
    * the bounding box of the voxels it deposited in to ``bbox`` (int64[6]: lowest x, y, z
      index, then highest; widened, never narrowed: the caller resets it), so that batch
      tallies are accumulated over that block only; and, per column of voxels along z (flat
      index ix ny + iy), the lowest and highest iz that received a deposit, widened into
      ``col_z[0]`` and ``col_z[1]`` (int32; the caller resets them to 2^30 and -1).

    Geometry: material index ``mat_id`` and mass density ``density`` [g/cm^3] per voxel, the
    grid's lower corner ``lower`` and voxel size ``spacing`` [cm].

    Physics tables (:mod:`physics.tables`, rows ``species * n_materials + material`` on the grid
    ln T = ``lnT0`` + i / ``inv_dlnT``): ``energy_tab`` T [MeV], ``range_tab`` the CSDA range
    [g/cm^2], ``slope_tab`` the slope of T(R) [MeV cm^2/g] on each interval, ``range_bins``
    and ``bin0`` the interval look-up table of :func:`range_interval`
    (:func:`physics.tables.range_bin_table`), ``rstrag_tab`` the range-straggling integral Omega_R [g^2/cm^4],
    ``scat_int_tab`` int dR/(pv)^2 [g cm^-2 MeV^-2], ``water_ratio`` S_w/S_m; per species
    ``lg_pv_tab`` lg(pv/MeV) and ``inv_pv2_tab`` 1/(pv)^2 [MeV^-2], charge ``sp_charge`` and
    mass ``sp_mass`` [MeV]; per material ``inv_xs`` 1/X_S [cm^2/g].

    Source: spots with cumulative selection probabilities ``spot_cdf``; each has a mean energy
    and Gaussian sigma [MeV], a central position [cm] and unit direction, transverse unit axes
    ``spot_ax1``/``spot_ax2``, Gaussian position sigmas [cm] and angular sigmas [rad] along
    those axes, and a species index.

    Nuclear channels (``physics.nuclear``): ``chan_xs[row, k]`` is the mass cross section
    [cm^2/g] of channel k of the material (``sigma_tab[row]`` their sum), ``chan_kind[m, k]``
    its process (``physics.nuclear.CHANNEL_*``); ``nuc_par`` the non-elastic product-model
    parameters (``physics.nuclear.product_model_parameters``).
    """
    optional = (params[PAR_DOSE_TO_WATER] != 0.0 or params[PAR_SECONDARY_TALLY] != 0.0 or params[PAR_LET] != 0.0
                or touched.shape[0] > 1)
    kernel = _KERNEL_OPTIONAL if optional else _KERNEL_PLAIN
    kernel(
        n_histories, rng_state,
        spot_cdf, spot_energy, spot_energy_sigma, spot_pos, spot_dir, spot_ax1, spot_ax2,
        spot_sigma, spot_div, spot_species,
        mat_id, density, lower, spacing,
        lnT0, inv_dlnT, energy_tab, range_tab, water_ratio, sigma_tab, lg_pv_tab, inv_pv2_tab, rstrag_tab,
        inv_xs, range_bins, bin0, sp_charge, sp_mass,
        chan_xs, chan_kind, nuc_par, stop_tab, s_int_tab, slope_tab, scat_int_tab,
        params,
        edep, edep_water, edep_sec, fluence_z, let_acc, counters,
        touched_mark, touched, n_touched, bbox, col_z,
    )
