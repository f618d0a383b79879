"""Beam source: pencil-beam spots as plain arrays (the kernel's :class:`mc.kernel.bundles.Source`).

A spot is a Gaussian pencil beam: mean kinetic energy [MeV] with Gaussian spread (1 sigma,
MeV); central position [cm] on the source plane; unit direction; transverse Gaussian position
sigmas [cm] and angular sigmas [rad] along two unit axes perpendicular to the direction, and
the correlation coefficient rho of position and angle along each axis (the tilt of the beam's
emittance ellipse; 0 at a waist, > 0 for a diverging beam; Twiss-parameter description of a
Gaussian beam, e.g. Wiedemann, Particle Accelerator Physics, 4th ed. 2015, sec. 8.1). Along one
axis, with independent standard normal g1, g2: x = sigma g1, theta = sigma_theta (rho g1 +
sqrt(1 - rho^2) g2). The first transverse axis is the global x axis projected onto the plane normal to the
direction (the global y axis when the beam runs along x); the second is direction x first. For
a beam along +z they are +x and +y. Spots of a treatment plan (:mod:`mc.plan_source`) set
their axes to the beam-limiting-device axes of their beam.
"""

from dataclasses import dataclass

import numpy as np

from physics.species import SPECIES_INDEX

from .errors import ConfigError


@dataclass
class SpotArrays:
    """Kernel arrays of the spots (units: MeV, cm, rad) and their weights (protons)."""

    cdf: np.ndarray
    energy: np.ndarray
    energy_sigma: np.ndarray
    pos: np.ndarray
    dir: np.ndarray
    ax1: np.ndarray
    ax2: np.ndarray
    sigma: np.ndarray
    div: np.ndarray
    species: np.ndarray
    weight: np.ndarray
    corr: np.ndarray | None = None  # (n, 2) position-angle correlation along ax1, ax2; zeros if None

    def __post_init__(self):
        if self.corr is None:
            self.corr = np.zeros((self.energy.size, 2))

    def single(self, k):
        """The arrays of spot ``k`` alone (selection probability 1)."""
        sl = slice(k, k + 1)
        return SpotArrays(np.ones(1), self.energy[sl].copy(), self.energy_sigma[sl].copy(), self.pos[sl].copy(),
                          self.dir[sl].copy(), self.ax1[sl].copy(), self.ax2[sl].copy(), self.sigma[sl].copy(),
                          self.div[sl].copy(), self.species[sl].copy(), self.weight[sl].copy(),
                          self.corr[sl].copy())


def transverse_axes(direction):
    """Two unit vectors perpendicular to ``direction`` and to each other (see module doc)."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    ref = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.99 else np.array([0.0, 1.0, 0.0])
    a1 = ref - np.dot(ref, d) * d
    a1 /= np.linalg.norm(a1)
    a2 = np.cross(d, a1)
    return a1, a2


def build_spots(beam_cfg, grid=None):
    """Spot arrays from a :class:`mc.config.BeamConfig`. With ``grid`` given, check that every
    spot's central ray enters the grid (ConfigError naming the spot otherwise)."""
    spots = beam_cfg.resolved_spots()
    n = len(spots)
    energy = np.array([s["energy_MeV"] for s in spots], float)
    esig = np.array([s["energy_spread_MeV"] for s in spots], float)
    pos = np.array([s["position_mm"] for s in spots], float) / 10.0
    dirs = np.array([s["direction"] for s in spots], float)
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    ax1 = np.empty((n, 3))
    ax2 = np.empty((n, 3))
    for i in range(n):
        ax1[i], ax2[i] = transverse_axes(dirs[i])
    sigma = np.array([s["spot_sigma_mm"] for s in spots], float) / 10.0
    div = np.array([s["divergence_mrad"] for s in spots], float) / 1000.0
    corr = np.array([s["correlation"] for s in spots], float)
    weight = np.array([s["weight"] for s in spots], float)
    if weight.sum() <= 0:
        raise ConfigError("beam.spots: the spot weights sum to zero; give at least one positive weight")
    cdf = np.cumsum(weight) / weight.sum()
    cdf[-1] = 1.0
    species = np.full(n, SPECIES_INDEX[beam_cfg.particle], np.int64)
    if grid is not None:
        for i in range(n):
            if grid.ray_entry(pos[i], dirs[i]) is None:
                where = "beam" if not beam_cfg.spots else f"beam.spots[{i}]"
                lo, hi = grid.lower_cm * 10, grid.upper_cm * 10
                raise ConfigError(
                    f"{where}.position_mm/direction: the beam axis from {list(pos[i] * 10)} mm along "
                    f"{list(np.round(dirs[i], 4))} misses the grid, which spans x {lo[0]:g}..{hi[0]:g}, "
                    f"y {lo[1]:g}..{hi[1]:g}, z {lo[2]:g}..{hi[2]:g} mm; aim the beam at the phantom")
    return SpotArrays(cdf, energy, esig, pos, dirs, ax1, ax2, sigma, div, species, weight, corr)
