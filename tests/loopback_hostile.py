"""Ready-made hostile answers for ``pipelines.loopback`` sites: slow, endless, reset, redirect.

Consumes the parameters of each misbehaviour (a body and a rate, a chunk, a Location);
produces a ``RawResponse`` (written straight to the socket by a ``LoopbackHandler``) or a
``Response``, to pass to ``LoopbackSite.route``. They stand in for the servers the HTTP
client must survive: ones that drip bytes, never finish a body, reset the connection, or
redirect in a loop. Long-running ones stop when the site shuts down.

Standard library only.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable

from pipelines.loopback import LoopbackHandler, RawResponse, Response


def drip(body: bytes, bytes_per_s: float = 1.0, content_type: str = "text/html") -> RawResponse:
    """A 200 that announces ``len(body)`` bytes, then sends them one at a time, slowly."""

    def handler(h: LoopbackHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(len(body)):
            h.wfile.write(body[i : i + 1])
            h.wfile.flush()
            if h.stopping.wait(1.0 / bytes_per_s):
                return

    return RawResponse(_ignore_disconnect(handler))


def drip_status_line(bytes_per_s: float = 20.0) -> RawResponse:
    """A status line that never ends: its reason phrase a byte at a time (a tarpit), so no
    read of it times out, until the client hangs up."""

    def handler(h: LoopbackHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 ")
        while not h.stopping.wait(1.0 / bytes_per_s):
            h.wfile.write(b"O")
            h.wfile.flush()

    return RawResponse(_ignore_disconnect(handler))


def endless_body(chunk: bytes = b"<p>more</p>\n" * 512) -> RawResponse:
    """A 200 with no Content-Length whose body never ends (until the client hangs up)."""

    def handler(h: LoopbackHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Connection", "close")
        h.end_headers()
        while not h.stopping.is_set():
            h.wfile.write(chunk)

    return RawResponse(_ignore_disconnect(handler))


def connection_reset() -> RawResponse:
    """Close the socket without answering (the client sees a reset or an empty reply)."""

    def handler(h: LoopbackHandler) -> None:
        # SO_LINGER on with a zero timeout: close() sends a TCP RST instead of a FIN.
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()

    return RawResponse(handler)


def redirect(location: str, status: int = 302) -> Response:
    """A redirect to ``location``; two routes redirecting to each other make a loop."""
    return Response(status, b"", None, headers={"Location": location})


def _ignore_disconnect(
    handler: Callable[[LoopbackHandler], None],
) -> Callable[[LoopbackHandler], None]:
    def wrapped(h: LoopbackHandler) -> None:
        # The client giving up is the point of these answers, not an error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler(h)

    return wrapped


__all__ = ["connection_reset", "drip", "drip_status_line", "endless_body", "redirect"]
