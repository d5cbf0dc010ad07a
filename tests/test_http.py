"""Tests for transforms.http (and its helpers in hostlimits/robots) against loopback servers.

Every test runs under a tripwire that fails it if any socket tries to connect outside
127.0.0.0/8, so even a broken address guard cannot send traffic off the machine.
"""

from __future__ import annotations

import gzip
import pickle
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from urllib3 import exceptions as u3e

from pipelines.loopback import LoopbackHandler, LoopbackSite, RawResponse, Request, Response
from pipelines.loopback_hostile import drip, endless_body, redirect
from transforms.charset import decode_html
from transforms.hostlimits import GuardError, HostLimiter, address_problem
from transforms.http import FetchError, HttpClient, HttpConfig, HttpResult
from transforms.http_answers import (
    as_fetch_error,
    check_status,
    checked_url,
    looks_like_html,
    parse_retry_after,
)
from transforms.robots import RobotsCache

FRENCH = "Le café de la gare est fermé. Les élèves sont allés à l'école, où ils ont étudié."
PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body><p>hello</p></body></html>"


def config(**overrides: Any) -> HttpConfig:
    """Loopback allowed, tiny backoffs and short timeouts, so failures come fast."""
    values: dict[str, Any] = {
        "allow_loopback": True,
        "backoff_base": 0.001,
        "retry_after_cap": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "deadline": 5.0,
    }
    values.update(overrides)
    return HttpConfig(**values)


@pytest.fixture
def client() -> Iterator[HttpClient]:
    c = HttpClient(config())
    yield c
    c.close()


def fetch_error(client: HttpClient, url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        client.get(url, **kwargs)
    return info.value


# --- address guard ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 form of 169.254.169.254
        ("2002:c0a8:0101::1", "private"),  # 6to4 form of 192.168.1.1
    ],
)
def test_refused_addresses(ip: str, reason: str) -> None:
    assert address_problem(ip) == reason


@pytest.mark.parametrize("ip", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(ip: str) -> None:
    assert address_problem(ip) is None


def test_allow_loopback_opens_loopback_only() -> None:
    assert address_problem("127.0.0.5", allow_loopback=True) is None
    assert address_problem("::1", allow_loopback=True) is None
    for ip in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "fe80::1", "192.168.0.1"):
        assert address_problem(ip, allow_loopback=True) is not None


def test_host_resolving_to_a_private_address_is_refused_before_connecting() -> None:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        asked.append(host)
        return [(socket.AF_INET, "10.0.0.7")]

    c = HttpClient(config(respect_robots=False), resolver=resolver)
    err = fetch_error(c, "http://intranet.example/admin")
    assert err.error_type == "blocked_address"
    assert "10.0.0.7" in err.message and not err.retryable
    assert asked == ["intranet.example"]


def test_one_refused_address_among_several_refuses_the_host(site: LoopbackSite) -> None:
    base = site.add_host("news")
    ip = urlsplit(base).hostname or ""

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        return [(socket.AF_INET, ip), (socket.AF_INET, "169.254.169.254")]

    c = HttpClient(config(respect_robots=False), resolver=resolver)
    assert fetch_error(c, f"http://mixed.example:{urlsplit(base).port}/").error_type == (
        "blocked_address"
    )
    assert site.requests == []


def test_connects_to_the_checked_ip_and_sends_the_host_name(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE))
    ip, port = urlsplit(base).hostname or "", urlsplit(base).port
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        calls.append(host)
        return [(socket.AF_INET, ip)]

    c = HttpClient(config(respect_robots=False), resolver=resolver)
    result = c.get(f"http://news.example:{port}/a")
    assert result.body == PAGE
    assert calls == ["news.example"]  # resolved once, by us
    assert site.requests[0].headers["Host"] == f"news.example:{port}"


def test_loopback_refused_by_default(site: LoopbackSite) -> None:
    base = site.add_host("news")
    c = HttpClient(HttpConfig())
    assert fetch_error(c, base + "/").error_type == "blocked_address"
    assert site.requests == []


def test_redirect_to_a_private_address_is_refused(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/a", redirect("http://169.254.169.254/latest/meta-data/"))
    c = HttpClient(config(respect_robots=False))
    err = fetch_error(c, base + "/a")
    assert err.error_type == "blocked_address" and "link-local" in err.message


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "javascript:alert(1)", "data:,x"]
)
def test_other_schemes_are_refused(client: HttpClient, url: str) -> None:
    assert fetch_error(client, url).error_type == "bad_scheme"


