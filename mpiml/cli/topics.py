"""``mpiml topics``: each topic's top words from an LDA checkpoint, and the
φ / θ exports (serial, no MPI)."""

from __future__ import annotations

import json
import sys

import numpy as np

from ..errors import ConfigError, MpimlError


def register(sub) -> None:
    p = sub.add_parser("topics", help="top words of each topic of an LDA model; phi/theta export (serial)",
                       description="Print every topic's most probable words under phi = (n_kw + beta) / "
                                   "(n_k + V beta), and optionally save phi (K x V) and theta "
                                   "(documents x K, rows in corpus order) as .npy or .tsv.")
    p.add_argument("--model", required=True, metavar="CKPT", help="lda checkpoint (root, directory or master.h5)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="words per topic (default %(default)s)")
    p.add_argument("--phi-out", metavar="FILE", help="save phi, K x V (.npy, or text for other suffixes)")
    p.add_argument("--theta-out", metavar="FILE", help="save theta, documents x K (.npy or text)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def load_model(path):
    """``(phi, theta, vocab or None, topic token counts)`` of an LDA checkpoint."""
    from ..io.ckpt_read import Checkpoint
    from ..topics.lda import phi, theta
    ck = Checkpoint(path)
    ck.expect("lda", 1)
    nkw = ck.replicated("word_topic")
    nk = ck.replicated("topic_counts")
    vocab = None
    if "vocab" in ck.array_names["replicated"]:
        vocab = ck.replicated("vocab").tobytes().decode("utf-8").split("\n")
    ndk = ck.read_rows("doc_topic")
    return phi(nkw, nk, float(ck.meta["beta"])), theta(ndk, float(ck.meta["alpha"])), vocab, nk


def _save(path, arr) -> None:
    if str(path).endswith(".npy"):
        np.save(path, arr)
    else:
        np.savetxt(path, arr, fmt="%.8g", delimiter="\t")


def run(args) -> int:
    try:
        if args.top < 1:
            raise ConfigError(f"--top must be >= 1, got {args.top}")
        phi, theta, vocab, nk = load_model(args.model)
        if args.phi_out:
            _save(args.phi_out, phi)
        if args.theta_out:
            _save(args.theta_out, theta)
    except (MpimlError, OSError) as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return getattr(exc, "exit_code", 2)
    top = np.argsort(-phi, axis=1, kind="stable")[:, :args.top]
    name = (lambda w: vocab[w]) if vocab is not None else str
    rows = [{"topic": k, "tokens": int(nk[k]), "words": [name(int(w)) for w in top[k]],
             "probabilities": [float(phi[k, w]) for w in top[k]]} for k in range(phi.shape[0])]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'topic':>5}  {'tokens':>9}  top {args.top} words")
    for r in rows:
        print(f"{r['topic']:>5}  {r['tokens']:>9}  {' '.join(r['words'])}")
    return 0
