"""The spots of a treatment plan as the kernel's source: an RT Ion Plan's beams
(:mod:`mc.plan`) delivered by a machine (:mod:`mc.beam_model`).

Spot k of energy layer E_nom, aimed at (X, Y) in the IEC gantry system projected onto the
isocentre plane with meterset MU_k, becomes a Gaussian pencil beam (:class:`mc.source.SpotArrays`,
lengths in cm):

* protons per fraction N_k = MU_k x protons_per_MU(E_nom) (the machine's table), or the
  meterset itself for a beam whose PrimaryDosimeterUnit is NP (number of particles);
* mean kinetic energy and its Gaussian spread at the nozzle exit (the machine's table);
* central ray: from the nozzle exit towards (X, Y), the virtual sources of the scanning
  magnets SMX, SMY upstream of the isocentre (:func:`mc.plan.spot_rays`);
* transverse axes: the beam-limiting-device axes X_b, Y_b made perpendicular to the ray
  (Gram-Schmidt; for a spot 10 cm off axis with SMX = 2 m they turn by 3 degrees), with the
  machine's spot sigma, divergence and position-angle correlation at the nozzle exit along them;
* a double-Gaussian machine (MCsquare's model) gives two entries per spot, weighted
  N_k (1 - f2) and N_k f2 with f2 = w2 / (w1 + w2); ``spot_of`` maps the entries to the plan's
  spots.

From the nozzle exit the protons fly straight to the CT (the kernel's entry into the grid): the
machine's parameters are effective in-air values, fitted to spot profiles measured in air, so
the air between nozzle and patient does not scatter them again; it slows them down: the spot's
mean energy is lowered by the continuous-slowing-down loss in dry air along its central ray from
its source plane to the grid, E' = E_air(R_air(E) - rho_air L) (:func:`air_to_grid`; 0.1 mm of
water-equivalent range per 10 cm of air). This is the convention of MCsquare (Souris et al.
2016, Med. Phys. 43:1700; Transport_to_CT), whose beam models this reads. A range shifter moves the
source plane to its downstream face, with the phase space, energy and surviving protons of
:mod:`mc.range_shifter` (analytic: Fermi-Eyges moments, CSDA energy loss with straggling,
non-elastic removal).
"""

from dataclasses import dataclass

import numpy as np

from physics.species import SPECIES_INDEX

from .errors import ConfigError
from .plan import spot_rays
from .range_shifter import slab_of, through_slab
from .source import SpotArrays


@dataclass
class PlanSpots:
    """The source of a plan: ``spots`` (one entry per Gaussian of every spot, weights in
    protons per fraction), ``spot_of`` (the plan spot of each entry, numbered over the selected
    beams in order), ``beam_of`` (the beam index of each entry), ``mu`` (meterset of each plan
    spot [MU per fraction]) and ``nominal_energy_MeV`` (of each plan spot)."""

    spots: SpotArrays
    spot_of: np.ndarray
    beam_of: np.ndarray
    mu: np.ndarray
    nominal_energy_MeV: np.ndarray
    removed_protons: float = 0.0  # per fraction, by non-elastic reactions in range shifters
    removed_energy_MeV: float = 0.0  # their kinetic energy at the nozzle exit, per fraction


def _perpendicular_axes(axes, direction):
    """X_b and Y_b made perpendicular to each ray (Gram-Schmidt), as (n, 3) arrays."""
    a1 = axes[0][None, :] - (direction @ axes[0])[:, None] * direction
    a1 /= np.linalg.norm(a1, axis=1)[:, None]
    a2 = np.cross(direction, a1)
    return a1, a2


def _shifter(beam, machine):
    """The :class:`mc.range_shifter.Slab` of the beam's inserted range shifter and the drift
    [mm] from the nozzle exit to its upstream face along the beam axis (None, 0 without one)."""
    if not beam.range_shifters:
        return None, 0.0
    where = f"beam {beam.number} ({beam.name}): "
    if len(beam.range_shifters) > 1:
        raise ConfigError(f"{where}{len(beam.range_shifters)} range shifters inserted; one is supported")
    slab = slab_of(beam.range_shifters[0], machine, where)
    drift = machine.nozzle_to_isocentre_mm - slab.isocentre_distance_mm - 10.0 * slab.thickness_cm
    if drift < 0:
        raise ConfigError(f"{where}the range shifter's upstream face lies {-drift:.1f} mm upstream of the nozzle exit "
                          f"(IsocenterToRangeShifterDistance {slab.isocentre_distance_mm:g} mm, thickness "
                          f"{10 * slab.thickness_cm:.1f} mm, nozzle exit {machine.nozzle_to_isocentre_mm:g} mm from the "
                          "isocentre); check the plan and the machine")
    return slab, drift


