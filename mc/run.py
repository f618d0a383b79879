"""Runner and command line: ``python -m mc.run config.yaml [--set key=value ...]``.

Primaries are split into ``run.batches`` batches; batch b draws its random numbers from a
generator seeded by ``numpy.random.SeedSequence(seed, spawn_key=(b,))``, so a batch's histories
do not depend on which process or thread runs it. Dose is reported per primary and scaled to
the number of protons delivered (``beam.protons``; else the sum of the spot weights when
``beam.spots`` is given; else the number of primaries simulated).

:func:`simulate` runs the steps in turn: :func:`prepare` (grid, spots, tables, batches and
rounds, tallies: a :class:`RunState`), :func:`resume_from_checkpoint` (``--resume``),
:func:`warm_up` (compilation before the clock starts), :func:`run_rounds` (the round loop:
transport, reduction into rank 0, stopping rules, checkpoints, signals) and :func:`finalize`
(the :class:`RunResult`). :func:`main` is the command line.
"""

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import yaml

from physics.tables import build_tables

from .balance import energy_balance
from .batch import batch_seed, kernel_inputs, run_batch, spot_seed, with_spots
from .checkpoint import checkpoint_path, config_fingerprint, read_checkpoint, write_checkpoint
from .config import load_configs
from .errors import ConfigError
from .parallel import get_comm
from .problem import build_geometry, build_source
from .rbe_dose import apply_rbe
from .schedule import Rounds, batch_sizes, batches_total, layout, layout_warnings
from .tally import (BatchBuffers, RankTallies, compile_kernels, deposit_quantum, energy_to_dose,
                    mean_relative_uncertainty, run_energy_bound, tally_doses)
from .kernel.layout import COUNTER_SEGMENTS, COUNTER_STEPS, N_LET, N_LET_ION


@dataclass
class RunResult:
    """Everything a run produces (doses in Gy, energies in MeV)."""

    grid: object
    dose: np.ndarray  # float32 (as the doses below)
    dose_std: np.ndarray
    edep_per_primary: np.ndarray  # float64 (every MeV booked: the energy balance is checked to 1e-9)
    protons: float
    primaries: int
    energy_balance: dict
    run_info: dict = field(default_factory=dict)
    dose_to_water: np.ndarray | None = None
    dose_to_water_std: np.ndarray | None = None
    dose_secondary: np.ndarray | None = None
    dose_secondary_std: np.ndarray | None = None
    edep_secondary_per_primary: np.ndarray | None = None
    primary_fluence_z: np.ndarray | None = None
    spot_dose: object | None = None  # mc.spot_dose.SpotDoseMap (per-spot mode)
    flash: object | None = None  # flash.analysis.FlashResult
    let: dict | None = None  # name -> LET array [keV/um] (mc.tally.LetTally.averages)
    let_std: dict | None = None  # let_d, let_t standard errors [keV/um]
    dose_group: dict | None = None  # ion beam: fragment group -> dose [Gy] (physics.species.FRAGMENT_GROUPS)
    zstar_mix: np.ndarray | None = None  # ion beam with the MKM: dose-weighted z1D* per voxel [Gy] (physics.mkm)
    rbe: dict | None = None  # model -> RBE array
    dose_rbe: dict | None = None  # model -> RBE-weighted dose [Gy(RBE)]
    rbe_info: dict | None = None  # alpha/beta map, fraction-dose scaling
    spots: object | None = None  # mc.source.SpotArrays: the beam's spots as transported
    case: object | None = None  # mc.patient.PatientCase of a plan recomputation

    @property
    def dose_per_primary(self):
        """Dose per primary [Gy] (float32, computed when asked: one grid fewer held)."""
        return self.dose / np.float32(self.protons)


def spot_allocation(weights, primaries, batches):
    """Stratified allocation of histories to spots for per-spot scoring: spot k gets
    n_k = floor(N w_k / W) histories (at least one per batch for every spot with weight; the
    remainder of N goes to the largest fractional parts), split into ``batches`` near-equal
    parts. Returns n[k, b]."""
    w = np.asarray(weights, float)
    share = primaries * w / w.sum()
    n = np.maximum(np.floor(share).astype(np.int64), batches * (w > 0).astype(np.int64))
    rest = int(primaries - n.sum())
    if rest > 0:
        order = np.argsort(-(share - np.floor(share)), kind="stable")
        n[order[:rest]] += 1
    out = np.zeros((w.size, batches), np.int64)
    for b in range(batches):
        out[:, b] = n // batches + (b < n % batches)
    return out


def run_layout(cfg, ranks, voxels=0):
    """The batches and rounds of a run of ``cfg`` on ``ranks`` ranks and a grid of ``voxels``
    voxels (:func:`mc.schedule.layout`)."""
    return layout(cfg.run.primaries, ranks, cfg.run.batches, cfg.run.round_batches, voxels)


class RunInterrupted(Exception):
    """The run stopped on SIGTERM/SIGINT after writing a checkpoint (resume with --resume)."""


@dataclass
class SpotPlan:
    """Per-spot mode: ``alloc[k, b]`` histories of spot k in batch b (:func:`spot_allocation`),
    the weight ``factor[k, b]`` of their deposits, the kernel's inputs with each spot alone
    (``inputs``) and
    the buffer (``scratch``, with a touched-voxel list) that one spot's histories are
    transported into before they are read out and moved to the batch buffer."""

    alloc: np.ndarray
    factor: np.ndarray
    inputs: list
    scratch: BatchBuffers


