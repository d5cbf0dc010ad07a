"""How an answer's head is read: ``FinalResponse``, the response class of the guarded connections.

Consumes the bytes a server sends before a body (status lines, header fields) as
``http.client`` reads them; produces the final answer's status and fields, read past any
interim (1xx) answers, with its transfer coding checked and framed, or raises
``http.client.HTTPException`` (``transforms.http_answers`` maps it to ``protocol_error``).
``transforms.hostlimits.guarded_pool_manager``'s connections use it for every answer.
"""

from __future__ import annotations

import http.client

_MAX_INTERIM = 16  # interim answers read before a final one; more is a protocol error


class FinalResponse(http.client.HTTPResponse):
    """The final answer, read past the interim (1xx) ones before it, as RFC 9110 section 15.2
    has every client do, at most ``_MAX_INTERIM``. ``http.client`` skips 100 Continue alone:
    a 103 Early Hints (sent by Node, Puma, h2o) or a 102 was taken for the answer
    (``http_103``), the real one unread. A 101 stays final (never asked for: a protocol
    error)."""

    def begin(self) -> None:
        """Read the status and header fields; refuse a transfer coding ``http.client`` cannot
        undo: it frames "chunked" alone, so "gzip, chunked" (never asked for: no TE is
        sent) came through with its chunk sizes and gzip bytes as the page's text; and frame
        "chunked" written with a blank after it, which it did not."""
        super().begin()
        # its field lines are one list (RFC 9110 5.3): http.client reads the first alone
        lines = self.headers.get_all("transfer-encoding") or ()
        codings = ", ".join(line.strip() for line in lines if line.strip()).lower()
        if codings not in ("", "chunked", "identity"):
            raise http.client.HTTPException(f"Transfer-Encoding {codings[:100]!r}")
        if codings == "chunked" and not self.chunked:  # "chunked " (RFC 9112 drops the blank):
            self.chunked, self.chunk_left = True, None  # http.client framed nothing, as sent
            if self.length:  # a Content-Length, which chunked framing overrides (0: no body)
                self.length = None

    def _read_status(self) -> tuple[str, int, str]:
        for _ in range(_MAX_INTERIM + 1):  # the interim answers, then the final one
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if status == 101 or not 100 <= status < 200:
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's fields: not kept
        raise http.client.HTTPException(f"more than {_MAX_INTERIM} interim (1xx) answers")
