"""Nuclides transported or produced as fragments by light-ion beams: 1H to 12C.

Each :class:`Nuclide` carries its charge number Z, mass number A, the neutral-atom mass in u and the
nuclear rest energy m c^2 in MeV.

Sources and model
-----------------
* Atomic masses M_A [u]: the Atomic Mass Evaluation AME2020, M. Wang, W. J. Huang, F. G. Kondev,
  G. Audi and S. Naimi, Chin. Phys. C 45, 030003 (2021), file ``mass.mas20`` (column "ATOMIC MASS",
  micro-u, unrounded values; dated 3 Mar 2021). 12C is 12 u exactly by the definition of u.
* Nuclear mass from the atomic mass, AME2020 Part II eq. (1):

      M_N(A, Z) = M_A(A, Z) - Z m_e + B_e(Z) / c^2,                                         (1)

  with the total electron binding energy B_e(Z) from AME2020 Part II eq. (2) (after Lunney, Pearson
  & Thibault, Rev. Mod. Phys. 75, 1021, 2003):

      B_e(Z) = 14.4381 Z^2.39 + 1.55468e-6 Z^5.35  [eV].                                     (2)

  The binding term is included; it is 14 eV for Z = 1, 76 eV for Z = 2 and 1.0 keV for Z = 6
  (below 1e-7 of the rest energy, far below anything the transport resolves).
* u c^2 = :data:`physics.constants.AMU_MEV` and m_e c^2 = :data:`physics.constants.ELECTRON_MASS_MEV`
  (CODATA 2018). Check: eq. (1) gives the CODATA 2018 proton, deuteron, triton, helion and alpha
  rest energies to within 4 eV (tests/test_ion_stopping.py).
"""

from dataclasses import dataclass

from .constants import AMU_MEV, ELECTRON_MASS_MEV


def electron_binding_MeV(Z):
    """Total binding energy of the Z atomic electrons [MeV], eq. (2) (AME2020 Part II eq. 2)."""
    return (14.4381 * Z**2.39 + 1.55468e-6 * Z**5.35) * 1.0e-6


def nuclear_mass_MeV(atomic_mass_u, Z):
    """Nuclear rest energy [MeV] from the neutral-atom mass [u], eq. (1) (AME2020 Part II eq. 1)."""
    return atomic_mass_u * AMU_MEV - Z * ELECTRON_MASS_MEV + electron_binding_MeV(Z)


@dataclass(frozen=True)
class Nuclide:
    """A nucleus: ``name`` (e.g. '12C'), charge number ``Z``, mass number ``A``, neutral-atom mass
    ``atomic_mass_u`` [u] (AME2020) and nuclear rest energy ``mass_MeV`` [MeV] (eq. 1)."""

    name: str
    Z: int
    A: int
    atomic_mass_u: float
    mass_MeV: float


#: AME2020 atomic masses (Wang et al., Chin. Phys. C 45, 030003, 2021; mass.mas20), micro-u / 1e6.
_AME2020_ATOMIC_MASS_U = (
    # name, Z, A, atomic mass [u]
    ("1H", 1, 1, 1.007825031898),
    ("2H", 1, 2, 2.014101777844),
    ("3H", 1, 3, 3.01604928132),
    ("3He", 2, 3, 3.01602932197),
    ("4He", 2, 4, 4.00260325413),
    ("6Li", 3, 6, 6.01512288742),
    ("7Li", 3, 7, 7.01600343426),
    ("7Be", 4, 7, 7.016928714),
    ("9Be", 4, 9, 9.012183062),
    ("10B", 5, 10, 10.012936862),
    ("11B", 5, 11, 11.009305166),
    ("10C", 6, 10, 10.016853217),
    ("11C", 6, 11, 11.011432597),
    ("12C", 6, 12, 12.0),
)

NUCLIDES = {
    name: Nuclide(name, Z, A, m_u, nuclear_mass_MeV(m_u, Z)) for name, Z, A, m_u in _AME2020_ATOMIC_MASS_U
}
#: Aliases of the common names of the light nuclei.
_ALIASES = {"p": "1H", "proton": "1H", "d": "2H", "deuteron": "2H", "t": "3H", "triton": "3H",
            "helion": "3He", "alpha": "4He", "he4": "4He", "c12": "12C", "carbon12": "12C"}


def nuclide(name):
    """Return a :class:`Nuclide` by name ('12C', '4He', ...) or alias ('alpha', 'proton', ...).

    Raises ``KeyError`` naming the known nuclides when the name is unknown.
    """
    key = str(name).strip()
    key = _ALIASES.get(key.lower(), key)
    if key not in NUCLIDES:
        raise KeyError(f"unknown nuclide {name!r}; known: {', '.join(NUCLIDES)}")
    return NUCLIDES[key]
