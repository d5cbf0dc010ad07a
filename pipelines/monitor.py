"""The newsbeam graph: ``build()`` wires the stages, ``run()`` runs them once.

``build(pipeline, options)`` turns NewsbeamOptions into plain constructor arguments
and applies, under stable labels (Dataflow's in-place update matches steps by them)::

    ReadFeedList -> PollFeeds -> DedupEntries -> FetchArticles -> ExtractArticles
        -> EnrichArticles -> TagStories -> WriteStories
    every stage's failures -> DeadLetters (file, topic);  every discard -> Discards

``run(argv)`` validates the flags, runs the pipeline to the end, reads the outcome
counters and writes ``summary.json`` (see ``pipelines.summary``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineResult
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.utils.timestamp import MAX_TIMESTAMP as MAX_TS

from pipelines.options import NewsbeamOptions
from pipelines.summary import RunSummary, summary_from_files, summary_from_metrics
from transforms.common import DISCARDED, FAILURES, OK, EachInput
from transforms.dedup import SIGNATURES, UPDATES, ClusterStories
from transforms.dedup_entries import DedupEntries
from transforms.enrich import EnrichArticles
from transforms.extract import ExtractArticles
from transforms.feedlist import read_feed_list
from transforms.feeds import STATE, PollFeeds
from transforms.fetch import FetchArticles
from transforms.http import HttpConfig
from transforms.pubsub import PublishStories, PubSubError, check_topic
from transforms.records import FeedSpec, FeedState
from transforms.sinks import (
    DEAD_LETTERS_PREFIX,
    DISCARDS_PREFIX,
    JSONL,
    STORIES_PREFIX,
    DeliverDeadLetters,
    WriteDiscards,
    WriteStories,
    WriteSyndicationUpdates,
)
from transforms.state import (
    PENDING_SIGNATURES,
    SkipSeenEntries,
    StateDirError,
    commit_run_state,
    feed_state_line,
    load_feed_states,
    load_seen,
    load_signatures,
    pending_prefix,
    seen_line,
    signature_line,
)
from transforms.syndication import SYNDICATION_PREFIX
from transforms.tag import TagStories

log = logging.getLogger(__name__)

# The default runner: the in-process engine behind Beam's DirectRunner, named explicitly.
# ``--runner DirectRunner`` would first try the Prism runner, which downloads a binary from
# the internet on first use; ``FnApiRunner`` runs the same graph with the same
# ``--direct_num_workers`` and ``--direct_running_mode`` flags, offline.
LOCAL_RUNNER = "FnApiRunner"

# Exit code when a stop signal could not end the run cleanly.
EXIT_FORCED = 3

# PeriodicImpulse's "never stop": the largest timestamp Beam represents, in seconds.
MAX_TIMESTAMP = float(MAX_TS.micros) / 1e6

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
    if nb.max_in_flight < 1:
        raise UsageError("--max-in-flight must be at least 1")
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
        local_runner=runner in (None, LOCAL_RUNNER, "DirectRunner", "BundleBasedDirectRunner"),
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


def feed_specs(pipeline: beam.Pipeline, config: RunConfig) -> beam.PCollection:
    """The feeds to poll: once (batch), or every poll interval (streaming)."""
    specs = list(config.feeds)
    if not config.streaming:
        return pipeline | "ReadFeedList" >> beam.Create(specs)
    stop = config.start_time + config.duration if config.duration else MAX_TIMESTAMP
    return (
        pipeline
        | "PollTicks"
        >> PeriodicImpulse(
            start_timestamp=config.start_time,
            stop_timestamp=stop,
            fire_interval=config.poll_interval,
        )
        | "FeedsPerTick" >> beam.FlatMap(lambda _tick: specs)
    )


def build(pipeline: beam.Pipeline, config: RunConfig) -> None:
    """Apply the whole graph to ``pipeline``."""
    polled = feed_specs(pipeline, config) | "PollFeeds" >> PollFeeds(
        config.http, config.feed_states
    )
    gc = not config.local_runner  # see DedupEntries: local event-time timers fire at once
    deduped = polled[OK] | "DedupEntries" >> DedupEntries(config.dedup_ttl, gc_timers=gc)
    unseen = deduped[OK] | "SkipSeenEntries" >> SkipSeenEntries(frozenset(config.seen_before))
    fetched = unseen[OK] | "FetchArticles" >> FetchArticles(config.http, config.max_in_flight)
    extracted = fetched[OK] | "ExtractArticles" >> ExtractArticles(config.min_text_chars)
    enriched = extracted[OK] | "EnrichArticles" >> EnrichArticles(config.outlets_path)
    tagged = enriched[OK] | "TagStories" >> TagStories(config.taxonomy_path, config.all_stories)
    clustered = tagged[OK] | "ClusterStories" >> ClusterStories(
        config.dedup_ttl,
        config.duplicates,
        # One-shot runs order stories by wall-clock time, so that claims remembered from
        # earlier runs (prior_claims) come first; streaming runs use event time.
        clock=None if config.streaming else time.time,
        gc_timers=gc,
        prior_claims=config.prior_signatures,
    )
    # Stories and, with --duplicates link, link records: what gets published. (No Flatten
    # on this path: Beam's local runner holds a Flatten's output until a streaming run ends.)
    published = clustered[OK]

    streaming = config.streaming
    stages = {
        "Poll": polled,
        "Dedup": deduped,
        "Skip": unseen,
        "Fetch": fetched,
        "Extract": extracted,
        "Enrich": enriched,
        "Tag": tagged,
        "Cluster": clustered,
    }
    failing = {name: stage[FAILURES] for name, stage in stages.items()}
    if config.topic:
        delivered = published | "PublishStories" >> PublishStories(config.topic)
        failing["Publish"] = delivered[FAILURES]
        published = delivered[OK]
    published | "WriteStories" >> WriteStories(config.output_dir, streaming)
    if config.duplicates != "drop":
        updates = clustered[UPDATES]
        if config.topic:
            sent = updates | "PublishSyndicationUpdates" >> PublishStories(config.topic)
            failing["PublishUpdates"] = sent[FAILURES]
            updates = sent[OK]
        updates | "WriteSyndicationUpdates" >> WriteSyndicationUpdates(config.output_dir, streaming)
    deliver = partial(DeliverDeadLetters, config.output_dir, streaming, config.dead_letter_topic)
    failing | "DeadLetters" >> EachInput(deliver, streaming)
    discarding = {name: stage[DISCARDED] for name, stage in stages.items()}
    write = partial(WriteDiscards, config.output_dir, streaming)
    discarding | "Discards" >> EachInput(write, streaming)
    if config.state_dir:
        (
            polled[STATE]
            | "FeedStateToJson" >> beam.Map(feed_state_line)
            | "WriteFeedStates" >> beam.io.WriteToText(pending_prefix(config.state_dir, "feeds"))
        )
        (
            unseen[OK]
            | "SeenToJson" >> beam.Map(seen_line)
            | "WriteSeenEntries" >> beam.io.WriteToText(pending_prefix(config.state_dir, "seen"))
        )
        (
            clustered[SIGNATURES]
            | "SignaturesToJson" >> beam.Map(signature_line)
            | "WriteSignatures"
            >> beam.io.WriteToText(pending_prefix(config.state_dir, PENDING_SIGNATURES))
        )


def clear_previous_outputs(output_dir: str) -> None:
    """Remove the JSONL files of an earlier run, so the summary reads only this run's."""
    for prefix in (STORIES_PREFIX, DEAD_LETTERS_PREFIX, DISCARDS_PREFIX, SYNDICATION_PREFIX):
        for path in Path(output_dir).glob(f"{prefix}*{JSONL}"):
            path.unlink()


