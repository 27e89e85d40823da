"""``mpiml predict``: apply a trained model to new data (serial).

One command for every algorithm: the checkpoint says which model it holds and
:data:`PREDICTORS` maps that name to a function ``(args, ckpt) -> None`` that
reads ``--data``, scores it and writes the results (raising MpimlError on bad
input).  Adding an algorithm is one entry there.
"""

from __future__ import annotations

import re
import sys

import numpy as np

from ..errors import InputError, MpimlError


def register(sub) -> None:
    p = sub.add_parser("predict", help="apply a checkpointed model to new data (serial)",
                       description="Apply a checkpointed model to new data. K-means: the nearest "
                                   "centre of each row (and its squared distance). MF: the score "
                                   "w_u . h_i of each (user, item) pair, raw ids as in training.")
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (root, directory or master.h5)")
    p.add_argument("--data", required=True, metavar="FILE",
                   help="k-means: rows to score (.npy, .h5, .csv, .tsv, .txt); mf: 'user item' pairs, "
                        "one per line (whitespace, comma or '::' separated; further columns ignored)")
    p.add_argument("--dataset", help="HDF5 dataset name (k-means)")
    p.add_argument("--metrics", action="store_true",
                   help="linear models: also print accuracy, log-loss and AUC (classification) or "
                        "RMSE (squared loss) against the labels of --data, on standard error")
    p.add_argument("--out", metavar="FILE", help="write results here (.npy, or text with one row per line); "
                                                 "default: standard output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.ckpt_read import Checkpoint
    try:
        _check_out(args)
        ck = Checkpoint(args.model)
        fn = PREDICTORS.get(ck.algorithm)
        if fn is None:
            raise InputError(f"predict does not support {ck.algorithm!r} checkpoints yet "
                             f"(supported: {', '.join(sorted(PREDICTORS))})", args.model)
        fn(args, ck)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    return 0


def _check_out(args) -> None:
    """--out must never be an input (the data, or a file of the model)."""
    import os
    from pathlib import Path
    from ..errors import ConfigError
    if not args.out or not os.path.exists(args.out):
        return
    model = Path(args.model)
    inputs = [("--data", args.data), ("--model", args.model)]
    if model.is_dir():
        inputs += [("--model", str(p)) for p in model.rglob("*") if p.is_file()]
    for opt, path in inputs:
        try:
            same = os.path.samefile(args.out, path)
        except OSError:
            same = False
        if same:
            raise ConfigError(f"--out {args.out} is the input file given as {opt} {path}; it would be "
                              f"overwritten (choose another output path)")


def _open_out(out):
    return open(out, "w") if out else sys.stdout


# ------------------------------------------------------------------ kmeans
def predict_kmeans(args, ck) -> None:
    from ..cluster.kmeans import predict
    from ..comm.serial import SerialComm
    from ..io.dense import read_dense
    block = read_dense(SerialComm(), args.data, args.dataset)
    C = ck.replicated("cluster_centers")
    if block.n_features != C.shape[1]:
        raise InputError(f"data has {block.n_features} features, the model expects {C.shape[1]}", args.data)
    labels, dist = predict(C, block.X)
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, labels)
        return
    f = _open_out(args.out)
    try:
        for lab, d in zip(labels, dist):
            f.write(f"{int(lab)}\t{d:.9g}\n")
    finally:
        if args.out:
            f.close()


# ---------------------------------------------------------------------- mf
_SPLIT = re.compile(r"::|[\s,]+")


def read_pairs(path) -> tuple[list[str], list[str], list[int]]:
    """Raw ``(users, items, line numbers)`` of a pairs file (blank and ``#``
    lines skipped; further fields ignored)."""
    users, items, lines = [], [], []
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", path) from None
    with fh:
        try:
            for n, line in enumerate(fh, 1):
                s = line.strip()
                if not s or s.startswith("#"):
                    continue
                f = [t for t in _SPLIT.split(s) if t]
                if len(f) < 2:
                    raise InputError(f"expected 'user item', found {len(f)} field(s)", path, n)
                users.append(f[0])
                items.append(f[1])
                lines.append(n)
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8 text", path) from None
    return users, items, lines


def predict_mf(args, ck) -> None:
    from ..mf.model import FactorModel
    model = FactorModel.from_checkpoint(ck)
    users, items, lines = read_pairs(args.data)
    if (lines and lines[0] == 1 and model.user_ids.dtype.kind == "i"
            and not re.fullmatch(r"[+-]?\d+", users[0])):
        users, items, lines = users[1:], items[1:], lines[1:]   # a header such as "userId,movieId"
    scores = model.predict(users, items)
    unknown = np.isnan(scores)
    if unknown.any():
        first = int(np.flatnonzero(unknown)[0])
        sys.stderr.write(f"mpiml: warning: {int(unknown.sum())} pair(s) with a user or item unknown to the "
                         f"model scored nan (first: {args.data}:{lines[first]})\n")
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, scores)
        return
    f = _open_out(args.out)
    try:
        for u, i, s in zip(users, items, scores):
            f.write(f"{u}\t{i}\t{s:.6g}\n")
    finally:
        if args.out:
            f.close()


# Checkpoint algorithm name -> predictor.
def predict_linear(args, ck) -> None:
    """Linear model: label (in the training file's 0/1 or +-1 convention),
    margin and, for the logistic loss, the probability of the positive class;
    for the squared loss the predicted value.  ``--metrics``: the metrics
    against the file's labels on stderr."""
    from ..linear.sgd import predict_checkpoint
    loss = ck.meta.get("loss", ck.config.get("loss", "logistic"))
    res = predict_checkpoint(ck, args.data, dataset=args.dataset, with_data=bool(args.metrics))
    labels, z, proba = res[:3]
    if args.metrics:
        from ..linear.losses import metrics_serial
        m = metrics_serial(z, res[3].y, loss)
        names = {"acc": "accuracy", "logloss": "log-loss", "auc": "AUC", "rmse": "RMSE"}
        sys.stderr.write(f"{z.size} examples: " + ", ".join(f"{names[k]} {v:.6f}" for k, v in m.items())
                         + "\n")
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, z if loss == "squared" else labels)
        return
    f = _open_out(args.out)
    try:
        for i in range(labels.size):
            if loss == "squared":
                f.write(f"{z[i]:.9g}\n")
            else:
                f.write(f"{labels[i]}\t{z[i]:.9g}" + ("" if proba is None else f"\t{proba[i]:.9g}") + "\n")
    finally:
        if args.out:
            f.close()


def predict_lasso(args, ck) -> None:
    """Lasso / elastic net: X @ coef + intercept per row (dense rows or LIBSVM,
    whose labels are ignored), in the units of the training data."""
    from ..comm.serial import SerialComm
    from ..io.libsvm import read_labelled
    from ..lasso.solver import predict
    coef = ck.replicated("coef")
    b0 = float(np.asarray(ck.replicated("intercept")).reshape(-1)[0])
    data = read_labelled(SerialComm(), args.data, "auto", None, args.dataset, None, int(coef.size),
                         need_labels=False)
    pred = (predict(coef, b0, X=data.X) if not data.sparse
            else predict(coef, b0, csr=(data.indptr, data.indices, data.values)))
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, pred)
        return
    f = _open_out(args.out)
    try:
        for v in pred:
            f.write(f"{v:.17g}\n")
    finally:
        if args.out:
            f.close()


PREDICTORS = {
    "kmeans": predict_kmeans,
    "lasso": predict_lasso,
    "mf": predict_mf,
    "linear": predict_linear,
}
