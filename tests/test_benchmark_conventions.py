"""The benchmarks' shared conventions: a missing corpus is a skip, each target a verdict.

Every benchmark that reads ../shared/corpus takes ``--corpus``; without the corpus it prints
``skipped: <reason>`` and exits 0. A benchmark with targets prints one PASS or FAIL line per
target and exits 1 when one fails. Also the stream counts ``tagging_streams`` prints and the
truncation ``large_pages`` reports, on made-up inputs.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks import (
    dedup_eval,
    extraction_quality,
    fetch_concurrency,
    large_pages,
    latency,
    tagging_eval,
    tagging_streams,
)
from benchmarks.newsite import MIN_STREAM_CHARS
from benchmarks.tagging_scoring import PRF

CORPUS_BENCHMARKS: dict[str, Callable[[list[str] | None], int]] = {
    "extraction_quality": extraction_quality.main,
    "tagging_eval": tagging_eval.main,
    "tagging_streams": tagging_streams.main,
    "dedup_eval": dedup_eval.main,
    "latency": latency.main,
}


@pytest.mark.parametrize("name", sorted(CORPUS_BENCHMARKS))
def test_a_missing_corpus_is_a_skip_with_exit_code_0(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = CORPUS_BENCHMARKS[name](["--corpus", str(tmp_path / "nowhere")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("skipped: corpus not found"), out
    assert str(tmp_path / "nowhere") in out


def test_fetch_targets_each_get_a_verdict() -> None:
    lines = fetch_concurrency.verdicts(800, 800, 29.7, 1.09)
    assert [line for line, _ in lines] == [
        "target FetchArticles fetches every page: 800 of 800: PASS",
        "target serial / FetchArticles >= 20: 29.7: PASS",
        "target FetchArticles / ideal <= 1.3: 1.09: PASS",
    ]
    missed = fetch_concurrency.verdicts(800, 799, 14.7, 1.31)
    assert [ok for _, ok in missed] == [False, False, False]
    assert all(line.endswith(": FAIL") for line, _ in missed)


def test_tagging_accuracy_targets_each_get_a_verdict() -> None:
    good = PRF(95, 100, 95, 100)  # P = R = F1 = 0.95
    scores = {name: good for name in ("relevance", "platforms", "state_actors", "controversies")}
    assert all(ok for _, ok in tagging_eval.accuracy_verdicts(scores))
    scores["relevance"] = PRF(89, 100, 95, 100)  # P 0.89 (F1 0.919)
    scores["controversies"] = PRF(84, 100, 84, 100)  # F1 0.84
    lines = dict(tagging_eval.accuracy_verdicts(scores))
    assert lines == {
        "target relevance P >= 0.90: 0.890: FAIL": False,
        "target relevance F1 >= 0.90: 0.919: PASS": True,
        "target platforms F1 >= 0.85: 0.950: PASS": True,
        "target state_actors F1 >= 0.85: 0.950: PASS": True,
        "target controversies F1 >= 0.85: 0.840: FAIL": False,
    }


def test_stream_counts_say_what_the_length_filter_left_out(tmp_path: Path) -> None:
    long, short = "word " * MIN_STREAM_CHARS, "a paywall"
    (tmp_path / "topic-dev").mkdir()
    (tmp_path / "topic-dev" / "labels.jsonl").write_text(json.dumps({"title": "Dev story"}) + "\n")
    md = tmp_path / "streams" / "articlemd"
    md.mkdir(parents=True)
    (md / "1.md").write_text(f"# Long one\n+ Source: s\n## Article:\n{long}")
    (md / "2.md").write_text(f"# Short one\n## Article:\n{short}")
    (md / "3.md").write_text(f"# Dev story\n## Article:\n{long}")
    (md / "4.md").write_text("# No article section\nsome text")
    (md / "5.md").write_text(f"# long ONE\n## Article:\n{long}")  # a repeated title
    hn = tmp_path / "streams" / "hn2024"
    hn.mkdir()
    rows = [
        {"title": "HN long", "text": f"HN long\n{long}"},
        {"title": "HN short", "text": short},
        {"title": "", "text": long},
    ]
    with gzip.open(hn / "hn2024_en_all.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    records, too_short = tagging_streams.record_counts(tmp_path)
    skipped: Counter[str] = Counter()
    tagged = [a.title for a in tagging_streams.stream_articles(tmp_path, skipped)]
    assert (records, too_short, skipped["repeated title"]) == (5, 2, 1)
    assert tagged == ["Long one", "HN long"]
    assert len(tagged) == records - too_short - skipped["repeated title"]


def test_page_text_leaves_tags_out() -> None:
    assert large_pages.page_text_chars("<p>ab <a href='x'>cd</a></p><br>") == 5


@pytest.fixture(scope="module")
def analyser() -> large_pages.Analyser:
    large_pages.preload()
    return large_pages.Analyser(large_pages.AnalysisSettings(250, None, None, True))


def test_a_deeply_nested_page_is_reported_refused(
    analyser: large_pages.Analyser, capsys: pytest.CaptureFixture[str]
) -> None:
    """libxml2 stops at its depth limit: newsbeam refuses the page (its story would hold a
    small part of the page's text), and the benchmark says so."""
    unit, wrap = large_pages.SHAPES["nested_divs"]
    cost = large_pages.page_cost(analyser, large_pages.build(unit, wrap, 200_000), 1, False)
    assert (cost.refused, cost.kept) == ("too_deeply_nested", None)
    unit, wrap = large_pages.SHAPES["paragraphs"]
    cost = large_pages.page_cost(analyser, large_pages.build(unit, wrap, 50_000), 1, False)
    assert cost.kept is not None and cost.kept >= large_pages.MIN_KEPT
