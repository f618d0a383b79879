"""The kernel's pieces (mc.kernel) against slow plain-Python references: the voxel walk of a
step, the source sampler, entering the grid, the multiple-scattering deflection, the
straggling sampler, the energy index after a step and the particle stack.

Each compiled piece is called on its own (numba compiles it as a function of its own) and
compared with an independent computation: exact where the reference does the same arithmetic
by other means, within a few standard errors where it is a distribution."""

import math

import numpy as np
import pytest
from scipy import stats

from geometry.voxel import VoxelGrid
from mc.batch import batch_seed
from mc.jit import python_entry
from mc.kernel import bundles as kb
from mc.kernel import lookup, source, stack, walk
from mc.kernel.layout import N_CLASSES, N_COUNTERS, N_LET, NO_FACE, WHY_ESCAPED, WHY_STEP_END
from mc.kernel.rng import uniform
from mc.kernel.stack import new_stack
from mc.kernel.step import StepPlan
from mc.kernel.walk import flat_grid
from mc.source import SpotArrays, transverse_axes
from physics import scattering, straggling

# the stages are compiled for compiled callers only; these are their Python entry points
energy_index, index_after_loss = python_entry(lookup.energy_index), python_entry(lookup.index_after_loss)
sample_source = python_entry(source.sample_source)
has_room, pop, push = python_entry(stack.has_room), python_entry(stack.pop), python_entry(stack.push)
distance_to_grid, start_walker = python_entry(walk.distance_to_grid), python_entry(walk.start_walker)
walk_step = python_entry(walk.walk_step)
deflect_by, deflection_draw = python_entry(scattering.deflect_by), python_entry(scattering.deflection_draw)
sample_energy_loss = python_entry(straggling.sample_energy_loss)
from physics.tables import build_tables

MATERIALS = ("water", "bone_cortical", "lung")


def _grid(seed=3, shape=(4, 5, 6), spacing=(0.3, 0.4, 0.5)):
    rng = np.random.default_rng(seed)
    mat = rng.integers(0, len(MATERIALS), size=shape).astype(np.uint8)
    rho = rng.uniform(0.3, 1.9, size=shape).astype(np.float32)
    spacing = np.asarray(spacing)
    origin = -0.5 * spacing * np.asarray(shape) + 0.5 * spacing  # centre of voxel 0,0,0
    return VoxelGrid(mat, rho, MATERIALS, spacing, origin)


def _tallies(shape):
    col_z = np.empty((2, shape[0] * shape[1]), np.int32)
    col_z[0] = 2**30
    col_z[1] = -1
    one = (1, 1, 1)
    return kb.Tallies(np.zeros(shape), np.zeros(one), np.zeros(one), np.zeros(shape[2]), np.zeros((N_LET,) + one),
                      np.zeros(N_COUNTERS), np.zeros(N_CLASSES), np.zeros(1, np.int8), np.zeros(1, np.int64),
                      np.zeros(1, np.int64),
                      np.array([2**62] * 3 + [-1] * 3, np.int64), col_z)


def _reference_walk(grid, tables, p0, d, T0, f_stop):
    """Plain-Python walk of a straight leg: every plane crossing of the ray inside the grid
    (found per axis and sorted, not by the kernel's incremental voxel walk), and in each voxel
    the CSDA energy loss of its own material from numpy's interpolation of the range table
    (the energy is a piecewise-linear function of the fractional table index f, the same in
    every material; the first segment starts from the particle's own energy). Returns
    {voxel: deposit}, the visited voxels in order, the path length,
    the escape face (or NO_FACE) and the final fractional index."""
    lo, h, n = grid.lower_cm, grid.spacing_cm, np.array(grid.shape)
    idx = np.arange(tables.energy.size, dtype=float)
    E_of = lambda f: np.interp(f, idx, tables.energy)  # noqa: E731
    t_planes = [0.0]
    for ax in range(3):
        if d[ax] != 0.0:
            planes = lo[ax] + h[ax] * np.arange(n[ax] + 1)
            t = (planes - p0[ax]) / d[ax]
            t_planes += list(t[t > 0.0])
    t_planes = np.unique(t_planes)
    f = energy_index(T0, tables.lnT0, tables.inv_dlnT)
    E = T0  # the particle's energy; after the first segment, the table's at index f
    deposits, visited, path = {}, [], 0.0
    for ta, tb in zip(t_planes[:-1], t_planes[1:]):
        mid = p0 + 0.5 * (ta + tb) * d
        v = tuple(np.floor((mid - lo) / h).astype(int))
        if any(v[k] < 0 or v[k] >= n[k] for k in range(3)):
            face = next(2 * k + (1 if v[k] >= n[k] else 0) for k in range(3) if v[k] < 0 or v[k] >= n[k])
            return deposits, visited, path, face, f
        visited.append(v)
        row = grid.material_id[v]
        rho = float(grid.density[v])
        R_row = tables.range_gcm2[row]
        R = np.interp(f, idx, R_row)
        R_s = np.interp(f_stop, idx, R_row)
        R_next = R - rho * (tb - ta)
        if R_next <= R_s:
            deposits[v] = deposits.get(v, 0.0) + E - E_of(f_stop)
            return deposits, visited, path + (R - R_s) / rho, NO_FACE, f_stop
        f_next = np.interp(R_next, R_row, idx)
        deposits[v] = deposits.get(v, 0.0) + E - E_of(f_next)
        path += tb - ta
        f, E = f_next, E_of(f_next)
    raise AssertionError("the ray never left the grid")


