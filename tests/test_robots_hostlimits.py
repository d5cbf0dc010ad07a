"""robots.txt (transforms.robots) and per-host limits (transforms.hostlimits), through the HTTP
client against loopback servers and on their own."""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pipelines.loopback import LoopbackHandler, LoopbackSite, RawResponse, Response
from tests.http_support import PAGE, config, fetch_error
from transforms.hostlimits import HostLimiter
from transforms.http import FetchError, HttpClient
from transforms.robots import RobotsCache
from transforms.urls import host_of

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


def test_in_flight_requests_per_host_are_bounded(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
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
    c = new_client(config(per_host_in_flight=2, respect_robots=False))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: c.get(f"{base}/a{i}"), range(16)))
    assert all(r.body == PAGE for r in results)
    assert 1 <= peak[0] <= 2  # 8 callers, never more than 2 at the server
    assert len(site.requests_for("news")) == 16


class FakeTime:
    """A clock that moves only when slept on, recording every wait."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


def test_host_limiter_spaces_request_starts() -> None:
    fake = FakeTime(100.0)
    limiter = HostLimiter(2, min_interval=0.5, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        with limiter.slot("a.example"):
            pass
    with limiter.slot("b.example"):  # another host is not delayed
        pass
    assert fake.waits == [0.5, 0.5]


def test_a_host_that_asks_for_a_pause_gets_no_request_until_it_ends(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # One page's 429 with Retry-After: 3600 pauses its host: its next page, and a feed poll,
    # are not requested (each fails at once as the first did, retryable); another host is.
    # Each page used to be requested, and answered 429, in turn.
    base, other = site.add_host("news"), site.add_host("other")
    site.route("news", "/a", Response(429, headers={"Retry-After": "3600"}))
    site.set_fallback("news", Response(body=PAGE))
    site.set_fallback("other", Response(body=PAGE))
    c = new_client(config(respect_robots=False))
    assert fetch_error(c, base + "/a").error_type == "http_429"
    for kind in ("page", "feed"):
        err = fetch_error(c, base + "/b", kind=kind)
        assert (err.error_type, err.retryable, err.status) == ("http_429", True, 429)
        assert "not sent" in err.message
    assert c.get(other + "/b").status == 200
    assert [r.path for r in site.requests_for("news")] == ["/a"]


def test_a_request_due_during_a_short_pause_waits_for_its_end(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # /a's 503 asks for a second's pause (Retry-After: 1, under the cap): /b, asked for at
    # once, goes out only when the pause is over.
    base = site.add_host("news")
    site.route("news", "/a", Response(503, headers={"Retry-After": "1"}))
    site.set_fallback("news", Response(body=PAGE))
    c = new_client(config(retries=1, retry_after_cap=2.0, respect_robots=False))
    assert fetch_error(c, base + "/a").error_type == "http_503"
    assert c.get(base + "/b").body == PAGE
    last_a = site.requests_for("news", "/a")[-1]
    (b,) = site.requests_for("news", "/b")
    assert b.at - last_a.at >= 1.0  # the server's own clock: a lower bound, no sleeps


def test_a_5xx_without_retry_after_does_not_pause_its_host(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/broken", Response(500))
    site.set_fallback("news", Response(body=PAGE))
    assert fetch_error(client, base + "/broken").error_type == "http_500"
    assert client.get(base + "/b").body == PAGE  # one broken page, not a busy host


def test_host_limiter_keeps_the_longest_pause_each_host_asked_for() -> None:
    fake = FakeTime(100.0)
    limiter = HostLimiter(2, clock=fake.clock, sleep=fake.sleep)
    limiter.pause("a.example", 30.0, 503)
    limiter.pause("a.example", 5.0, 429)  # shorter: the longer pause stays
    assert limiter.paused("a.example") == (30.0, 503)
    assert limiter.paused("b.example") is None
    fake.now = 120.0
    assert limiter.paused("a.example") == (10.0, 503)
    fake.now = 130.0
    assert limiter.paused("a.example") is None


def test_crawl_delay_spaces_every_request_to_its_host(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # robots.txt asks for a second between requests: the pages, and a feed poll after them,
    # start at least a second apart (they went out back to back); another host is not held.
    base, other = site.add_host("news"), site.add_host("other")
    robots = b"User-agent: *\nCrawl-delay: 1\n"
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    site.set_fallback("other", Response(body=PAGE))
    c = new_client(config(deadline=10.0))
    # The limiter's waits, on the client's own clock (the server's log of arrival times
    # would make this a timed assertion): each is still slept, so the spacing is real.
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    c._limiter._sleep = sleep
    for path in ("/a", "/b"):
        assert c.get(base + path).body == PAGE
    assert c.get(base + "/feed", kind="feed").status == 200
    assert c.get(other + "/a").body == PAGE
    assert len([r for r in site.requests_for("news") if r.path != "/robots.txt"]) == 3
    # /b and the feed each waited for their turn; the other host's page did not wait.
    assert len(waits) == 2 and all(0 < wait <= 1.0 for wait in waits), waits
    assert c.host_spacing(host_of(base))[0] == 1.0
    assert c.host_spacing(host_of(other)) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("robots", "delay"),
    [
        ("User-agent: *\nCrawl-delay: 2.5\n", 2.5),
        ("User-agent: *\nRequest-rate: 1/4s\n", 4.0),
        ("User-agent: *\nRequest-rate: 6/1m\nCrawl-delay: 3\n", 10.0),  # the longer
        ("User-agent: newsbeam\nCrawl-delay: 5\n\nUser-agent: *\nCrawl-delay: 1\n", 5.0),
        ("User-agent: otherbot\nCrawl-delay: 5\n", 0.0),
        ("User-agent: *\nCrawl-delay: 86400\n", 60.0),  # at most max_delay
        ("User-agent: *\nCrawl-delay: -1\nRequest-rate: 0/1s\n", 0.0),
        ("User-agent: *\nDisallow: /x\n", 0.0),
    ],
)
def test_robots_cache_delay_from_crawl_delay_and_request_rate(robots: str, delay: float) -> None:
    cache = RobotsCache(lambda url: robots.encode(), user_agent="newsbeam", max_delay=60.0)
    assert cache.delay("http://a.example/x") is None  # not fetched yet: not known
    cache.allowed("http://a.example/x")
    assert cache.delay("http://a.example/y") == delay
    assert cache.delay("http://b.example/y") is None


def test_robots_cache_delay_of_no_robots_txt_and_of_a_failed_one() -> None:
    def fetch(url: str) -> bytes | None:
        if "failed" in url:
            raise FetchError("timeout", "slow", True)
        return None  # a 404: no rules

    cache = RobotsCache(fetch, user_agent="newsbeam")
    assert cache.allowed("http://none.example/x")
    assert cache.delay("http://none.example/y") == 0.0  # known: none asked for
    with pytest.raises(FetchError):
        cache.allowed("http://failed.example/x")
    assert cache.delay("http://failed.example/y") is None  # not known


def test_host_limiter_spaces_starts_by_the_longer_of_its_interval_and_the_hosts() -> None:
    fake = FakeTime(100.0)
    limiter = HostLimiter(2, min_interval=0.5, clock=fake.clock, sleep=fake.sleep)
    with limiter.slot("a.example", 2.0):
        pass
    with limiter.slot("a.example"):  # any request after it waits the host's 2 s
        pass
    with limiter.slot("a.example", 0.1):  # then the limiter's own 0.5 s
        pass
    with limiter.slot("b.example", 2.0):
        pass
    assert fake.waits == [2.0, 0.5]


def test_host_limiter_spacing_says_the_interval_and_the_wait_until_the_next_start() -> None:
    # What HostScheduler reads so as not to give a thread a request that would only sleep.
    fake = FakeTime(100.0)
    limiter = HostLimiter(2, min_interval=0.5, clock=fake.clock, sleep=fake.sleep)
    assert limiter.spacing("a.example") == (0.5, 0.0)  # no request yet
    with limiter.slot("a.example", 3.0):
        assert limiter.spacing("a.example") == (3.0, 3.0)
    fake.now += 1.0
    assert limiter.spacing("a.example") == (3.0, 2.0)
    assert limiter.spacing("b.example") == (0.5, 0.0)
    with limiter.slot("a.example", 0.0):  # its robots.txt no longer asks: the limiter's own
        pass
    assert limiter.spacing("a.example") == (0.5, 0.5)


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


def test_a_remembered_robots_error_is_raised_afresh_each_time() -> None:
    # Raised again and again, one exception object gathered every raise's frames in its
    # traceback (2,002 entries after 1,000 calls, held until the error expired).
    def fetch(url: str) -> bytes:
        raise FetchError("timeout", "slow", True)

    cache = RobotsCache(fetch, user_agent="newsbeam", ttl=100, error_ttl=10, clock=lambda: 0.0)
    raised = []
    for _ in range(50):
        with pytest.raises(FetchError, match="slow") as caught:
            cache.allowed("http://a.example/x")
        raised.append(caught.value)
    assert len({id(error) for error in raised}) == len(raised)
    assert len(traceback.extract_tb(raised[-1].__traceback__)) == len(
        traceback.extract_tb(raised[1].__traceback__)
    )
    assert (raised[-1].error_type, raised[-1].retryable) == ("timeout", True)


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


def test_robots_cache_forgets_expired_origins() -> None:
    # An always-on job's client met new origins for as long as it ran, and kept an entry,
    # a parsed robots.txt and a lock for every origin it had ever seen.
    now = [0.0]
    fetched: list[str] = []

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        return b"User-agent: *\nDisallow: /x\n"

    cache = RobotsCache(fetch, user_agent="newsbeam", ttl=10, clock=lambda: now[0])
    for i in range(100):
        now[0] = 20.0 * i  # each origin's answer expired before the next origin is met
        assert not cache.allowed(f"http://h{i}.example/x")
        assert len(cache) == 1
    now[0] = 1985.0  # h98's answer expired (fetched again), h99's not: both are kept
    assert cache.allowed("http://h98.example/y") and len(cache) == 2
    assert cache.allowed("http://h99.example/y") and len(fetched) == 101


def test_an_expired_robots_txt_being_fetched_again_is_not_fetched_twice_at_once() -> None:
    # Storing another origin's robots.txt forgets every expired origin, and forgot the lock
    # of one whose refresh was under way: the next caller for that origin made a new lock
    # and fetched its robots.txt again, while the first fetch was still waiting for its
    # answer (a duplicate request to the site, each hour of an always-on run).
    now = [0.0]
    fetched: list[str] = []
    refreshing, answer = threading.Event(), threading.Event()

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        if url == "http://x.example/robots.txt" and fetched.count(url) == 2:
            refreshing.set()
            answer.wait(10)  # the refresh's answer is slow
        return b"User-agent: *\nAllow: /\n"

    cache = RobotsCache(fetch, user_agent="newsbeam", ttl=3600, clock=lambda: now[0])
    assert cache.allowed("http://x.example/1")
    now[0] = 3601.0  # x's answer has expired
    first = threading.Thread(target=cache.allowed, args=("http://x.example/2",))
    first.start()
    assert refreshing.wait(10)  # the refresh is under way, holding x's lock
    assert cache.allowed("http://y.example/1")  # stored: x's expired entry is forgotten
    assert cache._origin_locks["http://x.example"].locked()  # ... but not the lock in use
    second = threading.Thread(target=cache.allowed, args=("http://x.example/3",))
    second.start()
    answer.set()
    first.join(10)
    second.join(10)
    assert fetched.count("http://x.example/robots.txt") == 2  # the first fill, one refresh


def test_robots_cache_keeps_at_most_max_bytes_of_robots_txt_least_recently_used_first() -> None:
    # Feeds listing pages on many origins, each with a robots.txt at the size cap, grew a
    # process by ~30 MB an origin (a parsed robots.txt is some 60 times its size) for an hour.
    fetched: list[str] = []
    body = b"User-agent: *\nDisallow: /x\n" + b"# padding\n" * 99  # 1,020 bytes

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        return body

    cache = RobotsCache(fetch, user_agent="newsbeam", max_bytes=3 * len(body))
    for host in ("a", "b", "c"):
        assert not cache.allowed(f"http://{host}.example/x")
    assert cache.allowed("http://a.example/y") and len(fetched) == 3  # a: the latest used
    assert not cache.allowed("http://d.example/x")  # 4 bodies > max_bytes: b goes
    assert len(cache) == 3
    assert cache.allowed("http://a.example/z") and cache.allowed("http://c.example/z")
    assert len(fetched) == 4  # a and c were kept
    assert cache.allowed("http://b.example/y") and fetched[-1] == "http://b.example/robots.txt"
    # one robots.txt larger than max_bytes is still kept while it is the latest
    big = RobotsCache(fetch, user_agent="newsbeam", max_bytes=10)
    assert not big.allowed("http://e.example/x") and len(big) == 1


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
    fake = FakeTime(100.0)
    limiter = HostLimiter(3, min_interval=0.5, clock=fake.clock, sleep=fake.sleep)
    with limiter.slot("a.example"):  # held throughout, so the host's last start is kept
        fake.now = 1000.0
        with limiter.slot("a.example"), limiter.slot("a.example"):
            pass
    assert fake.waits == [0.5]  # the third start is spaced from the second (at 1000), not from 100


@pytest.mark.parametrize(("slots", "interval"), [(0, 0.0), (1, -0.5)])
def test_host_limiter_refuses_bad_limits(slots: int, interval: float) -> None:
    with pytest.raises(ValueError):
        HostLimiter(slots, min_interval=interval)


def test_a_retry_after_of_a_day_pauses_its_host_for_an_hour_at_most(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(429, headers={"Retry-After": "86400"}))
    c = new_client(config(respect_robots=False))
    c._limiter._clock = lambda: 1000.0
    assert fetch_error(c, base + "/a").error_type == "http_429"
    assert c._limiter.paused(host_of(base)) == (3600.0, 429)


def test_a_429_without_retry_after_holds_its_host_back_for_the_backoff(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # A 429 says the host is busy, whatever page it was: its next request waits out the
    # backoff too (here it does not wait: over the cap, it fails at once, not sent).
    base = site.add_host("news")
    site.route("news", "/a", Response(429))
    site.set_fallback("news", Response(body=PAGE))
    c = new_client(config(retries=0, backoff_base=2.0, respect_robots=False))
    c._limiter._clock = lambda: 1000.0  # the pause does not pass meanwhile
    assert fetch_error(c, base + "/a").error_type == "http_429"
    paused = c._limiter.paused(host_of(base))
    assert paused is not None and 1.0 <= paused[0] <= 3.0 and paused[1] == 429
    assert "not sent" in fetch_error(c, base + "/b").message
    assert site.requests_for("news", "/b") == []


def test_host_limiter_keeps_nothing_of_the_hosts_done_with() -> None:
    # Unspaced hosts, a spaced one whose turn has passed and pauses that have ended leave no
    # record: an always-on run meets new hosts for as long as it runs.
    fake = FakeTime(100.0)
    limiter = HostLimiter(2, clock=fake.clock, sleep=fake.sleep)
    for i in range(3):
        with limiter.slot(f"h{i}.example"):
            pass
    with limiter.slot("spaced.example", 5.0):
        pass
    limiter.pause("busy.example", 10.0, 429)
    fake.now = 200.0
    with limiter.slot("spaced.example"):  # its robots.txt no longer asks for a delay
        pass
    limiter.pause("other.example", 10.0, 503)  # the ended pause is forgotten meanwhile
    assert list(limiter._paused) == ["other.example"]
    assert (limiter._in_flight, limiter._next_start, limiter._host_interval) == ({}, {}, {})


def test_a_robots_txt_that_is_not_there_is_trusted_for_the_ttl() -> None:
    # A 404 (fetch gives None) is an answer, kept as long as a robots.txt, not as an error.
    now = [0.0]
    fetched: list[str] = []

    def fetch(url: str) -> bytes | None:
        fetched.append(url)
        return None

    cache = RobotsCache(fetch, user_agent="newsbeam", ttl=100, error_ttl=10, clock=lambda: now[0])
    assert cache.allowed("http://a.example/x")
    now[0] = 99.0
    assert cache.allowed("http://a.example/y") and len(fetched) == 1


def test_a_robots_txt_not_sent_during_a_pause_is_asked_for_once_the_pause_ends(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # The host asked for 40 s (over the cap: not waited for). A page's robots.txt in that
    # time is not sent and the page fails, retryable; once the pause is over, the next page's
    # robots.txt is asked for. That failure was remembered as the robots.txt's for a minute
    # (error_ttl): the host's pages failed 'robots_unavailable' for 20 s after its pause.
    base = site.add_host("news")
    site.route("news", "/feed", Response(503, headers={"Retry-After": "40"}))
    site.route("news", "/robots.txt", Response(body=b"User-agent: *\n", content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    c = new_client(config(retry_after_cap=30.0))
    now = [1000.0]
    c._limiter._clock = c._robots._clock = lambda: now[0]
    assert fetch_error(c, base + "/feed", kind="feed").status == 503
    err = fetch_error(c, base + "/a")
    assert (err.error_type, err.retryable) == ("robots_unavailable", True)
    assert site.requests_for("news", "/robots.txt") == []
    now[0] += 40.0  # the pause is over
    assert c.get(base + "/a").body == PAGE
    assert len(site.requests_for("news", "/robots.txt")) == 1


def test_a_request_whose_origins_delay_is_not_known_keeps_the_hosts_spacing(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # The host's robots.txt asks for 5 s. When it has expired, the page after asks for it
    # again: that request (whose origin's delay is not known then) is spaced from the page
    # before, and the page from it. It set no next start, and the page went right after it.
    base = site.add_host("news")
    robots = b"User-agent: *\nCrawl-delay: 5\n"
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE))
    c = new_client(config())
    fake = FakeTime(1000.0)
    c._limiter._clock = c._robots._clock = fake.clock
    c._limiter._sleep = fake.sleep
    assert c.get(base + "/a").body == PAGE  # its robots.txt, then the page: 5 s from here
    assert c.get(base + "/b").body == PAGE
    assert fake.waits == [5.0]
    fake.now += 3600.0  # the robots.txt has expired
    assert c.get(base + "/c").body == PAGE
    assert [r.path for r in site.requests_for("news")][-2:] == ["/robots.txt", "/c"]
    assert fake.waits == [5.0, 5.0]  # /c waited for its turn after the robots.txt


def test_host_limiter_request_of_unknown_interval_keeps_the_hosts() -> None:
    # ``interval=None``: nothing known of the host's own interval (another origin's request,
    # or its robots.txt not fetched yet); the one known holds, for this request and the next.
    fake = FakeTime(100.0)
    limiter = HostLimiter(2, min_interval=0.5, clock=fake.clock, sleep=fake.sleep)
    with limiter.slot("a.example", 3.0):
        pass
    with limiter.slot("a.example", None):
        pass
    assert limiter.spacing("a.example") == (3.0, 3.0)
    with limiter.slot("a.example", 0.0):  # known: no longer asked for
        pass
    with limiter.slot("b.example", None):
        pass
    assert fake.waits == [3.0, 3.0]
    assert limiter.spacing("a.example") == (0.5, 0.5)
    assert limiter.spacing("b.example") == (0.5, 0.5)


def test_robots_cache_knows_a_host_while_a_robots_txt_of_it_is_kept() -> None:
    # What HostScheduler reads (through HttpClient.host_spacing) to run a host one page at a
    # time until its Crawl-delay is known.
    body = b"User-agent: *\n" + b"# padding\n" * 100
    cache = RobotsCache(lambda url: body, user_agent="newsbeam", max_bytes=2 * len(body))
    assert not cache.knows("a.example")
    cache.allowed("http://a.example/x")
    cache.allowed("https://a.example:8443/x")  # a second origin of the same host
    assert cache.knows("a.example") and not cache.knows("b.example")
    cache.allowed("http://b.example/x")  # over max_bytes: a's first origin goes, not its second
    assert cache.knows("a.example") and cache.knows("b.example")
    cache.allowed("http://c.example/x")  # and then its second
    assert not cache.knows("a.example") and cache._hosts == {"b.example": 1, "c.example": 1}


def test_host_limiter_a_slot_freed_wakes_the_request_waiting_for_its_host() -> None:
    # Requests wait for two hosts at their limit, the first-come for a: b's slot freed must
    # wake b's request (waking one waiter, a's, which waits on, left b's asleep for good).
    limiter = HostLimiter(1)
    got: list[str] = []

    def request(host: str) -> None:
        with limiter.slot(host):
            got.append(host)

    def waiting(n: int) -> bool:  # how many requests wait for a slot (polled, not slept on)
        deadline = time.monotonic() + 10
        while len(limiter._cond._waiters) < n and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.001)
        return len(limiter._cond._waiters) == n  # type: ignore[attr-defined]

    with contextlib.ExitStack() as held_a:
        held_a.enter_context(limiter.slot("a.example"))
        with limiter.slot("b.example"):
            waiters = [
                threading.Thread(target=request, args=(host,), daemon=True)
                for host in ("a.example", "b.example")
            ]
            waiters[0].start()
            assert waiting(1)
            waiters[1].start()
            assert waiting(2)
        waiters[1].join(timeout=10)
        assert got == ["b.example"]
    waiters[0].join(timeout=10)
    assert got == ["b.example", "a.example"]
