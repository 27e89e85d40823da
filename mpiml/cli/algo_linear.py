"""CLI adapter for ``mpiml train linear`` (options: mpiml.linear.settings)."""

from ..linear.settings import LinearSettings as SETTINGS

HELP = ("linear models: data-parallel SGD on a parameter table (BSP, SSP, ESSP, async, averaging) "
        "or batch L-BFGS / OWL-QN with feature-sharded state (--solver lbfgs)")
DESCRIPTION = ("Logistic regression (--loss logistic), linear SVMs (hinge, squared_hinge) and least "
               "squares (squared). --solver sgd (default): minibatch SGD whose weights live in a "
               "parameter table with the consistency model chosen by --consistency: bsp (one "
               "Allreduce per clock), ssp/essp (MPI RMA windows, reads at most --staleness clocks "
               "stale), async (no bound) or average (local models averaged every --every clocks); one "
               "clock = one minibatch per rank, one iteration = --clocks clocks, then an exact "
               "evaluation. --solver lbfgs: batch L-BFGS (OWL-QN for --penalty l1) in which every "
               "rank owns a contiguous slice of the features of w, the gradient and the history; one "
               "iteration = one quasi-Newton step with a backtracking line search.")


def build(settings):
    if settings.solver == "lbfgs":
        from ..linear.lbfgs import LinearLBFGS
        return LinearLBFGS(settings)
    from ..linear.sgd import LinearSGD
    return LinearSGD(settings)


def report(summary: dict) -> str:
    if summary.get("solver") in ("lbfgs", "owlqn"):
        name = "OWL-QN" if summary["solver"] == "owlqn" else "L-BFGS"
        why = summary.get("stop_reason") or "stopped at --max-iter"
        s = (f"linear ({summary['loss']}, {summary['penalty']}, {name}, {summary['exchange']} exchange): "
             f"{summary['iterations']} iterations, {why}; objective {summary['objective']:.10e}, "
             f"gradient norm {summary['pg_norm']:.3e}, {summary['nnz_coef']} of "
             f"{summary['n_features']} coefficients non-zero")
        metrics = [f"{k} {v:.4f}" for k, v in summary.items()
                   if k[:3] in ("tr_", "va_") and isinstance(v, float)]
        if metrics:
            s += "\n" + ", ".join(metrics)
    else:
        s = (f"linear ({summary['loss']}, {summary['consistency']}): {summary['iterations']} iterations, "
             f"{summary['clocks']} clocks, "
             f"{'reached --target-loss' if summary['converged'] else 'stopped at --max-iter'}, "
             f"training objective {summary['objective']:.6e}, max observed staleness "
             f"{summary['max_staleness']}")
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
