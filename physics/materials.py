"""Material library: elemental composition (mass fractions), density and mean excitation energy.

Sources
-------
* ``NIST``: composition, density and I-value as used by the NIST STAR databases (ESTAR/PSTAR/
  ASTAR; Berger, Coursey, Zucker & Chang, NIST Standard Reference Database 124), which follow
  ICRU Report 37 (1984) and ICRU Report 49 (1993). These are the materials whose PSTAR tables
  the tests compare against.
* ``ICRU46``: body-tissue compositions of ICRU Report 46 (1992), Appendix A, after Woodard &
  White (1986), Br. J. Radiol. 59:1209 (adult red and yellow marrow, spongiosa, cortical
  bone, healthy lung). Their I-values are obtained by Bragg additivity,
  ln I = sum_i w_i (Z/A)_i ln I_i / sum_i w_i (Z/A)_i, with the condensed-phase elemental
  values of Seltzer & Berger (1982) (see :mod:`physics.elements`).
* Water: ICRU Report 90 (2016) recommends I = 78 eV for liquid water (PSTAR used 75 eV);
  flashmc's default water uses 78 eV. ``water_pstar`` keeps 75 eV for comparison with PSTAR.

Densities in g/cm^3, I in eV, compositions as mass fractions (they are renormalised to 1).
"""

from dataclasses import dataclass, field, replace

import numpy as np

from .elements import element


@dataclass(frozen=True)
class Material:
    """A homogeneous material.

    Attributes: ``name``; ``density`` [g/cm^3] (nominal; voxels may scale it);
    ``composition`` {Z: mass fraction}; ``I_eV`` mean excitation energy [eV]; ``state`` one of
    'solid', 'liquid', 'gas' (selects the density-effect rules); ``source`` citation text.
    """

    name: str
    density: float
    composition: dict
    I_eV: float
    state: str = "solid"
    source: str = ""
    aliases: tuple = field(default_factory=tuple)

    @property
    def z_over_a(self):
        """<Z/A> = sum_i w_i Z_i / A_i [mol/g]."""
        return sum(w * Z / element(Z).A for Z, w in self.composition.items())

    def with_I(self, I_eV, name=None):
        """Copy of the material with another mean excitation energy [eV]."""
        return replace(self, I_eV=float(I_eV), name=name or f"{self.name}[I={I_eV:g}eV]")


def bragg_I_value(composition):
    """Bragg-additivity mean excitation energy [eV] of a compound (ICRU 37 eq. 4.7) using
    condensed-phase elemental I values (Seltzer & Berger 1982)."""
    num = 0.0
    den = 0.0
    for Z, w in composition.items():
        el = element(Z)
        num += w * Z / el.A * np.log(el.I_condensed_eV)
        den += w * Z / el.A
    return float(np.exp(num / den))


def _comp(**fractions):
    """Composition from element symbols with mass fractions (or percent), renormalised."""
    total = sum(fractions.values())
    return {element(sym).Z: v / total for sym, v in fractions.items()}


_NIST = "NIST STAR databases (ICRU Report 37/49) composition, density and I-value"
_ICRU46 = "ICRU Report 46 (1992) / Woodard & White (1986); I by Bragg additivity (Seltzer & Berger 1982)"

_WATER = _comp(H=0.111894, O=0.888106)

