"""The progress line: what it counts and how often it is written."""

from __future__ import annotations

import io

from transforms.common import DISCARDED, FAILED, FETCHED, PUBLISHED, Progress


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
        "newsbeam: 5 pages fetched; 0 entries done: 0 published, 0 discarded, 0 failed",
        "newsbeam: 5 pages fetched; 2 entries done: 1 published, 1 discarded, 0 failed",
    ]


def test_entries_done_adds_up_the_three_outcomes() -> None:
    progress = Progress(stream=io.StringIO())
    for what in (PUBLISHED, PUBLISHED, DISCARDED, FAILED, FETCHED):
        progress.record(what)
    assert progress.line() == (
        "newsbeam: 1 pages fetched; 4 entries done: 2 published, 1 discarded, 1 failed"
    )
