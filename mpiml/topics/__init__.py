"""Topic models: LDA by collapsed Gibbs sampling (:mod:`.lda`)."""
