"""ExtractArticles: trafilatura turns a fetched page into an Article.

Consumes ``FetchedPage`` records; produces ``Article`` records, ``Discard`` records
for pages with no usable article (``no_text``, ``too_short``) and ``Failure``
dead letters when the extractor itself breaks.

The core, ``extract_article()``, is plain Python: it runs trafilatura on the text we
fetched ourselves (trafilatura never fetches), with comments excluded, and fills the
metadata the page gives: title, authors, date, canonical URL, description.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from trafilatura import bare_extraction
from trafilatura.settings import Document

from transforms.common import tagged_output, with_stage_outputs
from transforms.records import Article, Discard, Failure, FetchedPage
from transforms.urls import resolve_canonical

# Articles whose body is shorter than this (in characters) are discarded as too_short:
# paywall stubs, video pages with a caption, cookie walls.
DEFAULT_MIN_TEXT_CHARS = 250

_AUTHOR_SEPARATORS = (";", " and ", "|")


def extract_article(
    page: FetchedPage, min_text_chars: int = DEFAULT_MIN_TEXT_CHARS
) -> Article | Discard:
    """Extract the article body and metadata from a fetched page.

    Args:
        page: the fetched, decoded page.
        min_text_chars: bodies shorter than this are discarded as ``too_short``.

    Returns:
        The article, or a discard saying why there is none.

    Raises:
        Exception: whatever trafilatura raises on a page it cannot handle; the
            DoFn turns it into a dead letter.
    """
    doc = trafilatura_document(page.html, page.final_url)
    text = (doc.text or "").strip() if doc is not None else ""
    if doc is None or not text:
        return Discard("extract", page.entry.link, "no_text", "no article body found")
    if len(text) < min_text_chars:
        return Discard("extract", page.entry.link, "too_short", f"{len(text)} characters")
    title = (doc.title or page.entry.title or "").strip()
    return Article(
        entry=page.entry,
        url=page.url,
        final_url=page.final_url,
        canonical_url=resolve_canonical(page.final_url, doc.url, None),
        title=title,
        text=text,
        authors=split_authors(doc.author),
        published_at=doc.date or None,
        description=doc.description or None,
        page_site_name=doc.sitename or None,
    )


def trafilatura_document(html: str, url: str | None) -> Document | None:
    """trafilatura's extraction, called as newsbeam calls it (also the benchmarks' ceiling)."""
    doc = bare_extraction(
        html,
        url=url,
        include_comments=False,
        with_metadata=True,
        # One extraction pass instead of trafilatura's fallback cascade: measured on the Zyte
        # pages, about 30% faster and a slightly higher F1 (benchmarks/extraction_quality.py).
        fast=True,
    )
    return doc if isinstance(doc, Document) else None


def split_authors(author: str | None) -> tuple[str, ...]:
    """Split trafilatura's author string ("A; B") into names."""
    if not author:
        return ()
    names = [author]
    for sep in _AUTHOR_SEPARATORS:
        names = [part for name in names for part in name.split(sep)]
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def extract_outcome(page: FetchedPage, min_text_chars: int) -> Article | Discard | Failure:
    """``extract_article``, with a crash of the extractor turned into a dead letter."""
    try:
        return extract_article(page, min_text_chars)
    except Exception as exc:  # noqa: BLE001 - any extractor crash is a dead letter
        return Failure.crashed("extract", page.entry.link, "extraction_error", exc, page.html)


class _ExtractArticlesFn(beam.DoFn):
    def __init__(self, min_text_chars: int) -> None:
        self._min_text_chars = min_text_chars

    def process(self, page: FetchedPage) -> Iterator[Any]:
        yield tagged_output(extract_outcome(page, self._min_text_chars))


class ExtractArticles(beam.PTransform):
    """PCollection[FetchedPage] -> ok: Article, failures: Failure, discarded: Discard.

    Extracts in the Beam worker itself; ``transforms.analyse.AnalysePages`` extracts,
    enriches and tags in a pool of processes instead (``--extract-processes``).

    Args:
        min_text_chars: shorter bodies are discarded as ``too_short``.
    """

    def __init__(self, min_text_chars: int = DEFAULT_MIN_TEXT_CHARS) -> None:
        super().__init__()
        self._min_text_chars = min_text_chars

    def expand(self, pages: beam.PCollection) -> Any:
        return with_stage_outputs(pages, _ExtractArticlesFn(self._min_text_chars), "Extract")