@dataclass
class RunState:
    """A run from set-up to result (see :func:`prepare`): what is transported (grid, spots,
    physics tables, kernel parameters), how (primaries per batch, rounds of batches, per-spot
    plan), the tallies of this rank (``local``) and of the run (``total``, rank 0 only), the
    batch buffer, the checkpoint, and how far the run has gone. Times in seconds."""

    cfg: object  # mc.config.Config
    comm: object  # mc.parallel.SerialComm or MPIComm
    grid: object  # geometry.voxel.VoxelGrid
    spots: object  # mc.source.SpotArrays
    tables: object  # physics.tables tables of the grid's materials
    inputs: object  # the kernel's inputs (mc.batch.kernel_inputs)
    nuclear: bool
    sizes: object  # primaries of each batch (mc.schedule.BatchSizes, or a list in per-spot mode)
    rounds: object  # mc.schedule.Rounds: (first batch, end batch) of each round
    primaries_max: int  # primaries of all rounds
    local: RankTallies
    total: RankTallies | None
    buf: BatchBuffers
    checkpoint: str  # path (mc.checkpoint.checkpoint_path)
    fingerprint: str  # mc.checkpoint.config_fingerprint
    spot_threshold: float  # per-spot storage threshold, fraction of the spot's maximum dose
    spot_plan: SpotPlan | None = None  # per-spot mode
    first_batch: int = 0  # the batches before it are in total already (a resumed checkpoint's)
    rounds_done: int = 0  # rounds of this invocation transported and summed into total
    my_batches: int = 0  # batches this rank transported in this invocation
    slow_s: float = 0.0  # (tests) seconds this rank waits after each batch
    announce: bool = False  # rank 0 says on stderr when transport starts, with the layout
    batches_per_rank: list = field(default_factory=list)  # (rank 0) batches each rank transported
    done: int = 0  # primaries of those rounds
    elapsed0: float = 0.0  # transport time before the checkpoint resumed from
    t0: float = 0.0  # time.perf_counter() when the batch loop started
    last_ckpt: float = 0.0  # time.perf_counter() of the last checkpoint

    @property
    def batches_done(self):
        """The batches summed into the totals: 0 .. batches_done - 1 (one rank adding into the
        totals directly: every batch it completed; else those of the complete rounds)."""
        if self.local is self.total:
            return self.first_batch + self.my_batches
        return self.rounds[self.rounds_done - 1][1] if self.rounds_done else self.first_batch

    @property
    def per_spot(self):
        return self.spot_plan is not None

    def elapsed(self):
        """Transport time so far, that before a resumption included."""
        return self.elapsed0 + time.perf_counter() - self.t0


_STOP_SIGNAL = {"flag": False}


def _on_signal(signum, frame):  # pragma: no cover  (exercised through the subprocess test)
    _STOP_SIGNAL["flag"] = True


def _spot_plan(cfg, spots, inputs, shape, water, sec, let, batches):
    """The :class:`SpotPlan` of a per-spot run of ``batches`` batches and the primaries of each
    batch."""
    alloc = spot_allocation(spots.weight, cfg.run.primaries, batches)
    sizes = [int(x) for x in alloc.sum(axis=0)]
    scratch = BatchBuffers(shape, water, sec, let)
    scratch.enable_touched()
    per_spot = [with_spots(inputs, spots.single(k)) for k in range(spots.weight.size)]
    # batch b weights spot k's deposits by (P_k/P) n_b / n_kb: every batch is an unbiased
    # estimate of n_b times the mean deposit per primary, wherever the run stops
    factor = (spots.weight / spots.weight.sum())[:, None] * np.asarray(sizes, float)[None, :] \
        / np.maximum(alloc, 1)
    return SpotPlan(alloc, factor, per_spot, scratch), sizes


def _beam_energy_label(beam):
    """'150 MeV' for a proton beam, '290 MeV/u' for an ion beam."""
    return f"{beam.energy_MeV_per_u:g} MeV/u" if beam.is_ion else f"{beam.energy_MeV:g} MeV"


def tally_flags(cfg):
    """The optional tallies ``cfg`` asks for: (dose to water, secondary dose, LET); LET is also
    scored when an RBE model needs it. The LET entry is False or the number of LET sums:
    ``N_LET`` for a proton beam, ``N_LET_ION`` (a block per fragment group) for an ion beam."""
    let = cfg.output.let or cfg.rbe is not None
    if let:
        let = N_LET_ION if cfg.dicom is None and cfg.beam.is_ion else N_LET
    return cfg.output.dose_to_water, cfg.output.secondary_dose, let


