"""CLI adapter for ``mpiml train kmeans`` (options: mpiml.cluster.settings)."""

from ..cluster.settings import KMeansSettings as SETTINGS

HELP = "K-means clustering (BSP, one Allreduce per Lloyd iteration)"
DESCRIPTION = ("Data-parallel K-means: greedy k-means++ initialisation in distributed form, Lloyd "
               "iterations with one Allreduce of sums and counts. Each rank reads only its rows.")


def build(settings):
    from ..cluster.kmeans import KMeans
    return KMeans(settings)


def report(summary: dict) -> str:
    s = (f"k-means: {summary['iterations']} iterations, "
         f"{'converged' if summary['converged'] else 'stopped at --max-iter'}, "
         f"final inertia {summary['inertia']:.6e}")
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
