"""RBE-weighted dose of a run: the models of :mod:`physics.rbe` applied to a
:class:`mc.run.RunResult`'s dose [Gy] and dose-averaged LET in water [keV/um], voxel by voxel,
with the photon alpha/beta [Gy] of each voxel's material. With ``rbe.dose_per_fraction_Gy``
the models are evaluated at the fraction dose: the dose scaled so that its mean over the
voxels at >= 95 % of the maximum is the given dose per fraction. For a treatment plan (a
:class:`mc.patient.PatientCase`) the dose is absolute: the models are evaluated at the dose of
one fraction (the dose divided by the fractions it is reported for), and the alpha/beta of the
structures named in ``dicom.alpha_beta_Gy`` replace the material map inside them.
"""

from physics.rbe import alpha_beta_map, rbe


def _structure_alpha_beta(ab, case):
    """The alpha/beta map with the structures' values of ``dicom.alpha_beta_Gy`` (in order)."""
    from physics.rbe import ALPHA_BETA_PRESETS_GY

    for name, value in case.alpha_beta_Gy.items():
        ab[case.masks[name]] = ALPHA_BETA_PRESETS_GY[value] if isinstance(value, str) else value
    return ab


def apply_rbe(result, rbe_cfg, case=None):
    """Fill ``result.rbe``/``dose_rbe`` from its dose and water LETd (``physics.rbe``); ``case``:
    the :class:`mc.patient.PatientCase` of a plan (absolute fraction dose, structure alpha/beta)."""
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
