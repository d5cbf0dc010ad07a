"""Mends the XML mistakes hand-made OPML feed lists make, so that they read as feed readers
read them.

Consumes the bytes of an OPML file that XML refused; produces mended bytes for the XML
parser to try again, or the parser's message placed in the file as written. Two mistakes are
mended, each only where the file has it (``transforms.feedlist`` tries the file as written
first):

* an ``&`` that starts no XML reference (``Science & Environment``, ``?a=1&b=2``) is read as
  ``&amp;``, an HTML name (``&nbsp;``) as its character (``mend_ampersands``);
* an ``<outline>`` attribute value that holds a ``"`` or a ``<`` (a description written
  ``by Jen "From Head To Toe" that ...`` or ``works at <a href="https://...">Square</a>``:
  20 of the 68 lists in the corpus's awesome-rss-feeds collection) is read up to the first
  ``"`` followed by another attribute (`` name="``), or by the tag's end and then the end of
  the line, the next outline or an end tag (``mend_attribute_quotes``; a value may run over
  lines, as a description with ``<br>`` and a line break in it does). A value is never read
  into the next ``<outline``, nor over the tag's feed URL (``xmlUrl=``): where no such quote
  ends it before, its tag is left as written, and the parser's error stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.entities import name2codepoint
from xml.etree.ElementTree import ParseError

# An '&' that starts no XML reference: a name and ';' (group 1: the name), or a character
# reference. Hand-made OPML lists write a bare '&' ("Science & Environment") or an HTML name
# (&nbsp;) in titles and URLs, which XML forbids and feed readers read past.
_LOOSE_AMPERSAND = re.compile(rb"&(?:([A-Za-z][A-Za-z0-9]*);|(?!#[0-9]+;|#[xX][0-9A-Fa-f]+;))")
_XML_NAMES = frozenset({"amp", "lt", "gt", "quot", "apos"})

_OUTLINE = re.compile(rb"<outline\b")
# An attribute's start inside a tag: blanks, a name, '=' and the opening double quote.
_ATTRIBUTE = re.compile(rb'[ \t\r\n]+[A-Za-z_][\w.:-]*[ \t\r\n]*=[ \t\r\n]*"')
_TAG_END = re.compile(rb"[ \t\r\n]*/?>")
# An outline's feed URL attribute: a value that holds one was read too far (title="a "b
# xmlUrl="..."), and would lose the feed.
_FEED_URL = re.compile(rb"[ \t\r\n]xmlurl[ \t\r\n]*=", re.IGNORECASE)
# A double quote that closes a value: what follows it is the next attribute, or the tag's end
# followed by the end of the line or the next outline, its end tag or the body's end tag. A
# quote inside the value ("From Head To Toe" that ..., href="https://square.com/">Square) is
# followed by neither.
_VALUE_END = re.compile(
    rb'"(?=[ \t]+[A-Za-z_][\w.:-]*[ \t]*=[ \t]*"'
    rb"|[ \t]*/?>[ \t\r]*(?:\n|$|<outline\b|</outline>|</body>))"
)


@dataclass(frozen=True)
class Mended:
    """What ``mend_attribute_quotes`` gives: the mended document, and how many values it
    changed and where the first was (its line in the file as given)."""

    document: bytes
    values: int
    first_line: int


def mend_ampersands(raw: bytes) -> bytes:
    """``raw`` with each loose ``&`` read as ``&amp;`` and each HTML name as its character
    reference; XML's own references as they were."""
    return _LOOSE_AMPERSAND.sub(_reference, raw)


def _reference(m: re.Match[bytes]) -> bytes:
    """What a loose ``&`` in OPML stands for: ``&amp;`` for a bare one, a character reference
    for an HTML name (``&nbsp;``); an XML reference, or a name HTML does not know, as it was."""
    name = m.group(1)
    if name is None:
        return b"&amp;"
    text = name.decode("ascii")
    if text in _XML_NAMES or text not in name2codepoint:
        return m.group()
    return b"&#%d;" % name2codepoint[text]


def in_raw(exc: ParseError, raw: bytes) -> str:
    """The parser's message for the ampersand-mended OPML, its column counted in the file as
    written (each loose ``&`` mended before it on its line moved it)."""
    line, column = exc.position
    shift = 0
    lines = raw.split(b"\n")
    for m in _LOOSE_AMPERSAND.finditer(lines[line - 1] if 0 < line <= len(lines) else b""):
        if m.start() + shift >= column:
            break
        shift += len(_reference(m)) - len(m.group())
    return re.sub(r"column \d+$", f"column {column - shift}", str(exc))


def mend_attribute_quotes(raw: bytes) -> Mended | None:
    """``raw`` with each ``"`` and ``<`` inside an ``<outline>`` attribute value written as a
    reference, each value read up to the quote that closes it (``_VALUE_END``).

    Args:
        raw: an OPML document (its ampersands already mended, or sound).

    Returns:
        The mended document, or None when no value needed mending (a tag whose values cannot
        be told apart before the next ``<outline``, or that uses single quotes, is left as
        written).
    """
    parts: list[bytes] = []
    done = 0
    values = 0
    first_at = -1
    for start in _OUTLINE.finditer(raw):
        tag = _mend_tag(raw, start.end())
        if tag is None:
            continue
        text, end, changed = tag
        if changed:
            if first_at < 0:
                first_at = start.start()
            values += changed
            parts.append(raw[done : start.end()])
            parts.append(text)
            done = end
    if not values:
        return None
    parts.append(raw[done:])
    return Mended(b"".join(parts), values, raw.count(b"\n", 0, first_at) + 1)


def _mend_tag(raw: bytes, at: int) -> tuple[bytes, int, int] | None:
    """One ``<outline`` tag's attributes from ``at`` (just after its name) to its end,
    mended: (the text, where the tag ends in ``raw``, how many values changed), or None when
    the tag is not a run of double-quoted attributes, each closed before the next outline."""
    out: list[bytes] = []
    changed = 0
    while True:
        attribute = _ATTRIBUTE.match(raw, at)
        if attribute is None:
            end = _TAG_END.match(raw, at)
            if end is None:
                return None
            out.append(end.group())
            return b"".join(out), end.end(), changed
        limit = _OUTLINE.search(raw, attribute.end())
        close = _VALUE_END.search(
            raw, attribute.end(), len(raw) if limit is None else limit.start()
        )
        if close is None or _FEED_URL.search(raw, attribute.end(), close.start()):
            return None
        # A value holding an HTML link with two attributes (<a title="x" href="y">) reads as
        # two values here: its tag keeps an attribute more, and the feed's own are read whole
        value = raw[attribute.end() : close.start()]
        mended = value.replace(b"<", b"&lt;").replace(b'"', b"&quot;")
        changed += mended != value
        out.append(attribute.group())
        out.append(mended)
        out.append(b'"')
        at = close.end()