@pytest.mark.parametrize("case", range(6))
def test_voxel_walk_of_a_step_matches_a_plain_python_ray_march(case):
    grid = _grid()
    tables = build_tables(grid.materials)
    tab = kb.tables_bundle(tables)
    sigma = np.zeros_like(tables.sigma_nuclear)
    rng = np.random.default_rng(100 + case)
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    p0 = grid.lower_cm + rng.uniform(0.2, 0.8, 3) * grid.spacing_cm * np.array(grid.shape)
    T0 = 30.0
    fT = energy_index(T0, tables.lnT0, tables.inv_dlnT)
    # the step's end: the energy after 1.5 g/cm^2 of water (some cases escape first)
    f_stop = float(np.interp(tables.csda_range(0, T0) - (0.3 + 0.4 * case), tables.range_gcm2[0],
                             np.arange(tables.energy.size)))
    ix, iy, iz = (int(k) for k in np.floor((p0 - grid.lower_cm) / grid.spacing_cm))
    row0 = int(grid.material_id[ix, iy, iz])
    R0 = float(np.interp(fT, np.arange(tables.energy.size), tables.range_gcm2[row0]))
    R_s = float(np.interp(f_stop, np.arange(tables.energy.size), tables.range_gcm2[row0]))
    E_stop = float(np.interp(f_stop, np.arange(tables.energy.size), tables.energy))
    plan = StepPlan(row0, R0, R_s, f_stop, E_stop, False, False, 0.0, 1.0, False, fT, 0.0, 0.0, 0.0, 0.0, 0.0)
    tal = _tallies(grid.shape)
    g = flat_grid(kb.geometry_bundle(grid), tal.edep)
    wk = start_walker(p0[0], p0[1], p0[2], d[0], d[1], d[2], ix, iy, iz, g)
    box0 = (ix, iy, iz, ix, iy, iz)
    out = walk_step(wk, iz, box0, iz, T0, fT, 0, True, -1, 1e30, plan, g, tab, sigma, tal,
                    False, False, False, False, 0, 0.0, 0.0)
    wk_end, T_end, face, box, n_seg, dep = out[0], out[1], out[10], out[12], out[15], out[16]
    deposits, visited, path, face_ref, f_end = _reference_walk(grid, tables, p0, d, T0, f_stop)

    ref = np.zeros(grid.shape)
    for v, e in deposits.items():
        ref[v] = e
    assert face == face_ref
    assert out[9] == (WHY_ESCAPED if face_ref != NO_FACE else WHY_STEP_END)
    assert np.allclose(tal.edep, ref, rtol=1e-9, atol=1e-12 * T0)
    assert dep == pytest.approx(ref.sum(), rel=1e-12) and T_end == pytest.approx(T0 - ref.sum(), rel=1e-12)
    assert wk_end.t_leg == pytest.approx(path, rel=1e-9)
    assert n_seg == len(visited)
    if face_ref == NO_FACE:
        assert (wk_end.ix, wk_end.iy, wk_end.iz) == visited[-1]
    # the block and the per-column layer ranges hold exactly the voxels visited
    vis = np.array(visited)
    assert tuple(box) == tuple(vis.min(axis=0)) + tuple(vis.max(axis=0))
    cols = {}
    for x, y, z in visited:
        c = x * grid.shape[1] + y
        lo_hi = cols.get(c, (z, z))
        cols[c] = (min(lo_hi[0], z), max(lo_hi[1], z))
    for c in range(grid.shape[0] * grid.shape[1]):
        expect = cols.get(c, (2**30, -1))
        assert (tal.col_z[0, c], tal.col_z[1, c]) == expect, f"column {c}"
    # a primary that starts in layer iz (reached) adds one to the fluence of every deeper layer it
    # enters, and nothing elsewhere
    fluence = np.zeros(grid.shape[2])
    fluence[iz + 1:vis[:, 2].max() + 1] = 1.0
    assert np.array_equal(tal.fluence_z, fluence)


