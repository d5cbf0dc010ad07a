"""Where the --extract-processes pool runs, and its fork server started ahead of time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, fresh_python_prints
from transforms.pool_start import pool_flags_given, pool_runs_here


@pytest.mark.parametrize("runner", [None, "FnApiRunner", "DirectRunner", "BundleBasedDirectRunner"])
def test_the_pool_runs_here_on_every_local_runner_unless_in_child_processes(
    runner: str | None,
) -> None:
    # Every local runner runs the job in this process (in_memory, the default, or threads);
    # with multi_processing the job, and so the pool, is in child processes.
    assert pool_runs_here(runner, None, 2)
    assert pool_runs_here(runner, "in_memory", 2)
    assert pool_runs_here(runner, "multi_threading", 4)
    assert not pool_runs_here(runner, "multi_processing", 2)
    assert not pool_runs_here(runner, None, 1)  # one process: the three stages, no pool


def test_a_remote_runner_runs_no_pool_here() -> None:
    assert not pool_runs_here("DataflowRunner", None, 2)


@pytest.mark.parametrize("flag", ["--extract-processes", "--runner", "--direct_running_mode"])
def test_a_flag_without_its_value_is_no_pool_not_an_exit(flag: str) -> None:
    # argparse exits on a flag missing its value; the early guess says "no pool" and leaves
    # the message to the full option parsing.
    assert not pool_flags_given(["--extract-processes", "2", flag])


def test_starting_the_fork_server_early_starts_it_with_the_workers_code() -> None:
    # In a new Python, so that no earlier test has started the server: once
    # start_fork_server returns it is running, and a pool's worker forks from it with the
    # workers' code already loaded and frozen (transforms.pool_preload).
    code = (
        "import concurrent.futures, gc, os, multiprocessing.forkserver as forkserver; "
        "from transforms.pool_start import fork_server_context, start_fork_server; "
        "start_fork_server(); "
        "server = forkserver._forkserver._forkserver_pid; "
        "pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=fork_server_context()); "
        "print(server is not None and pool.submit(os.getppid).result() == server, "
        "pool.submit(gc.get_freeze_count).result() > 10000)"
    )
    assert fresh_python_prints(code) == "True True"


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, ended but not yet reaped, is not): from
    /proc, or where there is none (macOS) from ps."""
    if not Path("/proc").is_dir():
        ps = ["ps", "-o", "stat=", "-p", str(pid)]
        state = subprocess.run(ps, capture_output=True, text=True, check=False).stdout.strip()
        return bool(state) and not state.startswith("Z")
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_the_fork_server_and_workers_end_when_the_newsbeam_process_is_killed() -> None:
    # SIGKILL (or the out-of-memory killer) gives the process no chance to stop its pool:
    # the fork server and the workers lived on, holding its pipes open.
    code = (
        "import concurrent.futures, os, time, multiprocessing.forkserver as forkserver; "
        "from transforms.analyser import AnalysisSettings, start_worker; "
        "from transforms.pool_start import fork_server_context, start_fork_server; "
        "start_fork_server(); "
        "pool = concurrent.futures.ProcessPoolExecutor(2, mp_context=fork_server_context(), "
        "initializer=start_worker, initargs=(AnalysisSettings(min_text_chars=1),)); "
        "workers = {pool.submit(os.getpid).result() for _ in range(8)}; "
        "print(forkserver._forkserver._forkserver_pid, *workers, flush=True); "
        "time.sleep(600)"
    )
    main = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert main.stdout is not None
        pool_pids = [int(pid) for pid in main.stdout.readline().split()]
        assert len(pool_pids) >= 2 and all(_running(pid) for pid in pool_pids)
    finally:
        main.kill()
        main.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in pool_pids) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling for the processes to end, not synchronisation
    assert [pid for pid in pool_pids if _running(pid)] == []


def test_stopping_the_pool_at_a_forced_exit_leaves_nothing_in_the_temporary_folder(
    tmp_path: Path,
) -> None:
    # An interrupted run, or a stopped always-on one, ends with os._exit, which runs none of
    # multiprocessing's finalizers: the folder it made for the fork server's socket
    # (pymp-*/listener-*) stayed in the temporary folder after every such run with a pool.
    code = (
        "import os; from transforms.pool_start import start_fork_server, stop_pool_processes; "
        "start_fork_server(); print(len(os.listdir(os.environ['TMPDIR'])), flush=True); "
        "stop_pool_processes(); os._exit(130)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout.strip()) == (130, "1"), done.stderr  # its folder
    assert list(tmp_path.iterdir()) == []
