"""Machine beam model of a pencil-beam-scanning (PBS) proton nozzle: for each nominal energy the
beam's energy, its Gaussian phase space at the nozzle exit and the protons per monitor unit,
read from a YAML file of our format or from an MCsquare beam data library (BDL).

Conventions and units
---------------------
* ``E_nom`` [MeV] is the nominal energy of an energy layer, the energy a plan names (DICOM RT Ion
  Plan NominalBeamEnergy (300A,0114)). The model gives the mean kinetic energy at the nozzle exit
  [MeV] and its Gaussian spread (1 sigma, MeV), the protons per MU, and per transverse axis the
  spot sigma [mm], divergence (1 sigma of the projected angle; mrad in our YAML and in
  :class:`LayerOptics`, rad in the BDL) and the position-angle correlation coefficient
  rho = <x theta> / (sigma_x sigma_theta) (dimensionless, -1 < rho < 1), all at the nozzle exit.
* x and y are the IEC 61217 beam-limiting-device axes X and Y, those of the spot positions of
  DICOM ScanSpotPositionMap (300A,0394); ``z_mm`` is the distance downstream of the nozzle exit
  along the central axis. Distances [mm]: nozzle exit to isocentre; virtual source of the X and
  Y scanning magnets (SMX, SMY) to isocentre.
* Double Gaussian (MCsquare's "UPenn" model): a proton belongs to Gaussian 1 with probability
  w1 / (w1 + w2) and to Gaussian 2 otherwise, each with its own sigma, divergence and
  correlation (compute_beam_model.c, Sample_particle). A second Gaussian whose weight is zero at
  every energy is dropped (a single-Gaussian machine).
* Interpolation: every column linearly in E_nom between tabulated energies, as MCsquare does
  (Linear_Interpolation in Sample_particle). The energy spread is interpolated as a percentage of
  E_nom and multiplied by E_nom / 100 (MCsquare: ``sE * ControlPoint->Energy / 100`` with
  ControlPoint->Energy the nominal energy). Outside the table a ConfigError is raised (MCsquare
  extrapolates the end intervals).

In-air optics
-------------
Between the nozzle exit and the patient the beam drifts on straight lines: x(z) = x0 + z theta,
theta unchanged (MCsquare samples tan(theta) as the slope and moves the protons straight to the
CT, subtracting only the energy lost in air: Sample_particle, Transport_to_CT). The Gaussian's
beam matrix Sigma = [[sigma^2, rho sigma theta], [rho sigma theta, theta^2]] is transported by
Sigma(z) = R Sigma0 R^T with R = [[1, z], [0, 1]] (the beam matrix and the drift transfer matrix
of linear beam optics, e.g. H. Wiedemann, *Particle Accelerator Physics*, 4th ed., Springer 2015,
chapter "Particle beams and phase space"; equivalently the Fermi-Eyges moments with zero
scattering power, B. Gottschalk, "On the scattering power of radiotherapy protons", Med. Phys. 37
(2010) 352). rho > 0 for a diverging beam, 0 at a waist:

    sigma(z)^2 = sigma0^2 + 2 rho0 sigma0 theta0 z + theta0^2 z^2
    rho(z)     = (rho0 sigma0 + theta0 z) / sigma(z),   theta(z) = theta0.

Scattering in air is not added: the tabulated parameters are effective in-air values fitted to
profiles measured in air, as in MCsquare. A spot aimed at (X, Y) in the isocentre plane leaves
the nozzle exit at X (SMX - L) / SMX, Y (SMY - L) / SMY (L = nozzle exit to isocentre) with the
slopes X / SMX, Y / SMY (Sample_particle; :meth:`Machine.spot_central_ray`).

MCsquare BDL format ("--UPenn beam model (double gaussian)--")
--------------------------------------------------------------
Established from MCsquare (K. Souris, J. A. Lee, E. Sterpin, Med. Phys. 43 (2016) 1700; Apache
2.0): the reader ``read_UPenn_BDL`` in src/data_beam_model.c, the sampler ``Sample_particle`` and
``ConvertMuToProtons`` in src/compute_beam_model.c, the material list Materials/list.dat and the
example libraries BDL/BDL_default_DN.txt, BDL/BDL_default_DN_RangeShifter.txt, read in the
repository github.com/e0404/MCsquare (matRad's mirror of gitlab.com/openmcsquare/MCsquare),
commit 211eefe6eaf2b8572d196d17f546f35ffb0ae0cf (March 2020). Layout::

    --UPenn beam model (double gaussian)--      (line 1, exactly)
    # comment lines
    Nozzle exit to Isocenter distance           (next line: mm)
    SMX to Isocenter distance                   (next line: mm)
    SMY to Isocenter distance                   (next line: mm)
    Range Shifter parameters                    (zero or more sections of "key = value" lines:)
      RS_ID = name, RS_type = binary | analog | none | empty, RS_material = MCsquare material
      number (Materials/list.dat: 13 Air, 17 Water, 64 PMMA, ...), RS_density [g/cm^3],
      RS_WET [mm, water-equivalent thickness]
    Beam parameters
    N energies
    (one line, skipped: a blank line)
    NominalEnergy MeanEnergy EnergySpread ProtonsMU Weight1 SpotSize1x Divergence1x Correlation1x
      SpotSize1y Divergence1y Correlation1y Weight2 SpotSize2x Divergence2x Correlation2x
      SpotSize2y Divergence2y Correlation2y        (header line, skipped unread by MCsquare)
    N rows of these 18 numbers, separated by tabs or spaces

Units, from how Sample_particle uses them: energies MeV; EnergySpread in percent of the nominal
energy (1 sigma); SpotSize in mm (sampled positions are divided by 10 to cm); Divergence in rad
(used as tan(theta)); Correlation dimensionless; distances mm. MCsquare matches the titles with
``strcmp`` including the newline (LF line ends, nothing else on the line) and the columns by
position. This reader is more tolerant: comments (``#`` to the end of a line) and blank lines
anywhere, CRLF, tabs or spaces, title case, columns found by their header names in any order,
the second-Gaussian columns optional (all or none), and the range-shifter keys RS_thickness [mm]
and RS_position [mm, isocentre to the range shifter's downstream face] (present but commented
out in that MCsquare version, which takes the thickness from RS_WET and the material's
stopping-power ratio, and the position from the plan's IsocenterToRangeShifterDistance, cf.
DICOM (300A,0364)).
:func:`write_bdl` writes the strict layout MCsquare reads.

Protons per MU
--------------
For this BDL MCsquare multiplies every spot's meterset weight [MU] by ProtonsMU interpolated
linearly in E_nom (data_beam_model.c, plan reader): ProtonsMU is protons per MU directly. (Before
MCsquare commit 2705506, June 2018, a theoretical conversion was used instead even for this
format.) That theoretical conversion, ``ConvertMuToProtons``, remains for MCsquare's older
polynomial BDL: 1 MU is a charge of 3 nC collected per cm of effective air gap of the monitor
chamber, and N = Q W / (e S_air rho_air d) with W = 35.87 eV per ion pair, S_air a polynomial fit
to ICRU stopping powers of air and rho_air = 1.20479e-3 g/cm^3 (NIST dry air).
:func:`protons_per_mu_from_chamber` implements that definition with (W_air/e) = 34.23 J/C for
protons (IAEA TRS-398, 2000, proton-beam chapter) by default and flashmc's stopping power of air
(physics/stopping.py); the ProtonsMU of MCsquare's BDL_default_DN.txt follow it with W = 35.87 eV
and MCsquare's air fit within 2 % from 100 to 225 MeV (0.4 % at 100 MeV; tests/test_beam_model.py).
"""

