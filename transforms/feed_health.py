"""Feeds that start or stop failing, told as it happens in always-on runs.

An always-on run polls every feed every interval for hours; its summary, counted when it
stops, is the first place a broken feed showed. ``FeedHealth`` remembers each feed's last
outcome and gives one line when it changes: a feed's first failed poll, a failure of
another kind, and the first good poll after failures. A feed that stays broken is not
repeated at every poll (one that answered 410 Gone is polled again only once a day:
``transforms.feed_polls.GONE_PAUSE``). A feed whose answers begin with a permanent redirect
(301, 308) is told once too: "moved permanently to URL (HTTP 301): update your feed list".

It lives in the memory of the polling step's instance (not in keyed state): it is a log of
changes, not a record. On Beam's local runner an always-on run has one instance, which sees
every poll. On Dataflow a worker runs several instances, and a feed's polls may go to any of
them (or to another worker after a restart or a rebalance): each instance tells the changes
it sees, so a change may be told once by each, and "after N failed poll(s)" counts the
failed polls that instance saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms.outcomes import excerpt
from transforms.records import Failure
from transforms.urls import redact_userinfo


@dataclass
class _Outcome:
    error_type: str | None  # None: the last poll was good
    failed_polls: int  # failed polls in a row


def moved_message(feed: str, to: str, status: int) -> str:
    """What a feed that moved for good says, in the health log and a run's summary."""
    return (
        f"feed {_shown(feed)} moved permanently to {_shown(to)} (HTTP {status}): update your "
        "feed list"
    )


class FeedHealth:
    """Each feed's last poll outcome, and the line to log when it changes; and the feeds
    that moved for good, told once each."""

    def __init__(self) -> None:
        self._last: dict[str, _Outcome] = {}
        self._moved: dict[str, str] = {}  # feed -> where it was told it moved

    def moved(self, url: str, to: str, status: int) -> str | None:
        """Record that a poll of ``url`` was redirected for good to ``to`` (HTTP ``status``)
        and return the line to log: the first time, and if it moves elsewhere again. The
        feed is polled at its listed URL all the same: the feed list is the user's."""
        if self._moved.get(url) == to:
            return None
        self._moved[url] = to
        told = moved_message(url, to, status)
        return f"{told}; said once, its polls follow the redirect meanwhile"

    def observe(self, url: str, failure: Failure | None) -> str | None:
        """Record one poll of ``url`` (``failure``: its feed-level dead letter, or None for a
        good poll; a feed read in part is a failure) and return the line to log, if any."""
        last = self._last.get(url)
        if failure is None:
            if last is None or last.error_type is None:
                self._last[url] = _Outcome(None, 0)
                return None
            self._last[url] = _Outcome(None, 0)
            return f"feed {_shown(url)} answers again, after {last.failed_polls} failed poll(s)"
        if last is not None and last.error_type == failure.error_type:
            last.failed_polls += 1
            return None
        self._last[url] = _Outcome(failure.error_type, 1)
        was = f" (it failed with {last.error_type} before)" if last and last.error_type else ""
        message = _shown(excerpt(failure.message, 1200))  # a not_a_feed's names 3 feeds
        daily = failure.error_type == "http_410"
        again = "only once a day in this run" if daily else "at every interval"
        return (
            f"feed {_shown(url)} failed: {failure.error_type}: {message}{was}; polled again "
            f"{again}, this is said again only when it changes"
        )


def _shown(text: str) -> str:
    """``text`` on one line, without a user name and password in any URL (as dead letters)."""
    return " ".join(redact_userinfo(text).split())
