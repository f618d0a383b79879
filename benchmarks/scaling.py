"""Strong scaling: the same run (150 MeV protons in water, 1 mm voxels, nuclear interactions on)
on 1, 2, ... N MPI ranks; transport rate and speed-up versus one rank. Writes
benchmarks/results/scaling.json and scaling.png.

    python benchmarks/scaling.py [--max-ranks N] [--primaries P]

Each configuration runs ``mpirun -n k python -m mc.run`` (JIT loaded from the numba cache: a
first single-rank run warms it) and reads the rate rank 0 measured over the batch loop
(transport plus the per-round reductions; start-up and output excluded) from the HDF5 file.
The single-rank reference of each measurement is the mean rate of one rank pinned to each core
in turn (at most ``--baseline-cores`` cores, spread over the machine): the cores of a virtual
machine often run at different speeds at the same moment (the development VM's two vCPUs
differed by up to 1.5x), and an unpinned single rank lands on either, whereas k ranks use k
cores; k times the mean per-core rate is the ideal for k ranks. The speed of a virtual machine
also drifts over minutes, so each k-rank run is bracketed by such references, one set right
before and one right after it (the after set of one run is the before set of the next), and
its reference is the mean of the two.
Beside it, k independent processes running the kernel over one common time window (each set up
and warmed up first, then started together; process i pinned to core i when k <= cores) give the
ceiling the machine itself sets (shared cores, memory bandwidth, CPU quota), as a speed-up over
one such process (the mean over the same cores): on virtual machines two "cores" often deliver
well under twice the throughput of one.

Three cheap modes feed the large-scale model of docs/scaling.md (no transport):

    python benchmarks/scaling.py --layout       # -> benchmarks/results/scaling_layout.json
    python benchmarks/scaling.py --reduction    # -> benchmarks/results/scaling_reduction.json
    python benchmarks/scaling.py --model        # -> benchmarks/results/scaling_model.json

``--layout`` prints the batches, rounds and kernel calls that :func:`mc.schedule.layout` chooses
(``batches: auto``, ``round_batches: auto``) for 1e9 primaries on 2, 8, 128 and 1024 ranks.
``--reduction`` measures the costs of a round end and of the output on this machine: the time of
:meth:`mc.parallel.MPIComm.reduce_inplace` (the chunked MPI_Reduce into rank 0 that
:meth:`mc.tally.RankTallies.reduce_into` calls) with two ranks under ``mpirun -n 2`` on float64
and int64 buffers of 1e5 to 5e7 values (median of several repeats, after one warm-up call; the
time is rank 0's, from a common barrier until the sum is in its buffer), the time of a plain
numpy ``a += b`` over the same sizes (one process: the serial cost of adding a rank's tallies),
the time to write two float32 arrays of 5e7 values with h5py (uncompressed, and gzip level 1 as
:mod:`mc.output` writes them; random values, the worst case for compression; until the data are
on disk: ``fsync`` included) and the time of the mean and standard error of a 5e7-voxel
:class:`mc.tally.EnergyTally`.
``--model`` combines them into the paper model of a run of 1e9 primaries on a 5e7-voxel grid
(transport, reductions, output versus ranks; see docs/scaling.md for its formulas and which
inputs are assumed). The MPI_Reduce cost models are those of Thakur, Rabenseifner and Gropp,
"Optimization of collective communication operations in MPICH", Int. J. High Perform. Comput.
Appl. 19 (2005) 49-66: binomial tree ``log2(p) (alpha + n beta + n gamma)``; reduce-scatter
followed by a gather (Rabenseifner's algorithm, MPICH's choice for long messages and predefined
operations) ``2 log2(p) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma``.
"""

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
from machine import cpu_model  # benchmarks/machine.py, beside this script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CFG = """
geometry: {{type: box, material: water, size_mm: [100, 100, 300], voxel_mm: [1, 1, 1]}}
beam: {{energy_MeV: 150, spot_sigma_mm: [4, 4], position_mm: [0, 0, -1]}}
run: {{primaries: {n}, seed: 11, batches: {b}, round_batches: {b}, checkpoint_interval_s: 3600}}
output: {{path: {out}, plot: false}}
"""


def _pin(core):
    """A ``preexec_fn`` that pins the child process to ``core`` (None: no pinning)."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {core})