def test_entering_the_grid_lands_on_its_surface_or_misses():
    grid = _grid()
    g = flat_grid(kb.geometry_bundle(grid), np.zeros(grid.shape))
    lo, hi = grid.lower_cm, grid.upper_cm
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(400):
        p = rng.uniform(-3.0, 3.0, 3)
        d = rng.uniform(1.5 * lo, 1.5 * hi) - p  # aimed near the grid: about half of them hit
        d /= np.linalg.norm(d)
        t = distance_to_grid(p[0], p[1], p[2], d[0], d[1], d[2], g)
        # plain reference: march along the ray in tiny steps
        s = np.linspace(0.0, 10.0, 20001)
        pts = p[None, :] + s[:, None] * d[None, :]
        inside = np.all((pts >= lo) & (pts < hi), axis=1)
        if t < 0.0:
            assert not inside.any()
            continue
        hits += 1
        q = p + t * d
        assert np.all(q >= lo - 1e-12) and np.all(q < hi)
        first = s[np.argmax(inside)] if inside.any() else None
        if first is not None:
            assert abs(t - first) <= 10.0 / 20000 + 1e-9
    assert 100 < hits < 350


def test_source_sampling_follows_the_spots():
    dirs = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8]])
    ax = [transverse_axes(d) for d in dirs]
    w = np.array([1.0, 3.0])
    spots = SpotArrays(np.cumsum(w) / w.sum(), np.array([100.0, 150.0]), np.array([0.0, 2.0]),
                       np.array([[0.0, 0.0, -5.0], [1.0, 2.0, -5.0]]), dirs,
                       np.array([a[0] for a in ax]), np.array([a[1] for a in ax]),
                       np.array([[0.3, 0.5], [0.4, 0.2]]), np.array([[0.002, 0.004], [0.003, 0.001]]),
                       np.zeros(2, np.int32), w)
    src = kb.source_bundle(spots)
    st = batch_seed(1, 0).copy()
    n = 20000
    out = np.array([sample_source(st, src) for _ in range(n)])
    second = out[:, 6] != 100.0  # spot 1 has an energy spread, spot 0 none
    # spot selection: binomial with p = 3/4
    assert second.mean() == pytest.approx(0.75, abs=4 * math.sqrt(0.75 * 0.25 / n))
    for k, sel in ((0, ~second), (1, second)):
        m = sel.sum()
        pos = out[sel, :3] - spots.pos[k]
        d = out[sel, 3:6]
        assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
        for a in range(2):
            axis = spots.ax1[k] if a == 0 else spots.ax2[k]
            x = pos @ axis
            assert x.mean() == pytest.approx(0.0, abs=4 * spots.sigma[k, a] / math.sqrt(m))
            assert x.std() == pytest.approx(spots.sigma[k, a], rel=4 / math.sqrt(2 * m))
            ang = d @ axis  # small-angle projected angle
            assert ang.std() == pytest.approx(spots.div[k, a], rel=4 / math.sqrt(2 * m) + 1e-3)
        # no displacement along the spot's direction
        assert np.allclose(pos @ spots.dir[k], 0.0, atol=1e-12)
        e = out[sel, 6]
        assert e.mean() == pytest.approx(spots.energy[k], abs=4 * spots.energy_sigma[k] / math.sqrt(m) + 1e-12)
        assert e.std() == pytest.approx(spots.energy_sigma[k], rel=4 / math.sqrt(2 * m), abs=1e-12)


