"""`mpiml plan ibm1`: figures, help, and one clear error (exit 2) for bad input."""

import json
from pathlib import Path

import pytest

from mpiml.cli import main
from mpiml.comm.serial import SerialComm
from mpiml.em.ibm1 import KeySpace
from mpiml.em.plan import TOPOLOGIES, make_plan
from mpiml.em.plan_scale import simulated_key_sets
from mpiml.io.corpus import read_parallel

DATA = Path(__file__).resolve().parents[3] / "data"
E, F = str(DATA / "corpus.e"), str(DATA / "corpus.f")


def test_rows_equal_the_listing_planner(capsys):
    assert main(["plan", "ibm1", "--ranks", "3,7", "--json", E, F]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(r["ranks"], r["topology"]) for r in rows] == [(n, t) for n in (3, 7) for t in TOPOLOGIES]
    c = read_parallel(SerialComm(), E, F)
    space = KeySpace(c.n_src, c.n_tgt)
    for r in rows:
        keys = simulated_key_sets(c, r["ranks"])
        edges = [(a, a + 1) for a in range(r["ranks"] - 1)] if r["topology"] == "tree" else None
        want = make_plan(keys, r["topology"], space=space, tree_edges=edges).summary()
        assert {k: r[k] for k in want} == want


def test_user_tree_and_text_table(capsys):
    assert main(["plan", "ibm1", "--ranks", "4", "--topology", "tree", "--tree-edges", "0-1,0-2,0-3",
                 "--source", E, "--target", F]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [x.split()[1] for x in out if x.strip().startswith("4 ")] == ["tree"]
    assert any(x.strip().startswith("(4 ranks: key sets") for x in out)


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["plan", "ibm1", "--help"])
    assert ex.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--ranks 64,256,1024" in text and "exit 2" in text


@pytest.mark.parametrize("args, message", [
    (["--ranks", "0,4"], "--ranks: expected positive integers like 2,4,8, got '0,4'"),
    (["--ranks", "4,x"], "--ranks: expected positive integers like 2,4,8, got '4,x'"),
    (["--ranks", "5000"], "--ranks: at most 4096 simulated ranks"),
    (["--ranks", "4,8", "--topology", "tree", "--tree-edges", "0-1,1-2,2-3"],
     "--tree-edges for --ranks 8: a spanning tree of 8 ranks needs 7 edges, got 3"),
    (["--ranks", "4", "--topology", "tree", "--tree-edges", "0-1,1-2,2-9"],
     "--tree-edges for --ranks 4: tree edge endpoints must be ranks in [0, 4)"),
    (["--ranks", "4", "--tree-edges", "0-1,1-x"], "--tree-edges: expected edges like '0-1,1-2', found '1-x'"),
    (["--ranks", "4", "--topology", "allpairs", "--tree-edges", "0-1,1-2,2-3"],
     "--tree-edges is only used with the 'tree' topology"),
    (["--ranks", "4", "--ranks-per-host", "-1"], "--ranks-per-host: expected K >= 1"),
])
def test_bad_options_are_one_error_exit_2(capsys, args, message):
    assert main(["plan", "ibm1", *args, E, F]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("error:") == 1
    assert captured.out == ""         # nothing printed before the error: options checked first


def test_bad_files_name_the_file_and_line(tmp_path, capsys):
    e, f = tmp_path / "b.e", tmp_path / "b.f"
    e.write_text("a b\nc d\ne\n")
    f.write_text("x y\nz w\n")
    assert main(["plan", "ibm1", "--ranks", "2", str(e), str(f)]) == 2
    assert f"{e}:3: line has no partner: {e} has 3 lines but {f} has 2" in capsys.readouterr().err
    assert main(["plan", "ibm1", "--ranks", "2", str(tmp_path / "missing.e"), str(f)]) == 2
    assert f"{tmp_path / 'missing.e'}: cannot read corpus file" in capsys.readouterr().err
    f.write_bytes(b"x y\nz \xff\nv\n")
    assert main(["plan", "ibm1", "--ranks", "2", "--source", str(e), "--target", str(f)]) == 2
    assert f"{f}:2: invalid UTF-8 byte 0xff" in capsys.readouterr().err
    assert main(["plan", "ibm1", "--ranks", "2", "--corpus", str(e), str(f)]) == 2
    assert "not both" in capsys.readouterr().err