import math
import os
from dataclasses import dataclass

import numpy as np
import yaml

from physics.constants import J_PER_MEV
from physics.materials import get_material, material_names
from physics.stopping import electronic_mass_stopping

from .errors import ConfigError

#: First line of MCsquare's double-Gaussian BDL (read_machine_parameters compares it exactly).
BDL_HEADER = "--UPenn beam model (double gaussian)--"

#: Columns of the BDL beam table in MCsquare's order (read_UPenn_BDL).
BDL_COLUMNS = ("NominalEnergy", "MeanEnergy", "EnergySpread", "ProtonsMU", "Weight1",
               "SpotSize1x", "Divergence1x", "Correlation1x", "SpotSize1y", "Divergence1y", "Correlation1y",
               "Weight2", "SpotSize2x", "Divergence2x", "Correlation2x", "SpotSize2y", "Divergence2y",
               "Correlation2y")
_CORE = BDL_COLUMNS[:11]
_SECOND = BDL_COLUMNS[11:]

#: Columns of our YAML table and the BDL column each one fills (unit conversion in _yaml_layers).
YAML_COLUMNS = {
    "nominal_energy_MeV": "NominalEnergy", "mean_energy_MeV": "MeanEnergy",
    "energy_spread_MeV": "EnergySpread", "protons_per_mu": "ProtonsMU", "weight1": "Weight1",
    "sigma_x_mm": "SpotSize1x", "divergence_x_mrad": "Divergence1x", "correlation_x": "Correlation1x",
    "sigma_y_mm": "SpotSize1y", "divergence_y_mrad": "Divergence1y", "correlation_y": "Correlation1y",
    "weight2": "Weight2",
    "sigma2_x_mm": "SpotSize2x", "divergence2_x_mrad": "Divergence2x", "correlation2_x": "Correlation2x",
    "sigma2_y_mm": "SpotSize2y", "divergence2_y_mrad": "Divergence2y", "correlation2_y": "Correlation2y",
}
_BDL_TO_YAML = {v: k for k, v in YAML_COLUMNS.items()}

#: MCsquare material numbers (Materials/list.dat) of the flashmc materials with the same name.
MCSQUARE_MATERIALS = {13: "air", 17: "water", 64: "pmma"}
_MATERIAL_TO_MCSQUARE = {v: k for k, v in MCSQUARE_MATERIALS.items()}

#: MCsquare's range-shifter types (data_beam_model.c, RS_type).
RANGE_SHIFTER_TYPES = ("binary", "analog", "none", "empty")

