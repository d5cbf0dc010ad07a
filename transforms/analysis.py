"""The per-page analysis in plain Python: extract, enrich and tag one fetched page.

Three cores, each returning its outcome (the next record, a ``Discard`` or a ``Failure``
dead letter; a crash becomes a dead letter too):

* ``extract_outcome`` / ``extract_article``: trafilatura on the HTML we fetched ourselves
  (trafilatura never fetches), comments excluded; the body and the page's metadata (title,
  authors, date, canonical URL, description; trafilatura's pass is trimmed of what newsbeam
  does not read, see ``transforms.trafilatura_trim``), the title, body and authors cleaned
  of the site's name, a repeated headline and what is not a name (``transforms.page_metadata``);
* ``enrich_outcome`` / ``enrich_article``: the outlet (catalogue lookup by host; the feed list's
  name and country fill what the catalogue lacks, on the feed's own site), the language
  (py3langid, bundled model, offline; else the feed's declared language) and the publication
  time (the feed entry's timestamp, else the page's date: ``choose_published``);
* ``tag_outcome``: the taxonomy tagger (``transforms.tagger``).

The Beam stages ``ExtractArticles``, ``EnrichArticles`` and ``TagStories`` are thin adapters
around them; ``AnalysePages`` runs all three in a pool of processes through ``Analyser``
(``transforms.analyser``, with their loaded data).
This module does not import Beam, so neither do those worker processes (nor their fork
server, whose start-up the first page waits for).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import py3langid
import trafilatura.utils
from trafilatura import bare_extraction
from trafilatura.settings import DEFAULT_CONFIG, Document, set_date_params

from transforms.outcomes import excerpt
from transforms.outlets import OutletCatalogue
from transforms.page_metadata import clean_author_names, clean_title, drop_title_line
from transforms.page_urls import page_canonical
from transforms.records import (
    DEFAULT_MIN_TEXT_CHARS,
    Article,
    Discard,
    Failure,
    FetchedPage,
    Outlet,
    Story,
    TaggedStory,
    story_id_for,
)
from transforms.tagger import Tagger
from transforms.trafilatura_trim import install as trim_trafilatura

Outcome = TaggedStory | Discard | Failure

_AUTHOR_SEPARATORS = (";", " and ", "|")


def extract_article(
    page: FetchedPage, min_text_chars: int = DEFAULT_MIN_TEXT_CHARS
) -> Article | Discard | Failure:
    """Extract the article body and metadata from a fetched page.

    The title is the page's without the site's name, else the feed's; the body loses a
    first line that repeats the title; authors are cleaned (``split_authors``).

    Args:
        page: the fetched, decoded page.
        min_text_chars: bodies shorter than this are discarded as ``too_short``.

    Returns:
        The article; a discard saying why there is none; or a ``too_deeply_nested`` dead
        letter for a page the HTML parser read only in part (it stops at libxml2's limit of
        256 nested elements, dropping what lies deeper, so the text would be cut;
        ``html_parser_limit`` for libxml2's other limits).

    Raises:
        Exception: whatever trafilatura raises on a page it cannot handle; the
            DoFn turns it into a dead letter.
    """
    doc = trafilatura_document(page.html, page.final_url)
    limit = _parser_limit_reached()
    if limit is not None:
        return Failure(
            "extract",
            page.entry.link,
            "too_deeply_nested" if "depth" in limit.lower() else "html_parser_limit",
            f"the HTML parser read the page only in part (libxml2: {limit}): what lies"
            " beyond is not read, so its text would be cut",
            input_excerpt=excerpt(page.html),
        )
    if doc is None:
        return Discard("extract", page.entry.link, "no_text", "no article body found")
    title = article_title(doc, page.entry.title)
    text = drop_title_line((doc.text or "").strip(), (title, doc.title, page.entry.title))
    if not text:
        return Discard("extract", page.entry.link, "no_text", "no article body found")
    if len(text) < min_text_chars:
        return Discard("extract", page.entry.link, "too_short", f"{len(text)} characters")
    return Article(
        entry=page.entry,
        url=page.url,
        final_url=page.final_url,
        canonical_url=page_canonical(page.final_url, page.html),
        title=title,
        text=text,
        authors=split_authors(doc.author, doc.sitename),
        published_at=doc.date or None,
        description=doc.description or None,
        page_site_name=doc.sitename or None,
    )


def trafilatura_document(html: str, url: str | None) -> Document | None:
    """trafilatura's extraction, called as newsbeam calls it (also the benchmarks' ceiling).

    trafilatura skips categories, tags and licence, which newsbeam does not read, and its
    parser looks element classes up in C (``transforms.trafilatura_trim``, installed on the
    first call).
    """
    trim_trafilatura()
    doc = bare_extraction(
        html,
        url=url,
        include_comments=False,
        with_metadata=True,
        # One extraction pass instead of trafilatura's fallback cascade: measured on the Zyte
        # pages, 20-25% less CPU and a slightly higher F1 (benchmarks.extraction_quality
        # --compare-default, 2026-11-29; about 30% when first measured).
        fast=True,
        date_extraction_params=page_date_params(),
    )
    return doc if isinstance(doc, Document) else None


def page_date_params(now: datetime | None = None) -> dict[str, Any]:
    """The settings of trafilatura's date search: its own defaults, but a latest date that
    does not depend on the machine's time zone.

    trafilatura's default refuses a page date later than the machine's local calendar day
    (``trafilatura.settings.set_date_params``). A page dates a story in its own time zone
    (up to UTC+14), so on a UTC machine a Tokyo page published at 00:30 on the 1st (15:30 UTC
    on the 30th) was refused and htmldate fell back on a guess (1 January of a copyright
    footer's year); near midnight the result also changed with the machine's zone. The
    latest date accepted here is the UTC day after ``now``: the same on every machine, and
    no earlier than any zone's local day. The other keys (``original_date``,
    ``extensive_search``) are trafilatura's own, as it sets them by default.

    Args:
        now: the time to bound by (default: the current time).
    """
    params = set_date_params(DEFAULT_CONFIG.getboolean("DEFAULT", "EXTENSIVE_DATE_SEARCH"))
    now = now or datetime.now(UTC)
    params["max_date"] = (now.astimezone(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    return params


def _parser_limit_reached() -> str | None:
    """libxml2's message when trafilatura's HTML parser, on its last page, stopped at one of
    its limits (256 nested elements, in practice); else None. The parser says so only in
    its error log: the tree it returns is what it had read."""
    parser = getattr(trafilatura.utils, "HTML_PARSER", None)
    for error in getattr(parser, "error_log", ()):
        if error.type_name == "ERR_RESOURCE_LIMIT":
            return str(error.message).strip()
    return None


def article_title(doc: Document, feed_title: str | None) -> str:
    """The page's title without the site's name (``clean_title``), else the feed's title."""
    if doc.title and doc.title.strip():
        return clean_title(doc.title, doc.sitename, feed_title)
    return (feed_title or "").strip()


