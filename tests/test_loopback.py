"""Tests for pipelines.loopback: real HTTP over loopback, no internet, no sleeps."""

from __future__ import annotations

import calendar
import gzip
import http.client
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import feedparser
import pytest

from pipelines.loopback import LoopbackHandler, LoopbackSite, RawResponse, Request, Response
from pipelines.loopback_feeds import FeedItem, atom_feed, rss_feed
from tests.loopback_hostile import connection_reset, drip, endless_body, redirect


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    with LoopbackSite() as s:
        yield s


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_two_hosts_are_separate_servers(site: LoopbackSite) -> None:
    a = site.add_host("a")
    b = site.add_host("b")
    site.route("a", "/x", Response(body=b"from a"))
    site.route("b", "/x", Response(body=b"from b"))
    assert urlsplit(a).netloc != urlsplit(b).netloc
    if urlsplit(a).hostname != "127.0.0.1":  # 127.0.0.1 is the fallback (e.g. macOS)
        assert (urlsplit(a).hostname, urlsplit(b).hostname) == ("127.0.0.2", "127.0.0.3")
    assert _get(a + "/x")[2] == b"from a"
    assert _get(b + "/x")[2] == b"from b"
    assert site.base_url("b") == b


def test_unknown_path_is_404_and_query_is_part_of_the_route(site: LoopbackSite) -> None:
    base = site.add_host("a")
    site.route("a", "/p?id=1", Response(body=b"one"))
    assert _get(base + "/p?id=1")[:1] == (200,)
    assert _get(base + "/p")[0] == 404
    assert _get(base + "/p?id=2")[0] == 404
    site.set_fallback("a", Response(410, b"gone"))
    assert _get(base + "/anything")[0] == 410


def test_etag_answers_304(site: LoopbackSite) -> None:
    base = site.add_host("feeds")
    site.route("feeds", "/rss", Response(body=b"<rss/>", etag='"v1"'))
    status, headers, _ = _get(base + "/rss")
    assert (status, headers["ETag"]) == (200, '"v1"')
    status, _, body = _get(base + "/rss", {"If-None-Match": '"v1"'})
    assert (status, body) == (304, b"")
    assert _get(base + "/rss", {"If-None-Match": '"v0"'})[0] == 200
    assert [r.status for r in site.requests_for("feeds", "/rss")] == [200, 304, 200]


