"""Run configuration: YAML in, validated typed objects out.

Every length in the YAML is in mm (keys end in ``_mm``), energies in MeV (``_MeV``), angles in
mrad (``_mrad``), densities in g/cm^3 (``_g_cm3``). Unknown keys are errors. Any value can be
overridden with dotted keys (``--set beam.energy_MeV=100``). All problems are reported as a
:class:`ConfigError` whose message names the field and the fix, before any transport.

The full format is documented in README.md ("Configuration").
"""

import math
import os
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from physics.mkm import HSG as _HSG
from physics.species import SPECIES, SPECIES_INDEX
from physics.tables import ION_T_MAX_MEV, T_MAX_MEV

from .config_base import _check_material, _preset_or_number, _Strict, _Vec2, _Vec3  # noqa: F401
from .config_flash import DeliveryConfig, FemConfig, FlashConfig, OxygenConfig  # noqa: F401
from .errors import ConfigError  # (defined in mc.errors; ``from mc.config import ConfigError`` works too)


#: Highest beam energy accepted [MeV] (the tables extend to T_MAX_MEV; beyond ~300 MeV
#: nuclear physics and pion production that the engine lacks matter).
MAX_BEAM_ENERGY_MEV = 400.0
assert MAX_BEAM_ENERGY_MEV < T_MAX_MEV
#: Kinetic energies per nucleon accepted for ion beams [MeV/u]: the span of the ion stopping
#: model's validation against ICRU Report 90 (Tables A.12, A.15) and of the ion tables
#: (12C at 430 MeV/u is 5.16 GeV, below ION_T_MAX_MEV).
ION_ENERGY_RANGE_MEV_PER_U = (1.0, 430.0)
#: The ion beams of ``beam.particle`` (names of :data:`physics.species.SPECIES`).
ION_PARTICLES = ("helium", "carbon")
assert ION_ENERGY_RANGE_MEV_PER_U[1] * max(SPECIES[SPECIES_INDEX[p]].A for p in ION_PARTICLES) < ION_T_MAX_MEV



class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key given twice in one mapping (YAML 1.2, section
    3.2.1.1: mapping keys are unique; PyYAML would silently keep the last value). Merge keys
    (``<<``) may still repeat keys of the merged mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in first:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r} (first given at line {first[key] + 1}); keep one",
                            key_node.start_mark)
                    first[key] = key_node.start_mark.line
                except TypeError:  # an unhashable key: the safe loader reports it itself
                    pass
        return super().construct_mapping(node, deep)


def _yaml_error(source, exc):
    """ConfigError naming ``source`` and the line and column of the YAML error ``exc``."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return ConfigError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}; "
                       "check indentation, colons and repeated keys")


def read_config_file(path):
    """The text of the UTF-8 file ``path`` (ConfigError if it cannot be read or decoded)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        with open(path, "rb") as f:
            line = f.read()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: byte 0x{exc.object[exc.start]:02x} at line {line} is not UTF-8; save the "
                          "file as UTF-8 (or remove the character)") from None


#: Most primaries of one run: counts and per-primary means are exact in float64 up to 2^53
#: (IEEE 754 double, 53-bit significand); a clinical dose needs 1e6 to 1e9.
MAX_PRIMARIES = 2**53


class SlabConfig(_Strict):
    """One slab of a ``slabs`` geometry (stacked along +z in list order)."""

    material: str
    thickness_mm: float = Field(gt=0)
    density_g_cm3: float | None = Field(default=None, gt=0)

    @field_validator("material")
    @classmethod
    def _material(cls, v):
        return _check_material(v)


class BoneConfig(_Strict):
    """A long bone in cross-section (``geometry.phantoms.long_bone``): a cylinder along y with
    a cortical shell around marrow, centred at x = 0 and depth ``centre_depth_mm``."""

    centre_depth_mm: float = Field(gt=0)
    outer_radius_mm: float = Field(gt=0)
    cortical_thickness_mm: float = Field(gt=0)
    cortical: str = "bone_cortical"
    marrow: str = "red_marrow"

    @field_validator("cortical", "marrow")
    @classmethod
    def _material(cls, v):
        return _check_material(v)


