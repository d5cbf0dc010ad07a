"""What a server's answer becomes: an ``HttpResult``, or a ``FetchError`` with its type.

Functions of one answer, holding no client state: the status check, the capped read of the
body, the HTML sniff, URL and ``Retry-After`` parsing, and the mapping of transport errors to
error types. ``transforms.http`` (the client) calls them for every answer; the capped read
of a 200's body is ``transforms.http_bodies``.

``FetchError.error_type`` values (``retryable`` in brackets):

* ``bad_scheme`` (no): not http or https (file:, ftp:, javascript:, data:, ...).
* ``bad_url`` (no): no host, a URL or Location that does not parse, or a host the resolver
  cannot encode (an empty label or one over 63 characters).
* ``blocked_address`` (no): the host resolves to, or connected to, a refused address.
* ``dns_error`` (yes if the resolver said "try again"): the host does not resolve.
* ``connection_error`` (yes): refused, reset or closed mid-response (a status line cut off
  included, and a gzip or deflate body without Content-Length or chunked framing whose
  stream the closing connection cut); retried.
* ``protocol_error`` (no): the answer breaks HTTP/1.1: a status line that is not one (an
  HTTP/0.9 answer too) or names another protocol version, more than 100 header lines, a
  header or chunk-size line over 64 KiB, a chunk-size line that is no hex number,
  Content-Length values that disagree, more than 16 interim (1xx) answers, a
  Transfer-Encoding other than chunked. Not retried:
  the server answered, and answers so again.
* ``timeout`` (yes): connect or read timeout; retried.
* ``deadline_exceeded`` (yes): the total deadline passed; not retried.
* ``host_unresponsive`` (yes): not sent, or not sent again: the host's last attempts got no
  answer in time (``transforms.silent_hosts``), so it is left alone for a while.
* ``tls_error`` (no): handshake or certificate failure.
* ``too_large`` (no): the decompressed body exceeds the cap for its kind.
* ``bad_content_encoding`` (no): a Content-Encoding we did not ask for, corrupt data, or a
  gzip or deflate body whose framing was whole (its Content-Length received, or its last
  chunk) but that ends before its compressed stream does (a page cut short), or one without
  framing cut twice at the same byte.
* ``too_many_redirects``, ``redirect_loop`` (no).
* ``http_<status>`` (yes for 429 and 5xx, which are retried first; else no): any final
  status but 200 (and 304 when validators were sent), e.g. ``http_404``, ``http_503``; one
  over 599 (``http_999``) is final.
* ``robots_disallowed`` (no): robots.txt forbids the page.
* ``robots_unavailable`` (yes): robots.txt answered 429 or 5xx (after retries); RFC 9309
  says to assume "disallow all" then, so the page is not fetched. A 4xx robots.txt allows
  all. When robots.txt cannot be fetched at all (timeout, refused, ...), the page fails
  with that error type, its message starting "robots.txt:"; a host at a blocked address
  fails with ``blocked_address`` and the message the page itself would get.
* ``not_html`` (no, pages only): the Content-Type (or, without one, the body) is not
  HTML or XHTML, e.g. a PDF, an image, a video.
"""

from __future__ import annotations

import ast
import email.utils
import http.client
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from urllib3 import exceptions as u3e
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from transforms.charset import decode_html
from transforms.hostlimits import GuardError

CHUNK = 64 * 1024  # bytes read at a time; a non-200 body up to this size is drained
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})  # the others say the URL stays the one to ask
RETRIED_STATUSES = frozenset({429})  # and every 5xx (retried_status); other 4xx (408 too) are final
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


