"""AnalysePages: extraction, enrichment and tagging of each page in a pool of processes.

On a local run the Beam worker is one Python process, so the CPU-heavy per-page work
(trafilatura, language detection, the tagger) would share one core with fetching, clustering
and Beam itself. ``--extract-processes N`` (N > 1) replaces the three stages
``ExtractArticles -> EnrichArticles -> TagStories`` with this one, which sends each page to a
pool of N worker processes that run the same three cores in a row
(``extract_outcome``, ``enrich_outcome``, ``tag_outcome``) and return one outcome: the
tagged story, a ``Discard`` or a ``Failure`` naming the stage that produced it. What the sinks
count and write is therefore the same as with the three stages.

Pages are submitted as they arrive and results emitted as they complete (each as a
``WindowedValue`` with its page's timestamp and window); ``finish_bundle`` waits for the rest,
so every page ends in exactly one output. A worker that dies (a crash in a C parser) turns its
pages into retryable dead letters (``extract_worker_error``) instead of failing the bundle.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import queue
import threading
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue

from transforms.common import tagged_output, with_stage_outputs
from transforms.enrich import detect_language, enrich_outcome
from transforms.extract import extract_outcome, trafilatura_document
from transforms.outlets import OutletCatalogue
from transforms.pool_start import fork_server_context
from transforms.records import (
    Article,
    Discard,
    Failure,
    FetchedPage,
    Story,
    TaggedStory,
    error_message,
)
from transforms.tag import tag_outcome
from transforms.tagger import Tagger

Outcome = TaggedStory | Discard | Failure
# Pages that may wait for a worker, per worker. While ``process`` blocks on a full pool, the
# fetcher upstream (same thread) starts no new requests, so a small bound would idle the
# fetcher on a slow site; 64 pages of ~100 KB per worker is a few MB.
_WAITING_PER_PROCESS = 64


@dataclass(frozen=True)
class AnalysisSettings:
    """What the three stages need: the same settings as their own transforms take."""

    min_text_chars: int
    outlets_path: str | None = None
    taxonomy_path: str | None = None
    keep_irrelevant: bool = False


@functools.lru_cache(maxsize=4)
def _loaded(outlets_path: str | None, taxonomy_path: str | None) -> tuple[OutletCatalogue, Tagger]:
    return OutletCatalogue.load(outlets_path), Tagger.load(taxonomy_path)


_WARM_UP_PAGE = (
    "<html lang='en'><head><title>Warm-up</title></head><body><nav><a href='/'>Home</a></nav>"
    "<article><h1>Warm-up</h1><p class='byline'>By A. Writer, updated 3 hours ago</p>"
    + "".join(
        f"<p>Paragraph {i} of a story posted on a spring day, about a regulator and a platform.</p>"
        for i in range(8)
    )
    + "</article><footer>Contact</footer></body></html>"
)


def preload() -> None:
    """Load what every worker needs once, in the pool's fork server (``transforms.pool_preload``).

    Every worker then forks with it in memory instead of loading it again: the default outlet
    catalogue and taxonomy, the language model, and trafilatura's lazily built parts. The
    costliest of those is dateparser's per-locale tables, which htmldate's date search builds
    on its first hard date (measured: ~1.4 s of CPU per process, more than 100 extractions).
    """
    _loaded(None, None)
    detect_language("A sentence long enough for the language model to be loaded now.")
    trafilatura_document(_WARM_UP_PAGE, "http://warm-up.invalid/story")
    try:
        from htmldate.extractors import get_external_parser

        get_external_parser().get_date_data("posted by the editors on a day in spring")
    except (ImportError, AttributeError):  # htmldate changed: only a warm-up is lost
        pass


class Analyser:
    """The three per-page cores with their loaded data (outlet catalogue, tagger)."""

    def __init__(self, settings: AnalysisSettings) -> None:
        self.settings = settings
        self.outlets, self.tagger = _loaded(settings.outlets_path, settings.taxonomy_path)

    def analyse(self, page: FetchedPage) -> Outcome:
        """Extract, enrich and tag ``page``; the first stage that stops it gives the outcome."""
        article = extract_outcome(page, self.settings.min_text_chars)
        if not isinstance(article, Article):
            return article
        story = enrich_outcome(article, self.outlets)
        if not isinstance(story, Story):
            return story
        return tag_outcome(story, self.tagger, self.settings.keep_irrelevant)


# The worker process's analyser, built once by the pool's initializer.
_worker_analyser: Analyser | None = None


def _start_worker(settings: AnalysisSettings) -> None:
    global _worker_analyser
    _worker_analyser = Analyser(settings)


def _analyse_in_worker(page: FetchedPage) -> Outcome:
    assert _worker_analyser is not None, "pool worker started without its initializer"
    return _worker_analyser.analyse(page)


def _start_quietly(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Make ``pool`` start its workers; if it is already broken or shut down, do nothing."""
    with contextlib.suppress(BrokenProcessPool, RuntimeError):
        pool.submit(int)