#: Monitor-unit definition of MCsquare's ConvertMuToProtons: 3 nC per MU per cm of air gap.
MU_CHARGE_C = 3.0e-9
MU_GAP_CM = 1.0
#: Mean energy to create an ion pair in air per unit charge for protons [J/C] (IAEA TRS-398, 2000).
W_AIR_J_PER_C = 34.23

_YAML_KEYS = ("name", "source", "nozzle_to_isocentre_mm", "smx_to_isocentre_mm", "smy_to_isocentre_mm",
              "range_shifters", "layers")
_RS_YAML_KEYS = ("id", "type", "material", "mcsquare_material_id", "density_g_cm3", "wet_mm", "thickness_mm",
                 "isocentre_distance_mm")
_RS_BDL_KEYS = {"RS_ID": "id", "RS_type": "type", "RS_material": "mcsquare_material_id",
                "RS_density": "density_g_cm3", "RS_WET": "wet_mm", "RS_thickness": "thickness_mm",
                "RS_position": "isocentre_distance_mm"}
_TITLES = {"nozzle exit to isocenter distance": "nozzle", "smx to isocenter distance": "smx",
           "smy to isocenter distance": "smy", "range shifter parameters": "rs", "beam parameters": "beam"}
_TITLE_TEXT = {"nozzle": "Nozzle exit to Isocenter distance", "smx": "SMX to Isocenter distance",
               "smy": "SMY to Isocenter distance", "beam": "Beam parameters"}


@dataclass(frozen=True)
class RangeShifter:
    """A range shifter of the nozzle. ``material``: flashmc material name (None when the MCsquare
    material number has no flashmc counterpart); ``mcsquare_material_id``: MCsquare's material
    number; ``wet_mm``: water-equivalent thickness; ``isocentre_distance_mm``: isocentre to the
    range shifter's downstream face, if the machine fixes it (else the plan gives it)."""

    id: str
    type: str
    material: str | None
    mcsquare_material_id: int | None
    density_g_cm3: float
    wet_mm: float | None = None
    thickness_mm: float | None = None
    isocentre_distance_mm: float | None = None


@dataclass(frozen=True)
class LayerOptics:
    """Beam of one nominal energy at the nozzle exit (see the module docstring for the units).
    The second-Gaussian fields are None for a single-Gaussian machine."""

    nominal_energy_MeV: float
    mean_energy_MeV: float
    energy_spread_MeV: float
    energy_spread_percent: float
    protons_per_mu: float
    weight1: float
    sigma_x_mm: float
    divergence_x_mrad: float
    correlation_x: float
    sigma_y_mm: float
    divergence_y_mrad: float
    correlation_y: float
    weight2: float = 0.0
    sigma2_x_mm: float | None = None
    divergence2_x_mrad: float | None = None
    correlation2_x: float | None = None
    sigma2_y_mm: float | None = None
    divergence2_y_mrad: float | None = None
    correlation2_y: float | None = None

    @property
    def fraction2(self):
        """Probability that a proton belongs to the second Gaussian, w2 / (w1 + w2)."""
        return self.weight2 / (self.weight1 + self.weight2)

    def axes(self, gaussian=1):
        """(sigma_mm, divergence_mrad, correlation) of Gaussian 1 or 2, each an array [x, y]."""
        if gaussian == 1:
            return (np.array([self.sigma_x_mm, self.sigma_y_mm]),
                    np.array([self.divergence_x_mrad, self.divergence_y_mrad]),
                    np.array([self.correlation_x, self.correlation_y]))
        if gaussian == 2 and self.sigma2_x_mm is not None:
            return (np.array([self.sigma2_x_mm, self.sigma2_y_mm]),
                    np.array([self.divergence2_x_mrad, self.divergence2_y_mrad]),
                    np.array([self.correlation2_x, self.correlation2_y]))
        have = "1 or 2" if self.sigma2_x_mm is not None else "1 (a single-Gaussian machine)"
        raise ConfigError(f"gaussian={gaussian!r}: no such Gaussian; use {have}")


def drift(sigma_mm, divergence_mrad, correlation, z_mm):
    """Spot sigma [mm] and position-angle correlation after a straight drift of ``z_mm`` (beam
    matrix transport, module docstring); the divergence does not change. Arrays broadcast."""
    s0 = np.asarray(sigma_mm, float)
    t0 = np.asarray(divergence_mrad, float) * 1e-3
    r0 = np.asarray(correlation, float)
    z = np.asarray(z_mm, float)
    sigma = np.sqrt(s0 * s0 + 2.0 * r0 * s0 * t0 * z + (t0 * z) ** 2)
    rho = np.where(t0 > 0, (r0 * s0 + t0 * z) / sigma, r0)
    return sigma, rho


