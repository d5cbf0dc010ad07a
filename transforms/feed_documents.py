"""A feed's bytes as feedparser will read them, and what is refused before it reads them:
the first half of ``parse_feed`` (``transforms.feed_parsing``).

Consumes a feed document's bytes and the response headers feedparser is given; produces the
charset feedparser is told to read the document in (``encoding_to_read``: the document's own
word, else its Content-Type's charset, else the encoding its bytes look like), the document
as feedparser decodes it (``as_feedparser_decodes``), and the checks made before feedparser
sees it: XML entity declarations, in whatever encoding the document is written
(``declares_entities``: entity-expansion bombs and external entities never expand or fetch);
elements nested deeper, or carrying more attributes, than any feed needs (``markup_shape``,
``MAX_FEED_DEPTH``, ``MAX_FEED_ATTRIBUTES``: feedparser's time and memory grow with them);
and character references to no character, read as U+FFFD
(``without_references_to_no_character``). Importing it installs ``transforms.feedparser_patch``
(both of its patches).
No Beam.
"""

from __future__ import annotations

import codecs
import io
import re

import feedparser.encodings
from feedparser.encodings import convert_to_utf8

from transforms import feedparser_patch
from transforms.charset import detect_encoding, names_utf16, web_codec

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
feedparser_patch.guard_handlers()  # an element handler that raises no longer ends the parse

_ASCII_LABELS = frozenset({"ascii", "us-ascii"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's begin so too
# The UTF-32 and UTF-16 byte order marks (UTF-32 LE's begins with UTF-16 LE's), their encodings
_WIDE_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
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


def as_document(body: bytes) -> io.BytesIO:
    """The feed's bytes as feedparser must be given them: as a stream, never as bytes.

    Given bytes (or a string), ``feedparser.parse`` first tries them as a file name
    (``open(body)``), and a string as a URL: a body that is a local path (``/dev/zero``,
    ``/dev/stdin``, a feed file on the worker's disk) had feedparser read that file instead,
    past every cap and deadline of the HTTP client. A stream is read as it is; everything
    else (the response headers given, the decoding, the base URL) is the same.
    """
    return io.BytesIO(body)


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


def without_references_to_no_character(text: bytes) -> bytes:
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


def as_feedparser_decodes(body: bytes, headers: dict[str, str]) -> bytes | None:
    """The document as feedparser decodes it (UTF-8), or None when it cannot."""
    try:
        return convert_to_utf8(dict(headers), body, {})
    except (ValueError, LookupError):
        return None


def encoding_to_read(body: bytes, content_type: str | None) -> str | None:
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
    reading of the label, ``web_codec``, would read UTF-8 as mojibake). A UTF-16 or UTF-32
    byte order mark comes first (XML 1.0, appendix F): feedparser read one without ``encoding=``
    as Latin-1 (the headers it is given name no charset), a ``malformed_feed``.
    """
    for mark, encoding in _WIDE_MARKS:
        if body.startswith(mark):
            return encoding
    if not _names_its_encoding(body):
        return _undeclared_encoding(body, content_type)
    # feedparser's own reading of it; after a UTF-8 byte order mark, none (its pattern is
    # anchored at the document's start)
    declared = _XML_ENCODING.match(body)
    if declared is None or body.startswith(_BOMS):
        return None
    label = declared.group(1).decode("latin-1").strip()
    if names_utf16(label) and b"\0" not in body:
        # UTF-16 declared in ASCII bytes without the NULs of UTF-16 markup (.NET's XmlWriter
        # on a StringWriter declares it for the UTF-8 served): read as UTF-16, an even number
        # of bytes was mojibake, a malformed_feed. (ASCII never decodes as UTF-32.)
        return _undeclared_encoding(body, content_type) or (
            "utf-8" if _decodes(body, "utf-8") else "cp1252"
        )
    codec = web_codec(label)
    return None if codec == label or label.lower() in _ASCII_LABELS else codec


def _undeclared_encoding(body: bytes, content_type: str | None) -> str | None:
    """A document naming no encoding is read by its header's charset, else its bytes' look."""
    charset = _CHARSET.search(content_type or "")
    if charset is None or "\0" in charset.group(1):  # a NUL: no label (feedparser raised)
        return _detected_encoding(body)
    label = charset.group(1)
    return label if label.lower() in _ASCII_LABELS else web_codec(label)


def declares_entities(body: bytes, headers: dict[str, str]) -> bool:
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
    decoded = as_feedparser_decodes(body, headers)  # None: feedparser cannot decode it either
    if decoded is not None:
        texts.append(decoded.decode("utf-8", errors="replace"))
    return any(_ENTITY_DECLARATION_TEXT.search(text) for text in texts)


# Past these a document is refused before feedparser reads it (``markup_shape``). Its XML
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


def markup_shape(text: bytes) -> tuple[str, str] | None:
    """Why a document is refused before feedparser reads it, as an error type and a message:
    elements nested more than ``MAX_FEED_DEPTH`` deep, or one with more than
    ``MAX_FEED_ATTRIBUTES`` attributes; None for any other document. One pass over ``text``
    (the document as the XML parser reads it: ``markup_text``).

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


def markup_text(body: bytes, headers: dict[str, str]) -> bytes:
    """The document as feedparser's XML parser reads it, for ``markup_shape``: its bytes,
    when they are its text (``_read_as_its_bytes``), else as feedparser decodes it (UTF-8)."""
    if _read_as_its_bytes(body, headers):
        return body
    decoded = as_feedparser_decodes(
        body, headers
    )  # None: feedparser cannot either, a malformed feed
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
    except (LookupError, ValueError):  # not a codec; not ASCII; a NUL in it ("utf\x008")
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
