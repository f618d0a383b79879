"""Plan-recomputation benchmark: transport rate, peak memory and set-up time of recomputing a
treatment plan on a patient-like CT (``dicom`` configuration, :mod:`mc.patient`).

The case (written as DICOM into a temporary folder, no patient data)
--------------------------------------------------------------------
* CT: 256 x 256 x 150 voxels of 1.5 x 1.5 x 2 mm (384 x 384 x 300 mm), written with
  :func:`geometry.ct.write_ct_series`; patient coordinates (LPS, mm, head-first supine, the
  body centred on x = y = 0). A thorax-like body in air (-1000 HU): an elliptic cylinder
  (semi-axes 165 mm along x, 110 mm along y) of muscle (40 HU) under a 10 mm subcutaneous fat
  layer (-100 HU); two lungs (-750 HU, ellipsoids centred at x = +-72 mm, semi-axes 45, 55,
  130 mm, centre z = 40 mm); ribs (800 HU; a band 24-32 mm under the skin, 12 mm wide in z
  every 30 mm, not where |x| < 30 mm); a sternum (400 HU); a vertebral body (cancellous 700 HU
  inside a 3 mm cortical shell of 1200 HU, radius 18 mm), its spinal canal (15 HU) and spinous
  process (1000 HU); mediastinal fat (-60 HU); a contrast-filled aorta (100 HU); a tumour in the
  right lung (40 HU, a sphere of radius 31 mm at (-70, 0, 40) mm). Gaussian noise of 5 HU
  (seeded) is added everywhere. Through the default calibration (Schneider et al. 2000,
  geometry/calibration/schneider2000.yaml) the body on the 2 mm dose grid holds 19 of its 24
  materials (their shares of the body's voxels are in the JSON).
* RTSTRUCT (:func:`geometry.structures.write_rtstruct`): External (EXTERNAL, the body ellipse),
  Lung_R and Lung_L (ORGAN), Vertebra (ORGAN) and Target (PTV, the tumour sphere), one polygon
  per CT slice.
* RT Ion Plan (:func:`mc.plan.write_rt_ion_plan`): three beams (gantry 0, 270 and 180 degrees,
  couch 0, isocentre at the tumour's centre) on the machine examples/machines/generic_pbs.yaml.
  Spots on a 5 mm square grid in the isocentre plane, energy layers every ``--layer-step``
  (2.5 MeV); a spot is placed on a layer when the layer's range lies within the water-equivalent
  depths at which its ray (parallel to the beam axis) enters and leaves the tumour grown by a
  5 mm margin. Water-equivalent depth: the integral of the relative stopping power, taken as
  mass density (the calibration's HU-density curve) times the ratio of the electronic mass
  stopping powers of the voxel's material and of water at 100 MeV (physics.stopping); the range
  of a layer is Bortfeld's R0 = alpha E0^p in water (Med. Phys. 24 (1997) 2024; alpha = 0.0022
  cm MeV^-p, p = 1.77, physics.bragg). Every spot weight is 1. About 5,200 spots, 78-130 MeV.

What is measured
----------------
Every run recomputes the plan with ``dicom.dose_grid_mm`` [2, 2, 2] (``--ct-grid`` adds pairs
on the CT's own grid), ``crop_to: External``, ``--primaries`` (1e7; ``--quick`` 2e5) in
``--batches`` (10), no checkpoint during the run, in its own process (pinned to one core):

* the transport rate (``run_info["protons_per_s"]`` of :func:`mc.run.simulate`: the batch loop
  after compilation, one rank) of the heterogeneous patient ("hetero") and of the same plan on
  the same grid with the body overridden to water ("water": ``material_overrides: {External:
  {material: water}}``). They are measured in pairs: pair i runs in one process pinned to one
  core (the cores taken in turn), ``--primaries`` per kind in two simulate calls of half as
  many, interleaved hetero, water, water, hetero (water first in odd pairs), so that the ratio
  water rate / hetero rate is immune to the speed drift of a virtual machine and to the
  differing speeds of its cores. A kind's rate in a pair is its primaries over its transport
  time; the ratio is the geometric mean of the pairs' ratios (the rates reported are the
  medians over the pairs); the requirement: at most 1.5. A pair in which a run's process got
  less than 90 % of its core (CPU time / wall time of simulate: another process ran on the
  same core, as happens on a shared development machine) is reported but left out when an
  undisturbed pair exists.
* the peak resident set (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) of a process that has
  recomputed one kind once (the first run of a pair), also after the imports and after
  :func:`mc.patient.load_case`, and the sizes of the main arrays (CT, voxel grid, structure
  masks, tallies, result doses). The kernels come from the numba cache, filled by a first short
  run; the cache is keyed by the engine's sources (:mod:`mc.jit`), so a run during which they
  were edited compiles afresh: such runs are flagged (``kernels_compiled``) and their peak,
  which includes the compiler's memory, is used only when no other is left.
* set-up: :func:`mc.patient.load_case` (CT read, HU conversion, structure masks, plan, spots),
  ``--setup-repeats`` times with its cache cleared, and its parts separately (read_ct_series,
  load_calibration, read_rtstruct, structure_masks, ct_to_grid, read_rt_ion_plan, load_machine,
  plan_spots, and the check that every spot's ray enters the grid); the requirement: under 10 s.

    NUMBA_CACHE_DIR=/tmp/nc_bench python benchmarks/plan_throughput.py [--primaries N] [--quick]
        [--repeats K] [--cores C] [--ct-grid] [--out benchmarks/results]

Writes benchmarks/results/plan_throughput.json and plan_throughput.png (an axial CT slice with
the beams, and the rates of every run).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np

MACHINE = os.path.join(ROOT, "examples", "machines", "generic_pbs.yaml")
SHAPE = (256, 256, 150)
SPACING_MM = (1.5, 1.5, 2.0)
BODY_AXES_MM = (165.0, 110.0)
FAT_MM = 10.0
LUNG_CENTRE_MM, LUNG_AXES_MM = (72.0, 0.0, 40.0), (45.0, 55.0, 130.0)
VERTEBRA_CENTRE_MM, VERTEBRA_RADIUS_MM = (0.0, 55.0), 18.0
TARGET_CENTRE_MM, TARGET_RADIUS_MM = (-70.0, 0.0, 40.0), 31.0
SPOT_MARGIN_MM, SPOT_GRID_MM = 5.0, 5.0
GANTRY_DEG = (0.0, 270.0, 180.0)
NOISE_HU, SEED = 5.0, 20240601
#: HU of the regions (module docstring).
HU = {"air": -1000, "muscle": 40, "fat": -100, "lung": -750, "rib": 800, "sternum": 400, "cancellous": 700,
      "cortical": 1200, "canal": 15, "spinous": 1000, "mediastinal_fat": -60, "aorta": 100, "tumour": 40}
LIMIT_RATIO, LIMIT_SETUP_S = 1.5, 10.0
#: A run whose process got less than this share of one core's time (CPU time / wall time of
#: simulate) shared its core with another process.
CPU_SHARE_MIN = 0.9


# ---- the case ----------------------------------------------------------------------------------
def ct_axes_mm():
    """Voxel-centre coordinates [mm] along x, y, z (the CT centred on the origin)."""
    return [SPACING_MM[a] * (np.arange(SHAPE[a]) - 0.5 * (SHAPE[a] - 1)) for a in range(3)]


def _inside_ellipse(x, y, centre, axes):
    return ((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2 <= 1.0


def phantom_hu():
    """HU [ix, iy, iz] of the thorax-like CT (module docstring), painted region by region."""
    xs, ys, zs = ct_axes_mm()
    x, y, z = xs[:, None, None], ys[None, :, None], zs[None, None, :]
    a, b = BODY_AXES_MM
    body = np.broadcast_to(_inside_ellipse(x, y, (0, 0), (a, b)), SHAPE)
    hu = np.full(SHAPE, float(HU["air"]))
    hu[body] = HU["muscle"]
    hu[body & ~_inside_ellipse(x, y, (0, 0), (a - FAT_MM, b - FAT_MM))] = HU["fat"]
    lc, la = LUNG_CENTRE_MM, LUNG_AXES_MM
    for side in (-1.0, 1.0):
        lung = ((x - side * lc[0]) / la[0]) ** 2 + ((y - lc[1]) / la[1]) ** 2 + ((z - lc[2]) / la[2]) ** 2 <= 1.0
        hu[lung] = HU["lung"]
    ribs = (_inside_ellipse(x, y, (0, 0), (a - 24, b - 24)) & ~_inside_ellipse(x, y, (0, 0), (a - 32, b - 32))
            & (np.abs(x) >= 30.0) & (np.abs(np.mod(z + 150.0, 30.0) - 15.0) < 6.0))
    hu[ribs] = HU["rib"]
    hu[np.broadcast_to((np.abs(x) <= 15) & (y >= -100) & (y <= -90), SHAPE)] = HU["sternum"]
    mediastinum = _inside_ellipse(x, y, (0, -30), (25, 40)) & (z > -60)
    hu[mediastinum] = HU["mediastinal_fat"]
    hu[_inside_ellipse(x, y, (18, 25), (12, 12)) & (z > -60)] = HU["aorta"]
    vc, vr = VERTEBRA_CENTRE_MM, VERTEBRA_RADIUS_MM
    hu[np.broadcast_to(_inside_ellipse(x, y, vc, (vr, vr)), SHAPE)] = HU["cortical"]
    hu[np.broadcast_to(_inside_ellipse(x, y, vc, (vr - 3, vr - 3)), SHAPE)] = HU["cancellous"]
    hu[np.broadcast_to(_inside_ellipse(x, y, (0, vc[1] + vr + 8), (7, 7)), SHAPE)] = HU["canal"]
    hu[np.broadcast_to((np.abs(x) <= 4) & (y >= vc[1] + vr + 15) & (y <= vc[1] + vr + 26), SHAPE)] = HU["spinous"]
    tc = TARGET_CENTRE_MM
    hu[(x - tc[0]) ** 2 + (y - tc[1]) ** 2 + (z - tc[2]) ** 2 <= TARGET_RADIUS_MM ** 2] = HU["tumour"]
    hu += np.random.default_rng(SEED).normal(0.0, NOISE_HU, SHAPE)
    return np.clip(hu, -1024.0, 3071.0)


def _ellipse_planes(centre, axes, planes, n_points=128):
    """Axial polygons (n_points vertices on the ellipse, counter-clockwise from +z), one per
    (z [mm], scale) in ``planes``, the semi-axes multiplied by scale."""
    phi = 2.0 * np.pi * np.arange(n_points) / n_points
    out = []
    for z, s in planes:
        xy = np.column_stack([centre[0] + s * axes[0] * np.cos(phi), centre[1] + s * axes[1] * np.sin(phi)])
        out.append(np.column_stack([xy, np.full(n_points, float(z))]))
    return out


def _ellipsoid_planes(z_planes, centre_z, semi_z):
    """(z, scale) of the axial sections of an ellipsoid through the given planes."""
    u = 1.0 - ((np.asarray(z_planes) - centre_z) / semi_z) ** 2
    return [(z, float(np.sqrt(v))) for z, v in zip(z_planes, u) if v > 0.01]


def structure_contours(z_planes):
    """{name: (contours, RTROIInterpretedType)} of the case (module docstring)."""
    whole = [(z, 1.0) for z in z_planes]
    lc, la = LUNG_CENTRE_MM, LUNG_AXES_MM
    lung = _ellipsoid_planes(z_planes, lc[2], la[2])
    tc = TARGET_CENTRE_MM
    return {"External": (_ellipse_planes((0.0, 0.0), BODY_AXES_MM, whole, 256), "EXTERNAL"),
            "Lung_R": (_ellipse_planes((-lc[0], lc[1]), la[:2], lung), "ORGAN"),
            "Lung_L": (_ellipse_planes((lc[0], lc[1]), la[:2], lung), "ORGAN"),
            "Vertebra": (_ellipse_planes(VERTEBRA_CENTRE_MM, (VERTEBRA_RADIUS_MM,) * 2, whole, 64), "ORGAN"),
            "Target": (_ellipse_planes(tc[:2], (TARGET_RADIUS_MM,) * 2,
                                       _ellipsoid_planes(z_planes, tc[2], TARGET_RADIUS_MM), 64), "PTV")}


def relative_stopping_power(hu):
    """Relative (to water) stopping power of CT numbers ``hu``: calibration density times the
    electronic mass-stopping-power ratio of the voxel's material to water at 100 MeV."""
    from geometry.ct import load_calibration
    from physics.materials import get_material
    from physics.stopping import electronic_mass_stopping

    cal = load_calibration()
    s_w = electronic_mass_stopping(get_material("water"), 100.0)[0]
    ratio = np.array([electronic_mass_stopping(get_material(m), 100.0)[0] / s_w for m in cal.materials])
    return cal.density_g_cm3(hu) * ratio[cal.material_index(hu)]


