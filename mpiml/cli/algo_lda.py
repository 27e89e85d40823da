"""CLI adapter for ``mpiml train lda`` (options: mpiml.topics.settings)."""

from ..topics.settings import LDASettings as SETTINGS

HELP = "LDA topic model by collapsed Gibbs sampling (parameter tables or rotating word blocks)"
DESCRIPTION = ("Latent Dirichlet allocation by collapsed Gibbs sampling. Each rank reads its share of "
               "the documents and keeps their document-topic counts. --schedule tables: the word-topic "
               "counts live in a parameter table under --consistency bsp|ssp|essp|async (one clock per "
               "sweep or per --clock-tokens); --schedule rotate: word blocks rotate among ranks, so "
               "word-topic counts are never stale. One iteration is one sweep over every token.")


def build(settings):
    from ..topics.lda import LDA
    return LDA(settings)


def report(summary: dict) -> str:
    s = (f"lda ({summary['scheme']}, K = {summary['topics']}): {summary['sweeps']} sweeps over "
         f"{summary['n_tokens']} tokens in {summary['n_docs']} documents ({summary['n_words']} words); "
         f"log p(w,z) {summary['loglik']:.6e} ({summary['ll_token']:.4f} per token)")
    if summary.get("checkpoint"):
        s += f"\ncheckpoint: {summary['checkpoint']}"
    return s
