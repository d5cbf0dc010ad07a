"""feedparser's reading of an XML declaration's encoding, in linear time; and its element
handlers, made to fail as an unknown element does rather than end the parse.

feedparser looks for the encoding a document's XML declaration names with a regular
expression, ``encodings.RE_XML_PI_ENCODING``: ``^<\\?.*encoding=['"](.*?)['"].*\\?>``, run on
the whole document (``.`` stops at the first line's end). On a long first line that starts
with ``<?`` and holds ``encoding=`` and quotes but no ``?>`` after them, the engine tries every
``encoding=`` with every quote after it and every position after that: cubic time (a 13 KB
line took 33 s of CPU, and a feed may be 10 MB, all on one line). ``install()`` puts
``PI_ENCODING`` in its place, which gives the same answers (``tests/test_feed_parsing.py``
compares the two on the corpus's feeds and on generated lines) by reading the first line once:

* the declaration must start the document (``<?``), and some ``?>`` must follow on its line;
* of the ``encoding=`` on that line, the last one that a quote follows, and whose value (up to
  the next quote, of either kind) some ``?>`` follows, names the encoding: the regular
  expression's greedy ``.*`` tries the last one first, and a value that no ``?>`` follows
  could not be followed by one however long it were taken.

If feedparser changed (an upgrade: the pattern is not this one, or ``convert_to_utf8`` no longer
reads it by that name), ``install()`` leaves feedparser as it is and logs why, once;
``tests/test_feed_parsing.py`` then fails, so the upgrade gets looked at.

feedparser handles each element it knows with a method (``_start_width``, ``_end_gml_pos``,
...), and some of them raise on input they did not expect: a podcast chapter without a
``start`` (``<psc:chapter title="Intro"/>``), a ``<gml:pos>`` outside ``<georss:where>``, a stray
``</width>`` or ``</height>`` in an ``<image>``. The exception ended the whole parse, so every
entry of the feed was lost (an ``internal_error`` dead letter at each poll) for an element
newsbeam does not read. ``guard_handlers()`` wraps each handler so that such an exception
becomes the ``AttributeError`` feedparser takes for "no handler": the element is then read as
one it does not know (its text or attributes kept under its name, as for any unknown
element), and the parse goes on.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable
from typing import Any

import feedparser.encodings
import feedparser.mixin

log = logging.getLogger(__name__)

# The pattern this module stands in for, exactly as feedparser 6.0 writes it.
PATTERN = rb'^<\?.*encoding=[\'"](.*?)[\'"].*\?>'
ORIGINAL = feedparser.encodings.RE_XML_PI_ENCODING
_ENCODING = b"encoding="
_QUOTES = re.compile(rb"""['"]""")


class Found:
    """What ``re.Match`` gives that feedparser and newsbeam read: the encoding's label."""

    def __init__(self, label: bytes) -> None:
        self._label = label

    def group(self, index: int = 0) -> bytes:
        if index != 1:
            raise IndexError("only the label (group 1) is kept")
        return self._label

    def groups(self) -> tuple[bytes]:
        return (self._label,)


class PiEncoding:
    """``RE_XML_PI_ENCODING.match``, in time linear in the first line's length."""

    pattern = PATTERN

    def match(self, data: bytes) -> Found | None:
        """The label the declaration that starts ``data`` names, as ``re.match`` finds it."""
        if not data.startswith(b"<?"):
            return None
        end = data.find(b"\n")
        end = len(data) if end < 0 else end
        last_close = data.rfind(b"?>", 2, end)
        if last_close < 0:
            return None
        at = data.rfind(_ENCODING, 2, end)
        while at >= 0:
            opening = at + len(_ENCODING)
            if opening < end and data[opening] in b"'\"":
                closing = _QUOTES.search(data, opening + 1, end)
                if closing is not None and closing.start() + 1 <= last_close:
                    return Found(data[opening + 1 : closing.start()])
            # the next one to the left ("encoding=" cannot overlap itself)
            at = data.rfind(_ENCODING, 2, at)
        return None


PI_ENCODING = PiEncoding()
_installed: bool | None = None


def install() -> bool:
    """Put ``PI_ENCODING`` in place of feedparser's pattern, once per process.

    Returns:
        Whether feedparser now uses it (False: feedparser is not the version this was
        written for, and is left alone).
    """
    global _installed
    if _installed is None:
        problem = _problem()
        if problem is None:
            feedparser.encodings.RE_XML_PI_ENCODING = PI_ENCODING
        else:
            log.warning("feedparser left as it is (%s): its encoding check may be slow", problem)
        _installed = problem is None
    return _installed


def _problem() -> str | None:
    if getattr(ORIGINAL, "pattern", None) != PATTERN:
        return "RE_XML_PI_ENCODING is not the expected pattern"
    try:
        source = inspect.getsource(feedparser.encodings.convert_to_utf8)
    except (AttributeError, OSError, TypeError):
        return "convert_to_utf8 cannot be read"
    if "RE_XML_PI_ENCODING.match(" not in source:
        return "convert_to_utf8 no longer reads RE_XML_PI_ENCODING"
    return None


_HANDLER_PREFIXES = ("_start_", "_end_")
_guarded = False


def guard_handlers() -> int:
    """Wrap each of feedparser's element handlers (``_start_*``, ``_end_*``) once per process,
    so that one raising reads its element as an unknown one instead of ending the parse.

    Returns:
        How many handlers are guarded (0: feedparser has no ``_FeedParserMixin`` to guard).
    """
    global _guarded
    mixin = getattr(feedparser.mixin, "_FeedParserMixin", None)
    if mixin is None:
        return 0
    names = [name for name in dir(mixin) if name.startswith(_HANDLER_PREFIXES)]
    if not _guarded:
        for name in names:
            setattr(mixin, name, _guarded_handler(getattr(mixin, name)))
        _guarded = True
    return len(names)


def _guarded_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def guarded(self: Any, *args: Any) -> Any:
        try:
            return handler(self, *args)
        except (AttributeError, MemoryError, RecursionError):
            # AttributeError: feedparser's own "no handler", the element read as an unknown
            # one. The other two are the process's limits, not the element's: they end the
            # parse (the feed's dead letter) as before.
            raise
        except Exception as exc:
            # feedparser's dispatch (``unknown_starttag``, ``unknown_endtag``) reads the
            # element as an unknown one; its ``pop`` of an element already popped is a no-op
            raise AttributeError(f"feedparser's {handler.__name__} failed: {exc!r}") from exc

    return guarded
