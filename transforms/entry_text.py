"""The text of a feed entry's HTML: ``feed_text`` and, for ``--feed-text-min-chars``, ``full_text``.

Consumes an HTML fragment as a feed carries it (an entry's summary or ``content:encoded``, a
page title) or a feedparser entry; produces plain text (tags removed, entities decoded,
spaces folded), or the entry's own content when it holds the whole article (else None: the
page is fetched). ``transforms.feed_parsing`` calls them for each entry (``FeedEntry.content``)
and to describe a document that is no feed; no Beam.
"""

from __future__ import annotations

import html
import re
from typing import Any

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
