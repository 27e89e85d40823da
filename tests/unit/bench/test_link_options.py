"""``mpiml bench links`` / ``bench scaling``: a bad link rate, delay, host or
rank count is an argparse error (one line naming the option, exit 2) before
any namespace is created, not a traceback from up.sh or an IndexError."""

import argparse

import pytest

from mpiml.bench.hosts import MAX_HOSTS, host_count, link_delay, link_rate, link_rates
from mpiml.cli import main


def usage_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if ": error: " in x]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["links", "--links", "10gbitt"], "argument --links: '10gbitt' is not a link rate"),
    (["links", "--links", "none,fast"], "argument --links: 'fast' is not a link rate"),
    (["links", "--links", "0mbit"], "argument --links: '0mbit' is not a link rate"),
    (["links", "--links", " , "], "names no link rate"),
    (["links", "--hosts", "0"], f"argument --hosts: '0' hosts: expected an integer from 2 to {MAX_HOSTS}"),
    (["links", "--hosts", "1"], "argument --hosts: '1' hosts"),
    (["links", "--hosts", str(MAX_HOSTS + 1)], f"'{MAX_HOSTS + 1}' hosts"),
    (["links", "--hosts", "four"], "'four' hosts"),
    (["links", "--delay", "50"], "argument --delay: '50' is not a delay"),
    (["scaling", "kmeans", "--hosts", "--rate", "bogus"], "argument --rate: 'bogus' is not a link rate"),
    (["scaling", "kmeans", "--ranks", "x"], "argument --ranks: expected positive integers"),
    (["scaling", "kmeans", "--ranks", "0,2"], "argument --ranks: expected positive integers"),
    (["scaling", "kmeans", "--hosts", "--ranks", f"1,{MAX_HOSTS + 1}"],
     f"--hosts runs one rank per emulated host, at most {MAX_HOSTS}"),
    (["scaling", "kmeans", "--rate", "1gbit"], "--rate shapes the links between emulated hosts: it needs --hosts"),
])
def test_bad_link_options_are_usage_errors(argv, message, capsys, tmp_path):
    line = usage_error(["bench", *argv, *(["-o", str(tmp_path / "r")] if argv[0] == "scaling" else [])],
                       capsys)
    assert line.startswith(f"mpiml bench {argv[0]}: error: ") and message in line, line
    assert not (tmp_path / "r").exists()


def test_good_values_parse_to_what_up_sh_is_given():
    assert link_rates("none, 10gbit,1.5Gbit,100mbit ,") == [None, "10gbit", "1.5Gbit", "100mbit"]
    assert link_rate("250000") == "250000"          # tc: a bare number is bit/s
    assert link_delay("50us") == "50us" and link_delay("1.5ms") == "1.5ms" and link_delay("") == ""
    assert host_count(2)("2") == 2 and host_count()(str(MAX_HOSTS)) == MAX_HOSTS
    for bad in ("1", "-3", "2.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            host_count(2)(bad)
