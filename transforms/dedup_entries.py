"""DedupEntries: the first feed entry of each key goes on, later ones are discarded.

Consumes ``FeedEntry`` records right after polling and produces the first entry of each
``FeedEntry.key`` (main output) and ``Discard(stage="dedup_entries", reason="duplicate_url")``
for later ones. It is a stateful DoFn keyed by the entry key: the state is the time the key was
last seen, kept for ``ttl_seconds`` after the last sighting (a feed that keeps listing an entry
for weeks keeps it suppressed), cleared by an event-time timer (see ``transforms.ttl``).
``EntryResighted`` records among the entries (an unchanged feed still lists the key, see
``transforms.feed_polls.relisted``) are sightings too: they refresh that time and produce
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import FloatCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer

from transforms.common import DISCARDED, FAILURES, OK
from transforms.records import Discard, EntryResighted, FeedEntry
from transforms.ttl import DEFAULT_TTL_SECONDS, Clock, TtlStateFn, gc_time, now_from

# State and timer parameters as module-level singletons (Beam reads them from the defaults).
_LAST_SEEN = ReadModifyWriteStateSpec("last_seen", FloatCoder())
_ENTRY_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_LAST_SEEN_PARAM = beam.DoFn.StateParam(_LAST_SEEN)
_ENTRY_EXPIRY_PARAM = beam.DoFn.TimerParam(_ENTRY_EXPIRY)


class _DedupEntriesFn(TtlStateFn):
    def __init__(self, ttl_seconds: float, clock: Clock | None, gc_timers: bool) -> None:
        super().__init__(ttl_seconds, gc_timers)
        self._clock = clock

    def process(
        self,
        element: tuple[str, FeedEntry | EntryResighted],
        timestamp: Any = beam.DoFn.TimestampParam,
        last_seen: Any = _LAST_SEEN_PARAM,
        expiry: Any = _ENTRY_EXPIRY_PARAM,
    ) -> Iterator[Any]:
        key, entry = element
        now = now_from(self._clock, timestamp)
        previous = last_seen.read()
        last_seen.write(now)
        if self._gc_timers:
            expiry.set(gc_time(timestamp, self._ttl))
        if isinstance(entry, EntryResighted):
            return
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
    """PCollection[FeedEntry | EntryResighted] -> ok: FeedEntry (first per key), discarded:
    Discard, failures. An ``EntryResighted`` only refreshes its key's last sighting.

    Args:
        ttl_seconds: how long a key is remembered after it was last seen.
        clock: optional ``() -> seconds since the epoch``; default: the element's event time.
        gc_timers: clear expired state with event-time timers. Pass False on Beam's local
            runner, where event-time timers fire as soon as they are set (the watermark
            jumps ahead): the TTL is still enforced when a key is seen again, but state is
            then kept for the whole run.
    """

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Clock | None = None,
        gc_timers: bool = True,
    ):
        super().__init__()
        self._ttl = ttl_seconds
        self._clock = clock
        self._gc_timers = gc_timers

    def expand(self, entries: beam.PCollection) -> Any:
        return (
            entries
            | "KeyByEntryKey"
            >> beam.Map(lambda e: (e.key, e)).with_output_types(
                tuple[str, FeedEntry | EntryResighted]
            )
            | "FirstPerKey"
            >> beam.ParDo(_DedupEntriesFn(self._ttl, self._clock, self._gc_timers)).with_outputs(
                FAILURES, DISCARDED, main=OK
            )
        )
