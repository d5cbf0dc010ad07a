"""The newsbeam graph: ``build()`` wires the stages, ``run()`` runs them.

``build(pipeline, config)`` applies the stages to a ``RunConfig`` (``pipelines.config``), under
stable labels (Dataflow's in-place update matches steps by them)::

    ReadFeedList (batch) | PollTicks -> FeedsPerTick (streaming)
      -> PollFeeds -> DedupEntries -> SkipSeenEntries -> FetchArticles -> ExtractArticles
      -> EnrichArticles -> TagStories -> ClusterStories -> [PublishStories] -> WriteStories
    (with --extract-processes N > 1, AnalysePages does Extract, Enrich and Tag in N processes)
    every stage's failures -> DeadLetters (file, [topic]);  every discard -> Discards
    (with a state directory, what the next one-shot run must know: ``pipelines.pending_state``)

``run(argv)`` checks the flags, runs the pipeline to the end (or until a stop signal),
reads the outcome counters and writes ``summary.json`` (see ``pipelines.summary``);
``launch()`` starts it without waiting (the Flex Template launcher).
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.runner import PipelineResult
from apache_beam.utils.timestamp import MAX_TIMESTAMP as MAX_TS

from pipelines.config import (
    LOCAL_RUNNER,
    RunConfig,
    RunFailed,
    config_from_options,
    release_folders,
)
from pipelines.open_files import raise_limit
from pipelines.output_files import (
    clear_before_run,
    retryable_links,
    sync_outputs,
    write_summary,
)
from pipelines.pending_state import write_pending_state
from pipelines.stopping import (
    STATE_COMMITTED,
    files_failed,
    prism_unavailable,
    remove_at_forced_exit,
    stop_on_signal,
)
from pipelines.summary import Delivery, RunSummary, summary_from_metrics
from pipelines.summary_files import summary_from_files
from transforms.analyse import AnalysePages
from transforms.analyser import AnalysisSettings
from transforms.common import DISCARDED, FAILURES, OK, PROGRESS, EachInput
from transforms.dedup import UPDATES, ClusterStories
from transforms.dedup_entries import DedupEntries
from transforms.enrich import EnrichArticles
from transforms.extract import ExtractArticles
from transforms.feeds import PollFeeds
from transforms.feeds_local import forget_polls
from transforms.fetch import FetchArticles
from transforms.pool_start import pool_runs_here, start_fork_server
from transforms.pubsub import PublishStories
from transforms.sinks import (
    DeliverDeadLetters,
    WriteDiscards,
    WriteStories,
    WriteSyndicationUpdates,
)
from transforms.state import SkipSeenEntries, commit_run_state, stop_signals_held
from transforms.tag import TagStories
from transforms.ticks import poll_ticks

log = logging.getLogger(__name__)

# PeriodicImpulse's "never stop": the largest timestamp Beam represents, in seconds.
MAX_TIMESTAMP = float(MAX_TS.micros) / 1e6


def feed_specs(pipeline: beam.Pipeline, config: RunConfig) -> beam.PCollection:
    """The feeds to poll: once (batch), or every poll interval (streaming)."""
    specs = list(config.feeds)
    if not config.streaming:
        return pipeline | "ReadFeedList" >> beam.Create(specs)
    stop = config.start_time + config.duration if config.duration else MAX_TIMESTAMP
    return (
        pipeline
        | "PollTicks"
        >> poll_ticks(
            config.start_time,
            stop,
            config.poll_interval,
            # FnApiRunner runs PeriodicImpulse's deferred rest again at once: a busy loop
            wait=isinstance(pipeline.runner, FnApiRunner),
        )
        | "FeedsPerTick" >> beam.FlatMap(lambda _tick: specs)
    )


def spread(pcoll: beam.PCollection, label: str, config: RunConfig) -> beam.PCollection:
    """Break fusion after a stateful step, in one-shot runs on the local runner.

    The local runner runs a fused stage containing a stateful step on one worker; a Reshuffle
    lets the next stages (fetching and extracting, or tagging) use every worker. With one
    local worker there is nothing to spread over (the Reshuffle would only encode every
    record once more); streaming runs skip it (the local runner would hold the data until the
    run ends); Dataflow shuffles by key between stateful steps anyway.
    """
    if config.streaming or not config.local_runner or config.local_workers < 2:
        return pcoll
    return pcoll | label >> beam.Reshuffle()


def analyse(pages: beam.PCollection, config: RunConfig) -> tuple[dict[str, Any], Any]:
    """Extract, enrich and tag: three stages, or one pool of processes for all three.

    Returns:
        The stages' outputs by name (for their failures and discards) and the last one.
    """
    if config.extract_processes > 1:
        settings = AnalysisSettings(
            config.min_text_chars, config.outlets_path, config.taxonomy_path, config.all_stories
        )
        analysed = pages | "AnalysePages" >> AnalysePages(settings, config.extract_processes)
        return {"Analyse": analysed}, analysed
    extracted = pages | "ExtractArticles" >> ExtractArticles(config.min_text_chars)
    enriched = extracted[OK] | "EnrichArticles" >> EnrichArticles(config.outlets_path)
    tagged = enriched[OK] | "TagStories" >> TagStories(config.taxonomy_path, config.all_stories)
    return {"Extract": extracted, "Enrich": enriched, "Tag": tagged}, tagged


def build(pipeline: beam.Pipeline, config: RunConfig) -> None:
    """Apply the whole graph to ``pipeline``."""
    polled = feed_specs(pipeline, config) | "PollFeeds" >> PollFeeds(
        config.http,
        config.feed_states,
        config.feed_text_min_chars,
        # Local runs: many feeds at once, one request per host (a site answering in 100-300
        # ms, 40 feeds, 2,000 articles: 21.4 -> 19.3 s, as each feed no longer waits for the
        # one before it; always-on, a poll no longer takes the sum of every feed's time);
        # Dataflow keeps per-feed keyed state.
        concurrent=config.local_runner,
        max_in_flight=config.max_in_flight,
        # An unchanged feed's entries are sighted again in DedupEntries well within its TTL.
        resight_seconds=config.dedup_ttl / 2,
        streaming=config.streaming,
    )
    gc = not config.local_runner  # see DedupEntries: local event-time timers fire at once
    deduped = polled[OK] | "DedupEntries" >> DedupEntries(config.dedup_ttl, gc_timers=gc)
    skip = SkipSeenEntries(frozenset(config.seen_before), report_seen_again=bool(config.state_dir))
    unseen = deduped[OK] | "SkipSeenEntries" >> skip
    fetched = spread(unseen[OK], "SpreadEntries", config) | "FetchArticles" >> FetchArticles(
        config.http,
        config.max_in_flight,
        # Runners with many worker processes (Dataflow) fetch each host in one place at a
        # time, so the per-host limits hold for the job; a local run is one process.
        by_host=not config.local_runner,
    )
    per_page, tagged = analyse(fetched[OK], config)
    clustered = spread(tagged[OK], "SpreadStories", config) | "ClusterStories" >> ClusterStories(
        config.dedup_ttl,
        config.duplicates,
        # One-shot runs order stories by wall-clock time, so that claims remembered from
        # earlier runs (prior_claims) come first; streaming runs use event time.
        clock=None if config.streaming else time.time,
        gc_timers=gc,
        prior_claims=config.prior_signatures,
        prior_outlets=config.prior_outlets,
        # Local one-shot runs: two keyed GroupByKeys instead of a state read per probe
        # (measured there; Dataflow's batch graph keeps its stateful steps and their names).
        grouped=config.local_runner and not config.streaming,
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
        **per_page,
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
        write_pending_state(config.state_dir, polled, unseen, clustered, config.duplicates)


def _one_local_worker(options: PipelineOptions) -> None:
    """PeriodicImpulse loses ticks with several local workers: the local runner gets one."""
    direct = options.view_as(DirectOptions)
    if options.view_as(StandardOptions).runner in (None, "DirectRunner", "FnApiRunner"):
        if (direct.direct_num_workers or 1) > 1:
            log.warning("streaming on the local runner uses one worker (PeriodicImpulse)")
        direct.direct_num_workers = 1


def _run_to_the_end(options: PipelineOptions, config: RunConfig) -> PipelineResult:
    """Launch the pipeline and wait for it; a failure to write its files is ``RunFailed``."""
    try:
        result = launch(options, config)
        result.wait_until_finish()
    except Exception as exc:
        prism = prism_unavailable(exc)
        if prism is not None:
            raise RunFailed(prism) from None
        failed = files_failed(exc)
        if failed is None:
            raise
        kept = (
            "; nothing was committed to the state directory: the next run handles this run's "
            "entries again"
            if config.state_dir
            else ""
        )
        raise RunFailed(f"the run could not write its files: {failed}{kept}") from None
    return result


def _summary(result: PipelineResult, config: RunConfig) -> RunSummary:
    try:
        summary = summary_from_metrics(result.metrics(), config.output_dir)
    except RecursionError:
        # Beam's local runner nests its metrics once per processing round; after a long
        # streaming run, reading them overflows the stack. The files hold every outcome.
        log.warning("the runner's metrics could not be read; summarising the output files")
        # the run ended by itself: the files hold every outcome, nothing was cut short
        summary = dataclasses.replace(summary_from_files(config.output_dir), stopped_early=False)
    summary.delivery = Delivery.of(config)
    return summary


def _commit(config: RunConfig) -> None:
    """Merge the run's pending state into its state directory (``commit_run_state``)."""
    assert config.state_dir is not None
    # A signal meanwhile waits until the state is saved (then the process ends saying so).
    with stop_signals_held():
        try:
            sync_outputs(config.output_dir)  # the stories on the disk before the state
            commit_run_state(
                config.state_dir,
                dict(config.seen_before),
                retryable_links(config.output_dir),
                config.dedup_ttl,
                listed=[spec.url for spec in config.feeds],
            )
            STATE_COMMITTED.set()
        except OSError as exc:  # its file named: a folder in a file's place was "free the space"
            fault = f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror or exc
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            raise RunFailed(
                f"the state directory {config.state_dir} could not be saved ({fault}): this "
                f"run's stories are in {config.output_dir}, but the next run handles its "
                f"entries again; {'free the space' if full else 'fix that'}, then run again"
            ) from None


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

    Raises:
        UsageError: an earlier run's files could not be removed from the output folder.
    """
    log.info("polling %d feeds, writing to %s", len(config.feeds), config.output_dir)
    clear_before_run(config)
    runner = options.view_as(StandardOptions).runner
    mode = options.view_as(DirectOptions).direct_running_mode
    if pool_runs_here(runner, mode, config.extract_processes):
        try:
            start_fork_server()  # if newsbeam run has not already started it
        except OSError as exc:
            hint = (  # its socket is made in the temporary folder
                f" (it makes its socket in the temporary folder {tempfile.gettempdir()}, and "
                "a socket's path has at most 107 bytes, 103 on macOS): set TMPDIR to a short "
                "folder this user can write"
                if "AF_UNIX" in str(exc)
                else ""
            )
            raise RunFailed(
                f"the pool of --extract-processes could not start: {exc.strerror or exc}{hint}"
            ) from None
    # Beam makes its local folder in Pipeline(): a signal before the folder is noted for
    # removal ended the run at once and left it behind, so the signal waits for the note.
    with stop_signals_held():
        pipeline = beam.Pipeline(options=options)
        remove_at_forced_exit(pipeline.local_tempdir)
    build(pipeline, config)
    return pipeline.run()


def run(argv: Sequence[str] | None = None) -> RunSummary | None:
    """Run the pipeline and return its summary (also written to summary.json); or, for an
    always-on job on a remote runner (Dataflow), start it, say how to follow and stop it,
    and return None: such a job never ends, and stopping this process would not stop it.

    Raises:
        UsageError: the flags or the feed list need fixing.
    """
    options, config = prepare(argv)
    raise_limit()  # of open files: macOS gives 256, fewer than a run over 400 hosts keeps
    try:
        return _run(options, config)
    finally:  # a program that goes on (tests, a scheduler) may use the folders again
        release_folders(config.output_dir, config.state_dir)


def _run(options: PipelineOptions, config: RunConfig) -> RunSummary | None:
    PROGRESS.start()  # this run's line counts this run's pages and entries
    if config.streaming and not config.local_runner:
        result = launch(options, config)
        job = getattr(result, "job_id", lambda: None)() or "(see the runner's console)"
        print(
            f"newsbeam: the always-on job {job} is running; it goes on until it is drained "
            "or cancelled (deploy/README.md: 'gcloud dataflow jobs drain JOB_ID --region "
            "REGION'); its outputs: "
            f"{config.output_dir}" + (f" and {config.topic}" if config.topic else "")
        )
        return None
    if config.streaming:
        PROGRESS.catch_up()  # an always-on run's line shows each poll's last burst too
    try:
        # A one-shot run's commit (it holds signals back) and summary.json included: a
        # signal after them ends the process saying so (``pipelines.stopping``); after the
        # block, Python's default handlers would end it without a word, or with a traceback.
        with stop_on_signal(config):
            result = _run_to_the_end(options, config)
            if not config.streaming:
                summary = _summary(result, config)
                if config.state_dir:
                    _commit(config)
                    # where the next run's memory is (a new --output starts a new one)
                    summary.outputs["state"] = [config.state_dir]
                write_summary(summary, config)
    finally:
        PROGRESS.stop_catching_up()  # no line after the run
        forget_polls()  # what the run's polls remembered of its feeds
    if config.streaming:
        summary = _summary(result, config)
        write_summary(summary, config)
    return summary
