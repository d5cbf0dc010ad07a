"""Tests for transforms.fetch: the outcome of one entry, the host scheduler, the Beam stage."""

from __future__ import annotations

import dataclasses
import functools
import queue
import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, GlobalWindow, TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from pipelines.loopback import LoopbackSite, Request, Response
from tests.conftest import RUNNER_ARGS
from tests.http_support import config
from tests.loopback_hostile import redirect
from transforms.common import DISCARDED, FAILURES, FETCHED, OK, PROGRESS
from transforms.fetch import (
    FEED_CONTENT_TYPE,
    RECENT_PAGE_CHARS,
    FetchArticles,
    _FetchArticlesFn,
    _keyed_by_host,
    feed_page_outcome,
    fetch_outcome,
    page_from_feed,
)
from transforms.http import HttpClient
from transforms.records import Discard, Failure, FeedEntry, FetchedPage
from transforms.threaded_http import HostScheduler
from transforms.urls import host_of

PAGE = "<!DOCTYPE html><html><body><p>Grüße aus der Redaktion</p></body></html>"


def entry(link: str) -> FeedEntry:
    return FeedEntry(feed_url="http://feeds.example/rss", link=link, key=link, title="t")


# --- fetch_outcome ----------------------------------------------------------------------


def test_outcome_of_a_page(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE.encode("utf-8")))
    outcome = fetch_outcome(client, entry(base + "/a"))
    assert isinstance(outcome, FetchedPage)
    assert (outcome.url, outcome.final_url, outcome.status) == (base + "/a", base + "/a", 200)
    assert outcome.html == PAGE and outcome.content_type == "text/html"
    assert outcome.entry == entry(base + "/a") and outcome.fetched_at.endswith("+00:00")


def test_outcome_of_a_redirected_page_names_both_urls(
    site: LoopbackSite, client: HttpClient
) -> None:
    # ``url`` is what the entry linked to, ``final_url`` where the redirects ended.
    base = site.add_host("news")
    site.route("news", "/short", redirect("/2026/03/long-story"))
    site.route("news", "/2026/03/long-story", Response(body=PAGE.encode("utf-8")))
    outcome = fetch_outcome(client, entry(base + "/short"))
    assert isinstance(outcome, FetchedPage)
    assert (outcome.url, outcome.final_url) == (base + "/short", base + "/2026/03/long-story")


def test_outcomes_of_expected_non_articles_are_discards(
    site: LoopbackSite, client: HttpClient
) -> None:
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(body=b"User-agent: *\nDisallow: /members/\n"))
    site.route("news", "/r.pdf", Response(body=b"%PDF-1.4", content_type="application/pdf"))
    pdf = fetch_outcome(client, entry(base + "/r.pdf"))
    members = fetch_outcome(client, entry(base + "/members/1"))
    assert isinstance(pdf, Discard) and (pdf.stage, pdf.reason) == ("fetch", "not_html")
    assert isinstance(members, Discard) and members.reason == "robots_disallowed"
    assert members.key == base + "/members/1"


def test_outcome_of_an_error_is_a_failure(site: LoopbackSite, client: HttpClient) -> None:
    base = site.add_host("news")
    failure = fetch_outcome(client, entry(base + "/gone"))  # the site's fallback is a 404
    assert isinstance(failure, Failure)
    assert (failure.stage, failure.key, failure.error_type) == ("fetch", base + "/gone", "http_404")
    assert not failure.retryable and base + "/gone" in failure.input_excerpt


def test_outcome_messages_are_cut_to_300_characters(site: LoopbackSite, client: HttpClient) -> None:
    # Both messages quote a 400-character link: a dead letter's message or a discard's detail
    # is cut to 300 characters, as every stage's is (the link itself is kept in ``key``).
    base = site.add_host("news")
    site.route("news", "/robots.txt", Response(body=b"User-agent: *\nDisallow: /members/\n"))
    looping = "/a?q=" + "x" * 400
    site.route("news", looping, redirect("/b"))
    site.route("news", "/b", redirect(looping))
    failure = fetch_outcome(client, entry(base + looping))
    members = fetch_outcome(client, entry(base + "/members/" + "x" * 400))
    assert isinstance(failure, Failure) and failure.error_type == "redirect_loop"
    assert isinstance(members, Discard) and members.reason == "robots_disallowed"
    assert failure.message == f"redirect back to {base}{looping}"[:300]
    assert members.detail == f"robots.txt disallows {base}/members/{'x' * 400}"[:300]
    assert failure.key == base + looping


# --- page_from_feed ---------------------------------------------------------------------


def test_page_from_feed_escapes_the_title_and_keeps_the_content_as_html() -> None:
    # The title is text (a "<" in it is not markup); the content is the feed's HTML.
    item = FeedEntry(
        feed_url="http://feeds.example/rss",
        link="http://news.example/a",
        key="k",
        title="Q&A: why <b> tags?",
        content="<p>Full <em>text</em>.</p>",
    )
    page = page_from_feed(item)
    assert (page.status, page.content_type, page.entry) == (200, FEED_CONTENT_TYPE, item)
    assert "<title>Q&amp;A: why &lt;b&gt; tags?</title>" in page.html
    assert "<h1>Q&amp;A: why &lt;b&gt; tags?</h1><p>Full <em>text</em>.</p>" in page.html


