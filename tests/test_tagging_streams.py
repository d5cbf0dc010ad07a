"""The stream review benchmark's scoring (benchmarks/tagging_streams.py), on made-up stories.

The benchmark itself needs the corpus and a person's review; what is checked here is that
the review file is read strictly and that the report counts what it claims.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.tagging_streams import DEFAULT_REVIEW, ReviewError, Tagged, read_review, score
from transforms.records import TagResult

RELEVANT = TagResult(relevant=True, score=0.9)


def review_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "review.csv"
    path.write_text("stream,id,verdict,note\n" + "".join(f"{row}\n" for row in rows))
    return path


def tagged(*keys: tuple[str, str]) -> list[Tagged]:
    return [Tagged(key, f"title {key[1]}", RELEVANT) for key in keys]


def test_the_review_maps_each_story_to_its_verdict(tmp_path: Path) -> None:
    path = review_file(tmp_path, "a,1,in,x", "a,2,borderline,y", "b,1,out,z")
    assert read_review(path) == {("a", "1"): "in", ("a", "2"): "borderline", ("b", "1"): "out"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (("a,1,in,x", "a,2,maybe,y"), "review.csv:3: verdict 'maybe' is not one of"),
        (("a,1,in,x", "a,1,out,y"), "review.csv:3: a 1 is reviewed twice"),
        (("a,1,,x",), "review.csv:2: verdict '' is not one of"),
    ],
)
def test_a_bad_review_line_is_named(tmp_path: Path, rows: tuple[str, ...], message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        read_review(review_file(tmp_path, *rows))


def test_precision_counts_borderline_both_ways_and_names_what_the_review_misses() -> None:
    review = {("a", "1"): "in", ("a", "2"): "borderline", ("a", "3"): "out", ("a", "4"): "in"}
    stories = tagged(("a", "1"), ("a", "2"), ("a", "3"), ("a", "5"))
    assert score(stories, review) == [
        "reviewed: 3 of 4 relevant stories: 1 in, 1 borderline, 1 out",
        "precision 0.667 with borderline stories counted in, 0.333 counted out",
        "not in the review (1): review them and add lines",
        "  a,5: title 5",
        "reviewed but no longer relevant (1):",
        "  a,4 (was in)",
    ]


def test_with_nothing_reviewed_no_precision_is_claimed() -> None:
    assert score(tagged(("a", "1")), {})[:2] == [
        "reviewed: 0 of 1 relevant stories: 0 in, 0 borderline, 0 out",
        "not in the review (1): review them and add lines",
    ]


def test_the_committed_review_reads() -> None:
    review = read_review(DEFAULT_REVIEW)
    assert len(review) >= 200 and set(review.values()) == {"in", "borderline", "out"}
