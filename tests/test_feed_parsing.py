"""parse_feed's refusal of entity declarations in any encoding the XML parser would accept,
and how it tells a malformed feed read in part from one the loose parser reads in full.

The refusal used to be a byte search for ``<!ENTITY``, which a UTF-16 or UTF-32 feed (or one
declared as UTF-7 or EBCDIC) passes: feedparser decodes it and expat expands the entities.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import random
import time
import xml.parsers.expat
from datetime import UTC, datetime
from pathlib import Path

import feedparser.encodings
import pytest

from tests.conftest import corpus_path, fresh_python_prints
from tests.cpu_limited import run_cpu_limited
from transforms import feed_documents, feed_links, feed_parsing, feedparser_patch
from transforms.charset import decode_html
from transforms.feed_parsing import parse_feed
from transforms.records import FeedEntry, FeedSpec

SPEC = FeedSpec("http://news.example/rss", name="Example News")


def _bomb(encoding: str | None) -> str:
    """An RSS feed with ten levels of nested entities (10**9 copies of "lol" in one title)."""
    entities = ['<!ENTITY a0 "lol">'] + [
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    ]
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    return (
        f"{declaration}<!DOCTYPE rss [{''.join(entities)}]>\n"
        '<rss version="2.0"><channel><title>T</title><item><title>&a9;</title>'
        "<link>http://x.example/1</link></item></channel></rss>"
    )


def _feed(encoding: str | None, title: str = "Caf\u00e9 \u65b0\u805e") -> str:
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    return (
        f'{declaration}<rss version="2.0"><channel><title>T</title><item><title>{title}</title>'
        "<link>http://x.example/1</link></item></channel></rss>"
    )


BOM_UTF16_LE, BOM_UTF16_BE = codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE
BOM_UTF32_LE, BOM_UTF32_BE = codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE

# How an XML parser can be told a document's encoding: a byte order mark, the null pattern of
# the first bytes (XML 1.0, appendix F), or the XML declaration alone.
ENCODED_BOMBS = {
    "utf-16-le, BOM and declaration": BOM_UTF16_LE + _bomb("UTF-16").encode("utf-16-le"),
    "utf-16-be, BOM and declaration": BOM_UTF16_BE + _bomb("UTF-16").encode("utf-16-be"),
    "utf-16-le, BOM, no declaration": BOM_UTF16_LE + _bomb(None).encode("utf-16-le"),
    "utf-16-be, BOM, no declaration": BOM_UTF16_BE + _bomb(None).encode("utf-16-be"),
    "utf-16-le, no BOM": _bomb("UTF-16").encode("utf-16-le"),
    "utf-16-be, no BOM": _bomb("UTF-16").encode("utf-16-be"),
    "utf-32-le, BOM": BOM_UTF32_LE + _bomb("UTF-32").encode("utf-32-le"),
    "utf-32-be, BOM": BOM_UTF32_BE + _bomb("UTF-32").encode("utf-32-be"),
    "utf-32-le, no BOM": _bomb("UTF-32").encode("utf-32-le"),
    "utf-32-be, no BOM": _bomb("UTF-32").encode("utf-32-be"),
    "utf-7, declared": _bomb("UTF-7").encode("utf-7").replace(b"<!", b"+ADwAIQ-"),
    # An ASCII declaration (an even number of bytes) in front of UTF-16 text.
    "utf-16, declared in ASCII": b'<?xml version="1.0" encoding="utf-16" ?>'
    + _bomb(None).encode("utf-16-le"),
    # feedparser takes the last encoding="..." on the first line, not the declaration's.
    "utf-7, named by a comment on the declaration's line": (
        b'<?xml version="1.0" encoding="utf-8"?><!-- encoding="utf-7" ?> -->'
        + _bomb(None).replace("\n", "").encode("utf-7").replace(b"<!", b"+ADwAIQ-")
    ),
    # feedparser decodes by the declaration, not by the UTF-8 byte order mark before it.
    "utf-7, declared after a UTF-8 BOM": codecs.BOM_UTF8
    + b'<?xml version="1.0" encoding="utf-7"?>\n'
    + _bomb(None).replace("\n", "").encode("utf-7").replace(b"<!", b"+ADwAIQ-"),
    "ebcdic (cp037), declared": _bomb("cp037").encode("cp037"),
    "hz, line continuation inside the keyword": _bomb("hz")
    .encode("hz")
    .replace(b"<!ENTITY", b"<!EN~\nTITY"),
}


def _refusal(body: bytes) -> tuple[str, str]:
    parsed = parse_feed(body, SPEC)
    assert parsed.entries == ()
    assert parsed.failure is not None
    assert parsed.failure.counts_entry is False
    return parsed.failure.error_type, parsed.failure.message


def test_the_utf8_bomb_is_refused() -> None:
    assert _refusal(_bomb("utf-8").encode())[0] == "xml_entities"
    assert _refusal(_bomb(None).encode())[0] == "xml_entities"


@pytest.mark.parametrize("case", sorted(ENCODED_BOMBS))
def test_the_same_bomb_in_another_encoding_is_refused_for_the_same_reason(case: str) -> None:
    assert _refusal(ENCODED_BOMBS[case]) == _refusal(_bomb("utf-8").encode())


@pytest.mark.parametrize(
    "body",
    [
        BOM_UTF16_LE + _feed("UTF-16").encode("utf-16-le"),
        BOM_UTF16_BE + _feed("UTF-16").encode("utf-16-be"),
        _feed("UTF-16").encode("utf-16-le"),
        BOM_UTF32_LE + _feed("UTF-32").encode("utf-32-le"),
        # a mark and no declaration (XML needs none after one): read as Latin-1, malformed
        BOM_UTF16_LE + _feed(None).encode("utf-16-le"),
        BOM_UTF16_BE + _feed(None).encode("utf-16-be"),
        BOM_UTF32_BE + _feed(None).encode("utf-32-be"),
    ],
    ids=[
        *("utf-16-le BOM", "utf-16-be BOM", "utf-16-le no BOM", "utf-32-le BOM"),
        *("utf-16-le BOM only", "utf-16-be BOM only", "utf-32-be BOM only"),
    ],
)
def test_a_utf16_or_utf32_feed_without_entities_still_parses(body: bytes) -> None:
    parsed = parse_feed(body, SPEC)
    assert parsed.failure is None
    (entry,) = parsed.entries
    assert entry.title == "Caf\u00e9 \u65b0\u805e"
    assert entry.link == "http://x.example/1"


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16LE"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_a_wide_encoding_declared_over_ascii_bytes_is_as_if_none_were(
    declared: str, encoding: str
) -> None:
    # .NET's XmlWriter on a StringWriter declares utf-16 for the UTF-8 it serves: read as
    # UTF-16, a feed of an even number of bytes was mojibake, a malformed_feed.
    title = "\u00c9lection \u00e0 Paris"
    body = _feed(declared, title=title).encode(encoding)
    for even_or_odd in (body, body + b" "):
        parsed = parse_feed(even_or_odd, SPEC, content_type="application/rss+xml")
        assert parsed.failure is None and parsed.partial is None
        assert [e.title for e in parsed.entries] == [title]


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16LE"])
def test_a_wide_encoding_declared_over_ascii_bytes_yields_to_the_headers_charset(
    declared: str,
) -> None:
    # As if no encoding were declared: the header's charset first (KOI8-R here, which the
    # UTF-8-else-windows-1252 fallback read as mojibake), even and odd lengths alike.
    title = "\u041d\u043e\u0432\u043e\u0441\u0442\u0438 \u0434\u043d\u044f"
    body = _feed(declared, title=title).encode("koi8-r")
    for even_or_odd in (body, body + b" "):
        parsed = parse_feed(even_or_odd, SPEC, content_type="application/rss+xml; charset=KOI8-R")
        assert [e.title for e in parsed.entries] == [title]


def test_the_word_entity_in_text_is_not_a_declaration() -> None:
    body = _feed("UTF-16", title="ENTITY &lt;!-- not one --&gt;").encode("utf-16")
    (entry,) = parse_feed(body, SPEC).entries
    assert entry.title == "ENTITY <!-- not one -->"


@pytest.mark.parametrize(
    "body",
    [
        _feed("utf-8").encode("utf-8"),
        codecs.BOM_UTF8 + _feed("UTF-8").encode("utf-8"),
        _feed(None).encode("utf-8"),
        # without an XML declaration, "encoding=" in the text names no encoding
        _feed(None, title='encoding="utf-16"').encode("utf-8"),
        _feed("ISO-8859-1", title="Caf\u00e9").encode("latin-1"),
        _feed("windows-1252", title="Caf\u00e9").encode("cp1252"),
        _feed("Shift_JIS", title="\u65b0\u805e").encode("shift_jis"),
        _feed("GB2312", title="\u65b0\u95fb").encode("gb2312"),
    ],
    ids=[
        "utf-8",
        "utf-8 BOM",
        "undeclared",
        "undeclared, encoding= in the text",
        "latin-1",
        "cp1252",
        "shift_jis",
        "gb2312",
    ],
)
def test_ascii_compatible_feeds_are_checked_on_their_bytes_alone(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check runs on every poll: for the encodings in which "<!ENTITY" can only be those
    # bytes, it is the byte search it always was, with no decoding before feedparser's own.
    def no_decoding(*_: object) -> bytes:
        raise AssertionError("decoded for the entity check")

    monkeypatch.setattr(feed_documents, "convert_to_utf8", no_decoding)
    parsed = parse_feed(body, SPEC)
    assert parsed.failure is None and len(parsed.entries) == 1


# --- The charset a Content-Type header names -------------------------------------------

RUSSIAN = "\u0417\u0430\u043f\u0440\u0435\u0442 TikTok \u0432 \u0420\u043e\u0441\u0441\u0438\u0438"


@pytest.mark.parametrize("encoding", ["windows-1251", "koi8-r", "iso-8859-5"])
def test_a_feed_that_names_its_charset_only_in_the_header_is_decoded_by_it(
    encoding: str,
) -> None:
    body = _feed(None, title=RUSSIAN).encode(encoding)
    (entry,) = parse_feed(
        body, SPEC, content_type=f"application/rss+xml; charset={encoding}"
    ).entries
    assert entry.title == RUSSIAN
    quoted = f'text/xml;charset="{encoding.upper()}"'  # quoted, upper case, no space
    assert parse_feed(body, SPEC, content_type=quoted).entries[0].title == RUSSIAN
    # without the header, the bytes alone do not say it (what the feed gave before)
    assert parse_feed(body, SPEC).entries[0].title != RUSSIAN


def test_a_feed_that_names_its_own_encoding_is_read_by_it_whatever_the_header_says() -> None:
    declared = _feed("utf-8", title=RUSSIAN).encode("utf-8")
    bom = codecs.BOM_UTF8 + _feed(None, title=RUSSIAN).encode("utf-8")
    for body in (declared, bom):
        parsed = parse_feed(body, SPEC, content_type="text/xml; charset=windows-1251")
        assert parsed.failure is None and parsed.entries[0].title == RUSSIAN


def test_a_header_without_a_charset_changes_nothing() -> None:
    body = _feed(None, title=RUSSIAN).encode("windows-1251")
    for content_type in ("application/rss+xml", "text/html", ""):
        got = parse_feed(body, SPEC, content_type=content_type)
        assert got == parse_feed(body, SPEC)


def test_a_bomb_whose_encoding_only_the_header_names_is_refused() -> None:
    # UTF-7 bytes hold no "<!ENTITY": the header's charset is what makes it one
    body = _bomb(None).encode("utf-7").replace(b"<!", b"+ADwAIQ-")
    assert b"<!ENTITY" not in body
    refused = parse_feed(body, SPEC, content_type="application/xml; charset=utf-7")
    assert refused.failure is not None and refused.failure.error_type == "xml_entities"
    assert refused.entries == ()


# --- A body is a document, never a file name ------------------------------------------


def test_a_body_that_names_a_local_file_is_that_text_not_the_file(tmp_path: Path) -> None:
    # feedparser.parse(bytes) tries open(body) first: a hostile feed whose whole body was a
    # local path had its file read and parsed (/dev/zero until memory ran out, /dev/stdin
    # until it closed, a feed file on the worker's disk: its links were fetched).
    local = tmp_path / "local.xml"
    local.write_bytes(_rss("<item><title>Local</title><link>http://x.example/local</link></item>"))
    parsed = parse_feed(str(local).encode(), SPEC, content_type="application/rss+xml")
    assert parsed.entries == ()
    assert parsed.failure is not None
    assert parsed.failure.error_type == "not_a_feed"
    assert parsed.failure.input_excerpt == str(local)  # read as the text it is


def test_feedparser_is_given_a_stream_in_both_of_its_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[object] = []
    real_parse = feed_parsing.feedparser.parse

    def recording(document: object, *args: object, **kwargs: object) -> object:
        given.append(document)
        return real_parse(document, *args, **kwargs)

    monkeypatch.setattr(feed_parsing.feedparser, "parse", recording)
    # A URL GUID on the feed's own host is checked as written by the second parse.
    rss = _rss("<item><title>B</title><guid>http://news.example/b</guid></item>")
    (entry,) = parse_feed(rss, SPEC).entries
    assert entry.link == "http://news.example/b"
    assert len(given) == 2
    assert all(isinstance(document, io.BytesIO) for document in given), given


# --- Links feedparser cannot resolve ---------------------------------------------------


def _rss(*items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>T</title>{"".join(items)}</channel></rss>'.encode()


def test_a_link_feedparser_cannot_resolve_is_kept_as_written() -> None:
    # feedparser blanks it (urljoin raises on the unclosed bracket); kept, the fetch stage
    # refuses it as bad_url naming it, not as an entry without a link.
    rss = _rss(
        '<item><title>A</title><link>http://[::1/x</link><guid isPermaLink="false">a</guid></item>',
        "<item><title>B</title><link> //[::1/y </link></item>",
    )
    assert [e.link for e in parse_feed(rss, SPEC).entries] == ["http://[::1/x", "//[::1/y"]
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
    <entry><title>A</title><id>urn:a</id><link href="http://[1:2:3/a"/></entry></feed>"""
    (entry,) = parse_feed(atom, SPEC).entries
    assert (entry.link, entry.key) == ("http://[1:2:3/a", "guid::urn:a")


