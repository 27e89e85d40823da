"""Guards around a checkpoint directory: an exclusive lock for the run's
lifetime, probe writes and a free-space estimate, all done at setup so a
problem is found before any work is done.

Lock: ``DIR/.lock`` is opened and locked with ``flock(LOCK_EX | LOCK_NB)``,
then holds the holder's host, PID, job id and start time (JSON) for the
message a second run prints.  The kernel releases an flock when its holder
exits for any reason (``kill -9`` included), so a lock is never stale on
local file systems or NFSv4 (where Linux maps flock to POSIX locks).  On a
file system without working locks (flock fails with ENOLCK, EOPNOTSUPP,
ENOSYS or EINVAL, e.g. Lustre mounted without ``flock``), the file itself is
the lock: created with ``O_CREAT | O_EXCL``, removed at the end.  A lock file
left by a dead process *on the same host* (its PID no longer exists) is then
taken over with a warning; one from another host is refused, and the message
says to remove ``DIR/.lock`` by hand once that job is known to be gone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

from ..errors import CheckpointError, ConfigError

LOCK = ".lock"
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def _describe(raw: bytes) -> str:
    try:
        h = json.loads(raw.decode())
        return (f"host {h.get('host')}, PID {h.get('pid')}, job {h.get('job_id') or 'none'}, "
                f"started {h.get('started')}")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return "holder unknown (lock file empty or unreadable)"


class DirLock:
    """Exclusive lock of a checkpoint directory (created if missing)."""

    def __init__(self, root, job_id: str | None = None):
        self.root = Path(root)
        self.path = self.root / LOCK
        self.job_id = job_id
        self._fd = None
        self._excl = False

    def _holder(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "job_id": self.job_id,
                           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()

    def _busy(self, raw: bytes) -> CheckpointError:
        return CheckpointError(f"{self.root} is in use by another run: {_describe(raw)} (lock file "
                               f"{self.path}); wait for it to end or choose another --checkpoint-dir")

    def acquire(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--checkpoint-dir {self.root}: not writable ({exc.strerror}); checked "
                              f"before training, nothing was computed") from None
        for _ in range(20):
            existed = os.path.lexists(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raw = b""
                for _ in range(10):      # the holder may be between truncate and write
                    raw = os.pread(fd, 4096, 0)
                    if raw:
                        break
                    time.sleep(0.05)
                os.close(fd)
                raise self._busy(raw) from None
            except OSError as exc:
                os.close(fd)
                if exc.errno in _NO_FLOCK:
                    if not existed:
                        os.unlink(self.path)    # the empty file just created is not a lock
                    return self._acquire_excl()
                raise
            # The previous holder may have unlinked the file between our open
            # and our flock: then we hold a lock on a file nobody else sees.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, self._holder(), 0)
            os.fsync(fd)
            self._fd = fd
            return
        raise CheckpointError(f"{self.path}: could not lock (the lock file keeps changing)")

    def _acquire_excl(self) -> None:
        for attempt in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raw = self.path.read_bytes()[:4096]
                try:
                    h = json.loads(raw.decode())
                    stale = h.get("host") == socket.gethostname() and not _alive(int(h.get("pid")))
                except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
                    stale = False
                if attempt == 0 and stale:
                    sys.stderr.write(f"mpiml: warning: taking over the stale lock {self.path} "
                                     f"({_describe(raw)}: that process no longer exists)\n")
                    os.replace(self.path, self.root / f".lock-stale-{os.getpid()}")
                    continue
                raise CheckpointError(str(self._busy(raw)) + "; this file system has no working "
                                      "flock, so if that job is gone, remove the lock file by hand") from None
            os.write(fd, self._holder())
            os.fsync(fd)
            os.close(fd)
            self._excl = True
            return

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self._fd)   # releases the flock
            self._fd = None
        elif self._excl:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._excl = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def probe_dir(directory, what: str, tag: str) -> None:
    """Create ``directory`` if needed and write, fsync and remove a small file
    in it; ConfigError naming ``what`` (the option) if that fails."""
    d = Path(directory)
    probe = d / f".probe-{socket.gethostname()}-{os.getpid()}-{tag}"
    try:
        d.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"mpiml probe\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{what} {d}: not writable ({exc.strerror}); checked before training, "
                          f"nothing was computed") from None


def free_space_warning(directory, need: int) -> str | None:
    """A warning text when ``directory`` has less than ``need`` bytes free."""
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return None
    if free < need:
        return (f"{directory} has {free / 2**20:.1f} MiB free, a checkpoint needs about "
                f"{need / 2**20:.1f} MiB: checkpoints may fail (the previous one is then kept)")
    return None


def same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
