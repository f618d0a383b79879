"""Species table: the transported particle kinds, indexed by a small integer.

The transport kernel is species-generic: every per-particle quantity it needs comes from a
row of this table (charge z, rest energy M [MeV], mass number A) and from the physics
tables of that species (:mod:`physics.tables`, rows ``species * n_materials + material``),
so ions and secondary hadrons share the same loop. The kernel's arrays of the table, with the
cut-off energy and whether a species is transported, are built by
:func:`mc.kernel.bundles.species_bundle`. Masses: CODATA 2018.

* proton: the beam and the secondary protons of nuclear reactions;
* deuteron: emitted by non-elastic reactions (:mod:`physics.nuclear`), transported with its
  own stopping (that of a proton at the same velocity, :func:`physics.stopping.electronic_mass_stopping`),
  straggling and scattering; it has no nuclear interactions of its own here.
"""

from dataclasses import dataclass

import numpy as np

from .constants import DEUTERON_MASS_MEV, PROTON_MASS_MEV


@dataclass(frozen=True)
class Species:
    """A transported particle: ``charge`` z, ``mass_MeV`` rest energy, ``A`` mass number."""

    name: str
    charge: int
    mass_MeV: float
    A: int


SPECIES = (Species("proton", 1, PROTON_MASS_MEV, 1), Species("deuteron", 1, DEUTERON_MASS_MEV, 2))
SPECIES_INDEX = {s.name: i for i, s in enumerate(SPECIES)}
#: Index of the proton in :data:`SPECIES`.
SPECIES_PROTON = SPECIES_INDEX["proton"]
#: Index of the deuteron in :data:`SPECIES`.
SPECIES_DEUTERON = SPECIES_INDEX["deuteron"]


def species_arrays():
    """(charge, mass_MeV) float arrays indexed by species number."""
    charge = np.array([s.charge for s in SPECIES], dtype=np.float64)
    mass = np.array([s.mass_MeV for s in SPECIES], dtype=np.float64)
    return charge, mass
