"""Analyser: the extract, enrich and tag cores in a row, as the process pool runs them."""

from __future__ import annotations

import gc
import os
import pickle
import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from tests.conftest import fresh_python_prints
from transforms import analyse
from transforms.analyse import _PAGES_PER_TASK, AnalysePages, _AnalysePagesFn, results_of
from transforms.analyser import Analyser, AnalysisSettings
from transforms.analysis import enrich_article, extract_article
from transforms.common import DISCARDED, FAILURES, OK
from transforms.outlets import OutletCatalogue
from transforms.records import Article, Discard, Failure, FeedEntry, FetchedPage, TaggedStory
from transforms.tagger import Tagger

ENTRY = FeedEntry(
    feed_url="https://news.example/rss",
    link="https://news.example/tech/tiktok-accounts",
    key="https://news.example/tech/tiktok-accounts",
    published_at="2026-03-04T08:00:00+00:00",
    feed_language="en",
)
ON_TOPIC = " ".join(
    [
        "TikTok removed a network of accounts that posed as American voters and were run by",
        "Chinese state media, the company said on Tuesday, calling it coordinated inauthentic",
        "behavior. The accounts pushed Beijing's talking points about Taiwan and the election.",
    ]
    * 3
)
OFF_TOPIC = " ".join(
    f"Item {i}: the city council approved a new cycle lane on the high street after a long "
    "debate about parking, deliveries and the safety of children walking to school."
    for i in range(6)
)


def page(body: str, link: str = ENTRY.link) -> FetchedPage:
    paragraphs = "".join(f"<p>{s}.</p>" for s in body.split(". "))
    html = (
        "<html><head><title>Story</title></head><body><article><h1>Story</h1>"
        f"{paragraphs}</article></body></html>"
    )
    entry = ENTRY if link == ENTRY.link else FeedEntry(ENTRY.feed_url, link, link)
    return FetchedPage(entry, link, link, 200, "text/html", html, "2026-03-04")


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser(AnalysisSettings(min_text_chars=250))


def test_gives_what_the_three_stages_give_in_a_row(analyser: Analyser) -> None:
    outcome = analyser.analyse(page(ON_TOPIC))
    assert isinstance(outcome, TaggedStory)
    article = extract_article(page(ON_TOPIC))
    assert isinstance(article, Article)
    story = enrich_article(article, OutletCatalogue.load())
    expected = Tagger.load().tag(article.title, article.text)
    assert outcome.story == story
    assert outcome.tagging == expected
    assert "tiktok" in outcome.tagging.platforms and "china" in outcome.tagging.state_actors


def test_the_stage_that_stops_a_page_gives_its_outcome(analyser: Analyser) -> None:
    short = analyser.analyse(page("Subscribe to read the rest."))
    assert isinstance(short, Discard) and short.stage == "extract"
    off_topic = analyser.analyse(page(OFF_TOPIC))
    assert isinstance(off_topic, Discard)
    assert (off_topic.stage, off_topic.reason) == ("tag", "not_relevant")


def test_all_stories_keeps_the_off_topic_ones() -> None:
    keeping = Analyser(AnalysisSettings(min_text_chars=250, keep_irrelevant=True))
    outcome = keeping.analyse(page(OFF_TOPIC))
    assert isinstance(outcome, TaggedStory) and not outcome.tagging.relevant


def test_the_minimum_text_length_is_the_settings() -> None:
    # The page's body ("Story", then the stub) is too short for 250 characters, not for 20.
    lenient = Analyser(AnalysisSettings(min_text_chars=20, keep_irrelevant=True))
    outcome = lenient.analyse(page("Subscribe to read the rest."))
    assert isinstance(outcome, TaggedStory)
    assert "Subscribe to read the rest." in outcome.story.article.text


