"""The body of a 200 answer, read capped and decompressed: ``read_capped`` and ``Inflater``.

Consumes urllib3's response (asked not to decode) and its headers; produces the body's bytes,
decompressed (gzip, deflate), or raises ``FetchError`` (``too_large``,
``bad_content_encoding``, or a retried ``connection_error`` for a compressed body without
framing that the closing connection cut: ``_finish``). ``transforms.http`` calls it for each
200; the other parts of an answer are ``transforms.http_answers``'.
"""

from __future__ import annotations

import zlib
from typing import Any

from transforms.http_answers import CHUNK, FetchError


def read_capped(response: Any, headers: dict[str, str], cap: int, *, truncate: bool) -> bytes:
    """Read the body and decompress it, failing as soon as it passes ``cap``.

    ``response`` is read as it came (urllib3 asked not to decode): urllib3's decoders do not
    say whether a gzip or deflate stream reached its end, so a body cut short decoded as a
    shorter page. ``Inflater`` decodes it here, never more than the cap at a time (a gzip
    bomb stops there), and a stream that stops before its end is ``bad_content_encoding``.

    With ``truncate`` (robots.txt), a body over the cap is cut instead, after its last complete
    line: a rule cut off mid-line (``Disallow: /archive-2001/`` read as ``Disallow: /``) is not
    read as another rule.
    """
    raw_encoding = headers.get("content-encoding", "identity")
    encoding = raw_encoding.lower()
    if encoding.strip() != encoding:  # not a name we asked for, whatever it means
        raise FetchError(
            "bad_content_encoding", f"Content-Encoding {raw_encoding!r}: spaces around the name"
        )
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        raise FetchError("bad_content_encoding", f"Content-Encoding {encoding!r} not requested")
    declared = headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > cap:
        raise FetchError("too_large", f"Content-Length {declared} over the cap of {cap} bytes")
    inflater = Inflater(encoding) if encoding in ("gzip", "x-gzip", "deflate") else None
    parts: list[bytes] = []
    size = received = 0  # decompressed bytes kept, compressed bytes read
    while True:
        if inflater is None:
            chunk = response.read(min(CHUNK, cap + 1 - size), decode_content=False)
            if not chunk:
                return b"".join(parts)
        else:
            data = response.read(CHUNK, decode_content=False)
            if not data:
                _finish(inflater, received, framed=declared != "" or bool(response.chunked))
                return b"".join(parts)
            received += len(data)
            chunk = inflater.decompress(data, cap + 1 - size)
        parts.append(chunk)
        size += len(chunk)
        if size > cap:
            if truncate:
                kept = b"".join(parts)[:cap]
                return kept[: kept.rfind(b"\n") + 1]
            raise FetchError("too_large", f"body over the cap of {cap} bytes (decompressed)")


def _finish(inflater: Inflater, received: int, *, framed: bool) -> None:
    """``inflater.finish()`` at the body's end; a compressed stream cut short in a body that
    ended as the connection closed (no Content-Length, not chunked: RFC 9112 section 6.3
    has such a body end there) is a retried ``connection_error`` carrying ``cut_at``, as a
    connection that dropped mid-body looks so; ``HttpClient`` makes a second cut at the same
    byte the server's ``bad_content_encoding``. In a body whose framing was whole (its
    Content-Length, or chunked with its last chunk), the server sent it so: not retried. (A
    framed body the connection cut is urllib3's ``ProtocolError``: a ``connection_error``.)
    """
    try:
        inflater.finish()
    except FetchError as err:
        if framed:
            raise
        raise FetchError(
            "connection_error",
            f"the connection closed after {received} bytes, before the {inflater.encoding} "
            "body's end (no Content-Length): cut short in transit, or sent so",
            True,
            cut_at=received,
        ) from err


class Inflater:
    """Decodes a gzip or deflate body as it arrives, and knows whether the stream ended.

    What urllib3's decoders accepted still is: gzip may be several members in a row, bytes
    after a complete stream that do not make another member (a stray newline, junk) are
    ignored, and deflate is zlib-wrapped (RFC 1950) or, as some servers send it, raw
    (RFC 1951), told apart by its first two bytes. But a stream (or a gzip member that has
    given text) that the body ends inside makes ``finish`` raise.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = "deflate" if encoding == "deflate" else "gzip"
        self._obj: zlib._Decompress | None = (
            None if encoding == "deflate" else zlib.decompressobj(16 + zlib.MAX_WBITS)
        )
        self._head = b""  # deflate: the first byte, until a second tells the format
        self._got_input = False
        self._ended = False  # a complete stream (or gzip member) was read
        self._ignoring = False  # after a complete stream: what follows is not decoded
        self._member_output = False  # the gzip member being read has produced output

    def decompress(self, data: bytes, max_length: int) -> bytes:
        """At most ``max_length`` (> 0) decoded bytes of ``data`` and what came before it;
        the caller stops reading when it gets ``max_length`` bytes (its cap is passed).

        Raises:
            FetchError: ``bad_content_encoding`` for data that is not gzip (deflate).
        """
        self._got_input = True
        if self._ignoring:
            return b""
        if self._obj is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = b""
            self._obj = _deflate_decompressor(data[:2])
        out: list[bytes] = []
        left = max_length
        while True:
            try:
                part = self._obj.decompress(data, left)
            except zlib.error as err:
                if self._ended:  # not another gzip member: trailing bytes, ignored
                    self._ignoring = True
                    return b"".join(out)
                raise FetchError(
                    "bad_content_encoding", f"{self.encoding} body is corrupt: {err}"
                ) from None
            out.append(part)
            left -= len(part)
            self._member_output = self._member_output or bool(part)
            if not self._obj.eof or left <= 0:
                return b"".join(out)  # all of data taken in, or max_length reached
            self._ended = True
            data = self._obj.unused_data
            if self.encoding == "deflate" or not data:
                self._ignoring = self.encoding == "deflate"
                return b"".join(out)
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next gzip member
            self._member_output = False

    def finish(self) -> None:
        """The body ended: raise unless the stream was complete (or the body empty).

        Raises:
            FetchError: ``bad_content_encoding``, the compressed body ended early.
        """
        if not self._got_input or self._ignoring:
            return
        if self._obj is not None and self._obj.eof:
            return
        if self._ended and not self._member_output:
            return  # a complete stream, then a few bytes that did not make a member
        raise FetchError(
            "bad_content_encoding",
            f"the {self.encoding} body ended early: the compressed stream is incomplete",
        )


def _deflate_decompressor(head: bytes) -> zlib._Decompress:
    """A decompressor for a deflate body starting with ``head`` (two bytes): zlib-wrapped
    when they are a zlib header (zlib itself checks them), else raw deflate."""
    try:
        zlib.decompressobj().decompress(head)
    except zlib.error:
        return zlib.decompressobj(-zlib.MAX_WBITS)
    return zlib.decompressobj()
