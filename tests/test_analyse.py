"""Analyser: the extract, enrich and tag cores in a row, as the process pool runs them."""

from __future__ import annotations

import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from tests.conftest import fresh_python_prints
from transforms.analyse import _PAGES_PER_TASK, AnalysePages, _AnalysePagesFn, results_of
from transforms.analysis import Analyser, AnalysisSettings, enrich_article, extract_article
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
    expected = Tagger.load().tag(article.title, article.text, story.language)
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


def test_a_dead_worker_makes_each_of_its_pages_a_retryable_dead_letter() -> None:
    future: Future[object] = Future()
    future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
    failures = results_of(["http://a.example/1", "http://a.example/2"], future)
    assert [(f.stage, f.key, f.error_type) for f in failures if isinstance(f, Failure)] == [
        ("extract", "http://a.example/1", "extract_worker_error"),
        ("extract", "http://a.example/2", "extract_worker_error"),
    ]
    assert all(f.retryable and "BrokenProcessPool" in f.message for f in failures)


def test_pages_share_a_task_only_while_every_worker_has_work(analyser: Analyser) -> None:
    # Two long pages keep both workers busy (about half a second each to analyse), so the
    # pages after them wait and go in tasks of _PAGES_PER_TASK; every page still ends in
    # exactly one output, with its own timestamp and the outcome it has alone.
    long_pages = [page(ON_TOPIC * 200, f"https://news.example/long-{i}") for i in range(2)]
    short = [page(ON_TOPIC, f"https://news.example/{i}") for i in range(2 * _PAGES_PER_TASK + 2)]
    fn = _AnalysePagesFn(AnalysisSettings(min_text_chars=250), processes=2)
    fn.setup()
    try:
        outputs = []
        for i, p in enumerate(long_pages + short):
            outputs += fn.process(p, Timestamp(i), GlobalWindow())
        tasks = sorted(len(meta) for meta in fn._pending.values())
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
        for worker in list(fn._pool._processes.values()):  # type: ignore[attr-defined]
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
        "import gc, sys, transforms.analysis, transforms.pool_preload, transforms.pool_start; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam'), "
        "gc.get_freeze_count() > 10000)"
    )
    assert fresh_python_prints(code) == "[] True"
