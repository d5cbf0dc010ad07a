"""Cleaning of the title, body and author names trafilatura reads from a page.

``extract_article`` (``transforms.analysis``) passes trafilatura's fields through these, in
plain Python and by rules that say why each change is made:

* ``clean_title``: the headline without the site's name that many pages append or prepend
  ("Best tech gadgets of 2019 | ZDNet"), or without what follows the feed's own title;
* ``drop_title_line``: the body without its first line when that line is the headline
  (trafilatura keeps the page's ``<h1>``);
* ``clean_author_names``: the author list without the site, job titles, dateline words and
  bio fragments that pages put in their bylines ("Analysis by Chris Cillizza",
  "Malcolm Owen Monday", "Ap Auto Writer").

Each leaves a value it has no rule for as it is: a real name or headline in any script
passes unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A separator between a headline and a site's name, with white space on both sides
# ("Title - Site", "Site | Title"); a hyphen inside a word ("Chien-Ming") is not one.
_TITLE_SEPARATOR = re.compile(r"\s+(?:-|–|—|\||·|•|::|:|«|»|~|/)\s+")
# A title left after stripping has at least this many words, or characters.
_MIN_TITLE_WORDS = 2
_MIN_TITLE_CHARS = 10
# The separators tried at each end of a title (``clean_title``): each try normalises the
# text on both sides of it, so trying every one was quadratic (a title of 4,000 " - " took
# 8 s, and trafilatura passes on titles of up to 10,000 characters: 4 s a page).
_MAX_CUTS_AT_EACH_END = 10

_LEADING_BYLINE = re.compile(r"^(?:analysis\s+by|written\s+by|by)(?:\s*:\s*|\s+)", re.IGNORECASE)
_BIO = re.compile(r"\s+is\s+an?\s+", re.IGNORECASE)
# Dateline words stuck to the end of a name. The months that are also names (April, May,
# June, August: "Theresa May") are left.
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "july", "september", "october", "november", "december")
_DATELINE_WORDS = frozenset((*_WEEKDAYS, *_MONTHS, "published", "updated", "posted", "submitted"))
_JOBS = ("writer", "reporter", "editor", "editor-at-large", "correspondent", "columnist")
_JOB_TITLES = frozenset((*_JOBS, "contributor", "staff"))
_JOB_TITLE_MAX_WORDS = 4


def site_key(name: str) -> str:
    """``name`` as a site's name is compared: case-folded, without a leading "The",
    "www." or scheme, a domain suffix (".com", ".co.uk") or anything but letters and digits
    ("The Paradigm", "paradigm.com" and "Paradigm" are the same site)."""
    key = unicodedata.normalize("NFKC", name).casefold().strip()
    key = re.sub(r"^(?:https?://)?(?:www\.)?", "", key)
    key = re.sub(r"^the\s+", "", key)
    key = re.sub(
        r"(?:\.(?:com|net|org|info|gov|edu|news|[a-z]{2}))+/?$|\s(?:com|net|org)$", "", key
    )
    return "".join(ch for ch in key if ch.isalnum())


def _same_site(text: str, site_name: str) -> bool:
    key = site_key(text)
    return bool(key) and key == site_key(site_name)


# Typographic quotes and dashes, read as the plain ones (NFKC reads "…" as "...").
_PLAIN_PUNCTUATION = str.maketrans("‘’‚‛“”„‟–—", "''''\"\"\"\"--")


def _plain(text: str) -> str:
    """``text`` case-folded, with single spaces and plain quotes, dashes and dots."""
    text = unicodedata.normalize("NFKC", text).translate(_PLAIN_PUNCTUATION)
    return " ".join(text.split()).casefold()


def _same_text(a: str, b: str) -> bool:
    """Equal but for case, runs of white space and typographic quotes, dashes and dots
    ("Só quem se Ama…" is "Só quem se Ama...")."""
    return _plain(a) == _plain(b)


def _is_title(text: str) -> bool:
    """Long enough to stand as a headline: two words, or ten characters (one CJK phrase)."""
    text = text.strip()
    return len(text.split()) >= _MIN_TITLE_WORDS or len(text) >= _MIN_TITLE_CHARS


def clean_title(title: str, site_name: str | None, feed_title: str | None) -> str:
    """The page's title without one trailing or leading site name.

    Stripped, with the separator next to it: a part after a separator that is the feed
    entry's title ("Feed title - anything"), else a trailing or leading part that is the
    site's name (``site_key``): "Best tech gadgets of 2019 | ZDNet" on ZDNet. Nothing is
    stripped where what would be left is not a title (``_is_title``), nor at a separator
    with no site name on its other side ("Apple - the company that ..."). Only the first and
    the last ``_MAX_CUTS_AT_EACH_END`` separators are tried (a site name and a feed title
    hold a few at most), so that the work stays linear in the title's length.

    Args:
        title: the page's title as trafilatura read it.
        site_name: the page's site name (trafilatura's ``sitename``), if any.
        feed_title: the feed entry's title, if any.

    Returns:
        The title, trimmed of white space and perhaps of the site's name.
    """
    title = title.strip()
    cuts = list(_TITLE_SEPARATOR.finditer(title))
    if len(cuts) > 2 * _MAX_CUTS_AT_EACH_END:
        cuts = cuts[:_MAX_CUTS_AT_EACH_END] + cuts[-_MAX_CUTS_AT_EACH_END:]
    if feed_title:
        for cut in cuts:
            head = title[: cut.start()]
            if _same_text(head, feed_title) and _is_title(head):
                return head.strip()
    if site_name:
        for cut in cuts:
            head, tail = title[: cut.start()].strip(), title[cut.end() :].strip()
            if _same_site(tail, site_name) and _is_title(head):
                return head
            if _same_site(head, site_name) and _is_title(tail):
                return tail
    return title


def drop_title_line(text: str, titles: Iterable[str | None]) -> str:
    """``text`` without its first line when that line is one of ``titles`` (``_same_text``:
    compared without regard to case, white space and typographic punctuation): the page's
    headline, which trafilatura keeps from its ``<h1>`` and which the title already gives."""
    first, _, rest = text.partition("\n")
    if any(title and _same_text(first, title) for title in titles):
        return rest.strip()
    return text


def _clean_name(name: str) -> str:
    """One byline item without a leading "By", a bio after "is a" and trailing dateline
    words ("Malcolm Owen Monday" is "Malcolm Owen"); empty when nothing is left."""
    name = _LEADING_BYLINE.sub("", name.strip())
    name = _BIO.split(name, maxsplit=1)[0]
    words = name.split()
    while words and words[-1].casefold().strip(".,:") in _DATELINE_WORDS:
        words.pop()
    return " ".join(words)


def _is_job_title(name: str) -> bool:
    """A short item ending in a job ("Ap Auto Writer", "CNN Editor-at-large")."""
    words = name.casefold().split()
    return 0 < len(words) <= _JOB_TITLE_MAX_WORDS and words[-1] in _JOB_TITLES


def clean_author_names(names: Iterable[str], site_name: str | None) -> tuple[str, ...]:
    """Byline items cleaned (``_clean_name``), without repeats, the site and job titles.

    An item is dropped when nothing is left of it, when it is the site's name (``site_key``:
    "CNN" on CNN), or when it is a job title (``_is_job_title``) next to other names
    ("Tom Krisher; Ap Auto Writer"). A job title alone is dropped only when it names a staff
    ("HNN Staff", "Staff writer"): alone, "Tom Gillespie News reporter" is the one author's
    name and job run together. Publishers other than the site ("Condé Nast" on Wired) are
    kept: nothing on the page tells them from a person.

    Args:
        names: the items of trafilatura's author string, in order.
        site_name: the page's site name (trafilatura's ``sitename``), if any.

    Returns:
        The names, in their order.
    """
    kept = [
        name
        for name in dict.fromkeys(_clean_name(n) for n in names)
        if name and not (site_name and _same_site(name, site_name))
    ]
    people = tuple(name for name in kept if not _is_job_title(name))
    if people or not kept:
        return people
    return tuple(title for title in kept if "staff" not in title.casefold().split())
