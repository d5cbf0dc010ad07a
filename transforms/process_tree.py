"""The processes under a process, found with what every Unix has: no third-party code.

Linux lists each thread's children in ``/proc/PID/task/TID/children``. macOS (and the BSDs)
have no ``/proc``: there the process table comes from ``ps -A -o pid= -o ppid=`` (POSIX
options, the same on macOS's ps and on Linux's procps). Read by what must kill the
processes a newsbeam process started before it ends at once (``os._exit``):
``pipelines.stopping`` (Beam's worker processes of ``--direct_running_mode
multi_processing``) and ``transforms.pool_start`` (the workers of the pool's fork server).
Plain Python: no Beam.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

PROC = Path("/proc")  # where Linux lists processes; a folder that is not there: use ps
_PS_TIMEOUT_SECONDS = 10.0  # ps answers in milliseconds; a hung one must not hold an exit


def descendants(pid: int, proc: Path | None = None) -> list[int]:
    """The pids of ``pid``'s children, their children and so on, each parent before its
    children; none that cannot be read (a process that ended meanwhile, no ``ps``).

    Args:
        pid: the process whose descendants are wanted.
        proc: where the processes are listed (default ``PROC``); where it is no folder,
            as on macOS, the table of ``ps`` is read instead.
    """
    proc = PROC if proc is None else proc
    table = None if proc.is_dir() else _children_from_ps()
    found: list[int] = []
    parents = [pid]
    seen = {pid}
    while parents:
        parent = parents.pop()
        children = _children_in(proc, parent) if table is None else table.get(parent, [])
        for child in children:
            if child not in seen:  # a pid taken again between two reads: no cycle
                seen.add(child)
                found.append(child)
                parents.append(child)
    return found


def _children_in(proc: Path, pid: int) -> list[int]:
    """``pid``'s children as Linux's ``/proc`` lists them (each of its threads' own)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in (proc / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                children += [int(p) for p in (task / "children").read_text().split()]
    return children


def _children_from_ps() -> dict[int, list[int]]:
    """Every process's children, by parent pid, from ``ps`` (the ``ps`` itself left out:
    it has ended, and its pid may be another's by the time a caller uses the table)."""
    try:
        ps = subprocess.Popen(
            ["ps", "-A", "-o", "pid=", "-o", "ppid="],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:  # no ps here
        return {}
    try:
        listed, _ = ps.communicate(timeout=_PS_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        ps.kill()
        ps.wait()
        return {}
    table: dict[int, list[int]] = {}
    for line in listed.splitlines():
        with contextlib.suppress(ValueError):
            child, parent = (int(field) for field in line.split())
            if child != ps.pid:
                table.setdefault(parent, []).append(child)
    return table
