"""Runner and command line: ``python -m mc.run config.yaml [--set key=value ...]``.

Primaries are split into ``run.batches`` batches; batch b draws its random numbers from a
generator seeded by ``numpy.random.SeedSequence(seed, spawn_key=(b,))``, so a batch's histories
do not depend on which process or thread runs it. Dose is reported per primary and scaled to
the number of protons delivered (``beam.protons``; else the sum of the spot weights when
``beam.spots`` is given; else the number of primaries simulated).
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import yaml

from physics.tables import build_tables

from .checkpoint import checkpoint_path, config_fingerprint, read_checkpoint, write_checkpoint
from .config import load_config, load_configs
from .errors import ConfigError
from .problem import build_geometry
from .rbe_dose import apply_rbe
from .source import build_spots

from . import transport as tr
from .balance import energy_balance
from .batch import batch_seed, kernel_params, run_batch, spot_seed
from .tally import BatchBuffers, RankTallies, compile_kernels, energy_to_dose, mean_relative_uncertainty


@dataclass
class RunResult:
    """Everything a run produces (doses in Gy, energies in MeV)."""

    grid: object
    dose: np.ndarray
    dose_std: np.ndarray
    dose_per_primary: np.ndarray
    edep_per_primary: np.ndarray
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
    rbe: dict | None = None  # model -> RBE array
    dose_rbe: dict | None = None  # model -> RBE-weighted dose [Gy(RBE)]
    rbe_info: dict | None = None  # alpha/beta map, fraction-dose scaling
    spots: object | None = None  # mc.source.SpotArrays: the beam's spots as transported


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


def batch_sizes(primaries, batches):
    """Split ``primaries`` into ``batches`` near-equal batch sizes."""
    base, extra = divmod(int(primaries), int(batches))
    return [base + (1 if b < extra else 0) for b in range(batches)]


class RunInterrupted(Exception):
    """The run stopped on SIGTERM/SIGINT after writing a checkpoint (resume with --resume)."""


_STOP_SIGNAL = {"flag": False}


def _on_signal(signum, frame):  # pragma: no cover  (exercised through the subprocess test)
    _STOP_SIGNAL["flag"] = True


def simulate(cfg, progress=False, grid=None, per_spot=None, spot_threshold=None, comm=None, resume=False):
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
    from .parallel import get_comm

    comm = comm or get_comm()
    if per_spot is None:
        per_spot = getattr(cfg, "flash", None) is not None
    grid = build_geometry(cfg) if grid is None else grid
    spots = build_spots(cfg.beam, grid)
    tables = build_tables(grid.materials, cfg.physics.mean_excitation_energy_eV)
    water = cfg.output.dose_to_water
    sec = cfg.output.secondary_dose
    nuclear = cfg.physics.nuclear
    let = cfg.output.let or cfg.rbe is not None
    params = kernel_params(cfg.physics, water, sec, let)
    n_spots = spots.weight.size if per_spot else 0
    local = RankTallies(grid.shape, water, sec, let, n_spots)
    total = RankTallies(grid.shape, water, sec, let, n_spots) if comm.rank == 0 else None
    buf = BatchBuffers(grid.shape, water, sec, let)
    if per_spot:
        alloc = spot_allocation(spots.weight, cfg.run.primaries, cfg.run.batches)
        sizes = [int(x) for x in alloc.sum(axis=0)]
        scratch = BatchBuffers(grid.shape, water, sec, let)
        scratch.enable_touched()
        primaries_max = int(alloc.sum())
        one = [spots.single(k) for k in range(n_spots)]
        # batch b weights spot k's deposits by (P_k/P) n_b / n_kb: every batch is an unbiased
        # estimate of n_b times the mean deposit per primary, wherever the run stops
        factor = (spots.weight / spots.weight.sum())[:, None] * np.asarray(sizes, float)[None, :] \
            / np.maximum(alloc, 1)
    else:
        sizes = batch_sizes(cfg.run.primaries, cfg.run.batches)
        primaries_max = cfg.run.primaries
    K = cfg.run.round_batches
    rounds = [(lo, min(lo + K, len(sizes))) for lo in range(0, len(sizes), K)]
    fingerprint = config_fingerprint(cfg)
    ckpt = checkpoint_path(cfg)
    start_round, done, elapsed0 = 0, 0, 0.0
    if resume:
        meta = None
        if comm.rank == 0:
            try:
                meta = read_checkpoint(ckpt, total, fingerprint)
            except ConfigError as exc:
                meta = {"error": str(exc)}
        meta = comm.bcast(meta)
        if "error" in meta:
            raise ConfigError(meta["error"])
        start_round, done, elapsed0 = meta["rounds_done"], meta["primaries_done"], meta["elapsed_s"]
    bar = None
    if progress and comm.rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=primaries_max, initial=done, unit="p", desc="protons", file=sys.stderr, smoothing=0.1)
    # compile (or load from the numba cache) before the clock starts: the reported rate is the
    # transport rate
    # (per spot: a touched-voxel list, longer than the one-element placeholder, selects the
    # kernel with the optional tallies, see mc.transport.transport_batch)
    warm = BatchBuffers((2, 1, 1) if per_spot else (1, 1, 1))
    if per_spot:
        warm.enable_touched()
    run_batch(batch_seed(cfg.run.seed, 0), 0, spots, grid, tables, params, warm, nuclear)
    compile_kernels(let)
    local.touch()
    if total is not None and not resume:  # (a resumed total holds the checkpoint)
        total.touch()
    buf.edep.fill(0.0)
    # the clock starts when every rank is ready (set-up times differ between ranks)
    comm.barrier()
    import signal

    old = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread
        old = {}
    _STOP_SIGNAL["flag"] = False
    fail_batch = int(os.environ.get("FLASHMC_TEST_FAIL_BATCH", "-1"))  # fault injection for tests
    t0 = time.perf_counter()
    last_ckpt = t0
    stop_reason = "primaries"
    rounds_done = start_round
    try:
        for r in range(start_round, len(rounds)):
            lo, hi = rounds[r]
            interrupted = False
            try:
                for b in comm.batches(lo, hi, cfg.run.schedule == "dynamic"):
                    if _STOP_SIGNAL["flag"]:
                        interrupted = True
                        break
                    if b == fail_batch:
                        raise RuntimeError(f"injected failure in batch {b} (FLASHMC_TEST_FAIL_BATCH)")
                    if per_spot:
                        for k in range(n_spots):
                            if alloc[k, b] == 0:
                                continue
                            run_batch(spot_seed(cfg.run.seed, b, k), int(alloc[k, b]), one[k], grid, tables, params,
                                      scratch, nuclear)
                            idx = scratch.take_touched()
                            vals = scratch.move_to(buf, idx, factor[k, b])
                            local.spots.add(k, idx, vals)
                        buf.fluence_z += scratch.fluence_z
                        scratch.fluence_z[:] = 0.0
                        buf.counters += scratch.counters
                        scratch.counters[:] = 0.0
                    else:
                        run_batch(batch_seed(cfg.run.seed, b), sizes[b], spots, grid, tables, params, buf, nuclear)
                    local.add(buf, sizes[b])
            except Exception as exc:  # a failing rank takes the whole job down, loudly
                import traceback

                traceback.print_exc()
                print(f"flashmc: error: rank {comm.rank} of {comm.size} failed in round {r}: {exc}; "
                      "aborting the run (no output written)", file=sys.stderr)
                if comm.size > 1:
                    comm.abort(1)
                raise
            if comm.any(interrupted or _STOP_SIGNAL["flag"]):
                local.zero()
                if local.spots is not None:
                    local.spots.discard()
                    local.gather_spots_into(comm, total)
                if comm.rank == 0:
                    write_checkpoint(ckpt, total, rounds_done, done, elapsed0 + time.perf_counter() - t0, fingerprint)
                raise RunInterrupted(f"interrupted after {done} primaries; checkpoint {ckpt}; continue with --resume")
            # sum the round into rank 0
            local.reduce_into(comm, total)
            local.reduce_counts_into(comm, total)
            if local.spots is not None:
                local.spots.commit()
            rounds_done = r + 1
            n_round = int(sum(sizes[lo:hi]))
            done += n_round
            stop = None
            need_ckpt = False
            if comm.rank == 0:
                now = time.perf_counter()
                if rounds_done == len(rounds):
                    stop = "primaries"
                elif cfg.run.target_uncertainty is not None and \
                        mean_relative_uncertainty(total.dose) <= cfg.run.target_uncertainty:
                    stop = "target_uncertainty"
                elif cfg.run.time_limit_s is not None and elapsed0 + now - t0 >= cfg.run.time_limit_s:
                    stop = "time_limit"
                need_ckpt = stop is None and now - last_ckpt >= cfg.run.checkpoint_interval_s
            stop, need_ckpt = comm.bcast((stop, need_ckpt))
            if local.spots is not None and (comm.size == 1 or stop is not None or need_ckpt):
                local.gather_spots_into(comm, total)
            if need_ckpt and comm.rank == 0:
                write_checkpoint(ckpt, total, rounds_done, done, elapsed0 + time.perf_counter() - t0, fingerprint)
                last_ckpt = time.perf_counter()
            if bar is not None:
                bar.update(n_round)
            if stop is not None:
                stop_reason = stop
                break
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if bar is not None:
            bar.close()
        comm.release()
    elapsed = elapsed0 + time.perf_counter() - t0
    if comm.rank != 0:
        return None
    if os.path.exists(ckpt):
        os.unlink(ckpt)  # the run is complete
    primaries = done
    tally, tally_w, tally_s, tally_l = total.dose, total.water, total.sec, total.let
    fluence, counters = total.fluence, total.counters
    spot_store = total.spots

    def dose(edep):
        return energy_to_dose(edep, grid.density, grid.voxel_volume_cm3)

    dpp = dose(tally.mean_per_primary())
    dpp_std = dose(tally.std_per_primary())
    if cfg.beam.protons is not None:
        protons = float(cfg.beam.protons)
    elif cfg.beam.spots:
        protons = float(spots.weight.sum())
    else:
        protons = float(primaries)
    eb = energy_balance(counters)
    result = RunResult(
        grid=grid, dose=dpp * protons, dose_std=dpp_std * protons, dose_per_primary=dpp,
        edep_per_primary=tally.mean_per_primary(), protons=protons, primaries=primaries,
        energy_balance=eb,
        run_info={"elapsed_s": elapsed, "primaries": primaries, "batches": cfg.run.batches,
                  "seed": cfg.run.seed, "protons_per_s": primaries / max(elapsed, 1e-12),
                  "steps": counters[tr.COUNTER_STEPS], "segments": counters[tr.COUNTER_SEGMENTS], "nuclear": bool(nuclear), "per_spot": bool(per_spot),
                  "stop_reason": stop_reason, "ranks": comm.size,
                  "mean_relative_uncertainty": mean_relative_uncertainty(tally)},
        primary_fluence_z=fluence / primaries, spots=spots,
    )
    if per_spot:
        # Gy per MeV of deposit in each voxel, for the delivered protons
        to_gy = energy_to_dose(np.ones(grid.shape), grid.density, grid.voxel_volume_cm3) * protons / primaries
        if spot_threshold is None:
            spot_threshold = getattr(getattr(cfg, "flash", None), "spot_dose_threshold", 0.0)
        result.spot_dose = spot_store.finalize(to_gy, spot_threshold)
    if tally_w is not None:
        result.dose_to_water = dose(tally_w.mean_per_primary()) * protons
        result.dose_to_water_std = dose(tally_w.std_per_primary()) * protons
    if tally_s is not None:
        result.edep_secondary_per_primary = tally_s.mean_per_primary()
        result.dose_secondary = dose(tally_s.mean_per_primary()) * protons
        result.dose_secondary_std = dose(tally_s.std_per_primary()) * protons
    if tally_l is not None:
        result.let = tally_l.averages()
        result.let_std = tally_l.std()
    if cfg.rbe is not None:
        apply_rbe(result, cfg.rbe)
    return result


def check_output_path(path):
    """Fail before transport if ``output.path`` cannot be written (ConfigError)."""
    d = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(d, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=d, prefix=".tmp-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"output.path: cannot write to {d!r} ({exc.strerror}); choose a writable "
                          "location") from None
    if os.path.isdir(path):
        raise ConfigError(f"output.path: {path!r} is a directory; give a file name such as dose.h5")


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
    from .parallel import get_comm

    args = _parser().parse_args(argv)
    comm = get_comm()
    try:
        runs = load_configs(args.config, args.overrides)
        prepared = []
        for cfg, resolved, text in runs:
            grid = build_geometry(cfg)
            build_spots(cfg.beam, grid)  # validate the beam against the grid before any work
            check_output_path(cfg.output.path)
            prepared.append((cfg, resolved, text, grid))
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


def _run_one(args, cfg, resolved, text, grid, comm):
    from .output import plot_depth_dose, plot_let_rbe, write_result

    show = not args.quiet and sys.stderr.isatty() and comm.rank == 0
    result = simulate(cfg, progress=show, grid=grid, comm=comm, resume=args.resume)
    if result is None:  # not rank 0
        return
    if cfg.flash is not None:
        from flash.analysis import analyse

        result.flash = analyse(result, cfg)
    resolved_yaml = yaml.safe_dump(resolved, sort_keys=False)
    path = write_result(cfg.output.path, result, text, resolved_yaml)
    msg = [f"wrote {path}"]
    if cfg.output.plot and not args.no_plot:
        png = os.path.splitext(path)[0] + "_depth_dose.png"
        plot_depth_dose(png, result, title=f"{os.path.basename(args.config)}: "
                        f"{cfg.beam.energy_MeV:g} MeV {cfg.beam.particle}s" if not (cfg.beam.spots or cfg.beam.sobp) else None)
        msg.append(f"wrote {png}")
        if result.let is not None:
            png = os.path.splitext(path)[0] + "_let_rbe.png"
            plot_let_rbe(png, result, title=f"{os.path.basename(args.config)}: dose, LETd and RBE-weighted dose")
            msg.append(f"wrote {png}")
        if result.flash is not None:
            from flash.analysis import plot_flash

            png = os.path.splitext(path)[0] + "_flash.png"
            plot_flash(png, result, title=f"{os.path.basename(args.config)}: {os.path.basename(path)}")
            msg.append(f"wrote {png}")
    info = result.run_info
    eb = result.energy_balance
    dmax = float(result.dose.max())
    hot = result.dose >= 0.5 * dmax if dmax > 0 else np.zeros(result.dose.shape, bool)
    rel = float(np.mean(result.dose_std[hot] / result.dose[hot])) if hot.any() else float("nan")
    print(f"flashmc: {info['primaries']} primaries in {info['elapsed_s']:.2f} s on {info['ranks']} rank(s) "
          f"({info['protons_per_s']:.0f} protons/s; stopped by {info['stop_reason']}); max dose {dmax:.4g} Gy for "
          f"{result.protons:.4g} protons; mean relative s.e. above 50% of max {100 * rel:.2f}%; "
          f"energy imbalance {eb['relative_imbalance']:.1e}")
    if result.flash is not None:
        print(f"flashmc: {result.flash.summary()}")
    for m in msg:
        print(f"flashmc: {m}")


if __name__ == "__main__":
    sys.exit(main())
