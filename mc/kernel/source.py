"""Sampling a primary from the beam's spots (the kernel's source stage)."""

import math

import numpy as np

from mc.jit import jit_stage

from .rng import gauss_pair, uniform


@jit_stage
def sample_source(st, src):
    """A source particle of the :class:`mc.kernel.bundles.Source` ``src``: the spot drawn with
    its probability (``src.cdf``), the kinetic energy from the spot's Gaussian (redrawn until
    positive), the position and the direction from independent Gaussians along the spot's two
    transverse axes (position sigma, projected-angle sigma, their correlation rho: theta =
    sigma_theta (rho g1 + sqrt(1 - rho^2) g2) for the position's standard normal g1, see
    :mod:`mc.source`). Returns (x, y, z [cm], u, v, w (unit direction), T [MeV], species)."""
    k = np.searchsorted(src.cdf, uniform(st), side="right")
    n_spots = src.cdf.shape[0]
    if k >= n_spots:
        k = n_spots - 1
    sp = src.species[k]
    T = src.energy[k]
    if src.energy_sigma[k] > 0.0:
        while True:
            ga, gb = gauss_pair(st)
            T = src.energy[k] + src.energy_sigma[k] * ga
            if T > 0.0:
                break
    g1, g2 = gauss_pair(st)
    a1, a2 = gauss_pair(st)
    a1 = src.div[k, 0] * (src.corr[k, 0] * g1 + src.corr_c[k, 0] * a1)
    a2 = src.div[k, 1] * (src.corr[k, 1] * g2 + src.corr_c[k, 1] * a2)
    g1 *= src.sigma[k, 0]
    g2 *= src.sigma[k, 1]
    pos, d, e1, e2 = src.pos, src.dir, src.ax1, src.ax2
    x = pos[k, 0] + g1 * e1[k, 0] + g2 * e2[k, 0]
    y = pos[k, 1] + g1 * e1[k, 1] + g2 * e2[k, 1]
    z = pos[k, 2] + g1 * e1[k, 2] + g2 * e2[k, 2]
    u = d[k, 0] + a1 * e1[k, 0] + a2 * e2[k, 0]
    v = d[k, 1] + a1 * e1[k, 1] + a2 * e2[k, 1]
    w = d[k, 2] + a1 * e1[k, 2] + a2 * e2[k, 2]
    nrm = 1.0 / math.sqrt(u * u + v * v + w * w)
    return x, y, z, u * nrm, v * nrm, w * nrm, T, sp
