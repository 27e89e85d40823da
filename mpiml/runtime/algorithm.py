"""The interface every training algorithm implements for the runtime."""

from __future__ import annotations

from ..io.checkpoint import State


class Algorithm:
    """Base class: scikit-learn style hyper-parameters in ``__init__``,
    learned state in attributes ending in ``_``.

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
    # Hyper-parameters that must equal the checkpoint's to --resume.
    resume_keys: tuple = ()
    # Extra progress-table columns: (record key, header, format).
    columns: tuple = ()

    converged_ = False

    def __init__(self, settings=None, **options):
        if self.Settings is None:
            raise TypeError(f"{type(self).__name__} must define Settings or its own __init__")
        if settings is None:
            settings = self.Settings(**options)
        elif options:
            settings = settings.replace(**options)
        self.settings = settings

    def __getattr__(self, name):
        # Only called when normal lookup fails: hyper-parameters live in settings.
        s = self.__dict__.get("settings")
        if s is not None and name in type(s).__dataclass_fields__:
            return getattr(s, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def resume_conflicts(self, stored: dict, config: dict) -> list[str]:
        """Why ``--resume`` must refuse a checkpoint whose stored configuration
        is ``stored`` when this run's is ``config`` (empty: resume allowed)."""
        s = self.__dict__.get("settings")
        if s is not None:
            return s.resume_conflicts(stored)
        return [f"{k} was {stored.get(k)!r}, now {config.get(k)!r}"
                for k in self.resume_keys if stored.get(k) != config.get(k)]

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
