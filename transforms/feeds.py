"""PollFeeds: fetch each feed (conditionally) and parse it into FeedEntry records.

Consumes ``FeedSpec`` records; produces ``FeedEntry`` records (main output),
``Failure`` dead letters for feeds that cannot be fetched or parsed, or were read only in
part (these are feed-level failures: ``counts_entry=False``, since no entry counted was
lost), ``Discard`` records (``too_many_entries``) for the entries of one poll past
``MAX_FEED_ENTRIES``, and, on the ``STATE`` output, the ``FeedState`` (validators and body
hash) to remember for the next poll. Always-on polls also put ``EntryResighted`` records
on the main output: when a feed has stayed unchanged for ``resight_seconds`` since its
entries were last announced, the keys its last body listed, so that ``DedupEntries`` keeps
remembering them (see ``relisted``).

The plain-Python cores are ``parse_feed()`` in ``transforms.feed_parsing`` (bytes in, entries
or a failure out) and one poll of one feed in ``transforms.feed_polls`` (the request, its
outputs, the keys to announce again).
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from transforms import http_clients, statesize
from transforms.common import (
    DISCARDED,
    FAILURES,
    FEEDS_NOT_POLLED_GONE,
    FEEDS_POLLED,
    OK,
    counter,
    windowed,
)
from transforms.feed_health import FeedHealth
from transforms.feed_polls import (
    STATE,
    Listing,
    gone,
    moved,
    not_polled,
    poll_outputs,
    relisted,
    request_feed,
)
from transforms.http import HttpClient, HttpConfig
from transforms.records import (
    EntryResighted,
    Failure,
    FeedEntry,
    FeedSpec,
    FeedState,
)
from transforms.threaded_http import HostScheduler, ThreadedHttpFn
from transforms.ttl import DEFAULT_TTL_SECONDS
from transforms.urls import host_of

_log = logging.getLogger(__name__)

# The last validators and body hash of each feed, in keyed state (key: the feed URL).
_FEED_STATE = ReadModifyWriteStateSpec("feed_state", beam.coders.PickleCoder())
_FEED_STATE_PARAM = beam.DoFn.StateParam(_FEED_STATE)
# The entry keys the feed's last parsed body listed, and when they were last announced:
# ``(seconds since the epoch, keys)`` (a ``feed_polls.Listing``).
_LISTING = ReadModifyWriteStateSpec("listing", beam.coders.PickleCoder())
_LISTING_PARAM = beam.DoFn.StateParam(_LISTING)
# When the feed last answered 410 Gone (seconds since the epoch; unset: it did not): it is not
# polled again for ``feed_polls.GONE_PAUSE`` (``not_polled``).
_GONE_AT = ReadModifyWriteStateSpec("gone_at", beam.coders.FloatCoder())
_GONE_AT_PARAM = beam.DoFn.StateParam(_GONE_AT)

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


def _observed_poll(
    spec: FeedSpec,
    before: FeedState,
    response: Any,
    full_text_min_chars: int,
    health: FeedHealth,
    listing: Listing | None,
    now: float,
    resight_seconds: float,
) -> Generator[Any, None, tuple[FeedState | None, Listing | None]]:
    """An always-on poll's outputs (``poll_outputs``, then the keys to announce again,
    ``relisted``), its feed's change of health (and a move for good) logged; returns the
    ``FeedState`` to keep (None: keep the one there is) and the ``Listing`` to keep (None:
    likewise)."""
    after: FeedState | None = None
    entries: list[FeedEntry] = []
    failed: Failure | None = None  # the poll's feed-level dead letter
    for output in poll_outputs(spec, before, response, full_text_min_chars):
        if isinstance(output, FeedEntry):
            entries.append(output)
        elif isinstance(output, beam.pvalue.TaggedOutput) and output.tag == STATE:
            after = output.value
        elif isinstance(output, beam.pvalue.TaggedOutput) and output.tag == FAILURES:
            failed = failed or (None if output.value.counts_entry else output.value)
        yield output
    change = health.observe(spec.url, failed)
    if change:
        _log.warning("%s", change)
    moved_to = moved(response)
    told = moved_to and health.moved(spec.url, *moved_to)
    if told:
        _log.warning("%s", told)
    keys, listing = relisted(before, after, entries, listing, now, resight_seconds)
    for key in keys:
        yield EntryResighted(spec.url, key)
    return (after if after != before else None), listing


class _PollFeedsFn(beam.DoFn):
    """Fetch one feed conditionally and emit its entries (thin adapter over parse_feed).

    Keyed by feed URL: the feed's validators live in keyed state, so a streaming job
    sends each feed a conditional request every poll. ``known`` seeds that state from
    the one-shot runs' state directory. One feed at a time. The keys the feed's last body
    listed live in keyed state too: an unchanged feed's are announced again as
    ``EntryResighted`` every ``resight_seconds`` (``relisted``). A feed that starts or stops
    failing is logged as it happens, once (``FeedHealth``). One that answered 410 Gone is not
    polled again for a day (``not_polled``), each poll not made counted.
    """

    def __init__(
        self,
        http_config: HttpConfig,
        known: Mapping[str, FeedState],
        full_text_min_chars: int,
        resight_seconds: float,
    ) -> None:
        self._http_config = http_config
        self._known = dict(known)
        self._full_text_min_chars = full_text_min_chars
        self._resight_seconds = resight_seconds
        self._client: HttpClient | None = None
        self._health = FeedHealth()

    def setup(self) -> None:
        statesize.install()
        self._client = http_clients.acquire(self._http_config)
        self._health = FeedHealth()

    def teardown(self) -> None:
        if self._client is not None:
            http_clients.release(self._client)
            self._client = None

    def process(
        self,
        element: tuple[str, FeedSpec],
        timestamp: Any = beam.DoFn.TimestampParam,
        feed_state: Any = _FEED_STATE_PARAM,
        listing_state: Any = _LISTING_PARAM,
        gone_state: Any = _GONE_AT_PARAM,
    ) -> Iterator[Any]:
        assert self._client is not None
        _, spec = element
        if not_polled(gone_state.read(), float(timestamp)):
            counter(FEEDS_NOT_POLLED_GONE).inc()
            return
        counter(FEEDS_POLLED).inc()
        before = feed_state.read() or self._known.get(spec.url) or FeedState(spec.url)
        response = request_feed(self._client, spec, before)
        after, listing = yield from _observed_poll(
            spec,
            before,
            response,
            self._full_text_min_chars,
            self._health,
            listing_state.read(),
            float(timestamp),
            self._resight_seconds,
        )
        if after is not None:
            feed_state.write(after)
        if listing is not None:
            listing_state.write(listing)
        if gone(response):
            gone_state.write(float(timestamp))
        else:
            gone_state.clear()


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
        after, listing = yield from _observed_poll(
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


class PollFeeds(beam.PTransform):
    """PCollection[FeedSpec] -> outputs ok: FeedEntry (and, polled with keyed state,
    EntryResighted), failures: Failure, state: FeedState.

    Args:
        http_config: the HTTP client's settings.
        known: feed states from earlier one-shot runs (validators, body hash), by feed URL.
        full_text_min_chars: entries whose feed content holds at least this much text carry
            it (``FeedEntry.content``), and FetchArticles does not fetch their page (0: off).
        concurrent: poll many feeds at once, one request per host at a time, without keyed
            state (the local runner: a one-shot run polls each feed once; an always-on run,
            ``streaming``, keeps its feeds' validators in the process's memory); else one
            feed at a time with its validators in keyed state (always-on runs on Dataflow).
        max_in_flight: with ``concurrent``, most feed requests at once.
        resight_seconds: for always-on polls, how often the keys an unchanged feed still
            lists are announced again (``EntryResighted``): less than ``DedupEntries``'
            TTL, so that it does not forget them (``relisted``).
        streaming: with ``concurrent``, each feed is polled again and again (always-on).
    """

    def __init__(
        self,
        http_config: HttpConfig,
        known: Mapping[str, FeedState] | None = None,
        full_text_min_chars: int = 0,
        *,
        concurrent: bool = False,
        max_in_flight: int = 16,
        resight_seconds: float = DEFAULT_TTL_SECONDS / 2,
        streaming: bool = False,
    ):
        super().__init__()
        self._streaming = streaming
        self._http_config = http_config
        self._known = known or {}
        self._full_text_min_chars = full_text_min_chars
        self._concurrent = concurrent
        self._max_in_flight = max_in_flight
        self._resight_seconds = resight_seconds

    def expand(self, specs: beam.PCollection) -> Any:
        outputs = (FAILURES, DISCARDED, STATE)
        if self._concurrent:
            fn = _PollFeedsConcurrentlyFn(
                self._http_config,
                self._known,
                self._full_text_min_chars,
                self._max_in_flight,
                self._resight_seconds if self._streaming else None,
            )
            return specs | "Poll" >> beam.ParDo(fn).with_outputs(*outputs, main=OK)
        return (
            specs
            | "KeyByFeed"
            >> beam.Map(lambda spec: (spec.url, spec)).with_output_types(tuple[str, FeedSpec])
            | "Poll"
            >> beam.ParDo(
                _PollFeedsFn(
                    self._http_config,
                    self._known,
                    self._full_text_min_chars,
                    self._resight_seconds,
                )
            ).with_outputs(*outputs, main=OK)
        )