def prepare(cfg, grid=None, per_spot=None, comm=None, spot_threshold=None):
    """Set a run up on this rank (arguments as :func:`simulate`): grid, spots, physics tables,
    kernel parameters, the primaries of each batch and the rounds, the tallies and buffers,
    the checkpoint's path and the configuration's fingerprint. Returns the :class:`RunState`."""
    comm = comm or get_comm()
    if per_spot is None:
        per_spot = getattr(cfg, "flash", None) is not None
    grid = build_geometry(cfg) if grid is None else grid
    spots = build_source(cfg, grid)
    tables = build_tables(grid.materials, cfg.physics.mean_excitation_energy_eV,
                          ions=cfg.dicom is None and cfg.beam.is_ion)
    water, sec, let = tally_flags(cfg)
    zstar = None
    if cfg.rbe is not None and "mkm" in cfg.rbe.models:
        from .rbe_dose import mkm_cell, mkm_zstar_table

        zstar = mkm_zstar_table(tables, mkm_cell(cfg.rbe))
    inputs = kernel_inputs(grid, tables, spots, cfg.physics, water, sec, let, cfg.physics.nuclear, zstar)
    lay = run_layout(cfg, comm.size, grid.material_id.size)
    n_spots = spots.weight.size if per_spot else 0
    plan = None
    if per_spot:
        plan, sizes = _spot_plan(cfg, spots, inputs, grid.shape, water, sec, let, lay.batches)
        primaries_max = int(plan.alloc.sum())
    else:
        sizes = batch_sizes(cfg.run.primaries, lay.batches)
        primaries_max = cfg.run.primaries
    q = deposit_quantum(run_energy_bound(primaries_max, spots.energy, spots.energy_sigma))
    local = RankTallies(grid.shape, water, sec, let, n_spots, q)
    # one rank (without per-spot scoring) adds its batches straight into the run's totals, in
    # batch order: no second copy of the tallies, and a stop keeps every complete batch
    shared = comm.size == 1 and not per_spot
    total = local if shared else RankTallies(grid.shape, water, sec, let, n_spots, q) if comm.rank == 0 else None
    buf = BatchBuffers(grid.shape, water, sec, let)
    K = lay.round_batches
    rounds = Rounds(0, len(sizes), K)
    if spot_threshold is None:
        spot_threshold = getattr(getattr(cfg, "flash", None), "spot_dose_threshold", 0.0)
    return RunState(cfg=cfg, comm=comm, grid=grid, spots=spots, tables=tables, inputs=inputs,
                    nuclear=cfg.physics.nuclear, sizes=sizes, rounds=rounds, primaries_max=primaries_max,
                    local=local, total=total, buf=buf, checkpoint=checkpoint_path(cfg),
                    fingerprint=config_fingerprint(cfg, _input_fingerprint(cfg)), spot_threshold=spot_threshold,
                    spot_plan=plan)


def _input_fingerprint(cfg):
    """Fingerprint of the files a plan recomputation reads ('' for a phantom)."""
    if cfg.dicom is None:
        return ""
    from .patient import load_case

    return load_case(cfg.dicom).fingerprint()


def resume_from_checkpoint(st):
    """Load the run's checkpoint into rank 0's totals and continue after its last round (every
    rank; ConfigError on every rank if there is none or it belongs to another configuration)."""
    meta = None
    if st.comm.rank == 0:
        try:
            meta = read_checkpoint(st.checkpoint, st.total, st.fingerprint)
        except ConfigError as exc:
            meta = {"error": str(exc)}
    meta = st.comm.bcast(meta)
    if "error" in meta:
        raise ConfigError(meta["error"])
    st.first_batch, st.done, st.elapsed0 = meta["batches_done"], meta["primaries_done"], meta["elapsed_s"]
    # this invocation's rounds, from the batch after the checkpoint's
    st.rounds = Rounds(st.first_batch, len(st.sizes), st.rounds.k)


def progress_bar(st):
    """The tqdm bar of the run's primaries on stderr (rank 0)."""
    from tqdm import tqdm

    return tqdm(total=st.primaries_max, initial=st.done, unit="p", desc="protons", file=sys.stderr, smoothing=0.1)


def warm_up(st, resumed=False):
    """Compile (or load from the numba cache) the kernels the run calls before the clock starts,
    so that the reported rate is the transport rate; write the dose tallies and the batch
    buffer once (their memory pages mapped before the batch loop; a resumed total holds the
    checkpoint and is left as it is); wait for every rank (set-up times differ between ranks)."""
    # (per spot: a touched-voxel list, longer than the one-element placeholder, selects the
    # kernel with the optional tallies, see mc.kernel.transport.transport_batch)
    warm = BatchBuffers((2, 1, 1) if st.per_spot else (1, 1, 1))
    if st.per_spot:
        warm.enable_touched()
    with compile_timer(st.comm.rank == 0 and not kernels_cached([st.cfg], st.per_spot)):
        run_batch(batch_seed(st.cfg.run.seed, 0), 0, st.inputs, warm)
        reduction = None if st.local is st.total else "pack" if st.comm.size > 1 else "move"
        compile_kernels(st.local.let is not None, reduction)
    if st.local is not st.total or not resumed:
        st.local.touch()
    if st.total is not None and st.total is not st.local and not resumed:
        st.total.touch()
    st.buf.edep.fill(0.0)
    st.comm.barrier()


def _catch_stop_signals():
    """Let SIGTERM and SIGINT ask the run to stop (:data:`_STOP_SIGNAL`) and clear the request;
    returns the previous handlers (none outside the main thread, where none are installed)."""
    old = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread
        old = {}
    _STOP_SIGNAL["flag"] = False
    return old


