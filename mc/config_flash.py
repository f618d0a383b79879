"""The ``flash`` section of the run configuration: beam time structure, oxygen-depletion model,
threshold FLASH effectiveness model and the FLASH analysis of a run (README "FLASH"). Units are
in the key names; validated like the rest of :mod:`mc.config`."""

import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from physics.tissue import TISSUE_PO2_MMHG

from .config_base import _check_material, _preset_or_number, _Strict, _Vec2


class DeliveryConfig(_Strict):
    """Beam time structure (``flash.timing``; units in the key names, scan speed in mm/ms)."""

    accelerator: Literal["cyclotron", "synchrocyclotron", "linac"] = "cyclotron"
    beam_current_nA: float = Field(default=200.0, gt=0)
    scan_speed_mm_per_ms: _Vec2 = [8.0, 8.0]
    layer_switch_down_s: float = Field(default=0.6, ge=0)
    layer_switch_up_s: float = Field(default=6.0, ge=0)
    min_spot_time_s: float = Field(default=250e-6, ge=0)
    spot_order: Literal["serpentine", "as_given"] = "serpentine"
    layer_order: Literal["descending", "as_given"] = "descending"
    pulse_length_s: float = Field(default=10e-6, gt=0)
    repetition_rate_Hz: float = Field(default=1000.0, gt=0)
    pulses_per_train: int = Field(default=0, ge=0)
    train_period_s: float = Field(default=0.0, ge=0)

    @field_validator("scan_speed_mm_per_ms")
    @classmethod
    def _speed(cls, v):
        if any((not math.isfinite(x)) or x <= 0 for x in v):
            raise ValueError(f"scan speeds must be positive (mm/ms), got {v}")
        return v

    @model_validator(mode="after")
    def _pulses(self):
        if self.accelerator != "cyclotron" and self.pulse_length_s * self.repetition_rate_Hz > 1.0:
            raise ValueError(f"flash.delivery: pulse_length_s ({self.pulse_length_s:g}) x repetition_rate_Hz "
                             f"({self.repetition_rate_Hz:g}) exceeds 1, so pulses would overlap; shorten the pulses")
        if self.pulses_per_train > 0 and self.train_period_s < self.pulses_per_train / self.repetition_rate_Hz:
            raise ValueError("flash.delivery: train_period_s is shorter than pulses_per_train / repetition_rate_Hz, "
                             "so pulse trains would overlap; lengthen the train period")
        return self


class OxygenConfig(_Strict):
    """Oxygen-depletion model parameters (``flash.oxygen``; ``flash.oxygen`` documents them):
    depletion ``law`` constant (g [mmHg/Gy], default 5.18e-4 atm/Gy x 760 mmHg/atm, the
    REFoxDep of Petersson et al. 2020's FLASH-OER code) or proportional to pO2
    (``g_proportional_per_Gy``, 0.053 per Gy, that code's default)."""

    g_mmHg_per_Gy: float = Field(default=0.39368, ge=0)
    k_mmHg: float = Field(default=0.0, ge=0)
    tau_s: float = Field(default=1.0, gt=0)
    oer_max: float = Field(default=3.0, ge=1.0)
    oer_K_mmHg: float = Field(default=7.6, gt=0)
    law: Literal["constant", "proportional"] = "constant"
    g_proportional_per_Gy: float = Field(default=0.053, ge=0)

    @model_validator(mode="after")
    def _law(self):
        if self.law == "proportional" and self.k_mmHg != 0:
            raise ValueError("flash.oxygen.k_mmHg must be 0 with law: proportional (the pO2-proportional law has no "
                             "Michaelis-Menten constant); set k_mmHg: 0 or law: constant")
        return self


class FemConfig(_Strict):
    """Threshold FLASH effectiveness model (``flash.oxygen.fem_dose``)."""

    dose_threshold_Gy: float = Field(default=4.0, ge=0)
    dose_rate_threshold_Gy_per_s: float = Field(default=40.0, gt=0)
    fmf: float = Field(default=0.7, gt=0, le=1.0)
    dose_rate_metric: Literal["pbs", "adr", "percentile", "dadr"] = "pbs"


_PO2 = float | str


def _check_po2(v):
    return _preset_or_number(v, TISSUE_PO2_MMHG, "tissue pO2", "pO2 in mmHg", 0.0, 760.0)


class FlashConfig(_Strict):
    """FLASH analysis of the run (``flash.analysis``): the plan delivered with ``delivery`` and,
    for comparison, at ``conventional_current_nA``; dose rates, oxygen depletion, FLASH-modified
    dose and the DVH/DRVH of ``structure`` (a material name, or for a treatment plan the name of
    one of its structures); ``tissue_pO2``: baseline pO2 per material (for a plan also per
    structure; structures override materials, later ones win where they overlap)."""

    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    conventional_current_nA: float = Field(default=2.0, gt=0)
    oxygen: OxygenConfig = Field(default_factory=OxygenConfig)
    tissue_pO2: dict[str, _PO2] = Field(default_factory=dict)
    default_tissue: _PO2 = "normal_tissue"
    pbs_threshold_Gy: float = Field(default=0.01, ge=0)
    percentile: float = Field(default=0.01, ge=0, lt=0.5)
    fem: FemConfig = Field(default_factory=FemConfig)
    structure: str = "red_marrow"  # a library material, or for a plan a structure of its RTSTRUCT
    spot_dose_threshold: float = Field(default=1e-3, ge=0, lt=1.0)

    @field_validator("tissue_pO2")
    @classmethod
    def _tissues(cls, v):
        return {k: _check_po2(val) for k, val in v.items()}

    @field_validator("default_tissue")
    @classmethod
    def _default_tissue(cls, v):
        return _check_po2(v)

    def check_names(self, structures=None):
        """The keys of ``tissue_pO2`` and ``structure`` must be library materials (canonical
        names returned), or, for a plan, also structures of its RTSTRUCT (``structures``: their
        names, checked once the structure set is read). Raises ValueError naming the field."""
        def name(where, key):
            if structures is not None and key in structures:
                return key
            try:
                return _check_material(key)
            except ValueError as exc:
                extra = f"; or one of the plan's structures {sorted(structures)}" if structures is not None else ""
                raise ValueError(f"flash.{where}: {exc}{extra}") from None

        self.tissue_pO2 = {name(f"tissue_pO2.{k}", k): v for k, v in self.tissue_pO2.items()}
        self.structure = name("structure", self.structure)
