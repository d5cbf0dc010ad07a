"""The feeds an HTML page links, to name them when that page was listed as a feed.

Consumes the bytes of a page that was listed as a feed and is no feed (``parse_feed``'s
``not_a_feed``), its Content-Type and its URL; produces the absolute http(s) URLs of the
RSS and Atom feeds its ``<head>`` announces (``<link rel="alternate"
type="application/rss+xml" href="...">``, or ``application/atom+xml``), resolved against the
page's URL (or its ``<base href>``), at most ``MAX_NAMED``, in the page's order. They are
named in the failure's message, for the user to list instead; none is polled.
"""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from transforms.charset import decode_html

MAX_NAMED = 3  # the most linked feeds a message names
_SCANNED = 256 * 1024  # bytes of the page read for its <link> elements (they are in <head>)
_LONGEST = 300  # a longer href is not named (the message would carry it cut off)
_FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})


def linked_feeds(body: bytes, content_type: str | None, page_url: str) -> list[str]:
    """The RSS and Atom feeds the page ``body`` links as alternates of itself.

    Args:
        body: the page's bytes, as fetched (decompressed).
        content_type: the answer's Content-Type header, whose charset decodes the page.
        page_url: the URL the page was served from, to resolve relative links against.

    Returns:
        At most ``MAX_NAMED`` absolute http(s) URLs, each once, in the page's order.
    """
    finder = _LinkFinder()
    try:
        finder.feed(decode_html(body[:_SCANNED], content_type))
        finder.close()
    except _EndOfHead:
        pass
    except AssertionError:  # HTMLParser's refusal of a marked section of junk ("<![ x"): the
        pass  # links before it are named (raised, it failed the poll as an internal_error)
    base = page_url
    # a <base href> that is no URL ("http://[::1"): the page's own is the base, as in browsers
    with contextlib.suppress(ValueError):
        base = urljoin(page_url, finder.base) if finder.base else page_url
    found: list[str] = []
    for href in finder.hrefs:
        try:
            url = urljoin(base, href.strip())
            scheme, host = urlsplit(url).scheme.lower(), urlsplit(url).hostname
        except ValueError:  # a bad port or IPv6 literal: no URL to name
            continue
        if scheme in ("http", "https") and host and len(url) <= _LONGEST and url not in found:
            found.append(url)
        if len(found) == MAX_NAMED:
            break
    return found


def named(feeds: list[str]) -> str:
    """The sentence naming ``feeds`` (from ``linked_feeds``) in a ``not_a_feed`` message."""
    if len(feeds) == 1:
        return f"the page links a feed: {feeds[0]}; list that instead"
    return f"the page links feeds: {', '.join(feeds)}; list one of them instead"


class _EndOfHead(Exception):
    """The page's ``<body>`` started: no more ``<link>`` to read."""


class _LinkFinder(HTMLParser):
    """Collects the ``href`` of each feed ``<link rel="alternate">``, and ``<base href>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            raise _EndOfHead
        values = {name: value or "" for name, value in attrs}
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"].strip()
        if tag != "link" or not values.get("href"):
            return
        rels = values.get("rel", "").lower().split()
        media_type = values.get("type", "").split(";")[0].strip().lower()
        if "alternate" in rels and media_type in _FEED_TYPES:
            self.hrefs.append(values["href"])

    handle_startendtag = handle_starttag
