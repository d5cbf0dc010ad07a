"""parse_feed: entries from RSS/Atom, refused entity declarations, recovered malformed feeds."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines.loopback import LoopbackSite, Request, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from tests.conftest import (
    RUNNER_ARGS,
    STREAMING_RUNNER_ARGS,
    WHEN,
    assert_accounting,
    corpus_path,
    fresh_python_prints,
    read_jsonl,
    run_cli,
    run_newsbeam,
)
from transforms import feed_parsing
from transforms.common import DISCARDED, FAILURES, FEEDS_POLLED, OK, PROGRESS
from transforms.dedup_entries import DedupEntries
from transforms.feed_health import FeedHealth
from transforms.feed_parsing import ParsedFeed, body_sha256, parse_feed
from transforms.feed_polls import STATE, observed_poll, poll_outputs, relisted, request_feed
from transforms.feeds import PollFeeds
from transforms.fetch import FetchArticles
from transforms.http import FetchError, HttpClient, HttpConfig, HttpResult
from transforms.records import Failure, FeedEntry, FeedSpec, FeedState

SPEC = FeedSpec("http://news.example/rss", name="Example News", country="GB")

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example</title><language>en-gb</language>
<item><title>First</title><link>http://news.example/a/1?utm_source=rss</link>
<guid>http://news.example/a/1</guid><pubDate>Tue, 03 Mar 2026 10:00:00 GMT</pubDate>
<description>One</description></item>
<item><title>Second</title><link>/a/2</link><guid isPermaLink="false">x-2</guid></item>
</channel></rss>"""


def test_feeds_parse_without_beam() -> None:
    # The benchmarks' profile and the large-pages benchmark parse feeds through this module
    # alone; Beam's import (~0.7 s) must not come with it.
    code = (
        "import sys, transforms.feed_parsing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam'))"
    )
    assert fresh_python_prints(code) == "[]"


def test_rss_entries_carry_feed_metadata_and_keys() -> None:
    parsed = parse_feed(RSS, SPEC)
    assert parsed.failure is None
    first, second = parsed.entries
    assert first.title == "First"
    assert first.published_at == "2026-03-03T10:00:00+00:00"
    assert first.feed_name == "Example News" and first.feed_country == "GB"
    assert first.feed_language == "en"
    assert "utm_source" not in first.key
    assert second.link == "http://news.example/a/2"  # resolved against the feed URL
    assert first.key != second.key


def test_entry_summary_and_language() -> None:
    first, second = parse_feed(RSS, SPEC).entries
    assert (first.summary, second.summary) == ("One", None)
    french = FeedSpec("http://news.example/rss", language="fr")
    assert {e.feed_language for e in parse_feed(RSS, french).entries} == {"fr"}  # the list wins
    shouting = RSS.replace(b"<language>en-gb</language>", b"<language>EN-GB</language>")
    assert {e.feed_language for e in parse_feed(shouting, SPEC).entries} == {"en"}


def test_relative_uris_resolve_against_the_final_url() -> None:
    link = b"<description>See &lt;a href='/more'&gt;more&lt;/a&gt;</description>"
    rss = RSS.replace(b"<description>One</description>", link)
    first, second = parse_feed(rss, SPEC, final_url="http://mirror.example/feeds/rss").entries
    assert second.link == "http://mirror.example/a/2"
    assert first.summary == 'See <a href="http://mirror.example/more">more</a>'


def test_upper_case_url_guid_stands_in_for_a_missing_link() -> None:
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><guid isPermaLink="false">HTTPS://news.example/a/9</guid></item>
    </channel></rss>"""
    (entry,) = parse_feed(rss, SPEC).entries
    assert entry.link == "HTTPS://news.example/a/9"
    assert entry.key == "https://news.example/a/9"


def _one_item(item: str) -> bytes:
    return f'<rss version="2.0"><channel><title>T</title>{item}</channel></rss>'.encode()


NEWS_FEED = FeedSpec("http://news.example/news/feed")


@pytest.mark.parametrize(
    "guid",
    [
        "abc-123",  # feedparser made it http://news.example/news/abc-123
        "12345",
        "/a/5",
        "tag:example.com,2024:1",
        "urn:uuid:1225c695-cfb8-4ebb-8f10-80da344efa6a",
        "http:///a/5",  # no host (feedparser makes it http://a/5)
    ],
)
def test_a_guid_the_feed_did_not_write_as_a_web_url_is_no_link(guid: str) -> None:
    # RSS 2.0 GUIDs are permalinks unless they say otherwise, and feedparser copies one into
    # the link and resolves it against the feed's URL: the entry's page was a URL the feed
    # never held. As Atom ids, the same.
    (entry,) = parse_feed(
        _one_item(f"<item><title>x</title><guid>{guid}</guid></item>"), NEWS_FEED
    ).entries
    assert entry.link == ""
    atom = f"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <entry><title>x</title><id>{guid}</id></entry></feed>""".encode()
    (entry,) = parse_feed(atom, NEWS_FEED).entries
    assert entry.link == ""


@pytest.mark.parametrize(
    "guid", ["http://other.example/a/5", "https://news.example/a/5", "HTTP://news.example/a/5"]
)
def test_a_guid_written_as_a_web_url_still_stands_in_for_a_missing_link(guid: str) -> None:
    # On the feed's own host, too (told apart from a resolved relative GUID as written).
    for item in (
        f"<item><title>x</title><guid>{guid}</guid></item>",
        f'<item><title>x</title><guid isPermaLink="false">{guid}</guid></item>',
        f"<item><title>x</title><link>#</link><guid>{guid}</guid></item>",
    ):
        (entry,) = parse_feed(_one_item(item), NEWS_FEED).entries
        assert entry.link.lower() == guid.lower(), item


@pytest.mark.parametrize(
    "link",
    [
        "http://",  # resolved to the feed's own URL
        "#",
        "#latest",
        "?",
        "",
        "http://news.example/news/feed",
        "HTTP://NEWS.EXAMPLE/news/feed#x",
        "https://",
        "http:///a/5",  # feedparser made it http://a/5
        "http:/a/5",  # and this http://news.example/a/5
        "https:a/5",
    ],
)
def test_a_link_without_a_host_or_back_to_the_feed_itself_is_no_link(link: str) -> None:
    rss = _one_item(f"<item><title>x</title><link>{link}</link></item>")
    (entry,) = parse_feed(rss, NEWS_FEED, final_url=NEWS_FEED.url).entries
    assert entry.link == ""


def test_real_relative_links_still_resolve_against_the_feed() -> None:
    links = ["/a/2", "a/3", ".", "//other.example/a/4", "http://news.example/news/feed/5"]
    rss = _one_item(
        "".join(f"<item><title>{i}</title><link>{x}</link></item>" for i, x in enumerate(links))
    )
    got = [e.link for e in parse_feed(rss, NEWS_FEED).entries]
    assert got == [
        "http://news.example/a/2",
        "http://news.example/news/a/3",
        "http://news.example/news/",
        "http://other.example/a/4",
        "http://news.example/news/feed/5",
    ]


