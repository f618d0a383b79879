"""Relative biological effectiveness (RBE) of protons and the RBE-weighted dose.

Pure numpy on the tallies: inputs are the physical dose per fraction d [Gy], the dose-averaged
LET in water LETd [keV/um] and the photon alpha/beta of the tissue [Gy] (arrays broadcast
against each other); outputs are dimensionless RBE and RBE-weighted dose [Gy(RBE)].

All variable-RBE models here share the linear-quadratic (LQ) form: the proton alpha and beta
are the photon ones scaled, alpha_p = RBE_max alpha_x and sqrt(beta_p) = RBE_min sqrt(beta_x).
Equal effect, alpha_x D_x + beta_x D_x^2 = alpha_p d + beta_p d^2, then gives (e.g. McNamara
et al. 2015, eq. 1; Wedenberg et al. 2013, eq. 3)

    RBE(d) = D_x/d = [sqrt((a/b)^2 + 4 d (a/b) RBE_max + 4 d^2 RBE_min^2) - a/b] / (2 d),

with limits RBE -> RBE_max as d -> 0 and RBE -> RBE_min as d -> infinity. The models differ in
RBE_max and RBE_min as functions of LETd and alpha/beta:

* **McNamara** (McNamara, Schuemann & Paganetti 2015, Phys. Med. Biol. 60:8399, eqs. 5-6; fit
  to 285 in-vitro data sets): RBE_max = 0.99064 + 0.35605 LETd/(a/b),
  RBE_min = 1.1012 - 0.0038703 sqrt(a/b) LETd.
* **Wedenberg** (Wedenberg, Lind & Hardemark 2013, Acta Oncol. 52:580, eq. 6 with q = 0.434
  Gy keV^-1 um): RBE_max = 1 + 0.434 LETd/(a/b), RBE_min = 1 (beta unchanged).
* **Carabe** (Carabe, Moteabbed, Depauw, Schuemann & Paganetti 2012, Phys. Med. Biol.
  57:1159, eqs. 7-8; reference (a/b)_x = 2.686 Gy of the V79 data they fitted):
  RBE_max = 0.843 + 0.154 (2.686/(a/b)) LETd, RBE_min = 1.09 + 0.006 (2.686/(a/b)) LETd.
* **constant**: RBE = 1.1 everywhere (ICRU Report 78, 2007; the clinical convention).

The models were fitted for protons; LETd is the dose-averaged LET of protons in water (the
clinical convention, e.g. McNamara et al. 2015 sec. 2.1), which is what ``mc`` tallies as
``let_d_water``.
"""

import numpy as np

#: Clinical constant RBE of protons (ICRU Report 78, 2007).
RBE_CONSTANT = 1.1

#: Models with their names in the config and the output (``/rbe/<name>``).
MODELS = ("constant", "mcnamara", "wedenberg", "carabe")

#: Photon alpha/beta presets [Gy]. Tumour (10 Gy) and late-responding normal tissue (2 Gy) are
#: the radiobiological conventions of the linear-quadratic model (early-responding tissues and
#: most tumours ~10 Gy, late-responding tissues ~1-4 Gy; Joiner & van der Kogel, Basic Clinical
#: Radiobiology, 2009/2018). Spinal cord: QUANTEC (Kirkpatrick et al. 2010, Int. J. Radiat.
#: Oncol. Biol. Phys. 76:S42) reviews estimates from 0.87 Gy upward; 2 Gy is the value
#: commonly used for cord constraints. Bone marrow: we found no measured human alpha/beta;
#: haematopoietic tissue is early-responding (its damage appears within weeks), so the
#: early-responding convention of 10 Gy is used. This is a convention, not a measurement: set
#: the value of your own protocol.
ALPHA_BETA_PRESETS_GY = {
    "tumour": 10.0,
    "late_normal_tissue": 2.0,
    "spinal_cord": 2.0,
    "bone_marrow": 10.0,
}


