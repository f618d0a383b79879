"""The typed bundles of arrays the transport kernel takes, and their builders.

A bundle is a NamedTuple of plain arrays and numbers; numba compiles the kernel for the
bundle's element types, so the kernel reads ``tables.range[row, i]`` instead of taking fifty
positional arguments. Units: energies in MeV, lengths in cm, areal densities and ranges in
g/cm^2, angles in rad, mass cross sections in cm^2/g.
"""

from typing import NamedTuple

import numpy as np

from physics.fragmentation import build_fragmentation_tables
from physics.nuclear import product_model_parameters
from physics.po_elastic import po_elastic_table
from physics.species import SPECIES, SPECIES_PROTON, fragment_group, is_ion
from physics.tables import ION_CUTOFF_MEV_PER_U, majorant_sigma

from .layout import CLASS_SECONDARY_OTHER, CLASS_SECONDARY_PROTON, let_group_block


class Source(NamedTuple):
    """The beam's spots (one row each), from :class:`mc.source.SpotArrays`."""

    cdf: np.ndarray  # cumulative selection probability of the spots
    energy: np.ndarray  # mean kinetic energy [MeV]
    energy_sigma: np.ndarray  # Gaussian energy spread, 1 sigma [MeV]
    pos: np.ndarray  # (n, 3) centre of the spot on the source plane [cm]
    dir: np.ndarray  # (n, 3) unit direction of the spot's axis
    ax1: np.ndarray  # (n, 3) first transverse unit axis
    ax2: np.ndarray  # (n, 3) second transverse unit axis
    sigma: np.ndarray  # (n, 2) Gaussian position sigma along ax1, ax2 [cm]
    div: np.ndarray  # (n, 2) Gaussian sigma of the projected angles along ax1, ax2 [rad]
    species: np.ndarray  # (n,) species index (physics.species)
    corr: np.ndarray  # (n, 2) position-angle correlation rho along ax1, ax2
    corr_c: np.ndarray  # (n, 2) sqrt(1 - rho^2)


class Geometry(NamedTuple):
    """The voxel grid (:class:`geometry.voxel.VoxelGrid`), indexed [x, y, z], C order."""

    material: np.ndarray  # material index per voxel (uint8)
    density: np.ndarray  # mass density per voxel [g/cm^3] (float32)
    lower: np.ndarray  # (3,) lower corner of the grid [cm]
    spacing: np.ndarray  # (3,) voxel size [cm]


class Tables(NamedTuple):
    """Physics tables (:mod:`physics.tables`) on the grid ln T = lnT0 + i / inv_dlnT; rows
    ``species * n_materials + material`` unless stated."""

    lnT0: float  # ln of the first table energy [ln MeV]
    inv_dlnT: float  # table points per unit of ln T
    energy: np.ndarray  # (1, n) kinetic energy T [MeV]
    range: np.ndarray  # CSDA range R(T) [g/cm^2]
    slope: np.ndarray  # slope of T(R) on each interval [MeV cm^2/g]
    range_bins: np.ndarray  # interval of a residual range by its bit pattern (uint16)
    bin0: int  # the first bin of range_bins
    stopping: np.ndarray  # electronic mass stopping power S/rho [MeV cm^2/g]
    stopping_integral: np.ndarray  # int_0^T S/rho dT' [MeV^2 cm^2/g]
    water_ratio: np.ndarray  # (S/rho)_water / (S/rho)_material
    range_straggling: np.ndarray  # range-straggling integral Omega_R [g^2/cm^4]
    scattering_integral: np.ndarray  # int dR/(pv)^2 [g cm^-2 MeV^-2]
    lg_pv: np.ndarray  # (species, n) log10(pv / MeV)
    inv_pv2: np.ndarray  # (species, n) 1/(pv)^2 [MeV^-2]
    inv_xs: np.ndarray  # (materials,) 1/X_S, Gottschalk's scattering length [cm^2/g]
    n_materials: int
    zstar: np.ndarray  # MKM runs: z1D* [Gy] of each row's species in water (mc.rbe_dose.mkm_zstar_table); else 1x1


class SpeciesTable(NamedTuple):
    """Per-species quantities of the kernel (index: species, :data:`physics.species.SPECIES`)."""

    charge: np.ndarray  # charge number z
    mass: np.ndarray  # rest energy M [MeV]
    row0: np.ndarray  # first table row of the species (int64): row = row0 + material
    cutoff: np.ndarray  # kinetic energy [MeV] below which the rest is deposited on the spot
    transported: np.ndarray  # 1: followed through the grid as a secondary; 0: deposited on the spot
    secondary_class: np.ndarray  # deposit class as a secondary (mc.kernel.layout.CLASS_*)
    ion_reaction: np.ndarray  # 1: a nucleus, whose nuclear reactions follow physics.fragmentation
    A: np.ndarray  # mass number (int64)
    let_scored: np.ndarray  # 1: scored in the LET tally (protons in a proton run; every species in an ion run)
    let_block: np.ndarray  # first LET sum of the species' fragment group in an ion run; -1 in a proton run
    group: np.ndarray  # fragment group (physics.species.FRAGMENT_GROUPS)


