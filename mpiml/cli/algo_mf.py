"""CLI adapter for ``mpiml train mf``."""

HELP = "matrix factorisation: DSGD, Fugue (straggler-tolerant SGD) or blocked ALS"
DESCRIPTION = ("Factorise a sparse ratings matrix V ~ W H^T (users x items, rank k) minimising squared "
               "error plus L2 regularisation. Solvers: dsgd (stratified SGD, H blocks rotate between "
               "ranks; Gemulla et al. 2011), fugue (DSGD whose fast ranks keep updating while the "
               "slowest finishes; Kumar et al. 2014), als (blocked weighted-lambda ALS, the BSP "
               "baseline). One iteration is one epoch. Each rank reads its share of the file.")


def add_arguments(p) -> None:
    from ..io.ratings import DUPLICATES, FORMATS
    from ..mf.model import SOLVERS
    from ..mf.schedule import ORDERS
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="FILE",
                   help="ratings: 'u i r [t]' lines (space/tab/comma), MovieLens 'u::i::r::t', "
                        ".npy (n x 3|4) or .h5 ('ratings' n x 3|4, or 'users'/'items'/'ratings')")
    g.add_argument("--format", choices=FORMATS, default="auto",
                   help="input format (default %(default)s: by suffix, '::' means MovieLens)")
    g.add_argument("--valid", metavar="FILE", help="validation ratings (same format); unknown ids dropped")
    g.add_argument("--valid-fraction", type=float, default=0.0, metavar="F",
                   help="hold out this fraction of --data for validation, by a seeded hash of "
                        "(user, item): the same split on any rank count (default %(default)s)")
    g.add_argument("--duplicates", choices=DUPLICATES, default="last",
                   help="repeated (user, item) ratings: keep the last/first line, their mean, or "
                        "stop with an error naming both lines (default %(default)s)")
    m = p.add_argument_group("model and solver")
    m.add_argument("--solver", choices=SOLVERS, default="dsgd", help="default %(default)s")
    m.add_argument("--rank", type=int, default=16, metavar="K", help="rank k of W and H (default %(default)s)")
    m.add_argument("--lam", type=float, default=0.05,
                   help="L2 weight lambda, per rating (default %(default)s)")
    m.add_argument("--target-rmse", type=float, metavar="RMSE",
                   help="stop as soon as the validation RMSE is at most this")
    s = p.add_argument_group("SGD (dsgd, fugue)")
    s.add_argument("--lr", type=float, default=0.01, help="initial step size (default %(default)s)")
    s.add_argument("--step", choices=("bold", "fixed", "decay"), default="bold",
                   help="bold driver (x1.05 after the objective fell, x0.5 after it rose), fixed, or "
                        "lr / (1 + decay * epoch) (default %(default)s)")
    s.add_argument("--decay", type=float, default=0.1, help="for --step decay (default %(default)s)")
    s.add_argument("--order", choices=ORDERS, default="WOR",
                   help="stratum order: SEQ, RSEQ (relabelled), WR (with replacement), WOR (Latin "
                        "square shuffled per epoch), COWOR (WOR over rank groups) (default %(default)s)")
    s.add_argument("--blocks-per-rank", type=int, default=1, metavar="B",
                   help="cut V into (ranks*B)^2 blocks (default %(default)s)")
    s.add_argument("--fugue-cap", type=float, default=1.0, metavar="F",
                   help="fugue: at most F x (the sub-epoch's ratings) extra updates per sub-epoch "
                        "(default %(default)s)")
    s.add_argument("--fugue-chunk", type=int, default=4096, metavar="N",
                   help="fugue: extra updates between two checks for the slowest rank (default %(default)s)")
    s.add_argument("--fugue-fixed", type=float, metavar="F",
                   help="fugue, reproducible: exactly F x (block ratings) extra updates per block, "
                        "without waiting for anyone")


def build(args):
    from ..mf.model import MatrixFactorization
    from .ignored import warn_ignored
    if args.solver != "fugue":
        warn_ignored(args, ["fugue_cap", "fugue_chunk", "fugue_fixed"], f"--solver {args.solver}")
    if args.solver == "als":
        warn_ignored(args, ["lr", "step", "decay", "order", "blocks_per_rank"], "--solver als")
    return MatrixFactorization(
        data=args.data, fmt=args.format, valid=args.valid, valid_fraction=args.valid_fraction,
        duplicates=args.duplicates, solver=args.solver, k=args.rank, lam=args.lam, lr=args.lr,
        step=args.step, decay=args.decay, order=args.order, blocks_per_rank=args.blocks_per_rank,
        fugue_cap=args.fugue_cap, fugue_chunk=args.fugue_chunk, fugue_fixed=args.fugue_fixed,
        target_rmse=args.target_rmse, seed=args.seed)


def report(summary: dict) -> str:
    va = summary.get("valid_rmse")
    how = "reached --target-rmse" if summary["converged"] else "stopped at --max-iter"
    s = (f"mf ({summary['solver']}, k = {summary['k']}): {summary['epochs']} epochs, {how}; "
         f"{summary['n_users']} users x {summary['n_items']} items, {summary['n_train']} training ratings")
    if summary.get("train_rmse") is not None:
        s += f"\ntrain RMSE {summary['train_rmse']:.4f}"
        s += f", validation RMSE {va:.4f} ({summary['n_valid']} ratings)" if va is not None else ""
        s += f", objective {summary['objective']:.6e}"
    if summary["solver"] == "fugue":
        s += f"\nfugue extra updates: {summary['extra_updates']}"
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
