"""Physics tables for the transport kernel, built once per (materials, species) and cached.

All tables are plain float64/int32 arrays on a uniform grid in ln T (T kinetic energy in MeV)
from ``T_MIN_MEV`` to ``T_MAX_MEV`` with ``POINTS_PER_DECADE`` points per decade. Rows are
indexed by ``species * n_materials + material``.

* ``stopping``     electronic mass stopping power S/rho [MeV cm^2/g] (:mod:`physics.stopping`).
* ``range_gcm2``   CSDA range R(T) = int_0^T dT'/(S/rho) [g/cm^2], trapezoidal integration in
                   ln T on the table grid, with R(T_min) = 2 T_min/S(T_min) (velocity-
                   proportional stopping below T_min).
                   The kernel inverts the piecewise-linear R(ln T) exactly, so a step's mean
                   energy loss never suffers from table round-trip error.
* ``energy_slope`` (T_{i+1} - T_i)/(R_{i+1} - R_i) [MeV cm^2/g]: the slope of the inverse
                   table T(R) on interval i (the table is piecewise linear in ln T for both T
                   and R, hence T(R) is linear on each interval); the kernel's energy at a
                   residual range. The last column repeats the one before.
* ``range_bins``   uint16 (rows, bins), with ``range_bin0``: the table interval of a residual
                   range without a search (:func:`range_bin_table`).
* ``scattering_integral`` int_{T_min}^T dT'/((pv)^2 S/rho) [g cm^-2 MeV^-2]: the path
                   integral int dR/(pv)^2 of the 1/(pv)^2 factor of the scattering power over
                   the residual range (trapezoidal in ln T), used to place the random hinge of a
                   multi-voxel step where the scattering happens (:mod:`mc.kernel.step`); its
                   increments per interval fall with energy (:func:`check_scattering_increments`).
* ``range_straggling`` Omega_R(T) = int_{T_min}^T k_B(T') <Z/A> / (S/rho)^3 dT' [g^2/cm^4]
                   (trapezoidal in ln T, 0 at T_min), with k_B <Z/A> the Bohr energy-loss
                   variance per unit areal density (:mod:`physics.straggling`): the range
                   variance that Bohr straggling builds up while the particle slows down from
                   T to T_min, int (d sigma_E^2/dR) / (S/rho)^2 dR (first-order propagation of
                   the energy variance through a thick absorber: Tschalaer 1968, Nucl. Instrum.
                   Methods 61:141; ICRU Report 49, 1993; Bortfeld 1997, Med. Phys. 24:2024,
                   eq. 17). A step from T_a to T_b adds (S(T_b)/rho)^2 (Omega_R(T_a) -
                   Omega_R(T_b)) to the energy variance at its end (:mod:`mc.kernel.step`).
* ``stopping_integral`` int_0^T (S/rho) dT' [MeV^2 cm^2/g] (trapezoidal in T, with
                   (2/3) T_min S(T_min) below T_min for velocity-proportional stopping): the
                   dose-weighted stopping power of a particle stopping from T is this / T.
* ``water_ratio``  (S/rho)_water / (S/rho)_material, for dose to water (Paganetti 2009,
                   Phys. Med. Biol. 54:4399, eq. 1).
* ``sigma_nuclear`` total nuclear mass cross section [cm^2/g] (sum of the channels below).
* ``chan_xs``      mass cross section [cm^2/g] of each nuclear channel, shape
                   (rows, channels, energies); ``chan_kind`` [material, channel] the process
                   (:mod:`physics.nuclear`). Only protons have nuclear channels.
* per species: ``lg_pv`` log10 of pv [MeV] and ``inv_pv2`` 1/(pv)^2 [MeV^-2] for the
  scattering power; ``bohr`` the Bohr variance per unit areal density and unit <Z/A>,
  K m_e c^2 z^2 (1 - beta^2/2)/(1 - beta^2) [MeV^2 cm^2/mol] (:mod:`physics.straggling`).
* per material: ``inv_scattering_length`` 1/X_S [cm^2/g] (Gottschalk 2010), ``z_over_a``
  <Z/A> [mol/g].

Ion rows (4He, 12C; :mod:`physics.species`) are built only for a run with an ion beam
(``build_tables(..., ions=True)``); a proton run's tables hold the proton rows alone, built by
exactly the code and on exactly the grid they always had.

* Energy grid. The table energy stays the particle's *total* kinetic energy T [MeV] for every
  species, so the kernel needs no per-species conversion (and the proton path none at all); an
  ion run's grid runs from ``T_MIN_MEV`` to ``ION_T_MAX_MEV`` = 10 GeV with the same 500 points
  per decade (3501 points), which covers 12C at the highest accepted 430 MeV/u (5.16 GeV) and
  reaches down to 1 keV total (83 eV/u for 12C, far below any cut-off). A per-nucleon grid
  would let the species share one index but would need T/A at every look-up of the kernel.
* Stopping: :func:`physics.ion_stopping.ion_mass_stopping` of charge z and nuclear mass M at
  T/A (Bethe with shell, density, Bloch, Barkas and Mott terms above 8 MeV/u, ZBL effective
  charge below; CSDA ranges of 12C and 4He in water within 0.17 % of ICRU Report 90, Tables
  A.15 and A.12). The range, energy-slope, stopping-integral and water-ratio tables follow
  from it as for protons.
* Straggling: the Bohr variance has the factor z^2 already (``bohr`` per species, with the
  bare charge: the effective charge below ~1 MeV/u, where a 12C ion has micrometres left, is
  not applied to the variance).
* Multiple scattering: ``lg_pv``, ``inv_pv2`` and the scattering integral with the ion's pv
  = T (T + 2M)/(T + M); the kernel multiplies Gottschalk's scattering power by z^2
  (:mod:`mc.kernel.step`).
* Nuclear: the total reaction cross section of the ion on each element of the material,
  Tripathi et al. (1996; 1999 for the light systems, ions on hydrogen in inverse kinematics;
  :func:`physics.ion_nuclear.element_mass_reaction_xs_cm2_g`), stored in the element's first
  channel (``NuclearChannels.first``; the slot of the proton's p-p elastic or non-elastic
  channel on that element, whose ``chan_kind`` is then not the ion's process); every real
  interaction of an ion is its reaction (:mod:`mc.kernel.interact`).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .ion_nuclear import element_mass_reaction_xs_cm2_g
from .ion_stopping import ion_mass_stopping
from .materials import get_material
from .nuclear import build_channels
from .scattering import pv_MeV, scattering_length
from .species import N_PROTON_SPECIES, SPECIES, is_ion
from .straggling import bohr_variance
from .stopping import electronic_mass_stopping

T_MIN_MEV = 1.0e-3
T_MAX_MEV = 1.0e3
#: Upper end of the grid of an ion run's tables [MeV] (total kinetic energy; see the module docstring).
ION_T_MAX_MEV = 1.0e4
#: Lowest cut-off of the ions [MeV/u]: an ion below A times this deposits its energy on the spot
#: (:func:`mc.kernel.bundles.species_bundle`). Residual CSDA ranges in water there: 11 um (4He,
#: 2 MeV) and 9 um (12C, 6 MeV) (ICRU Report 90, Tables A.12 and A.15); below it the stopping
#: model is 5-30 % uncertain (:mod:`physics.ion_stopping`) and the range tables too fine for
#: the range bins (:func:`range_bin_table`).
ION_CUTOFF_MEV_PER_U = 0.5
POINTS_PER_DECADE = 500
#: Right shift of a float64's bit pattern that leaves its exponent and leading 52 - 43 = 9
#: mantissa bits: bins of relative width 1/1024 to 1/512 (see :func:`range_bin_table`).
RANGE_BIN_SHIFT = 43


@dataclass(frozen=True)
class PhysicsTables:
    """Kernel-ready physics tables (see module docstring for contents and units)."""

    material_names: tuple
    materials: tuple
    species_names: tuple
    lnT0: float
    inv_dlnT: float
    energy: np.ndarray
    stopping: np.ndarray
    stopping_integral: np.ndarray
    range_gcm2: np.ndarray
    energy_slope: np.ndarray
    range_bins: np.ndarray
    range_bin0: int
    range_straggling: np.ndarray
    scattering_integral: np.ndarray
    water_ratio: np.ndarray
    sigma_nuclear: np.ndarray
    chan_xs: np.ndarray
    chan_kind: np.ndarray
    chan_labels: tuple
    chan_target_Z: np.ndarray
    chan_first: np.ndarray
    lg_pv: np.ndarray
    inv_pv2: np.ndarray
    bohr: np.ndarray
    inv_scattering_length: np.ndarray
    z_over_a: np.ndarray

    @property
    def n_materials(self):
        return len(self.material_names)

    def row(self, material_index, species_index=0):
        """Table row of (species, material)."""
        return species_index * self.n_materials + material_index

    def csda_range(self, material_index, T, species_index=0):
        """CSDA range [g/cm^2] at kinetic energy ``T`` [MeV] (piecewise linear in ln T)."""
        r = self.range_gcm2[self.row(material_index, species_index)]
        return np.interp(np.log(T), np.log(self.energy), r)

    def energy_from_range(self, material_index, R, species_index=0):
        """Inverse of :meth:`csda_range`: kinetic energy [MeV] with CSDA range ``R`` [g/cm^2]."""
        r = self.range_gcm2[self.row(material_index, species_index)]
        return np.exp(np.interp(R, r, np.log(self.energy)))

    def mass_stopping(self, material_index, T, species_index=0):
        """Electronic mass stopping power [MeV cm^2/g] at ``T`` [MeV]."""
        s = self.stopping[self.row(material_index, species_index)]
        return np.interp(np.log(T), np.log(self.energy), s)


def _cumulative_lnT(g, dlnT, first=0.0):
    """Running integral of g over ln T on the table grid (trapezoidal, spacing ``dlnT``), with
    the value ``first`` at the first grid point."""
    out = np.empty_like(g)
    out[0] = first
    out[1:] = first + np.cumsum(0.5 * (g[1:] + g[:-1]) * dlnT)
    return out


def range_bin_table(rng, r_check=None):
    """Look-up table from a residual range to its interval of the range table ``rng`` (rows of
    increasing CSDA ranges [g/cm^2] on the energy grid), for :func:`mc.kernel.lookup.range_interval`.

    A positive float64 R is binned by its bit pattern shifted right by :data:`RANGE_BIN_SHIFT`:
    the exponent and the leading 9 mantissa bits, i.e. 512 bins per octave of R, uniform in R
    within an octave (the exponent and leading mantissa bits of an IEEE-754 double are a
    piecewise-linear log2 R). Returns (bins, b0): ``bins[row, b]`` (uint16) is the
    interval i of the row holding the lower edge of bin b0 + b (the largest i <= n - 2 with
    rng[row, i] <= edge, 0 below the table), b0 the bin of the smallest positive range.

    A bin is 1/1024 to 1/512 of its R wide; a table interval (500 points per decade of T) is at
    least 2.3e-3 of R wide (the narrowest, in water near 10 keV), so no bin holds more than one
    table entry and one comparison completes the look-up. This is checked here: a ValueError
    names the row if an interval is narrower than its bins. ``r_check`` (per row, g/cm^2):
    check only the bins above this range (the range at the species' lowest cut-off: the kernel
    looks up no residual range below it); None checks every bin. (The ion rows need it: the
    effective charge makes the stopping of 4He rise as ~T^0.66 at 10-270 keV/u, where the
    intervals are 1.6e-3 of R wide, below the ion cut-off :data:`ION_CUTOFF_MEV_PER_U`.)"""
    rng = np.asarray(rng, np.float64)
    n = rng.shape[1]
    if n - 2 > np.iinfo(np.uint16).max:
        raise ValueError(f"range_bin_table: {n} table points do not fit uint16 interval indices")
    b0 = int(np.array(rng[rng > 0].min()).view(np.int64)) >> RANGE_BIN_SHIFT
    b1 = int(np.array(rng.max()).view(np.int64)) >> RANGE_BIN_SHIFT
    edges = (np.arange(b0, b1 + 2, dtype=np.int64) << RANGE_BIN_SHIFT).view(np.float64)
    bins = np.empty((rng.shape[0], edges.size - 1), np.uint16)
    for r in range(rng.shape[0]):
        first = np.clip(np.searchsorted(rng[r], edges, side="right") - 1, 0, n - 2)
        jumps = np.diff(first) > 1
        if r_check is not None:
            jumps &= edges[1:] > r_check[r]
        if np.any(jumps):
            raise ValueError(f"range_bin_table: row {r} has table intervals narrower than the range bins; "
                             "lower POINTS_PER_DECADE or RANGE_BIN_SHIFT")
        bins[r] = first[:-1]
    return bins, b0


def check_scattering_increments(scat_int):
    """Check that the increments of the scattering integral over the table intervals fall along
    every row (the integrand dR/(pv)^2 per unit ln T, T/((pv)^2 S), falls with T for every
    species and material, because T S rises with T); the hinge sampling of
    :func:`mc.kernel.step.scattering_plan` bounds the increment over a step by that of its lowest interval. Raises
    a ValueError naming the row otherwise."""
    h = np.diff(np.asarray(scat_int, np.float64), axis=1)
    rising = np.nonzero((np.diff(h, axis=1) > 0.0).any(axis=1))[0]
    if rising.size:
        raise ValueError(f"scattering integral: the increments of row {int(rising[0])} rise with energy; "
                         "the hinge sampling's bound does not hold for this table")


def species_stopping(material, energy, sp):
    """Electronic mass stopping power [MeV cm^2/g] of species ``sp`` (:class:`physics.species.Species`)
    at total kinetic energies ``energy`` [MeV]: the proton model (:mod:`physics.stopping`) for
    the hydrogen isotopes (at the same velocity), :func:`physics.ion_stopping.ion_mass_stopping`
    at T/A for the nuclei with z > 1."""
    if not is_ion(sp):
        return electronic_mass_stopping(material, energy, sp.mass_MeV) * sp.charge**2
    return ion_mass_stopping(material, energy / sp.A, sp.charge, sp.mass_MeV, sp.A)


def _ion_channels(chan_xs, chans, materials, species, energy):
    """Fill the ion rows of ``chan_xs`` (see the module docstring): per element of each material
    the ion's total reaction mass cross section [cm^2/g], in the element's first channel."""
    n_m = len(materials)
    for si, sp in enumerate(species):
        if not is_ion(sp):
            continue
        for mi, m in enumerate(materials):
            for k in range(chans.kind.shape[1]):
                if chans.first[mi, k]:
                    Z = int(chans.target_Z[mi, k])
                    chan_xs[si * n_m + mi, k] = element_mass_reaction_xs_cm2_g(sp.charge, sp.A, energy / sp.A, Z,
                                                                               m.composition[Z])


@lru_cache(maxsize=16)
def _build(material_key, ions=False):
    materials = []
    for name, I_eV in material_key:
        m = get_material(name)
        if I_eV is not None and I_eV != m.I_eV:
            m = m.with_I(I_eV, name=m.name)
        materials.append(m)
    species = SPECIES if ions else SPECIES[:N_PROTON_SPECIES]
    t_max = ION_T_MAX_MEV if ions else T_MAX_MEV
    n_dec = np.log10(t_max / T_MIN_MEV)
    n_t = int(round(n_dec * POINTS_PER_DECADE)) + 1
    energy = np.geomspace(T_MIN_MEV, t_max, n_t)
    lnT = np.log(energy)
    dlnT = lnT[1] - lnT[0]
    n_m = len(materials)
    n_rows = len(species) * n_m
    stopping = np.empty((n_rows, n_t))
    rng = np.empty((n_rows, n_t))
    water = get_material("water")
    ratio = np.empty((n_rows, n_t))
    for si, sp in enumerate(species):
        s_w = species_stopping(water, energy, sp)
        for mi, m in enumerate(materials):
            k = si * n_m + mi
            s = species_stopping(m, energy, sp)
            stopping[k] = s
            rng[k] = _cumulative_lnT(energy / s, dlnT, 2.0 * energy[0] / s[0])  # dR/dlnT = T/S
            ratio[k] = s_w / s
    s_int = np.empty_like(stopping)
    s_int[:, 0] = 2.0 / 3.0 * energy[0] * stopping[:, 0]
    s_int[:, 1:] = s_int[:, :1] + np.cumsum(0.5 * (stopping[:, 1:] + stopping[:, :-1]) * np.diff(energy), axis=1)
    pv = np.array([pv_MeV(energy, sp.mass_MeV) for sp in species])
    scat_int = np.empty_like(rng)
    for si in range(len(species)):
        for mi in range(n_m):
            k = si * n_m + mi
            scat_int[k] = _cumulative_lnT(energy / (pv[si] ** 2 * stopping[k]), dlnT)  # d/dlnT of int dR/(pv)^2
    check_scattering_increments(scat_int)
    slope = np.empty_like(rng)
    slope[:, :-1] = np.diff(energy)[None, :] / np.diff(rng, axis=1)
    slope[:, -1] = slope[:, -2]
    r_check = None
    if ions:
        r_check = np.array([np.interp(np.log(ION_CUTOFF_MEV_PER_U * sp.A), lnT, rng[si * n_m + mi])
                            if is_ion(sp) else 0.0 for si, sp in enumerate(species) for mi in range(n_m)])
    range_bins, range_bin0 = range_bin_table(rng, r_check)
    bohr = np.array([bohr_variance(energy, sp.mass_MeV, 1.0, 1.0, sp.charge) for sp in species])
    r_strag = np.empty_like(rng)
    for si in range(len(species)):
        for mi, m in enumerate(materials):
            k = si * n_m + mi
            r_strag[k] = _cumulative_lnT(bohr[si] * m.z_over_a * energy / stopping[k] ** 3, dlnT)  # d/dlnT of Omega_R
    chans = build_channels(materials, energy)
    chan_xs = np.zeros((n_rows,) + chans.xs.shape[1:])
    chan_xs[:n_m] = chans.xs  # species 0 (protons)
    if ions:
        _ion_channels(chan_xs, chans, materials, species, energy)
    tables = PhysicsTables(
        material_names=tuple(m.name for m in materials),
        materials=tuple(materials),
        species_names=tuple(s.name for s in species),
        lnT0=float(lnT[0]),
        inv_dlnT=float(1.0 / dlnT),
        energy=energy,
        stopping=stopping,
        stopping_integral=s_int,
        range_gcm2=rng,
        energy_slope=slope,
        range_bins=range_bins,
        range_bin0=range_bin0,
        range_straggling=r_strag,
        scattering_integral=scat_int,
        water_ratio=ratio,
        sigma_nuclear=chan_xs.sum(axis=1),
        chan_xs=chan_xs,
        chan_kind=chans.kind,
        chan_labels=chans.labels,
        chan_target_Z=chans.target_Z,
        chan_first=chans.first,
        lg_pv=np.log10(pv),
        inv_pv2=1.0 / pv**2,
        bohr=bohr,
        inv_scattering_length=np.array([1.0 / scattering_length(m) for m in materials]),
        z_over_a=np.array([m.z_over_a for m in materials]),
    )
    for arr in (energy, stopping, s_int, rng, slope, range_bins, r_strag, scat_int, ratio, tables.sigma_nuclear, chan_xs, chans.kind, tables.lg_pv, tables.inv_pv2,
                tables.bohr):
        arr.setflags(write=False)
    return tables


def build_tables(material_names, I_overrides=None, ions=False):
    """Build (or fetch from the in-process cache) the tables for ``material_names``.

    ``I_overrides`` maps material name -> mean excitation energy [eV] to use instead of the
    library value (for I-value studies, or to compare with PSTAR's water at 75 eV). ``ions``:
    also the rows of the ions (4He, 12C) of :data:`physics.species.SPECIES`, on the grid up to
    ``ION_T_MAX_MEV`` (module docstring); without it the proton rows alone.
    """
    I_overrides = {get_material(k).name: float(v) for k, v in (I_overrides or {}).items()}
    key = tuple((get_material(n).name, I_overrides.get(get_material(n).name)) for n in material_names)
    return _build(key, bool(ions))


def majorant_sigma(tables, max_range_fraction, final_range=0.0, energy_margin=0.9):
    """Majorant of the total nuclear mass cross section over one transport step [cm^2/g].

    A step starting at T_i with residual CSDA range R = R(T_i) [g/cm^2] loses at most the range
    dR(R) of the step function (:func:`mc.kernel.step.step_range`: dR = a R + r_f (1 - a)(2 - r_f/R) for
    R > r_f, else R, with a = ``max_range_fraction`` and r_f = ``final_range`` [g/cm^2]), so
    its mean end energy is at least T_lo = T(R - dR); the majorant table holds max sigma(T) over
    [energy_margin * T_lo, T_i]. The margin covers energy-loss straggling below the mean end
    energy: with the default step function (a = 0.3, r_f = 1 mm) in water, 10 % of T_lo is 6
    (20 MeV) to 17 (300 MeV, no step-length limit) standard deviations of the step's end
    energy (variance (S/rho)^2 dOmega_R, table ``range_straggling``); for steps that end lower
    the cross section falls with energy, and over 2-300 MeV in water, cortical bone, lung and
    titanium the window's maximum also bounds sigma down to 5 standard deviations below T_lo
    for every step but a track's last (which is not straggled). Free paths sampled with it and sites accepted with probability
    sigma(T_site)/majorant give interaction sites distributed exactly as with the
    energy-dependent cross section (the fictitious-interaction or "delta-scattering" method;
    Woodcock et al. 1965, ANL-7050; Salvat, PENELOPE-2018 manual, NEA/MBDAV/R(2019)1, sec.
    4.4), independent of how the cross section varies within the step. The step is measured
    in the material where it starts; a step continuing into another material stays within
    the same energy window (deposits follow each material's own range table), which the
    margin also covers."""
    sig = tables.sigma_nuclear
    out = np.empty_like(sig)
    lnT = np.log(tables.energy)
    for r in range(sig.shape[0]):
        R = tables.range_gcm2[r]
        a, rf = max_range_fraction, final_range
        dR = np.where(R > rf, a * R + rf * (1.0 - a) * (2.0 - rf / np.maximum(R, 1e-300)), R)
        T_lo = np.exp(np.interp(R - dR, R, lnT)) * energy_margin
        j_lo = np.searchsorted(tables.energy, T_lo, side="right") - 1
        j_lo = np.clip(j_lo, 0, None)
        # running maximum over the window [j_lo[i], i]; j_lo is non-decreasing in i
        s = sig[r]
        for i in range(sig.shape[1]):
            out[r, i] = s[j_lo[i]:i + 1].max()
    return out