def _transport_spot_batch(st, b, stop):
    """Per-spot mode: transport batch ``b`` spot by spot into the batch buffer, each spot's
    deposits weighted by its factor and also read out into ``st.local.spots``; False if ``stop``
    (see :func:`mc.batch.run_batch`) abandoned it (the round is then abandoned too)."""
    plan, buf, scratch = st.spot_plan, st.buf, st.spot_plan.scratch
    for k in range(st.spots.weight.size):
        if plan.alloc[k, b] == 0:
            continue
        if not run_batch(spot_seed(st.cfg.run.seed, b, k), int(plan.alloc[k, b]), plan.inputs[k], scratch, stop):
            buf.discard()
            return False
        idx = scratch.take_touched()
        vals = scratch.move_to(buf, idx, plan.factor[k, b])
        st.local.spots.add(k, idx, vals)
    buf.fluence_z += scratch.fluence_z
    scratch.fluence_z[:] = 0.0
    buf.counters += scratch.counters
    scratch.counters[:] = 0.0
    return True


def _stop_requested(st):
    """Whether this rank should stop now: a stop signal arrived or ``run.time_limit_s`` of
    transport in this invocation has passed."""
    limit = st.cfg.run.time_limit_s
    return _STOP_SIGNAL["flag"] or (limit is not None and time.perf_counter() - st.t0 >= limit)


def _transport_round(st, r, fail_batch):
    """Transport this rank's batches of round ``r`` and add them to ``st.local``; True if a
    stop was requested first (:func:`_stop_requested`, asked before each batch and between the
    kernel calls of a batch, so within a fraction of a second). A rank whose batch fails prints
    the error and, with several ranks, aborts the whole job (``fail_batch``: the batch that
    fails on purpose, for tests)."""
    comm = st.comm
    lo, hi = st.rounds[r]

    def stop():
        return _stop_requested(st)

    try:
        for b in comm.batches(lo, hi, st.cfg.run.schedule == "dynamic"):
            if stop():
                return True
            if b == fail_batch:
                raise RuntimeError(f"injected failure in batch {b} (FLASHMC_TEST_FAIL_BATCH)")
            if st.per_spot:
                complete = _transport_spot_batch(st, b, stop)
            else:
                complete = run_batch(batch_seed(st.cfg.run.seed, b), st.sizes[b], st.inputs, st.buf, stop)
            if not complete:
                return True
            st.local.add(st.buf, st.sizes[b])
            st.my_batches += 1
            if st.slow_s:  # fault injection for tests: a slow rank
                time.sleep(st.slow_s)
    except Exception as exc:  # a failing rank takes the whole job down, loudly
        import traceback

        traceback.print_exc()
        print(f"flashmc: error: rank {comm.rank} of {comm.size} failed in round {r}: {exc}; "
              "aborting the run (no output written)", file=sys.stderr)
        if comm.size > 1:
            comm.abort(1)
        raise
    return False


def _abandon_round(st):
    """After a stop request: abandon the round in progress (every rank; one rank adding into the
    totals directly keeps its complete batches) and write the checkpoint (rank 0)."""
    if st.local is st.total:
        lo = st.rounds[st.rounds_done][0] if st.rounds_done < len(st.rounds) else st.batches_done
        st.done += batches_total(st.sizes, lo, st.batches_done)
        st.local.reduce_into(st.comm, st.total)  # (nothing to move: clears the block written)
    else:
        st.local.zero()
    if st.local.spots is not None:
        st.local.spots.discard()
        st.local.gather_spots_into(st.comm, st.total)
    if st.comm.rank == 0:
        write_checkpoint(st.checkpoint, st.total, st.batches_done, st.done, st.elapsed(), st.fingerprint)


def _sum_round(st, r):
    """Sum round ``r``'s tallies of every rank into rank 0's totals; returns its primaries."""
    st.local.reduce_into(st.comm, st.total)
    st.local.reduce_counts_into(st.comm, st.total)
    if st.local.spots is not None:
        st.local.spots.commit()
    st.rounds_done = r + 1
    lo, hi = st.rounds[r]
    n_round = batches_total(st.sizes, lo, hi)
    st.done += n_round
    return n_round


def _stopping_rules(st):
    """Rank 0 at the end of a round: (the stop reason or None, whether a checkpoint is due)."""
    run = st.cfg.run
    now = time.perf_counter()
    stop = None
    if st.rounds_done == len(st.rounds):
        stop = "primaries"
    elif run.target_uncertainty is not None and mean_relative_uncertainty(st.total.dose) <= run.target_uncertainty:
        stop = "target_uncertainty"
    elif run.time_limit_s is not None and now - st.t0 >= run.time_limit_s:
        stop = "time_limit"
    # (a time limit keeps the checkpoint of the complete rounds, for --resume)
    return stop, (stop is None and now - st.last_ckpt >= run.checkpoint_interval_s) or stop == "time_limit"


def _end_round(st):
    """Apply the stopping rules (decided on rank 0, sent to every rank), gather the per-spot
    entries into rank 0 when needed and write a checkpoint when due; returns the stop reason
    or None."""
    comm = st.comm
    stop, need_ckpt = _stopping_rules(st) if comm.rank == 0 else (None, False)
    stop, need_ckpt = comm.bcast((stop, need_ckpt))
    if st.local.spots is not None and (comm.size == 1 or stop is not None or need_ckpt):
        st.local.gather_spots_into(comm, st.total)
    if need_ckpt and comm.rank == 0:
        write_checkpoint(st.checkpoint, st.total, st.batches_done, st.done, st.elapsed(), st.fingerprint)
        st.last_ckpt = time.perf_counter()
    return stop


