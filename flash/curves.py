"""Command line: FLASH sparing curves from a YAML file.

    python -m flash.curves curves.yaml [--set key=value ...]

writes ``<output_dir>/flash_curves.csv`` and ``<output_dir>/flash_curves.png``
(:mod:`flash.sparing`). The YAML format (every key optional; ``examples/flash_curves.yaml``):

    output_dir: results/flash_curves
    oxygen: {g_mmHg_per_Gy: 0.39368, k_mmHg: 0.0, tau_s: 1.0, oer_max: 3.0, oer_K_mmHg: 7.6}
    tissues: [bone_marrow, normal_tissue, hypoxic_tumour, {name: mine, pO2_mmHg: 20}]
    versus_dose_rate: {doses_Gy: [2, 8, 15, 30], dose_rate_min_Gy_per_s: 0.01,
                       dose_rate_max_Gy_per_s: 1.0e4, points: 61}
    versus_dose: {dose_rate_Gy_per_s: 100, dose_min_Gy: 0.5, dose_max_Gy: 40, points: 80}
    pulses: 1              # deliver each point in this many equal pulses
    pulse_period_s: null   # between pulse starts (default: back to back)
    fem: {dose_threshold_Gy: 4, dose_rate_threshold_Gy_per_s: 40, fmf: 0.7}   # or null
"""

import argparse
import math
import os
import sys

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mc.config import FemConfig, OxygenConfig, UniqueKeyLoader, apply_overrides, format_validation_error
from mc.errors import ConfigError
from mc.output import check_writable_folder
from physics.tissue import TISSUE_PO2_MMHG

from .oxygen import OxygenParams
from .sparing import curve_rows, plot_curves, write_csv


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Tissue(_Strict):
    name: str
    pO2_mmHg: float = Field(ge=0, le=760)


class _VsRate(_Strict):
    doses_Gy: list[float] = [2.0, 8.0, 15.0, 30.0]
    dose_rate_min_Gy_per_s: float = Field(default=0.01, gt=0)
    dose_rate_max_Gy_per_s: float = Field(default=1.0e4, gt=0)
    points: int = Field(default=61, ge=2, le=10000)

    @field_validator("doses_Gy")
    @classmethod
    def _pos(cls, v):
        if not v or any(not (math.isfinite(x) and x > 0) for x in v):
            raise ValueError("give positive doses in Gy")
        return v

    @model_validator(mode="after")
    def _range(self):
        if self.dose_rate_max_Gy_per_s <= self.dose_rate_min_Gy_per_s:
            raise ValueError("dose_rate_max_Gy_per_s must exceed dose_rate_min_Gy_per_s")
        return self


class _VsDose(_Strict):
    dose_rate_Gy_per_s: float = Field(default=100.0, gt=0)
    dose_min_Gy: float = Field(default=0.5, gt=0)
    dose_max_Gy: float = Field(default=40.0, gt=0)
    points: int = Field(default=80, ge=2, le=10000)

    @model_validator(mode="after")
    def _range(self):
        if self.dose_max_Gy <= self.dose_min_Gy:
            raise ValueError("dose_max_Gy must exceed dose_min_Gy")
        return self


class CurvesConfig(_Strict):
    output_dir: str = "results/flash_curves"
    oxygen: OxygenConfig = Field(default_factory=OxygenConfig)
    tissues: list[str | _Tissue] = ["bone_marrow", "normal_tissue", "hypoxic_tumour"]
    versus_dose_rate: _VsRate = Field(default_factory=_VsRate)
    versus_dose: _VsDose = Field(default_factory=_VsDose)
    pulses: int = Field(default=1, ge=1, le=10000)
    pulse_period_s: float | None = Field(default=None, gt=0)
    fem: FemConfig | None = Field(default_factory=FemConfig)

    @field_validator("tissues")
    @classmethod
    def _tissues(cls, v):
        for t in v:
            if isinstance(t, str) and t not in TISSUE_PO2_MMHG:
                raise ValueError(f"unknown tissue {t!r}; use one of {', '.join(TISSUE_PO2_MMHG)} or "
                                 "{name: ..., pO2_mmHg: ...}")
        if not v:
            raise ValueError("give at least one tissue")
        return v

    def tissue_list(self):
        return [(t, TISSUE_PO2_MMHG[t]) if isinstance(t, str) else (t.name, t.pO2_mmHg) for t in self.tissues]


def load_curves_config(path, overrides=()):
    """Validated :class:`CurvesConfig` from a YAML file (ConfigError naming the field)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=UniqueKeyLoader) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    apply_overrides(data, overrides)
    try:
        return CurvesConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + format_validation_error(exc)) from None


def check_output_dir(path):
    """Fail before any work if ``output_dir`` cannot hold the CSV and the PNG (ConfigError): a
    file in its way, no permission to create or write it, or an output file name taken by a
    folder."""
    d = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(d) and not os.path.isdir(d):
        raise ConfigError(f"output_dir: {path!r} is a file, not a folder; remove it or choose another output_dir")
    check_writable_folder(d, "output_dir", "choose a writable output_dir")
    for name in ("flash_curves.csv", "flash_curves.png"):
        if os.path.isdir(os.path.join(d, name)):
            raise ConfigError(f"output_dir: {os.path.join(d, name)!r} is a folder; remove it or choose another "
                              "output_dir")
    return d


def run_curves(cfg):
    """Compute the curves of a :class:`CurvesConfig`; returns (csv path, png path, rows)."""
    out_dir = check_output_dir(cfg.output_dir)
    par = OxygenParams(**cfg.oxygen.model_dump())
    vr, vd = cfg.versus_dose_rate, cfg.versus_dose
    rates = np.logspace(np.log10(vr.dose_rate_min_Gy_per_s), np.log10(vr.dose_rate_max_Gy_per_s), vr.points)
    doses = np.linspace(vd.dose_min_Gy, vd.dose_max_Gy, vd.points)
    fem = None if cfg.fem is None else {"dose_threshold_Gy": cfg.fem.dose_threshold_Gy,
                                        "dose_rate_threshold": cfg.fem.dose_rate_threshold_Gy_per_s, "fmf": cfg.fem.fmf}
    tissues = cfg.tissue_list()
    rows = curve_rows(vr.doses_Gy, rates, tissues, par, "dose_rate", fem, cfg.pulses, cfg.pulse_period_s)
    rows += curve_rows(doses, [vd.dose_rate_Gy_per_s], tissues, par, "dose", fem, cfg.pulses, cfg.pulse_period_s)
    csv_path = write_csv(os.path.join(out_dir, "flash_curves.csv"), rows)
    png = plot_curves(os.path.join(out_dir, "flash_curves.png"), rows)
    return csv_path, png, rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m flash.curves",
                                description="FLASH sparing curves (DMF versus dose rate and dose) to CSV and PNG")
    p.add_argument("config", help="curves YAML (see examples/flash_curves.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        cfg = load_curves_config(args.config, args.overrides)
        csv_path, png, rows = run_curves(cfg)
    except (ConfigError, ValueError) as exc:
        print(f"flash.curves: error: {exc}", file=sys.stderr)
        return 2
    print(f"flash.curves: {len(rows)} points; wrote {csv_path} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
