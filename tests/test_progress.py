"""Counting outcomes: the progress line (what it counts, how often it is written) and the
counters of a published entry."""

from __future__ import annotations

import io
from collections.abc import Callable

from transforms.common import (
    DISCARDED,
    FAILED,
    FEEDS_POLLED,
    FETCHED,
    PUBLISHED,
    Progress,
    published_counters,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_line_before_the_interval_then_one_per_interval() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(interval=10.0, clock=clock, stream=out)
    for _ in range(3):
        progress.record(FETCHED)
    clock.now += 9.9
    progress.record(FETCHED)
    assert out.getvalue() == ""
    clock.now += 0.1
    progress.record(FETCHED)  # 10 s after creation: the first line
    clock.now += 5.0
    progress.record(PUBLISHED)  # 5 s after the first line: none
    clock.now += 5.0
    progress.record(DISCARDED)  # 10 s after it: the second line
    assert out.getvalue().splitlines() == [
        "newsbeam: 0 feeds polled, 5 pages fetched; "
        "0 entries done: 0 published, 0 discarded, 0 failed",
        "newsbeam: 0 feeds polled, 5 pages fetched; "
        "2 entries done: 1 published, 1 discarded, 0 failed",
    ]


def test_an_always_on_runs_line_catches_up_with_what_came_too_soon_after_the_last() -> None:
    # The last burst of a poll was never written: an always-on run's line stayed at
    # "66 pages fetched; 0 entries done" while 75 stories were published after it.
    clock, out = Clock(), io.StringIO()
    scheduled: list[tuple[float, Callable[[], None]]] = []
    progress = Progress(interval=10.0, clock=clock, stream=out)
    progress.record(FETCHED)  # before catch_up: nothing is scheduled
    assert scheduled == []
    progress.catch_up(lambda delay, fn: scheduled.append((delay, fn)))
    clock.now += 4.0
    progress.record(PUBLISHED)
    progress.record(PUBLISHED)  # one catch-up at a time
    assert [delay for delay, _ in scheduled] == [6.0] and out.getvalue() == ""
    clock.now += 6.0
    scheduled.pop()[1]()  # the timer fires: the line with both stories
    assert out.getvalue().splitlines() == [
        "newsbeam: 0 feeds polled, 1 pages fetched; "
        "2 entries done: 2 published, 0 discarded, 0 failed"
    ]
    clock.now += 1.0
    progress.record(DISCARDED)
    ((delay, fire),) = scheduled
    assert delay == 9.0
    progress.stop_catching_up()  # the run ended: a line already scheduled is not written
    clock.now += 9.0
    fire()
    assert len(out.getvalue().splitlines()) == 1


def test_the_default_interval_is_ten_seconds() -> None:
    # The process's line (PROGRESS) uses the default; the README says every 10 seconds.
    clock, out = Clock(), io.StringIO()
    progress = Progress(clock=clock, stream=out)
    clock.now += 9.9
    progress.record(FETCHED)
    assert out.getvalue() == ""
    clock.now += 0.1
    progress.record(FETCHED)
    assert out.getvalue().splitlines() == [
        "newsbeam: 0 feeds polled, 2 pages fetched; "
        "0 entries done: 0 published, 0 discarded, 0 failed"
    ]


def test_a_new_run_counts_from_nothing_and_its_first_line_comes_an_interval_in() -> None:
    # A program that ran twice printed the second run's line with the first run's counts
    # added, at once.
    clock, out = Clock(), io.StringIO()
    progress = Progress(interval=10.0, clock=clock, stream=out)
    for what in (FETCHED, FETCHED, PUBLISHED):
        progress.record(what)
    clock.now += 60.0
    progress.start()
    clock.now += 9.9
    progress.record(FETCHED)
    assert out.getvalue() == ""
    clock.now += 0.1
    progress.record(DISCARDED)
    assert out.getvalue().splitlines() == [
        "newsbeam: 0 feeds polled, 1 pages fetched; "
        "1 entries done: 0 published, 1 discarded, 0 failed"
    ]


def test_entries_done_adds_up_the_three_outcomes() -> None:
    progress = Progress(stream=io.StringIO())
    for what in (PUBLISHED, PUBLISHED, DISCARDED, FAILED, FETCHED):
        progress.record(what)
    assert progress.line() == (
        "newsbeam: 0 feeds polled, 1 pages fetched; "
        "4 entries done: 2 published, 1 discarded, 1 failed"
    )


def test_a_run_that_only_polls_feeds_shows_them() -> None:
    # 300 unchanged feeds on one host, answering in 0.2 s each, one at a time: 74 s, and
    # the run's stderr held no line at all (nothing is fetched, no entry settles).
    clock, out = Clock(), io.StringIO()
    progress = Progress(interval=10.0, clock=clock, stream=out)
    for _ in range(50):
        progress.record(FEEDS_POLLED)
    clock.now += 10.0
    progress.record(FEEDS_POLLED)
    assert out.getvalue().splitlines() == [
        "newsbeam: 51 feeds polled, 0 pages fetched; "
        "0 entries done: 0 published, 0 discarded, 0 failed"
    ]


def test_count_is_of_what_is_asked_for() -> None:
    # fetch reads its count of FETCHED; each outcome has a count of its own.
    progress = Progress(stream=io.StringIO())
    for what in (PUBLISHED, PUBLISHED, FAILED, FETCHED):
        progress.record(what)
    assert [progress.count(w) for w in (FETCHED, PUBLISHED, DISCARDED, FAILED)] == [1, 2, 0, 1]


def test_a_published_story_counts_itself_its_facets_tags_and_its_outlet_once_each() -> None:
    # Rule tags are not counted (they are in each story's rules); a story is not a link.
    tags = [
        ("platform", "tiktok"),
        ("state_actor", "china"),
        ("controversy", "election_interference"),
        ("rule", "tiktok_ban"),
    ]
    names = published_counters(False, tags, "GB", None)
    assert sorted(names) == [
        "outlet_country:GB",
        "outlet_state:none",
        "published",
        "tag:controversy:election_interference",
        "tag:platform:tiktok",
        "tag:state_actor:china",
    ]


def test_a_duplicate_link_counts_published_and_published_links_and_its_outlet() -> None:
    names = published_counters(True, [], "CN", "CaPr")
    assert sorted(names) == [
        "outlet_country:CN",
        "outlet_state:CaPr",
        "published",
        "published_links",
    ]


def test_an_outlet_no_one_knows_is_of_unknown_affiliation_not_none() -> None:
    """Only a catalogued outlet without an affiliation is "none" (not state media)."""
    assert "outlet_state:unknown" in published_counters(False, [], None, None, False)
    assert "outlet_state:none" in published_counters(False, [], "GB", None, True)
    assert "outlet_state:SC" in published_counters(False, [], "CN", "SC", True)
