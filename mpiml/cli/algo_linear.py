"""CLI adapter for ``mpiml train linear`` (options: mpiml.linear.settings)."""

from ..linear.settings import LinearSettings as SETTINGS

HELP = "logistic regression / linear SVM by data-parallel SGD (BSP, SSP, ESSP, async, averaging)"
DESCRIPTION = ("Data-parallel minibatch SGD for logistic regression (--loss logistic) and linear SVMs "
               "(--loss hinge). The weights live in a parameter table whose consistency model is "
               "chosen by --consistency: bsp (one Allreduce per clock), ssp/essp (MPI RMA windows, "
               "reads at most --staleness clocks stale), async (no bound) or average (local models "
               "averaged every --every clocks). One clock = one minibatch per rank; one iteration = "
               "--clocks clocks (default: one pass over the data), then an exact evaluation.")


def build(settings):
    from ..linear.sgd import LinearSGD
    return LinearSGD(settings)


def report(summary: dict) -> str:
    s = (f"linear ({summary['loss']}, {summary['consistency']}): {summary['iterations']} iterations, "
         f"{summary['clocks']} clocks, "
         f"{'reached --target-loss' if summary['converged'] else 'stopped at --max-iter'}, "
         f"training objective {summary['objective']:.6e}, max observed staleness "
         f"{summary['max_staleness']}")
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
