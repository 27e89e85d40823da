"""Distributed stratified SGD (DSGD) and Fugue for matrix factorisation.

Minimises ``Σ_Ω (r_ui − w_u·h_i)² + λ Σ_Ω (‖w_u‖² + ‖h_i‖²)`` (see
:mod:`mpiml.mf.kernels`).

DSGD (Gemulla, Nijkamp, Haas, Sismanis, KDD 2011): the matrix is cut into
``d × d`` blocks (``d = size · blocks_per_rank``).  Each rank keeps the W rows
of its row blocks; H column blocks travel between ranks by one point-to-point
exchange per sub-epoch following a :class:`~mpiml.mf.schedule.Schedule`, so
in every sub-epoch the ranks update blocks that share no rows or columns and
the result equals a serial run of the same stratified schedule, bit for bit.

Fugue (Kumar, Beutel, Ho, Xing, AISTATS 2014): same rotation, but a rank that
finishes its blocks early keeps making SGD updates on ratings sampled from
them until the slowest rank is done (or a cap is reached).  Ranks signal
"done" with a plain non-blocking barrier (``comm.ibarrier()``, an
``MPI_Ibarrier`` whose request's ``test()`` also watches the failure channel)
and poll it between chunks of extra updates; nothing else synchronises on the
way in, so a fast rank keeps working until the slowest rank arrives.  The
slowest rank makes no extra updates: an atomic arrival counter
(``comm.counter``, a fetch-and-add that needs no other rank to run) tells it
it is the last, where the barrier alone would tell it only after the others'
next polls (milliseconds when ranks share cores).

Resuming bit-identically at the same rank count needs: the epoch counter,
:meth:`StepSize.state`, W and H (H blocks are where the schedule places them
at ``(epoch, 0)``) and the hyper-parameters incl. seed; every random stream
(stratum order, block shuffles, Fugue samples) is a pure function of the seed
and the position, so there is no other RNG state.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import ConfigError, NumericalError
from . import kernels
from .blocks import DEFAULT_L2_BYTES, BlockLayout, auto_blocks_per_rank, l2_cache_bytes, make_blocks
from .common import (StepSize, agree_valid, as_triplets, block_seed, check_triplets, default_init_scale,
                     init_factor_rows, ordered_totals, redistribute)
from .schedule import Schedule

_EXTRA_TAG = 7


def _comm_snapshot(comm) -> tuple[float, float, int]:
    st = comm.stats
    return (float(getattr(st, "comm_seconds", 0.0)), float(getattr(st, "wait_seconds", 0.0)),
            int(st.total_bytes))


class DSGD:
    """Stratified SGD matrix factorisation over all ranks (DSGD, or Fugue with ``fugue=True``).

    Parameters
    ----------
    k : int
        Rank of the factorisation.
    lam : float
        L2 weight λ (per rating, see the module docstring).
    lr : float
        Initial step size.
    step : {"bold", "fixed", "decay"}
        Step-size rule (:class:`~mpiml.mf.common.StepSize`); ``decay`` uses ``decay``.
    order : {"SEQ", "RSEQ", "WR", "WOR", "COWOR"}
        Stratum order (:mod:`mpiml.mf.schedule`).
    blocks_per_rank : int or "auto"
        ``b``; the matrix is cut into ``(size·b)²`` blocks.  ``"auto"``:
        :func:`~mpiml.mf.blocks.auto_blocks_per_rank` for the smallest L2
        cache over the ranks (``blocks_per_rank_`` holds the choice, and
        ``blocks_note_`` says why); resuming a checkpoint at its rank count
        keeps the checkpoint's ``b``.
    seed : int
    fugue : bool
        Make Fugue's extra updates while waiting for the slowest rank.
    fugue_cap : float
        At most this many extra updates per sub-epoch, as a fraction of the
        rank's ratings in that sub-epoch.
    fugue_chunk : int
        Extra updates between two polls of the "all done" request.
    fugue_fixed : float or None
        Deterministic Fugue: exactly ``round(fugue_fixed · nnz)`` extra updates
        per block, no polling (tests, reproducible runs).
    init_scale : float or None
        Factors start as ``init_scale · U(0, 1)``; default from the RMS rating.
    dtype : {"float32", "float64"}
        Type of W, H, the ratings in the blocks and the SGD arithmetic (the
        losses are summed in float64 either way).
    cache_bytes : int or None
        L2 size for ``blocks_per_rank="auto"``; default: read from sysfs
        (:func:`~mpiml.mf.blocks.l2_cache_bytes`), else 1 MiB.

    Notes
    -----
    Communicator methods used: ``allreduce``, ``allgather_obj``, ``alltoallv``,
    ``exchange`` (peers only: a sub-epoch's hand-off runs no collective),
    ``agree`` and, for Fugue without ``fugue_fixed``, ``ibarrier()``
    returning a request with ``test()``/``wait()``.
    """

    def __init__(self, k: int = 32, lam: float = 0.05, lr: float = 0.01, step: str = "bold",
                 decay: float = 0.0, order: str = "WOR", blocks_per_rank: int = 1, seed: int = 0,
                 fugue: bool = False, fugue_cap: float = 1.0, fugue_chunk: int = 4096,
                 fugue_fixed: float | None = None, init_scale: float | None = None,
                 dtype: str = "float32", cache_bytes: int | None = None):
        self.k, self.lam, self.lr, self.step, self.decay = k, lam, lr, step, decay
        self.order, self.blocks_per_rank, self.seed = order, blocks_per_rank, seed
        self.fugue, self.fugue_cap, self.fugue_chunk = fugue, fugue_cap, fugue_chunk
        self.fugue_fixed, self.init_scale = fugue_fixed, init_scale
        self.dtype, self.cache_bytes = dtype, cache_bytes

    # ----------------------------------------------------------------- setup
    def setup(self, comm, train, n_users: int, n_items: int, valid=None) -> "DSGD":
        """Collective.  Move every rating to the owner of its user, cut the
        blocks and initialise W and the H blocks for position (0, 0).

        ``train``/``valid``: this rank's share of any split of the ratings
        (dense ids), as :class:`~mpiml.mf.common.Triplets` or ``(u, i, r)``.
        """
        if self.k < 1 or self.lam < 0 or self.fugue_chunk < 1 or self.fugue_cap < 0:
            raise ConfigError("need k >= 1, lam >= 0, fugue_chunk >= 1, fugue_cap >= 0")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")
        b = self.blocks_per_rank
        if b != "auto" and (isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1):
            raise ConfigError(f"blocks_per_rank must be 'auto' or an integer >= 1, got {b!r}")
        self.comm_ = comm
        self.dtype_ = np.dtype(self.dtype)
        self.step_ = StepSize(self.lr, self.step, self.decay)
        self._choose_blocks(int(n_users), int(n_items))
        train, valid = as_triplets(train), agree_valid(comm, as_triplets(valid))
        with comm.agree("checking the ratings"):
            check_triplets(train, n_users, n_items, "training ratings")
            if valid is not None:
                check_triplets(valid, n_users, n_items, "validation ratings")
        # Who owns a user does not depend on the blocking (mpiml.mf.blocks).
        train = redistribute(comm, train, self.layout_.user_owner(train.users))
        if valid is not None:
            valid = redistribute(comm, valid, self.layout_.user_owner(valid.users))
        self._make_blocks(train, valid)
        self.n_train_ = int(comm.allreduce(np.array([train.users.size], np.int64))[0])
        self.n_valid_ = (None if valid is None else
                         int(comm.allreduce(np.array([valid.users.size], np.int64))[0]))
        scale = self.init_scale
        if scale is None:
            sums = {(i, j): (kernels.sum_squares(self.blocks_.block(i, j)[2]),)
                    for i in self.schedule_.row_blocks(comm.rank) for j in range(self.layout_.d)}
            scale = default_init_scale(ordered_totals(comm, sums, 1)[0], self.n_train_, self.k)
        self.init_scale_ = scale
        lay, rank = self.layout_, comm.rank
        self.user_lo_, self.user_hi_ = lay.user_range(rank)
        self.W_ = init_factor_rows(self.seed, "W", self.user_lo_, self.user_hi_, self.k, scale, self.dtype_)
        self.H_ = {j: init_factor_rows(self.seed, "H", *lay.col_block_range(j), self.k, scale, self.dtype_)
                   for j in self.schedule_.held(0, 0, rank)}
        self.epoch_ = 0
        self.history_ = []
        self.extra_log_ = []
        # Fugue: arrival order at the end of each sub-epoch, so that the last
        # rank to finish its block knows it at once (an atomic fetch-and-add
        # that needs no other rank to run) and makes no extra updates; the
        # barrier alone would tell it only after the others' next polls.
        self._arrivals = comm.counter("mf:fugue-arrivals") if self.fugue and self.fugue_fixed is None else None
        return self

    def _choose_blocks(self, n_users: int, n_items: int, b=None) -> None:
        """Collective when ``blocks_per_rank`` is "auto" and ``b`` is not given
        (every rank takes the smallest L2 over the ranks, so all choose alike).
        Sets the schedule and layout for ``b`` blocks per rank."""
        P = self.comm_.size
        if b is not None:
            why = "kept from the checkpoint"
        elif self.blocks_per_rank == "auto":
            cache = self.cache_bytes
            found = "given"
            if cache is None:
                cache = l2_cache_bytes()
                found = "from sysfs" if cache is not None else "assumed: no L2 size in sysfs"
                cache = DEFAULT_L2_BYTES if cache is None else cache
            cache = int(self.comm_.allreduce(np.array([int(cache)], np.int64), op="min", kind="mf:stats")[0])
            b, why = auto_blocks_per_rank(n_users, n_items, P, self.k, self.dtype_.itemsize, cache)
            why += f", {found}"
        else:
            b, why = int(self.blocks_per_rank), "--blocks-per-rank"
        self.blocks_per_rank_ = b
        self.blocks_note_ = f"{b} block(s) per rank, {(P * b) ** 2} in all ({why})"
        self.schedule_ = Schedule(self.order, P, b, self.seed)
        self.layout_ = BlockLayout(n_users, n_items, P, b)

    def _make_blocks(self, train, valid) -> None:
        """Cut this rank's ratings (all of its own users) for ``layout_``."""
        lay, rank = self.layout_, self.comm_.rank
        self.blocks_ = make_blocks(*train, lay, rank, value_dtype=self.dtype_)
        self.valid_blocks_ = None if valid is None else make_blocks(*valid, lay, rank,
                                                                    value_dtype=self.dtype_)
        n = max(self.blocks_.max_block_nnz, 1)
        self._scratch = (np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, self.dtype_))

    def _reblock(self, b: int) -> None:
        """Re-cut the local ratings for ``b`` blocks per rank (no communication:
        a rank owns the same users whatever the blocking)."""
        lay = self.layout_

        def triplets(blk):
            if blk is None:
                return None
            b0, d = lay.blocks_per_rank, lay.d
            counts = np.diff(blk.ptr, axis=1).reshape(-1)          # [local row block, col block]
            col = np.repeat(np.tile(np.arange(d), b0), counts)
            return (blk.users.astype(np.int64) + blk.user_lo,
                    blk.items.astype(np.int64) + lay.col_offsets[col], blk.values)

        train, valid = triplets(self.blocks_), triplets(self.valid_blocks_)
        self._choose_blocks(lay.n_users, lay.n_items, b)
        self._make_blocks(train, valid)

    # ------------------------------------------------------------------ epoch
    def run_epoch(self, straggle=None) -> dict:
        """Collective.  One epoch (``d`` sub-epochs), then evaluate; returns the epoch record.

        ``straggle(seconds)``, if given, is called after each sub-epoch's own
        updates with the seconds they took (the runtime's ``--straggler``
        slows a rank by sleeping there).
        """
        comm, sched, rank = self.comm_, self.schedule_, self.comm_.rank
        e, d, b = self.epoch_, self.schedule_.d, self.blocks_per_rank_
        lr = self.step_.current(e)
        c0 = _comm_snapshot(comm)
        extra = np.zeros((d, b), dtype=np.int64)
        own = np.zeros(d)          # seconds of own updates (+ straggler delay) per sub-epoch
        bwait = np.zeros(d)        # seconds blocked in Fugue's barrier per sub-epoch
        t_compute = t_extra = 0.0
        for s in range(d):
            work = sched.work(e, s, rank)
            t0 = time.perf_counter()
            for i, j in work:
                kernels.sgd_block(self.W_, self.H_[j], *self.blocks_.block(i, j), *self._scratch,
                                  lr, self.lam, block_seed(self.seed, e, i, j))
            t1 = time.perf_counter()
            t_compute += t1 - t0
            if straggle is not None:
                straggle(t1 - t0)
            if self.fugue:
                t1 = time.perf_counter()
                own[s] = t1 - t0
                extra[s], bwait[s] = self._extra_updates(e, s, work, lr)
                t_extra += time.perf_counter() - t1
            self._move(e, s)
        t0 = time.perf_counter()
        tot = self._evaluate()
        t_eval = time.perf_counter() - t0
        sse, reg, vsse = (float(x) for x in tot)
        objective = sse + self.lam * reg
        if not np.isfinite(objective):
            raise NumericalError(f"DSGD objective is {objective} after epoch {e + 1}; "
                                 f"lower the step size (was {lr:g})")
        self.step_.update(objective)
        self.epoch_ += 1
        c1 = _comm_snapshot(comm)
        rec = {"epoch": self.epoch_, "lr": lr, "objective": objective,
               "train_rmse": float(np.sqrt(sse / max(self.n_train_, 1))),
               "valid_rmse": (None if self.n_valid_ is None
                              else float(np.sqrt(vsse / max(self.n_valid_, 1)))),
               "seconds_compute": t_compute, "seconds_extra": t_extra, "seconds_eval": t_eval,
               "seconds_comm": c1[0] - c0[0], "seconds_wait": c1[1] - c0[1], "bytes": c1[2] - c0[2]}
        if self.fugue:
            log = np.zeros((d, d), dtype=np.int64)   # [sub-epoch, row block]
            own_s, wait_s = np.zeros((d, comm.size)), np.zeros((d, comm.size))
            for part in comm.allgather_obj((rank, extra, own, bwait), kind="mf:fugue-log"):
                log[:, part[0] * b:(part[0] + 1) * b] = part[1]
                own_s[:, part[0]], wait_s[:, part[0]] = part[2], part[3]
            self.extra_log_.append(log)
            rec["extra_updates"] = log.reshape(d, comm.size, b).sum(axis=2)  # [sub-epoch, rank]
            rec["fugue_own_seconds"] = own_s      # [sub-epoch, rank]: own updates + straggler delay
            rec["fugue_wait_seconds"] = wait_s    # [sub-epoch, rank]: blocked in the barrier
        self.history_.append(rec)
        return rec

    def fit(self, comm, train, n_users: int, n_items: int, valid=None, n_epochs: int = 10) -> "DSGD":
        """Collective.  :meth:`setup` then ``n_epochs`` × :meth:`run_epoch`."""
        self.setup(comm, train, n_users, n_items, valid)
        for _ in range(n_epochs):
            self.run_epoch()
        return self

    # ------------------------------------------------------------- internals
    def _extra_updates(self, e: int, s: int, work, lr: float):
        """Fugue: sampled updates on this sub-epoch's blocks until every rank is
        done.  Returns (updates per block, seconds blocked in the barrier)."""
        counts = np.zeros(len(work), dtype=np.int64)
        blocks = [self.blocks_.block(i, j) for i, j in work]
        seeds = [block_seed(self.seed, e, i, j, _EXTRA_TAG) for i, j in work]
        targets = [x for x, blk in enumerate(blocks) if blk[0].size]

        def run(x, c):
            kernels.sgd_sampled(self.W_, self.H_[work[x][1]], *blocks[x], lr, self.lam,
                                seeds[x], counts[x], c)
            counts[x] += c

        if self.fugue_fixed is not None:
            for x in targets:
                run(x, int(round(self.fugue_fixed * blocks[x][0].size)))
            return counts, 0.0
        req = self.comm_.ibarrier(kind="mf:fugue-done")
        size = self.comm_.size
        if (self._arrivals.fetch_add(1) + 1) % size == 0:
            targets = []        # the last to arrive: everybody else is done already
        cap = int(self.fugue_cap * sum(blk[0].size for blk in blocks))
        done, q = 0, 0
        while targets and done < cap and not req.test():
            c = min(self.fugue_chunk, cap - done)
            run(targets[q % len(targets)], c)
            done += c
            q += 1
        t0 = time.perf_counter()
        req.wait()
        return counts, time.perf_counter() - t0

    def _move(self, e: int, s: int) -> None:
        """Send/receive H blocks for the next sub-epoch: one sparse exchange
        with this rank's schedule peers (no collective)."""
        sched = self.schedule_
        # Point-to-point with the ranks the schedule names, nobody else.
        m = sched.moves(e, s, self.comm_.rank)
        if not m.sends and not m.recvs:
            return
        k, lay = self.k, self.layout_
        sends = {dst: np.concatenate([self.H_.pop(j).reshape(-1) for j in js])
                 for dst, js in m.sends.items()}
        recv = {src: (sum(np.diff(lay.col_block_range(j))[0] for j in js) * k, self.dtype_)
                for src, js in m.recvs.items()}
        got = self.comm_.exchange(sends, recv, kind="mf:rotate")
        for src, js in m.recvs.items():
            self._unpack(got[src], js)

    def _unpack(self, buf: np.ndarray, blocks) -> None:
        off = 0
        for j in blocks:
            lo, hi = self.layout_.col_block_range(j)
            n = (hi - lo) * self.k
            self.H_[j] = buf[off:off + n].reshape(hi - lo, self.k)
            off += n

    def _evaluate(self) -> np.ndarray:
        """Collective.  Losses of the current model: every H block visits every
        rank once on a ring (``size`` shifts, the last one restoring the
        placement); returns ``(Σ e², Σ(‖w‖²+‖h‖²), Σ e²_valid)``."""
        comm, sched, P, rank = self.comm_, self.schedule_, self.comm_.size, self.comm_.rank
        pos = (self.epoch_ + 1, 0)
        local = {}
        cur = self.H_
        # Squared row norms once per row, not once per rating (a row's norm is
        # a function of the row alone, so the serial replay's global norms match).
        nw = np.empty(self.W_.shape[0])
        kernels.row_norms(self.W_, nw)
        for q in range(P):
            for j in sorted(cur):
                nh = np.empty(cur[j].shape[0])
                kernels.row_norms(cur[j], nh)
                for i in sched.row_blocks(rank):
                    sse, reg = kernels.block_loss_normed(self.W_, cur[j], nw, nh, *self.blocks_.block(i, j))
                    vsse = 0.0
                    if self.valid_blocks_ is not None:
                        vsse = kernels.block_loss_normed(self.W_, cur[j], nw, nh,
                                                         *self.valid_blocks_.block(i, j))[0]
                    local[(i, j)] = (sse, reg, vsse)
            if P > 1:
                # after q+1 shifts we hold what rank (rank + q + 1) held at pos
                dst, src = (rank - 1) % P, (rank + 1) % P
                incoming = sched.held(*pos, (rank + q + 1) % P)
                sizes = sum(np.diff(self.layout_.col_block_range(j))[0] for j in incoming)
                got = comm.exchange({dst: np.concatenate([cur[j].reshape(-1) for j in sorted(cur)])},
                                    {src: (sizes * self.k, self.dtype_)}, kind="mf:eval-rotate")
                self.H_ = {}
                self._unpack(got[src], incoming)
                cur = self.H_
        return ordered_totals(comm, local, 3, kind="mf:loss")

    # ------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict:
        """What besides W and H a bit-identical resume needs (same on every rank)."""
        return {"algorithm": "fugue" if self.fugue else "dsgd", "epoch": self.epoch_,
                "step": self.step_.state(), "seed": self.seed, "order": self.order,
                "n_ranks": self.comm_.size, "blocks_per_rank": self.blocks_per_rank_,
                "k": self.k, "lam": self.lam, "init_scale": self.init_scale_, "dtype": self.dtype}

    def local_factors(self) -> dict:
        """This rank's factor rows by global index: ``{"W": [(lo, rows)], "H": [(lo, rows), ...]}``.

        Together over all ranks they cover W and H exactly once (H as placed for
        the next epoch's first sub-epoch)."""
        lay = self.layout_
        return {"W": [(self.user_lo_, self.W_)],
                "H": [(lay.col_block_range(j)[0], self.H_[j]) for j in sorted(self.H_)]}

    def load_state(self, state: dict, read_rows) -> None:
        """Resume: ``read_rows(which, lo, hi)`` returns global rows ``lo..hi-1`` of
        ``"W"`` or ``"H"`` from a checkpoint (any rank count wrote it).  Call
        after :meth:`setup`; bit-identical continuation needs the same rank
        count and ``blocks_per_rank``: with ``blocks_per_rank="auto"`` the
        state's ``blocks_per_rank`` is kept when its ``n_ranks`` is this run's."""
        b = state.get("blocks_per_rank")
        if (self.blocks_per_rank == "auto" and b is not None and state.get("n_ranks") == self.comm_.size
                and int(b) != self.blocks_per_rank_):
            self._reblock(int(b))
        self.epoch_ = int(state["epoch"])
        self.step_.load(state["step"])
        self.W_ = np.ascontiguousarray(read_rows("W", self.user_lo_, self.user_hi_), dtype=self.dtype_)
        lay = self.layout_
        self.H_ = {j: np.ascontiguousarray(read_rows("H", *lay.col_block_range(j)), dtype=self.dtype_)
                   for j in self.schedule_.held(self.epoch_, 0, self.comm_.rank)}
