"""CLI adapter for ``mpiml train ibm1`` (options: mpiml.em.settings)."""

from ..em.settings import IBM1Settings as SETTINGS

HELP = "IBM Model 1 word alignment by fully distributed EM (Wolfe, Haghighi & Klein 2008)"
DESCRIPTION = ("IBM Model 1 translation probabilities theta(t|s) by fully distributed EM: each rank "
               "reads only its line range of the parallel corpus and holds theta only for the word "
               "pairs that co-occur in its sentences; the counts travel over the chosen --topology "
               "(C-step), then each rank normalises locally. Outputs: Viterbi alignments in Pharaoh "
               "format (--align-out), the top-k translation table (--export-ttable), and the "
               "distributed theta in the checkpoint.")

def build(settings):
    from ..em.model import IBM1Model
    return IBM1Model(settings)


def report(summary: dict) -> str:
    from ..runtime.progress import human_bytes
    p = summary["plan"]
    lines = [f"ibm1: {summary['iterations']} EM iterations on {summary['n_pairs']} sentence pairs "
             f"({summary['src_vocab']} source / {summary['tgt_vocab']} target words), "
             f"log-likelihood {summary['loglik']:.6e}, perplexity {summary['perplexity']:.4g} "
             f"(under the theta of the last E-step)",
             f"setup: reading {summary['read_s']:.3f} s, parameters {summary['params_s']:.3f} s, "
             f"C-step plan {summary['plan_s']:.3f} s",
             f"plan ({p['topology']}): {p['rounds']} rounds, {human_bytes(p['bytes_total'])} per "
             f"iteration (max {human_bytes(p['bytes_max_rank'])} per rank); "
             f"{p['shared_statistics']} of {p['statistics']} statistics shared by several ranks"]
    if p.get("n_hosts", 1) > 1:
        lines.append(f"across {p['n_hosts']} hosts: {human_bytes(p['cross_host_bytes'])} per iteration "
                     f"cross-host, {human_bytes(p['intra_host_bytes'])} intra-host"
                     + (f"; {p['cross_host_tree_edges']} tree edge(s) cross hosts"
                        if p.get("cross_host_tree_edges") is not None else "")
                     + (" (allreduce: ring model)" if p["topology"] == "allreduce" else ""))
    if p.get("tree_edges") is not None:
        edges = ",".join(f"{a}-{b}" for a, b in p["tree_edges"])
        lines.append(f"tree: {edges or '(single rank)'}, root {p['root']}")
    if summary.get("peak_rss_mb"):
        rss = summary["peak_rss_mb"]
        lines.append(f"peak RSS per rank: {', '.join(f'{x:.0f}' for x in rss)} MB "
                     f"(max {max(rss):.0f} MB)")
    if summary["n_empty"]:
        shown = ", ".join(map(str, summary["empty_lines"]))
        more = ", ..." if summary["n_empty"] > len(summary["empty_lines"]) else ""
        lines.append(f"skipped {summary['n_empty']} pair(s) with an empty side (lines {shown}{more})")
    if summary.get("alignments"):
        lines.append(f"alignments: {summary['alignments']}")
    if summary.get("ttable"):
        lines.append(f"translation table (top {summary['ttable_k']}): {summary['ttable']}")
    if summary.get("checkpoint"):
        lines.append(f"checkpoint: {summary['checkpoint']}")
    return "\n".join(lines)
