"""One request on the wire: the HTTP client's single attempt at a URL, no redirects, no retries.

Consumes a checked URL, the request's headers (``request_headers``), the body cap of its kind,
its timeouts and the deadline's watch (``transforms.deadlines``); produces an
``http_answers.Answer`` (a 200 with its body read capped and decompressed, or a redirect or
304 as ``check_status`` makes it; each with its Set-Cookie lines) or raises ``FetchError``.
It tells its caller whether the host answered at all (``on_answer``, ``on_silence``:
``transforms.silent_hosts``' count), and gives the connection back to the pool only when the
answer was read whole and the deadline's watchdog did not shut it.
``transforms.http.HttpClient`` calls it once an attempt, with the host's slot held; it
follows redirects, retries and keeps the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import urllib3
from urllib3 import exceptions as u3e

from transforms.deadlines import Watch
from transforms.hostlimits import GuardError
from transforms.http_answers import (
    CHUNK,
    HTML_TYPES,
    Answer,
    FetchError,
    as_fetch_error,
    check_status,
    looks_like_html,
)
from transforms.http_bodies import read_capped

_ACCEPT = {
    "page": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
    "feed": "application/rss+xml,application/atom+xml,application/xml;q=0.9,"
    "text/xml;q=0.9,*/*;q=0.5",
    "robots": "text/plain,*/*;q=0.5",
}


def request_headers(user_agent: str, kind: str, extra: dict[str, str]) -> dict[str, str]:
    """The headers of a GET for ``kind`` ("page", "feed" or "robots"): the User-Agent, what
    it accepts, gzip and deflate, and ``extra`` (a conditional request's validators, a
    redirect hop's Cookie)."""
    return {
        "User-Agent": user_agent,
        "Accept": _ACCEPT[kind],
        "Accept-Encoding": "gzip, deflate",
        **extra,
    }


def exchange(
    pool: urllib3.PoolManager,
    url: str,
    kind: str,
    headers: dict[str, str],
    *,
    conditional: bool,
    cap: int,
    timeout: urllib3.Timeout,
    watch: Watch,
    deadline: float,
    on_answer: Callable[[], None],
    on_silence: Callable[[], None],
) -> Answer:
    """Send one GET of ``url`` through ``pool`` and read its answer.

    Args:
        pool: the client's guarded pool manager (``hostlimits.guarded_pool_manager``).
        url: absolute, checked http(s) URL.
        kind: "page" (HTML only), "feed" or "robots" (a body over ``cap`` is cut, not refused).
        headers: from ``request_headers``.
        conditional: the request carries validators (a 304 is then an answer).
        cap: the most bytes of decompressed body read.
        timeout: connect and read timeouts, capped at the time left of the deadline.
        watch: the deadline's watch of this attempt; it expired when the watchdog shut the
            socket.
        deadline: the client's total deadline in seconds, for the error's message.
        on_answer: called once a status line arrived before the deadline.
        on_silence: called when no answer came: a timeout, or the deadline, before any.

    Returns:
        The answer: a 200 with its body, or a redirect (``Answer.location``) or 304.

    Raises:
        FetchError: every refused or failed attempt (``deadline_exceeded`` when the
            watchdog cut it off, or a read timed out at the deadline).
    """
    response = None
    answered = complete = False
    try:
        response = pool.urlopen(
            "GET", url, headers=headers, redirect=False, retries=False,
            preload_content=False, decode_content=False, timeout=timeout,
        )  # fmt: skip
        answered = not watch.expired  # a status line the deadline cut short is none
        if answered:
            on_answer()
        answer_headers = {k.lower(): v for k, v in response.headers.items()}
        # Content-Encoding's field lines are one list (RFC 9110 section 5.3): "gzip" twice
        # is "gzip, gzip" (refused), where the last line alone gave the page still gzipped
        lines = response.headers.getlist("content-encoding")
        codings = [c for c in lines if c.strip().lower() not in ("", "identity")]
        if codings:
            answer_headers["content-encoding"] = ", ".join(codings)
        cookies = tuple(response.headers.getlist("set-cookie"))  # each line: "," is in Expires
        if response.status != 200:
            # A short error or redirect body is read, so the connection can be reused.
            length = answer_headers.get("content-length", "")
            if length.isdigit() and int(length) <= CHUNK:
                response.drain_conn()
                complete = True
            answer = check_status(response.status, answer_headers, conditional)
            return replace(answer, set_cookies=cookies)
        media_type = answer_headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "page" and media_type and media_type not in HTML_TYPES:
            raise FetchError("not_html", f"Content-Type {media_type} is not HTML")
        body = read_capped(response, answer_headers, cap, truncate=kind == "robots")
        if watch.expired:  # the watchdog's shutdown reads as a clean end of the body
            raise FetchError("deadline_exceeded", "handled below")
        complete = True
        if kind == "page" and not media_type and not looks_like_html(body):
            raise FetchError("not_html", "no Content-Type and the body is not HTML")
        return Answer(200, answer_headers, body, set_cookies=cookies)
    except (FetchError, GuardError, u3e.HTTPError, OSError) as err:
        error = as_fetch_error(err)
        # Whatever broke, the watchdog's shutdown broke it; or a read timed out at the
        # deadline (its timeout is capped at the time left) before the watchdog's thread
        # ran, as on a busy machine: the deadline, not a timeout of its own.
        at_deadline = error.error_type == "timeout" and time.monotonic() >= watch.deadline_at
        if not answered and (watch.expired or error.error_type == "timeout"):
            on_silence()
        if watch.expired or at_deadline:
            raise FetchError(
                "deadline_exceeded", f"total deadline of {deadline}s passed", True
            ) from None
        raise error from None
    finally:
        # Ended before the connection is released: another request may take it at once,
        # and this watch's deadline, still registered, must not shut it down under that one.
        fired = watch.finish()
        if response is not None:
            if fired or not complete:
                response.close()  # unread body, or shut down: never reuse this connection
            response.release_conn()
