"""Spread-out Bragg peak (SOBP): energy layers and their weights for a flat dose in water.

Layer k has the CSDA range (in water, flashmc's tables) R_k = distal - k * spacing, down to the
proximal end of the plateau, and mean energy E_k = E(R_k). Its pristine depth-dose curve is
Bortfeld's (1997) analytic curve (``physics.bragg.depth_dose``, nuclear build-down included)
with straggling width sigma^2 = sigma_mono^2 + (sigma_E dR/dE)^2, sigma_mono = 0.012 R^0.935 cm
(Bortfeld eqs. 18-19, with dR/dE from our range table). The layer weights (protons per layer,
relative) are the non-negative least-squares solution (Lawson & Hanson 1974, scipy's ``nnls``)
of sum_k w_k D_k(z) = 1 on a 0.5 mm grid from the proximal end to the peak of the most
distal layer (whose distal 80 % point lies at the ``distal`` depth). This is an analytic plan: the Monte
Carlo dose of the plan is flat to within a few per cent (straggling and nuclear build-up of
the MC differ slightly from Bortfeld's), which is what an LET/RBE study along an SOBP needs.
"""

from functools import lru_cache

import numpy as np
from scipy.optimize import nnls

from physics import bragg
from physics.tables import build_tables


@lru_cache(maxsize=32)
def sobp_layers(proximal_mm, distal_mm, spacing_mm, energy_spread_percent):
    """Energies [MeV], energy sigmas [MeV] and relative weights (sum 1) of the layers of an
    SOBP covering depths ``proximal_mm``..``distal_mm`` of water (read-only arrays, cached: the
    fit runs once per plan, however often the spots are resolved)."""
    if not (0 < proximal_mm < distal_mm):
        raise ValueError(f"need 0 < proximal_mm < distal_mm, got {proximal_mm}, {distal_mm}")
    tab = build_tables(["water"])
    ranges_cm = np.arange(distal_mm, proximal_mm - 1e-9, -spacing_mm) / 10.0
    energy = tab.energy_from_range(0, ranges_cm)
    esig = energy * energy_spread_percent / 100.0
    # dR/dE = 1/S (CSDA), in cm/MeV for water (rho = 1)
    drde = 1.0 / tab.mass_stopping(0, energy)
    sigma = np.sqrt((0.012 * ranges_cm**0.935) ** 2 + (esig * drde) ** 2)
    # the plateau ends at the peak of the most distal layer (its R80 lies ~1 sigma beyond)
    zz = np.linspace(ranges_cm[0] - 6 * sigma[0], ranges_cm[0], 601)
    z_end = zz[np.argmax(bragg.depth_dose(zz, ranges_cm[0], sigma[0]))]
    z = np.arange(proximal_mm / 10.0, z_end + 1e-9, 0.05)
    A = np.column_stack([bragg.depth_dose(z, R, s) for R, s in zip(ranges_cm, sigma)])
    scale = A.max()
    w, _ = nnls(A / scale, np.ones(z.size))
    if w.sum() <= 0:  # pragma: no cover  (nnls of a positive system)
        raise ValueError("SOBP weight fit failed")
    out = (energy, esig, w / w.sum())
    for a in out:
        a.setflags(write=False)
    return out


def plateau_flatness(z_mm, dose, proximal_mm, distal_mm, margin_mm=2.0):
    """(max - min)/mean of ``dose`` over the plateau shrunk by ``margin_mm`` at both ends."""
    z_mm = np.asarray(z_mm)
    sel = (z_mm >= proximal_mm + margin_mm) & (z_mm <= distal_mm - margin_mm)
    d = np.asarray(dose)[sel]
    return float((d.max() - d.min()) / d.mean())
