"""The throughput benchmark's report: the ratio to the ceiling over repeated rounds."""

from __future__ import annotations

import pytest

from benchmarks.throughput_report import FLOOR, FLOOR_ANALYSE, Round, Row, render, spread


def _row(tool: str, delay: bool, rate: float) -> Row:
    n = int(rate * 10)
    return Row(tool, delay, articles=n, attempted=n, seconds=10.0, peak_mb=500.0)


def _round(ceiling: float, at_once: float | None, slow: float | None) -> Round:
    return Round(
        _row("ceiling: bare_extraction as newsbeam calls it, 2 processes", False, ceiling),
        None if at_once is None else _row("newsbeam", False, at_once),
        None if slow is None else _row("newsbeam", True, slow),
    )


def test_each_round_is_measured_against_its_own_ceiling() -> None:
    rounds = [_round(200, 120, 100), _round(250, 120, 150), _round(100, 90, None)]
    at_once = spread(rounds, delay=False)
    assert at_once is not None
    assert (at_once.median, at_once.low, at_once.high, at_once.rounds) == (0.6, 0.48, 0.9, 3)
    slow = spread(rounds, delay=True)  # the third round has no slow-site run
    assert slow is not None and slow.rounds == 2
    assert slow.median == pytest.approx(0.55)  # an even count: the mean of the middle two
    assert spread([], delay=False) is None


def test_the_ceiling_targets_use_the_median_of_the_rounds() -> None:
    # One run alone would pass the first target (170 / 200); the rounds say otherwise.
    rows = [
        _row("ceiling: bare_extraction as newsbeam calls it, 2 processes", False, 200),
        _row("newsbeam", False, 170),
        _row("newsbeam", True, 160),
    ]
    rounds = [_round(200, 140, 150), _round(200, 150, 145), _round(200, 170, 160)]
    text = render(rows, None, [], 2000, rounds)
    assert "no delay: newsbeam >= 80% of the 2-process ceiling: 0.75 (median of 3 rounds, " in text
    assert "0.70-0.85) -> FAIL" in text
    assert "100-300 ms delay: newsbeam >= 70% of the 2-process ceiling: 0.75 (median" in text
    assert "| 3 | 200.0 | 170.0 | 0.85 | 160.0 | 0.80 |" in text
    alone = render(rows, None, [], 2000)
    assert "no delay: newsbeam >= 80% of the 2-process ceiling: 0.85 -> PASS" in alone


def test_peak_memory_counts_the_rounds_runs_too() -> None:
    rows = [_row("newsbeam", False, 150)]
    heavy = Row("newsbeam", True, articles=1500, attempted=1500, seconds=10.0, peak_mb=2100.0)
    rounds = [
        Round(_row("ceiling: bare_extraction as newsbeam calls it, 2", False, 200), None, heavy)
    ]
    assert "peak memory < 2 GB (2000 articles): 500 MB -> PASS" in render(rows, None, [], 2000)
    assert "2000 articles): 2100 MB -> FAIL" in render(rows, None, [], 2000, rounds)


def test_the_serial_script_must_not_extract_more_articles() -> None:
    # A tool stopped by its budget may have a larger share but never more articles to pass.
    serial = Row("serial script", True, articles=2000, attempted=2000, seconds=100.0, peak_mb=1)
    newsbeam = Row("newsbeam", True, articles=1990, attempted=1990, seconds=1.0, peak_mb=1)
    text = render([newsbeam, serial], None, [], 2000)
    assert "at least as many articles and as large a share extracted: 99.50 -> FAIL" in text


def test_the_floor_is_shown_against_each_rounds_own_ceiling() -> None:
    floor = "floor: that extraction alone in a Beam pipeline as newsbeam runs it"
    rounds = [
        Round(
            _row("ceiling: bare_extraction as newsbeam calls it, 2 processes", False, c),
            _row("newsbeam", False, 100),
            None,
            _row(floor, False, f),
        )
        for c, f in ((200, 150), (250, 200), (100, 90))
    ]
    assert spread(rounds, False, floor="floor") == spread(
        [Round(r.ceiling, r.floor, None) for r in rounds], False
    )
    text = render([], None, [], 2000, rounds)
    assert "| round | ceiling, 2 processes | floor | ratio | newsbeam at once |" in text
    assert "| 2 | 250.0 | 200.0 | 0.80 | 100.0 | 0.40 | - | - |" in text
    assert "(the most newsbeam could reach): 0.80 (median of 3 rounds, 0.75-0.90) of the" in text
    # Without rounds, the table's floor against the table's ceiling; without a floor, no line.
    rows = [
        _row("ceiling: bare_extraction as newsbeam calls it, 2 processes", False, 200),
        _row(floor, False, 150),
    ]
    assert "(the most newsbeam could reach): 0.75 of the 2-process ceiling" in render(
        rows, None, [], 2000
    )
    assert "the floor" not in render(rows[:1], None, [], 2000)
    assert "| floor |" not in render([], None, [], 2000, [_round(200, 120, 100)])


def test_the_floor_with_analysepages_has_a_column_and_a_line_of_its_own() -> None:
    ceiling = _row("ceiling: bare_extraction as newsbeam calls it, 2 processes", False, 200)
    floor = _row(FLOOR, False, 170)
    analysed = _row(FLOOR_ANALYSE, False, 140)
    rounds = [Round(ceiling, None, None, floor, analysed), Round(ceiling, None, None, None, None)]
    text = render([], None, [], 2000, rounds)
    assert "| round | ceiling, 2 processes | floor | ratio | floor + AnalysePages | ratio |" in text
    assert "| 1 | 200.0 | 170.0 | 0.85 | 140.0 | 0.70 | - | - | - | - |" in text
    assert "| 2 | 200.0 | - | - | - | - | - | - | - | - |" in text
    assert "(the most newsbeam could reach): 0.85 (median of 1 rounds" in text
    assert "the floor with newsbeam's AnalysePages as its pool: 0.70 (median of 1 rounds" in text
    alone = render([ceiling, analysed], None, [], 2000)  # the table's rows, no rounds
    assert "the floor with newsbeam's AnalysePages as its pool: 0.70 of the" in alone
    assert "the most newsbeam could reach" not in alone


def test_the_floors_cpu_beyond_extraction_is_reported_beside_newsbeams() -> None:
    # The profile: 8 ms of CPU an extracted article; newsbeam 16 ms, the floor 10 ms.
    profile = {"articles": 100, "stages": {"extract": [0.9, 0.8], "tag": [0.1, 0.1]}}
    rows = [
        Row("newsbeam", False, articles=1000, attempted=1000, seconds=8.0, peak_mb=1, cpu_s=16.0),
        Row(
            "floor: that extraction alone in a Beam pipeline as newsbeam runs it",
            False,
            articles=1000,
            attempted=1000,
            seconds=6.0,
            peak_mb=1,
            cpu_s=10.0,
        ),
    ]
    text = render(rows, profile, [], 2000)
    assert "non-extraction share of newsbeam's CPU < 20%: 50.0% -> FAIL" in text
    assert "the floor's CPU that is not extraction (Beam, the pool, start-up, decoding): 20.0%" in (
        text
    )
    assert "the floor's CPU" not in render(rows[:1], profile, [], 2000)
