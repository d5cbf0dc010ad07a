"""FetchArticles: fetch the page of every feed entry, concurrently, inside one Beam stage.

Consumes ``FeedEntry`` and produces, for each entry, exactly one of (see
``transforms.common``): ``FetchedPage`` (ok; the HTML decoded to text), a ``Failure``
(stage "fetch", keyed by the entry's link, with ``transforms.http``'s error type), or a
``Discard`` for an expected non-article: ``not_html`` (PDF, image, video) or
``robots_disallowed``. An entry that carries its article's full text (``FeedEntry.content``,
kept by PollFeeds with ``--feed-text-min-chars``) becomes a page without any request
(``page_from_feed``).

How the concurrency works, and what it costs:

* Each DoFn instance owns a thread pool of ``max_in_flight`` threads, created in
  ``setup()``, and uses the process's shared ``HttpClient`` (``transforms.http_clients``:
  the per-host limits hold per process, feed polls included). ``process()`` queues the
  entry and returns at once, emitting whatever has completed meanwhile;
  ``finish_bundle()`` waits for the rest.
  So one bundle has up to ``max_in_flight`` requests in flight, where a plain DoFn would
  have one.
* ``HostScheduler`` (``transforms.threaded_http``) starts queued entries from the host with
  the fewest running (ties round-robin), never more than ``per_host_in_flight`` per host, so
  a feed's 100 consecutive entries of one outlet do not occupy every thread while other
  outlets wait.
* With ``by_host`` (runners with many worker processes, such as Dataflow) the entries are
  keyed by host and fetched in a stateful step: Beam processes one key's elements in one
  place at a time, so all of a host's fetches go through one scheduler and one client, and
  ``per_host_in_flight`` holds for the whole job instead of once per process. A host's
  entries then wait for each other; other hosts' run alongside.
* Results are emitted as ``WindowedValue``s carrying the entry's own timestamp and
  window, so windowing downstream is unaffected by when a fetch completed.
* An entry whose link has the canonical URL (``transforms.urls``) of a fetch queued or running
  in the same bundle (one article listed by several feeds under different GUIDs, or with
  their own tracking parameters) is not fetched again: it waits for that fetch and gets a
  copy of its page (``shared_page``), with its own entry and its own link as the URL
  requested, so that the clustering discards it as today (a
  ``duplicate_url`` of stage ``dedup``) or lets it lead, by the same rule. So does one whose
  page was fetched earlier in the bundle, from the pages the bundle fetched last (at most
  ``RECENT_PAGE_CHARS`` of their text, ~16 MB: two feeds of one outlet listing the same
  article, the second's entries arriving after the first's fetches ended, asked the outlet
  for each such page twice). Only a page is shared: after a failure or a discard each
  waiting entry is fetched on its own, as if none had gone first. Per bundle, no state
  beyond it: a copy whose page has left those recent pages, or that reaches another bundle
  or worker, is fetched again.
* Costs: results leave in completion order, not input order; memory holds up to
  ``max_in_flight`` bodies (each at most ``max_page_bytes``) plus the queued entries
  (at most ``max_buffered``; beyond that ``process()`` waits for fetches to finish);
  and a bundle only ends when its slowest fetch does (bounded by the HTTP deadline). A
  runner that retries a failed bundle fetches its entries again.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import logging
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.coders import BooleanCoder
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from transforms.common import (
    FETCHED,
    PAGES_FROM_FEED,
    PROGRESS,
    counter,
    tagged_output,
    windowed,
    with_stage_outputs,
)
from transforms.http import FetchError, HttpClient, HttpConfig, checked_url
from transforms.outcomes import excerpt
from transforms.records import Discard, Failure, FeedEntry, FetchedPage
from transforms.threaded_http import HostScheduler, ThreadedHttpFn
from transforms.urls import canonicalize_url, host_of, redact_userinfo

STAGE = "fetch"
# The content type of a page made from the feed's own full text (page_from_feed).
FEED_CONTENT_TYPE = "text/html; source=feed"
# Error types that are expected outcomes for a feed entry, not failures.
DISCARD_TYPES = frozenset({"not_html", "robots_disallowed"})
# How much page text a bundle keeps of the pages it fetched last, for later entries of the
# same page (characters: 16 MB of ASCII text, ~160 pages of 100 KB; 64 MB at most).
RECENT_PAGE_CHARS = 16_000_000

Outcome = FetchedPage | Failure | Discard

_log = logging.getLogger(__name__)


def fetch_outcome(client: HttpClient, entry: FeedEntry) -> Outcome:
    """Fetch one entry's page; every way it can end is a return value, never an exception.

    Args:
        client: the HTTP client (thread-safe, shared by the pool).
        entry: the feed entry whose ``link`` is fetched.

    Returns:
        A ``FetchedPage``, a ``Discard`` (not_html, robots_disallowed) or a ``Failure``.
    """
    try:
        result = client.get(entry.link, kind="page")
        return FetchedPage(
            entry=entry,
            url=result.url,
            final_url=result.final_url,
            status=result.status,
            content_type=result.content_type,
            html=result.text(),
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except FetchError as err:
        if err.error_type in DISCARD_TYPES:
            return Discard(STAGE, entry.link, err.error_type, err.message[:300])
        return _failure(entry, err)
    except Exception as err:  # a bug must not stall the stage: dead-letter it, loudly
        _log.exception("unexpected error fetching %s", redact_userinfo(entry.link))
        return Failure.crashed(STAGE, entry.link, "internal_error", err, entry)


def feed_page_outcome(entry: FeedEntry) -> FetchedPage | Failure:
    """The page of an entry whose feed carries its full text (``page_from_feed``), or the
    dead letter its link would have been fetched into: a link that is no http(s) URL with a
    host is refused as the HTTP client refuses it (``bad_scheme``, ``bad_url``; see
    ``transforms.http_answers.checked_url``), nothing being requested either way. Unchecked,
    a ``javascript://host/...`` or ``ftp://`` link became the published story's URL, and a
    ``mailto:`` one an ``enrich_error``.

    Args:
        entry: an entry with ``content``.
    """
    try:
        checked_url(entry.link)
    except FetchError as err:
        return _failure(entry, err)
    return page_from_feed(entry)


def _failure(entry: FeedEntry, err: FetchError) -> Failure:
    """The dead letter of ``entry`` whose link could not be fetched (or would not be)."""
    return Failure(
        STAGE, entry.link, err.error_type, err.message[:300], err.retryable, excerpt(entry)
    )


def shared_page(page: FetchedPage, entry: FeedEntry) -> FetchedPage:
    """The copy of ``page`` given to ``entry``, whose link has the same canonical URL as the
    link fetched: with the entry's own, and its link as the URL requested (``url``; the
    first entry's named another feed's link, with its tracking parameters, as what this
    entry asked for, and so did the ``Article`` extracted from it). The rest is the page's,
    ``final_url`` included: the URL the clustering compares is the same as before.

    Args:
        page: the page fetched for another entry.
        entry: the entry that waited for it, or came after it.
    """
    return dataclasses.replace(page, entry=entry, url=entry.link)


def page_from_feed(entry: FeedEntry) -> FetchedPage:
    """The page of an entry whose feed carries the article's full text: no request is made.

    The feed's HTML content becomes the body of a minimal page under the entry's title, so
    extraction, enrichment and tagging treat it like any fetched page; the entry's link
    stands for the page's URL (there is no redirect to follow or canonical link to read).

    Args:
        entry: an entry with ``content`` (see ``transforms.entry_text.full_text``).
    """
    title = html.escape(entry.title or "")
    body = (
        f"<html><head><title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>{entry.content or ''}</article></body></html>"
    )
    return FetchedPage(
        entry=entry,
        url=entry.link,
        final_url=entry.link,
        status=200,
        content_type=FEED_CONTENT_TYPE,
        html=body,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


class _FetchFn(ThreadedHttpFn):
    """Thin adapter: queue entries on a ``HostScheduler`` running ``fetch_outcome``."""

    thread_name_prefix = "newsbeam-fetch"

    def __init__(self, config: HttpConfig, max_in_flight: int, max_buffered: int) -> None:
        super().__init__(config, max_in_flight)
        self._max_buffered = max_buffered
        self._scheduler: HostScheduler[Any, FeedEntry, Outcome] | None = None
        # By the canonical URL of each fetch queued or running: the entries waiting for it.
        self._waiting: dict[str, list[tuple[Any, FeedEntry]]] = {}
        # By canonical URL, the pages the bundle fetched last, oldest first (RECENT_PAGE_CHARS).
        self._recent: OrderedDict[str, FetchedPage] = OrderedDict()
        self._recent_chars = 0
        self.recent_page_chars = RECENT_PAGE_CHARS

    def start_bundle(self) -> None:
        # A fresh scheduler per bundle: a bundle that failed half-way leaves nothing behind.
        assert self._executor is not None and self._client is not None
        self._scheduler = HostScheduler(
            self._executor,
            functools.partial(fetch_outcome, self._client),
            max_in_flight=self._max_in_flight,
            per_host=self._config.per_host_in_flight,
            spacing=self._client.host_spacing,
        )
        self._waiting = {}
        self._recent = OrderedDict()
        self._recent_chars = 0

    def _take(self, entry: FeedEntry, timestamp: Any, window: Any) -> Iterator[Any]:
        """Queue ``entry``; yield what has completed meanwhile (waiting while too many are held)."""
        assert self._scheduler is not None
        if entry.content is not None:  # the feed carries the full text: nothing to fetch
            outcome = feed_page_outcome(entry)
            if isinstance(outcome, FetchedPage):
                counter(PAGES_FROM_FEED).inc()
                PROGRESS.record(FETCHED)
            yield tagged_output(outcome)
            return
        url = canonicalize_url(entry.link)
        page = self._recent.get(url)
        if page is not None:  # fetched earlier in the bundle: a copy with this entry
            self._recent.move_to_end(url)
            yield windowed(shared_page(page, entry), timestamp, window)
            return
        if url in self._waiting:  # the same page is queued or being fetched: wait for it
            self._waiting[url].append(((timestamp, window), entry))
            return
        self._waiting[url] = []
        self._scheduler.submit(host_of(entry.link), (timestamp, window, url), entry)
        yield from self._outputs(self._scheduler.completed(block=False))
        while self._scheduler.outstanding > self._max_buffered:
            yield from self._outputs(self._scheduler.completed(block=True))

    def finish_bundle(self) -> Iterator[Any]:
        assert self._scheduler is not None
        yield from self._outputs(self._scheduler.drain())

    def _outputs(self, done: Any) -> Iterator[Any]:
        """Each outcome as a WindowedValue with its entry's timestamp and window, on its tag;
        and the entries that waited for the same page: a copy of it each, or (the fetch
        failed or was discarded) their own fetches, queued."""
        assert self._scheduler is not None
        for (timestamp, window, url), outcome in done:
            # Every page asked for, whatever came of it: a run whose pages were mostly not
            # HTML (69,065 of 71,465) said "0 pages fetched" for the 7 minutes it fetched them.
            PROGRESS.record(FETCHED)
            yield windowed(tagged_output(outcome), timestamp, window)
            if url is not None and isinstance(outcome, FetchedPage):
                self._remember(url, outcome)
            waited = self._waiting.pop(url, []) if url is not None else []
            for (when, where), other in waited:
                if isinstance(outcome, FetchedPage):
                    yield windowed(shared_page(outcome, other), when, where)
                else:  # fetched on its own (None: its outcome is shared with no one)
                    self._scheduler.submit(host_of(other.link), (when, where, None), other)

    def _remember(self, url: str, page: FetchedPage) -> None:
        """Keep ``page`` among the recent pages, forgetting the oldest beyond their bound."""
        self._recent[url] = page  # never there already: a URL in it is not fetched again
        self._recent_chars += len(page.html)
        while self._recent_chars > self.recent_page_chars and self._recent:
            _, old = self._recent.popitem(last=False)
            self._recent_chars -= len(old.html)


class _FetchArticlesFn(_FetchFn):
    """Fetches ``FeedEntry`` elements; the per-host limits hold per process."""

    def process(
        self,
        entry: FeedEntry,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        yield from self._take(entry, timestamp, window)


# The per-host step's state, declared and never used: a step with state is one Beam runs key
# by key, each key's elements in one place at a time. Keyed by host, every fetch of a host in
# the whole job then goes through one scheduler, and ``per_host_in_flight`` holds job-wide.
_ONE_HOST_AT_A_TIME = ReadModifyWriteStateSpec("one_host_at_a_time", BooleanCoder())
_ONE_HOST_AT_A_TIME_PARAM = beam.DoFn.StateParam(_ONE_HOST_AT_A_TIME)


class _FetchPerHostFn(_FetchFn):
    """Fetches ``(host, entry)`` pairs in a stateful step: the limits hold job-wide (above)."""

    def process(
        self,
        element: tuple[str, FeedEntry],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
        _state: Any = _ONE_HOST_AT_A_TIME_PARAM,
    ) -> Iterator[Any]:
        yield from self._take(element[1], timestamp, window)


def _keyed_by_host(entry: FeedEntry) -> tuple[str, FeedEntry]:
    return host_of(entry.link), entry


class FetchArticles(beam.PTransform):
    """PCollection[FeedEntry] -> outputs ok: FetchedPage, failures: Failure, discarded: Discard.

    Args:
        config: the HTTP client's settings (per-host limits, caps, deadline, robots).
        max_in_flight: requests in flight per DoFn instance (threads in its pool).
        max_buffered: entries a DoFn instance may hold (queued or in flight) before
            ``process()`` waits for fetches to finish.
        by_host: key the entries by host and fetch in a stateful step, so that one host's
            fetches all run in one place at a time and the per-host limits hold for the whole
            job, not per worker process. For runners with many processes (Dataflow); a local
            run is one process, where the limits already hold for the run.
    """

    def __init__(
        self,
        config: HttpConfig,
        max_in_flight: int = 32,
        max_buffered: int = 4096,
        *,
        by_host: bool = False,
    ) -> None:
        super().__init__()
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._config = config
        self._max_in_flight = max_in_flight
        self._max_buffered = max(max_buffered, max_in_flight)
        self._by_host = by_host

    def expand(self, entries: beam.PCollection) -> Any:
        args = (self._config, self._max_in_flight, self._max_buffered)
        if not self._by_host:
            return with_stage_outputs(entries, _FetchArticlesFn(*args), "Fetch")
        keyed = entries | "KeyByHost" >> beam.Map(_keyed_by_host).with_output_types(tuple[str, Any])
        return with_stage_outputs(keyed, _FetchPerHostFn(*args), "FetchPerHost")
