"""Feed documents into ``FeedEntry`` records: the plain-Python core of ``PollFeeds``.

Consumes a feed's bytes, its ``FeedSpec`` and its Content-Type header (whose charset decodes a
document that names no encoding itself; with no charset there either, a document that is not
UTF-8 is decoded by the encoding its bytes look like); produces a ``ParsedFeed``: the entries, or a
feed-level ``Failure`` saying why there are none. Refuses documents that declare XML entities
before feedparser sees them, in whatever encoding they are written (entity-expansion bombs and
external entities never expand or fetch), and documents whose elements nest deeper, or
carry more attributes, than any feed needs (``MAX_FEED_DEPTH``, ``MAX_FEED_ATTRIBUTES``:
feedparser's time and memory grow with them), and recovers what entries it can from malformed
feeds. A feed read in part (cut short, or entries lost on the way) gives those entries with a
retryable feed-level ``Failure`` (``malformed_feed_recovered``) saying how many; one that
feedparser's loose parser reads to its end (HTML entities such as ``&rsquo;``, undefined in
XML) is a feed like any other (``_read_in_full``). An entry's date in a form feedparser does
not read exactly (RFC 822 written in the feed's language, ``2026/11/30 07:30``) is read by
dateparser first (``_entry_date``); one more than a day after the poll is no date
(``FUTURE_DATE_SLACK``). No Beam: the benchmarks and tests parse feeds without it.
"""

from __future__ import annotations

import calendar
import codecs
import functools
import hashlib
import html
import io
import json
import re
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.datetimes
import feedparser.encodings
import feedparser.exceptions
from feedparser.encodings import convert_to_utf8

from transforms import feedparser_patch
from transforms.charset import decode_html, detect_encoding, web_codec
from transforms.records import Failure, FeedEntry, FeedSpec, excerpt
from transforms.urls import entry_keys

_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITY_DECLARATION_TEXT = re.compile(r"<!ENTITY", re.IGNORECASE)