class GeometryConfig(_Strict):
    """Phantom: ``box`` (homogeneous), ``slabs`` (layers along z), ``bone`` (a long bone in
    a box of ``material``) or ``voxels`` (file)."""

    type: Literal["box", "slabs", "bone", "voxels"] = "box"
    material: str = "water"
    density_g_cm3: float | None = Field(default=None, gt=0)
    size_mm: _Vec3 | None = None
    voxel_mm: _Vec3 = [1.0, 1.0, 1.0]
    corner_mm: _Vec3 | None = None
    slabs: list[SlabConfig] | None = None
    bone: BoneConfig | None = None
    file: str | None = None

    @field_validator("material")
    @classmethod
    def _material(cls, v):
        return _check_material(v)

    @field_validator("voxel_mm", "size_mm")
    @classmethod
    def _positive(cls, v):
        if v is not None and any((not math.isfinite(x)) or x <= 0 for x in v):
            raise ValueError(f"all three values must be positive (mm), got {v}")
        return v

    @model_validator(mode="after")
    def _by_type(self):
        if self.type == "bone" and (self.bone is None or self.size_mm is None):
            raise ValueError("geometry type 'bone' needs size_mm and a bone block {centre_depth_mm, "
                             "outer_radius_mm, cortical_thickness_mm}")
        if self.type == "box" and self.size_mm is None:
            raise ValueError("geometry.size_mm is required for a box: give [x, y, z] in mm")
        if self.type == "slabs":
            if not self.slabs:
                raise ValueError("geometry.slabs is required for type 'slabs': a list of "
                                 "{material, thickness_mm}")
            total = sum(sl.thickness_mm for sl in self.slabs)
            if self.size_mm is None:
                raise ValueError(f"geometry.size_mm is required: [x, y, {total:g}] in mm (z = total slab "
                                 "thickness)")
            if abs(self.size_mm[2] - total) > 1e-6 * total:
                raise ValueError(f"geometry.size_mm[2] ({self.size_mm[2]:g} mm) must equal the total slab "
                                 f"thickness ({total:g} mm)")
        if self.type == "voxels" and not self.file:
            raise ValueError("geometry.file is required for type 'voxels': a .npz or .h5 path")
        if self.type == "voxels":
            given = [k for k in ("size_mm", "voxel_mm") if k in self.model_fields_set]
            if given:  # the file gives the grid: a size or spacing here could only contradict it
                raise ValueError(f"geometry.{given[0]} is not used with type 'voxels' (the file's arrays and "
                                 "spacing_mm give the grid); remove it")
        return self


def _check_correlation(v):
    if v is not None and any((not math.isfinite(x)) or not -1.0 < x < 1.0 for x in v):
        raise ValueError(f"position-angle correlations must lie strictly between -1 and 1, got {v}")
    return v


class SpotConfig(_Strict):
    """A pencil beam spot. Position: centre of the spot on the source plane [mm]; direction: a
    unit vector (normalised on input); sigmas along the two transverse axes (see README) and the
    position-angle correlation along each (``mc.source``)."""

    energy_MeV: float | None = Field(default=None, gt=0)
    energy_spread_MeV: float | None = None
    energy_MeV_per_u: float | None = Field(default=None, gt=0)
    energy_spread_MeV_per_u: float | None = None
    position_mm: _Vec3 | None = None
    direction: _Vec3 | None = None
    spot_sigma_mm: _Vec2 | None = None
    divergence_mrad: _Vec2 | None = None
    correlation: _Vec2 | None = None
    weight: float = Field(default=1.0, ge=0)

    @field_validator("correlation")
    @classmethod
    def _corr(cls, v):
        return _check_correlation(v)


# plan sizes beyond any clinical plan (a typo such as layer_spacing_mm: 0.0001 would otherwise
# set up millions of layers or spots)
_MAX_SOBP_LAYERS = 1000
_MAX_SOBP_SPOTS_PER_LAYER = 100_000


class SobpConfig(_Strict):
    """Spread-out Bragg peak from the beam's position and direction (``mc.sobp``): layers
    every ``layer_spacing_mm`` of water range from ``distal_mm`` back to ``proximal_mm``
    (depths in water from the phantom entrance), weights fitted for a flat analytic dose;
    optionally a square field of spots ``spot_spacing_mm`` apart covering ``field_size_mm``."""

    proximal_mm: float = Field(gt=0)
    distal_mm: float = Field(gt=0)
    layer_spacing_mm: float = Field(default=3.0, gt=0, le=20.0)
    energy_spread_percent: float = Field(default=0.5, ge=0, le=5.0)
    field_size_mm: _Vec2 | None = None
    spot_spacing_mm: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.distal_mm <= self.proximal_mm:
            raise ValueError(f"beam.sobp.distal_mm ({self.distal_mm:g}) must exceed proximal_mm "
                             f"({self.proximal_mm:g})")
        if self.distal_mm > 500.0:
            raise ValueError(f"beam.sobp.distal_mm ({self.distal_mm:g}) is beyond 500 mm, the water range "
                             "of 294 MeV protons; give at most 500 mm")
        layers = (self.distal_mm - self.proximal_mm) / self.layer_spacing_mm + 1
        if layers > _MAX_SOBP_LAYERS:
            raise ValueError(f"beam.sobp.layer_spacing_mm ({self.layer_spacing_mm:g}) gives {layers:.0f} energy "
                             f"layers; raise it (at most {_MAX_SOBP_LAYERS} layers)")
        if self.field_size_mm is not None:
            if any((not math.isfinite(x)) or x < 0 for x in self.field_size_mm):
                raise ValueError(f"beam.sobp.field_size_mm must be >= 0, got {self.field_size_mm}")
            per_layer = math.prod(math.floor(x / self.spot_spacing_mm) + 1 for x in self.field_size_mm)
            if per_layer > _MAX_SOBP_SPOTS_PER_LAYER:
                raise ValueError(f"beam.sobp.spot_spacing_mm ({self.spot_spacing_mm:g}) gives {per_layer} spots "
                                 f"per layer over field_size_mm {self.field_size_mm}; raise it (at most "
                                 f"{_MAX_SOBP_SPOTS_PER_LAYER})")
        return self


