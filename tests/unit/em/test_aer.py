"""Alignment error rate and the NAACL 2003 / Pharaoh readers."""

from pathlib import Path

import pytest

from mpiml.em.aer import (Alignments, detect_format, evaluate, read_alignments, read_naacl,
                          read_pharaoh, score)
from mpiml.em.ibm1 import IBM1
from mpiml.errors import InputError
from mpiml.io.corpus import encode_pairs

TRIAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "naacl2003_trial"
needs_trial = pytest.mark.skipif(not (TRIAL / "dev.wa.nonullalign").exists(),
                                 reason=f"NAACL 2003 trial data not found at {TRIAL} "
                                        "(shared data, deliberately not in the repository)")


def test_hand_computed():
    gold = Alignments(sure=[{(0, 0), (1, 1)}], possible=[{(0, 0), (1, 1), (1, 2)}])
    pred = Alignments(sure=[set()], possible=[{(0, 0), (1, 2), (2, 2)}])
    s = score(gold, pred)
    assert (s.sure_hits, s.possible_hits, s.n_predicted, s.n_sure) == (1, 2, 3, 2)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(1 / 2)
    assert s.aer == pytest.approx(1 - 3 / 5)


def test_hand_computed_two_sentences_and_empty_prediction():
    gold = Alignments(sure=[{(0, 0)}, {(1, 0)}], possible=[{(0, 0), (0, 1)}, {(1, 0)}])
    pred = Alignments(sure=[set(), set()], possible=[{(0, 1)}, {(1, 0), (0, 0)}])
    s = score(gold, pred)
    # |A|=3, |S|=2, |A&S|=1, |A&P|=2
    assert (s.precision, s.recall) == pytest.approx((2 / 3, 1 / 2))
    assert s.aer == pytest.approx(1 - 3 / 5)
    empty = score(gold, Alignments([set(), set()], [set(), set()]))
    assert (empty.precision, empty.recall, empty.aer) == (0.0, 0.0, 1.0)


def test_readers_agree(tmp_path):
    naacl = tmp_path / "gold.naacl"
    naacl.write_text("1 1 1 S\n1 2 2 P\n1 0 3 S\n2 3 1\n2 1 1 p 0.5\n")
    phar = tmp_path / "gold.pharaoh"
    phar.write_text("0-0 1?1\n2-0 0?0\n")
    a, b = read_naacl(naacl), read_pharaoh(phar)
    assert a.sure == b.sure == [{(0, 0)}, {(2, 0)}]
    assert a.possible == b.possible == [{(0, 0), (1, 1)}, {(2, 0), (0, 0)}]
    assert detect_format(naacl) == "naacl" and detect_format(phar) == "pharaoh"
    assert read_alignments(naacl).sure == a.sure


@pytest.mark.parametrize("text,line", [("0-0 1x1\n", 1), ("0-0\n3 - 4\n", 2)])
def test_bad_pharaoh(tmp_path, text, line):
    p = tmp_path / "bad"
    p.write_text(text)
    with pytest.raises(InputError) as info:
        read_pharaoh(p)
    assert f"{p}:{line}:" in str(info.value)


@pytest.mark.parametrize("text,line", [("1 1 1 S\n1 1 X\n", 2), ("1 1 1 Q\n", 1), ("0 1 1\n", 1)])
def test_bad_naacl(tmp_path, text, line):
    p = tmp_path / "bad"
    p.write_text(text)
    with pytest.raises(InputError) as info:
        read_naacl(p)
    assert f"{p}:{line}:" in str(info.value)


def test_prediction_too_short(tmp_path):
    g, p = tmp_path / "g", tmp_path / "p"
    g.write_text("0-0\n1-1\n")
    p.write_text("0-0\n")
    with pytest.raises(InputError, match="cover 1 sentences"):
        evaluate(g, p)


def _raw_trial_links():
    sure, possible = set(), set()
    for line in (TRIAL / "dev.wa.nonullalign").read_text().split("\n"):
        if line.strip():
            n, e, f, lab = line.split()
            link = (int(n), int(e), int(f))
            possible.add(link)
            if lab == "S":
                sure.add(link)
    return sure, possible


@needs_trial
def test_trial_gold_against_itself(tmp_path):
    gold = read_naacl(TRIAL / "dev.wa.nonullalign")
    assert gold.n_sentences == 37
    sure, possible = _raw_trial_links()
    assert sum(map(len, gold.sure)) == len(sure)
    assert sum(map(len, gold.possible)) == len(possible)
    # gold as a Pharaoh file with i-j / i?j, read back
    pharaoh = tmp_path / "gold.pharaoh"
    pharaoh.write_text("".join(" ".join(f"{i}{'-' if (i, j) in s else '?'}{j}" for i, j in sorted(p))
                               + "\n" for s, p in zip(gold.sure, gold.possible)))
    again = read_pharaoh(pharaoh)
    assert again.sure == gold.sure and again.possible == gold.possible
    pred = tmp_path / "sure.pharaoh"
    pred.write_text("".join(" ".join(f"{i}-{j}" for i, j in sorted(s)) + "\n" for s in gold.sure))
    s = evaluate(TRIAL / "dev.wa.nonullalign", pred)
    assert (s.precision, s.recall, s.aer) == (1.0, 1.0, 0.0)


@needs_trial
def test_trial_diagonal_alignment(tmp_path):
    e = (TRIAL / "dev.e").read_text(encoding="utf-8").split("\n")[:37]
    f = (TRIAL / "dev.f").read_text(encoding="utf-8").split("\n")[:37]
    diag = [[(i, i) for i in range(min(len(a.split()), len(b.split())))] for a, b in zip(e, f)]
    pred = tmp_path / "diag.pharaoh"
    pred.write_text("".join(" ".join(f"{i}-{j}" for i, j in d) + "\n" for d in diag))
    sure, possible = _raw_trial_links()
    a = {(n + 1, i + 1, j + 1) for n, d in enumerate(diag) for i, j in d}
    hs, hp = len(a & sure), len(a & possible)
    s = evaluate(TRIAL / "dev.wa.nonullalign", pred)
    assert s.precision == pytest.approx(hp / len(a))
    assert s.recall == pytest.approx(hs / len(sure))
    assert s.aer == pytest.approx(1 - (hs + hp) / (len(a) + len(sure)))


@needs_trial
def test_trial_ibm1_output_is_scored(tmp_path):
    e = (TRIAL / "dev.e").read_text(encoding="utf-8").split("\n")[:37]
    f = (TRIAL / "dev.f").read_text(encoding="utf-8").split("\n")[:37]
    corpus = encode_pairs([x.split() for x in e], [x.split() for x in f])
    pred = tmp_path / "ibm1.pharaoh"
    pred.write_text("".join(x + "\n" for x in IBM1(n_iter=5).fit(corpus).align(corpus)))
    s = evaluate(TRIAL / "dev.wa.nonullalign", pred)
    assert 0.0 < s.aer < 1.0 and s.n_predicted > 0
