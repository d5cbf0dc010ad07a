"""The hostile-server suite: every nasty answer ends as a named discard or dead letter.

Each case is served by a loopback host, checked once through ``HttpClient`` (the exact
error), then all cases run together with good articles through ``FetchArticles`` on the
local runner: the good pages come out, every hostile entry ends in exactly one output
with the right reason, and no response body is ever read past the size cap. Deadlines and
backoffs are small so the suite runs in seconds; a tripwire fails any connection
attempt outside 127.0.0.0/8.
"""

from __future__ import annotations

import functools
import gzip
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
import urllib3.response
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.loopback import LoopbackSite, Request, Response, Route
from pipelines.loopback_feeds import FeedItem, rss_feed
from tests.conftest import RUNNER_ARGS, WHEN, article_html, assert_accounting, run_newsbeam
from tests.loopback_hostile import connection_reset, drip, endless_body, redirect
from transforms.common import DISCARDED, FAILURES, OK
from transforms.fetch import FetchArticles
from transforms.http import FetchError, HttpClient, HttpConfig
from transforms.records import FeedEntry

CAP = 1024 * 1024
FRENCH = "Le café de la gare est fermé. Les élèves sont allés à l'école, où ils ont étudié."
PAGE = f"<!DOCTYPE html><html><body><article><p>{FRENCH}</p></article></body></html>"
CONFIG = HttpConfig(
    allow_loopback=True,
    connect_timeout=1.0,
    read_timeout=1.0,
    deadline=1.5,
    max_page_bytes=CAP,
    backoff_base=0.001,
    retry_after_cap=0.05,
    per_host_in_flight=4,
)


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Running totals of body bytes the client pulled from each response, as read."""
    totals: list[int] = []
    lock = threading.Lock()
    real_read = urllib3.response.HTTPResponse.read

    def counting(self: Any, *args: Any, **kwargs: Any) -> bytes:
        data = real_read(self, *args, **kwargs)
        with lock:
            self.newsbeam_test_read = getattr(self, "newsbeam_test_read", 0) + len(data)
            totals.append(self.newsbeam_test_read)
        return data

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", counting)
    return totals


def sequence(*answers: Response) -> Callable[[Request], Response]:
    """A route that gives each answer once, in order, then repeats the last one."""
    lock = threading.Lock()
    left = list(answers)

    def route(request: Request) -> Response:
        with lock:
            return left.pop(0) if len(left) > 1 else left[0]

    return route


# path -> expected outcome: ("ok",) | ("failure", error_type, retryable) | ("discard", reason)
EXPECTED: dict[str, tuple[str, ...]] = {
    "/drip": ("failure", "deadline_exceeded", "True"),  # 1 byte/s: cut at the deadline
    "/endless": ("failure", "too_large", "False"),
    "/huge": ("failure", "too_large", "False"),  # 50 MB
    "/bomb": ("failure", "too_large", "False"),  # 64 MiB of zeros, gzipped to 64 KiB
    "/loop-a": ("failure", "redirect_loop", "False"),
    "/loop-b": ("failure", "redirect_loop", "False"),
    "/metadata": ("failure", "blocked_address", "False"),  # redirect to 169.254.169.254
    "/internal": ("failure", "blocked_address", "False"),  # redirect to 10.0.0.1
    "/report.pdf": ("discard", "not_html"),
    "/clip": ("discard", "not_html"),
    "/latin1": ("ok",),  # windows-1252 bytes sent as "charset=utf-8"
    "/404": ("failure", "http_404", "False"),
    "/410": ("failure", "http_410", "False"),
    "/500": ("failure", "http_500", "True"),
    "/503": ("failure", "http_503", "True"),  # Retry-After: 120, over the cap
    "/reset": ("failure", "connection_error", "True"),
    "/busy": ("ok",),  # 429 with Retry-After: 0, then 200
    "/private/page": ("discard", "robots_disallowed"),
}


@functools.cache
def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * (64 * CAP), compresslevel=9)


def hostile_routes() -> dict[str, Route]:
    """A fresh route for every path of ``EXPECTED`` (the 429 route keeps a count)."""
    return {
        "/drip": drip(PAGE.encode(), bytes_per_s=1),
        "/endless": endless_body(),
        "/huge": Response(body=b"<p>" * (50 * CAP // 3)),
        "/bomb": Response(body=gzip_bomb(), body_is_gzip=True),
        "/loop-a": redirect("/loop-b"),
        "/loop-b": redirect("/loop-a"),
        "/metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/internal": redirect("http://10.0.0.1/admin"),
        "/report.pdf": Response(body=b"%PDF-1.7\n" + b"\0" * 1000, content_type="application/pdf"),
        "/clip": Response(body=b"\0" * 100, content_type="video/mp4"),
        "/latin1": Response(body=PAGE.encode("cp1252"), content_type="text/html; charset=utf-8"),
        "/404": Response(404),
        "/410": Response(410),
        "/500": Response(500),
        "/503": Response(503, headers={"Retry-After": "120"}),
        "/reset": connection_reset(),
        "/busy": sequence(
            Response(429, headers={"Retry-After": "0"}), Response(body=PAGE.encode())
        ),
        "/private/page": Response(body=PAGE.encode()),
    }


@pytest.fixture
def hostile_site(site: LoopbackSite) -> Iterator[tuple[str, LoopbackSite]]:
    base = site.add_host("hostile")
    site.route("hostile", "/robots.txt", Response(body=b"User-agent: *\nDisallow: /private/\n"))
    for path, route in hostile_routes().items():
        site.route("hostile", path, route)
    yield base, site


def outcome_of(client: HttpClient, url: str) -> tuple[str, ...]:
    try:
        page = client.get(url)
    except FetchError as err:
        if err.error_type in ("not_html", "robots_disallowed"):
            return ("discard", err.error_type)
        return ("failure", err.error_type, str(err.retryable))
    assert FRENCH in page.text()
    return ("ok",)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_each_hostile_case_through_the_client(
    hostile_site: tuple[str, LoopbackSite], body_reads: list[int], path: str
) -> None:
    base, _ = hostile_site
    client = HttpClient(CONFIG)
    try:
        assert outcome_of(client, base + path) == EXPECTED[path]
    finally:
        client.close()
    assert max(body_reads, default=0) <= CAP + 1


def test_hostile_cases_and_good_articles_in_one_run(
    hostile_site: tuple[str, LoopbackSite], body_reads: list[int]
) -> None:
    base, site = hostile_site
    good = [site.add_host(name) + "/story" for name in ("ledger", "courier", "gazette")]
    for name in ("ledger", "courier", "gazette"):
        site.route(name, "/story", Response(body=PAGE.encode()))
    # The 503's Retry-After pauses its whole host for two minutes: on a host of its own, it
    # holds up no other case.
    unavailable = site.add_host("unavailable")
    site.route("unavailable", "/503", hostile_routes()["/503"])
    cases = {
        (unavailable if path == "/503" else base) + path: want for path, want in EXPECTED.items()
    }
    links = [*good, *cases]
    entries = [FeedEntry(feed_url=base + "/rss", link=link, key=link) for link in links]

    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        out = p | beam.Create(entries) | FetchArticles(CONFIG, max_in_flight=8)
        assert_that(
            out[OK] | "Ok" >> beam.Map(lambda page: (page.url, FRENCH in page.html)),
            equal_to(
                [(link, True) for link in good]
                + [(link, True) for link, want in cases.items() if want == ("ok",)]
            ),
            label="CheckOk",
        )
        assert_that(
            out[FAILURES]
            | "Failed" >> beam.Map(lambda f: (f.key, ("failure", f.error_type, str(f.retryable)))),
            equal_to([(link, want) for link, want in cases.items() if want[0] == "failure"]),
            label="CheckFailures",
        )
        assert_that(
            out[DISCARDED] | "Dropped" >> beam.Map(lambda d: (d.key, ("discard", d.reason))),
            equal_to([(link, want) for link, want in cases.items() if want[0] == "discard"]),
            label="CheckDiscarded",
        )
        # Refused at resolution, before any connection: a connect to either address would
        # have tripped the loopback-only fixture and ended as another error type.
        assert_that(
            out[FAILURES]
            | "Refused" >> beam.Filter(lambda f: f.error_type == "blocked_address")
            | "Why" >> beam.Map(lambda f: (f.key, f.message.split(" is at ")[-1])),
            equal_to([
                (base + "/metadata", "169.254.169.254, a link-local address"),
                (base + "/internal", "10.0.0.1, a private address"),
            ]),
            label="CheckRefusedAddresses",
        )  # fmt: skip
    assert max(body_reads) <= CAP + 1


BAD_IPV6 = ("http://[::1/x", "http://[1:2:3]/a")  # an unclosed bracket; not an IPv6 address


def _wire_feed(site: LoopbackSite, extra: Sequence[FeedItem] = ()) -> tuple[str, list[str]]:
    """A "wire" host whose /rss lists two good stories, then ``extra``: (base URL, links)."""
    wire = site.add_host("wire")
    good = [f"{wire}/story/{i}" for i in range(2)]
    items = []
    for i, link in enumerate(good):
        title, text = f"Wire story {i}", "\n".join(f"{FRENCH} ({i}, {n})" for n in range(4))
        site.route("wire", f"/story/{i}", Response(body=article_html(title, text, link)))
        items.append(FeedItem(title, link, link, "", WHEN))
    rss = rss_feed("Wire", wire, [*items, *extra])
    site.route("wire", "/rss", Response(body=rss, content_type="application/rss+xml"))
    return wire, good


def test_bad_ipv6_feed_urls_and_links_end_counted_not_in_a_crash(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """Feed URLs and article links that do not parse end as counted dead letters.

    feedparser blanks a ``<link>`` it cannot resolve; parse_feed takes it as the feed wrote it,
    so it reaches the fetch stage, as does a URL-shaped GUID standing in for a missing link,
    and each ends as a ``bad_url`` dead letter naming it (not ``entry_without_link``). The
    GUID written as the first entry's link is that entry again: a ``duplicate_url`` (one URL
    written twice in a feed is one entry, fetched once).
    """
    bad_items = [FeedItem("Bad link", BAD_IPV6[0], BAD_IPV6[0], "", WHEN)]
    bad_items += [FeedItem(f"Bad GUID {url}", "", url, "", WHEN) for url in BAD_IPV6]
    wire, good = _wire_feed(site, bad_items)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"http://[1:2:3]/feed\n{wire}/rss\nhttp://[::1/feed\n")

    out = run_newsbeam(feeds, tmp_path / "out", "--no-robots", "--all-stories")

    assert_accounting(out)
    s = out.summary
    assert (s["entries"], s["published"], s["discarded"]) == (5, 2, {"duplicate_url": 1})
    assert sorted(story["url"] for story in out.stories) == good
    assert s["failed"] == {"fetch/bad_url": 2}
    assert s["feeds"]["failed"] == {"poll/bad_url": 2}
    bad = {d["url"]: d for d in out.dead_letters if d["error_type"] == "bad_url"}
    assert set(bad) == {*BAD_IPV6, "http://[1:2:3]/feed", "http://[::1/feed"}
    bad_link = [d for d in out.dead_letters if d["url"] == BAD_IPV6[0]]
    assert len(bad_link) == 1  # the bad <link>; the GUID written the same is its repeat
    (repeat,) = out.discards
    assert (repeat["stage"], repeat["reason"]) == ("dedup_entries", "duplicate_url")
    assert all(repr(BAD_IPV6[0]) in d["message"] for d in bad_link)
    assert all(d["message"].startswith("cannot parse") and not d["retryable"] for d in bad.values())


def test_feed_redirected_to_a_url_that_cannot_be_resolved_fails_alone(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """A feed answering 302 to an unclosed IPv6 bracket or a 64-character host label is a
    poll/bad_url dead letter; the run goes on (it crashed PollFeeds, exit 1, no summary)."""
    wire, good = _wire_feed(site)
    shady = site.add_host("shady")
    site.route("shady", "/bracket", redirect("http://[bad/"))
    site.route("shady", "/label", redirect("http://" + "a" * 64 + ".example/rss"))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{shady}/bracket\n{wire}/rss\n{shady}/label\n")

    out = run_newsbeam(feeds, tmp_path / "out", "--no-robots", "--all-stories")

    assert_accounting(out)
    s = out.summary
    assert (s["entries"], s["published"], s["discarded"], s["failed"]) == (2, 2, {}, {})
    assert sorted(story["url"] for story in out.stories) == good
    assert s["feeds"]["failed"] == {"poll/bad_url": 2}
    bad = {d["url"]: d for d in out.dead_letters if d["error_type"] == "bad_url"}
    assert set(bad) == {f"{shady}/bracket", f"{shady}/label"}
    assert not any(d["retryable"] for d in bad.values())
