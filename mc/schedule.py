"""How a run's primaries are cut into batches, rounds and kernel calls.

Three levels, each with its own purpose:

* **Batches** are the statistical and random-number units: batch b has its own generator
  stream (``SeedSequence(seed, spawn_key=(b,))``, :func:`mc.batch.batch_seed`) and is one
  sample of the batch method of the standard error (:mod:`mc.tally`). Their sizes depend on the
  primaries only, never on the number of ranks, so the dose does not either. By default
  (``run.batches: auto``) a batch holds about :data:`BATCH_PRIMARIES` primaries (about a second
  of transport for 150 MeV protons in water on one core), and there are at least
  :data:`MIN_BATCHES`.
* **Rounds** group batches between two reductions of the ranks' tallies into rank 0 (the
  stopping rules and checkpoints act at round ends). By default (``run.round_batches: auto``) a
  round holds the same number m of batches for every rank (a multiple of the number of ranks,
  so that no rank waits at the round's end while others run a last batch): at least
  :data:`BATCHES_PER_RANK`, so that the dynamic schedule can balance ranks of unequal speed;
  more on a large grid, so that a round's transport is at least :data:`REDUCE_MARGIN` times its
  reduction (:data:`REDUCE_BYTES_PER_S`, measured, ``docs/scaling.md``); fewer where that would
  leave fewer than :data:`MIN_ROUNDS` rounds (a stop loses at most the round in progress). One
  rank has no reduction, and its rounds are :data:`BATCHES_PER_RANK` batches.
* **Kernel calls**: a batch is transported in calls of at most :data:`CALL_PRIMARIES`
  primaries, the generator state and the batch's tallies carried from one call to the next, so
  a batch gives the same result however it is cut, and a stop request or a time limit is seen
  after at most one call (a few tenths of a second).

:func:`layout_warnings` says when a configured layout leaves ranks idle, makes batches so
small that their overhead dominates, or so long that a stop loses much work.
"""

import math
from dataclasses import dataclass

#: Primaries per batch when ``run.batches`` is ``auto`` (about 1 s of transport per core for
#: 150 MeV protons in water at 1e5 protons/s; measured rates are in benchmarks/results).
BATCH_PRIMARIES = 100_000

#: The fewest batches of an automatic layout (the batch method's standard error needs several
#: samples; 10 gives it to within about 25 %, the 1/sqrt(2 (B - 1)) of its own spread).
MIN_BATCHES = 10

#: Batches per rank in a round of an automatic layout (the dynamic schedule balances ranks
#: whose speeds differ to within about 1/BATCHES_PER_RANK of a round).
BATCHES_PER_RANK = 4

#: The fewest rounds of an automatic layout when the batches allow it.
MIN_ROUNDS = 4

#: Bytes of the tallies of one voxel that a plain dose run reduces at a round's end (the
#: integer dose sum and its second moment, 8 B each).
REDUCE_BYTES_PER_VOXEL = 16

#: Speed of the reduction into rank 0 [bytes of one rank's tallies per second]: MPI_Reduce of
#: 8 MB chunks between 2 ranks on the development VM, 0.40-0.51 GB/s with MPICH's defaults
#: (``docs/scaling.md``); the slow end, so that rounds are long enough where it is slow.
REDUCE_BYTES_PER_S = 0.4e9

#: A round's transport should take at least this many times its reduction.
REDUCE_MARGIN = 20.0

#: Seconds of one automatic batch on one core (:data:`BATCH_PRIMARIES` at 1e5 protons/s).
BATCH_SECONDS = 1.0

#: Primaries per kernel call (at most): how often a batch checks for a stop request.
CALL_PRIMARIES = 20_000

#: Below this many primaries per batch the per-batch work (tally accumulation over the voxels
#: the batch reached, scheduling) is no longer small against the transport.
SMALL_BATCH = 1_000

#: Above this many primaries per batch (about 10 minutes at 1e5 protons/s) a stop or a
#: failure loses a long stretch of work.
LONG_BATCH = 60_000_000


def auto_batches(primaries):
    """Batches of an automatic layout: about :data:`BATCH_PRIMARIES` primaries each, at least
    :data:`MIN_BATCHES` (and at most one per primary)."""
    return int(min(primaries, max(MIN_BATCHES, math.ceil(primaries / BATCH_PRIMARIES))))


