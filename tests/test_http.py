"""Tests for transforms.http: the client against loopback servers (address guard, decoding,
size caps, redirects, retries, content types).

Every test runs under a tripwire that fails it if any socket tries to connect outside
127.0.0.0/8, so even a broken address guard cannot send traffic off the machine. robots.txt
and per-host limits: test_robots_hostlimits.py; what an answer becomes: test_http_answers.py.
"""

from __future__ import annotations

import gzip
import pickle
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import Any
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
from tests.cpu_limited import run_cpu_limited
from tests.http_support import PAGE, config, fetch_error
from tests.loopback_hostile import connection_reset, drip, endless_body, redirect
from transforms.charset import _META_CHARSET, decode_html
from transforms.deadlines import Watch
from transforms.hostlimits import address_problem
from transforms.http import FetchError, HttpClient, HttpConfig, HttpResult

FRENCH = "Le café de la gare est fermé. Les élèves sont allés à l'école, où ils ont étudié."


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
        ("fec0::1", "site-local"),  # deprecated, but Python 3.11 calls it global
        ("3fff::1", "reserved"),  # documentation (RFC 9637), not in Python 3.11's tables
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


@pytest.mark.parametrize(
    "ip",
    [
        "64:ff9b::7f00:1",  # NAT64 form of 127.0.0.1: a gateway's, on another machine
        "2002:7f00:1::1",  # 6to4 form of 127.0.0.1: a relay's, across the internet
    ],
)
def test_allow_loopback_does_not_open_a_loopback_address_wrapped_for_another_network(
    ip: str,
) -> None:
    # Judged as the IPv4 address they embed, they passed as loopback: a connection to one
    # leaves the machine, which --allow-loopback (127.0.0.0/8 and ::1 only) must not open.
    assert address_problem(ip, allow_loopback=True) == "loopback"
    assert address_problem("::ffff:127.0.0.1", allow_loopback=True) is None  # this machine's


def test_host_resolving_to_a_private_address_is_refused_before_connecting(
    new_client: Callable[..., HttpClient],
) -> None:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        asked.append(host)
        return [(socket.AF_INET, "10.0.0.7")]

    c = new_client(config(respect_robots=False), resolver=resolver)
    err = fetch_error(c, "http://intranet.example/admin")
    assert err.error_type == "blocked_address"
    assert "10.0.0.7" in err.message and not err.retryable
    assert asked == ["intranet.example"]


def test_one_refused_address_among_several_refuses_the_host(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    ip = urlsplit(base).hostname or ""

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        return [(socket.AF_INET, ip), (socket.AF_INET, "169.254.169.254")]

    c = new_client(config(respect_robots=False), resolver=resolver)
    assert fetch_error(c, f"http://mixed.example:{urlsplit(base).port}/").error_type == (
        "blocked_address"
    )
    assert site.requests == []


def test_connects_to_the_checked_ip_and_sends_the_host_name(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE))
    ip, port = urlsplit(base).hostname or "", urlsplit(base).port
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[tuple[int, str]]:
        calls.append(host)
        return [(socket.AF_INET, ip)]

    c = new_client(config(respect_robots=False), resolver=resolver)
    result = c.get(f"http://news.example:{port}/a")
    assert result.body == PAGE
    assert calls == ["news.example"]  # resolved once, by us
    assert site.requests[0].headers["Host"] == f"news.example:{port}"


