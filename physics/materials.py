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
* ``SCHNEIDER2000``: the 24 tissue bins of the stoichiometric CT calibration of Schneider,
  Bortfeld & Schlegel (2000), Phys. Med. Biol. 45:459-478, Table 6 (elemental weights in % by
  mass of H, C, N, O, Na, Mg, P, S, Cl, Ar, K, Ca per CT-number bin): air, lung, five
  adipose/adrenal-gland/small-intestine mixtures (``schneider_adipose_1`` to ``_5``), soft
  tissue, connective tissue and fifteen marrow/bone mixtures (``schneider_marrow_bone_01`` to
  ``_15``). The same weights are distributed with GATE (Schneider2000MaterialsTable.txt) and
  TOPAS (the Schneider converter), and MCsquare's ``Schneider_*`` materials (Materials/) hold
  them restricted to H, C, N, O, P, Ca and renormalised. Nominal density: the HU-density curve
  of :mod:`geometry.ct`'s default calibration at the bin's lower HU bound (the densities of
  MCsquare's ``Schneider_*`` materials); voxels carry their own density. I-values by Bragg
  additivity (as ICRU46 above), except ``schneider_air``: a gas, for which the condensed-phase
  elemental values do not apply; it takes the dry-air value 85.7 eV (ICRU 37/49, ICRU 90) of
  its near-identical composition. The MCsquare names (lower case) are aliases.

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
    ("red_marrow", 1.03, {"H": 10.5, "C": 41.4, "N": 3.4, "O": 43.9, "P": 0.1, "S": 0.2, "Cl": 0.2, "K": 0.2,
                          "Fe": 0.1}, ("marrow_red",)),
    ("yellow_marrow", 0.98, {"H": 11.5, "C": 64.4, "N": 0.7, "O": 23.1, "Na": 0.1, "S": 0.1, "Cl": 0.1},
     ("marrow_yellow",)),
    ("spongiosa", 1.18, {"H": 8.5, "C": 40.4, "N": 2.8, "O": 36.7, "Na": 0.1, "Mg": 0.1, "P": 3.4, "S": 0.2,
                         "Cl": 0.2, "K": 0.1, "Ca": 7.4, "Fe": 0.1}, ("bone_spongiosa", "spongy_bone")),
    ("bone_cortical_icru46", 1.92, {"H": 3.4, "C": 15.5, "N": 4.2, "O": 43.5, "Na": 0.1, "Mg": 0.2, "P": 10.3,
                                    "S": 0.3, "Ca": 22.5}, ()),
]
for _name, _rho, _pct, _aliases in _ICRU46_DEFS:
    _c = _comp(**_pct)
    _LIBRARY.append(Material(_name, _rho, _c, bragg_I_value(_c), "solid", _ICRU46, _aliases))

_SCHNEIDER2000 = ("Schneider, Bortfeld & Schlegel (2000), Phys. Med. Biol. 45:459, Table 6 (bin {bin}); "
                  "I by Bragg additivity (Seltzer & Berger 1982)")
