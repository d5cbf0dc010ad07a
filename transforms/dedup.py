"""Deduplication stages: ``DedupEntries`` (same entry key) and ``ClusterStories`` (same story).

``DedupEntries`` consumes ``FeedEntry`` records right after polling and produces the first entry
of each ``FeedEntry.key`` (main output) and ``Discard(stage="dedup_entries", reason=
"duplicate_url")`` for later ones. It is a stateful DoFn keyed by the entry key: the state is the
time the key was last seen, kept for ``ttl_seconds`` after the last sighting (a feed that keeps
listing an entry for weeks keeps it suppressed), cleared by an event-time timer.

Time: every stateful step here reads "now" from ``clock()`` when a clock is injected, else from
the element's event timestamp. Expiry is decided by comparing that "now" with the stored time
(so it is exact under TestStream or a fake clock, whatever the runner does with timers); the
timers only garbage-collect state that nobody asks about any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import FloatCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms.common import DISCARDED, FAILURES, OK
from transforms.records import Discard, FeedEntry

Clock = Callable[[], float]
DEFAULT_TTL_SECONDS = 7 * 24 * 3600.0


def _now(clock: Clock | None, timestamp: Timestamp) -> float:
    return float(clock()) if clock is not None else float(timestamp)


def _gc_time(timestamp: Timestamp, ttl_seconds: float) -> Timestamp:
    """When the state of an element seen at ``timestamp`` may be dropped (capped for MIN/MAX)."""
    try:
        return min(timestamp + Duration(seconds=ttl_seconds), Timestamp.of(2**62 // 10**6 - 1))
    except OverflowError:
        return timestamp


# State and timer parameters as module-level singletons (Beam reads them from the defaults).
_LAST_SEEN = ReadModifyWriteStateSpec("last_seen", FloatCoder())
_ENTRY_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_LAST_SEEN_PARAM = beam.DoFn.StateParam(_LAST_SEEN)
_ENTRY_EXPIRY_PARAM = beam.DoFn.TimerParam(_ENTRY_EXPIRY)


class _DedupEntriesFn(beam.DoFn):
    def __init__(self, ttl_seconds: float, clock: Clock | None) -> None:
        self._ttl = ttl_seconds
        self._clock = clock

    def process(
        self,
        element: tuple[str, FeedEntry],
        timestamp: Any = beam.DoFn.TimestampParam,
        last_seen: Any = _LAST_SEEN_PARAM,
        expiry: Any = _ENTRY_EXPIRY_PARAM,
    ) -> Iterator[Any]:
        key, entry = element
        now = _now(self._clock, timestamp)
        previous = last_seen.read()
        last_seen.write(now)
        expiry.set(_gc_time(timestamp, self._ttl))
        if previous is not None and now - previous <= self._ttl:
            yield beam.pvalue.TaggedOutput(
                DISCARDED, Discard("dedup_entries", key, "duplicate_url", entry.feed_url)
            )
            return
        yield entry

    @on_timer(_ENTRY_EXPIRY)
    def _expire(self, last_seen: Any = _LAST_SEEN_PARAM) -> None:
        last_seen.clear()


class DedupEntries(beam.PTransform):
    """PCollection[FeedEntry] -> ok: FeedEntry (first per key), discarded: Discard, failures.

    Args:
        ttl_seconds: how long a key is remembered after it was last seen.
        clock: optional ``() -> seconds since the epoch``; default: the element's event time.
    """

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Clock | None = None):
        super().__init__()
        self._ttl = ttl_seconds
        self._clock = clock

    def expand(self, entries: beam.PCollection) -> Any:
        return (
            entries
            | "KeyByEntryKey"
            >> beam.Map(lambda e: (e.key, e)).with_output_types(tuple[str, FeedEntry])
            | "FirstPerKey"
            >> beam.ParDo(_DedupEntriesFn(self._ttl, self._clock)).with_outputs(
                FAILURES, DISCARDED, main=OK
            )
        )
