"""A feed that answers 410 Gone: its dead letter and the summary say to remove it from the
feed list, and an always-on run asks it again only once a day (each poll not made counted),
not at every interval."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from pipelines.loopback import LoopbackSite, Request, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from pipelines.summary import RunSummary
from tests.conftest import STREAMING_RUNNER_ARGS, WHEN, add_pages, read_jsonl, run_cli
from tests.test_pipeline_e2e import OFF_TOPIC
from tests.test_streaming import run_polling
from transforms.feed_health import FeedHealth
from transforms.feed_polls import GONE_PAUSE, gone, not_polled, poll_outputs
from transforms.feeds import PollFeeds
from transforms.http import FetchError, HttpConfig
from transforms.records import FeedSpec, FeedState

RSS = "application/rss+xml"
GONE = "gone (HTTP 410): remove it from your feed list"
SPEC = FeedSpec("http://news.example/rss")


def test_a_gone_feeds_dead_letter_says_to_remove_it() -> None:
    answer = FetchError("http_410", "HTTP 410", status=410)
    (output,) = poll_outputs(SPEC, FeedState(SPEC.url), answer, 0)
    failure = output.value
    assert (failure.error_type, failure.message, failure.retryable) == ("http_410", GONE, False)


@pytest.mark.parametrize(
    "answer",
    [
        FetchError("http_404", "HTTP 404 Not Found", status=404),
        FetchError("http_403", "HTTP 403 Forbidden", status=403),
        FetchError("timeout", "read timed out", True),
    ],
)
def test_a_feed_that_fails_otherwise_is_not_told_as_gone(answer: FetchError) -> None:
    """Only 410 says 'gone for good': a 404 may be a server's mistake of a day, and a feed
    told 'remove it from your feed list' for one would be lost."""
    (output,) = poll_outputs(SPEC, FeedState(SPEC.url), answer, 0)
    assert (output.value.error_type, output.value.message) == (answer.error_type, answer.message)
    assert not gone(answer)


def test_a_gone_feed_is_not_polled_again_for_a_day() -> None:
    assert not not_polled(None, 1000.0)
    assert not_polled(1000.0, 1000.0)
    assert not_polled(1000.0, 1000.0 + GONE_PAUSE - 1)
    assert not not_polled(1000.0, 1000.0 + GONE_PAUSE)
    assert GONE_PAUSE == 24 * 3600


def test_the_health_line_of_a_gone_feed_says_it_is_polled_once_a_day() -> None:
    failure = poll_outputs(SPEC, FeedState(SPEC.url), FetchError("http_410", "", status=410), 0)
    line = FeedHealth().observe(SPEC.url, next(failure).value)
    assert line == (
        f"feed {SPEC.url} failed: http_410: {GONE}; polled again only once a day in this "
        "run, this is said again only when it changes"
    )


def test_the_summary_names_each_gone_feed_and_counts_the_polls_not_made() -> None:
    summary = RunSummary(feeds_polled=3, feeds_gone=["http://a/rss"], not_polled_gone=2)
    lines = summary.render().splitlines()
    assert (
        lines[0]
        == "feeds: 3 polled, 0 not modified, 0 failed, 2 polls of feeds gone (HTTP 410) not made"
    )
    assert f"  feed http://a/rss is {GONE}" in lines
    feeds = summary.to_json()["feeds"]
    assert (feeds["gone"], feeds["not_polled_gone"]) == (["http://a/rss"], 2)


def _feeds(site: LoopbackSite, tmp_path: Path) -> tuple[str, Path]:
    base = site.add_host("news")
    items = add_pages(site, "news", [("/story", "Cup final", OFF_TOPIC)])
    site.route("news", "/rss", Response(body=rss_feed("news", base, items), content_type=RSS))
    site.route("news", "/gone", Response(410, b"gone"))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/gone\n{base}/rss\n")
    return base, feeds


def test_a_one_shot_run_says_which_feeds_are_gone(
    site: LoopbackSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, feeds = _feeds(site, tmp_path)
    out = tmp_path / "out"
    argv = ["run", "--feeds", str(feeds), "--output", str(out), "--allow-loopback"]
    _, stdout, _ = run_cli(capsys, *argv, "--no-robots", "--no-state")
    assert f"  feed {base}/gone is {GONE}" in stdout.splitlines(), stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feeds"]["gone"] == [f"{base}/gone"]
    assert summary["feeds"]["failed"] == {"poll/http_410": 1}
    (letter,) = read_jsonl(out, "dead_letters")
    assert (letter["url"], letter["message"]) == (f"{base}/gone", GONE)


@pytest.mark.pipeline
def test_an_always_on_run_does_not_poll_a_gone_feed_at_every_interval(
    site: LoopbackSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, feeds = _feeds(site, tmp_path)
    with caplog.at_level(logging.WARNING, logger="transforms.feed_polls"):
        out = run_polling(feeds, tmp_path / "out", "2.5s")
    assert len(site.requests_for("news", "/rss")) == 3  # three ticks
    assert len(site.requests_for("news", "/gone")) == 1  # not at the next two
    feeds_out = out.summary["feeds"]
    assert (feeds_out["polled"], feeds_out["not_polled_gone"]) == (4, 2)
    assert feeds_out["gone"] == [f"{base}/gone"]
    lines = [r.getMessage() for r in caplog.records if r.name == "transforms.feed_polls"]
    assert lines == [
        f"feed {base}/gone failed: http_410: {GONE}; polled again only once a day in this "
        "run, this is said again only when it changes"
    ]


@pytest.mark.pipeline
@pytest.mark.parametrize("concurrent", [False, True], ids=["keyed-state", "local-memory"])
def test_a_gone_feed_is_asked_again_a_day_later_and_polled_again_if_it_answers(
    site: LoopbackSite, concurrent: bool
) -> None:
    base = site.add_host("news")
    items = [FeedItem("Story", f"{base}/story", "g", "s", WHEN)]
    polls: list[Request] = []

    def feed(request: Request) -> Response:
        polls.append(request)
        if len(polls) == 1:
            return Response(410, b"gone")
        return Response(body=rss_feed("news", base, items), content_type=RSS)

    site.route("news", "/rss", feed)
    spec = FeedSpec(f"{base}/rss")
    stream = TestStream()
    hour = 3600.0
    for at in (0.0, 1 * hour, 23 * hour, 24 * hour, 25 * hour):
        stamped = TimestampedValue(spec, 1_700_000_000.0 + at)
        stream = stream.add_elements([stamped]).advance_watermark_to(stamped.timestamp + 1)
    pipeline = beam.Pipeline(options=PipelineOptions(STREAMING_RUNNER_ARGS))
    _ = (
        pipeline
        | stream.advance_watermark_to_infinity()
        | PollFeeds(
            HttpConfig(allow_loopback=True, deadline=20.0),
            concurrent=concurrent,
            streaming=concurrent,
        )
    )
    result = pipeline.run()
    result.wait_until_finish()
    # at 0 h (410), not at 1 h or 23 h, then at 24 h and, the feed answering again, at 25 h
    # (the count of polls not made is checked through a whole always-on run above)
    assert len(polls) == 3
