"""Options of ``mpiml train ibm1``, declared once (see :mod:`mpiml.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, option

# How the C-step moves counts (mpiml.em.plan); declared here so that building
# the command line does not import the planner (and scipy with it).
TOPOLOGIES = ("mapreduce", "allreduce", "allpairs", "junction-tree", "tree")

# The two E-steps (mpiml.em.ibm1.estep_stats); both give the same bits.
ESTEPS = ("word-major", "indexed")

# Floating types of theta (mpiml.em.ibm1.FLOAT_TYPES).
DTYPES = ("float64", "float32")

LOW_MEMORY_CONFLICT = ("--low-memory (deprecated) means --estep word-major; it cannot be combined "
                       "with --estep indexed")

TOPOLOGY_HELP = ("how counts travel: mapreduce (to reducers owning source words, theta back), "
                 "allreduce (every rank reduces the whole table), allpairs (pairs of ranks exchange "
                 "their shared counts directly, one round), junction-tree (maximum spanning tree over "
                 "ranks weighted by shared counts; messages carry separators only), tree (the same on "
                 "--tree-edges)")


def edge_list(text) -> list[tuple[int, int]]:
    """``"0-1,1-2,..."`` (or already a sequence of pairs) -> list of rank pairs;
    ``ValueError`` naming the malformed part."""
    if not isinstance(text, str):
        try:
            return [(int(a), int(b)) for a, b in text]
        except (TypeError, ValueError):
            raise ValueError(f"expected pairs of ranks, got {text!r}") from None
    edges = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        a, sep, b = part.partition("-")
        if not sep or not a.strip().isdigit() or not b.strip().isdigit():
            raise ValueError(f"expected edges like '0-1,1-2', found {part!r}")
        edges.append((int(a), int(b)))
    return edges


def tree_edges(value) -> str:
    """The option's type: an edge list, as text or as pairs, in the canonical
    text form ``"0-1,1-2"`` (what TOML files and checkpoints hold)."""
    return ",".join(f"{a}-{b}" for a, b in edge_list(value))


@dataclass(frozen=True)
class IBM1Settings(Settings):
    # The iteration count EM usually needs for IBM Model 1 (fast_align's default).
    run_defaults = {"max_iter": 5}

    source: str = option(None, group="data", metavar="FILE",
                         help="source side, one sentence per line (e.g. corpus.e)")
    target: str = option(None, group="data", metavar="FILE",
                         help="target side, line-parallel (e.g. corpus.f)")
    corpus: str = option(None, group="data", metavar="FILE",
                         help="one file of 'source ||| target' lines (instead of --source/--target)")
    empty: str = option("skip", choices=("skip", "error"), group="data",
                        help="pairs with an empty side: skip them (counted, reported; their alignment "
                             "line stays empty) or stop with an error naming the line")
    topology: str = option("junction-tree", choices=TOPOLOGIES, group="consistency", help=TOPOLOGY_HELP)
    tree_edges: str = option(None, type=tree_edges, group="consistency", metavar="A-B,...",
                             help="spanning tree over ranks for --topology tree, e.g. a chain "
                                  "0-1,1-2,2-3 or a star 0-1,0-2,0-3")
    host_aware: bool = option(False, group="consistency",
                              help="junction tree that prefers edges between ranks of one host: a tree "
                                   "inside each host plus a tree over one leader per host (hosts - 1 "
                                   "cross-host edges); fewer bytes over the network, possibly more in "
                                   "total")
    schedule: str = option("collect-distribute", choices=("collect-distribute", "async"),
                           group="consistency",
                           help="tree topologies: rounds of collect then distribute, or asynchronous "
                                "(each rank sends to a neighbour as soon as it has heard from all its "
                                "other neighbours; the same theta bit for bit)")
    # word-major became the default when it measured both smaller and faster
    # per iteration (1 and 2 ranks, 20k-300k pairs); it replaced the boolean
    # --low-memory, whose stored key old checkpoints may still hold (only
    # model-defining keys are compared on resume).
    estep: str = option("word-major", choices=ESTEPS, group="optimisation",
                        help="word-major: no token-pair index, counts written over theta (one "
                             "float64 per statistic); indexed: a 4-byte index per source x target "
                             "token pair and a second float64 array; the same theta bit for bit")
    # --low-memory was a released option (the word-major E-step before it was
    # the default); scripts still pass it.  It is not stored (in_config=False):
    # the E-step it selects is stored as estep.
    low_memory: bool = option(False, group="optimisation", in_config=False,
                              help="deprecated alias of --estep word-major (the default); refused "
                                   "with --estep indexed")
    # model=True: a checkpoint records the type of its theta and a resume in
    # the other type is refused; checkpoints written before the option ran
    # in float64, the default.
    dtype: str = option("float64", choices=DTYPES, model=True,
                        help="floating type of theta, the expected counts, the E-step's per-token "
                             "buffer, the C-step messages and the checkpointed theta; float32 halves "
                             "them (long sums are still float64, rounded once)")
    # A True default makes the flag --no-null; the key stays "null" (as stored before).
    null: bool = option(True, model=True,
                        help="no NULL source word (by default target words may align to NULL)")
    align_out: str = option(None, group="output", metavar="FILE",
                            help="write Viterbi alignments, one line per corpus line, Pharaoh 'i-j' "
                                 "(0-based source-target)")
    export_ttable: int = option(0, low=0, group="output", metavar="K",
                                help="write the K most probable targets of every source word (needs "
                                     "--ttable-out)")
    ttable_out: str = option(None, group="output", metavar="FILE",
                             help="TSV file: source, target, probability")

    rule_examples = (
        ({}, "give either --corpus FILE (source ||| target lines) or --source FILE --target FILE"),
        ({"source": "c.e"}, "the two-file layout needs both --source and --target"),
        ({"corpus": "c.txt", "topology": "tree"},
         "--topology tree needs --tree-edges, e.g. a chain 0-1,1-2,2-3"),
        ({"corpus": "c.txt", "tree_edges": "0-1"}, "--tree-edges is only used with --topology tree"),
        ({"corpus": "c.txt", "export_ttable": 3}, "--export-ttable K needs --ttable-out FILE"),
        ({"corpus": "c.txt", "topology": "allpairs", "host_aware": True},
         "--host-aware applies to --topology junction-tree, not allpairs"),
        ({"corpus": "c.txt", "topology": "allpairs", "schedule": "async"},
         "--schedule async needs --topology junction-tree or tree"),
        ({"corpus": "c.txt", "estep": "indexed", "low_memory": True}, LOW_MEMORY_CONFLICT),
    )

    def rules(self):
        if (self.corpus is None) == (self.source is None and self.target is None):
            yield "give either --corpus FILE (source ||| target lines) or --source FILE --target FILE"
        elif self.corpus is None and (self.source is None or self.target is None):
            yield "the two-file layout needs both --source and --target"
        if self.topology == "tree" and self.tree_edges is None:
            yield "--topology tree needs --tree-edges, e.g. a chain 0-1,1-2,2-3"
        if self.topology != "tree" and self.tree_edges is not None:
            # An error rather than a warning: it was refused before the settings existed.
            yield "--tree-edges is only used with --topology tree"
        if self.export_ttable and not self.ttable_out:
            yield "--export-ttable K needs --ttable-out FILE"
        if self.host_aware and self.topology != "junction-tree":
            yield f"--host-aware applies to --topology junction-tree, not {self.topology}"
        if self.schedule == "async" and self.topology not in ("junction-tree", "tree"):
            yield "--schedule async needs --topology junction-tree or tree"
        if self.low_memory and self.estep != "word-major":
            yield LOW_MEMORY_CONFLICT

    def warnings(self) -> list[str]:
        out = super().warnings()
        if self.low_memory:
            out.append("--low-memory is deprecated: it means --estep word-major, the default")
        return out