def split_authors(author: str | None, site_name: str | None = None) -> tuple[str, ...]:
    """Split trafilatura's author string ("A; B") into names, cleaned of what is not a
    person's name (``clean_author_names``: the site ``site_name``, job titles, "By")."""
    if not author:
        return ()
    names = [author]
    for sep in _AUTHOR_SEPARATORS:
        names = [part for name in names for part in name.split(sep)]
    return clean_author_names(names, site_name)


def extract_outcome(page: FetchedPage, min_text_chars: int) -> Article | Discard | Failure:
    """``extract_article``, with a crash of the extractor turned into a dead letter."""
    try:
        return extract_article(page, min_text_chars)
    except Exception as exc:  # noqa: BLE001 - any extractor crash is a dead letter
        return Failure.crashed("extract", page.entry.link, "extraction_error", exc, page.html)


# Texts shorter than this are too short for a language guess; the feed's language is used.
_MIN_LANGUAGE_CHARS = 40
_LANGUAGE_SAMPLE_CHARS = 1000


def detect_language(text: str, fallback: str | None = None) -> str | None:
    """Guess the ISO 639-1 language of ``text``.

    Args:
        text: the article text (only its start is used).
        fallback: what to answer when the text is too short to judge.

    Returns:
        py3langid's code (ISO 639-1, two letters, for most languages; three letters for
        those its model names so: ``yue``, ``wuu``, ...), or ``fallback``.
    """
    sample = text[:_LANGUAGE_SAMPLE_CHARS]
    if len(sample.strip()) < _MIN_LANGUAGE_CHARS:
        return fallback
    language, _score = py3langid.classify(sample)
    return str(language)


