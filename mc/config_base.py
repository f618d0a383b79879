"""Building blocks of the run configuration (:mod:`mc.config`, :mod:`mc.config_flash`): the strict
pydantic base model (unknown keys are errors, no inf or nan), fixed-length vectors and the
validators shared by several sections."""

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from physics.materials import get_material, material_names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


_Vec3 = Annotated[list[float], Field(min_length=3, max_length=3)]
_Vec2 = Annotated[list[float], Field(min_length=2, max_length=2)]


def _check_material(name):
    try:
        return get_material(name).name
    except KeyError:
        raise ValueError(f"unknown material {name!r}; use one of: {', '.join(material_names())}") from None


def _preset_or_number(v, presets, what, unit, lo, hi):
    """A preset name from ``presets`` or a finite number in [lo, hi] (``what`` and ``unit`` for
    the messages)."""
    if isinstance(v, str):
        if v not in presets:
            raise ValueError(f"unknown {what} preset {v!r}; use a {unit} or one of {', '.join(presets)}")
        return v
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{what} must be between {lo:g} and {hi:g} {unit.split()[-1]}, got {v}")
    return float(v)
