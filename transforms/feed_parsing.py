"""Feed documents into ``FeedEntry`` records: the plain-Python core of ``PollFeeds``.

Consumes a feed's bytes, its ``FeedSpec`` and its Content-Type header; produces a
``ParsedFeed``: the entries, or a feed-level ``Failure`` saying why there are none. The parts:
``transforms.feed_documents`` decides how feedparser decodes the document (its own word, the
header's charset, else the encoding its bytes look like) and refuses, before feedparser sees
it, a document that declares XML entities or whose elements nest deeper, or carry more
attributes, than any feed needs; ``transforms.feed_links`` finds each entry's link,
``transforms.feed_dates`` its publication time and ``transforms.entry_text`` its text. Here:
what feedparser made of the document, what a document without entries is instead (an HTML
page, JSON, ...), and the entries, recovered as far as they can be from a malformed feed. A
feed read in part (cut short, or entries lost on the way) gives those entries with a
retryable feed-level ``Failure`` (``malformed_feed_recovered``) saying how many; one that
feedparser's loose parser reads to its end (HTML entities such as ``&rsquo;``, undefined in
XML) is a feed like any other (``_read_in_full``). No Beam: the benchmarks and tests parse
feeds without it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser.exceptions

from transforms.charset import decode_html
from transforms.entry_keys import entry_keys
from transforms.entry_text import feed_text, full_text
from transforms.feed_dates import FUTURE_DATE_SLACK, published_at
from transforms.feed_discovery import linked_feeds, named
from transforms.feed_documents import (
    as_document,
    as_feedparser_decodes,
    declares_entities,
    encoding_to_read,
    markup_shape,
    markup_text,
    without_references_to_no_character,
)
from transforms.feed_links import guid_of, links_of
from transforms.outcomes import excerpt
from transforms.records import Failure, FeedEntry, FeedSpec

# The error type of the feed-level dead letter of a malformed document read in part (they go
# on; the entries after the fault are lost): a poll that read the feed in part, not a failed
# one (the run summary tells them apart). Not for a fault the loose parser read past to the
# document's end, every entry recovered (``_read_in_full``).
MALFORMED_FEED_RECOVERED = "malformed_feed_recovered"

# The most entries one poll of one feed passes on: the newest (``_newest``). The others are
# discarded (``TOO_MANY_ENTRIES``), never fetched: each entry is a page request, and a 10 MB
# feed of tiny items lists 200,000 links on as many hosts (a 2 MiB one, 39,568), a request
# amplifier aimed wherever its author likes. The largest feed of the corpus lists 730 (a
# podcast's every episode); news feeds list 10 to 100.
MAX_FEED_ENTRIES = 1000
# The reason of the discard of each entry past ``MAX_FEED_ENTRIES``.
TOO_MANY_ENTRIES = "too_many_entries"


@dataclass(frozen=True)
class ParsedFeed:
    """The result of parsing one feed document."""

    entries: tuple[FeedEntry, ...]
    failure: Failure | None = None  # set when nothing usable could be read
    # Set when the document was malformed and read in part (``_read_in_full`` false), entries
    # recovered: the feed-level dead letter (``MALFORMED_FEED_RECOVERED``, retryable) that goes
    # out with those entries.
    partial: Failure | None = None
    # The entries past ``MAX_FEED_ENTRIES`` (the oldest: ``_newest``), in the feed's order:
    # each goes out as a ``TOO_MANY_ENTRIES`` discard, not fetched.
    over_limit: tuple[FeedEntry, ...] = ()

    @property
    def recovered(self) -> bool:
        """Whether the document was read in part and the entries are those recovered from it."""
        return self.partial is not None


# What feedparser flags ("bozo") about a well-formed document: no Content-Type given (it is
# given one only to carry a header's charset for a document that names no encoding), or an
# encoding other than the declared one. An empty feed flagged only so is an empty feed, not
# a malformed one.
_NOT_MALFORMED = (
    feedparser.exceptions.NonXMLContentType,
    feedparser.exceptions.CharacterEncodingOverride,
)


def parse_feed(
    body: bytes,
    spec: FeedSpec,
    *,
    final_url: str | None = None,
    content_type: str | None = None,
    full_text_min_chars: int = 0,
    max_entries: int | None = None,
    polled_at: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed document into entries.

    Args:
        body: the raw feed bytes (already decompressed).
        spec: the feed they came from (its name, country and language travel with entries).
        final_url: the URL the feed was finally served from, to resolve relative links.
        content_type: the response's Content-Type header, if any. Its charset decodes a
            document that names no encoding itself (no byte order mark, no ``encoding=`` in
            its XML declaration): a feed in windows-1251 that says so only there. A document
            that does name one is read by its own word, whatever the header says (servers
            send a default charset for every file they serve). When neither names one and
            the bytes are not UTF-8, their encoding is detected
            (``feed_documents.encoding_to_read``).
        full_text_min_chars: keep an entry's own content (``FeedEntry.content``) when it
            holds at least this many characters of text (0: never; see :func:`full_text`).
        max_entries: the most entries passed on (None: ``MAX_FEED_ENTRIES``); the rest, the
            oldest, are ``over_limit``.
        polled_at: when the feed was fetched (None: now); an entry dated more than
            ``FUTURE_DATE_SLACK`` after it counts as undated.

    Returns:
        The entries, or a failure saying why there are none.
    """
    headers = {"content-location": final_url or spec.url}
    encoding = encoding_to_read(body, content_type)
    if encoding is not None:
        headers["content-type"] = f"application/xml; charset={encoding}"
    if declares_entities(body, headers):
        return ParsedFeed(
            (),
            _feed_failure(
                spec,
                "xml_entities",
                "document declares XML entities (refused: expansion bombs, external fetches)",
                body,
            ),
        )
    text = markup_text(body, headers)
    shape = markup_shape(text)
    if shape is not None:
        return ParsedFeed((), _feed_failure(spec, *shape, body))
    readable = without_references_to_no_character(text)
    if readable is not text:  # from here on, the document as if it had said U+FFFD
        if text is not body:  # decoded to UTF-8 (``markup_text``): read as such
            headers["content-type"] = "application/xml; charset=utf-8"
        body = readable
    try:
        parsed = feedparser.parse(
            as_document(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=True,
        )
    except ValueError as exc:  # encoding="punycode", "undefined", "\xff": feedparser raises
        # a NUL in the label (encoding="utf\x008") is a ValueError, not a UnicodeError; any
        # other ValueError is no decoding's: a parser bug, the caller's dead letter
        if not isinstance(exc, UnicodeError) and as_feedparser_decodes(body, headers) is not None:
            raise
        message = f"cannot decode the document: {type(exc).__name__}: {exc}"
        return ParsedFeed((), _feed_failure(spec, "malformed_feed", message, body))
    raw_entries = list(parsed.get("entries", []))
    malformed = bool(parsed.get("bozo")) and not isinstance(
        parsed.get("bozo_exception"), _NOT_MALFORMED
    )
    if not raw_entries:
        # No RSS/Atom found (feedparser names no version): an HTML page, JSON, plain text or
        # nothing at all is not a feed, whatever the parser said of it; a document that
        # starts as RSS or Atom and breaks before the parser knew it is a malformed feed.
        looks_like = None if parsed.get("version") else _what_it_looks_like(body, content_type)
        if looks_like is not None:
            message = f"not an RSS or Atom feed: {looks_like}"[:300]
            if looks_like.startswith("an HTML page"):  # a site's home page, say
                feeds = linked_feeds(body, content_type, final_url or spec.url)
                message += f"; {named(feeds)}" if feeds else ""
            failure = _feed_failure(spec, "not_a_feed", message, body, limit=len(message))
            return ParsedFeed((), failure)
        if malformed:
            reason = str(parsed.get("bozo_exception") or "malformed feed")
            if _cut_short(body, headers):  # the parser names its first fault, not this one
                reason = f"the document ends before its root element does; parser: {reason}"
            return ParsedFeed((), _feed_failure(spec, "malformed_feed", reason, body))
        if not parsed.get("version"):
            message = "not an RSS or Atom feed: no RSS or Atom root element"
            return ParsedFeed((), _feed_failure(spec, "not_a_feed", message, body))
        return ParsedFeed(())
    language = spec.language or _feed_language(parsed)
    latest = (polled_at or datetime.now(UTC)) + FUTURE_DATE_SLACK
    links, unused_guids = links_of(raw_entries, body, headers, spec.url)
    keys = entry_keys(
        [
            (link, guid_of(raw), raw.get("title"))
            for link, raw in zip(links, raw_entries, strict=True)
        ]
    )
    every_entry = tuple(
        _to_entry(raw, spec, language, latest, link, key, full_text_min_chars, unused_guids.get(i))
        for i, (raw, link, key) in enumerate(zip(raw_entries, links, keys, strict=True))
    )
    limit = MAX_FEED_ENTRIES if max_entries is None else max_entries
    entries, over_limit = _newest(every_entry, limit)
    if not malformed or _read_in_full(body, headers, len(every_entry)):
        return ParsedFeed(entries, over_limit=over_limit)
    reason = str(parsed.get("bozo_exception") or "malformed feed")
    message = (
        f"malformed feed read in part: {len(every_entry)} entries recovered and passed on, any "
        f"after the fault lost; the parser said: {reason}"
    )
    partial = _feed_failure(spec, MALFORMED_FEED_RECOVERED, message, body, retryable=True)
    return ParsedFeed(entries, partial=partial, over_limit=over_limit)


def _newest(
    entries: tuple[FeedEntry, ...], limit: int
) -> tuple[tuple[FeedEntry, ...], tuple[FeedEntry, ...]]:
    """The ``limit`` entries to pass on, and those past it, each in the feed's order.

    The newest by ``published_at`` are passed on, whatever order the feed lists them in (one
    listing its oldest first loses those, not its latest); an entry without a date comes
    after every dated one (as does one dated too far ahead: ``FUTURE_DATE_SLACK``), and among
    equals the one the feed lists first wins, so a feed without dates passes on its first
    ``limit``.
    """
    if len(entries) <= limit:
        return entries, ()
    newest_first = sorted(
        range(len(entries)), key=lambda i: entries[i].published_at or "", reverse=True
    )  # stable: equals stay in the feed's order
    kept = set(newest_first[: max(limit, 0)])
    return (
        tuple(entry for i, entry in enumerate(entries) if i in kept),
        tuple(entry for i, entry in enumerate(entries) if i not in kept),
    )


# Comments and CDATA sections (an unclosed one runs to the end), whose text is no markup.
_NOT_MARKUP = re.compile(rb"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)", re.DOTALL)
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)(?=[\s/>])")
# The root element's end tag, begun: a document cut inside it has lost nothing.
_ROOT_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|rdf)(?=[\s>]|\Z)", re.IGNORECASE)