def test_last_modified_answers_304(site: LoopbackSite) -> None:
    base = site.add_host("feeds")
    modified = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    site.route("feeds", "/atom", Response(body=b"<feed/>", last_modified=modified))
    status, headers, _ = _get(base + "/atom")
    assert (status, headers["Last-Modified"]) == (200, "Mon, 02 Mar 2026 08:30:00 GMT")
    assert _get(base + "/atom", {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    older = "Sun, 01 Mar 2026 08:30:00 GMT"
    assert _get(base + "/atom", {"If-Modified-Since": older})[0] == 200


def test_gzip_compresses_or_passes_gzip_bytes_through(site: LoopbackSite) -> None:
    base = site.add_host("a")
    page = b"<html><body>" + b"<p>hello</p>" * 100 + b"</body></html>"
    site.route("a", "/z", Response(body=page, gzip=True))
    already = gzip.compress(b"corpus page")
    site.route("a", "/raw", Response(body=already, body_is_gzip=True))
    _, headers, body = _get(base + "/z")
    assert headers["Content-Encoding"] == "gzip"
    assert len(body) < len(page) and gzip.decompress(body) == page
    _, headers, body = _get(base + "/raw")
    assert headers["Content-Encoding"] == "gzip" and body == already


def test_callable_route_sees_the_request(site: LoopbackSite) -> None:
    base = site.add_host("a")
    seen: list[Request] = []

    def echo(request: Request) -> Response:
        seen.append(request)
        return Response(body=request.headers.get("User-Agent", "").encode())

    site.route("a", "/echo?q=1", echo)
    assert _get(base + "/echo?q=1", {"User-Agent": "newsbeam-test"})[2] == b"newsbeam-test"
    assert (seen[0].host, seen[0].method, seen[0].path) == ("a", "GET", "/echo?q=1")


def test_request_log_records_host_path_headers_status(site: LoopbackSite) -> None:
    base = site.add_host("a")
    site.route("a", "/page", Response(body=b"ok"))
    _get(base + "/page?utm_source=x", {"X-Probe": "1"})
    _get(base + "/page")
    log = site.requests
    assert [(r.host, r.method, r.path, r.status) for r in log] == [
        ("a", "GET", "/page?utm_source=x", 404),
        ("a", "GET", "/page", 200),
    ]
    assert log[0].headers["X-Probe"] == "1"
    assert len(site.requests_for("a", "/page")) == 1


def test_delayed_answer_arrives(site: LoopbackSite) -> None:
    base = site.add_host("slow")
    site.route("slow", "/d", Response(body=b"late", delay_s=0.05))
    site.set_delay_range(0.0, 0.02, seed=7)
    assert _get(base + "/d")[::2] == (200, b"late")


def test_long_delay_is_not_answered_and_close_aborts_it() -> None:
    site = LoopbackSite()
    base = site.add_host("slow")
    received = threading.Event()

    def slow(_: Request) -> Response:
        received.set()
        return Response(body=b"never", delay_s=600)

    site.route("slow", "/d", slow)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            _get(base + "/d")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    assert received.wait(10)
    assert site.requests[0].status is None  # still inside its 600 s delay
    site.close()  # raises if a handler thread were still running
    thread.join(10)
    assert len(errors) == 1


def test_keep_alive_reuses_the_connection(site: LoopbackSite) -> None:
    base = site.add_host("a")
    site.route("a", "/1", Response(body=b"one"))
    site.route("a", "/2", Response(body=b"two"))
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    conn.request("GET", "/1")
    assert conn.getresponse().read() == b"one"
    first_socket = conn.sock
    conn.request("GET", "/2")
    assert conn.getresponse().read() == b"two"
    assert conn.sock is first_socket
    conn.close()


def test_64_concurrent_clients(site: LoopbackSite) -> None:
    base = site.add_host("a")
    for i in range(64):
        site.route("a", f"/p{i}", Response(body=str(i).encode(), delay_s=0.01))
    with ThreadPoolExecutor(64) as pool:
        bodies = list(pool.map(lambda i: _get(f"{base}/p{i}")[2], range(64)))
    assert bodies == [str(i).encode() for i in range(64)]


def test_raw_hook_writes_to_the_socket(site: LoopbackSite) -> None:
    base = site.add_host("a")

    def teapot(h: LoopbackHandler) -> None:
        h.wfile.write(b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 3\r\n\r\ntea")

    site.route("a", "/tea", RawResponse(teapot))
    assert _get(base + "/tea")[::2] == (418, b"tea")
    assert site.requests[0].status is None  # the hook bypassed send_response


def test_connection_reset_gives_no_answer(site: LoopbackSite) -> None:
    base = site.add_host("a")
    site.route("a", "/reset", connection_reset())
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _get(base + "/reset")
    assert site.requests[0].status is None


def test_drip_endless_and_redirect_loop(site: LoopbackSite) -> None:
    base = site.add_host("a")
    site.route("a", "/drip", drip(b"abc", bytes_per_s=1000))
    site.route("a", "/endless", endless_body())
    site.route("a", "/r1", redirect(base + "/r2"))
    site.route("a", "/r2", redirect(base + "/r1"))
    assert _get(base + "/drip")[2] == b"abc"
    with urllib.request.urlopen(base + "/endless", timeout=10) as resp:
        assert len(resp.read(100_000)) == 100_000
    with pytest.raises(urllib.error.HTTPError, match="redirect"):
        urllib.request.urlopen(base + "/r1", timeout=10)


def test_close_stops_servers_and_threads() -> None:
    site = LoopbackSite()
    base = site.add_host("a")
    site.route("a", "/", Response(body=b"ok"))
    parts = urlsplit(base)
    idle = http.client.HTTPConnection(parts.netloc, timeout=10)
    idle.request("GET", "/")
    idle.getresponse().read()  # an idle keep-alive connection stays open across close()
    site.close()
    idle.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("loopback-")]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((parts.hostname, parts.port), timeout=5)
    with pytest.raises(RuntimeError, match="closed"):
        site.add_host("b")


def test_rss_and_atom_feeds_parse_with_escaping_and_dates() -> None:
    when = datetime(2026, 2, 11, 14, 5, tzinfo=UTC)
    items = [
        FeedItem('Fines & <tags> for "X"', "http://h/a?x=1&y=2", "id-1", "A < B", when),
        FeedItem("Second", "http://h/b", "http://h/b", "s", when),
    ]
    for build in (rss_feed, atom_feed):
        parsed = feedparser.parse(build("Outlet & Co", "http://h/", items))
        assert not parsed.bozo, build.__name__
        assert parsed.feed.title == "Outlet & Co"
        first = parsed.entries[0]
        assert first.title == 'Fines & <tags> for "X"'
        assert first.link == "http://h/a?x=1&y=2"
        assert first.id == "id-1"
        assert datetime.fromtimestamp(calendar.timegm(first.published_parsed), UTC) == when
    assert b"<pubDate>Wed, 11 Feb 2026 14:05:00 GMT</pubDate>" in rss_feed("t", "l", items)
    assert b"<published>2026-02-11T14:05:00Z</published>" in atom_feed("t", "l", items)


def test_processes_the_tests_start_may_only_connect_to_loopback() -> None:
    # The guard the test process has (conftest) holds in a Python process a test starts too.
    code = (
        "import socket\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect_ex(('192.0.2.1', 80))\n"
        "except AssertionError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "refused: test tried to connect to 192.0.2.1 (not loopback)"
