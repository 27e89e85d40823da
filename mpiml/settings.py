"""Each algorithm's options, declared once.

An algorithm's hyper-parameters are one frozen dataclass deriving from
:class:`Settings`; every field is declared with :func:`option`, which carries
its type, default, help text, group, validation and whether it *defines the
model* (a change is refused by ``--resume``) or only says how it is trained.
Everything else is derived from that one declaration:

- the ``mpiml train ALGO`` argparse options (grouped, defaults shown),
- the TOML config keys (``--config``), validated by the same code and with the
  same messages as the command line,
- the resolved configuration shown in the banner and stored in checkpoints
  (keys are the option names with ``_``: ``--blocks-per-rank`` ->
  ``blocks_per_rank``, as before this module existed, so older checkpoints
  keep their keys),
- the resume guard (:meth:`Settings.resume_conflicts`),
- warnings for options that the chosen solver or consistency model ignores
  (``only_if``).

Adding an option is one :func:`option` line plus reading the field where it is
used.  Example::

    @dataclass(frozen=True)
    class KMeansSettings(Settings):
        k: int = option(None, required=True, low=1, model=True, group="model",
                        help="number of clusters")
        tol: float = option(1e-4, low=0.0, group="optimisation",
                            help="stop when the centre shift <= tol x mean variance")
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import MISSING, dataclass
from typing import Any, Callable, ClassVar

from .errors import ConfigError

# ``only_if=(field, GIVEN)``: the option only matters when ``field`` is set.
GIVEN = "<given>"

# Help-output groups, in the order ``--help`` shows them.
GROUPS = ("data", "model", "optimisation", "consistency", "output", "runtime")
GROUP_TITLES = {"data": "data", "model": "model", "optimisation": "optimisation",
                "consistency": "consistency (how ranks share parameters)", "output": "outputs",
                "runtime": "run control (every algorithm)"}


@dataclass(frozen=True)
class Spec:
    """What :func:`option` records about one field (see its parameters)."""

    help: str
    group: str
    type: Any
    choices: tuple | None
    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    model: bool
    required: bool
    metavar: str | None
    flag: str | None
    only_if: tuple | None
    check: Callable | None
    nullable: bool
    in_config: bool
    aliases: tuple = ()
    toml: bool = True


def option(default=None, *, help: str, group: str = "model", type=None, choices=None,
           low=None, high=None, low_open: bool = False, high_open: bool = False,
           model: bool = False,
           required: bool = False, metavar: str | None = None, flag: str | None = None,
           only_if: tuple | None = None, check: Callable | None = None,
           in_config: bool = True, aliases: tuple = (), toml: bool = True):
    """Declare one option as a dataclass field.

    Parameters
    ----------
    default
        The default value (``None``: unset/optional unless ``required``).
    help : str
        One sentence for ``--help``; the default is appended automatically.
    group : str
        One of :data:`GROUPS`.
    type : callable, optional
        ``int``, ``float``, ``str`` or ``bool``; inferred from ``default``
        when omitted (``str`` for a ``None`` default).  ``bool`` options are
        flags (``--name`` sets True; with a True default the flag is
        ``--no-name`` and sets False, the key staying ``name``).
    choices : sequence, optional
        Allowed values.
    low, high : number, optional
        Inclusive bounds (``low_open=True``/``high_open=True`` make them
        exclusive).  NaN is
        always refused for floats.
    model : bool
        True if the option defines the model: ``--resume`` refuses a change.
    required : bool
        Must be given (on the command line or in the config file).
    flag : str, optional
        The command-line spelling when it differs from the field name
        (``flag="--rank"`` for field ``k``).  The config key follows the flag.
    only_if : (other_field, values), optional
        The option only matters when ``other_field`` is one of ``values``
        (or, with ``values`` :data:`GIVEN`, when ``other_field`` is set);
        giving it a non-default value otherwise prints a warning and the
        option is ignored.  Combinations that cannot run are errors instead:
        :meth:`Settings.rules`.
    check : callable, optional
        ``check(value) -> str | None``: an error text for values the bounds
        cannot express.
    in_config : bool
        False for options that are not part of the stored configuration
        (paths of outputs, verbosity).
    aliases : tuple of str
        Older config keys of the option, still accepted in TOML files and
        read from checkpoints that stored them (e.g. ``("fmt",)``).
    toml : bool
        False for command-line-only options (``--config`` itself).
    """
    if group not in GROUPS:
        raise ValueError(f"unknown option group {group!r}")
    if type is None:
        type = str if default is None else builtin_type(default)
    spec = Spec(help=help, group=group, type=type, choices=tuple(choices) if choices else None,
                low=low, high=high, low_open=low_open, high_open=high_open, model=model, required=required,
                metavar=metavar, flag=flag, only_if=only_if, check=check,
                nullable=default is None, in_config=in_config, aliases=tuple(aliases),
                toml=toml)
    return dataclasses.field(default=default, metadata={"mpiml": spec})


def builtin_type(value):
    for t in (bool, int, float, str):
        if isinstance(value, t):
            return t
    raise TypeError(f"option default {value!r}: give type=")


@dataclass(frozen=True)
class Opt:
    """One declared option as seen from outside: field name, config key,
    command-line flag, default and :class:`Spec`."""

    name: str
    key: str
    flag: str
    default: Any
    spec: Spec


def coerce(opt: Opt, value):
    """Convert and validate one value; returns it or raises ``ValueError``
    with a message that does not name the option (callers add where)."""
    s = opt.spec
    if value is None:
        if s.nullable and not s.required:
            return None
        raise ValueError("a value is required")
    t = s.type
    if t is bool:
        if isinstance(value, bool):
            v = value
        elif isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            v = value.lower() in ("true", "1", "yes")
        else:
            raise ValueError(f"expected true or false, got {value!r}")
    elif t is int:
        if isinstance(value, str):
            # "1.5" on the command line reads as 1.5 in a TOML file: same message.
            try:
                value = float(value) if not value.strip().lstrip("+-").isdigit() else value
            except ValueError:
                pass
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected an integer, got {value!r}") from None
    elif t is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"expected a finite number, got {v}")
    elif t is str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        v = value
    else:
        v = t(value)
    if s.choices is not None and v not in s.choices:
        raise ValueError(f"expected one of {', '.join(map(str, s.choices))}; got {v!r}")
    if s.low is not None and (v < s.low or (s.low_open and v == s.low)):
        raise ValueError(f"expected a value {'>' if s.low_open else '>='} {s.low}, got {v!r}")
    if s.high is not None and (v > s.high or (s.high_open and v == s.high)):
        raise ValueError(f"expected a value {'<' if s.high_open else '<='} {s.high}, got {v!r}")
    if s.check is not None:
        msg = s.check(v)
        if msg:
            raise ValueError(msg)
    return v


@dataclass(frozen=True)
class Settings:
    """Base of every algorithm's settings dataclass (see the module docstring).

    Subclasses may set :attr:`run_defaults` (defaults for the run-control
    options, e.g. ``{"max_iter": 5}``) and override :meth:`rules` for
    cross-option checks; :attr:`rule_examples` then lists, for each rule, an
    option mapping that breaks it and the message (the tests check every
    rule has one and that the command line and a TOML file both give it).
    """

    run_defaults: ClassVar[dict] = {}
    rule_examples: ClassVar[tuple] = ()

    def __post_init__(self):
        # Direct construction (tests, library use) is validated like the CLI.
        for o in self.options():
            try:
                object.__setattr__(self, o.name, coerce(o, getattr(self, o.name)))
            except ValueError as exc:
                raise ConfigError(f"{o.flag}: {exc}") from None
        for msg in self.rules():
            raise ConfigError(msg)

    # ------------------------------------------------------------ declaration
    @classmethod
    def options(cls) -> list[Opt]:
        out = []
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("mpiml")
            if spec is None:
                continue
            default = f.default if f.default is not MISSING else None
            if spec.flag:
                flag, key = spec.flag, spec.flag[2:].replace("-", "_")
            elif spec.type is bool and default is True:
                flag, key = "--no-" + f.name.replace("_", "-"), f.name   # switched off by --no-NAME
            else:
                flag, key = "--" + f.name.replace("_", "-"), f.name
            out.append(Opt(f.name, key, flag, default, spec))
        return out

    @classmethod
    def by_key(cls) -> dict[str, Opt]:
        return {o.key: o for o in cls.options()}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, groups: dict | None = None,
                      skip=()) -> dict:
        """Add every option (but the config keys in ``skip``) to ``parser``
        under its group; returns the group objects (pass them to the next
        class's call so both share the groups)."""
        groups = {} if groups is None else groups
        opts = [o for o in cls.options() if o.key not in skip]
        for g in GROUPS:
            for o in (o for o in opts if o.spec.group == g):
                if g not in groups:
                    groups[g] = parser.add_argument_group(GROUP_TITLES[g])
                _add(groups[g], o)
        return groups

    # ------------------------------------------------------------- building
    @classmethod
    def from_mapping(cls, values: dict, source: str = "command line"):
        """Build and validate from ``{config key: value}`` (missing keys take
        their defaults).  Unknown keys, bad values and broken rules raise
        :class:`ConfigError` naming ``source`` and the option."""
        known = cls.by_key()
        values = cls.canonical(values, source)
        unknown = sorted(k for k in values if k not in known)
        if unknown:
            raise ConfigError(f"{source}: unknown option(s) {', '.join(unknown)}")
        kw = {}
        for key, o in known.items():
            v = values.get(key, o.default)
            if v is None and o.spec.required:
                raise ConfigError(f"{source}: {o.flag} is required")
            kw[o.name] = v
        try:
            return cls(**kw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def canonical(cls, values: dict, source: str = "settings") -> dict:
        """``values`` with older keys (``aliases``) renamed to today's; other
        keys, known or not, are kept."""
        alias = {a: o.key for o in cls.options() for a in o.spec.aliases}
        out, given_as = {}, {}
        for k, v in values.items():
            key = alias.get(k, k)
            if key in out:
                a, b = sorted((given_as[key], k))
                raise ConfigError(f"{source}: {a} and {b} are the same option; give one")
            out[key], given_as[key] = v, k
        return out

    @classmethod
    def from_args(cls, args: argparse.Namespace, source: str = "command line"):
        """Build from a parsed namespace (only this class's keys are read)."""
        return cls.from_mapping({k: getattr(args, k) for k in cls.by_key() if hasattr(args, k)},
                                source)

    def replace(self, **changes):
        """A validated copy with some fields changed (field names)."""
        values = self.to_config(all_options=True)
        names = {o.name: o.key for o in self.options()}
        for name, v in changes.items():
            if name not in names:
                raise ConfigError(f"unknown setting {name!r}")
            values[names[name]] = v
        return type(self).from_mapping(values, "settings")

    # --------------------------------------------------------------- checks
    def rules(self):
        """Cross-option checks: yield error messages (override, one ``yield``
        per rule, and add an entry to :attr:`rule_examples`)."""
        return ()

    def warnings(self) -> list[str]:
        """Options given a non-default value that the chosen configuration
        ignores (``only_if``)."""
        out = []
        by_name = {o.name: o for o in self.options()}
        for o in self.options():
            if o.spec.only_if is None or getattr(self, o.name) == o.default:
                continue
            other, allowed = o.spec.only_if
            ov, oflag = getattr(self, other), by_name[other].flag
            if allowed is GIVEN:
                if ov is None:
                    out.append(f"{o.flag} is ignored without {oflag}")
            elif ov not in allowed:
                out.append(f"{o.flag} is ignored with {oflag} {ov} "
                           f"(it applies to {', '.join(map(str, allowed))})")
        return out

    # -------------------------------------------------------------- derived
    def to_config(self, all_options: bool = False) -> dict:
        """``{config key: value}``: what the banner shows and checkpoints store."""
        return {o.key: getattr(self, o.name) for o in self.options()
                if all_options or o.spec.in_config}

    def model_config(self) -> dict:
        """Only the model-defining options (the resume guard's keys)."""
        return {o.key: getattr(self, o.name) for o in self.options() if o.spec.model}

    def resume_conflicts(self, stored: dict) -> list[str]:
        """Model-defining options whose value differs from a checkpoint's
        stored configuration; empty when resuming is allowed."""
        out = []
        for o in self.options():
            if not o.spec.model:
                continue
            # A checkpoint written before an option existed ran with its default.
            was = next((stored[k] for k in (o.key, *o.spec.aliases) if k in stored), o.default)
            now = getattr(self, o.name)
            if was != now:
                if o.flag.startswith("--no-") and o.spec.type is bool:
                    out.append(f"{o.key} was {was!r}, now {now!r} ({o.flag} "
                               f"{'dropped' if now else 'added'})")
                else:
                    out.append(f"{o.flag} was {was!r}, now {now!r}")
        return out


def _add(group, o: Opt) -> None:
    s = o.spec
    help_text = s.help
    if s.type is bool:
        group.add_argument(o.flag, dest=o.key, action="store_false" if o.default else "store_true",
                           default=bool(o.default), help=help_text)
        return
    if o.default is not None and not s.required:
        help_text += " (default %(default)s)"
    if s.required:
        help_text += " (required)"

    def parse(text, o=o):
        try:
            return coerce(o, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = s.type.__name__
    # Required options are checked after the config file is merged (so a
    # TOML file may provide them); argparse itself never requires anything.
    metavar = s.metavar
    if metavar is None and s.choices is not None:
        metavar = "{" + ",".join(map(str, s.choices)) + "}"
    group.add_argument(o.flag, dest=o.key, type=parse, default=o.default, metavar=metavar,
                       help=help_text)
