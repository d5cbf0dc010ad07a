"""Which hosts the HTTP core may reach, and how hard: address guard, per-host limits.

``transforms.http.HttpClient`` builds on these; they know nothing of HTTP semantics.

* ``AddressGuard`` and ``guarded_pool_manager``: a urllib3 pool whose connections resolve
  the host themselves, refuse it if any address is loopback (unless allowed), private,
  link-local (incl. the 169.254.169.254 metadata address), multicast, reserved, unspecified
  or otherwise not globally routable, then connect to the checked IP (TLS still verifies
  the host name) and re-check the connected peer. There is no second resolution, so no
  DNS-rebinding gap; each redirect hop opens its connection through the same check. Their
  answers are read past interim (1xx) ones to the final answer (``FinalResponse``, in
  ``transforms.http_framing``).
* ``HostLimiter`` bounds the requests in flight to one host and spaces their starts
  (``per_host_in_flight``, ``per_host_min_interval``). Waiting for a slot blocks the caller.
  It also remembers a pause a host asked for (a 429, a ``Retry-After``), which callers read
  before asking for a slot.

A request's total deadline, which the guarded connections register their sockets with, is
``transforms.deadlines``'s.
"""

from __future__ import annotations

import contextvars
import ipaddress
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from transforms.deadlines import Watch
from transforms.http_framing import FinalResponse

