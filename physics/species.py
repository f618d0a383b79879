"""Species table: the transported particle kinds, indexed by a small integer.

The transport kernel is species-generic: every per-particle quantity it needs comes from a
row of this table (charge z, rest energy M [MeV], mass number A) and from the physics
tables of that species (:mod:`physics.tables`, rows ``species * n_materials + material``),
so ions and secondary hadrons share the same loop. The kernel's arrays of the table, with the
cut-off energy and whether a species is transported, are built by
:func:`mc.kernel.bundles.species_bundle`.

Species: the proton (index 0) and the bare nuclei 4He (``helium``) and 12C (``carbon``) of
ion beams. Masses: the proton's CODATA 2018; the nuclei's from the AME2020 atomic masses
(:mod:`physics.nuclides`, Wang et al., Chin. Phys. C 45, 030003, 2021) less the electrons.
The physics tables hold the ion rows only when a run has an ion beam
(:func:`physics.tables.build_tables` with ``ions=True``); a proton run's tables have the proton
rows alone, so :data:`SPECIES` is indexed the same way by both (the proton first).
"""

from dataclasses import dataclass

import numpy as np

from .constants import PROTON_MASS_MEV
from .nuclides import nuclide


@dataclass(frozen=True)
class Species:
    """A transported particle: ``charge`` z, ``mass_MeV`` rest energy, ``A`` mass number."""

    name: str
    charge: int
    mass_MeV: float
    A: int


SPECIES = (Species("proton", 1, PROTON_MASS_MEV, 1),
           Species("helium", 2, nuclide("4He").mass_MeV, 4),
           Species("carbon", 6, nuclide("12C").mass_MeV, 12))
SPECIES_INDEX = {s.name: i for i, s in enumerate(SPECIES)}
#: Index of the proton in :data:`SPECIES`.
SPECIES_PROTON = SPECIES_INDEX["proton"]
#: Indices of the ions (4He, 12C) in :data:`SPECIES`.
SPECIES_HELIUM = SPECIES_INDEX["helium"]
SPECIES_CARBON = SPECIES_INDEX["carbon"]
#: Number of species of a proton run's tables (the proton alone, the first of :data:`SPECIES`).
N_PROTON_SPECIES = 1


def species_arrays():
    """(charge, mass_MeV) float arrays indexed by species number."""
    charge = np.array([s.charge for s in SPECIES], dtype=np.float64)
    mass = np.array([s.mass_MeV for s in SPECIES], dtype=np.float64)
    return charge, mass
