"""Conventions shared by every pipeline stage: output tags and outcome counters.

Every stage is a composite ``PTransform`` whose ``expand()`` returns its outputs by tag (a
Beam ``DoOutputsTuple``, or a dict for a stage that joins several steps' outputs, as
``ClusterStories`` does) with at least these three (a stage may add its own, e.g.
PollFeeds' feed state or ClusterStories' signatures and syndication sightings, and may leave
one of them always empty):

* ``OK`` (the main output): the records that go on to the next stage;
* ``FAILURES``: ``transforms.records.Failure`` dead letters;
* ``DISCARDED``: ``transforms.records.Discard`` records, entries dropped on purpose.

Stages do not count outcomes themselves: the sinks count each outcome exactly
once (``published``, ``discarded:<reason>``, ``failed:<stage>/<error_type>``), so
the run summary can prove ``entries == published + discarded + failed``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TextIO

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from transforms.records import Discard, Failure

OK = "ok"
FAILURES = "failures"
DISCARDED = "discarded"

# Namespace of every newsbeam counter in Beam's metrics.
METRICS_NAMESPACE = "newsbeam"

ENTRIES = "entries"
PUBLISHED = "published"
PUBLISHED_LINKS = "published_links"
SYNDICATION_UPDATES = "syndication_updates"
DISCARDED_PREFIX = "discarded:"
FAILED_PREFIX = "failed:"
FEED_FAILED_PREFIX = "feed_failed:"
FEEDS_POLLED = "feeds_polled"
FEEDS_NOT_MODIFIED = "feeds_not_modified"
# Entries whose page was made from the feed's own full text, not fetched (--feed-text-min-chars).
PAGES_FROM_FEED = "pages_from_feed"
# String sets (``note``): the feeds that moved for good, each a JSON ``[feed, to, status]``
# (``transforms.feed_polls.moved_note``), and the feeds that answered 410 Gone, each a URL.
FEEDS_MOVED = "feeds_moved"
FEEDS_GONE = "feeds_gone"
# Polls of an always-on run not made: the feed answered 410 Gone less than a day before
# (``transforms.feed_polls.GONE_PAUSE``).
FEEDS_NOT_POLLED_GONE = "feeds_not_polled_gone"

# What the progress line counts besides PUBLISHED and DISCARDED.
FAILED = "failed"
FETCHED = "fetched"

# The facets counted for the summary's top tags (rule tags are in each story's ``rules``).
TAG_FACETS = frozenset({"platform", "state_actor", "controversy"})
# The summary's outlet split: one ``outlet_country:<CC or unknown>`` and one
# ``outlet_state:<code or none>`` per published entry (a story or a duplicate link).
OUTLET_COUNTRY_PREFIX = "outlet_country:"
OUTLET_STATE_PREFIX = "outlet_state:"


def published_counters(
    is_link: bool,
    tags: Iterable[tuple[str, str]],
    country: str | None,
    state_affiliation: str | None,
    state_known: bool = True,
) -> list[str]:
    """The counter names one published entry increments, once each: the running pipeline
    (``sinks.count_published``) and a stopped run's summary read from its files
    (``pipelines.summary``) both name them here.

    Args:
        is_link: a ``--duplicates link`` record (``published_links``; it has no tags).
        tags: the story's ``(facet, value)`` pairs; those of ``TAG_FACETS`` are counted.
        country, state_affiliation: its outlet's, for the outlet split.
        state_known: whether anyone knows if its outlet is state media
            (``Outlet.state_media`` is not None): an outlet without an affiliation counts
            as ``none`` if so, as ``unknown`` if not.
    """
    names = [PUBLISHED, PUBLISHED_LINKS] if is_link else [PUBLISHED]
    names += [f"tag:{facet}:{value}" for facet, value in tags if facet in TAG_FACETS]
    names.append(f"{OUTLET_COUNTRY_PREFIX}{country or 'unknown'}")
    affiliation = state_affiliation or ("none" if state_known else "unknown")
    names.append(f"{OUTLET_STATE_PREFIX}{affiliation}")
    return names


def counter(name: str) -> Any:
    """A Beam counter in newsbeam's namespace."""
    return beam.metrics.Metrics.counter(METRICS_NAMESPACE, name)


def note(name: str) -> Any:
    """A Beam string set in newsbeam's namespace: what the summary names, not counts (each
    string once; Beam keeps up to 1 MB of them and logs a warning past that)."""
    return beam.metrics.Metrics.string_set(METRICS_NAMESPACE, name)


def tagged_output(outcome: Any) -> Any:
    """A stage's outcome on its output: a Failure to FAILURES, a Discard to DISCARDED."""
    if isinstance(outcome, Failure):
        return beam.pvalue.TaggedOutput(FAILURES, outcome)
    if isinstance(outcome, Discard):
        return beam.pvalue.TaggedOutput(DISCARDED, outcome)
    return outcome


def windowed(output: Any, timestamp: Any, window: Any) -> Any:
    """``output`` (a value or a ``TaggedOutput``) as a ``WindowedValue`` in ``window``.

    For DoFns that emit an element's results later (from another element's ``process`` or
    from ``finish_bundle``), which must carry the element's timestamp and window themselves.
    """
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(
            output.tag, WindowedValue(output.value, timestamp, (window,))
        )
    return WindowedValue(output, timestamp, (window,))