def test_redirect_to_another_scheme_is_refused(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", redirect("file:///etc/passwd"))
    assert fetch_error(client, base + "/a").error_type == "bad_scheme"


def test_url_without_host_or_with_bad_port(client: HttpClient) -> None:
    assert fetch_error(client, "http:///path").error_type == "bad_url"
    assert fetch_error(client, "http://example.com:99999/").error_type == "bad_url"


# An unclosed IPv6 bracket (urljoin/urlsplit raise ValueError) and a host label over 63
# characters (the resolver's IDNA codec raises UnicodeError): both crashed a feed poll.
UNRESOLVABLE = ("http://[bad/", "http://[::1/x", "http://" + "a" * 64 + ".example/rss")


@pytest.mark.parametrize("url", UNRESOLVABLE)
def test_unparsable_or_unresolvable_first_url_is_bad_url(site: LoopbackSite, url: str) -> None:
    site.add_host("news")
    c = HttpClient(config())
    for kind in ("feed", "page"):
        err = fetch_error(c, url, kind=kind)
        assert (err.error_type, err.retryable) == ("bad_url", False)
    assert site.requests == []


@pytest.mark.parametrize("location", UNRESOLVABLE)
def test_redirect_to_an_unparsable_or_unresolvable_url_is_bad_url(
    site: LoopbackSite, location: str
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", redirect(location))
    c = HttpClient(config(respect_robots=False))
    for kind in ("feed", "page"):
        err = fetch_error(c, base + "/a", kind=kind)
        assert (err.error_type, err.retryable) == ("bad_url", False)
    assert [r.path for r in site.requests] == ["/a", "/a"]  # not retried


# --- results, decoding ------------------------------------------------------------------


def test_page_result_and_user_agent(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE, etag='"v1"', gzip=True))
    c = HttpClient(config(contact_url="https://example.org/newsbeam"))
    result = c.get(base + "/a")
    assert (result.status, result.body, result.content_type) == (200, PAGE, "text/html")
    assert result.etag == '"v1"' and not result.not_modified
    assert result.final_url == result.url == base + "/a"
    agent = site.requests_for("news", "/a")[0].headers["User-Agent"]
    assert agent.startswith("newsbeam/") and "+https://example.org/newsbeam" in agent


def test_conditional_get_answers_not_modified(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/feed", Response(body=b"<rss/>", content_type="application/rss+xml",
                                         etag='"abc"'))  # fmt: skip
    first = client.get(base + "/feed", kind="feed")
    second = client.get(base + "/feed", kind="feed", etag=first.etag)
    assert second.not_modified and second.body == b"" and second.etag == '"abc"'
    assert site.requests_for("news", "/feed")[1].headers["If-None-Match"] == '"abc"'


def test_config_is_picklable_and_validated() -> None:
    cfg = config(per_host_in_flight=4)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(ValueError, match="per_host_in_flight"):
        HttpConfig(per_host_in_flight=9)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("café".encode(), "text/html; charset=utf-8", "café"),
        (FRENCH.encode("cp1252"), "text/html; charset=utf-8", FRENCH),  # wrong header
        (FRENCH.encode("cp1252"), None, FRENCH),
        ("café".encode("cp1252"), "text/html; charset=ISO-8859-1", "café"),
        (b'<meta charset="windows-1251">' + "новости".encode("cp1251"), None, "новости"),
        ("\ufeffcafé".encode(), "text/html; charset=latin-1", "café"),  # BOM wins
        ("Привет, мир! Новости дня.".encode("koi8-r") * 20, "text/html", "Привет, мир!"),
        (b"caf\xc3\xa9", "text/html; charset=no-such-codec", "café"),
    ],
)
def test_decode_html(body: bytes, content_type: str | None, expected: str) -> None:
    assert expected in decode_html(body, content_type)


