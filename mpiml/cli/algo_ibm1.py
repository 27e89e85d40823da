"""CLI adapter for ``mpiml train ibm1``."""

HELP = "IBM Model 1 word alignment by fully distributed EM (Wolfe, Haghighi & Klein 2008)"
DESCRIPTION = ("IBM Model 1 translation probabilities theta(t|s) by fully distributed EM: each rank "
               "reads only its line range of the parallel corpus and holds theta only for the word "
               "pairs that co-occur in its sentences; the counts travel over the chosen --topology "
               "(C-step), then each rank normalises locally. Outputs: Viterbi alignments in Pharaoh "
               "format (--align-out), the top-k translation table (--export-ttable), and the "
               "distributed theta in the checkpoint.")

TOPOLOGY_HELP = ("how counts travel: mapreduce (to reducers owning source words, theta back), "
                 "allreduce (every rank reduces the whole table), allpairs (pairs of ranks exchange "
                 "their shared counts directly, one round), junction-tree (maximum spanning tree over "
                 "ranks weighted by shared counts; messages carry separators only), tree (the same on "
                 "--tree-edges); default %(default)s")

# The iteration count EM usually needs for IBM Model 1 (fast_align's default).
DEFAULTS = {"max_iter": 5}


def add_arguments(p) -> None:
    g = p.add_argument_group("ibm1 corpus")
    g.add_argument("--source", metavar="FILE", help="source side, one sentence per line (e.g. corpus.e)")
    g.add_argument("--target", metavar="FILE", help="target side, line-parallel (e.g. corpus.f)")
    g.add_argument("--corpus", metavar="FILE",
                   help="one file of 'source ||| target' lines (instead of --source/--target)")
    g.add_argument("--empty", choices=("skip", "error"), default="skip",
                   help="pairs with an empty side: skip them (counted, reported; their alignment "
                        "line stays empty) or stop with an error naming the line (default %(default)s)")
    m = p.add_argument_group("ibm1 model and communication")
    m.add_argument("--topology", choices=("mapreduce", "allreduce", "allpairs", "junction-tree", "tree"),
                   default="junction-tree", help=TOPOLOGY_HELP)
    m.add_argument("--tree-edges", metavar="A-B,...",
                   help="spanning tree over ranks for --topology tree, e.g. a chain 0-1,1-2,2-3 "
                        "or a star 0-1,0-2,0-3")
    m.add_argument("--schedule", choices=("collect-distribute", "async"), default="collect-distribute",
                   help="tree topologies: rounds of collect then distribute, or asynchronous (each rank "
                        "sends to a neighbour as soon as it has heard from all its other neighbours; "
                        "same theta bit for bit) (default %(default)s)")
    m.add_argument("--no-null", dest="null", action="store_false",
                   help="no NULL source word (by default target words may align to NULL)")
    o = p.add_argument_group("ibm1 outputs")
    o.add_argument("--align-out", metavar="FILE",
                   help="write Viterbi alignments, one line per corpus line, Pharaoh 'i-j' "
                        "(0-based source-target)")
    o.add_argument("--export-ttable", type=int, default=0, metavar="K",
                   help="write the K most probable targets of every source word (needs --ttable-out)")
    o.add_argument("--ttable-out", metavar="FILE", help="TSV file: source, target, probability")


def build(args):
    from ..em.model import IBM1Model, parse_tree_edges
    return IBM1Model(source=args.source, target=args.target, corpus=args.corpus,
                     topology=args.topology, tree_edges=parse_tree_edges(args.tree_edges),
                     null=args.null, empty=args.empty, align_out=args.align_out,
                     export_ttable=args.export_ttable, ttable_out=args.ttable_out,
                     schedule=args.schedule)


def report(summary: dict) -> str:
    from ..runtime.progress import human_bytes
    p = summary["plan"]
    lines = [f"ibm1: {summary['iterations']} EM iterations on {summary['n_pairs']} sentence pairs "
             f"({summary['src_vocab']} source / {summary['tgt_vocab']} target words), "
             f"log-likelihood {summary['loglik']:.6e}, perplexity {summary['perplexity']:.4g} "
             f"(under the theta of the last E-step)",
             f"setup: reading {summary['read_s']:.3f} s, parameters + C-step plan "
             f"{summary['setup_s']:.3f} s",
             f"plan ({p['topology']}): {p['rounds']} rounds, {human_bytes(p['bytes_total'])} per "
             f"iteration (max {human_bytes(p['bytes_max_rank'])} per rank); "
             f"{p['shared_statistics']} of {p['statistics']} statistics shared by several ranks"]
    if p.get("tree_edges") is not None:
        edges = ",".join(f"{a}-{b}" for a, b in p["tree_edges"])
        lines.append(f"tree: {edges or '(single rank)'}, root {p['root']}")
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
