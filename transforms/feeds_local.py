"""PollFeeds on the local runner: many feeds at once, what an always-on run keeps in memory.

``transforms.feeds.PollFeeds(concurrent=True)`` runs ``_PollFeedsConcurrentlyFn``: it
consumes ``FeedSpec`` records and produces what the keyed poll (``transforms.feeds._PollFeedsFn``)
produces for them (entries, feed states, feed-level dead letters, discards, and in always-on
runs the keys announced again), from polls made on a thread pool, one request per host at a
time, emitted in the order the feeds came. An always-on run keeps its feeds' validators,
listings, health and 410 Gone times in this process's memory (``_MEMORY``), which
``forget_polls`` drops once the run has ended.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam

from transforms.common import FEEDS_NOT_POLLED_GONE, FEEDS_POLLED, counter, windowed
from transforms.feed_health import FeedHealth
from transforms.feed_polls import (
    Listing,
    gone,
    not_polled,
    observed_poll,
    poll_outputs,
    request_feed,
)
from transforms.http import HttpConfig
from transforms.records import FeedSpec, FeedState
from transforms.threaded_http import HostScheduler, ThreadedHttpFn
from transforms.urls import host_of

# Always-on polls on the local runner (``_PollFeedsConcurrentlyFn``): each run's feed states,
# listings, feed health and when feeds answered 410 Gone, by the token its DoFn was made
# with, in this process's memory, which lasts the run as the local runner's state does. Not
# on the DoFn itself: a runner may make its DoFns anew from their pickled form (the
# DirectRunner, at each bundle).
_Memory = tuple[dict[str, FeedState], dict[str, Listing], FeedHealth, dict[str, float]]
_MEMORY: dict[str, _Memory] = {}
# What ``_PollFeedsConcurrentlyFn._poll`` gives instead of an answer for a poll not made.
_NOT_POLLED = "not polled: the feed answered 410 Gone less than a day ago"


def forget_polls() -> None:
    """Drop what the always-on runs of this process remembered of their feeds (``_MEMORY``),
    once they have ended: a program running one after another (a scheduler, the tests) kept
    every run's feeds until it ended."""
    _MEMORY.clear()


