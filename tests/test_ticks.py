"""The always-on run's clock on the local runner (transforms.ticks): which ticks a bundle
emits, with Beam's own restriction tracker and watermark estimator."""

from __future__ import annotations

import logging
import time

import pytest
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker
from apache_beam.transforms.periodicsequence import ImpulseSeqGenRestrictionProvider
from apache_beam.utils.timestamp import Timestamp

from transforms.ticks import _WaitForTickFn, seconds_to_tick


def run_bundle(
    fn: _WaitForTickFn, start: float, interval: float, first: int, ticks: int
) -> tuple[list[float], ThreadsafeRestrictionTracker, ManualWatermarkEstimator]:
    """One bundle of the DoFn over ticks [first, ticks) of a sequence from ``start``."""
    tracker = ThreadsafeRestrictionTracker(OffsetRestrictionTracker(OffsetRange(first, ticks)))
    estimator = ManualWatermarkEstimator(None)
    element = (Timestamp.of(start), Timestamp.of(start + interval * ticks), interval)
    view = RestrictionTrackerView(tracker)
    emitted = [tick.value for tick in fn.process(element, view, estimator)]
    return emitted, tracker, estimator


def started() -> _WaitForTickFn:
    """The DoFn after its first bundle (which emits every tick due: the run's start-up)."""
    fn = _WaitForTickFn()
    start = round(time.time()) - 1.0
    emitted, _, _ = run_bundle(fn, start, 60.0, 0, 1)  # one tick, due
    assert emitted == [start]
    return fn


def test_polls_far_behind_skip_to_the_latest_tick_due(caplog: pytest.LogCaptureFixture) -> None:
    # Polls that took longer than the interval: ten ticks are overdue. Each bundle emitted
    # the next overdue one, the event-time clock stayed behind by the whole backlog, and no
    # story's verdict came (nothing was published) while the polls lagged.
    interval, start = 60.0, round(time.time()) - 60.0 * 9.5  # ticks 0..9 due, tick 10 in 30 s
    fn = started()
    with caplog.at_level(logging.WARNING, logger="transforms.ticks"):
        emitted, tracker, estimator = run_bundle(fn, start, interval, 0, 100)
    assert emitted == [start + interval * 9]
    deferred = tracker.deferred_status()  # the ticks from 10 on, resumed when tick 10 is due
    assert deferred is not None and deferred[0] == OffsetRange(10, 100)
    assert estimator.current_watermark() == Timestamp.of(start + interval * 10)
    assert "9 poll(s) skipped" in caplog.text
    # the bundle after it emits nothing: tick 10 is not due, and it does not wait for it
    caplog.clear()
    fn._next_warning = 0.0  # a minute later: no warning still, as no poll was skipped since
    with caplog.at_level(logging.WARNING, logger="transforms.ticks"):
        emitted, _, _ = run_bundle(fn, start, interval, 10, 100)
    assert emitted == []
    assert caplog.text == ""


def test_a_few_ticks_behind_or_at_the_start_every_tick_is_a_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    interval, start = 60.0, round(time.time()) - 60.0 * 3.5  # ticks 0..3 due
    with caplog.at_level(logging.WARNING, logger="transforms.ticks"):
        emitted, _, _ = run_bundle(started(), start, interval, 0, 100)
        assert emitted == [start + interval * i for i in range(4)]  # CATCH_UP of them
        start -= 60.0 * 6  # ticks 0..9 due, in the run's first bundle: Beam's start-up
        emitted, _, _ = run_bundle(_WaitForTickFn(), start, interval, 0, 100)
        assert emitted == [start + interval * i for i in range(10)]
    assert caplog.text == ""


def test_a_tick_on_time_is_emitted_alone_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    interval, start = 60.0, round(time.time()) - 1.0  # tick 0 due a second ago
    with caplog.at_level(logging.WARNING, logger="transforms.ticks"):
        emitted, _, _ = run_bundle(_WaitForTickFn(), start, interval, 0, 5)
    assert emitted == [start]
    assert caplog.text == ""


def test_the_last_tick_ends_the_sequence() -> None:
    interval, start = 1.0, round(time.time()) - 10.0  # all five ticks overdue
    emitted, tracker, _ = run_bundle(started(), start, interval, 0, 5)
    assert emitted == [start + 4]
    tracker.check_done()  # every tick claimed
    assert tracker.deferred_status() is None


def test_seconds_to_tick() -> None:
    assert seconds_to_tick(100.0, 10.0, 3, 120.0) == 10.0
    assert seconds_to_tick(100.0, 10.0, 1, 120.0) == 0.0


@pytest.mark.parametrize(
    ("duration", "interval", "polls"), [(3600.0, 300.0, 12), (15.0, 5.0, 3), (20.0, 8.0, 3)]
)
def test_a_duration_polls_at_every_tick_due_before_it_ends(
    duration: float, interval: float, polls: int
) -> None:
    # --help and README say: with --poll-interval 5m --duration 1h, 12 polls, the last at
    # 55 min (the run ended ~5 s early with 5s / 15s, where "stop after this long" was said).
    start = round(time.time()) + 3600.0  # not due yet: the restriction alone is read
    element = (Timestamp.of(start), Timestamp.of(start + duration), interval)
    restriction = ImpulseSeqGenRestrictionProvider().initial_restriction(element)
    assert (restriction.start, restriction.stop) == (0, polls)
    assert start + interval * (polls - 1) < start + duration <= start + interval * polls