class Nuclear(NamedTuple):
    """Discrete nuclear interactions (:mod:`physics.nuclear`)."""

    sigma: np.ndarray  # step majorant of the total mass cross section, per table row [cm^2/g]
    chan_xs: np.ndarray  # (rows, channels, n) mass cross section of each channel [cm^2/g]
    chan_kind: np.ndarray  # (materials, channels) process (physics.nuclear.CHANNEL_*)
    product_model: np.ndarray  # parameters of the non-elastic product model
    frag: tuple  # physics.fragmentation.FragmentationTables (ion reactions)
    po_elastic: np.ndarray  # angular distributions of p-16O elastic scattering (physics.po_elastic)


class Params(NamedTuple):
    """Step control and the optional tallies (from ``physics`` and ``output`` of the config)."""

    max_range_fraction: float  # a step uses up at most ~this fraction of the residual range
    final_range: float  # ... and at least this much [g/cm^2]
    max_step: float  # longest step [cm] (0: no limit)
    voxel_steps: bool  # every step also ends at the first voxel boundary (reference mode)
    straggling: bool  # energy-loss straggling
    scattering: bool  # multiple Coulomb scattering
    dose_to_water: bool  # score the water-equivalent deposit
    secondary: bool  # score the deposit of secondaries separately
    let: bool  # score the LET sums


class Tallies(NamedTuple):
    """What one batch adds to (:class:`mc.tally.BatchBuffers`); grid-shaped unless stated."""

    edep: np.ndarray  # energy deposited [MeV]
    edep_water: np.ndarray  # water-equivalent deposit [MeV] (1x1x1 when off)
    edep_sec: np.ndarray  # deposit of secondaries [MeV] (1x1x1 when off)
    fluence_z: np.ndarray  # (nz,) primaries reaching each voxel layer along z
    let: np.ndarray  # (N_LET, ...) LET sums (mc.kernel.layout.LET_*; 1x1x1 per sum when off)
    counters: np.ndarray  # (N_COUNTERS,) energy balance (mc.kernel.layout.COUNTER_*)
    dep_class: np.ndarray  # (N_CLASSES,) energy deposited per class of particle [MeV]
    touched_mark: np.ndarray  # per voxel: listed in touched (int8; one element when off)
    touched: np.ndarray  # flat indices of the voxels with deposits (one element when off)
    n_touched: np.ndarray  # (1,) length of that list
    bbox: np.ndarray  # int64[6] block of voxels with deposits: lowest x, y, z, highest x, y, z
    col_z: np.ndarray  # int32 (2, nx ny) per column along z: lowest, highest layer with deposits


def source_bundle(spots):
    """:class:`Source` of a :class:`mc.source.SpotArrays`."""
    return Source(spots.cdf, spots.energy, spots.energy_sigma, spots.pos, spots.dir, spots.ax1, spots.ax2,
                  spots.sigma, spots.div, spots.species, spots.corr, np.sqrt(1.0 - spots.corr**2))


def geometry_bundle(grid):
    """:class:`Geometry` of a :class:`geometry.voxel.VoxelGrid`."""
    return Geometry(grid.material_id, grid.density, grid.lower_cm, grid.spacing_cm)


_NO_ZSTAR = np.zeros((1, 1))
_NO_ZSTAR.setflags(write=False)


def tables_bundle(tables, zstar=None):
    """:class:`Tables` of a :class:`physics.tables.PhysicsTables`; ``zstar`` the MKM's z1D* per
    table row and energy [Gy] (:func:`mc.rbe_dose.mkm_zstar_table`), None without the MKM."""
    return Tables(tables.lnT0, tables.inv_dlnT, tables.energy.reshape(1, -1), tables.range_gcm2,
                  tables.energy_slope, tables.range_bins, tables.range_bin0, tables.stopping,
                  tables.stopping_integral, tables.water_ratio, tables.range_straggling,
                  tables.scattering_integral, tables.lg_pv, tables.inv_pv2, tables.inv_scattering_length,
                  tables.n_materials, _NO_ZSTAR if zstar is None else zstar)