def baseline_cores(n_max):
    """Up to ``n_max`` cores of this process's CPU set, spread evenly over it ([None] where
    the CPU set cannot be read: no pinning)."""
    if not hasattr(os, "sched_getaffinity"):
        return [None]
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) <= n_max:
        return cores
    return [cores[int(i * len(cores) / n_max)] for i in range(n_max)]


def run_ranks(k, cfg, out, core=None):
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    cmd = [sys.executable, "-m", "mc.run", cfg, "--quiet", "--set", f"output.path={out}"]
    if k > 1 and not mpirun:
        raise SystemExit("benchmarks/scaling.py: more than one rank needs mpirun on the PATH "
                         "(pip install -e '.[mpi]')")
    if mpirun:
        cmd = [mpirun, "-n", str(k)] + cmd
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, preexec_fn=_pin(core))
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    with h5py.File(out) as f:
        return float(f["/run"].attrs["protons_per_s"]), wall


def _worker(cfg_path, tmp, idx, duration):
    """One independent process of :func:`independent_processes`: set up and warm up, report
    ready, wait for the common start, transport batches for ``duration`` seconds, write the
    rate."""
    sys.path.insert(0, ROOT)
    import numpy as np

    from mc.batch import batch_seed, kernel_inputs, run_batch
    from mc.config import load_config
    from mc.problem import build_geometry
    from mc.source import build_spots
    from mc.tally import BatchBuffers
    from physics.tables import build_tables

    cfg, _ = load_config(cfg_path)
    grid = build_geometry(cfg)
    spots = build_spots(cfg.beam, grid)
    tab = build_tables(grid.materials)
    inputs = kernel_inputs(grid, tab, spots, cfg.physics)
    buf = BatchBuffers(grid.shape)
    run_batch(batch_seed(idx, 0), 200, inputs, buf)
    open(os.path.join(tmp, f"ready{idx}"), "w").close()
    go = os.path.join(tmp, "go")
    while not os.path.exists(go):
        time.sleep(0.01)
    with open(go) as f:
        t_start = float(f.read())
    while time.time() < t_start:
        time.sleep(0.001)
    n, b = 0, 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration:
        run_batch(batch_seed(1000 + idx, b), 2000, inputs, buf)
        buf.edep[...] = 0.0
        n += 2000
        b += 1
    rate = n / (time.perf_counter() - t0)
    with open(os.path.join(tmp, f"rate{idx}"), "w") as f:
        f.write(repr(float(np.float64(rate))))


def independent_processes(k, cfg, tmp, duration=4.0, cores=None):
    """Aggregate transport rate of k independent single-process kernels running over the same
    time window (each set up and warmed up first, then all started at one wall-clock time):
    the ceiling that the machine itself sets for k-way parallelism (shared cores, memory
    bandwidth, CPU quota), without MPI."""
    for f in os.listdir(tmp):
        if f.startswith(("ready", "rate", "go")):
            os.remove(os.path.join(tmp, f))
    cores = cores or [None] * k
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", cfg, tmp, str(i), str(duration)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=_pin(cores[i])) for i in range(k)]
    while sum(os.path.exists(os.path.join(tmp, f"ready{i}")) for i in range(k)) < k:
        if any(p.poll() not in (None, 0) for p in procs):
            raise RuntimeError("".join(p.communicate()[1] for p in procs))
        time.sleep(0.05)
    with open(os.path.join(tmp, "go.tmp"), "w") as f:
        f.write(repr(time.time() + 0.2))
    os.replace(os.path.join(tmp, "go.tmp"), os.path.join(tmp, "go"))
    total = 0.0
    for i, p in enumerate(procs):
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(err)
        with open(os.path.join(tmp, f"rate{i}")) as f:
            total += float(f.read())
    return total


#: Ranks and primaries of the ``--layout`` table.
LAYOUT_RANKS = (2, 8, 128, 1024)
LAYOUT_PRIMARIES = 1_000_000_000

#: Buffer sizes [values] of the ``--reduction`` measurement.
REDUCTION_SIZES = (100_000, 1_000_000, 10_000_000, 50_000_000)

#: Values per array of the HDF5 write and of the tally finishing measured by ``--reduction``.
OUTPUT_VALUES = 50_000_000


