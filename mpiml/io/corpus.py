"""Parallel-corpus readers: each rank reads only its own line range.

Layouts
-------
* two files, one sentence per line (``corpus.e`` / ``corpus.f``); line n of
  the source file pairs with line n of the target file;
* one file of ``source ||| target`` lines (the fast_align input format).

Tokens are separated by whitespace (exactly ``str.split()``'s tokens; the
vectorised tokeniser is :mod:`mpiml.io.tokens`).

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
from . import tokens, vocab
from .tokens import Tokenizer, drop_lines, utf8_check

NULL_TOKEN = "<NULL>"
_SCAN_BLOCK = 1 << 20
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
            # one buffer, filled again and again: it stays in cache, and the
            # pages of a fresh buffer per block (page faults) cost as much as
            # the scan itself
            block = np.empty(min(_SCAN_BLOCK, hi - lo), dtype=np.uint8)
            is_nl = np.empty(block.size, dtype=bool)
            while at < hi:
                m = fh.readinto(memoryview(block)[:min(block.size, hi - at)])
                if not m:
                    raise InputError("file shrank while being read", path)
                np.equal(block[:m], 10, out=is_nl[:m])
                found.append(np.flatnonzero(is_nl[:m]) + at)
                at += m
            ends_nl = False
            if n_bytes:
                fh.seek(n_bytes - 1)
                ends_nl = fh.read(1) == b"\n"
    except OSError as exc:
        raise InputError(f"cannot read corpus file: {exc.strerror or exc}", path) from exc
    pos = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    return n_bytes, ends_nl, pos.astype(np.int64)


def _read_block(path, lo: int, hi: int, first_line: int, writable: bool = False):
    """Bytes [lo, hi) of ``path`` (a ``bytearray`` if ``writable``), checked
    to be UTF-8 (InputError naming the line), and whether they may hold
    whitespace only ``str.split()`` knows."""
    with open(path, "rb") as fh:
        fh.seek(lo)
        if writable:
            data = bytearray(hi - lo)
            if fh.readinto(data) != hi - lo:
                raise InputError("file shrank while being read", path)
        else:
            data = fh.read(hi - lo)
    bad, spaces = utf8_check(data)
    if bad < 0:
        return data, spaces
    try:
        data.decode("utf-8")       # Python's decoder words the error
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(f"invalid UTF-8 byte 0x{data[exc.start]:02x} at byte {col} of the line",
                         path, line) from None
    return data, True


def _split_separator(data: bytes, n_lines: int):
    """Source and target blocks of ``source ||| target`` lines (the path for
    small blocks), and the first line (0-based in the block) without exactly
    one separator, with its count."""
    src, tgt, bad = [], [], None
    for k, line in enumerate(data.split(b"\n")[:n_lines]):
        parts = line.split(b"|||")
        if len(parts) != 2:
            bad = (k, len(parts) - 1)
            break
        src.append(parts[0])
        tgt.append(parts[1])
    return b"\n".join(src), b"\n".join(tgt), bad


def _tokenize_marked(data: bytearray, n_lines: int, spaces: bool):
    """Both sides of a large block of ``source ||| target`` lines in one token
    pass (the separators marked in place by a kernel): per side (Tokenizer,
    ids, tokens per line), the one Tokenizer shared by both sides, and the
    first bad line as :func:`_split_separator` gives it."""
    from . import kernels
    line, n_sep = kernels.mark_separator(np.frombuffer(data, np.uint8), n_lines)
    bad = None if line < 0 else (int(line), int(n_sep))
    n_tok = n_lines if bad is None else bad[0]
    tok = Tokenizer()
    ids, counts = tok.block(data, 2 * n_tok, spaces)   # source, target, source ...
    src_line = np.zeros(2 * n_tok, dtype=bool)
    src_line[0::2] = True
    sides = [(tok, drop_lines(ids, counts, src_line), counts[0::2].copy()),
             (tok, drop_lines(ids, counts, ~src_line), counts[1::2].copy())]
    return sides, bad


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


def _tokenize(paths, read, first_line: int, n_lines: int, empty: str):
    """Tokenise one rank's lines: per side (Tokenizer, ids, tokens per line),
    whether the sides share one Tokenizer, the kept pairs' block positions
    and the 1-based lines of empty pairs.

    ``read(f)`` gives this rank's block of file ``f``; a block is dropped as
    soon as its tokens are known, so at most one file's block is held (the
    ids and the distinct words are all that is kept).
    """
    one_file = len(paths) == 1
    bad = None
    shared = False
    if one_file:
        data, spaces = read(0)
        if len(data) >= tokens._SMALL:
            sides, bad = _tokenize_marked(data, n_lines, spaces)
            shared = True
            blocks = []
        else:
            src_data, tgt_data, bad = _split_separator(bytes(data), n_lines)
            blocks = [src_data, tgt_data]
            del src_data, tgt_data
        del data
        n_tok = n_lines if bad is None else bad[0]
    else:
        blocks = [None, None]
        n_tok = n_lines
    if not shared:
        sides = []
        for f in (0, 1):
            if one_file:
                data = blocks[f]
            else:
                data, spaces = read(f)
            blocks[f] = None
            tok = Tokenizer()
            ids, counts = tok.block(data, n_tok, spaces)
            del data
            sides.append((tok, ids, counts))
    empty_pos = np.flatnonzero((sides[0][2] == 0) | (sides[1][2] == 0))
    if empty == "error" and empty_pos.size:
        k = int(empty_pos[0])
        if bad is None or k < bad[0]:
            side = paths[0] if one_file or sides[0][2][k] == 0 else paths[1]
            raise InputError("empty sentence (pairs need tokens on both sides; "
                             "use the skip policy to drop such pairs)", side, first_line + k + 1)
    if bad is not None:
        raise InputError(f"expected 'source ||| target', found {bad[1]} '|||' separators",
                         paths[0], first_line + bad[0] + 1)
    keep = np.ones(n_lines, dtype=bool)
    keep[empty_pos] = False
    if empty_pos.size:
        sides = [(tok, drop_lines(ids, counts, keep), counts) for tok, ids, counts in sides]
    return sides, shared, np.flatnonzero(keep), (first_line + empty_pos + 1).tolist()


def _csr_ptr(counts: np.ndarray) -> np.ndarray:
    ptr = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr


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
        ranges = []
        for f, (path, plan) in enumerate(zip(paths, plans)):
            resolved = {}
            for r in everyone:
                resolved.update(r[f])
            bb = byte_bounds(plan, resolved)
            ranges.append((path, int(bb[comm.rank]), int(bb[comm.rank + 1]), line_lo))
        sides, shared, keep, empties = _tokenize(
            paths, lambda f: _read_block(*ranges[f], writable=len(paths) == 1), line_lo,
            line_hi - line_lo, empty)
        # a side's words are all used unless pairs were dropped or both
        # sides share one Tokenizer
        all_used = keep.size == line_hi - line_lo and not shared
        local = [tok.used(ix, all_used) for tok, ix, _ in sides]
    gathered = comm.allgather_obj(([vocab.pack(t) for t, _ in local], len(empties),
                                   empties[:_MAX_LISTED_EMPTY]), kind="corpus:vocab")
    words, ids = [], []
    for f, ((tok, ix, _), (_, which), off) in enumerate(zip(sides, local, (1, 0))):
        w, gid = vocab.merge([vocab.unpack(g[0][f]) for g in gathered], comm.rank)
        if which is not None:          # words only in dropped pairs have no id
            table = np.full(len(tok), -1, dtype=np.int32)
            table[which] = gid
            gid = table
        words.append(w)
        ids.append(tok.remap(ix, gid, off))
    ptrs = [_csr_ptr(counts[keep]) for _, _, counts in sides]
    corpus = ParallelCorpus(ids[0], ptrs[0], ids[1], ptrs[1], (line_lo + keep).astype(np.int64),
                            int(line_lo), int(line_hi), int(plans[0].n_lines),
                            [NULL_TOKEN] + words[0], words[1])
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
