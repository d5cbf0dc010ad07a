"""A host that answers nothing is left alone for a while (transforms.silent_hosts)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from pipelines.loopback import LoopbackHandler, LoopbackSite, RawResponse, Response
from tests.http_support import PAGE, config, fetch_error
from tests.loopback_hostile import drip_status_line
from transforms.http import HttpClient
from transforms.silent_hosts import FORGET_AFTER, SILENT_ATTEMPTS, SilentHosts

# Tight timeouts: a request's first try times out at 0.5 s, its one retry at 1 s (the server
# has logged each request by then: the counts below read its log).
SILENT = {"read_timeout": 0.5, "connect_timeout": 0.5, "deadline": 1.2, "retries": 1}


def test_the_third_unanswered_attempt_in_a_row_pauses_and_an_answer_ends_the_count() -> None:
    hosts = SilentHosts()
    assert [hosts.unanswered("a") for _ in range(SILENT_ATTEMPTS)] == [False, False, True]
    assert hosts.unanswered("a")  # a probe after the pause that got no answer either
    assert not hosts.unanswered("b")  # each host its own count
    hosts.answered("a")
    assert [hosts.unanswered("a") for _ in range(SILENT_ATTEMPTS)] == [False, False, True]
    with pytest.raises(ValueError, match="threshold must be at least 1, got 0"):
        SilentHosts(0)  # every host paused at its first timeout


def test_a_count_is_forgotten_an_hour_after_the_hosts_last_silence() -> None:
    # An always-on run meets new hosts for as long as it runs: each whose request timed out
    # once and that was not asked again was kept for good (100,000 such hosts: 100,000 kept).
    now = [0.0]
    hosts = SilentHosts(clock=lambda: now[0])
    for i in range(1000):
        hosts.unanswered(f"h{i}.example")
    hosts.unanswered("a")
    now[0] += FORGET_AFTER + 1
    assert not hosts.unanswered("b")
    assert list(hosts._count) == ["b"]  # the others' silences are over an hour old
    hosts.unanswered("a")
    now[0] += FORGET_AFTER + 1
    assert [hosts.unanswered("a") for _ in range(SILENT_ATTEMPTS)] == [False, False, True]


def hung_host(site: LoopbackSite, paths: list[str]) -> str:
    """A host that takes each request and answers after 30 s (the site's end cuts it short)."""
    base = site.add_host("hung")
    for path in paths:
        site.route("hung", path, Response(body=PAGE, delay_s=30))
    return base


def test_a_host_that_answers_nothing_is_paused_and_its_other_requests_are_not_sent(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    """Each request to a hung host waited out its deadline (1,000 feeds on 30 such hosts:
    5 min 20 s). After three attempts without an answer, none is sent for ten deadlines:
    the host's other requests fail at once, retryable; other hosts are untouched."""
    paths = [f"/f{i}" for i in range(6)]
    base = hung_host(site, paths)
    live = site.add_host("live")
    site.route("live", "/p", Response(body=PAGE))
    client = new_client(config(**SILENT, per_host_in_flight=1))
    client._limiter._clock = lambda: 1000.0  # the pause's time left is then exact

    errors = [fetch_error(client, base + path) for path in paths]

    assert errors[0].error_type in ("timeout", "deadline_exceeded")  # tried twice
    # the second request's first try is the third silence: its retry is not sent
    assert {e.error_type for e in errors[1:]} == {"host_unresponsive"}
    assert all(e.retryable for e in errors)
    assert errors[-1].message.startswith(
        "the host answered none of its last 3 requests in time (a timeout, or the 1.2s "
        "deadline): none is sent to it for 12s"  # ten deadlines
    )
    assert errors[-1].retry_after == 12.0
    assert [len(site.requests_for("hung", path)) for path in paths] == [2, 1, 0, 0, 0, 0]
    assert client.get(f"{live}/p").status == 200


@pytest.mark.parametrize("status", [200, 404])
def test_an_answer_from_the_host_ends_its_count(
    site: LoopbackSite, new_client: Callable[..., HttpClient], status: int
) -> None:
    """Two silences, an answer, two silences: no pause (the count started again), so the
    next request is sent; it is the third silence in a row, and pauses the host. Any answer
    counts, an error status too: the host is alive."""
    base = hung_host(site, ["/a", "/b", "/c", "/d"])
    site.route("hung", "/ok", Response(status, body=PAGE))
    client = new_client(config(**SILENT, per_host_in_flight=1))

    first = fetch_error(client, f"{base}/a")  # two silent tries
    if status == 200:
        assert client.get(f"{base}/ok").status == 200
    else:
        assert fetch_error(client, f"{base}/ok").error_type == "http_404"
    second = fetch_error(client, f"{base}/b")  # two more: four in all, not in a row
    third = fetch_error(client, f"{base}/c")  # sent: its first try is the third in a row
    fourth = fetch_error(client, f"{base}/d")

    assert {first.error_type, second.error_type} <= {"timeout", "deadline_exceeded"}
    assert [len(site.requests_for("hung", p)) for p in ("/a", "/b", "/c", "/d")] == [2, 2, 1, 0]
    assert (third.error_type, fourth.error_type) == ("host_unresponsive", "host_unresponsive")


def test_a_host_that_answers_and_then_stalls_is_not_counted_silent(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    """A host that sends its status line and then stalls in the body times out too, but it
    answered: slow, not silent. Two such requests, then a silent one (two tries) leave the
    count at two, so the next request is sent (counted, its first try paused the host)."""
    done = threading.Event()

    def stall(h: LoopbackHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n<html>")
        h.wfile.flush()
        done.wait(timeout=10)

    base = hung_host(site, ["/a", "/b"])
    paths = ["/stall1", "/stall2", "/a", "/b"]
    for path in paths[:2]:
        site.route("hung", path, RawResponse(stall))
    client = new_client(config(**SILENT, per_host_in_flight=1))
    try:
        errors = [fetch_error(client, base + path) for path in paths]
    finally:
        done.set()

    assert {e.error_type for e in errors[:3]} <= {"timeout", "deadline_exceeded"}
    assert [len(site.requests_for("hung", path)) for path in paths] == [2, 2, 2, 1]
    assert errors[3].error_type == "host_unresponsive"


def test_a_status_line_that_never_ends_by_the_deadline_is_no_answer(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    """A host that drips its status line, a byte every 0.05 s, never times out a read (0.5 s):
    the deadline ends each request, without an answer. Three such, and the host is paused."""
    base = site.add_host("drip")
    paths = ["/a", "/b", "/c", "/d"]
    for path in paths:
        site.route("drip", path, drip_status_line())
    client = new_client(config(**SILENT, per_host_in_flight=1))

    errors = [fetch_error(client, base + path) for path in paths]

    assert [e.error_type for e in errors] == [*["deadline_exceeded"] * 3, "host_unresponsive"]
    assert [len(site.requests_for("drip", path)) for path in paths] == [1, 1, 1, 0]


def test_a_robots_txt_not_sent_during_the_pause_is_asked_for_once_it_ends(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    """A page's robots.txt due while its host is paused is not sent, and that failure was
    kept for the robots cache's error TTL (a minute), not until the pause's end (12 s here,
    ten deadlines of 1.2 s): the host's pages failed host_unresponsive for 48 s after the
    pause without asking the host, where a Retry-After's pause is kept no longer (968a4dc)."""
    answering = [False]

    def robots(_: object) -> Response:
        return Response(body=b"User-agent: *\n", content_type="text/plain")

    base = hung_host(site, ["/f0", "/f1"])
    site.route("hung", "/robots.txt", robots)
    site.route("hung", "/a", lambda _: Response(body=PAGE, delay_s=0 if answering[0] else 30))
    client = new_client(config(**SILENT, per_host_in_flight=1))
    now = [1000.0]
    client._limiter._clock = client._robots._clock = lambda: now[0]

    fetch_error(client, f"{base}/f0", kind="feed")  # two silent tries
    fetch_error(client, f"{base}/f1", kind="feed")  # the third: the host is paused for 12 s
    err = fetch_error(client, f"{base}/a")
    assert (err.error_type, err.retryable) == ("host_unresponsive", True)
    assert site.requests_for("hung", "/robots.txt") == []

    answering[0] = True
    now[0] += 12.5  # the pause is over
    assert client.get(f"{base}/a").body == PAGE
    assert len(site.requests_for("hung", "/robots.txt")) == 1


def test_a_host_reached_with_what_a_slow_hop_left_of_the_deadline_is_not_counted(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    """A slow redirect (a tracker or feed proxy) that takes most of a request's deadline
    leaves the host it leads to a fraction of a second: that host's 'silence' was counted,
    so three such pages paused a host that answers in a second, and its own pages failed
    host_unresponsive for ten deadlines without being asked."""
    slow = site.add_host("slowhop")
    healthy = site.add_host("healthy")
    site.set_fallback("healthy", Response(body=PAGE, delay_s=1.0))
    for i in range(SILENT_ATTEMPTS):
        moved = Response(301, headers={"Location": f"{healthy}/p{i}"}, delay_s=1.6)
        site.route("slowhop", f"/r{i}", moved)
    client = new_client(
        config(connect_timeout=4.0, read_timeout=4.0, deadline=2.0, retries=0, respect_robots=False)
    )
    for i in range(SILENT_ATTEMPTS):  # each reaches the healthy host with 0.4 s or less left
        assert fetch_error(client, f"{slow}/r{i}").error_type == "deadline_exceeded"
    assert [r.path for r in site.requests_for("healthy")] == ["/p0", "/p1", "/p2"]
    assert client.get(f"{healthy}/direct").body == PAGE  # answered in a second: not paused