# (host, port) -> [(address family, ip), ...]
Resolver = Callable[[str, int], list[tuple[int, str]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv6 ranges that Python 3.11's ipaddress counts as global but that are not public: the
# deprecated site-local addresses (RFC 3879, still routed inside some networks) and the
# documentation prefix added by RFC 9637 (2024).
_NOT_PUBLIC_V6 = (
    ("site-local", ipaddress.ip_network("fec0::/10")),
    ("reserved", ipaddress.ip_network("3fff::/20")),
)


class GuardError(Exception):
    """A connection the guard refused or could not open; ``error_type`` names why.

    Not an ``OSError``, so urllib3 lets it through unchanged.
    """

    def __init__(self, error_type: str, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.retryable = retryable


def resolve_host(host: str, port: int) -> list[tuple[int, str]]:
    """Every address ``host`` resolves to, via ``socket.getaddrinfo``.

    Args:
        host: a host name or IP literal.
        port: the TCP port.

    Returns:
        ``(family, ip)`` pairs in the resolver's order.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(int(family), str(sockaddr[0])) for family, _, _, _, sockaddr in infos]


def address_problem(ip: str, allow_loopback: bool = False) -> str | None:
    """Why connecting to ``ip`` is refused, or None when it is a public address.

    IPv4 addresses embedded in IPv6 (mapped, NAT64, 6to4) are judged as IPv4. A NAT64 or
    6to4 form of a loopback address is refused even with ``allow_loopback``: it is reached
    through a gateway or relay on another machine, not this one's loopback.

    Args:
        ip: an IPv4 or IPv6 address (an IPv6 zone suffix is ignored).
        allow_loopback: open 127.0.0.0/8 and ::1 (tests, the demo); nothing else.

    Returns:
        A short reason ("loopback", "private", "link-local", ...) or None.
    """
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(ip.split("%")[0])
    elsewhere = False  # an IPv4 address wrapped for a gateway or relay (NAT64, 6to4)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif addr in _NAT64:
            addr, elsewhere = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), True
        elif addr.sixtofour is not None:
            addr, elsewhere = addr.sixtofour, True
    if addr.is_loopback:
        return None if allow_loopback and not elsewhere else "loopback"
    if isinstance(addr, ipaddress.IPv6Address):
        for reason, network in _NOT_PUBLIC_V6:
            if addr in network:
                return reason
    checks = (
        ("unspecified", addr.is_unspecified),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("reserved", addr.is_reserved),
        ("private", addr.is_private),
        ("not globally routable", not addr.is_global),
    )
    return next((reason for reason, hit in checks if hit), None)


class AddressGuard:
    """Resolves hosts and refuses addresses ``address_problem`` objects to.

    Args:
        allow_loopback: open 127.0.0.0/8 and ::1.
        resolver: replaces ``resolve_host`` (tests use it to fake DNS answers).
    """

    def __init__(self, allow_loopback: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver or resolve_host

    def check(self, host: str, ip: str) -> None:
        """Raise ``GuardError("blocked_address")`` when ``ip`` (of ``host``) is refused."""
        problem = address_problem(ip, self.allow_loopback)
        if problem is not None:
            # Only loopback has a flag that opens it (tests and sites on this machine).
            hint = " (--allow-loopback opens it)" if problem == "loopback" else ""
            raise GuardError("blocked_address", f"{host} is at {ip}, a {problem} address{hint}")

    def resolve(self, host: str, port: int) -> list[tuple[int, str]]:
        """Resolve ``host`` and check every address; refuse it if any one is refused.

        Raises:
            GuardError: ``dns_error`` or ``blocked_address``.
        """
        try:
            addresses = self._resolve(host, port)
        except socket.gaierror as err:
            again = err.errno == socket.EAI_AGAIN
            raise GuardError("dns_error", f"cannot resolve {host}: {err}", again) from err
        if not addresses:
            raise GuardError("dns_error", f"{host} resolves to no address")
        for _, ip in addresses:
            self.check(host, ip)
        return addresses


class _GuardedConnectionMixin:
    """Replaces urllib3's connect step: resolve, check, connect to the checked IP."""

    response_class = FinalResponse
    guard: AddressGuard
    current_watch: contextvars.ContextVar[Watch | None]
    _dns_host: str
    port: int
    timeout: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        error = GuardError("connection_error", f"cannot connect to {host}", True)
        for family, ip in self.guard.resolve(host, self.port):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                sock.connect((ip, self.port))
                self.guard.check(host, sock.getpeername()[0])
                return sock
            except GuardError:
                sock.close()
                raise
            except TimeoutError:
                sock.close()
                error = GuardError("timeout", f"connect to {host} ({ip}) timed out", True)
            except OSError as err:
                sock.close()
                error = GuardError("connection_error", f"connect to {host} ({ip}): {err}", True)
        raise error

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._attach_watch()

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._attach_watch()
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _attach_watch(self) -> None:
        watch = self.current_watch.get()
        if watch is not None:
            # http.client drops ``sock`` when the response owns the connection, so the
            # socket is attached now, while the connection still has it.
            watch.attach(self.sock)
            if watch.expired:
                raise GuardError("deadline_exceeded", "deadline passed while connecting", True)


def kept_hosts(maxsize: int) -> int:
    """How many hosts' connections are kept for their next request: 256, or as many as a
    quarter of the files this process may open holds (``maxsize`` each), at least 8. Under a
    limit of 256 files (``ulimit -n``, which a shell sets hard too) 256 hosts' 512 connections
    ran out of files: the polls and fetches after them failed with "Too many open files"."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 256
    return max(8, min(256, soft // 4 // maxsize))


def guarded_pool_manager(
    guard: AddressGuard,
    maxsize: int,
    current_watch: contextvars.ContextVar[Watch | None],
) -> urllib3.PoolManager:
    """A urllib3 PoolManager whose every connection goes through ``guard``.

    Args:
        guard: the address guard.
        maxsize: connections kept per host (the per-host in-flight limit).
        current_watch: where the caller puts the running request's ``Watch``; connections
            attach to it, so the watchdog can shut them when the deadline passes.

    Returns:
        The pool manager; never follows redirects or retries by itself when called with
        ``redirect=False, retries=False``.
    """
    attrs = {"guard": guard, "current_watch": current_watch}
    http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), attrs)
    https_conn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), attrs)
    manager = urllib3.PoolManager(num_pools=kept_hosts(maxsize), maxsize=maxsize, block=False)
    manager.pool_classes_by_scheme = {
        "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
    return manager


class HostLimiter:
    """At most ``max_in_flight`` requests to one host at a time, starts ``min_interval`` apart;
    and the pause each host asked for (``pause``, ``paused``).

    Thread-safe. Hosts are compared as given (callers pass lower-case host names).
    """

    def __init__(
        self,
        max_in_flight: int,
        min_interval: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if min_interval < 0:
            raise ValueError(f"min_interval must be >= 0, got {min_interval}")
        self._max = max_in_flight
        self._interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._in_flight: dict[str, int] = {}
        self._next_start: dict[str, float] = {}  # the earliest start of a host's next request
        # A host's own interval (its robots.txt's Crawl-delay), where longer than min_interval.
        self._host_interval: dict[str, float] = {}
        # host: (until, the status of the answer that asked; None: no answer, silent_hosts)
        self._paused: dict[str, tuple[float, int | None]] = {}

    def pause(self, host: str, seconds: float, status: int | None) -> None:
        """Remember that ``host`` asked for no request for ``seconds`` from now (``status``:
        the answer that asked); a shorter pause does not shorten a longer one. Expired pauses
        of other hosts are forgotten here, so the record stays as small as the hosts paused.

        Args:
            host: the host name.
            seconds: how long to leave it alone.
            status: the HTTP status of the answer that asked (429, 503, ...); None: the
                host answered nothing (``transforms.silent_hosts``).
        """
        now = self._clock()
        with self._cond:
            for other in [h for h, (until, _) in self._paused.items() if until <= now]:
                del self._paused[other]
            until = now + seconds
            if until > self._paused.get(host, (0.0, 0))[0]:
                self._paused[host] = (until, status)

    def paused(self, host: str) -> tuple[float, int | None] | None:
        """``(seconds left, status)`` of the pause ``host`` asked for, or None if none is on."""
        now = self._clock()
        with self._cond:
            until, status = self._paused.get(host, (0.0, 0))
        return (until - now, status) if until > now else None

    def spacing(self, host: str) -> tuple[float, float]:
        """``(interval, wait)``: the seconds ``host``'s request starts are kept apart (0: not
        spaced), and how long from now until its next request may start by that spacing
        (pauses aside: ``paused``). ``transforms.threaded_http.HostScheduler`` reads it so as
        not to give a thread a request that would only sleep in ``slot``.

        Args:
            host: the host name.
        """
        now = self._clock()
        with self._cond:
            interval = max(self._interval, self._host_interval.get(host, 0.0))
            next_start = self._next_start.get(host, 0.0)
        return interval, max(0.0, next_start - now)

    @contextmanager
    def slot(self, host: str, interval: float | None = 0.0) -> Iterator[None]:
        """Hold one of ``host``'s request slots for the duration of the ``with`` block.

        Args:
            host: the host name the request goes to.
            interval: seconds the host itself asks between two starts (its robots.txt's
                Crawl-delay), when longer than ``min_interval``: the next request to the
                host, of whatever kind, starts no sooner. None: not known for this request
                (its origin's robots.txt not fetched, expired, or another port's): the
                host's interval known from its requests before holds, for this one too.
        """
        with self._cond:
            if interval is None:
                interval = self._host_interval.get(host, 0.0)
            elif interval > self._interval:
                self._host_interval[host] = interval
            else:
                self._host_interval.pop(host, None)
        self._acquire(host, max(self._interval, interval))
        try:
            yield
        finally:
            self._release(host)

    def _acquire(self, host: str, interval: float) -> None:
        with self._cond:
            while self._in_flight.get(host, 0) >= self._max:
                self._cond.wait()
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            start = max(self._clock(), self._next_start.get(host, 0.0))
            if interval > 0:
                self._next_start[host] = start + interval
        wait = start - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _release(self, host: str) -> None:
        with self._cond:
            left = self._in_flight[host] - 1
            if left:
                self._in_flight[host] = left
            else:
                del self._in_flight[host]
                next_start = self._next_start.get(host)
                if next_start is not None and next_start <= self._clock():
                    del self._next_start[host]
            self._cond.notify_all()
