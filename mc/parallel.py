"""Process-level parallelism: an MPI communicator when the run is started under ``mpirun`` (or
``srun``) with mpi4py installed, else a one-process stand-in with the same interface.

Only the collective operations the runner needs are wrapped: a chunked sum-reduction of tally
arrays into rank 0 (``reduce_add``: no full-size receive buffer, ``chunk`` values at a time),
a broadcast, a logical-or over ranks, a gather of Python objects, abort, and the hand-out of a
round's batches to the ranks (static, or dynamic through an atomic counter on rank 0).
"""

import os
import sys
import time

import numpy as np

#: Seconds a failing rank waits after writing its error message before MPI_Abort.
ABORT_GRACE_S = 1.0

#: Values per chunk of a tally reduction (8 MB of float64).
REDUCE_CHUNK = 1 << 20


class SerialComm:
    """The communicator of a run in a single process."""

    rank = 0
    size = 1

    def reduce_add(self, local, total):
        total += local
        local[...] = 0

    def reduce_inplace(self, buf):
        """``buf`` becomes the sum over ranks of ``buf`` on rank 0 (one rank: unchanged)."""

    def union_box(self, box):
        """The voxel block covering ``box`` of every rank (int64[6], see
        :func:`mc.tally.empty_box`)."""
        return np.array(box, np.int64)

    def union_cols(self, cols):
        """Per-column layer ranges (see :func:`mc.tally.empty_cols`) covering those of every
        rank."""
        return np.array(cols)

    def ranks_on_node(self):
        """The number of ranks on this rank's node (sharing its memory)."""
        return 1

    def batches(self, lo, hi, dynamic=True):
        """The batch indices of [lo, hi) this rank transports (all of them)."""
        return iter(range(lo, hi))

    def release(self):
        """Free communicator resources (nothing here)."""

    def bcast(self, obj):
        return obj

    def any(self, flag):
        return bool(flag)

    def gather(self, obj):
        return [obj]

    def barrier(self):
        pass

    def abort(self, code=1):  # pragma: no cover  (exits the process)
        sys.stderr.flush()
        os._exit(code)