def _range_mm(E_MeV):
    """Bortfeld's range-energy relation R = alpha E^p in water (physics.bragg.range_cm)."""
    from physics.bragg import range_cm

    return 10.0 * range_cm(E_MeV)


def _energy_MeV(range_mm):
    """The inverse of :func:`_range_mm`."""
    from physics.bragg import ALPHA, P

    return (np.asarray(range_mm) / 10.0 / ALPHA) ** (1.0 / P)


def _ray_depths(rsp, beam_dir, points_mm, step_mm=1.0, half_length_mm=350.0):
    """Water-equivalent depths [mm] at which rays along ``beam_dir`` through ``points_mm`` enter
    and leave the tumour grown by the spot margin (NaN where a ray misses it)."""
    from scipy.ndimage import map_coordinates

    t = np.arange(-half_length_mm, half_length_mm, step_mm)
    p = points_mm[:, None, :] + t[None, :, None] * beam_dir[None, None, :]
    axes = ct_axes_mm()
    idx = [(p[..., a] - axes[a][0]) / SPACING_MM[a] for a in range(3)]
    r = map_coordinates(rsp, [i.ravel() for i in idx], order=1, mode="constant", cval=0.0).reshape(p.shape[:2])
    wet = np.cumsum(r, axis=1) * step_mm
    inside = np.linalg.norm(p - np.asarray(TARGET_CENTRE_MM), axis=2) <= TARGET_RADIUS_MM + SPOT_MARGIN_MM
    hit = inside.any(axis=1)
    first = np.argmax(inside, axis=1)
    last = inside.shape[1] - 1 - np.argmax(inside[:, ::-1], axis=1)
    rows = np.arange(len(p))
    return np.where(hit, wet[rows, first], np.nan), np.where(hit, wet[rows, last], np.nan)