def test_deflection_turns_by_the_drawn_angle_at_a_uniform_azimuth():
    # Two independent Gaussian projected angles of variance th0sq: the space angle has
    # theta^2 = th0sq chi2 with chi2 exponential of mean 2, the azimuth is uniform, and the
    # projections onto any two perpendicular axes are N(0, th0sq) (small angles).
    st = batch_seed(2, 0).copy()
    th0sq = 1.0e-4
    rng = np.random.default_rng(5)
    for d in (np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0]), rng.normal(size=3)):
        d = d / np.linalg.norm(d)
        e1, e2 = transverse_axes(d)
        n = 20000
        th2, proj1, proj2, phi = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        for i in range(n):
            chi2, px, py, pz = deflection_draw(st, d[0], d[1], d[2])
            p = np.array([px, py, pz])
            assert abs(p @ d) < 1e-12 and abs(np.linalg.norm(p) - 1.0) < 1e-12
            q = np.array(deflect_by(d[0], d[1], d[2], th0sq, chi2, px, py, pz))
            assert abs(np.linalg.norm(q) - 1.0) < 1e-12
            # the angle between the directions is the drawn one (plain trigonometry)
            assert math.acos(min(1.0, q @ d)) == pytest.approx(math.sqrt(th0sq * chi2), rel=1e-6, abs=1e-9)
            th2[i] = th0sq * chi2
            proj1[i], proj2[i] = q @ e1, q @ e2
            phi[i] = math.atan2(p @ e2, p @ e1)
        assert th2.mean() / th0sq == pytest.approx(2.0, rel=4 / math.sqrt(n))
        for proj in (proj1, proj2):
            assert proj.mean() == pytest.approx(0.0, abs=4 * math.sqrt(th0sq / n))
            assert proj.var() / th0sq == pytest.approx(1.0, rel=4 * math.sqrt(2.0 / n))
        assert stats.kstest((phi + math.pi) / (2 * math.pi), "uniform").pvalue > 1e-3


@pytest.mark.parametrize("mean,var", [(5.0, 0.09), (0.3, 0.02), (0.05, 0.004)])
def test_straggling_sampler_has_the_requested_mean_and_variance(mean, var):
    # Gaussian when the mean exceeds 5 sigma (first case), else a gamma law with the same mean
    # and variance: compared with scipy's gamma distribution of that shape (KS test).
    st = batch_seed(3, 0).copy()
    n = 40000
    g = np.random.default_rng(1).standard_normal(n)
    x = np.array([sample_energy_loss(st, mean, var, gi) for gi in g])
    assert x.min() >= 0.0
    assert x.mean() == pytest.approx(mean, abs=4 * math.sqrt(var / n))
    # the variance of a sample variance is (mu4 - sigma^4)/n; mu4 <= 9 sigma^4 here
    assert x.var() == pytest.approx(var, rel=4 * math.sqrt(8.0 / n))
    if mean * mean > 25 * var:
        assert stats.kstest(x, "norm", args=(mean, math.sqrt(var))).pvalue > 1e-3
    else:
        k = mean * mean / var
        assert stats.kstest(x, "gamma", args=(k, 0.0, var / mean)).pvalue > 1e-3


def test_energy_index_after_a_loss_equals_the_logarithm():
    tables = build_tables(("water",))
    for T_ref in (0.7, 12.0, 150.0):
        f_ref = energy_index(T_ref, tables.lnT0, tables.inv_dlnT)
        for q in (-2e-3, -5e-4, -1e-6, 0.0, 1e-6, 5e-4, 2e-3, 0.3):
            T = T_ref * (1.0 - q)
            f = index_after_loss(T, T_ref, f_ref, -1.0, tables.lnT0, tables.inv_dlnT)
            assert f == pytest.approx((math.log(T) - tables.lnT0) * tables.inv_dlnT, abs=1e-9)
    assert index_after_loss(0.0, 1.0, 3.0, -7.0, tables.lnT0, tables.inv_dlnT) == -7.0


def test_the_stack_is_last_in_first_out():
    stack = new_stack()
    ref = []
    n = 0
    rng = np.random.default_rng(4)
    for step in range(600):
        if ref and (rng.random() < 0.45 or not has_room(stack, n)):
            n, *row = pop(stack, n)
            assert tuple(row) == ref.pop()
        else:
            row = (*rng.normal(size=7), int(rng.integers(0, 3)))
            n = push(stack, n, *row)
            ref.append(tuple(float(v) for v in row[:7]) + (row[7],))
        assert n == len(ref)
    while ref:
        n, *row = pop(stack, n)
        assert tuple(row) == ref.pop()
    assert n == 0 and has_room(stack, n) and not has_room(stack, stack.shape[0])


def test_uniform_deviates_are_uniform_and_reproducible():
    a, b = batch_seed(9, 1).copy(), batch_seed(9, 1).copy()
    x = np.array([uniform(a) for _ in range(20000)])
    y = np.array([uniform(b) for _ in range(20000)])
    assert np.array_equal(x, y)
    assert x.min() >= 0.0 and x.max() < 1.0
    assert stats.kstest(x, "uniform").pvalue > 1e-3