def _ion_units_error(particle, where, key, value):
    """The one-line message for an energy given in the other unit: protons take MeV
    (``energy_MeV``), ions MeV per nucleon (``energy_MeV_per_u``); None if ``key`` fits."""
    ion = particle in ION_PARTICLES
    if ion and key in ("energy_MeV", "energy_spread_MeV"):
        A = SPECIES[SPECIES_INDEX[particle]].A
        return (f"{where}.{key} = {value:g} is in MeV, but a {particle} beam's energy is given per nucleon: "
                f"use {where}.{key}_per_u (MeV/u; {value:g} MeV of a {particle} ion is {value / A:g} MeV/u)")
    if not ion and key in ("energy_MeV_per_u", "energy_spread_MeV_per_u"):
        return (f"{where}.{key} = {value:g} is per nucleon, for ion beams (helium, carbon); a proton's energy is "
                f"given in MeV: use {where}.{key.removesuffix('_per_u')}")
    return None


class BeamConfig(_Strict):
    """Pencil beam of ``particle`` (one spot given by the top-level keys) or a list of ``spots``;
    a spot inherits every key it does not set from the top level. Protons take their kinetic
    energy in MeV (``energy_MeV``, ``energy_spread_MeV``), ions (``helium``: 4He, ``carbon``:
    12C) per nucleon in MeV/u (``energy_MeV_per_u``, ``energy_spread_MeV_per_u``); the
    resolved spots (:meth:`resolved_spots`) hold the total kinetic energy in MeV."""

    particle: Literal["proton", "helium", "carbon"] = "proton"
    energy_MeV: float = Field(default=150.0, gt=0)
    energy_spread_MeV: float = Field(default=0.0, ge=0)
    energy_MeV_per_u: float | None = Field(default=None, gt=0)
    energy_spread_MeV_per_u: float | None = Field(default=None, ge=0)
    position_mm: _Vec3 = [0.0, 0.0, -10.0]
    direction: _Vec3 = [0.0, 0.0, 1.0]
    spot_sigma_mm: _Vec2 = [0.0, 0.0]
    divergence_mrad: _Vec2 = [0.0, 0.0]
    correlation: _Vec2 = [0.0, 0.0]
    protons: float | None = Field(default=None, gt=0)
    spots: list[SpotConfig] | None = None
    sobp: SobpConfig | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if self.spots and self.sobp is not None:
            raise ValueError("beam.spots and beam.sobp exclude each other; give one of them")
        return self

    @model_validator(mode="after")
    def _energy_units(self):
        """MeV for protons, MeV/u for ions: a key of the other unit is refused with its name."""
        given = [("beam", k, getattr(self, k)) for k in ("energy_MeV", "energy_spread_MeV", "energy_MeV_per_u",
                                                          "energy_spread_MeV_per_u")
                 if k in self.model_fields_set and getattr(self, k) is not None]
        for i, s in enumerate(self.spots or ()):
            given += [(f"beam.spots[{i}]", k, v) for k, v in s.model_dump().items() if "energy" in k and v is not None]
        for where, key, value in given:
            msg = _ion_units_error(self.particle, where, key, value)
            if msg:
                raise ValueError(msg)
        if self.particle in ION_PARTICLES:
            if self.sobp is not None:
                raise ValueError(f"beam.sobp: the spread-out Bragg peak is built for protons only; give beam.spots "
                                 f"with energy_MeV_per_u for a {self.particle} beam")
            if self.energy_MeV_per_u is None and not (self.spots and all(s.energy_MeV_per_u for s in self.spots)):
                raise ValueError(f"beam.energy_MeV_per_u: a {self.particle} beam needs its kinetic energy per "
                                 f"nucleon (MeV/u, {ION_ENERGY_RANGE_MEV_PER_U[0]:g}-"
                                 f"{ION_ENERGY_RANGE_MEV_PER_U[1]:g})")
        return self

    @property
    def mass_number(self):
        """Nucleon number A of the beam's particle (1 for protons)."""
        return SPECIES[SPECIES_INDEX[self.particle]].A

    @property
    def is_ion(self):
        """Whether the beam is of ions (energies per nucleon)."""
        return self.particle in ION_PARTICLES

    @field_validator("spot_sigma_mm", "divergence_mrad")
    @classmethod
    def _nonneg(cls, v):
        if any((not math.isfinite(x)) or x < 0 for x in v):
            raise ValueError(f"values must be >= 0, got {v}")
        return v

    @field_validator("correlation")
    @classmethod
    def _corr(cls, v):
        return _check_correlation(v)

    def resolved_spots(self):
        """List of fully specified spot dicts (top-level values filled in). Energies are total
        kinetic energies in MeV (``energy_MeV``, ``energy_spread_MeV``); for ions also per
        nucleon (``energy_MeV_per_u``, ``energy_spread_MeV_per_u``), the total being A times."""
        if self.is_ion:
            base = dict(energy_MeV_per_u=self.energy_MeV_per_u,
                        energy_spread_MeV_per_u=self.energy_spread_MeV_per_u or 0.0)
        else:
            base = dict(energy_MeV=self.energy_MeV, energy_spread_MeV=self.energy_spread_MeV)
        base.update(position_mm=self.position_mm, direction=self.direction,
                    spot_sigma_mm=self.spot_sigma_mm, divergence_mrad=self.divergence_mrad,
                    correlation=self.correlation, weight=1.0)
        if self.sobp is not None:
            return self._sobp_spots(base)
        out = []
        for s in self.spots or [None]:
            d = dict(base)
            if s is not None:
                d.update({k: v for k, v in s.model_dump().items() if v is not None})
            if self.is_ion:
                A = self.mass_number
                d.update(energy_MeV=A * d["energy_MeV_per_u"], energy_spread_MeV=A * d["energy_spread_MeV_per_u"])
            out.append(d)
        return out

    def _sobp_spots(self, base):
        from .sobp import sobp_layers
        from .source import transverse_axes

        sb = self.sobp
        energy, esig, weight = sobp_layers(sb.proximal_mm, sb.distal_mm, sb.layer_spacing_mm,
                                           sb.energy_spread_percent)
        offsets = [(0.0, 0.0)]
        if sb.field_size_mm is not None:
            n = [int(math.floor(f / sb.spot_spacing_mm + 1e-9)) + 1 for f in sb.field_size_mm]
            u = [(np.arange(k) - (k - 1) / 2.0) * sb.spot_spacing_mm for k in n]
            offsets = [(a, b) for a in u[0] for b in u[1]]
        a1, a2 = transverse_axes(self.direction)
        p0 = np.asarray(self.position_mm, float)
        out = []
        for e, s, w in zip(energy, esig, weight):
            for a, b in offsets:
                d = dict(base)
                d.update(energy_MeV=float(e), energy_spread_MeV=float(s), weight=float(w) / len(offsets),
                         position_mm=list(p0 + a * a1 + b * a2))
                out.append(d)
        return out