def retryable_links(output_dir: str) -> set[str]:
    """Links of entries dead-lettered as retryable in this run (the next run retries them)."""
    links = set()
    for path in Path(output_dir).glob(f"{DEAD_LETTERS_PREFIX}*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("retryable") and row.get("counts_entry", True):
                links.add(row["url"])
    return links


def _one_local_worker(options: PipelineOptions) -> None:
    """PeriodicImpulse loses ticks with several local workers: the local runner gets one."""
    direct = options.view_as(DirectOptions)
    if options.view_as(StandardOptions).runner in (None, "DirectRunner", "FnApiRunner"):
        if (direct.direct_num_workers or 1) > 1:
            log.warning("streaming on the local runner uses one worker (PeriodicImpulse)")
        direct.direct_num_workers = 1


# After a stop signal, the run has this long to write its summary before the process exits
# anyway (an interrupt can land where the runner's threads swallow it).
STOP_GRACE_SECONDS = 30.0


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the pipeline runs (main thread only).

    The first signal raises KeyboardInterrupt and starts a watchdog that ends the process
    after ``STOP_GRACE_SECONDS`` if it has not finished by then; a second signal ends it at
    once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = threading.Event()

    def interrupt(_signum: int, _frame: object) -> None:
        if stopping.is_set():
            os._exit(EXIT_FORCED)
        stopping.set()
        threading.Thread(target=_exit_after_grace, daemon=True).start()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    previous_int = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _exit_after_grace() -> None:
    time.sleep(STOP_GRACE_SECONDS)  # a deadline, not synchronisation: the process must end
    print(f"newsbeam: not stopped after {STOP_GRACE_SECONDS:.0f} s; exiting", file=sys.stderr)
    os._exit(EXIT_FORCED)


def prepare(argv: Sequence[str] | None) -> tuple[PipelineOptions, RunConfig]:
    """Parse and check the flags.

    Raises:
        UsageError: the flags or the feed list need fixing.
    """
    options = PipelineOptions(list(argv or []))
    config = config_from_options(options)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        standard.runner = LOCAL_RUNNER
    if config.streaming:
        _one_local_worker(options)
    return options, config


def launch(options: PipelineOptions, config: RunConfig) -> PipelineResult:
    """Build the graph and start it; returns at once on runners that run remotely.

    The Flex Template launcher (deploy/main.py) calls this and exits, leaving the job running.
    """
    log.info("polling %d feeds, writing to %s", len(config.feeds), config.output_dir)
    if not is_remote(config.output_dir):
        clear_previous_outputs(config.output_dir)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, config)
    return pipeline.run()


def run(argv: Sequence[str] | None = None) -> RunSummary:
    """Run the pipeline once (batch) and return its summary (also written to summary.json).

    Raises:
        UsageError: the flags or the feed list need fixing.
    """
    options, config = prepare(argv)
    try:
        with _sigterm_as_interrupt():
            result = launch(options, config)
            result.wait_until_finish()
    except KeyboardInterrupt:
        if not config.streaming:
            raise
        log.warning("stopped by signal; summarising what reached the output files")
        summary = summary_from_files(config.output_dir)
    else:
        try:
            summary = summary_from_metrics(result.metrics(), config.output_dir)
        except RecursionError:
            # Beam's local runner nests its metrics once per processing round; after a long
            # streaming run, reading them overflows the stack. The files hold every outcome.
            log.warning("the runner's metrics could not be read; summarising the output files")
            summary = summary_from_files(config.output_dir)
    if config.state_dir:
        commit_run_state(
            config.state_dir,
            dict(config.seen_before),
            retryable_links(config.output_dir),
            config.dedup_ttl,
        )
    if is_remote(config.output_dir):
        log.warning("summary.json is written only for local outputs: %s", config.output_dir)
    else:
        summary.write(Path(config.output_dir) / "summary.json")
    return summary