def test_page_from_feed_of_an_entry_without_a_title_has_an_empty_one() -> None:
    item = FeedEntry(
        feed_url="http://feeds.example/rss",
        link="http://news.example/a",
        key="k",
        content="<p>x</p>",
    )
    page = page_from_feed(item)
    assert "<title></title>" in page.html and "None" not in page.html


@pytest.mark.parametrize(
    ("link", "error_type"),
    [
        # found by fuzzing the analysis of feed-text pages: published as the story's URL
        ("javascript://news.example/%0Aalert(1)", "bad_scheme"),
        ("ftp://news.example/a", "bad_scheme"),
        # each an enrich_error dead letter (a ValueError from the outlet lookup)
        ("mailto:desk@news.example", "bad_scheme"),
        ("http://news.example:99999/a", "bad_url"),
        ("http://[::1/a", "bad_url"),
    ],
)
def test_a_feed_text_entry_whose_link_is_no_web_url_is_refused_as_a_fetch_is(
    link: str, error_type: str
) -> None:
    item = FeedEntry("http://feeds.example/rss", link, "k", title="T", content="<p>x</p>")
    outcome = feed_page_outcome(item)
    assert isinstance(outcome, Failure)
    assert (outcome.stage, outcome.key, outcome.error_type, outcome.retryable) == (
        "fetch",
        link,
        error_type,
        False,
    )
    good = dataclasses.replace(item, link="https://news.example/a")
    page = feed_page_outcome(good)
    assert isinstance(page, FetchedPage)
    assert (page.url, page.html) == (good.link, page_from_feed(good).html)


