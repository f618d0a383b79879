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
* The neutron and the particle-unbound 5He, 5Li, 8Be and 9B (members of the Fermi break-up pool,
  :mod:`physics.fermi_breakup`; not transported) are kept apart in :data:`BREAKUP_EXTRA_NUCLIDES`, so
  that :data:`NUCLIDES` stays the list of bound nuclei; :func:`nuclide` finds both. Their atomic masses
  are A + ME / (u c^2) from the AME2020 mass excesses ME [keV] (Wang et al. 2021, mass.mas20):
  n 8071.31806(44) (atomic mass 1.00866491590 u as printed by AME2020; CODATA 2018 gives
  1.00866491595(49) u), 5He 11231.234(20000), 5Li 11678.887(50000), 8Be 4941.672(35), 9B 12416.5; Z = 0
  for the neutron, so eq. (1) adds no electrons. Checks: as atomic-mass differences these give the AME2020
  Q values 8Be -> 2 alpha 91.84 keV, 5He -> alpha + n 0.735 MeV, 5Li -> alpha + p 1.97 MeV and
  9B -> p + 8Be 0.186 MeV (measured 0.185 MeV, Tilley et al. 2004, Nucl. Phys. A 745:155); the nuclear
  masses of eq. (1) differ by the change of electron binding (+0.25 keV for 8Be -> 2 alpha).
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
#: u c^2 in keV (CODATA 2018), to convert the AME2020 mass excesses below into atomic masses.
_AMU_KEV = AMU_MEV * 1.0e3
#: The neutron and the particle-unbound members of the Fermi break-up pool: AME2020 mass excesses
#: (Wang et al., Chin. Phys. C 45, 030003, 2021; mass.mas20) [keV] -> atomic mass A + ME / (u c^2) [u].
_AME2020_EXTRA_ATOMIC_MASS_U = (
    # name, Z, A, atomic mass [u]
    ("n", 0, 1, 1.00866491590),  # AME2020 atomic mass (ME 8071.31806 keV); CODATA 2018: 1.00866491595 u
    ("5He", 2, 5, 5.0 + 11231.234 / _AMU_KEV),  # ME 11231.234 +- 20 keV
    ("5Li", 3, 5, 5.0 + 11678.887 / _AMU_KEV),  # ME 11678.887 +- 50 keV
    ("8Be", 4, 8, 8.0 + 4941.672 / _AMU_KEV),  # ME 4941.672 +- 0.035 keV
    ("9B", 5, 9, 9.0 + 12416.5 / _AMU_KEV),  # ME 12416.5 keV
)
#: The neutron and 5He, 5Li, 8Be, 9B (not in :data:`NUCLIDES`, which lists the bound, transported nuclei).
BREAKUP_EXTRA_NUCLIDES = {
    name: Nuclide(name, Z, A, m_u, nuclear_mass_MeV(m_u, Z)) for name, Z, A, m_u in _AME2020_EXTRA_ATOMIC_MASS_U
}
#: Aliases of the common names of the light nuclei.
_ALIASES = {"p": "1H", "proton": "1H", "d": "2H", "deuteron": "2H", "t": "3H", "triton": "3H",
            "helion": "3He", "alpha": "4He", "he4": "4He", "c12": "12C", "carbon12": "12C"}
_ALIASES["neutron"] = "n"


def nuclide(name):
    """Return a :class:`Nuclide` by name ('12C', '4He', ...) or alias ('alpha', 'proton', ...).

    Raises ``KeyError`` naming the known nuclides when the name is unknown.
    """
    key = str(name).strip()
    key = _ALIASES.get(key.lower(), key)
    if key in BREAKUP_EXTRA_NUCLIDES:
        return BREAKUP_EXTRA_NUCLIDES[key]
    if key not in NUCLIDES:
        raise KeyError(f"unknown nuclide {name!r}; known: {', '.join(NUCLIDES)}")
    return NUCLIDES[key]