def protons_per_mu_from_chamber(E_MeV, charge_per_mu_C=MU_CHARGE_C, gap_cm=MU_GAP_CM, w_air_J_per_C=W_AIR_J_PER_C,
                                air_density_g_cm3=None, air_stopping_MeV_cm2_g=None):
    """Protons per MU of a monitor chamber that collects ``charge_per_mu_C`` per MU in an air gap
    of ``gap_cm``: N = Q (W_air/e) / (S_air rho_air d), the energy a proton loses in the gap,
    S_air rho_air d [MeV], converted to J (the definition of MCsquare's ConvertMuToProtons, module
    docstring). ``air_stopping_MeV_cm2_g`` defaults to flashmc's electronic mass stopping power of
    air at ``E_MeV``; ``air_density_g_cm3`` to flashmc's air (1.20479e-3, NIST dry air)."""
    E = np.asarray(E_MeV, float)
    air = get_material("air")
    rho = air.density if air_density_g_cm3 is None else float(air_density_g_cm3)
    if air_stopping_MeV_cm2_g is None:
        s = electronic_mass_stopping(air, np.atleast_1d(E)).reshape(E.shape)
    else:
        s = np.asarray(air_stopping_MeV_cm2_g, float)
    n = charge_per_mu_C * w_air_J_per_C / (s * rho * gap_cm * J_PER_MEV)
    return float(n) if np.ndim(n) == 0 else n


class Machine:
    """A PBS machine: distances, range shifters and the per-energy table (BDL units: percent for
    the energy spread, rad for the divergences). Build it with :func:`load_machine`."""

    def __init__(self, name, source, nozzle_to_isocentre_mm, smx_mm, smy_mm, columns, range_shifters=(),
                 path="<machine>"):
        self.name = str(name)
        self.source = str(source).strip()
        self.nozzle_to_isocentre_mm = float(nozzle_to_isocentre_mm)
        self.smx_mm = float(smx_mm)
        self.smy_mm = float(smy_mm)
        self.range_shifters = tuple(range_shifters)
        self.path = str(path)
        self._cols = {k: np.array(v, float) for k, v in columns.items()}

    def __repr__(self):
        e = self._cols["NominalEnergy"]
        return (f"Machine({self.name!r}, {len(e)} energies {e[0]:g}-{e[-1]:g} MeV, "
                f"{'double' if self.double_gaussian else 'single'} Gaussian, {len(self.range_shifters)} range shifters)")

    @property
    def energies_MeV(self):
        """Tabulated nominal energies [MeV], increasing."""
        return self._cols["NominalEnergy"].copy()

    @property
    def double_gaussian(self):
        return "Weight2" in self._cols

    @property
    def columns(self):
        """Copy of the table: BDL column name -> array (BDL units)."""
        return {k: v.copy() for k, v in self._cols.items()}

    def _check_energy(self, E_nom_MeV):
        e = self._cols["NominalEnergy"]
        E = float(E_nom_MeV)
        if not (math.isfinite(E) and e[0] <= E <= e[-1]):
            raise ConfigError(f"{self.path}: nominal energy {E:g} MeV is outside the table of machine {self.name!r} "
                              f"({e[0]:g} to {e[-1]:g} MeV); choose an energy in that range")
        return E

    def _interp(self, col, E):
        return float(np.interp(E, self._cols["NominalEnergy"], self._cols[col]))

    def layer(self, E_nom_MeV):
        """:class:`LayerOptics` of nominal energy ``E_nom_MeV`` (linear interpolation)."""
        E = self._check_energy(E_nom_MeV)
        g = self._interp
        spread = g("EnergySpread", E)
        kw = {"nominal_energy_MeV": E, "mean_energy_MeV": g("MeanEnergy", E),
              "energy_spread_MeV": spread * E / 100.0, "energy_spread_percent": spread,
              "protons_per_mu": g("ProtonsMU", E), "weight1": g("Weight1", E)}
        axes = (("", "1"), ("2", "2")) if self.double_gaussian else (("", "1"),)
        for name, k in axes:
            for ax in "xy":
                kw[f"sigma{name}_{ax}_mm"] = g(f"SpotSize{k}{ax}", E)
                kw[f"divergence{name}_{ax}_mrad"] = 1000.0 * g(f"Divergence{k}{ax}", E)
                kw[f"correlation{name}_{ax}"] = g(f"Correlation{k}{ax}", E)
        if self.double_gaussian:
            kw["weight2"] = g("Weight2", E)
        return LayerOptics(**kw)

    def protons_per_mu(self, E_nom_MeV):
        """Protons per MU at nominal energy ``E_nom_MeV`` (linear interpolation, as MCsquare)."""
        return self._interp("ProtonsMU", self._check_energy(E_nom_MeV))

    def optics_at(self, E_nom_MeV, z_mm, gaussian=1):
        """(sigma_mm [x, y], correlation [x, y]) of Gaussian 1 or 2 at ``z_mm`` downstream of
        the nozzle exit."""
        sigma, div, rho = self.layer(E_nom_MeV).axes(gaussian)
        return drift(sigma, div, rho, z_mm)

    def spot_sigma_at_mm(self, E_nom_MeV, z_mm, gaussian=1):
        """Spot sigma [mm] along x and y at ``z_mm`` downstream of the nozzle exit."""
        return self.optics_at(E_nom_MeV, z_mm, gaussian)[0]

    def sigma_at_isocentre_mm(self, E_nom_MeV, gaussian=1):
        """Spot sigma [mm] along x and y in air at the isocentre."""
        return self.spot_sigma_at_mm(E_nom_MeV, self.nozzle_to_isocentre_mm, gaussian)

    def spot_central_ray(self, x_iso_mm, y_iso_mm):
        """Central ray of a spot aimed at (x_iso_mm, y_iso_mm) in the isocentre plane: its point
        on the nozzle exit plane [mm] and unit direction, in beam coordinates (origin at the
        isocentre, z along the beam, nozzle exit at z = -L); the ray passes through the aim."""
        L = self.nozzle_to_isocentre_mm
        x, y = float(x_iso_mm), float(y_iso_mm)
        point = np.array([x * (self.smx_mm - L) / self.smx_mm, y * (self.smy_mm - L) / self.smy_mm, -L])
        direction = np.array([x / self.smx_mm, y / self.smy_mm, 1.0])
        return point, direction / np.linalg.norm(direction)


