"""The run summary: counters to summary.json, the invariant, and the text for people."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.summary import (
    RunSummary,
    summary_from_counters,
    summary_from_metrics,
)
from pipelines.summary_files import summary_from_files
from tests.conftest import RUNNER_ARGS
from transforms.common import counter
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


def test_summary_json_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A signal or a full disk mid-write left a summary.json cut short (0 bytes), which no
    # reader could parse; the earlier summary, or none, is what a failed write leaves now.
    path = tmp_path / "summary.json"
    path.write_text('{"published": 1}\n')
    summary = summary_from_counters({"entries": 2, "published": 2}, str(tmp_path))
    to_json = RunSummary.to_json

    def unwritable(self: RunSummary) -> dict[str, object]:
        # a text that cannot be written out whole: its file fails half-way through
        return {**to_json(self), "zz": "\udc80" * 100_000}

    monkeypatch.setattr(RunSummary, "to_json", unwritable)
    with pytest.raises(UnicodeEncodeError):
        summary.write(path)
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"published": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no partial file
    summary.write(path)
    assert json.loads(path.read_text())["published"] == 2


def test_every_count_reaches_summary_json_and_the_text(tmp_path: Path) -> None:
    # counters arrive in no particular order: the text shows the ten highest counts
    tags = {"tag:state:a": 9} | {f"tag:platform:p{i:02d}": 20 - i for i in reversed(range(12))}
    counters = {
        "entries": 9,
        "published": 3,
        "discarded:zzz": 1,
        "discarded:not_relevant": 2,
        "discarded:never": 0,  # a counter that stayed at zero is no reason
        "failed:fetch/http_404": 3,
        "feed_failed:poll/malformed_feed": 1,
        "feeds_polled": 5,
        "feeds_not_modified": 2,
        "pages_from_feed": 4,
        "outlet_country:US": 1,
        "outlet_country:CN": 2,
        "outlet_state:none": 1,
        "outlet_state:SC": 2,
        **tags,
    }
    summary = summary_from_counters(counters)
    summary.write(tmp_path / "summary.json")
    data = json.loads((tmp_path / "summary.json").read_text())
    assert list(data["discarded"]) == ["not_relevant", "zzz"]
    assert data["feeds"] == {
        "polled": 5,
        "not_modified": 2,
        "pages_from_feed": 4,
        "failed": {"poll/malformed_feed": 1},
        "read_in_part": 0,
        "moved_permanently": [],
        "gone": [],
        "not_polled_gone": 0,
    }
    assert data["outputs"] == {"summary": [str(tmp_path / "summary.json")]}
    assert data["stopped_early"] is False
    assert summary.render().splitlines() == [
        "feeds: 5 polled, 2 not modified, 1 failed, 4 entries taken from the feed's own full text",
        "entries: 9  published: 3  discarded: 3  failed: 3",
        "  discarded: not_relevant 2, zzz 1",
        "  failed: fetch/http_404 3",
        "  other failures (whole feeds, dead-letter delivery, syndication updates): "
        "poll/malformed_feed 1",
        "top tags: platform:p00 20, platform:p01 19, platform:p02 18, platform:p03 17, "
        "platform:p04 16, platform:p05 15, platform:p06 14, platform:p07 13, platform:p08 12, "
        "platform:p09 11",
        "by outlet country: CN 2, US 1",
        "by state affiliation: SC 2, none 1",
        f"summary: {tmp_path / 'summary.json'}",
    ]


def test_the_text_leaves_out_what_did_not_happen() -> None:
    text = summary_from_counters({"entries": 1, "published": 1, "feeds_polled": 1}).render()
    assert text.splitlines() == [
        "feeds: 1 polled, 0 not modified, 0 failed",
        "entries: 1  published: 1  discarded: 0  failed: 0",
    ]


def test_outputs_list_each_sinks_files_and_syndication_only_when_written(tmp_path: Path) -> None:
    (tmp_path / "stories-00000-of-00001.jsonl").write_text("")
    (tmp_path / "stories.jsonl").write_text("{}\n")  # a user's own file: not the run's
    assert summary_from_counters({}, str(tmp_path)).outputs == {
        "stories": [str(tmp_path / "stories-00000-of-00001.jsonl")],
        "dead_letters": [],
        "discarded": [],
    }
    (tmp_path / "syndication-00000-of-00001.jsonl").write_text("")
    outputs = summary_from_counters({}, str(tmp_path)).outputs
    assert outputs["syndication"] == [str(tmp_path / "syndication-00000-of-00001.jsonl")]


def test_the_text_lists_files_that_hold_something_and_counts_the_empty_ones(
    tmp_path: Path,
) -> None:
    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    story = write("stories-00000-of-00002.jsonl", "{}\n")
    write("stories-00001-of-00002.jsonl", "")
    write("dead_letters-00000-of-00001.jsonl", "")
    discards = [write(f"discarded-0000{i}-of-00002.jsonl", "{}\n") for i in range(2)]
    lines = summary_from_counters({}, str(tmp_path)).render().splitlines()
    assert lines[-3:] == [
        f"stories: {story} (1 empty file)",
        "dead_letters: none (1 empty file)",
        f"discarded: {', '.join(discards)}",
    ]
    # summary.json keeps every file found
    assert len(summary_from_counters({}, str(tmp_path)).outputs["stories"]) == 2


def test_the_text_says_none_for_a_sink_that_wrote_no_file(tmp_path: Path) -> None:
    """An always-on run's writers make a file only when they have a line: a sink with
    nothing to show has no file at all."""
    lines = summary_from_counters({}, str(tmp_path)).render().splitlines()
    assert lines[-3:] == ["stories: none", "dead_letters: none", "discarded: none"]


@pytest.mark.pipeline
def test_a_counter_is_summed_over_the_steps_that_increment_it() -> None:
    def bump(x: int) -> int:
        counter("published").inc()
        return x

    options = PipelineOptions(RUNNER_ARGS)
    pipeline = TestPipeline(options=options)
    _ = pipeline | beam.Create([1, 2]) | "A" >> beam.Map(bump) | "B" >> beam.Map(bump)
    result = pipeline.run()
    result.wait_until_finish()
    assert summary_from_metrics(result.metrics()).published == 4


def test_unbalanced_summary_says_so() -> None:
    summary = summary_from_counters({"entries": 5, "published": 3})
    assert not summary.balanced
    assert "UNBALANCED" in summary.render()


@pytest.mark.parametrize(
    ("counters", "nothing_read"),
    [
        ({"feeds_polled": 2, "feed_failed:poll/connection_error": 2}, True),
        ({"feeds_polled": 2, "feed_failed:poll/blocked_address": 1}, False),
        ({"feeds_polled": 2, "feeds_not_modified": 2}, False),  # quiet, not broken
        ({"feeds_polled": 1, "feed_failed:publish/permission_denied": 1}, False),
        ({}, False),  # nothing polled: a stopped run's summary does not count polls
        # a malformed feed whose entries up to the fault were recovered was read, in part
        ({"feeds_polled": 1, "feed_failed:poll/malformed_feed_recovered": 1}, False),
        (
            {
                "feeds_polled": 2,
                "feed_failed:poll/malformed_feed_recovered": 1,
                "feed_failed:poll/timeout": 1,
            },
            False,
        ),
    ],
)
def test_a_run_whose_every_feed_poll_failed_read_nothing(
    counters: dict[str, int], nothing_read: bool
) -> None:
    assert summary_from_counters(counters).no_feed_read is nothing_read


def test_the_topic_took_nothing_only_when_stories_failed_to_publish() -> None:
    assert summary_from_counters({"failed:publish/topic_not_found": 2}).none_published
    sent = {"published": 1, "failed:publish/topic_not_found": 1}
    assert not summary_from_counters(sent).none_published
    assert not summary_from_counters({"failed:fetch/http_404": 1}).none_published


def test_dead_letters_the_topic_refused_are_not_counted_as_failed_feeds() -> None:
    """The feeds line and summary.json's feeds count polls; a dead letter the dead-letter
    topic refused (also a failure counting no entry) is listed apart."""
    counters = {
        "feeds_polled": 3,
        "feed_failed:poll/malformed_feed": 1,
        "feed_failed:publish/unavailable": 2,
    }
    summary = summary_from_counters(counters)
    assert summary.render().splitlines()[0] == "feeds: 3 polled, 0 not modified, 1 failed"
    as_json = summary.to_json()
    assert as_json["feeds"]["failed"] == {"poll/malformed_feed": 1}
    assert as_json["dead_letters_undelivered"] == {"publish/unavailable": 2}


def test_a_feed_read_in_part_is_counted_apart_from_failed_polls(tmp_path: Path) -> None:
    """A malformed feed whose entries up to the fault went on delivered entries: its dead
    letter (poll/malformed_feed_recovered) is listed with the other failures, but the feeds
    line, summary.json's feeds.failed and exit code 4 count it as read in part, not failed."""
    counters = {
        "entries": 12,
        "published": 12,
        "feeds_polled": 2,
        "feed_failed:poll/malformed_feed_recovered": 1,
    }
    summary = summary_from_counters(counters)
    lines = summary.render().splitlines()
    assert lines[0] == "feeds: 2 polled, 0 not modified, 0 failed, 1 malformed but read in part"
    assert "poll/malformed_feed_recovered 1" in lines[2]
    as_json = summary.to_json()
    assert as_json["feeds"]["failed"] == {} and as_json["feeds"]["read_in_part"] == 1
    assert as_json["dead_letters_undelivered"] == {}
    assert not summary.no_feed_read
    recovered = Failure("poll", "f", "malformed_feed_recovered", "x", True, counts_entry=False)
    (tmp_path / "dead_letters-0123456789ab.jsonl").write_text(
        json.dumps(recovered.to_json()) + "\n"
    )
    stopped = summary_from_files(str(tmp_path))
    assert stopped.render().splitlines()[1] == (
        "feeds: polls not counted (summary read from the output files), 0 failed, "
        "1 malformed but read in part"
    )
    assert stopped.to_json()["feeds"]["read_in_part"] == 1