KOI8 = "Привет, мир! Новости дня.".encode("koi8-r")  # detection alone gets this one wrong


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("\ufeffcafé".encode(), None, "café"),  # the BOM itself is not text
        ("\ufeffcafé".encode("utf-16-le"), None, "café"),
        ("\ufeffcafé".encode("utf-16-be"), None, "café"),
        # WHATWG: ISO-8859-1 and US-ASCII labels mean windows-1252, whatever their case
        ("5 € net".encode("cp1252"), "text/html; charset=ISO-8859-1", "5 € net"),
        ("5 € net".encode("cp1252"), "text/html; charset=us-ascii", "5 € net"),
        (KOI8, "text/html; CHARSET=koi8-r", "Привет, мир! Новости дня."),
        (
            b'<META CHARSET="KOI8-R">' + KOI8,
            None,
            '<META CHARSET="KOI8-R">Привет, мир! Новости дня.',
        ),
        (
            b'<meta charset="koi8-r">' + KOI8,
            None,
            '<meta charset="koi8-r">Привет, мир! Новости дня.',
        ),
    ],
)
def test_decode_html_exactly(body: bytes, content_type: str | None, expected: str) -> None:
    assert decode_html(body, content_type) == expected


def test_decode_never_raises_on_garbage() -> None:
    garbage = bytes(range(256)) * 8
    for content_type in (None, "text/html; charset=utf-8", "text/html; charset=utf-16"):
        assert isinstance(decode_html(garbage, content_type), str)
    result = HttpResult(url="u", final_url="u", status=200, body=b"\xff\xfe\x00\xd8")
    assert isinstance(result.text(), str)


# --- size caps --------------------------------------------------------------------------


def test_declared_length_over_the_cap(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/big", Response(body=b"<html>" + b"x" * 5000))
    c = HttpClient(config(max_page_bytes=4096))
    assert fetch_error(c, base + "/big").error_type == "too_large"
    assert c.get(base + "/big", kind="feed").status == 200  # the feed cap is separate


def test_endless_body_stops_at_the_cap(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/endless", endless_body())
    c = HttpClient(config(max_page_bytes=256 * 1024))
    err = fetch_error(c, base + "/endless")
    assert err.error_type == "too_large" and not err.retryable


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(site: LoopbackSite) -> None:
    cap = 1024 * 1024
    bomb = gzip.compress(b"\0" * (64 * cap), compresslevel=9)  # 64 MiB inflated
    base = site.add_host("news")
    site.route("news", "/bomb", Response(body=bomb, body_is_gzip=True))
    c = HttpClient(config(max_page_bytes=cap))
    tracemalloc.start()
    try:
        err = fetch_error(c, base + "/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.error_type == "too_large"
    assert peak < 3 * cap + len(bomb)


# --- redirects --------------------------------------------------------------------------


def test_redirects_are_followed_up_to_the_limit(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    for i in range(7):
        site.route("news", f"/r{i}", redirect(f"/r{i + 1}"))
    site.route("news", "/r5", Response(body=PAGE))
    result = client.get(base + "/r0")
    assert result.final_url == base + "/r5" and result.url == base + "/r0"
    site.route("news", "/r5", redirect("/r6"))
    assert fetch_error(client, base + "/r0").error_type == "too_many_redirects"


def test_redirect_loop(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", redirect("/b"))
    site.route("news", "/b", redirect(base + "/a"))
    assert fetch_error(client, base + "/a").error_type == "redirect_loop"


# --- statuses and retries ---------------------------------------------------------------


def sequence(*answers: Response) -> Any:
    """A route that gives each answer once, in order, then repeats the last one."""
    lock = threading.Lock()
    left = list(answers)

    def route(request: Request) -> Response:
        with lock:
            return left.pop(0) if len(left) > 1 else left[0]

    return route


def test_transient_errors_are_retried_then_succeed(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(503), Response(500), Response(body=PAGE)))
    assert client.get(base + "/a").body == PAGE
    assert [r.status for r in site.requests_for("news", "/a")] == [503, 500, 200]


def test_429_with_retry_after_then_success(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(429, headers={"Retry-After": "0"}),
                                      Response(body=PAGE)))  # fmt: skip
    assert client.get(base + "/a").body == PAGE
    assert len(site.requests_for("news", "/a")) == 2


def test_retry_after_under_the_cap_is_waited_for(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(503, headers={"Retry-After": "1"}),
                                      Response(body=PAGE)))  # fmt: skip
    c = HttpClient(config(retry_after_cap=2.0))
    assert c.get(base + "/a").body == PAGE
    first, second = site.requests_for("news", "/a")
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 1.0  # the server's own clock: a lower bound, no sleeps


def test_persistent_5xx_gives_a_retryable_error(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(500))
    err = fetch_error(client, base + "/a")
    assert (err.error_type, err.retryable) == ("http_500", True)
    assert len(site.requests_for("news", "/a")) == client.config.retries + 1


def test_retry_after_over_the_cap_is_not_waited_for(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(503, headers={"Retry-After": "3600"}))
    err = fetch_error(client, base + "/a")
    assert (err.error_type, err.retryable) == ("http_503", True)
    assert len(site.requests_for("news", "/a")) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 408, 410])
