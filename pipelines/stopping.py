"""How a run ends other than by finishing: stop signals, forced exits, failures in one line.

``stop_on_signal`` is the context a run's pipeline runs in: Ctrl-C or SIGTERM ends a one-shot
run at once (``newsbeam: interrupted``, exit code 130, nothing committed) and has an always-on
run summarise what reached its files and end; a second signal ends the process at once
(``EXIT_FORCED``). ``files_failed`` and ``prism_unavailable`` say in one line why a run
could not go on (a full disk, Beam's Prism runner without its program).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from pipelines.cli import EXIT_INTERRUPTED, report
from pipelines.config import RunConfig
from pipelines.jsonl_command import partial_name_pattern
from pipelines.open_files import limit_note
from pipelines.output_files import SUMMARY_FILE, remove_beam_temporaries
from pipelines.summary import Delivery
from pipelines.summary_files import summary_from_files
from transforms.pool_start import stop_pool_processes
from transforms.process_tree import descendants
from transforms.sinks import stop_local_writes
from transforms.userfiles import is_remote

# Exit code when a stop signal could not end the run cleanly (or a second signal came).
EXIT_FORCED = 3


@contextlib.contextmanager
def stop_on_signal(config: RunConfig) -> Iterator[None]:
    """Ctrl-C or SIGTERM while the pipeline runs (main thread only).

    A one-shot run ends at once: it says ``newsbeam: interrupted``, removes the
    ``beam-temp-*`` folders its file sinks had begun, stops the pool's processes and ends
    the process with code 130, committing nothing to its state directory (the next run
    starts from the last complete one, and publishes again to a topic what this one had
    published: Pub/Sub delivery is at least once). A signal while it commits its state
    waits until the state is saved, then ends the process saying so. Raising
    KeyboardInterrupt instead reached a DoFn, which Beam wrapped in a RuntimeError (a long
    traceback, exit code 1), and the run still waited for every request in flight, up to
    ``--fetch-timeout``. A streaming run is
    stopped without relying on an interrupt finding its way through the runner's threads: a
    thread reads what has reached the output files, writes ``summary.json``, prints the
    summary and ends the process; a second signal ends it at once, saying so.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    STATE_COMMITTED.clear()  # an earlier run's in this process (tests, a scheduler)
    stopping = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        if stopping.is_set():
            if config.streaming:  # the summary under way is given up
                print(
                    "newsbeam: stopped by a second signal while summarising the stopped run "
                    "(no summary)",
                    file=sys.stderr,
                    flush=True,
                )
            _exit_now(EXIT_FORCED)
        stopping.set()
        if config.streaming:
            threading.Thread(target=_finish_stopped_run, args=(config,), daemon=True).start()
            return
        _end_interrupted_run(config)

    previous = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.signal(signal.SIGINT, on_signal)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


# Set once a one-shot run's state is committed: a signal after that ends the process saying so.
STATE_COMMITTED = threading.Event()
# Folders a run ended by _exit_now removes (its os._exit skips the code that would): the local
# folder of each pipeline launched here, the demo's files (``remove_at_forced_exit``).
_FOLDERS_TO_REMOVE: list[str] = []


def remove_at_forced_exit(folder: str) -> None:
    """Have ``folder`` removed if a signal ends the run (``_exit_now``), which skips the
    ``with`` blocks and ``finally`` clauses that would remove it."""
    _FOLDERS_TO_REMOVE.append(folder)


# What a file write that fails says: Beam wraps the OSError in its own exception, whose
# message keeps "[Errno N] ..." and the step's name.
_ERRNO = re.compile(r"\[Errno (\d+)\]([^\[]*)")
_STEP = re.compile(r"\[while running '([^']*)'\]")
_FILE_ERRORS = {
    errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.ENOTDIR, errno.EIO,
    errno.EMFILE, errno.ENFILE,
}  # fmt: skip


