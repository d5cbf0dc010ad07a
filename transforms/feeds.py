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
outputs, the keys to announce again). Polls on the local runner (many feeds at once, an
always-on run's feeds kept in memory) are ``transforms.feeds_local``'s; this module keeps the
keyed poll (Dataflow) and the transform.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
)
from transforms.feed_health import FeedHealth
from transforms.feed_polls import (
    STATE,
    gone,
    not_polled,
    observed_poll,
    request_feed,
)
from transforms.feeds_local import _PollFeedsConcurrentlyFn
from transforms.http import HttpClient, HttpConfig
from transforms.records import (
    FeedSpec,
    FeedState,
)
from transforms.ttl import DEFAULT_TTL_SECONDS

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
        after, listing = yield from observed_poll(
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