def test_unexpected_exception_becomes_a_failure(client: HttpClient, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(client, "get", broken)
    failure = fetch_outcome(client, entry("http://news.example/a"))
    assert isinstance(failure, Failure) and failure.error_type == "internal_error"
    assert "KeyError" in failure.message


# --- HostScheduler (a manual executor: futures complete when the test says so) ----------


class ManualExecutor:
    """Records submissions; the test completes them in the order it chooses."""

    def __init__(self) -> None:
        self.started: list[tuple[Future[Any], Any]] = []

    def submit(self, fn: Callable[[Any], Any], item: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.started.append((future, item))
        return future

    def finish(self, item: Any) -> None:
        future = next(f for f, i in self.started if i == item)
        future.set_result(f"done {item}")


def scheduler(executor: ManualExecutor, max_in_flight: int, per_host: int) -> Any:
    return HostScheduler(
        executor,  # type: ignore[arg-type]
        str,
        max_in_flight=max_in_flight,
        per_host=per_host,
    )


def test_scheduler_bounds_hosts_and_serves_the_least_busy_first() -> None:
    executor = ManualExecutor()
    s = scheduler(executor, max_in_flight=3, per_host=2)
    for i in range(4):
        s.submit("a", f"ta{i}", f"a{i}")
    s.submit("b", "tb0", "b0")
    s.submit("b", "tb1", "b1")
    s.submit("c", "tc0", "c0")
    assert [item for _, item in executor.started] == ["a0", "a1", "b0"]  # a at its limit
    executor.finish("a0")
    assert s.completed(block=False) == [("ta0", "done a0")]
    assert [item for _, item in executor.started][3] == "c0"  # c has none running
    executor.finish("a1")
    assert s.completed(block=True) == [("ta1", "done a1")]
    assert [item for _, item in executor.started][4] == "a2"  # a now has none running
    assert s.outstanding == 5  # b0, c0, a2 running; a3, b1 queued


def test_scheduler_ties_go_round_robin() -> None:
    # One at a time. Host a, queued first, goes first; as it has another item queued it then
    # goes behind b, which has none running either.
    executor = ManualExecutor()
    s = scheduler(executor, max_in_flight=1, per_host=1)
    for host, item in [("x", "x0"), ("a", "a0"), ("a", "a1"), ("b", "b0")]:
        s.submit(host, item, item)
    for item in ["x0", "a0", "b0", "a1"]:
        assert executor.started[-1][1] == item  # the one running
        executor.finish(item)
        assert s.completed(block=True) == [(item, f"done {item}")]


def test_scheduler_with_nothing_outstanding_does_not_wait() -> None:
    # completed(block=True) waits only when a result is due; with none it returns at once.
    # (Run on a thread so that a regression fails the test instead of hanging it.)
    s = scheduler(ManualExecutor(), max_in_flight=2, per_host=1)
    returned: list[Any] = []
    waiter = threading.Thread(target=lambda: returned.append(s.completed(block=True)), daemon=True)
    waiter.start()
    waiter.join(timeout=10)
    assert returned == [[]]


def test_scheduler_drain_returns_every_result() -> None:
    executor = ManualExecutor()
    s = scheduler(executor, max_in_flight=2, per_host=1)
    for i in range(3):
        s.submit(f"h{i}", i, f"x{i}")
    for _, item in list(executor.started):
        executor.finish(item)
    drained = s.drain()
    first = next(drained)
    executor.finish("x2")  # started when the first results came back
    assert sorted([first, *drained]) == [(0, "done x0"), (1, "done x1"), (2, "done x2")]
    assert s.outstanding == 0


class InlineExecutor(ManualExecutor):
    """Runs each item at once, at the scheduler's (fake) time, recorded with it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.at: list[tuple[str, float]] = []

    def submit(self, fn: Callable[[Any], Any], item: Any) -> Future[Any]:
        future = super().submit(fn, item)
        self.at.append((item, self.clock()))
        future.set_result(f"done {item}")
        return future


class Spacing:
    """Hosts' spacing as a ``HostLimiter`` reports it: ``interval`` seconds apart, and a
    wait the test sets (a request of another stage went first)."""

    def __init__(self, intervals: dict[str, float]) -> None:
        self.intervals = intervals
        self.waits: dict[str, float] = {}

    def __call__(self, host: str) -> tuple[float, float]:
        return self.intervals.get(host, 0.0), self.waits.get(host, 0.0)


def spaced_scheduler(executor: ManualExecutor, spacing: Spacing, now: list[float]) -> Any:
    def sleep(seconds: float) -> None:
        now[0] += seconds

    return HostScheduler(
        executor,  # type: ignore[arg-type]
        str,
        max_in_flight=2,
        per_host=2,
        spacing=spacing,
        clock=lambda: now[0],
        sleep=sleep,
    )


def test_scheduler_gives_a_spaced_host_a_thread_only_when_its_turn_comes() -> None:
    # A host with a Crawl-delay of 10 s: its second page waits in the queue, not in a thread
    # asleep in HostLimiter.slot; the thread goes to the other host's pages meanwhile.
    now = [100.0]
    executor = ManualExecutor()
    s = spaced_scheduler(executor, Spacing({"slow": 10.0}), now)
    for i in range(3):
        s.submit("slow", f"s{i}", f"s{i}")
    for i in range(2):
        s.submit("fast", f"f{i}", f"f{i}")

    def started() -> list[str]:
        return [item for _, item in executor.started]

    assert started() == ["s0", "f0"]  # s1 not yet: both threads were slow's before
    executor.finish("f0")
    assert s.completed(block=False) == [("f0", "done f0")]
    assert started() == ["s0", "f0", "f1"]
    now[0] = 109.9
    executor.finish("s0")
    s.completed(block=False)
    assert started() == ["s0", "f0", "f1"]  # a thread is free, slow's turn is not yet
    now[0] = 110.0
    s.completed(block=False)
    assert started() == ["s0", "f0", "f1", "s1"]


def test_scheduler_waits_for_a_spaced_hosts_turn_when_nothing_else_runs() -> None:
    # Only a spaced host's pages queued: the scheduler sleeps until each is due (a wait the
    # limiter reports, from a request outside the scheduler, counts too), then starts it.
    now = [0.0]
    spacing = Spacing({"slow": 10.0})
    spacing.waits["slow"] = 4.0
    executor = InlineExecutor(lambda: now[0])
    s = spaced_scheduler(executor, spacing, now)
    for i in range(3):
        s.submit("slow", i, f"s{i}")
    assert executor.at == []
    spacing.waits.clear()
    assert sorted(s.drain()) == [(0, "done s0"), (1, "done s1"), (2, "done s2")]
    assert executor.at == [("s0", 4.0), ("s1", 14.0), ("s2", 24.0)]
    assert s.outstanding == 0


class StepClock:
    """A clock on which time passes while the scheduler works: each reading is ``step``
    seconds after the one before."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SlowInline(ManualExecutor):
    """Finishes the items of host "slow" at once; the others run until the test ends."""

    def submit(self, fn: Callable[[Any], Any], item: Any) -> Future[Any]:
        future = super().submit(fn, item)
        if item.startswith("s"):
            future.set_result(f"done {item}")
        return future


def test_scheduler_starts_a_spaced_host_when_due_while_another_hosts_request_runs() -> None:
    # The time until a spaced host's turn, read a moment after the check for hosts due, may
    # be 0 or less by then: waiting "0" or "-x" seconds for a completion must not mean "until
    # one comes" (here: never; a page of a slow site: its whole deadline). Turns of 10 to
    # 17.5 ticks of 1/1024 s (exact in binary): each reading of the clock lands on one.
    for ticks in [n / 2 for n in range(20, 36)]:
        clock = StepClock(1 / 1024)
        executor = SlowInline()
        s: HostScheduler[str, str, str] = HostScheduler(
            executor,  # type: ignore[arg-type]
            str,
            max_in_flight=2,
            per_host=1,
            spacing=Spacing({"slow": ticks / 1024}),
            clock=clock,
            sleep=clock.sleep,
        )
        s.submit("busy", "b0", "b0")  # runs until the test ends
        s.submit("slow", "s0", "s0")
        s.submit("slow", "s1", "s1")
        got: list[Any] = []

        def wait_for_slow(s: Any = s, got: list[Any] = got) -> None:
            while len(got) < 2:
                got.extend(s.completed(block=True))

        waiter = threading.Thread(target=wait_for_slow, daemon=True)
        waiter.start()
        waiter.join(timeout=30)  # against a hang: it returns within some 10 ms
        assert got == [("s0", "done s0"), ("s1", "done s1")], ticks


def test_scheduler_waits_on_its_queue_for_a_completion_rather_than_polling_it() -> None:
    # With nothing spaced, completed(block=True) blocks on the results' queue until one
    # comes (a wait of 0 would have the owner's thread spin on a CPU while pages download).
    timeouts: list[float | None] = []
    executor = ManualExecutor()

    class Recording(queue.SimpleQueue[tuple[str, str, Future[str]]]):
        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            timeouts.append(timeout)
            if not executor.started[0][0].done():
                executor.finish("a0")  # the page comes in while the owner waits
            return super().get(block, timeout)

    s = scheduler(executor, max_in_flight=2, per_host=1)
    s._done = Recording()
    s.submit("a", "a0", "a0")
    assert s.completed(block=True) == [("a0", "done a0")]
    assert timeouts and all(t is None or t > 0 for t in timeouts), timeouts


def test_scheduler_keeps_nothing_of_the_hosts_it_has_finished_with() -> None:
    # Hosts spaced, unspaced, and one whose spacing ends (its robots.txt no longer asks):
    # once every result is back, no record of a host is left but a spaced host's next turn
    # (a bundle may meet thousands of hosts).
    now = [0.0]
    spacing = Spacing({"slow": 10.0, "ends": 5.0})
    executor = InlineExecutor(lambda: now[0])
    s = spaced_scheduler(executor, spacing, now)
    s.submit("ends", "e0", "e0")  # its turn given: the next in 5 s
    spacing.intervals["ends"] = 0.0
    for i in range(2):
        s.submit("ends", f"e{i + 1}", f"e{i + 1}")
        s.submit("slow", f"s{i}", f"s{i}")
        s.submit("fast", f"f{i}", f"f{i}")
    assert len(list(s.drain())) == 7 and s.outstanding == 0
    assert executor.at[-1] == ("s1", 10.0)
    assert s._due == {"slow": 20.0}
    left = (s._pending, s._place, s._waiting, s._running, *s._ready)
    assert not any(left), left


def test_a_hosts_second_page_waits_in_the_queue_until_its_crawl_delay_is_known(
    site: LoopbackSite, new_client: Callable[..., HttpClient]
) -> None:
    # Two pages of a host whose robots.txt (not fetched yet) asks for 5 s, two threads: the
    # second page starts when the first's robots.txt has told the delay, at its turn. Both
    # started at once, and the second page's thread slept 5 s in HostLimiter.slot (up to
    # 60 s, once per host of a run), holding a thread other hosts' pages waited for.
    base = site.add_host("news")
    robots = b"User-agent: *\nCrawl-delay: 5\n"
    site.route("news", "/robots.txt", Response(body=robots, content_type="text/plain"))
    site.set_fallback("news", Response(body=PAGE.encode()))
    c = new_client(config(per_host_in_flight=2))
    now = [1000.0]
    slept: dict[str, list[float]] = {"limiter": [], "scheduler": []}

    def sleeper(who: str) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            slept[who].append(round(seconds, 6))
            now[0] += seconds

        return sleep

    c._limiter._clock = c._robots._clock = lambda: now[0]
    c._limiter._sleep = sleeper("limiter")
    with ThreadPoolExecutor(2) as pool:
        s: HostScheduler[int, FeedEntry, Any] = HostScheduler(
            pool,
            functools.partial(fetch_outcome, c),
            max_in_flight=2,
            per_host=2,
            spacing=c.host_spacing,
            clock=lambda: now[0],
            sleep=sleeper("scheduler"),
        )
        for i in range(2):
            s.submit(host_of(base), i, entry(f"{base}/p{i}"))
        outcomes = [outcome for _, outcome in sorted(s.drain(), key=lambda done: done[0])]
    assert all(isinstance(outcome, FetchedPage) for outcome in outcomes), outcomes
    assert slept == {"limiter": [], "scheduler": [5.0]}


class CountedHost(str):
    """A host name that counts how often it is hashed (each dict lookup of it)."""

    hashed = 0

    def __hash__(self) -> int:
        CountedHost.hashed += 1
        return str.__hash__(self)


def test_scheduler_work_per_item_does_not_grow_with_the_hosts_queued() -> None:
    # 3,000 feeds on as many hosts, 4 at a time: picking the next host used to look at every
    # queued host (4.5 million lookups here; 10,000 feeds took 8.8 s of CPU), now a few.
    executor = ManualExecutor()
    s = scheduler(executor, max_in_flight=4, per_host=1)
    hosts = [CountedHost(f"feeds{i}.example") for i in range(3000)]
    CountedHost.hashed = 0
    for i, host in enumerate(hosts):
        s.submit(host, i, i)
    for i in range(len(hosts)):
        executor.finish(i)
        assert s.completed(block=True) == [(i, f"done {i}")]  # first queued, first started
    assert s.outstanding == 0
    assert CountedHost.hashed < 50 * len(hosts)  # 22 a host now; 4,500 before


def rule_starts(
    queued: dict[str, list[str]], running: dict[str, int], per_host: int, max_in_flight: int
) -> list[str]:
    """The scheduler's rule written out plainly (updating ``queued`` and ``running``): of the
    hosts with items queued and below the per-host limit, the one with the fewest running,
    and among those the first in the round (queued, or last started, the earliest)."""
    started = []
    while sum(running.values()) < max_in_flight:
        open_hosts = [h for h in queued if running.get(h, 0) < per_host]
        if not open_hosts:
            break
        host = min(open_hosts, key=lambda h: running.get(h, 0))
        started.append(queued[host].pop(0))
        items = queued.pop(host)
        if items:
            queued[host] = items  # last in the round (dicts keep their order)
        running[host] = running.get(host, 0) + 1
    return started


@pytest.mark.parametrize(("per_host", "max_in_flight"), [(1, 3), (2, 5), (4, 4)])
def test_scheduler_starts_items_in_the_order_of_its_rule(per_host: int, max_in_flight: int) -> None:
    # Random submissions and completions, the items started compared with the rule's.
    rng = random.Random(7)
    executor = ManualExecutor()
    s = scheduler(executor, max_in_flight=max_in_flight, per_host=per_host)
    queued: dict[str, list[str]] = {}
    running: dict[str, int] = {}
    expected: list[str] = []
    for n in range(600):
        live = [item for future, item in executor.started if not future.done()]
        if live and rng.random() < 0.45:
            item = rng.choice(live)
            executor.finish(item)
            assert s.completed(block=True) == [(item, f"done {item}")]
            running[item.split("/")[0]] -= 1
        else:
            host = f"h{rng.randrange(6)}"
            s.submit(host, f"{host}/{n}", f"{host}/{n}")
            queued.setdefault(host, []).append(f"{host}/{n}")
        expected += rule_starts(queued, running, per_host, max_in_flight)
        assert [item for _, item in executor.started] == expected


# --- the Beam stage ---------------------------------------------------------------------


@pytest.mark.parametrize("by_host", [False, True], ids=["per-process", "by-host"])
def test_fetch_articles_pipeline(site: LoopbackSite, by_host: bool) -> None:
    hosts = [site.add_host(name) for name in ("ledger", "courier")]
    good = [f"{base}/story/{i}" for base in hosts for i in range(6)]
    for name in ("ledger", "courier"):
        for i in range(6):
            site.route(name, f"/story/{i}", Response(body=PAGE.encode("utf-8")))
    site.route("ledger", "/doc.pdf", Response(body=b"%PDF", content_type="application/pdf"))
    site.route("courier", "/oops", Response(500))
    pdf, oops, missing = hosts[0] + "/doc.pdf", hosts[1] + "/oops", hosts[1] + "/missing"
    links = [*good, pdf, oops, missing]
    # An entry that carries its full text becomes a page with no request (its link answers
    # 404), and counts as fetched like the others.
    in_feed = dataclasses.replace(entry(hosts[0] + "/in-feed"), content="<p>All of it.</p>")
    # One whose link is no web URL is refused as a fetch of it is, nothing requested.
    in_feed_mailto = dataclasses.replace(in_feed, link="mailto:desk@news.example")
    fetched_before = PROGRESS.count(FETCHED)

    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        outputs = (
            p
            | beam.Create([*(entry(link) for link in links), in_feed, in_feed_mailto])
            | FetchArticles(config(per_host_in_flight=2), max_in_flight=4, by_host=by_host)
        )
        assert_that(
            outputs[OK] | "Pages" >> beam.Map(lambda page: (page.url, page.html)),
            equal_to(
                [*((link, PAGE) for link in good), (in_feed.link, page_from_feed(in_feed).html)]
            ),
            label="CheckOk",
        )
        assert_that(
            outputs[FAILURES]
            | "Failures" >> beam.Map(lambda f: (f.key, f.error_type, f.retryable)),
            equal_to(
                [
                    (oops, "http_500", True),
                    (missing, "http_404", False),
                    (in_feed_mailto.link, "bad_scheme", False),
                ]
            ),
            label="CheckFailures",
        )
        assert_that(
            outputs[DISCARDED] | "Discards" >> beam.Map(lambda d: (d.key, d.reason)),
            equal_to([(pdf, "not_html")]),
            label="CheckDiscarded",
        )
    # The progress line's count: every page asked for (the PDF, the 500 and the 404 too) and
    # the one made from its feed's text.
    assert PROGRESS.count(FETCHED) == fetched_before + len(good) + 3 + 1
    assert site.requests_for("ledger", "/in-feed") == []


@pytest.mark.parametrize("by_host", [False, True], ids=["per-process", "by-host"])
def test_links_that_do_not_parse_are_bad_url_failures(site: LoopbackSite, by_host: bool) -> None:
    base = site.add_host("ledger")
    site.route("ledger", "/story", Response(body=PAGE.encode("utf-8")))
    bad = ["http://[::1/x", "http://[1:2:3]/a"]  # urlsplit raises ValueError on both

    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        outputs = (
            p
            | beam.Create([entry(link) for link in [base + "/story", *bad]])
            | FetchArticles(config(), max_in_flight=4, by_host=by_host)
        )
        assert_that(
            outputs[OK] | "Pages" >> beam.Map(lambda page: page.url),
            equal_to([base + "/story"]),
            label="CheckOk",
        )
        assert_that(
            outputs[FAILURES]
            | "Failures" >> beam.Map(lambda f: (f.key, f.error_type, f.retryable)),
            equal_to([(link, "bad_url", False) for link in bad]),
            label="CheckFailures",
        )


class PeakConcurrency:
    """A route that answers a page and records the most requests it held at once.

    Each request waits up to ``wait_s`` until ``together`` requests are held (the server
    answering late, as a busy one does), so that requests sent at about the same time are seen
    together.
    """

    def __init__(self, wait_s: float, together: int = 2) -> None:
        self._wait_s = wait_s
        self._together = together
        self._held = 0
        self.peak = 0
        self._changed = threading.Condition()

    def __call__(self, request: Request) -> Response:
        with self._changed:
            self._held += 1
            self.peak = max(self.peak, self._held)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._held >= self._together, timeout=self._wait_s)
            self._held -= 1
        return Response(body=PAGE.encode("utf-8"))


@pytest.mark.parametrize(("by_host", "peak"), [(False, 2), (True, 1)])
def test_keyed_by_host_the_per_host_limit_holds_across_worker_processes(
    site: LoopbackSite, by_host: bool, peak: int
) -> None:
    # Two worker processes, one request in flight per host allowed. Each process has its own
    # HTTP client, so per process the limit holds and together they send two at once; keyed by
    # host (as on Dataflow), all of a host's fetches run in one place and never overlap.
    base = site.add_host("ledger")
    route = PeakConcurrency(wait_s=0.3)
    site.set_fallback("ledger", route)
    links = [f"{base}/story/{i}" for i in range(8)]
    options = PipelineOptions(
        ["--runner=FnApiRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    )
    with TestPipeline(options=options) as p:
        outputs = (
            p
            | beam.Create([entry(link) for link in links])
            | beam.Reshuffle()  # spread the entries over both workers
            | FetchArticles(config(per_host_in_flight=1), max_in_flight=8, by_host=by_host)
        )
        assert_that(outputs[OK] | beam.Map(lambda page: page.url), equal_to(links))
    assert route.peak == peak


def test_the_per_host_step_keys_entries_by_their_pages_host() -> None:
    # Entries of one host from two feeds share a key (the local runner runs the whole keyed
    # step in one place, so the test above would pass with any key: the key is checked here).
    first = dataclasses.replace(entry("http://news.example:8080/a"), feed_url="http://x.example/")
    second = dataclasses.replace(entry("http://NEWS.example:8080/b"), feed_url="http://y.example/")
    assert _keyed_by_host(first) == (host_of(first.link), first)
    assert _keyed_by_host(first)[0] == _keyed_by_host(second)[0]


@pytest.mark.parametrize("by_host", [False, True], ids=["per-process", "by-host"])
def test_fetch_articles_keeps_each_entrys_timestamp_and_window(
    site: LoopbackSite, by_host: bool
) -> None:
    base = site.add_host("news")
    site.set_fallback("news", Response(body=PAGE.encode("utf-8")))
    stamped = [(f"{base}/a{i}", 1000.0 + 61 * i) for i in range(8)]  # one window each

    def with_time(page: FetchedPage, ts: Any = beam.DoFn.TimestampParam,
                  window: Any = beam.DoFn.WindowParam) -> tuple[str, float, float]:  # fmt: skip
        return page.url, float(ts), float(window.start)

    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        pages = (
            p
            | beam.Create([TimestampedValue(entry(link), ts) for link, ts in stamped])
            | beam.WindowInto(FixedWindows(60))
            | FetchArticles(config(), max_in_flight=8, by_host=by_host)
        )
        assert_that(
            pages[OK] | beam.Map(with_time),
            equal_to([(link, ts, ts - ts % 60) for link, ts in stamped]),
        )


def test_max_buffered_below_max_in_flight_still_fetches_max_in_flight_at_once(
    site: LoopbackSite,
) -> None:
    # An instance holds at least as many entries as it has threads: with four threads and
    # max_buffered=1, the four pages are asked for together (each waits until all four are).
    base = site.add_host("ledger")
    route = PeakConcurrency(wait_s=5, together=4)
    site.set_fallback("ledger", route)
    links = [f"{base}/story/{i}" for i in range(4)]
    slow_server = config(per_host_in_flight=4, respect_robots=False, read_timeout=10, deadline=20)
    fetch = FetchArticles(slow_server, max_in_flight=4, max_buffered=1)
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as p:
        outputs = p | beam.Create([entry(link) for link in links]) | fetch
        assert_that(outputs[OK] | beam.Map(lambda page: page.url), equal_to(links))
    assert route.peak == 4


# --- the DoFn on its own: what process() waits for ----------------------------------------


def run_fetch_fn(fn: Any, links: list[str]) -> list[list[str]]:
    """Drive ``fn`` as a runner would over one bundle of ``links``; the URLs of the pages
    each ``process`` call emitted, then those ``finish_bundle`` emitted."""
    fn.setup()
    try:
        fn.start_bundle()
        emitted = [list(fn.process(entry(link), Timestamp(0), GlobalWindow())) for link in links]
        emitted.append(list(fn.finish_bundle()))
    finally:
        fn.teardown()
    return [[output.value.url for output in outputs] for outputs in emitted]


def _held_page() -> tuple[threading.Event, Callable[[Request], Response]]:
    """A route that answers the page only once the event is set (at most 10 s later)."""
    release = threading.Event()

    def held(request: Request) -> Response:
        release.wait(timeout=10)
        return Response(body=PAGE.encode("utf-8"))

    return release, held


def test_process_waits_only_while_more_than_max_buffered_entries_are_held(
    site: LoopbackSite,
) -> None:
    # One thread, max_buffered 1. The first page answers only once released: held alone, its
    # entry leaves process() at once with nothing to emit. With the second entry two are
    # held: process() waits for the first page (released shortly after the call begins; had
    # process() not waited, it would return with nothing) and emits it.
    base = site.add_host("news")
    release, held = _held_page()

    site.route("news", "/1", held)
    site.route("news", "/2", Response(body=PAGE.encode("utf-8")))
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=1)
    fn.setup()
    try:
        fn.start_bundle()
        first = list(fn.process(entry(base + "/1"), Timestamp(0), GlobalWindow()))
        timer = threading.Timer(0.2, release.set)
        timer.start()
        second = list(fn.process(entry(base + "/2"), Timestamp(0), GlobalWindow()))
        rest = list(fn.finish_bundle())
    finally:
        release.set()
        fn.teardown()
    assert [[o.value.url for o in outputs] for outputs in (first, second, rest)] == [
        [],
        [base + "/1"],
        [base + "/2"],
    ]


def _listed_by(feed: str, link: str) -> FeedEntry:
    """``link`` as the feed ``feed`` lists it, under a GUID of its own."""
    return FeedEntry(feed_url=f"http://{feed}.example/rss", link=link, key=f"{feed}-1", title="t")


def _drive(fn: Any, entries: list[FeedEntry]) -> list[Any]:
    """Every output of one bundle of ``entries`` through ``fn``, as a runner drives it."""
    fn.setup()
    try:
        fn.start_bundle()
        outputs = [o for e in entries for o in fn.process(e, Timestamp(0), GlobalWindow())]
        outputs += list(fn.finish_bundle())
    finally:
        fn.teardown()
    tagged = [o.value if isinstance(o, beam.pvalue.TaggedOutput) else o for o in outputs]
    return [windowed_value.value for windowed_value in tagged]


def test_an_article_listed_under_several_entries_is_fetched_once_per_bundle(
    site: LoopbackSite,
) -> None:
    # One article listed by three feeds under their own GUIDs (one link with a tracking
    # parameter: the same canonical URL) was fetched three times; the clustering then
    # discarded two as duplicate_url. Each entry still gets the page, with its own entry
    # and its own link as the URL requested (a copy named the first entry's link as what
    # the one with the tracking parameter asked for); where the page came from is shared.
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE.encode("utf-8")))
    site.route("news", "/b", Response(body=PAGE.encode("utf-8")))
    listed = [
        _listed_by("one", base + "/a"),
        _listed_by("two", base + "/a"),
        _listed_by("other", base + "/b"),
        _listed_by("three", base + "/a?utm_source=rss"),
    ]
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=8)
    pages = _drive(fn, listed)
    assert len(site.requests_for("news", "/a")) == 1
    assert sorted((p.entry.feed_url, p.url, p.final_url, p.html) for p in pages) == sorted(
        (e.feed_url, e.link, base + ("/b" if e.feed_url.startswith("http://other") else "/a"), PAGE)
        for e in listed
    )