def test_analysing_pages_together_gives_what_each_gives_alone(analyser: Analyser) -> None:
    pages = [
        page(ON_TOPIC, "https://news.example/a"),
        page("Subscribe to read the rest.", "https://news.example/b"),
        page(OFF_TOPIC, "https://news.example/c"),
        page(ON_TOPIC.replace("TikTok", "YouTube"), "https://news.example/d"),
    ]
    together = analyser.analyse_all(pages)
    assert together == [analyser.analyse(p) for p in pages]
    assert [type(o).__name__ for o in together] == [
        "TaggedStory",
        "Discard",
        "Discard",
        "TaggedStory",
    ]


@pytest.mark.parametrize(
    "error",
    [
        BrokenProcessPool("a child process terminated abruptly"),
        # not only a dead worker: a task that failed otherwise (here, an outcome the worker
        # could not send back) must not raise out of the bundle either
        pickle.PicklingError("cannot pickle '_thread.lock' object"),
    ],
    ids=["dead-worker", "failed-task"],
)
def test_a_dead_worker_makes_each_of_its_pages_a_retryable_dead_letter(error: Exception) -> None:
    future: Future[object] = Future()
    future.set_exception(error)
    failures = results_of(["http://a.example/1", "http://a.example/2"], future)
    assert [(f.stage, f.key, f.error_type) for f in failures if isinstance(f, Failure)] == [
        ("extract", "http://a.example/1", "extract_worker_error"),
        ("extract", "http://a.example/2", "extract_worker_error"),
    ]
    assert all(
        isinstance(f, Failure) and f.retryable and type(error).__name__ in f.message
        for f in failures
    )


def test_pages_share_a_task_only_while_every_worker_has_work(analyser: Analyser) -> None:
    # Two long pages keep both workers busy (about half a second each to analyse), so the
    # pages after them wait and go in tasks of _PAGES_PER_TASK; every page still ends in
    # exactly one output, with its own timestamp and the outcome it has alone.
    long_pages = [page(ON_TOPIC * 200, f"https://news.example/long-{i}") for i in range(2)]
    short = [page(ON_TOPIC, f"https://news.example/{i}") for i in range(2 * _PAGES_PER_TASK + 2)]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        outputs: list[WindowedValue] = []
        for i, p in enumerate(long_pages + short):
            outputs += fn.process(p, Timestamp(i), GlobalWindow())
        tasks = sorted(len(task.pages) for task in fn._pending.values())
        left = len(fn._batch)
        outputs += fn.finish_bundle()
    finally:
        fn.teardown()
    assert (tasks, left) == ([1, 1, _PAGES_PER_TASK, _PAGES_PER_TASK], 2)
    assert all(isinstance(o, WindowedValue) for o in outputs)
    by_time = {int(o.timestamp): o.value for o in outputs}
    assert sorted(by_time) == list(range(len(long_pages) + len(short)))
    for i, p in enumerate(long_pages + short):
        assert by_time[i] == analyser.analyse(p), p.url


def test_a_pool_of_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        AnalysePages(AnalysisSettings(min_text_chars=250), 1)


def test_a_pool_broken_by_a_dead_worker_is_replaced_and_the_page_analysed() -> None:
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        assert fn._pool is not None
        running = fn._pool.submit(time.sleep, 60)
        for worker in list(fn._pool._processes.values()):
            worker.kill()
        assert isinstance(running.exception(timeout=60), BrokenProcessPool)
        outputs = [*fn.process(page(ON_TOPIC), Timestamp(0), GlobalWindow()), *fn.finish_bundle()]
    finally:
        fn.teardown()
    (output,) = outputs
    assert isinstance(output, WindowedValue) and isinstance(output.value, TaggedStory)


def test_a_bundle_that_failed_half_way_leaves_nothing_for_the_next(analyser: Analyser) -> None:
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        fn.start_bundle()
        first = [page(ON_TOPIC, f"https://news.example/failed-{i}") for i in range(3)]
        for i, p in enumerate(first):
            list(fn.process(p, Timestamp(i), GlobalWindow()))
        # ... the bundle fails here: no finish_bundle; the runner reuses the instance
        fn.start_bundle()
        later = page(ON_TOPIC, "https://news.example/next")
        outputs = [*fn.process(later, Timestamp(10), GlobalWindow()), *fn.finish_bundle()]
    finally:
        fn.teardown()
    assert [(int(o.timestamp), o.value) for o in outputs] == [(10, analyser.analyse(later))]


