"""IBM Model 1 by fully distributed EM, as a runtime :class:`Algorithm`.

Wolfe, Haghighi & Klein, "Fully Distributed EM for Very Large Datasets"
(ICML 2008), on their running example: the translation probabilities
theta_st = p(t | s) of IBM Model 1 (Brown et al. 1993).  Objective: the
negative log-likelihood of the target sentences given the source sentences,
which EM never increases.

This module connects :class:`mpiml.em.distributed.DistributedIBM1` (E-step,
C-step over a topology, M-step) with the training loop: progress columns,
checkpoints of the distributed theta, resume at the same or another rank
count, and the final outputs (Viterbi alignments, top-k translation table).

Checkpoint layout (schema 1)
----------------------------
``distributed/keys`` (int64) and ``distributed/theta`` (float64, or float32
with ``--dtype float32``): every
rank's parameter keys ``s * n_tgt + t`` and theta, rank after rank (a key
shared by several ranks appears once per holder, with identical theta);
``replicated/src_vocab`` and ``replicated/tgt_vocab``: the vocabularies as
newline-joined UTF-8 bytes (source id 0 is ``<NULL>``), so the table can be
read without the corpus; ``rank_state``: each rank's row offset and count.
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np

from ..comm.shuffle import ask_owners, shuffle_by_owner
from ..errors import CheckpointError, ConfigError, InputError
from ..io.checkpoint import State
from ..io.corpus import read_parallel
from ..partition import block_range, hash_owner
from ..runtime.algorithm import Algorithm
from .distributed import DistributedIBM1
from .hosttree import cross_host_edges
from .topology import validate_tree
from .settings import IBM1Settings, edge_list

KIND = "ibm1"


def parse_tree_edges(text):
    """``"0-1,1-2,..."`` -> list of (a, b) rank pairs (ConfigError if malformed)."""
    if text is None:
        return None
    try:
        return edge_list(text)
    except ValueError as exc:
        raise ConfigError(f"--tree-edges: {exc}") from None


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (``ru_maxrss`` is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def vocab_bytes(words) -> np.ndarray:
    """Newline-joined UTF-8 words as a uint8 array (tokens never hold whitespace)."""
    return np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8).copy()


def vocab_from_bytes(arr) -> list[str]:
    data = np.asarray(arr, dtype=np.uint8).tobytes().decode("utf-8")
    return data.split("\n") if data else []


class IBM1Model(Algorithm):
    """Fully distributed EM for IBM Model 1 (Wolfe, Haghighi & Klein 2008).

    Parameters
    ----------
    settings : IBM1Settings, or its fields as keywords (``source``, ``target``
        or ``corpus``, ``topology``, ``tree_edges`` as ``"0-1,1-2"`` or
        pairs, ``null``, ``dtype`` (``"float64"`` or ``"float32"``), ``empty``,
        ``align_out``, ``export_ttable``, ``ttable_out``); see
        :class:`mpiml.em.settings.IBM1Settings`.

    Attributes
    ----------
    model_ : DistributedIBM1 (``params_``, ``theta_``, ``plan_info_``)
    read_seconds_ : float, time to read the corpus (max over ranks)
    loglik_ : float, log-likelihood under the theta the last E-step used
    """

    name = "ibm1"
    schema = 1
    partition_what = "sentence pairs"
    # Only --no-null and --dtype are model-defining (IBM1Settings): restore() checks the
    # vocabularies and corpus sizes themselves, so moved files still resume.
    Settings = IBM1Settings
    columns = (("loglik", "loglik", "{:.6e}"), ("perplexity", "perplexity", "{:.4g}"),
               ("e_s", "E_s", "{:.3f}"), ("c_s", "C_s", "{:.3f}"), ("m_s", "M_s", "{:.3f}"),
               ("cstep_bytes", "C_bytes", "{:,d}"), ("cstep_bytes_max", "C_max/rank", "{:,d}"),
               ("cstep_cross_host", "C_xhost", "{:,d}"), ("cstep_intra_host", "C_intra", "{:,d}"))

    # ------------------------------------------------------------------ setup
    def _check_options(self, size: int) -> None:
        """What the settings cannot check alone: the tree against the rank
        count, and that the output directories exist."""
        if self.topology == "tree":
            validate_tree(self.tree_edges_, size)
        for opt, path in (("--align-out", self.align_out), ("--ttable-out", self.ttable_out)):
            parent = os.path.dirname(os.path.abspath(path)) if path else None
            if parent and not os.path.isdir(parent):
                raise ConfigError(f"{opt} {path}: directory {parent} does not exist")

    @property
    def tree_edges_(self):
        """The --tree-edges as a list of rank pairs (None when not given)."""
        return parse_tree_edges(self.tree_edges)

    def setup(self, comm) -> int:
        """Collective.  Read this rank's lines, build parameters and the C-step plan."""
        self._check_options(comm.size)
        t0 = time.perf_counter()
        if self.corpus is not None:
            corpus = read_parallel(comm, self.corpus, empty=self.empty)
        else:
            corpus = read_parallel(comm, self.source, self.target, empty=self.empty)
        t_read = time.perf_counter() - t0
        n_pairs = comm.allgather_obj((corpus.n_pairs, t_read), kind=KIND + ".setup:sizes")
        if sum(p for p, _ in n_pairs) == 0:
            raise InputError(f"no sentence pair has tokens on both sides ({corpus.n_empty} empty "
                             "pairs skipped)", corpus.paths[0])
        self.read_seconds_ = max(t for _, t in n_pairs)
        self.n_pairs_ = sum(p for p, _ in n_pairs)
        self.model_ = DistributedIBM1(comm, self.topology, null=self.null,
                                      tree_edges=self.tree_edges_, kind=KIND,
                                      host_aware=self.host_aware,
                                      schedule=self.schedule,
                                      low_memory=self.estep == "word-major",
                                      dtype=self.dtype).setup(corpus, consume=True)
        self.loglik_ = float("nan")
        self.perplexity_ = float("nan")
        return corpus.n_pairs

    def initialize(self, comm) -> None:
        # DistributedIBM1.setup already set theta = 1 / n_tgt.
        self.model_.iteration_ = 0

    # ------------------------------------------------------------- iteration
    def step(self, comm, iteration: int, straggler) -> dict:
        """Collective.  One E, C and M step (:meth:`DistributedIBM1.iterate`,
        the straggler slowing the E-step); objective = -log-likelihood."""
        rec = self.model_.iterate(iteration, straggler)
        self.loglik_ = rec.loglik
        self.perplexity_ = rec.perplexity
        return {"objective": -rec.loglik, "loglik": rec.loglik, "perplexity": rec.perplexity,
                "e_s": rec.seconds_e, "c_s": rec.seconds_c, "m_s": rec.seconds_m,
                "cstep_bytes": rec.bytes_total, "cstep_bytes_max": rec.bytes_max_rank,
                "cstep_cross_host": rec.cross_host_bytes, "cstep_intra_host": rec.intra_host_bytes}

    # ---------------------------------------------------------------- outputs
    def plan_summary(self) -> dict:
        info = self.model_.plan_info_
        hosts = self.model_.rank_hosts_
        return {"topology": info.topology, "rounds": info.n_rounds,
                "bytes_total": info.bytes_total, "bytes_max_rank": info.bytes_max_rank,
                "statistics": info.n_keys, "shared_statistics": info.n_shared_keys,
                "tree_edges": None if info.tree_edges is None else info.tree_edges.tolist(),
                "root": info.root, "host_aware": self.host_aware, "rank_hosts": hosts,
                "n_hosts": len(set(hosts)), "cross_host_bytes": info.cross_host_bytes,
                "intra_host_bytes": info.intra_host_bytes,
                "cross_host_tree_edges": None if info.tree_edges is None
                else cross_host_edges(info.tree_edges, hosts),
                # rank 0 only (the finish record is written there)
                "edge_bytes": None if info.edge_bytes is None else [list(e) for e in info.edge_bytes],
                "edge_bytes_model": "ring" if info.topology == "allreduce" else "plan"}

    def finish(self, comm) -> dict:
        """Collective.  Write alignments and the translation table; summary."""
        m = self.model_
        c = m.corpus_
        out = {"topology": self.topology, "plan": self.plan_summary(),
               "read_s": self.read_seconds_, "setup_s": m.setup_seconds_,
               "params_s": m.params_seconds_, "plan_s": m.plan_seconds_,
               "peak_rss_mb": comm.allgather_obj(peak_rss_mb(), kind=KIND + ".finish"),
               "n_pairs": self.n_pairs_, "n_lines": c.n_lines, "n_empty": c.n_empty,
               "empty_lines": list(c.empty_lines), "src_vocab": c.n_src - 1, "tgt_vocab": c.n_tgt,
               "loglik": self.loglik_, "perplexity": self.perplexity_}
        if self.align_out:
            m.write_alignments(self.align_out)
            out["alignments"] = str(self.align_out)
        if self.export_ttable:
            text = m.export_ttable(self.export_ttable)
            with comm.agree(f"writing {self.ttable_out}"):
                if text is not None:
                    try:
                        with open(self.ttable_out, "w", encoding="utf-8") as fh:
                            fh.write(text)
                    except OSError as exc:
                        raise InputError(f"cannot write the translation table: {exc.strerror}",
                                         self.ttable_out) from None
            out["ttable"] = str(self.ttable_out)
            out["ttable_k"] = self.export_ttable
        return out

    # ------------------------------------------------------------ checkpoint
    def _fingerprint(self) -> dict:
        c = self.model_.corpus_
        return {"n_src": c.n_src, "n_tgt": c.n_tgt, "n_lines": c.n_lines, "n_pairs": self.n_pairs_,
                "null": self.null}

    def state(self, comm, iteration: int) -> State:
        """Collective.  Keys and theta as distributed arrays, vocabularies replicated."""
        m = self.model_
        n = m.params_.n_params
        offset = comm.exscan_sum(n, kind=KIND + ".state")
        total = int(comm.allreduce_scalar(n, kind=KIND + ".state"))
        c = m.corpus_
        return State(iteration=iteration,
                     replicated={"src_vocab": vocab_bytes(c.src_vocab),
                                 "tgt_vocab": vocab_bytes(c.tgt_vocab)},
                     distributed={"keys": (m.params_.keys, offset, total),
                                  "theta": (m.theta_, offset, total)},
                     rank_state={"offset": int(offset), "n_params": int(n)},
                     meta={**self._fingerprint(), "key": "s * n_tgt + t (s = 0 is NULL)",
                           "topology": self.topology, "loglik": self.loglik_})

    def restore(self, comm, ckpt) -> None:
        """Collective.  theta for this rank's keys from a checkpoint of any rank count."""
        m = self.model_
        want = self._fingerprint()
        have = {k: ckpt.meta.get(k) for k in want}
        if have != want:
            diff = ", ".join(f"{k} {have[k]} vs {want[k]}" for k in want if have[k] != want[k])
            raise CheckpointError(f"{ckpt.dir} was trained on another corpus ({diff})")
        c = m.corpus_
        if (vocab_from_bytes(ckpt.replicated("src_vocab")) != list(c.src_vocab)
                or vocab_from_bytes(ckpt.replicated("tgt_vocab")) != list(c.tgt_vocab)):
            raise CheckpointError(f"{ckpt.dir} was trained on another corpus (vocabularies differ)")
        keys = theta = None
        if ckpt.n_ranks == comm.size:
            # Same layout: this rank's own rows hold exactly its keys.
            rs = ckpt.rank_state(comm.rank)
            lo, n = int(rs.get("offset", 0)), int(rs.get("n_params", -1))
            if n == m.params_.n_params:
                k = ckpt.read_rows("keys", lo, lo + n)
                if np.array_equal(k, m.params_.keys):
                    keys, theta = k, ckpt.read_rows("theta", lo, lo + n)
        if comm.allreduce_scalar(int(keys is None), "max", kind=KIND + ".restore"):
            keys = m.params_.keys
            theta = lookup_theta(comm, ckpt, keys, m.space_)
        m.load_state(keys, theta, ckpt.iteration)
        self.loglik_ = float(ckpt.meta.get("loglik", float("nan")))