def run_rounds(st, bar=None):
    """Transport the rounds (every rank), summing each into rank 0,
    until a stopping rule holds; ``bar``: a progress bar (rank 0) or None. A stop signal
    writes the checkpoint and raises :class:`RunInterrupted`. Returns (stop reason, transport
    time in s); the signal handlers are restored, the bar closed and the communicator
    released on every way out."""
    old = _catch_stop_signals()
    fail_batch = int(os.environ.get("FLASHMC_TEST_FAIL_BATCH", "-1"))  # fault injection for tests
    slow = os.environ.get("FLASHMC_TEST_SLOW_RANK", "")  # "rank:seconds", a rank that lags after each batch
    if slow and int(slow.split(":")[0]) == st.comm.rank:
        st.slow_s = float(slow.split(":")[1])
    st.t0 = time.perf_counter()
    st.last_ckpt = st.t0
    stop_reason = "primaries"
    st.rounds_done = 0
    if st.announce and st.comm.rank == 0:
        print(f"flashmc: transporting {st.primaries_max - st.done} primaries in {len(st.sizes) - st.first_batch} "
              f"batches, rounds of {st.rounds.k}, on {st.comm.size} rank(s)", file=sys.stderr, flush=True)
    try:
        for r in range(len(st.rounds)):
            interrupted = _transport_round(st, r, fail_batch)
            if st.comm.any(interrupted or _STOP_SIGNAL["flag"]):
                signalled = st.comm.any(_STOP_SIGNAL["flag"])
                _abandon_round(st)
                resume = f"checkpoint {st.checkpoint}; continue with --resume"
                if signalled:
                    raise RunInterrupted(f"interrupted after {st.done} primaries; {resume}")
                if st.done == 0:
                    raise RunInterrupted(f"time limit reached before any batch was complete (no result written); "
                                         f"{resume}")
                stop_reason = "time_limit"  # the complete batches are the result
                break
            n_round = _sum_round(st, r)
            stop = _end_round(st)
            if bar is not None:
                bar.update(n_round)
            if stop is not None:
                stop_reason = stop
                break
        st.batches_per_rank = st.comm.gather(st.my_batches)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if bar is not None:
            bar.close()
        st.comm.release()
    return stop_reason, st.elapsed()


def delivered_protons(cfg, spots, primaries):
    """Protons the dose is scaled to: for a plan, the protons of its spots in one fraction times
    the fractions the dose is reported for (:class:`mc.patient.PatientCase`); else
    ``beam.protons``; else the sum of the spot weights when ``beam.spots`` is given; else the
    number of primaries simulated."""
    if cfg.dicom is not None:
        from .patient import load_case

        return float(spots.weight.sum()) * load_case(cfg.dicom).fractions
    if cfg.beam.protons is not None:
        return float(cfg.beam.protons)
    if cfg.beam.spots:
        return float(spots.weight.sum())
    return float(primaries)


def finalize(st, stop_reason, elapsed):
    """Rank 0, after the last round: remove the checkpoint (the run is complete) and turn the
    run's tallies into the :class:`RunResult` (doses in Gy for the delivered protons)."""
    cfg, grid, total = st.cfg, st.grid, st.total
    if stop_reason != "time_limit" and os.path.exists(st.checkpoint):
        os.unlink(st.checkpoint)  # the run is complete (a time limit keeps it for --resume)
    primaries = st.done
    tally, counters = total.dose, total.counters
    st.buf = None  # the batch buffers and this rank's own tallies are done with: their memory back first
    if st.local is not total:
        st.local = None
    protons = delivered_protons(cfg, st.spots, primaries)
    to_gy = energy_to_dose(1.0, 1.0, grid.voxel_volume_cm3)  # Gy g cm^-3 per MeV in a voxel
    mru = mean_relative_uncertainty(tally)
    dose, dose_std = tally_doses(tally, grid.density, to_gy * protons)
    tally.a2 = None  # (the second moment is in dose_std; the mean next from a1)
    edep = tally.mean_per_primary()
    tally.a1 = None
    eb = energy_balance(counters)
    result = RunResult(
        grid=grid, dose=dose, dose_std=dose_std, edep_per_primary=edep, protons=protons, primaries=primaries,
        energy_balance=eb,
        run_info={"elapsed_s": elapsed, "primaries": primaries, "batches": len(st.sizes),
                  "round_batches": st.rounds.k, "deposit_quantum_MeV": total.dose.q,
                  "seed": cfg.run.seed, "protons_per_s": primaries / max(elapsed, 1e-12),
                  "steps": counters[COUNTER_STEPS], "segments": counters[COUNTER_SEGMENTS],
                  "nuclear": bool(st.nuclear), "per_spot": bool(st.per_spot),
                  "stop_reason": stop_reason, "ranks": st.comm.size,
                  "batches_per_rank": np.array(st.batches_per_rank, np.int64),
                  "mean_relative_uncertainty": mru},
        primary_fluence_z=total.fluence / primaries, spots=st.spots,
    )
    if st.per_spot:
        # Gy per MeV of deposit in each voxel, for the delivered protons (in double precision: the
        # grid's densities are float32)
        spot_to_gy = energy_to_dose(np.ones(grid.shape), grid.density.astype(np.float64), grid.voxel_volume_cm3) \
            * protons / primaries
        result.spot_dose = total.spots.finalize(spot_to_gy, st.spot_threshold)
    if total.water is not None:
        result.dose_to_water, result.dose_to_water_std = tally_doses(total.water, grid.density, to_gy * protons)
    if total.sec is not None:
        result.edep_secondary_per_primary = total.sec.mean_per_primary()
        result.dose_secondary, result.dose_secondary_std = tally_doses(total.sec, grid.density, to_gy * protons)
    if total.let is not None:
        result.let = total.let.averages()
        result.let_std = total.let.std()
        result.dose_group = total.let.group_doses(grid.density, to_gy * protons / primaries)
        result.zstar_mix = total.let.zstar_mix()
    if cfg.dicom is not None:
        from .patient import load_case

        result.case = load_case(cfg.dicom)
    if cfg.rbe is not None:
        apply_rbe(result, cfg.rbe, result.case)
    return result