def choose_published(page_date: str | None, feed_date: str | None) -> str | None:
    """The publication time: the feed entry's timestamp, else the page's date.

    The feed's timestamp wins whenever there is one (a feed date more than a day after the
    poll is none: ``parse_feed`` drops it, ``FUTURE_DATE_SLACK``). It is exact (day, time and
    UTC offset) and written by the publisher's system for that one entry. The page's date is a
    day that trafilatura's date finder (htmldate) picked among the dates the page shows,
    preferring the earliest, without saying where it came from: the page's own metadata, or,
    when it understood none of the page's own dates ("28 НОЯ, 11:20", "۸ آذر ۱۴۰۵",
    "令和8年11月28日", "3小时前", or none at all), a date in the URL or the text, another
    story's, or 1 January of the year in a "Copyright 2026" footer. So:

    * where the two agree (the page's date is the feed's UTC date or a day either side of
      it: a page dates a story in its own time zone, UTC-12 to UTC+14, so 07:30 in Beijing
      on the 28th is 23:30 UTC on the 27th), the feed's is the same day, made exact;
    * where they contradict (more than a day apart), the page's date is the likelier
      mistake: a page is not published after its feed listed it, and an earlier date is
      where htmldate's guesses land (1 January of the copyright year).

    The cost: a feed whose timestamps are not publication times (every entry stamped with
    the feed's build time; an Atom entry with an update time only) gives those, where the
    page's date may have been right.

    Args:
        page_date: the date the page states (``YYYY-MM-DD`` from trafilatura), if any.
        feed_date: the feed entry's ISO timestamp (in UTC, from ``parse_feed``), if any.

    Returns:
        An ISO timestamp or date, or None when neither source gives one.
    """
    return feed_date or page_date or None


def enrich_article(article: Article, outlets: OutletCatalogue) -> Story:
    """Turn an article into a story with its outlet, language and publication time.

    The outlet is the catalogue's for the host of the page's canonical URL (the page's own,
    or the desktop page an AMP or mobile page confirmed: a page served by the Google AMP
    cache is its site's, not ampproject.org's); where the catalogue has no name or country
    for it, the feed list's (``OutletCatalogue.lookup_for_entry``).
    """
    outlet: Outlet = outlets.lookup_for_entry(
        article.canonical_url or article.final_url, article.entry
    )
    language = detect_language(
        f"{article.title}\n{article.text}", article.entry.feed_language or outlet.language
    )
    return Story(
        story_id=story_id_for(article.canonical_url or article.final_url),
        article=article,
        outlet=outlet,
        language=language,
        published_at=choose_published(article.published_at, article.entry.published_at),
    )


def enrich_outcome(article: Article, outlets: OutletCatalogue) -> Story | Failure:
    """``enrich_article``, with a bug in enrichment turned into a dead letter."""
    try:
        return enrich_article(article, outlets)
    except Exception as exc:  # noqa: BLE001 - any enrichment bug becomes a dead letter
        return Failure.crashed("enrich", article.entry.link, "enrich_error", exc, article.title)


def tag_outcome(
    story: Story, tagger: Tagger, keep_irrelevant: bool
) -> TaggedStory | Discard | Failure:
    """Tag ``story``: the tagged story, a ``not_relevant`` discard, or a dead letter.

    Args:
        story: the enriched story.
        tagger: the loaded taxonomy tagger.
        keep_irrelevant: keep stories the tagger finds out of scope (``--all-stories``).
    """
    article = story.article
    try:
        result = tagger.tag(article.title, article.text)
    except Exception as exc:  # noqa: BLE001 - a tagger bug must not stop the stream
        return Failure.crashed("tag", article.entry.link, "tag_error", exc, article.title)
    if not result.relevant and not keep_irrelevant:
        return Discard("tag", article.entry.link, "not_relevant")
    return TaggedStory(story=story, tagging=result)