#: Schneider et al. (2000) Table 6: name, CT-number bin [HU], nominal density [g/cm^3], % by mass of
#: the elements _SCHNEIDER_ELEMENTS, MCsquare name (lower case) where it differs.
_SCHNEIDER_ELEMENTS = ("H", "C", "N", "O", "Na", "Mg", "P", "S", "Cl", "Ar", "K", "Ca")
_SCHNEIDER2000_DEFS = [
    ("schneider_lung", "-950..-121", 0.0527, (10.3, 10.5, 3.1, 74.9, 0.2, 0, 0.2, 0.3, 0.3, 0, 0.2, 0), None),
    ("schneider_adipose_1", "-120..-83", 0.9073, (11.6, 68.1, 0.2, 19.8, 0.1, 0, 0, 0.1, 0.1, 0, 0, 0),
     "schneider_at_ag_si1"),
    ("schneider_adipose_2", "-82..-53", 0.9439, (11.3, 56.7, 0.9, 30.8, 0.1, 0, 0, 0.1, 0.1, 0, 0, 0),
     "schneider_at_ag_si2"),
    ("schneider_adipose_3", "-52..-23", 0.9708, (11.0, 45.8, 1.5, 41.1, 0.1, 0, 0.1, 0.2, 0.2, 0, 0, 0),
     "schneider_at_ag_si3"),
    ("schneider_adipose_4", "-22..7", 0.9977, (10.8, 35.6, 2.2, 50.9, 0, 0, 0.1, 0.2, 0.2, 0, 0, 0),
     "schneider_at_ag_si4"),
    ("schneider_adipose_5", "8..18", 1.0246, (10.6, 28.4, 2.6, 57.8, 0, 0, 0.1, 0.2, 0.2, 0, 0.1, 0),
     "schneider_at_ag_si5"),
    ("schneider_soft_tissue", "19..79", 1.0306, (10.3, 13.4, 3.0, 72.3, 0.2, 0, 0.2, 0.2, 0.2, 0, 0.2, 0),
     "schneider_softtissus"),
    ("schneider_connective_tissue", "80..119", 1.0968, (9.4, 20.7, 6.2, 62.2, 0.6, 0, 0, 0.6, 0.3, 0, 0, 0),
     "schneider_connectivetissue"),
    ("schneider_marrow_bone_01", "120..199", 1.0875, (9.5, 45.5, 2.5, 35.5, 0.1, 0, 2.1, 0.1, 0.1, 0, 0.1, 4.5),
     "schneider_marrow_bone01"),
    ("schneider_marrow_bone_02", "200..299", 1.1348, (8.9, 42.3, 2.7, 36.3, 0.1, 0, 3.0, 0.1, 0.1, 0, 0.1, 6.4),
     "schneider_marrow_bone02"),
    ("schneider_marrow_bone_03", "300..399", 1.1941, (8.2, 39.1, 2.9, 37.2, 0.1, 0, 3.9, 0.1, 0.1, 0, 0.1, 8.3),
     "schneider_marrow_bone03"),
    ("schneider_marrow_bone_04", "400..499", 1.2533, (7.6, 36.1, 3.0, 38.0, 0.1, 0.1, 4.7, 0.2, 0.1, 0, 0, 10.1),
     "schneider_marrow_bone04"),
    ("schneider_marrow_bone_05", "500..599", 1.3126, (7.1, 33.5, 3.2, 38.7, 0.1, 0.1, 5.4, 0.2, 0, 0, 0, 11.7),
     "schneider_marrow_bone05"),
    ("schneider_marrow_bone_06", "600..699", 1.3718, (6.6, 31.0, 3.3, 39.4, 0.1, 0.1, 6.1, 0.2, 0, 0, 0, 13.2),
     "schneider_marrow_bone06"),
    ("schneider_marrow_bone_07", "700..799", 1.4310, (6.1, 28.7, 3.5, 40.0, 0.1, 0.1, 6.7, 0.2, 0, 0, 0, 14.6),
     "schneider_marrow_bone07"),
    ("schneider_marrow_bone_08", "800..899", 1.4903, (5.6, 26.5, 3.6, 40.5, 0.1, 0.2, 7.3, 0.3, 0, 0, 0, 15.9),
     "schneider_marrow_bone08"),
    ("schneider_marrow_bone_09", "900..999", 1.5495, (5.2, 24.6, 3.7, 41.1, 0.1, 0.2, 7.8, 0.3, 0, 0, 0, 17.0),
     "schneider_marrow_bone09"),
    ("schneider_marrow_bone_10", "1000..1099", 1.6088, (4.9, 22.7, 3.8, 41.6, 0.1, 0.2, 8.3, 0.3, 0, 0, 0, 18.1),
     "schneider_marrow_bone10"),
    ("schneider_marrow_bone_11", "1100..1199", 1.6680, (4.5, 21.0, 3.9, 42.0, 0.1, 0.2, 8.8, 0.3, 0, 0, 0, 19.2),
     "schneider_marrow_bone11"),
    ("schneider_marrow_bone_12", "1200..1299", 1.7272, (4.2, 19.4, 4.0, 42.5, 0.1, 0.2, 9.2, 0.3, 0, 0, 0, 20.1),
     "schneider_marrow_bone12"),
    ("schneider_marrow_bone_13", "1300..1399", 1.7865, (3.9, 17.9, 4.1, 42.9, 0.1, 0.2, 9.6, 0.3, 0, 0, 0, 21.0),
     "schneider_marrow_bone13"),
    ("schneider_marrow_bone_14", "1400..1499", 1.8457, (3.6, 16.5, 4.2, 43.2, 0.1, 0.2, 10.0, 0.3, 0, 0, 0, 21.9),
     "schneider_marrow_bone14"),
    ("schneider_marrow_bone_15", ">= 1500", 1.9050, (3.4, 15.5, 4.2, 43.5, 0.1, 0.2, 10.3, 0.3, 0, 0, 0, 22.5),
     "schneider_marrow_bone15"),
]
_SCHNEIDER_AIR = _comp(N=75.5, O=23.2, Ar=1.3)
_LIBRARY.append(Material("schneider_air", 1.21e-3, _SCHNEIDER_AIR, 85.7, "gas",
                         "Schneider, Bortfeld & Schlegel (2000), Phys. Med. Biol. 45:459, Table 6 (bin < -950 HU); "
                         "I = 85.7 eV of dry air (ICRU 37/49, ICRU 90)"))
for _name, _bin, _rho, _pct, _alias in _SCHNEIDER2000_DEFS:
    _c = _comp(**{el: w for el, w in zip(_SCHNEIDER_ELEMENTS, _pct) if w > 0})
    _LIBRARY.append(Material(_name, _rho, _c, bragg_I_value(_c), "solid",
                             _SCHNEIDER2000.format(bin=f"{_bin} HU"), (_alias,) if _alias else ()))

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
