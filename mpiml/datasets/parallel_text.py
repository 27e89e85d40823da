"""Seeded parallel corpus with text-like co-occurrence statistics (benchmarks).

:func:`mpiml.datasets.corpus.synthetic_parallel` draws every word
independently from one Zipf distribution, so almost every pair of words
co-occurs somewhere and IBM Model 1 gets far more parameters than on real
text.  Real text is bursty and topical: a document keeps coming back to a
few content words, and function words take almost half of the tokens.  This
generator mimics that, cheaply and deterministically:

* sentence lengths are log-normal (median ``median_len``, sigma 0.55),
  clipped to ``[1, max_len]``; the target length follows from the tokens;
* a token is a function word (one of ``n_function`` words, Zipf 1.0) with
  probability ``p_function``; otherwise a content word, drawn with
  probability ``p_topic`` from the document's topic (documents of
  ``doc_len`` consecutive pairs; a topic is ``topic_words`` draws from the
  global content distribution, with its own Zipf order) and else from the global content vocabulary
  (Zipf ``zipf_a`` over ``n_words`` words);
* translation: every source word has a primary target word (probability
  0.75), a secondary (0.2) and a third (0.05), a fixed random lexicon with
  some target words shared by several source words; function words are
  dropped with probability 0.2, and ``p_insert`` target function words per
  source token are inserted (NULL-generated words).

Word forms are ``s<id>`` / ``t<id>`` (ids in random order, so frequency does
not give the lexicon away).  Only the statistics matter for benchmarks: how
many distinct (source, target) word pairs co-occur, how many tokens and
token pairs there are, the vocabulary sizes.

Command line: ``python -m mpiml.datasets.parallel_text OUT.e OUT.f --pairs N
[--seed S]`` writes the two line-parallel files and prints the statistics.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _zipf(n: int, a: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** a
    return w / w.sum()


def text_like_parallel(n_pairs: int, *, seed: int = 0, median_len: float = 19.0,
                       max_len: int = 100, n_words: int = 80_000, zipf_a: float = 1.1,
                       n_function: int = 300, p_function: float = 0.45, p_topic: float = 0.5,
                       n_topics: int = 400, topic_words: int = 1500, doc_len: int = 25,
                       p_insert: float = 0.1):
    """Token ids of ``n_pairs`` generated sentence pairs.

    Returns ``(src, src_ptr, tgt, tgt_ptr)``: CSR arrays of source and
    target word ids (int64); ids are arbitrary labels (not frequency ranks).
    """
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.round(rng.lognormal(np.log(median_len), 0.55, n_pairs)), 1, max_len)
    lengths = lengths.astype(np.int64)
    n_tok = int(lengths.sum())
    src_ptr = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(lengths, out=src_ptr[1:])
    pair_of = np.repeat(np.arange(n_pairs), lengths)

    # source tokens: function word / topic word / global content word
    n_content = n_words - n_function
    kind = rng.random(n_tok)
    is_func = kind < p_function
    is_topic = (~is_func) & (rng.random(n_tok) < p_topic)
    words = np.empty(n_tok, dtype=np.int64)
    words[is_func] = rng.choice(n_function, size=int(is_func.sum()), p=_zipf(n_function, 1.0))
    glob = ~is_func & ~is_topic
    words[glob] = n_function + rng.choice(n_content, size=int(glob.sum()), p=_zipf(n_content, zipf_a))
    topic_of_doc = rng.integers(0, n_topics, size=n_pairs // doc_len + 1)
    # topics draw their words from the global content distribution, so popular
    # content words belong to many topics (as in real text)
    topic_members = rng.choice(n_content, size=(n_topics, topic_words), p=_zipf(n_content, zipf_a))
    rank_in_topic = rng.choice(topic_words, size=int(is_topic.sum()), p=_zipf(topic_words, 1.0))
    words[is_topic] = n_function + topic_members[topic_of_doc[pair_of[is_topic] // doc_len],
                                                 rank_in_topic]

    # lexicon: three targets per source word; content targets shared by some
    # source words (n_tgt_content < n_content)
    n_tgt_content = int(0.85 * n_content)
    lex = np.empty((n_words, 3), dtype=np.int64)
    lex[:n_function] = rng.integers(0, n_function, size=(n_function, 3))
    lex[n_function:] = n_function + rng.integers(0, n_tgt_content, size=(n_content, 3))
    choice = np.searchsorted(np.array([0.75, 0.95]), rng.random(n_tok), side="right")
    trans = lex[words, choice]
    keep = ~(is_func & (rng.random(n_tok) < 0.2))
    n_ins = rng.binomial(lengths, p_insert)
    ins = rng.choice(n_function, size=int(n_ins.sum()), p=_zipf(n_function, 1.0))
    # target sentence: kept translations, then the inserted words
    kept_per = np.bincount(pair_of[keep], minlength=n_pairs)
    tgt_len = kept_per + n_ins
    tgt_ptr = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(tgt_len, out=tgt_ptr[1:])
    tgt = np.empty(int(tgt_ptr[-1]), dtype=np.int64)
    pos_kept = tgt_ptr[pair_of[keep]] + (np.arange(int(keep.sum())) - np.repeat(
        np.cumsum(kept_per) - kept_per, kept_per))
    tgt[pos_kept] = trans[keep]
    ins_pair = np.repeat(np.arange(n_pairs), n_ins)
    pos_ins = tgt_ptr[ins_pair] + kept_per[ins_pair] + (np.arange(ins.size) - np.repeat(
        np.cumsum(n_ins) - n_ins, n_ins))
    tgt[pos_ins] = ins
    # arbitrary labels
    src = rng.permutation(n_words)[words]
    tgt = rng.permutation(n_function + n_tgt_content)[tgt]
    return src, src_ptr, tgt, tgt_ptr


def _write(path, ids, ptr, prefix: str) -> None:
    vocab = np.array([f"{prefix}{i}" for i in range(int(ids.max()) + 1)], dtype=object)
    toks = vocab[ids]
    with open(path, "w", encoding="utf-8") as fh:
        step = 20000
        for a in range(0, ptr.size - 1, step):
            b = min(a + step, ptr.size - 1)
            fh.write("".join(" ".join(toks[ptr[n]:ptr[n + 1]]) + "\n" for n in range(a, b)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mpiml.datasets.parallel_text",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("source_out")
    ap.add_argument("target_out")
    ap.add_argument("--pairs", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    src, src_ptr, tgt, tgt_ptr = text_like_parallel(args.pairs, seed=args.seed)
    _write(args.source_out, src, src_ptr, "s")
    _write(args.target_out, tgt, tgt_ptr, "t")
    ls, lt = np.diff(src_ptr), np.diff(tgt_ptr)
    print(f"{args.pairs} pairs: {src.size} source / {tgt.size} target tokens, "
          f"{np.unique(src).size} / {np.unique(tgt).size} word types, "
          f"{int(np.sum((ls + 1) * lt))} token pairs (NULL included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
