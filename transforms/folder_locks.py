"""One newsbeam run per folder: the locks of a ``--state-dir`` and of a local ``--output``.

Consumes a folder and what it is for; holds an exclusive ``flock`` on the folder's lock file
(``.lock``, ``.output.lock``: one folder can be both) until ``release_folder`` (a run's end)
or the end of the process, the file holding this pid, so that a second run on the same
folder is refused naming the first's.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
from pathlib import Path

LOCK_FILE = ".lock"  # the state directory's
OUTPUT_LOCK_FILE = ".output.lock"  # a local --output folder's (the two may be one folder)
_LOCK_FILES = {"--state-dir": LOCK_FILE, "--output": OUTPUT_LOCK_FILE}
log = logging.getLogger(__name__)


_held_locks: dict[str, int] = {}  # lock file (resolved) -> its open descriptor


class FolderLockError(Exception):
    """A folder's lock cannot be taken: its lock file is not a file, or cannot be opened."""


class FolderInUse(FolderLockError):
    """Another process holds the folder's lock (the message names its pid)."""


def lock_folder(folder: str, flag: str) -> bool:
    """Hold the lock of ``folder``, given as ``flag`` (``--state-dir`` or ``--output``), until
    ``release_folder`` or the end of this process: an exclusive flock on its lock file, which
    holds this pid.

    Args:
        folder: an existing local folder.
        flag: what the folder is for; each use has its own lock file (``_LOCK_FILES``), so
            one folder can be both a run's state directory and its output.

    Returns:
        True if this call took the lock, False if this process held it already.

    Raises:
        FolderInUse: another process holds it (the message names the flag and its pid).
        FolderLockError: the lock file is not a regular file (a folder, a link), cannot
            be opened, or cannot be locked (a file system without file locks).
    """
    root = Path(folder).resolve()
    path = root / _LOCK_FILES[flag]
    if str(path) in _held_locks:
        return False
    try:  # not through a link; a FIFO would block an open without O_NONBLOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise _lock_file_fault(flag, path, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _lock_file_fault(flag, path, "not a file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise FolderInUse(
            f"{flag} {root} is in use by another newsbeam run (pid {holder}): give this run "
            f"another {flag}, or wait for that one to end"
        ) from None
    except OSError as exc:  # e.g. ENOLCK: a network file system without file locks
        os.close(fd)
        error = exc.strerror or str(exc)
        raise FolderLockError(
            f"{flag} {root}: cannot lock {path.name} ({error}): this file system may not "
            f"support file locks; give a folder on a local disk"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:  # a full disk: the lock is held all the same, without its pid
        error = exc.strerror or str(exc)
        log.warning("%s %s: cannot write this run's pid into %s (%s)", flag, root, path.name, error)
    _held_locks[str(path)] = fd
    return True


def release_folder(folder: str, flag: str) -> None:
    """Give back the lock ``lock_folder`` took on ``folder`` as ``flag`` (nothing if not held).

    For a process that goes on after its run (a program or a test calling
    ``pipelines.monitor.run``): else each run kept its folders locked, and a descriptor
    open, until the process ended.
    """
    fd = _held_locks.pop(str(Path(folder).resolve() / _LOCK_FILES[flag]), None)
    if fd is not None:
        os.close(fd)


def _lock_file_fault(flag: str, path: Path, error: str) -> FolderLockError:
    with contextlib.suppress(OSError):
        mode = path.lstat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else None
            error = f"it is {kind or 'a special file'}, not a file: delete it"
    return FolderLockError(f"{flag} {path.parent}: cannot take its lock {path.name} ({error})")
