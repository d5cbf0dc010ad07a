"""RSS 2.0 and Atom 1.0 feed bytes for the loopback sites of tests, the demo and benchmarks.

Consumes a feed title, a home page URL and ``FeedItem`` entries; produces the feed document
as UTF-8 bytes (``rss_feed``, ``atom_feed``), ready to serve as a
``pipelines.loopback.Response`` body. Also holds the date helpers both the feeds and the
loopback server use: ``http_date`` (RFC 822 / HTTP dates, for ``pubDate`` and
``Last-Modified``) and ``as_utc``.

Standard library only.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed built by ``rss_feed`` / ``atom_feed``."""

    title: str
    link: str
    guid: str
    summary: str
    published: datetime
    content: str | None = None  # the full article as HTML (content:encoded, Atom content)


def rss_feed(title: str, link: str, items: list[FeedItem], description: str = "") -> bytes:
    """An RSS 2.0 document, UTF-8, with RFC 822 dates.

    Args:
        title: the channel title.
        link: the site's home page URL.
        items: the entries, in the order to list them.
        description: the channel description (defaults to the title).

    Returns:
        The feed's bytes.
    """
    entries = "".join(
        "<item>"
        f"<title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f'<guid isPermaLink="{"true" if i.guid == i.link else "false"}">{escape(i.guid)}</guid>'
        f"<description>{escape(i.summary)}</description>"
        + (f"<content:encoded>{escape(i.content)}</content:encoded>" if i.content else "")
        + f"<pubDate>{http_date(i.published)}</pubDate>"
        "</item>\n"
        for i in items
    )
    doc = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>\n'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(description or title)}</description>\n{entries}</channel></rss>\n"
    )
    return doc.encode("utf-8")


def atom_feed(title: str, link: str, items: list[FeedItem], feed_id: str | None = None) -> bytes:
    """An Atom 1.0 document, UTF-8, with RFC 3339 dates.

    Args:
        title: the feed title.
        link: the site's home page URL.
        items: the entries, in the order to list them.
        feed_id: the feed's ``<id>`` (defaults to ``link``).

    Returns:
        The feed's bytes.
    """

    def rfc3339(value: datetime) -> str:
        return as_utc(value).isoformat().replace("+00:00", "Z")

    updated = max((i.published for i in items), default=datetime(2026, 1, 1, tzinfo=UTC))
    entries = "".join(
        "<entry>"
        f'<title>{escape(i.title)}</title><link rel="alternate" href={_attr(i.link)}/>'
        f"<id>{escape(i.guid)}</id><summary>{escape(i.summary)}</summary>"
        + (f'<content type="html">{escape(i.content)}</content>' if i.content else "")
        + f"<published>{rfc3339(i.published)}</published><updated>{rfc3339(i.published)}</updated>"
        "</entry>\n"
        for i in items
    )
    doc = (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f'<title>{escape(title)}</title><link rel="alternate" href={_attr(link)}/>'
        f"<id>{escape(feed_id or link)}</id><updated>{rfc3339(updated)}</updated>\n"
        f"{entries}</feed>\n"
    )
    return doc.encode("utf-8")


def http_date(value: datetime | str) -> str:
    """An HTTP / RFC 822 date (``Sun, 01 Mar 2026 08:00:00 GMT``).

    Args:
        value: a datetime (naive means UTC), or a string, returned as it is.

    Returns:
        The date as text.
    """
    if isinstance(value, str):
        return value
    return email.utils.format_datetime(as_utc(value), usegmt=True)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already.

    Args:
        value: any datetime.

    Returns:
        An aware datetime in UTC.
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _attr(value: str) -> str:
    return '"' + escape(value, {'"': "&quot;"}) + '"'


__all__ = ["FeedItem", "as_utc", "atom_feed", "http_date", "rss_feed"]
