"""Options of ``mpiml train lda``, declared once (see :mod:`mpiml.settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, option

SCHEMES = ("tables", "rotate")
CONSISTENCY = ("bsp", "ssp", "essp", "async")
ROTATE_ORDERS = ("SEQ", "RSEQ", "WOR")


@dataclass(frozen=True)
class LDASettings(Settings):
    data: str = option(None, required=True, group="data", metavar="FILE", model=True,
                       help="training documents: LDA-C, UCI docword or plain text (one document per line)")
    format: str = option("auto", choices=("auto", "ldac", "uci", "text"), group="data", model=True,
                         help="corpus format (auto: docword* -> uci, .ldac/.dat -> ldac, else text)")
    vocab: str = option(None, group="data", metavar="FILE", model=True,
                        help="vocabulary, one word per line (ldac/uci; uci looks for vocab.* beside docword.*)")
    valid: str = option(None, group="data", metavar="FILE",
                        help="held-out documents (same format): perplexity by document completion")
    topics: int = option(None, type=int, required=True, low=1, model=True, help="number of topics K")
    alpha: float = option(0.1, low=0.0, low_open=True, model=True, help="symmetric doc-topic prior")
    beta: float = option(0.01, low=0.0, low_open=True, model=True, help="symmetric topic-word prior")
    schedule: str = option("tables", choices=SCHEMES, group="consistency", model=True,
                           help="tables: data-parallel, n_kw and n_k in parameter tables under "
                                "--consistency; rotate: model-parallel word blocks rotating among ranks")
    # No only_if on schedule: a non-bsp model with --schedule rotate is an error (rules), not ignored.
    consistency: str = option("bsp", choices=CONSISTENCY, group="consistency",
                              help="consistency model of the tables (--schedule tables)")
    staleness: int = option(1, low=0, group="consistency", only_if=("consistency", ("ssp", "essp")),
                            help="SSP/ESSP staleness bound s (clocks)")
    clock_tokens: int = option(0, low=0, group="consistency", only_if=("schedule", ("tables",)),
                               help="tokens per rank per clock (0: one clock per sweep)")
    order: str = option("WOR", choices=ROTATE_ORDERS, group="consistency", model=True,
                        only_if=("schedule", ("rotate",)),
                        help="order of the word-block rotation (mpiml.mf.schedule)")
    debug_counts: bool = option(False, group="consistency",
                                help="check the count invariants collectively after every clock")
    debug_staleness: bool = option(False, group="consistency",
                                   help="check the staleness bound on every table read")
    eval_every: int = option(1, low=1, group="output",
                             help="sweeps between exact evaluations (log p(w,z), perplexity)")
    fold_in: int = option(20, low=1, group="output",
                          help="Gibbs sweeps over the observed half of each held-out document")
    phi_out: str = option(None, group="output", in_config=False, metavar="FILE.npy",
                          help="write phi (K x V topic-word probabilities) at the end (rank 0)")
    seed: int = option(0, group="runtime", model=True, help="random seed (initial topics, uniform streams)")

    run_defaults = {"max_iter": 50}
    rule_examples = (
        ({"schedule": "rotate", "consistency": "ssp"},
         "--schedule rotate shares only n_k, synchronously: --consistency must stay bsp"),
    )

    def rules(self):
        if self.schedule == "rotate" and self.consistency != "bsp":
            yield "--schedule rotate shares only n_k, synchronously: --consistency must stay bsp"
