"""The run summary: counters to summary.json, the invariant, and the text for people."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.summary import summary_from_counters, summary_from_files, summary_from_metrics
from transforms.records import (
    Article,
    Discard,
    DuplicateLink,
    Failure,
    FeedEntry,
    Outlet,
    Story,
    Tag,
    TaggedStory,
    TagResult,
    story_id_for,
)
from transforms.sinks import WriteDeadLetters, WriteDiscards, WriteStories


def test_summary_shape_and_invariant(tmp_path: Path) -> None:
    counters = {
        "entries": 10,
        "published": 3,
        "discarded:not_relevant": 4,
        "discarded:duplicate_url": 1,
        "failed:fetch/http_404": 2,
        "feed_failed:poll/malformed_feed": 1,
        "feeds_polled": 4,
        "tag:platform:tiktok": 2,
        "outlet_country:CN": 1,
        "outlet_state:SC": 1,
    }
    summary = summary_from_counters(counters, str(tmp_path))
    assert summary.balanced
    summary.write(tmp_path / "summary.json")
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["entries"] == 10 and data["published"] == 3
    assert data["discarded"] == {"duplicate_url": 1, "not_relevant": 4}
    assert data["failed"] == {"fetch/http_404": 2}
    assert data["feeds"]["failed"] == {"poll/malformed_feed": 1}
    assert data["outlets"]["state_affiliation"] == {"SC": 1}
    text = summary.render()
    assert "entries: 10  published: 3  discarded: 5  failed: 2" in text
    assert "platform:tiktok 2" in text


def test_unbalanced_summary_says_so() -> None:
    summary = summary_from_counters({"entries": 5, "published": 3})
    assert not summary.balanced
    assert "UNBALANCED" in summary.render()


def _story(url: str, outlet: Outlet, tags: tuple[Tag, ...] = ()) -> TaggedStory:
    entry = FeedEntry(feed_url="https://feeds.example/rss", link=url, key=url)
    article = Article(entry, url, url, url, "A title", "Body text.")
    story = Story(story_id_for(url), article, outlet, "en", None)
    return TaggedStory(story, TagResult(relevant=True, score=0.9, tags=tags))


STATE_MEDIA = Outlet("globaltimes.cn", "Global Times", "CN", "en", "SC")
TIKTOK = Tag("platform", "tiktok")


@pytest.mark.pipeline
def test_a_stopped_runs_summary_counts_what_the_sinks_count(tmp_path: Path) -> None:
    """summary_from_files (a stopped run) and the metrics (a finished run) agree on the
    same output: published, discards, failures, tags and the outlet split."""
    first = _story("https://www.globaltimes.cn/1", STATE_MEDIA, (TIKTOK,))
    unknown = _story("https://blog.example/2", Outlet("blog.example"), (TIKTOK,))
    copy_outlet = Outlet("x.example", "X News", "GB", "en", None)
    link = DuplicateLink(
        "c0ffee", first.story_id, first.story_id, "https://x.example/3", "x.example", copy_outlet
    )
    options = PipelineOptions(["--runner=DirectRunner", "--direct_running_mode=in_memory"])
    pipeline = TestPipeline(options=options)
    out = str(tmp_path)
    _ = pipeline | "Stories" >> beam.Create([first, unknown, link]) | WriteStories(out)
    _ = (
        pipeline
        | "Discards" >> beam.Create([Discard("tag", "u", "not_relevant")])
        | ("WriteDiscards" >> WriteDiscards(out))
    )
    failures = [Failure("fetch", "u", "http_404", "404"), Failure("poll", "f", "bad", "x")]
    _ = pipeline | "Failures" >> beam.Create(failures) | WriteDeadLetters(out)
    result = pipeline.run()
    result.wait_until_finish()

    finished = summary_from_metrics(result.metrics()).to_json()
    stopped = summary_from_files(out).to_json()

    # a duplicate link is published, so its copy's outlet is in the split too
    assert stopped["outlets"] == {
        "country": {"CN": 1, "GB": 1, "unknown": 1},
        "state_affiliation": {"SC": 1, "none": 2},
    }
    for key in ("published", "discarded", "failed", "tags", "outlets"):
        assert stopped[key] == finished[key], key
    assert "by outlet country: CN 1, GB 1, unknown 1" in summary_from_files(out).render()


def test_a_stopped_runs_feed_polls_are_not_counted_rather_than_zero(tmp_path: Path) -> None:
    (tmp_path / "dead_letters-1.jsonl").write_text(
        json.dumps(Failure("poll", "f", "malformed_feed", "x", counts_entry=False).to_json()) + "\n"
    )
    summary = summary_from_files(str(tmp_path))
    summary.write(tmp_path / "summary.json")
    feeds = json.loads((tmp_path / "summary.json").read_text())["feeds"]
    assert feeds == {
        "polled": None,
        "not_modified": None,
        "pages_from_feed": None,
        "failed": {"poll/malformed_feed": 1},
    }
    text = summary.render()
    assert "feeds: polls not counted (summary read from the output files), 1 failed" in text
    assert "0 polled" not in text
