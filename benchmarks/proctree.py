"""Run a command and measure it: wall time, CPU time and peak memory of its whole process tree.

Consumes a command line; produces a ``Measured`` record. Peak memory is the largest sum of
the resident set sizes (RSS) of the process and all its descendants, read from /proc every
``interval`` seconds (psutil is not needed), so worker pools and Beam's worker processes
count; shared pages of forked workers count once per process, so the
figure is an upper bound. ``max_rss_mb`` is the kernel's ``ru_maxrss`` of the largest
single process of the tree (from ``wait4``); ``cpu_s`` is the user + system time of the
whole tree: ``wait4``'s figure, or the sum of the last CPU times sampled per process when
that is larger (worker processes that nobody waited for are missing from ``wait4``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """What one command cost, and what it printed."""

    seconds: float
    cpu_s: float
    peak_tree_mb: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: split after it
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _stat(pid: int) -> tuple[int, int]:
    """(RSS bytes, user + system CPU ticks) of one process; (0, 0) if it is gone."""
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return rss, int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0, 0


def tree_sample(root: int) -> dict[int, tuple[int, int]]:
    """RSS bytes and CPU ticks of ``root`` and each of its descendants, by pid."""
    children = _children_map()
    todo: list[int] = [root]
    sample: dict[int, tuple[int, int]] = {}
    while todo:
        pid = todo.pop()
        sample[pid] = _stat(pid)
        todo += children.get(pid, [])
    return sample


def measure(
    cmd: Sequence[str],
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    interval: float = 0.2,
) -> Measured:
    """Run ``cmd`` to its end (or ``timeout``, then SIGTERM/SIGKILL) and measure it.

    Args:
        cmd: the command line.
        timeout: seconds after which the process group is stopped (``timed_out`` set).
        env: the environment (default: inherited).
        cwd: the working directory.
        interval: seconds between memory samples.

    Returns:
        The measurements and the captured output.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        text=True,
        start_new_session=True,
    )
    peak = 0
    ticks: dict[int, int] = {}  # the last CPU ticks seen of every process of the tree
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            seen = tree_sample(proc.pid)
            peak = max(peak, sum(rss for rss, _ in seen.values()))
            for pid, (_, cpu) in seen.items():
                ticks[pid] = max(ticks.get(pid, 0), cpu)
            done.wait(interval)

    out: dict[str, str] = {}

    def drain(name: str, stream: object) -> None:
        out[name] = stream.read()  # type: ignore[attr-defined]

    threads = [
        threading.Thread(target=sample, daemon=True),
        threading.Thread(target=drain, args=("stdout", proc.stdout), daemon=True),
        threading.Thread(target=drain, args=("stderr", proc.stderr), daemon=True),
    ]
    for t in threads:
        t.start()
    timer = None
    timed_out = threading.Event()
    if timeout is not None:

        def stop() -> None:
            timed_out.set()
            _stop_group(proc.pid)

        timer = threading.Timer(timeout, stop)
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if timer is not None:
        timer.cancel()
    done.set()
    for t in threads:
        t.join()
    return Measured(
        seconds=seconds,
        # wait4 counts the descendants that were waited for; sampling counts the others
        cpu_s=max(usage.ru_utime + usage.ru_stime, sum(ticks.values()) / _TICKS),
        peak_tree_mb=peak / 2**20,
        max_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        stdout=out.get("stdout", ""),
        stderr=out.get("stderr", ""),
        timed_out=timed_out.is_set(),
    )


def _stop_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


__all__ = ["Measured", "measure", "tree_sample"]