def layout_rows(primaries=LAYOUT_PRIMARIES, ranks=LAYOUT_RANKS, voxels=None):
    """:meth:`mc.schedule.Layout.summary` of the automatic layout for each rank count, on a grid
    of ``voxels`` voxels (default the model's, :data:`MODEL`)."""
    sys.path.insert(0, ROOT)
    from mc.schedule import layout

    voxels = MODEL["voxels"] if voxels is None else voxels
    return [layout(primaries, p, voxels=voxels).summary() for p in ranks]


def layout_mode(out):
    """Print and write (``scaling_layout.json``) the automatic layouts of :func:`layout_rows`."""
    sys.path.insert(0, ROOT)
    from mc.schedule import (
        BATCH_PRIMARIES,
        BATCHES_PER_RANK,
        CALL_PRIMARIES,
        MIN_BATCHES,
        MIN_ROUNDS,
    )

    rows = layout_rows()
    cols = ("ranks", "batches", "round_batches", "rounds", "batch_primaries", "busy_ranks", "kernel_calls_per_batch")
    print(f"automatic layout (mc.schedule.layout) of {LAYOUT_PRIMARIES:.0e} primaries on {MODEL['voxels']:.0e} voxels")
    print("  ".join(cols))
    for r in rows:
        print("  ".join(f"{r[c]:>{len(c)}}" for c in cols))
    res = {"primaries": LAYOUT_PRIMARIES, "voxels": MODEL["voxels"], "rows": rows,
           "constants": {"BATCH_PRIMARIES": BATCH_PRIMARIES, "MIN_BATCHES": MIN_BATCHES,
                         "BATCHES_PER_RANK": BATCHES_PER_RANK, "MIN_ROUNDS": MIN_ROUNDS,
                         "CALL_PRIMARIES": CALL_PRIMARIES},
           "date": time.strftime("%Y-%m-%d")}
    path = os.path.join(out, "scaling_layout.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {path}")


def _median_time(fn, repeats):
    """Median wall time [s] of ``repeats`` calls of ``fn`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), times


def _reduction_worker(path, sizes, repeats):
    """One rank of the ``--reduction`` measurement (under ``mpirun``): time
    :meth:`mc.parallel.MPIComm.reduce_inplace` on each dtype and size. Every repeat starts at a
    barrier; the time is rank 0's, until the sum is in its buffer (the other ranks' times, until
    their part is sent, are kept too). Rank 0 writes the results to ``path``."""
    sys.path.insert(0, ROOT)
    from mc.parallel import REDUCE_CHUNK, get_comm

    comm = get_comm()
    if comm.size < 2:
        raise SystemExit("--reduction-worker: needs at least 2 MPI ranks (mpirun -n 2, mpi4py installed)")
    rows = []
    for dtype in ("float64", "int64"):
        for n in sizes:
            buf = np.ones(n, dtype)
            comm.barrier()
            comm.reduce_inplace(buf)  # warm-up: pages mapped, MPI buffers set up
            mine = []
            for _ in range(repeats):
                comm.barrier()
                t = time.perf_counter()
                comm.reduce_inplace(buf)
                mine.append(time.perf_counter() - t)
            every = comm.gather(mine)
            del buf
            if comm.rank == 0:
                t_med = float(np.median(every[0]))
                nbytes = n * np.dtype(dtype).itemsize
                rows.append({"dtype": dtype, "values": n, "bytes": nbytes, "repeats": repeats,
                             "median_s": t_med, "s_per_value": t_med / n, "GB_per_s": nbytes / t_med / 1e9,
                             "rank0_s": every[0], "other_ranks_s": every[1:]})
                print(f"reduce_inplace {dtype:>7} {n:>10} values: {t_med * 1e3:9.2f} ms "
                      f"({t_med / n * 1e9:.2f} ns/value, {nbytes / t_med / 1e9:.2f} GB/s)", flush=True)
    # point-to-point bandwidth of one chunk, rank 1 to rank 0: the transfer without the reduction
    buf = np.ones(REDUCE_CHUNK)
    p2p = []
    for i in range(repeats + 1):
        comm.barrier()
        t = time.perf_counter()
        if comm.rank == 0:
            comm.comm.Recv(buf, source=1)
        elif comm.rank == 1:
            comm.comm.Send(buf, dest=0)
        if i:  # the first is a warm-up
            p2p.append(time.perf_counter() - t)
    if comm.rank == 0:
        from mpi4py import MPI

        t_p2p = float(np.median(p2p))
        print(f"Send/Recv of one chunk ({buf.nbytes} B): {t_p2p * 1e3:.2f} ms ({buf.nbytes / t_p2p / 1e9:.2f} GB/s)")
        with open(path, "w") as f:
            json.dump({"ranks": comm.size, "reduce_chunk_values": REDUCE_CHUNK, "rows": rows,
                       "send_recv_chunk": {"bytes": buf.nbytes, "median_s": t_p2p, "GB_per_s": buf.nbytes / t_p2p / 1e9,
                                           "times_s": p2p},
                       "mpi_library": MPI.Get_library_version().splitlines()[0].strip()}, f, indent=2)


def add_times(sizes, repeats):
    """Median time of a plain numpy ``a += b`` on float64 and int64 arrays of each size (one
    process): the serial cost of adding one rank's tallies into a total."""
    rows = []
    for dtype in ("float64", "int64"):
        for n in sizes:
            a = np.ones(n, dtype)
            b = np.ones(n, dtype)
            t_med, times = _median_time(lambda a=a, b=b: np.add(a, b, out=a), repeats)
            nbytes = n * np.dtype(dtype).itemsize
            rows.append({"dtype": dtype, "values": n, "bytes": nbytes, "repeats": repeats, "median_s": t_med,
                         "s_per_value": t_med / n, "GB_per_s": nbytes / t_med / 1e9, "times_s": times})
            print(f"numpy a += b          {dtype:>7} {n:>10} values: {t_med * 1e3:9.2f} ms "
                  f"({t_med / n * 1e9:.2f} ns/value, {nbytes / t_med / 1e9:.2f} GB/s of one operand)", flush=True)
            del a, b
    return rows