class MPIComm:
    """mpi4py's COMM_WORLD behind the :class:`SerialComm` interface."""

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._win = None

    def ranks_on_node(self):
        """The number of ranks on this rank's node (MPI_Comm_split_type with
        MPI_COMM_TYPE_SHARED; collective)."""
        from mpi4py import MPI

        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_size()
        finally:
            node.Free()

    def batches(self, lo, hi, dynamic=True):
        """The batch indices of [lo, hi) this rank transports. Static: b with b mod N = rank.
        Dynamic (self-scheduling): each rank takes the next untaken index from a counter on
        rank 0, read and incremented atomically by one-sided MPI (MPI_Fetch_and_op), so a
        faster rank transports more batches. Collective: every rank must call it for each
        round."""
        if not dynamic:
            yield from range(lo + (self.rank - lo) % self.size, hi, self.size)
            return
        from mpi4py import MPI

        if self._win is None:
            self._win = MPI.Win.Allocate(8 if self.rank == 0 else 0, 8, comm=self.comm)
            # one shared passive-target epoch for the whole run: no lock traffic per batch
            self._win.Lock_all(MPI.MODE_NOCHECK)
        self.comm.Barrier()
        if self.rank == 0:
            self._win.Accumulate(np.array([lo], np.int64), 0, op=MPI.REPLACE)
            self._win.Flush(0)
        self.comm.Barrier()
        one = np.ones(1, np.int64)
        got = np.empty(1, np.int64)
        while True:
            self._win.Fetch_and_op(one, got, 0, op=MPI.SUM)
            self._win.Flush(0)
            b = int(got[0])
            if b >= hi:
                return
            yield b

    def release(self):
        """Free the batch counter (collective)."""
        if self._win is not None:
            self._win.Unlock_all()
            self._win.Free()
            self._win = None

    def reduce_add(self, local, total):
        """``total`` (rank 0 only; ignored elsewhere) += sum over ranks of ``local``, in chunks
        of :data:`REDUCE_CHUNK` values; ``local`` is zeroed on every rank."""
        from mpi4py import MPI

        flat = np.ascontiguousarray(local).reshape(-1)
        recv = np.empty(min(REDUCE_CHUNK, flat.size), flat.dtype) if self.rank == 0 else None
        if self.rank == 0 and not total.flags.c_contiguous:
            raise ValueError("reduce_add needs a C-contiguous total (a reshaped view is summed into)")
        tot = total.reshape(-1) if self.rank == 0 else None
        for lo in range(0, flat.size, REDUCE_CHUNK):
            hi = min(lo + REDUCE_CHUNK, flat.size)
            part = flat[lo:hi]
            if self.rank == 0:
                self.comm.Reduce(part, recv[: hi - lo], op=MPI.SUM, root=0)
                tot[lo:hi] += recv[: hi - lo]
            else:
                self.comm.Reduce(part, None, op=MPI.SUM, root=0)
        local[...] = 0

    def reduce_inplace(self, buf):
        """On rank 0, ``buf`` (C-contiguous, the same size on every rank) becomes the sum over
        ranks of ``buf``, in chunks of :data:`REDUCE_CHUNK` values summed in place
        (MPI_IN_PLACE: no receive buffer, no extra pass); on the other ranks it is sent and left
        as it was."""
        from mpi4py import MPI

        if not buf.flags.c_contiguous:
            raise ValueError("reduce_inplace needs a C-contiguous buffer (the sum is written into it)")
        flat = buf.reshape(-1)
        for lo in range(0, flat.size, REDUCE_CHUNK):
            part = flat[lo:min(lo + REDUCE_CHUNK, flat.size)]
            if self.rank == 0:
                self.comm.Reduce(MPI.IN_PLACE, part, op=MPI.SUM, root=0)
            else:
                self.comm.Reduce(part, None, op=MPI.SUM, root=0)

    def union_box(self, box):
        """The voxel block covering ``box`` of every rank (int64[6], see
        :func:`mc.tally.empty_box`)."""
        from mpi4py import MPI

        lo = np.array(box[:3], np.int64)
        hi = np.array(box[3:], np.int64)
        lo_all = np.empty_like(lo)
        hi_all = np.empty_like(hi)
        self.comm.Allreduce(lo, lo_all, op=MPI.MIN)
        self.comm.Allreduce(hi, hi_all, op=MPI.MAX)
        return np.concatenate([lo_all, hi_all])

    def union_cols(self, cols):
        """Per-column layer ranges (see :func:`mc.tally.empty_cols`) covering those of every
        rank."""
        from mpi4py import MPI

        out = np.empty_like(cols)
        self.comm.Allreduce(np.ascontiguousarray(cols[0]), out[0], op=MPI.MIN)
        self.comm.Allreduce(np.ascontiguousarray(cols[1]), out[1], op=MPI.MAX)
        return out

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)

    def any(self, flag):
        from mpi4py import MPI

        return bool(self.comm.allreduce(int(bool(flag)), op=MPI.MAX))

    def gather(self, obj):
        return self.comm.gather(obj, root=0)

    def barrier(self):
        self.comm.Barrier()

    def abort(self, code=1):  # pragma: no cover  (kills the job)
        sys.stdout.flush()
        sys.stderr.flush()
        # MPI_Abort makes the launcher kill every rank at once, and output still in its pipes
        # may be lost (seen with MPICH's Hydra): give it a moment to forward the error message
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(code)


def get_comm():
    """The MPI communicator if this process is one of several MPI ranks, else a
    :class:`SerialComm`. mpi4py is imported only when an MPI launcher set up the environment,
    so plain ``python -m mc.run`` never needs it."""
    launched = any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                             "MPI_LOCALNRANKS", "SLURM_PROCID", "HYDRA_CONTROL_FD"))
    if not launched:
        return SerialComm()
    try:
        from mpi4py import MPI
    except ImportError:
        return SerialComm()
    comm = MPI.COMM_WORLD
    return MPIComm(comm) if comm.Get_size() > 1 else SerialComm()
