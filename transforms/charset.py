"""Charset decoding for fetched HTML (and any other text body), the way browsers do it.

Consumes the raw, already decompressed bytes of a response and its Content-Type header
value; produces ``str``. ``decode_html`` tries, in order: a byte-order mark, the header's
charset, a ``<meta>`` charset in the first 4 KiB, UTF-8, then detection by
charset_normalizer with two web priors (no BOM-less UTF-16/32; windows-1252 wins a tie).
It never raises on bad bytes: undecodable ones are replaced. ``HttpResult.text()`` in
``transforms.http`` calls it; ``detect_encoding`` (the detection alone) also serves feeds
that name no encoding.
"""

from __future__ import annotations

import re

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
# WHATWG: these labels mean windows-1252 on the web.
_WEB_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252"}


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTML (or any text) body; invalid bytes never raise.

    Order: a byte-order mark; the Content-Type charset; a ``<meta>`` charset in the first
    4 KiB; UTF-8; detection by charset_normalizer (replacing undecodable bytes). A declared
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
        declared.append(meta_match.group(1).decode("ascii", errors="replace"))
    for label in declared:
        codec = _WEB_ALIASES.get(label.strip().lower(), label.strip())
        try:
            return body.decode(codec)
        except (LookupError, UnicodeDecodeError):
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