def _read_in_full(body: bytes, headers: dict[str, str], entries: int) -> bool:
    """Whether feedparser, after its strict (XML) parser stopped at a fault, read the whole
    malformed document with its loose parser, which starts again from the first byte and reads
    past what the strict one cannot (an HTML entity such as ``&rsquo;`` or ``&nbsp;``,
    undefined in XML without a DTD; a bare ``&``; a declaration after a comment): the root
    element's end tag is there (a document cut short has none), and an entry was recovered
    for each ``<item>`` or ``<entry>`` start tag in it (outside comments and CDATA sections:
    the loose parser lost none on the way). Either missing: the feed was read in part.

    The strict parser's error does not tell them apart: it reports the first fault only
    (an undefined entity early in a feed that is also cut short), and its messages overlap
    ("unclosed token" for a cut and for a stray ``<``).

    Args:
        body: the raw feed bytes.
        headers: the response headers feedparser was given (they chose its decoding).
        entries: how many entries feedparser recovered.
    """
    markup = _markup(body, headers)
    if markup is None:
        return False
    return bool(_ROOT_END.search(markup)) and entries >= len(_ENTRY_START.findall(markup))


def _cut_short(body: bytes, headers: dict[str, str]) -> bool:
    """Whether the document lacks its root element's end tag (``_read_in_full``)."""
    markup = _markup(body, headers)
    return markup is not None and not _ROOT_END.search(markup)