def test_client_errors_are_not_retried(site: LoopbackSite, client: HttpClient, status: int) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(status))
    err = fetch_error(client, base + "/a")
    assert (err.error_type, err.retryable) == (f"http_{status}", False)
    assert len(site.requests_for("news", "/a")) == 1


def test_slow_drip_hits_the_deadline(site: LoopbackSite) -> None:
    base = site.add_host("news")
    site.route("news", "/slow", drip(PAGE, bytes_per_s=20))
    c = HttpClient(config(deadline=0.5, read_timeout=2.0))
    err = fetch_error(c, base + "/slow")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)


def test_connection_refused_is_a_retryable_connection_error(client: HttpClient) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        err = fetch_error(client, f"http://127.0.0.1:{port}/")
    assert (err.error_type, err.retryable) == ("connection_error", True)


# --- content types ----------------------------------------------------------------------


def test_pages_must_be_html(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/doc.pdf", Response(body=b"%PDF-1.7", content_type="application/pdf"))
    site.route("news", "/untyped", Response(body=PAGE, content_type=None))
    site.route("news", "/blob", Response(body=b"\x89PNG\r\n", content_type=None))
    assert fetch_error(client, base + "/doc.pdf").error_type == "not_html"
    assert client.get(base + "/untyped").body == PAGE
    assert fetch_error(client, base + "/blob").error_type == "not_html"
    assert client.get(base + "/doc.pdf", kind="feed").body == b"%PDF-1.7"  # feeds: any type


# --- robots.txt and per-host limits -----------------------------------------------------


def test_robots_txt_is_honoured_and_fetched_once(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    robots = b"User-agent: *\nDisallow: /private/\n"
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    assert client.get(base + "/public/1").status == 200
    err = fetch_error(client, base + "/private/2")
    assert (err.error_type, err.retryable) == ("robots_disallowed", False)
    assert client.get(base + "/private/3", kind="feed").status == 200  # feeds: no robots
    assert len(site.requests_for("news", "/robots.txt")) == 1
    assert site.requests_for("news", "/private/2") == []


def test_robots_txt_group_for_newsbeam(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    robots = b"User-agent: newsbeam\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    assert fetch_error(client, base + "/a").error_type == "robots_disallowed"


def test_unreachable_robots_txt_is_retryable(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(503))
    site.route("news", "/a", Response(body=PAGE))
    err = fetch_error(client, base + "/a")
    assert (err.error_type, err.retryable) == ("robots_unavailable", True)
    assert site.requests_for("news", "/a") == []


def test_in_flight_requests_per_host_are_bounded(site: LoopbackSite) -> None:
    base = site.add_host("news")
    lock = threading.Lock()
    current = [0]
    peak = [0]

    def slow_page(h: LoopbackHandler) -> None:
        """Counts the requests the server is answering at once; each takes 50 ms."""
        with lock:
            current[0] += 1
            peak[0] = max(peak[0], current[0])
        h.stopping.wait(0.05)  # the server's behaviour: it answers late
        with lock:
            current[0] -= 1
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(PAGE)))
        h.end_headers()
        h.wfile.write(PAGE)

    site.set_fallback("news", RawResponse(slow_page))
    c = HttpClient(config(per_host_in_flight=2, respect_robots=False))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: c.get(f"{base}/a{i}"), range(16)))
    assert all(r.body == PAGE for r in results)
    assert 1 <= peak[0] <= 2  # 8 callers, never more than 2 at the server
    assert len(site.requests_for("news")) == 16


