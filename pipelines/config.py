"""From flags to a checked configuration: ``config_from_options`` builds a ``RunConfig``.

Consumes ``NewsbeamOptions`` (and the Beam options it needs: ``--streaming``, ``--runner``);
produces a ``RunConfig`` of plain values that ``pipelines.monitor.build()`` turns into the
graph. Reads the feed list and the state directory, and loads ``--taxonomy`` and ``--outlets``
once to check them; any problem the user must fix (a flag no one declares, a bad file, an
unwritable directory, an unknown runner, publishing without credentials) raises
``UsageError`` with a one-line message before the pipeline starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines.flag_checks import UsageError, flags_given, parse_all, refuse_unknown_flags
from pipelines.launch_checks import check_temp_folder
from pipelines.options import NewsbeamOptions
from pipelines.pubsub_checks import SetupError, check_emulator
from transforms.feedlist import read_feed_list
from transforms.folder_locks import FolderLockError, lock_folder, release_folder
from transforms.http import HttpConfig
from transforms.pool_start import LOCAL_RUNNERS
from transforms.pubsub_messages import PubSubError
from transforms.pubsub_names import check_credentials, check_topic
from transforms.records import FeedSpec, FeedState
from transforms.state import lock_state_dir
from transforms.state_files import (
    SeenFile,
    StateDirError,
    all_forgotten,
    load_feed_states,
    load_signatures,
    load_story_outlets,
    read_seen,
)
from transforms.ttl import DEFAULT_TTL_SECONDS
from transforms.userfiles import is_remote

log = logging.getLogger(__name__)

# The default runner: the in-process engine behind Beam's DirectRunner, named explicitly.
# ``--runner DirectRunner`` would first try the Prism runner, which downloads a binary from
# the internet on first use; ``FnApiRunner`` runs the same graph with the same
# ``--direct_num_workers`` and ``--direct_running_mode`` flags, offline.
LOCAL_RUNNER = "FnApiRunner"
# Bounds of the flags given in seconds. An hour for a request's deadline or the wait between
# two requests to a host (not a number, or infinite, turned the deadline off or crashed the
# watchdog's clock); a second between polls, each of which requests every feed once.
_MAX_FLAG_SECONDS = 3600.0
# --extract-processes 1000 forked 1,000 processes of ~300 MB each before failing.
_MAX_EXTRACT_PROCESSES = 64
_MIN_POLL_INTERVAL_SECONDS = 1.0


class RunFailed(RuntimeError):
    """The run could not write its files (a full disk, a folder gone read-only), or its
    runner could not start (Prism without its program), or its pool (``--extract-processes``
    without a socket in TMPDIR); printed as one line, exit code 1: the message says what was
    and was not kept."""


@dataclass(frozen=True)
class RunConfig:
    """Everything ``build()`` needs, as plain values (what the options say, checked)."""

    feeds: tuple[FeedSpec, ...]
    output_dir: str
    http: HttpConfig
    max_in_flight: int
    all_stories: bool
    taxonomy_path: str | None
    outlets_path: str | None
    min_text_chars: int
    extract_processes: int = 1
    feed_text_min_chars: int = 0  # 0: always fetch the page
    duplicates: str = "drop"
    topic: str | None = None
    dead_letter_topic: str | None = None
    dedup_ttl: float = DEFAULT_TTL_SECONDS
    state_dir: str | None = None  # None: nothing remembered between runs
    feed_states: Mapping[str, FeedState] = field(default_factory=dict)
    seen_before: Mapping[str, float] = field(default_factory=dict)
    prior_signatures: Sequence[tuple[bytes, bytes]] = ()
    # The outlets that carried each story earlier runs published, by story id (--state-dir).
    prior_outlets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    streaming: bool = False
    local_runner: bool = True  # the job runs in this process (FnApiRunner / DirectRunner)
    local_workers: int = 1  # --direct_num_workers of a local run
    poll_interval: float = 300.0
    start_time: float = 0.0  # streaming: when the first poll fires (seconds since the epoch)
    duration: float | None = None  # streaming: stop after this long; None = until stopped


def config_from_options(options: PipelineOptions) -> RunConfig:
    """Check the flags and read the feed list.

    Raises:
        UsageError: a missing or bad flag, an unreadable feed list, an unwritable output.
    """
    parse_all(options)  # a bad value is one line here, not Beam's usage of every flag
    check_temp_folder()
    runner = options.view_as(StandardOptions).runner
    local_runner = runner in LOCAL_RUNNERS
    refuse_unknown_flags(options, local_runner)
    _check_runner(runner)
    nb = options.view_as(NewsbeamOptions)
    if not nb.feeds:
        raise UsageError("--feeds FILE is required (OPML, text or YAML feed list)")
    if nb.feeds.lower().startswith(("http://", "https://")):
        raise UsageError(
            f"--feeds takes a feed list file, not a feed's URL: put {nb.feeds} on a line of "
            "a text file (feeds.txt) and pass --feeds feeds.txt"
        )
    try:
        feeds = read_feed_list(nb.feeds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not (nb.output or "").strip():  # --output "$UNSET": not the working directory
        raise UsageError("--output must name a folder (it was empty)")
    output_dir = _writable_dir(nb.output)
    if not 1 <= nb.per_host_in_flight <= 4:
        raise UsageError("--per-host-in-flight must be between 1 and 4")
    if not 0 <= nb.per_host_interval <= _MAX_FLAG_SECONDS:  # NaN too
        raise UsageError("--per-host-interval must be between 0 and 3600 (seconds)")
    if not 1 <= nb.extract_processes <= _MAX_EXTRACT_PROCESSES:
        raise UsageError(
            f"--extract-processes must be between 1 and {_MAX_EXTRACT_PROCESSES} (each process "
            "holds its own parsers and models, some 300 MB)"
        )
    if (options.view_as(DirectOptions).direct_num_workers or 0) < 0:  # Beam's IndexError
        raise UsageError("--direct_num_workers must be 0 (one per CPU) or more")
    if nb.max_in_flight < 1:
        raise UsageError("--max-in-flight must be at least 1")
    if nb.feed_text_min_chars < 0:
        raise UsageError("--feed-text-min-chars must not be negative")
    for flag, topic in (("--topic", nb.topic), ("--dead-letter-topic", nb.dead_letter_topic)):
        if topic:
            try:
                check_topic(topic)
            except PubSubError as exc:
                raise UsageError(f"{flag}: {exc}") from None
    if nb.topic and nb.topic == nb.dead_letter_topic:  # as 'newsbeam topics setup' refuses it
        raise UsageError(
            "--dead-letter-topic must differ from --topic: subscribers to the stories would "
            "receive the dead letters among them"
        )
    if not 0 < nb.fetch_timeout <= _MAX_FLAG_SECONDS:  # NaN (no deadline at all) too
        raise UsageError("--fetch-timeout must be positive and at most 3600 (seconds)")
    if nb.min_text_chars < 0:
        raise UsageError("--min-text-chars must not be negative")
    if nb.contact_url and (not nb.contact_url.isprintable() or " " in nb.contact_url):
        raise UsageError("--contact-url must be one word: a URL or an email address")
    _check_user_files(nb.taxonomy, nb.outlets)
    http = HttpConfig(
        allow_loopback=nb.allow_loopback,
        contact_url=nb.contact_url,
        deadline=nb.fetch_timeout,
        per_host_in_flight=nb.per_host_in_flight,
        per_host_min_interval=nb.per_host_interval,
        respect_robots=not nb.no_robots,
    )
    streaming = bool(options.view_as(StandardOptions).streaming)
    if not streaming and nb.duration is not None:
        raise UsageError("--duration needs --streaming (a one-shot run ends by itself)")
    if nb.poll_interval < _MIN_POLL_INTERVAL_SECONDS:
        raise UsageError("--poll-interval must be at least 1s (each poll requests every feed)")
    if not streaming and "poll_interval" in flags_given(options):
        raise UsageError("--poll-interval needs --streaming (a one-shot run polls each feed once)")
    if nb.state_dir and (nb.no_state or streaming):
        raise UsageError(
            "--state-dir is for one-shot runs that remember: not with --no-state"
            if nb.no_state
            else "--state-dir is for one-shot runs: an always-on run keeps what it remembers "
            "in Beam's state"
        )
    if nb.state_dir and is_remote(nb.state_dir):
        raise UsageError(
            f"--state-dir {nb.state_dir}: the state directory must be a local folder "
            "(what one-shot runs remember is kept in local files)"
        )
    # Streaming jobs keep their state in Beam's keyed state, not in files.
    use_state_dir = not (nb.no_state or streaming)
    if use_state_dir and is_remote(nb.state_dir or output_dir):
        log.warning("no --state-dir for a remote output: one-shot runs will not remember")
        use_state_dir = False
    state_dir = nb.state_dir or str(Path(output_dir) / "state") if use_state_dir else None
    if state_dir:
        state_dir = _writable_dir(state_dir, "--state-dir")
    _check_credentials(nb, local_runner)  # before a folder is locked
    try:  # one run at a time in each (a remote output is not locked)
        if not is_remote(output_dir):
            lock_folder(output_dir, "--output")
        if state_dir:
            lock_state_dir(state_dir)
        feed_states = load_feed_states(state_dir) if state_dir else {}
        seen = read_seen(state_dir, nb.dedup_ttl) if state_dir else SeenFile({}, {}, False)
        forgotten = all_forgotten(state_dir, seen, nb.dedup_ttl) if state_dir else None
        if forgotten:
            log.warning(forgotten)
        if seen.without_feeds:
            # An older newsbeam's state: which feed listed each seen entry is not known, so
            # an unchanged feed could not keep its entries remembered, and a broken feed's
            # body hash may have been kept. Each feed is polled in full once, without its
            # validators: the entries still listed are remembered with their feed.
            feed_states = {}
        signatures = load_signatures(state_dir, nb.dedup_ttl) if state_dir else []
        outlets = load_story_outlets(state_dir, nb.dedup_ttl) if state_dir else {}
    except (FolderLockError, StateDirError) as exc:
        # Given back, as pipelines.monitor.run gives them back when a run ends: a program
        # that goes on after a refused run (a scheduler, the tests) kept the folders locked.
        release_folders(output_dir, state_dir)
        raise UsageError(str(exc)) from None
    return RunConfig(
        local_runner=local_runner,
        # 0 is what Beam's local runner reads as one worker per CPU
        local_workers=options.view_as(DirectOptions).direct_num_workers or os.cpu_count() or 1,
        streaming=streaming,
        poll_interval=nb.poll_interval,
        start_time=time.time(),
        duration=nb.duration,
        dedup_ttl=nb.dedup_ttl,
        state_dir=state_dir,
        feed_states=feed_states,
        seen_before=seen.seen,
        prior_signatures=signatures,
        prior_outlets=outlets,
        feeds=tuple(feeds),
        output_dir=output_dir,
        http=http,
        max_in_flight=nb.max_in_flight,
        all_stories=nb.all_stories,
        taxonomy_path=nb.taxonomy,
        outlets_path=nb.outlets,
        min_text_chars=nb.min_text_chars,
        feed_text_min_chars=nb.feed_text_min_chars,
        extract_processes=nb.extract_processes,
        duplicates=nb.duplicates,
        topic=nb.topic,
        dead_letter_topic=nb.dead_letter_topic,
    )


def release_folders(output_dir: str, state_dir: str | None) -> None:
    """Give back the locks a run took on its local ``--output`` and its ``--state-dir``."""
    if not is_remote(output_dir):
        release_folder(output_dir, "--output")
    if state_dir:
        release_folder(state_dir, "--state-dir")


def _writable_dir(path: str, flag: str = "--output") -> str:
    if is_remote(path):
        _refuse_glob_characters(path, flag)
        return path.rstrip("/")  # checked by the runner when it writes
    target = Path(path)
    try:
        full = os.path.abspath(path)
    except OSError:  # the working directory is gone: mkdir below says so
        full = path
    _refuse_glob_characters(full, flag)
    try:  # Beam writes a file's name into its pipeline as UTF-8
        full.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{flag}: {full}: the runner needs file names in UTF-8, and this "
            f"one is not (the file system encoding here: {sys.getfilesystemencoding()}): name "
            "a folder in UTF-8 and run under a UTF-8 locale (LC_ALL=C.UTF-8)"
        ) from None
    dangling = next(
        (p for p in (target, *target.parents) if p.is_symlink() and not p.exists()), None
    )
    if dangling is not None:  # mkdir said "File exists"
        raise UsageError(
            f"{flag}: {dangling} is a link to {os.readlink(dangling)}, which is not there"
        )
    taken = next((p for p in (target, *target.parents) if p.exists() and not p.is_dir()), None)
    if taken is not None:
        within = "" if taken == target else f" (on the way to {path})"
        raise UsageError(f"{flag}: {taken} is a file, not a folder{within}")
    probe = target / ".newsbeam-write-test"
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write to {target}: {exc.strerror or exc}") from None
    finally:  # made but not written (a full disk): it stayed in the folder
        with contextlib.suppress(OSError):
            probe.unlink()
    return str(target.resolve())


def _refuse_glob_characters(path: str, flag: str) -> None:
    """Beam's file sinks read the folder's path as a glob pattern: before they rename their
    shards into place, they delete every file the pattern matches. ``--output out[1]``
    matched ``out1``, whose stories and dead letters went (and the run ended in a
    traceback); ``out*x`` matched every ``out...x``."""
    magic = sorted({"*", "?", "["} & set(path))
    if magic:
        raise UsageError(
            f"{flag}: {path}: the runner reads a folder's path as a pattern, in which "
            f"{' and '.join(magic)} would match other folders (and delete files there): "
            "name a folder without them"
        )


def _check_user_files(taxonomy: str | None, outlets: str | None) -> None:
    """Load ``--taxonomy`` and ``--outlets`` once here, so that a bad file is one line now
    instead of a traceback from inside the pipeline's first step that reads it."""
    if taxonomy:
        from transforms import loaded
        from transforms.tagger import TaxonomyError

        try:  # kept for steps that run in this process (transforms.loaded)
            loaded.tagger(taxonomy)
        except TaxonomyError as exc:
            raise UsageError(f"--taxonomy: {exc}") from None
    if outlets:
        from transforms import loaded
        from transforms.outlets import OutletFileError

        try:
            loaded.outlets(outlets)
        except OutletFileError as exc:
            raise UsageError(f"--outlets: {exc}") from None


def _check_runner(runner: str | None) -> None:
    if runner:
        from apache_beam.runners.runner import create_runner

        try:
            create_runner(runner)
        except (ValueError, ImportError, AttributeError) as exc:
            raise UsageError(f"--runner: {str(exc).splitlines()[0]}") from None


def _check_credentials(options: NewsbeamOptions, local_runner: bool) -> None:
    """A local run that publishes needs the emulator (listening) or credentials: say so before
    it starts (else each publishing step fails deep in the run). Remote workers use their own."""
    if local_runner and (options.topic or options.dead_letter_topic):
        flag = "--topic" if options.topic else "--dead-letter-topic"
        try:
            check_credentials()
            check_emulator()  # a stopped emulator: at once, not 30 s a bundle in the run
        except (PubSubError, SetupError) as exc:
            raise UsageError(f"{flag}: {exc}") from None