# Encodings in which every ASCII character is the one byte it is in ASCII, and no other byte
# sequence decodes to an ASCII character (checked for every one- and two-byte sequence, and
# GB18030's four-byte ones): in these, a document's text holds "<!ENTITY" only where its bytes
# do. Not UTF-16/32, UTF-7, EBCDIC, HZ or ISO-2022 (escapes and shifts), nor Shift_JIS-2004.
_ASCII_TRANSPARENT = frozenset(
    codecs.lookup(name).name
    for name in (
        *("utf-8", "utf-8-sig", "ascii", "latin-1", "koi8-r", "koi8-u", "mac-roman"),
        *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
        *(f"cp125{n}" for n in range(9)),
        *("cp437", "cp850", "cp866", "cp874", "tis-620", "shift_jis", "cp932", "euc_jp"),
        *("euc_kr", "cp949", "johab", "gb2312", "gbk", "gb18030", "big5", "big5hkscs"),
    )
)
_QUOTED = re.compile(rb"[\"']([^\"']*)[\"']")  # as feedparser reads encoding="..."
# feedparser's reading of a declaration's encoding= (its own pattern took cubic time on a
# hostile first line), installed in feedparser too: transforms.feedparser_patch
_XML_ENCODING = feedparser_patch.PI_ENCODING
feedparser_patch.install()
_ASCII_LABELS = frozenset({"ascii", "us-ascii"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's begin so too
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)
_EBCDIC_XML_DECLARATION = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC (XML 1.0, appendix F)
_UNICODE_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
_ASCII = bytes(range(128))
# Detecting the encoding of a feed that names none: the fewest non-ASCII bytes it is tried on
# (below, windows-1252 as feedparser reads it), and the bytes it reads (as decode_html does).
_MIN_DETECTED_BYTES = 32
_DETECTION_SAMPLE = 256 * 1024
# When a declared encoding fails, feedparser asks chardet (if installed), which may guess any.
_FEEDPARSER_GUESSES = getattr(feedparser.encodings, "lazy_chardet_encoding", True) is not None


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
# How far past the poll an entry's date may be. A date later than that is no publication
# time (a CMS's placeholder, 31 December 9999; a wrong clock; an event's date): the entry
# counts as undated, so that the page's date is taken for the story and the entry does not
# rank as the newest of its feed (``_newest``). A day: a date written in the publisher's
# own zone without its offset (read as UTC) is at most 14 hours ahead.
FUTURE_DATE_SLACK = timedelta(days=1)


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


def _as_document(body: bytes) -> io.BytesIO:
    """The feed's bytes as feedparser must be given them: as a stream, never as bytes.

    Given bytes (or a string), ``feedparser.parse`` first tries them as a file name
    (``open(body)``), and a string as a URL: a body that is a local path (``/dev/zero``,
    ``/dev/stdin``, a feed file on the worker's disk) had feedparser read that file instead,
    past every cap and deadline of the HTTP client. A stream is read as it is; everything
    else (the response headers given, the decoding, the base URL) is the same.
    """
    return io.BytesIO(body)


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
            the bytes are not UTF-8, their encoding is detected (``_detected_encoding``).
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
    encoding = _encoding_to_read(body, content_type)
    if encoding is not None:
        headers["content-type"] = f"application/xml; charset={encoding}"
    if _declares_entities(body, headers):
        return ParsedFeed(
            (),
            _feed_failure(
                spec,
                "xml_entities",
                "document declares XML entities (refused: expansion bombs, external fetches)",
                body,
            ),
        )
    text = _markup_text(body, headers)
    shape = _markup_shape(text)
    if shape is not None:
        return ParsedFeed((), _feed_failure(spec, *shape, body))
    readable = _without_references_to_no_character(text)
    if readable is not text:  # from here on, the document as if it had said U+FFFD
        if text is not body:  # decoded to UTF-8 (``_markup_text``): read as such
            headers["content-type"] = "application/xml; charset=utf-8"
        body = readable
    try:
        parsed = feedparser.parse(
            _as_document(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=True,
        )
    except UnicodeError as exc:  # encoding="punycode", "undefined", "\xff": feedparser raises
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
            message = f"not an RSS or Atom feed: {looks_like}"
            return ParsedFeed((), _feed_failure(spec, "not_a_feed", message, body))
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
    links = _links_of(raw_entries, body, headers, spec.url)
    keys = entry_keys(
        [
            (link, _guid_of(raw), raw.get("title"))
            for link, raw in zip(links, raw_entries, strict=True)
        ]
    )
    every_entry = tuple(
        _to_entry(raw, spec, language, latest, link, key, full_text_min_chars)
        for raw, link, key in zip(raw_entries, links, keys, strict=True)
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
    text = _decoded(body, headers)
    return None if text is None else _NOT_MARKUP.sub(b"", text)


# A character reference long enough to name no character: four or more hexadecimal digits,
# or five or more decimal ones, after its leading zeros (of those, the surrogates U+D800-DFFF
# and what is past U+10FFFF name none; ``_character_or_replacement`` decides). XML forbids
# them, so the XML parser refuses the document, and feedparser's lenient parser, which then
# reads it, raised on each (``chr(c).encode("utf-8")``): one bad character failed the whole
# feed. Such a reference is read as one to U+FFFD, as HTML reads it (the same text in a CDATA
# section too, where it is no reference). Possessive quantifiers: one pass, whatever the run
# of zeros or digits.
_LONG_CHARACTER_REFERENCE = re.compile(
    rb"&#(?:[xX]0*+([0-9a-fA-F]{4}[0-9a-fA-F]*+)|0*+([0-9]{5}[0-9]*+));"
)
_REPLACEMENT_REFERENCE = b"&#xFFFD;"


def _without_references_to_no_character(text: bytes) -> bytes:
    """``text`` with each character reference to no character (a surrogate, a code point past
    U+10FFFF) replaced by one to U+FFFD, as an HTML parser reads it; ``text`` itself (the same
    object) when it has none."""
    replaced = _LONG_CHARACTER_REFERENCE.sub(_character_or_replacement, text)
    return text if replaced == text else replaced


def _character_or_replacement(reference: re.Match[bytes]) -> bytes:
    """A reference found by ``_LONG_CHARACTER_REFERENCE`` as it was when it names a character,
    else a reference to U+FFFD."""
    hexadecimal, decimal = reference.groups()
    digits = hexadecimal or decimal
    if len(digits) > 7:  # past U+10FFFF in either base (and no 4,300-digit int() to refuse)
        return _REPLACEMENT_REFERENCE
    code_point = int(digits, 16 if hexadecimal else 10)
    if code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        return _REPLACEMENT_REFERENCE
    return reference.group(0)


def _decoded(body: bytes, headers: dict[str, str]) -> bytes | None:
    """The document as feedparser decodes it (UTF-8), or None when it cannot."""
    try:
        return convert_to_utf8(dict(headers), body, {})
    except (ValueError, LookupError):
        return None


def _encoding_to_read(body: bytes, content_type: str | None) -> str | None:
    """The charset feedparser is told to read the document in (as a Content-Type header's,
    which it puts before the document's own ``encoding=``), or None to let it go by the
    document. A label means what it means to browsers and to ``decode_html`` for pages
    (``web_codec``): a feed declared ``Shift_JIS``, ``EUC-KR`` or ``Big5`` is read as
    ``cp932``, ``cp949`` or ``big5hkscs`` (feedparser, taking the label's narrower codec,
    failed on the Windows and HKSCS characters, ①, 똠, 哋, and fell back to windows-1252:
    whole titles came out as mojibake). A document that names its encoding is read by its own
    word, whatever the header says; one that names none by the header's charset, else by the
    encoding its bytes look like (``_detected_encoding``). An ASCII label is left to feedparser,
    which reads a document that is not ASCII as UTF-8 first, then as windows-1252 (the web's
    reading of the label, ``web_codec``, would read UTF-8 as mojibake).
    """
    if not _names_its_encoding(body):
        charset = _CHARSET.search(content_type or "")
        if charset is None:
            return _detected_encoding(body)
        label = charset.group(1)
        return label if label.lower() in _ASCII_LABELS else web_codec(label)
    # feedparser's own reading of it; after a byte order mark, none (its pattern is anchored
    # at the document's start): the mark names the encoding, as XML says
    declared = _XML_ENCODING.match(body)
    if declared is None or body.startswith(_BOMS):
        return None
    label = declared.group(1).decode("latin-1").strip()
    codec = web_codec(label)
    return None if codec == label or label.lower() in _ASCII_LABELS else codec


def _declares_entities(body: bytes, headers: dict[str, str]) -> bool:
    """Whether the document declares an XML entity, read as any XML parser would read it.

    The byte search is the whole check when the document is in an encoding in which
    "<!ENTITY" can only be those bytes (UTF-8 and the other ASCII-compatible ones): it runs on
    every poll, so that path adds only a look at the first line's ``encoding=``. Otherwise the
    text is searched as feedparser will decode it for expat, and, when the first bytes say
    UTF-16 or UTF-32 (a byte order mark or the null pattern of XML 1.0's appendix F), as each
    of those encodings reads it.

    Args:
        body: the raw feed bytes.
        headers: the response headers feedparser is given (they choose its decoding).
    """
    if _ENTITY_DECLARATION.search(body):
        return True
    if _read_as_its_bytes(body, headers):
        return False
    head = body[:4]
    wide = _looks_wide(head)
    texts = [body.decode(encoding, errors="replace") for encoding in _UNICODE_WIDE if wide]
    if head == _EBCDIC_XML_DECLARATION:
        texts.append(body.decode("cp037", errors="replace"))
    decoded = _decoded(body, headers)  # None: feedparser cannot decode it either
    if decoded is not None:
        texts.append(decoded.decode("utf-8", errors="replace"))
    return any(_ENTITY_DECLARATION_TEXT.search(text) for text in texts)


# Past these a document is refused before feedparser reads it (``_markup_shape``). Its XML
# parser's memory grows with the elements open at once (1,000,000 nested in 4 MiB: 79 s of
# CPU and 820 MB), and its time on one element with the square of the element's attributes
# (Python's SAX attributes look each one up in a list: 25,000 on one element, 11 s). In the
# 2,249 documents of the corpus (rss-parser, miniflux, NetNewsWire, feedparser's tests) the
# deepest nesting an XML parser reads is 25 (an HTML page; 11 in a feed) and the most
# attributes on an element 10. At these limits a document costs no more a megabyte than a
# real feed: elements 10,000 deep hold a few MB; blocks of elements 10,000 deep, 5.5 s a
# MiB, as flat ones do; elements of 256 attributes, 1.2 s a MiB. The depth is that of the
# elements open at once, unclosed ones included (raw HTML's <br> in a description counts
# until the first end tag stops the XML parser), hence the wide margin.
MAX_FEED_DEPTH = 10_000
MAX_FEED_ATTRIBUTES = 256

# What the check reads of a document, as an XML parser does: comments, CDATA sections and
# processing instructions (to their end, or the document's), declarations (their quoted
# literals included), end tags (their name) and start tags (their name, attributes and
# whether ">" ends them); an attribute value holds no "<" (XML allows none), so a tag ends at
# the next "<" or ">" outside quotes.
_MARKUP_TOKEN = re.compile(
    rb"<!--.*?(?:-->|\Z)"
    rb"|<!\[CDATA\[.*?(?:\]\]>|\Z)"
    rb"|<\?.*?(?:\?>|\Z)"
    rb"|<!(?:[^<>\"']++|\"[^\"]*+\"|'[^']*+')*+"
    rb"|</([^\s<>/]*+)[^<>]*+"
    rb"|<([A-Za-z_:\x80-\xff][^\s<>/\"'=]*+)((?:[^<>\"']++|\"[^<\"]*+\"|'[^<']*+')*+)(>)?",
    re.DOTALL,
)
_QUOTED_VALUE = re.compile(rb"\"[^\"]*\"|'[^']*'")


def _markup_shape(text: bytes) -> tuple[str, str] | None:
    """Why a document is refused before feedparser reads it, as an error type and a message:
    elements nested more than ``MAX_FEED_DEPTH`` deep, or one with more than
    ``MAX_FEED_ATTRIBUTES`` attributes; None for any other document. One pass over ``text``
    (the document as the XML parser reads it: ``_markup_text``).

    What is checked is what feedparser's XML parser reads: the document up to the first
    fault that stops it (an end tag that is not the open element's, a start tag cut short,
    or anything after the root element's end; nothing in a document that does not start with
    "<", such as JSON).
    After such a fault feedparser's lenient parser reads the document again, and its cost
    grows with neither (1 MiB of 350,000 open elements or of 150,000 empty ones: 13 s and
    110 MB both; attributes: linear).
    """
    if not text.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return None
    open_names: list[bytes] = []
    for token in _MARKUP_TOKEN.finditer(text):
        end_name, name, attributes, closed = token.groups()
        if end_name is not None:
            if not open_names or open_names.pop() != end_name or not open_names:
                return None  # a fault (the XML parser stops), or the root element's end
            continue
        if name is None:  # a comment, CDATA section, processing instruction or declaration
            continue
        if closed is None:  # a start tag cut by a "<" or the end: a fault
            return None
        if (
            attributes.count(b"=") > MAX_FEED_ATTRIBUTES
            and _QUOTED_VALUE.sub(b"", attributes).count(b"=") > MAX_FEED_ATTRIBUTES
        ):
            return (
                "too_many_attributes",
                f"an element with more than {MAX_FEED_ATTRIBUTES} attributes (refused: the XML "
                "parser's time on an element grows with the square of their number)",
            )
        if len(open_names) >= MAX_FEED_DEPTH:
            return (
                "too_deeply_nested",
                f"elements nested more than {MAX_FEED_DEPTH} deep (refused: the XML parser's "
                "memory grows with each level)",
            )
        if not attributes.endswith(b"/"):  # not <empty/>
            open_names.append(name)
    return None


def _markup_text(body: bytes, headers: dict[str, str]) -> bytes:
    """The document as feedparser's XML parser reads it, for ``_markup_shape``: its bytes,
    when they are its text (``_read_as_its_bytes``), else as feedparser decodes it (UTF-8)."""
    if _read_as_its_bytes(body, headers):
        return body
    decoded = _decoded(body, headers)  # None: feedparser cannot either, a malformed feed
    return body if decoded is None else decoded


def _looks_wide(head: bytes) -> bool:
    """Whether a document's first four bytes say UTF-16 or UTF-32: a byte order mark, or the
    null bytes of XML 1.0's appendix F."""
    return b"\0" in head or head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _read_as_its_bytes(body: bytes, headers: dict[str, str]) -> bool:
    """Whether feedparser reads ``body`` as text in which every ASCII character is its byte
    and no other bytes make one (``_ASCII_TRANSPARENT``): then markup ("<!ENTITY", tags,
    quotes) can be looked for in the bytes themselves."""
    head = body[:4]
    return (
        not _looks_wide(head)
        and head != _EBCDIC_XML_DECLARATION
        and _header_charset_reads_as_its_bytes(body, headers.get("content-type", ""))
        and _bytes_are_the_text(body)
    )


def _bytes_are_the_text(body: bytes) -> bool:
    """Whether feedparser decodes ``body`` (no BOM but UTF-8's, ASCII-compatible start) with an
    ASCII-transparent encoding: the one its XML declaration names, or ISO-8859-1 without one.

    Every ``encoding="..."`` on the first line counts (feedparser's pattern takes one of them).
    """
    return all(_reads_as_its_bytes(body, name) for name in _declared_encodings(body))


def _declared_encodings(body: bytes) -> list[bytes]:
    """Every ``encoding="..."`` value on an XML declaration's first line (after a UTF-8 BOM);
    ``b""`` for an ``encoding=`` without quotes."""
    start = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    if not body.startswith(b"<?", start):
        return []
    line_end = body.find(b"\n", start)
    line_end = line_end if line_end >= 0 else len(body)
    found = []
    at = body.find(b"encoding=", start, line_end)
    while at >= 0:
        quoted = _QUOTED.match(body, at + len(b"encoding="), line_end)
        found.append(quoted.group(1) if quoted else b"")
        at = body.find(b"encoding=", at + 1, line_end)
    return found


def _reads_as_its_bytes(body: bytes, name: bytes) -> bool:
    """Whether feedparser, told encoding ``name``, reads ``body`` as text whose ASCII is its
    bytes: ``name`` is ASCII-transparent and, where a failed decoding would send feedparser to
    chardet (which may guess any encoding), decodes it. ``b""`` (no value) claims nothing."""
    if not name:
        return True
    try:
        encoding = codecs.lookup(name.decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return False
    if encoding not in _ASCII_TRANSPARENT:
        return False
    return not _FEEDPARSER_GUESSES or body.isascii() or _decodes(body, encoding)


def _header_charset_reads_as_its_bytes(body: bytes, content_type: str) -> bool:
    """``_reads_as_its_bytes`` for the charset a Content-Type header names (feedparser decodes
    by it first); true when it names none."""
    charset = _CHARSET.search(content_type)
    return charset is None or _reads_as_its_bytes(body, charset.group(1).encode("latin-1"))


def _names_its_encoding(body: bytes) -> bool:
    """Whether the document says its own encoding: a byte order mark, the null bytes of UTF-16
    or UTF-32 text, or ``encoding=`` on an XML declaration's first line."""
    head = body[:4]
    if head.startswith(_BOMS) or b"\0" in head or head == _EBCDIC_XML_DECLARATION:
        return True
    return bool(_declared_encodings(body))


def _detected_encoding(body: bytes) -> str | None:
    """The encoding of a document that names none, anywhere (no BOM, no ``encoding=``, no
    charset in its Content-Type), told from its bytes as pages' are (charset_normalizer).

    None when it is UTF-8 (feedparser reads it so, and ASCII is UTF-8), or holds fewer than
    ``_MIN_DETECTED_BYTES`` non-ASCII bytes: on so few, detection guesses wildly (a German
    title's three umlauts in windows-1252 came out as cp775, a KOI8-R headline as
    mac_iceland), and feedparser's own fallback, windows-1252, is the likelier right answer.
    None too when windows-1252 reads the bytes as well as any (``mostly_markup``). Else
    feedparser took the bytes as windows-1252: a windows-1251 or Shift_JIS feed came out as
    mojibake.
    """
    if _decodes(body, "utf-8") or len(body.translate(None, _ASCII)) < _MIN_DETECTED_BYTES:
        return None
    detected = detect_encoding(body[:_DETECTION_SAMPLE], mostly_markup=True)
    return None if detected == "cp1252" else detected


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _feed_failure(
    spec: FeedSpec, error_type: str, message: str, body: bytes, *, retryable: bool = False
) -> Failure:
    return Failure(
        stage="poll",
        key=spec.url,
        error_type=error_type,
        message=message[:300],
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
        except ValueError:
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


def _guid_of(raw: Any) -> str | None:
    return str(raw.get("id") or "").strip() or None


def _links_of(
    raw_entries: list[Any], body: bytes, headers: dict[str, str], feed_url: str
) -> list[str]:
    """Each entry's link: the one its link element gives, or its GUID standing in.

    A link is no link when it names no host (``https://``; ``http:///x``, which feedparser
    makes ``http://x``) or points back at the feed itself (``#``, ``http://``, empty or
    fragment-only references that resolve to the feed's own URL): such an entry has nothing
    to fetch. Links in other schemes (``mailto:``) are kept, for the fetch stage to refuse
    naming them.

    A GUID stands in for a missing (or no) link only when the feed wrote it as an absolute
    http(s) URL. feedparser copies every permalink GUID (RSS 2.0's default, and every Atom
    id) into ``link`` and resolves it against the feed's URL, so ``<guid>abc-123</guid>``
    comes out as ``http://host/f/abc-123``, a URL the feed never held. A resolved GUID on
    another host than the feed's was written with its host (absolute, or ``//host/...``); one
    on the feed's own host, or any GUID of a feed with an ``xml:base``, is checked as written.

    feedparser blanks a link it cannot resolve against the feed's URL (``http://[::1/x``:
    ``urljoin`` raises) and keeps no trace of it; that link is then taken as written (the
    fetch stage refuses it as ``bad_url``, naming it, where the entry was an
    ``entry_without_link`` dead letter that had lost it).

    The links and GUIDs as written come from a second parse of the same bytes without a base
    URL (no join; same decoding), run only for a feed with an entry that needs one; entries
    are matched by index, and the second parse is ignored if the counts differ (then no GUID
    awaiting the check stands in).
    """
    base = headers.get("content-location") or feed_url
    unusable = _hostless_links(body, base)
    own = {_document(url) for url in (base, feed_url) if url}

    def usable(url: str) -> bool:
        return bool(url) and url not in unusable and _document(url) not in own

    links: list[str] = []
    guids_to_check: dict[int, str] = {}
    emptied: list[int] = []
    for i, raw in enumerate(raw_entries):
        link = _element_link(raw)
        if link and usable(link) and not _hostless_web_url(link):
            links.append(link)
            continue
        links.append("")
        guid = _guid_of(raw)
        if guid and _WEB_URL.match(guid) and usable(guid):
            if _origin(guid) != _origin(base) and b"xml:base" not in body:
                links[i] = guid
                continue
            guids_to_check[i] = guid
        if not link and _had_link(raw):
            emptied.append(i)
    if not guids_to_check and not emptied:
        return links
    unresolved = feedparser.parse(
        _as_document(body),
        response_headers={**headers, "content-location": ""},
        sanitize_html=False,
        resolve_relative_uris=False,
    ).get("entries", [])
    if len(unresolved) != len(raw_entries):
        return links
    for i, guid in guids_to_check.items():
        if _WEB_URL.match(_guid_of(unresolved[i]) or ""):
            links[i] = guid
    for i in emptied:
        if not links[i]:
            links[i] = str(unresolved[i].get("link") or "").strip()
    return links


# An absolute http(s) URL with a host (``//host``, not ``///``); the start of any http(s) URL.
_WEB_URL = re.compile(r"(?i)https?://[^/?#\s]")
_WEB_SCHEME = re.compile(r"(?i)https?:")
# What a feed may write as an http(s) URL without a host: ``http:///x``, ``http:/x``, ``http:x``
# (feedparser turns them into ``http://x`` or a path on the feed's own host).
_HOSTLESS_WRITTEN = re.compile(rb"[hH][tT][tT][pP][sS]?:(?!//[^/])[^\s<>\"'\]]*")
_COLLAPSED_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)/*")  # as feedparser's _urifixer


def _hostless_links(body: bytes, base: str) -> frozenset[str]:
    """What feedparser resolves the body's http(s) URLs without a host to (``http:///x`` to
    ``http://x``): links no entry can be fetched from. A resolved URL the body also holds as
    written is not among them (another entry's real link).

    Linear in the body: each URL written is resolved once, and the body is searched for all
    of them at once (``_occurring``). Searching the whole body again for each URL found was
    quadratic: one item whose description repeated ``http:q `` took 80 s at 1 MiB.
    """
    resolved_of: dict[bytes, str | None] = {}  # each URL as written, and what it resolves to
    for match in _HOSTLESS_WRITTEN.finditer(body):
        token = match.group()
        if token in resolved_of:
            continue
        written = html.unescape(token.decode("utf-8", errors="replace")).strip()
        try:
            resolved_of[token] = urljoin(base, _COLLAPSED_SLASHES.sub(r"\1", written))
        except ValueError:
            resolved_of[token] = None
    candidates = {url: url.encode("utf-8") for url in resolved_of.values() if url is not None}
    written_too = _occurring(candidates.values(), body)
    return frozenset(url for url, raw in candidates.items() if raw not in written_too)


# Up to this many strings are each searched for in turn (a pass over the text each); more,
# in one pass of an Aho-Corasick automaton (``_occurring``), slower a byte but one pass.
_SEARCHED_ONE_BY_ONE = 16


def _occurring(needles: Collection[bytes], haystack: bytes) -> frozenset[bytes]:
    """Which of ``needles`` occur in ``haystack`` (as ``needle in haystack`` says), in time
    linear in the haystack and in the needles' length: a few are searched for one by one,
    more in one pass of an Aho-Corasick automaton (a trie of the needles, each node linked
    to the longest proper suffix of its string that is also in the trie)."""
    distinct = set(needles)
    if len(distinct) <= _SEARCHED_ONE_BY_ONE or b"" in distinct:
        return frozenset(needle for needle in distinct if needle in haystack)
    # The trie, built from the needles in sorted order: each shares with the one before it
    # as much of its path as their common prefix (not walked again: a long base URL that
    # every needle starts with is walked once).
    children: list[dict[int, int]] = [{}]
    ends: list[bytes | None] = [None]  # the needle that ends at each node
    path = [0]  # the nodes of the previous needle, by depth
    previous = b""
    for needle in sorted(distinct):
        shared = _common_prefix_length(previous, needle)
        del path[shared + 1 :]
        node = path[-1]
        for byte in needle[shared:]:
            children[node][byte] = len(children)
            node = len(children)
            children.append({})
            ends.append(None)
            path.append(node)
        ends[node] = needle
        previous = needle
    # Failure links (breadth first), and for each node the nearest node on its chain of
    # failure links (itself included) where a needle ends (0: none).
    fail = [0] * len(children)
    report = [0] * len(children)
    queue = deque(children[0].values())
    for node in queue:
        report[node] = node if ends[node] is not None else 0
    while queue:
        node = queue.popleft()
        for byte, child in children[node].items():
            target = fail[node]
            while target and byte not in children[target]:
                target = fail[target]
            fail[child] = children[target].get(byte, 0)
            report[child] = child if ends[child] is not None else report[fail[child]]
            queue.append(child)
    # One pass; from the root, straight to the next byte a needle can start with.
    first_bytes = re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in children[0]) + b"]")
    reported = bytearray(len(children))
    found: set[bytes] = set()
    state, at, end = 0, 0, len(haystack)
    while at < end and len(found) < len(distinct):
        if state == 0:
            start = first_bytes.search(haystack, at)
            if start is None:
                break
            at = start.start()
        byte = haystack[at]
        while state and byte not in children[state]:
            state = fail[state]
        state = children[state].get(byte, 0)
        hit = report[state]
        while hit and not reported[hit]:  # a node reported once had its whole chain reported
            reported[hit] = 1
            ended = ends[hit]
            if ended is not None:  # always: a node reported is one where a needle ends
                found.add(ended)
            hit = report[fail[hit]]
        at += 1
    return frozenset(found)


def _common_prefix_length(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (a binary search on slices:
    compared in C, not byte by byte in Python)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _hostless_web_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with an empty host (``https://``)."""
    return bool(_WEB_SCHEME.match(url)) and not _WEB_URL.match(url)


def _document(url: str) -> str:
    """``url`` without its fragment, scheme and host in lower case: the document it names."""
    url = url.split("#", 1)[0]
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def _origin(url: str) -> str:
    """An absolute URL's ``scheme://host``, in lower case."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{re.split(r'[/?#]', rest, maxsplit=1)[0]}".lower()


def _element_link(raw: Any) -> str:
    """The link feedparser read from the entry's own link element, not one it copied from a
    permalink GUID (it does so for an entry with no link element, and says ``guidislink``)."""
    link = str(raw.get("link") or "").strip()
    copied = (
        raw.get("guidislink")
        and link == _guid_of(raw)
        and not any(
            isinstance(item, dict) and item.get("rel") == "alternate"
            for item in raw.get("links") or ()
        )
    )
    return "" if copied else link


def _had_link(raw: Any) -> bool:
    """Whether the entry had an alternate link element (feedparser lists it, href or not)."""
    return any(
        isinstance(link, dict) and link.get("rel") == "alternate" and not link.get("href")
        for link in raw.get("links") or ()
    )


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC).isoformat()
    except (OverflowError, ValueError, TypeError):
        return None


def _published_at(raw: Any, language: str | None, latest: datetime) -> str | None:
    """The entry's publication time, in UTC: its published date, else its updated one
    (``_entry_date``). A date after ``latest`` (the poll's time and ``FUTURE_DATE_SLACK``) is
    no date: the next is tried. A published date without a time of day (``2026-11-28``)
    gives way to an updated one with a time; one without a day (``2026``, ``2026-11``: read
    as its first day) is no date, so that the page's date is taken instead."""
    without_time = None
    for field in ("published", "updated"):
        text = raw.get(field)
        if isinstance(text, str) and _NO_DAY.fullmatch(text):
            continue
        when = _entry_date(text, raw.get(f"{field}_parsed"), language)
        if when is None or datetime.fromisoformat(when) > latest:
            continue
        if isinstance(text, str) and _TIME_OF_DAY.search(text):
            return when
        without_time = without_time or when
    return without_time


_TIME_OF_DAY = re.compile(r"\d:\d\d")
_NO_DAY = re.compile(r"\s*\d{4}(?:-\d{1,2})?\s*")  # a year, or a year and a month
# A leap second, 23:59:60 (the last second of a day it was added to, as RFC 822 and ISO 8601
# write it): feedparser's RFC 822 reading makes a datetime of it, which refuses second 60,
# and the whole date was lost.
_LEAP_SECOND = re.compile(r"(?<=\d\d:\d\d):60(?!\d)")
# A zone of hours alone after the time (``2026-11-28 14:05:00+08``), which feedparser reads
# as no time at all (midnight) and dateparser not at all: read as ``+08:00``.
_HOURS_ZONE = re.compile(r"(?<=\d:\d\d)([+-]\d{2})\s*$")
# The two forms feedparser reads exactly. RFC 822 (RSS): a day, an English month, a year, a
# time, and a numeric zone or one of RFC 822's names (none: UTC, as feedparser reads it); the
# weekday is not checked. ISO 8601 as W3DTF writes it (Atom): a year, a month, a day, a time
# and a zone, each part after the year optional.
_RFC822 = re.compile(
    r"\s*(?:[a-z]{3,9}\.?,?\s*)?\d{1,2}\s+"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?\s+(?:\d{4}|\d{2})\s+"
    r"\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[+-]\d{4}|ut|utc|gmt|z|[ecmp][sd]t))?"
    r"(?:\s*\([^()]*\))?\s*",
    re.IGNORECASE,
)
_W3DTF = re.compile(
    r"\s*\d{4}(?:-\d{2}(?:-\d{2}(?:"
    r"[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}(?::?\d{2})?)?"
    r")?)?)?\s*",
    re.IGNORECASE,
)


def _entry_date(text: Any, parsed: Any, language: str | None) -> str | None:
    """One of an entry's dates (``text``, as the feed wrote it; ``parsed``, feedparser's
    reading of it) as a UTC ISO timestamp, or None.

    feedparser's reading is exact for the two forms it was written for (``_RFC822``,
    ``_W3DTF``). For anything else it reads what it can and says nothing of the rest:
    ``2026/11/30 07:30`` and ``2026年11月28日 14:05`` were 1 November, ``14:05:00 +08`` no
    date, a zone it does not know (``CET``, ``JST``) UTC, ``2:05 PM +0800`` 02:05 UTC. So
    those are read by dateparser (``_localized_date``) first, and feedparser's reading is
    taken only where dateparser reads nothing. A leap second is read as the second before it.
    """
    if isinstance(text, str) and (_LEAP_SECOND.search(text) or _HOURS_ZONE.search(text)):
        text = _HOURS_ZONE.sub(r"\1:00", _LEAP_SECOND.sub(":59", text))
        parsed = feedparser.datetimes._parse_date(text)
    read_by_feedparser = _iso(parsed)
    exact = isinstance(text, str) and (_RFC822.fullmatch(text) or _W3DTF.fullmatch(text))
    if exact and read_by_feedparser is not None:
        return read_by_feedparser
    return _localized_date(text, language) or read_by_feedparser


_MAX_DATE_CHARS = 100
_YEAR = re.compile(r"(?<!\d)(?:1[89]|2\d)\d\d(?!\d)")
_DATEPARSER_SETTINGS = {
    "PARSERS": ["absolute-time"],  # no "3 hours ago": a feed's date does not move with now
    "REQUIRE_PARTS": ["day", "month", "year"],
    "TIMEZONE": "UTC",  # a date without a zone is UTC's, as feedparser reads RFC 822
    "TO_TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": True,
}


def _localized_date(text: str | None, language: str | None) -> str | None:
    """A date feedparser does not read exactly (``_entry_date``), read by dateparser: RFC 822
    written in the feed's language (``Сб, 28 ноя 2026 14:05:00 +0300``,
    ``Sa, 28 Nov 2026 14:05:00 +0100``, ``sam., 28 nov. 2026 14:05:00 +0100``), or another
    full date with a day, a month and a year; as a UTC ISO timestamp, else None.

    Bounded: dateparser (a dependency of htmldate; 0.2 s to import, a language's tables more
    on its first date) is loaded only for such a date: one of at most ``_MAX_DATE_CHARS``
    characters with a four-digit year in it. It tries the feed's language, alone and then
    with English (a numeric date in the language's own order: ``12.03.2026`` is 12 March in
    a German feed), never all of its 200 (seconds and tens of MB on the first date no
    language reads), and absolute dates only; offline. Results are cached.

    Args:
        text: the date as the feed wrote it.
        language: the feed's ISO 639 language (the feed list's, else the feed's own), if any.
    """
    if not text or len(text) > _MAX_DATE_CHARS or not _YEAR.search(text):
        return None
    if _CJK_DATE.search(text) and language not in ("zh", "ja"):
        language = "zh"  # 2026年11月28日 is written so in Chinese and Japanese alike
    return _dateparser_date(text.strip(), language)


_CJK_DATE = re.compile(r"\d\s*\u5e74\s*\d{1,2}\s*\u6708\s*\d{1,2}\s*\u65e5")


@functools.lru_cache(maxsize=1024)
def _dateparser_date(text: str, language: str | None) -> str | None:
    import dateparser  # slow to load: only once feedparser has failed on a date
    from dateparser.data.languages_info import language_order

    known = language is not None and language in language_order
    # The feed's language alone first: given English too, dateparser reads a numeric date
    # month first, as English does ("12.03.2026" in a German feed was 3 December, not 12
    # March); alone, it reads it in the language's own order. Then both together, as before,
    # for a date in English or mixing the two.
    attempts = [[language], [language, "en"]] if known and language != "en" else [["en"]]
    for languages in attempts:
        try:
            parsed = dateparser.parse(text, languages=languages, settings=_DATEPARSER_SETTINGS)
        except Exception:  # a date it cannot read is no date, as before; the feed goes on
            continue
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC).replace(microsecond=0).isoformat()
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
    return _SPACES.sub(" ", html.unescape(_without_tags(markup))).strip()


def _without_tags(markup: str) -> str:
    """``markup`` with each tag (``_MARKUP``: from a "<" to the next ">") made a space.

    Only up to the last ">": no tag closes after it, and the search from each "<" there ran
    to the end of the text before it failed (quadratic: 64,000 "<" took 3.4 s). Before it,
    every "<" is followed by a ">", so each search stops at the next one: one pass, the same
    result as the pattern on the whole text.
    """
    end = markup.rfind(">") + 1
    return _MARKUP.sub(" ", markup[:end]) + markup[end:]


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
    raw: Any,
    spec: FeedSpec,
    language: str | None,
    latest: datetime,
    link: str,
    key: str,
    full_text_min_chars: int,
) -> FeedEntry:
    return FeedEntry(
        feed_url=spec.url,
        link=link,
        key=key,
        guid=_guid_of(raw),
        title=raw.get("title"),
        summary=raw.get("summary"),
        published_at=_published_at(raw, language, latest),
        feed_name=spec.name,
        feed_country=spec.country,
        feed_language=language,
        content=full_text(raw, full_text_min_chars),
    )


def body_sha256(body: bytes) -> str:
    """The hash that tells an unchanged feed whose server ignores validators."""
    return hashlib.sha256(body).hexdigest()