def test_the_fork_server_loads_the_workers_code_without_beam_and_freezes_it() -> None:
    # The fork server imports transforms.pool_preload before it forks the workers, and the
    # first page waits for it: importing Beam there would add ~0.6 s to every run with a pool.
    # What it loaded is frozen, out of the workers' garbage collections.
    code = (
        "import gc, sys, transforms.analyser, transforms.pool_preload, transforms.pool_start; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam'), "
        "gc.get_freeze_count() > 10000)"
    )
    assert fresh_python_prints(code) == "[] True"


def test_the_fork_server_starts_where_the_language_model_cannot_be_unpacked() -> None:
    # py3langid unpacks its model (68 MB) into the temporary folder; where it could not (a
    # full TMPDIR; here a file in its place), the preload raised, the fork server ended and
    # the run with an EOFError traceback. The workers load the model on their first page.
    code = (
        "import tempfile, py3langid.langid; tempfile.tempdir = 'pyproject.toml'; "
        "import transforms.pool_preload; print(py3langid.langid.IDENTIFIER)"
    )
    assert fresh_python_prints(code) == "None"


def _pages_in_tasks(fn: _AnalysePagesFn) -> int:
    return sum(len(task.pages) for task in fn._pending.values())


def _set_when_done(future: Future[Any]) -> threading.Event:
    """An event that a callback added to ``future`` now, after those it has, sets."""
    event = threading.Event()
    future.add_done_callback(lambda _: event.set())
    return event


def _wait_for_tasks(fn: _AnalysePagesFn) -> None:
    """Wait until every task the DoFn has submitted is done and has told the DoFn so: a
    future runs its callbacks in the order they were added, so ours runs after the DoFn's."""
    events = [_set_when_done(future) for future in list(fn._pending)]
    assert all(event.wait(60) for event in events)


def test_outcomes_come_out_as_their_tasks_complete_not_only_at_the_end() -> None:
    # The first two pages go at once, a task each (a worker is free). Once both tasks are
    # done, the next page's process emits both outcomes, before finish_bundle; the count of
    # waiting pages then follows what the tasks still hold.
    pages = [page(ON_TOPIC, f"https://news.example/as-done-{i}") for i in range(3)]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        fn.start_bundle()
        early = [*fn.process(pages[0], Timestamp(0), GlobalWindow())]
        early += fn.process(pages[1], Timestamp(1), GlobalWindow())
        _wait_for_tasks(fn)
        early += fn.process(pages[2], Timestamp(2), GlobalWindow())
        assert fn._waiting == _pages_in_tasks(fn)
        late = list(fn.finish_bundle())
    finally:
        fn.teardown()
    assert sorted(int(o.timestamp) for o in early)[:2] == [0, 1]
    assert sorted(int(o.timestamp) for o in early + late) == [0, 1, 2]


def test_a_page_goes_at_once_when_the_tasks_before_it_are_done() -> None:
    # Two pages go at once, a task each. Once both tasks are done the workers are idle, so
    # the third page goes at once too (it must not wait for company as while every worker
    # has work): its outcome comes out of the fourth page's process, before finish_bundle.
    pages = [page(ON_TOPIC, f"https://news.example/idle-{i}") for i in range(4)]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        fn.start_bundle()
        outputs = [*fn.process(pages[0], Timestamp(0), GlobalWindow())]
        outputs += fn.process(pages[1], Timestamp(1), GlobalWindow())
        _wait_for_tasks(fn)
        outputs += fn.process(pages[2], Timestamp(2), GlobalWindow())
        _wait_for_tasks(fn)
        outputs += fn.process(pages[3], Timestamp(3), GlobalWindow())
        before_the_end = sorted(int(o.timestamp) for o in outputs)
        outputs += fn.finish_bundle()
    finally:
        fn.teardown()
    assert before_the_end[:3] == [0, 1, 2]
    assert sorted(int(o.timestamp) for o in outputs) == [0, 1, 2, 3]