def test_a_url_guid_still_stands_in_for_a_link_that_does_not_resolve() -> None:
    rss = _rss(
        "<item><title>A</title><link>http://[::1/x</link><guid>http://n.example/a</guid></item>"
    )
    (entry,) = parse_feed(rss, SPEC).entries
    assert entry.link == "http://n.example/a"


def test_an_empty_link_is_still_no_link() -> None:
    rss = _rss("<item><title>A</title><link></link></item>", "<item><title>B</title><link/></item>")
    assert [e.link for e in parse_feed(rss, SPEC).entries] == ["", ""]


def test_an_entry_left_without_a_link_carries_its_guid_as_the_feed_wrote_it() -> None:
    # For its entry_without_link dead letter to name: feedparser's GUID (``guid``) is resolved
    # against the feed's URL, a URL the feed never held. An entry with a link carries none.
    rss = _rss(
        '<item><title>A</title><guid isPermaLink="true">abc-123</guid></item>',
        '<item><title>B</title><guid isPermaLink="false">urn:uuid:b</guid></item>',
        "<item><title>C</title><guid>http://n.example/c</guid></item>",
        '<item><title>D</title><link>/d</link><guid isPermaLink="false">d-4</guid></item>',
        "<item><title>E</title></item>",
        # on the feed's own host: checked as written, it stands in, so it is not unused
        "<item><title>F</title><guid>http://news.example/f</guid></item>",
    )
    assert [(e.link, e.guid, e.unused_guid) for e in parse_feed(rss, SPEC).entries] == [
        ("", "http://news.example/abc-123", "abc-123"),
        ("", "urn:uuid:b", "urn:uuid:b"),
        ("http://n.example/c", "http://n.example/c", None),
        ("http://news.example/d", "d-4", None),
        ("", None, None),
        ("http://news.example/f", "http://news.example/f", None),
    ]


