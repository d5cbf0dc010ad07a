"""From flags to a checked configuration: ``config_from_options`` builds a ``RunConfig``.

Consumes ``NewsbeamOptions`` (and the Beam options it needs: ``--streaming``, ``--runner``);
produces a ``RunConfig`` of plain values that ``pipelines.monitor.build()`` turns into the
graph. Reads the feed list and the state directory; any problem the user must fix raises
``UsageError`` with a one-line message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pipelines.options import NewsbeamOptions
from transforms.feedlist import read_feed_list
from transforms.http import HttpConfig
from transforms.pool_start import LOCAL_RUNNERS
from transforms.pubsub import check_topic
from transforms.pubsub_messages import PubSubError
from transforms.records import FeedSpec, FeedState
from transforms.state import StateDirError, load_feed_states, load_seen, load_signatures

log = logging.getLogger(__name__)

# The default runner: the in-process engine behind Beam's DirectRunner, named explicitly.
# ``--runner DirectRunner`` would first try the Prism runner, which downloads a binary from
# the internet on first use; ``FnApiRunner`` runs the same graph with the same
# ``--direct_num_workers`` and ``--direct_running_mode`` flags, offline.
LOCAL_RUNNER = "FnApiRunner"

# Entries seen once are remembered this long by DedupEntries (one-shot runs end sooner).
DEFAULT_DEDUP_TTL_SECONDS = 7 * 24 * 3600


class UsageError(ValueError):
    """A flag or input the user must fix; printed as one line, exit code 2."""


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
    dedup_ttl: float = DEFAULT_DEDUP_TTL_SECONDS
    state_dir: str | None = None  # None: nothing remembered between runs
    feed_states: Mapping[str, FeedState] = field(default_factory=dict)
    seen_before: Mapping[str, float] = field(default_factory=dict)
    prior_signatures: Sequence[tuple[bytes, bytes]] = ()
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
    nb = options.view_as(NewsbeamOptions)
    if not nb.feeds:
        raise UsageError("--feeds FILE is required (OPML, text or YAML feed list)")
    try:
        feeds = read_feed_list(nb.feeds)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output_dir = _writable_dir(nb.output)
    if not 1 <= nb.per_host_in_flight <= 4:
        raise UsageError("--per-host-in-flight must be between 1 and 4")
    if nb.per_host_interval < 0:
        raise UsageError("--per-host-interval must not be negative")
    if nb.extract_processes < 1:
        raise UsageError("--extract-processes must be at least 1")
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
    for flag, path in (("--taxonomy", nb.taxonomy), ("--outlets", nb.outlets)):
        if path and not Path(path).is_file():
            raise UsageError(f"{flag}: file not found: {path}")
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
    # Streaming jobs keep their state in Beam's keyed state, not in files.
    use_state_dir = not (nb.no_state or streaming)
    if use_state_dir and is_remote(nb.state_dir or output_dir):
        log.warning("no --state-dir for a remote output: one-shot runs will not remember")
        use_state_dir = False
    state_dir = nb.state_dir or str(Path(output_dir) / "state") if use_state_dir else None
    try:
        feed_states = load_feed_states(state_dir) if state_dir else {}
        seen_before = load_seen(state_dir, nb.dedup_ttl) if state_dir else {}
        signatures = load_signatures(state_dir, nb.dedup_ttl) if state_dir else []
    except StateDirError as exc:
        raise UsageError(str(exc)) from None
    runner = options.view_as(StandardOptions).runner
    return RunConfig(
        local_runner=runner in LOCAL_RUNNERS,
        local_workers=options.view_as(DirectOptions).direct_num_workers or 1,
        streaming=streaming,
        poll_interval=nb.poll_interval,
        start_time=time.time(),
        duration=nb.duration,
        dedup_ttl=nb.dedup_ttl,
        state_dir=state_dir,
        feed_states=feed_states,
        seen_before=seen_before,
        prior_signatures=signatures,
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


def is_remote(path: str) -> bool:
    """True for paths Beam's FileSystems serve from elsewhere (gs://, s3://, ...)."""
    return "://" in path


def _writable_dir(path: str) -> str:
    if is_remote(path):
        return path.rstrip("/")  # checked by the runner when it writes
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".newsbeam-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--output: cannot write to {target}: {exc.strerror or exc}") from None
    return str(target.resolve())
