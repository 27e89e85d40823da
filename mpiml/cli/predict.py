"""``mpiml predict``: apply a trained model to new data (serial)."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import InputError, MpimlError


def register(sub) -> None:
    p = sub.add_parser("predict", help="apply a checkpointed model to new data (serial)",
                       description="Apply a checkpointed model to new data. K-means: the nearest "
                                   "centre of each row (and its squared distance).")
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (root, directory or master.h5)")
    p.add_argument("--data", required=True, metavar="FILE", help="rows to score (.npy, .h5, .csv, .tsv, .txt)")
    p.add_argument("--dataset", help="HDF5 dataset name")
    p.add_argument("--out", metavar="FILE", help="write results here (.npy, or text with one row per line); "
                                                 "default: standard output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.ckpt_read import Checkpoint
    from ..comm.serial import SerialComm
    from ..io.dense import read_dense
    try:
        ck = Checkpoint(args.model)
        if ck.algorithm != "kmeans":
            raise InputError(f"predict does not support {ck.algorithm!r} checkpoints yet", args.model)
        from ..cluster.kmeans import predict
        block = read_dense(SerialComm(), args.data, args.dataset)
        C = ck.replicated("cluster_centers")
        if block.n_features != C.shape[1]:
            raise InputError(f"data has {block.n_features} features, the model expects {C.shape[1]}", args.data)
        labels, dist = predict(C, block.X)
        _write(args.out, np.column_stack([labels, dist]), labels)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    return 0


def _write(out, table, labels):
    if out and out.endswith(".npy"):
        np.save(out, labels)
        return
    f = open(out, "w") if out else sys.stdout
    try:
        for lab, d in table:
            f.write(f"{int(lab)}\t{d:.9g}\n")
    finally:
        if out:
            f.close()