def test_a_guid_resolved_to_the_feeds_own_url_is_named_as_written_in_any_feed() -> None:
    # The only entry of its feed: no other GUID or link calls for the second parse, and
    # feedparser's GUID (http://news.example/rss#c, the feed's own URL) was never written.
    rss = _rss('<item><title>A</title><guid isPermaLink="true">#c</guid></item>')
    assert [(e.link, e.guid, e.unused_guid) for e in parse_feed(rss, SPEC).entries] == [
        ("", "http://news.example/rss#c", "#c")
    ]


@pytest.mark.parametrize(
    ("guid", "reason"),
    [
        ("abc-123", "not an absolute http(s) URL"),
        ("tag:n.example,2026:c", "not an absolute http(s) URL"),
        ("mailto:desk@news.example", "not an absolute http(s) URL"),
        ("https://", "no host, or the feed's own URL"),
        ("http:///x", "no host, or the feed's own URL"),
        ("http:x", "no host, or the feed's own URL"),
        ("HTTP://?q", "no host, or the feed's own URL"),
        ("http://news.example/rss#c", "no host, or the feed's own URL"),
    ],
)
def test_why_a_guid_did_not_stand_in_names_a_hostless_http_url_as_one(
    guid: str, reason: str
) -> None:
    # An http(s) URL without a host was "not an absolute http(s) URL", which ``https://`` is
    # as written: the user fixing the feed was told the wrong thing to look for.
    assert feed_links.why_not_a_link(guid) == reason


def test_feeds_whose_links_resolve_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real_parse = feed_parsing.feedparser.parse

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(feed_parsing.feedparser, "parse", counted)
    rss = _rss(
        "<item><title>A</title><link>/a/1</link></item>",
        "<item><title>B</title><guid>http://n.example/b</guid></item>",
        # no link, and a GUID feedparser left as written (no http(s) URL: not resolved)
        '<item><title>C</title><guid isPermaLink="false">tag:n.example,2026:c</guid></item>',
    )
    links = [e.link for e in parse_feed(rss, SPEC).entries]
    assert links == ["http://news.example/a/1", "http://n.example/b", ""]
    assert len(calls) == 1


# --- URLs without a host: one pass over the body --------------------------------------


class _CountedSearches(bytes):
    """A body that counts the searches made in it (``needle in body``)."""

    searches = 0

    def __contains__(self, needle: object) -> bool:
        type(self).searches += 1
        return super().__contains__(needle)  # type: ignore[operator]


