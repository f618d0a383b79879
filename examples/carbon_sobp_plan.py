"""Plan of the carbon SOBP example: energy layers and their weights for a flat physical dose.

Layer k has the 12C CSDA range R_k = distal - k * spacing in water (flashmc's ion tables) down
to the proximal end of the plateau. Its pristine laterally integrated depth dose is flashmc's
own Monte Carlo (fragmentation included, ``--ions`` ions per layer, 0.5 mm layers): the base
data of the plan, as a treatment planning system's are. The weights (ions per layer, relative)
are the non-negative least-squares solution (Lawson & Hanson 1974, scipy's ``nnls``) of
sum_k w_k D_k(z) = 1 from the proximal end to the peak of the most distal layer. The beam's
energy spread (``--spread`` per cent, 0.4 by default) stands in for the ripple filter of a
carbon beam line, which widens each pristine peak so that layers ``--spacing`` mm apart give
a smooth plateau. Writes the example's YAML (the spots and their weights):

    python examples/carbon_sobp_plan.py [--ions 1500] [--out examples/carbon_sobp.yaml]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

from mc.config import load_config_text  # noqa: E402
from mc.run import simulate  # noqa: E402
from physics.species import SPECIES, SPECIES_CARBON  # noqa: E402
from physics.tables import build_tables  # noqa: E402

PRISTINE = """
geometry: {{type: box, material: water, size_mm: [200, 200, 200], voxel_mm: [200, 200, 0.5]}}
beam: {{particle: carbon, energy_MeV_per_u: {e:.3f}, energy_spread_MeV_per_u: {s:.4f}, position_mm: [0, 0, -20]}}
run: {{primaries: {n}, seed: {seed}, batches: 4}}
output: {{plot: false}}
"""

HEADER = """# Carbon-ion spread-out Bragg peak in water: {n} energy layers of 12C, CSDA ranges {d:g} mm back
# to {p:g} mm in {sp:g} mm steps, one pencil beam per layer; the layer weights make the laterally
# integrated physical dose flat from {p:g} mm to the most distal peak (written by
# examples/carbon_sobp_plan.py from flashmc's own pristine depth doses, fragmentation included).
# The {spread:g} % energy spread stands in for a ripple filter. The voxels are as wide as the
# phantom, so /dose is the dose of a broad field (the laterally integrated depth dose).
# Scores the physical dose, the mixed-field and per-fragment-group LET and dose, and the
# RBE-weighted dose of the modified MKM for HSG cells (Inaniwa et al. 2010) at 2 Gy per fraction
# in the plateau. The figure shows /dose, the RBE-weighted dose and the fragment tail.
# Run: python -m mc.run examples/carbon_sobp.yaml
"""

BODY = """geometry:
  type: box
  material: water
  size_mm: [200, 200, 200]
  voxel_mm: [200, 200, 1]
beam:
  particle: carbon
  position_mm: [0, 0, -20]
  spots:
{spots}
  protons: {ions:.3e}          # delivered ions: ~2 Gy in the plateau
run:
  primaries: 60000
  seed: 2026
  batches: 10
output:
  path: results/carbon_sobp.h5
  let: true
rbe:
  models: [mkm]
  dose_per_fraction_Gy: 2.0
"""


def layer_energies(proximal_mm, distal_mm, spacing_mm):
    """Energies per nucleon [MeV/u] of the layers, distal first."""
    tab = build_tables(["water"], ions=True)
    ranges = np.arange(distal_mm, proximal_mm - 1e-9, -spacing_mm) / 10.0
    return tab.energy_from_range(0, ranges, SPECIES_CARBON) / SPECIES[SPECIES_CARBON].A


def pristine(e_u, spread, n, seed):
    cfg, _ = load_config_text(PRISTINE.format(e=e_u, s=e_u * spread / 100.0, n=n, seed=seed))
    r = simulate(cfg)
    return r.dose_per_primary[0, 0, :].astype(float)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proximal", type=float, default=80.0, help="proximal end of the plateau [mm]")
    ap.add_argument("--distal", type=float, default=120.0, help="CSDA range of the most distal layer [mm]")
    ap.add_argument("--spacing", type=float, default=2.0, help="layer spacing in CSDA range [mm]")
    ap.add_argument("--spread", type=float, default=0.4, help="energy spread [per cent]")
    ap.add_argument("--ions", type=int, default=1500, help="ions per pristine curve")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "carbon_sobp.yaml"))
    a = ap.parse_args()
    energies = layer_energies(a.proximal, a.distal, a.spacing)
    curves = np.array([pristine(e, a.spread, a.ions, 100 + k) for k, e in enumerate(energies)])
    z = (np.arange(curves.shape[1]) + 0.5) * 0.5  # mm, voxel centres
    z_end = z[int(np.argmax(curves[0]))]
    plateau = (z >= a.proximal) & (z <= z_end)
    A = curves[:, plateau].T
    w, _ = nnls(A / A.max(), np.ones(plateau.sum()))
    w /= w.sum()
    flat = (curves.T @ w)[plateau]
    print(f"{len(energies)} layers, {energies.min():.1f}-{energies.max():.1f} MeV/u; "
          f"plateau {a.proximal:g}-{z_end:g} mm, rms ripple {flat.std() / flat.mean() * 100:.1f} % (pristine statistics included)")
    # ions for 2 Gy in the plateau: dose per primary of the weighted field
    ions = 2.0 / flat.mean()
    spots = "\n".join(f"    - {{energy_MeV_per_u: {e:.2f}, energy_spread_MeV_per_u: {e * a.spread / 100:.3f}, "
                      f"weight: {wk:.5f}}}" for e, wk in zip(energies, w) if wk > 0)
    text = HEADER.format(n=int((w > 0).sum()), d=a.distal, p=a.proximal, sp=a.spacing, spread=a.spread) \
        + BODY.format(spots=spots, ions=ions)
    with open(a.out, "w") as f:
        f.write(text)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
