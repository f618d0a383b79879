"""Species table: the transported particle kinds, indexed by a small integer.

The transport kernel is species-generic: charge z, rest energy M [MeV] and mass number A index
the physics tables, so ions and secondary hadrons share the same loop. Masses: CODATA 2018.
"""

from dataclasses import dataclass

import numpy as np

from .constants import PROTON_MASS_MEV


@dataclass(frozen=True)
class Species:
    """A transported particle: ``charge`` z, ``mass_MeV`` rest energy, ``A`` mass number."""

    name: str
    charge: int
    mass_MeV: float
    A: int


SPECIES = (Species("proton", 1, PROTON_MASS_MEV, 1),)
SPECIES_INDEX = {s.name: i for i, s in enumerate(SPECIES)}


def species_arrays():
    """(charge, mass_MeV) float arrays indexed by species number, for the kernel."""
    charge = np.array([s.charge for s in SPECIES], dtype=np.float64)
    mass = np.array([s.mass_MeV for s in SPECIES], dtype=np.float64)
    return charge, mass