def test_urls_without_a_host_are_looked_for_in_the_body_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The body was searched again for each URL without a host (quadratic: one item whose
    # description repeated "http:q " took 80 s at 1 MiB); the same answer, in one pass.
    monkeypatch.setattr(_CountedSearches, "searches", 0)
    written = "".join(f"http:q{i}.html http:///w{i}/ " for i in range(300))
    real = "".join(f"<link>http://news.example/q{i}.html</link>" for i in range(0, 300, 3))
    body = _CountedSearches(_rss(f"<item><description>{written}</description>{real}</item>"))
    hostless = feed_links._hostless_links(body, SPEC.url)
    assert _CountedSearches.searches <= 16  # a few at most, not one per URL (600 here)
    expected = {f"http://w{i}/" for i in range(300)}
    expected |= {f"http://news.example/q{i}.html" for i in range(300) if i % 3}
    assert hostless == expected


def test_the_body_is_searched_for_an_xml_base_once_not_once_per_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by timing parse_feed on generated feeds: each entry with a URL GUID on another
    # host and no link searched the whole body for "xml:base" (quadratic: a 800 KB feed of
    # 20,000 such entries took 10 s in links_of alone, 4x the size 7x the time).
    items = [
        f'<item><title>{i}</title><guid isPermaLink="false">http://n.example/{i}</guid></item>'
        for i in range(300)
    ]
    raw = feedparser.parse(io.BytesIO(_rss(*items))).entries
    monkeypatch.setattr(_CountedSearches, "searches", 0)
    body = _CountedSearches(_rss(*items))
    links = feed_links.links_of(raw, body, {"content-location": SPEC.url}, SPEC.url).links
    assert links == [f"http://n.example/{i}" for i in range(300)]
    assert _CountedSearches.searches <= 4  # a few at most, not one per entry (300 here)


def test_the_one_pass_search_finds_what_searching_for_each_finds() -> None:
    rng = random.Random(2026)
    for _ in range(400):
        alphabet = rng.choice([b"ab", b"http:/ab", bytes(range(256))])
        haystack = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        needles = {bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(40)}
        for _ in range(20):  # and pieces of the haystack, prefixes of one another among them
            start = rng.randrange(len(haystack) + 1)
            needles.add(haystack[start : start + rng.randint(1, 12)] or b"a")
        found = feed_links._occurring(needles, haystack)
        assert found == {needle for needle in needles if needle in haystack}


# --- Labels read as the web reads them (as pages are: transforms.charset.web_codec) ------

# Titles with the Windows and HKSCS extension characters real sites write under these labels.
EXTENDED = [
    ("Shift_JIS", "cp932", "\u2460\u9ad9\u5cf6\u5c4b\u3231\u304c\u65b0\u5e97"),  # ①髙島屋㈱...
    ("EUC-KR", "cp949", "\ub620\ud58f \ub274\uc2a4"),  # 똠햏 뉴스
    ("Big5", "big5hkscs", "\u4f62\u54cb\u8a71\u5572\u5622"),  # 佢哋話啲嘢
]


@pytest.mark.parametrize(("label", "codec", "title"), EXTENDED, ids=[e[0] for e in EXTENDED])
def test_a_cjk_label_is_read_as_its_web_superset_as_pages_are(
    label: str, codec: str, title: str
) -> None:
    # feedparser took the label's narrower codec, failed on these characters and fell back
    # to windows-1252: the whole title (and feed) came out as mojibake.
    with pytest.raises(UnicodeDecodeError):
        title.encode(codec).decode(label)
    declared = _feed(label, title=title).encode(codec)
    header_only = (_feed(None, title=title).encode(codec), f"text/xml; charset={label}")
    for body, content_type in ((declared, None), header_only):
        parsed = parse_feed(body, SPEC, content_type=content_type)
        assert parsed.failure is None and parsed.partial is None
        assert [e.title for e in parsed.entries] == [title]
        assert title in decode_html(body, content_type or f"text/html; charset={label}")


def test_a_feed_labelled_latin1_still_reads_windows_1252_bytes_as_such() -> None:
    # Read as windows-1252 now (web_codec), as feedparser already read them.
    title = "Minister\u2019s \u201cplan\u201d \u2013 caf\u00e9"  # curly quotes, dash
    body = _feed("ISO-8859-1", title=title).encode("cp1252")
    assert parse_feed(body, SPEC).entries[0].title == title


def test_a_feed_labelled_ascii_that_is_utf8_is_still_read_as_utf8() -> None:
    # The web reads an ASCII label as windows-1252; feedparser tries UTF-8 first (kept).
    body = _feed("us-ascii", title=RUSSIAN).encode("utf-8")
    assert parse_feed(body, SPEC).entries[0].title == RUSSIAN
    undeclared = _feed(None, title=RUSSIAN).encode("utf-8")
    header = "application/rss+xml; charset=us-ascii"
    assert parse_feed(undeclared, SPEC, content_type=header).entries[0].title == RUSSIAN


# --- Declared encodings feedparser cannot decode with -----------------------------------


# b"utf\x008", found by fuzzing: a NUL in the label, a ValueError out of feedparser
@pytest.mark.parametrize("encoding", [b"punycode", b"undefined", b"\xff", b"utf\x008"])
def test_a_declared_encoding_that_raises_is_a_malformed_feed_not_an_exception(
    encoding: bytes,
) -> None:
    # feedparser catches UnicodeDecodeError and LookupError from its candidate encodings, but
    # these raise a plain UnicodeError (or fail decoding the name itself) out of parse().
    body = (
        b'<?xml version="1.0" encoding="'
        + encoding
        + b'"?>\n'
        + _feed(None, title="Plain").encode()
    )
    parsed = parse_feed(body, SPEC)
    assert parsed.entries == ()
    assert parsed.failure is not None
    assert parsed.failure.error_type == "malformed_feed"
    assert parsed.failure.message.startswith("cannot decode the document: ")


def test_a_header_charset_with_a_nul_is_as_if_the_header_named_none() -> None:
    # Found by fuzzing (HTTP clients pass a NUL in a header on): feedparser raised
    # ValueError, and the whole feed was an internal_error dead letter.
    body = _feed(None, title=RUSSIAN).encode("utf-8")
    for header in ("application/rss+xml; charset=utf\x008", "text/xml; charset=\x00"):
        assert parse_feed(body, SPEC, content_type=header).entries[0].title == RUSSIAN


# --- Malformed feeds: read past in full, or read in part ---------------------------------

_ITEM = "<item><title>{title}</title><link>http://x.example/{n}</link></item>"


def _rss_document(*middles: str, end: str = "</channel></rss>\n") -> bytes:
    head = '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>T</title>'
    return (head + "".join(middles) + end).encode()


# Named HTML entities, undefined in XML without a DTD: the strict parser stops at the first
# ("undefined entity"); feedparser's loose parser reads the whole feed, decoding them.
HTML_ENTITIES = _rss_document(
    *(
        _ITEM.format(title=title, n=n)
        for n, title in enumerate(
            ["It&rsquo;s here", "Price&nbsp;10", "&laquo;Quote&raquo;", "Plain"], 1
        )
    )
)


def test_a_feed_the_loose_parser_reads_past_in_full_is_no_feed_read_in_part() -> None:
    # It was a retryable malformed_feed_recovered dead letter on every poll, and the feed's
    # state was never kept (the next run read it again as if new).
    parsed = parse_feed(HTML_ENTITIES, SPEC)
    assert parsed.failure is None and parsed.partial is None and not parsed.recovered
    assert [e.title for e in parsed.entries] == [
        "It\u2019s here",
        "Price\u00a010",
        "\u00abQuote\u00bb",
        "Plain",
    ]


@pytest.mark.parametrize(
    "body",
    [
        # The same feed cut short: the strict parser's first fault is still the entity.
        HTML_ENTITIES[: len(HTML_ENTITIES) * 6 // 10],
        # A CDATA section never closed swallows the rest, the root's end tag with it.
        _rss_document(
            _ITEM.format(title="One", n=1),
            "<item><title><![CDATA[Two</title></item>",
            _ITEM.format(title="Three", n=3),
        ),
        # The root's end tag is there, but the loose parser lost an item on the way (an
        # unclosed processing instruction hides the third item's start tag from it).
        _rss_document(
            _ITEM.format(title="One", n=1),
            "<item><title><?php echo </title></item>",
            _ITEM.format(title="Three", n=3),
        ),
    ],
    ids=["entity, then cut", "unclosed cdata", "entry lost before the end"],
)
def test_a_feed_not_read_to_its_end_or_with_entries_lost_is_still_read_in_part(
    body: bytes,
) -> None:
    parsed = parse_feed(body, SPEC)
    assert parsed.failure is None and parsed.entries
    assert parsed.partial is not None
    assert parsed.partial.error_type == "malformed_feed_recovered"


@pytest.mark.parametrize(
    "reference",
    ["&#xD800;", "&#xdfff;", "&#55296;", "&#x0000D800;", "&#x110000;", "&#1114112;", "&#9999;"],
    ids=["surrogate", "low surrogate", "decimal", "zeros", "past", "past decimal", "huge"],
)
@pytest.mark.parametrize("encoding", ["utf-8", "windows-1252", "utf-16"])
def test_a_reference_to_no_character_is_read_as_u_fffd_not_a_failed_feed(
    reference: str, encoding: str
) -> None:
    # XML forbids them; feedparser's lenient parser raised on each (a surrogate: "cannot
    # decode the document"; past U+10FFFF: ValueError, OverflowError), failing the whole feed.
    if reference == "&#9999;":  # 5,000 digits: more than int() reads from a string
        reference = "&#" + "9" * 5_000 + ";"
    document = _rss_document(
        _ITEM.format(title=f"Caf\u00e9 {reference} one", n=1),
        f"<item><title>Two</title><link>http://x.example/2?q={reference}</link></item>",
    ).decode()
    document = document.replace('encoding="utf-8"', f'encoding="{encoding}"')
    parsed = parse_feed(document.encode(encoding), SPEC)
    assert parsed.failure is None and parsed.partial is None
    assert [(e.title, e.link) for e in parsed.entries] == [
        ("Caf\u00e9 \ufffd one", "http://x.example/1"),
        ("Two", "http://x.example/2?q=\ufffd"),
    ]


def test_references_to_characters_are_read_as_before() -> None:
    # The replacement is for references to no character only: the highest code point, the
    # noncharacters and the control characters feedparser reads are read as they were.
    titles = ["&#x10FFFF;", "&#1114111;", "&#xFFFE;", "&#x0001F600;", "&#x2019;", "&#0;"]
    document = _rss_document(*(_ITEM.format(title=t, n=n) for n, t in enumerate(titles)))
    parsed = parse_feed(document, SPEC)
    assert [e.title for e in parsed.entries] == [
        "\U0010ffff",
        "\U0010ffff",
        "\ufffe",
        "\U0001f600",
        "\u2019",
        "\x00",
    ]


def test_the_search_for_references_to_no_character_stays_linear() -> None:
    # A run of zeros or digits with no ";" after it: the pattern is possessive, one pass.
    for digits in ("x" + "0" * 2_000_000, "9" * 2_000_000):
        body = _rss_document(_ITEM.format(title="&#" + digits, n=1))
        assert run_cpu_limited(feed_documents.without_references_to_no_character, body) == body


def test_a_feed_cut_short_before_its_first_entry_says_so_not_only_the_parsers_first_fault() -> None:
    # The demo's broken feed (a PHP error cut the document) read "<unknown>:2:29: undefined
    # entity": the &raquo; in its title, which the loose parser reads past, not the cut.
    head = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>A &raquo; B</title>'
    cut = parse_feed(head + b"\n<br />\n<b>Fatal error</b>: out of memory", SPEC).failure
    assert cut is not None and cut.error_type == "malformed_feed"
    assert cut.message.startswith("the document ends before its root element does; parser: ")
    assert cut.message.endswith(": undefined entity")
    whole = parse_feed(head + b"</channel></rss>", SPEC).failure  # the entity alone
    assert whole is not None and whole.error_type == "malformed_feed"
    assert whole.message.startswith("<unknown>:") and whole.message.endswith("undefined entity")


def test_a_feed_cut_inside_its_last_end_tag_has_lost_nothing() -> None:
    parsed = parse_feed(HTML_ENTITIES.rstrip()[:-1], SPEC)  # "...</channel></rss"
    assert parsed.partial is None and len(parsed.entries) == 4


# --- Dates feedparser does not read (written in the feed's language) --------------------


def _dated(pub_date: str, language: str | None = None) -> bytes:
    lang = f"<language>{language}</language>" if language else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>T</title>'
        f"{lang}<item><title>One</title><link>http://x.example/1</link>"
        f"<pubDate>{pub_date}</pubDate></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("pub_date", "feed_language", "listed_language", "expected"),
    [
        (
            "\u0421\u0431, 28 \u043d\u043e\u044f 2026 14:05:00 +0300",
            "ru",
            None,
            "2026-11-28T11:05:00+00:00",
        ),
        ("Sa, 28 Nov 2026 14:05:00 +0100", None, "de", "2026-11-28T13:05:00+00:00"),
        ("sam., 28 nov. 2026 14:05:00 +0100", "fr-FR", None, "2026-11-28T13:05:00+00:00"),
        ("Mi, 02 Dez 2026 08:00:00 GMT", "de", None, "2026-12-02T08:00:00+00:00"),
    ],
    ids=["russian", "german, language from the feed list", "french", "german, GMT"],
)
def test_a_date_written_in_the_feeds_language_is_read(
    pub_date: str, feed_language: str | None, listed_language: str | None, expected: str
) -> None:
    # feedparser reads RFC 822 in English only: these gave published_at None.
    spec = FeedSpec(SPEC.url, language=listed_language)
    polled = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # after them all: none is too far ahead
    (entry,) = parse_feed(_dated(pub_date, feed_language), spec, polled_at=polled).entries
    assert entry.published_at == expected


@pytest.mark.parametrize(
    ("pub_date", "feed_language", "expected"),
    [
        ("12.03.2026 14:05", "de", "2026-03-12T14:05:00+00:00"),
        ("12/03/2026", "fr", "2026-03-12T00:00:00+00:00"),
        ("12.03.2026", "ru", "2026-03-12T00:00:00+00:00"),
        ("12.03.2026 09:00 +0100", "es", "2026-03-12T08:00:00+00:00"),
        ("11/12/2026 10:00", "en", "2026-11-12T10:00:00+00:00"),
        ("11/12/2026 10:00", None, "2026-11-12T10:00:00+00:00"),
    ],
    ids=["german", "french", "russian", "spanish", "english", "none"],
)
def test_a_numeric_date_is_read_in_the_feeds_languages_order(
    pub_date: str, feed_language: str | None, expected: str
) -> None:
    # With English among its languages, dateparser read every numeric date month first:
    # 12.03.2026 in a German feed was 3 December. English's own (and no language's) stays so.
    (entry,) = parse_feed(_dated(pub_date, feed_language), SPEC).entries
    assert entry.published_at == expected


@pytest.mark.parametrize(
    "pub_date",
    ["3 \u0447\u0430\u0441\u0430 \u043d\u0430\u0437\u0430\u0434", "28 \u043d\u043e\u044f", "soon"],
    ids=["relative", "no year", "no date"],
)
def test_a_date_that_is_not_a_full_absolute_date_stays_unread(pub_date: str) -> None:
    (entry,) = parse_feed(_dated(pub_date, "ru"), SPEC).entries
    assert entry.published_at is None


def test_dates_feedparser_reads_do_not_load_dateparser() -> None:
    # dateparser is slow to load: only a date feedparser cannot read loads it.
    code = (
        "import sys; from transforms.feed_parsing import parse_feed; "
        "from transforms.records import FeedSpec; "
        'body = b\'<rss version="2.0"><channel><item><title>a</title><link>http://x/1</link>'
        "<pubDate>Sat, 28 Nov 2026 14:05:00 +0100</pubDate></item></channel></rss>'; "
        "entry, = parse_feed(body, FeedSpec('http://x/f')).entries; "
        "print(entry.published_at, 'dateparser' in sys.modules)"
    )
    assert fresh_python_prints(code) == "2026-11-28T13:05:00+00:00 False"


# --- Dates feedparser reads only in part: read by dateparser first ---------------------


@pytest.mark.parametrize(
    ("pub_date", "feed_language", "expected"),
    [
        ("2026/11/30 07:30", None, "2026-11-30T07:30:00+00:00"),
        ("2026\u5e7411\u670828\u65e5 14:05", None, "2026-11-28T14:05:00+00:00"),
        ("2026\u5e7411\u670828\u65e5 14:05", "zh-CN", "2026-11-28T14:05:00+00:00"),
        ("2026-11-28 14:05 +08", None, "2026-11-28T06:05:00+00:00"),
        ("2026-11-28 14:05:00+08", None, "2026-11-28T06:05:00+00:00"),
        ("2026-11-28 14:05 CST", None, "2026-11-28T20:05:00+00:00"),  # RFC 822's CST, -0600
        ("Sat, 28 Nov 2026 14:05:00 CET", None, "2026-11-28T13:05:00+00:00"),
        ("Sat, 28 Nov 2026 14:05:00 JST", None, "2026-11-28T05:05:00+00:00"),
        ("Sat, 28 Nov 2026 2:05 PM +0800", None, "2026-11-28T06:05:00+00:00"),
    ],
    ids=[
        "slashes (was 1 November)",
        "chinese, no language (was 1 November)",
        "chinese (was 1 November)",
        "two-digit offset (time dropped)",
        "two-digit offset right after the time (read as midnight)",
        "zone name after an ISO date (time dropped)",
        "CET (read as UTC)",
        "JST (read as UTC)",
        "12-hour clock (02:05 UTC)",
    ],
)
def test_a_date_feedparser_reads_only_in_part_is_read_in_full(
    pub_date: str, feed_language: str | None, expected: str
) -> None:
    (entry,) = parse_feed(_dated(pub_date, feed_language), SPEC, polled_at=POLLED).entries
    assert entry.published_at == expected


# A poll late enough that any day feedparser made up from the machine's clock in 2026 or 2027
# is before it (and so would be taken): these must be no date, or the day written, whenever run.
LATE_POLL = datetime(2027, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("2026-W48-6", "2026-11-28T00:00:00+00:00"),
        ("2026W486", "2026-11-28T00:00:00+00:00"),
        ("2026-W48-6T14:05:00+01:00", "2026-11-28T13:05:00+00:00"),
        ("2026-W53-1T09:30:00Z", "2026-12-28T09:30:00+00:00"),
        ("2026-W48", None),
        ("2026-W54-1", None),
        ("2026-Q4", None),
        ("2026-11 (updated)", None),
        ("2026-11-28 (updated)", "2026-11-28T00:00:00+00:00"),
        ("2026-332", "2026-11-28T00:00:00+00:00"),
        ("2026-W48-6T14:05:00.75+0100", "2026-11-28T13:05:00+00:00"),
        # in UTC, before year 1 or after 9999: the whole feed failed as an internal_error
        ("0001-W01-1T00:30:00+01:00", None),
        ("9999-W52-5T23:00:00-05:00", None),
    ],
    ids=[
        "week date",
        "week date, basic form",
        "week date and time",
        "week 53",
        "a week without a day",
        "no week 54",
        "a quarter",
        "a month and words",
        "a day and words: the day stands",
        "a day of the year: a day",
        "a fraction of a second and a zone without a colon",
        "a week date before year 1 in UTC",
        "a week date after 9999 in UTC",
    ],
)
def test_an_iso_week_date_is_read_and_a_year_without_a_day_is_no_date(
    pub_date: str, expected: str | None
) -> None:
    # feedparser's ISO 8601 reader reads the year at the start of any text it cannot read in
    # full and takes the month from the machine's clock: each of these (but the last) was
    # the first day of the current month of 2026 (2026-11-01 in November).
    (entry,) = parse_feed(_dated(pub_date), SPEC, polled_at=LATE_POLL).entries
    assert entry.published_at == expected