def beam_layers(rsp, gantry_deg, layer_step_MeV):
    """Layers [(nominal energy MeV, spot positions (n, 2) mm, weights (n,))] of one beam
    (module docstring), from the highest energy down."""
    from mc.plan import beam_axes

    axes = beam_axes(gantry_deg, 0.0)
    r = TARGET_RADIUS_MM + SPOT_MARGIN_MM
    g = np.arange(-np.floor(r / SPOT_GRID_MM), np.floor(r / SPOT_GRID_MM) + 1) * SPOT_GRID_MM
    xy = np.array([(u, v) for u in g for v in g if u * u + v * v <= r * r])
    points = np.asarray(TARGET_CENTRE_MM) + xy[:, 0:1] * axes[0] + xy[:, 1:2] * axes[1]
    near, far = _ray_depths(rsp, -axes[2], points)
    e_hi, e_lo = _energy_MeV(np.nanmax(far)), _energy_MeV(np.nanmin(near))
    layers = []
    for e in np.arange(e_hi, e_lo, -layer_step_MeV):
        e = float(np.round(e, 1))
        rng_mm = float(_range_mm(e))
        on = (near <= rng_mm) & (rng_mm <= far)
        if on.any():
            layers.append((e, xy[on], np.ones(int(on.sum()))))
    return layers