def _arrays(let_d, alpha_beta):
    L = np.asarray(let_d, dtype=float)
    ab = np.asarray(alpha_beta, dtype=float)
    if np.any(ab <= 0) or not np.all(np.isfinite(ab)):
        raise ValueError("alpha/beta must be positive and finite (Gy)")
    if np.any(L < 0) or not np.all(np.isfinite(L)):
        raise ValueError("LETd must be non-negative and finite (keV/um)")
    return L, ab


def rbe_max_min(model, let_d, alpha_beta):
    """(RBE_max, RBE_min) of ``model`` at LETd [keV/um] and photon alpha/beta [Gy]."""
    L, ab = _arrays(let_d, alpha_beta)
    if model == "mcnamara":
        return 0.99064 + 0.35605 * L / ab, 1.1012 - 0.0038703 * np.sqrt(ab) * L
    if model == "wedenberg":
        return 1.0 + 0.434 * L / ab, np.ones(np.broadcast(L, ab).shape)
    if model == "carabe":
        f = 2.686 / ab * L
        return 0.843 + 0.154 * f, 1.09 + 0.006 * f
    if model == "constant":
        one = np.full(np.broadcast(L, ab).shape, RBE_CONSTANT)
        return one, one
    raise ValueError(f"unknown RBE model {model!r}; use one of {', '.join(MODELS)}")


def rbe_lq(dose, alpha_beta, rbe_max, rbe_min):
    """LQ RBE at physical dose per fraction ``dose`` [Gy] from RBE_max and RBE_min (module
    docstring). Where the dose is zero the low-dose limit RBE_max is returned."""
    d = np.asarray(dose, dtype=float)
    ab = np.asarray(alpha_beta, dtype=float)
    rmax = np.asarray(rbe_max, dtype=float)
    rmin = np.asarray(rbe_min, dtype=float)
    d, ab, rmax, rmin = np.broadcast_arrays(d, ab, rmax, rmin)
    out = np.array(rmax, dtype=float, copy=True)
    pos = d > 0
    dp, abp = d[pos], ab[pos]
    root = np.sqrt(abp * abp + 4.0 * dp * abp * rmax[pos] + 4.0 * dp * dp * rmin[pos] ** 2)
    out[pos] = (root - abp) / (2.0 * dp)
    return out


def rbe(model, dose, let_d, alpha_beta):
    """RBE of ``model`` at physical dose per fraction ``dose`` [Gy], LETd [keV/um] and photon
    alpha/beta [Gy]; arrays broadcast."""
    if model == "constant":
        return np.full(np.broadcast(np.asarray(dose, float), np.asarray(let_d, float),
                                    np.asarray(alpha_beta, float)).shape, RBE_CONSTANT)
    rmax, rmin = rbe_max_min(model, let_d, alpha_beta)
    return rbe_lq(dose, alpha_beta, rmax, rmin)


def rbe_weighted_dose(model, dose, let_d, alpha_beta):
    """RBE-weighted dose [Gy(RBE)] = RBE x dose, voxel by voxel (``dose`` per fraction, Gy)."""
    return rbe(model, dose, let_d, alpha_beta) * np.asarray(dose, float)


def alpha_beta_map(material_id, material_names, per_material, default):
    """Per-voxel photon alpha/beta [Gy] from a material -> value mapping (values in Gy or preset
    names of :data:`ALPHA_BETA_PRESETS_GY`) and a default for the other materials."""
    def value(v, where):
        if isinstance(v, str):
            if v not in ALPHA_BETA_PRESETS_GY:
                raise ValueError(f"{where}: unknown alpha/beta preset {v!r}; use a number in Gy or one of "
                                 f"{', '.join(ALPHA_BETA_PRESETS_GY)}")
            return ALPHA_BETA_PRESETS_GY[v]
        v = float(v)
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{where}: alpha/beta must be a positive number of Gy, got {v}")
        return v

    lut = np.array([value(per_material.get(name, default), f"rbe.alpha_beta_Gy.{name}")
                    for name in material_names])
    return lut[np.asarray(material_id)]
