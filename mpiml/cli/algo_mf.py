"""CLI adapter for ``mpiml train mf`` (options: mpiml.mf.settings)."""

from ..mf.settings import MFSettings as SETTINGS

HELP = "matrix factorisation: DSGD, Fugue (straggler-tolerant SGD) or blocked ALS"
DESCRIPTION = ("Factorise a sparse ratings matrix V ~ W H^T (users x items, rank k) minimising squared "
               "error plus L2 regularisation. Solvers: dsgd (stratified SGD, H blocks rotate between "
               "ranks; Gemulla et al. 2011), fugue (DSGD whose fast ranks keep updating while the "
               "slowest finishes; Kumar et al. 2014), als (blocked weighted-lambda ALS, the BSP "
               "baseline). One iteration is one epoch. Each rank reads its share of the file.")


def build(settings):
    from ..mf.model import MatrixFactorization
    return MatrixFactorization(settings)


def report(summary: dict) -> str:
    va = summary.get("valid_rmse")
    how = "reached --target-rmse" if summary["converged"] else "stopped at --max-iter"
    s = (f"mf ({summary['solver']}, k = {summary['k']}): {summary['epochs']} epochs, {how}; "
         f"{summary['n_users']} users x {summary['n_items']} items, {summary['n_train']} training ratings")
    if summary.get("train_rmse") is not None:
        s += f"\ntrain RMSE {summary['train_rmse']:.4f}"
        s += f", validation RMSE {va:.4f} ({summary['n_valid']} ratings)" if va is not None else ""
        s += f", objective {summary['objective']:.6e}"
    if summary.get("read_s"):
        s += (f"\nsetup: reading (with id maps and split) {max(summary['read_s']):.2f} s, distributing and blocking "
              f"{max(summary['prepare_s']):.2f} s (max over ranks); peak RSS per rank "
              f"{', '.join(f'{x:.0f}' for x in summary['peak_rss_mb'])} MB")
    if summary["solver"] == "fugue":
        s += f"\nfugue extra updates: {summary['extra_updates']}"
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
