"""Feed documents into ``FeedEntry`` records: the plain-Python core of ``PollFeeds``.

Consumes a feed's bytes and its ``FeedSpec``; produces a ``ParsedFeed``: the entries, or a
feed-level ``Failure`` saying why there are none. Refuses documents that declare XML entities
before feedparser sees them (entity-expansion bombs and external entities never expand or
fetch), and recovers what entries it can from malformed feeds. No Beam: the benchmarks and
tests parse feeds without it.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from transforms.records import Failure, FeedEntry, FeedSpec, excerpt
from transforms.urls import entry_keys

_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedFeed:
    """The result of parsing one feed document."""

    entries: tuple[FeedEntry, ...]
    failure: Failure | None = None  # set when nothing usable could be read
    recovered: bool = False  # the document was malformed but entries were recovered


def parse_feed(
    body: bytes, spec: FeedSpec, *, final_url: str | None = None, full_text_min_chars: int = 0
) -> ParsedFeed:
    """Parse a feed document into entries.

    Args:
        body: the raw feed bytes (already decompressed).
        spec: the feed they came from (its name, country and language travel with entries).
        final_url: the URL the feed was finally served from, to resolve relative links.
        full_text_min_chars: keep an entry's own content (``FeedEntry.content``) when it
            holds at least this many characters of text (0: never; see :func:`full_text`).

    Returns:
        The entries, or a failure saying why there are none.
    """
    if _ENTITY_DECLARATION.search(body):
        return ParsedFeed(
            (),
            _feed_failure(
                spec,
                "xml_entities",
                "document declares XML entities (refused: expansion bombs, external fetches)",
                body,
            ),
        )
    parsed = feedparser.parse(
        body,
        response_headers={"content-location": final_url or spec.url},
        sanitize_html=False,
        resolve_relative_uris=True,
    )
    raw_entries = list(parsed.get("entries", []))
    if not raw_entries:
        if parsed.get("bozo"):
            reason = str(parsed.get("bozo_exception") or "malformed feed")
            return ParsedFeed((), _feed_failure(spec, "malformed_feed", reason, body))
        if not parsed.get("version") and not parsed.get("feed"):
            return ParsedFeed((), _feed_failure(spec, "not_a_feed", "no RSS/Atom found", body))
        return ParsedFeed(())
    language = spec.language or _feed_language(parsed)
    links = [_link_of(raw) for raw in raw_entries]
    keys = entry_keys(
        [
            (link, _guid_of(raw), raw.get("title"))
            for link, raw in zip(links, raw_entries, strict=True)
        ]
    )
    entries = tuple(
        _to_entry(raw, spec, language, link, key, full_text_min_chars)
        for raw, link, key in zip(raw_entries, links, keys, strict=True)
    )
    return ParsedFeed(entries, recovered=bool(parsed.get("bozo")))


def _feed_failure(spec: FeedSpec, error_type: str, message: str, body: bytes) -> Failure:
    return Failure(
        stage="poll",
        key=spec.url,
        error_type=error_type,
        message=message[:300],
        retryable=False,
        input_excerpt=excerpt(body[:600].decode("utf-8", errors="replace")),
        counts_entry=False,
    )


def _feed_language(parsed: Any) -> str | None:
    lang = (parsed.get("feed") or {}).get("language")
    return lang.split("-")[0].lower() if isinstance(lang, str) and lang else None


def _guid_of(raw: Any) -> str | None:
    return str(raw.get("id") or "").strip() or None


def _link_of(raw: Any) -> str:
    """The entry's link; a URL-shaped GUID stands in when the link is missing."""
    link = str(raw.get("link") or "").strip()
    guid = _guid_of(raw)
    if not link and guid and guid.lower().startswith(("http://", "https://")):
        return guid
    return link


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC).isoformat()
    except (OverflowError, ValueError, TypeError):
        return None


_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
_MARKUP = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
# How a cut-off excerpt ends: an ellipsis, or a link to the rest ("Continue reading", "Read
# more", "The post ... appeared first on ...", WordPress's excerpt trailer).
_CUT_OFF = re.compile(
    r"(?:\.\.\.|\u2026|\[\s*(?:\.\.\.|\u2026)\s*\])\W*$"
    r"|(?:continue reading|read more|read the full (?:story|article)|appeared first on)\b.{0,120}$",
    re.IGNORECASE,
)


def feed_text(markup: str) -> str:
    """The text of an HTML fragment: tags removed, entities decoded, spaces folded."""
    return _SPACES.sub(" ", html.unescape(_MARKUP.sub(" ", markup))).strip()


def full_text(raw: Any, min_chars: int) -> str | None:
    """The entry's own content (the longest of its ``content`` items), when it holds at least
    ``min_chars`` characters of text and does not end like a cut-off excerpt ("...",
    "Continue reading"); else None (a summary or teaser: the page is fetched).

    Args:
        raw: a feedparser entry.
        min_chars: the least text that counts as the full article (0 or less: never).
    """
    if min_chars <= 0:
        return None
    values = [
        str(item.get("value") or "")
        for item in raw.get("content") or ()
        if (item.get("type") or "text/html") in _CONTENT_TYPES
    ]
    best = max(values, key=len, default="")
    text = feed_text(best)
    if len(text) < min_chars or _CUT_OFF.search(text[-200:]):
        return None
    return best


def _to_entry(
    raw: Any, spec: FeedSpec, language: str | None, link: str, key: str, full_text_min_chars: int
) -> FeedEntry:
    return FeedEntry(
        feed_url=spec.url,
        link=link,
        key=key,
        guid=_guid_of(raw),
        title=raw.get("title"),
        summary=raw.get("summary"),
        published_at=_iso(raw.get("published_parsed") or raw.get("updated_parsed")),
        feed_name=spec.name,
        feed_country=spec.country,
        feed_language=language,
        content=full_text(raw, full_text_min_chars),
    )


def body_sha256(body: bytes) -> str:
    """The hash that tells an unchanged feed whose server ignores validators."""
    return hashlib.sha256(body).hexdigest()
