"""Tests for cookies within one fetch's redirect chain (transforms.http_cookies, and
transforms.http's redirect loop check): loopback servers that set cookies on redirects and
read the ``Cookie`` header the client sends back, and ``ChainCookies`` alone.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from pipelines.loopback import (
    Answer,
    LoopbackHandler,
    LoopbackSite,
    RawResponse,
    Request,
    Response,
)
from tests.http_support import PAGE, config, fetch_error
from tests.loopback_hostile import redirect
from transforms.http import HttpClient
from transforms.http_cookies import MAX_LINE_BYTES, MAX_LINES, ChainCookies


def redirect_setting(location: str, *cookies: str, status: int = 302) -> RawResponse:
    """A redirect to ``location`` with one Set-Cookie line per cookie (``Response`` takes one
    value per header name)."""

    def handler(h: LoopbackHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        for cookie in cookies:
            h.send_header("Set-Cookie", cookie)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return RawResponse(handler)


def page_with(cookie: str, otherwise: Answer) -> Callable[[Request], Answer]:
    """The page for a request whose Cookie header is ``cookie`` exactly, else ``otherwise``."""

    def route(request: Request) -> Answer:
        return Response(body=PAGE) if request.headers.get("Cookie") == cookie else otherwise

    return route


def asked(site: LoopbackSite, host: str) -> list[tuple[str, str | None]]:
    """(path, Cookie header) of each request to ``host`` but its robots.txt, in order."""
    return [
        (r.path, r.headers.get("Cookie"))
        for r in site.requests_for(host)
        if r.path != "/robots.txt"
    ]


# --- the chain ---------------------------------------------------------------------------


def test_a_cookie_set_on_a_redirect_back_is_sent_and_the_page_fetched(
    site: LoopbackSite, client: HttpClient
) -> None:
    """A -> B (sets a cookie) -> A: the second request of A is another one, with the cookie,
    and gets the page (a client without cookies loops: ``redirect_loop``)."""
    base = site.add_host("news")
    site.route("news", "/a", page_with("seen=1", redirect("/b", status=303)))
    site.route("news", "/b", redirect_setting(base + "/a", "seen=1; Path=/", status=303))
    result = client.get(base + "/a")
    assert result.body == PAGE and result.final_url == base + "/a"
    assert asked(site, "news") == [("/a", None), ("/b", None), ("/a", "seen=1")]


def test_every_set_cookie_line_of_an_answer_is_kept(site: LoopbackSite, client: HttpClient) -> None:
    """Two Set-Cookie lines in one answer, the first with an Expires (whose date has a comma,
    so joined lines cannot be split again): both are sent."""
    base = site.add_host("news")
    site.route("news", "/a", page_with("id=7; meter=0", redirect("/consent")))
    site.route(
        "news",
        "/consent",
        redirect_setting(
            "/a", "id=7; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT", "meter=0; Path=/"
        ),
    )
    assert client.get(base + "/a").body == PAGE


def test_a_cookie_goes_to_the_host_that_set_it_only(site: LoopbackSite, client: HttpClient) -> None:
    """news (127.0.0.2) sets a cookie and sends the chain through other (127.0.0.3) and back:
    other gets none, news gets it back."""
    news, other = site.add_host("news"), site.add_host("other")
    if urlsplit(news).hostname == urlsplit(other).hostname:
        pytest.skip("the hosts share an address here (macOS): cookies ignore ports")
    site.route("news", "/a", page_with("k=v", redirect("/b")))
    site.route("news", "/b", redirect_setting(other + "/via", "k=v; Path=/"))
    site.route("other", "/via", redirect(news + "/a"))
    assert client.get(news + "/a").body == PAGE
    assert asked(site, "other") == [("/via", None)]
    assert asked(site, "news") == [("/a", None), ("/b", None), ("/a", "k=v")]


def test_host_only_and_domain_cookies_go_where_rfc_6265_says(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    """Host names (resolved by the test to one loopback server): a cookie without Domain
    goes to its host only, neither to its parent domain nor to its subdomains (where
    http.cookiejar's default policy sends it); one with Domain=news.example goes to
    news.example and its subdomains, not to another domain that ends the same."""
    base = site.add_host("news")
    ip, port = urlsplit(base).hostname or "", urlsplit(base).port

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        return [(socket.AF_INET, ip)]

    c = new_client(config(respect_robots=False), resolver=resolver)
    site.route("news", "/start", redirect(f"http://www.news.example:{port}/set"))
    site.route(
        "news",
        "/set",
        redirect_setting(
            f"http://news.example:{port}/parent", "host=1; Path=/", "dom=2; Domain=news.example"
        ),
    )
    site.route("news", "/parent", redirect(f"http://a.www.news.example:{port}/sub"))
    site.route("news", "/sub", redirect(f"http://othernews.example:{port}/elsewhere"))
    site.route("news", "/elsewhere", Response(body=PAGE))
    assert c.get(f"http://www.news.example:{port}/start").body == PAGE
    assert asked(site, "news") == [
        ("/start", None),
        ("/set", None),
        ("/parent", "dom=2"),
        ("/sub", "dom=2"),
        ("/elsewhere", None),
    ]


def test_a_cookie_is_not_kept_past_its_get(site: LoopbackSite, client: HttpClient) -> None:
    """The next fetch of the same page starts without the first fetch's cookie, and goes
    through the same dance again."""
    base = site.add_host("news")
    site.route("news", "/a", page_with("seen=1", redirect("/b")))
    site.route("news", "/b", redirect_setting("/a", "seen=1; Path=/; Max-Age=3600"))
    assert client.get(base + "/a").body == PAGE
    assert client.get(base + "/a").body == PAGE
    once = [("/a", None), ("/b", None), ("/a", "seen=1")]
    assert asked(site, "news") == once + once


@pytest.mark.parametrize(
    "deletion",
    ["c=; Path=/; Max-Age=0", "c=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"],
)
def test_a_cookie_expired_by_a_later_answer_is_no_longer_sent(
    site: LoopbackSite, client: HttpClient, deletion: str
) -> None:
    base = site.add_host("news")
    site.route("news", "/start", redirect_setting("/forget", "c=1; Path=/", "d=2; Path=/"))
    site.route("news", "/forget", redirect_setting("/end", deletion))
    site.route("news", "/end", Response(body=PAGE))
    assert client.get(base + "/start").body == PAGE
    assert asked(site, "news") == [("/start", None), ("/forget", "c=1; d=2"), ("/end", "d=2")]


def test_a_secure_cookie_is_not_sent_over_http(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/start", redirect_setting("/end", "s=1; Path=/; Secure", "p=2; Path=/"))
    site.route("news", "/end", Response(body=PAGE))
    assert client.get(base + "/start").body == PAGE
    assert asked(site, "news") == [("/start", None), ("/end", "p=2")]


def test_a_cookie_alone_does_not_make_a_request_conditional(
    site: LoopbackSite, client: HttpClient
) -> None:
    """A redirect sets a cookie and the next hop answers 304 to a request that sent it but no
    validator: an error (a 304 nobody asked for), not "not modified" with no body. A hop's
    Cookie travels with its validators; only the validators make a request conditional."""
    base = site.add_host("news")
    site.route("news", "/feed", redirect_setting("/feed2", "k=1; Path=/"))
    site.route("news", "/feed2", Response(304, content_type=None))
    err = fetch_error(client, base + "/feed", kind="feed")
    assert (err.error_type, err.retryable) == ("http_304", False)
    assert asked(site, "news") == [("/feed", None), ("/feed2", "k=1")]


def test_a_cookie_goes_with_the_validators_and_a_304_is_not_modified(
    site: LoopbackSite, client: HttpClient
) -> None:
    """A conditional request whose redirect sets a cookie: the next hop gets the cookie and the
    validators, and its 304 is "not modified", with the validators sent."""
    base = site.add_host("news")
    site.route("news", "/feed", redirect_setting("/feed2", "k=1; Path=/"))
    site.route("news", "/feed2", Response(304, content_type=None))
    result = client.get(base + "/feed", kind="feed", etag='"v7"')
    assert result.not_modified and result.etag == '"v7"'
    (second,) = site.requests_for("news", "/feed2")
    assert (second.headers.get("Cookie"), second.headers.get("If-None-Match")) == ("k=1", '"v7"')


# --- loops -------------------------------------------------------------------------------


def test_a_loop_with_the_same_cookies_is_still_a_loop(
    site: LoopbackSite, client: HttpClient
) -> None:
    """A -> B (sets k=1) -> A (k=1) -> B (sets k=1 again) -> A with k=1 once more: the same
    request a second time, a loop, found before the hop limit."""
    base = site.add_host("news")
    site.route("news", "/a", redirect("/b"))
    site.route("news", "/b", redirect_setting("/a", "k=1; Path=/"))
    assert fetch_error(client, base + "/a").error_type == "redirect_loop"
    assert asked(site, "news") == [("/a", None), ("/b", None), ("/a", "k=1"), ("/b", "k=1")]


def test_a_cookie_that_changes_every_hop_ends_at_the_hop_limit(
    site: LoopbackSite, client: HttpClient
) -> None:
    """A server that sets a new value at every hop makes every request new: the hop limit,
    not the loop check, ends it."""
    base = site.add_host("news")
    hops = iter(range(100))

    def counting(request: Request) -> Answer:
        return redirect_setting("/a", f"n={next(hops)}; Path=/")

    site.route("news", "/a", counting)
    assert fetch_error(client, base + "/a").error_type == "too_many_redirects"
    assert len(asked(site, "news")) == client.config.max_redirects + 1


# --- ChainCookies alone ------------------------------------------------------------------


def test_an_ip_address_sets_no_cookie_for_a_domain_it_ends() -> None:
    """http.cookiejar would match Domain=3.4 as a suffix of 5.6.3.4; RFC 6265 does not."""
    cookies = ChainCookies()
    cookies.take("http://1.2.3.4/", ("wide=1; Domain=3.4; Path=/", "own=2; Domain=1.2.3.4"))
    assert cookies.header_for("http://5.6.3.4/") is None
    assert cookies.header_for("http://1.2.3.4/") == "own=2"


def test_lines_with_control_characters_or_too_long_are_skipped() -> None:
    cookies = ChainCookies()
    long = "big=" + "x" * MAX_LINE_BYTES
    cookies.take("http://news.example/", ("a=1\x00; Path=/", long, "b=2; Path=/"))
    assert cookies.header_for("http://news.example/") == "b=2"


def test_a_cookie_goes_to_paths_under_its_path_only() -> None:
    cookies = ChainCookies()
    cookies.take("http://news.example/x", ("p=1; Path=/world", "q=2"))  # q: default path "/"
    assert cookies.header_for("http://news.example/world/2026/story") == "p=1; q=2"
    assert cookies.header_for("http://news.example/worldwide") == "q=2"


def test_a_version_attribute_changes_nothing_sent() -> None:
    """RFC 6265 ignores a Version attribute (RFC 2109's, which some servers still write): the
    cookie goes back as name=value, without RFC 2965's ``$Version`` and ``$Path``."""
    cookies = ChainCookies()
    cookies.take("http://news.example/", ("v=1; Version=1; Path=/",))
    assert cookies.header_for("http://news.example/a") == "v=1"


def test_a_domain_of_a_country_code_second_level_domain_is_refused() -> None:
    """www.news.co.uk cannot set a cookie for every .co.uk site (``strict_domain``)."""
    cookies = ChainCookies()
    cookies.take("http://www.news.co.uk/", ("wide=1; Domain=co.uk; Path=/", "own=2; Path=/"))
    assert cookies.header_for("http://other.co.uk/") is None
    assert cookies.header_for("http://www.news.co.uk/") == "own=2"


def test_a_host_only_cookie_of_an_ipv6_address_goes_back_to_it() -> None:
    """The IP address check is for a Domain attribute only: a cookie without one, set by an
    IPv6 literal (which http.cookiejar names ``[::1].local``), goes back to that host."""
    cookies = ChainCookies()
    cookies.take("http://[::1]:8080/", ("a=1; Path=/",))
    assert cookies.header_for("http://[::1]:8080/x") == "a=1"


@pytest.mark.parametrize("control", ["\x00", "\n", "\r", "\x1f", "\x7f"])
def test_a_line_with_any_control_character_but_htab_is_skipped(control: str) -> None:
    cookies = ChainCookies()
    cookies.take("http://news.example/", (f"a=1{control}; Path=/", "b=2;\tPath=/"))
    assert cookies.header_for("http://news.example/") == "b=2"


def test_a_line_of_max_line_bytes_is_read_and_a_longer_one_skipped() -> None:
    assert MAX_LINE_BYTES == 4096  # RFC 6265 section 6.1: at least 4096 bytes a cookie
    cookies = ChainCookies()
    fits = "fits=" + "x" * (MAX_LINE_BYTES - len("fits="))
    over = "over=" + "x" * (MAX_LINE_BYTES + 1 - len("over="))
    assert (len(fits), len(over)) == (MAX_LINE_BYTES, MAX_LINE_BYTES + 1)
    cookies.take("http://news.example/", (fits, over))
    assert cookies.header_for("http://news.example/") == fits


def test_an_answers_first_max_lines_lines_are_read_and_no_more() -> None:
    assert MAX_LINES == 50  # RFC 6265 section 6.1: at least 50 cookies a domain
    cookies = ChainCookies()
    cookies.take("http://news.example/", tuple(f"c{i}={i}" for i in range(MAX_LINES + 1)))
    sent = (cookies.header_for("http://news.example/") or "").split("; ")
    assert sorted(sent) == sorted(f"c{i}={i}" for i in range(MAX_LINES))


@pytest.mark.parametrize("path", ['"/"', "world", "", " "])
def test_a_path_not_starting_with_a_slash_gives_the_default_path(path: str) -> None:
    """RFC 6265 section 5.2.4: such a Path is ignored and the default path applies, the
    request's path up to its last "/" (here /a/b); cookiejar alone kept ``"/"`` as a path."""
    cookies = ChainCookies()
    cookies.take("http://news.example/a/b/page", (f"q=1; Path={path}; HttpOnly", "r=2; Path=/a"))
    assert cookies.header_for("http://news.example/a/b/other") == "q=1; r=2"
    assert cookies.header_for("http://news.example/a/other") == "r=2"
    assert cookies.header_for("http://news.example/") is None
