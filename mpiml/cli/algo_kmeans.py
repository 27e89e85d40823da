"""CLI adapter for ``mpiml train kmeans``."""

HELP = "K-means clustering (BSP, one Allreduce per Lloyd iteration)"
DESCRIPTION = ("Data-parallel K-means: greedy k-means++ initialisation in distributed form, Lloyd "
               "iterations with one Allreduce of sums and counts. Each rank reads only its rows.")


def add_arguments(p) -> None:
    g = p.add_argument_group("k-means")
    g.add_argument("--data", required=True, metavar="FILE", help="points: .npy, .h5/.hdf5, .csv, .tsv or .txt")
    g.add_argument("--dataset", help="HDF5 dataset name (default: 'X' or the only 2-D dataset)")
    g.add_argument("--k", type=int, required=True, help="number of clusters")
    from .train import non_negative_float
    g.add_argument("--tol", type=non_negative_float, default=1e-4,
                   help="stop when the squared centre shift <= tol x mean feature variance "
                        "(default %(default)s; 0: stop only when the centres stop moving)")
    g.add_argument("--n-trials", type=int, default=0,
                   help="k-means++ candidates per centre (default 0: 2 + ln k; 1: classic k-means++)")


def build(args):
    from ..cluster.kmeans import KMeans
    return KMeans(data=args.data, k=args.k, tol=args.tol, seed=args.seed, n_trials=args.n_trials,
                  dataset=args.dataset)


def report(summary: dict) -> str:
    s = (f"k-means: {summary['iterations']} iterations, "
         f"{'converged' if summary['converged'] else 'stopped at --max-iter'}, "
         f"final inertia {summary['inertia']:.6e}")
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
