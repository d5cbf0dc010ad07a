"""A feed whose URL answers a permanent redirect (301, 308): the user is told to update the
feed list (a one-shot run's summary, an always-on run's log, once a feed); a temporary one
(302, 303, 307) says nothing. The feed list is never rewritten: polls follow the redirect."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import rss_feed
from pipelines.summary import RunSummary
from tests.conftest import add_pages, run_cli
from tests.loopback_hostile import redirect
from tests.test_pipeline_e2e import OFF_TOPIC
from tests.test_streaming import run_polling
from transforms import feed_polls
from transforms.feed_health import FeedHealth
from transforms.http import FetchError, HttpClient, HttpResult
from transforms.records import FeedSpec, FeedState

RSS = "application/rss+xml"


def _chain(site: LoopbackSite, base: str, hops: list[tuple[str, int]], end: str) -> None:
    """``/0`` redirects to ``/1`` and so on with each hop's status; the last to ``end``."""
    for n, (_, status) in enumerate(hops):
        target = hops[n + 1][0] if n + 1 < len(hops) else end
        site.route("news", hops[n][0], redirect(target, status=status))
    site.route("news", end, Response(body=b"<rss/>", content_type=RSS, etag='"v"'))


@pytest.mark.parametrize(
    ("statuses", "moved"),
    [
        ([301], (301, "/end")),
        ([308], (308, "/end")),
        ([301, 308], (301, "/end")),  # the first status, the last target
        ([301, 302], (301, "/1")),  # moved for good to /1, which redirects for now
        ([302, 301], None),  # the listed URL redirects for now: it stays the one to ask
        ([302], None),
        ([303], None),
        ([307], None),
    ],
)
def test_the_result_says_where_permanent_redirects_at_its_start_moved_the_url(
    site: LoopbackSite, client: HttpClient, statuses: list[int], moved: tuple[int, str] | None
) -> None:
    base = site.add_host("news")
    _chain(site, base, [(f"/{n}", s) for n, s in enumerate(statuses)], "/end")
    result = client.get(base + "/0", kind="feed")
    assert (result.status, result.final_url, result.body) == (200, base + "/end", b"<rss/>")
    got = (result.moved_status, result.moved_to) if result.moved_to else None
    assert got == (None if moved is None else (moved[0], base + moved[1]))
    # a conditional poll answered 304 at the new URL says so too
    again = client.get(base + "/0", kind="feed", etag='"v"')
    assert again.not_modified and again.moved_to == result.moved_to


@pytest.mark.parametrize(
    ("statuses", "moved"),
    [
        ([301], (301, "/end")),
        ([308, 301], (308, "/end")),
        ([301, 302], (301, "/1")),
        ([302], None),
        ([302, 301], None),
    ],
)
def test_a_request_that_fails_where_permanent_redirects_led_says_where_they_led(
    site: LoopbackSite, client: HttpClient, statuses: list[int], moved: tuple[int, str] | None
) -> None:
    """/end answers 404: the feed moved all the same, and its poll's failure says where."""
    base = site.add_host("news")
    hops = [(f"/{n}", s) for n, s in enumerate(statuses)]
    for n, (path, status) in enumerate(hops):
        site.route("news", path, redirect(hops[n + 1][0] if n + 1 < len(hops) else "/end", status))
    with pytest.raises(FetchError) as failed:
        client.get(base + "/0", kind="feed")
    assert failed.value.error_type == "http_404"
    assert failed.value.moved == (None if moved is None else (moved[0], base + moved[1]))
    told = None if moved is None else (base + moved[1], moved[0])
    assert feed_polls.moved(failed.value) == told
    assert feed_polls.moved(pickle.loads(pickle.dumps(failed.value))) == told  # pool to stage


def test_a_redirect_loop_after_a_permanent_redirect_names_the_first_target(
    site: LoopbackSite, client: HttpClient
) -> None:
    """/0 -> /1 -> /0, both 301: moved to /1 (not 'moved to /0', the URL asked)."""
    base = site.add_host("news")
    site.route("news", "/0", redirect("/1", status=301))
    site.route("news", "/1", redirect("/0", status=301))
    with pytest.raises(FetchError) as failed:
        client.get(base + "/0", kind="feed")
    assert (failed.value.error_type, failed.value.moved) == ("redirect_loop", (301, base + "/1"))


def test_a_moved_feed_is_told_once_and_again_only_if_it_moves_elsewhere() -> None:
    health = FeedHealth()
    old, new = "http://old.example/rss", "https://new.example/feed"
    line = health.moved(old, new, 301)
    assert line is not None and line.startswith(
        f"feed {old} moved permanently to {new} (HTTP 301): update your feed list;"
    )
    assert health.moved(old, new, 301) is None
    assert health.moved("http://other.example/rss", new, 308) is not None
    assert health.moved(old, "https://newer.example/feed", 301) is not None


