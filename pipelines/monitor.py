"""The newsbeam graph: ``build()`` wires the stages, ``run()`` runs them once.

``build(pipeline, options)`` turns NewsbeamOptions into plain constructor arguments
and applies, under stable labels (Dataflow's in-place update matches steps by them)::

    ReadFeedList -> PollFeeds -> DedupEntries -> FetchArticles -> ExtractArticles
        -> EnrichArticles -> TagStories -> WriteStories
    every stage's failures -> WriteDeadLetters;  every discard -> WriteDiscards

``run(argv)`` validates the flags, runs the pipeline to the end, reads the outcome
counters and writes ``summary.json`` (see ``pipelines.summary``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import NewsbeamOptions
from pipelines.summary import RunSummary, summary_from_metrics
from transforms.common import DISCARDED, FAILURES, OK, flatten_all
from transforms.dedup import DedupEntries
from transforms.enrich import EnrichArticles
from transforms.extract import ExtractArticles
from transforms.feedlist import read_feed_list
from transforms.feeds import PollFeeds
from transforms.fetch import FetchArticles
from transforms.http import HttpConfig
from transforms.records import FeedSpec
from transforms.sinks import WriteDeadLetters, WriteDiscards, WriteStories
from transforms.tag import TagStories

log = logging.getLogger(__name__)

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
    if nb.max_in_flight < 1:
        raise UsageError("--max-in-flight must be at least 1")
    for flag, path in (("--taxonomy", nb.taxonomy), ("--outlets", nb.outlets)):
        if path and not Path(path).is_file():
            raise UsageError(f"{flag}: file not found: {path}")
    http = HttpConfig(
        allow_loopback=nb.allow_loopback,
        contact_url=nb.contact_url,
        deadline=nb.fetch_timeout,
        per_host_in_flight=nb.per_host_in_flight,
        respect_robots=not nb.no_robots,
    )
    return RunConfig(
        feeds=tuple(feeds),
        output_dir=output_dir,
        http=http,
        max_in_flight=nb.max_in_flight,
        all_stories=nb.all_stories,
        taxonomy_path=nb.taxonomy,
        outlets_path=nb.outlets,
        min_text_chars=nb.min_text_chars,
    )


def _writable_dir(path: str) -> str:
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".newsbeam-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--output: cannot write to {target}: {exc.strerror or exc}") from None
    return str(target.resolve())


def build(pipeline: beam.Pipeline, config: RunConfig) -> None:
    """Apply the whole graph to ``pipeline``."""
    polled = (
        pipeline
        | "ReadFeedList" >> beam.Create(list(config.feeds))
        | "PollFeeds" >> PollFeeds(config.http)
    )
    deduped = polled[OK] | "DedupEntries" >> DedupEntries(DEFAULT_DEDUP_TTL_SECONDS)
    fetched = deduped[OK] | "FetchArticles" >> FetchArticles(config.http, config.max_in_flight)
    extracted = fetched[OK] | "ExtractArticles" >> ExtractArticles(config.min_text_chars)
    enriched = extracted[OK] | "EnrichArticles" >> EnrichArticles(config.outlets_path)
    tagged = enriched[OK] | "TagStories" >> TagStories(config.taxonomy_path, config.all_stories)

    tagged[OK] | "WriteStories" >> WriteStories(config.output_dir)
    stages = (polled, deduped, fetched, extracted, enriched, tagged)
    failures = flatten_all((s[FAILURES] for s in stages), "CollectFailures")
    failures | "WriteDeadLetters" >> WriteDeadLetters(config.output_dir)
    discards = flatten_all((s[DISCARDED] for s in stages), "CollectDiscards")
    discards | "WriteDiscards" >> WriteDiscards(config.output_dir)


def run(argv: Sequence[str] | None = None) -> RunSummary:
    """Run the pipeline once (batch) and return its summary (also written to summary.json).

    Raises:
        UsageError: the flags or the feed list need fixing.
    """
    options = PipelineOptions(list(argv or []))
    config = config_from_options(options)
    log.info("polling %d feeds, writing to %s", len(config.feeds), config.output_dir)
    pipeline = beam.Pipeline(options=options)
    build(pipeline, config)
    result = pipeline.run()
    result.wait_until_finish()
    summary = summary_from_metrics(result.metrics(), config.output_dir)
    summary.write(Path(config.output_dir) / "summary.json")
    return summary
