"""Exception hierarchy shared by every part of mpiml.

Every error a user can cause is an :class:`MpimlError`; the CLI turns it into a
one-line message and a non-zero exit code that is the same on every rank.
"""

from __future__ import annotations


class MpimlError(Exception):
    """Base class for errors mpiml reports to the user (not bugs)."""

    exit_code = 1


class InputError(MpimlError):
    """Bad input data: names the file and, where known, the line and column."""

    exit_code = 2

    def __init__(self, message: str, path=None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.detail = message
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)


class ConfigError(MpimlError):
    """Invalid or inconsistent options/settings."""

    exit_code = 2


class CheckpointError(MpimlError):
    """A checkpoint is missing, corrupt, of another algorithm or schema."""

    exit_code = 3


class NumericalError(MpimlError):
    """NaN/Inf appeared in model state or objective."""

    exit_code = 4


class WatchdogTimeout(MpimlError):
    """A wait exceeded the watchdog timeout."""

    exit_code = 5


class CollectiveError(MpimlError):
    """An error raised on one rank, re-raised identically on every rank.

    ``origin_rank`` is the lowest rank on which the error happened;
    ``kind`` is the class name of the original exception.
    """

    def __init__(self, message: str, origin_rank: int, kind: str = "MpimlError",
                 exit_code: int = 1):
        self.origin_rank = origin_rank
        self.kind = kind
        self.exit_code = exit_code
        self.detail = message
        super().__init__(f"[rank {origin_rank}] {message}")


class PreemptedError(MpimlError):
    """Training stopped on request (signal); a checkpoint was written."""

    exit_code = 75  # EX_TEMPFAIL: the jobscript requeues on this code
