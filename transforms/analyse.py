"""AnalysePages: extraction, enrichment and tagging of each page in a pool of processes.

On a local run the Beam worker is one Python process, so the CPU-heavy per-page work
(trafilatura, language detection, the tagger) would share one core with fetching, clustering
and Beam itself. ``--extract-processes N`` (N > 1) replaces the three stages
``ExtractArticles -> EnrichArticles -> TagStories`` with this one, which sends each page to a
pool of N worker processes that run the same three cores in a row
(``transforms.analyser.Analyser``: ``extract_outcome``, ``enrich_outcome``, ``tag_outcome``;
that module does not import Beam, so neither do the workers) and return one outcome: the
tagged story, a ``Discard`` or a ``Failure`` naming the stage that produced it. What the sinks
count and write is therefore the same as with the three stages.

Pages are submitted as they arrive, a few to a task while every worker has work (a worker
then runs each stage over them in turn, ``Analyser.analyse_all``), and results are emitted as
their task completes (each as a ``WindowedValue`` with its page's timestamp and window);
``finish_bundle`` submits and waits for the rest, so every page ends in exactly one output. A
worker that dies (a crash in a C parser, the kernel's out-of-memory killer) breaks the whole
pool, as ``concurrent.futures`` does, failing every task it held: a new pool takes their
pages again, one page a task and one such task at a time, so that the page that ends its
worker is found and becomes a retryable dead letter (``extract_worker_error``) alone, while
the others are analysed. (A page sent again on its own while another page breaks the pool
is a dead letter too.)
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from transforms.analyser import AnalysisSettings, analyse_in_worker, start_worker
from transforms.analysis import Outcome
from transforms.common import tagged_output, windowed, with_stage_outputs
from transforms.outcomes import error_message
from transforms.pool_start import fork_server_context
from transforms.records import Failure, FetchedPage

# Pages that may wait for a worker, per worker. While ``process`` blocks on a full pool, the
# fetcher upstream (same thread) starts no new requests, so a small bound would idle the
# fetcher on a slow site; 64 pages of ~100 KB per worker is a few MB.
_WAITING_PER_PROCESS = 64
# Pages sent to a worker in one task while every worker has work: the worker runs each stage
# over them in turn (``Analyser.analyse_all``), which keeps the language model and the tagger
# in the CPU's caches. A page that arrives while a worker may be idle is sent at once.
# Measured (benchmark, 2,000 articles, site at once, alternated rounds): ratio to the
# extraction ceiling 0.55 one page a task, 0.58 with 8, 0.60 with 16 (8 rounds a side); on
# a later night 0.586 with 16, 0.604 with 32 (16 rounds a side).
_PAGES_PER_TASK = 32

_Meta = tuple[str, Any, Any]  # a page's link, timestamp and window


def _start_quietly(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Make ``pool`` start its workers; if it is already broken or shut down, do nothing."""
    with contextlib.suppress(BrokenProcessPool, RuntimeError):
        pool.submit(int)


# What a dead letter of a page sent on its own after its pool broke adds to the error.
ALONE_AGAIN = "; sent again on its own, its pool broke again: this page ends its worker"


def results_of(
    links: list[str], future: concurrent.futures.Future[Any], *, alone: bool = False
) -> list[Outcome]:
    """The worker's outcomes, one per page; a task that failed (a pool broken by a worker
    that died: a crash in a parser) makes each of its pages a dead letter, not lost.

    Args:
        links: the entries' links of the task's pages, in order.
        future: the task, done.
        alone: the task is one page sent again after its pool broke (``ALONE_AGAIN``).
    """
    try:
        outcomes: list[Outcome] = future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool
        message = error_message(exc) + (ALONE_AGAIN if alone else "")
        return [Failure("extract", link, "extract_worker_error", message, True) for link in links]
    return outcomes


@dataclass
class _Task:
    """The pages of one task in the pool, with each page's link, timestamp and window."""

    pages: list[FetchedPage]
    meta: list[_Meta]
    alone: bool = False  # one page sent again on its own after its pool broke


def _broke_its_pool(future: concurrent.futures.Future[Any]) -> bool:
    return not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)