def test_loopback_refused_by_default(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    c = new_client(HttpConfig())
    err = fetch_error(c, base + "/")
    assert err.error_type == "blocked_address"
    assert err.message.endswith("a loopback address (--allow-loopback opens it)")
    assert site.requests == []


@pytest.mark.parametrize("robots", [False, True])
def test_redirect_to_a_private_address_is_refused(
    site: LoopbackSite, new_client: Callable[..., HttpClient], robots: bool
) -> None:
    # With robots.txt respected, the target host's robots.txt is asked for first and the
    # guard refuses that request: the message said "robots.txt: ...", as if robots.txt were
    # at fault. It is the page's own refusal now, whichever request met the guard.
    base = site.add_host("news")
    site.route("news", "/a", redirect("http://169.254.169.254/latest/meta-data/"))
    c = new_client(config(respect_robots=robots))
    err = fetch_error(c, base + "/a")
    assert err.error_type == "blocked_address" and "link-local" in err.message
    assert "--allow-loopback" not in err.message  # no flag opens the metadata address
    assert "robots" not in err.message


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
def test_unparsable_or_unresolvable_first_url_is_bad_url(
    site: LoopbackSite, url: str, new_client: Callable[..., HttpClient]
) -> None:
    site.add_host("news")
    c = new_client(config())
    for kind in ("feed", "page"):
        err = fetch_error(c, url, kind=kind)
        assert (err.error_type, err.retryable) == ("bad_url", False)
    assert site.requests == []


@pytest.mark.parametrize("location", UNRESOLVABLE)
def test_redirect_to_an_unparsable_or_unresolvable_url_is_bad_url(
    site: LoopbackSite,
    location: str,
    new_client: Callable[..., HttpClient],
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", redirect(location))
    c = new_client(config(respect_robots=False))
    for kind in ("feed", "page"):
        err = fetch_error(c, base + "/a", kind=kind)
        assert (err.error_type, err.retryable) == ("bad_url", False)
    assert [r.path for r in site.requests] == ["/a", "/a"]  # not retried


# --- results, decoding ------------------------------------------------------------------


def test_page_result_and_user_agent(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE, etag='"v1"', gzip=True))
    c = new_client(config(contact_url="https://example.org/newsbeam"))
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


def test_a_conditional_get_sends_its_validators_on_every_hop(
    site: LoopbackSite, client: HttpClient
) -> None:
    # A feed that moved (http to https, a new path) is asked through its redirect: the
    # validators kept from its last poll must reach the hop that answers, or it never says 304.
    base = site.add_host("news")
    site.route("news", "/old", redirect("/feed"))
    site.route("news", "/feed", Response(body=b"<rss/>", content_type="application/rss+xml",
                                         etag='"abc"'))  # fmt: skip
    result = client.get(base + "/old", kind="feed", etag='"abc"')
    assert result.not_modified and result.final_url == base + "/feed"
    assert [r.headers.get("If-None-Match") for r in site.requests_for("news")] == ['"abc"'] * 2


def test_config_is_picklable_and_validated() -> None:
    cfg = config(per_host_in_flight=4)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(ValueError, match="per_host_in_flight"):
        HttpConfig(per_host_in_flight=9)


@pytest.mark.parametrize("name", ["connect_timeout", "read_timeout", "deadline"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_timeouts_and_the_deadline_must_be_positive(name: str, value: float) -> None:
    # A zero deadline would fail every fetch at once; a zero timeout means "no timeout" to
    # some socket APIs. All three are refused when the config is made, naming the setting.
    kwargs: dict[str, Any] = {name: value}
    with pytest.raises(ValueError, match=name):
        HttpConfig(**kwargs)


def test_request_headers(site: LoopbackSite, new_client: Callable[..., HttpClient]) -> None:
    # A configured User-Agent is sent as it is; the client asks for the compressions it
    # decodes, and each kind of request names the types it wants.
    base = site.add_host("news")
    site.set_fallback("news", Response(body=PAGE))
    c = new_client(config(user_agent="MonitorBot/2.0 (ops@example.org)", respect_robots=False))
    c.get(base + "/page")
    c.get(base + "/feed", kind="feed")
    page, feed = (site.requests_for("news", path)[0].headers for path in ("/page", "/feed"))
    assert page["User-Agent"] == feed["User-Agent"] == "MonitorBot/2.0 (ops@example.org)"
    assert page["Accept-Encoding"] == feed["Accept-Encoding"] == "gzip, deflate"
    assert page["Accept"].startswith("text/html") and "rss+xml" in feed["Accept"]


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


def test_a_meta_charset_is_looked_for_in_linear_time() -> None:
    # Spaces after "charset=" and no label: r"""charset\s*=\s*["']?\s*(...)""" gave them back
    # one at a time to its last \s*, n^2 steps for each "<meta" before them, in a child allowed
    # 20 s of CPU time (tests.cpu_limited): hours for 1 MB, 17 s for the page's first 4 KiB.
    spaces = b"<meta charset=" + b" " * 1_000_000 + b"!"
    assert run_cpu_limited(lambda: _META_CHARSET.search(spaces) is None)
    page = b"<meta" * 250 + b" charset=" + b" " * 2300 + b"!>" + b'<meta charset="koi8-r">' + KOI8
    assert run_cpu_limited(decode_html, page, None) == page.decode("koi8-r")


def test_decode_never_raises_on_garbage() -> None:
    garbage = bytes(range(256)) * 8
    for content_type in (None, "text/html; charset=utf-8", "text/html; charset=utf-16"):
        assert isinstance(decode_html(garbage, content_type), str)
    result = HttpResult(url="u", final_url="u", status=200, body=b"\xff\xfe\x00\xd8")
    assert isinstance(result.text(), str)


# --- size caps --------------------------------------------------------------------------


def test_declared_length_over_the_cap(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/big", Response(body=b"<html>" + b"x" * 5000))
    c = new_client(config(max_page_bytes=4096))
    assert fetch_error(c, base + "/big").error_type == "too_large"
    assert c.get(base + "/big", kind="feed").status == 200  # the feed cap is separate


def test_endless_body_stops_at_the_cap(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/endless", endless_body())
    c = new_client(config(max_page_bytes=256 * 1024))
    err = fetch_error(c, base + "/endless")
    assert err.error_type == "too_large" and not err.retryable


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    cap = 1024 * 1024
    bomb = gzip.compress(b"\0" * (64 * cap), compresslevel=9)  # 64 MiB inflated
    base = site.add_host("news")
    site.route("news", "/bomb", Response(body=bomb, body_is_gzip=True))
    c = new_client(config(max_page_bytes=cap))
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
    limit = client.config.max_redirects
    assert limit == 10  # the default, whose reason transforms/http.py's docstring gives
    for i in range(limit + 2):
        site.route("news", f"/r{i}", redirect(f"/r{i + 1}"))
    site.route("news", f"/r{limit}", Response(body=PAGE))
    result = client.get(base + "/r0")
    assert result.final_url == base + f"/r{limit}" and result.url == base + "/r0"
    site.route("news", f"/r{limit}", redirect(f"/r{limit + 1}"))
    assert fetch_error(client, base + "/r0").error_type == "too_many_redirects"


def test_redirect_loop(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", redirect("/b"))
    site.route("news", "/b", redirect(base + "/a"))
    assert fetch_error(client, base + "/a").error_type == "redirect_loop"
    # The first URL counts as seen: the redirect back to it is the loop, it is not asked again.
    assert [r.path for r in site.requests_for("news") if r.path != "/robots.txt"] == ["/a", "/b"]


def test_a_redirect_loop_that_skips_the_first_url_or_adds_a_fragment_is_a_loop(
    site: LoopbackSite, client: HttpClient
) -> None:
    """Each URL a redirect led to counts as seen, not the first only, and a fragment does not
    make a URL another: each loop ends at its first repeat, not after the hop limit."""
    base = site.add_host("news")
    site.route("news", "/a", redirect("/b"))
    site.route("news", "/b", redirect("/c"))
    site.route("news", "/c", redirect("/b"))
    site.route("news", "/x", redirect("/y#top"))
    site.route("news", "/y", redirect("/x#top"))
    assert fetch_error(client, base + "/a").error_type == "redirect_loop"
    assert fetch_error(client, base + "/x").error_type == "redirect_loop"
    asked = [r.path for r in site.requests_for("news") if r.path != "/robots.txt"]
    assert asked == ["/a", "/b", "/c", "/x", "/y"]


def test_a_relative_location_resolves_against_the_url_that_answered(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/old/1", redirect("/new/1"))
    site.route("news", "/new/1", redirect("2"))  # /new/2, not /old/2 (the first URL's folder)
    site.route("news", "/new/2", Response(body=PAGE))
    assert client.get(base + "/old/1").final_url == base + "/new/2"


def test_a_page_refused_before_its_body_came_leaves_no_connection_behind(
    site: LoopbackSite,
    new_client: Callable[..., HttpClient],
) -> None:
    # The PDF's headers come at once and its body later: the client refuses it unread. Its
    # connection must not serve the next request, which would read the PDF's late bytes as
    # its own answer (no retries here, so that would be this request's error).
    def late_pdf(h: LoopbackHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/pdf")
        h.send_header("Content-Length", "8")
        h.end_headers()
        h.wfile.flush()
        if not h.stopping.wait(10):
            h.wfile.write(b"%PDF-1.7")

    base = site.add_host("news")
    site.route("news", "/doc.pdf", RawResponse(late_pdf))
    site.route("news", "/a", Response(body=PAGE))
    c = new_client(config(respect_robots=False, retries=0))
    assert fetch_error(c, base + "/doc.pdf").error_type == "not_html"
    assert c.get(base + "/a").body == PAGE


# --- robots.txt through redirects and errors (more in test_robots_hostlimits.py) ------


def test_a_redirect_into_a_disallowed_path_is_refused_before_it_is_followed(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(body=b"User-agent: *\nDisallow: /members/\n"))
    site.route("news", "/go", redirect("/members/1"))
    err = fetch_error(client, base + "/go")
    assert (err.error_type, err.retryable) == ("robots_disallowed", False)
    assert site.requests_for("news", "/members/1") == []


@pytest.mark.parametrize("hops", ["loop", "too_many"])
def test_a_robots_txt_that_redirects_without_end_means_no_rules(
    site: LoopbackSite, client: HttpClient, hops: str
) -> None:
    # RFC 9309: robots.txt that cannot be reached through its redirects is "unavailable",
    # so every path is allowed.
    base = site.add_host("news")
    if hops == "loop":
        site.route("news", "/robots.txt", redirect("/robots-2.txt"))
        site.route("news", "/robots-2.txt", redirect("/robots.txt"))
    else:
        site.route("news", "/robots.txt", redirect("/r/0"))
        for i in range(client.config.max_redirects + 1):
            site.route("news", f"/r/{i}", redirect(f"/r/{i + 1}"))
    site.route("news", "/a", Response(body=PAGE))
    assert client.get(base + "/a").body == PAGE


def test_the_time_robots_txt_takes_counts_against_the_pages_deadline(site: LoopbackSite) -> None:
    # A page redirected across hosts whose robots.txt each answer late: every robots.txt
    # fetch had a deadline of its own, so one page took several deadlines (6 hosts answering
    # at 2.7 s held a page with a 3 s deadline for 16 s).
    client = HttpClient(config(deadline=1.0))
    bases = [site.add_host(f"h{i}") for i in range(4)]
    for i in range(4):
        site.route(f"h{i}", "/robots.txt", Response(body=b"User-agent: *\n", delay_s=0.4))
        site.route(f"h{i}", "/a", redirect(bases[i + 1] + "/a") if i < 3 else Response(body=PAGE))
    err = fetch_error(client, bases[0] + "/a")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)
    assert site.requests_for("h3", "/a") == []  # the robots.txt of h0-h2 took the 1 s
    client.close()


def test_a_rate_limited_robots_txt_is_unavailable_not_absent(
    site: LoopbackSite, client: HttpClient
) -> None:
    # A 4xx robots.txt allows all, but 429 says "come back later": the page waits too.
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(429))
    site.route("news", "/a", Response(body=PAGE))
    err = fetch_error(client, base + "/a")
    assert (err.error_type, err.retryable) == ("robots_unavailable", True)
    assert site.requests_for("news", "/a") == []


# --- statuses and retries ---------------------------------------------------------------


def sequence(*answers: Answer) -> Callable[[Request], Answer]:
    """A route that gives each answer once, in order, then repeats the last one."""
    lock = threading.Lock()
    left = list(answers)

    def route(request: Request) -> Answer:
        with lock:
            return left.pop(0) if len(left) > 1 else left[0]

    return route


def test_transient_errors_are_retried_then_succeed(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(503), Response(500), Response(body=PAGE)))
    assert client.get(base + "/a").body == PAGE
    assert [r.status for r in site.requests_for("news", "/a")] == [503, 500, 200]


def test_a_dropped_connection_is_retried(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(connection_reset(), Response(body=PAGE)))
    assert client.get(base + "/a").body == PAGE
    assert len(site.requests_for("news", "/a")) == 2


def test_429_with_retry_after_then_success(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(429, headers={"Retry-After": "0"}),
                                      Response(body=PAGE)))  # fmt: skip
    assert client.get(base + "/a").body == PAGE
    assert len(site.requests_for("news", "/a")) == 2


def test_retry_after_under_the_cap_is_waited_for(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(503, headers={"Retry-After": "1"}),
                                      Response(body=PAGE)))  # fmt: skip
    c = new_client(config(retry_after_cap=2.0))
    assert c.get(base + "/a").body == PAGE
    first, second = site.requests_for("news", "/a")
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 1.0  # the server's own clock: a lower bound, no sleeps


def test_retry_after_equal_to_the_cap_is_waited_for(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # Only a Retry-After longer than the cap is refused (here both are zero).
    base = site.add_host("news")
    site.route("news", "/a", sequence(Response(503, headers={"Retry-After": "0"}),
                                      Response(body=PAGE)))  # fmt: skip
    c = new_client(config(retry_after_cap=0.0, respect_robots=False))
    assert c.get(base + "/a").body == PAGE


def test_waiting_to_retry_counts_against_the_deadline(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # Deadline 1.5 s, Retry-After 1 s: the first wait fits, the second would pass the
    # deadline, so the client gives up at once with the server's error (two requests).
    base = site.add_host("news")
    site.route("news", "/a", Response(503, headers={"Retry-After": "1"}))
    c = new_client(config(deadline=1.5, retry_after_cap=2.0, respect_robots=False))
    err = fetch_error(c, base + "/a")
    assert (err.error_type, err.retryable) == ("http_503", True) and "gave up" in err.message
    assert len(site.requests_for("news", "/a")) == 2


def test_the_deadline_covers_every_try_together(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # Each 503 comes after 0.5 s and the deadline is 0.95 s: the second try has under 0.45 s
    # left and is cut off there (a deadline per try would let all four tries end in a 503).
    # A slow machine only delays the first answer, so it has 0.45 s of slack; the second try
    # cannot end before 1.0 s, however fast the machine.
    base = site.add_host("news")
    site.route("news", "/a", Response(503, delay_s=0.5))
    c = new_client(config(deadline=0.95, respect_robots=False))
    err = fetch_error(c, base + "/a")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)
    assert len(site.requests_for("news", "/a")) == 2


def test_a_read_that_times_out_at_the_deadline_is_the_deadline(
    site: LoopbackSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The last try's read timeout is capped at the time left, so it ends at the deadline; on
    # a busy machine it could fire before the watchdog's thread shut the socket down, and the
    # page was a "timeout" dead letter, not "deadline_exceeded". Here the watchdog never runs.
    base = site.add_host("news")
    site.route("news", "/a", Response(200, body=b"late", delay_s=5))
    c = HttpClient(config(deadline=0.5, read_timeout=10, respect_robots=False))

    def never_fires(deadline_at: float) -> tuple[int, Watch]:
        return -1, Watch(deadline_at)

    monkeypatch.setattr(c._watchdog, "watch", never_fires)
    err = fetch_error(c, base + "/a")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)
    c.close()


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


@pytest.mark.parametrize("status", [400, 403, 404, 408, 410, 999])
def test_client_errors_are_not_retried(site: LoopbackSite, client: HttpClient, status: int) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(status))
    err = fetch_error(client, base + "/a")
    assert (err.error_type, err.retryable) == (f"http_{status}", False)
    assert len(site.requests_for("news", "/a")) == 1


def test_slow_drip_hits_the_deadline(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/slow", drip(PAGE, bytes_per_s=20))
    c = new_client(config(deadline=0.5, read_timeout=2.0))
    err = fetch_error(c, base + "/slow")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)


def test_a_body_without_length_cut_by_the_deadline_is_not_a_short_page(
    site: LoopbackSite,
    new_client: Callable[..., HttpClient],
) -> None:
    # Without a Content-Length the body ends when the connection closes, and the watchdog's
    # shutdown at the deadline reads as that end: the client must not take what came so far
    # for the whole page.
    def endless_drip(h: LoopbackHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"<html><body><p>")
        h.wfile.flush()
        while not h.stopping.wait(0.05):
            h.wfile.write(b"x")
            h.wfile.flush()

    base = site.add_host("news")
    site.route("news", "/slow", RawResponse(endless_drip))
    c = new_client(config(deadline=0.5, respect_robots=False))
    err = fetch_error(c, base + "/slow")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)


def test_a_redirect_whose_body_outlasts_the_deadline_is_a_retryable_deadline(
    site: LoopbackSite,
    new_client: Callable[..., HttpClient],
) -> None:
    # The 302's headers come at once, its short body one byte every 0.1 s: reading that body
    # (so the connection could be reused) runs into the 0.5 s deadline. The redirect is not
    # followed, and the error is the retryable deadline_exceeded like every other (it was
    # not retryable here, so the next run would not have tried the entry again).
    def slow_redirect(h: LoopbackHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/b")
        h.send_header("Content-Length", "50")
        h.end_headers()
        h.wfile.flush()
        while not h.stopping.wait(0.1):
            h.wfile.write(b"x")
            h.wfile.flush()

    base = site.add_host("news")
    site.route("news", "/a", RawResponse(slow_redirect))
    site.route("news", "/b", Response(body=PAGE))
    c = new_client(config(deadline=0.5, respect_robots=False))
    err = fetch_error(c, base + "/a")
    assert (err.error_type, err.retryable) == ("deadline_exceeded", True)
    assert site.requests_for("news", "/b") == []


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


def test_a_page_typed_html_is_taken_whatever_its_body_looks_like(
    site: LoopbackSite, client: HttpClient
) -> None:
    # The body is sniffed only when there is no Content-Type; a media type with spaces before
    # its parameters is still text/html.
    base = site.add_host("news")
    site.route("news", "/fragment", Response(body=b"<p>Just a paragraph</p>"))
    site.route("news", "/spaced", Response(body=PAGE, content_type="text/html ; charset=utf-8"))
    assert client.get(base + "/fragment").body == b"<p>Just a paragraph</p>"
    assert client.get(base + "/spaced").content_type == "text/html"


def test_a_deadline_passing_after_its_request_ended_leaves_the_reused_connection_alone(
    site: LoopbackSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request's connection goes back to the pool as it ends; its deadline watch used to
    # stay registered a moment longer, and a deadline passing then shut the connection down
    # under the next request on the same host, which had taken it: a connection_error dead
    # letter (or one more request to the site) for a page nothing was wrong with. Forced
    # here: the first request is held after its end until its deadline has passed, while
    # the second, on the same connection, waits for its answer.
    fired = threading.Event()
    real_fire = Watch.fire

    def fire(watch: Watch) -> None:
        real_fire(watch)
        fired.set()

    monkeypatch.setattr(Watch, "fire", fire)
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE))
    second_sent = threading.Event()

    def answered_once_the_first_deadline_passed(_: Request) -> Response:
        second_sent.set()
        fired.wait(10)
        return Response(body=PAGE)

    site.route("news", "/b", answered_once_the_first_deadline_passed)
    # The first request's deadline is short, and passes while it is held; the second's is
    # long, so that waiting for the first's to pass never spends the second's own (with one
    # deadline for both, the second's passed too on a loaded machine, 2 runs in 20).
    c = HttpClient(
        config(
            per_host_in_flight=2,
            respect_robots=False,
            deadline=10.0,
            read_timeout=10.0,
            retries=0,
        )
    )
    real_watch = c._watchdog.watch

    def watch(deadline_at: float) -> tuple[int, Watch]:
        if threading.current_thread().name == "first":
            deadline_at = time.monotonic() + 0.5
        return real_watch(deadline_at)

    monkeypatch.setattr(c._watchdog, "watch", watch)
    real_cancel = c._watchdog.cancel

    def cancel(token: int) -> None:
        if threading.current_thread().name == "first":
            ended.set()
            second_sent.wait(10)
            fired.wait(10)
        real_cancel(token)

    ended = threading.Event()
    monkeypatch.setattr(c._watchdog, "cancel", cancel)
    results: dict[str, int | str] = {}

    def get(name: str, path: str) -> None:
        try:
            results[name] = c.get(base + path).status
        except FetchError as err:
            results[name] = err.error_type

    first = threading.Thread(target=get, args=("first", "/a"), name="first")
    first.start()
    assert ended.wait(10)
    second = threading.Thread(target=get, args=("second", "/b"), name="second")
    second.start()
    first.join(15)
    second.join(15)
    assert fired.is_set()  # the first request's deadline passed while the second waited
    assert c._pool.connection_from_url(base).num_connections == 1  # on the one connection
    assert results == {"first": 200, "second": 200}
    assert len(site.requests_for("news", "/b")) == 1
    c.close()