def test_process_returns_with_fewer_pages_waiting_than_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bound of 6 pages (3 a worker) keeps the test small. Two long pages keep both workers
    # busy, so the short ones pile up: process returns with at most 5 waiting (in tasks or
    # for one), waiting for a task to complete when the next page would make 6; its count of
    # waiting pages is what its tasks hold at every step. The pool's workers use the
    # settings given (here, keeping the off-topic stories).
    monkeypatch.setattr(analyse, "_WAITING_PER_PROCESS", 3)
    settings = AnalysisSettings(min_text_chars=250, keep_irrelevant=True)
    long_pages = [page(ON_TOPIC * 200, f"https://news.example/bound-long-{i}") for i in range(2)]
    short = [
        page(ON_TOPIC if i % 2 else OFF_TOPIC, f"https://news.example/bound-{i}") for i in range(8)
    ]
    fn = _AnalysePagesFn(settings, processes=2)
    fn.setup()
    held = []
    try:
        fn.start_bundle()
        outputs: list[WindowedValue] = []
        for i, p in enumerate(long_pages + short):
            outputs += fn.process(p, Timestamp(i), GlobalWindow())
            assert fn._waiting == _pages_in_tasks(fn)
            held.append(fn._waiting + len(fn._batch))
        outputs += fn.finish_bundle()
    finally:
        fn.teardown()
    assert max(held) == 5
    assert all(isinstance(o, WindowedValue) for o in outputs)
    by_time = {int(o.timestamp): o.value for o in outputs}
    assert sorted(by_time) == list(range(len(long_pages) + len(short)))
    keeping = Analyser(settings)
    for i, p in enumerate(long_pages + short):
        assert by_time[i] == keeping.analyse(p), p.url


def test_a_failed_bundles_tasks_not_yet_started_are_cancelled_and_its_pages_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small tasks (2 pages) and a bound of 16 pages give 8 tasks behind two long pages; the
    # pool hands at most 5 of them to its workers (one each, and 3 queued). When the bundle
    # fails half-way, the next start_bundle cancels the others, so they do not hold the
    # workers from the next bundle's pages.
    monkeypatch.setattr(analyse, "_PAGES_PER_TASK", 2)
    monkeypatch.setattr(analyse, "_WAITING_PER_PROCESS", 8)
    long_pages = [page(ON_TOPIC * 200, f"https://news.example/cancel-long-{i}") for i in range(2)]
    short = [page(ON_TOPIC, f"https://news.example/cancel-{i}") for i in range(12)]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        fn.start_bundle()
        for i, p in enumerate(long_pages + short):
            list(fn.process(p, Timestamp(i), GlobalWindow()))
        abandoned = list(fn._pending)
        assert len(abandoned) == 8
        fn.start_bundle()  # the bundle failed; the runner reuses the instance
        cancelled = [future for future in abandoned if future.cancelled()]
        later = page(ON_TOPIC, "https://news.example/after-cancel")
        outputs = list(fn.process(later, Timestamp(20), GlobalWindow()))
        # the failed bundle's pages no longer count as waiting (else process would soon wait
        # for tasks that will never report)
        counted, in_tasks = fn._waiting, _pages_in_tasks(fn)
        outputs += fn.finish_bundle()
    finally:
        fn.teardown()
    assert cancelled
    assert counted == in_tasks
    assert [int(o.timestamp) for o in outputs] == [20]