def with_stage_outputs(pcoll: beam.PCollection, fn: beam.DoFn, label: str) -> Any:
    """Apply ``fn`` as a ParDo with newsbeam's three outputs (ok, failures, discarded)."""
    return pcoll | label >> beam.ParDo(fn).with_outputs(FAILURES, DISCARDED, main=OK)


class EachInput(beam.PTransform):
    """Apply a sink to several PCollections: flattened in batch, one by one in streaming.

    Beam's local runner holds a Flatten's output until a streaming run ends, so a streaming
    graph applies ``make()`` to each input under its own name (``<label>/<name>``); a batch
    graph flattens them into one (``<label>/Collect``, ``<label>/All``) for one set of files.

    Args:
        make: builds the sink transform, once per application.
        streaming: whether the graph is a streaming one.
    """

    def __init__(self, make: Callable[[], beam.PTransform], streaming: bool) -> None:
        super().__init__()
        self._make = make
        self._streaming = streaming

    def expand(self, inputs: dict[str, beam.PCollection]) -> None:
        if self._streaming:
            for name, pcoll in inputs.items():
                pcoll | name >> self._make()
        else:
            tuple(inputs.values()) | "Collect" >> beam.Flatten() | "All" >> self._make()


class Progress:
    """A progress line on stderr during long runs, at most every ``interval`` seconds.

    Counts what this process has seen (one process on the default local runner): feed polls
    answered (``FEEDS_POLLED``: an answer or a failure, each poll of an always-on run), pages
    fetched (``FETCHED``: each page asked for, whatever came of it, and each made from a
    feed's full text) and entries done by outcome (``PUBLISHED``, ``DISCARDED``, ``FAILED``).
    A one-shot run settles its outcomes only at the end, after the whole batch is clustered,
    so while it runs its line shows the feeds polled and the pages fetched; an always-on
    run's line shows all three. Between ``catch_up()`` and ``stop_catching_up()`` (an
    always-on run), what is counted too soon after a line is written by a timer once the
    interval is up: the last burst of a poll was never shown, and the line stayed at the
    first poll's counts while the run went on.

    Args:
        interval: seconds between two lines (the first comes ``interval`` after creation, or
            after ``start``).
        clock: monotonic seconds (for tests).
        stream: where lines go (default: stderr at the time of writing).
    """

    def __init__(
        self,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._stream = stream
        self._schedule: Callable[[float, Callable[[], None]], None] | None = None
        self._generation = 0  # a catch-up scheduled under another generation is void
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._last = clock()
        self._catching_up = False  # a line is scheduled for what came since the last
        self._shown: tuple[int, ...] = ()

    def start(self) -> None:
        """Count a new run from nothing: in a program that runs more than once (the tests, a
        scheduler calling ``pipelines.monitor.run``), each run's line added up every run
        before it, and its first came at once, not ``interval`` into the run."""
        with self._lock:
            self._counts.clear()
            self._shown = ()
            self._last = self._clock()

    def record(self, what: str) -> None:
        """Count one ``what``; write the line if ``interval`` has passed since the last,
        else make sure a line with it comes when the interval is up."""
        with self._lock:
            self._counts[what] += 1
            wait = self._interval - (self._clock() - self._last)
            if wait > 0:
                if self._schedule is not None and not self._catching_up:
                    self._catching_up = True
                    self._schedule(wait, partial(self._catch_up, self._generation))
                return
            line = self._take_line()
        print(line, file=self._stream or sys.stderr, flush=True)

    def catch_up(self, schedule: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        """From now on, write what was counted too soon after a line once the interval is up.

        Args:
            schedule: ``schedule(delay, fn)`` calls ``fn`` after ``delay`` seconds (default:
                a daemon ``threading.Timer``; tests call ``fn`` themselves).
        """
        with self._lock:
            self._schedule = schedule or _call_later

    def stop_catching_up(self) -> None:
        """No more catching up; a line already scheduled is not written."""
        with self._lock:
            self._schedule = None
            self._generation += 1
            self._catching_up = False

    def _catch_up(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._catching_up = False
            line = self._take_line()
        if line:
            print(line, file=self._stream or sys.stderr, flush=True)

    def _take_line(self) -> str:
        """The line to write now (called holding the lock), or "" if it was written already."""
        self._last = self._clock()
        shown = tuple(
            self._counts[w] for w in (FEEDS_POLLED, FETCHED, PUBLISHED, DISCARDED, FAILED)
        )
        if shown == self._shown:
            return ""
        self._shown = shown
        return self.line()

    def count(self, what: str) -> int:
        """How many ``what`` were recorded so far."""
        with self._lock:
            return self._counts[what]

    def line(self) -> str:
        """The progress line for the counts so far."""
        counts = self._counts
        done = counts[PUBLISHED] + counts[DISCARDED] + counts[FAILED]
        return (
            f"newsbeam: {counts[FEEDS_POLLED]} feeds polled, {counts[FETCHED]} pages fetched; "
            f"{done} entries done: "
            f"{counts[PUBLISHED]} published, {counts[DISCARDED]} discarded, "
            f"{counts[FAILED]} failed"
        )


def _call_later(delay: float, fn: Callable[[], None]) -> None:
    timer = threading.Timer(delay, fn)
    timer.daemon = True  # never holds the process up at its end
    timer.start()


# The process's progress line, shared by the stages that count into it (fetch, the sinks).
PROGRESS = Progress()
