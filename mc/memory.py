"""The memory a run needs, estimated from its configuration before anything large is allocated,
and the memory the machine has, so that a run too large for it is refused with a message
instead of failing after minutes of work.

The estimate counts the arrays of one rank, per voxel of the dose grid (bytes; V voxels):

* the grid: material index (uint8) and density (float32): 5 V;
* the tallies (:class:`mc.tally.RankTallies`): per energy tally (the dose, and the dose to water
  and the secondary dose when asked for) an integer sum and a second moment, 16 V; with LET the
  12 LET sums and 9 second moments, 168 V;
* the batch buffer the kernel writes into (:class:`mc.tally.BatchBuffers`): 8 V per energy
  tally, 96 V with LET; per-spot scoring adds a second one and the touched-voxel list (9 V);
* rank 0 of several ranks, and per-spot scoring, keep the run's totals beside the rank's own
  tallies (a second copy); one rank without per-spot scoring adds into the totals directly;
* the end of the run (rank 0): the batch buffer and the rank's own tallies are released first,
  then each energy tally gives its dose and standard error in float32 (8 V) and the deposit per
  primary in float64 (8 V) and is released (its second moment before the deposit per primary
  is made), so the peak is the tallies and 8 V; LET adds its 11 averages and errors (88 V);

plus a fixed :data:`PROCESS_BYTES` for the interpreter, numpy, numba and the compiled kernel.
The per-spot dose store, a plan's CT and structures, FLASH and RBE arrays are not in it; the
message says the estimate is a lower bound for such runs.

The memory available is the least of: the kernel's ``MemAvailable`` (``/proc/meminfo``), the
limit of the process's control group less what the group uses (cgroup v2 ``memory.max``,
v1 ``memory.limit_in_bytes``), and ``$FLASHMC_MEMORY_LIMIT`` (bytes, or with a suffix k, M, G,
T: a cap for shared nodes). Ranks on one node share it (MPI's shared-memory split).
"""

import os
import re
from dataclasses import dataclass, field

from .errors import ConfigError
from .kernel.layout import N_LET, N_LET_ION

#: Bytes of one rank besides its arrays (interpreter, numpy, scipy, numba and the compiled
#: kernels): the peak resident size of a run on a 5 x 5 x 5 grid on the development VM,
#: 191-193 MiB (benchmarks/memory.py), rounded up.
PROCESS_BYTES = 200 * 2**20

_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass
class MemoryEstimate:
    """Bytes a rank needs: per voxel by part (``parts``), the peak per voxel, and in all."""

    voxels: int
    parts: dict = field(default_factory=dict)  # name -> bytes per voxel at the peak
    per_voxel: float = 0.0
    process: int = PROCESS_BYTES

    @property
    def total(self):
        return int(self.process + self.per_voxel * self.voxels)


def _energy_tallies(cfg):
    out = cfg.output
    return 1 + bool(out.dose_to_water) + bool(out.secondary_dose)


