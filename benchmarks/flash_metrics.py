"""Speed and memory of the FLASH analysis for 10^6 voxels x 10^3 spots (one core).

A synthetic spot-dose map stands in for a Monte Carlo run: a 100 x 100 x 100 grid of 2 mm
voxels, 10 energy layers of 10 x 10 spots (1000 spots, 20 mm apart, sigma 8 mm), each spot
depositing a Gaussian lateral profile (kept to 3 sigma, the 1 % storage threshold) over the
depths up to its layer's range (layer energies 110-200 MeV rising with that range). Timed: the delivery timeline, the voxel table, the four
dose-rate metrics, and the oxygen model for the FLASH and the conventional delivery (after
numba compilation); the process's peak resident memory is reported beside the stored size of
the spot-dose map. Writes benchmarks/results/flash_metrics.json.

    python benchmarks/flash_metrics.py
"""

import json
import os
import platform
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flash.doserate import dose_rates, voxel_table  # noqa: E402
from flash.oxygen import OxygenParams, TISSUE_PO2_MMHG, oxygen_voxels  # noqa: E402
from flash.timing import DeliveryParams, deliver  # noqa: E402
from mc.spot_dose import SpotDoseMap  # noqa: E402


def synthetic_map(n=100, layers=10, per_side=10, sigma_vox=4.0):
    shape = (n, n, n)
    xs = (np.arange(per_side) + 0.5) * n / per_side
    ptr = [0]
    vox, dose = [], []
    spots_xy, spots_e = [], []
    r = int(np.ceil(3 * sigma_vox))
    for li in range(layers):
        depth = int(n * (0.55 + 0.45 * li / (layers - 1)))  # layer range in voxels
        energy = 110.0 + 10.0 * li  # deeper layers, higher energies
        for yi, y0 in enumerate(xs):
            for x0 in xs:
                ix = np.arange(max(int(x0) - r, 0), min(int(x0) + r + 1, n))
                iy = np.arange(max(int(y0) - r, 0), min(int(y0) + r + 1, n))
                X, Y = np.meshgrid(ix, iy, indexing="ij")
                lat = np.exp(-((X + 0.5 - x0) ** 2 + (Y + 0.5 - y0) ** 2) / (2 * sigma_vox**2))
                keep = lat >= 0.01
                X, Y, lat = X[keep], Y[keep], lat[keep]
                z = np.arange(depth)
                dd = 0.01 * (1.0 + 3.0 * (z / depth) ** 8)  # Gy, Bragg-like rise
                v = ((X[:, None] * n + Y[:, None]) * n + z[None, :]).ravel()
                vox.append(v.astype(np.int32))
                dose.append((lat[:, None] * dd[None, :]).ravel())
                ptr.append(ptr[-1] + v.size)
                spots_xy.append((x0 * 2.0, y0 * 2.0))
                spots_e.append(energy)
    m = SpotDoseMap(shape, np.array(ptr, np.int64), np.concatenate(vox), np.concatenate(dose), np.zeros(shape), 0.01)
    return m, np.array(spots_xy), np.array(spots_e)


def main():
    t = time.perf_counter()
    m, xy, e = synthetic_map()
    t_build = time.perf_counter() - t
    protons = np.full(xy.shape[0], 2.0e8)
    # compile
    small_d = deliver(xy[:2], e[:2], protons[:2])
    vv, vp, sp, dd = voxel_table(SpotDoseMap((1, 1, 2), np.array([0, 1, 2]), np.array([0, 1], np.int32),
                                             np.array([1.0, 1.0]), np.zeros((1, 1, 2)), 0.0), small_d)
    dose_rates(vp, sp, dd, small_d)
    par = OxygenParams().as_array()
    oxygen_voxels(vp, sp, dd, small_d.seg_ptr, small_d.seg_t0, small_d.seg_t1, small_d.seg_frac, np.full(2, 9.9), par,
                  np.empty(2), np.empty(2), np.empty(2))
    times = {}
    t = time.perf_counter()
    d_fl = deliver(xy, e, protons, DeliveryParams(beam_current_nA=200.0))
    d_cv = deliver(xy, e, protons, DeliveryParams(beam_current_nA=2.0))
    times["delivery_s"] = time.perf_counter() - t
    t = time.perf_counter()
    voxels, vptr, spot, dose = voxel_table(m, d_fl)
    times["voxel_table_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rates = dose_rates(vptr, spot, dose, d_fl)
    times["dose_rates_s"] = time.perf_counter() - t
    p0 = np.full(voxels.size, TISSUE_PO2_MMHG["bone_marrow"])
    t = time.perf_counter()
    for dl in (d_fl, d_cv):
        out = [np.empty(voxels.size) for _ in range(3)]
        oxygen_voxels(vptr, spot, dose, dl.seg_ptr, dl.seg_t0, dl.seg_t1, dl.seg_frac, p0, par, *out)
    times["oxygen_two_deliveries_s"] = time.perf_counter() - t
    total = sum(times.values())
    res = {
        "voxels": int(np.prod(m.shape)), "voxels_with_dose": int(voxels.size), "spots": int(m.n_spots),
        "entries": int(m.voxel.size), "entries_per_voxel": float(m.voxel.size / voxels.size),
        "spot_dose_MB": m.nbytes / 1e6,
        "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,  # Linux: kB
        "build_synthetic_s": t_build, **times, "total_analysis_s": total,
        "max_pbs_dose_rate_Gy_s": float(rates["pbs"].max()), "delivery_time_s": d_fl.total_time_s,
        "requirement_s": 60.0, "meets_requirement": bool(total < 60.0), "machine": platform.machine(), "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
    }
    os.makedirs(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "flash_metrics.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"{res['voxels']} voxels x {res['spots']} spots, {res['entries']:.3g} stored entries "
          f"({res['entries_per_voxel']:.0f} per irradiated voxel, {res['spot_dose_MB']:.0f} MB; peak memory "
          f"{res['peak_rss_MB']:.0f} MB): analysis "
          f"{total:.1f} s (timeline {times['delivery_s']:.2f}, table {times['voxel_table_s']:.1f}, "
          f"dose rates {times['dose_rates_s']:.1f}, oxygen x2 {times['oxygen_two_deliveries_s']:.1f}); wrote {path}")


if __name__ == "__main__":
    main()
