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


def seconds_to_tick(start: float, interval: float, index: int, now: float) -> float:
    """Seconds from ``now`` until tick ``index`` of a sequence from ``start`` every
    ``interval`` seconds is due (0 if it is due already)."""
    return max(0.0, start + interval * index - now)


class _WaitForTickFn(ImpulseSeqGenDoFn):
    """``PeriodicImpulse``'s DoFn, waiting (sleeping) until the first tick of its restriction
    is due, so that the local runner's next bundle comes a tick later, not at once.

    Except right after a bundle that emitted ticks: the event-time timers that bundle's
    elements set (ClusterStories' verdicts) fire in the stage's next bundle, which must come
    at once, not a poll later. (Its parent reads ``time.time()`` itself, so the wait does too.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._just_ticked = False

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[Any, Any, float],
        restriction_tracker: Any = _TICKS_PARAM,
        watermark_estimator: Any = _WATERMARK_PARAM,
    ) -> Iterator[Any]:
        start, _stop, interval = element
        restriction = restriction_tracker.current_restriction()
        # A tick is left, and the last bundle's timers have fired: wait until it is due.
        if restriction.start < restriction.stop and not self._just_ticked:
            start_seconds = Timestamp.of(start).micros / 1e6
            wait = seconds_to_tick(start_seconds, interval, restriction.start, time.time())
            if wait > 0:
                time.sleep(wait)
        self._just_ticked = False
        for tick in super().process(element, restriction_tracker, watermark_estimator):
            self._just_ticked = True
            yield tick


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