def test_a_week_date_without_a_zone_is_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A date without a zone is UTC's (as feedparser reads RFC 822), not the machine's.
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        (entry,) = parse_feed(_dated("2026-W48-6T09:00"), SPEC, polled_at=LATE_POLL).entries
    finally:
        monkeypatch.undo()
        time.tzset()
    assert entry.published_at == "2026-11-28T09:00:00+00:00"


def test_dates_in_the_forms_feedparser_reads_exactly_are_its_reading_without_dateparser() -> None:
    dates = [
        "Sat, 28 Nov 2026 14:05:00 EST",
        "Sat, 28 Nov 26 14:05:00 GMT",
        "28 Nov 2026 14:05 +0530",
        "Sat, 28 Nov 2026 14:05:00 +0000 (UTC)",
        "2026-11-28T14:05:00.123456Z",
        "2026-11-28T14:05:00+05:30",
        "2026-11-28",
    ]
    code = (
        "import sys; from transforms.feed_parsing import parse_feed; "
        "from transforms.records import FeedSpec; "
        f"dates = {dates!r}; "
        "items = ''.join(f'<item><title>{n}</title><link>http://x/{n}</link>"
        "<pubDate>{d}</pubDate></item>' for n, d in enumerate(dates)); "
        "body = f'<rss version=\"2.0\"><channel>{items}</channel></rss>'.encode(); "
        "print(*(e.published_at for e in parse_feed(body, FeedSpec('http://x/f')).entries), "
        "'dateparser' in sys.modules)"
    )
    assert fresh_python_prints(code).split() == [
        "2026-11-28T19:05:00+00:00",
        "2026-11-28T14:05:00+00:00",
        "2026-11-28T08:35:00+00:00",
        "2026-11-28T14:05:00+00:00",
        "2026-11-28T14:05:00+00:00",
        "2026-11-28T08:35:00+00:00",
        "2026-11-28T00:00:00+00:00",
        "False",
    ]