class RunConfig(_Strict):
    """Histories and stopping rules. ``primaries`` (the maximum) is split into ``batches``
    (>= 2 for an uncertainty; ``auto``: about 1e5 primaries each, at least 10, see
    :mod:`mc.schedule`), processed in rounds of ``round_batches`` batches (``auto``: 4 per
    rank); at the end of each round the run stops if the mean relative standard error of the
    dose over the voxels at >= 50 % of the maximum has reached ``target_uncertainty``, and a
    checkpoint is written every ``checkpoint_interval_s`` (0: after every round). A stop signal
    or ``time_limit_s`` of transport (in this invocation) stops the run within a kernel call
    (a fraction of a second): the round in progress is abandoned and the checkpoint of the
    complete rounds kept for ``--resume``.
    ``schedule``: how the batches of a round are shared among MPI ranks: ``dynamic`` (a rank
    takes the next batch when it is free; balances ranks of unequal speed) or ``static``
    (batch b on rank b mod N). The dose is the same bit for bit whatever ran where (integer
    sums, :func:`mc.tally.accumulate_batch`); its standard error and the LET to the rounding of
    their sums."""

    primaries: int = Field(default=10000, gt=0)
    seed: int = Field(default=12345, ge=0, lt=2**63)
    batches: int | Literal["auto"] = Field(default="auto")
    round_batches: int | Literal["auto"] = Field(default="auto")
    schedule: Literal["dynamic", "static"] = "dynamic"
    target_uncertainty: float | None = Field(default=None, gt=0, lt=1)
    time_limit_s: float | None = Field(default=None, gt=0)
    checkpoint_interval_s: float = Field(default=60.0, ge=0)

    @field_validator("primaries")
    @classmethod
    def _at_most(cls, v):
        if v > MAX_PRIMARIES:
            raise ValueError(f"{v:.3g} primaries is more than {MAX_PRIMARIES:.3g} (2^53, the largest count exact in "
                             "float64); a clinical dose needs 1e6 to 1e9: lower it")
        return v

    @field_validator("batches", "round_batches")
    @classmethod
    def _count(cls, v, info):
        least = 2 if info.field_name == "batches" else 1
        if v != "auto" and v < least:
            raise ValueError(f"give at least {least} (or auto)")
        return v

    @model_validator(mode="after")
    def _enough(self):
        if self.batches != "auto" and self.batches > self.primaries:
            raise ValueError(f"run.batches ({self.batches}) exceeds run.primaries ({self.primaries}); "
                             "use fewer batches or more primaries")
        return self