class _AnalysePagesFn(beam.DoFn):
    """Submits pages to the pool, a few per task, and emits outcomes as they complete.

    At most ``_WAITING_PER_PROCESS * processes`` pages wait (in the pool or for a task);
    beyond that ``process`` blocks until a task completes, so a fast fetcher cannot pile up
    pages in memory.
    """

    def __init__(self, settings: AnalysisSettings, processes: int) -> None:
        self._settings = settings
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pending: dict[concurrent.futures.Future[Any], _Task] = {}
        self._batch: list[FetchedPage] = []
        self._batch_meta: list[_Meta] = []
        # Pages of tasks a broken pool failed, to send again one at a time (``_emit``).
        self._again: collections.deque[tuple[FetchedPage, _Meta]] = collections.deque()
        self._waiting = 0  # pages in pending tasks, and waiting to be sent again

    def setup(self) -> None:
        # Each pending future puts itself here when done, so finding the finished ones costs
        # nothing per waiting task (concurrent.futures.wait locks every pending future).
        self._finished: queue.SimpleQueue[concurrent.futures.Future[Any]] = queue.SimpleQueue()
        self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        pool = concurrent.futures.ProcessPoolExecutor(
            self._processes,
            mp_context=fork_server_context(),
            initializer=start_worker,
            initargs=(self._settings,),
        )
        # Start the workers now, in the background: the fork server's imports and warm-up
        # take seconds, which the first fetches can use instead of waiting for them.
        threading.Thread(target=_start_quietly, args=(pool,), daemon=True).start()
        return pool

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def start_bundle(self) -> None:
        # Nothing from an earlier bundle: one that failed half-way (a later step of the fused
        # stage raised) leaves pages here, which a runner reusing this instance must not emit
        # in the next bundle; their futures report to a queue no one reads any more.
        for future in self._pending:
            future.cancel()
        self._pending = {}
        self._batch, self._batch_meta = [], []
        self._again.clear()
        self._waiting = 0
        self._finished = queue.SimpleQueue()

    def process(
        self,
        page: FetchedPage,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        self._batch.append(page)
        self._batch_meta.append((page.entry.link, timestamp, window))
        # Tasks done first: their workers are free, so they must not count as busy below.
        yield from self._emit(self._finished_now())
        # Fewer tasks than workers: one may be idle, so this page goes now, with any others
        # waiting for a task.
        if len(self._batch) >= _PAGES_PER_TASK or len(self._pending) < self._processes:
            self._submit_batch()
        while self._waiting + len(self._batch) >= _WAITING_PER_PROCESS * self._processes:
            yield from self._emit([self._finished.get()])  # the pool is full: wait for a task

    def _finished_now(self) -> list[concurrent.futures.Future[Any]]:
        done = []
        with contextlib.suppress(queue.Empty):
            while True:
                done.append(self._finished.get_nowait())
        return done

    def _submit_batch(self) -> None:
        """Submit the waiting pages as one task; a pool broken by a dead worker is replaced.

        The tasks the broken pool held fail with ``BrokenProcessPool``, and their pages are
        sent again (``_emit``); without a new pool every later page would fail too.
        """
        task = _Task(self._batch, self._batch_meta)
        self._batch, self._batch_meta = [], []
        self._submit(task)

    def _submit(self, task: _Task) -> None:
        assert self._pool is not None
        try:
            future = self._pool.submit(analyse_in_worker, task.pages)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            future = self._pool.submit(analyse_in_worker, task.pages)
        self._pending[future] = task
        self._waiting += len(task.pages)
        future.add_done_callback(self._finished.put)

    def finish_bundle(self) -> Iterator[Any]:
        if self._batch:
            self._submit_batch()
        while self._pending:  # every future finishes: done, failed, or its pool broke
            yield from self._emit([self._finished.get()])

    def _emit(self, futures: list[concurrent.futures.Future[Any]]) -> Iterator[Any]:
        """Emit the outcomes of finished tasks. The pages of a task that a broken pool failed
        are sent again, one a task and one task at a time, so that a page that ends its
        worker takes no other page with it: the rest of its task, and the tasks the pool held
        when it broke, are analysed; it alone is a dead letter (``results_of``)."""
        for future in futures:
            task = self._pending.pop(future)
            self._waiting -= len(task.pages)
            if not task.alone and _broke_its_pool(future):
                self._again.extend(zip(task.pages, task.meta, strict=True))
                self._waiting += len(task.pages)
                continue
            outcomes = results_of([link for link, _, _ in task.meta], future, alone=task.alone)
            for (_, timestamp, window), outcome in zip(task.meta, outcomes, strict=True):
                yield windowed(tagged_output(outcome), timestamp, window)
        if self._again and not any(task.alone for task in self._pending.values()):
            page, meta = self._again.popleft()
            self._waiting -= 1
            self._submit(_Task([page], [meta], alone=True))


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
