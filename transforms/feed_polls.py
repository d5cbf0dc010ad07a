"""One poll of one feed, in plain Python: the request, what it gives, what to announce again.

``transforms.feeds`` runs these for ``PollFeeds``, whichever way it polls (keyed state, or many
feeds at once on the local runner). ``request_feed`` makes the conditional request (its answer,
or the ``FetchError`` it raised); ``poll_outputs`` turns that answer into the poll's outputs
(entries, the ``FeedState`` to keep on ``STATE``, feed-level dead letters, discards), parsing
the body with ``transforms.feed_parsing.parse_feed``; ``relisted`` says which keys an
always-on run announces again for a feed that stays unchanged, and ``observed_poll`` gives an
always-on poll's outputs with those keys, its feed's change of health logged.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Generator, Iterator
from typing import Any

import apache_beam as beam

from transforms.common import (
    DISCARDED,
    ENTRIES,
    FAILURES,
    FEEDS_GONE,
    FEEDS_MOVED,
    FEEDS_NOT_MODIFIED,
    FEEDS_POLLED,
    PROGRESS,
    counter,
    note,
)
from transforms.feed_health import FeedHealth
from transforms.feed_links import why_not_a_link
from transforms.feed_parsing import TOO_MANY_ENTRIES, ParsedFeed, body_sha256, parse_feed
from transforms.http import FetchError, HttpClient, HttpResult
from transforms.outcomes import excerpt
from transforms.records import Discard, EntryResighted, Failure, FeedEntry, FeedSpec, FeedState

STATE = "state"  # the output tag of the FeedState to keep

_log = logging.getLogger(__name__)

# The entry keys a feed's last parsed body listed, and when they were last announced:
# ``(seconds since the epoch, keys)``.
Listing = tuple[float, tuple[str, ...]]


def relisted(
    before: FeedState,
    after: FeedState | None,
    entries: list[FeedEntry],
    listing: Listing | None,
    now: float,
    every: float,
) -> tuple[tuple[str, ...], Listing | None]:
    """What one poll of a feed says about the entries it lists, for an always-on run.

    An unchanged feed (not modified, or the same body) emits no entries, so ``DedupEntries``
    would not see them again and, a TTL after their last sighting, would forget them; when
    the feed next changed, every entry it had kept listing would pass as new and be fetched
    and published again. So the keys of the last body are announced again as resighted
    once ``every`` seconds (less than the TTL) of unchanged polls have passed.

    Args:
        before: the feed's state before this poll.
        after: the state this poll gives (``STATE`` output), or None after a failed poll.
        entries: the entries this poll emitted.
        listing: the feed's ``Listing`` so far, or None.
        now: this poll's time, seconds since the epoch.
        every: seconds between two announcements of an unchanged feed's keys.

    Returns:
        The keys to announce as resighted now, and the ``Listing`` to keep (None: keep the
        one there is). A failed poll says nothing of the entries; a new body lists its own.
    """
    if after is None:
        return (), None
    if after.body_sha256 != before.body_sha256:
        return (), (now, tuple(dict.fromkeys(entry.key for entry in entries)))
    if listing is None or now - listing[0] < every:
        return (), None
    return listing[1], (now, listing[1])


# How long an always-on run leaves a feed that answered 410 Gone before asking it again:
# the server says the feed is gone for good (feed readers stop polling it), but one asked
# again once a day that answers again is polled at every interval again.
GONE_PAUSE = 24 * 3600.0
GONE_MESSAGE = "gone (HTTP 410): remove it from your feed list"


def gone(response: Any) -> bool:
    """Whether a poll's answer (``request_feed``'s) is 410 Gone."""
    return isinstance(response, FetchError) and response.status == 410


def not_polled(gone_at: float | None, now: float) -> bool:
    """Whether an always-on poll due at ``now`` of a feed that last answered 410 Gone at
    ``gone_at`` (None: it did not) is not made: within ``GONE_PAUSE`` of that answer."""
    return gone_at is not None and now - gone_at < GONE_PAUSE


def moved(response: Any) -> tuple[str, int] | None:
    """Where a poll's answer (``request_feed``'s) says the feed moved for good, and the HTTP
    status that said so (the permanent redirects the answer began with, also when the poll
    then failed where they led); None if it did not."""
    if isinstance(response, HttpResult) and response.moved_to and response.moved_status:
        return response.moved_to, response.moved_status
    if isinstance(response, FetchError) and response.moved is not None:
        return response.moved[1], response.moved[0]
    return None


def moved_note(feed: str, to: str, status: int) -> str:
    """A moved feed as the ``FEEDS_MOVED`` string set holds it; ``read_moved_note`` reads it."""
    return json.dumps([feed, to, status])


def read_moved_note(text: str) -> tuple[str, str, int]:
    """``(feed, to, status)`` from a ``moved_note``."""
    feed, to, status = json.loads(text)
    return str(feed), str(to), int(status)


def request_feed(client: HttpClient, spec: FeedSpec, before: FeedState) -> Any:
    """One conditional request for ``spec``: the response, or the ``FetchError`` it raised
    (any other exception, a bug, becomes an ``internal_error`` one: it must not end the run)."""
    try:
        return client.get(
            spec.url, kind="feed", etag=before.etag, last_modified=before.last_modified
        )
    except FetchError as exc:
        return exc
    except Exception as exc:  # dead-letter the feed, loudly; the other feeds go on
        _log.exception("unexpected error polling %s", spec.url)
        return FetchError("internal_error", f"{type(exc).__name__}: {exc}")
    finally:
        # On the progress line as it is answered: polling thousands of feeds, or a host
        # whose feeds wait their turn, took minutes with no line at all.
        PROGRESS.record(FEEDS_POLLED)


def poll_outputs(
    spec: FeedSpec, before: FeedState, response: Any, full_text_min_chars: int
) -> Iterator[Any]:
    """What one poll gives, from ``request_feed``'s answer: a feed-level dead letter; only the
    ``FeedState`` on ``STATE`` (not modified, or the same body again: the one-shot runs' state
    directory tells an unchanged feed by its unchanged body hash, and keeps its entries
    remembered); a feed-level dead letter and no state for a body that does not parse; a
    malformed body read in part (``ParsedFeed.partial``): its feed-level dead letter
    (``malformed_feed_recovered``, retryable) and the entries, but no state, so that the
    next poll reads the feed in full again; or the new ``FeedState`` on ``STATE`` followed
    by the entries (and a dead letter for each entry without a link). Entries past the limit
    of one poll (``MAX_FEED_ENTRIES``, the oldest) are discarded as ``too_many_entries``,
    not fetched; each counts as an entry. A feed whose answer began with permanent redirects
    (``moved``) is noted for the summary (``FEEDS_MOVED``), its poll going on as any other
    (a failure where they led included); one that answered 410 Gone too (``FEEDS_GONE``),
    its dead letter saying to remove it."""
    moved_to = moved(response)
    if moved_to is not None:  # named in the run's summary (a string set: once per feed)
        note(FEEDS_MOVED).add(moved_note(spec.url, *moved_to))
    if isinstance(response, FetchError):
        if gone(response):
            note(FEEDS_GONE).add(spec.url)
        yield beam.pvalue.TaggedOutput(
            FAILURES,
            Failure(
                "poll",
                spec.url,
                response.error_type,
                GONE_MESSAGE if gone(response) else str(response.message)[:300],
                response.retryable,
                "",
                counts_entry=False,
            ),
        )
        return
    if response.not_modified:
        counter(FEEDS_NOT_MODIFIED).inc()
        # the validators a 304 names replace those kept (RFC 9111 section 4.3.4)
        kept = dataclasses.replace(before, etag=response.etag, last_modified=response.last_modified)
        yield beam.pvalue.TaggedOutput(STATE, kept)
        return
    after = FeedState(spec.url, response.etag, response.last_modified, body_sha256(response.body))
    if before.body_sha256 == after.body_sha256:
        counter(FEEDS_NOT_MODIFIED).inc()
        yield beam.pvalue.TaggedOutput(STATE, after)
        return
    try:
        parsed = parse_feed(
            response.body,
            spec,
            final_url=response.final_url,
            content_type=response.headers.get("content-type"),
            full_text_min_chars=full_text_min_chars,
        )
    except Exception as exc:  # a parser bug: this feed's dead letter, not a failed bundle
        _log.exception("unexpected error parsing %s", spec.url)
        crashed = Failure.crashed("poll", spec.url, "internal_error", exc, response.body)
        parsed = ParsedFeed((), dataclasses.replace(crashed, counts_entry=False))
    if parsed.failure is not None:
        # No state kept: the same broken body next time is polled and fails again, rather
        # than passing as "not modified" (a feed that stays broken stays in the summary).
        yield beam.pvalue.TaggedOutput(FAILURES, parsed.failure)
        return
    if parsed.partial is not None:
        # Entries after the fault are lost: no state kept, so that the next poll, even of the
        # same body, parses the feed again (the entries handled now are then seen ones).
        yield beam.pvalue.TaggedOutput(FAILURES, parsed.partial)
    else:
        yield beam.pvalue.TaggedOutput(STATE, after)
    entries = counter(ENTRIES)
    for entry in parsed.entries:
        entries.inc()
        if entry.link:
            yield entry
        else:
            yield beam.pvalue.TaggedOutput(FAILURES, _without_link(spec.url, entry))
    if parsed.over_limit:
        listed = len(parsed.entries) + len(parsed.over_limit)
        detail = (
            f"{spec.url} lists {listed} entries; only its {len(parsed.entries)} newest are "
            "taken (the entry limit of one poll of one feed)"
        )
        for entry in parsed.over_limit:
            entries.inc()
            yield beam.pvalue.TaggedOutput(
                DISCARDED, Discard("poll", entry.link or entry.key, TOO_MANY_ENTRIES, detail)
            )


def _without_link(feed_url: str, entry: FeedEntry) -> Failure:
    """The ``entry_without_link`` dead letter of ``entry``. Its message names the feed (the
    one to fix), the entry's title, if any, and the GUID the feed wrote, if any, with why it
    did not stand in for the link: what a user looks for in the feed."""
    title = f", title {excerpt(entry.title, 80)!r}" if entry.title else ""
    guid = entry.unused_guid
    unused = f", GUID {excerpt(guid, 80)!r} not used: {why_not_a_link(guid)}" if guid else ""
    return Failure(
        "poll",
        entry.key,
        "entry_without_link",
        f"feed entry has no link to fetch (feed {feed_url}{title}{unused})",
        False,
        excerpt(entry.title or ""),
    )


def observed_poll(
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