class PhysicsConfig(_Strict):
    """Transport settings (defaults are the validated ones)."""

    cutoff_MeV: float = Field(default=0.5, gt=0, le=10.0)
    max_range_fraction: float = Field(default=0.3, gt=0, le=1.0)
    final_range_mm: float = Field(default=1.0, gt=0, le=100.0)
    max_step_mm: float = Field(default=20.0, ge=0, le=10000.0)
    voxel_steps: bool = False
    straggling: bool = True
    multiple_scattering: bool = True
    nuclear: bool = True
    mean_excitation_energy_eV: dict[str, float] = Field(default_factory=dict)

    @field_validator("mean_excitation_energy_eV")
    @classmethod
    def _I(cls, v):
        out = {}
        for k, val in v.items():
            name = _check_material(k)
            if not (math.isfinite(val) and 1.0 < val < 2000.0):
                raise ValueError(f"I-value for {k!r} must be between 1 and 2000 eV, got {val}")
            out[name] = float(val)
        return out


class OutputConfig(_Strict):
    """Where and what to write."""

    path: str = "dose.h5"
    dose_to_water: bool = False
    secondary_dose: bool = False
    let: bool = False
    plot: bool = True

    @field_validator("path")
    @classmethod
    def _path(cls, v):
        if not v.strip():
            raise ValueError("empty; give a file name such as results/dose.h5")
        if v.endswith(tuple(s for s in ("/", os.sep, os.altsep) if s)):
            raise ValueError(f"{v!r} ends with a path separator, so it names a folder; give a file in it, "
                             f"such as {v}dose.h5")
        return os.path.expanduser(v)


_AlphaBeta = float | str


class MkmConfig(_Strict):
    """Cell line of the modified microdosimetric kinetic model (``physics.mkm``): alpha0 [Gy^-1],
    beta0 [Gy^-2], domain and nucleus radii [um], and the cells' X-ray alpha_x [Gy^-1] and
    beta_x [Gy^-2]. Default: HSG cells of Inaniwa et al. (2010, Phys. Med. Biol. 55:6721) with
    the X-ray reference of Friedrich et al. (2013, J. Radiat. Res. 54:494)."""

    name: str = _HSG.name
    alpha0_per_Gy: float = Field(default=_HSG.alpha0_per_Gy, ge=0.0, le=10.0)
    beta0_per_Gy2: float = Field(default=_HSG.beta0_per_Gy2, gt=0.0, le=10.0)
    domain_radius_um: float = Field(default=_HSG.domain_radius_um, gt=0.01, le=10.0)
    nucleus_radius_um: float = Field(default=_HSG.nucleus_radius_um, gt=0.1, le=100.0)
    alpha_x_per_Gy: float = Field(default=_HSG.alpha_x_per_Gy, gt=0.0, le=10.0)
    beta_x_per_Gy2: float = Field(default=_HSG.beta_x_per_Gy2, gt=0.0, le=10.0)

    @model_validator(mode="after")
    def _radii(self):
        if self.domain_radius_um >= self.nucleus_radius_um:
            raise ValueError(f"rbe.mkm.domain_radius_um = {self.domain_radius_um:g} um must be smaller than "
                             f"nucleus_radius_um = {self.nucleus_radius_um:g} um (HSG: 0.32 and 3.9 um)")
        return self