def tagged_story(url: str, outlet: Outlet, tags: tuple[Tag, ...] = ()) -> TaggedStory:
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
    first = tagged_story("https://www.globaltimes.cn/1", STATE_MEDIA, (TIKTOK,))
    unknown = tagged_story("https://blog.example/2", Outlet("blog.example"), (TIKTOK,))
    copy_outlet = Outlet("x.example", "X News", "GB", "en", None)
    link = DuplicateLink(
        "c0ffee", first.story_id, first.story_id, "https://x.example/3", "x.example", copy_outlet
    )
    options = PipelineOptions(RUNNER_ARGS)
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

    # a duplicate link is published, so its copy's outlet is in the split too; an outlet no
    # one knows is not known to be free of the state ("unknown", where it used to say "none")
    assert stopped["outlets"] == {
        "country": {"CN": 1, "GB": 1, "unknown": 1},
        "state_affiliation": {"SC": 1, "none": 1, "unknown": 1},
    }
    for key in ("published", "discarded", "failed", "tags", "outlets"):
        assert stopped[key] == finished[key], key
    assert "by outlet country: CN 1, GB 1, unknown 1" in summary_from_files(out).render()


def test_a_stopped_runs_feed_polls_are_not_counted_rather_than_zero(tmp_path: Path) -> None:
    (tmp_path / "dead_letters-0123456789ab.jsonl").write_text(
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
        "read_in_part": 0,
        "moved_permanently": None,  # told in the run's log
        "gone": None,
        "not_polled_gone": None,
    }
    text = summary.render()
    assert text.startswith("stopped by signal: counts are read from the output files")
    assert "feeds: polls not counted (summary read from the output files), 1 failed" in text
    assert "0 polled" not in text
    assert json.loads((tmp_path / "summary.json").read_text())["stopped_early"] is True