def result_of(link: str, future: concurrent.futures.Future[Any]) -> Outcome:
    """The worker's outcome; a worker that died (a crash in a parser) is a dead letter too."""
    try:
        outcome: Outcome = future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool: the page is not lost
        return Failure("extract", link, "extract_worker_error", error_message(exc), True)
    return outcome


class _AnalysePagesFn(beam.DoFn):
    """Submits pages to the pool and emits outcomes as they complete.

    At most ``_WAITING_PER_PROCESS * processes`` pages wait in the pool; beyond that
    ``process`` blocks until one completes, so a fast fetcher cannot pile up pages in memory.
    """

    def __init__(self, settings: AnalysisSettings, processes: int) -> None:
        self._settings = settings
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pending: dict[concurrent.futures.Future[Any], tuple[str, Any, Any]] = {}

    def setup(self) -> None:
        # Each pending future puts itself here when done, so finding the finished ones costs
        # nothing per waiting page (concurrent.futures.wait locks every pending future).
        self._finished: queue.SimpleQueue[concurrent.futures.Future[Any]] = queue.SimpleQueue()
        self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        pool = concurrent.futures.ProcessPoolExecutor(
            self._processes,
            mp_context=fork_server_context(),
            initializer=_start_worker,
            initargs=(self._settings,),
        )
        # Start the workers now, in the background: the fork server's imports and warm-up
        # take seconds, which the first fetches can use instead of waiting for them.
        threading.Thread(target=_start_quietly, args=(pool,), daemon=True).start()
        return pool

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def process(
        self,
        page: FetchedPage,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        future = self._submit(page)
        self._pending[future] = (page.entry.link, timestamp, window)
        future.add_done_callback(self._finished.put)
        if len(self._pending) >= _WAITING_PER_PROCESS * self._processes:
            yield from self._emit([self._finished.get()])  # the pool is full: wait for one
        yield from self._emit(self._finished_now())

    def _finished_now(self) -> list[concurrent.futures.Future[Any]]:
        done = []
        with contextlib.suppress(queue.Empty):
            while True:
                done.append(self._finished.get_nowait())
        return done

    def _submit(self, page: FetchedPage) -> concurrent.futures.Future[Any]:
        """Submit ``page``; a pool broken by a dead worker is replaced by a fresh one.

        The pages the broken pool held fail with ``BrokenProcessPool`` and become dead
        letters (``result_of``); without a new pool every later page would fail too.
        """
        assert self._pool is not None
        try:
            return self._pool.submit(_analyse_in_worker, page)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(_analyse_in_worker, page)

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:  # every future finishes: done, failed, or its pool broke
            yield from self._emit([self._finished.get()])

    def _emit(self, futures: list[concurrent.futures.Future[Any]]) -> Iterator[Any]:
        for future in futures:
            link, timestamp, window = self._pending.pop(future)
            yield _windowed(tagged_output(result_of(link, future)), timestamp, window)


def _windowed(output: Any, timestamp: Any, window: Any) -> Any:
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(
            output.tag, WindowedValue(output.value, timestamp, (window,))
        )
    return WindowedValue(output, timestamp, (window,))


class AnalysePages(beam.PTransform):
    """PCollection[FetchedPage] -> ok: TaggedStory, failures: Failure, discarded: Discard.

    Args:
        settings: the settings of the extract, enrich and tag stages.
        processes: the number of worker processes (at least 2; with one, use the stages).
    """

    def __init__(self, settings: AnalysisSettings, processes: int) -> None:
        super().__init__()
        if processes < 2:
            raise ValueError("AnalysePages needs at least 2 processes")
        self._settings = settings
        self._processes = processes

    def expand(self, pages: beam.PCollection) -> Any:
        return with_stage_outputs(
            pages, _AnalysePagesFn(self._settings, self._processes), "Analyse"
        )