def files_failed(exc: BaseException) -> str | None:
    """What went wrong when ``exc`` is a failure to write a file (a full disk, a read-only or
    vanished folder), from the exception or the one Beam wrapped it in; else None."""
    step = _STEP.search(str(exc))
    where = f" (step {step.group(1)})" if step else ""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.errno in _FILE_ERRORS:
            name = f": {seen.filename}" if seen.filename else ""
            return f"{seen.strerror}{name}{where}{_note(seen.errno)}"
        seen = seen.__cause__ or seen.__context__
    match = _ERRNO.search(str(exc))
    if match and int(match.group(1)) in _FILE_ERRORS:
        return f"{match.group(2).strip()}{where}{_note(int(match.group(1)))}"
    return None


def _note(number: int) -> str:
    """What to do about a limit on open files (``EMFILE``: the process's, ``ulimit -n``)."""
    return f" ({limit_note()})" if number == errno.EMFILE else ""


def prism_unavailable(exc: BaseException) -> str | None:
    """What to tell the user when Beam's Prism runner could not get its program (it downloads
    it from GitHub on first use unless ``--prism_location`` names a copy); else None."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not any(f.name == "_get_executable_path" and "prism" in f.filename for f in frames):
        return None
    return (
        f"Beam's Prism runner could not get its program ({exc}); run without --runner (the "
        "local default, FnApiRunner, needs nothing more) or give --prism_location a copy "
        "of Prism's binary or zip file on this machine"
    )


def _end_interrupted_run(config: RunConfig) -> None:
    """End an interrupted one-shot run's process now (see ``stop_on_signal``)."""
    remove_beam_temporaries(config.output_dir)
    note = "" if config.local_runner else " (the job itself goes on running on its runner)"
    summary_written = False
    if not is_remote(config.output_dir):
        summary_path = Path(config.output_dir) / SUMMARY_FILE
        for partial in summary_path.parent.glob(partial_name_pattern(SUMMARY_FILE)):
            partial.unlink(missing_ok=True)  # being written when the signal came
        summary_written = summary_path.exists()  # the earlier run's was removed at the start
    if STATE_COMMITTED.is_set():
        written = "" if summary_written else "; no summary.json"
        note = f" (after the run ended and its state was saved{written})"
    print(f"newsbeam: interrupted{note}", file=sys.stderr, flush=True)
    _exit_now(EXIT_INTERRUPTED)


def _finish_stopped_run(config: RunConfig) -> None:
    """Summarise a stopped streaming run from its output files, print it, end the process
    with the exit code a finished run's summary gives (``pipelines.cli.report``)."""
    try:
        # No log line: the summary's own first line says it was stopped and counted from files.
        stop_local_writes()  # what is counted is what the files hold when the process ends
        summary = summary_from_files(config.output_dir)
        summary.delivery = Delivery.of(config)
        if not is_remote(config.output_dir):
            summary.write(Path(config.output_dir) / SUMMARY_FILE)
        code = report(summary)
        sys.stdout.flush()
    except Exception as exc:  # noqa: BLE001 - the process must end whatever happens here
        print(f"newsbeam: could not summarise the stopped run: {exc}", file=sys.stderr)
        code = EXIT_FORCED
    _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    """End the process at once (no interpreter shutdown, which would wait for the runner's
    threads): the pool's processes stopped, and every other process it started (Beam's
    worker processes of ``--direct_running_mode multi_processing``), Beam's local folders
    removed (``Pipeline.run`` removes its own only when it returns), what was printed
    flushed."""
    stop_pool_processes()
    for folder in _FOLDERS_TO_REMOVE:
        shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing more is said: the runner's threads report the processes killed next as failed.
    with contextlib.suppress(OSError):
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
    _kill_descendants()
    os._exit(code)


def _kill_descendants() -> None:
    """Kill every process under this one, all found first (``transforms.process_tree``:
    /proc's lists of children on Linux, ``ps`` where there is no /proc, as on macOS).

    Beam's worker processes (started through a shell, so its children's children) outlived
    an interrupted ``multi_processing`` run by seconds, writing tracebacks of their lost
    connections to its stderr after ``newsbeam: interrupted``; nothing else stops them when
    this process ends with ``os._exit``.
    """
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
