"""A range shifter in the nozzle, applied to a spot's Gaussian phase space analytically.

A range shifter is a slab of a library material (PMMA, Lexan, ...) across the beam (the
machine's range shifter with the plan's RangeShifterID), with its
downstream face ``isocentre_distance_mm`` upstream of the isocentre (DICOM
IsocenterToRangeShifterDistance (300A,0364)). The spot's beam leaves the nozzle exit, drifts to
the slab's upstream face, crosses it and drifts on; the source plane of the spot's protons moves
to the slab's downstream face, where this module gives their Gaussian phase space:

* **Mean energy**: continuous slowing down through the slab's areal thickness t [g/cm^2] on the
  material's CSDA range table (:mod:`physics.tables`): R(E_out) = R(E_in) - t.
* **Energy spread**: the incoming spread carried through the slab, dE_out/dE_in =
  S(E_out)/S(E_in), plus Bohr straggling in the slab, S(E_out)^2 (Omega_R(E_in) - Omega_R(E_out))
  (the table ``range_straggling``; Tschalaer 1968, Bortfeld 1997 eq. 17): the same
  propagation the kernel uses for a step.
* **Angles and sizes**: Fermi-Eyges moments of the slab (Eyges 1948, Phys. Rev. 74:1534;
  Gottschalk 2010, Med. Phys. 37:352, eqs. 3-5): A_n = int_0^L (L - z)^n T(z) dz, n = 0, 1, 2,
  with Gottschalk's differential Moliere scattering power T = T_dM(pv(z), p1v1) rho [rad^2/cm]
  (:func:`physics.scattering.scattering_power_dM`, the kernel's model) along the slab. The beam
  matrix (sigma^2, rho sigma theta, theta^2) of each transverse axis is drifted to the upstream
  face, then through the slab: sigma^2 += 2 c L + theta^2 L^2 + A2, c += theta^2 L + A1,
  theta^2 += A0 (c the covariance), i.e. the drift of length L plus the scattering.
* **Protons removed**: the probability that a proton suffers no non-elastic nuclear reaction
  in the slab, exp(-int sigma_ne(E(z)) rho dz) with the kernel's non-elastic cross sections
  (:mod:`physics.nuclear`), multiplies the spot's protons. The energy the removed protons carry
  (secondary protons, fragments) is not transported: their low-dose halo downstream (of order
  a per cent of the dose behind a 7 cm water-equivalent shifter) is missing. Large-angle
  elastic scattering is not removed.

The slab's areal thickness is the machine's (``thickness_mm`` x density) when given, else the
one whose water-equivalent thickness at ``REFERENCE_ENERGY_MEV`` (or, for a slab of more than
the water range at that energy less 5 cm, at the energy of range WET + 5 cm) is the plan's (or
machine's) WET: R_water(E) - R_water(E_out) = WET, with E_out the energy behind t of the material.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from physics.scattering import pv_MeV, scattering_power_dM
from physics.species import SPECIES
from physics.tables import build_tables

from .errors import ConfigError

#: Energy [MeV] at which a water-equivalent thickness is converted to the material's thickness.
REFERENCE_ENERGY_MEV = 150.0

#: Largest difference [mm] between the plan's WET of a range shifter and the WET of the machine's
#: physical thickness that is accepted (more: the plan and the machine describe different slabs).
WET_TOLERANCE_MM = 0.5

#: Depth points of the slab integrals.
_N_DEPTH = 400

#: ``chan_kind`` of the non-elastic channels (:mod:`physics.nuclear`).
_NON_ELASTIC = 2


@dataclass(frozen=True)
class Slab:
    """A range shifter as transported: library material, areal thickness [g/cm^2], thickness
    [cm], distance of its downstream face upstream of the isocentre [mm], WET [mm]."""

    material: str
    areal_thickness_g_cm2: float
    thickness_cm: float
    isocentre_distance_mm: float
    wet_mm: float


def _proton_tables(material):
    tables = build_tables([material, "water"])
    return tables, [s.name for s in SPECIES].index("proton")


def _energy_after(tables, row_species, material_index, E, t_g):
    R = tables.csda_range(material_index, E, row_species)
    if R <= t_g:
        return 0.0
    return float(tables.energy_from_range(material_index, R - t_g, row_species))


def slab_of(setting, machine, where):
    """The :class:`Slab` of a plan's :class:`mc.plan.RangeShifterSetting` delivered by
    ``machine`` (its range shifter of the same ID, or its only one); ConfigError naming what is
    missing."""
    shifters = {rs.id: rs for rs in machine.range_shifters}
    rs = shifters.get(setting.shifter_id)
    if rs is None:
        raise ConfigError(f"{where}range shifter {setting.shifter_id!r} (RangeShifterID (300A,0318)) is not in machine "
                          f"{machine.name!r} ({machine.path}; its range shifters: {sorted(shifters)}); add it to the "
                          "machine file under the plan's ID")
    if rs.type.lower() == "empty":
        raise ConfigError(f"{machine.path}: range shifter {rs.id!r} is of type 'empty' (no material) but the plan "
                          "inserts it; give its material and thickness or WET")
    if rs.material is None:
        raise ConfigError(f"{machine.path}: range shifter {rs.id!r}: its material (MCsquare number "
                          f"{rs.mcsquare_material_id}) has no flashmc material; give it as a library material name")
    distance = setting.isocentre_distance_mm if setting.isocentre_distance_mm is not None else rs.isocentre_distance_mm
    if distance is None:
        raise ConfigError(f"{where}range shifter {rs.id!r}: IsocenterToRangeShifterDistance (300A,0364) is missing "
                          "and the machine gives no position; export the plan with it")
    wet = setting.water_equivalent_thickness_mm if setting.water_equivalent_thickness_mm is not None else rs.wet_mm
    tables, sp = _proton_tables(rs.material)
    if rs.thickness_mm is not None:
        t_g = rs.thickness_mm / 10.0 * rs.density_g_cm3
        E = REFERENCE_ENERGY_MEV
        wet_of_t = 10.0 * (tables.csda_range(1, E, sp) - tables.csda_range(1, _energy_after(tables, sp, 0, E, t_g), sp))
        if wet is not None and abs(wet - wet_of_t) > WET_TOLERANCE_MM:
            raise ConfigError(f"{where}range shifter {rs.id!r}: the plan's water-equivalent thickness {wet:g} mm "
                              f"differs from the {wet_of_t:.2f} mm of the machine's {rs.thickness_mm:g} mm of "
                              f"{rs.material} (at {E:g} MeV) by more than {WET_TOLERANCE_MM:g} mm; make the plan and "
                              "the machine agree")
        wet = wet_of_t if wet is None else wet
    elif wet is not None and wet > 0:
        E = max(REFERENCE_ENERGY_MEV, float(tables.energy_from_range(1, wet / 10.0 + 5.0, sp)))
        target = tables.csda_range(1, E, sp) - wet / 10.0  # water range behind the slab [g/cm^2]

        def miss(t):
            return tables.csda_range(1, _energy_after(tables, sp, 0, E, t), sp) - target

        t_g = brentq(miss, 1e-6, tables.csda_range(0, E, sp) * (1 - 1e-9), xtol=1e-10)
    else:
        raise ConfigError(f"{where}range shifter {rs.id!r}: neither a water-equivalent thickness nor a thickness "
                          "is given; give RS_WET or RS_thickness in the machine file")
    return Slab(rs.material, float(t_g), float(t_g / rs.density_g_cm3), float(distance), float(wet))


def _moments(tables, sp, E, t_g, density):
    """Fermi-Eyges moments A0 [rad^2], A1 [rad^2 cm], A2 [rad^2 cm^2], the survival probability
    and the exit energy of protons of energy E [MeV] crossing t_g [g/cm^2] of material 0."""
    R0 = tables.csda_range(0, E, sp)
    z_g = np.linspace(0.0, t_g, _N_DEPTH + 1)
    T = tables.energy_from_range(0, np.maximum(R0 - z_g, 1e-12), sp)
    mass = SPECIES[sp].mass_MeV
    pv = pv_MeV(T, mass)
    X_S = 1.0 / tables.inv_scattering_length[0]
    power = scattering_power_dM(pv, pv_MeV(E, mass), X_S)  # rad^2 per g/cm^2
    depth_cm, L = z_g / density, t_g / density
    row = tables.row(0, sp)
    lnT = np.log(tables.energy)
    sigma_ne = sum(np.interp(np.log(T), lnT, tables.chan_xs[row, c])
                   for c in range(tables.chan_xs.shape[1]) if tables.chan_kind[0, c] == _NON_ELASTIC)
    T_cm = power * density
    moments = [float(np.trapezoid((L - depth_cm) ** n * T_cm, depth_cm)) for n in range(3)]
    survival = float(np.exp(-np.trapezoid(sigma_ne * np.ones_like(z_g), z_g)))
    return moments, survival, float(T[-1])


def through_slab(slab, energy_MeV, energy_sigma_MeV, sigma_mm, divergence_mrad, correlation, drift_mm):
    """Phase space at the slab's downstream face of a spot that leaves the nozzle exit with mean
    energy and spread [MeV], per transverse axis sigma [mm], divergence [mrad] and correlation,
    and drifts ``drift_mm`` to the slab's upstream face. Returns (mean energy, spread [MeV],
    sigma [mm] (2,), divergence [mrad] (2,), correlation (2,), survival probability)."""
    density = slab.areal_thickness_g_cm2 / slab.thickness_cm
    tables, sp = _proton_tables(slab.material)
    if tables.csda_range(0, energy_MeV, sp) <= slab.areal_thickness_g_cm2:
        raise ConfigError(f"range shifter of {slab.wet_mm:g} mm WET stops protons of {energy_MeV:g} MeV; "
                          "the plan's energies and range shifter do not match")
    (a0, a1, a2), survival, E_out = _moments(tables, sp, energy_MeV, slab.areal_thickness_g_cm2, density)
    s_in, s_out = tables.mass_stopping(0, energy_MeV, sp), tables.mass_stopping(0, E_out, sp)
    omega = tables.range_straggling[tables.row(0, sp)]
    lnT = np.log(tables.energy)
    d_omega = np.interp(np.log(energy_MeV), lnT, omega) - np.interp(np.log(E_out), lnT, omega)
    spread = float(np.sqrt((s_out / s_in * energy_sigma_MeV) ** 2 + s_out**2 * max(d_omega, 0.0)))
    L = slab.thickness_cm
    s0 = np.asarray(sigma_mm, float) / 10.0
    th0 = np.asarray(divergence_mrad, float) / 1000.0
    r0 = np.asarray(correlation, float)
    D = drift_mm / 10.0
    xx = s0**2 + 2 * r0 * s0 * th0 * D + (th0 * D) ** 2  # drift to the upstream face
    xt = r0 * s0 * th0 + th0**2 * D
    tt = th0**2
    xx, xt, tt = xx + 2 * xt * L + tt * L**2 + a2, xt + tt * L + a1, tt + a0  # through the slab
    sigma, theta = np.sqrt(xx), np.sqrt(tt)
    return E_out, spread, 10.0 * sigma, 1000.0 * theta, xt / (sigma * theta), survival