class _PollFeedsConcurrentlyFn(ThreadedHttpFn):
    """Local runs: poll many feeds at once, at most one request per host at a time.

    No keyed state: a one-shot run polls each feed once, with the validators ``known`` from
    the state directory. An always-on run on the local runner (``resight_seconds`` given)
    keeps what ``_PollFeedsFn`` keeps in keyed state (validators, body hash, ``Listing``,
    ``FeedHealth``, when a feed answered 410 Gone) in the process's memory instead
    (``_MEMORY``), which lasts the run as the runner's state does (one process, one worker):
    polled one at a time, a poll took the sum of every feed's time, and a feed whose host
    never answers its whole deadline (30 of 100 feeds with a 5 s deadline: 150 s a poll,
    polled every 20 s). Requests run on a thread pool (``HostScheduler``); answers are parsed
    and emitted on the DoFn's thread in the order the feeds came (so when two feeds list the
    same story, the one listed first wins, as with the one-at-a-time poll), each with its
    spec's timestamp and window. One feed request per host at a time; the feed requests share
    the per-host bound with the page fetches (one ``HttpClient`` per process).
    """

    thread_name_prefix = "newsbeam-poll"

    def __init__(
        self,
        http_config: HttpConfig,
        known: Mapping[str, FeedState],
        full_text_min_chars: int,
        max_in_flight: int,
        resight_seconds: float | None = None,
    ) -> None:
        super().__init__(http_config, max_in_flight)
        self._known = dict(known)
        self._full_text_min_chars = full_text_min_chars
        self._resight_seconds = resight_seconds
        self._memory = uuid.uuid4().hex  # this run's key in _MEMORY
        self._listings: dict[str, Listing] = {}
        self._health = FeedHealth()
        self._gone: dict[str, float] = {}  # feed -> when it answered 410 Gone
        self._scheduler: HostScheduler[Any, tuple[FeedSpec, float], Any] | None = None

    def setup(self) -> None:
        super().setup()
        if self._resight_seconds is not None:
            memory: _Memory = (dict(self._known), {}, FeedHealth(), {})
            self._known, self._listings, self._health, self._gone = _MEMORY.setdefault(
                self._memory, memory
            )

    def start_bundle(self) -> None:
        assert self._executor is not None and self._client is not None
        self._scheduler = HostScheduler(
            self._executor,
            self._poll,
            max_in_flight=self._max_in_flight,
            per_host=1,
            spacing=self._client.host_spacing,
        )
        self._submitted = 0  # feeds submitted in this bundle
        self._emitted = 0  # feeds emitted, in submission order
        self._answered: dict[int, tuple[Any, Any, Any]] = {}  # answers waiting for their turn
        # A feed polled again in the bundle (ticks due together, always-on) waits until its
        # poll before is used, so that it asks with what that one kept: both asked at once,
        # without validators, and the second's entries came again as duplicate_url.
        self._in_turn: set[str] = set()  # feeds with a poll submitted and not yet used
        self._later: dict[str, deque[tuple[Any, tuple[FeedSpec, float]]]] = {}

    def _poll(self, due: tuple[FeedSpec, float]) -> tuple[FeedSpec, FeedState, Any]:
        """One poll on a pool thread (``_NOT_POLLED`` when not made: ``not_polled``). The
        feed's poll before was used (``_answer``) before this one was submitted."""
        assert self._client is not None
        spec, now = due
        before = self._known.get(spec.url) or FeedState(spec.url)
        if not_polled(self._gone.get(spec.url), now):
            return spec, before, _NOT_POLLED
        return spec, before, request_feed(self._client, spec, before)

    def process(
        self,
        spec: FeedSpec,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        assert self._scheduler is not None
        tag = (self._submitted, timestamp, window)
        self._submitted += 1
        due = (spec, float(timestamp))
        if spec.url in self._in_turn:
            self._later.setdefault(spec.url, deque()).append((tag, due))
        else:
            self._in_turn.add(spec.url)
            self._scheduler.submit(host_of(spec.url), tag, due)
        yield from self._outputs(self._scheduler.completed(block=False))

    def finish_bundle(self) -> Iterator[Any]:
        assert self._scheduler is not None
        while self._scheduler.outstanding:  # each feed as soon as the ones before it are in
            yield from self._outputs(self._scheduler.completed(block=True))

    def _outputs(self, done: list[Any]) -> Iterator[Any]:
        """Take in ``done`` (answers just collected); emit every answered feed whose turn has
        come."""
        for (number, timestamp, window), answer in done:
            self._answered[number] = (timestamp, window, answer)
        while self._emitted in self._answered:
            timestamp, window, (spec, before, response) = self._answered.pop(self._emitted)
            self._emitted += 1
            for output in self._answer(spec, before, response, float(timestamp)):
                yield windowed(output, timestamp, window)
            waiting = self._later.get(spec.url)
            if waiting:  # the feed's next poll in the bundle, now that this one is used
                tag, again = waiting.popleft()
                if not waiting:
                    del self._later[spec.url]
                assert self._scheduler is not None
                self._scheduler.submit(host_of(spec.url), tag, again)
            else:
                self._in_turn.discard(spec.url)

    def _answer(
        self, spec: FeedSpec, before: FeedState, response: Any, now: float
    ) -> Iterator[Any]:
        """One answered poll's outputs; an always-on run's also kept in memory."""
        if response is _NOT_POLLED:
            counter(FEEDS_NOT_POLLED_GONE).inc()
            return
        counter(FEEDS_POLLED).inc()
        if self._resight_seconds is None:
            yield from poll_outputs(spec, before, response, self._full_text_min_chars)
            return
        after, listing = yield from observed_poll(
            spec,
            before,
            response,
            self._full_text_min_chars,
            self._health,
            self._listings.get(spec.url),
            now,
            self._resight_seconds,
        )
        if after is not None:
            self._known[spec.url] = after  # read by the next poll's request
        if listing is not None:
            self._listings[spec.url] = listing
        if gone(response):
            self._gone[spec.url] = now
        else:
            self._gone.pop(spec.url, None)