# ------------------------------------------------------------------ validation (both formats)
_LIMITS = {
    "MeanEnergy": (lambda v: v > 0, "must be positive", "give the mean energy at the nozzle exit in MeV"),
    "EnergySpread": (lambda v: v >= 0, "must not be negative", "give the 1-sigma energy spread"),
    "ProtonsMU": (lambda v: v > 0, "must be positive", "give the protons per monitor unit"),
    "Weight": (lambda v: v >= 0, "must not be negative", "give the relative weight of the Gaussian"),
    "SpotSize": (lambda v: v > 0, "must be positive", "give the 1-sigma spot size at the nozzle exit in mm"),
    "Divergence": (lambda v: v >= 0, "must not be negative", "give the 1-sigma divergence"),
    "Correlation": (lambda v: -1 < v < 1, "must lie strictly between -1 and 1",
                    "give the position-angle correlation coefficient"),
}


def _validate_columns(cols, locate):
    """Check the table {BDL column: values}; ``locate(row, bdl_column)`` names a value's place
    (file, line or field, and column) for the messages, which quote the values as given."""
    e = cols["NominalEnergy"]
    if len(e) < 2:
        raise ConfigError(f"{locate(0, 'NominalEnergy')}: the table has {len(e)} energy; give at least two "
                          "(the model interpolates between tabulated energies)")
    for col, values in cols.items():
        for i, v in enumerate(values):
            if not math.isfinite(v):
                raise ConfigError(f"{locate(i, col)}: value {v} is not a finite number; give a number")
    for i in range(len(e)):
        if e[i] <= 0 or (i and e[i] <= e[i - 1]):
            raise ConfigError(f"{locate(i, 'NominalEnergy')}: nominal energy {e[i]:g} MeV does not exceed the "
                              f"previous row's {e[i - 1] if i else 0:g} MeV; list positive energies in strictly "
                              "increasing order")
    for col, values in cols.items():
        rule = next((r for k, r in _LIMITS.items() if col.startswith(k)), None)
        if rule is None:
            continue
        ok, what, fix = rule
        for i, v in enumerate(values):
            if not ok(v):
                raise ConfigError(f"{locate(i, col)}: value {v:g} {what}; {fix}")
    if "Weight2" in cols:
        for i, (w1, w2) in enumerate(zip(cols["Weight1"], cols["Weight2"])):
            if w1 + w2 <= 0:
                raise ConfigError(f"{locate(i, 'Weight1')}: the two weights are both zero; give a positive weight")


def _finish_columns(cols):
    """Drop a second Gaussian that has zero weight at every energy."""
    if "Weight2" in cols and not np.any(cols["Weight2"]):
        for c in _SECOND:
            cols.pop(c)
    return cols


def _check_distances(nozzle, smx, smy, locate):
    if nozzle < 0:
        raise ConfigError(f"{locate('nozzle')}: nozzle exit to isocentre distance {nozzle:g} mm is negative; "
                          "give the distance in mm")
    for key, v in (("smx", smx), ("smy", smy)):
        if not v > nozzle:
            raise ConfigError(f"{locate(key)}: virtual source to isocentre distance {v:g} mm must exceed the "
                              f"nozzle exit to isocentre distance {nozzle:g} mm (the virtual source lies upstream "
                              "of the nozzle exit); give the distance in mm")


def _range_shifter(values, locate):
    """RangeShifter from {field: value} (fields of RangeShifter); ``locate(field)`` for messages."""
    for key in ("id", "type", "density_g_cm3"):
        if values.get(key) is None:
            raise ConfigError(f"{locate(key)}: range shifter {key} is missing; add it")
    if values["type"] not in RANGE_SHIFTER_TYPES:
        raise ConfigError(f"{locate('type')}: range shifter type {values['type']!r} is not one of "
                          f"{', '.join(RANGE_SHIFTER_TYPES)}; use one of those")
    mat, mid = values.get("material"), values.get("mcsquare_material_id")
    if mat is None and mid is None:
        raise ConfigError(f"{locate('material')}: range shifter material is missing; give a flashmc material name "
                          "or an MCsquare material number")
    if mat is not None and mat not in material_names():
        raise ConfigError(f"{locate('material')}: unknown material {mat!r}; use one of {', '.join(material_names())}")
    material = mat if mat is not None else MCSQUARE_MATERIALS.get(mid)
    mcsquare_id = mid if mid is not None else _MATERIAL_TO_MCSQUARE.get(mat)
    for key in ("density_g_cm3", "wet_mm", "thickness_mm"):
        if values.get(key) is not None and not values[key] > 0:
            raise ConfigError(f"{locate(key)}: range shifter {key} = {values[key]:g} must be positive; correct it")
    if values.get("wet_mm") is None and values.get("thickness_mm") is None:
        raise ConfigError(f"{locate('wet_mm')}: range shifter {values['id']!r} has neither a water-equivalent "
                          "thickness nor a thickness; give one (mm)")
    return RangeShifter(str(values["id"]), values["type"], material, mcsquare_id, float(values["density_g_cm3"]),
                        values.get("wet_mm"), values.get("thickness_mm"), values.get("isocentre_distance_mm"))


