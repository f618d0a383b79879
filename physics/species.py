"""Species table: the transported particle kinds, indexed by a small integer.

The transport kernel is species-generic: every per-particle quantity it needs comes from a
row of this table (charge z, rest energy M [MeV], mass number A) and from the physics
tables of that species (:mod:`physics.tables`, rows ``species * n_materials + material``),
so ions and secondary hadrons share the same loop. The kernel's arrays of the table, with the
cut-off energy and whether a species is transported, are built by
:func:`mc.kernel.bundles.species_bundle`.

Species:

* proton (index 0): the beam and the secondary protons of nuclear reactions;
* deuteron: emitted by the non-elastic reactions of protons (:mod:`physics.nuclear`),
  transported with its own stopping (that of a proton at the same velocity,
  :func:`physics.stopping.electronic_mass_stopping`), straggling and scattering; it has no
  nuclear interactions of its own;
* the bare nuclei 4He (``helium``) and 12C (``carbon``) of ion beams.

Masses: the proton's and the deuteron's CODATA 2018; the nuclei's from the AME2020 atomic
masses (:mod:`physics.nuclides`, Wang et al., Chin. Phys. C 45, 030003, 2021) less the
electrons. The physics tables hold the ion rows only when a run has an ion beam
(:func:`physics.tables.build_tables` with ``ions=True``); a proton run's tables have the
hydrogen rows (proton, deuteron) alone, so :data:`SPECIES` is indexed the same way by both.
"""

from dataclasses import dataclass

import numpy as np

from .constants import DEUTERON_MASS_MEV, PROTON_MASS_MEV
from .nuclides import nuclide


@dataclass(frozen=True)
class Species:
    """A transported particle: ``charge`` z, ``mass_MeV`` rest energy, ``A`` mass number."""

    name: str
    charge: int
    mass_MeV: float
    A: int


SPECIES = (Species("proton", 1, PROTON_MASS_MEV, 1),
           Species("deuteron", 1, DEUTERON_MASS_MEV, 2),
           Species("helium", 2, nuclide("4He").mass_MeV, 4),
           Species("carbon", 6, nuclide("12C").mass_MeV, 12))
SPECIES_INDEX = {s.name: i for i, s in enumerate(SPECIES)}
#: Index of the proton in :data:`SPECIES`.
SPECIES_PROTON = SPECIES_INDEX["proton"]
#: Index of the deuteron in :data:`SPECIES`.
SPECIES_DEUTERON = SPECIES_INDEX["deuteron"]
#: Indices of the ions (4He, 12C) in :data:`SPECIES`.
SPECIES_HELIUM = SPECIES_INDEX["helium"]
SPECIES_CARBON = SPECIES_INDEX["carbon"]
#: Number of species of a proton run's tables (the hydrogen isotopes, the first of :data:`SPECIES`).
N_PROTON_SPECIES = 2


def is_ion(sp):
    """Whether species ``sp`` (:class:`Species`) is a nucleus with z > 1, with the ion models
    (stopping of :mod:`physics.ion_stopping`, reaction cross sections of
    :mod:`physics.ion_nuclear`, the ion cut-off); the hydrogen isotopes use the proton models."""
    return sp.charge > 1


def species_arrays():
    """(charge, mass_MeV) float arrays indexed by species number."""
    charge = np.array([s.charge for s in SPECIES], dtype=np.float64)
    mass = np.array([s.mass_MeV for s in SPECIES], dtype=np.float64)
    return charge, mass
