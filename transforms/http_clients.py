"""One ``HttpClient`` per process and configuration, shared by every stage instance that fetches.

The politeness limits live in an ``HttpClient``: requests in flight per host, the pause between
two starts, the robots.txt cache. When each DoFn instance built its own client, the feed poll
and the page fetch of a local run kept separate counts (a host could see one feed request on
top of ``per_host_in_flight`` page requests, and had its robots.txt fetched twice), and a
Dataflow worker, which runs many threads, each with its own DoFn instances, had as many
counts as threads. ``acquire(config)`` gives every caller in the process the same client for
the same configuration, so the limits hold per process; ``release(client)`` closes it when
its last user lets go (DoFns acquire in ``setup`` and release in ``teardown``).
"""

from __future__ import annotations

import threading

from transforms.http import HttpClient, HttpConfig

_lock = threading.Lock()
_clients: dict[HttpConfig, tuple[HttpClient, int]] = {}  # config -> (client, users)


def acquire(config: HttpConfig) -> HttpClient:
    """The process's client for ``config``, made on first use; pair with ``release``."""
    with _lock:
        client, users = _clients.get(config) or (HttpClient(config), 0)
        _clients[config] = (client, users + 1)
        return client


def release(client: HttpClient) -> None:
    """Give back a client from ``acquire``; the last user's release closes it.

    A client that is not (or no longer) shared is closed at once.
    """
    with _lock:
        shared = _clients.get(client.config)
        if shared is not None and shared[0] is client:
            if shared[1] > 1:
                _clients[client.config] = (client, shared[1] - 1)
                return
            del _clients[client.config]
    client.close()


def users(config: HttpConfig) -> int:
    """How many holders the process's client for ``config`` has (0: none is open)."""
    with _lock:
        shared = _clients.get(config)
        return 0 if shared is None else shared[1]