class RbeConfig(_Strict):
    """Variable-RBE evaluation (``physics.rbe``); switches the LET tally on. Proton beams: the
    LET-based models; ion beams: ``models: [mkm]``, the modified MKM of the cell line ``mkm``.

    ``dose_per_fraction_Gy``: physical dose per fraction [Gy] at the reference dose (the mean
    of the voxels at >= 95 % of the maximum dose); voxel i is evaluated at
    dose_per_fraction_Gy x D_i / D_ref. ``null``: the run's absolute dose (``beam.protons``)
    is the fraction dose. ``alpha_beta_Gy``: photon alpha/beta per material [Gy, or a preset
    name of ``physics.rbe.ALPHA_BETA_PRESETS_GY``]; other materials get
    ``default_alpha_beta_Gy``."""

    models: list[Literal["constant", "mcnamara", "wedenberg", "carabe", "mkm"]] = ["constant", "mcnamara",
                                                                                  "wedenberg", "carabe"]
    dose_per_fraction_Gy: float | None = Field(default=2.0, gt=0)
    alpha_beta_Gy: dict[str, _AlphaBeta] = Field(default_factory=dict)
    default_alpha_beta_Gy: _AlphaBeta = 2.0
    mkm: MkmConfig = Field(default_factory=MkmConfig)

    @field_validator("alpha_beta_Gy")
    @classmethod
    def _materials(cls, v):
        from physics.rbe import ALPHA_BETA_PRESETS_GY

        out = {}
        for k, val in v.items():
            name = _check_material(k)
            out[name] = _check_alpha_beta(val, ALPHA_BETA_PRESETS_GY)
        return out

    @field_validator("default_alpha_beta_Gy")
    @classmethod
    def _default(cls, v):
        from physics.rbe import ALPHA_BETA_PRESETS_GY

        return _check_alpha_beta(v, ALPHA_BETA_PRESETS_GY)

    @field_validator("models")
    @classmethod
    def _nonempty(cls, v):
        if not v:
            raise ValueError("give at least one model: constant, mcnamara, wedenberg, carabe (protons) or mkm (ions)")
        return list(dict.fromkeys(v))


def _check_alpha_beta(v, presets):
    return _preset_or_number(v, presets, "alpha/beta", "number in Gy", 0.1, 100.0)


class MaterialOverrideConfig(_Strict):
    """A structure's voxels forced to a library material, at ``density_g_cm3`` (default: the
    material's nominal density)."""

    material: str
    density_g_cm3: float | None = Field(default=None, gt=0)

    @field_validator("material")
    @classmethod
    def _material(cls, v):
        return _check_material(v)


class DicomConfig(_Strict):
    """A treatment plan to recompute (``mc.patient``): the planning CT (a folder holding one CT
    series), the RT Ion Plan, the machine's beam model (flashmc YAML or MCsquare BDL), optional
    RTSTRUCT, HU calibration (default: Schneider et al. 2000, ``geometry/calibration``) and dose
    grid spacing (default: the CT's voxels). ``crop_to``: a structure (usually the EXTERNAL
    contour) outside of which the CT becomes air; ``material_overrides``: structures forced to a
    material; ``beams``: the beams to recompute (numbers or names; default all); ``dose_for``:
    the dose of all the plan's fractions (``plan``, as planning systems export it) or of one
    fraction; ``dose_per_beam``: one RT Dose per beam besides the plan's; ``alpha_beta_Gy``:
    photon alpha/beta [Gy] per structure for the RBE models (overrides the material map; later
    structures in the list win where they overlap)."""

    ct: str
    plan: str
    machine: str
    structures: str | None = None
    calibration: str | None = None
    dose_grid_mm: _Vec3 | None = None
    crop_to: str | None = None
    material_overrides: dict[str, MaterialOverrideConfig] = Field(default_factory=dict)
    beams: list[int | str] | None = None
    dose_for: Literal["plan", "fraction"] = "plan"
    dose_per_beam: bool = False
    alpha_beta_Gy: dict[str, _AlphaBeta] = Field(default_factory=dict)

    @field_validator("dose_grid_mm")
    @classmethod
    def _grid(cls, v):
        if v is not None and any((not math.isfinite(x)) or x <= 0 or x > 50.0 for x in v):
            raise ValueError(f"dose grid spacings must be between 0 and 50 mm, got {v}")
        return v

    @field_validator("alpha_beta_Gy")
    @classmethod
    def _ab(cls, v):
        from physics.rbe import ALPHA_BETA_PRESETS_GY

        return {k: _check_alpha_beta(val, ALPHA_BETA_PRESETS_GY) for k, val in v.items()}

    @model_validator(mode="after")
    def _needs_structures(self):
        used = ([self.crop_to] if self.crop_to else []) + list(self.material_overrides) + list(self.alpha_beta_Gy)
        if used and self.structures is None:
            raise ValueError(f"structures {used} are named but dicom.structures (the RTSTRUCT file) is not given")
        return self

    def resolve_paths(self, base_dir):
        """Make the file and folder names absolute, relative to ``base_dir`` (the config's folder)."""
        for key in ("ct", "plan", "machine", "structures", "calibration"):
            v = getattr(self, key)
            if v is not None and not os.path.isabs(v):
                setattr(self, key, os.path.normpath(os.path.join(base_dir, v)))


