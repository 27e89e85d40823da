"""Alignment error rate against gold links with sure/possible labels.

Och & Ney (2003), with A the predicted links, S the sure and P the possible
gold links (S is a subset of P):

    precision = |A & P| / |A|        recall = |A & S| / |S|
    AER       = 1 - (|A & S| + |A & P|) / (|A| + |S|)

Counts are summed over all sentences before dividing (corpus level).  Links
are 0-based (source position, target position) pairs internally.

Formats
-------
NAACL 2003 (Mihalcea & Pedersen 2003)
    one link per line, ``sentence source target [S|P] [confidence]``, all
    1-based; a missing label means S; links to position 0 (NULL) are
    dropped.  Sentences are numbered 1..max id.
Pharaoh
    line n is sentence n, whitespace-separated ``i-j`` (sure) or ``i?j``
    (possible) links, 0-based source-target.

Only the gold file's sentences are scored; a predicted file may have more
lines (e.g. alignments of a larger training corpus whose first lines are
the gold sentences), but not fewer.  Predicted labels are ignored: every
predicted link is in A.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

_PHARAOH_LINK = re.compile(r"^(\d+)([-?])(\d+)$")


@dataclass
class Alignments:
    """Links per sentence: ``sure[n]`` and ``possible[n]`` (a superset) are sets."""

    sure: list
    possible: list

    @property
    def n_sentences(self) -> int:
        return len(self.possible)


@dataclass
class AERScore:
    precision: float
    recall: float
    aer: float
    n_predicted: int
    n_sure: int
    n_possible: int
    sure_hits: int
    possible_hits: int


def read_pharaoh(path) -> Alignments:
    """Read Pharaoh ``i-j`` / ``i?j`` lines (see module docstring)."""
    sure, possible = [], []
    for n, line in enumerate(_lines(path), start=1):
        s, p = set(), set()
        for tok in line.split():
            m = _PHARAOH_LINK.match(tok)
            if m is None:
                raise InputError(f"expected links like '3-4' or '3?4', found {tok!r}", path, n)
            link = (int(m.group(1)), int(m.group(3)))
            p.add(link)
            if m.group(2) == "-":
                s.add(link)
        sure.append(s)
        possible.append(p)
    return Alignments(sure, possible)


def read_naacl(path) -> Alignments:
    """Read NAACL 2003 ``sentence source target [S|P] [confidence]`` lines."""
    links = []
    for n, line in enumerate(_lines(path), start=1):
        f = line.split()
        if not f:
            continue
        try:
            if len(f) not in (3, 4, 5):
                raise ValueError
            sent, e, g = int(f[0]), int(f[1]), int(f[2])
            label = f[3].upper() if len(f) >= 4 else "S"
            if label not in ("S", "P") or sent < 1 or e < 0 or g < 0:
                raise ValueError
        except ValueError:
            raise InputError(f"expected 'sentence source target [S|P]' (1-based), found {line!r}",
                             path, n) from None
        links.append((sent, e, g, label))
    n_sent = max((x[0] for x in links), default=0)
    sure = [set() for _ in range(n_sent)]
    possible = [set() for _ in range(n_sent)]
    for sent, e, g, label in links:
        if e == 0 or g == 0:
            continue  # NULL links are not scored
        possible[sent - 1].add((e - 1, g - 1))
        if label == "S":
            sure[sent - 1].add((e - 1, g - 1))
    return Alignments(sure, possible)


def detect_format(path) -> str:
    """``"naacl"`` or ``"pharaoh"`` from the first non-empty line."""
    for line in _lines(path):
        f = line.split()
        if not f:
            continue
        if all(_PHARAOH_LINK.match(t) for t in f):
            return "pharaoh"
        if 3 <= len(f) <= 5 and all(t.isdigit() for t in f[:3]):
            return "naacl"
        return "pharaoh"  # let the reader report the offending token
    return "pharaoh"


def read_alignments(path, fmt: str = "auto") -> Alignments:
    """Read a gold or predicted file; ``fmt`` is "auto", "naacl" or "pharaoh"."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "naacl":
        return read_naacl(path)
    if fmt == "pharaoh":
        return read_pharaoh(path)
    raise ValueError(f"unknown alignment format {fmt!r}")


def score(gold: Alignments, predicted: Alignments, predicted_path=None) -> AERScore:
    """Precision, recall and AER of ``predicted`` on the gold sentences."""
    if predicted.n_sentences < gold.n_sentences:
        raise InputError(f"predicted alignments cover {predicted.n_sentences} sentences but the "
                         f"gold file has {gold.n_sentences}", predicted_path)
    n_a = n_s = n_p = hit_s = hit_p = 0
    for n in range(gold.n_sentences):
        a = predicted.possible[n]
        s = gold.sure[n]
        p = gold.possible[n] | s
        n_a += len(a)
        n_s += len(s)
        n_p += len(p)
        hit_s += len(a & s)
        hit_p += len(a & p)
    precision = hit_p / n_a if n_a else 0.0
    recall = hit_s / n_s if n_s else 0.0
    aer = 1.0 - (hit_s + hit_p) / (n_a + n_s) if n_a + n_s else 0.0
    return AERScore(precision, recall, aer, n_a, n_s, n_p, hit_s, hit_p)


def evaluate(gold_path, predicted_path, gold_format: str = "auto",
             predicted_format: str = "pharaoh") -> AERScore:
    """Read both files and :func:`score` them (what ``mpiml eval-aer`` runs)."""
    return score(read_alignments(gold_path, gold_format),
                 read_alignments(predicted_path, predicted_format), predicted_path)


def _lines(path):
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read alignment file: {exc.strerror or exc}", path) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("invalid UTF-8", path, raw.count(b"\n", 0, exc.start) + 1) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines
