"""Cookies within one fetch's redirect chain, and never past it.

Consumes the ``Set-Cookie`` field lines of each answer of one ``HttpClient.get``
(``http_answers.Answer.set_cookies``, every line: urllib3's ``getlist``) and the URL of each
later hop; produces the ``Cookie`` header to send there, or None. Some news sites answer a
request without a cookie with a redirect that sets one and leads back (itself, or through
a consent or metering page) to the article (the New York Times' article URLs have done so,
303 through ``?_r=0``-style URLs setting cookies; not checked here, as nothing here reaches
the internet: the tests serve the pattern on loopback). A client that sends the cookie
back gets the page on the next hop; one that does not loops (``redirect_loop``), where
``requests``, which keeps cookies along a redirect chain, reads the page.

Matching is the standard library's ``http.cookiejar`` (a ``CookieJar`` with a
``DefaultCookiePolicy``), not a parser of our own: Domain and host-only cookies, Path,
Secure (sent over https only), Expires, and Max-Age (which wins over Expires; 0 or less, or
an Expires in the past, deletes the cookie). A Path that does not start with "/" is dropped
before cookiejar reads the line, so the default path applies, as RFC 6265 says (cookiejar kept
it as written, and the cookie was never sent). Its policy is set as RFC 6265 reads: Netscape
cookies only (RFC 2965's ``Set-Cookie2`` is ignored), a cookie without a Domain attribute
goes to the host that set it only (``DomainStrictNonDomain``; the default sends it to
subdomains too), and a Domain attribute is refused on a host that is an IP address unless
it is that address. A Domain of a public suffix is refused only where ``http.cookiejar``'s
heuristics see one (``com``, ``co.uk``), with no public suffix list: a cookie lives for one
chain, whose next hops the servers that set cookies choose, and could name in the URL.
Bounded: an answer's first ``MAX_LINES`` lines are read, and a line over ``MAX_LINE_BYTES``
or with a control character is skipped (RFC 6265bis ignores such a line whole; kept, its
bytes would go out in the next hop's request).

A ``ChainCookies`` is made per ``get`` and dropped with it: nothing is kept between
fetches, so newsbeam carries no tracking state from one article, feed or robots.txt to
another, and its requests look alike whatever it fetched before.

Standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from http.client import HTTPResponse
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import cast
from urllib.parse import urlsplit
from urllib.request import Request

MAX_LINES = 50  # Set-Cookie lines read per answer (RFC 6265 section 6.1: 50 per domain)
MAX_LINE_BYTES = 4096  # longer ones are skipped (RFC 6265 section 6.1: at least 4096)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # RFC 6265bis 5.7: CTLs but HTAB


class _Policy(DefaultCookiePolicy):
    """``DefaultCookiePolicy`` as RFC 6265 reads, where the defaults differ (module docstring)."""

    def __init__(self) -> None:
        super().__init__(
            rfc2965=False,
            strict_domain=True,  # no Domain=co.uk and the like (a heuristic, no suffix list)
            strict_ns_domain=DefaultCookiePolicy.DomainStrictNonDomain,
        )

    def set_ok_domain(self, cookie: Cookie, request: Request) -> bool:
        # http.cookiejar matches an IP address's Domain as a suffix: 1.2.3.4 could set
        # Domain=3.4 for 5.6.3.4. RFC 6265 section 5.1.3 matches an IP address whole.
        host = (urlsplit(request.get_full_url()).hostname or "").lower()
        if cookie.domain_specified and _is_ip(host) and cookie.domain.lstrip(".") != host:
            return False
        return bool(super().set_ok_domain(cookie, request))


class _Answered:
    """What ``CookieJar.extract_cookies`` reads of a response (``info().get_all``): an
    answer's Set-Cookie lines, without an ``http.client`` response around them."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def info(self) -> _Answered:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return list(self._lines) if name.lower() == "set-cookie" else default


class ChainCookies:
    """The cookies of one redirect chain: what each answer set, for the hops after it."""

    def __init__(self) -> None:
        self._jar = CookieJar(_Policy())

    def take(self, url: str, set_cookies: tuple[str, ...]) -> None:
        """Keep the cookies of ``url``'s answer (its Set-Cookie lines, in order); one with an
        expiry passed or a Max-Age of 0 or less deletes the cookie of its name, domain and path."""
        lines = [
            _without_ignored_paths(line)
            for line in set_cookies[:MAX_LINES]
            if len(line) <= MAX_LINE_BYTES and not _CONTROL.search(line)  # latin-1: a char a byte
        ]
        if lines:  # the adapter stands in for the HTTPResponse the stub names (info() only)
            self._jar.extract_cookies(cast(HTTPResponse, _Answered(lines)), Request(url))

    def header_for(self, url: str) -> str | None:
        """The ``Cookie`` header a request of ``url`` sends now, None when no cookie applies."""
        request = Request(url)
        self._jar.add_cookie_header(request)
        return request.get_header("Cookie")


def _without_ignored_paths(line: str) -> str:
    """``line`` without the Path attributes RFC 6265 section 5.2.4 ignores for the default
    path: a value that does not start with "/" (``Path="/"``, ``Path=world``).
    ``http.cookiejar`` keeps such a value as written, a path no request path starts with, so
    the cookie was never sent. (Of two Path attributes, cookiejar keeps the first, RFC 6265
    the last; servers that write two are left to that.)"""
    pair, *attributes = line.split(";")
    kept = [a for a in attributes if not _ignored_path(a)]
    return ";".join([pair, *kept]) if len(kept) < len(attributes) else line


def _ignored_path(attribute: str) -> bool:
    name, _, value = attribute.partition("=")
    return name.strip().lower() == "path" and not value.strip().startswith("/")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
