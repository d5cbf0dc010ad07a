"""A request's total deadline, kept even while a socket read is blocked.

``DeadlineWatchdog`` enforces it: a server dripping one byte per second never trips a read
timeout, so one background thread shuts down the sockets of every ``Watch`` whose deadline has
passed, which makes the blocked read return at once. ``transforms.http.HttpClient`` makes a
``Watch`` for each request; the connections of ``transforms.hostlimits.guarded_pool_manager``
register their sockets with it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable


class Watch:
    """The deadline of one request and the sockets it uses; fired at most once."""

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._expired = False
        self._finished = False

    @property
    def expired(self) -> bool:
        """True once the deadline has passed and the sockets were shut down."""
        return self._expired

    def attach(self, sock: socket.socket | None) -> None:
        """Watch a connected socket; shut it down at once if the deadline already passed.

        The socket object is kept, not its descriptor number: a closed socket object has
        no descriptor, so a descriptor reused by another connection is never touched.
        """
        if sock is None:
            return
        with self._lock:
            if all(sock is not known for known in self._socks):
                self._socks.append(sock)
            if self._expired:
                _shutdown(sock)

    def fire(self) -> None:
        """Mark the deadline passed and shut down every attached socket (none once the
        request has ``finish``-ed)."""
        with self._lock:
            if self._finished:
                return
            self._expired = True
            for sock in self._socks:
                _shutdown(sock)

    def finish(self) -> bool:
        """End the watch before the request's connection goes back to the pool: a firing
        after this touches no socket (the connection may already serve another request,
        whose own watch it is then). Returns whether the watch had fired (its sockets are
        shut down: the connection must not be reused)."""
        with self._lock:
            self._finished = True
            self._socks.clear()
            return self._expired


def _shutdown(sock: socket.socket) -> None:
    """Shut a socket down so that a read blocked on it in another thread returns."""
    # socket.socket.shutdown, not SSLSocket.shutdown: it acts on the file descriptor without
    # touching the TLS object another thread may be reading through. OSError: already closed.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class DeadlineWatchdog:
    """One daemon thread that fires each registered ``Watch`` when its deadline passes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._active: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, deadline_at: float) -> tuple[int, Watch]:
        """Register a new watch; returns ``(token, watch)``, pass the token to ``cancel``.

        Args:
            deadline_at: when to fire, on the watchdog's clock (``time.monotonic``).
        """
        watch = Watch(deadline_at)
        with self._cond:
            if self._closed:
                raise RuntimeError("DeadlineWatchdog is closed")
            token = next(self._ids)
            heapq.heappush(self._heap, (deadline_at, token, watch))
            self._active.add(token)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="newsbeam-deadline-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return token, watch

    def cancel(self, token: int) -> None:
        """Stop watching (the request finished); its entry is dropped lazily."""
        with self._cond:
            self._active.discard(token)

    def close(self) -> None:
        """Stop the background thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = self._clock()
                while self._heap and (
                    self._heap[0][1] not in self._active or self._heap[0][0] <= now
                ):
                    _, token, watch = heapq.heappop(self._heap)
                    if token in self._active:
                        self._active.discard(token)
                        watch.fire()
                timeout = self._heap[0][0] - now if self._heap else None
                self._cond.wait(timeout)
