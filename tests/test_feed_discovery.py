"""A page listed as a feed that links its feeds: the ``not_a_feed`` failure names them
(transforms.feed_discovery), resolved against the page's URL; none is polled."""

from __future__ import annotations

from transforms.feed_discovery import linked_feeds
from transforms.feed_health import FeedHealth
from transforms.feed_parsing import parse_feed
from transforms.records import FeedSpec

SPEC = FeedSpec("http://news.example/section/", name="Example News")


def _page(head: str, body: str = "<p>Front page</p>") -> bytes:
    return (
        f"<!DOCTYPE html><html><head><title>Example News</title>{head}</head>"
        f"<body>{body}</body></html>"
    ).encode()


def _message(page: bytes, final_url: str | None = None) -> str:
    parsed = parse_feed(page, SPEC, final_url=final_url, content_type="text/html; charset=utf-8")
    assert parsed.entries == ()
    assert parsed.failure is not None and parsed.failure.error_type == "not_a_feed"
    return parsed.failure.message


def test_a_page_that_links_its_feed_names_it_resolved_against_the_page_url() -> None:
    page = _page('<link rel="alternate" type="application/rss+xml" href="rss.xml">')
    assert _message(page) == (
        "not an RSS or Atom feed: an HTML page titled 'Example News'; the page links a "
        "feed: http://news.example/section/rss.xml; list that instead"
    )


def test_the_url_the_page_was_served_from_resolves_the_links() -> None:
    page = _page('<link rel="alternate" type="application/atom+xml" href="/atom">')
    message = _message(page, final_url="https://www.news.example/home")
    assert message.endswith(
        "the page links a feed: https://www.news.example/atom; list that instead"
    )


def test_at_most_three_feeds_are_named_each_once_in_the_page_order() -> None:
    links = "".join(
        f'<link rel="alternate" type="application/{kind}+xml" href="{href}">'
        for kind, href in (
            ("rss", "/a"),
            ("atom", "/a"),  # the same URL again: named once
            ("atom", "HTTP://OTHER.example/b"),  # named as written
            ("rss", "c?x=1&amp;y=2"),
            ("rss", "/d"),
        )
    )
    message = _message(_page(links))
    assert message.endswith(
        "the page links feeds: http://news.example/a, http://OTHER.example/b, "
        "http://news.example/section/c?x=1&y=2; list one of them instead"
    ), message
    assert "/d" not in message


def test_only_feed_alternates_are_named() -> None:
    head = (
        '<link rel="alternate" hreflang="fr" type="text/html" href="/fr/">'
        '<link rel="stylesheet" type="application/rss+xml" href="/not-alternate">'
        '<link rel="alternate" type="application/json" href="/feed.json">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:void(0)">'
        '<link rel="alternate" type="application/rss+xml">'
    )
    assert _message(_page(head)) == "not an RSS or Atom feed: an HTML page titled 'Example News'"


def test_rel_and_type_are_read_as_html_reads_them() -> None:
    head = (
        '<BASE HREF="https://cdn.news.example/base/">'
        "<LINK REL='Alternate Home' TYPE='Application/RSS+XML; charset=utf-8' HREF=' feed ' />"
    )
    assert linked_feeds(_page(head), "text/html", SPEC.url) == [
        "https://cdn.news.example/base/feed"
    ]


def test_links_in_the_body_are_not_read_and_nothing_is_fetched() -> None:
    body = '<link rel="alternate" type="application/rss+xml" href="/in-body">'
    assert linked_feeds(_page("", body), "text/html", SPEC.url) == []


def test_a_document_that_is_no_html_page_names_no_feed() -> None:
    # JSON holding a link element's text is JSON: nothing named
    body = b'{"html": "<link rel=\\"alternate\\" type=\\"application/rss+xml\\" href=\\"/x\\">"}'
    message = _message(body)
    assert message == "not an RSS or Atom feed: a JSON document"


def test_the_always_on_health_line_keeps_the_names() -> None:
    hrefs = [f"/{'feeds/' * 30}{n}" for n in range(3)]  # three long URLs
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="{h}">' for h in hrefs)
    failure = parse_feed(_page(links), SPEC, content_type="text/html").failure
    assert failure is not None
    line = FeedHealth().observe(SPEC.url, failure)
    assert line is not None
    assert f"http://news.example{hrefs[2]}; list one of them instead" in line, line


def test_markup_the_html_parser_refuses_names_the_feeds_read_before_it() -> None:
    """A ``<base href>`` that is no URL (an unclosed IPv6 bracket: the page's own URL is the
    base then, as in a browser), or a marked section of junk (``<![ ...``: Python's
    HTMLParser raises AssertionError), made parse_feed raise: the poll failed as an
    internal_error with a traceback in the log, not as not_a_feed."""
    feed = '<link rel="alternate" type="application/rss+xml" href="/rss">'
    named = "the page links a feed: http://news.example/rss; list that instead"
    assert _message(_page(f'<base href="http://[::1">{feed}')).endswith(named)
    assert _message(_page(f"{feed}<![ junk ]>")).endswith(named)
