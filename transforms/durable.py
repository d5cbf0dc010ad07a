"""Putting written files on the disk before anything is taken to depend on them.

A one-shot run remembers its entries as seen (``transforms.state``'s commit) only once what
it wrote of them is on the disk: its output files, then the state files, each written beside
its target and renamed into place. ``fsync`` alone does not do that on macOS, whose fsync
leaves the data in the drive's cache: a power cut (a laptop's battery) may then keep a rename
and lose the bytes it renamed, or keep the state and lose the stories it remembers as
published. Where the system has ``F_FULLFSYNC`` (macOS) it is asked for; a file system
without it (some network ones) gets fsync. Plain Python: no Beam.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def sync_to_disk(fd: int) -> None:
    """Put what was written to ``fd`` on the disk (``F_FULLFSYNC`` where there is one).

    Raises:
        OSError: the system could not (an I/O error): the data may not be on the disk.
    """
    full_sync = getattr(fcntl, "F_FULLFSYNC", None)
    if full_sync is not None:
        try:
            fcntl.fcntl(fd, full_sync)
            return
        except OSError:
            pass
    os.fsync(fd)


def sync_file(path: str | Path) -> None:
    """``sync_to_disk`` for a file already written and closed.

    Raises:
        OSError: it cannot be opened, or synced.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        sync_to_disk(fd)
    finally:
        os.close(fd)


def sync_folder(folder: str | Path) -> None:
    """Put a folder's entries (the renames into it, the files made there) on the disk; a
    system or file system that cannot sync a folder is left as it is."""
    with contextlib.suppress(OSError):
        sync_file(folder)
