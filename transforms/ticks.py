"""PollTicks: the always-on run's clock, one element per poll interval.

Applied to the pipeline; produces one element per tick, its time in seconds since the epoch
(also its event time), from ``start`` every ``interval`` until ``stop``, as Beam's
``PeriodicImpulse`` does, under the same step names (``ImpulseElement``, ``GenSequence``,
``MapToTimestamped``).

On runners that honour a splittable DoFn's resume time (Dataflow) it is ``PeriodicImpulse``
itself. Beam's local runner, FnApiRunner (Beam 2.77), does not: ``PeriodicImpulse`` defers the
rest of its sequence until the next tick, and the runner runs the deferred rest again at
once, in a loop of bundles that ends only with the sequence (``fn_runner.py``:
``_execute_bundle`` puts ``deferred_inputs`` straight back on ``ready_inputs``). Every round
also nests the bundle's metrics one generator deeper (``consolidate_monitoring_infos`` is
lazy), so memory grew without bound and reading the metrics at the end overflowed the stack.
A 3-minute run polling every 10 s ran 3,770 bundles in its first 150 s (25 a second), and its
resident memory went from 156 to 1,487 MB. On FnApiRunner, the sequence therefore waits for
its next tick before asking to be resumed: two bundles per tick (the tick's, and one at once
after it for the timers it set), whatever the interval: 316 MB after 150 s, idle CPU 0.00
core. (Each bundle's metrics, ~0.35 MB, are still kept until the run ends: see README,
"Always-on".) Nothing else runs while it waits, as before: the runner turns to the other
stages only when no bundle is ready, which the sequence's deferred rest always is (that is why
a ``Flatten`` holds its output until the run ends).

The plain-Python core is ``seconds_to_tick``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.transforms.periodicsequence import (
    ImpulseSeqGenDoFn,
    ImpulseSeqGenRestrictionProvider,
    PeriodicImpulse,
)
from apache_beam.utils.timestamp import Timestamp

# The restriction and watermark parameters of PeriodicImpulse's DoFn, as module-level
# singletons (Beam reads them from the defaults).
_TICKS_PARAM = beam.DoFn.RestrictionParam(ImpulseSeqGenRestrictionProvider())
_WATERMARK_PARAM = beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider())

log = logging.getLogger(__name__)
WARNING_INTERVAL = 60.0  # seconds between two warnings of skipped polls
CATCH_UP = 4  # the most overdue ticks emitted at once; beyond, only the latest (see process)


def seconds_to_tick(start: float, interval: float, index: int, now: float) -> float:
    """Seconds from ``now`` until tick ``index`` of a sequence from ``start`` every
    ``interval`` seconds is due (0 if it is due already)."""
    return max(0.0, start + interval * index - now)


class _WaitForTickFn(ImpulseSeqGenDoFn):
    """``PeriodicImpulse``'s DoFn, waiting (sleeping) until the first tick of its restriction
    is due, so that the local runner's next bundle comes a tick later, not at once.

    Except right after a bundle that emitted ticks: the event-time timers that bundle's
    elements set (ClusterStories' verdicts) fire in the stage's next bundle, which must come
    at once, not a poll later. Of the ticks due when it runs it emits all in its first
    bundle and up to ``CATCH_UP`` later, else the latest only (its parent emitted them all):
    polls that overran the interval by more skip the polls they overran, with a warning (at
    most one a minute). It reads ``time.time()``, as its parent does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._just_ticked = False
        self._started = False  # whether a bundle has run
        self._skipped = 0  # polls skipped since the run began
        self._reported = 0  # of them, those a warning has counted
        self._next_warning = 0.0  # time.monotonic() before which no warning is repeated

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[Any, Any, float],
        restriction_tracker: Any = _TICKS_PARAM,
        watermark_estimator: Any = _WATERMARK_PARAM,
    ) -> Iterator[Any]:
        start, _stop, interval = element
        restriction = restriction_tracker.current_restriction()
        start_seconds = Timestamp.of(start).micros / 1e6
        # A tick is left, and the last bundle's timers have fired: wait until it is due.
        if restriction.start < restriction.stop and not self._just_ticked:
            wait = seconds_to_tick(start_seconds, interval, restriction.start, time.time())
            if wait > 0:
                time.sleep(wait)
        self._just_ticked = False
        # Every tick due is claimed. All are emitted, each a poll, at the run's start (the
        # ticks due while Beam started) and when no more than CATCH_UP are due (a slow poll
        # now and then); more, and only the latest is: polls that overran the interval skip
        # the ticks they overran. Emitted, each overdue tick had kept the event-time clock
        # behind the wall clock by its whole backlog, so the timers that decide the stories'
        # verdicts waited for polls that never caught up (nothing was published while
        # behind).
        due: list[int] = []
        index: int | None = restriction.start
        while index is not None and start_seconds + interval * index <= time.time():
            if restriction_tracker.try_claim(index):
                due.append(index)
                index += 1
            else:
                index = None  # the sequence has ended
        skipped = len(due) - 1 if len(due) > CATCH_UP and self._started else 0
        self._started = True
        for claimed in due[skipped:]:
            tick = self._get_output(claimed, start_seconds + interval * claimed)
            self._advance_watermark(watermark_estimator, Timestamp.of(tick.timestamp))
            self._just_ticked = True
            yield tick
        self._warn_of(skipped, interval)
        if index is not None:  # wait for the next tick (the runner resumes at once)
            next_tick = Timestamp.of(start_seconds + interval * index)
            self._advance_watermark(watermark_estimator, next_tick)
            restriction_tracker.defer_remainder(next_tick)

    def _warn_of(self, skipped: int, interval: float) -> None:
        """Say that polls were skipped: at the first, then at most once a minute while more
        are (never again once they no longer are)."""
        self._skipped += skipped
        if self._skipped == self._reported or time.monotonic() < self._next_warning:
            return
        self._reported = self._skipped
        log.warning(
            "polls take longer than the poll interval (%gs): %d poll(s) skipped so far; a "
            "longer --poll-interval polls as often as the feeds allow", interval, self._skipped
        )  # fmt: skip
        self._next_warning = time.monotonic() + WARNING_INTERVAL

    @staticmethod
    def _advance_watermark(estimator: Any, to: Timestamp) -> None:
        current = estimator.current_watermark()
        if current is None or to > current:  # a watermark never goes back
            estimator.set_watermark(to)


class _LocalPeriodicImpulse(PeriodicImpulse):
    """``PeriodicImpulse`` with ``_WaitForTickFn`` (same step names)."""

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "ImpulseElement" >> beam.Create([(self.start_ts, self.stop_ts, self.interval)])
            | "GenSequence" >> beam.ParDo(_WaitForTickFn())
            | "MapToTimestamped" >> beam.Map(lambda tick: tick)
        )


def poll_ticks(start: float, stop: float, interval: float, wait: bool) -> PeriodicImpulse:
    """The tick source: ``PeriodicImpulse``, or the one that waits for its ticks.

    Args:
        start, stop: the first tick and the end of the sequence (exclusive), in seconds since
            the epoch.
        interval: seconds between two ticks.
        wait: wait for each tick in the DoFn (for Beam's FnApiRunner, see above).
    """
    kind = _LocalPeriodicImpulse if wait else PeriodicImpulse
    return kind(start_timestamp=start, stop_timestamp=stop, fire_interval=interval)