def test_published_date_wins_over_updated() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <entry><title>Hello</title><id>urn:1</id><link href="https://news.example/hello"/>
    <published>2026-01-01T00:00:00Z</published><updated>2026-02-02T00:00:00Z</updated></entry>
    </feed>"""
    (entry,) = parse_feed(atom, SPEC).entries
    assert entry.published_at == "2026-01-01T00:00:00+00:00"


def test_a_date_past_year_9999_is_no_date() -> None:
    rss = RSS.replace(b"Tue, 03 Mar 2026 10:00:00 GMT", b"9999-12-31T23:59:59-14:00")
    first, _ = parse_feed(rss, SPEC).entries
    assert first.published_at is None


def test_atom_feed() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
    <title>A</title><entry><title>Hello</title><id>urn:1</id>
    <link href="https://news.example/hello"/><updated>2026-01-02T03:04:05Z</updated></entry>
    </feed>"""
    (entry,) = parse_feed(atom, SPEC).entries
    assert entry.link == "https://news.example/hello"
    assert entry.published_at == "2026-01-02T03:04:05+00:00"


def test_links_and_guids_that_do_not_parse_leave_entries_not_exceptions() -> None:
    # feedparser blanks a <link> it cannot resolve, which is taken as written instead; an
    # unresolvable URL-shaped GUID is kept and stands in for a missing link (the fetch stage
    # refuses both as bad_url).
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><link>http://[::1/x</link><guid isPermaLink="false">a</guid></item>
    <item><title>B</title><guid isPermaLink="false">http://[1:2:3]/b</guid></item>
    </channel></rss>"""
    first, second = parse_feed(rss, SPEC).entries
    assert (first.link, second.link) == ("http://[::1/x", "http://[1:2:3]/b")
    assert (first.key, second.key) == ("guid::a", "guid::http://[1:2:3]/b")


def test_entity_declarations_are_refused_before_parsing() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<rss><channel><item><title>&b;</title><link>http://x.example/</link></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(bomb, SPEC)
    assert parsed.entries == ()
    assert parsed.failure is not None
    assert parsed.failure.error_type == "xml_entities"
    assert parsed.failure.counts_entry is False
    assert parsed.failure.key == SPEC.url and not parsed.failure.retryable
    assert parsed.failure.input_excerpt.startswith('<?xml version="1.0"?><!DOCTYPE rss')


def test_malformed_feed_recovers_entries() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>Third & fourth</title>")
    parsed = parse_feed(broken, SPEC)
    assert parsed.failure is None
    assert parsed.recovered
    assert [e.title for e in parsed.entries][:2] == ["First", "Second"]


def twenty_stories(base: str) -> bytes:
    items = [FeedItem(f"Story {i}", f"{base}/story/{i}", f"g{i}", "s", WHEN) for i in range(20)]
    return rss_feed("n", base, items)


def test_a_feed_read_in_part_says_so_in_a_retryable_feed_level_dead_letter() -> None:
    # A 20-item feed cut at 60%: the entries before the cut go on, and the feed is a dead
    # letter saying how many were recovered and what the parser said (it was a success).
    full = twenty_stories("http://news.example")
    parsed = parse_feed(full[: len(full) * 6 // 10], SPEC)
    assert parsed.failure is None
    assert [e.title for e in parsed.entries] == [f"Story {i}" for i in range(len(parsed.entries))]
    assert 10 <= len(parsed.entries) < 20
    partial = parsed.partial
    assert partial is not None
    assert (partial.stage, partial.key, partial.error_type) == (
        "poll",
        SPEC.url,
        "malformed_feed_recovered",
    )
    assert partial.retryable and not partial.counts_entry
    assert f"{len(parsed.entries)} entries recovered" in partial.message
    assert "the parser said: <unknown>:" in partial.message
    assert partial.input_excerpt.startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert parse_feed(full, SPEC).partial is None


def test_html_page_is_not_a_feed() -> None:
    parsed = parse_feed(b"<html><body><p>Hello</p></body></html>", SPEC)
    assert parsed.entries == ()
    assert parsed.failure is not None
    assert parsed.failure.error_type == "not_a_feed"
    assert parsed.failure.message == "not an RSS or Atom feed: an HTML page"


JSON_FEED = b"""{"version": "https://jsonfeed.org/version/1.1", "title": "News",
 "items": [{"id": "1", "url": "https://news.example/a/1", "title": "One"}]}"""


@pytest.mark.parametrize(
    ("body", "looks_like"),
    [
        # Real HTML is not XML: feedparser said "mismatched tag", "not well-formed", ...
        (
            b"<!DOCTYPE html>\n<html><head><meta charset=utf-8><title>News &amp; more</title>"
            b"</head><body><p>Hello<br></p></body></html>",
            "an HTML page titled 'News & more'",
        ),
        (b"<br />\n<b>Fatal error</b>: Allowed memory size exhausted", "an HTML page"),
        (JSON_FEED, "a JSON Feed (newsbeam reads RSS and Atom only)"),
        (b'{"error": "rate limited"}', "a JSON document"),
        (b"Service temporarily unavailable\n", "text starting 'Service temporarily unavailable'"),
        (b"", "an empty document (0 bytes)"),
        (b"  \r\n", "an empty document (4 bytes)"),
        (
            b'<?xml version="1.0"?><opml version="2.0"><body><outline xmlUrl="http://a/f"/>'
            b"</body></opml>",
            "an XML document whose root element is <opml>",
        ),
        # found by fuzzing: json.loads raised RecursionError, an internal_error dead letter
        (b"[" * 5000 + b"]" * 5000, "text starting '" + "[" * 60 + "'"),
    ],
    ids=["html", "html error", "json feed", "json", "text", "empty", "blank", "opml", "deep json"],
)
def test_a_body_with_no_feed_in_it_is_not_a_feed_and_says_what_it_is(
    body: bytes, looks_like: str
) -> None:
    parsed = parse_feed(body, SPEC)
    assert parsed.entries == ()
    assert parsed.failure is not None
    assert parsed.failure.error_type == "not_a_feed"
    assert parsed.failure.message == f"not an RSS or Atom feed: {looks_like}"
    assert parsed.failure.key == SPEC.url and not parsed.failure.counts_entry


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>News</tit',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></fed>',
        b'<?xml version="1.0"?>\n<rss version="2.0"',  # cut inside the root's start tag
        b'<?xml version="1.0"?>\n',  # cut after the declaration
    ],
    ids=["rss cut", "atom mismatched", "cut in the root tag", "declaration only"],
)
def test_a_broken_rss_or_atom_feed_with_no_entries_is_still_a_malformed_feed(body: bytes) -> None:
    parsed = parse_feed(body, SPEC)
    assert parsed.failure is not None
    assert parsed.failure.error_type == "malformed_feed"
    # none reaches its root's end tag: said first, as the parser names only its first fault
    # (an undefined entity early in a feed cut short, say)
    ends = "the document ends before its root element does; parser: <unknown>:"
    assert parsed.failure.message.startswith(ends)


def _corpus_feed_files() -> list[Path]:
    root = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".json")


@pytest.mark.realworld
def test_every_corpus_feed_parses_or_fails_cleanly() -> None:
    corpus_path("feeds")
    files = _corpus_feed_files()
    outcomes = {"entries": 0, "failure": 0, "empty": 0}
    for path in files:
        parsed = parse_feed(path.read_bytes(), FeedSpec(f"http://feeds.example/{path.name}"))
        assert isinstance(parsed, ParsedFeed), path
        if parsed.failure is not None:
            assert parsed.entries == (), path
            assert parsed.failure.message, path
            outcomes["failure"] += 1
        elif parsed.entries:
            assert all(e.key for e in parsed.entries), path
            outcomes["entries"] += 1
        else:
            outcomes["empty"] += 1
    assert len(files) > 2000
    assert outcomes["entries"] > 0.5 * len(files)


@pytest.mark.realworld
@pytest.mark.parametrize("name", ["xmlbomb.xml", "external.xml"])
def test_hostile_xml_inside_a_feed_never_expands(name: str) -> None:
    path = corpus_path("feeds", "hostile-xml")
    candidates = list(path.glob(name))
    if not candidates:
        corpus_path("feeds", "hostile-xml", name)  # absent: skips the test (fails it on CI)
    doc = candidates[0].read_bytes()
    prolog, _, rest = doc.partition(b"]>")
    wrapped = prolog + b"]><rss version='2.0'><channel><item><title>" + rest + b"</title>"
    wrapped += b"<link>http://x.example/1</link></item></channel></rss>"
    parsed = parse_feed(wrapped, SPEC)
    assert parsed.failure is not None and parsed.failure.error_type == "xml_entities"


@pytest.mark.realworld
def test_a_feed_whose_dtd_declares_only_elements_parses() -> None:
    # The corpus's third hostile-xml file declares elements and no entity: nothing to expand,
    # so the refusal of entity-declaring feeds must not catch it; its item is read.
    doc = corpus_path("feeds", "hostile-xml", "dtd_element.xml").read_bytes()
    assert b"<!ELEMENT" in doc and b"<!ENTITY" not in doc
    prolog, _, rest = doc.partition(b"]>")
    wrapped = prolog + b"]><rss version='2.0'><channel><item><title>" + rest + b"</title>"
    wrapped += b"<link>http://x.example/1</link></item></channel></rss>"
    parsed = parse_feed(wrapped, SPEC)
    assert parsed.failure is None
    assert [e.link for e in parsed.entries] == ["http://x.example/1"]
    assert "A test" in (parsed.entries[0].title or "")


# --- PollFeeds in one-shot runs: many feeds at once ------------------------------------


def test_one_shot_polling_asks_every_host_at_once_and_each_host_one_feed_at_a_time(
    site: LoopbackSite,
) -> None:
    names = ("ledger", "courier", "herald")
    bases = {name: site.add_host(name) for name in names}
    # The first feed of each host answers only once all three are being asked: polled one
    # at a time, it would wait in vain (the barrier breaks after 10 s, the poll fails).
    everyone_asked = threading.Barrier(len(names), timeout=10)
    lock = threading.Lock()
    asking: Counter[str] = Counter()
    most: Counter[str] = Counter()

    def feed(name: str, number: int) -> Callable[[Request], Response]:
        items = [
            FeedItem(
                f"{name} {number}.{i}", f"{bases[name]}/story/{number}/{i}", f"g{i}", "s", WHEN
            )
            for i in range(2)
        ]
        body = rss_feed(name, bases[name], items)

        def answer(request: Request) -> Response:
            with lock:
                asking[name] += 1
                most[name] = max(most[name], asking[name])
            try:
                if number == 1:
                    everyone_asked.wait()
                if name == "ledger":
                    time.sleep(0.3)  # a slow host: two requests to it at once would overlap
                return Response(body=body, content_type="application/rss+xml")
            finally:
                with lock:
                    asking[name] -= 1

        return answer

    specs = []
    for name in names:
        for number in (1, 2) if name == "ledger" else (1,):
            site.route(name, f"/feed-{number}.xml", feed(name, number))
            specs.append(FeedSpec(f"{bases[name]}/feed-{number}.xml"))

    config = HttpConfig(allow_loopback=True, deadline=20.0)
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled = p | beam.Create(specs) | PollFeeds(config, concurrent=True, max_in_flight=8)
        assert_that(
            polled[OK] | "Links" >> beam.Map(lambda e: e.link),
            equal_to(
                [
                    f"{bases[name]}/story/{number}/{i}"
                    for name in names
                    for number in ((1, 2) if name == "ledger" else (1,))
                    for i in range(2)
                ]
            ),
            label="CheckEntries",
        )
        assert_that(polled[FAILURES], equal_to([]), label="CheckNoFailures")
        assert_that(
            polled[STATE] | "Urls" >> beam.Map(lambda s: s.feed_url),
            equal_to([s.url for s in specs]),
            label="CheckStates",
        )
    assert most == Counter({name: 1 for name in names})  # never two requests to one host


def test_feed_polls_and_page_fetches_share_one_bound_per_host(site: LoopbackSite) -> None:
    # One host, at most 2 requests at once. Its second feed answers once 2 of its pages are
    # being answered at the same time, and those pages hold on until the feed has answered:
    # with a client per stage (the poll's own bound beside the fetch's) the host sees 3
    # requests at once. With the process's one client the third request waits for a slot,
    # and the waits run out instead (a second or so).
    base = site.add_host("wire")
    cond = threading.Condition()
    now = {"all": 0, "pages": 0}
    peak = [0]
    feed_answered = [False]

    def enter(kind: str) -> None:
        with cond:
            now["all"] += 1
            now[kind] = now.get(kind, 0) + 1
            peak[0] = max(peak[0], now["all"])
            cond.notify_all()

    def leave(kind: str) -> None:
        with cond:
            now["all"] -= 1
            now[kind] -= 1
            cond.notify_all()

    def page(request: Request) -> Response:
        enter("pages")
        try:
            with cond:
                cond.wait_for(lambda: feed_answered[0], 1.5)
            return Response(body=b"<html><body><p>a story</p></body></html>")
        finally:
            leave("pages")

    def second_feed(request: Request) -> Response:
        enter("feeds")
        try:
            with cond:
                cond.wait_for(lambda: now["pages"] >= 2, 1.0)
                feed_answered[0] = True
                cond.notify_all()
            items = [FeedItem("late", f"{base}/p/9", "g9", "s", WHEN)]
            return Response(body=rss_feed("wire", base, items), content_type="application/rss+xml")
        finally:
            leave("feeds")

    items = [FeedItem(f"s{i}", f"{base}/p/{i}", f"g{i}", "s", WHEN) for i in range(4)]
    site.route(
        "wire",
        "/feed-1.xml",
        Response(body=rss_feed("wire", base, items), content_type="application/rss+xml"),
    )
    site.route("wire", "/feed-2.xml", second_feed)
    for i in (*range(4), 9):
        site.route("wire", f"/p/{i}", page)

    config = HttpConfig(
        allow_loopback=True, deadline=20.0, respect_robots=False, per_host_in_flight=2
    )
    specs = [FeedSpec(f"{base}/feed-1.xml"), FeedSpec(f"{base}/feed-2.xml")]
    poll_then_fetch(config, specs, [f"{base}/p/{i}" for i in (*range(4), 9)])
    assert peak[0] == 2  # feed and page requests together, never more than the bound


def test_one_shot_polling_hands_on_a_feeds_entries_without_waiting_for_later_feeds(
    site: LoopbackSite,
) -> None:
    # The second feed answers only once a page of the first feed has been requested: a poll
    # that held the first feed's entries until every feed had answered would never see it.
    first, second = site.add_host("first"), site.add_host("second")
    page_asked = threading.Event()

    def page(request: Request) -> Response:
        page_asked.set()
        return Response(body=b"<html><body><p>story</p></body></html>")

    def second_feed(request: Request) -> Response:
        assert page_asked.wait(timeout=10), "the first feed's entries were held back"
        items = [FeedItem("later", f"{second}/later", "g2", "s", WHEN)]
        return Response(body=rss_feed("second", second, items), content_type="application/rss+xml")

    items = [FeedItem("early", f"{first}/early", "g1", "s", WHEN)]
    site.route(
        "first",
        "/rss",
        Response(body=rss_feed("first", first, items), content_type="application/rss+xml"),
    )
    site.route("first", "/early", page)
    site.route("second", "/rss", second_feed)
    site.route("second", "/later", Response(body=b"<html><body><p>later</p></body></html>"))

    config = HttpConfig(allow_loopback=True, deadline=20.0, respect_robots=False)
    specs = [FeedSpec(f"{first}/rss"), FeedSpec(f"{second}/rss")]
    poll_then_fetch(config, specs, [f"{first}/early", f"{second}/later"])


def poll_then_fetch(config: HttpConfig, specs: list[FeedSpec], page_urls: list[str]) -> None:
    """Run the one-shot poll into FetchArticles; every page of ``page_urls`` is fetched and
    no feed fails."""
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled = p | beam.Create(specs) | PollFeeds(config, concurrent=True, max_in_flight=4)
        fetched = polled[OK] | FetchArticles(config, max_in_flight=4)
        assert_that(fetched[OK] | "Urls" >> beam.Map(lambda page: page.url), equal_to(page_urls))
        assert_that(polled[FAILURES], equal_to([]), label="CheckNoFailures")


@pytest.mark.parametrize("concurrent", [True, False])
def test_a_client_bug_on_one_feed_is_that_feeds_dead_letter_not_the_runs_end(
    site: LoopbackSite, monkeypatch: pytest.MonkeyPatch, concurrent: bool
) -> None:
    base = site.add_host("news")
    items = [FeedItem("Story", f"{base}/story/1", "g1", "s", WHEN)]
    site.route("news", "/good.xml", Response(body=rss_feed("n", base, items)))
    real_get = HttpClient.get

    def buggy_get(self: HttpClient, url: str, **kwargs: object) -> object:
        if url.endswith("/buggy.xml"):
            raise RuntimeError("a bug in the client")
        return real_get(self, url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(HttpClient, "get", buggy_get)
    specs = [FeedSpec(f"{base}/buggy.xml"), FeedSpec(f"{base}/good.xml")]
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled = p | beam.Create(specs) | PollFeeds(config, concurrent=concurrent)
        assert_that(
            polled[OK] | "Links" >> beam.Map(lambda e: e.link),
            equal_to([f"{base}/story/1"]),
            label="CheckEntries",
        )
        assert_that(
            polled[FAILURES]
            | "Outcomes" >> beam.Map(lambda f: (f.key, f.outcome, f.counts_entry, f.message)),
            equal_to(
                [(specs[0].url, "poll/internal_error", False, "RuntimeError: a bug in the client")]
            ),
            label="CheckFailure",
        )


def test_a_valid_feed_without_entries_is_empty_not_malformed() -> None:
    # feedparser flags every document it gets here ("no Content-type specified"): that alone
    # made a channel with no items yet a malformed_feed dead letter.
    empty = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x'
    parsed = parse_feed(empty + b"</title></channel></rss>", SPEC)
    assert parsed == ParsedFeed(())
    broken = parse_feed(empty + b"</title></chanel></rss>", SPEC)
    assert broken.failure is not None and broken.failure.error_type == "malformed_feed"
    assert parse_feed(RSS, SPEC).recovered is False  # a well-formed feed was never "recovered"


def test_a_parser_bug_on_one_feed_is_that_feeds_dead_letter_not_a_failed_bundle(
    site: LoopbackSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transforms.feed_polls

    base = site.add_host("news")
    items = [FeedItem("Story", f"{base}/story/1", "g1", "s", WHEN)]
    site.route("news", "/good.xml", Response(body=rss_feed("n", base, items)))
    site.route("news", "/odd.xml", Response(body=rss_feed("odd", base, [])))
    real_parse = transforms.feed_polls.parse_feed

    def buggy_parse(body: bytes, spec: FeedSpec, **kwargs: Any) -> ParsedFeed:
        if spec.url.endswith("/odd.xml"):
            raise RecursionError("a bug in the parser")
        return real_parse(body, spec, **kwargs)

    monkeypatch.setattr(transforms.feed_polls, "parse_feed", buggy_parse)
    specs = [FeedSpec(f"{base}/odd.xml"), FeedSpec(f"{base}/good.xml")]
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled = p | beam.Create(specs) | PollFeeds(config)
        assert_that(
            polled[OK] | "Links" >> beam.Map(lambda e: e.link),
            equal_to([f"{base}/story/1"]),
            label="CheckEntries",
        )
        assert_that(
            polled[FAILURES] | "Outcomes" >> beam.Map(lambda f: (f.key, f.outcome, f.counts_entry)),
            equal_to([(specs[0].url, "poll/internal_error", False)]),
            label="CheckFailure",
        )


def test_a_polled_feed_is_decoded_by_the_charset_its_server_names(site: LoopbackSite) -> None:
    base = site.add_host("news")
    title = "\u0417\u0430\u043f\u0440\u0435\u0442 TikTok"  # "TikTok ban", in Russian
    body = rss_feed("n", base, [FeedItem(title, f"{base}/story/1", "g1", "s", WHEN)])
    declaration, undeclared = body.split(b"\n", 1)  # as old Russian sites serve it:
    assert b'encoding="utf-8"' in declaration  # no declaration, the charset in the header only
    cp1251 = undeclared.decode("utf-8").encode("windows-1251")
    site.route(
        "news", "/ru.xml", Response(body=cp1251, content_type="text/xml; charset=windows-1251")
    )
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled = p | beam.Create([FeedSpec(f"{base}/ru.xml")]) | PollFeeds(config)
        assert_that(polled[OK] | "Titles" >> beam.Map(lambda e: e.title), equal_to([title]))


RUSSIAN_TITLES = [  # "TikTok ban in Russia takes effect on Monday, Roskomnadzor said", ...
    "\u0417\u0430\u043f\u0440\u0435\u0442 TikTok \u0432 \u0420\u043e\u0441\u0441\u0438\u0438 "
    "\u0432\u0441\u0442\u0443\u043f\u0438\u0442 \u0432 \u0441\u0438\u043b\u0443 "
    "\u0441 \u043f\u043e\u043d\u0435\u0434\u0435\u043b\u044c\u043d\u0438\u043a\u0430",
    "\u041c\u0438\u043d\u0446\u0438\u0444\u0440\u044b \u043e\u043f\u0443\u0431\u043b"
    "\u0438\u043a\u043e\u0432\u0430\u043b\u043e \u043d\u043e\u0432\u044b\u0435 "
    "\u043f\u0440\u0430\u0432\u0438\u043b\u0430 \u0434\u043b\u044f \u0441\u043e\u0446"
    "\u0441\u0435\u0442\u0435\u0439",
]
JAPANESE_TITLES = [  # "The government submitted a bill tightening social media rules", ...
    "\u653f\u5e9c\u306f\u30bd\u30fc\u30b7\u30e3\u30eb\u30e1\u30c7\u30a3\u30a2\u306e"
    "\u898f\u5236\u3092\u5f37\u5316\u3059\u308b\u6cd5\u6848\u3092\u63d0\u51fa\u3057"
    "\u305f",
    "\u7dcf\u52d9\u7701\u306f\u52d5\u753b\u30a2\u30d7\u30ea\u306e\u5229\u7528\u8005"
    "\u30c7\u30fc\u30bf\u306b\u3064\u3044\u3066\u8abf\u67fb\u3092\u958b\u59cb\u3057"
    "\u305f",
]


def undeclared_feed(base: str, titles: list[str], encoding: str) -> bytes:
    """A feed in ``encoding`` that names no encoding: no XML declaration (nor, served, a
    charset in its Content-Type)."""
    items = [FeedItem(t, f"{base}/story/{i}", f"g{i}", "s", WHEN) for i, t in enumerate(titles)]
    declaration, undeclared = rss_feed("n", base, items).split(b"\n", 1)
    assert b'encoding="utf-8"' in declaration
    return undeclared.decode("utf-8").encode(encoding)


@pytest.mark.parametrize(
    ("titles", "encoding"),
    [(RUSSIAN_TITLES, "windows-1251"), (JAPANESE_TITLES, "shift_jis")],
    ids=["windows-1251", "shift_jis"],
)
def test_a_feed_that_names_no_encoding_and_is_not_utf8_is_decoded_by_detection(
    titles: list[str], encoding: str
) -> None:
    # feedparser took such bytes as windows-1252: mojibake titles, published silently.
    body = undeclared_feed("http://news.example", titles, encoding)
    for content_type in (None, "application/rss+xml"):
        parsed = parse_feed(body, SPEC, content_type=content_type)
        assert parsed.failure is None and parsed.partial is None
        assert [e.title for e in parsed.entries] == titles


def test_a_short_western_feed_that_names_no_encoding_is_still_read_as_windows_1252() -> None:
    # Three umlauts are too few to detect from (charset_normalizer says cp775, Baltic):
    # feedparser's windows-1252 stands.
    title = "Bundesregierung pr\u00fcft ein Verbot, Datensch\u00fctzer \u00e4u\u00dfern Bedenken"
    body = undeclared_feed("http://news.example", [title], "cp1252")
    assert [e.title for e in parse_feed(body, SPEC).entries] == [title]


@pytest.mark.realworld
def test_corpus_feeds_that_name_no_encoding_are_decoded_by_detection_western_ones_stay() -> None:
    # feedparser's own chardet cases (it used chardet, which is not installed here), and a
    # Brazilian ISO-8859-1 feed that detection alone, on coherence, took for cp1257 (Baltic).
    root = corpus_path("feeds")
    chardet = root / "feedparser-tests" / "illformed" / "chardet"
    expected = {
        "koi8r.xml": "\u041a\u0430\u043a \u043f\u0435\u0440\u0435\u0436\u0438\u0442\u044c",
        "shiftjis.xml": "DrecomRSS\u306b\u8a18\u4e8b\u6295\u7a3f",
        "eucjp.xml": "\u30b2\u30fc\u30e0\u4e09\u6627",
        "euckr.xml": "EUC-KR \uc5d0\uc11c TypeKey",
    }
    for name, start in expected.items():
        (entry,) = parse_feed((chardet / name).read_bytes(), SPEC).entries
        assert (entry.title or "").startswith(start), name
    uol = (root / "rss-parser" / "input" / "uolNoticias.rss").read_bytes()
    titles = [e.title for e in parse_feed(uol, SPEC).entries]
    assert "Rival de Putin \u00e9 condenado a mais 20 dias de pris\u00e3o" in titles


def test_a_polled_feed_that_names_no_encoding_is_decoded_by_detection(site: LoopbackSite) -> None:
    base = site.add_host("news")
    for path, titles, encoding in (
        ("/ru.xml", RUSSIAN_TITLES, "windows-1251"),
        ("/ja.xml", JAPANESE_TITLES, "shift_jis"),
    ):
        body = undeclared_feed(base, titles, encoding)
        site.route("news", path, Response(body=body, content_type="application/rss+xml"))
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    specs = [FeedSpec(f"{base}/ru.xml"), FeedSpec(f"{base}/ja.xml")]
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled = p | beam.Create(specs) | PollFeeds(config)
        assert_that(
            polled[OK] | "Titles" >> beam.Map(lambda e: e.title),
            equal_to(RUSSIAN_TITLES + JAPANESE_TITLES),
            label="CheckTitles",
        )
        assert_that(polled[FAILURES], equal_to([]), label="CheckNoFailures")


# --- one poll's outputs (the core of PollFeeds, without Beam's runner) -----------------


def polled(response: Any, before: FeedState | None = None) -> dict[str, list[Any]]:
    """What ``poll_outputs`` gives for ``response`` to a poll of SPEC, by output."""
    outputs: dict[str, list[Any]] = {OK: [], FAILURES: [], STATE: []}
    for output in poll_outputs(SPEC, before or FeedState(SPEC.url), response, 0):
        if isinstance(output, TaggedOutput):
            outputs.setdefault(output.tag, []).append(output.value)
        else:
            outputs[OK].append(output)
    return outputs


def feed_answer(body: bytes, **fields: Any) -> HttpResult:
    values: dict[str, Any] = {"url": SPEC.url, "final_url": SPEC.url, "status": 200}
    return HttpResult(body=body, **{**values, **fields})


def test_a_feed_that_cannot_be_fetched_is_a_feed_level_dead_letter() -> None:
    # The fetch error's type and retryability are kept (a 503 is worth polling again), its
    # message cut to 300 characters; no entry was lost, so it does not count as one.
    error = FetchError("http_503", "HTTP 503 " + "x" * 400, True, status=503)
    (failure,) = polled(error)[FAILURES]
    assert isinstance(failure, Failure)
    assert (failure.stage, failure.key, failure.error_type) == ("poll", SPEC.url, "http_503")
    assert failure.retryable and not failure.counts_entry
    assert failure.message == ("HTTP 503 " + "x" * 400)[:300]


def test_the_state_kept_is_the_answers_validators_and_body_hash() -> None:
    answer = feed_answer(RSS, etag='"v2"', last_modified="Tue, 03 Mar 2026 10:00:00 GMT")
    (state,) = polled(answer)[STATE]
    assert state == FeedState(SPEC.url, '"v2"', "Tue, 03 Mar 2026 10:00:00 GMT", body_sha256(RSS))


def test_an_unchanged_feed_gives_its_state_again_and_no_entries() -> None:
    """Not modified, or the same body again: the state as it was, so that the state
    directory can tell the feed still lists what it listed (and keep those entries)."""
    before = FeedState(SPEC.url, '"v1"', None, body_sha256(RSS))
    not_modified = feed_answer(b"", status=304, etag='"v1"')
    same_body = feed_answer(RSS, etag='"v2"')
    assert polled(not_modified, before) == {OK: [], FAILURES: [], STATE: [before]}
    again = polled(same_body, before)
    assert again[OK] == [] and again[FAILURES] == []
    assert again[STATE] == [FeedState(SPEC.url, '"v2"', None, body_sha256(RSS))]


def test_a_not_modified_answer_that_names_new_validators_keeps_them() -> None:
    # RFC 9111 4.3.4: a 304's validators replace those stored; they were dropped.
    before = FeedState(SPEC.url, None, "Mon, 02 Mar 2026 10:00:00 GMT", body_sha256(RSS))
    not_modified = feed_answer(b"", status=304, etag='"v3"', last_modified=before.last_modified)
    (state,) = polled(not_modified, before)[STATE]
    assert state == FeedState(SPEC.url, '"v3"', before.last_modified, body_sha256(RSS))


def test_a_body_that_does_not_parse_keeps_no_state_so_it_fails_again() -> None:
    """A broken feed's body hash is not remembered: polled again with the same body, it is a
    dead letter again, not "not modified" (a feed that stays broken stays in the summary)."""
    broken = b"<html><body><p>Gone fishing</p></body></html>"
    first = polled(feed_answer(broken, etag='"b1"'))
    assert first[STATE] == [] and first[OK] == []
    (failure,) = first[FAILURES]
    assert failure.stage == "poll" and not failure.counts_entry
    again = polled(feed_answer(broken, etag='"b1"'))
    assert [f.error_type for f in again[FAILURES]] == [failure.error_type]


def test_a_feed_read_in_part_keeps_no_state_so_the_next_poll_reads_it_again() -> None:
    """Its entries go on after its dead letter; its body hash is not remembered, so the same
    cut body polled again is parsed (and reported) again, not passed as "not modified"."""
    full = twenty_stories("http://news.example")
    cut = full[: len(full) * 6 // 10]
    for _ in range(2):
        outputs = polled(feed_answer(cut, etag='"c1"'))
        assert outputs[STATE] == []
        (failure,) = outputs[FAILURES]
        assert failure.error_type == "malformed_feed_recovered"
        assert [e.title for e in outputs[OK]] == [e.title for e in parse_feed(cut, SPEC).entries]
    whole = polled(feed_answer(full, etag='"f1"'))
    assert whole[FAILURES] == [] and len(whole[OK]) == 20
    assert whole[STATE] == [FeedState(SPEC.url, '"f1"', None, body_sha256(full))]


@pytest.mark.pipeline
def test_a_run_on_a_feed_cut_short_reads_it_in_part_then_in_full(
    site: LoopbackSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One-shot runs with a state directory: the cut feed's entries go on and the run does not
    exit 4 (the feed was read, in part); the same cut body next run is read and reported
    again; once whole, the entries the cut lost are handled and the others are seen ones."""
    base = site.add_host("news")
    full = twenty_stories(base)
    cut = full[: len(full) * 6 // 10]
    recovered = len(parse_feed(cut, SPEC).entries)
    feed = Response(body=cut, content_type="application/rss+xml")
    site.route("news", "/rss", feed)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    args = ["run", "--feeds", str(feeds), "--allow-loopback", "--no-robots"]
    state = ["--state-dir", str(tmp_path / "state")]

    def run(name: str) -> tuple[int, str, dict[str, Any], list[dict[str, Any]]]:
        code, out, _ = run_cli(capsys, *args, "--output", str(tmp_path / name), *state)
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        return code, out, summary, read_jsonl(tmp_path / name, "dead_letters")

    for name in ("first", "again"):
        code, out, summary, dead = run(name)
        assert code == 0
        assert "feeds: 1 polled, 0 not modified, 0 failed, 1 malformed but read in part" in out
        assert summary["feeds"]["failed"] == {} and summary["feeds"]["read_in_part"] == 1
        (letter,) = [d for d in dead if not d["counts_entry"]]
        assert (letter["url"], letter["error_type"], letter["retryable"]) == (
            f"{base}/rss",
            "malformed_feed_recovered",
            True,
        )
        assert f"{recovered} entries recovered" in letter["message"]
        assert f"{base}/rss" not in (tmp_path / "state" / "feeds.json").read_text()
    assert summary["entries"] == recovered
    assert summary["discarded"] == {"seen_in_earlier_run": recovered}

    site.route("news", "/rss", Response(body=full, content_type="application/rss+xml"))
    code, out, summary, dead = run("whole")
    assert code == 0 and summary["feeds"]["read_in_part"] == 0
    assert [d for d in dead if not d["counts_entry"]] == []
    assert summary["entries"] == 20
    assert summary["discarded"].get("seen_in_earlier_run") == recovered
    assert f"{base}/rss" in (tmp_path / "state" / "feeds.json").read_text()


def _with_html_entities(feed: bytes) -> bytes:
    """``feed`` with named HTML entities in its titles (undefined in XML without a DTD)."""
    return feed.replace(b"<title>Story ", b"<title>&lsquo;Story&rsquo;&nbsp;")


def test_a_feed_the_loose_parser_reads_in_full_keeps_its_state() -> None:
    """An undefined entity stops the strict parser, but the loose one reads every entry: no
    dead letter, and the state is kept, so the same body next time is "not modified"."""
    body = _with_html_entities(twenty_stories("http://news.example"))
    outputs = polled(feed_answer(body, etag='"h1"'))
    assert outputs[FAILURES] == []
    assert outputs[STATE] == [FeedState(SPEC.url, '"h1"', None, body_sha256(body))]
    assert [e.title for e in outputs[OK]] == [f"\u2018Story\u2019\u00a0{i}" for i in range(20)]
    again = polled(feed_answer(body, etag='"h1"'), before=outputs[STATE][0])
    assert again[OK] == [] and again[FAILURES] == [] and again[STATE] == outputs[STATE]


@pytest.mark.pipeline
def test_a_run_on_a_feed_with_html_entities_remembers_it(
    site: LoopbackSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = site.add_host("news")
    body = _with_html_entities(twenty_stories(base))
    site.route("news", "/rss", Response(body=body, content_type="application/rss+xml"))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    args = ["run", "--feeds", str(feeds), "--allow-loopback", "--no-robots"]
    args += ["--state-dir", str(tmp_path / "state")]
    summaries = []
    for name in ("first", "again"):
        code, _, _ = run_cli(capsys, *args, "--output", str(tmp_path / name))
        assert code == 0
        assert [
            d for d in read_jsonl(tmp_path / name, "dead_letters") if not d["counts_entry"]
        ] == []
        summaries.append(json.loads((tmp_path / name / "summary.json").read_text()))
    first, again = summaries
    assert first["feeds"]["read_in_part"] == 0 and first["entries"] == 20
    assert f"{base}/rss" in (tmp_path / "state" / "feeds.json").read_text()
    assert again["feeds"]["not_modified"] == 1 and again["entries"] == 0


def _dated_items(base: str, days: list[int]) -> list[FeedItem]:
    """Feed items linking to <base>/story/<i>, published on the given days of March 2026."""
    return [
        FeedItem(f"Story {i}", f"{base}/story/{i}", f"g{i}", "s", WHEN.replace(day=day))
        for i, day in enumerate(days)
    ]


def test_entries_past_the_limit_of_a_poll_are_discarded_by_name_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The oldest go; each is a discard under its link, counted as an entry, saying why.
    monkeypatch.setattr(feed_parsing, "MAX_FEED_ENTRIES", 3)
    body = rss_feed(
        "Example", "http://news.example/", _dated_items("http://n.example", [1, 5, 2, 4, 3])
    )
    outputs = polled(feed_answer(body))
    assert [e.title for e in outputs[OK]] == ["Story 1", "Story 3", "Story 4"]
    assert outputs[FAILURES] == [] and len(outputs[STATE]) == 1
    discards = outputs[DISCARDED]
    assert [(d.stage, d.key, d.reason) for d in discards] == [
        ("poll", "http://n.example/story/0", "too_many_entries"),
        ("poll", "http://n.example/story/2", "too_many_entries"),
    ]
    assert all(f"{SPEC.url} lists 5 entries" in d.detail for d in discards)


@pytest.mark.pipeline
def test_a_run_fetches_only_the_newest_entries_of_a_feed_over_the_limit(
    site: LoopbackSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_parsing, "MAX_FEED_ENTRIES", 3)
    base = site.add_host("news")
    items = _dated_items(base, [2, 1, 5, 4, 3])
    site.route("news", "/rss", Response(body=rss_feed("News", base, items)))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    out = run_newsbeam(feeds, tmp_path / "out", "--no-robots", "--all-stories")
    assert_accounting(out)
    assert out.summary["entries"] == 5
    assert out.summary["discarded"]["too_many_entries"] == 2
    assert sorted(d["key"] for d in out.discards if d["reason"] == "too_many_entries") == [
        f"{base}/story/0",
        f"{base}/story/1",
    ]
    assert not site.requests_for("news", "/story/0") and not site.requests_for("news", "/story/1")
    assert all(site.requests_for("news", f"/story/{i}") for i in (2, 3, 4))


def test_relative_links_resolve_against_where_the_feed_was_answered_from() -> None:
    # The feed list names SPEC.url, which redirected to the mirror: "/a/2" is the mirror's.
    outputs = polled(feed_answer(RSS, final_url="http://mirror.example/feeds/rss"))
    assert [e.link for e in outputs[OK]] == [
        "http://news.example/a/1?utm_source=rss",
        "http://mirror.example/a/2",
    ]


def test_an_entry_without_a_link_is_its_own_dead_letter() -> None:
    # Nothing to fetch: the entry is a dead letter under its own key, counts as an entry, is
    # not retryable and names its title; the feed's other entries go on.
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>Linkless</title><guid isPermaLink="false">tag-7</guid></item>
    <item><title>Linked</title><link>http://news.example/a/8</link></item>
    </channel></rss>"""
    outputs = polled(feed_answer(rss))
    assert [e.link for e in outputs[OK]] == ["http://news.example/a/8"]
    (failure,) = outputs[FAILURES]
    linkless, _ = parse_feed(rss, SPEC).entries
    assert (failure.stage, failure.key, failure.error_type) == (
        "poll",
        linkless.key,
        "entry_without_link",
    )
    assert not failure.retryable and failure.counts_entry
    assert failure.input_excerpt == "Linkless"
    # The message names the feed to fix, and the entry by its title and GUID.
    assert failure.message == (
        f"feed entry has no link to fetch (feed {SPEC.url}, title 'Linkless',"
        " GUID 'tag-7' not used: not an absolute http(s) URL)"
    )


def test_an_always_on_poll_with_a_linkless_entry_is_a_feed_that_answers_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The entry's dead letter is the entry's, not the feed's: the log says the feed answers
    # again after its timeout, not that it now fails with entry_without_link.
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>Linkless</title><guid isPermaLink="false">tag-7</guid></item>
    </channel></rss>"""
    health, before = FeedHealth(), FeedState(SPEC.url)
    with caplog.at_level("WARNING", logger="transforms.feed_polls"):
        for answer in (FetchError("timeout", "read timed out", True), feed_answer(rss)):
            list(observed_poll(SPEC, before, answer, 0, health, None, 100.0, 50.0))
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        f"feed {SPEC.url} failed: timeout: read timed out",
        f"feed {SPEC.url} answers again, after 1 failed poll(s)",
    ]


def test_a_linkless_entrys_message_shortens_its_title_and_guid_or_names_only_the_feed() -> None:
    rss = (
        b"""<rss version="2.0"><channel><title>T</title>
    <item><title>"""
        + b"x" * 200
        + b"""</title><guid isPermaLink="false">"""
        + b"g" * 200
        + b"""</guid></item>
    <item><description>neither title nor GUID</description></item>
    </channel></rss>"""
    )
    long_title, untitled = polled(feed_answer(rss))[FAILURES]
    assert long_title.message == (
        f"feed entry has no link to fetch (feed {SPEC.url}, title '{'x' * 80}...',"
        f" GUID '{'g' * 80}...' not used: not an absolute http(s) URL)"
    )
    assert untitled.message == f"feed entry has no link to fetch (feed {SPEC.url})"


def test_a_linkless_entrys_message_names_its_guid_as_the_feed_wrote_it() -> None:
    # A GUID stands in for a missing link only as an absolute http(s) URL as written. One
    # that did not was not named, so a user fixing the feed could not tell what it held:
    # feedparser resolves a permalink GUID ``abc-123`` to http://news.example/abc-123, which
    # is not in the feed; the message names it as written, and why it was not used.
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><guid isPermaLink="true">abc-123</guid></item>
    <item><title>B</title><guid>mailto:desk@news.example</guid></item>
    <item><title>C</title><guid>http://news.example/rss#c</guid></item>
    <item><title>D</title></item>
    </channel></rss>"""
    failures = polled(feed_answer(rss))[FAILURES]
    assert [f.error_type for f in failures] == ["entry_without_link"] * 4
    start = f"feed entry has no link to fetch (feed {SPEC.url}, title"
    assert [f.message for f in failures] == [
        f"{start} 'A', GUID 'abc-123' not used: not an absolute http(s) URL)",
        f"{start} 'B', GUID 'mailto:desk@news.example' not used: not an absolute http(s) URL)",
        f"{start} 'C', GUID 'http://news.example/rss#c' not used: no host, or the feed's own URL)",
        f"{start} 'D')",
    ]


def test_an_untitled_linkless_entrys_message_names_its_guid() -> None:
    # With no title, the GUID is all that tells the user which entry of the feed to fix.
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><guid isPermaLink="false">tag-9</guid></item>
    </channel></rss>"""
    (failure,) = polled(feed_answer(rss))[FAILURES]
    assert failure.message == (
        f"feed entry has no link to fetch (feed {SPEC.url},"
        " GUID 'tag-9' not used: not an absolute http(s) URL)"
    )


def test_an_entry_whose_link_and_guid_name_no_page_is_a_dead_letter_not_a_made_up_url() -> None:
    # The tester's feed: no <link>, a GUID that is no URL, and links that lead back to the
    # feed or to no host. Each was fetched as a URL the feed never held (the feed's own URL,
    # http://news.example/abc-123, http://x); now each is an entry without a link.
    rss = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>A</title><guid>abc-123</guid></item>
    <item><title>B</title><guid>urn:uuid:1225c695-cfb8-4ebb-8f10-80da344efa6a</guid></item>
    <item><title>C</title><link>http://</link></item>
    <item><title>D</title><link>#</link></item>
    <item><title>E</title><link>http:///x</link></item>
    <item><title>F</title><link>/a/6</link><guid>abc-6</guid></item>
    </channel></rss>"""
    outputs = polled(feed_answer(rss, final_url="http://news.example/feeds/rss"))
    assert [e.link for e in outputs[OK]] == ["http://news.example/a/6"]
    assert [(f.error_type, f.input_excerpt) for f in outputs[FAILURES]] == [
        ("entry_without_link", title) for title in "ABCDE"
    ]


def test_a_poll_sends_the_validators_it_remembers(site: LoopbackSite, client: HttpClient) -> None:
    # The feed's server answers 304 to a matching If-Modified-Since (this one sends no ETag).
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=RSS, last_modified=WHEN))
    spec = FeedSpec(f"{base}/rss")
    first = request_feed(client, spec, FeedState(spec.url))
    assert first.status == 200 and first.last_modified
    again = request_feed(client, spec, FeedState(spec.url, None, first.last_modified))
    assert again.not_modified
    assert site.requests_for("news", "/rss")[1].headers["If-Modified-Since"] == first.last_modified


def test_each_poll_answered_or_failed_counts_on_the_progress_line(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=RSS))
    before = PROGRESS.count(FEEDS_POLLED)
    answered = request_feed(client, FeedSpec(f"{base}/rss"), FeedState(f"{base}/rss"))
    assert PROGRESS.count(FEEDS_POLLED) == before + 1
    failed = request_feed(client, FeedSpec(f"{base}/gone"), FeedState(f"{base}/gone"))
    assert answered.status == 200 and isinstance(failed, FetchError)
    assert PROGRESS.count(FEEDS_POLLED) == before + 2


def test_one_shot_polling_emits_the_feeds_in_list_order_whatever_answers_first(
    site: LoopbackSite,
) -> None:
    # Two hosts, polled at once; the feed listed first answers 0.3 s later. Its entries still
    # come out first (so when two feeds list a story, the one listed first wins).
    slow, quick = site.add_host("slow"), site.add_host("quick")
    for name, base, delay in (("slow", slow, 0.3), ("quick", quick, 0.0)):
        items = [FeedItem(f"{name} {i}", f"{base}/story/{i}", f"g{i}", "s", WHEN) for i in range(2)]
        body = rss_feed(name, base, items)
        site.route(
            name, "/rss", Response(body=body, content_type="application/rss+xml", delay_s=delay)
        )
    specs = [FeedSpec(f"{slow}/rss"), FeedSpec(f"{quick}/rss")]
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    _EMITTED.clear()
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        polled_feeds = p | beam.Create(specs) | PollFeeds(config, concurrent=True)
        _ = polled_feeds[OK] | beam.Map(_emitted)
    assert [e.feed_url for e in _EMITTED] == [specs[0].url] * 2 + [specs[1].url] * 2


_EMITTED: list[FeedEntry] = []  # what the test above saw leave PollFeeds, in order


def _emitted(entry: FeedEntry) -> None:
    _EMITTED.append(entry)  # the local runner runs this in the test's process


def _entry(key: str) -> FeedEntry:
    return FeedEntry(SPEC.url, key, key)


def test_a_new_body_lists_its_own_keys_once_each() -> None:
    before = FeedState(SPEC.url, '"v1"', None, "old-hash")
    after = FeedState(SPEC.url, '"v2"', None, "new-hash")
    entries = [_entry("a"), _entry("b"), _entry("a")]
    assert relisted(before, after, entries, (5.0, ("x",)), 100.0, 50.0) == (
        (),
        (100.0, ("a", "b")),
    )
    assert relisted(before, after, [], (5.0, ("x",)), 100.0, 50.0) == ((), (100.0, ()))


def test_an_unchanged_feed_announces_its_keys_again_once_the_interval_has_passed() -> None:
    before = FeedState(SPEC.url, '"v1"', None, "hash")
    same_body = FeedState(SPEC.url, '"v2"', None, "hash")  # a new ETag, the same bytes
    listing = (100.0, ("a", "b"))
    for after in (before, same_body):
        assert relisted(before, after, [], listing, 149.0, 50.0) == ((), None)
        again = relisted(before, after, [], listing, 150.0, 50.0)
        assert again == (("a", "b"), (150.0, ("a", "b")))
    assert relisted(before, before, [], None, 1e9, 50.0) == ((), None)  # nothing listed yet


def test_a_failed_poll_says_nothing_of_the_entries() -> None:
    before = FeedState(SPEC.url, '"v1"', None, "hash")
    assert relisted(before, None, [], (100.0, ("a",)), 1e9, 50.0) == ((), None)


DAY = 24 * 3600.0


def test_a_local_always_on_poll_asks_every_feed_at_once(site: LoopbackSite) -> None:
    # Each feed's server answers only once all three feeds have asked (else 404): polled one
    # at a time, a poll took the sum of every feed's time, and a host that never answers
    # cost its whole deadline in every poll, the other feeds waiting behind it.
    everyone = threading.Barrier(3, timeout=30)
    specs = []
    for name in ("north", "south", "east"):
        base = site.add_host(name)
        body = rss_feed(name, base, [FeedItem(name, f"{base}/story", "g", "s", WHEN)])

        def feed(request: Request, body: bytes = body) -> Response:
            try:
                everyone.wait()
            except threading.BrokenBarrierError:
                return Response(404)
            return Response(body=body)

        site.route(name, "/rss", feed)
        specs.append(FeedSpec(f"{base}/rss"))
    stream = TestStream().add_elements([TimestampedValue(s, 1_700_000_000.0) for s in specs])
    config = HttpConfig(allow_loopback=True, deadline=60.0)
    with TestPipeline(options=PipelineOptions(STREAMING_RUNNER_ARGS)) as p:
        polled = (
            p
            | stream.advance_watermark_to_infinity()
            | PollFeeds(config, concurrent=True, streaming=True)
        )
        assert_that(
            polled[OK] | beam.Map(lambda e: e.title),
            equal_to(["north", "south", "east"]),
            label="CheckEntries",
        )
        assert_that(polled[FAILURES], equal_to([]), label="CheckNoFailures")


def test_a_feed_polled_twice_in_one_bundle_asks_the_second_time_with_what_the_first_kept(
    site: LoopbackSite,
) -> None:
    # Ticks due together (as Beam starts, or overdue) come in one bundle: both polls were
    # asked at once, without validators, and the second's entries came again.
    base = site.add_host("news")
    items = [FeedItem("Story", f"{base}/story", "g", "s", WHEN)]
    site.route("news", "/rss", Response(body=rss_feed("news", base, items), etag='"v1"'))
    spec = FeedSpec(f"{base}/rss")
    ticks = [TimestampedValue(spec, 1_700_000_000.0 + at) for at in (0.0, 1.0)]
    stream = TestStream().add_elements(ticks)
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    with TestPipeline(options=PipelineOptions(STREAMING_RUNNER_ARGS)) as p:
        polled = (
            p
            | stream.advance_watermark_to_infinity()
            | PollFeeds(config, concurrent=True, streaming=True)
        )
        assert_that(polled[OK] | beam.Map(lambda e: e.link), equal_to([f"{base}/story"]))
    assert [(r.headers.get("If-None-Match"), r.status) for r in site.requests] == [
        (None, 200),
        ('"v1"', 304),
    ]


@pytest.mark.parametrize("concurrent", [False, True], ids=["keyed-state", "local-memory"])
def test_an_always_on_feed_unchanged_past_the_ttl_does_not_bring_its_old_entries_back(
    site: LoopbackSite, concurrent: bool
) -> None:
    # The feed lists two stories, answers 304 for 1.2 TTLs, then adds a third. Only the third
    # may pass DedupEntries: before, the first two were forgotten a TTL after their only
    # sighting and passed again as new (fetched and published a second time).
    base = site.add_host("weekly")
    old = [FeedItem(f"Old {i}", f"{base}/story/{i}", f"g{i}", "s", WHEN) for i in range(2)]
    new = FeedItem("New", f"{base}/story/new", "g-new", "s", WHEN)
    answers = [
        Response(body=rss_feed("weekly", base, old), etag='"v1"'),
        Response(body=rss_feed("weekly", base, [new, *old]), etag='"v2"'),
    ]
    polls: list[Request] = []

    def feed(request: Request) -> Response:
        polls.append(request)
        return answers[0] if len(polls) < 4 else answers[1]

    site.route("weekly", "/rss", feed)
    spec = FeedSpec(f"{base}/rss")
    stream = TestStream()
    for at in (0.0, 0.6 * DAY, 1.2 * DAY, 1.5 * DAY):
        stamped = TimestampedValue(spec, 1_700_000_000.0 + at)
        stream = stream.add_elements([stamped]).advance_watermark_to(stamped.timestamp + 1)
    options = PipelineOptions(STREAMING_RUNNER_ARGS)
    config = HttpConfig(allow_loopback=True, deadline=20.0)
    with TestPipeline(options=options) as p:
        polled_feeds = (
            p
            | stream.advance_watermark_to_infinity()
            | PollFeeds(
                config, resight_seconds=DAY / 2, concurrent=concurrent, streaming=concurrent
            )
        )
        deduped = polled_feeds[OK] | DedupEntries(DAY, gc_timers=False)
        assert_that(
            deduped[OK] | beam.Map(lambda e: e.title),
            equal_to(["Old 0", "Old 1", "New"]),
            label="each story once",
        )
        assert_that(
            deduped[DISCARDED] | beam.Map(lambda d: d.reason),
            equal_to(["duplicate_url", "duplicate_url"]),
            label="the old stories listed again",
        )
    assert [r.headers.get("If-None-Match") for r in polls] == [None, '"v1"', '"v1"', '"v1"']
