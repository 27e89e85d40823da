"""Parallel-corpus readers: each rank reads only its own line range.

Layouts
-------
* two files, one sentence per line (``corpus.e`` / ``corpus.f``); line n of
  the source file pairs with line n of the target file;
* one file of ``source ||| target`` lines (the fast_align input format).

Tokens are separated by whitespace (``str.split()``).

How a rank finds its lines without reading the whole file
----------------------------------------------------------
1. The file's bytes are split into ``size`` equal chunks; each rank scans
   only its own chunk for newlines.
2. Ranks exchange their newline counts (``allgather_obj``); now every rank
   knows the number of lines and which lines each rank gets
   (:func:`mpiml.partition.block_range` over lines), and for every range
   boundary which chunk holds the newline that precedes it.
3. Each rank reports the byte positions of the boundaries that fall in its
   chunk (a second ``allgather_obj``), so every rank learns the byte range
   of its lines and reads exactly that.

Steps 2 and 3 are the pure functions :func:`plan_lines`,
:func:`resolve_boundaries` and :func:`byte_bounds`, which unit tests run for
many simulated ranks in one process.

Input errors (policy)
---------------------
* files with different numbers of lines: :class:`InputError` naming the
  longer file and its first line without a partner;
* bytes that are not UTF-8: :class:`InputError` naming file and 1-based line;
* a ``source ||| target`` line without exactly one ``|||``: InputError;
* empty pairs (no token on the source or on the target side): by default
  (``empty="skip"``) the pair is skipped, counted in
  :attr:`ParallelCorpus.n_empty` and its first line numbers are listed in
  :attr:`ParallelCorpus.empty_lines`, so a caller can report them;
  alignments are still written line-parallel (an empty line for a skipped
  pair).  With ``empty="error"`` the first empty pair is an InputError.

Vocabularies are the sorted union of every rank's words (Python string
order), so ids are identical on all ranks and independent of the rank
count.  Source id 0 is reserved for NULL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..partition import block_offsets, block_range

NULL_TOKEN = "<NULL>"
_SCAN_BLOCK = 1 << 24
_MAX_LISTED_EMPTY = 10


@dataclass
class ParallelCorpus:
    """One rank's share of a parallel corpus, as word ids in CSR form.

    ``src[src_ptr[n]:src_ptr[n+1]]`` and ``tgt[tgt_ptr[n]:tgt_ptr[n+1]]``
    are pair ``n``; ``line_index[n]`` is its global 0-based line.  Source ids
    start at 1 (0 is NULL); ``src_vocab[0]`` is ``"<NULL>"``.
    """

    src: np.ndarray
    src_ptr: np.ndarray
    tgt: np.ndarray
    tgt_ptr: np.ndarray
    line_index: np.ndarray
    line_lo: int
    line_hi: int
    n_lines: int
    src_vocab: list
    tgt_vocab: list
    n_empty: int = 0
    empty_lines: list = field(default_factory=list)
    paths: tuple = ()

    @property
    def n_pairs(self) -> int:
        return int(self.src_ptr.size - 1)

    @property
    def n_src(self) -> int:
        return len(self.src_vocab)

    @property
    def n_tgt(self) -> int:
        return len(self.tgt_vocab)


# ---------------------------------------------------------------- pure planning
@dataclass(frozen=True)
class LinePlan:
    """Where every rank's line range lies, before byte positions are known.

    ``line_bounds[r]:line_bounds[r+1]`` are rank r's lines.  Boundary b
    starts right after newline number ``line_bounds[b] - 1``;
    ``locators`` lists ``(b, chunk, index_in_chunk)`` for the boundaries
    whose newline exists (the others are byte 0 or the end of the file).
    """

    n_bytes: int
    n_lines: int
    line_bounds: np.ndarray
    locators: tuple


def byte_chunks(n_bytes: int, size: int) -> np.ndarray:
    """Byte offsets (length size + 1) of the chunk each rank scans."""
    return block_offsets(n_bytes, size)


def plan_lines(newline_counts, n_bytes: int, ends_with_newline: bool, size: int) -> LinePlan:
    """Line partition from the per-chunk newline counts (pure).

    A final line without a newline still counts as a line.
    """
    counts = np.asarray(newline_counts, dtype=np.int64)
    n_nl = int(counts.sum())
    n_lines = n_nl + (1 if n_bytes > 0 and not ends_with_newline else 0)
    bounds = block_offsets(n_lines, size)
    cum = np.cumsum(counts)
    locators = []
    for b, k in enumerate(bounds.tolist()):
        if 0 < k and k - 1 < n_nl:
            c = int(np.searchsorted(cum, k - 1, side="right"))
            locators.append((b, c, k - 1 - int(cum[c] - counts[c])))
    return LinePlan(int(n_bytes), int(n_lines), bounds, tuple(locators))


def resolve_boundaries(plan: LinePlan, chunk: int, newline_positions) -> dict:
    """Byte offsets of the boundaries whose newline lies in ``chunk`` (pure)."""
    pos = np.asarray(newline_positions)
    return {b: int(pos[i]) + 1 for b, c, i in plan.locators if c == chunk}


def byte_bounds(plan: LinePlan, resolved: dict) -> np.ndarray:
    """Byte offset (length size + 1) where every rank's lines start (pure)."""
    out = np.empty(plan.line_bounds.size, dtype=np.int64)
    for b, k in enumerate(plan.line_bounds.tolist()):
        out[b] = 0 if k == 0 else resolved.get(b, plan.n_bytes)
    return out


