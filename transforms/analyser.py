"""The analyser: the per-page cores of ``transforms.analysis`` with their loaded data.

``Analyser`` runs extract, enrich and tag on fetched pages with the outlet catalogue and the
tagger loaded once (``AnalysisSettings`` says which files); ``AnalysePages`` runs it in a pool
of processes, whose workers start with ``start_worker`` and are handed pages through
``analyse_in_worker``; ``preload`` loads what every worker needs once, in the pool's fork
server (``transforms.pool_preload``). Like ``transforms.analysis``, it does not import Beam.
"""

from __future__ import annotations

import contextlib
import gc
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from transforms import loaded
from transforms.analysis import (
    Outcome,
    detect_language,
    enrich_outcome,
    extract_outcome,
    tag_outcome,
    trafilatura_document,
)
from transforms.outlets import OutletCatalogue
from transforms.page_watchdog import PAGE_CPU_SECONDS, PageWatchdog
from transforms.pool_start import end_with_parent, quiet_chatty_libraries
from transforms.records import Article, FetchedPage, Story
from transforms.tagger import Tagger

_T = TypeVar("_T")


@dataclass(frozen=True)
class AnalysisSettings:
    """What the three stages need: the same settings as their own transforms take."""

    min_text_chars: int
    outlets_path: str | None = None
    taxonomy_path: str | None = None
    keep_irrelevant: bool = False
    # a pool worker's limit on one stage's CPU on one page (``transforms.page_watchdog``)
    page_cpu_seconds: float = PAGE_CPU_SECONDS


def _loaded(outlets_path: str | None, taxonomy_path: str | None) -> tuple[OutletCatalogue, Tagger]:
    return loaded.outlets(outlets_path), loaded.tagger(taxonomy_path)


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
    # py3langid unpacks its model (68 MB) into the temporary folder: where it cannot (full),
    # the fork server ended here and the run with an EOFError traceback. Each worker tries
    # again on its first page, a page it fails on being a retryable dead letter.
    with contextlib.suppress(OSError):
        detect_language("A sentence long enough for the language model to be loaded now.")
    trafilatura_document(_WARM_UP_PAGE, "http://warm-up.invalid/story")
    try:
        from htmldate.extractors import get_external_parser

        get_external_parser().get_date_data("posted by the editors on a day in spring")
    except (ImportError, AttributeError):  # htmldate changed: only a warm-up is lost
        pass
    # What is loaded now lives as long as the workers: keep the cyclic garbage collector off
    # it (no full collection walks it in every worker, none writes to its pages after the
    # fork, and a worker's exit does not walk it either).
    gc.freeze()


class Analyser:
    """The three per-page cores with their loaded data (outlet catalogue, tagger)."""

    def __init__(self, settings: AnalysisSettings, watchdog: PageWatchdog | None = None) -> None:
        self.settings = settings
        self.outlets, self.tagger = _loaded(settings.outlets_path, settings.taxonomy_path)
        self.watchdog = watchdog  # a pool worker's: ends the process on a page that never ends

    def _on(self, page: FetchedPage) -> contextlib.AbstractContextManager[None]:
        """The time of one stage on ``page``, watched if this analyser has a watchdog."""
        if self.watchdog is None:
            return contextlib.nullcontext()
        return self.watchdog.page(page.entry.link)

    def analyse(self, page: FetchedPage) -> Outcome:
        """Extract, enrich and tag ``page``; the first stage that stops it gives the outcome."""
        return self.analyse_all([page])[0]

    def analyse_all(self, pages: list[FetchedPage]) -> list[Outcome]:
        """``analyse`` for each page, one stage at a time: every extraction, then every
        enrichment, then every tagging. The outcomes are the same; the CPU's caches keep one
        stage's data (the language model, the tagger's automaton) from one page to the next
        instead of losing them to trafilatura's work on each page in between (measured alone
        on 600 of the benchmark's pages: 10.6-11.0 ms a page one at a time, 10.0-10.2 eight at
        a time, 9.8 thirty-two at a time)."""
        settings = self.settings
        articles = self._each(pages, pages, lambda p: extract_outcome(p, settings.min_text_chars))
        stories = self._each(
            pages,
            articles,
            lambda a: enrich_outcome(a, self.outlets) if isinstance(a, Article) else a,
        )
        return self._each(
            pages,
            stories,
            lambda s: (
                tag_outcome(s, self.tagger, settings.keep_irrelevant) if isinstance(s, Story) else s
            ),
        )

    def _each(
        self, pages: list[FetchedPage], values: list[Any], stage: Callable[[Any], _T]
    ) -> list[_T]:
        """``stage`` of each value, the time of each counted against its page (``_on``)."""
        outcomes = []
        for page, value in zip(pages, values, strict=True):
            with self._on(page):
                outcomes.append(stage(value))
        return outcomes


# The worker process's analyser, built once by the pool's initializer.
_worker_analyser: Analyser | None = None


def start_worker(settings: AnalysisSettings) -> None:
    """The pool's initializer: build this worker process's analyser.

    Ctrl-C in a terminal signals every process of the run; stopping is the main process's
    to decide (``pipelines.monitor``), so a worker ignores it: it printed a traceback of
    its own for each worker, mid-task or waiting, and the run still had to end them.
    """
    global _worker_analyser
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with_parent()  # the fork server: it ends when the newsbeam process does
    # A worker sets up no logging: trafilatura's and htmldate's records end at their own
    # NullHandler, but courlan's (none) would reach stderr bare, through Python's last resort.
    quiet_chatty_libraries()
    _worker_analyser = Analyser(settings, PageWatchdog(settings.page_cpu_seconds))


def analyse_in_worker(pages: list[FetchedPage]) -> list[Outcome]:
    """What the pool runs for each task, a few pages (after ``start_worker``)."""
    assert _worker_analyser is not None, "pool worker started without its initializer"
    return _worker_analyser.analyse_all(pages)
