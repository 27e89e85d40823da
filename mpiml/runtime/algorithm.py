"""The interface every training algorithm implements for the runtime."""

from __future__ import annotations

from ..io.checkpoint import State


class Algorithm:
    """Base class: hyper-parameters in ``self.settings`` (a frozen
    :class:`mpiml.settings.Settings`, readable as attributes), learned state in
    attributes ending in ``_``.

    The runtime calls, on every rank and each inside error agreement:
    ``setup`` (read and validate data) -> ``initialize`` or ``restore`` /
    ``warm_start`` -> ``step`` per iteration -> ``finish``.
    """

    name = "algorithm"
    schema = 1
    # The algorithm's :class:`mpiml.settings.Settings` subclass; when set,
    # ``Algo(settings)`` or ``Algo(**options)`` builds the instance and the
    # hyper-parameters read as attributes (``self.k`` is ``self.settings.k``).
    Settings = None
    consistency = "bsp"
    partition_what = "rows"
    # Optional text the banner appends to the partition line (set by setup or
    # restore, e.g. MF's blocking and why it was chosen).
    partition_note = None
    # Options (config keys) naming input files: fingerprinted for --resume,
    # never overwritten by an output.  And options naming output files.
    input_options: tuple = ("data", "labels", "valid", "valid_labels", "source", "target", "corpus")
    output_options: tuple = ("align_out", "ttable_out")
    # Extra progress-table columns: (record key, header, format).
    columns: tuple = ()

    converged_ = False

    def __init__(self, settings=None, **options):
        if self.Settings is None:
            raise TypeError(f"{type(self).__name__} must define Settings or its own __init__")
        if settings is None:
            settings = self.Settings(**options)
        elif not isinstance(settings, self.Settings):
            raise TypeError(f"{type(self).__name__}() takes a {self.Settings.__name__} or the options "
                            f"as keywords (e.g. data=...), not {settings!r}")
        elif options:
            settings = settings.replace(**options)
        self.settings = settings

    def __getattr__(self, name):
        # Only called when normal lookup fails: hyper-parameters live in settings.
        s = self.__dict__.get("settings")
        if s is not None and name in type(s).__dataclass_fields__:
            return getattr(s, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def resume_conflicts(self, stored: dict, config: dict | None = None) -> list[str]:
        """Why ``--resume`` must refuse a checkpoint whose stored configuration
        is ``stored`` (empty: resume allowed).  The model-defining options
        (``option(..., model=True)``) must be unchanged; ``config``, this run's
        resolved configuration, is for algorithms that override this."""
        return self.settings.resume_conflicts(stored)

    def setup(self, comm) -> int:
        """Read this rank's data; return the local partition size."""
        raise NotImplementedError

    def initialize(self, comm) -> None:
        raise NotImplementedError

    def step(self, comm, iteration: int, straggler) -> dict:
        """One iteration; returns metrics, at least ``objective`` (same on all ranks)."""
        raise NotImplementedError

    def state(self, comm, iteration: int) -> State:
        raise NotImplementedError

    def restore(self, comm, ckpt) -> None:
        """Continue from ``ckpt`` (exactly, at the same rank count)."""
        raise NotImplementedError

    def warm_start(self, comm, ckpt) -> None:
        """Start a new run from ``ckpt``'s model with new settings."""
        self.restore(comm, ckpt)

    def finish(self, comm) -> dict:
        """Final outputs after the last iteration; returns a JSON-able summary."""
        return {}
