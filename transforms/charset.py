"""Charset decoding for fetched HTML (and any other text body), the way browsers do it.

Consumes the raw, already decompressed bytes of a response and its Content-Type header
value; produces ``str``. ``decode_html`` tries, in order: a byte-order mark, the header's
charset, a ``<meta>`` charset in the first 4 KiB, UTF-8, then detection by
charset_normalizer with two web priors (no BOM-less UTF-16/32; windows-1252 wins a tie). A
declared label means what it means on the web (``web_codec``: Shift_JIS is cp932, ...).
It never raises on bad bytes: undecodable ones are replaced. ``HttpResult.text()`` in
``transforms.http`` calls it; ``detect_encoding`` (the detection alone) also serves feeds
that name no encoding.
"""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

# Possessive (``*+``, ``?+``): each run of spaces is read once. Given back one space at a time
# (an optional quote between two runs), a run of n spaces after "charset=" not followed by a
# label took n^2 steps for each "<meta" before it: 24 s for a 4 KiB start of a page. Nothing
# given back could have matched (a label starts after the spaces and the quote).
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*+=\s*+["']?+\s*+([a-zA-Z0-9_.:-]+)""", re.I)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# What a charset label means on the web (the WHATWG Encoding Standard, which browsers follow),
# where Python's codec of that name reads less: these Latin-1 and ASCII labels mean
# windows-1252; Shift_JIS, EUC-KR, Big5 and GB2312 labels mean the Windows (and, for Big5,
# HKSCS) supersets their documents are written in (①, 髙, ㈱ in Shift_JIS; 똠, 햏 in EUC-KR;
# 哋, 啲 in Big5), which Python's shift_jis, euc_kr, big5 and gb2312 refuse. cp932 reads six
# JIS symbols as their fullwidth forms (U+FF5E for the wave dash U+301C, as Windows does).
_WEB_CODECS = {
    **dict.fromkeys(("iso-8859-1", "latin1", "ascii", "us-ascii"), "cp1252"),
    **dict.fromkeys(
        (
            *("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis"),
            *("windows-31j", "ms932"),
        ),
        "cp932",
    ),
    **dict.fromkeys(
        (
            *("euc-kr", "euc_kr", "cseuckr", "csksc56011987", "iso-ir-149", "korean"),
            *("ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949"),
        ),
        "cp949",
    ),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"), "big5hkscs"),
    **dict.fromkeys(
        (
            *("gb2312", "gb_2312", "gb_2312-80", "csgb2312", "csiso58gb231280", "iso-ir-58"),
            *("chinese", "gbk", "x-gbk"),
        ),
        "gb18030",
    ),
}


def web_codec(label: str) -> str:
    """The Python codec that reads a charset label's documents as browsers do: ``label``
    itself (stripped) unless the web means more by it (``_WEB_CODECS``: ``Shift_JIS`` is
    ``cp932``, ``EUC-KR`` ``cp949``, ``Big5`` ``big5hkscs``, ``GB2312`` ``gb18030``,
    ``ISO-8859-1`` ``cp1252``). Pages (``decode_html``) and feeds
    (``transforms.feed_parsing``) are decoded by it.

    Args:
        label: a charset label as a document or header gives it, in any case.
    """
    label = label.strip()
    return _WEB_CODECS.get(label.lower(), label)


# Python codecs that name no charset a web page is written in: a page declaring one is read
# as if it declared none (``decode_html``). "undefined" and "punycode" raised on any page;
# the escapes, "charmap" and "palmos" read it as mojibake; "idna" and UTF-7 are no web
# encodings (browsers ignore both labels).
_NOT_WEB_CODECS = frozenset(
    {"undefined", "punycode", "unicode-escape", "raw-unicode-escape", "charmap", "palmos"}
    | {"idna", "utf-7"}
)


def _is_web_codec(codec: str) -> bool:
    """Whether ``codec`` is one Python knows and not one of ``_NOT_WEB_CODECS``. (A codec
    that is no text encoding, ``rot13`` or ``base64``, is refused by ``bytes.decode``.)"""
    try:
        return codecs.lookup(codec).name not in _NOT_WEB_CODECS
    except (LookupError, ValueError):  # ValueError: a NUL in the label ("charset=utf\x008")
        return False


def names_utf16(label: str) -> bool:
    """Whether a charset label names UTF-16 (LE, BE or either) to Python. (The web's other
    labels of it, "unicode", "ucs-2", ..., name no Python codec: skipped, UTF-8 is tried.)"""
    try:
        return codecs.lookup(label.strip()).name.startswith("utf-16")
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return False


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML (or any text) body; invalid bytes never raise.

    Order: a byte-order mark; the Content-Type charset; a ``<meta>`` charset in the first
    4 KiB (UTF-8 where it says UTF-16); UTF-8; detection by charset_normalizer (replacing
    undecodable bytes). A declared
    charset is used only if the bytes decode under it, so a wrong declaration falls through.

    Args:
        body: the raw (decompressed) bytes.
        content_type: the Content-Type header value, if any.

    Returns:
        The text.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    declared = []
    header_match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type or "", re.I)
    if header_match:
        declared.append(header_match.group(1))
    meta_match = _META_CHARSET.search(body[:4096])
    if meta_match:
        label = meta_match.group(1).decode("ascii", errors="replace")
        # A <meta> read in ASCII bytes cannot be UTF-16: such a label means UTF-8 (the HTML
        # standard's prescan). Taken at its word, it read the whole page as CJK mojibake.
        declared.append("utf-8" if names_utf16(label) else label)
    for label in declared:
        codec = web_codec(label)
        if not _is_web_codec(codec):
            continue
        try:
            return body.decode(codec)
        except (LookupError, UnicodeError):  # not a text encoding; bytes it cannot read
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode(detect_encoding(body[: 256 * 1024]), errors="replace")


def detect_encoding(sample: bytes, *, mostly_markup: bool = False) -> str:
    """charset_normalizer's best guess, with two web priors: no BOM-less UTF-16/32, and
    windows-1252 wins a tie (it is what undeclared Western pages are written in). Also
    decodes feeds that declare no encoding (``transforms.feed_parsing``).

    Args:
        sample: the bytes to tell the encoding of.
        mostly_markup: the text is mostly ASCII markup (a feed): windows-1252 wins whenever
            it reads the bytes with no more chaos than the best guess, whatever their
            coherence (which then measures the markup's English more than the text: a
            Portuguese feed in ISO-8859-1 came out as cp1257, Baltic, on coherence alone).
    """
    matches = [m for m in from_bytes(sample) if not m.encoding.startswith("utf_")]
    if not matches:
        return "cp1252"
    best = min(matches, key=lambda m: (m.chaos, -m.coherence))
    for match in matches:
        if match.encoding != "cp1252":
            continue
        if mostly_markup and match.chaos <= best.chaos:
            return "cp1252"
        if (match.chaos, -match.coherence) <= (best.chaos, -best.coherence):
            return "cp1252"
    return best.encoding