# ---------------------------------------------------------------- file access
def _scan_chunk(path, rank: int, size: int):
    """(n_bytes, ends_with_newline, newline positions in this rank's chunk)."""
    try:
        n_bytes = os.path.getsize(path)
        with open(path, "rb") as fh:
            lo, hi = block_range(n_bytes, size, rank)
            found = []
            fh.seek(lo)
            at = lo
            while at < hi:
                buf = fh.read(min(_SCAN_BLOCK, hi - at))
                if not buf:
                    raise InputError("file shrank while being read", path)
                found.append(np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10) + at)
                at += len(buf)
            ends_nl = False
            if n_bytes:
                fh.seek(n_bytes - 1)
                ends_nl = fh.read(1) == b"\n"
    except OSError as exc:
        raise InputError(f"cannot read corpus file: {exc.strerror or exc}", path) from exc
    pos = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    return n_bytes, ends_nl, pos.astype(np.int64)


def _read_lines(path, lo: int, hi: int, first_line: int, n_lines: int) -> list[str]:
    """Decode bytes [lo, hi) of ``path`` into exactly ``n_lines`` lines."""
    with open(path, "rb") as fh:
        fh.seek(lo)
        data = fh.read(hi - lo)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(f"invalid UTF-8 byte 0x{data[exc.start]:02x} at byte {col} of the line",
                         path, line) from None
    lines = text.split("\n")
    return lines[:n_lines]


def _encode(sents: list, vocab_index: dict, offset: int):
    ptr = np.zeros(len(sents) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sents], out=ptr[1:])
    ids = np.fromiter((vocab_index[w] for s in sents for w in s), dtype=np.int32, count=int(ptr[-1]))
    return ids + np.int32(offset) if offset else ids, ptr


def encode_pairs(src_sents, tgt_sents, src_vocab=None, tgt_vocab=None, *, line_index=None,
                 line_lo: int = 0, line_hi: int | None = None,
                 n_lines: int | None = None) -> ParallelCorpus:
    """Build a corpus from token lists in memory (no files, no communicator).

    ``src_vocab``/``tgt_vocab`` are word lists in id order (the source list
    without NULL); by default the sorted words of these sentences.  By
    default the pairs are lines ``line_lo, line_lo + 1, ...`` of a corpus
    of exactly these lines.
    """
    if src_vocab is None:
        src_vocab = sorted({w for s in src_sents for w in s})
    if tgt_vocab is None:
        tgt_vocab = sorted({w for s in tgt_sents for w in s})
    src, src_ptr = _encode(src_sents, {w: i for i, w in enumerate(src_vocab)}, 1)
    tgt, tgt_ptr = _encode(tgt_sents, {w: i for i, w in enumerate(tgt_vocab)}, 0)
    if line_index is None:
        line_index = np.arange(line_lo, line_lo + len(src_sents), dtype=np.int64)
    line_hi = line_lo + len(src_sents) if line_hi is None else line_hi
    n_lines = line_hi if n_lines is None else n_lines
    return ParallelCorpus(src, src_ptr, tgt, tgt_ptr, np.asarray(line_index, dtype=np.int64),
                          int(line_lo), int(line_hi), int(n_lines),
                          [NULL_TOKEN] + list(src_vocab), list(tgt_vocab))


def _tokenize(path_src, path_tgt, src_lines, tgt_lines, first_line: int, empty: str):
    """Token lists of the non-empty pairs, their line numbers, the empty ones."""
    src_sents, tgt_sents, keep, empties = [], [], [], []
    one_file = tgt_lines is None
    for n, raw in enumerate(src_lines):
        line = first_line + n
        if one_file:
            parts = raw.split("|||")
            if len(parts) != 2:
                raise InputError(f"expected 'source ||| target', found {len(parts) - 1} '|||' "
                                 "separators", path_src, line + 1)
            s, t = parts[0].split(), parts[1].split()
        else:
            s, t = raw.split(), tgt_lines[n].split()
        if not s or not t:
            if empty == "error":
                side = path_src if not s else (path_src if one_file else path_tgt)
                raise InputError("empty sentence (pairs need tokens on both sides; "
                                 "use the skip policy to drop such pairs)", side, line + 1)
            empties.append(line + 1)
            continue
        src_sents.append(s)
        tgt_sents.append(t)
        keep.append(line)
    return src_sents, tgt_sents, np.asarray(keep, dtype=np.int64), empties


