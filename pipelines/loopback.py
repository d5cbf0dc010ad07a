"""Real HTTP servers on loopback that stand in for news sites in tests, the demo and benchmarks.

Consumes routes (``host``, ``path`` -> ``Response`` | ``RawResponse`` | a callable building one)
and produces real HTTP/1.1 answers on 127.0.0.N addresses, one ``ThreadingHTTPServer`` per
host, plus a thread-safe log of every request. Those records (``Request``, ``Response``,
``RawResponse``, ``LoggedRequest``) are defined in ``pipelines.loopback_records`` and imported
from here. RSS and Atom bodies to serve are built by ``pipelines.loopback_feeds``; ready-made
hostile answers, for tests, are in ``tests.loopback_hostile``.

Example::

    with LoopbackSite() as site:
        base = site.add_host("ledger")
        site.route("ledger", "/feed.xml", Response(body=rss_feed("Ledger", base, items),
                                                   content_type="application/rss+xml"))
        ...  # fetch f"{base}/feed.xml"
        assert site.requests[0].status == 200

Everything here is standard library only; a delay is the server's behaviour (it answers late),
never a way for tests to wait for something.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip as gzip_module
import random
import socket
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipelines.loopback_feeds import as_utc, http_date
from pipelines.loopback_records import Answer, LoggedRequest, RawResponse, Request, Response, Route

_MAX_REQUEST_BODY = 1 << 20


class LoopbackHandler(BaseHTTPRequestHandler):
    """The request handler; raw hooks receive it to write to the socket themselves.

    A hook may use the usual ``send_response`` / ``send_header`` / ``end_headers`` /
    ``wfile``, or ``connection`` for socket-level tricks, and should stop when
    ``stopping`` is set (the site is shutting down).
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on, every kept-alive
    # answer would wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _HostServer
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    _record: list[object] | None = None

    @property
    def stopping(self) -> threading.Event:
        """Set when the site shuts down: long-running hooks must return."""
        return self.server.site_stopping

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, threading.current_thread(), add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, threading.current_thread(), add=False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        """Silence the default per-request stderr line."""

    def parse_request(self) -> bool:
        self._record = None  # a malformed request on a kept-alive connection logs nothing
        return super().parse_request()

    def send_response(self, code: int, message: str | None = None) -> None:
        # Recorded before the status line can reach the client, so a client that has its
        # answer always finds the request in the log with its status.
        if self._record is not None:
            self._record[4] = code
        super().send_response(code, message)

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        headers = {k: v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_REQUEST_BODY)) if length > 0 else b""
        self._record = self.server.log_request_start(self.command, self.path, headers)
        request = Request(self.server.host_name, self.command, self.path, headers, body)
        answer = self.server.resolve(request)
        delay = answer.delay_s + self.server.global_delay()
        if delay > 0 and self.stopping.wait(delay):
            self.close_connection = True
            return
        if isinstance(answer, RawResponse):
            answer.handler(self)
            self.close_connection = True  # framing unknown: never reuse the connection
            return
        self._send(answer, request)

    def _send(self, response: Response, request: Request) -> None:
        validators: dict[str, str] = {}
        if response.etag is not None:
            validators["ETag"] = response.etag
        if response.last_modified is not None:
            validators["Last-Modified"] = http_date(response.last_modified)
        if _not_modified(response, request.headers):
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            return
        body = response.body
        if response.gzip and not response.body_is_gzip:
            body = gzip_module.compress(body, mtime=0)
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.gzip or response.body_is_gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in {**validators, **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if request.method != "HEAD":
            self.wfile.write(body)


class _HostServer(ThreadingHTTPServer):
    """One host's server: routes, its connections and threads, and the shared site state."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], host_name: str, site: LoopbackSite) -> None:
        super().__init__(address, LoopbackHandler)
        self.host_name = host_name
        self.site = site
        self.site_stopping = site._stopping
        self.routes: dict[str, Route] = {}
        self.fallback: Route = Response(404, b"not found", "text/plain; charset=utf-8")
        self._live: dict[socket.socket, threading.Thread] = {}
        self._live_lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up early (hostile-case tests do) are normal here, not tracebacks."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def track(self, conn: socket.socket, thread: threading.Thread, *, add: bool) -> None:
        with self._live_lock:
            if add:
                self._live[conn] = thread
            else:
                self._live.pop(conn, None)

    def log_request_start(self, method: str, path: str, headers: dict[str, str]) -> list[object]:
        return self.site._log(self.host_name, method, path, headers)

    def global_delay(self) -> float:
        return self.site._draw_delay()

    def resolve(self, request: Request) -> Answer:
        route = self.routes.get(request.path, self.fallback)
        if isinstance(route, Response | RawResponse):
            return route
        return route(request)

    def close_connections(self, join_timeout_s: float) -> list[threading.Thread]:
        """Shut every open connection and wait for its thread; return threads still alive."""
        with self._live_lock:
            live = list(self._live.items())
        for conn, _ in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        stuck = []
        for _, thread in live:
            thread.join(join_timeout_s)
            if thread.is_alive():
                stuck.append(thread)
        return stuck


class LoopbackSite:
    """A set of loopback HTTP hosts, one server each; use as a context manager.

    Host N (in ``add_host`` order, from 0) listens on 127.0.0.(N+2) on an ephemeral port, or
    on 127.0.0.1 with its own port where that address cannot be bound (macOS).
    """

    def __init__(self) -> None:
        self._servers: dict[str, _HostServer] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._records: list[list[object]] = []
        self._delay: tuple[float, float] | None = None
        self._rng = random.Random(0)

    def __enter__(self) -> LoopbackSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str) -> str:
        """Start a server for host ``name``.

        Args:
            name: a label for the host, used in ``route`` and the request log.

        Returns:
            The host's base URL, ``http://127.0.0.N:PORT`` (no trailing slash).
        """
        if name in self._servers:
            raise ValueError(f"host {name!r} already added")
        if self._stopping.is_set():
            raise RuntimeError("LoopbackSite is closed")
        address = f"127.0.0.{len(self._servers) + 2}"
        try:
            server = _HostServer((address, 0), name, self)
        except OSError:
            server = _HostServer(("127.0.0.1", 0), name, self)
        self._servers[name] = server
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{name}",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        return self.base_url(name)

    def base_url(self, name: str) -> str:
        """The base URL of host ``name``, ``http://127.0.0.N:PORT``."""
        ip, port = self._server(name).server_address[:2]
        return f"http://{ip!s}:{port}"

    def route(self, host: str, path: str, response: Route) -> None:
        """Answer requests for ``path`` (with its query string, exactly) on ``host``.

        Args:
            host: a name given to ``add_host``.
            path: the request target, e.g. ``/feed.xml`` or ``/a?id=1``.
            response: a ``Response``, a ``RawResponse``, or a callable taking the ``Request``
                and returning either (called on the server's thread, once per request).
        """
        self._server(host).routes[path] = response

    def set_fallback(self, host: str, response: Route) -> None:
        """Answer unrouted paths on ``host`` with ``response`` (default: a plain 404)."""
        self._server(host).fallback = response

    def set_delay_range(self, lo_s: float, hi_s: float, seed: int = 0) -> None:
        """Delay every answer by a time drawn uniformly in [lo_s, hi_s] (benchmarks).

        Args:
            lo_s: shortest added delay, in seconds.
            hi_s: longest added delay, in seconds.
            seed: seed of the random draws, for reproducible runs.
        """
        if not 0 <= lo_s <= hi_s:
            raise ValueError(f"need 0 <= lo_s <= hi_s, got {lo_s}, {hi_s}")
        with self._log_lock:
            self._delay = (lo_s, hi_s)
            self._rng = random.Random(seed)

    @property
    def requests(self) -> list[LoggedRequest]:
        """A snapshot of every request so far, in arrival order."""
        with self._log_lock:
            return [LoggedRequest(*r) for r in self._records]  # type: ignore[arg-type]

    def requests_for(self, host: str, path: str | None = None) -> list[LoggedRequest]:
        """The logged requests to ``host`` (and ``path`` with its query, if given)."""
        return [r for r in self.requests if r.host == host and path in (None, r.path)]

    def close(self, join_timeout_s: float = 5.0) -> None:
        """Stop every server, close its sockets and wait for its threads (idempotent)."""
        self._stopping.set()
        stuck: list[threading.Thread] = []
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
            stuck += server.close_connections(join_timeout_s)
        for thread in self._threads:
            thread.join(join_timeout_s)
        self._servers.clear()
        self._threads.clear()
        if stuck:
            names = ", ".join(t.name for t in stuck)
            raise RuntimeError(f"LoopbackSite: handler threads still running: {names}")

    def _server(self, name: str) -> _HostServer:
        try:
            return self._servers[name]
        except KeyError:
            raise KeyError(f"unknown host {name!r}; call add_host first") from None

    def _log(self, host: str, method: str, path: str, headers: dict[str, str]) -> list[object]:
        record: list[object] = [host, method, path, headers, None, time.monotonic()]
        with self._log_lock:
            self._records.append(record)
        return record

    def _draw_delay(self) -> float:
        with self._log_lock:
            if self._delay is None:
                return 0.0
            return self._rng.uniform(*self._delay)


def _not_modified(response: Response, headers: Mapping[str, str]) -> bool:
    """RFC 9110 section 13.1: If-None-Match wins over If-Modified-Since."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if_none_match = lowered.get("if-none-match")
    if if_none_match is not None:
        if response.etag is None:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or response.etag.removeprefix("W/") in tags
    since = lowered.get("if-modified-since")
    if since is None or response.last_modified is None:
        return False
    try:
        since_dt = email.utils.parsedate_to_datetime(since)
        modified = email.utils.parsedate_to_datetime(http_date(response.last_modified))
    except (TypeError, ValueError):
        return False
    return as_utc(modified).replace(microsecond=0) <= as_utc(since_dt)


__all__ = [
    "Answer",
    "LoggedRequest",
    "LoopbackHandler",
    "LoopbackSite",
    "RawResponse",
    "Request",
    "Response",
    "Route",
]
