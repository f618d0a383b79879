"""Chemical elements used by the flashmc material library.

Sources
-------
* Atomic weights [g/mol]: IUPAC standard atomic weights as tabulated by NIST
  ("Atomic Weights and Isotopic Compositions", the values used by the NIST STAR databases).
* Mean excitation energies I [eV] of the elements: ICRU Report 37 (1984), Table 4.3, the
  values used by NIST ESTAR/PSTAR for elemental targets.
* Mean excitation energies of elements *bound in condensed compounds* (``I_condensed``): the
  values recommended for Bragg additivity by Seltzer & Berger (1982), Int. J. Appl. Radiat.
  Isot. 33:1189, adopted in ICRU Report 37 Sec. 4.3 (H 19.2, C 81, N 82, O 106, F 112,
  Cl 180 eV); other elements keep their elemental value.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Element:
    """An element. ``A`` in g/mol, ``I_eV`` and ``I_condensed_eV`` in eV."""

    Z: int
    symbol: str
    A: float
    I_eV: float
    I_condensed_eV: float


_TABLE = [
    # Z, symbol, A [g/mol], I elemental [eV], I in condensed compounds [eV]
    (1, "H", 1.00794, 19.2, 19.2),
    (2, "He", 4.002602, 41.8, 41.8),
    (6, "C", 12.0107, 78.0, 81.0),
    (7, "N", 14.0067, 82.0, 82.0),
    (8, "O", 15.9994, 95.0, 106.0),
    (9, "F", 18.9984032, 115.0, 112.0),
    (11, "Na", 22.98976928, 149.0, 149.0),
    (12, "Mg", 24.3050, 156.0, 156.0),
    (14, "Si", 28.0855, 173.0, 173.0),
    (15, "P", 30.973762, 173.0, 173.0),
    (16, "S", 32.065, 180.0, 180.0),
    (17, "Cl", 35.453, 174.0, 180.0),
    (18, "Ar", 39.948, 188.0, 188.0),
    (19, "K", 39.0983, 190.0, 190.0),
    (20, "Ca", 40.078, 191.0, 191.0),
    (22, "Ti", 47.867, 233.0, 233.0),
    (26, "Fe", 55.845, 286.0, 286.0),
    (30, "Zn", 65.38, 330.0, 330.0),
    (53, "I", 126.90447, 491.0, 491.0),
]

ELEMENTS = {z: Element(z, s, a, i, ic) for (z, s, a, i, ic) in _TABLE}
BY_SYMBOL = {e.symbol: e for e in ELEMENTS.values()}


def element(key):
    """Return an :class:`Element` by atomic number or symbol (``8`` or ``"O"``)."""
    if isinstance(key, str):
        if key not in BY_SYMBOL:
            raise KeyError(f"unknown element symbol {key!r}; known: {sorted(BY_SYMBOL)}")
        return BY_SYMBOL[key]
    if int(key) not in ELEMENTS:
        raise KeyError(f"unknown element Z={key}; known: {sorted(ELEMENTS)}")
    return ELEMENTS[int(key)]