def test_host_limiter_spaces_request_starts() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    limiter = HostLimiter(2, min_interval=0.5, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        with limiter.slot("a.example"):
            pass
    with limiter.slot("b.example"):  # another host is not delayed
        pass
    assert waits == [0.5, 0.5]


def test_robots_cache_ttl_and_error_ttl() -> None:
    now = [0.0]
    fetched: list[str] = []
    answers: list[Any] = [b"User-agent: *\nDisallow: /x\n", FetchError("timeout", "slow", True)]

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        answer = answers.pop(0) if answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = RobotsCache(fetch, user_agent="newsbeam", ttl=100, error_ttl=10, clock=lambda: now[0])
    assert not cache.allowed("http://a.example/x/1") and cache.allowed("http://a.example/y")
    now[0] = 101.0  # expired: fetched again, and this time it times out
    with pytest.raises(FetchError, match="timeout"):
        cache.allowed("http://a.example/y")
    with pytest.raises(FetchError, match="timeout"):  # the error is remembered...
        cache.allowed("http://a.example/z")
    now[0] = 112.0  # ...for error_ttl only; then there is no robots.txt (None): all allowed
    assert cache.allowed("http://a.example/x/1")
    assert fetched == ["http://a.example/robots.txt"] * 3


# --- what an answer becomes (transforms.http_answers) -----------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed(
    site: LoopbackSite, client: HttpClient, status: int
) -> None:
    base = site.add_host("news")
    site.route("news", "/old", redirect("/new", status=status))
    site.route("news", "/new", Response(body=PAGE))
    site.route("news", "/robots.txt", Response(404))
    result = client.get(base + "/old")
    assert (result.status, result.final_url, result.body) == (200, base + "/new", PAGE)


def test_redirect_without_location_is_a_final_http_error(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(302, content_type=None))
    err = fetch_error(client, base + "/a", kind="feed")
    assert (err.error_type, err.retryable, err.status) == ("http_302", False, 302)
    assert "without Location" in err.message


def test_unasked_for_304_is_an_error(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/feed", Response(304, content_type=None))
    err = fetch_error(client, base + "/feed", kind="feed")
    assert (err.error_type, err.retryable) == ("http_304", False)


def test_304_keeps_the_validators_sent_when_the_server_repeats_none(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/feed", Response(304, content_type=None))
    sent = "Wed, 21 Oct 2015 07:28:00 GMT"
    result = client.get(base + "/feed", kind="feed", etag='"v7"', last_modified=sent)
    assert result.not_modified and result.status == 304 and result.body == b""
    assert (result.etag, result.last_modified) == ('"v7"', sent)


def test_content_type_is_the_media_type_in_lower_case(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route(
        "news",
        "/rss",
        Response(body=b"<rss/>", content_type=" Application/RSS+XML ; charset=UTF-8"),
    )
    site.route("news", "/page", Response(body=PAGE, content_type="Text/HTML; charset=utf-8"))
    site.route("news", "/robots.txt", Response(404))
    assert client.get(base + "/rss", kind="feed").content_type == "application/rss+xml"
    page = client.get(base + "/page")
    assert page.content_type == "text/html" and not page.not_modified


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip"])
def test_gzip_content_encodings_are_decoded(
    site: LoopbackSite, client: HttpClient, encoding: str
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=gzip.compress(b"<rss/>"), content_type="text/xml",
                                        headers={"Content-Encoding": encoding}))  # fmt: skip
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"


def test_empty_content_encoding_is_identity(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"<rss/>", content_type="text/xml",
                                        headers={"Content-Encoding": ""}))  # fmt: skip
    assert client.get(base + "/rss", kind="feed").body == b"<rss/>"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_content_encodings_not_asked_for_are_refused(
    site: LoopbackSite, client: HttpClient, encoding: str
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"\x1b\x05\x00", content_type="text/xml",
                                        headers={"Content-Encoding": encoding}))  # fmt: skip
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)


def test_corrupt_gzip_is_a_final_bad_content_encoding(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=b"this is not gzip data", content_type="text/xml",
                                        headers={"Content-Encoding": "gzip"}))  # fmt: skip
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)
    assert len(site.requests_for("news", "/rss")) == 1  # not retried


