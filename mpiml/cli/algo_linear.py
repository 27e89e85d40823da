"""CLI adapter for ``mpiml train linear``."""

HELP = "logistic regression / linear SVM by data-parallel SGD (BSP, SSP, ESSP, async, averaging)"
DESCRIPTION = ("Data-parallel minibatch SGD for logistic regression (--loss logistic) and linear SVMs "
               "(--loss hinge). The weights live in a parameter table whose consistency model is "
               "chosen by --consistency: bsp (one Allreduce per clock), ssp/essp (MPI RMA windows, "
               "reads at most --staleness clocks stale), async (no bound) or average (local models "
               "averaged every --every clocks). One clock = one minibatch per rank; one iteration = "
               "--clocks clocks (default: one pass over the data), then an exact evaluation.")


def add_arguments(p) -> None:
    g = p.add_argument_group("linear model")
    g.add_argument("--data", required=True, metavar="FILE",
                   help="training examples: LIBSVM/SVMlight text (label idx:val ..., 1-based indices, "
                        "0/1 or -1/+1 labels), or dense .npy/.h5/.csv/.tsv with --labels")
    g.add_argument("--labels", metavar="FILE", help="labels of dense --data (.npy, .h5 or one per line); "
                                                    "for .h5 data the default is its dataset 'y'")
    g.add_argument("--dataset", help="HDF5 dataset of the features (default: 'X' or the only 2-D dataset)")
    g.add_argument("--labels-dataset", help="HDF5 dataset of the labels (default 'y')")
    g.add_argument("--format", dest="fmt", choices=("auto", "libsvm", "dense"), default="auto",
                   help="input format (default auto: dense for .npy/.h5/.hdf5/.csv/.tsv, LIBSVM otherwise)")
    g.add_argument("--n-features", type=int, metavar="D",
                   help="number of features (default: the largest index in the LIBSVM training file)")
    g.add_argument("--valid", metavar="FILE", help="validation examples (same formats)")
    g.add_argument("--valid-labels", metavar="FILE", help="labels of dense --valid")
    g.add_argument("--loss", choices=("logistic", "hinge"), default="logistic",
                   help="logistic regression or linear SVM (default %(default)s)")
    g.add_argument("--penalty", choices=("l2", "l1", "none"), default="l2", help="default %(default)s")
    g.add_argument("--alpha", type=float, default=1e-4, help="penalty weight (default %(default)s)")
    g.add_argument("--lr", type=float, default=0.5, help="step size (default %(default)s)")
    g.add_argument("--batch", type=int, default=64, help="examples per rank per clock (default %(default)s)")
    g.add_argument("--clocks", type=int, default=0,
                   help="clocks per iteration (default 0: one pass over the training data)")
    g.add_argument("--eval-every", type=int, default=0, metavar="K",
                   help="also evaluate the exact objective after every K-th clock inside an iteration, "
                        "by non-blocking reductions (no barrier; not for average) (default 0: once per "
                        "iteration)")
    g.add_argument("--target-loss", type=float, metavar="F",
                   help="stop once the training objective is <= F")
    g.add_argument("--width", type=int, default=32, help="weights per table row (default %(default)s)")
    c = p.add_argument_group("consistency")
    c.add_argument("--consistency", choices=("bsp", "ssp", "essp", "async", "average"), default="bsp",
                   help="how ranks share the weights (default %(default)s)")
    c.add_argument("--staleness", type=int, default=3,
                   help="staleness bound s for ssp/essp, in clocks (default %(default)s)")
    c.add_argument("--every", type=int, default=10,
                   help="averaging period in clocks for --consistency average (default %(default)s)")
    c.add_argument("--debug-staleness", action="store_true",
                   help="check the staleness bound on every read (fails loudly if it is violated)")


def build(args):
    from ..linear.sgd import LinearSGD
    return LinearSGD(data=args.data, valid=args.valid, loss=args.loss, penalty=args.penalty,
                     alpha=args.alpha, lr=args.lr, batch=args.batch, clocks=args.clocks,
                     eval_every=args.eval_every,
                     consistency=args.consistency, staleness=args.staleness, every=args.every,
                     debug_staleness=args.debug_staleness, seed=args.seed, labels=args.labels,
                     valid_labels=args.valid_labels, dataset=args.dataset,
                     labels_dataset=args.labels_dataset, fmt=args.fmt, n_features=args.n_features,
                     target_loss=args.target_loss, width=args.width)


def report(summary: dict) -> str:
    s = (f"linear ({summary['loss']}, {summary['consistency']}): {summary['iterations']} iterations, "
         f"{summary['clocks']} clocks, "
         f"{'reached --target-loss' if summary['converged'] else 'stopped at --max-iter'}, "
         f"training objective {summary['objective']:.6e}, max observed staleness "
         f"{summary['max_staleness']}")
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