class _EndsItsWorker(str):
    """A page's HTML that ends the worker process that unpickles it, with no exception and no
    result, as a crash in a C parser would."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return (os._exit, (70,))


def test_a_worker_that_dies_on_a_page_makes_it_a_dead_letter_under_its_entrys_link(
    analyser: Analyser,
) -> None:
    # The dead letter is retryable, keyed by the entry's link (not the URL requested, the URL
    # after redirects or the entry's key), on the failures output with its page's timestamp
    # and window; the next bundle's page goes to a new pool (the broken one refuses work),
    # and its discard is on the discarded output. First a bundle of two long pages, a task
    # each, so that the pool has started both its workers: concurrent.futures does not guard
    # a worker started while the pool breaks (never stopped, it holds the process at exit).
    link = "https://news.example/crash"
    entry = FeedEntry(ENTRY.feed_url, link, key="news.example/crash")
    crashing = FetchedPage(
        entry,
        f"{link}?output=amp",
        "https://amp.news.example/crash",
        200,
        "text/html",
        _EndsItsWorker("<html></html>"),
        "2026-03-04",
    )
    short = page("Subscribe to read the rest.", "https://news.example/after-the-crash")
    window = IntervalWindow(0, 3600)
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    long_pages = [
        page(ON_TOPIC * 200, f"https://news.example/before-the-crash-{i}") for i in range(2)
    ]
    fn.setup()
    try:
        fn.start_bundle()
        for i, p in enumerate(long_pages):
            list(fn.process(p, Timestamp(i), window))
        before = list(fn.finish_bundle())
        fn.start_bundle()
        crashed = [*fn.process(crashing, Timestamp(5), window), *fn.finish_bundle()]
        fn.start_bundle()
        after = [*fn.process(short, Timestamp(6), window), *fn.finish_bundle()]
    finally:
        fn.teardown()
    assert [type(o.value).__name__ for o in before] == ["TaggedStory", "TaggedStory"]
    (dead,) = crashed
    assert isinstance(dead, TaggedOutput) and dead.tag == FAILURES
    assert (dead.value.timestamp, dead.value.windows) == (Timestamp(5), (window,))
    failure = dead.value.value
    assert isinstance(failure, Failure)
    assert (failure.stage, failure.key, failure.error_type, failure.retryable) == (
        "extract",
        link,
        "extract_worker_error",
        True,
    )
    assert failure.message.startswith("BrokenProcessPool")
    (discarded,) = after
    assert isinstance(discarded, TaggedOutput) and discarded.tag == DISCARDED
    assert (discarded.value.timestamp, discarded.value.windows) == (Timestamp(6), (window,))
    assert discarded.value.value == analyser.analyse(short)


def _unwrapped(output: Any) -> tuple[int, Any]:
    """An output's timestamp and record, whatever output it is on."""
    windowed_value = output.value if isinstance(output, TaggedOutput) else output
    return int(windowed_value.timestamp), windowed_value.value


def _one_bundle(fn: _AnalysePagesFn, pages: list[FetchedPage]) -> dict[int, Any]:
    """Each page's record, by its timestamp (its index), after one bundle of all of them."""
    fn.start_bundle()
    outputs = [o for i, p in enumerate(pages) for o in fn.process(p, Timestamp(i), GlobalWindow())]
    outputs += fn.finish_bundle()
    return dict(_unwrapped(o) for o in outputs)


def _assert_a_dead_letter_alone(
    by_time: dict[int, Any], pages: list[FetchedPage], dead_at: int, analyser: Analyser
) -> None:
    """Every page has its record: ``pages[dead_at]`` a dead letter that names it as the
    page that ends its worker, every other one what the analyser gives it."""
    assert sorted(by_time) == list(range(len(pages)))
    dead = by_time.pop(dead_at)
    assert isinstance(dead, Failure) and dead.key == pages[dead_at].entry.link
    assert dead.error_type == "extract_worker_error" and dead.message.endswith(analyse.ALONE_AGAIN)
    for i, p in enumerate(pages):
        if i != dead_at:
            assert by_time[i] == analyser.analyse(p), p.url