def test_body_of_exactly_the_cap_is_accepted(site: LoopbackSite) -> None:
    cap = 4096
    base = site.add_host("news")
    site.route("news", "/exact", Response(body=b"x" * cap, content_type="text/xml"))
    site.route("news", "/over", Response(body=b"x" * (cap + 1), content_type="text/xml"))
    # gzip: the Content-Length is small, so only the decompressed size can be checked
    site.route("news", "/exact.gz", Response(body=b"x" * cap, content_type="text/xml", gzip=True))
    site.route("news", "/over.gz", Response(body=b"x" * (cap + 1), content_type="text/xml",
                                            gzip=True))  # fmt: skip
    c = HttpClient(config(max_feed_bytes=cap))
    assert c.get(base + "/exact", kind="feed").body == b"x" * cap
    assert c.get(base + "/exact.gz", kind="feed").body == b"x" * cap
    over = fetch_error(c, base + "/over", kind="feed")
    assert over.error_type == "too_large" and "Content-Length 4097" in over.message
    over_gz = fetch_error(c, base + "/over.gz", kind="feed")
    assert over_gz.error_type == "too_large" and "decompressed" in over_gz.message


def test_robots_txt_over_its_cap_is_truncated_not_refused(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    rules = b"User-agent: *\nDisallow: /private/\n"
    robots = rules + b"# padding, ignored\n" * 40_000  # 760 000 bytes, over the 512 KiB read
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    assert client.get(base + "/public/1").status == 200
    assert fetch_error(client, base + "/private/1").error_type == "robots_disallowed"


def test_a_robots_rule_cut_off_by_the_cap_is_not_read_as_a_shorter_rule(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    head = b"User-agent: *\nDisallow: /private\n"
    cut_at = 512 * 1024  # the cap falls just after "Disallow: /" of the last rule
    padding = b"#" * (cut_at - len(head) - len(b"\nDisallow: /")) + b"\n"
    robots = head + padding + b"Disallow: /archive-2001/\n"
    assert robots[:cut_at].endswith(b"\nDisallow: /")
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    assert client.get(base + "/news/1").status == 200  # "Disallow: /" would have blocked it
    assert fetch_error(client, base + "/private/1").error_type == "robots_disallowed"


@pytest.mark.parametrize("encoding", ["gzip ", " gzip\t"])
def test_a_content_encoding_with_spaces_around_it_is_refused_not_passed_on_compressed(
    site: LoopbackSite, client: HttpClient, encoding: str
) -> None:
    # urllib3 picks its decoder by the value as sent and would hand on the gzip bytes as they are
    base = site.add_host("news")
    site.route("news", "/rss", Response(body=gzip.compress(b"<rss/>"), content_type="text/xml",
                                        headers={"Content-Encoding": encoding}))  # fmt: skip
    err = fetch_error(client, base + "/rss", kind="feed")
    assert (err.error_type, err.retryable) == ("bad_content_encoding", False)
    assert "spaces around the name" in err.message


@pytest.mark.parametrize(
    ("errno", "retryable"), [(socket.EAI_AGAIN, True), (socket.EAI_NONAME, False)]
)
def test_dns_error_is_retryable_only_when_the_resolver_says_try_again(
    errno: int, retryable: bool
) -> None:
    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        raise socket.gaierror(errno, "resolver says no")

    c = HttpClient(config(respect_robots=False), resolver=resolver)
    err = fetch_error(c, "http://news.example/a")
    assert (err.error_type, err.retryable) == ("dns_error", retryable)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (599, True), (429, True), (499, False), (404, False)],
)
def test_check_status_error_types(status: int, retryable: bool) -> None:
    with pytest.raises(FetchError) as info:
        check_status(status, {"retry-after": "7"}, conditional=False)
    err = info.value
    assert (err.error_type, err.retryable, err.status) == (f"http_{status}", retryable, status)
    assert err.retry_after == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: no wait, never negative
        ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),  # no time zone: read as UTC
        ("", None),
        (None, None),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_date_in_the_future() -> None:
    wait = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert wait is not None and wait > 365 * 24 * 3600


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<!DOCTYPE html><p>x", True),
        (b"\xef\xbb\xbf \r\n\t<!doctype html><p>x", True),  # BOM and whitespace first
        (b"<HTML><BODY>x", True),
        (b"<head><title>t</title></head>", True),
        (b"<body><p>x</p></body>", True),
        (b"<!-- generated by a CMS at 12:00 -->\n<html><body>x", True),
        (b"<?xml version='1.0'?><rss/>", False),
        (b"%PDF-1.7" + b" " * 1024 + b"<html>", False),  # only the first 1024 bytes count
        (b"", False),
    ],
)
def test_looks_like_html(body: bytes, expected: bool) -> None:
    assert looks_like_html(body) is expected