def auto_round_batches(batches, ranks, voxels=0):
    """Batches per round of an automatic layout for ``ranks`` ranks on a grid of ``voxels``
    voxels (see the module docstring): m batches per rank, m from :data:`BATCHES_PER_RANK` up to
    what amortizes the reduction, then down to leave :data:`MIN_ROUNDS` rounds (never below
    one); at most all batches."""
    m = BATCHES_PER_RANK
    if ranks > 1:
        reduce_s = voxels * REDUCE_BYTES_PER_VOXEL / REDUCE_BYTES_PER_S
        m = max(m, math.ceil(REDUCE_MARGIN * reduce_s / BATCH_SECONDS))
    m = max(1, min(m, batches // (MIN_ROUNDS * ranks)))
    return int(min(batches, m * ranks))


class BatchSizes:
    """The primaries of each of ``batches`` near-equal batches of ``primaries`` (the first ones
    one larger), computed when asked: a run of 1e15 primaries in 1e10 batches holds no list."""

    def __init__(self, primaries, batches):
        self.n = int(batches)
        self.base, self.extra = divmod(int(primaries), self.n)

    def __len__(self):
        return self.n

    def __getitem__(self, b):
        if not 0 <= b < self.n:
            raise IndexError(b)
        return self.base + (1 if b < self.extra else 0)

    def total(self, lo, hi):
        """Primaries of the batches lo .. hi - 1."""
        lo, hi = max(int(lo), 0), min(int(hi), self.n)
        return max(hi - lo, 0) * self.base + max(min(hi, self.extra) - lo, 0)


def batch_sizes(primaries, batches):
    """Split ``primaries`` into ``batches`` near-equal batch sizes (:class:`BatchSizes`)."""
    return BatchSizes(primaries, batches)


def batches_total(sizes, lo, hi):
    """Primaries of batches lo .. hi - 1 of ``sizes`` (a :class:`BatchSizes` or a list)."""
    return sizes.total(lo, hi) if isinstance(sizes, BatchSizes) else int(sum(sizes[lo:hi]))


class Rounds:
    """Rounds of ``k`` batches from batch ``first`` to ``end`` (the last may be shorter): round r
    is the batches ``self[r]`` = (lo, hi), computed when asked."""

    def __init__(self, first, end, k):
        self.first, self.end, self.k = int(first), int(end), int(k)

    def __len__(self):
        return max(math.ceil((self.end - self.first) / self.k), 0)

    def __getitem__(self, r):
        if not 0 <= r < len(self):
            raise IndexError(r)
        lo = self.first + r * self.k
        return lo, min(lo + self.k, self.end)


@dataclass
class Layout:
    """A run's batches and rounds (see the module docstring)."""

    primaries: int
    ranks: int
    batches: int
    round_batches: int

    @property
    def rounds(self):
        return math.ceil(self.batches / self.round_batches)

    @property
    def batch_primaries(self):
        """Primaries of the largest batch."""
        return math.ceil(self.primaries / self.batches)

    @property
    def busy_ranks(self):
        """Ranks that get a batch in a full round."""
        return min(self.ranks, self.round_batches)

    def summary(self):
        return {"primaries": self.primaries, "ranks": self.ranks, "batches": self.batches,
                "round_batches": self.round_batches, "rounds": self.rounds,
                "batch_primaries": self.batch_primaries, "busy_ranks": self.busy_ranks,
                "kernel_calls_per_batch": math.ceil(self.batch_primaries / CALL_PRIMARIES)}


def layout(primaries, ranks, batches="auto", round_batches="auto", voxels=0):
    """The :class:`Layout` of a run of ``primaries`` on ``ranks`` ranks and a grid of ``voxels``
    voxels; ``batches`` and ``round_batches`` as configured (a number, or ``auto``)."""
    b = auto_batches(primaries) if batches == "auto" else int(batches)
    k = auto_round_batches(b, ranks, voxels) if round_batches == "auto" else min(int(round_batches), b)
    return Layout(int(primaries), int(ranks), b, k)


def layout_warnings(lay, rate_per_rank=1.0e5):
    """Warnings about a layout (one line each): ranks left idle, tiny batches, long batches;
    ``rate_per_rank`` [primaries/s] only sizes the times in the messages."""
    out = []
    if lay.busy_ranks < lay.ranks:
        idle = lay.ranks - lay.busy_ranks
        what = "run.batches" if lay.batches < lay.ranks else "run.round_batches"
        out.append(f"{what}: {lay.round_batches} batches per round for {lay.ranks} ranks leaves {idle} ranks idle; "
                   f"set {what}: auto (or at least {lay.ranks})")
    if lay.batch_primaries < SMALL_BATCH and lay.batches > MIN_BATCHES:
        out.append(f"run.batches: {lay.batches} batches of {lay.batch_primaries} primaries are too small to be "
                   f"efficient; set run.batches: auto (batches of about {BATCH_PRIMARIES} primaries)")
    if lay.batch_primaries > LONG_BATCH:
        minutes = lay.batch_primaries / rate_per_rank / 60.0
        out.append(f"run.batches: batches of {lay.batch_primaries:.3g} primaries take about {minutes:.0f} min each; "
                   "a stop or a time limit keeps only finished batches, so it may lose that much work; "
                   "set run.batches: auto")
    return out