def _markup(body: bytes, headers: dict[str, str]) -> bytes | None:
    """The document as feedparser decoded it (a UTF-16 feed's tags are not ASCII bytes),
    without its comments and CDATA sections; None when it cannot be decoded."""
    text = as_feedparser_decodes(body, headers)
    return None if text is None else _NOT_MARKUP.sub(b"", text)


def _feed_failure(
    spec: FeedSpec,
    error_type: str,
    message: str,
    body: bytes,
    *,
    retryable: bool = False,
    limit: int = 300,
) -> Failure:
    return Failure(
        stage="poll",
        key=spec.url,
        error_type=error_type,
        message=message[:limit],
        retryable=retryable,
        input_excerpt=excerpt(body[:600].decode("utf-8", errors="replace")),
        counts_entry=False,
    )


_SNIFFED = 4096  # bytes of a document that is no feed read to say what it is instead
_FIRST_ELEMENT = re.compile(r"<(?![?!/])([A-Za-z_][\w:.-]*)")
_HTML_DOCTYPE = re.compile(r"<!doctype\s+html", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_FEED_ROOTS = frozenset({"rss", "feed", "rdf:rdf", "rdf"})
# Elements an HTML page or an error fragment (PHP's "<br />\n<b>Fatal error</b>") starts with.
_HTML_ELEMENT = re.compile(
    r"(?:html|head|body|title|meta|link|script|style|div|span|p|br|b|i|a|h[1-6]|center|pre"
    r"|table|form|img|iframe|noscript)",
    re.IGNORECASE,
)


def _what_it_looks_like(body: bytes, content_type: str | None) -> str | None:
    """What a document in which feedparser found no RSS/Atom is instead: an empty document,
    JSON (a JSON Feed), an HTML page (its title), an XML document of another kind (its root
    element), or other text (how it starts). None when it starts as RSS or Atom, or as XML
    that breaks before its first element: a feed broken or cut short, as likely as not."""
    if not body.strip():
        return f"an empty document ({len(body)} bytes)"
    text = decode_html(body[:_SNIFFED], content_type).lstrip("\ufeff \t\r\n")
    if text.startswith(("{", "[")):
        try:
            value = json.loads(decode_html(body, content_type))
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
            value = None
        if isinstance(value, dict) and "jsonfeed.org" in str(value.get("version", "")):
            return "a JSON Feed (newsbeam reads RSS and Atom only)"
        if value is not None:
            return "a JSON document"
    first = _FIRST_ELEMENT.search(text) if text.startswith("<") else None
    root = first.group(1) if first else ""
    if _HTML_DOCTYPE.search(text) or _HTML_ELEMENT.fullmatch(root):
        title = _HTML_TITLE.search(text)
        return "an HTML page" + (f" titled {feed_text(title.group(1))[:80]!r}" if title else "")
    if text.startswith("<") and (not root or root.lower() in _FEED_ROOTS):
        return None
    if root:
        return f"an XML document whose root element is <{root}>"
    return f"text starting {feed_text(text)[:60]!r}"


def _feed_language(parsed: Any) -> str | None:
    """The primary subtag of the feed's ``<language>``, lower case: ``pt-BR`` -> ``pt``, and
    ``ru_RU`` -> ``ru`` (a locale name, as feeds also write it)."""
    lang = (parsed.get("feed") or {}).get("language")
    return _SUBTAG_SEPARATOR.split(lang)[0].lower() if isinstance(lang, str) and lang else None


_SUBTAG_SEPARATOR = re.compile(r"[-_]")


def _to_entry(
    raw: Any,
    spec: FeedSpec,
    language: str | None,
    latest: datetime,
    link: str,
    key: str,
    full_text_min_chars: int,
    unused_guid: str | None,
) -> FeedEntry:
    return FeedEntry(
        feed_url=spec.url,
        link=link,
        key=key,
        guid=guid_of(raw),
        title=raw.get("title"),
        summary=raw.get("summary"),
        published_at=published_at(raw, language, latest),
        feed_name=spec.name,
        feed_country=spec.country,
        feed_language=language,
        content=full_text(raw, full_text_min_chars),
        unused_guid=unused_guid,
    )


def body_sha256(body: bytes) -> str:
    """The hash that tells an unchanged feed whose server ignores validators."""
    return hashlib.sha256(body).hexdigest()
