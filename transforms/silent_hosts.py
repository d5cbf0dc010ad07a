"""Hosts that answer nothing: which hosts to leave alone for a while, and for how long.

A host that accepts connections and never answers (a server hung behind a live load balancer,
a firewall that drops packets) cost each request to it a whole deadline: a one-shot run of
1,000 feeds with 30 such hosts took 5 min 20 s, each host's feeds waited out in turn. So
``transforms.http.HttpClient`` counts, per host, its requests' attempts that ended without
an answer (a connect or read timeout, or the deadline, before any status line came) since
the host last answered anything; at ``SILENT_ATTEMPTS`` in a row it pauses the host, as a
``Retry-After`` does (``transforms.hostlimits.HostLimiter.pause``): requests due meanwhile
are not sent and fail at once as ``host_unresponsive``, retryable. The next attempt after
the pause is a probe: an answer ends the count, another silence pauses the host again.

A host that answers slowly but within the timeouts is never counted; one that refuses
connections fails fast by itself and is not counted either; nor is an attempt given less than
half its shortest timeout (what a slow redirect before it left of the deadline). A count is
forgotten an hour after the host's last silence (``FORGET_AFTER``): an always-on run meets
new hosts for as long as it runs, and each that timed out once and was not asked again was
kept for good.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Attempts without an answer, in a row, that pause a host: one request's first try and its
# retry, plus one more request (two in flight at once reach it together).
SILENT_ATTEMPTS = 3
# A silent host's pause, in deadlines of one request (at most an hour: HostLimiter's cap on
# a Retry-After's pause applies to it as well).
PAUSE_IN_DEADLINES = 10
# Seconds after a host's last silence that its count is forgotten (a later one counts from 1).
FORGET_AFTER = 3600.0


class SilentHosts:
    """Per host, the attempts in a row that got no answer. Thread-safe.

    Args:
        threshold: the count at which ``unanswered`` says to pause the host.
        clock: monotonic clock (injectable for tests).
    """

    def __init__(
        self, threshold: int = SILENT_ATTEMPTS, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self._threshold = threshold
        self._clock = clock
        self._lock = threading.Lock()
        # only hosts whose last attempt got no answer: (count, when), the oldest silence first
        self._count: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def answered(self, host: str) -> None:
        """``host`` answered (any status line, whatever came after): its count ends."""
        with self._lock:
            self._count.pop(host, None)

    def unanswered(self, host: str) -> bool:
        """An attempt to ``host`` got no answer in time; whether to pause the host now (this
        attempt reaches the threshold, or passes it: a probe after a pause that failed)."""
        now = self._clock()
        with self._lock:
            count, last = self._count.pop(host, (0, now))
            count = 1 if last < now - FORGET_AFTER else count + 1
            self._count[host] = (count, now)
            while next(iter(self._count.values()))[1] < now - FORGET_AFTER:
                self._count.popitem(last=False)  # the oldest silences first
        return count >= self._threshold