def test_an_entry_waiting_for_a_shared_fetch_gets_a_copy_requested_by_its_own_link(
    site: LoopbackSite,
) -> None:
    # The page answers only once both entries are queued, so the second (its feed's own
    # tracking parameters) surely waits for the first's fetch. Its copy named the first
    # entry's link as what it requested; the page's final URL is shared, so the clustering
    # still compares the same URL and discards one as duplicate_url.
    base = site.add_host("news")
    release, held = _held_page()

    site.set_fallback("news", held)
    listed = [_listed_by("one", base + "/a?ref=one"), _listed_by("two", base + "/a?utm_source=rss")]
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=8)
    fn.setup()
    try:
        fn.start_bundle()
        outputs = [o for e in listed for o in fn.process(e, Timestamp(0), GlobalWindow())]
        release.set()
        outputs += list(fn.finish_bundle())
    finally:
        release.set()
        fn.teardown()
    emitted = [o.value if isinstance(o, beam.pvalue.TaggedOutput) else o for o in outputs]
    assert [r.path for r in site.requests_for("news")] == ["/a?ref=one"]
    assert sorted((w.value.entry.feed_url, w.value.url, w.value.final_url) for w in emitted) == [
        ("http://one.example/rss", base + "/a?ref=one", base + "/a?ref=one"),
        ("http://two.example/rss", base + "/a?utm_source=rss", base + "/a?ref=one"),
    ]