def _atom_dated(published: str, updated: str | None) -> bytes:
    updated_element = f"<updated>{updated}</updated>" if updated else ""
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>A</title>'
        f'<link href="http://x.example/a"/><id>a</id><published>{published}</published>'
        f"{updated_element}</entry></feed>"
    ).encode()


def test_a_published_date_without_a_time_gives_way_to_an_updated_time() -> None:
    # <published>2026</published> was 1 January 2026, beside an exact <updated>.
    for published in ("2026", "2026-11", "2026-11-28"):
        body = _atom_dated(published, "2026-11-28T10:00:00Z")
        (entry,) = parse_feed(body, SPEC, polled_at=POLLED).entries
        assert entry.published_at == "2026-11-28T10:00:00+00:00", published
    # without an updated time, the published day stands; a published time stands too
    (alone,) = parse_feed(_atom_dated("2026-11-28", None), SPEC, polled_at=POLLED).entries
    assert alone.published_at == "2026-11-28T00:00:00+00:00"
    # a year or a month alone is no date (it was 1 January, which beat the page's own date)
    for published in ("2026", " 2026-11 "):
        (vague,) = parse_feed(_atom_dated(published, None), SPEC, polled_at=POLLED).entries
        assert vague.published_at is None, published
    body = _atom_dated("2026-11-27T09:00:00Z", "2026-11-28T10:00:00Z")
    (exact,) = parse_feed(body, SPEC, polled_at=POLLED).entries
    assert exact.published_at == "2026-11-27T09:00:00+00:00"


# --- Nesting and attributes: refused before the XML parser reads them -----------------


def _nested(levels: int, inner: str = "text") -> bytes:
    """An RSS feed whose one item's description holds elements ``levels`` deep in all."""
    # rss, channel, item and description are 4 levels; the <a> elements the rest.
    opened = levels - 4
    return _rss(
        "<item><title>A</title><link>http://x.example/1</link><description>"
        + "<a>" * opened
        + inner
        + "</a>" * opened
        + "</description></item>"
    )


def _with_attributes(count: int, value: str = "1") -> bytes:
    attributes = " ".join(f'a{i}="{value}"' for i in range(count))
    return _rss(f"<item><title>A</title><link>http://x.example/1</link><x {attributes}/></item>")


def _refused_as(body: bytes) -> str | None:
    parsed = parse_feed(body, SPEC)
    if parsed.failure is None:
        return None
    assert parsed.entries == ()
    assert (parsed.failure.stage, parsed.failure.key) == ("poll", SPEC.url)
    assert not parsed.failure.retryable and not parsed.failure.counts_entry
    return parsed.failure.error_type


def test_a_feed_nested_deeper_than_the_limit_is_refused_before_parsing() -> None:
    # 1,000,000 nested elements in 4 MiB took feedparser 79 s and 820 MB.
    assert _refused_as(_nested(100_000)) == "too_deeply_nested"
    limit = feed_documents.MAX_FEED_DEPTH
    assert _refused_as(_nested(limit + 1)) == "too_deeply_nested"
    assert _refused_as(_nested(limit + 1, inner="<empty/>")[: -len("</rss>")]) == (
        "too_deeply_nested"
    )
    (entry,) = parse_feed(_nested(limit), SPEC).entries
    assert entry.link == "http://x.example/1"
    unclosed = _nested(limit + 1).split(b"</a>")[0]  # cut short: still refused
    assert _refused_as(unclosed) == "too_deeply_nested"
    message = parse_feed(_nested(limit + 1), SPEC).failure
    assert message is not None and f"more than {limit} deep" in message.message


def test_an_element_with_more_attributes_than_the_limit_is_refused_before_parsing() -> None:
    # Python's SAX attributes made feedparser quadratic in them: 25,000 on one element, 11 s.
    assert _refused_as(_with_attributes(5_000)) == "too_many_attributes"
    limit = feed_documents.MAX_FEED_ATTRIBUTES
    assert _refused_as(_with_attributes(limit + 1)) == "too_many_attributes"
    assert _refused_as(_with_attributes(limit)) is None
    # "=" in values (query strings) and ">" in values are no attributes and end no tag.
    assert _refused_as(_with_attributes(5, value="?a=1&amp;b=2" * limit + ">")) is None


def test_nesting_is_counted_in_the_text_the_xml_parser_reads() -> None:
    deep = _nested(feed_documents.MAX_FEED_DEPTH + 1).decode()
    utf16 = codecs.BOM_UTF16_LE + deep.replace(
        "<rss", '<?xml version="1.0" encoding="utf-16"?><rss', 1
    ).encode("utf-16-le")
    assert _refused_as(utf16) == "too_deeply_nested"
    # Markup in comments, CDATA sections and processing instructions is no element.
    levels = 10 * feed_documents.MAX_FEED_DEPTH
    for hidden in ("<!--{}-->", "<![CDATA[{}]]>", "<?pi {}?>"):
        inner = hidden.format("<a>" * levels)
        assert _refused_as(_nested(10, inner=inner)) is None, hidden


def test_what_the_xml_parser_does_not_read_is_not_counted() -> None:
    # It stops at a fault (an end tag that is not the open element's, text before the
    # root, a second root); feedparser's lenient parser then reads it again, whose cost
    # grows with neither nesting nor attributes. Raw HTML in a description (</p> closing
    # an unclosed <br>) is such a fault, and a JSON Feed is no XML at all.
    levels = feed_documents.MAX_FEED_DEPTH + 1
    html_in_description = _rss(
        "<item><title>A</title><link>http://x.example/1</link><description>"
        + "<p>line<br>line</p>" * levels  # one more <br> open each time, were it counted
        + "</description></item>"
    )
    (entry,) = parse_feed(html_in_description, SPEC).entries
    assert entry.link == "http://x.example/1"
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"content_html": "'
        + "<div>" * levels
        + '"}]}'
    ).encode()
    assert _refused_as(json_feed) == "not_a_feed"
    after_the_root = _rss("<item><title>A</title><link>http://x.example/1</link></item>")
    assert _refused_as(after_the_root + b"<a>" * levels) is None