def test_a_page_that_ends_its_worker_takes_no_other_page_with_it(analyser: Analyser) -> None:
    # A dead worker breaks the whole pool (concurrent.futures): every task it held failed,
    # up to 128 pages dead-lettered for one, none saying which it was. Their pages are sent
    # again one at a time: only the page that ends its worker is a dead letter, and says so.
    crashing = FetchedPage(
        FeedEntry(ENTRY.feed_url, "https://news.example/crash", "news.example/crash"),
        "https://news.example/crash",
        "https://news.example/crash",
        200,
        "text/html",
        _EndsItsWorker("<html></html>"),
        "2026-03-04",
    )
    warm_up = [page(ON_TOPIC * 200, f"https://news.example/warm-{i}") for i in range(2)]
    others = [page(ON_TOPIC * 20, f"https://news.example/{i}") for i in range(40)]
    pages = [*others[:20], crashing, *others[20:]]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:  # first both workers started (see the test above), then one bundle of every page
        fn.start_bundle()
        for i, p in enumerate(warm_up):
            list(fn.process(p, Timestamp(100 + i), GlobalWindow()))
        list(fn.finish_bundle())
        by_time = _one_bundle(fn, pages)
        waiting = fn._waiting
    finally:
        fn.teardown()
    assert waiting == 0
    _assert_a_dead_letter_alone(by_time, pages, 20, analyser)


def test_a_page_whose_analysis_does_not_end_ends_its_worker_alone(analyser: Analyser) -> None:
    # 12,500 links (25,000 tags) in one paragraph: trafilatura's work grows with their
    # square (12.5 s of CPU on the machine this was written on, minutes past 1 MB); the
    # worker's watchdog ends it past its limit, 1 s here, and the page is found and
    # dead-lettered on its own.
    links = "".join(f"<a href='/x{i}'>link</a> words " for i in range(12_500))
    slow = FetchedPage(
        FeedEntry(ENTRY.feed_url, "https://news.example/slow", "news.example/slow"),
        "https://news.example/slow",
        "https://news.example/slow",
        200,
        "text/html",
        f"<html><body><article><p>{links}</p></article></body></html>",
        "2026-03-04",
    )
    others = [page(ON_TOPIC * 20, f"https://news.example/{i}") for i in range(6)]
    pages = [*others[:3], slow, *others[3:]]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250, page_cpu_seconds=1.0), processes=2)
    fn.setup()
    try:
        by_time = _one_bundle(fn, pages)
    finally:
        fn.teardown()
    _assert_a_dead_letter_alone(by_time, pages, 3, analyser)


def test_the_step_keeps_its_name_and_passes_on_the_settings_and_processes_given() -> None:
    # Dataflow matches steps by name when a job is updated; the DoFn builds its pool from
    # the settings and the number of processes given (--extract-processes).
    settings = AnalysisSettings(min_text_chars=100, keep_irrelevant=True)
    pipeline = beam.Pipeline()
    outputs = pipeline | beam.Create([page(ON_TOPIC)]) | "AnalysePages" >> AnalysePages(settings, 3)
    step = outputs[OK].producer
    assert step.full_label.startswith("AnalysePages/Analyse/")
    assert (step.transform.fn._settings, step.transform.fn._processes) == (settings, 3)


def test_the_pool_has_the_workers_asked_for_forked_from_the_fork_server() -> None:
    # Forked from the fork server, which has loaded the workers' code and frozen it
    # (transforms.pool_preload), not from this process, which has imported Beam. teardown
    # closes the pool, and does nothing before setup (Beam calls it when setup failed).
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=3)
    fn.teardown()
    fn.setup()
    try:
        pool = fn._pool
        assert pool is not None
        assert pool._max_workers == 3  # type: ignore[attr-defined]
        assert pool.submit(os.getppid).result() != os.getpid()
        assert pool.submit(gc.get_freeze_count).result() > 10000
    finally:
        fn.teardown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(int)
