"""The tests' network tripwire: any connection outside 127.0.0.0/8 and ::1 fails.

Standard library only: it is installed in the test process (``tests/conftest.py``) and, by
``sitecustomize.py`` beside it, in every Python process the tests start (the ``newsbeam``
command, Beam's worker processes, the extraction pool), through ``PYTHONPATH`` and
``NEWSBEAM_TESTS_LOOPBACK_ONLY=1``, which conftest sets for the session.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

ENV = "NEWSBEAM_TESTS_LOOPBACK_ONLY"


def check(sock: socket.socket, address: Any) -> None:
    """Fail unless an IP socket's address is loopback: with an ``AssertionError``, which no
    network code handles as a network error (a refused connection could be retried, or
    treated as the very failure a test expects)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        ip = ipaddress.ip_address(address[0])
        assert ip.is_loopback, f"test tried to connect to {address[0]} (not loopback)"


def guarded(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real`` (``socket.connect`` or ``connect_ex``) behind ``check``."""

    def connect(sock: socket.socket, address: Any) -> Any:
        check(sock, address)
        return real(sock, address)

    return connect


def install() -> None:
    """Guard ``connect`` and ``connect_ex`` of every socket in this process, for good."""
    socket.socket.connect = guarded(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(socket.socket.connect_ex)  # type: ignore[method-assign]