# ------------------------------------------------------------------ MCsquare BDL
def _bdl_number(path, n, token, what, integer=False):
    try:
        v = int(token) if integer else float(token)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{path}, line {n}: {what} = {token!r} is not {kind}; write {kind}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{path}, line {n}: {what} = {token!r} is not finite; write a finite number")
    return v


def _is_title(text):
    return " ".join(text.split()).lower() in _TITLES


def _bdl_value(path, items, i, title_line, title):
    """The number on the line after a title at items[i - 1]."""
    if i >= len(items) or _is_title(items[i][1]):
        raise ConfigError(f"{path}, line {title_line}: {title!r} has no value on the next line; "
                          "write the distance in mm on the line after the title")
    n, text = items[i]
    return _bdl_number(path, n, text.split()[0], title), n


def _bdl_range_shifter(path, items, i, title_line):
    """Parse the "key = value" lines of a Range Shifter section from items[i]; (RangeShifter, next i)."""
    values, lines = {}, {}
    while i < len(items) and "=" in items[i][1]:
        n, text = items[i]
        key, _, value = (s.strip() for s in text.partition("="))
        field = _RS_BDL_KEYS.get(key)
        if field is None:
            raise ConfigError(f"{path}, line {n}: unknown range shifter key {key!r}; use one of "
                              f"{', '.join(_RS_BDL_KEYS)}")
        if field == "mcsquare_material_id":
            value = _bdl_number(path, n, value, key, integer=True)
        elif field not in ("id", "type"):
            value = _bdl_number(path, n, value, key)
        values[field], lines[field] = value, n
        i += 1
    keys = {v: k for k, v in _RS_BDL_KEYS.items()}
    keys["material"] = "RS_material"
    return _range_shifter(values, lambda f: f"{path}, line {lines.get(f, title_line)} ({keys[f]})"), i


def _bdl_header(path, n, text):
    names = text.split()
    unknown = [c for c in names if c not in BDL_COLUMNS]
    if unknown:
        raise ConfigError(f"{path}, line {n}: unknown column {unknown[0]!r} in the beam table header; the columns "
                          f"are {' '.join(BDL_COLUMNS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}, line {n}: a column appears twice in the beam table header; list each once")
    missing = [c for c in _CORE if c not in names]
    if missing:
        raise ConfigError(f"{path}, line {n}: column {missing[0]} is missing from the beam table header; "
                          f"the columns are {' '.join(BDL_COLUMNS)}")
    partial = [c for c in _SECOND if c not in names]
    if partial and len(partial) < len(_SECOND):
        raise ConfigError(f"{path}, line {n}: the second Gaussian is incomplete (no {partial[0]}); give all of "
                          f"{' '.join(_SECOND)} or none")
    return names


def _bdl_beam_table(path, items, i, title_line):
    """Parse "N energies", the header and N rows from items[i]; (columns, row line numbers, next i)."""
    if i >= len(items) or _is_title(items[i][1]):
        raise ConfigError(f"{path}, line {title_line}: 'Beam parameters' is not followed by 'N energies'; "
                          "write the number of energies on the next line")
    n, text = items[i]
    count = _bdl_number(path, n, text.split()[0], "number of energies", integer=True)
    if count < 1:
        raise ConfigError(f"{path}, line {n}: number of energies {count} must be positive; correct it")
    if i + 1 >= len(items):
        raise ConfigError(f"{path}, line {n}: the beam table header (NominalEnergy MeanEnergy ...) is missing; "
                          "add it after the number of energies")
    names = _bdl_header(path, *items[i + 1])
    rows, lines = [], []
    for n, text in items[i + 2:i + 2 + count]:
        if _is_title(text):
            break
        tokens = text.split()
        if len(tokens) != len(names):
            raise ConfigError(f"{path}, line {n}: {len(tokens)} values for the {len(names)} columns of the header; "
                              "give one value per column")
        rows.append([_bdl_number(path, n, t, c) for t, c in zip(tokens, names)])
        lines.append(n)
    after = i + 2 + len(rows)
    extra = after < len(items) and not _is_title(items[after][1])
    if len(rows) != count or extra:
        found = f"more than {count}" if extra else f"{len(rows)}"
        raise ConfigError(f"{path}, line {n}: 'Beam parameters' announces {count} energies but {found} rows follow; "
                          "make the number of energies equal to the number of rows")
    table = np.array(rows, float)
    return {c: table[:, k] for k, c in enumerate(names)}, lines, after


