"""ExtractArticles: trafilatura turns a fetched page into an Article.

Consumes ``FetchedPage`` records; produces ``Article`` records, ``Discard`` records
for pages with no usable article (``no_text``, ``too_short``) and ``Failure``
dead letters when the extractor itself breaks.

The core, ``extract_article()``, is plain Python: it runs trafilatura on the text we
fetched ourselves (trafilatura never fetches), with comments excluded, and fills the
metadata the page gives: title, authors, date, canonical URL, description.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue
from trafilatura import bare_extraction
from trafilatura.settings import Document

from transforms.common import DISCARDED, FAILURES, with_stage_outputs
from transforms.records import Article, Discard, Failure, FetchedPage, excerpt
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
    doc = bare_extraction(
        page.html,
        url=page.final_url,
        include_comments=False,
        with_metadata=True,
        # One extraction pass instead of trafilatura's fallback cascade: measured on the Zyte
        # pages, about 30% faster and a slightly higher F1 (benchmarks/extraction_quality.py).
        fast=True,
    )
    text = (doc.text or "").strip() if isinstance(doc, Document) else ""
    if not isinstance(doc, Document) or not text:
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
        return Failure(
            "extract",
            page.entry.link,
            "extraction_error",
            f"{type(exc).__name__}: {exc}"[:300],
            False,
            excerpt(page.html),
        )


def _tagged(outcome: Article | Discard | Failure) -> Any:
    if isinstance(outcome, Failure):
        return beam.pvalue.TaggedOutput(FAILURES, outcome)
    if isinstance(outcome, Discard):
        return beam.pvalue.TaggedOutput(DISCARDED, outcome)
    return outcome


class _ExtractArticlesFn(beam.DoFn):
    """Extracts in this process, or in a pool of ``processes`` worker processes.

    With a pool, pages are submitted as they arrive, results are emitted as they complete
    (each as a WindowedValue with its page's timestamp and window), and ``finish_bundle``
    waits for the rest, so every page ends in exactly one output.
    """

    def __init__(self, min_text_chars: int, processes: int) -> None:
        self._min_text_chars = min_text_chars
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pending: list[tuple[str, Any, Any, concurrent.futures.Future[Any]]] = []

    def setup(self) -> None:
        if self._processes > 1:
            context = multiprocessing.get_context("forkserver")
            self._pool = concurrent.futures.ProcessPoolExecutor(self._processes, mp_context=context)

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def process(
        self,
        page: FetchedPage,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        if self._pool is None:
            yield _tagged(extract_outcome(page, self._min_text_chars))
            return
        future = self._pool.submit(extract_outcome, page, self._min_text_chars)
        self._pending.append((page.entry.link, timestamp, window, future))
        if len(self._pending) >= 4 * self._processes:
            yield from self._drain(wait=False)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._drain(wait=True)

    def _drain(self, wait: bool) -> Iterator[Any]:
        still = []
        for link, timestamp, window, future in self._pending:
            if wait or future.done():
                yield _windowed(_tagged(_result(link, future)), timestamp, window)
            else:
                still.append((link, timestamp, window, future))
        self._pending = still


def _result(link: str, future: concurrent.futures.Future[Any]) -> Article | Discard | Failure:
    """The worker's outcome; a worker that died (a crash in a parser) is a dead letter too."""
    try:
        outcome: Article | Discard | Failure = future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool: the page is not lost
        return Failure(
            "extract", link, "extract_worker_error", f"{type(exc).__name__}: {exc}"[:300], True
        )
    return outcome


def _windowed(output: Any, timestamp: Any, window: Any) -> Any:
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(
            output.tag, WindowedValue(output.value, timestamp, (window,))
        )
    return WindowedValue(output, timestamp, (window,))


class ExtractArticles(beam.PTransform):
    """PCollection[FetchedPage] -> ok: Article, failures: Failure, discarded: Discard.

    Args:
        min_text_chars: shorter bodies are discarded as ``too_short``.
        processes: extract in this many worker processes (1: in the Beam worker itself).
    """

    def __init__(self, min_text_chars: int = DEFAULT_MIN_TEXT_CHARS, processes: int = 1) -> None:
        super().__init__()
        self._min_text_chars = min_text_chars
        self._processes = processes

    def expand(self, pages: beam.PCollection) -> Any:
        fn = _ExtractArticlesFn(self._min_text_chars, self._processes)
        return with_stage_outputs(pages, fn, "Extract")
