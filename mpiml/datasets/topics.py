"""Seeded synthetic corpora drawn from known LDA topics, and writers for the
three bag-of-words formats the LDA reader accepts.

Topics are sparse on purpose: topic k puts most of its mass on its own band
of ``V // K`` words (Dirichlet(β) inside the band, a little smoothing
outside), so the generating topics are identifiable and a test can match
learned topics to them (Hungarian matching) and measure the distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticTopics:
    docs: list          # list of int arrays (word ids in token order)
    phi: np.ndarray     # K x V generating topic-word distributions
    theta: np.ndarray   # D x K generating document-topic distributions
    vocab: list


def synthetic_topics(n_docs: int = 200, n_words: int = 100, n_topics: int = 5, doc_len: int = 60,
                     alpha: float = 0.2, band_beta: float = 1.0, seed: int = 0) -> SyntheticTopics:
    rng = np.random.default_rng(seed)
    K, V = n_topics, n_words
    phi = np.full((K, V), 1e-3)
    band = V // K
    for k in range(K):
        phi[k, k * band:(k + 1) * band] += rng.dirichlet(np.full(band, band_beta))
    phi /= phi.sum(axis=1, keepdims=True)
    theta = rng.dirichlet(np.full(K, alpha), size=n_docs)
    docs = []
    for d in range(n_docs):
        n = int(rng.integers(doc_len // 2, doc_len + doc_len // 2 + 1))
        z = rng.choice(K, size=n, p=theta[d])
        docs.append(np.array([rng.choice(V, p=phi[k]) for k in z], dtype=np.int64))
    vocab = [f"w{i:04d}" for i in range(V)]
    return SyntheticTopics(docs, phi, theta, vocab)


def write_ldac(path, docs) -> None:
    with open(path, "w") as f:
        for d in docs:
            ids, counts = np.unique(d, return_counts=True)
            f.write(" ".join([str(ids.size)] + [f"{i}:{c}" for i, c in zip(ids, counts)]) + "\n")


def write_uci(docword, vocab_path, docs, vocab) -> None:
    rows = []
    for j, d in enumerate(docs):
        ids, counts = np.unique(d, return_counts=True)
        rows += [(j + 1, i + 1, c) for i, c in zip(ids, counts)]
    with open(docword, "w") as f:
        f.write(f"{len(docs)}\n{len(vocab)}\n{len(rows)}\n")
        f.writelines(f"{a} {b} {c}\n" for a, b, c in rows)
    with open(vocab_path, "w") as f:
        f.writelines(w + "\n" for w in vocab)


def write_text(path, docs, vocab) -> None:
    with open(path, "w") as f:
        for d in docs:
            f.write(" ".join(vocab[w] for w in d) + "\n")
