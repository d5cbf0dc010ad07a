"""robots.txt rules per origin, fetched once, cached with a TTL, parsed by protego.

Consumes page URLs and answers whether newsbeam's user-agent token may fetch them. The
bytes of each ``scheme://host:port/robots.txt`` come from a ``fetch`` callable supplied
by the HTTP client, which also decides what a failed fetch means:

* it returns the body: the rules in it apply (for ``ttl`` seconds);
* it returns ``None``: there are no rules, everything is allowed (RFC 9309: a robots.txt
  that answers 4xx is "unavailable");
* it raises: the exception is cached for ``error_ttl`` seconds (or the ``retry_after``
  seconds it carries, if fewer) and re-raised to every caller in that time (RFC 9309: an
  unreachable robots.txt means "disallow all", so the client raises a retryable error rather
  than fetching the page).

Concurrent callers for the same origin wait for one fetch instead of each fetching. An
origin's entry (and its lock) is dropped once expired, when another origin's is stored: an
always-on job meets new origins for as long as it runs. The bodies of the origins kept add up
to at most ``max_bytes``, the least recently used going first: a parsed robots.txt takes some
60 times its size in memory, and feeds that list pages on many origins, each with a robots.txt
at the size cap, grew a process by ~30 MB an origin for an hour.

It also answers how far apart the origin asks our requests to start (``delay``): its
``Crawl-delay``, or ``Request-rate``'s seconds per request, whichever is longer (at most
``max_delay``), read from the robots.txt already fetched; None while that is not known.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from transforms.urls import host_of

RobotsFetch = Callable[[str], bytes | None]


@dataclass(frozen=True)
class _Entry:
    expires_at: float
    rules: Protego | None = None  # None: everything allowed
    error: Exception | None = None
    size: int = 0  # the robots.txt's length in bytes
    delay: float = 0.0  # seconds between two request starts it asks for (Crawl-delay, ...)


class RobotsCache:
    """Thread-safe cache of parsed robots.txt files, one per origin.

    Args:
        fetch: gets the robots.txt at a URL (see the module docstring for its contract).
        user_agent: the product token robots.txt groups are matched against ("newsbeam").
        ttl: seconds a fetched robots.txt is trusted.
        error_ttl: seconds a failed fetch is remembered before trying again.
        max_bytes: most robots.txt bytes kept in all (the origin just fetched is always kept).
        max_delay: the longest ``delay`` honoured (a longer one gives this).
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        fetch: RobotsFetch,
        *,
        user_agent: str,
        ttl: float = 3600.0,
        error_ttl: float = 60.0,
        max_bytes: int = 8 * 1024 * 1024,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_delay = max_delay
        self._user_agent = user_agent
        self._ttl = ttl
        self._error_ttl = min(error_ttl, ttl)
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._origin_locks: dict[str, threading.Lock] = {}
        self._hosts: dict[str, int] = {}  # host name: how many of its origins have an entry

    def __len__(self) -> int:
        """How many origins' answers are remembered (expired ones included until dropped)."""
        with self._lock:
            return len(self._entries)

    def knows(self, host: str) -> bool:
        """Whether a robots.txt of ``host`` (any origin, fresh or not) was fetched and is
        kept: what ``delay`` says of its pages is then known, or was, and is kept by the
        ``HostLimiter`` from the requests it spaced.

        Args:
            host: a lower-case host name, as ``transforms.urls.host_of`` gives it.
        """
        with self._lock:
            return host in self._hosts

    def allowed(self, url: str) -> bool:
        """Whether robots.txt lets our user agent fetch ``url``.

        Args:
            url: an absolute http(s) URL.

        Returns:
            True when allowed (including when the origin has no robots.txt).

        Raises:
            Exception: whatever ``fetch`` raised for this origin's robots.txt, while cached.
        """
        entry = self._entry(_origin(url))
        if entry.error is not None:
            # A copy, without the traceback: raised again, one exception object gathers each
            # raise's frames in its traceback (2,000 after 1,000 calls), held with their
            # locals for as long as the error is remembered; and threads would share it.
            raise _fresh(entry.error)
        if entry.rules is None:
            return True
        return bool(entry.rules.can_fetch(url, self._user_agent))

    def delay(self, url: str) -> float | None:
        """Seconds ``url``'s origin asks between the starts of two of our requests: the
        longer of its ``Crawl-delay`` and ``Request-rate`` (seconds over requests) for our
        user agent, at most ``max_delay``; 0 when it gives none or has no rules; None when
        that is not known: not fetched yet, expired, or failed (this never fetches it).

        Args:
            url: an absolute http(s) URL.
        """
        entry = self._fresh(_origin(url))
        return entry.delay if entry is not None and entry.error is None else None

    def _entry(self, origin: str) -> _Entry:
        while True:
            entry = self._fresh(origin)
            if entry is not None:
                return entry
            with self._lock:
                origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
            with origin_lock:
                with self._lock:
                    if self._origin_locks.get(origin) is not origin_lock:
                        continue  # forgotten while this thread waited for it: start again
                entry = self._fresh(origin)  # another thread may have fetched it meanwhile
                if entry is None:
                    entry = self._load(origin)
                    with self._lock:
                        expired = self._entries.pop(origin, None)
                        self._bytes += entry.size - (expired.size if expired else 0)
                        if expired is None:
                            host = host_of(origin)
                            self._hosts[host] = self._hosts.get(host, 0) + 1
                        self._entries[origin] = entry  # the most recently used: last
                        self._drop_expired(keep=origin)
                        self._drop_least_used()
                return entry

    def _forget(self, origin: str) -> None:
        """Drop ``origin``'s entry, and its lock unless a thread is fetching its robots.txt
        under it (called holding ``self._lock``): dropped then, a caller meanwhile would make
        a new lock and fetch the same robots.txt again, at the same time."""
        entry = self._entries.pop(origin, None)
        if entry is not None:
            self._bytes -= entry.size
            host = host_of(origin)
            if self._hosts[host] > 1:
                self._hosts[host] -= 1
            else:
                del self._hosts[host]
        origin_lock = self._origin_locks.get(origin)
        if origin_lock is not None and not origin_lock.locked():
            del self._origin_locks[origin]

    def _drop_expired(self, keep: str) -> None:
        """Forget every expired origin but ``keep`` (called holding ``self._lock``)."""
        now = self._clock()
        for origin in [o for o, e in self._entries.items() if e.expires_at <= now and o != keep]:
            self._forget(origin)

    def _drop_least_used(self) -> None:
        """Forget the least recently used origins while the bodies kept exceed ``max_bytes``,
        never the last one, just stored (called holding ``self._lock``)."""
        while self._bytes > self._max_bytes and len(self._entries) > 1:
            self._forget(next(iter(self._entries)))

    def _fresh(self, origin: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(origin)
            if entry is not None:
                self._entries.move_to_end(origin)
        if entry is not None and entry.expires_at > self._clock():
            return entry
        return None

    def _load(self, origin: str) -> _Entry:
        try:
            body = self._fetch(origin + "/robots.txt")
        except Exception as err:  # cached and re-raised to callers: nothing is swallowed
            # Not past the time it says to come back (a robots.txt not sent while its host's
            # pause lasts): kept for error_ttl, its pages failed for up to a minute after.
            ttl = self._error_ttl
            retry_after = getattr(err, "retry_after", None)
            if isinstance(retry_after, int | float) and math.isfinite(retry_after):
                ttl = min(ttl, max(retry_after, 0.0))
            return _Entry(self._clock() + ttl, error=err)
        if body is None:
            return _Entry(self._clock() + self._ttl)
        rules = Protego.parse(body.decode("utf-8", errors="replace"))
        delay = rules.crawl_delay(self._user_agent) or 0.0
        rate = rules.request_rate(self._user_agent)
        if rate is not None and rate.requests > 0:
            delay = max(delay, rate.seconds / rate.requests)
        delay = min(max(delay, 0.0), self._max_delay) if math.isfinite(delay) else 0.0
        return _Entry(self._clock() + self._ttl, rules=rules, size=len(body), delay=delay)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def _fresh(error: Exception) -> Exception:
    """A copy of ``error`` without a traceback; ``error`` itself (its traceback cut) if it
    cannot be copied."""
    try:
        return copy.copy(error).with_traceback(None)
    except Exception:  # an exception whose __init__ takes other arguments than its args
        return error.with_traceback(None)