def _bdl_comments(lines):
    """(name, source) from the full-line comments: '# machine: NAME' and the other comment lines."""
    name, source = None, []
    for raw in lines:
        s = raw.strip()
        if s.startswith("#"):
            body = s[1:].strip()
            if body.lower().startswith("machine:") and name is None:
                name = body.split(":", 1)[1].strip()
            else:
                source.append(body)
    return name, "\n".join(source)


def _parse_bdl(path, text):
    lines = text.splitlines()
    items = [(n, raw.split("#", 1)[0].strip()) for n, raw in enumerate(lines, 1)]
    items = [(n, s) for n, s in items if s]
    if not items or items[0][1] != BDL_HEADER:
        got = items[0][1] if items else ""
        raise ConfigError(f"{path}, line {items[0][0] if items else 1}: BDL header {got!r} is not supported; only "
                          f"MCsquare's double-Gaussian library, first line {BDL_HEADER!r}, is read")
    found, shifters, k = {}, [], 1
    while k < len(items):
        n, s = items[k]
        key = _TITLES.get(" ".join(s.split()).lower())
        if key is None:
            raise ConfigError(f"{path}, line {n}: unexpected line {s!r}; expected a section title "
                              f"({', '.join(_TITLE_TEXT.values())}, Range Shifter parameters)")
        if key in found:
            raise ConfigError(f"{path}, line {n}: section {s!r} appears twice; keep one")
        if key == "rs":
            shifter, k = _bdl_range_shifter(path, items, k + 1, n)
            shifters.append(shifter)
        elif key == "beam":
            found[key], found["lines"] = n, _bdl_beam_table(path, items, k + 1, n)
            k = found["lines"][2]
        else:
            found[key], found[key + "_line"] = _bdl_value(path, items, k + 1, n, s)
            k += 2
    for key, title in _TITLE_TEXT.items():
        if key not in found:
            raise ConfigError(f"{path}: section {title!r} is missing; add the title line followed by its value(s)")
    cols, row_lines, _ = found["lines"]
    _validate_columns(cols, lambda i, c: f"{path}, line {row_lines[i]}, column {c}")
    _check_distances(found["nozzle"], found["smx"], found["smy"], lambda key: f"{path}, line {found[key + '_line']}")
    name, source = _bdl_comments(lines)
    return Machine(name or os.path.splitext(os.path.basename(path))[0], source, found["nozzle"], found["smx"],
                   found["smy"], _finish_columns(cols), shifters, path)


def write_bdl(machine, path):
    """Write ``machine`` as an MCsquare double-Gaussian BDL in the strict layout MCsquare reads
    (LF line ends, 18 columns in MCsquare's order, shortest round-trip numbers). A
    single-Gaussian machine gets Weight2 = 0 and a copy of Gaussian 1 in the second-Gaussian
    columns (never sampled by MCsquare; dropped again on reading)."""
    out = [BDL_HEADER, f"# machine: {machine.name}"]
    out += [f"# {line}".rstrip() for line in machine.source.splitlines()]
    out += ["", "Nozzle exit to Isocenter distance", repr(machine.nozzle_to_isocentre_mm), "",
            "SMX to Isocenter distance", repr(machine.smx_mm), "", "SMY to Isocenter distance", repr(machine.smy_mm), ""]
    for rs in machine.range_shifters:
        if rs.mcsquare_material_id is None or rs.wet_mm is None:
            raise ConfigError(f"write_bdl {path}: range shifter {rs.id!r} needs an MCsquare material number and a "
                              "water-equivalent thickness for MCsquare's BDL; give mcsquare_material_id and wet_mm")
        out += ["Range Shifter parameters", f"RS_ID = {rs.id}", f"RS_type = {rs.type}",
                f"RS_material = {rs.mcsquare_material_id}", f"RS_density = {rs.density_g_cm3!r}", f"RS_WET = {rs.wet_mm!r}"]
        if rs.thickness_mm is not None:
            out.append(f"RS_thickness = {rs.thickness_mm!r}")
        if rs.isocentre_distance_mm is not None:
            out.append(f"RS_position = {rs.isocentre_distance_mm!r}")
        out.append("")
    cols = machine.columns
    if not machine.double_gaussian:
        cols["Weight2"] = np.zeros_like(cols["Weight1"])
        for c in _SECOND[1:]:
            cols[c] = cols[c.replace("2", "1")]
    out += ["Beam parameters", f"{len(cols['NominalEnergy'])} energies", "", "\t".join(BDL_COLUMNS)]
    out += ["\t".join(repr(float(cols[c][i])) for c in BDL_COLUMNS) for i in range(len(cols["NominalEnergy"]))]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")


# ------------------------------------------------------------------ our YAML format
def _yaml_number(path, field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}: {field} = {value!r} is not a finite number; give a number")
    return float(value)