def test_a_stopped_runs_entries_are_every_line_of_every_shard(tmp_path: Path) -> None:
    """Each published, discarded or failed line is one entry (a link too, once); a feed's
    failure is none; an unfinished last line is not counted yet."""
    story = tagged_story("https://www.globaltimes.cn/1", STATE_MEDIA, (TIKTOK,))
    link = DuplicateLink(
        "c0ffee", story.story_id, story.story_id, "https://x.example/3", "x.example"
    )
    old_link = {**link.to_json(), "outlet": "x.example"}  # links before schema 3
    old_failure = Failure("fetch", "u", "http_404", "404").to_json()
    del old_failure["counts_entry"]  # dead letters written before it existed count an entry
    feed_failure = Failure("poll", "f", "bad", "x", counts_entry=False).to_json()
    files = {
        "stories-00000-of-00002.jsonl": [story.to_json(), link.to_json()],
        "stories-00001-of-00002.jsonl": [old_link],
        "discarded-00000-of-00002.jsonl": [Discard("tag", "u", "not_relevant").to_json()],
        "discarded-00001-of-00002.jsonl": [Discard("tag", "v", "not_relevant").to_json()],
        "dead_letters-00000-of-00001.jsonl": [old_failure, feed_failure],
    }
    for name, records in files.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    with (tmp_path / "stories-00001-of-00002.jsonl").open("a") as handle:
        handle.write(json.dumps(story.to_json())[:40])  # still being written
    summary = summary_from_files(str(tmp_path))
    assert (summary.entries, summary.published) == (6, 3)
    assert summary.discarded == {"not_relevant": 2}
    assert summary.failed == {"fetch/http_404": 1}
    assert summary.feed_failures == {"poll/bad": 1}
    assert summary.balanced
    assert summary.outlet_countries == {"CN": 1, "unknown": 2}