def simulate(cfg, progress=False, grid=None, per_spot=None, spot_threshold=None, comm=None, resume=False,
             announce=False):
    """Run the Monte Carlo described by ``cfg`` (a validated :class:`mc.config.Config`).

    Batches are processed in rounds of ``run.round_batches``; within a round, batch b runs on
    rank b mod (number of ranks) (``comm``: :func:`mc.parallel.get_comm` by default). Each
    batch's random stream depends only on (seed, batch), so the result does not depend on the
    number of ranks (to the rounding of the reduction). After each round the ranks' tallies are
    summed into rank 0, which applies the stopping rules and writes the checkpoint
    (``output.path`` + ``.checkpoint.npz``) every ``run.checkpoint_interval_s``; on SIGTERM or
    SIGINT the round in progress is abandoned, the checkpoint of the last complete round is
    written and :class:`RunInterrupted` is raised. ``resume`` continues from the checkpoint.
    Returns the :class:`RunResult` on rank 0 and None on the other ranks.

    ``per_spot`` (default: on when the config has a ``flash`` block) scores the dose of every
    spot separately (:class:`mc.spot_dose.SpotDose`): histories are allocated to spots in
    proportion to their weights (:func:`spot_allocation`, stratified sampling) and in batch b
    spot k's deposits are weighted by (P_k/P)(n_b/n_kb), so the total dose is the sum of the
    per-spot doses exactly and estimates the same dose as random spot sampling. ``spot_threshold``
    (default ``flash.spot_dose_threshold``, else 0): per-spot entries below this fraction of
    the spot's maximum dose are kept only in the per-voxel remainder."""
    st = prepare(cfg, grid, per_spot, comm, spot_threshold)
    st.announce = announce
    if resume:
        resume_from_checkpoint(st)
    bar = progress_bar(st) if progress and st.comm.rank == 0 else None
    warm_up(st, resumed=resume)
    stop_reason, elapsed = run_rounds(st, bar)
    if st.comm.rank != 0:
        return None
    return finalize(st, stop_reason, elapsed)


def check_output_path(path):
    """Fail before transport if ``output.path`` cannot be written (ConfigError)."""
    from .output import check_writable_folder

    check_writable_folder(os.path.dirname(os.path.abspath(path)), "output.path", "choose a writable location")
    if os.path.isdir(path):
        raise ConfigError(f"output.path: {path!r} is a directory; give a file name such as dose.h5")


#: The message printed (stderr, rank 0) before a run whose transport kernel is not yet in the
#: cache compiles it (measured on the 2-core development VM: the README's example compiles in
#: about 20 s and transports in under 1 s).
COMPILE_NOTICE = ("flashmc: compiling the transport kernel (first run after an install or an update: about "
                  "20-40 s on 2 cores; later runs load it from the cache, see python -m mc.jit)")


def kernels_cached(cfgs, per_spot=None):
    """Whether the numba cache holds, for the current sources, the transport kernel that each run
    of ``cfgs`` calls (:func:`mc.jit.is_cached`): the one with the optional tallies when an
    optional tally is on or the dose is scored per spot (``per_spot``, by default when the config
    has a ``flash`` block), else the plain one; for an ion beam, the kernel with the ion
    reactions (see :func:`mc.kernel.transport.transport_batch`). The variants of the kernel
    closure share one numba index file, so an ion kernel is taken as cached only if the
    fragmentation sampler it alone calls (:func:`physics.fermi_breakup.sample_breakup`) is."""
    from physics.fermi_breakup import sample_breakup

    from .jit import is_cached
    from .kernel import transport as kt

    for cfg in cfgs:
        spot = cfg.flash is not None if per_spot is None else per_spot
        optional = any(tally_flags(cfg)) or spot
        if cfg.dicom is None and cfg.beam.is_ion:
            kernel = kt.KERNEL_ION_OPTIONAL if optional else kt.KERNEL_ION_PLAIN
            if not is_cached(sample_breakup):
                return False
        else:
            kernel = kt.KERNEL_OPTIONAL if optional else kt.KERNEL_PLAIN
        if not is_cached(kernel):
            return False
    return True


