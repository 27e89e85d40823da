"""``mpiml recommend``: top-N items for a user from a matrix-factorisation
checkpoint (serial, no MPI)."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import ConfigError, MpimlError


def register(sub) -> None:
    from ..io.ratings import FORMATS
    p = sub.add_parser("recommend", help="top-N items for a user from an MF model (serial)",
                       description="Rank every item by the model's score w_u . h_i for one user "
                                   "(raw id, as in the training data) and print the best N.")
    p.add_argument("--model", required=True, metavar="CKPT", help="mf checkpoint (root, directory or master.h5)")
    p.add_argument("--user", required=True, metavar="U", help="raw user id")
    p.add_argument("--top", type=int, default=10, metavar="N", help="how many items (default %(default)s)")
    p.add_argument("--exclude-seen", metavar="DATA",
                   help="ratings file (any training format): skip the items this user rated there")
    p.add_argument("--format", choices=FORMATS, default="auto", help="format of --exclude-seen")
    p.set_defaults(func=run)


def seen_items(model, path, fmt: str, user) -> np.ndarray:
    """Dense model item indices that ``user`` (raw id) rated in ``path``."""
    from ..comm.serial import SerialComm
    from ..mf.data import read_ratings
    from ..mf.model import dense_index
    data = read_ratings(SerialComm(), path, fmt, duplicates="last")
    du = dense_index(data.user_ids, [user])[0]
    if du < 0:
        return np.empty(0, np.int64)
    idx = model.item_index(data.item_ids[data.train.items[data.train.users == du]])
    return idx[idx >= 0]


def run(args) -> int:
    from ..io.ckpt_read import Checkpoint
    from ..mf.model import FactorModel
    try:
        if args.top < 1:
            raise ConfigError(f"--top must be >= 1, got {args.top}")
        model = FactorModel.from_checkpoint(Checkpoint(args.model))
        exclude = () if not args.exclude_seen else seen_items(model, args.exclude_seen, args.format, args.user)
        items, scores = model.recommend(args.user, args.top, exclude)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    print(f"{'rank':>4}  {'item':>12}  {'score':>9}")
    for r, (i, s) in enumerate(zip(items, scores), 1):
        print(f"{r:>4}  {str(i):>12}  {s:>9.4f}")
    return 0