def run_memory(cfg, voxels, ranks=1, rank=0, per_spot=None):
    """The :class:`MemoryEstimate` of rank ``rank`` of a run of ``cfg`` on ``ranks`` ranks and
    a grid of ``voxels`` voxels (``per_spot``: default on when the config has a ``flash``
    block). See the module docstring for what is counted."""
    if per_spot is None:
        per_spot = getattr(cfg, "flash", None) is not None
    n_e = _energy_tallies(cfg)
    let = bool(cfg.output.let) or cfg.rbe is not None
    ion = cfg.dicom is None and cfg.beam.is_ion
    n_let = N_LET_ION if ion else N_LET  # an ion beam: a block of sums per fragment group and the MKM sum
    tallies = 16 * n_e + (8 * (n_let + 9) if let else 0)
    buffer = 8 * n_e + (8 * n_let if let else 0)
    transport = {"grid": 5, "tallies": tallies, "batch buffer": buffer}
    if per_spot:
        transport["per-spot buffer and touched list"] = buffer + 9
    holds_total = rank == 0 and (ranks > 1 or per_spot)
    if holds_total:
        transport["run totals (rank 0)"] = tallies
    # (the tallies are read one after the other, each released once its float32 dose and
    # standard error and its float64 deposit per primary are out)
    end = {"grid": 5, "tallies": tallies, "dose and standard error (float32)": 8}
    if let:
        # 4 averages per block of sums (2 blocks; an ion beam: 5, with the groups) and 3 standard
        # errors, float64; an ion beam adds its z1D* map (float64) and 4 group doses (float32)
        end["LET averages and standard errors"] = 8 * 11 if not ion else 8 * (4 * 5 + 3 + 1) + 4 * 4
    peak = transport if sum(transport.values()) >= sum(end.values()) or rank != 0 else end
    est = MemoryEstimate(int(voxels), dict(peak))
    est.per_voxel = float(sum(peak.values()))
    return est


def _bytes(text):
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ConfigError(f"FLASHMC_MEMORY_LIMIT: {text!r} is not a size; give bytes, e.g. 8G or 8000000000")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def available_bytes():
    """Bytes this node can give the run now (see the module docstring), or None where it
    cannot be told (not Linux and no ``$FLASHMC_MEMORY_LIMIT``)."""
    out = []
    limit = os.environ.get("FLASHMC_MEMORY_LIMIT", "").strip()
    if limit:
        out.append(_bytes(limit))
    info = _read("/proc/meminfo")
    if info:
        m = re.search(r"^MemAvailable:\s+(\d+)\s+kB", info, re.M)
        if m:
            out.append(int(m.group(1)) * 1024)
    for lim, use in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                     ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        a, b = _read(lim), _read(use)
        if a and b and a.isdigit() and b.isdigit() and int(a) < 2**60:
            out.append(max(int(a) - int(b), 0))
    return min(out) if out else None


def _gb(n):
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check_memory(cfg, shape, ranks=1, ranks_on_node=1, per_spot=None, available=None):
    """ConfigError (one line: needed against available, per rank and on the node, and what to
    change) if a run of ``cfg`` on a grid of ``shape`` would not fit; else the rank-0
    :class:`MemoryEstimate`. ``available``: bytes on the node (default :func:`available_bytes`;
    no check when that is None)."""
    voxels = int(shape[0]) * int(shape[1]) * int(shape[2])
    first = run_memory(cfg, voxels, ranks, 0, per_spot)
    other = run_memory(cfg, voxels, ranks, 1, per_spot) if ranks_on_node > 1 else None
    need = first.total + (ranks_on_node - 1) * (other.total if other else 0)
    have = available_bytes() if available is None else available
    if have is not None and need > have:
        grid = "x".join(str(int(n)) for n in shape)
        per_rank = f"{_gb(first.total)} on rank 0" + (f", {_gb(other.total)} on each other rank" if other else "")
        biggest = max(first.parts, key=first.parts.get)
        fix = ("a coarser dose grid (geometry.voxel_mm, or dicom.dose_grid_mm), a smaller phantom or a crop "
               "(dicom.crop_to)")
        if cfg.output.let or cfg.output.dose_to_water or cfg.output.secondary_dose:
            fix += ", fewer optional tallies (output.let, output.dose_to_water, output.secondary_dose)"
        if ranks_on_node > 1:
            fix += ", or fewer ranks per node"
        lower = " at least" if (per_spot or cfg.dicom is not None or cfg.rbe is not None) else ""
        raise ConfigError(f"geometry: the run needs{lower} {_gb(need)} of memory ({per_rank}; {ranks_on_node} "
                          f"rank(s) on this node; {first.per_voxel:.0f} B per voxel on {voxels / 1e6:.3g} M voxels "
                          f"({grid}), most for the {biggest}) but {_gb(have)} are available; use {fix}")
    return first
