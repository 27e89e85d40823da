"""``mpiml eval-aer``: precision, recall and alignment error rate (serial)."""

from __future__ import annotations

import json
import sys

from ..errors import MpimlError


def register(sub) -> None:
    p = sub.add_parser("eval-aer", help="precision, recall and AER of word alignments against gold links",
                       description="Score predicted word alignments against gold sure/possible links "
                                   "(Och & Ney 2003): precision = |A&P|/|A|, recall = |A&S|/|S|, "
                                   "AER = 1 - (|A&S| + |A&P|)/(|A| + |S|), summed over the gold "
                                   "sentences. Gold: NAACL 2003 'sent e f [S|P]' lines (1-based) or "
                                   "Pharaoh 'i-j' (sure) / 'i?j' (possible), detected automatically. "
                                   "Predicted: Pharaoh lines (e.g. mpiml train ibm1 --align-out); it "
                                   "may have more lines than the gold file has sentences.")
    p.add_argument("--gold", required=True, metavar="FILE")
    p.add_argument("--predicted", required=True, metavar="FILE")
    p.add_argument("--gold-format", choices=("auto", "naacl", "pharaoh"), default="auto",
                   help="default %(default)s")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..em.aer import evaluate
    try:
        s = evaluate(args.gold, args.predicted, gold_format=args.gold_format)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    if args.json:
        print(json.dumps(dict(s.__dict__), sort_keys=True))
        return 0
    print(f"precision  {s.precision:.4f}  ({s.possible_hits} of {s.n_predicted} predicted links "
          f"are sure or possible)")
    print(f"recall     {s.recall:.4f}  ({s.sure_hits} of {s.n_sure} sure links found)")
    print(f"AER        {s.aer:.4f}")
    return 0