class compile_timer:
    """While the kernels compile (``on``: rank 0 of a run whose kernel is not cached): on a
    terminal, the seconds elapsed on one line of stderr, updated every second; then, on any
    stream, how long compiling took."""

    def __init__(self, on):
        self.on, self.tty = on, on and sys.stderr.isatty()

    def __enter__(self):
        import threading

        self.t0, self.done = time.perf_counter(), threading.Event()
        if self.tty:
            self.thread = threading.Thread(target=self._tick, daemon=True)
            self.thread.start()
        return self

    def _tick(self):
        while not self.done.wait(1.0):
            print(f"\rflashmc: compiling ... {time.perf_counter() - self.t0:.0f} s", end="", file=sys.stderr,
                  flush=True)

    def __exit__(self, *exc):
        if not self.on:
            return False
        self.done.set()
        if self.tty:
            self.thread.join()
            print("\r", end="", file=sys.stderr)
        print(f"flashmc: kernels compiled in {time.perf_counter() - self.t0:.0f} s (cached for later runs)",
              file=sys.stderr, flush=True)
        return False


def check_run_memory(cfg, grid, comm, ranks_on_node):
    """Refuse (ConfigError on every rank, with the first rank's message) a run whose tallies would
    not fit in the memory of a node (:func:`mc.memory.check_memory`), before they are allocated."""
    from .memory import check_memory

    msg = None
    try:
        check_memory(cfg, grid.shape, comm.size, ranks_on_node)
    except ConfigError as exc:
        msg = str(exc)
    msgs = comm.gather(msg)
    msg = comm.bcast(next((m for m in msgs if m), None) if comm.rank == 0 else None)
    if msg:
        raise ConfigError(msg)


def check_flash_structure(cfg, grid):
    """A phantom's ``flash.structure`` must be a material that some voxel of the grid holds
    (ConfigError otherwise: its DVH and sparing would be reported over no voxels)."""
    if cfg.flash is None or cfg.dicom is not None:
        return
    name = cfg.flash.structure
    present = [grid.materials[i] for i in np.unique(grid.material_id)]
    if name not in present:
        raise ConfigError(f"flash.structure: no voxel of the geometry holds {name!r}; give one of the materials "
                          f"present, {', '.join(present)}")


def _parser():
    p = argparse.ArgumentParser(prog="python -m mc.run", description="flashmc proton Monte Carlo: "
                                "YAML config in, 3D dose with uncertainty out (HDF5).")
    p.add_argument("config", help="YAML configuration file (see README 'Configuration')")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by dotted key, e.g. --set beam.energy_MeV=100 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (batch systems)")
    p.add_argument("--no-plot", action="store_true", help="do not write the depth-dose PNG")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoint (output.path + .checkpoint.npz)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    comm = get_comm()
    try:
        runs = load_configs(args.config, args.overrides)
        prepared = []
        on_node = comm.ranks_on_node()
        for cfg, resolved, text in runs:
            grid = build_geometry(cfg)
            build_source(cfg, grid)  # validate the beam against the grid before any work
            check_flash_structure(cfg, grid)
            check_output_path(cfg.output.path)
            check_run_memory(cfg, grid, comm, on_node)
            if comm.rank == 0:
                for w in layout_warnings(run_layout(cfg, comm.size, grid.material_id.size)):
                    print(f"flashmc: warning: {w}", file=sys.stderr, flush=True)
            prepared.append((cfg, resolved, text, grid))
        if comm.rank == 0 and not kernels_cached([cfg for cfg, *_ in runs]):
            print(COMPILE_NOTICE, file=sys.stderr, flush=True)
        paths = [os.path.abspath(c.output.path) for c, *_ in prepared]
        if len(set(paths)) < len(paths):
            raise ConfigError("output.path: the runs of this file write to the same file; give each run its own "
                              "output.path")
    except ConfigError as exc:
        if comm.rank == 0:
            print(f"flashmc: error: {exc}", file=sys.stderr)
        return 2
    for cfg, resolved, text, grid in prepared:
        try:
            _run_one(args, cfg, resolved, text, grid, comm)
        except RunInterrupted as exc:
            if comm.rank == 0:
                print(f"flashmc: {exc}", file=sys.stderr)
            return 3
        except ConfigError as exc:
            if comm.rank == 0:
                print(f"flashmc: error: {exc}", file=sys.stderr)
            return 2
    return 0


#: Voxels of a plan whose dose the summary and the figure look at: mass density at least this
#: [g/cm^3] (tissue, lung included; not air, where a voxel's mass is 1/800 of water's and single
#: nuclear events make the dose spiky).
TISSUE_DENSITY_G_CM3 = 0.1


def _body(cfg, result):
    """For a plan: the voxels of tissue (:data:`TISSUE_DENSITY_G_CM3`) inside the ``dicom.crop_to``
    structure if given; None for a phantom."""
    if result.case is None:
        return None
    tissue = result.grid.density >= TISSUE_DENSITY_G_CM3
    return tissue if cfg.dicom.crop_to is None else tissue & result.case.masks[cfg.dicom.crop_to]


def _run_one(args, cfg, resolved, text, grid, comm):
    """Run one configuration and write its outputs (rank 0); with ``dicom.dose_per_beam`` then
    recompute each beam on its own (:func:`_run_beams`)."""
    show = not args.quiet and sys.stderr.isatty() and comm.rank == 0
    result = simulate(cfg, progress=show, grid=grid, comm=comm, resume=args.resume, announce=not args.quiet)
    msg = _write_outputs(args, cfg, resolved, text, result) if result is not None else []
    if cfg.dicom is not None and cfg.dicom.dose_per_beam:
        msg += _run_beams(cfg, resolved, text, comm, result)
    for m in msg:
        print(f"flashmc: {m}")