def _yaml_mapping(path, data, field, allowed, required):
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {field} must be a mapping with keys {', '.join(allowed)}")
    prefix = f"{field}." if field else ""
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ConfigError(f"{path}: {prefix}{unknown[0]}: unknown key; use one of {', '.join(allowed)}")
    missing = [k for k in required if k not in data]
    if missing:
        raise ConfigError(f"{path}: {prefix}{missing[0]}: required key is missing; add it")


def _yaml_layers(path, layers):
    """BDL columns (BDL units) from the YAML 'layers' table, validated."""
    _yaml_mapping(path, layers, "layers", ("columns", "rows"), ("columns", "rows"))
    names, rows = layers["columns"], layers["rows"]
    if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
        raise ConfigError(f"{path}: layers.columns must be a list of column names ({', '.join(YAML_COLUMNS)})")
    for c in names:
        if c not in YAML_COLUMNS:
            raise ConfigError(f"{path}: layers.columns: unknown column {c!r}; use names from {', '.join(YAML_COLUMNS)}")
    required = [c for c in YAML_COLUMNS if YAML_COLUMNS[c] in _CORE and c != "weight1"]
    second = [c for c in YAML_COLUMNS if YAML_COLUMNS[c] in _SECOND]
    for c in required:
        if c not in names:
            raise ConfigError(f"{path}: layers.columns: column {c!r} is missing; add it")
    present = [c for c in second if c in names]
    if present and len(present) < len(second) or len(set(names)) != len(names):
        raise ConfigError(f"{path}: layers.columns: give each column once, and all of {', '.join(second)} or none")
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{path}: layers.rows must be a list of rows, one per nominal energy")
    table = np.empty((len(rows), len(names)))
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise ConfigError(f"{path}: layers.rows[{i}] must be a list of {len(names)} numbers, one per column")
        table[i] = [_yaml_number(path, f"layers.rows[{i}].{c}", v) for c, v in zip(names, row)]
    given = {YAML_COLUMNS[c]: table[:, k].copy() for k, c in enumerate(names)}
    given.setdefault("Weight1", np.ones(len(rows)))
    given = {c: given[c] for c in BDL_COLUMNS if c in given}
    _validate_columns(given, lambda i, c: f"{path}: layers.rows[{i}].{_BDL_TO_YAML[c]}")
    cols = {c: v / 1000.0 if c.startswith("Divergence") else v for c, v in given.items()}
    cols["EnergySpread"] = given["EnergySpread"] / given["NominalEnergy"] * 100.0
    return _finish_columns(cols)


def _yaml_range_shifter(path, i, data):
    field = f"range_shifters[{i}]"
    _yaml_mapping(path, data, field, _RS_YAML_KEYS, ("id", "type", "density_g_cm3"))
    values = dict(data)
    for key in ("density_g_cm3", "wet_mm", "thickness_mm", "isocentre_distance_mm"):
        if values.get(key) is not None:
            values[key] = _yaml_number(path, f"{field}.{key}", values[key])
    mid = values.get("mcsquare_material_id")
    if mid is not None and (isinstance(mid, bool) or not isinstance(mid, int)):
        raise ConfigError(f"{path}: {field}.mcsquare_material_id = {mid!r} is not a whole number; give MCsquare's "
                          "material number (Materials/list.dat)")
    return _range_shifter(values, lambda key: f"{path}: {field}.{key}")


def _parse_yaml(path, text):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}; check indentation and "
                          "colons") from None
    _yaml_mapping(path, data, "", _YAML_KEYS, ("name", "nozzle_to_isocentre_mm", "smx_to_isocentre_mm",
                                               "smy_to_isocentre_mm", "layers"))
    for key in ("name", "source"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{path}: {key} = {data[key]!r} is not text; give a string")
    d = {k: _yaml_number(path, k, data[k]) for k in ("nozzle_to_isocentre_mm", "smx_to_isocentre_mm",
                                                     "smy_to_isocentre_mm")}
    keys = {"nozzle": "nozzle_to_isocentre_mm", "smx": "smx_to_isocentre_mm", "smy": "smy_to_isocentre_mm"}
    _check_distances(d["nozzle_to_isocentre_mm"], d["smx_to_isocentre_mm"], d["smy_to_isocentre_mm"],
                     lambda key: f"{path}: {keys[key]}")
    shifters = data.get("range_shifters") or []
    if not isinstance(shifters, list):
        raise ConfigError(f"{path}: range_shifters must be a list of mappings")
    shifters = [_yaml_range_shifter(path, i, rs) for i, rs in enumerate(shifters)]
    return Machine(data["name"], data.get("source") or "", d["nozzle_to_isocentre_mm"], d["smx_to_isocentre_mm"],
                   d["smy_to_isocentre_mm"], _yaml_layers(path, data["layers"]), shifters, path)


def load_machine(path):
    """Read a machine from ``path``: an MCsquare BDL (recognised by a first non-blank line
    '--...--') or a YAML file of our format (examples/machines/generic_pbs.yaml)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read machine file {str(path)!r}: {getattr(exc, 'strerror', None) or exc}; "
                          "check the path") from None
    first = next((s.strip() for s in text.splitlines() if s.strip()), "")
    if first.startswith("--") and not first.startswith("---"):
        return _parse_bdl(str(path), text)
    return _parse_yaml(str(path), text)
