"""Per-spot dose scoring (for dose-rate analysis): stratified allocation, exact conservation
(the per-spot doses add up to the total dose), agreement with random spot sampling, and
independence of the order in which batches run."""

import numpy as np
import pytest

from mc.batch import kernel_inputs, run_batch, spot_seed, with_spots
from mc.config import load_config_text
from mc.problem import build_geometry
from mc.run import simulate, spot_allocation
from mc.source import build_spots
from mc.tally import BatchBuffers
from physics.tables import build_tables

THREE_SPOTS = """
geometry: {type: box, material: water, size_mm: [40, 40, 100], voxel_mm: [4, 4, 4]}
beam: {energy_MeV: 100, spot_sigma_mm: [3, 3], position_mm: [0, 0, -1], protons: 1.0e9,
       spots: [{position_mm: [-6, 0, -1], weight: 1}, {position_mm: [6, 0, -1], weight: 2, energy_MeV: 80},
               {position_mm: [0, 6, -1], weight: 0.5}]}
run: {primaries: 4001, seed: 5, batches: 4}
"""


def test_spot_allocation_is_stratified():
    n = spot_allocation([1.0, 2.0, 0.5, 0.0], 4001, 4)
    per_spot = n.sum(axis=1)
    assert per_spot.sum() == 4001 and per_spot[3] == 0
    assert np.all(np.abs(per_spot[:3] - 4001 * np.array([1, 2, 0.5]) / 3.5) < 1.0)
    assert np.all(n.max(axis=1) - n.min(axis=1) <= 1)
    # every spot with weight gets at least one history in every batch
    assert np.all(spot_allocation([1e-6, 1.0], 10, 2)[0] >= 1)


def test_per_spot_doses_add_up_to_the_total_dose():
    cfg, _ = load_config_text(THREE_SPOTS)
    res = simulate(cfg, per_spot=True, spot_threshold=0.02)
    sd = res.spot_dose
    assert sd.n_spots == 3 and sd.remainder.sum() > 0
    # stored entries + remainder = total, voxel by voxel, to rounding (the dose is float32, from
    # integer sums: a few float32 roundings, 6e-8 each, of the spot doses and the total)
    assert np.allclose(sd.total(), res.dose, rtol=1e-6, atol=1e-9 * res.dose.max())
    # each spot's stored doses are >= 2 % of its maximum
    for k in range(3):
        _, d = sd.spot(k)
        assert d.min() >= 0.02 * d.max()
    # spot 1 (80 MeV) stops ~2.5 cm shallower than spots 0 and 2 (100 MeV)
    z = np.unravel_index(sd.spot(1)[0], res.grid.shape)[2]
    z0 = np.unravel_index(sd.spot(0)[0], res.grid.shape)[2]
    assert z.max() < z0.max()
    assert abs(res.energy_balance["relative_imbalance"]) < 1e-9


def test_per_spot_mode_estimates_the_same_dose():
    # 16 batches: with 4, the batch estimates of the errors scatter too much for a 3-sigma test
    cfg, _ = load_config_text(THREE_SPOTS, ["run.batches=16"])
    a = simulate(cfg, per_spot=True)
    b = simulate(cfg, per_spot=False)
    # integral dose and the dose in well-sampled voxels agree within the combined uncertainty
    sel = b.dose > 0.3 * b.dose.max()
    diff = (a.dose - b.dose)[sel]
    s = np.sqrt(a.dose_std**2 + b.dose_std**2)[sel]
    assert np.mean(np.abs(diff / s) < 3) > 0.95
    assert a.dose.sum() == pytest.approx(b.dose.sum(), rel=0.02)


def test_per_spot_mode_is_reproducible():
    cfg, _ = load_config_text(THREE_SPOTS)
    a = simulate(cfg, per_spot=True)
    b = simulate(cfg, per_spot=True)
    assert np.array_equal(a.dose, b.dose) and np.array_equal(a.spot_dose.dose, b.spot_dose.dose)


def test_the_dose_of_spot_k_is_the_dose_of_its_own_histories():
    # Spot k's stored dose against its histories transported on their own, outside the per-spot
    # bookkeeping: in batch b, n_kb histories of spot k alone (mc.run.spot_allocation, generator
    # state mc.batch.spot_seed(seed, b, k)), weighted so that every batch estimates its share of
    # the beam: (w_k / W) n_b / n_kb (n_b the batch's primaries); dose = deposit / N x the protons
    # of the beam x 1.602176634e-13 J/MeV / (rho V). Threshold 0: every entry is stored, the
    # remainder is zero. Equal to double-precision rounding (the stored entries are sums in
    # another order).
    cfg, _ = load_config_text(THREE_SPOTS)
    res = simulate(cfg, per_spot=True, spot_threshold=0.0)
    sd = res.spot_dose
    assert not sd.remainder.any()
    grid = build_geometry(cfg)
    spots = build_spots(cfg.beam, grid)
    inputs = kernel_inputs(grid, build_tables(grid.materials), spots, cfg.physics)
    w = spots.weight
    alloc = spot_allocation(w, cfg.run.primaries, cfg.run.batches)
    n_b = alloc.sum(axis=0)
    mass_kg = grid.density.astype(float) * np.prod(grid.spacing_cm) * 1e-3  # kg per voxel
    for k in range(w.size):
        dep = np.zeros(grid.shape)
        for b in range(cfg.run.batches):
            buf = BatchBuffers(grid.shape)
            run_batch(spot_seed(cfg.run.seed, b, k), int(alloc[k, b]), with_spots(inputs, spots.single(k)), buf)
            dep += buf.edep * (w[k] / w.sum()) * n_b[b] / alloc[k, b]
        hand = dep / cfg.run.primaries * cfg.beam.protons * 1.602176634e-13 / mass_kg
        stored = np.zeros(grid.shape).ravel()
        vox, dose = sd.spot(k)
        stored[vox] = dose
        assert np.allclose(stored.reshape(grid.shape), hand, rtol=1e-9, atol=1e-12 * hand.max()), k
        assert hand.max() > 0
