"""The option declarations (mpiml.settings) against what is derived from them.

Generated from the declarations: every option of every ``mpiml train ALGO``
(the algorithm's settings and the run-control options) is round-tripped
through the real command-line parser and through a TOML file, fed bad values,
and changed between a checkpoint and a resume; every cross-option rule and
every ``only_if`` warning is triggered.  A new option or rule is covered
without editing this file (a rule needs its ``rule_examples`` entry, which is
checked).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re

import pytest

from mpiml.cli import build_parser
from mpiml.cli.train import ALGORITHMS, apply_config, declared, settings_from_args
from mpiml.errors import ConfigError
from mpiml.runtime.loop import RunOptions
from mpiml.runtime.settings import RunSettings
from mpiml.settings import GIVEN, GROUP_TITLES, GROUPS, Settings, coerce

ALGOS = sorted(ALGORITHMS)


def adapter(algo):
    return importlib.import_module(ALGORITHMS[algo])


def cls_of(algo):
    return adapter(algo).SETTINGS


def owner(algo, key):
    """The settings class that declares ``key`` for ``train ALGO``."""
    return cls_of(algo) if key in cls_of(algo).by_key() else RunSettings


# ---------------------------------------------------------------- values
def candidates(o) -> list:
    """Valid values of option ``o`` other than its default (at least one)."""
    s = o.spec
    if s.type is bool:
        return [not o.default]
    if s.choices:
        vals = [c for c in s.choices if c != o.default]
    elif s.type is int:
        start = o.default if o.default is not None else (int(s.low) if s.low is not None else 0)
        vals = [start + 1, start + 2]
    elif s.type is float:
        start = o.default if o.default is not None else (float(s.low) if s.low is not None else 0.0)
        vals = [start + 0.25, start + 0.5, start * 0.5]   # the last for an upper bound (l1_ratio <= 1)
    elif s.type is str:
        vals = [f"/tmp/mpiml-test/{o.key}-a", f"/tmp/mpiml-test/{o.key}-b"]
    else:                           # a converter (e.g. --tree-edges, --blocks-per-rank)
        vals = list(getattr(s.type, "examples", ["0-1", "0-1,1-2"]))
    out = []
    for v in vals:
        try:
            out.append(coerce(o, v))
        except ValueError:
            pass
    if not out and s.type is str:   # a string option whose check refuses paths (lasso's --alphas)
        for v in ("1,0.5", "0.5"):
            try:
                out.append(coerce(o, v))
            except ValueError:
                pass
    assert out, f"no valid non-default value found for {o.flag}: extend candidates()"
    return out


def builds(cls, mapping) -> bool:
    try:
        cls.from_mapping(mapping)
        return True
    except ConfigError:
        return False


def valid_around(cls, fixed: dict, values=(), key: str | None = None) -> dict:
    """A mapping holding ``fixed`` (plus the required options) that is valid
    with ``key`` at each of ``values``; other options are changed from their
    defaults (at most two) only where a rule demands it."""
    opts = cls.by_key()
    base = {k: candidates(o)[0] for k, o in opts.items() if o.spec.required and k not in fixed}
    base.update(fixed)
    others = [(k, v) for k, o in opts.items() if k != key and k not in fixed
              for v in candidates(o) + [o.default]]

    def ok(extra):
        m = {**base, **extra}
        return all(builds(cls, {**m, key: v}) for v in values) if key else builds(cls, m)

    if ok({}):
        return base
    for i, a in enumerate(others):
        if ok(dict([a])):
            return {**base, **dict([a])}
    for i, a in enumerate(others):
        for b in others[i + 1:]:
            if a[0] != b[0] and ok(dict([a, b])):
                return {**base, **dict([a, b])}
    raise AssertionError(f"{cls.__name__}: no valid configuration around {fixed} with {key} in {values}")


def every_key():
    return [(a, k) for a in ALGOS for k, o in declared(a).items() if o.spec.toml]


def ids(params):
    return [f"{a}-{k}" for a, k in params]


# ------------------------------------------------------ CLI and TOML paths
def argv_of(algo, mapping) -> list[str]:
    opts = declared(algo)
    argv = ["train", algo]
    for k, v in mapping.items():
        o = opts[k]
        if o.spec.type is bool:
            if v != o.default:
                argv.append(o.flag)
        elif v is not None:
            argv.append(f"{o.flag}={v}")
    return argv


def toml_of(mapping) -> str:
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return json.dumps(v)
    return "".join(f"{k} = {val(v)}\n" for k, v in mapping.items() if v is not None)


def from_cli(algo, mapping):
    args = build_parser().parse_args(argv_of(algo, mapping))
    return settings_from_args(args, adapter(algo))


def from_toml(algo, mapping, tmp_path, name="c.toml"):
    path = tmp_path / name
    path.write_text(toml_of(mapping))
    parser = build_parser()
    apply_config(str(path), algo)
    args = parser.parse_args(["train", algo, "--config", str(path)])
    return settings_from_args(args, adapter(algo)), str(path)


def split(algo, mapping):
    """(algorithm part, run-control part) of a mapping of config keys."""
    mine = cls_of(algo).by_key()
    return ({k: v for k, v in mapping.items() if k in mine},
            {k: v for k, v in mapping.items() if k not in mine})


def expected(algo, mapping):
    algo_part, run_part = split(algo, mapping)
    full_algo = valid_around(cls_of(algo), algo_part) if not builds(cls_of(algo), algo_part) else algo_part
    run_part = {**cls_of(algo).run_defaults, **run_part}
    for k in cls_of(algo).by_key():
        if k in RunSettings.by_key():          # e.g. seed, declared by the algorithm
            run_part.setdefault(k, full_algo.get(k, cls_of(algo).by_key()[k].default))
    return cls_of(algo).from_mapping(full_algo), RunSettings.from_mapping(run_part)


def config_for(algo, key):
    """A full mapping in which option ``key`` has a non-default value."""
    cls = owner(algo, key)
    o = cls.by_key()[key]
    v = candidates(o)[0]
    if cls is RunSettings:
        run = {**valid_around(RunSettings, {key: v}), key: v}
        return {**valid_around(cls_of(algo), {}), **run}
    return {**valid_around(cls, {key: v}, [v], key), key: v}


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("algo,key", every_key(), ids=ids(every_key()))
def test_option_round_trips_through_cli_and_toml(algo, key, tmp_path):
    mapping = config_for(algo, key)
    want_algo, want_run = expected(algo, mapping)
    got_algo, got_run, config = from_cli(algo, mapping)
    assert (got_algo, got_run) == (want_algo, want_run)
    (t_algo, t_run, t_config), path = from_toml(algo, mapping, tmp_path)
    assert t_run.config == path
    assert (t_algo, t_run.replace(config=None)) == (want_algo, want_run) and t_config == config
    o = declared(algo)[key]
    if o.spec.in_config:
        assert config[key] == mapping[key] != o.default
    else:
        assert key not in config


@pytest.mark.parametrize("algo", ALGOS)
def test_defaults_are_the_declared_ones(algo):
    s, run, config = from_cli(algo, valid_around(cls_of(algo), {}))
    for k, o in declared(algo).items():
        want = cls_of(algo).run_defaults.get(k, o.default)
        if not o.spec.required and k not in valid_around(cls_of(algo), {}):
            assert getattr(s if k in cls_of(algo).by_key() else run, o.name) == want, k


def bad_values(o):
    """(value, problem text the declaration must give) pairs for ``o``."""
    s = o.spec
    out = []
    if s.choices:
        out.append(("no-such-choice", f"expected one of {', '.join(map(str, s.choices))}; got 'no-such-choice'"))
    if s.type is int:
        out.append(("abc", "expected an integer, got 'abc'"))
        out.append((1.5, "expected an integer, got 1.5"))
    if s.type is float:
        out.append(("abc", "expected a number, got 'abc'"))
        out.append(("nan", "expected a finite number, got nan"))
    if s.type in (int, float) and s.low is not None:
        v = s.type(s.low) if s.low_open else s.type(s.low - 1)
        out.append((v, f"expected a value {'>' if s.low_open else '>='} {s.low}, got {v!r}"))
    if s.type in (int, float) and s.high is not None:
        v = s.type(s.high) if s.high_open else s.type(s.high + 1)
        out.append((v, f"expected a value {'<' if s.high_open else '<='} {s.high}, got {v!r}"))
    if s.type not in (bool, int, float, str):
        out.append(getattr(s.type, "bad_example", ("0:1", "expected edges like '0-1,1-2', found '0:1'")))
    return out


BAD = [(a, k, i) for a, k in every_key() for i in range(len(bad_values(declared(a)[k])))]


@pytest.mark.parametrize("algo,key,i", BAD, ids=[f"{a}-{k}-{i}" for a, k, i in BAD])
def test_bad_value_gives_the_same_message_from_cli_and_toml(algo, key, i, tmp_path, capsys):
    o = declared(algo)[key]
    value, problem = bad_values(o)[i]
    mapping = {**valid_around(cls_of(algo), {}), key: value}
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv_of(algo, mapping))
    assert exc.value.code == 2
    assert f"argument {o.flag}: {problem}" in capsys.readouterr().err
    path = tmp_path / "bad.toml"
    path.write_text(toml_of({key: value}))
    with pytest.raises(ConfigError) as err:
        apply_config(str(path), algo)
    assert str(err.value) == f"{path}: {key}: {problem}" and err.value.exit_code == 2
    # Library use (keywords) is checked by the same code.
    cls = owner(algo, key)
    names = {k: x.name for k, x in cls.by_key().items()}
    kw = {names[k]: v for k, v in valid_around(cls, {}).items()}
    with pytest.raises(ConfigError, match=re.escape(f"{o.flag}: {problem}")):
        cls(**{**kw, o.name: value})


RULES = [(a, cls, i) for a in ALGOS for cls in (cls_of(a), RunSettings)
         for i in range(len(cls.rule_examples))]


@pytest.mark.parametrize("algo,cls,i", RULES, ids=[f"{a}-{c.__name__}-{i}" for a, c, i in RULES])
def test_rule_gives_its_documented_message_from_cli_and_toml(algo, cls, i, tmp_path):
    example, message = cls.rule_examples[i]
    mapping = dict(example)
    if cls is RunSettings:
        mapping = {**valid_around(cls_of(algo), {}), **mapping}
    else:
        mapping = {**{k: candidates(o)[0] for k, o in cls.by_key().items()
                      if o.spec.required and k not in example}, **mapping}
    with pytest.raises(ConfigError) as err:
        from_cli(algo, mapping)
    assert str(err.value) == f"command line: {message}"
    with pytest.raises(ConfigError) as err:
        from_toml(algo, mapping, tmp_path)
    assert str(err.value) == f"command line and {tmp_path / 'c.toml'}: {message}"
    assert err.value.exit_code == 2


def declaring_classes():
    seen = {}
    for a in ALGOS:
        for cls in (cls_of(a), RunSettings):
            for c in cls.__mro__:
                if "rules" in vars(c) and c is not Settings:
                    seen[c.__name__] = c
    return sorted(seen.values(), key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", declaring_classes(), ids=lambda c: c.__name__)
def test_every_rule_has_an_example(cls):
    n_rules = inspect.getsource(cls.rules).count("yield ")
    assert n_rules >= 1 and "rule_examples" in vars(cls)
    assert len(cls.rule_examples) == n_rules, f"{cls.__name__}: {n_rules} rules, " \
                                              f"{len(cls.rule_examples)} examples"
    # Every example breaks exactly the rule it documents (its message is the first).
    msgs = [m for _, m in cls.rule_examples]
    assert len(set(msgs)) == len(msgs)


ONLY_IF = [(a, k) for a in ALGOS for k, o in cls_of(a).by_key().items() if o.spec.only_if]


@pytest.mark.parametrize("algo,key", ONLY_IF, ids=ids(ONLY_IF))
def test_ignored_option_warns_the_same_from_cli_and_toml(algo, key, tmp_path):
    cls = cls_of(algo)
    o = cls.by_key()[key]
    other_name, allowed = o.spec.only_if
    other = next(x for x in cls.options() if x.name == other_name)
    v = candidates(o)[0]
    if allowed is GIVEN:
        off, on = None, candidates(other)[0]
    else:
        off = next(c for c in [other.default, *candidates(other)] if c not in allowed)
        on = next(c for c in [other.default, *candidates(other)] if c in allowed)
    m_off = {**valid_around(cls, {other.key: off, key: v}), other.key: off, key: v}
    s, _, _ = from_cli(algo, m_off)
    t = from_toml(algo, m_off, tmp_path)[0][0]
    warned = [w for w in s.warnings() if w.startswith(f"{o.flag} is ignored")]
    assert warned and warned == [w for w in t.warnings() if w.startswith(f"{o.flag} is ignored")]
    assert other.flag in warned[0]
    m_on = {**valid_around(cls, {other.key: on, key: v}), other.key: on, key: v}
    assert not [w for w in from_cli(algo, m_on)[0].warnings() if w.startswith(f"{o.flag} ")]


@pytest.mark.parametrize("algo", ALGOS)
def test_unknown_key(algo, tmp_path, capsys):
    path = tmp_path / "u.toml"
    path.write_text("bogus_key = 1\n")
    with pytest.raises(ConfigError) as err:
        build_parser()
        apply_config(str(path), algo)
    assert str(err.value) == f"{path}: unknown option(s) bogus_key for 'train {algo}'"
    path.write_text("config = 'other.toml'\n")      # --config is command line only
    with pytest.raises(ConfigError, match=r"unknown option\(s\) config"):
        apply_config(str(path), algo)
    with pytest.raises(ConfigError, match=r"^settings: unknown option\(s\) bogus_key$"):
        cls_of(algo).from_mapping({"bogus_key": 1}, "settings")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", algo, "--bogus-key", "1"])
    assert "unrecognized arguments: --bogus-key" in capsys.readouterr().err


MODEL_KEYS = [(a, k) for a in ALGOS for k in cls_of(a).by_key()]


@pytest.mark.parametrize("algo,key", MODEL_KEYS + [(a, k) for a, k in every_key() if owner(a, k) is RunSettings],
                         ids=ids(MODEL_KEYS + [(a, k) for a, k in every_key() if owner(a, k) is RunSettings]))
def test_resume_guard_refuses_exactly_the_model_defining_options(algo, key):
    cls = owner(algo, key)
    o = cls.by_key()[key]
    if cls is RunSettings:
        algo_map = valid_around(cls_of(algo), {})
        # The checkpoint ran with a non-default run-control value; this run
        # has the default: run control never defines the model.
        stored = {**cls_of(algo).from_mapping(algo_map).to_config(), "straggler": None,
                  key: candidates(o)[0]}
        assert stored[key] != o.default
        now = adapter(algo).build(cls_of(algo).from_mapping(algo_map))
        assert now.resume_conflicts(stored, {}) == []
        return
    base = None
    for v1, v2 in ((o.default, candidates(o)[0]), tuple(candidates(o)[:2])):
        try:
            base = valid_around(cls, {}, [v1, v2], key)
            break
        except AssertionError:
            continue
    assert base is not None and v1 != v2
    before = cls.from_mapping({**base, key: v1})
    after = cls.from_mapping({**base, key: v2})
    conflicts = adapter(algo).build(after).resume_conflicts(before.to_config(), {})
    if o.spec.model:
        assert len(conflicts) == 1 and conflicts[0].startswith((o.flag, o.key))
        assert f"was {v1!r}, now {v2!r}" in conflicts[0]
        # A checkpoint written before the option existed ran with its default.
        older = {k: x for k, x in before.to_config().items() if k != key}
        assert bool(adapter(algo).build(after).resume_conflicts(older, {})) == (v2 != o.default)
    else:
        assert conflicts == []


# Which options --resume compared before the settings existed (resume_keys
# of commit 4e51048): the conversion must keep them model-defining.
RESUME_KEYS_BEFORE = {
    "kmeans": {"k", "data", "seed"},
    "linear": {"data", "loss", "penalty", "seed", "batch", "clocks"},
    "mf": {"data", "format", "valid_fraction", "duplicates", "solver", "rank", "lam", "lr", "step",
           "decay", "order", "blocks_per_rank", "fugue_fixed", "seed"},
    "ibm1": {"null"},
}


@pytest.mark.parametrize("algo", sorted(RESUME_KEYS_BEFORE))   # algorithms older than the settings
def test_options_resume_compared_before_still_define_the_model(algo):
    # New options may be model-defining too; none of the old ones may be lost.
    # (algorithms added after the settings, e.g. lda, have no such list)
    assert RESUME_KEYS_BEFORE.get(algo, set()) <= {o.key for o in cls_of(algo).options() if o.spec.model}


# Stored configurations of checkpoints written by commit 4e51048 (`mpiml
# inspect --json`), and the command lines that wrote them.
OLD_CHECKPOINTS = {
    "kmeans": (["--data", "P/km.npy", "--k", "3", "--seed", "4", "--tol", "0"],
               {"data": "P/km.npy", "dataset": None, "k": 3, "n_trials": 0, "seed": 4, "straggler": None,
                "tol": 0.0}),
    "linear": (["--data", "P/lin.svm", "--batch", "8", "--clocks", "4", "--seed", "2", "--consistency", "ssp",
                "--staleness", "1", "--format", "libsvm"],
               {"alpha": 0.0001, "batch": 8, "clocks": 4, "consistency": "ssp", "data": "P/lin.svm",
                "dataset": None, "debug_staleness": False, "every": 10, "fmt": "libsvm", "labels": None,
                "labels_dataset": None, "loss": "logistic", "lr": 0.5, "n_features": None, "penalty": "l2",
                "seed": 2, "staleness": 1, "straggler": None, "target_loss": None, "valid": None,
                "valid_labels": None, "width": 32}),
    "mf": (["--data", "P/r.txt", "--rank", "4", "--lr", "0.02", "--format", "triplets", "--seed", "3",
            "--blocks-per-rank", "2"],
           {"blocks_per_rank": 2, "data": "P/r.txt", "decay": 0.1, "duplicates": "last", "format": "triplets",
            "fugue_cap": 1.0, "fugue_chunk": 4096, "fugue_fixed": None, "lam": 0.05, "lr": 0.02, "order": "WOR",
            "rank": 4, "seed": 3, "solver": "dsgd", "step": "bold", "straggler": None, "target_rmse": None,
            "valid": None, "valid_fraction": 0.0}),
    "ibm1": (["--source", "P/c.e", "--target", "P/c.f", "--no-null", "--topology", "allpairs"],
             {"align_out": None, "corpus": None, "empty": "skip", "export_ttable": 0, "null": False, "seed": 0,
              "source": "P/c.e", "straggler": None, "target": "P/c.f", "topology": "allpairs",
              "tree_edges": None, "ttable_out": None}),
}


# Options added after those checkpoints were written (not model-defining, or
# model-defining with a rule that keeps the older runs as they were: ibm1's
# dtype (its default float64 is what they were written in), mf's
# dtype (they resume with the type they were written in), --bias (off) and
# --eta0 (only under --step adaptive, which they did not use: they resume with
# the rule they stored, MatrixFactorization.restore).
ADDED_SINCE = {"ibm1": {"host_aware", "schedule", "estep", "dtype"}, "mf": {"dtype", "eta0", "bias"},
               "linear": {"solver", "history", "tol", "fit_intercept", "exchange", "eval_every"}}


@pytest.mark.parametrize("algo", sorted(OLD_CHECKPOINTS))   # algorithms older than the settings
def test_checkpoints_written_before_the_settings_resume(algo):
    if algo not in OLD_CHECKPOINTS:
        pytest.skip(f"{algo} was added after the settings: no older checkpoints")
    argv, stored = OLD_CHECKPOINTS[algo]
    settings, _, config = settings_from_args(build_parser().parse_args(["train", algo, *argv]), adapter(algo))
    assert adapter(algo).build(settings).resume_conflicts(stored, config) == []
    # The same keys are stored as before (only linear's fmt is renamed, and read as an alias);
    # options added since may add keys, whose defaults the old checkpoints then resume with.
    renamed = {"fmt": "format"}
    assert {renamed.get(k, k) for k in stored} | ADDED_SINCE.get(algo, set()) == set(config)
    # ... and a changed model-defining option is still refused against them.
    model = next(o for o in cls_of(algo).options() if o.spec.model and o.key != "data")
    values = candidates(model) if model.spec.required else [model.default, *candidates(model)]
    other = next(v for v in values if v != getattr(settings, model.name))
    changed = settings.replace(**{model.name: other})
    assert adapter(algo).build(changed).resume_conflicts(stored, config)


@pytest.mark.parametrize("algo", ALGOS)
def test_help_groups_options_and_shows_defaults(algo, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", algo, "--help"])
    text = capsys.readouterr().out
    # Sections: "title:" lines; entries: lines starting "  --flag", continued
    # by more deeply indented lines.
    sections, entries, current = [], {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            sections.append(line[:-1])
        elif re.match(r"^  --", line):
            current = line.split()[0].rstrip(",")
            entries[current] = [sections[-1], line]
        elif line.startswith("    ") and current:
            entries[current][1] += " " + line.strip()
        else:
            current = None
    titles = [GROUP_TITLES[g] for g in GROUPS]
    shown = [t for t in sections if t in titles]
    assert shown == [t for t in titles if t in shown] and GROUP_TITLES["runtime"] in shown
    run_defaults = cls_of(algo).run_defaults
    for k, o in declared(algo).items():
        assert o.flag in entries, f"{o.flag} missing from --help"
        section, body = entries[o.flag]
        assert section == GROUP_TITLES[o.spec.group], f"{o.flag} under '{section}'"
        body = re.sub(r"\s+", " ", body)
        if o.spec.type is not bool and o.default is not None:
            assert f"(default {run_defaults.get(k, o.default)})" in body, body


@pytest.mark.parametrize("algo", ALGOS)
def test_declarations_are_consistent(algo):
    cls = cls_of(algo)
    names = {o.name: o for o in cls.options()}
    flags = [o.flag for o in declared(algo).values()]
    assert len(flags) == len(set(flags))
    for o in cls.options():
        assert o.spec.help and not o.spec.help.endswith(".")
        if o.spec.only_if:
            other, allowed = o.spec.only_if
            assert other in names, f"{o.flag}: only_if names unknown field {other!r}"
            if allowed is not GIVEN and names[other].spec.choices:
                assert set(allowed) <= set(names[other].spec.choices)
        if o.default is not None:
            assert coerce(o, o.default) == o.default      # defaults pass their own checks
    assert set(cls.run_defaults) <= set(RunSettings.by_key())


def test_run_options_are_checked_by_the_run_settings():
    with pytest.raises(ConfigError, match="--resume and --init-from are exclusive"):
        RunOptions(resume="a", init_from="b")
    with pytest.raises(ConfigError, match="--resume auto needs --checkpoint-dir"):
        RunOptions(resume="auto")
    with pytest.raises(ConfigError, match="--max-iter: expected a value >= 0, got -1"):
        RunOptions(max_iter=-1)


def test_aliases_and_replace():
    from mpiml.linear.settings import LinearSettings
    a = LinearSettings.from_mapping({"data": "x", "fmt": "dense"})
    assert a.fmt == "dense" and a.to_config()["format"] == "dense"
    with pytest.raises(ConfigError, match="fmt and format are the same option"):
        LinearSettings.from_mapping({"data": "x", "fmt": "dense", "format": "libsvm"})
    b = a.replace(batch=3)
    assert b.batch == 3 and a.batch == 64 and b.fmt == "dense"
    with pytest.raises(ConfigError, match="--batch: expected a value >= 1, got 0"):
        a.replace(batch=0)
    assert LinearSettings(data="x", staleness=5).warnings() == [
        "--staleness is ignored with --consistency bsp (it applies to ssp, essp)"]


def test_algorithm_table_and_stray_tables(tmp_path):
    path = tmp_path / "t.toml"
    # a table per algorithm: this algorithm's is read, the others' skipped
    path.write_text("[kmeans]\nk = 4\n\n[linear]\nbatch = 2\n")
    parser = build_parser()
    apply_config(str(path), "kmeans")
    s, _, _ = settings_from_args(parser.parse_args(["train", "kmeans", "--data", "x.npy",
                                                    "--config", str(path)]), adapter("kmeans"))
    assert s.k == 4
    # keys beside the algorithm's table would be dropped unread: an error
    path.write_text("max_iter = 3\n[kmeans]\nk = 4\n")
    with pytest.raises(ConfigError, match=r"key\(s\) max_iter outside the \[kmeans\] table"):
        apply_config(str(path), "kmeans")
    # a misspelt table is an unknown option, not silently skipped
    path.write_text("k = 4\n[kmeams]\nk = 5\n")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) kmeams for 'train kmeans'"):
        apply_config(str(path), "kmeans")
    path.write_text("kmeans = 3\n")
    with pytest.raises(ConfigError, match=r"kmeans must be a table"):
        apply_config(str(path), "kmeans")