_LIBRARY = [
    Material("water", 1.0, _WATER, 78.0, "liquid",
             "composition: NIST; I = 78 eV: ICRU Report 90 (2016)", ("h2o", "g4_water")),
    Material("water_pstar", 1.0, _WATER, 75.0, "liquid",
             "NIST PSTAR liquid water, I = 75 eV (ICRU Report 49)"),
    Material("air", 1.20479e-3, _comp(C=0.000124, N=0.755267, O=0.231781, Ar=0.012827), 85.7,
             "gas", "NIST dry air near sea level; I = 85.7 eV (ICRU 37/49, ICRU 90)",
             ("air_dry",)),
    Material("soft_tissue", 1.0, _comp(H=0.104472, C=0.232190, N=0.024880, O=0.630238,
             Na=0.001130, Mg=0.000130, P=0.001330, S=0.001990, Cl=0.001340, K=0.001990,
             Ca=0.000230, Fe=0.000050, Zn=0.000030), 72.3, "solid",
             _NIST + " (TISSUE, SOFT (ICRP))", ("tissue_soft_icrp",)),
    Material("muscle", 1.04, _comp(H=0.100637, C=0.107830, N=0.027680, O=0.754773, Na=0.000750,
             Mg=0.000190, P=0.001800, S=0.002410, Cl=0.000790, K=0.003020, Ca=0.000030,
             Fe=0.000040, Zn=0.000050), 75.3, "solid",
             _NIST + " (MUSCLE, SKELETAL (ICRP))", ("muscle_skeletal_icrp",)),
    Material("adipose", 0.92, _comp(H=0.119477, C=0.637240, N=0.007970, O=0.232333, Na=0.000500,
             Mg=0.000020, P=0.000160, S=0.000730, Cl=0.001190, K=0.000320, Ca=0.000020,
             Fe=0.000020, Zn=0.000020), 63.2, "solid",
             _NIST + " (ADIPOSE TISSUE (ICRP))", ("adipose_icrp",)),
    Material("lung", 0.26, _comp(H=0.101278, C=0.102310, N=0.028650, O=0.757072, Na=0.001840,
             Mg=0.000730, P=0.000800, S=0.002250, Cl=0.002660, K=0.001940, Ca=0.000090,
             Fe=0.000370, Zn=0.000010), 75.3, "solid",
             _NIST + " (LUNG (ICRP), I = 75.3 eV) at the inflated-lung density 0.26 g/cm^3 of "
             "ICRU Report 46", ("lung_icrp",)),
    Material("bone_cortical", 1.85, _comp(H=0.047234, C=0.144330, N=0.041990, O=0.446096,
             Mg=0.002200, P=0.104970, S=0.003150, Ca=0.209930, Zn=0.000100), 106.4, "solid",
             _NIST + " (BONE, CORTICAL (ICRP))", ("bone_cortical_icrp",)),
    Material("bone_compact", 1.85, _comp(H=0.063984, C=0.278000, N=0.027000, O=0.410016,
             Mg=0.002000, P=0.070000, S=0.002000, Ca=0.147000), 91.9, "solid",
             _NIST + " (BONE, COMPACT (ICRU))", ("bone_compact_icru",)),
    Material("pmma", 1.19, _comp(H=0.080538, C=0.599848, O=0.319614), 74.0, "solid",
             _NIST + " (POLYMETHYL METHACRYLATE)", ("lucite", "perspex")),
    Material("titanium", 4.54, {22: 1.0}, 233.0, "solid", _NIST + " (TITANIUM)", ("ti",)),
]

_ICRU46_DEFS = [
    ("red_marrow", 1.03, dict(H=10.5, C=41.4, N=3.4, O=43.9, P=0.1, S=0.2, Cl=0.2, K=0.2, Fe=0.1),
     ("marrow_red",)),
    ("yellow_marrow", 0.98, dict(H=11.5, C=64.4, N=0.7, O=23.1, Na=0.1, S=0.1, Cl=0.1),
     ("marrow_yellow",)),
    ("spongiosa", 1.18, dict(H=8.5, C=40.4, N=2.8, O=36.7, Na=0.1, Mg=0.1, P=3.4, S=0.2, Cl=0.2,
     K=0.1, Ca=7.4, Fe=0.1), ("bone_spongiosa", "spongy_bone")),
    ("bone_cortical_icru46", 1.92, dict(H=3.4, C=15.5, N=4.2, O=43.5, Na=0.1, Mg=0.2, P=10.3,
     S=0.3, Ca=22.5), ()),
]
for _name, _rho, _pct, _aliases in _ICRU46_DEFS:
    _c = _comp(**_pct)
    _LIBRARY.append(Material(_name, _rho, _c, bragg_I_value(_c), "solid", _ICRU46, _aliases))

MATERIALS = {m.name: m for m in _LIBRARY}
_ALIASES = {a: m.name for m in _LIBRARY for a in m.aliases}


def get_material(name):
    """Return a library :class:`Material` by name or alias (case-insensitive).

    Raises ``KeyError`` naming the known materials when the name is unknown.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MATERIALS:
        raise KeyError(f"unknown material {name!r}; known materials: {', '.join(sorted(MATERIALS))}")
    return MATERIALS[key]


def material_names():
    """Sorted names of the library materials."""
    return sorted(MATERIALS)
