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
connections fails fast by itself and is not counted either.
"""

from __future__ import annotations

import threading

# Attempts without an answer, in a row, that pause a host: one request's first try and its
# retry, plus one more request (two in flight at once reach it together).
SILENT_ATTEMPTS = 3
# A silent host's pause, in deadlines of one request (at most an hour: HostLimiter's cap on
# a Retry-After's pause applies to it as well).
PAUSE_IN_DEADLINES = 10


class SilentHosts:
    """Per host, the attempts in a row that got no answer. Thread-safe.

    Args:
        threshold: the count at which ``unanswered`` says to pause the host.
    """

    def __init__(self, threshold: int = SILENT_ATTEMPTS) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        self._threshold = threshold
        self._lock = threading.Lock()
        self._count: dict[str, int] = {}  # only hosts whose last attempt got no answer

    def answered(self, host: str) -> None:
        """``host`` answered (any status line, whatever came after): its count ends."""
        with self._lock:
            self._count.pop(host, None)

    def unanswered(self, host: str) -> bool:
        """An attempt to ``host`` got no answer in time; whether to pause the host now (this
        attempt reaches the threshold, or passes it: a probe after a pause that failed)."""
        with self._lock:
            count = self._count.get(host, 0) + 1
            self._count[host] = count
        return count >= self._threshold
