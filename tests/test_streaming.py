"""Streaming runs: polls every interval, conditional requests, nothing published twice."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

import transforms.feeds_local
from pipelines.config import RunConfig
from pipelines.loopback import LoopbackSite, Request, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from pipelines.monitor import feed_specs
from tests.conftest import RunOutput, add_pages, assert_accounting, run_newsbeam
from tests.test_pipeline_e2e import OFF_TOPIC, WIRE_STORY, seed_story
from transforms.http import HttpConfig
from transforms.records import FeedSpec

pytestmark = pytest.mark.pipeline

RSS = "application/rss+xml"


def changing_feed(site: LoopbackSite, host: str, versions: list[list[FeedItem]]) -> None:
    """A feed that serves ``versions[n]`` on its n-th request (the last one from then on).

    Each version has its own ETag, so an unchanged version is answered 304.
    """
    base = site.base_url(host)
    requests = itertools.count()

    def answer(_request: Request) -> Response:
        version = min(next(requests), len(versions) - 1)
        body = rss_feed(host, base, versions[version])
        return Response(body=body, content_type=RSS, etag=f'"v{version}"')

    site.route(host, "/rss", answer)


def run_polling(feeds: Path, output: Path, duration: str, *extra: str) -> RunOutput:
    """An always-on run in this process polling every second for ``duration``, no robots."""
    polling = ("--no-robots", "--streaming", "--poll-interval", "1s", "--duration", duration)
    return run_newsbeam(feeds, output, *polling, *extra)


def test_streaming_polls_publish_new_stories_once(site: LoopbackSite, tmp_path: Path) -> None:
    growing, steady = site.add_host("growing"), site.add_host("steady")
    title, text = seed_story()
    pages = {
        "growing": [
            ("/a", title, text),
            ("/b", "TikTok ordered to find a buyer within 120 days", WIRE_STORY),
            ("/c", "Late goal seals cup win", OFF_TOPIC),
            ("/e", "ByteDance must sell TikTok's American arm or face a ban", WIRE_STORY),
        ],
        "steady": [("/d", "Cup final preview", OFF_TOPIC.replace("home side", "visitors"))],
    }
    items = {host: add_pages(site, host, rows) for host, rows in pages.items()}
    # Poll 1: one story; poll 2: two more; poll 3: a syndicated copy of /b; poll 4: unchanged.
    growing_items = items["growing"]
    changing_feed(site, "growing", [growing_items[:1], growing_items[:3], growing_items])
    site.route(
        "steady",
        "/rss",
        Response(body=rss_feed("steady", steady, items["steady"]), content_type=RSS, etag='"same"'),
    )
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{growing}/rss\n{steady}/rss\n")

    out = run_polling(feeds, tmp_path / "out", "3.5s")

    assert_accounting(out)
    assert out.summary["feeds"]["polled"] == 8  # two feeds, four ticks in 3.5 s
    assert transforms.feeds_local._MEMORY == {}  # what the polls remembered went with the run
    assert sorted(s["fetched_url"] for s in out.stories) == [f"{growing}/a", f"{growing}/b"]
    assert out.summary["entries"] == 9  # 1 + 3 + 4 from the growing feed, 1 from the steady one
    assert out.summary["discarded"] == {"duplicate": 1, "duplicate_url": 4, "not_relevant": 2}
    assert [r.status for r in site.requests_for("steady", "/rss")] == [200, 304, 304, 304]
    assert [r.status for r in site.requests_for("growing", "/rss")] == [200, 200, 200, 304]
    for path in ("/a", "/b", "/c", "/d", "/e"):
        host = "steady" if path == "/d" else "growing"
        assert len(site.requests_for(host, path)) == 1, path


def test_one_article_in_two_feeds_of_one_poll_is_published_once(
    site: LoopbackSite, tmp_path: Path
) -> None:
    # One feed keys its entries by GUID, the other by link: two entries, one article, seen at
    # the poll's one time. Both copies were one element to the clustering (the same story,
    # time and text), which took its own claim for an earlier one: two duplicate_url
    # discards and no story at all (one-shot runs, whose copies' times differ, published it).
    base = site.add_host("news")
    title, text = seed_story()
    (item,) = add_pages(site, "news", [("/a", title, text)])
    by_guid = dataclasses.replace(item, guid="urn:news:a")
    for path, feed_item in (("/by-guid", by_guid), ("/by-link", item)):
        body = rss_feed("news", base, [feed_item])
        site.route("news", path, Response(body=body, content_type=RSS, etag='"same"'))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/by-guid\n{base}/by-link\n")

    out = run_polling(feeds, tmp_path / "out", "0.5s")

    assert_accounting(out)
    assert [s["fetched_url"] for s in out.stories] == [f"{base}/a"]
    assert out.summary["discarded"] == {"duplicate_url": 1}


def test_a_feed_that_starts_or_stops_failing_is_logged_once_as_it_happens(
    site: LoopbackSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An always-on run said nothing of a broken feed until it stopped (its summary).
    base = site.add_host("news")
    (item,) = add_pages(site, "news", [("/cup", "Late goal seals cup win", OFF_TOPIC)])
    requests = itertools.count()

    def refused_twice(_request: Request) -> Response:
        if next(requests) < 2:
            return Response(status=403, body=b"not now")  # not retried within a poll
        return Response(body=rss_feed("news", base, [item]), content_type=RSS, etag='"v"')

    site.route("news", "/flaky", refused_twice)
    site.route("news", "/gone", Response(status=404, body=b"no such feed"))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/flaky\n{base}/gone\n")

    with caplog.at_level(logging.WARNING, logger="transforms.feed_polls"):
        out = run_polling(feeds, tmp_path / "out", "3.5s")

    assert out.summary["feeds"]["polled"] == 8  # two feeds, four ticks
    lines = [r.getMessage() for r in caplog.records if r.name == "transforms.feed_polls"]
    again = "polled again at every interval, this is said again only when it changes"
    # the two feeds of the first poll in either order, then the flaky one's recovery
    assert sorted(lines[:2]) == [
        f"feed {base}/flaky failed: http_403: HTTP 403; {again}",
        f"feed {base}/gone failed: http_404: HTTP 404; {again}",
    ], lines
    assert lines[2:] == [f"feed {base}/flaky answers again, after 2 failed poll(s)"]


@pytest.mark.parametrize("interval", ["1s", "1h"])
def test_sigterm_stops_a_streaming_run_with_a_summary(
    site: LoopbackSite, tmp_path: Path, interval: str
) -> None:
    """With "1h", the run waits for its second poll all along: what the first one found must
    reach the files during that poll (not an hour later), and the signal must stop the wait."""
    base = site.add_host("news")
    title, text = seed_story()
    items = add_pages(
        site, "news", [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)]
    )
    site.route("news", "/rss", Response(body=rss_feed("news", base, items), content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"
    command = [
        sys.executable, "-m", "pipelines.cli", "run", "--feeds", str(feeds),
        "--output", str(output), "--allow-loopback", "--no-robots",
        "--streaming", "--poll-interval", interval,
    ]  # fmt: skip
    temporary = tmp_path / "tmp"  # the run's own, to see what it leaves there
    temporary.mkdir()
    process = subprocess.Popen(
        command,
        env={**os.environ, "TMPDIR": str(temporary)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait (bounded) until both entries have reached their sinks: the story and the discard.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            lines = [p.read_text() for p in output.glob("*.jsonl")]
            if sum(chunk.count("\n") for chunk in lines) >= 2:
                break
            time.sleep(0.2)  # polling a file for a condition, bounded by the deadline
        assert process.poll() is None, process.stderr and process.stderr.read()
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "stopped by signal" in stdout
    assert not list(temporary.glob("beam-pipeline-temp*"))  # Beam's local folder: removed
    summary = json.loads((output / "summary.json").read_text())
    assert summary["stopped_early"] is True
    assert summary["published"] == 1
    assert summary["discarded"] == {"not_relevant": 1}
    assert summary["entries"] == 2
    # The outlet split is counted from the stories in the files; feed polls are in no file.
    assert sum(summary["outlets"]["country"].values()) == summary["published"]
    assert summary["feeds"]["polled"] is None and summary["feeds"]["not_modified"] is None
    assert "by outlet country: " in stdout and "polls not counted" in stdout


class _CountBundlesFn(beam.DoFn):
    """Counts the bundles and the feeds it sees (fused with the ticks' source)."""

    def start_bundle(self) -> None:
        beam.metrics.Metrics.counter("test", "bundles").inc()

    def process(self, _spec: FeedSpec) -> None:
        beam.metrics.Metrics.counter("test", "feeds").inc()


def test_the_local_runner_runs_a_bundle_per_poll_not_a_busy_loop() -> None:
    """Beam's FnApiRunner runs PeriodicImpulse's deferred rest again at once: an always-on
    run looped over bundles while idle (a bundle every 40 ms), growing by 0.35 MB a bundle.
    The ticks' source waits for each tick: at most two bundles per poll (the poll's, and one
    for the timers it set), however long the wait."""
    feeds = (FeedSpec("http://127.0.0.1:9/a.xml"), FeedSpec("http://127.0.0.1:9/b.xml"))
    config = RunConfig(
        feeds=feeds, output_dir="unused", http=HttpConfig(), max_in_flight=1,
        all_stories=False, taxonomy_path=None, outlets_path=None, min_text_chars=0,
        streaming=True, poll_interval=0.4, duration=1.0, start_time=time.time(),
    )  # fmt: skip
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner", "FnApiRunner", "--streaming"]))
    feed_specs(pipeline, config) | "CountBundles" >> beam.ParDo(_CountBundlesFn())
    result = pipeline.run()
    result.wait_until_finish()

    counters = result.metrics().query(MetricsFilter().with_namespace("test"))["counters"]
    counts = {c.key.metric.name: c.committed for c in counters}
    assert counts["feeds"] == 3 * len(
        feeds
    )  # three polls in 1 s (at 0, 0.4 and 0.8 s), each of both feeds
    assert 1 <= counts["bundles"] <= 2 * 3
