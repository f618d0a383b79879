"""Biologically effective dose (BED) and equieffective dose in 2-Gy fractions (EQD2) of the
linear-quadratic (LQ) model, for summing radiotherapy courses (re-irradiation).

Inputs are total physical (or RBE-weighted) doses D [Gy] of a course of n fractions and the
photon alpha/beta of the tissue [Gy]; arrays broadcast against each other, so a dose map gives
a BED or EQD2 map voxel by voxel. Outputs are in Gy.

Equations:

* BED (Fowler 1989, Br. J. Radiol. 62:679, the LQ formula E/alpha; the "extrapolated response
  dose" of Barendsen 1982, Int. J. Radiat. Oncol. Biol. Phys. 8:1981): for n fractions of d Gy,
  BED = n d (1 + d / (alpha/beta)), with no repopulation term (overall time is not modelled).
* EQD2 (Withers, Thames & Peters 1983, Radiother. Oncol. 1:187, the isoeffect relation
  D_2 = D (d + alpha/beta) / (2 + alpha/beta); Bentzen et al. 2012, Radiother. Oncol. 105:266,
  for the name EQD2): EQD2 = BED / (1 + 2 / (alpha/beta)).
* Voxel-wise: a map D of a course's total dose with n fractions is taken as n EQUAL fractions
  of d = D / n in every voxel (the dose distribution of every fraction is the same; plans with
  different fraction doses or boosts must be entered as separate courses).
* Courses add in BED (Fowler 1989; the LQ isoeffect of successive courses): BED_total =
  sum_i f_i BED_i, with f_i the recovery factor of course i (1 unless a recovery model is used).

Recovery of the spinal cord between courses (off by default). QUANTEC (Kirkpatrick, van der
Kogel & Schultheiss 2010, Int. J. Radiat. Oncol. Biol. Phys. 76:S42) summarises animal and human
re-irradiation data as partial recovery of subclinical damage evident about 6 months after
the first course and increasing over the next 2 years. Model ``stepwise_6_12_months`` is the
simple rule quoted by Doi, Tamari, Oh & Nieder 2021 (Strahlenther. Onkol. 197:463,
doi:10.1007/s00066-021-01772-7, Introduction): 25 % recovery after 6 months and 50 % after 12
months. Here a recovery r means that the earlier course's BED counts as (1 - r) BED: f = 1 for
t < 6 months, 0.75 for 6 <= t < 12 months, 0.5 for t >= 12 months, t being the time from the end
of that course to the start of the LAST course (the one whose cumulative dose is evaluated).
(Doi et al. phrase it as a re-irradiation tolerance of 125 % and 150 % of the first-course
tolerance; both readings allow the same second course when the first one
reached tolerance.) The data behind it are of the spinal cord; it is not a model for other
tissues.

Published cumulative cord limits are sums of raw BED WITHOUT recovery: Nieder et al. 2006 (Int. J.
Radiat. Oncol. Biol. Phys. 66:1446): cumulative BED <= 135.5 Gy2 (alpha/beta 2 Gy) with each course
<= 98 Gy2 and >= 6 months between courses; Sahgal et al. 2012 (Int. J. Radiat. Oncol. Biol. Phys.
82:107): thecal-sac point-maximum cumulative nBED <= ~70 Gy2/2 (EQD2 at alpha/beta 2 Gy) with the
SBRT course's Pmax <= 20-25 Gy2/2, SBRT/total <= 0.5 and >= 5 months between courses. A recovery
factor must not be combined with these limits (they were derived without one).
"""

import numpy as np

from physics.rbe import ALPHA_BETA_PRESETS_GY as _RBE_PRESETS_GY

#: Reference dose per fraction of EQD2 [Gy].
EQD2_REFERENCE_DOSE_GY = 2.0

#: Photon alpha/beta presets [Gy]: those of :data:`physics.rbe.ALPHA_BETA_PRESETS_GY` (tumour 10,
#: late_normal_tissue 2, spinal_cord 2, bone_marrow 10, with their sources there) and the cauda
#: equina (lumbar cord and nerve roots): 4 Gy, the value used for the lumbar cord in the
#: re-irradiation analyses of Sminia et al. 2002 (Strahlenther. Onkol. 178:453) and Nieder et al.
#: 2006 (Int. J. Radiat. Oncol. Biol. Phys. 66:1446, Methods: 2 Gy for cervical and thoracic
#: cord, 4 Gy for lumbar cord).
ALPHA_BETA_PRESETS_GY = {**_RBE_PRESETS_GY, "cauda_equina": 4.0}

