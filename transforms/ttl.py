"""Time for keyed state with a time-to-live: where "now" comes from, and when state may go.

A stateful step with a TTL reads "now" from an injected ``clock()`` when it has one, else
from the element's event timestamp: ``ClusterStories`` gets the wall clock in every one-shot
run (``pipelines.monitor.build``: claims remembered from earlier runs are ordered with this
run's); ``DedupEntries`` takes a clock only in tests (a one-shot run's entries are stamped
when polled); ``SyndicationUpdates`` takes none (event time only). Expiry is
decided by comparing that "now" with the stored time; event-time timers only garbage-collect
state that nobody asks about any more (and are left off on the local runner, where they fire
as soon as they are set).
"""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Duration, Timestamp

from transforms import statesize

Clock = Callable[[], float]
DEFAULT_TTL_SECONDS = 7 * 24 * 3600.0


def now_from(clock: Clock | None, timestamp: Timestamp) -> float:
    """Seconds since the epoch: the clock's time, else the element's event time."""
    return float(clock()) if clock is not None else float(timestamp)


def gc_time(timestamp: Timestamp, ttl_seconds: float) -> Timestamp:
    """When the state of an element seen at ``timestamp`` may be dropped (within the window)."""
    return min(timestamp + Duration(seconds=ttl_seconds), GlobalWindow().max_timestamp())


class TtlStateFn(beam.DoFn):
    """Base of newsbeam's stateful DoFns with a time-to-live.

    Args:
        ttl_seconds: how long state is kept after it was last written.
        gc_timers: whether event-time timers clear expired state (off on Beam's local
            runner, where such timers fire as soon as they are set).
    """

    def __init__(self, ttl_seconds: float, gc_timers: bool = True) -> None:
        self._ttl = ttl_seconds
        self._gc_timers = gc_timers

    def setup(self) -> None:
        statesize.install()