def test_entries_waiting_for_a_fetch_that_failed_are_fetched_on_their_own(
    site: LoopbackSite,
) -> None:
    # Only a page is shared: had the first fetch's 503 been given to all three, an article
    # the next request would have got was lost for both other entries.
    base = site.add_host("news")
    answers = iter([Response(503)])
    site.set_fallback("news", lambda request: next(answers, Response(body=PAGE.encode("utf-8"))))
    listed = [_listed_by(feed, base + "/a") for feed in ("one", "two", "three")]
    fn = _FetchArticlesFn(config(respect_robots=False, retries=0), max_in_flight=1, max_buffered=8)
    outcomes = _drive(fn, listed)
    assert len(site.requests_for("news", "/a")) == 3
    assert sorted(type(o).__name__ for o in outcomes) == ["Failure", "FetchedPage", "FetchedPage"]


def test_entries_waiting_for_a_fetch_that_was_discarded_are_fetched_on_their_own(
    site: LoopbackSite,
) -> None:
    # Only a page is shared, not a discard either: a link that answered a PDF once may
    # answer the article to the next request, as after a failure.
    base = site.add_host("news")
    answers = iter([Response(body=b"%PDF-1.7", content_type="application/pdf")])
    site.set_fallback("news", lambda request: next(answers, Response(body=PAGE.encode("utf-8"))))
    listed = [_listed_by(feed, base + "/a") for feed in ("one", "two")]
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=8)
    outcomes = _drive(fn, listed)
    assert len(site.requests_for("news", "/a")) == 2
    assert sorted(type(o).__name__ for o in outcomes) == ["Discard", "FetchedPage"]