def hdf5_write_times(n, repeats, folder):
    """Time to write two float32 arrays of ``n`` values (random: the worst case for
    compression) to a new HDF5 file with h5py and fsync it: uncompressed, and gzip level 1
    (as :mod:`mc.output` writes the dose and its standard error). Median of ``repeats``."""
    rng = np.random.default_rng(1)
    shape = (n // 250_000, 500, 500) if n % 250_000 == 0 else (n,)
    arrays = [rng.random(shape, dtype=np.float32) for _ in range(2)]
    path = os.path.join(folder, "write_test.h5")
    rows = []
    for label, kw in (("uncompressed", {}), ("gzip1", {"compression": "gzip", "compression_opts": 1})):
        def write():
            with h5py.File(path, "w") as f:
                for i, arr in enumerate(arrays):
                    f.create_dataset(f"a{i}", data=arr, **kw)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        times = []
        for _ in range(repeats):  # no warm-up call: every write is a new file
            t = time.perf_counter()
            write()
            times.append(time.perf_counter() - t)
            size = os.path.getsize(path)
            os.remove(path)
        t_med = float(np.median(times))
        nbytes = 2 * n * 4
        rows.append({"compression": label, "arrays": 2, "values_per_array": n, "dtype": "float32", "shape": shape,
                     "bytes_in": nbytes, "file_bytes": size, "repeats": repeats, "median_s": t_med,
                     "GB_per_s_in": nbytes / t_med / 1e9, "times_s": times})
        print(f"HDF5 write 2 x {n} float32, {label:>12}: {t_med:.2f} s ({nbytes / t_med / 1e9:.2f} GB/s of "
              f"data, file {size / 1e6:.0f} MB)", flush=True)
    return rows


def finish_times(n, repeats):
    """Time of the mean and standard error per primary of an :class:`mc.tally.EnergyTally` of
    ``n`` voxels (rank 0 at the end of a run, before the conversion to dose and the write)."""
    sys.path.insert(0, ROOT)
    from mc.tally import EnergyTally

    t = EnergyTally((n,))
    t.n_primaries, t.n_batches = 10**9, 10_000
    rng = np.random.default_rng(2)
    mev = rng.random(n) * 1e3  # summed deposits [MeV]
    t.a1[...] = mev / getattr(t, "q", 1.0)  # the tally's own units (integer quanta, or MeV)
    t.a2[...] = mev * mev / t.n_batches * (1.0 + rng.random(n))
    del mev
    t_med, times = _median_time(lambda: (t.mean_per_primary(), t.std_per_primary()), repeats)
    print(f"EnergyTally mean + std of {n} voxels: {t_med:.2f} s", flush=True)
    return {"voxels": n, "repeats": repeats, "median_s": t_med, "times_s": times}


#: Environments of the ``--reduction`` runs: MPICH allocates a temporary buffer in each
#: MPI_Reduce call; with glibc's default thresholds in these processes a buffer of a chunk's
#: size (8 MB) is mapped afresh and its pages faulted in at every call, and raising the mmap and
#: trim thresholds (a process-wide glibc tunable, no code change) keeps it in the heap.
REDUCTION_ENVS = (("default", {}),
                  ("glibc_malloc_thresholds", {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1073741824:"
                                                                 "glibc.malloc.trim_threshold=4294967296"}))


def reduction_mode(out, ranks=2, sizes=REDUCTION_SIZES, repeats=5, passes=2, output_repeats=3):
    """Measure the round-end and output costs (see the module docstring) and write
    ``scaling_reduction.json``. The MPI runs alternate over :data:`REDUCTION_ENVS`, ``passes``
    times (A B A B: the speed of a virtual machine drifts over minutes); each row's median is
    over the rank-0 times of all passes."""
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if not mpirun:
        raise SystemExit("benchmarks/scaling.py --reduction: needs mpirun on the PATH (pip install -e '.[mpi]')")
    tmp = tempfile.mkdtemp()
    t0 = time.perf_counter()
    try:
        part = os.path.join(tmp, "mpi.json")
        cmd = [mpirun, "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--reduction-worker", part,
               str(repeats)] + [str(n) for n in sizes]
        runs = {name: [] for name, _ in REDUCTION_ENVS}
        for k in range(passes):
            for name, env in REDUCTION_ENVS:
                print(f"-- MPI_Reduce, {ranks} ranks, environment {name!r}, pass {k + 1} of {passes}", flush=True)
                r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env})
                if r.returncode != 0:
                    raise SystemExit(f"benchmarks/scaling.py --reduction: {' '.join(cmd)} failed ({r.returncode})")
                with open(part) as f:
                    runs[name].append(json.load(f))
        res = {"reduce_inplace": {}}
        for name, env in REDUCTION_ENVS:
            first = runs[name][0]
            rows = []
            for i, row in enumerate(first["rows"]):
                times = [t for run in runs[name] for t in run["rows"][i]["rank0_s"]]
                t_med = float(np.median(times))
                rows.append({**row, "repeats": len(times), "median_s": t_med, "s_per_value": t_med / row["values"],
                             "GB_per_s": row["bytes"] / t_med / 1e9, "rank0_s": times,
                             "other_ranks_s": [run["rows"][i]["other_ranks_s"] for run in runs[name]]})
            p2p = [t for run in runs[name] for t in run["send_recv_chunk"]["times_s"]]
            send = {"bytes": first["send_recv_chunk"]["bytes"], "median_s": float(np.median(p2p)), "times_s": p2p}
            send["GB_per_s"] = send["bytes"] / send["median_s"] / 1e9
            res["reduce_inplace"][name] = {"env": env, "ranks": first["ranks"], "passes": passes,
                                           "send_recv_chunk": send, "reduce_chunk_values": first["reduce_chunk_values"],
                                           "mpi_library": first["mpi_library"], "rows": rows}
        print("-- MPI_Reduce medians over the passes (rank 0: from a common barrier until the sum is in its buffer)")
        for name, _ in REDUCTION_ENVS:
            for r in res["reduce_inplace"][name]["rows"]:
                print(f"reduce_inplace {name:>23} {r['dtype']:>7} {r['values']:>10} values: "
                      f"{r['median_s'] * 1e3:9.2f} ms ({r['s_per_value'] * 1e9:.2f} ns/value, "
                      f"{r['GB_per_s']:.2f} GB/s)")
            send = res["reduce_inplace"][name]["send_recv_chunk"]
            print(f"Send/Recv {name:>28} {send['bytes']} B: {send['median_s'] * 1e3:9.2f} ms "
                  f"({send['GB_per_s']:.2f} GB/s)")
        res["numpy_add"] = add_times(sizes, repeats)
        res["hdf5_write"] = hdf5_write_times(OUTPUT_VALUES, output_repeats, tmp)
        res["tally_finish"] = finish_times(OUTPUT_VALUES, output_repeats)
        res["wall_s"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.update({"machine": platform.machine(), "cpu_model": cpu_model(), "nproc": os.cpu_count(),
                "python": platform.python_version(), "numpy": np.__version__, "h5py": h5py.__version__,
                "date": time.strftime("%Y-%m-%d")})
    path = os.path.join(out, "scaling_reduction.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {path} ({res['wall_s']:.0f} s)")


#: Inputs of the ``--model`` run: primaries, voxels reached, bytes reduced per voxel (dose a1
#: int64 + a2 float64), transport rate per core [protons/s] (the README's single-core figure for
#: 150 MeV protons in water), and the assumed (not measured) inter-node link bandwidth [B/s] and
#: MPI latency per message [s].
MODEL = {"primaries": 1_000_000_000, "voxels": 50_000_000, "bytes_per_voxel": 16, "rate_per_core": 1.0e5,
         "link_B_per_s": 10e9, "alpha_s": 5e-6}

#: Rank counts of the ``--model`` table.
MODEL_RANKS = (2, 8, 128, 1024)


def _row(rows, dtype, n):
    for r in rows:
        if r["dtype"] == dtype and r["values"] == n:
            return r["median_s"]
    raise KeyError(f"no {dtype} row of {n} values in scaling_reduction.json (rerun --reduction)")


def step_costs(meas, m=MODEL):
    """Seconds per voxel of one reduction step (one rank's message of both arrays sent to and
    added on another): ``link``, the assumed link bandwidth plus the measured numpy add; and, as
    measured here, the two-rank MPI_Reduce of each environment of :data:`REDUCTION_ENVS`. Also
    ``add``: the measured numpy ``a += b`` of both arrays, per voxel."""
    n = OUTPUT_VALUES
    add = (_row(meas["numpy_add"], "int64", n) + _row(meas["numpy_add"], "float64", n)) / n
    out = {"add": add, "link": m["bytes_per_voxel"] / m["link_B_per_s"] + add}
    for name, r in meas["reduce_inplace"].items():
        out[name] = (_row(r["rows"], "int64", n) + _row(r["rows"], "float64", n)) / n
    return out


def model_run(p, meas, m=MODEL):
    """Paper model of one run of ``m['primaries']`` on ``p`` ranks (see docs/scaling.md).
    Transport: the automatic layout, ranks of equal speed, a round lasting as long as its
    busiest rank. Reduction per round, for each step cost of :func:`step_costs`: binomial tree
    ``ceil(log2 p)`` steps, reduce-scatter + gather ``2 (p-1)/p`` steps (Thakur, Rabenseifner &
    Gropp 2005; the add counted in every step, a slight over-estimate for the latter), plus the
    latency of every 8 MB chunk and the packing of the voxels reached on every rank and their
    unpacking into the total on rank 0 (one numpy add each, assumed). Output: the measured
    tally finish and gzip HDF5 write on rank 0."""
    sys.path.insert(0, ROOT)
    from mc.parallel import REDUCE_CHUNK
    from mc.schedule import layout

    lay = layout(m["primaries"], p, voxels=m["voxels"])
    t_batch = lay.batch_primaries / m["rate_per_core"]
    full, last = divmod(lay.batches, lay.round_batches)
    t_transport = t_batch * (full * math.ceil(lay.round_batches / p) + math.ceil(last / p))
    v = m["voxels"]
    costs = step_costs(meas, m)
    chunks = 2 * math.ceil(v / REDUCE_CHUNK)  # a1 and a2, one reduce_inplace each
    lg = math.ceil(math.log2(p))
    pack = 2 * v * costs["add"]
    write = {r["compression"]: r["median_s"] for r in meas["hdf5_write"]}
    t_out = meas["tally_finish"]["median_s"] + write["gzip1"]
    out = {**lay.summary(), "t_batch_s": t_batch, "transport_s": t_transport,
           "ideal_transport_s": m["primaries"] / (p * m["rate_per_core"]), "output_s": t_out,
           "output_uncompressed_s": meas["tally_finish"]["median_s"] + write["uncompressed"],
           "one_core_s": m["primaries"] / m["rate_per_core"], "round_s": {}, "reductions_s": {}, "total_s": {},
           "efficiency": {}}
    for step, c in costs.items():
        if step == "add":
            continue
        for alg, steps, lat in (("tree", lg, lg), ("rsg", 2 * (p - 1) / p, 2 * lg)):
            key = f"{alg}_{step}"
            t_round = steps * v * c + lat * chunks * m["alpha_s"] + pack
            total = t_transport + lay.rounds * t_round + t_out
            out["round_s"][key] = t_round
            out["reductions_s"][key] = lay.rounds * t_round
            out["total_s"][key] = total
            out["efficiency"][key] = out["one_core_s"] / (p * total)
    return out


def model_mode(out):
    """Print and write (``scaling_model.json``) the paper model for :data:`MODEL_RANKS` and the
    rank counts at which the reductions would take as long as the transport."""
    path = os.path.join(out, "scaling_reduction.json")
    if not os.path.exists(path):
        raise SystemExit(f"benchmarks/scaling.py --model: {path} is missing (run --reduction first)")
    with open(path) as f:
        meas = json.load(f)
    costs = step_costs(meas)
    print(f"paper model: {MODEL}")
    print("step cost per voxel: " + ", ".join(f"{k} {v * 1e9:.2f} ns" for k, v in costs.items()))
    rows = [model_run(p, meas) for p in MODEL_RANKS]
    for r in rows:
        print(f"{r['ranks']:>5} ranks, {r['rounds']:>4} rounds: transport {r['transport_s']:.1f} s "
              f"(ideal {r['ideal_transport_s']:.2f} s), output {r['output_s']:.1f} s "
              f"({r['output_uncompressed_s']:.1f} s uncompressed)")
        for key in r["round_s"]:
            print(f"      {key:>30}: {r['round_s'][key]:7.3f} s/round, reductions {r['reductions_s'][key]:8.1f} s, "
                  f"total {r['total_s'][key]:8.1f} s, efficiency {r['efficiency'][key]:.3f}")
    cross = {}
    scan = [model_run(p, meas) for p in range(2, 1 << 15)]
    for key in rows[0]["round_s"]:
        hit = next((r for r in scan if r["reductions_s"][key] >= r["transport_s"]), None)
        cross[key] = None if hit is None else {"ranks": hit["ranks"], "transport_s": hit["transport_s"],
                                               "reductions_s": hit["reductions_s"][key]}
        print(f"reductions >= transport, {key}: " + (f"from {hit['ranks']} ranks ({hit['transport_s']:.1f} s vs "
                                                     f"{hit['reductions_s'][key]:.1f} s)" if hit
                                                     else f"not below {1 << 15} ranks"))
    res = {"inputs": MODEL, "step_cost_s_per_voxel": costs, "rows": rows, "crossover": cross,
           "date": time.strftime("%Y-%m-%d")}
    path = os.path.join(out, "scaling_model.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"wrote {path}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        _worker(argv[1], argv[2], int(argv[3]), float(argv[4]))
        return
    if argv and argv[0] == "--reduction-worker":  # one MPI rank of --reduction: PATH REPEATS SIZE...
        _reduction_worker(argv[1], [int(x) for x in argv[3:]], int(argv[2]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-ranks", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--primaries", type=int, default=960000,
                    help="primaries per run (the default keeps the run's fixed costs, the final reduction and the "
                    "ranks' uneven finish, to a few per cent; runs of 1e7 or more primaries have less)")
    ap.add_argument("--repeats", type=int, default=3, help="paired measurements per rank count")
    ap.add_argument("--batches", type=int, default=48, help="batches (one round); a multiple of the rank counts "
                    "keeps the static schedule balanced (48: 1, 2, 3, 4, 6, 8, 12, 16, 24, 48 ranks)")
    ap.add_argument("--baseline-cores", type=int, default=4,
                    help="cores the single-rank reference is measured on, pinned, one after the other")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    ap.add_argument("--layout", action="store_true", help="only print and write the automatic batch and round "
                    "layout of 1e9 primaries on 2, 8, 128, 1024 ranks (no transport) -> scaling_layout.json")
    ap.add_argument("--reduction", action="store_true", help="only measure the per-round MPI reduction with 2 ranks, "
                    "numpy a += b and the HDF5 write of a 5e7-voxel dose (no transport) -> scaling_reduction.json")
    ap.add_argument("--reduction-repeats", type=int, default=5, help="repeats per size of --reduction (median)")
    ap.add_argument("--model", action="store_true", help="only combine scaling_reduction.json into the paper model "
                    "of docs/scaling.md (1e9 primaries, 5e7 voxels, 2 to 1024 ranks) -> scaling_model.json")
    a = ap.parse_args(argv)
    if a.layout or a.reduction or a.model:
        os.makedirs(a.out, exist_ok=True)
        if a.layout:
            layout_mode(a.out)
        if a.reduction:
            reduction_mode(a.out, repeats=max(1, a.reduction_repeats))
        if a.model:
            model_mode(a.out)
        return
    if min(a.baseline_cores, a.repeats, a.max_ranks, a.primaries, a.batches) < 1:
        ap.error("--baseline-cores, --repeats, --max-ranks, --primaries and --batches must be at least 1")
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp()
    batches = a.batches
    cfg = os.path.join(tmp, "scaling.yaml")
    with open(cfg, "w") as f:
        f.write(CFG.format(n=a.primaries, b=batches, out=os.path.join(tmp, "x.h5")))
    run_ranks(1, cfg, os.path.join(tmp, "warm.h5"))  # numba cache
    # The speed of a virtual machine drifts over minutes: every k-way measurement is paired
    # with 1-way ones taken right before and right after it, and the speed-ups are medians over
    # the pairs.
    cores = baseline_cores(a.baseline_cores)
    all_cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    rows = []
    for k in range(1, a.max_ranks + 1):
        pairs = []
        one_rank = lambda: [run_ranks(1, cfg, os.path.join(tmp, "r1.h5"), c)[0] for c in cores]  # noqa: E731
        before = one_rank()
        for _ in range(a.repeats if k > 1 else 1):
            if k > 1:
                rk, wall = run_ranks(k, cfg, os.path.join(tmp, f"r{k}.h5"))
                after = one_rank()
                per_core = [0.5 * (x + y) for x, y in zip(before, after)]
                before = after
            else:
                per_core = before
            r1 = float(np.mean(per_core))
            if k == 1:
                rk, wall = r1, 0.0
            c1 = float(np.mean([independent_processes(1, cfg, tmp, cores=[c]) for c in cores]))
            pin_k = all_cores[:k] if len(all_cores) >= k else None
            ck = independent_processes(k, cfg, tmp, cores=pin_k) if k > 1 else c1
            pairs.append((r1, rk, wall, c1, ck, per_core))
            print(f"{k} rank(s): {rk:.0f} protons/s (1 rank just before and after, pinned to each of "
                  f"{len(cores)} core(s): "
                  f"{', '.join(f'{x:.0f}' for x in per_core)}, mean {r1:.0f}); {k} independent kernel "
                  f"process(es) over one time window: {ck:.0f} protons/s (1 process: {c1:.0f})")
        med = lambda i: float(np.median([p[i] for p in pairs]))  # noqa: E731
        rows.append({"ranks": k, "protons_per_s": med(1), "wall_s": med(2),
                     "independent_processes_protons_per_s": med(4),
                     "speedup": float(np.median([p[1] / p[0] for p in pairs])),
                     "hardware_ceiling_speedup": float(np.median([p[4] / p[3] for p in pairs])),
                     "pairs": [dict(zip(("one_rank_mean_over_cores", "k_ranks", "wall_s", "one_process_mean_over_cores",
                                         "k_processes", "one_rank_per_core"), p)) for p in pairs]})
    for r in rows:
        r["efficiency"] = r["speedup"] / r["ranks"]
        r["efficiency_vs_ceiling"] = r["speedup"] / r["hardware_ceiling_speedup"]
    res = {"rows": rows, "primaries": a.primaries, "batches": batches, "energy_MeV": 150.0, "voxel_mm": 1.0,
           "baseline_cores": cores,
           "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
           "date": time.strftime("%Y-%m-%d")}
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump(res, f, indent=2)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ks = [r["ranks"] for r in rows]
    ax.plot(ks, [r["speedup"] for r in rows], "o-", label="MPI ranks (measured)")
    ax.plot(ks, [r["hardware_ceiling_speedup"] for r in rows], "s:", label="independent processes (machine ceiling)")
    ax.plot(ks, ks, "k--", lw=1, label="ideal")
    ax.set_xlabel("MPI ranks")
    ax.set_ylabel("speed-up over one rank")
    ax.set_title(f"strong scaling, {a.primaries} protons, 150 MeV, 1 mm voxels")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "scaling.png"), dpi=110)
    print(f"wrote {os.path.join(a.out, 'scaling.json')} and scaling.png")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
