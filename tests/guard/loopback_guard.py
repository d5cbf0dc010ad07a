"""The tests' network tripwire: any connection outside 127.0.0.0/8 and ::1, and any name
lookup (a DNS query) but of a loopback name, fails.

Standard library only: it is installed in the test process (``tests/conftest.py``) and, by
``sitecustomize.py`` beside it, in every Python process the tests start (the ``newsbeam``
command, Beam's worker processes, the extraction pool), through ``PYTHONPATH`` and
``NEWSBEAM_TESTS_LOOPBACK_ONLY=1``, which conftest sets for the session.

A tripped guard raises ``AssertionError`` and also appends to ``VIOLATIONS``: code that
catches every exception (Beam's DirectRunner does, around its first choice of runner, which
downloads a binary from GitHub) would otherwise hide the attempt, so the test process checks
the list after each test.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

ENV = "NEWSBEAM_TESTS_LOOPBACK_ONLY"
VIOLATIONS: list[str] = []
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def _trip(what: str) -> None:
    VIOLATIONS.append(what)
    raise AssertionError(f"test tried to {what}")


def check(sock: socket.socket, address: Any) -> None:
    """Fail unless an IP socket's address is loopback: with an ``AssertionError``, which no
    network code handles as a network error (a refused connection could be retried, or
    treated as the very failure a test expects)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        ip = ipaddress.ip_address(address[0])
        if not ip.is_loopback:
            _trip(f"connect to {address[0]} (not loopback)")


def lookup_stays_local(host: Any) -> bool:
    """Whether a lookup of ``host`` stays on this machine: no host, a loopback name, or an
    address written as one (no DNS query; connecting to it is ``check``'s business)."""
    if host is None:
        return True
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    if name.lower().rstrip(".") in LOOPBACK_NAMES or name.lower().endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real`` (``socket.connect`` or ``connect_ex``) behind ``check``."""

    def connect(sock: socket.socket, address: Any) -> Any:
        check(sock, address)
        return real(sock, address)

    return connect


def guarded_lookup(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real`` (``socket.getaddrinfo``) refusing every name but a loopback one: a lookup
    of another name is a DNS query that leaves the machine, whatever it is for."""

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not lookup_stays_local(host):
            _trip(f"look up the name {host!r} (not loopback)")
        return real(host, *args, **kwargs)

    return getaddrinfo


def install() -> None:
    """Guard ``connect``, ``connect_ex`` and ``getaddrinfo`` in this process, for good."""
    socket.socket.connect = guarded(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(socket.socket.connect_ex)  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_lookup(socket.getaddrinfo)