class Config(_Strict):
    """The whole run configuration: a phantom (``geometry``) and a ``beam``, or a treatment plan
    (``dicom``)."""

    geometry: GeometryConfig | None = None
    dicom: DicomConfig | None = None
    beam: BeamConfig = Field(default_factory=BeamConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    physics: PhysicsConfig = Field(default_factory=PhysicsConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    rbe: RbeConfig | None = None
    flash: FlashConfig | None = None

    @model_validator(mode="after")
    def _phantom_or_plan(self):
        if self.dicom is None and self.geometry is None:
            raise ValueError("give a phantom (geometry: {type: box, ...}) or a treatment plan (dicom: {ct, plan, "
                             "machine}); see README 'Configuration' and 'Recalculate a plan'")
        if self.dicom is not None and (self.geometry is not None or "beam" in self.model_fields_set):
            raise ValueError("dicom excludes geometry and beam: the plan's CT is the geometry and its beams the "
                             "beam; remove the geometry and beam blocks")
        if self.dicom is not None and self.rbe is not None and "dose_per_fraction_Gy" in self.rbe.model_fields_set \
                and self.rbe.dose_per_fraction_Gy is not None:
            raise ValueError("rbe.dose_per_fraction_Gy: a plan's dose is absolute (its meterset), so the RBE models "
                             "are evaluated at its fraction dose; remove dose_per_fraction_Gy")
        return self

    @model_validator(mode="after")
    def _ion_tallies(self):
        # the LET-based RBE models are proton models, the MKM here is computed for ion beams
        # (README "Ions: what exists")
        if self.rbe is None:
            return self
        ion = self.dicom is None and self.beam.is_ion
        if ion and self.rbe.models != ["mkm"]:
            raise ValueError(f"rbe.models: {', '.join(m for m in self.rbe.models if m != 'mkm')} are proton models; "
                             f"the RBE of a {self.beam.particle} beam is the MKM: set rbe.models: [mkm]")
        if not ion and "mkm" in self.rbe.models:
            raise ValueError("rbe.models: mkm is computed for ion beams (beam.particle: carbon or helium); for "
                             "protons use constant, mcnamara, wedenberg or carabe")
        if ion and (self.rbe.alpha_beta_Gy or "default_alpha_beta_Gy" in self.rbe.model_fields_set):
            raise ValueError("rbe.alpha_beta_Gy: the MKM of an ion beam uses its cell line's X-ray alpha_x and beta_x "
                             "(rbe.mkm); remove alpha_beta_Gy and default_alpha_beta_Gy")
        if not ion and "mkm" in self.rbe.model_fields_set:
            raise ValueError("rbe.mkm: the MKM cell line is used for ion beams only; remove the rbe.mkm block")
        return self

    @model_validator(mode="after")
    def _flash_protons(self):
        # the FLASH oxygen-depletion model and its dose-rate metrics are calibrated for protons
        if self.flash is not None and self.dicom is None and self.beam.is_ion:
            raise ValueError(f"flash: the FLASH analysis (oxygen depletion per Gy of protons) is for proton beams, "
                             f"not a {self.beam.particle} beam; remove the flash block")
        return self

    @model_validator(mode="after")
    def _flash_names(self):
        if self.flash is not None and self.dicom is None:
            self.flash.check_names()
        return self

    @model_validator(mode="after")
    def _fraction_dose(self):
        if self.dicom is not None:
            return self
        if self.rbe is not None and self.rbe.dose_per_fraction_Gy is None and self.beam.protons is None \
                and not self.beam.spots:
            raise ValueError("rbe.dose_per_fraction_Gy is null, so /dose must be the absolute fraction dose: give "
                             "beam.protons (protons delivered per fraction) or a dose_per_fraction_Gy")
        return self


# ---------------------------------------------------------------------------------------------
def _format_validation_error(exc: ValidationError) -> str:
    lines = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        typ = e["type"]
        if typ == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling (see README 'Configuration')"
        elif typ == "missing":
            msg = "required key is missing"
        else:
            msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "invalid configuration:\n" + "\n".join(lines)


def parse_value(text):
    """Parse a ``--set`` value as YAML (numbers, booleans, lists, strings)."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set value {text!r} is not valid YAML: {exc}") from None


def apply_override(data, dotted_key, value):
    """Set ``data[a][b][c] = value`` for ``dotted_key = 'a.b.c'`` (list indices allowed)."""
    parts = dotted_key.split(".")
    if not all(parts):
        raise ConfigError(f"--set {dotted_key}: empty component in the dotted key")
    node = data
    for i, p in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not p.isdigit() or int(p) >= len(node):
                raise ConfigError(f"--set {dotted_key}: {where} is not a valid list index")
            node = node[int(p)]
        elif isinstance(node, dict):
            if node.get(p) is None:
                node[p] = {}
            node = node[p]
        else:
            raise ConfigError(f"--set {dotted_key}: {where} is not a mapping")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {dotted_key}: {last} is not a valid list index")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {dotted_key}: parent is not a mapping")


def apply_overrides(data, overrides):
    """Apply ``--set key=value`` items to the parsed YAML mapping ``data`` in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set beam.energy_MeV=100")
        key, val = item.split("=", 1)
        apply_override(data, key.strip(), parse_value(val))


def format_validation_error(exc: ValidationError) -> str:
    """Readable lines 'field.path: message' of a pydantic validation error."""
    return _format_validation_error(exc)


def load_config_text(text, overrides=(), source="<config>", base_dir="."):
    """Parse YAML text, apply ``overrides`` (``['a.b=value', ...]``) and validate.

    Returns ``(Config, resolved_dict)``. Relative ``geometry.file`` paths are resolved against
    ``base_dir``.
    """
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with keys geometry, beam, run, "
                          "physics, output")
    apply_overrides(data, overrides)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + _format_validation_error(exc)) from None
    if cfg.geometry is not None and cfg.geometry.file and not os.path.isabs(cfg.geometry.file):
        cfg.geometry.file = os.path.normpath(os.path.join(base_dir, cfg.geometry.file))
    if cfg.dicom is not None:
        cfg.dicom.resolve_paths(base_dir)
    else:
        check_beam_energies(cfg)
    return cfg, cfg.model_dump(mode="json")