#: Recovery models of an earlier course (see the module docstring).
RECOVERY_MODELS = ("none", "stepwise_6_12_months")


def _checked(total_dose_gy, fractions, alpha_beta_gy):
    dose = np.asarray(total_dose_gy, dtype=float)
    n = np.asarray(fractions, dtype=float)
    ab = np.asarray(alpha_beta_gy, dtype=float)
    if np.any(ab <= 0) or not np.all(np.isfinite(ab)):
        raise ValueError(f"alpha/beta must be positive and finite (Gy), got {alpha_beta_gy!r}")
    if np.any(n < 1) or np.any(n != np.round(n)):
        raise ValueError(f"fractions must be a whole number >= 1, got {fractions!r}")
    if np.any(dose < 0) or not np.all(np.isfinite(dose)):
        raise ValueError("total dose must be non-negative and finite (Gy)")
    return dose, n, ab


def bed_gy(total_dose_gy, fractions, alpha_beta_gy):
    """BED [Gy] of a course delivering ``total_dose_gy`` in ``fractions`` equal fractions to
    tissue of ``alpha_beta_gy``: D (1 + (D/n) / (alpha/beta)) (Fowler 1989)."""
    dose, n, ab = _checked(total_dose_gy, fractions, alpha_beta_gy)
    return dose * (1.0 + dose / n / ab)


def eqd2_from_bed_gy(bed, alpha_beta_gy):
    """EQD2 [Gy] of a BED [Gy]: BED / (1 + 2 Gy / (alpha/beta)) (Withers et al. 1983)."""
    ab = np.asarray(alpha_beta_gy, dtype=float)
    if np.any(ab <= 0) or not np.all(np.isfinite(ab)):
        raise ValueError(f"alpha/beta must be positive and finite (Gy), got {alpha_beta_gy!r}")
    return np.asarray(bed, dtype=float) / (1.0 + EQD2_REFERENCE_DOSE_GY / ab)


def bed_from_eqd2_gy(eqd2, alpha_beta_gy):
    """BED [Gy] of an EQD2 [Gy]: the inverse of :func:`eqd2_from_bed_gy`."""
    ab = np.asarray(alpha_beta_gy, dtype=float)
    if np.any(ab <= 0) or not np.all(np.isfinite(ab)):
        raise ValueError(f"alpha/beta must be positive and finite (Gy), got {alpha_beta_gy!r}")
    return np.asarray(eqd2, dtype=float) * (1.0 + EQD2_REFERENCE_DOSE_GY / ab)


def eqd2_gy(total_dose_gy, fractions, alpha_beta_gy):
    """EQD2 [Gy] of a course of ``fractions`` equal fractions totalling ``total_dose_gy``:
    D (d + alpha/beta) / (2 Gy + alpha/beta) with d = D/n (Withers et al. 1983)."""
    return eqd2_from_bed_gy(bed_gy(total_dose_gy, fractions, alpha_beta_gy), alpha_beta_gy)


def recovery_factor(model, months_elapsed):
    """Factor f multiplying an earlier course's BED after ``months_elapsed`` months from its end
    to the start of the new course (module docstring): 1 for ``none``; for
    ``stepwise_6_12_months`` 1 (< 6 months), 0.75 (6 to < 12 months), 0.5 (>= 12 months)."""
    if model not in RECOVERY_MODELS:
        raise ValueError(f"unknown recovery model {model!r}; use one of {', '.join(RECOVERY_MODELS)}")
    t = float(months_elapsed)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"months_elapsed must be a finite number >= 0, got {months_elapsed!r}")
    if model == "none" or t < 6.0:
        return 1.0
    return 0.75 if t < 12.0 else 0.5


def cumulative_bed_gy(courses, alpha_beta_gy):
    """Summed BED [Gy] of ``courses``, each (total dose [Gy] (array or number), fractions,
    recovery factor f): sum_i f_i BED_i (module docstring)."""
    total = 0.0
    for dose, n, factor in courses:
        if not (0.0 < factor <= 1.0):
            raise ValueError(f"a recovery factor must lie in (0, 1], got {factor!r}")
        total = total + factor * bed_gy(dose, n, alpha_beta_gy)
    return total
