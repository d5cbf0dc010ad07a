"""A feed entry's publication time, as ``parse_feed`` (``transforms.feed_parsing``) reads it.

Consumes feedparser's entry (the dates as the feed wrote them, and feedparser's reading of
them) and the feed's language; produces a UTC ISO timestamp or None (``published_at``). A
date in a form feedparser does not read exactly (RFC 822 written in the feed's language,
``2026/11/30 07:30``) is read by dateparser first (``_entry_date``); one more than
``FUTURE_DATE_SLACK`` after the poll is no date. No Beam.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser.datetimes

# How far past the poll an entry's date may be. A date later than that is no publication
# time (a CMS's placeholder, 31 December 9999; a wrong clock; an event's date): the entry
# counts as undated, so that the page's date is taken for the story and the entry does not
# rank as the newest of its feed (``feed_parsing._newest``). A day: a date written in the
# publisher's own zone without its offset (read as UTC) is at most 14 hours ahead.
FUTURE_DATE_SLACK = timedelta(days=1)


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=UTC).isoformat()
    except (OverflowError, ValueError, TypeError):
        return None


def published_at(raw: Any, language: str | None, latest: datetime) -> str | None:
    """The entry's publication time, in UTC: its published date, else its updated one
    (``_entry_date``). A date after ``latest`` (the poll's time and ``FUTURE_DATE_SLACK``) is
    no date: the next is tried. A published date without a time of day (``2026-11-28``)
    gives way to an updated one with a time; one without a day (``2026``, ``2026-11``: read
    as its first day; ``2026-W48``) is no date, so that the page's date is taken instead."""
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
# An ISO 8601 week date with its day (``2026-W48-6``, ``2026W486``: Saturday 28 November
# 2026), and a time and zone as W3DTF writes them; read by ``datetime.fromisoformat``.
_ISO_WEEK_DAY = re.compile(
    r"\s*\d{4}-?W\d{2}-?[1-7](?:"
    r"[T ]\d{2}:?\d{2}(?::?\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
    r")?\s*"
)
# A text that starts with a year not followed by a month and a day or a day of the year, in
# the forms feedparser's ISO 8601 reader knows (``2026-W48``, ``2026-Q4``, ``2026-11 (x)``):
# that reader reads the year at the start of any text it cannot read in full, and takes the
# month from the machine's clock and the day as the 1st, so its reading is no date.
_YEAR_WITHOUT_DAY = re.compile(r"\s*\d{4}(?!\d|-?[01]\d-?[0-3]\d|-?[0-3]\d\d)")
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
    taken only where dateparser reads nothing, and not where it read only a year at the start
    (``_YEAR_WITHOUT_DAY``: ``2026-W48`` was the 1st of the current month). An ISO 8601 week
    date with a day is read exactly (``_week_date``). A leap second is read as the second
    before it.
    """
    if isinstance(text, str) and (_LEAP_SECOND.search(text) or _HOURS_ZONE.search(text)):
        text = _HOURS_ZONE.sub(r"\1:00", _LEAP_SECOND.sub(":59", text))
        parsed = feedparser.datetimes._parse_date(text)
    if isinstance(text, str) and _ISO_WEEK_DAY.fullmatch(text):
        return _week_date(text)
    read_by_feedparser = _iso(parsed)
    exact = isinstance(text, str) and (_RFC822.fullmatch(text) or _W3DTF.fullmatch(text))
    if exact and read_by_feedparser is not None:
        return read_by_feedparser
    if isinstance(text, str) and _YEAR_WITHOUT_DAY.match(text):
        read_by_feedparser = None  # a day feedparser made up (``_YEAR_WITHOUT_DAY``)
    return _localized_date(text, language) or read_by_feedparser


def _week_date(text: str) -> str | None:
    """An ISO 8601 week date (``_ISO_WEEK_DAY``) as a UTC ISO timestamp; without a zone, UTC's;
    None for a week the year does not have (``2026-W54-1``), or a time outside years 1-9999
    in UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC).replace(microsecond=0).isoformat()
    except (ValueError, OverflowError):  # in UTC before year 1 or after 9999: raised, and
        return None  # failed the whole feed as an internal_error


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
