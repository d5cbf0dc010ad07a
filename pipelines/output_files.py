"""The output folder between runs: an earlier run's files, and the entries to retry.

Before a run, ``clear_before_run`` removes the JSONL files an earlier run left in
``--output`` (local, or remote through Beam's FileSystems), so that the summary and whoever
reads the folder see only this run's; a local folder is held by one run at a time
(``config_from_options`` takes its lock, ``transforms.folder_locks.lock_folder``, before this
runs). After a one-shot run, ``retryable_links`` reads its dead letters for the entries the
next run tries again (``transforms.state``), and ``write_summary`` writes its ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from pipelines.config import RunConfig, RunFailed, UsageError
from pipelines.summary import RunSummary
from transforms import durable
from transforms.sinks import (
    DEAD_LETTERS_PREFIX,
    DISCARDS_PREFIX,
    STORIES_PREFIX,
    sink_files,
)
from transforms.syndication import SYNDICATION_PREFIX
from transforms.userfiles import is_remote, read_bytes

_PREFIXES = (STORIES_PREFIX, DEAD_LETTERS_PREFIX, DISCARDS_PREFIX, SYNDICATION_PREFIX)
SUMMARY_FILE = "summary.json"  # a local run's summary, written in its output folder

log = logging.getLogger(__name__)


def clear_before_run(config: RunConfig) -> None:
    """Remove an earlier run's files, except an always-on job's on Cloud Storage.

    Those are the job's archive: a job started again in the same remote folder (an update,
    a new template launch) adds to them. A local always-on run, like a one-shot run,
    replaces the files of the run before it.
    """
    if not (config.streaming and is_remote(config.output_dir)):
        clear_previous_outputs(config.output_dir)


def clear_previous_outputs(output_dir: str) -> None:
    """Remove the JSONL files of an earlier run, so the summary reads only this run's, and
    its ``summary.json`` (else it stayed while this run went on, and for good when this run
    was stopped or failed: the summary of files no longer there).

    A remote folder (``gs://...``) is cleared through Beam's FileSystems: a one-shot job
    writes its files in shards whose count the runner picks, so an earlier job's shards
    stayed beside the new ones (and its retryable dead letters were read as this run's).

    Raises:
        UsageError: the files could not be listed or removed (permissions, the store's error;
            listing a Cloud Storage folder it could not reach was an ``OSError`` that
            ``newsbeam`` reported as a failure to write its standard output).
    """
    remove_beam_temporaries(output_dir)  # an interrupted or killed run's
    try:
        paths = [path for prefix in _PREFIXES for path in sink_files(output_dir, prefix)]
        if not is_remote(output_dir):  # a remote output has no summary.json
            # The summary first: stopped half-way, the folder holds no summary of files that
            # are gone.
            Path(output_dir, SUMMARY_FILE).unlink(missing_ok=True)
            for path in paths:
                Path(path).unlink()
        elif paths:
            from apache_beam.io.filesystems import FileSystems

            FileSystems.delete(paths)
    except Exception as exc:  # OSError, or the store's own errors (BeamIOError ...)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise UsageError(
            f"cannot list or remove the earlier run's files in {output_dir} "
            f"({type(exc).__name__}: {first}); remove them, or give --output a folder of its own"
        ) from None


def remove_beam_temporaries(output_dir: str) -> None:
    """Remove the ``beam-temp-<sink>-*`` folders Beam's file sinks left in a local
    ``output_dir``: a one-shot run writes its shards there and renames them into place when
    it ends, so an interrupted (or killed) run leaves them behind. Others' files are left,
    and so is a folder that cannot be removed (nothing here may fail the run's ending)."""
    if is_remote(output_dir) or not Path(output_dir).is_dir():
        return
    for prefix in _PREFIXES:
        for folder in Path(output_dir).glob(f"beam-temp-{prefix}-*"):
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)


def sync_outputs(output_dir: str) -> None:
    """Put a local run's output files, and the renames that put them in its folder, on the
    disk (``transforms.durable``): its state must not remember as published the stories of
    files a power cut may still lose (Beam's file sinks write without syncing).

    Raises:
        OSError: a file could not be synced (an I/O error), or is gone.
    """
    if is_remote(output_dir):  # an object store has a finished object or none
        return
    for prefix in _PREFIXES:
        for path in sink_files(output_dir, prefix):
            durable.sync_file(path)
    durable.sync_folder(output_dir)


def retryable_links(output_dir: str) -> set[str]:
    """Links of entries dead-lettered as retryable in this run (the next run retries them).

    A remote ``output_dir`` (``gs://...``) with a local ``--state-dir`` is read through
    Beam's FileSystems: globbing it on the local disk found nothing, and every entry that
    failed retryably was remembered as seen, never to be tried again.
    """
    links = set()
    for path in sink_files(output_dir, DEAD_LETTERS_PREFIX):
        # split at "\n" only: str.splitlines() also splits at U+2028, U+2029 and U+0085,
        # which lines written before to_json_line escaped them may hold inside a string
        for line in filter(None, read_bytes(path).decode("utf-8").split("\n")):
            row = json.loads(line)
            if row.get("retryable") and row.get("counts_entry", True):
                links.add(row["url"])
    return links


def write_summary(summary: RunSummary, config: RunConfig) -> None:
    """Write ``summary.json`` in a local output folder.

    Raises:
        RunFailed: it could not be written (a full disk): the message names it. Its write
            error, which names no file, was reported as a failure to write standard output.
    """
    if is_remote(config.output_dir):
        log.warning("summary.json is written only for local outputs: %s", config.output_dir)
        return
    path = Path(config.output_dir) / SUMMARY_FILE
    try:
        summary.write(path)
    except OSError as exc:
        saved = " and its state was saved" if config.state_dir else ""
        raise RunFailed(
            f"the run ended{saved}, but its summary could not be written to {path} "
            f"({exc.strerror or exc}); its other files are in {config.output_dir}"
        ) from None
