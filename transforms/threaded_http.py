"""Requests on a thread pool inside a Beam stage: ``HostScheduler`` and ``ThreadedHttpFn``.

``FetchArticles`` (``transforms.fetch``) and, in one-shot runs, ``PollFeeds``
(``transforms.feeds``) queue their requests on a ``HostScheduler``, which starts them on the
DoFn's thread pool fairly across hosts, never more than a total and a per-host limit at a
time, and hands back the results in completion order. ``ThreadedHttpFn`` is the base of those
DoFns: it owns the pool and the process's shared ``HttpClient``.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import apache_beam as beam

from transforms import http_clients
from transforms.http import HttpClient, HttpConfig

Tag = TypeVar("Tag")
Item = TypeVar("Item")
Result = TypeVar("Result")


class HostScheduler(Generic[Tag, Item, Result]):
    """Runs ``fn(item)`` on an executor, bounded in total and per host, fair across hosts.

    Single-threaded by design: only the owner calls its methods; worker threads only put
    finished futures on a queue. Results come back in completion order with their tag.

    A host whose request starts are kept apart (``spacing``: ``--per-host-interval``, its
    robots.txt's Crawl-delay) gets a thread only when its next request is due, so that its
    waits are spent here, not by threads sleeping in ``HostLimiter.slot``: a few hosts with a
    long Crawl-delay held every thread of the pool, each asleep, while other hosts' requests
    queued behind them. A host whose spacing is not known yet (its robots.txt not fetched)
    runs one item at a time until it is: its second page's thread slept out the Crawl-delay
    its first page's robots.txt told.

    Args:
        executor: where ``fn`` runs (its thread count should be at least ``max_in_flight``).
        fn: the work; it should not raise (an exception is re-raised by ``completed``).
        max_in_flight: most items running at once.
        per_host: most items of one host running at once.
        spacing: ``host -> (interval, wait)``: the seconds kept between the starts of the
            host's requests (0: none; None: not known yet, one item at a time) and the wait
            until its next may start, as the ``HostLimiter`` that ``fn``'s requests go through
            says (``HttpClient.host_spacing``); None: no host is spaced.
        clock: monotonic clock; ``sleep``: how to wait (both injectable for tests).
    """

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        fn: Callable[[Item], Result],
        *,
        max_in_flight: int,
        per_host: int,
        spacing: Callable[[str], tuple[float | None, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._executor = executor
        self._fn = fn
        self._max = max_in_flight
        self._per_host = per_host
        self._pending: dict[str, deque[tuple[Tag, Item]]] = {}
        # Each queued host's place in the round (smaller goes first): given when it is queued
        # and again, at the end, each time one of its items starts while more wait.
        self._place: dict[str, int] = {}
        self._places = itertools.count()
        # The hosts that may start one more item, a heap of (place, host) for each number of
        # items they have running; a pair whose host has since moved on is dropped when it
        # comes up. Picking a host costs a logarithm of the hosts queued, not a pass over
        # them: with 10,000 feeds on as many hosts that pass took 8.8 s of CPU.
        self._ready: list[list[tuple[int, str]]] = [[] for _ in range(per_host)]
        self._spacing = spacing
        self._clock = clock
        self._sleep = sleep
        # The earliest time each spaced host's next item may start, as this scheduler gave
        # them out (the limiter learns of a start only when the thread reaches it), and the
        # hosts put aside until then, a heap of (due, host): they are offered again when due.
        self._due: dict[str, float] = {}
        self._waiting: list[tuple[float, str]] = []
        self._queued = 0
        self._running: dict[str, int] = {}
        self._running_total = 0
        self._done: queue.SimpleQueue[tuple[str, Tag, Future[Result]]] = queue.SimpleQueue()

    @property
    def outstanding(self) -> int:
        """Items queued or running, whose results have not been returned yet."""
        return self._queued + self._running_total

    def submit(self, host: str, tag: Tag, item: Item) -> None:
        """Queue ``item`` (of ``host``), starting it at once if limits allow."""
        if host not in self._pending:  # queued last in the round
            self._pending[host] = deque()
            self._place[host] = next(self._places)
            self._offer(host)
        self._pending[host].append((tag, item))
        self._queued += 1
        self._dispatch()

    def completed(self, *, block: bool) -> list[tuple[Tag, Result]]:
        """Results finished so far; with ``block``, wait for at least one if any is due.

        Args:
            block: wait until at least one result is available (unless none is outstanding).

        Returns:
            ``(tag, result)`` pairs in completion order.
        """
        results = self._collect(None)
        while block and not results and self.outstanding:
            wait = self._dispatch()  # None, or the seconds until a queued spaced host is due
            if self._running_total:
                results = self._collect(wait if wait is not None else -1.0)
            elif wait is not None:  # nothing runs: the queued items wait for their hosts' turn
                self._sleep(wait)
            else:  # every queued host is offered or put aside: a hang, were it not
                raise RuntimeError(f"{self._queued} item(s) queued that no host may start")
        return results

    def _collect(self, wait: float | None) -> list[tuple[Tag, Result]]:
        """What has finished, having waited up to ``wait`` seconds for one (None: not at all;
        negative: as long as it takes); then the queued items that may start, started."""
        finished = []
        if wait is not None:
            with contextlib.suppress(queue.Empty):
                finished.append(self._done.get(timeout=wait if wait >= 0 else None))
        while True:
            try:
                finished.append(self._done.get_nowait())
            except queue.Empty:
                break
        results = []
        for host, tag, future in finished:
            self._running_total -= 1
            self._running[host] -= 1
            if not self._running[host]:
                del self._running[host]
            self._offer(host)
            results.append((tag, future.result()))
        self._dispatch()
        return results

    def drain(self) -> Iterator[tuple[Tag, Result]]:
        """Every outstanding result, waiting for each as needed."""
        while self.outstanding:
            yield from self.completed(block=True)

    def _dispatch(self) -> float | None:
        """Start what the limits allow; return how long until a queued host that waits for
        its spacing alone is due (None if none does)."""
        self._wake()
        while self._running_total < self._max:
            host = self._next_host()
            if host is None:  # nothing queued, or every queued host is at its limit or waits
                return self._next_wake()
            if self._spacing is not None:
                now = self._clock()
                interval, wait = self._spacing(host)
                if interval is None and host in self._running:
                    continue  # the item running learns its spacing; offered again as it ends
                # Its own turn (this scheduler's last start), or the limiter's: a request
                # outside this scheduler (another stage's) may have gone first.
                wait = max(wait, self._due.get(host, now) - now)
                if wait > 0:
                    self._due[host] = now + wait
                    heapq.heappush(self._waiting, (now + wait, host))
                    continue
                if interval:
                    self._due[host] = now + interval
                else:
                    self._due.pop(host, None)
            items = self._pending[host]
            tag, item = items.popleft()
            if items:
                self._place[host] = next(self._places)  # round-robin: this host goes last
            else:
                del self._pending[host]
                del self._place[host]
            self._queued -= 1
            self._running[host] = self._running.get(host, 0) + 1
            self._running_total += 1
            self._offer(host)
            future = self._executor.submit(self._fn, item)
            future.add_done_callback(functools.partial(self._finished, host, tag))
        return None  # at the total limit: a completion comes first

    def _wake(self) -> None:
        """Offer again the hosts put aside whose turn has come."""
        now = self._clock()
        while self._waiting and self._waiting[0][0] <= now:
            _due, host = heapq.heappop(self._waiting)
            self._offer(host)

    def _next_wake(self) -> float | None:
        """Seconds until the first host put aside is due, or None if none is."""
        while self._waiting and self._waiting[0][1] not in self._pending:
            heapq.heappop(self._waiting)  # nothing of it left queued
        if not self._waiting:
            return None
        return max(0.0, self._waiting[0][0] - self._clock())

    def _offer(self, host: str) -> None:
        """Make ``host`` a candidate at its number of running items, if it has items queued
        and may start one more."""
        running = self._running.get(host, 0)
        if host in self._pending and running < self._per_host:
            heapq.heappush(self._ready[running], (self._place[host], host))

    def _next_host(self) -> str | None:
        """The host with the fewest running that may start one more, the first in the round
        among equals; None if there is none."""
        for running, heap in enumerate(self._ready):
            while heap:
                place, host = heapq.heappop(heap)
                if self._place.get(host) == place and self._running.get(host, 0) == running:
                    return host
        return None

    def _finished(self, host: str, tag: Tag, future: Future[Result]) -> None:
        self._done.put((host, tag, future))  # runs on a worker thread: only the queue is shared


class ThreadedHttpFn(beam.DoFn):
    """Base of the DoFns whose requests run on a thread pool (FetchArticles, and PollFeeds in
    one-shot runs): per instance, ``max_in_flight`` threads, made in ``setup`` and closed in
    ``teardown``, and the process's shared ``HttpClient`` (``transforms.http_clients``)."""

    thread_name_prefix = "newsbeam-http"

    def __init__(self, config: HttpConfig, max_in_flight: int) -> None:
        self._config = config
        self._max_in_flight = max_in_flight
        self._client: HttpClient | None = None
        self._executor: ThreadPoolExecutor | None = None

    def setup(self) -> None:
        self._client = http_clients.acquire(self._config)
        self._executor = ThreadPoolExecutor(self._max_in_flight, self.thread_name_prefix)

    def teardown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._client is not None:
            http_clients.release(self._client)
            self._client = None
