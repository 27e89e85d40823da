"""``mpiml plot RUN.jsonl [RUN2.jsonl ...] -o FIG.png``: figures of progress logs.

Serial, no MPI. Needs the ``plot`` extra (matplotlib); without it, the
command says which extra to install and exits with 2.
"""

from __future__ import annotations

import sys

from ..errors import MpimlError


def register(sub) -> None:
    from ..plot.figures import KINDS
    p = sub.add_parser("plot", help="figures of training logs (--log FILE.jsonl) as PNG (serial)",
                       description="Draw one PNG from one or more JSON-lines progress logs written "
                                   "by `mpiml train --log`: objective per iteration and vs wall "
                                   "time, compute/comm/wait per iteration (max over ranks), bytes "
                                   "per iteration, and where the logs have them the staleness "
                                   "histogram (parameter tables), the validation metric and the "
                                   "per-edge C-step bytes (IBM1). Several logs are overlaid with "
                                   "their labels. Needs matplotlib: pip install 'mpiml[plot]'.")
    p.add_argument("logs", nargs="+", metavar="RUN.jsonl")
    p.add_argument("-o", "--output", required=True, metavar="FIG.png", help="PNG file to write")
    p.add_argument("--label", action="append", metavar="TEXT",
                   help="legend label of each log, in order (repeat once per log; default: "
                        "algorithm, topology or consistency, ranks)")
    p.add_argument("--kind", action="append", choices=KINDS,
                   help="draw only these panels (repeatable; default: every kind the logs have data for)")
    p.add_argument("--title", help="figure title")
    p.add_argument("--dpi", type=int, default=100)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..plot import load, render
    try:
        runs = load(args.logs, args.label)
        kinds = render(runs, args.output, args.kind, args.title, args.dpi)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    print(f"{args.output}: {', '.join(kinds)} of {len(runs)} run(s)")
    return 0