@pytest.mark.parametrize("failed", [False, True], ids=["answered", "failed-where-it-led"])
def test_an_always_on_poll_logs_the_status_that_moved_the_feed(
    caplog: pytest.LogCaptureFixture, failed: bool
) -> None:
    """A 308 is told as a 308 (what the server said), whether the poll then answered or
    failed where the redirect led."""
    spec, to = FeedSpec("http://old.example/rss"), "https://new.example/feed"
    answer: HttpResult | FetchError
    if failed:
        answer = FetchError("http_404", "HTTP 404", status=404)
        answer.moved = (308, to)
    else:
        answer = HttpResult(spec.url, to, 304, moved_to=to, moved_status=308)
    with caplog.at_level(logging.WARNING, logger="transforms.feed_polls"):
        list(
            feed_polls.observed_poll(
                spec, FeedState(spec.url), answer, 0, FeedHealth(), None, 100.0, 50.0
            )
        )
    told = [r.getMessage() for r in caplog.records if "moved" in r.getMessage()]
    assert told == [
        f"feed {spec.url} moved permanently to {to} (HTTP 308): update your feed list; said "
        "once, its polls follow the redirect meanwhile"
    ]


def test_the_summary_names_each_moved_feed() -> None:
    summary = RunSummary(feeds_polled=2, feeds_moved={"http://a/rss": ("https://a/feed", 308)})
    told = (
        "  feed http://a/rss moved permanently to https://a/feed (HTTP 308): update your feed list"
    )
    assert told in summary.render().splitlines()
    assert RunSummary(feeds_polled=2).render().count("moved") == 0
    assert summary.to_json()["feeds"]["moved_permanently"] == [
        {"feed": "http://a/rss", "to": "https://a/feed", "status": 308}
    ]


def _feeds(site: LoopbackSite, tmp_path: Path) -> tuple[str, Path]:
    """Three feeds of one story each: /moved answers 301 to /rss, /for-now 302 to /rss-2,
    /rss-3 answers itself."""
    base = site.add_host("news")
    for n, path in enumerate(("/rss", "/rss-2", "/rss-3")):
        items = add_pages(site, "news", [(f"/story-{n}", f"Cup final {n}", OFF_TOPIC)])
        site.route("news", path, Response(body=rss_feed("news", base, items), content_type=RSS))
    site.route("news", "/moved", redirect(f"{base}/rss", status=301))
    site.route("news", "/for-now", redirect("/rss-2", status=302))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/moved\n{base}/for-now\n{base}/rss-3\n")
    return base, feeds


def test_a_one_shot_run_tells_each_moved_feed_in_its_summary(
    site: LoopbackSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, feeds = _feeds(site, tmp_path)
    out = tmp_path / "out"
    argv = ["run", "--feeds", str(feeds), "--output", str(out), "--allow-loopback"]
    code, stdout, _ = run_cli(capsys, *argv, "--no-robots", "--all-stories", "--no-state")
    assert code == 0
    told = [line for line in stdout.splitlines() if "moved permanently" in line]
    assert told == [
        f"  feed {base}/moved moved permanently to {base}/rss (HTTP 301): update your feed list"
    ], stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feeds"]["moved_permanently"] == [
        {"feed": f"{base}/moved", "to": f"{base}/rss", "status": 301}
    ]
    # every feed was polled, through its redirects
    assert (summary["entries"], summary["feeds"]["failed"]) == (3, {})
    assert feeds.read_text() == f"{base}/moved\n{base}/for-now\n{base}/rss-3\n"  # untouched


def test_a_one_shot_run_tells_a_moved_feed_that_failed_where_it_moved(
    site: LoopbackSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/old answers 301 to /new, which answers 404: the poll fails, and the summary says both,
    so that the user can mend the feed list (it only said http_404 for /old)."""
    base = site.add_host("news")
    site.route("news", "/old", redirect(f"{base}/new", status=301))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/old\n")
    out = tmp_path / "out"
    argv = ["run", "--feeds", str(feeds), "--output", str(out), "--allow-loopback"]
    code, stdout, _ = run_cli(capsys, *argv, "--no-robots", "--no-state")
    assert code == 4  # every feed poll failed
    assert (
        f"  feed {base}/old moved permanently to {base}/new (HTTP 301): update your feed list"
        in stdout.splitlines()
    ), stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feeds"]["moved_permanently"] == [
        {"feed": f"{base}/old", "to": f"{base}/new", "status": 301}
    ]
    assert summary["feeds"]["failed"] == {"poll/http_404": 1}


@pytest.mark.pipeline
def test_an_always_on_run_tells_a_moved_feed_once(
    site: LoopbackSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, feeds = _feeds(site, tmp_path)
    with caplog.at_level(logging.WARNING, logger="transforms.feed_polls"):
        out = run_polling(feeds, tmp_path / "out", "2.5s", "--all-stories")
    assert out.summary["feeds"]["polled"] == 9  # three feeds, three ticks
    assert len(site.requests_for("news", "/moved")) == 3  # polled at its listed URL
    lines = [r.getMessage() for r in caplog.records if r.name == "transforms.feed_polls"]
    assert lines == [
        f"feed {base}/moved moved permanently to {base}/rss (HTTP 301): update your feed "
        "list; said once, its polls follow the redirect meanwhile"
    ]
    assert out.summary["feeds"]["moved_permanently"] == [
        {"feed": f"{base}/moved", "to": f"{base}/rss", "status": 301}
    ]
