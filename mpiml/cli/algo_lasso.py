"""CLI adapter for ``mpiml train lasso`` (options: mpiml.lasso.settings)."""

from ..lasso.settings import LassoSettings as SETTINGS

HELP = "Lasso / elastic net by STRADS-scheduled parallel coordinate descent (columns per rank)"
DESCRIPTION = ("Lasso and elastic net, (1/2n)||y - X beta||^2 + alpha (l1_ratio ||beta||_1 + "
               "(1 - l1_ratio)/2 ||beta||^2), by parallel coordinate descent over column-partitioned "
               "data. Each round updates --parallel coordinates chosen by --schedule: sap (STRADS: "
               "priority sampling and a dependency check on column correlations), random (Shotgun) "
               "or cyclic; then one Allreduce of the residual change and the new coefficients. "
               "Stops on scikit-learn's duality-gap test (--tol); --alphas/--n-alphas fit a path "
               "with warm starts.")


def build(settings):
    from ..lasso.solver import Lasso
    return Lasso(settings)


def report(summary: dict) -> str:
    path = summary.get("path", [])
    s = (f"lasso ({summary['schedule']}, P = {summary['parallel']}): {summary['iterations']} iterations, "
         f"{summary['rounds']} rounds, "
         f"{'converged' if summary['converged'] else 'stopped at --max-iter'}; "
         f"alpha {summary['alpha']:.6g}: objective {summary['objective']:.9e}, duality gap "
         f"{summary['gap']:.3e}, {summary['nnz']} of {summary['d']} coefficients nonzero")
    if summary["n_alphas"] > 1:
        done = sum(1 for p in path if p["converged"])
        s += f"\npath: {len(path)} of {summary['n_alphas']} alphas done ({done} converged)"
    if summary["schedule"] == "sap":
        s += (f"\ndependency graph: {summary['conflicts']} correlated column pairs "
              f"({summary['conflict_s']:.3f} s)")
    if summary["bytes_per_round"]:
        s += f"\nbytes per round: {summary['bytes_per_round']:,} (8 x ranks x (n + P))"
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