def write_case(folder, layer_step_MeV=2.5):
    """Write the case into ``folder`` (ct/, rtstruct.dcm, rtplan.dcm); returns its description and
    the HU array."""
    from geometry.ct import write_ct_series
    from geometry.structures import write_rtstruct
    from mc.plan import write_rt_ion_plan

    hu = phantom_hu()
    axes = ct_axes_mm()
    origin = np.array([axes[a][0] for a in range(3)])
    ct = write_ct_series(os.path.join(folder, "ct"), hu, SPACING_MM, origin)
    write_rtstruct(os.path.join(folder, "rtstruct.dcm"), structure_contours(axes[2]),
                   frame_of_reference_uid=ct.frame_of_reference_uid, study_instance_uid=ct.study_instance_uid,
                   referenced_series_uid=ct.series_instance_uid, referenced_sop_uids=list(ct.sop_instance_uids))
    rsp = relative_stopping_power(ct.hu)
    beams, summary = [], []
    for g in GANTRY_DEG:
        layers = beam_layers(rsp, g, layer_step_MeV)
        beams.append({"name": f"G{g:g}", "gantry_deg": g, "couch_deg": 0.0, "isocentre_mm": list(TARGET_CENTRE_MM),
                      "meterset_mu": 100.0, "layers": layers})
        summary.append({"gantry_deg": g, "layers": len(layers), "spots": int(sum(len(w) for _, _, w in layers)),
                        "energy_MeV": [layers[-1][0], layers[0][0]]})
    write_rt_ion_plan(os.path.join(folder, "rtplan.dcm"), beams, frame_of_reference_uid=ct.frame_of_reference_uid,
                      study_instance_uid=ct.study_instance_uid)
    return {"ct_shape": list(SHAPE), "ct_spacing_mm": list(SPACING_MM), "ct_origin_mm": origin.tolist(),
            "hu_regions": HU, "noise_hu": NOISE_HU, "seed": SEED, "target_centre_mm": list(TARGET_CENTRE_MM),
            "target_radius_mm": TARGET_RADIUS_MM, "spot_grid_mm": SPOT_GRID_MM, "layer_step_MeV": layer_step_MeV,
            "beams": summary, "spots": int(sum(b["spots"] for b in summary)),
            "machine": os.path.relpath(MACHINE, ROOT)}, ct.hu


def config_text(case_dir, kind, primaries, batches, dose_grid_mm=(2, 2, 2)):
    """YAML of the recomputation: ``kind`` "hetero" (the CT as calibrated) or "water" (the body
    overridden to water); ``dose_grid_mm`` None: the CT's grid."""
    grid = "" if dose_grid_mm is None else f", dose_grid_mm: {list(dose_grid_mm)}"
    water = ", material_overrides: {External: {material: water}}" if kind == "water" else ""
    out = os.path.join(case_dir, f"{kind}.h5")
    return (f"dicom: {{ct: ct, plan: rtplan.dcm, structures: rtstruct.dcm, machine: {MACHINE}, crop_to: External"
            f"{grid}{water}}}\n"
            f"run: {{primaries: {primaries}, seed: 7, batches: {batches}, checkpoint_interval_s: 3600}}\n"
            f"output: {{path: {out}, plot: false}}\n")


# ---- measurements, each in its own process -----------------------------------------------------
def _mib(n_bytes):
    return n_bytes / 2.0**20