class FetchError(Exception):
    """A refused or failed fetch; ``error_type`` is one of those in the module docstring."""

    def __init__(
        self,
        error_type: str,
        message: str,
        retryable: bool = False,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        cut_at: int | None = None,
    ) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        # compressed bytes read when a body without framing ended inside its stream
        self.cut_at = cut_at
        # (status, target) of the permanent redirects the request began with before it
        # failed, as ``HttpResult.moved_*`` say them for an answer: set by ``HttpClient``
        self.moved: tuple[int, str] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Copied and pickled with its own arguments (Exception's default passes its message
        # alone to __init__, which takes the type and the message).
        return (type(self), (self.error_type, self.message, self.retryable), dict(vars(self)))


@dataclass(frozen=True)
class HttpResult:
    """A successful response: 200 with its body, or 304 Not Modified with an empty body."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""  # media type only, lower case, e.g. "text/html"
    etag: str | None = None
    last_modified: str | None = None
    # Where the URL moved for good: the target of the last of the permanent redirects (301,
    # 308) the answer began with, and the first one's status; None when it began otherwise.
    moved_to: str | None = None
    moved_status: int | None = None

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional GET."""
        return self.status == 304

    def text(self) -> str:
        """The body as text: charset from the header, then a meta tag, then detection."""
        return decode_html(self.body, self.headers.get("content-type"))


@dataclass(frozen=True)
class Answer:
    """One exchange's answer before it becomes an ``HttpResult``: 200 with its body, a 304, or
    a redirect to ``location``. ``set_cookies``: its Set-Cookie lines, each one (``headers``
    joins repeated fields, or keeps the last), for the later hops of its redirect chain."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    location: str | None = None
    set_cookies: tuple[str, ...] = ()


def check_status(status: int, headers: dict[str, str], conditional: bool) -> Answer:
    """The answer to a non-200 status: a redirect or a 304, or raise ``http_<status>``."""
    if status in REDIRECTS:
        if not headers.get("location"):
            raise FetchError(f"http_{status}", f"HTTP {status} without Location", status=status)
        return Answer(status, headers, location=redirect_target(headers["location"]))
    if status == 304 and conditional:
        return Answer(304, headers)
    retry_after = parse_retry_after(headers.get("retry-after"))
    retryable = retried_status(status)
    raise FetchError(
        f"http_{status}", f"HTTP {status}", retryable, status=status, retry_after=retry_after
    )


def retried_status(status: int) -> bool:
    """Whether an answer of ``status`` is tried again: 429 and 5xx. A status over 599, which
    HTTP does not define (``http.client`` reads up to 999; LinkedIn answers robots 999), is
    final, as a 4xx is: it says nothing of a server's trouble passing."""
    return status in RETRIED_STATUSES or 500 <= status <= 599


def redirect_target(location: str) -> str:
    """A ``Location`` as browsers read it: UTF-8 when its bytes are (``http.client`` reads
    header bytes as Latin-1: ``/café`` in raw UTF-8 was requested as ``/caf%C3%83%C2%A9``)."""
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not UTF-8: as http.client read it
        return location


def looks_like_html(body: bytes) -> bool:
    """Whether a body without a Content-Type looks like an HTML document: a doctype, ``<html>``,
    ``<head>`` or ``<body>`` tag in its first KiB (after a comment or an XML declaration too)."""
    head = body[:1024].lower()
    return any(marker in head for marker in (b"<!doctype html", b"<html", b"<head", b"<body"))


def checked_url(url: str, base: str | None = None) -> str:
    """``url`` as an absolute http(s) URL with a host that can be resolved, or a ``FetchError``.

    Args:
        url: the URL, or a redirect's ``Location`` (relative to ``base``).
        base: the URL that answered with the redirect; None for a first URL.

    Returns:
        The URL to request.

    Raises:
        FetchError: ``bad_scheme`` for another scheme; ``bad_url`` for a URL (or Location)
            that does not parse, has no host, or a host the resolver refuses to encode (an
            empty label or one over 63 characters, which raised ``UnicodeError`` from
            ``getaddrinfo`` mid-request).
    """
    try:
        parts = urlsplit((url if base is None else urljoin(base, url)).strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as err:
        raise FetchError("bad_url", f"cannot parse {url[:200]!r}: {err}") from err
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("bad_scheme", f"scheme {parts.scheme!r} refused in {url[:200]!r}")
    if not parts.hostname:
        raise FetchError("bad_url", f"no host in {url[:200]!r}")
    checked = parts.geturl()
    try:  # the host exactly as urllib3 will hand it to the resolver, through its IDNA codec
        (parse_url(checked).host or "").encode("idna")
    except (LocationParseError, UnicodeError) as err:
        raise FetchError("bad_url", f"host cannot be resolved in {url[:200]!r}: {err}") from err
    return checked


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay or HTTP date), or ``None``.

    A delay is ASCII digits only, as HTTP writes it: ``str.isdigit`` also accepts other
    digits, such as "²", which ``float`` refuses (the ValueError made a retryable 503 an
    ``internal_error``), or "١٢", which it reads as 12.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def as_fetch_error(err: Exception) -> FetchError:
    """The ``FetchError`` for an exception raised while exchanging with a server."""
    if isinstance(err, FetchError):
        return err
    if isinstance(err, GuardError):
        return FetchError(err.error_type, err.message, err.retryable)
    if isinstance(err, u3e.TimeoutError):
        return FetchError("timeout", str(err), True)
    if isinstance(err, u3e.SSLError):
        return FetchError("tls_error", str(err))
    if isinstance(err, u3e.DecodeError):
        return FetchError("bad_content_encoding", str(err))
    if isinstance(err, u3e.LocationValueError):
        return FetchError("bad_url", str(err))
    violation = _protocol_violation(err)
    if violation is not None:
        return FetchError("protocol_error", f"the answer is not valid HTTP/1.1: {violation}")
    return FetchError("connection_error", str(err) or type(err).__name__, True)


def _protocol_violation(err: Exception) -> str | None:
    """What the answer did wrong, if ``err`` says it broke HTTP/1.1; None for anything else.

    urllib3 wraps what ``http.client`` raised in a ``ProtocolError``, for a reset or a
    connection closed early (retried) as for an answer that breaks the protocol (not
    retried), so the wrapped exception decides: its type, and for a bad status line whether
    the line was whole.
    """
    if isinstance(err, u3e.InvalidHeader):  # Content-Length: 5 and Content-Length: 7
        return str(err)
    if not isinstance(err, u3e.ProtocolError):
        return None
    inner = err.args[1] if len(err.args) > 1 else err.__cause__
    if isinstance(inner, OSError):  # RemoteDisconnected, an empty reply, is a BadStatusLine too
        return None
    if isinstance(inner, http.client.IncompleteRead):  # a cut chunk, or a chunk size line
        return _bad_chunk_size_line(inner)  # that is no number
    if isinstance(inner, http.client.UnknownProtocol):
        return f"protocol version {str(inner.args[0])[:100]!r}"
    if isinstance(inner, http.client.BadStatusLine):  # HTTP/0.9: the body where it should be
        line = str(inner.args[0])
        if not line.endswith("\n"):  # cut off by the connection closing: closed early
            return None
        return f"bad status line {line[:100]!r}"
    if isinstance(inner, http.client.LineTooLong) or type(inner) is http.client.HTTPException:
        return str(inner)  # "got more than 65536 bytes when reading ...", "... 100 headers"
    return None


_CHUNK_SIZE_REFUSED = re.compile(
    r"invalid literal for int\(\) with base 16: (b'.*'|b\".*\")$", re.S
)


def _bad_chunk_size_line(err: BaseException) -> str | None:
    """The chunk size line ``http.client`` could not read as a number, when it was a whole
    line (the server wrote it); None for a chunk or line cut off by the connection closing.

    ``http.client`` raises ``IncompleteRead`` for both; the ``ValueError`` of ``int(line,
    16)`` it chains, whose message quotes the line, tells them apart.
    """
    seen: BaseException | None = err
    for _ in range(5):  # IncompleteRead <- IncompleteRead <- ValueError
        if seen is None:
            return None
        if isinstance(seen, ValueError):
            match = _CHUNK_SIZE_REFUSED.match(str(seen))
            line = ast.literal_eval(match.group(1)) if match else b""
            return f"chunk size line {line[:100]!r}" if line.endswith(b"\n") else None
        seen = seen.__cause__ or seen.__context__
    return None


def result_of(
    url: str,
    final_url: str,
    answer: Answer,
    sent: dict[str, str],
    moved: tuple[int, str] | None = None,
) -> HttpResult:
    """The ``HttpResult`` of the last hop's answer. A 304's validators fall back to those sent;
    a 200's are its own or none (kept, a stale If-None-Match made servers, which then ignore
    If-Modified-Since, answer every later poll in full: RFC 9110 section 13.2.2). ``moved``:
    the status and target of the permanent redirects the answer began with, if any."""
    headers = answer.headers
    sent = sent if answer.status == 304 else {}
    return HttpResult(
        url=url,
        final_url=final_url,
        status=answer.status,
        headers=headers,
        body=answer.body,
        content_type=headers.get("content-type", "").split(";")[0].strip().lower(),
        etag=headers.get("etag") or sent.get("If-None-Match"),
        last_modified=headers.get("last-modified") or sent.get("If-Modified-Since"),
        moved_to=moved[1] if moved else None,
        moved_status=moved[0] if moved else None,
    )