def test_an_entry_whose_page_was_fetched_earlier_in_the_bundle_gets_a_copy(
    site: LoopbackSite,
) -> None:
    # A fetch that has ended is shared too, from the pages the bundle fetched last: two
    # feeds of one outlet listing the same article, the second's entry arriving after the
    # first's fetch had ended, asked the outlet for the page twice. One thread and
    # max_buffered 1: the second entry's process() waits for the first page, which has left
    # before the third entry comes. The copy names the third entry's own link as requested.
    base = site.add_host("news")
    site.set_fallback("news", Response(body=PAGE.encode("utf-8")))
    listed = [
        _listed_by("one", base + "/a"),
        _listed_by("other", base + "/b"),
        _listed_by("two", base + "/a?utm_source=rss"),
    ]
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=1)
    pages = _drive(fn, listed)
    assert sorted((p.entry.feed_url, p.url, p.final_url, p.html) for p in pages) == sorted(
        (e.feed_url, e.link, base + ("/b" if e.feed_url.startswith("http://other") else "/a"), PAGE)
        for e in listed
    )
    assert len(site.requests_for("news", "/a")) == 1


def test_a_page_forgotten_by_the_bundles_bound_on_recent_pages_is_fetched_again(
    site: LoopbackSite,
) -> None:
    # The recent pages are bounded by their text (RECENT_PAGE_CHARS); here to one page's:
    # /b's page, in by the time /c's entry has been queued, pushes /a's out, so /a's second
    # entry is fetched on its own (with the bound as it is, it gets a copy of the first's).
    base = site.add_host("news")
    site.set_fallback("news", Response(body=PAGE.encode("utf-8")))
    listed = [
        _listed_by("one", base + "/a"),
        _listed_by("other", base + "/b"),
        _listed_by("third", base + "/c"),
        _listed_by("two", base + "/a"),
    ]
    requests = []
    for bound in (len(PAGE), RECENT_PAGE_CHARS):
        fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=1)
        fn.recent_page_chars = bound
        pages = _drive(fn, listed)
        assert sorted(p.entry.feed_url for p in pages) == sorted(e.feed_url for e in listed)
        requests.append(len(site.requests_for("news", "/a")))
    assert requests == [2, 3]