def _gaussians(optics, slab, drift):
    """(fraction of the spot's protons, energy, spread, sigma [mm], divergence [mrad],
    correlation) of each Gaussian of a layer's spots on their source plane (the nozzle exit, or
    behind the range shifter, whose survival probability multiplies the fraction)."""
    fractions = [(1, 1.0)] if optics.weight2 <= 0 else [(1, 1.0 - optics.fraction2), (2, optics.fraction2)]
    out = []
    for g, frac in fractions:
        sigma, div, corr = optics.axes(g)
        energy, spread = optics.mean_energy_MeV, optics.energy_spread_MeV
        if slab is not None:
            energy, spread, sigma, div, corr, survival = through_slab(slab, energy, spread, sigma, div, corr, drift)
            frac *= survival
        out.append((frac, energy, spread, sigma, div, corr))
    return out


def _beam_entries(beam, machine):
    """Columns of every Gaussian entry of ``beam``'s spots (dict of arrays) and the number of
    plan spots."""
    start_mm, direction, axes = spot_rays(beam, machine.smx_mm, machine.smy_mm, machine.nozzle_to_isocentre_mm)
    slab, drift = _shifter(beam, machine)
    if slab is not None:  # the source plane moves along each ray to the slab's downstream face
        to_face = (machine.nozzle_to_isocentre_mm - slab.isocentre_distance_mm) / -(direction @ axes[2])
        start_mm = start_mm + to_face[:, None] * direction
    a1, a2 = _perpendicular_axes(axes, direction)
    rows = {k: [] for k in ("spot", "energy", "esig", "sigma", "div", "corr", "weight")}
    k, removed, removed_MeV = 0, 0.0, 0.0
    for layer in beam.layers:
        optics = machine.layer(layer.nominal_energy_MeV)
        protons = layer.mu if beam.dosimeter_unit == "NP" else layer.mu * optics.protons_per_mu
        gaussians = _gaussians(optics, slab, drift)
        lost = float(protons.sum()) * (1.0 - sum(g[0] for g in gaussians))
        removed += lost
        removed_MeV += lost * optics.mean_energy_MeV
        for i in range(layer.mu.size):
            for frac, energy, spread, sigma, div, corr in gaussians:
                rows["spot"].append(k + i)
                rows["energy"].append(energy)
                rows["esig"].append(spread)
                rows["sigma"].append(np.asarray(sigma) / 10.0)
                rows["div"].append(np.asarray(div) / 1000.0)
                rows["corr"].append(corr)
                rows["weight"].append(protons[i] * frac)
        k += layer.mu.size
    cols = {key: np.asarray(v, float) for key, v in rows.items()}
    idx = cols["spot"].astype(np.int64)
    cols.update(pos=start_mm[idx] / 10.0, dir=direction[idx], ax1=a1[idx], ax2=a2[idx])
    return cols, k, removed, removed_MeV


def plan_spots(beams, machine):
    """:class:`PlanSpots` of the :class:`mc.plan.IonBeam` list ``beams`` delivered by the
    :class:`mc.beam_model.Machine` ``machine`` (ConfigError for energies outside its table)."""
    parts, spot_of, beam_of, mu, e_nom = [], [], [], [], []
    offset, removed, removed_MeV = 0, 0.0, 0.0
    for b, beam in enumerate(beams):
        cols, n, lost, lost_MeV = _beam_entries(beam, machine)
        removed += lost
        removed_MeV += lost_MeV
        parts.append(cols)
        spot_of.append(cols["spot"].astype(np.int64) + offset)
        beam_of.append(np.full(cols["spot"].size, b, np.int64))
        mu.append(np.concatenate([layer.mu for layer in beam.layers]))
        e_nom.append(np.concatenate([np.full(layer.mu.size, layer.nominal_energy_MeV) for layer in beam.layers]))
        offset += n

    def cat(key):
        return np.concatenate([p[key] for p in parts])

    weight = cat("weight")
    if weight.sum() <= 0:
        raise ConfigError("dicom.plan: the selected beams deliver no protons (every spot meterset is zero)")
    cdf = np.cumsum(weight) / weight.sum()
    cdf[-1] = 1.0
    species = np.full(weight.size, SPECIES_INDEX["proton"], np.int64)
    spots = SpotArrays(cdf, cat("energy"), cat("esig"), cat("pos"), cat("dir"), cat("ax1"), cat("ax2"),
                       cat("sigma"), cat("div"), species, weight, cat("corr"))
    return PlanSpots(spots, np.concatenate(spot_of), np.concatenate(beam_of), np.concatenate(mu),
                     np.concatenate(e_nom), removed, removed_MeV)


def air_to_grid(spots, grid):
    """Lower each spot's mean energy [MeV] by the CSDA energy loss in dry air (NIST, the library's
    ``air``) along its central ray from its source plane to where the ray enters ``grid`` (module
    docstring), in place. Returns the air path lengths [cm]."""
    from physics.materials import get_material
    from physics.tables import build_tables

    air = build_tables(["air"])
    rho = get_material("air").density
    L = np.array([grid.ray_entry(spots.pos[i], spots.dir[i]) or 0.0 for i in range(spots.energy.size)])
    R = air.csda_range(0, spots.energy) - rho * L
    spots.energy[:] = air.energy_from_range(0, R)
    return L