def _peak_rss_mib():
    """Peak resident set of this process [MiB] (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _array_mib(*objs):
    """MiB of the numpy arrays among ``objs`` and in their attributes (recursively)."""
    total = 0.0
    for o in objs:
        if isinstance(o, np.ndarray):
            total += _mib(o.nbytes)
        elif hasattr(o, "__dict__") and not isinstance(o, type):
            total += _array_mib(*vars(o).values())
    return total


def _main_arrays(case, result):
    """Sizes [MiB] of the main arrays of a recomputation (the tallies as :func:`mc.run.prepare`
    allocates them on one rank: this rank's and the run's totals, and the batch buffer)."""
    from mc.tally import BatchBuffers, RankTallies

    shape = case.grid.shape
    tallies = [RankTallies(shape, False, False, False) for _ in range(2)]
    out = {"ct_hu": _array_mib(case.ct.hu), "grid_material_and_density": _array_mib(case.grid.material_id,
                                                                                    case.grid.density),
           "structure_masks": _array_mib(*case.masks.values()),
           "tallies_rank_and_total": sum(_array_mib(t.dose) for t in tallies),
           "batch_buffer": _array_mib(BatchBuffers(shape)),
           "result_doses": _array_mib(result.dose, result.dose_std, result.dose_per_primary, result.edep_per_primary),
           "spots": _array_mib(case.spots)}
    out["total"] = sum(out.values())
    return out


def _cache_files():
    """Files in the numba cache directory of this process (:data:`mc.jit.CACHE_DIR`)."""
    from mc.jit import CACHE_DIR

    return sum(len(f) for _, _, f in os.walk(CACHE_DIR)) if CACHE_DIR and os.path.isdir(CACHE_DIR) else 0


def _one_run(patient, simulate, cfg, kind):
    """One recomputation in this process: (row, case, result); the row holds the load_case time,
    the transport rate, the CPU share of simulate (CPU time / wall time) and the peak resident
    set so far. The kernels normally come from the numba cache; ``kernels_compiled`` tells when
    they did not (the cache is keyed by the engine's sources, so an edit of any of them
    recompiles), and the compiler's memory is then part of the peak."""
    n_cached = _cache_files()
    t0 = time.perf_counter()
    case = patient.load_case(cfg.dicom)
    t_load = time.perf_counter() - t0
    rss_loaded = _peak_rss_mib()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t1 = time.perf_counter()
    res = simulate(cfg)
    t_sim = time.perf_counter() - t1
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    info = res.run_info
    row = {"kind": kind, "protons_per_s": info["protons_per_s"], "transport_s": info["elapsed_s"],
           "primaries": info["primaries"], "steps_per_primary": info["steps"] / info["primaries"],
           "load_case_s": t_load, "simulate_wall_s": t_sim,
           "cpu_share": (ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime) / t_sim,
           "grid_shape": list(case.grid.shape), "n_materials": len(case.grid.materials),
           "mean_relative_uncertainty": info["mean_relative_uncertainty"], "peak_rss_after_load_case_MiB": rss_loaded,
           "peak_rss_MiB": _peak_rss_mib(), "kernels_compiled": _cache_files() > n_cached}
    return row, case, res


def _pair_worker(case_dir, kinds, primaries, batches, dose_grid, out_path):
    """The recomputations ``kinds`` (e.g. hetero, water, water, hetero) one after the other in
    this process (written as JSON). The first one's peak resident set is that of its kind
    alone; the sizes of the main arrays are taken after it."""
    from mc import patient
    from mc.config import load_config_text
    from mc.run import simulate

    cfgs = {k: load_config_text(config_text(case_dir, k, primaries, batches, dose_grid), base_dir=case_dir)[0]
            for k in set(kinds)}
    out = {"core": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "peak_rss_after_imports_MiB": _peak_rss_mib(), "runs": []}
    for i, kind in enumerate(kinds):
        row, case, res = _one_run(patient, simulate, cfgs[kind], kind)
        out["runs"].append(row)
        if i == 0:
            out["arrays_MiB"] = _main_arrays(case, res)
        case = res = None  # the next run's peak without this one's arrays
    with open(out_path, "w") as f:
        json.dump(out, f)


def _timed(times, name, fn, *args):
    t0 = time.perf_counter()
    value = fn(*args)
    times.setdefault(name, []).append(time.perf_counter() - t0)
    return value


def _setup_parts(dcfg, times):
    """Time the parts of :func:`mc.patient.load_case` (the same calls, in its order)."""
    from geometry.ct import ct_to_grid, grid_geometry, load_calibration, read_ct_series
    from geometry.structures import read_rtstruct, structure_masks
    from mc import patient
    from mc.beam_model import load_machine
    from mc.plan import read_rt_ion_plan
    from mc.plan_source import plan_spots

    ct = _timed(times, "read_ct_series", read_ct_series, dcfg.ct)
    cal = _timed(times, "load_calibration", load_calibration, dcfg.calibration)
    shape, origin_mm, spacing_mm = grid_geometry(ct, dcfg.dose_grid_mm)
    plan = _timed(times, "read_rt_ion_plan", read_rt_ion_plan, dcfg.plan)
    ss = _timed(times, "read_rtstruct", read_rtstruct, dcfg.structures)
    masks = _timed(times, "structure_masks", structure_masks, ss, shape, origin_mm, spacing_mm)
    grid = _timed(times, "ct_to_grid", ct_to_grid, ct, cal, dcfg.dose_grid_mm, masks[dcfg.crop_to])
    machine = _timed(times, "load_machine", load_machine, dcfg.machine)
    beams = list(plan.beams)
    source = _timed(times, "plan_spots", plan_spots, beams, machine)
    _timed(times, "check_spots_hit", patient._check_spots_hit, grid, source, beams)
    return grid, masks


