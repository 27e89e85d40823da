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
    consistency = "bsp"
    partition_what = "rows"
    # Hyper-parameters that must equal the checkpoint's to --resume.
    resume_keys: tuple = ()
    # Options (config keys) naming input files: fingerprinted for --resume,
    # never overwritten by an output.  And options naming output files.
    input_options: tuple = ("data", "labels", "valid", "valid_labels", "source", "target", "corpus")
    output_options: tuple = ("align_out", "ttable_out")
    # Extra progress-table columns: (record key, header, format).
    columns: tuple = ()

    converged_ = False

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
