"""The records of a loopback site: what its routes receive and answer, and its request log.

Plain values, no behaviour. ``pipelines.loopback`` consumes a route's ``Response`` or
``RawResponse`` (or a callable taking a ``Request`` and building one: ``Answer``, ``Route``)
and produces a ``Request`` for each call and a ``LoggedRequest`` for each entry of its log.
``pipelines.loopback`` re-exports every name here, and tests, the demo and benchmarks import
them from there.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from pipelines.loopback import LoopbackHandler


@dataclass(frozen=True)
class Request:
    """What a route callable receives: one request as the server saw it."""

    host: str
    method: str
    path: str  # with the query string, exactly as requested
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    """A complete answer, sent with a Content-Length (keep-alive friendly).

    ``gzip=True`` compresses ``body`` and sends ``Content-Encoding: gzip``; with
    ``body_is_gzip=True`` the body is already gzip bytes and is sent as they are (a gzip bomb,
    a corpus file). ``etag`` / ``last_modified`` make the server answer 304 to a matching
    ``If-None-Match`` / ``If-Modified-Since``. The server sends the encoding it is told to,
    whatever the client's ``Accept-Encoding`` (hostile servers do too).
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    gzip: bool = False
    body_is_gzip: bool = False
    etag: str | None = None
    last_modified: datetime | str | None = None


@dataclass(frozen=True)
class RawResponse:
    """An answer written by ``handler`` straight to the socket (slow drips, resets, ...).

    The connection is closed afterwards. The status logged is the one the handler passes
    to ``send_response`` (None if it sends none).
    """

    handler: Callable[[LoopbackHandler], None]
    delay_s: float = 0.0


Answer = Response | RawResponse
Route = Answer | Callable[[Request], Answer]


class LoggedRequest(NamedTuple):
    """One entry of ``LoopbackSite.requests``; ``status`` is None if nothing was answered,
    ``at`` is ``time.monotonic()`` when the server had read the request."""

    host: str
    method: str
    path: str
    headers: dict[str, str]
    status: int | None
    at: float