def test_an_entry_given_a_shared_page_keeps_its_own_timestamp(site: LoopbackSite) -> None:
    # A copy of the page is emitted with its own entry's timestamp, as its own fetch would
    # have been: with the first entry's, a copy fell in another window of the stages after.
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE.encode("utf-8")))
    listed = [_listed_by(feed, base + "/a") for feed in ("one", "two", "three")]
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=8)
    fn.setup()
    try:
        fn.start_bundle()
        outputs = [
            o
            for at, e in enumerate(listed)
            for o in fn.process(e, Timestamp(100 * at), GlobalWindow())
        ]
        outputs += list(fn.finish_bundle())
    finally:
        fn.teardown()
    emitted = [o.value if isinstance(o, beam.pvalue.TaggedOutput) else o for o in outputs]
    assert len(site.requests_for("news", "/a")) == 1
    assert sorted((w.value.entry.feed_url, w.timestamp) for w in emitted) == sorted(
        (e.feed_url, Timestamp(100 * at)) for at, e in enumerate(listed)
    )


def test_a_bundle_that_failed_half_way_leaves_no_fetch_to_wait_for(site: LoopbackSite) -> None:
    # A bundle the runner gave up on (an exception after process() queued a fetch) never
    # drained it: the next bundle's entry of the same page must be fetched, not left to
    # wait for that fetch (its page then never came: the entry was lost).
    base = site.add_host("news")
    site.route("news", "/a", Response(body=PAGE.encode("utf-8")))
    fn = _FetchArticlesFn(config(respect_robots=False), max_in_flight=1, max_buffered=8)
    fn.setup()
    try:
        fn.start_bundle()
        list(fn.process(_listed_by("one", base + "/a"), Timestamp(0), GlobalWindow()))
        fn.start_bundle()  # the failed bundle's finish_bundle() is never called
        outputs = list(fn.process(_listed_by("two", base + "/a"), Timestamp(0), GlobalWindow()))
        outputs += list(fn.finish_bundle())
    finally:
        fn.teardown()
    emitted = [o.value if isinstance(o, beam.pvalue.TaggedOutput) else o for o in outputs]
    assert [w.value.entry.feed_url for w in emitted] == ["http://two.example/rss"]


def test_a_host_at_its_limit_leaves_the_threads_to_other_hosts(site: LoopbackSite) -> None:
    # One request per host, two threads; three entries of a slow host, then one of another.
    # The slow host's first page answers only once the other host has been asked: had its
    # queued entries taken the second thread (to wait there for the host's slot), the other
    # host would have been asked only after that wait ran out.
    slow, quick = site.add_host("slow"), site.add_host("quick")
    quick_asked = threading.Event()
    saw_quick: list[bool] = []

    def held(request: Request) -> Response:
        saw_quick.append(quick_asked.wait(timeout=10))
        return Response(body=PAGE.encode("utf-8"))

    def ask(request: Request) -> Response:
        quick_asked.set()
        return Response(body=PAGE.encode("utf-8"))

    site.set_fallback("slow", held)
    site.set_fallback("quick", ask)
    fn = _FetchArticlesFn(
        config(per_host_in_flight=1, respect_robots=False), max_in_flight=2, max_buffered=8
    )
    links = [slow + "/1", slow + "/2", slow + "/3", quick + "/1"]
    emitted = run_fetch_fn(fn, links)
    assert sorted(url for urls in emitted for url in urls) == sorted(links)
    assert saw_quick == [True, True, True]