def load_config(path, overrides=()):
    """Read and validate a YAML config file (see :func:`load_config_text`)."""
    text = read_config_file(path)
    return load_config_text(text, overrides, source=str(path), base_dir=os.path.dirname(os.path.abspath(path)))


def load_configs(path, overrides=()):
    """Read a YAML file holding one run or several runs as separate YAML documents (separated
    by ``---``); returns a list of (Config, resolved dict, document text), in file order. The
    overrides apply to every document."""
    text = read_config_file(path)
    try:
        docs = [d for d in yaml.load_all(text, Loader=UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    base = os.path.dirname(os.path.abspath(path))
    if not docs or len(docs) == 1:
        cfg, resolved = load_config_text(text, overrides, source=str(path), base_dir=base)
        return [(cfg, resolved, text)]
    out = []
    for i, d in enumerate(docs):
        doc_text = yaml.safe_dump(d, sort_keys=False)
        cfg, resolved = load_config_text(doc_text, overrides, source=f"{path} (run {i + 1} of {len(docs)})",
                                         base_dir=base)
        out.append((cfg, resolved, doc_text))
    return out


def check_beam_energies(cfg):
    """Energies must be positive and inside the tables (cut-off < E <= MAX_BEAM_ENERGY_MEV for
    protons; ions within :data:`ION_ENERGY_RANGE_MEV_PER_U`)."""
    for i, s in enumerate(cfg.beam.resolved_spots()):
        where = "beam.energy_MeV" if not cfg.beam.spots else f"beam.spots[{i}].energy_MeV"
        e = s["energy_MeV"]
        if cfg.beam.is_ion:
            _check_ion_energy(cfg.beam.particle, where + "_per_u", s["energy_MeV_per_u"])
        if not math.isfinite(e) or e <= 0:
            raise ConfigError(f"{where}: energy must be positive (MeV), got {e}")
        if e <= cfg.physics.cutoff_MeV:
            raise ConfigError(f"{where}: {e} MeV is below the transport cut-off "
                              f"physics.cutoff_MeV = {cfg.physics.cutoff_MeV} MeV; raise the energy")
        if e > MAX_BEAM_ENERGY_MEV and not cfg.beam.is_ion:
            raise ConfigError(f"{where}: {e} MeV is outside the physics tables' validated range "
                              f"(up to {MAX_BEAM_ENERGY_MEV:g} MeV for protons); lower the energy")
        sp = s["energy_spread_MeV"]
        if sp is None or not math.isfinite(sp) or sp < 0 or sp > 0.2 * e:
            unit = "MeV/u" if cfg.beam.is_ion else "MeV"
            got = s["energy_spread_MeV_per_u"] if cfg.beam.is_ion else sp
            raise ConfigError(f"{where.replace('energy_MeV', 'energy_spread_MeV')}{'_per_u' if cfg.beam.is_ion else ''}"
                              f": the energy spread (1 sigma, {unit}) must be between 0 and 20% of the energy, "
                              f"got {got}")
        d = np.asarray(s["direction"], float)
        if not np.all(np.isfinite(d)) or np.linalg.norm(d) == 0:
            raise ConfigError(f"{where.replace('energy_MeV', 'direction')}: must be a non-zero vector")


def _check_ion_energy(particle, where, e_u):
    """An ion's kinetic energy per nucleon ``e_u`` [MeV/u] must lie in :data:`ION_ENERGY_RANGE_MEV_PER_U`."""
    lo, hi = ION_ENERGY_RANGE_MEV_PER_U
    if not (math.isfinite(e_u) and lo <= e_u <= hi):
        raise ConfigError(f"{where}: {e_u:g} MeV/u is outside the ion tables' validated range for {particle} "
                          f"({lo:g}-{hi:g} MeV/u); give an energy in that range")