def read_parallel(comm, source, target=None, *, empty: str = "skip") -> ParallelCorpus:
    """Collective.  Read this rank's line range of a parallel corpus.

    Parameters
    ----------
    comm : communicator (``rank``, ``size``, ``allgather_obj``, ``agree``)
    source : path
        Source-side file, or the ``source ||| target`` file when ``target``
        is None.
    target : path, optional
        Target-side file (two-file layout).
    empty : {"skip", "error"}
        Policy for pairs with an empty side (see the module docstring).

    Raises
    ------
    InputError
        On every rank (from the rank that found it; a CollectiveError naming
        that rank elsewhere) for unreadable files, mismatched line counts,
        invalid UTF-8, a bad separator, or an empty pair under ``"error"``.
    """
    if empty not in ("skip", "error"):
        raise ValueError(f"empty must be 'skip' or 'error', got {empty!r}")
    paths = [str(source)] if target is None else [str(source), str(target)]
    with comm.agree("scanning corpus for line boundaries"):
        scans = [_scan_chunk(p, comm.rank, comm.size) for p in paths]
    counts = comm.allgather_obj([(s[0], s[1], s[2].size) for s in scans], kind="corpus:scan")
    plans = [plan_lines([c[f][2] for c in counts], counts[0][f][0], counts[0][f][1], comm.size)
             for f in range(len(paths))]
    if len(paths) == 2 and plans[0].n_lines != plans[1].n_lines:
        n0, n1 = plans[0].n_lines, plans[1].n_lines
        longer, shorter = (0, 1) if n0 > n1 else (1, 0)
        raise InputError(f"line has no partner: {paths[longer]} has {plans[longer].n_lines} lines "
                         f"but {paths[shorter]} has {plans[shorter].n_lines}",
                         paths[longer], plans[shorter].n_lines + 1)
    if plans[0].n_lines == 0:
        raise InputError("corpus is empty", paths[0])
    mine = [resolve_boundaries(p, comm.rank, s[2]) for p, s in zip(plans, scans)]
    everyone = comm.allgather_obj(mine, kind="corpus:bounds")
    line_lo, line_hi = (int(x) for x in plans[0].line_bounds[comm.rank:comm.rank + 2])
    with comm.agree("reading and tokenising corpus"):
        texts = []
        for f, (path, plan) in enumerate(zip(paths, plans)):
            resolved = {}
            for r in everyone:
                resolved.update(r[f])
            bb = byte_bounds(plan, resolved)
            texts.append(_read_lines(path, int(bb[comm.rank]), int(bb[comm.rank + 1]),
                                     line_lo, line_hi - line_lo))
        src_sents, tgt_sents, keep, empties = _tokenize(
            paths[0], paths[-1], texts[0], texts[1] if len(texts) == 2 else None, line_lo, empty)
        local_vocab = (sorted({w for s in src_sents for w in s}),
                       sorted({w for s in tgt_sents for w in s}))
    gathered = comm.allgather_obj((local_vocab, len(empties), empties[:_MAX_LISTED_EMPTY]),
                                  kind="corpus:vocab")
    src_vocab = sorted(set().union(*(g[0][0] for g in gathered)))
    tgt_vocab = sorted(set().union(*(g[0][1] for g in gathered)))
    corpus = encode_pairs(src_sents, tgt_sents, src_vocab, tgt_vocab, line_index=keep,
                          line_lo=line_lo, line_hi=line_hi, n_lines=plans[0].n_lines)
    corpus.n_empty = sum(g[1] for g in gathered)
    corpus.empty_lines = sorted(x for g in gathered for x in g[2])[:_MAX_LISTED_EMPTY]
    corpus.paths = tuple(paths)
    return corpus


def write_lines_ordered(comm, path, lines: list[str]) -> None:
    """Collective.  Write every rank's lines into one file, in rank order.

    Each rank writes its own byte range (offsets from an allgather of sizes),
    so nothing is funnelled through one rank.
    """
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    sizes = comm.allgather_obj(len(data), kind="write:sizes")
    offset, total = sum(sizes[:comm.rank]), sum(sizes)
    with comm.agree(f"creating {path}"):
        if comm.rank == 0:
            with open(path, "wb") as fh:
                fh.truncate(total)
    with comm.agree(f"writing {path}"):
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)
