"""RBE-weighted dose of a run: the models of :mod:`physics.rbe` applied to a
:class:`mc.run.RunResult`'s dose [Gy] and dose-averaged LET in water [keV/um], voxel by voxel,
with the photon alpha/beta [Gy] of each voxel's material. With ``rbe.dose_per_fraction_Gy``
the models are evaluated at the fraction dose: the dose scaled so that its mean over the
voxels at >= 95 % of the maximum is the given dose per fraction.
"""

from physics.rbe import alpha_beta_map, rbe


def apply_rbe(result, rbe_cfg):
    """Fill ``result.rbe``/``dose_rbe`` from its dose and water LETd (``physics.rbe``)."""
    grid = result.grid
    ab = alpha_beta_map(grid.material_id, grid.materials, rbe_cfg.alpha_beta_Gy, rbe_cfg.default_alpha_beta_Gy)
    D = result.dose
    dmax = float(D.max())
    if rbe_cfg.dose_per_fraction_Gy is not None and dmax > 0:
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
                       "dose_per_fraction_Gy": rbe_cfg.dose_per_fraction_Gy}