def lookup_theta(comm, ckpt, want, space) -> np.ndarray:
    """Collective.  theta of the keys ``want`` from a checkpoint of any rank count.

    A distributed join, so no rank reads the whole table: every rank reads
    an equal block of checkpoint rows and sends each entry to the owner of
    its source word (:func:`mpiml.partition.hash_owner`); ranks then ask the
    owners for the keys they need.  Missing keys are a CheckpointError.
    """
    size = comm.size
    total = ckpt.distributed_shape("keys")[0]
    lo, hi = block_range(total, size, comm.rank)
    keys = np.asarray(ckpt.read_rows("keys", lo, hi), dtype=np.int64)
    vals = np.asarray(ckpt.read_rows("theta", lo, hi), dtype=np.float64)
    kind = KIND + ".restore"

    got_k, got_v = shuffle_by_owner(comm, hash_owner(space.source_of(keys), size), keys, vals, kind=kind)
    table_k, first = np.unique(got_k, return_index=True)
    table_v = got_v[first]

    def reply(q):
        if table_k.size == 0:
            return np.full(q.size, np.nan)
        pos = np.minimum(np.searchsorted(table_k, q), table_k.size - 1)
        return np.where(table_k[pos] == q, table_v[pos], np.nan)
    want = np.asarray(want, dtype=np.int64)
    out = ask_owners(comm, hash_owner(space.source_of(want), size), want, reply, kind=kind).astype(np.float64)
    missing = int(np.count_nonzero(np.isnan(out)))
    if missing:
        raise CheckpointError(f"{ckpt.dir} lacks theta for {missing} parameters of rank {comm.rank}")
    return out