def species_bundle(tables, cutoff_MeV):
    """:class:`SpeciesTable` of the species the tables hold (the first of
    :data:`physics.species.SPECIES`: the proton alone, or with the ions), for the tables'
    materials, every species transported. Cut-off: ``cutoff_MeV`` [MeV], for the ions at least
    A :data:`physics.tables.ION_CUTOFF_MEV_PER_U`. The ions' nuclear reactions fragment them
    (``ion_reaction``, :func:`mc.kernel.interact.ion_reaction`). The LET tally scores the
    protons of a proton run (the clinical proton LET) and every species of an ion run (the
    mixed-field LET)."""
    species = SPECIES[:len(tables.species_names)]
    assert tuple(s.name for s in species) == tuple(tables.species_names)
    n = len(species)
    ion_run = any(is_ion(s) for s in species)
    return SpeciesTable(
        charge=np.array([s.charge for s in species], np.float64),
        mass=np.array([s.mass_MeV for s in species], np.float64),
        row0=np.arange(n, dtype=np.int64) * tables.n_materials,
        cutoff=np.array([max(float(cutoff_MeV), s.A * ION_CUTOFF_MEV_PER_U) if is_ion(s) else float(cutoff_MeV)
                         for s in species]),
        transported=np.ones(n, np.int64),
        secondary_class=np.array([CLASS_SECONDARY_PROTON if i == SPECIES_PROTON else CLASS_SECONDARY_OTHER
                                  for i in range(n)], np.int64),
        ion_reaction=np.array([int(is_ion(s)) for s in species], np.int64),
        A=np.array([s.A for s in species], np.int64),
        let_scored=np.array([int(i == SPECIES_PROTON or ion_run) for i in range(n)], np.int64),
        let_block=np.array([let_group_block(fragment_group(s)) if ion_run else -1 for s in species], np.int64),
        group=np.array([fragment_group(s) for s in species], np.int64))


_PRODUCT_MODEL = product_model_parameters()
_PRODUCT_MODEL.setflags(write=False)
_PO_ELASTIC = po_elastic_table()
_MAJORANTS = {}
_FRAGMENTATION = {}


def fragmentation_tables(tables):
    """The :class:`physics.fragmentation.FragmentationTables` of ``tables`` (built once per set of
    tables)."""
    key = id(tables)
    if key not in _FRAGMENTATION or _FRAGMENTATION[key][0] is not tables:
        _FRAGMENTATION[key] = (tables, build_fragmentation_tables(tables))
    return _FRAGMENTATION[key][1]


def _majorant(tables, max_range_fraction, final_range):
    """:func:`physics.tables.majorant_sigma`, computed once per tables and step control."""
    key = (id(tables), float(max_range_fraction), float(final_range))
    hit = _MAJORANTS.get(key)
    if hit is None or hit[0] is not tables:
        hit = (tables, majorant_sigma(tables, max_range_fraction, final_range))
        hit[1].setflags(write=False)
        _MAJORANTS[key] = hit
    return hit[1]


def nuclear_bundle(tables, params, on=True):
    """:class:`Nuclear` of the tables, the free-path cross section being the step majorant for
    the step control of ``params`` (:class:`Params`); ``on=False`` switches every nuclear
    interaction off (a zero cross section)."""
    if on:
        sigma = _majorant(tables, params.max_range_fraction, params.final_range)
    else:
        sigma = np.zeros_like(tables.sigma_nuclear)
        sigma.setflags(write=False)  # (read-only like the majorant: the same compiled kernel)
    return Nuclear(sigma, tables.chan_xs, tables.chan_kind, _PRODUCT_MODEL, fragmentation_tables(tables), _PO_ELASTIC)


def params_bundle(physics_cfg, dose_to_water=False, secondary=False, let=False):
    """:class:`Params` of a :class:`mc.config.PhysicsConfig` and the optional tallies."""
    return Params(
        max_range_fraction=float(physics_cfg.max_range_fraction),
        final_range=float(physics_cfg.final_range_mm) * 0.1,  # mm of water -> g/cm^2
        max_step=float(physics_cfg.max_step_mm) * 0.1,  # mm -> cm
        voxel_steps=bool(physics_cfg.voxel_steps),
        straggling=bool(physics_cfg.straggling),
        scattering=bool(physics_cfg.multiple_scattering),
        dose_to_water=bool(dose_to_water),
        secondary=bool(secondary),
        let=bool(let))


def tallies_bundle(buf):
    """:class:`Tallies` of a :class:`mc.tally.BatchBuffers`."""
    return Tallies(buf.edep, buf.edep_water, buf.edep_sec, buf.fluence_z, buf.let, buf.counters, buf.dep_class,
                   buf.touched_mark, buf.touched, buf.n_touched, buf.bbox, buf.col_z)


def needs_optional_tallies(params, tallies):
    """Whether a batch needs the kernel compiled with the optional tallies."""
    return params.dose_to_water or params.secondary or params.let or tallies.touched.shape[0] > 1


class KernelInputs(NamedTuple):
    """Everything a batch needs besides its generator state and its tallies (built once per
    run by :func:`mc.batch.kernel_inputs`)."""

    source: Source
    geometry: Geometry
    tables: Tables
    species: SpeciesTable
    nuclear: Nuclear
    params: Params
