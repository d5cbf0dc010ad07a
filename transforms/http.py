"""newsbeam's one HTTP core, for feeds and article pages: SSRF-safe, bounded, polite.

Consumes URLs chosen by strangers (feed authors) and produces ``HttpResult`` (status 200,
or 304 for a conditional GET; body decompressed; ``text()`` decodes it), or raises
``FetchError``. Built on urllib3 (connection pooling, chunked decoding); gzip and deflate
bodies are decoded by ``http_bodies.read_capped``, which bounds the decompressed size and
refuses a compressed stream cut short. This module adds what urllib3 leaves to its callers:

* Address guard (``transforms.hostlimits``): each connection resolves the host itself,
  refuses it if ANY address is loopback, private, link-local (incl. 169.254.169.254),
  multicast, reserved, unspecified or otherwise not global, connects to the checked IP
  (TLS still verifies the host name) and re-checks the peer address. Redirect hops open
  their own connections, so they are checked the same way; nothing resolves twice.
* Limits: connect/read timeouts; a total ``deadline`` per ``get`` (all hops, retries and
  backoff; time spent queued for a per-host slot is not counted) enforced by a watchdog
  (``transforms.deadlines``) that shuts the socket, so a server dripping one byte a second
  is cut off on time; body caps on the decompressed size while streaming; at most
  ``max_redirects`` hops (10, where browsers allow 20: a feed's tracking redirect, http to
  https, www and a cookie's round trip make 5; a loop ends at its first repeat, so the limit
  stops only chains of ever-new URLs).
* Cookies (``transforms.http_cookies``) a hop's answer sets go on the later hops of the same
  ``get`` as RFC 6265 says, and no further: no jar outlives a fetch, no tracking state is kept
  from one article to the next. A URL asked again with other cookies is no loop.
* Retries of timeouts, connection errors, 429 and 5xx with exponential backoff and
  jitter; a ``Retry-After`` longer than ``retry_after_cap`` is not waited for (the error
  is raised at once, retryable), a shorter one is honoured. A ``Retry-After`` (with any
  status), and a 429 without one, pause the whole host (at most ``_MAX_HOST_PAUSE``): no
  request goes to it until the pause ends; one due before then waits for it if it may
  (the cap, its deadline), else fails at once as the answer that asked did, retryable.
  A host whose last attempts got no answer at all (``transforms.silent_hosts``) is paused
  the same way; requests due meanwhile fail at once as ``host_unresponsive``.
* Politeness: robots.txt for pages (``transforms.robots``), whose Crawl-delay or
  Request-rate, once fetched, spaces every request to the host; an honest User-Agent;
  per-host in-flight and start-interval limits (``transforms.hostlimits``).

What an answer becomes, and every ``FetchError.error_type``, is in ``transforms.http_answers``;
one attempt on the wire (headers, the read of the answer, the connection given back or not)
is ``transforms.http_exchange``.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from dataclasses import dataclass
from importlib import metadata

import urllib3

from transforms.deadlines import DeadlineWatchdog, Watch
from transforms.hostlimits import (
    AddressGuard,
    HostLimiter,
    Resolver,
    guarded_pool_manager,
)
from transforms.http_answers import (
    PERMANENT_REDIRECTS,
    Answer,
    FetchError,
    HttpResult,
    checked_url,
    result_of,
    retried_status,
)
from transforms.http_cookies import ChainCookies
from transforms.http_exchange import exchange, request_headers
from transforms.robots import RobotsCache
from transforms.silent_hosts import PAUSE_IN_DEADLINES, SILENT_ATTEMPTS, SilentHosts
from transforms.urls import host_of

try:
    __version__ = metadata.version("newsbeam")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

ROBOTS_TOKEN = "newsbeam"
_MB = 1024 * 1024
_ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB, ignore the rest
_RETRIED_TYPES = frozenset({"timeout", "connection_error"})
_MAX_HOST_PAUSE = 3600.0  # the longest pause a host's Retry-After stops all requests to it


@dataclass(frozen=True)
class HttpConfig:
    """Everything the HTTP core needs; plain values, so Beam can pickle it to workers."""

    allow_loopback: bool = False
    user_agent: str | None = None  # None: "newsbeam/<version> (+<contact_url>)"
    contact_url: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    deadline: float = 60.0
    max_feed_bytes: int = 10 * _MB
    max_page_bytes: int = 10 * _MB
    max_redirects: int = 10  # the module docstring says why
    retries: int = 3
    backoff_base: float = 0.5
    retry_after_cap: float = 30.0
    per_host_in_flight: int = 2
    per_host_min_interval: float = 0.0
    respect_robots: bool = True
    robots_ttl: float = 3600.0

    def __post_init__(self) -> None:
        if not 1 <= self.per_host_in_flight <= 4:
            raise ValueError(f"per_host_in_flight must be 1 to 4, got {self.per_host_in_flight}")
        for name in ("connect_timeout", "read_timeout", "deadline"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def effective_user_agent(self) -> str:
        """The User-Agent header sent: names newsbeam, its version and the contact URL."""
        if self.user_agent:
            return self.user_agent
        contact = f" (+{self.contact_url})" if self.contact_url else ""
        return f"newsbeam/{__version__}{contact}"


_CURRENT_WATCH: contextvars.ContextVar[Watch | None] = contextvars.ContextVar(
    "newsbeam_http_watch", default=None
)


class HttpClient:
    """Thread-safe HTTP client; ``close()`` it when done. DoFns share one per process and
    configuration (``transforms.http_clients``), so its per-host limits hold per process.

    Args:
        config: limits and politeness settings.
        resolver: ``(host, port) -> [(family, ip), ...]``; tests inject one to check the
            guard without DNS. Defaults to ``socket.getaddrinfo``.
    """

    def __init__(self, config: HttpConfig, *, resolver: Resolver | None = None) -> None:
        self.config = config
        self._guard = AddressGuard(config.allow_loopback, resolver)
        self._pool = guarded_pool_manager(self._guard, config.per_host_in_flight, _CURRENT_WATCH)
        self._limiter = HostLimiter(config.per_host_in_flight, config.per_host_min_interval)
        self._watchdog = DeadlineWatchdog()
        self._silent = SilentHosts()
        self._robots = RobotsCache(
            self._fetch_robots, user_agent=ROBOTS_TOKEN, ttl=config.robots_ttl
        )
        self._random = random.Random()
        self._random_lock = threading.Lock()

    def get(
        self,
        url: str,
        *,
        kind: str = "page",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> HttpResult:
        """GET ``url`` safely; see the module docstring for every limit applied. Cookies its
        redirects set go on its later hops only, and are forgotten when it returns.

        Args:
            url: absolute http(s) URL.
            kind: "page" (HTML only, robots.txt honoured) or "feed" (any type).
            etag: validator from a previous answer, sent as If-None-Match.
            last_modified: validator from a previous answer, sent as If-Modified-Since.

        Returns:
            The result: status 200, or 304 when a validator matched.

        Raises:
            FetchError: for every refused or failed fetch.
        """
        if kind not in ("page", "feed"):
            raise ValueError(f"kind must be 'page' or 'feed', got {kind!r}")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        cap = self.config.max_page_bytes if kind == "page" else self.config.max_feed_bytes
        return self._get(url, kind, headers, cap)

    def close(self) -> None:
        """Close pooled connections and stop the watchdog thread."""
        self._pool.clear()
        self._watchdog.close()

    def _get(self, url: str, kind: str, extra: dict[str, str], cap: int) -> HttpResult:
        budget = [float(self.config.deadline)]  # seconds left, shared by hops and retries
        current = checked_url(url)
        cookies = ChainCookies()  # this get's only: none to its first URL, none kept after it
        sent = extra  # a hop's extra headers: the validators, and its Cookie when one applies
        # (URL, Cookie) of each request: A -> B, which sets a cookie, -> A again is no loop
        seen: set[tuple[str, str | None]] = {(current.split("#")[0], None)}
        # The permanent redirects the answer began with: the first's status and the last's
        # target, the URL to ask from now on (a feed reader updates its subscription to it).
        moved: tuple[int, str] | None = None
        only_permanent = True  # every redirect so far was permanent
        try:
            for hop in range(self.config.max_redirects + 1):
                if kind == "page" and self.config.respect_robots:
                    # The time robots.txt takes counts against the page's deadline: each hop's
                    # robots.txt has a deadline of its own, and a chain of slow ones across
                    # hosts held one page for several deadlines. (One still may: ~2 at most.)
                    started = time.monotonic()
                    self._check_robots(current)
                    budget[0] -= time.monotonic() - started
                answer = self._with_retries(current, kind, sent, cap, budget)
                if answer.location is None:
                    return result_of(url, current, answer, extra, moved)
                if hop == self.config.max_redirects:
                    raise FetchError(
                        "too_many_redirects", f"more than {self.config.max_redirects} redirects"
                    )
                cookies.take(current, answer.set_cookies)
                current = checked_url(answer.location, base=current)
                cookie = cookies.header_for(current)
                request = (current.split("#")[0], cookie)  # the fragment is never sent
                if request in seen:
                    raise FetchError("redirect_loop", f"redirect back to {current}")
                seen.add(request)
                sent = extra if cookie is None else {**extra, "Cookie": cookie}
                only_permanent = only_permanent and answer.status in PERMANENT_REDIRECTS
                if only_permanent:
                    moved = (moved[0] if moved else answer.status, current)
        except FetchError as err:  # a URL moved for good and then failed: it moved all the same
            err.moved = moved  # this request's, not a robots.txt request's re-raised within it
            raise
        raise AssertionError("unreachable")

    def _check_robots(self, url: str) -> None:
        if not self._robots.allowed(url):
            raise FetchError("robots_disallowed", f"robots.txt disallows {url}")

    def _fetch_robots(self, robots_url: str) -> bytes | None:
        try:
            return self._get(robots_url, "robots", {}, _ROBOTS_MAX_BYTES).body
        except FetchError as err:
            if err.error_type in ("too_many_redirects", "redirect_loop") or (
                err.status is not None and 400 <= err.status < 500 and err.status != 429
            ):
                return None  # RFC 9309 "unavailable": no rules
            if err.error_type == "blocked_address":  # so would the page: said as for it
                raise
            if err.status is None:  # transport error: the page would fail the same way
                raise FetchError(  # kept no longer than a silent host's pause (retry_after)
                    err.error_type,
                    f"robots.txt: {err.message}",
                    err.retryable,
                    retry_after=err.retry_after,
                ) from None
            raise FetchError(
                "robots_unavailable", f"{robots_url}: {err}", True, retry_after=err.retry_after
            ) from None

    def _with_retries(
        self, url: str, kind: str, extra: dict[str, str], cap: int, budget: list[float]
    ) -> Answer:
        attempt = 0
        cut_at: int | None = None  # where the last try's unframed compressed body was cut
        while True:
            try:
                return self._exchange(url, kind, extra, cap, budget)
            except FetchError as err:
                if err.cut_at is not None and err.cut_at == cut_at:  # the server sends it so
                    raise FetchError(
                        "bad_content_encoding",
                        f"{err.message}; cut at the same byte again: the server sends it so",
                    ) from err
                cut_at = err.cut_at
                retried = err.error_type in _RETRIED_TYPES or (
                    err.status is not None and retried_status(err.status)
                )
                if not retried:
                    raise
                delay = self._backoff(attempt, err.retry_after)
                self._pause_host(url, err, delay)
                if attempt >= self.config.retries or delay is None or delay >= budget[0]:
                    why = "Retry-After over the cap" if delay is None else f"{attempt + 1} tries"
                    raise FetchError(
                        err.error_type,
                        f"{err.message} (gave up: {why})",
                        True,
                        status=err.status,
                        retry_after=err.retry_after,  # a robots.txt's failure is kept no longer
                    ) from err
            time.sleep(delay)
            budget[0] -= delay
            attempt += 1

    def host_spacing(self, host: str) -> tuple[float | None, float]:
        """``(interval, wait)`` of ``host``'s request starts (``HostLimiter.spacing``): the
        seconds kept between them (``--per-host-interval``, or the Crawl-delay of its
        robots.txt once fetched), None while no robots.txt of the host has been fetched (its
        first page will tell), and how long from now until the next may start."""
        interval, wait = self._limiter.spacing(host)
        if self.config.respect_robots and not self._robots.knows(host):
            return None, wait
        return interval, wait

    def _pause_host(self, url: str, err: FetchError, delay: float | None) -> None:
        """Pause ``url``'s host after a retried answer that asked for it: one with a
        Retry-After (as long as it says), or a 429 (the backoff ``delay``). A 5xx without
        one may be one broken page, and leaves the host's other requests alone."""
        if err.status is None:
            return
        if err.retry_after is not None:
            seconds = err.retry_after
        elif err.status == 429 and delay is not None:
            seconds = delay
        else:
            return
        self._limiter.pause(host_of(url), min(seconds, _MAX_HOST_PAUSE), err.status)

    def _unanswered(self, host: str, given: float) -> None:
        """An attempt to ``host`` given ``given`` seconds timed out before any answer; the last
        of several in a row pauses the host (``transforms.silent_hosts``). One given less than
        half its shortest timeout (what a slow earlier hop left of the deadline) says nothing
        of the host: counted, three such pages paused a host that answers in a second."""
        shortest = min(self.config.connect_timeout, self.config.read_timeout, self.config.deadline)
        if given >= shortest / 2 and self._silent.unanswered(host):
            seconds = min(PAUSE_IN_DEADLINES * self.config.deadline, _MAX_HOST_PAUSE)
            self._limiter.pause(host, seconds, None)

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        with self._random_lock:
            jitter = self._random.uniform(0.5, 1.5)
        delay = self.config.backoff_base * (2**attempt) * jitter
        if retry_after is None:
            return delay
        if retry_after > self.config.retry_after_cap:
            return None
        return max(delay, retry_after)

    def _exchange(
        self, url: str, kind: str, extra: dict[str, str], cap: int, budget: list[float]
    ) -> Answer:
        host = host_of(url)
        # The Crawl-delay of the host's robots.txt, once fetched, spaces every request to it,
        # one whose origin's is not known (None) too: another port's, the robots.txt's own.
        interval = self._robots.delay(url) if self.config.respect_robots else 0.0
        with self._limiter.slot(host, interval):
            # Read with the slot held: a request that waited for it behind the one whose
            # answer asked for the pause must not go out.
            paused = self._limiter.paused(host)
            if paused is not None:  # not sent: the retry loop waits for the pause, or gives up
                left, status = paused
                if status is None:  # the host answered nothing (``transforms.silent_hosts``)
                    raise FetchError(
                        "host_unresponsive",
                        f"the host answered none of its last {SILENT_ATTEMPTS} requests in "
                        f"time (a timeout, or the {self.config.deadline:g}s deadline): none is "
                        f"sent to it for {left:.0f}s",
                        True,
                        retry_after=left,
                    )
                raise FetchError(
                    f"http_{status}",
                    f"not sent: the host answered HTTP {status} asking for a pause, "
                    f"{left:.0f}s left",
                    True,
                    status=status,
                    retry_after=left,
                )
            started = time.monotonic()
            left = budget[0]
            if left <= 0:
                raise FetchError("deadline_exceeded", f"deadline of {self.config.deadline}s", True)
            token, watch = self._watchdog.watch(started + left)
            context_token = _CURRENT_WATCH.set(watch)
            try:
                return self._send(url, kind, extra, cap, left, watch)
            finally:
                _CURRENT_WATCH.reset(context_token)
                self._watchdog.cancel(token)
                budget[0] -= time.monotonic() - started

    def _send(
        self, url: str, kind: str, extra: dict[str, str], cap: int, left: float, watch: Watch
    ) -> Answer:
        host = host_of(url)
        return exchange(
            self._pool,
            url,
            kind,
            request_headers(self.config.effective_user_agent, kind, extra),
            conditional="If-None-Match" in extra or "If-Modified-Since" in extra,
            cap=cap,
            timeout=urllib3.Timeout(
                connect=min(self.config.connect_timeout, left),
                read=min(self.config.read_timeout, left),
            ),
            watch=watch,
            deadline=self.config.deadline,
            on_answer=lambda: self._silent.answered(host),
            on_silence=lambda: self._unanswered(host, left),
        )
