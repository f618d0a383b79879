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
* the bare nuclei 4He (``helium``) and 12C (``carbon``) of ion beams;
* the projectile fragments of ion beams (:mod:`physics.fragmentation`): the triton, and the
  nuclei 3He, 6Li, 7Li, 7Be, 9Be, 10B, 11B, 10C and 11C (the bound members of the Fermi
  break-up pool, :mod:`physics.fermi_breakup`). The triton, like the deuteron, uses the proton
  models at the same velocity; the nuclei with z > 1 the ion models.

Fragment groups (:func:`fragment_group`): the mixed-field tallies of an ion run sum the species
by charge into H (z = 1), He (z = 2), Li-Be-B (z = 3-5) and C (z = 6), the grouping of
measured fragment yields (Haettner et al. 2013, Phys. Med. Biol. 58:8265).

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
           Species("carbon", 6, nuclide("12C").mass_MeV, 12),
           Species("triton", 1, nuclide("3H").mass_MeV, 3),
           Species("helium3", 2, nuclide("3He").mass_MeV, 3),
           Species("lithium6", 3, nuclide("6Li").mass_MeV, 6),
           Species("lithium7", 3, nuclide("7Li").mass_MeV, 7),
           Species("beryllium7", 4, nuclide("7Be").mass_MeV, 7),
           Species("beryllium9", 4, nuclide("9Be").mass_MeV, 9),
           Species("boron10", 5, nuclide("10B").mass_MeV, 10),
           Species("boron11", 5, nuclide("11B").mass_MeV, 11),
           Species("carbon10", 6, nuclide("10C").mass_MeV, 10),
           Species("carbon11", 6, nuclide("11C").mass_MeV, 11))
SPECIES_INDEX = {s.name: i for i, s in enumerate(SPECIES)}
#: Index of the proton in :data:`SPECIES`.
SPECIES_PROTON = SPECIES_INDEX["proton"]
#: Index of the deuteron in :data:`SPECIES`.
SPECIES_DEUTERON = SPECIES_INDEX["deuteron"]
#: Indices of the ions (4He, 12C) in :data:`SPECIES`.
SPECIES_HELIUM = SPECIES_INDEX["helium"]
SPECIES_CARBON = SPECIES_INDEX["carbon"]
SPECIES_TRITON = SPECIES_INDEX["triton"]
#: Fragment groups of the mixed-field tallies, by charge (:func:`fragment_group`).
FRAGMENT_GROUPS = ("H", "He", "Li-Be-B", "C")
#: Number of species of a proton run's tables (the hydrogen isotopes, the first of :data:`SPECIES`).
N_PROTON_SPECIES = 2


def is_ion(sp):
    """Whether species ``sp`` (:class:`Species`) is a nucleus with z > 1, with the ion models
    (stopping of :mod:`physics.ion_stopping`, reaction cross sections of
    :mod:`physics.ion_nuclear`, the ion cut-off); the hydrogen isotopes use the proton models."""
    return sp.charge > 1


def fragment_group(sp):
    """Index in :data:`FRAGMENT_GROUPS` of species ``sp`` (:class:`Species`), by its charge."""
    return {1: 0, 2: 1, 3: 2, 4: 2, 5: 2, 6: 3}[sp.charge]


def species_of_nuclide(Z, A):
    """Index in :data:`SPECIES` of the nucleus (Z, A), or -1 if it is not a transported species."""
    for i, s in enumerate(SPECIES):
        if s.charge == Z and s.A == A:
            return i
    return -1


def species_arrays():
    """(charge, mass_MeV) float arrays indexed by species number."""
    charge = np.array([s.charge for s in SPECIES], dtype=np.float64)
    mass = np.array([s.mass_MeV for s in SPECIES], dtype=np.float64)
    return charge, mass