def _expat_reads(document: bytes) -> tuple[int, int]:
    """The deepest nesting and most attributes on an element expat reads, to its end or its
    first error."""
    parser = xml.parsers.expat.ParserCreate()
    depth, deepest, most = 0, 0, 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, deepest, most
        depth += 1
        deepest, most = max(deepest, depth), max(most, len(attributes))

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    with contextlib.suppress(xml.parsers.expat.ExpatError):
        parser.Parse(document, True)
    return deepest, most


def _random_element(rng: random.Random, depth: int) -> str:
    """A random element with attributes (values with "=", ">" and quotes of the other kind),
    text, comments, CDATA sections and processing instructions with markup in them, and
    children; some empty (``<x/>``)."""
    name = rng.choice(["a", "b", "dc:c", "_d"])
    attributes = "".join(
        f" k{i}=" + rng.choice(['"v=1"', "'a>b'", '"it\'s"', "'say \"x\"'"])
        for i in range(rng.choice([0, 0, 1, 2, 3, 4, 5]))
    )
    if depth > 12 or rng.random() < 0.2:
        return f"<{name}{attributes}{rng.choice(['/', ' /'])}>"
    parts = []
    for _ in range(rng.randint(0, 3)):
        parts.append(
            rng.choice(
                [
                    "text &amp; more",
                    "<!-- <a><b> -->",
                    "<![CDATA[ <a> </b> ]]>",
                    "<?pi <a> ?>",
                    _random_element(rng, depth + 1),
                ]
            )
        )
    return f"<{name}{attributes}>{''.join(parts)}</{name} >"


def test_the_check_reads_nesting_and_attributes_as_the_xml_parser_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(2026)
    monkeypatch.setattr(feed_documents, "MAX_FEED_DEPTH", 6)
    monkeypatch.setattr(feed_documents, "MAX_FEED_ATTRIBUTES", 3)
    for _ in range(500):
        document = '<?xml version="1.0"?>\n<!-- x -->' + _random_element(rng, 1)
        if rng.random() < 0.3:  # cut short: the parser reads up to the cut
            document = document[: rng.randrange(len(document))]
        deepest, most = _expat_reads(document.encode())
        refused = feed_documents.markup_shape(document.encode())
        too_deep, too_many = deepest > 6, most > 3
        assert (refused is not None) == (too_deep or too_many), document
        if refused is not None and too_deep != too_many:
            assert refused[0] == ("too_deeply_nested" if too_deep else "too_many_attributes")


@pytest.mark.realworld
def test_no_corpus_document_comes_near_the_nesting_or_attribute_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The limits are for absurd documents only: none of the corpus's 2,249 (feeds, and the
    # HTML pages and JSON among them) is refused even at a tenth of either.
    root = corpus_path("feeds")
    monkeypatch.setattr(feed_documents, "MAX_FEED_DEPTH", feed_documents.MAX_FEED_DEPTH // 10)
    monkeypatch.setattr(
        feed_documents, "MAX_FEED_ATTRIBUTES", feed_documents.MAX_FEED_ATTRIBUTES // 10
    )
    documents = sorted(path for path in root.rglob("*") if path.is_file())
    assert len(documents) > 2000
    for path in documents:
        body = path.read_bytes()
        for content_type in (None, "application/xml; charset=utf-8"):
            headers = {"content-type": content_type} if content_type else {}
            text = feed_documents.markup_text(body, headers)
            assert feed_documents.markup_shape(text) is None, path


# --- Entries per poll: the newest, up to the limit -------------------------------------


def _items(days: list[int | None]) -> bytes:
    """An RSS feed of one item per day of March 2026 given (None: an item without a date),
    in that order; item i links to http://x.example/<i>."""
    items = []
    for i, day in enumerate(days):
        date = f"<pubDate>{day:02d} Mar 2026 10:00:00 GMT</pubDate>" if day else ""
        items.append(f"<item><title>{i}</title><link>http://x.example/{i}</link>{date}</item>")
    return _rss(*items)


def _titles(entries: tuple[FeedEntry, ...]) -> list[str | None]:
    return [entry.title for entry in entries]


def test_a_feed_passes_on_at_most_1000_entries_the_rest_over_the_limit() -> None:
    # A 2 MiB feed of tiny items listed 39,568 entries on as many hosts, each a page request.
    many = _rss(*(f"<item><link>http://h{i}.example/</link></item>" for i in range(1007)))
    parsed = parse_feed(many, SPEC)
    assert parsed.failure is None
    assert len(parsed.entries) == 1000
    assert [e.link for e in parsed.over_limit] == [
        f"http://h{i}.example/" for i in range(1000, 1007)
    ]
    assert feed_parsing.MAX_FEED_ENTRIES == 1000  # as README says
    one = parse_feed(_items([1]), SPEC)  # under the limit: nothing over it
    assert _titles(one.entries) == ["0"] and one.over_limit == ()


def test_the_newest_entries_are_passed_on_in_whatever_order_the_feed_lists_them() -> None:
    oldest_first = parse_feed(_items([1, 2, 3, 4, 5]), SPEC, max_entries=3)
    assert _titles(oldest_first.entries) == ["2", "3", "4"]
    assert _titles(oldest_first.over_limit) == ["0", "1"]
    newest_first = parse_feed(_items([5, 4, 3, 2, 1]), SPEC, max_entries=3)
    assert _titles(newest_first.entries) == ["0", "1", "2"]
    mixed = parse_feed(_items([3, None, 5, 1, 4]), SPEC, max_entries=3)
    assert _titles(mixed.entries) == ["0", "2", "4"]  # dated ones first, in the feed's order
    undated = parse_feed(_items([None] * 5), SPEC, max_entries=3)
    assert _titles(undated.entries) == ["0", "1", "2"]  # no dates: the feed's first
    assert _titles(undated.over_limit) == ["3", "4"]


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("Sat, 31 Dec 2016 23:59:60 GMT", "2016-12-31T23:59:59+00:00"),
        ("Sun, 01 Jan 2017 00:59:60 +0100", "2016-12-31T23:59:59+00:00"),
        ("Tue, 30 Jun 2015 23:59:60 Z", "2015-06-30T23:59:59+00:00"),
    ],
)
def test_a_leap_second_is_read_as_the_second_before_it(pub_date: str, expected: str) -> None:
    # feedparser refused second 60 and the whole date was lost (published_at None).
    (entry,) = parse_feed(_dated(pub_date), SPEC).entries
    assert entry.published_at == expected


@pytest.mark.parametrize("declared", ["ru_RU", "ru-RU", "RU", "ru"])
def test_a_feeds_language_is_its_primary_subtag_written_with_a_hyphen_or_underscore(
    declared: str,
) -> None:
    # "ru_RU" (a locale name) was the language "ru_ru", which no date reader knows.
    russian = "\u0421\u0431, 28 \u043d\u043e\u044f 2026 14:05:00 +0300"
    (entry,) = parse_feed(_dated(russian, declared), SPEC, polled_at=POLLED).entries
    assert entry.feed_language == "ru"
    assert entry.published_at == "2026-11-28T11:05:00+00:00"


# --- Dates after the poll --------------------------------------------------------------

