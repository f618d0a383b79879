"""Write the example case of examples/plan_water_box: the synthetic DICOM case of
mc.phantom_case (a water box with a cortical-bone insert and an air cavity, 2 mm CT voxels) and a
single-beam pencil-beam-scanning plan that covers its Target structure (depths 55-85 mm, 30 mm
wide and high) with a spread-out Bragg peak: energy layers and weights of mc.sobp (fitted for a
flat dose in water), spots every 5 mm over the target and 5 mm beyond its edges (the lateral
penumbra). The insert and the cavity lie in part of the field's path, so the recomputed dose
shows their range shifts: what a plan recomputation is for. Run from the repository root:

    python examples/plan_water_box/make_case.py

(the files it writes are committed; run it again only to change the case).
"""

import os
import shutil

import numpy as np

from mc.phantom_case import write_phantom_case
from mc.sobp import sobp_layers

HERE = os.path.dirname(os.path.abspath(__file__))

#: Meterset of the beam per fraction [MU]: about 2 Gy per fraction in the target with the
#: generic machine (examples/machines/generic_pbs.yaml).
METERSET_MU = 250.0


def main(folder=os.path.join(HERE, "case")):
    energies, _, weights = sobp_layers(55.0, 85.0, 4.0, 0.5)
    grid = np.arange(-20.0, 20.0 + 1e-9, 5.0)
    xy = np.array([[x, y] for x in grid for y in grid])
    layers = [(round(float(e), 1), xy, np.full(len(xy), w)) for e, w in zip(energies, weights)]
    beam = dict(name="AP", isocentre_mm=[0.0, 70.0, 0.0], gantry_deg=0.0, couch_deg=0.0,
                meterset_mu=METERSET_MU, layers=layers)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    case = write_phantom_case(folder, [beam], fractions=5)
    print(f"wrote {folder}: CT {case['hu'].shape}, {len(layers)} energy layers of {len(xy)} spots")


if __name__ == "__main__":
    main()
