"""Where AnalysePages's worker pool runs, and starting its fork server ahead of time.

Beam-free on purpose: ``newsbeam run`` calls :func:`start_fork_server` before it imports Beam,
so that the fork server's own imports and warm-up (``transforms.pool_preload``: a few seconds
of one core) overlap the command's imports, the graph's construction and the feed polling
instead of holding up the first page. Also what the pool's processes share with the command
at both ends of their lives: quieting the libraries that log every page they give up on
(:func:`quiet_chatty_libraries`), and stopping them at once (:func:`stop_pool_processes`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util
import os
import select
import shutil
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

from transforms.process_tree import descendants

# Runners that run the job in this process (``pipelines.config.LOCAL_RUNNER`` is the default).
LOCAL_RUNNERS = frozenset({None, "FnApiRunner", "DirectRunner", "BundleBasedDirectRunner"})


def pool_runs_here(runner: str | None, running_mode: str | None, processes: int) -> bool:
    """Whether an ``--extract-processes`` pool will run in this process.

    Args:
        runner: ``--runner`` (None: the default, local).
        running_mode: ``--direct_running_mode`` (None: ``in_memory``; ``multi_threading``
            also runs the job in this process, ``multi_processing`` in child processes).
        processes: ``--extract-processes``.
    """
    in_this_process = running_mode != "multi_processing"
    return runner in LOCAL_RUNNERS and in_this_process and processes > 1


def pool_flags_given(argv: Sequence[str]) -> bool:
    """:func:`pool_runs_here` for ``newsbeam run``'s arguments, read without Beam.

    Only a guess made early: a value that does not parse counts as "no pool", and the full
    option parsing reports it later.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--extract-processes", "--extract_processes", dest="processes")
    parser.add_argument("--runner")
    parser.add_argument("--direct_running_mode", dest="mode")  # Beam reads no other spelling
    try:
        known, _ = parser.parse_known_args(list(argv))
        processes = int(known.processes or 1)
    except (SystemExit, ValueError):
        return False
    return pool_runs_here(known.runner, known.mode, processes)


def fork_server_context() -> Any:
    """The pool's multiprocessing context.

    Workers fork from a server that has already imported trafilatura and loaded the models
    (``transforms.pool_preload``). Each worker still runs the main module again on start, as
    multiprocessing does (``pipelines.cli`` imports nothing heavy at the top for that reason).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["transforms.pool_preload"])
    return context


def start_fork_server() -> None:
    """Start the pool's fork server now; the pool created later uses it (no-op if running).

    The server starts with Ctrl-C ignored, and so does every worker it forks (it gives them
    the signal handlers it started with): Ctrl-C in a terminal signals every process of the
    run, and a worker still starting printed a traceback of its own; stopping is the main
    process's to decide (``pipelines.monitor``).
    """
    fork_server_context()
    if threading.current_thread() is not threading.main_thread():
        multiprocessing.forkserver.ensure_running()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def end_with_parent() -> None:
    """End this process as soon as the process that started it ends, whatever ends it.

    For the pool's fork server (its parent: the newsbeam process) and each worker (its
    parent: the fork server). Killed outright (SIGKILL, the out-of-memory killer), the
    newsbeam process cannot stop them (``stop_pool_processes``), and nothing else did: the
    fork server and the workers held their copies of its pipes open, so they never saw it
    go, and lived on (~500 MB) holding its standard output, a pipe's reader waiting on them.
    A daemon thread waits on the parent (a pidfd, Linux 5.3; else it looks every second)
    and ends the process with code 1 when it is gone; the worker's own work is lost, as the
    run that wanted it is.
    """
    parent = os.getppid()

    def wait_for_parent() -> None:
        try:
            pidfd = os.pidfd_open(parent)
        except (AttributeError, OSError):  # no pidfd here, or the parent has gone already
            while os.getppid() == parent:
                time.sleep(1.0)  # how often to look, not synchronisation
        else:
            select.select([pidfd], [], [])  # readable once the parent has ended
        os._exit(1)

    threading.Thread(target=wait_for_parent, name="newsbeam-parent-watch", daemon=True).start()


# Libraries that log each page they give up on (trafilatura's "empty HTML tree", htmldate's
# and courlan's complaints): the page's outcome (a named discard or dead letter) says it
# already, so they stay quiet unless asked (``-v``).
CHATTY_LIBRARIES = ("trafilatura", "htmldate", "courlan")


def quiet_chatty_libraries() -> None:
    """Show only the critical log records of ``CHATTY_LIBRARIES``, in this process."""
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def stop_pool_processes() -> None:
    """Kill the pool's workers and its fork server at once, unlink the pool's semaphores and
    remove multiprocessing's temporary folder.

    For a process about to end without its usual exit (``os._exit``: an interrupted run that
    does not wait for the requests in flight). Its workers and fork server would otherwise
    outlive it, holding its standard output and error open (a pipe's reader then waits for
    them), and multiprocessing's resource tracker would warn about "leaked semaphore objects"
    after the run had ended.
    """
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if isinstance(pid, int):
        # Its children first, a worker still being started among them: orphaned half-way,
        # it printed a traceback when its parent's end of the pipe closed.
        for child_pid in descendants(pid):
            with contextlib.suppress(OSError):
                os.kill(child_pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for child in multiprocessing.active_children():  # the workers: started by this process
        with contextlib.suppress(Exception):
            child.kill()
    # The finalizers the interpreter's exit would run, those of exit priority 0 and above:
    # the semaphores' unlinking among them.
    run_finalizers = getattr(multiprocessing.util, "_run_finalizers", None)
    if run_finalizers is not None:
        with contextlib.suppress(Exception):
            run_finalizers(0)
    # And multiprocessing's temporary folder (``pymp-*``, the fork server's socket in it),
    # whose finalizer comes after those of negative priority (joining queue threads, which
    # may wait on the killed workers): every stopped run with a pool left one in /tmp.
    folder = getattr(multiprocessing.current_process(), "_config", {}).get("tempdir")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