def _clear_case_caches(patient):
    """Empty the in-process caches of :mod:`mc.patient` (``_CACHE`` and any other module-level
    dict named ``*_CACHE``), so that :func:`mc.patient.load_case` reads the files again."""
    for name, value in vars(patient).items():
        if name.endswith("_CACHE") and isinstance(value, dict):
            value.clear()


def _setup_worker(case_dir, repeats, dose_grid, out_path):
    """Set-up times: load_case (cache cleared each time) and its parts; then a short run that
    compiles the kernels (or loads them from the numba cache) for the measured runs."""
    from mc import patient
    from mc.config import load_config_text
    from mc.run import simulate

    cfg, _ = load_config_text(config_text(case_dir, "hetero", 2000, 2, dose_grid), base_dir=case_dir)
    load = []
    for _ in range(repeats):
        _clear_case_caches(patient)
        t0 = time.perf_counter()
        case = patient.load_case(cfg.dicom)
        load.append(time.perf_counter() - t0)
    parts = {}
    for _ in range(repeats):
        grid, masks = _setup_parts(cfg.dicom, parts)
    vox_cm3 = float(np.prod(grid.spacing_cm))
    body = masks["External"]
    counts = np.bincount(grid.material_id[body], minlength=len(grid.materials))
    t0 = time.perf_counter()
    simulate(cfg)
    row = {"load_case_s": load, "parts_s": parts, "jit_warm_run_s": time.perf_counter() - t0,
           "grid_shape": list(grid.shape), "grid_spacing_mm": (10 * grid.spacing_cm).tolist(),
           "spot_entries": int(case.spots.weight.size),
           "structure_volumes_cm3": {k: float(m.sum() * vox_cm3) for k, m in masks.items()},
           "body_materials_fraction": {grid.materials[i]: float(c / counts.sum()) for i, c in enumerate(counts) if c}}
    with open(out_path, "w") as f:
        json.dump(row, f)


