"""Document-completion perplexity equals the written-out reference; options
are checked once."""

import numpy as np
import pytest

from mpiml.comm.serial import SerialComm
from mpiml.datasets.topics import synthetic_topics, write_text
from mpiml.errors import ConfigError
from mpiml.io.bow import read_bow
from mpiml.topics import streams
from mpiml.topics.evaluate import HeldOut
from mpiml.topics.settings import LDASettings
from tests.naive.lda import completion_perplexity


def test_perplexity_equals_reference(tmp_path):
    S = synthetic_topics(n_docs=8, n_words=12, n_topics=3, doc_len=9, seed=1)
    write_text(tmp_path / "v.txt", S.docs, S.vocab)
    vocab = S.vocab
    c = read_bow(SerialComm(), tmp_path / "v.txt", vocab=vocab)
    rng = np.random.default_rng(0)
    nkw = rng.integers(0, 5, (12, 3)).astype(np.int64)
    nk = nkw.sum(axis=0)
    h = HeldOut(c, 3, seed=2, rank=0)
    got = h.perplexity(SerialComm(), nkw, nk, 0.3, 0.05, n_sweeps=4)
    docs = [c.words[c.doc_ptr[d]:c.doc_ptr[d + 1]].tolist() for d in range(c.n_local_docs)]
    u = streams.fold_uniforms(2, 0, 4 * h.obs_words.size)
    want = completion_perplexity(docs, nkw, nk, 0.3, 0.05, h.z0, u, 4)
    assert np.isclose(got, want, rtol=1e-12) and np.isfinite(got) and got > 1


def test_rotate_refuses_stale_tables():
    with pytest.raises(ConfigError, match="--schedule rotate"):
        LDASettings(data="x", topics=3, schedule="rotate", consistency="ssp")
    with pytest.raises(ConfigError, match="--topics"):
        LDASettings(data="x", topics=0)
