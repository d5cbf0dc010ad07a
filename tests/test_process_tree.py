"""The processes under a process, from /proc (Linux) or from ps (macOS has no /proc)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_pool import _running
from transforms.process_tree import descendants

# A shell with a child of its own: the first line it prints is that child's pid.
TREE = ["sh", "-c", "sleep 600 & echo $!; wait"]


@pytest.fixture
def tree() -> Iterator[tuple[int, int]]:
    """A child of this process (a shell) and its own child (a sleep): their pids."""
    shell = subprocess.Popen(TREE, stdout=subprocess.PIPE, text=True)
    assert shell.stdout is not None
    sleeper = int(shell.stdout.readline())
    try:
        yield shell.pid, sleeper
    finally:
        for pid in (sleeper, shell.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        shell.wait()


def test_without_proc_the_tree_is_read_from_ps(tree: tuple[int, int], tmp_path: Path) -> None:
    # macOS has no /proc: the children of newsbeam's processes were found nowhere there, so
    # an interrupted run left Beam's worker processes and the pool's workers running.
    shell, sleeper = tree
    from_ps = descendants(os.getpid(), proc=tmp_path / "no-proc")
    assert shell in from_ps and sleeper in from_ps
    assert from_ps.index(shell) < from_ps.index(sleeper)  # a parent before its children
    assert descendants(shell, proc=tmp_path / "no-proc") == [sleeper]
    # the same processes as Linux's /proc lists (ps's own pid is left out)
    assert sorted(descendants(os.getpid())) == sorted(from_ps)


def test_a_pid_with_no_children_has_no_descendants(tmp_path: Path) -> None:
    with subprocess.Popen(["sleep", "600"]) as sleeper:
        try:
            assert descendants(sleeper.pid, proc=tmp_path / "no-proc") == []
            assert descendants(sleeper.pid) == []
        finally:
            sleeper.kill()


def test_a_forced_exit_kills_the_processes_under_it_where_there_is_no_proc(
    tmp_path: Path,
) -> None:
    # What an interrupted run does before os._exit (pipelines.stopping), on a system whose
    # processes are not in /proc: its child and the child's own child are both killed.
    code = f"""
import subprocess, sys
from pathlib import Path
import transforms.process_tree as tree
tree.PROC = Path(sys.argv[1])
from pipelines.stopping import _kill_descendants
shell = subprocess.Popen({TREE!r}, stdout=subprocess.PIPE, text=True)
sleeper = int(shell.stdout.readline())
_kill_descendants()
try:
    print(shell.wait(timeout=30), sleeper)
except subprocess.TimeoutExpired:  # not killed: the test fails, and ends them itself
    print("running", sleeper)
    shell.kill()
    shell.wait()
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "no-proc")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    shell_ended, sleeper_pid = done.stdout.split()
    sleeper = int(sleeper_pid)
    if shell_ended == "running":
        os.kill(sleeper, 9)
    assert shell_ended == "-9"  # SIGKILL
    deadline = time.monotonic() + 30
    while _running(sleeper) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for the orphan to be reaped, not synchronisation
    if _running(sleeper):
        os.kill(sleeper, 9)
        pytest.fail("the shell's own child was left running")