def test_checked_url() -> None:
    assert checked_url(" HTTP://Example.com/a ") == "http://Example.com/a"
    assert checked_url("/b?x=1", base="https://example.com/a/") == "https://example.com/b?x=1"
    assert checked_url("c", base="https://example.com/a/") == "https://example.com/a/c"
    for url, error_type in [
        ("http:///feed", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("http://example.com:port/", "bad_url"),
        ("http://a..example/", "bad_url"),
        ("ftp://example.com/", "bad_scheme"),
    ]:
        with pytest.raises(FetchError) as info:
            checked_url(url)
        assert info.value.error_type == error_type, url


@pytest.mark.parametrize(
    ("err", "error_type", "retryable"),
    [
        (GuardError("dns_error", "try again", True), "dns_error", True),
        (GuardError("blocked_address", "private", False), "blocked_address", False),
        (u3e.ReadTimeoutError(None, "http://a.example/", "read timed out"), "timeout", True),
        (u3e.SSLError("bad certificate"), "tls_error", False),
        (u3e.DecodeError("incorrect header check"), "bad_content_encoding", False),
        (u3e.LocationValueError("No host specified."), "bad_url", False),
        (u3e.ProtocolError("Connection aborted."), "connection_error", True),
        (ConnectionResetError(), "connection_error", True),
    ],
)
def test_as_fetch_error(err: Exception, error_type: str, retryable: bool) -> None:
    fetch = as_fetch_error(err)
    assert (fetch.error_type, fetch.retryable) == (error_type, retryable)
    assert fetch.message  # never empty, even for an exception without a message


def test_robots_cache_expiry_boundaries() -> None:
    now = [0.0]
    fetched: list[str] = []

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        raise FetchError("timeout", "slow", True)

    # an error is never remembered longer than a good answer would be
    cache = RobotsCache(fetch, user_agent="newsbeam", ttl=10, error_ttl=60, clock=lambda: now[0])
    with pytest.raises(FetchError):
        cache.allowed("http://a.example/x")
    now[0] = 9.5
    with pytest.raises(FetchError):
        cache.allowed("http://a.example/x")
    assert len(fetched) == 1
    now[0] = 10.0  # expired at exactly ttl
    with pytest.raises(FetchError):
        cache.allowed("http://a.example/x")
    assert len(fetched) == 2


def test_robots_txt_per_origin() -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        return "User-agent: *\nDisallow: /café/\n".encode()

    cache = RobotsCache(fetch, user_agent="newsbeam")
    assert not cache.allowed("HTTP://A.example/café/1")
    assert cache.allowed("http://a.example/tea/1")  # the same origin: not fetched again
    assert cache.allowed("http://[::1]:8080/tea/1")
    assert fetched == ["http://a.example/robots.txt", "http://[::1]:8080/robots.txt"]


def test_host_limiter_spacing_counts_from_now_after_a_pause() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        now[0] += seconds

    limiter = HostLimiter(3, min_interval=0.5, clock=lambda: now[0], sleep=sleep)
    with limiter.slot("a.example"):  # held throughout, so the host's last start is kept
        now[0] = 1000.0
        with limiter.slot("a.example"), limiter.slot("a.example"):
            pass
    assert waits == [0.5]  # the third start is spaced from the second (at 1000), not from 100


@pytest.mark.parametrize(("slots", "interval"), [(0, 0.0), (1, -0.5)])
def test_host_limiter_refuses_bad_limits(slots: int, interval: float) -> None:
    with pytest.raises(ValueError):
        HostLimiter(slots, min_interval=interval)


def test_host_resolving_to_no_address_is_a_dns_error() -> None:
    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        return []

    c = HttpClient(config(respect_robots=False), resolver=resolver)
    err = fetch_error(c, "http://nowhere.example/a")
    assert (err.error_type, err.retryable) == ("dns_error", False)
