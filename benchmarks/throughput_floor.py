"""The floor: extraction alone, inside a Beam pipeline run as newsbeam runs it.

What any newsbeam built this way must spend at least, measured rather than argued: the fork
server started before Beam is imported and preloading what newsbeam's preloads
(``transforms.pool_preload``), Beam's DirectRunner in memory with one worker (newsbeam's best
local settings), and the pages, read as gzip bodies from the file ``throughput.py`` writes,
sent to a pool of worker processes in tasks as ``transforms.analyse.AnalysePages`` sends them,
each decoded as newsbeam's fetcher decodes it and extracted as its extract stage calls
trafilatura. No feed, request, enrichment, tagging, clustering or sink. Its ratio to the
extraction ceiling is the most that newsbeam, which does all of those as well, could reach on
this machine with its design.

With ``analyse``, the pool is newsbeam's own stage, ``transforms.analyse.AnalysePages``: the
pages are decoded in the main process into ``FetchedPage`` records (as the fetcher hands them
on) and each is extracted, enriched and tagged (every story kept, as ``--all-stories``), its
``TaggedStory`` sent back. The step from the floor to that one is what enrichment, tagging and
the records to and from the pool cost inside a run; from that one to newsbeam, the feeds,
fetching, clustering, state and sinks.

Run by ``python -m benchmarks.throughput_workers floor``; a module of its own so that Beam
pickles its step and its functions by reference (from ``__main__`` they would be pickled by
value, the pages with them).
"""

from __future__ import annotations

import concurrent.futures
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from benchmarks.throughput_workers import MIN_CHARS, decode, decode_and_extract, load_pages
from transforms.analyse import _PAGES_PER_TASK, _WAITING_PER_PROCESS, AnalysePages
from transforms.analyser import AnalysisSettings
from transforms.common import DISCARDED, FAILURES, OK
from transforms.pool_start import fork_server_context
from transforms.records import FeedEntry, FetchedPage, TaggedStory

_PAGES: list[tuple[str, bytes]] = []  # (URL, gzip body), in the main process only
_LENGTHS: list[int] = []  # the length of each extracted text, gathered by the last step


def _gather(length: int) -> None:
    _LENGTHS.append(length)


class FloorFn(beam.DoFn):
    """Page indices in, extracted lengths out, through a pool fed as ``AnalysePages`` feeds it:
    a page goes at once while a worker may be idle, else in tasks of up to
    ``_PAGES_PER_TASK``, with at most ``_WAITING_PER_PROCESS`` pages waiting per worker."""

    def __init__(self, processes: int) -> None:
        self._processes = processes

    def setup(self) -> None:
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self._processes, mp_context=fork_server_context()
        )

    def teardown(self) -> None:
        self._pool.shutdown(cancel_futures=True)

    def start_bundle(self) -> None:
        self._done: queue.SimpleQueue[concurrent.futures.Future[list[int]]] = queue.SimpleQueue()
        self._pending = self._waiting = 0
        self._batch: list[tuple[str, bytes]] = []

    def _submit(self) -> None:
        future = self._pool.submit(decode_and_extract, self._batch)
        self._pending += 1
        self._waiting += len(self._batch)
        future.add_done_callback(self._done.put)
        self._batch = []

    def _take(self, future: concurrent.futures.Future[list[int]]) -> list[int]:
        lengths = future.result()
        self._pending -= 1
        self._waiting -= len(lengths)
        return lengths

    def process(self, index: int) -> Iterator[int]:
        self._batch.append(_PAGES[index])
        while not self._done.empty():
            yield from self._take(self._done.get())
        if len(self._batch) >= _PAGES_PER_TASK or self._pending < self._processes:
            self._submit()
        while self._waiting + len(self._batch) >= _WAITING_PER_PROCESS * self._processes:
            yield from self._take(self._done.get())

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self._batch:
            self._submit()
        while self._pending:
            for length in self._take(self._done.get()):
                yield WindowedValue(length, MIN_TIMESTAMP, (GlobalWindow(),))


def _fetched(index: int) -> FetchedPage:
    """Page ``index`` as newsbeam's fetcher hands it on: decoded, with its feed entry."""
    url, body = _PAGES[index]
    entry = FeedEntry(feed_url="http://127.0.0.1/feed", link=url, key=url)
    html = decode(url, body)
    return FetchedPage(entry, url, url, 200, "text/html", html, "2026-12-01T00:00:00+00:00")


def _story_length(story: TaggedStory) -> int:
    return len(story.story.article.text)


def _no_text(_outcome: object) -> int:
    """A page that failed or was set aside (too short): no article."""
    return 0


def floor(
    pages_file: Path, processes: int, started: float, analyse: bool = False
) -> dict[str, Any]:
    """Run the floor's pipeline over every page in ``pages_file``.

    Args:
        processes: the pool's worker processes.
        started: ``time.perf_counter()`` when the program started (before this module's
            imports, Beam's among them): ``seconds`` runs from then to the pipeline's end.
        analyse: newsbeam's ``AnalysePages`` (extract, enrich, tag) instead of extraction alone.
    """
    _PAGES[:] = load_pages(pages_file)
    _LENGTHS.clear()
    options = PipelineOptions(flags=[], direct_num_workers=1, direct_running_mode="in_memory")
    with beam.Pipeline(options=options) as pipeline:
        indices = pipeline | beam.Create(range(len(_PAGES)))
        if analyse:
            settings = AnalysisSettings(min_text_chars=MIN_CHARS, keep_irrelevant=True)
            outcomes = indices | beam.Map(_fetched) | AnalysePages(settings, processes)
            lengths = (
                outcomes[OK] | "Length" >> beam.Map(_story_length),
                outcomes[FAILURES] | "Failed" >> beam.Map(_no_text),
                outcomes[DISCARDED] | "Discarded" >> beam.Map(_no_text),
            ) | beam.Flatten()
        else:
            lengths = indices | beam.ParDo(FloorFn(processes))
        lengths | beam.Map(_gather)
    seconds = time.perf_counter() - started
    articles = sum(n >= MIN_CHARS for n in _LENGTHS)
    return {
        "articles": articles,
        "attempted": len(_PAGES),
        "seconds": seconds,
        "results": len(_LENGTHS),  # pages whose result came back: every page, once
    }