# ---- driver ------------------------------------------------------------------------------------
def _pin(core):
    """A ``preexec_fn`` pinning the child process to ``core`` (None: no pinning)."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {core})


def _run_worker(args, core=None):
    """Run this script in ``--worker`` mode (on ``core``); returns its JSON."""
    out = args[-1]
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", *[str(a) for a in args]]
    r = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, preexec_fn=_pin(core))
    if r.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{r.stderr}")
    with open(out) as f:
        return json.load(f)


def measure_pairs(case_dir, primaries, batches, repeats, cores, dose_grid):
    """Pairs of hetero and water recomputations (module docstring): pair i in one process on
    core cores[i % len(cores)], ``primaries`` per kind in two runs, in the order hetero, water,
    water, hetero (even i) or water, hetero, hetero, water (odd i)."""
    grid_arg = "ct" if dose_grid is None else ",".join(f"{v:g}" for v in dose_grid)
    pairs, runs = [], []
    for i in range(repeats):
        core = cores[i % len(cores)]
        kinds = ["hetero", "water", "water", "hetero"] if i % 2 == 0 else ["water", "hetero", "hetero", "water"]
        load = os.getloadavg()[0]
        w = _run_worker(["pair", case_dir, ",".join(kinds), max(primaries // 2, batches), batches, grid_arg,
                         os.path.join(case_dir, f"pair{i}.json")], core)
        rate = {k: sum(r["primaries"] for r in w["runs"] if r["kind"] == k)
                / sum(r["transport_s"] for r in w["runs"] if r["kind"] == k) for k in ("hetero", "water")}
        for r in w["runs"]:
            r.update(pair=i, core=core)
            print(f"  pair {i} core {core}: {r['kind']:6s} {r['protons_per_s']:9.0f} protons/s, "
                  f"{r['steps_per_primary']:.1f} steps/primary, CPU share {r['cpu_share']:.2f}, load_case "
                  f"{r['load_case_s']:.2f} s" + (" (kernels compiled: the engine's sources changed)"
                                                  if r["kernels_compiled"] else ""), flush=True)
        runs += w["runs"]
        first = w["runs"][0]
        pairs.append({"pair": i, "core": core, "hetero_protons_per_s": rate["hetero"],
                      "water_protons_per_s": rate["water"], "ratio": rate["water"] / rate["hetero"],
                      "cpu_share_min": min(r["cpu_share"] for r in w["runs"]), "load_average_1min_before": load,
                      "peak_rss_after_imports_MiB": w["peak_rss_after_imports_MiB"],
                      "first_run": {"kind": first["kind"], "peak_rss_MiB": first["peak_rss_MiB"],
                                    "kernels_compiled": first["kernels_compiled"]},
                      "arrays_MiB": w["arrays_MiB"]})
    return {"dose_grid_mm": list(dose_grid) if dose_grid else "ct", "grid_shape": runs[0]["grid_shape"],
            **_ratio(pairs), **_peak_memory(pairs), "arrays_MiB": pairs[0]["arrays_MiB"], "pairs": pairs,
            "runs": runs}


def _ratio(pairs):
    """Rates and ratio of the undisturbed pairs (every run of the pair had the CPU to itself:
    CPU time / wall time of simulate >= CPU_SHARE_MIN), or of all pairs if none was."""
    calm = [p for p in pairs if p["cpu_share_min"] >= CPU_SHARE_MIN] or pairs

    def rate(kind):
        return float(np.median([p[f"{kind}_protons_per_s"] for p in calm]))

    def geo_mean(ps):
        return float(np.exp(np.mean(np.log([p["ratio"] for p in ps]))))

    ratio = geo_mean(calm)
    return {"hetero_protons_per_s": rate("hetero"), "water_protons_per_s": rate("water"),
            "ratio_water_to_hetero": ratio, "ratio_limit": LIMIT_RATIO, "ratio_pass": bool(ratio <= LIMIT_RATIO),
            "pairs_used": [p["pair"] for p in calm], "ratio_all_pairs": geo_mean(pairs),
            "disturbed_pairs": [p["pair"] for p in pairs if p["cpu_share_min"] < CPU_SHARE_MIN]}


def _peak_memory(pairs):
    """Peak resident set [MiB] of each kind: that of the first run of the pairs that begin with
    it (the process holding that recomputation only), preferring runs that loaded the kernels
    from the numba cache (the production case) to runs that compiled them."""
    out = {}
    for kind in ("hetero", "water"):
        firsts = [p["first_run"] for p in pairs if p["first_run"]["kind"] == kind]
        cached = [f for f in firsts if not f["kernels_compiled"]]
        out[kind] = max((f["peak_rss_MiB"] for f in cached or firsts), default=None)
        out[f"{kind}_includes_compilation"] = bool(firsts) and not cached
    return {"peak_rss_MiB": out}


def _machine_info():
    import numba
    import pydicom

    return {"cpu_count": os.cpu_count(),
            "cpus_allowed": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "pydicom": pydicom.__version__,
            "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"), "date": time.strftime("%Y-%m-%d %H:%M")}


def _parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--primaries", type=int, default=10_000_000, help="primaries per run (default 1e7)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2e5 primaries per run")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2, help="hetero/water pairs per grid")
    ap.add_argument("--setup-repeats", type=int, default=3, help="load_case timings (median reported)")
    ap.add_argument("--cores", type=int, default=2, help="cores the pairs are pinned to, in turn")
    ap.add_argument("--layer-step", type=float, default=2.5, help="energy-layer spacing [MeV]")
    ap.add_argument("--ct-grid", action="store_true", help="also measure pairs on the CT's own grid")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    return ap


def _benchmark(a, primaries, tmp, cores):
    """Write the case, time its set-up, measure the pairs; returns (results, axial HU slice at
    the target's centre)."""
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    case, hu = write_case(tmp, a.layer_step)
    case["write_s"] = time.perf_counter() - t0
    print(f"case: CT {SHAPE} voxels of {SPACING_MM} mm, {case['spots']} spots in {len(case['beams'])} beams "
          f"(written in {case['write_s']:.1f} s)", flush=True)
    setup = _run_worker(["setup", tmp, a.setup_repeats, os.path.join(tmp, "setup.json")])
    setup["load_case_median_s"] = float(np.median(setup["load_case_s"]))
    setup["parts_median_s"] = {k: float(np.median(v)) for k, v in setup["parts_s"].items()}
    setup["parts_sum_s"] = float(sum(setup["parts_median_s"].values()))
    setup.update(limit_s=LIMIT_SETUP_S, setup_pass=bool(setup["load_case_median_s"] < LIMIT_SETUP_S))
    print(f"set-up: load_case {setup['load_case_median_s']:.2f} s (" + ", ".join(
        f"{k} {v:.2f}" for k, v in setup["parts_median_s"].items()) + ")", flush=True)
    grids = [(2.0, 2.0, 2.0)] + ([None] if a.ct_grid else [])
    measured = []
    for g in grids:
        print(f"transport, dose grid {g or 'of the CT'}, {primaries:g} primaries per kind and pair (two runs each):",
              flush=True)
        measured.append(measure_pairs(tmp, primaries, a.batches, a.repeats, cores, g))
    k = int(np.argmin(np.abs(ct_axes_mm()[2] - TARGET_CENTRE_MM[2])))
    run = {"primaries_per_kind_and_pair": primaries, "primaries_per_run": max(primaries // 2, a.batches),
           "order": "pair i: hetero, water, water, hetero (i even); water, hetero, hetero, water (i odd)",
           "batches": a.batches, "pairs": a.repeats, "cores": cores, "seed": 7, "crop_to": "External",
           "checkpoint_interval_s": 3600}
    res = {"machine": _machine_info(), "load_average_before": load0, "load_average_after": os.getloadavg(),
           "case": case, "run": run, "setup": setup, "transport": measured}
    return res, (float(ct_axes_mm()[2][k]), hu[:, :, k])


def _plot(path, z_and_slice, res):
    """An axial CT slice through the target with the beam directions, and the rate of every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mc.plan import beam_axes

    xs, ys, _ = ct_axes_mm()
    z, hu_slice = z_and_slice
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    im = ax.imshow(hu_slice.T, origin="upper", cmap="gray", vmin=-1000, vmax=1300,
                   extent=(xs[0], xs[-1], ys[-1], ys[0]))
    fig.colorbar(im, ax=ax, label="HU")
    tc = TARGET_CENTRE_MM
    ax.add_patch(plt.Circle(tc[:2], TARGET_RADIUS_MM, fill=False, color="r"))
    for g in GANTRY_DEG:
        d = -beam_axes(g, 0.0)[2][:2]
        start = np.asarray(tc[:2]) - 150.0 * d
        ax.annotate("", xy=start + 90.0 * d, xytext=start, arrowprops={"color": "c", "width": 2})
    ax.set_xlabel("x [mm] (patient left)")
    ax.set_ylabel("y [mm] (posterior)")
    ax.set_title(f"CT at z = {z:g} mm, target (red) and beams")
    labels, rates, colors = [], [], []
    for m in res["transport"]:
        for r in m["runs"]:
            labels.append(f"{r['kind']}\npair {r['pair']}")
            rates.append(r["protons_per_s"])
            colors.append("tab:orange" if r["kind"] == "hetero" else "tab:blue")
    bx.bar(range(len(rates)), rates, color=colors)
    bx.set_xticks(range(len(rates)), labels)
    bx.set_ylabel("protons / s (one core)")
    m = res["transport"][0]
    bx.set_title(f"{res['run']['primaries_per_run']:g} primaries per run; water/hetero = "
                 f"{m['ratio_water_to_hetero']:.2f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _summary(res, path):
    s = res["setup"]
    print(f"set-up (load_case, median of {len(s['load_case_s'])}): {s['load_case_median_s']:.2f} s "
          f"(limit {LIMIT_SETUP_S:g} s: {'pass' if s['setup_pass'] else 'FAIL'})")
    for m in res["transport"]:
        pairs = "; ".join(f"pair {p['pair']} (core {p['core']}) {p['ratio']:.3f}, CPU share >= {p['cpu_share_min']:.2f}"
                          for p in m["pairs"])
        print(f"dose grid {m['dose_grid_mm']} {m['grid_shape']}: hetero {m['hetero_protons_per_s']:.0f} protons/s, "
              f"water {m['water_protons_per_s']:.0f} protons/s; water/hetero {m['ratio_water_to_hetero']:.3f} "
              f"(limit {LIMIT_RATIO:g}: {'pass' if m['ratio_pass'] else 'FAIL'}; pairs used {m['pairs_used']}; "
              f"{pairs})")
        peak = m["peak_rss_MiB"]
        print("  peak resident set: " + ", ".join(f"{k} {peak[k]:.0f} MiB" for k in ("hetero", "water") if peak[k])
              + f"; main arrays {m['arrays_MiB']['total']:.0f} MiB; after the imports "
              f"{m['pairs'][0]['peak_rss_after_imports_MiB']:.0f} MiB")
        if m["disturbed_pairs"]:
            print(f"  pairs {m['disturbed_pairs']} shared their core with another process (CPU share < "
                  f"{CPU_SHARE_MIN:g}); all pairs: {m['ratio_all_pairs']:.3f}")
    print(f"benchmark took {res['benchmark_wall_s']:.0f} s; wrote {path}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        w = argv[1:]
        if w[0] == "pair":
            grid = None if w[5] == "ct" else [float(v) for v in w[5].split(",")]
            _pair_worker(w[1], w[2].split(","), int(w[3]), int(w[4]), grid, w[6])
        else:
            _setup_worker(w[1], int(w[2]), [2.0, 2.0, 2.0], w[3])
        return
    a = _parser().parse_args(argv)
    primaries = 200_000 if a.quick else a.primaries
    if min(primaries, a.repeats, a.setup_repeats, a.cores) < 1 or a.batches < 2 or a.layer_step <= 0:
        _parser().error("--primaries, --repeats, --setup-repeats, --cores must be >= 1, --batches >= 2, "
                        "--layer-step > 0 [MeV]")
    from benchmarks.scaling import baseline_cores

    t_start = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="flashmc_plan_bench_")
    try:
        res, hu_slice = _benchmark(a, primaries, tmp, baseline_cores(a.cores))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["benchmark_wall_s"] = time.perf_counter() - t_start
    res["command"] = " ".join(["python", "benchmarks/plan_throughput.py", *argv])
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "plan_throughput.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    _plot(os.path.join(a.out, "plan_throughput.png"), hu_slice, res)
    _summary(res, path)


if __name__ == "__main__":
    main()