def _run_beams(cfg, resolved, text, comm, plan_result):
    """``dicom.dose_per_beam``: the dose of every selected beam as an RT Dose of summation type
    BEAM (and its HDF5, ``<output>_beam<number>.h5``). A plan of one beam gives it from the plan's
    run; otherwise each beam is a run of its own (every rank takes part) with the run's primaries
    shared in proportion to the beams' protons, independent of the plan's run (the beam doses sum
    to the plan dose within their statistics). Returns the messages (rank 0)."""
    from .dicom_out import write_case_doses
    from .output import write_result
    from .patient import load_case

    case = load_case(cfg.dicom)
    base = os.path.splitext(os.path.abspath(cfg.output.path))[0]
    if len(case.beams) == 1:
        if plan_result is None:
            return []
        paths = write_case_doses(f"{base}_beam{case.beams[0].number}", plan_result, case, cfg.output.dose_to_water,
                                 beam_number=case.beams[0].number)
        return [f"wrote {p}" for p in paths]
    weight, total, msg = case.spots.weight, case.spots.weight.sum(), []
    for b, beam in enumerate(case.beams):
        sub = cfg.model_copy(deep=True)
        sub.dicom.beams, sub.dicom.dose_per_beam = [beam.number], False
        sub.output.path = f"{base}_beam{beam.number}.h5"
        share = float(weight[case.source.beam_of == b].sum() / total)
        sub.run.primaries = max(run_layout(cfg, comm.size).batches, int(round(cfg.run.primaries * share)))
        result = simulate(sub, comm=comm, grid=load_case(sub.dicom).grid)
        if result is None:
            continue
        resolved_beam = dict(resolved, dicom=dict(resolved["dicom"], beams=[beam.number], dose_per_beam=False))
        path = write_result(sub.output.path, result, text, yaml.safe_dump(resolved_beam, sort_keys=False))
        msg.append(f"wrote {path}")
        msg += [f"wrote {p}" for p in write_case_doses(path, result, result.case, cfg.output.dose_to_water,
                                                        beam_number=beam.number)]
    return msg


def _write_outputs(args, cfg, resolved, text, result):
    """Rank 0: the FLASH analysis, the HDF5, the RT Doses, the figures and the summary line;
    returns the messages naming the files written."""
    from .output import plot_depth_dose, plot_let_rbe, write_result

    if cfg.flash is not None:
        from flash.analysis import analyse

        result.flash = analyse(result, cfg)
    resolved_yaml = yaml.safe_dump(resolved, sort_keys=False)
    path = write_result(cfg.output.path, result, text, resolved_yaml)
    msg = [f"wrote {path}"]
    if result.case is not None:
        from .dicom_out import write_case_doses

        msg += [f"wrote {p}" for p in write_case_doses(path, result, result.case, cfg.output.dose_to_water)]
    if cfg.output.plot and not args.no_plot and result.case is not None:
        from .output import plot_plan

        png = plot_plan(os.path.splitext(path)[0] + "_plan.png", result,
                        title=f"{os.path.basename(args.config)}: {result.case.plan.label}, "
                              f"beams {', '.join(b.name for b in result.case.beams)}", body=_body(cfg, result))
        msg.append(f"wrote {png}")
    elif cfg.output.plot and not args.no_plot:
        png = os.path.splitext(path)[0] + "_depth_dose.png"
        plot_depth_dose(png, result, title=f"{os.path.basename(args.config)}: "
                        f"{_beam_energy_label(cfg.beam)} {cfg.beam.particle}s" if not (cfg.beam.spots or cfg.beam.sobp)
                        else None)
        msg.append(f"wrote {png}")
        if result.let is not None:
            png = os.path.splitext(path)[0] + "_let_rbe.png"
            plot_let_rbe(png, result, title=f"{os.path.basename(args.config)}: dose, LETd and RBE-weighted dose")
            msg.append(f"wrote {png}")
    if cfg.output.plot and not args.no_plot and result.flash is not None and result.case is None:
        from flash.analysis import plot_flash

        png = os.path.splitext(path)[0] + "_flash.png"
        plot_flash(png, result, title=f"{os.path.basename(args.config)}: {os.path.basename(path)}")
        msg.append(f"wrote {png}")
    info = result.run_info
    eb = result.energy_balance
    body = _body(cfg, result)
    dose = result.dose if body is None else np.where(body, result.dose, 0.0)
    dmax = float(dose.max())
    hot = dose >= 0.5 * dmax if dmax > 0 else np.zeros(dose.shape, bool)
    rel = float(np.mean(result.dose_std[hot] / result.dose[hot])) if hot.any() else float("nan")
    kind = "protons" if cfg.dicom is not None or not cfg.beam.is_ion else f"{cfg.beam.particle} ions"
    print(f"flashmc: {info['primaries']} primaries in {info['elapsed_s']:.2f} s on {info['ranks']} rank(s) "
          f"({info['protons_per_s']:.0f} {kind}/s; stopped by {info['stop_reason']}); max dose {dmax:.4g} Gy for "
          f"{result.protons:.4g} {kind}{'' if body is None else ' (in tissue)'}; "
          f"mean relative s.e. above 50% of max {100 * rel:.2f}%; "
          f"energy imbalance {eb['relative_imbalance']:.1e}")
    if result.flash is not None:
        print(f"flashmc: {result.flash.summary()}")
    return msg


if __name__ == "__main__":
    sys.exit(main())