POLLED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def _dated_items(*dates: str) -> bytes:
    """An RSS feed of one item per date given (item i: title i, link http://x.example/<i>)."""
    return _rss(
        *(
            f"<item><title>{i}</title><link>http://x.example/{i}</link><pubDate>{date}</pubDate>"
            "</item>"
            for i, date in enumerate(dates)
        )
    )


def test_an_entry_dated_more_than_a_day_after_the_poll_counts_as_undated() -> None:
    body = _dated_items(
        "Mon, 30 Nov 2026 07:00:00 +0000",
        "Tue, 01 Dec 2026 07:59:00 +0000",  # within a day of the poll: kept
        "Tue, 01 Dec 2026 08:01:00 +0000",
        "Thu, 01 Jan 2099 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    )
    parsed = parse_feed(body, SPEC, polled_at=POLLED)
    assert [entry.published_at for entry in parsed.entries] == [
        "2026-11-30T07:00:00+00:00",
        "2026-12-01T07:59:00+00:00",
        None,
        None,
        None,
    ]
    # without a poll time given, the time of parsing: 2099 is after it whenever this runs
    (entry,) = parse_feed(_dated_items("Thu, 01 Jan 2099 00:00:00 GMT"), SPEC).entries
    assert entry.published_at is None


def test_a_date_read_in_the_feeds_language_is_bounded_by_the_poll_too() -> None:
    russian = "\u0421\u0431, 28 \u043d\u043e\u044f 2099 14:05:00 +0300"
    (entry,) = parse_feed(_dated(russian, "ru"), SPEC, polled_at=POLLED).entries
    assert entry.published_at is None


def test_a_published_date_after_the_poll_gives_way_to_the_updated_one() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>A</title>'
        b'<link href="http://x.example/a"/><id>a</id><published>2099-01-01T00:00:00Z</published>'
        b"<updated>2026-11-29T10:00:00Z</updated></entry></feed>"
    )
    (entry,) = parse_feed(atom, SPEC, polled_at=POLLED).entries
    assert entry.published_at == "2026-11-29T10:00:00+00:00"


def test_an_entry_dated_after_the_poll_is_not_among_the_newest() -> None:
    # A CMS's placeholder date (9999) always ranked first, and a genuine entry went.
    body = _dated_items(
        "Sat, 28 Nov 2026 10:00:00 GMT",
        "Fri, 31 Dec 9999 00:00:00 GMT",
        "Mon, 30 Nov 2026 07:00:00 GMT",
        "Sun, 29 Nov 2026 10:00:00 GMT",
    )
    parsed = parse_feed(body, SPEC, max_entries=3, polled_at=POLLED)
    assert _titles(parsed.entries) == ["0", "2", "3"]
    assert _titles(parsed.over_limit) == ["1"]


def test_a_feed_read_in_part_has_its_entries_over_the_limit_too() -> None:
    cut = _items([1, 2, 3, 4, 5]).split(b"</item>")
    parsed = parse_feed(b"</item>".join(cut[:5]) + b"</item>", SPEC, max_entries=3)
    assert parsed.partial is not None and parsed.failure is None
    assert _titles(parsed.entries) == ["2", "3", "4"] and _titles(parsed.over_limit) == ["0", "1"]
    assert "5 entries recovered" in parsed.partial.message


# --- the encoding an XML declaration names (transforms.feedparser_patch) ------------------


def _first_lines() -> list[bytes]:
    """The first 4 KB of every corpus feed, and lines made of the pieces that matter."""
    lines = []
    feeds = corpus_path("feeds")
    for path in sorted(feeds.rglob("*")):
        if path.is_file() and path.stat().st_size:
            lines.append(path.read_bytes()[:4096])
    pieces = [b"<?", b"?>", b"encoding=", b"'", b'"', b"utf-8", b"x", b" ", b"\n", b"?", b">"]
    rng = random.Random(7)

    def noise() -> bytes:
        return b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))

    for _ in range(20_000):
        lines.append(b"<?" + noise() + noise())
        # shaped like a declaration, with noise in every gap
        quote = rng.choice((b"'", b'"'))
        lines.append(b"<?" + noise() + b"encoding=" + quote + noise() + quote + noise() + b"?>")
    return lines


def test_the_declared_encoding_is_read_as_feedparsers_own_pattern_reads_it() -> None:
    lines = _first_lines()
    assert len(lines) > 42_000  # the corpus's feeds are there
    differ = []
    for line in lines:
        want = feedparser_patch.ORIGINAL.match(line)
        got = feedparser_patch.PI_ENCODING.match(line)
        if (want and want.group(1)) != (got and got.group(1)):
            differ.append(line)
    assert not differ, differ[:5]
    assert sum(1 for line in lines if feedparser_patch.PI_ENCODING.match(line)) > 5_000


def test_feedparser_reads_the_declared_encoding_in_linear_time() -> None:
    # Its own pattern tries every encoding= with every quote after it and every position
    # after that: 4,000 of them on a first line took 8 minutes of CPU; a feed may be 10 MB.
    assert feedparser.encodings.RE_XML_PI_ENCODING is feedparser_patch.PI_ENCODING
    body = b'<?xml version="1.0" encoding="x" ' + b'encoding="a" ' * 200_000 + b"\n<rss/>"
    failure = run_cpu_limited(lambda: parse_feed(body, SPEC).failure)
    assert failure is not None  # an <rss/> without a channel: the point is that it returns


# --- feedparser's element handlers that raise (transforms.feedparser_patch) -----------------

_NAMESPACES = (
    'xmlns:psc="http://podlove.org/simple-chapters" xmlns:georss="http://www.georss.org/georss"'
    ' xmlns:gml="http://www.opengis.net/gml"'
)


@pytest.mark.parametrize(
    "element",
    [
        # well-formed: a podcast chapter without its start; a position outside georss:where
        '<psc:chapters><psc:chapter title="Intro"/></psc:chapters>',
        "<gml:pos>45.2 4.8</gml:pos>",
        "<gml:posList>45.2 4.8 45.3 4.9</gml:posList>",
        # malformed (the loose parser reads it): an end tag whose start is missing
        "<image><url>http://news.example/logo.png</url><width>88</width></height></image>",
    ],
)
def test_an_element_whose_feedparser_handler_raises_loses_no_entry(element: str) -> None:
    # Found by fuzzing: feedparser's handlers of these raised (TypeError, KeyError), which
    # ended the parse: every entry of the feed was lost, an internal_error at each poll.
    body = (
        f'<?xml version="1.0"?><rss version="2.0" {_NAMESPACES}><channel><title>T</title>'
        "<item><title>First</title><link>http://news.example/1</link></item>"
        f"<item><title>Second</title><link>http://news.example/2</link>{element}</item>"
        "<item><title>Third</title><link>http://news.example/3</link></item>"
        "</channel></rss>"
    ).encode()
    parsed = parse_feed(body, SPEC)
    assert parsed.failure is None
    assert [(e.title, e.link) for e in parsed.entries] == [
        ("First", "http://news.example/1"),
        ("Second", "http://news.example/2"),
        ("Third", "http://news.example/3"),
    ]


@pytest.mark.parametrize("limit", [MemoryError, RecursionError])
def test_a_handler_that_meets_the_process_limits_still_ends_the_parse(
    limit: type[Exception],
) -> None:
    # The guard reads an element whose handler raised as an unknown one; running out of
    # memory or stack is the process's limit, not the element's, and must not be read past.
    def handler(_self: object, *_args: object) -> None:
        raise limit("limit reached")

    guarded = feedparser_patch._guarded_handler(handler)
    with pytest.raises(limit):
        guarded(object())

    def broken(_self: object, *_args: object) -> None:
        raise KeyError("where")

    with pytest.raises(AttributeError):  # any other exception: "no handler", read past
        feedparser_patch._guarded_handler(broken)(object())
