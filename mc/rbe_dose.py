"""RBE-weighted dose of a run: the models of :mod:`physics.rbe` applied to a
:class:`mc.run.RunResult`'s dose [Gy] and dose-averaged LET in water [keV/um], voxel by voxel,
with the photon alpha/beta [Gy] of each voxel's material. With ``rbe.dose_per_fraction_Gy``
the models are evaluated at the fraction dose: the dose scaled so that its mean over the
voxels at >= 95 % of the maximum is the given dose per fraction. For a treatment plan (a
:class:`mc.patient.PatientCase`) the dose is absolute: the models are evaluated at the dose of
one fraction (the dose divided by the fractions it is reported for), and the alpha/beta of the
structures named in ``dicom.alpha_beta_Gy`` replace the material map inside them.

Ion beams have the modified microdosimetric kinetic model instead (``rbe.models: [mkm]``,
:mod:`physics.mkm`, Inaniwa et al. 2010): the kernel adds eps z1D* for every LET-scored deposit
eps of a particle of charge Z at kinetic energy per nucleon E (z1D* of that ion in water, from
the table of :func:`mkm_zstar_table`, linear in ln T between its points), so that z1D*_mix =
sum eps z1D* / sum eps per voxel is the dose-weighted mean of (M11) over every step of every
species (per-step scoring); alpha = alpha0 + beta0 z1D*_mix (M12) and the RBE at the fraction
dose from (M14) with the cell's X-ray alpha_x, beta_x. The cell is the ``rbe.mkm`` block
(default HSG, Inaniwa 2010).
"""

import numpy as np

from physics import mkm
from physics.rbe import alpha_beta_map, rbe
from physics.species import SPECIES

#: Energies per nucleon of the z1D* table [MeV/u]: 0.1-1000 MeV/u, 20 points per decade (z1D*
#: changes by < 4 % between neighbours; linear interpolation in ln E errs by < 0.3 %).
ZSTAR_GRID_MEV_U = mkm.energy_grid_MeV_u(0.1, 1000.0, 20)


def mkm_cell(rbe_cfg):
    """The :class:`physics.mkm.MKMCell` of the ``rbe.mkm`` block (HSG of Inaniwa 2010 unless given)."""
    c = rbe_cfg.mkm
    return mkm.MKMCell(c.name, c.alpha0_per_Gy, c.beta0_per_Gy2, c.domain_radius_um, c.nucleus_radius_um,
                       c.alpha_x_per_Gy, c.beta_x_per_Gy2)


def mkm_zstar_table(tables, cell):
    """z1D* [Gy] of each table row's species in liquid water on the tables' energy grid (rows x
    energies, the layout of :class:`mc.kernel.bundles.Tables`): per charge Z, (M10) of
    :mod:`physics.mkm` at the energies per nucleon of :data:`ZSTAR_GRID_MEV_U` with the LET of
    the first species of that charge (its water stopping power from the tables; isotopes of one
    element at the same E/u differ by < 1 % in LET), then for every species interpolated in
    ln(E/u) at T/A. The same for every material of a species (the MKM's domains are water)."""
    species = SPECIES[:len(tables.species_names)]
    n_m = tables.n_materials
    E = tables.energy
    s_water = tables.stopping * tables.water_ratio  # water's mass stopping power at each row's energies
    charges = sorted({s.charge for s in species})
    first = {z: next(i for i, s in enumerate(species) if s.charge == z) for z in charges}
    let = np.array([np.interp(np.log(ZSTAR_GRID_MEV_U * species[first[z]].A), np.log(E),
                              s_water[first[z] * n_m]) * 0.1 for z in charges])  # MeV cm^2/g -> keV/um
    table = mkm.build_zstar_table(charges, ZSTAR_GRID_MEV_U, let, cell)
    out = np.empty((len(species) * n_m, E.size))
    for i, s in enumerate(species):
        row = table.lookup(np.full(E.size, s.charge), E / s.A)
        out[i * n_m:(i + 1) * n_m] = row[None, :]
    out.setflags(write=False)
    return out


def apply_mkm(result, rbe_cfg):
    """Fill ``result.rbe['mkm']``, ``dose_rbe['mkm']`` from the run's z1D*_mix (M11) and its dose
    at the fraction dose (see :func:`apply_rbe`)."""
    cell = mkm_cell(rbe_cfg)
    D = result.dose
    dmax = float(D.max())
    if rbe_cfg.dose_per_fraction_Gy is not None and dmax > 0:
        d_ref = float(D[D >= 0.95 * dmax].mean())
        scale = rbe_cfg.dose_per_fraction_Gy / d_ref
    else:
        d_ref, scale = float("nan"), 1.0
    z = result.zstar_mix
    r = mkm.rbe(D * scale, z, cell)
    r[D <= 0] = 0.0
    result.rbe, result.dose_rbe = {"mkm": r.astype(np.float32)}, {"mkm": (r * D).astype(np.float32)}
    result.rbe_info = {"alpha_beta_Gy": np.full(D.shape, cell.alpha_x_per_Gy / cell.beta_x_per_Gy2),
                       "reference_dose_Gy": d_ref, "fraction_dose_scale": scale,
                       "dose_per_fraction_Gy": rbe_cfg.dose_per_fraction_Gy, "mkm_cell": cell}


def _structure_alpha_beta(ab, case):
    """The alpha/beta map with the structures' values of ``dicom.alpha_beta_Gy`` (in order)."""
    from physics.rbe import ALPHA_BETA_PRESETS_GY

    for name, value in case.alpha_beta_Gy.items():
        ab[case.masks[name]] = ALPHA_BETA_PRESETS_GY[value] if isinstance(value, str) else value
    return ab


def apply_rbe(result, rbe_cfg, case=None):
    """Fill ``result.rbe``/``dose_rbe`` from its dose and water LETd (``physics.rbe``); ``case``:
    the :class:`mc.patient.PatientCase` of a plan (absolute fraction dose, structure alpha/beta).
    The MKM of an ion beam: :func:`apply_mkm`."""
    if list(rbe_cfg.models) == ["mkm"]:
        return apply_mkm(result, rbe_cfg)
    grid = result.grid
    ab = alpha_beta_map(grid.material_id, grid.materials, rbe_cfg.alpha_beta_Gy, rbe_cfg.default_alpha_beta_Gy)
    if case is not None:
        ab = _structure_alpha_beta(ab, case)
    D = result.dose
    dmax = float(D.max())
    if case is not None:
        d_ref, scale = float("nan"), 1.0 / case.fractions
    elif rbe_cfg.dose_per_fraction_Gy is not None and dmax > 0:
        d_ref = float(D[D >= 0.95 * dmax].mean())
        scale = rbe_cfg.dose_per_fraction_Gy / d_ref
    else:
        d_ref, scale = float("nan"), 1.0
    d_frac = D * scale
    let_w = result.let["let_d_water"]
    result.rbe, result.dose_rbe = {}, {}
    for model in rbe_cfg.models:
        r = rbe(model, d_frac, let_w, ab)
        r[D <= 0] = 0.0
        result.rbe[model] = r
        result.dose_rbe[model] = r * D
    result.rbe_info = {"alpha_beta_Gy": ab, "reference_dose_Gy": d_ref, "fraction_dose_scale": scale,
                       "dose_per_fraction_Gy": None if case is not None else rbe_cfg.dose_per_fraction_Gy}
