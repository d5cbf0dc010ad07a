"""--feed-text-min-chars: a feed that carries the whole article is not followed to the page."""

from __future__ import annotations

import dataclasses
import random
import re
from html import escape
from pathlib import Path

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem, atom_feed, rss_feed
from tests.conftest import WHEN, add_pages, assert_accounting, run_newsbeam
from tests.test_pipeline_e2e import WIRE_STORY
from transforms import entry_text
from transforms.analysis import extract_article
from transforms.entry_text import feed_text, full_text
from transforms.feed_parsing import parse_feed
from transforms.fetch import FEED_CONTENT_TYPE, page_from_feed
from transforms.records import Article, FeedSpec

FULL = "".join(f"<p>{escape(p)}</p>" for p in WIRE_STORY.split("\n") if p.strip())
TEASER = "<p>TikTok was ordered to find a buyer. <a href='/more'>Read more</a></p>"
LINK = "http://127.0.0.9/story"


def feed_items(content: str | None) -> list[FeedItem]:
    return [FeedItem("TikTok ordered to sell", LINK, LINK, "A teaser.", WHEN, content)]


def test_feed_text_is_the_text_not_the_markup() -> None:
    markup = "<p>Hello &amp; <b>goodbye</b></p>\n\n<p> again </p>"
    assert feed_text(markup) == "Hello & goodbye again"


def test_feed_text_separates_the_text_of_adjacent_elements() -> None:
    assert feed_text("<p>first</p><p>second</p>") == "first second"
    assert feed_text("one<br>two") == "one two"


class _RecordingPattern:
    """A compiled pattern that records the texts it is run on."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.texts: list[str] = []

    def sub(self, replacement: str, text: str) -> str:
        self.texts.append(text)
        return self.pattern.sub(replacement, text)


def test_tags_are_not_looked_for_after_the_last_closing_bracket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Past the last ">" no tag can close, and the search from each "<" there ran to the end
    # of the text: quadratic (64,000 "<" took 3.4 s). The pattern does not see that part now.
    recording = _RecordingPattern(entry_text._MARKUP)
    monkeypatch.setattr(entry_text, "_MARKUP", recording)
    opened = "<" * 20_000
    assert feed_text("<p>a</p>" + opened) == "a " + opened
    assert feed_text(opened) == opened
    assert sum(len(text) for text in recording.texts) <= len("<p>a</p>")


def test_tags_are_removed_as_the_pattern_removes_them_on_the_whole_text() -> None:
    rng = random.Random(2026)
    for _ in range(2000):
        markup = "".join(rng.choice('<>a /"') for _ in range(rng.randint(0, 40)))
        assert entry_text._without_tags(markup) == entry_text._MARKUP.sub(" ", markup)


def _raw(*items: tuple[str | None, str]) -> dict[str, object]:
    """A feedparser entry with these ``(type, value)`` content items."""
    return {"content": [{"type": kind, "value": value} for kind, value in items]}


def test_full_text_length_is_at_least_min_chars() -> None:
    assert full_text(_raw(("text/html", "<p>abcdefghij</p>")), 10) == "<p>abcdefghij</p>"
    assert full_text(_raw(("text/html", "<p>abcdefghij</p>")), 11) is None
    assert full_text(_raw(("text/html", "<p>abcdefghij</p>")), 0) is None  # 0: never


def test_full_text_takes_the_longest_content_item() -> None:
    longest = "<p>" + "word " * 40 + "</p>"
    assert full_text(_raw(("text/html", "<p>short</p>"), ("text/html", longest)), 100) == longest


@pytest.mark.parametrize(
    ("kind", "kept"),
    [
        ("text/html", True),
        ("application/xhtml+xml", True),
        ("text/plain", True),
        (None, True),  # no type given: taken as HTML
        ("application/octet-stream", False),
        ("image/svg+xml", False),
    ],
)
def test_full_text_only_from_text_content(kind: str | None, kept: bool) -> None:
    value = "word " * 40
    assert (full_text(_raw((kind, value)), 100) == value) is kept


@pytest.mark.parametrize(
    "ending",
    [
        "And then the ministry said\u2026",
        "And then the ministry said \u2026 \u00bb",
        "Read the full story on our website",
        "Read the full article",
        "Continue reading at The Loopback Wire, the partner site that carries the rest of it",
    ],
)
def test_more_cut_off_endings(ending: str) -> None:
    body = "word " * 200
    assert full_text(_raw(("text/html", body + "The end.")), 100) is not None
    assert full_text(_raw(("text/html", body + ending)), 100) is None


@pytest.mark.parametrize("build", [rss_feed, atom_feed], ids=["rss", "atom"])
def test_full_content_is_kept_only_when_asked_and_long_enough(build: object) -> None:
    spec = FeedSpec("http://127.0.0.9/feed")
    body = build("Loopback", "http://127.0.0.9/", feed_items(FULL))  # type: ignore[operator]
    assert len(feed_text(FULL)) > 1000
    (kept,) = parse_feed(body, spec, full_text_min_chars=1000).entries
    assert kept.content is not None and len(feed_text(kept.content)) == len(feed_text(FULL))
    (off,) = parse_feed(body, spec).entries  # default: never kept
    assert off.content is None
    (too_short,) = parse_feed(body, spec, full_text_min_chars=len(feed_text(FULL)) + 1).entries
    assert too_short.content is None
    teaser = build("Loopback", "http://127.0.0.9/", feed_items(TEASER))  # type: ignore[operator]
    (entry,) = parse_feed(teaser, spec, full_text_min_chars=1000).entries
    assert entry.content is None  # a teaser: the page must be fetched


@pytest.mark.parametrize(
    "ending",
    [
        "<p>And then the ministry said [&#8230;]</p>",
        "<p>And then the ministry said...</p>",
        '<p><a href="/story">Continue reading &rarr;</a></p>',
        "<p>The post TikTok ordered to sell appeared first on Loopback Wire.</p>",
    ],
)
def test_a_long_excerpt_that_ends_cut_off_is_not_the_full_text(ending: str) -> None:
    body = rss_feed("Loopback", "http://127.0.0.9/", feed_items(FULL + ending))
    spec = FeedSpec("http://127.0.0.9/feed")
    (entry,) = parse_feed(body, spec, full_text_min_chars=1000).entries
    assert entry.content is None
    complete = rss_feed("Loopback", "http://127.0.0.9/", feed_items(FULL + "<p>The end.</p>"))
    (kept,) = parse_feed(complete, spec, full_text_min_chars=1000).entries
    assert kept.content is not None


def test_a_page_made_from_the_feed_extracts_to_the_feed_text() -> None:
    body = rss_feed("Loopback", "http://127.0.0.9/", feed_items(FULL))
    (entry,) = parse_feed(body, FeedSpec("http://127.0.0.9/feed"), full_text_min_chars=1).entries
    page = page_from_feed(entry)
    assert (page.url, page.final_url, page.content_type) == (LINK, LINK, FEED_CONTENT_TYPE)
    article = extract_article(page)
    assert isinstance(article, Article)
    assert article.title == "TikTok ordered to sell"
    lines = [line for line in WIRE_STORY.split("\n") if line.strip()]
    assert lines[0][:60] in article.text and lines[-1][-60:] in article.text
    assert article.canonical_url == LINK


@pytest.mark.pipeline
def test_entries_with_the_full_text_are_not_fetched(site: LoopbackSite, tmp_path: Path) -> None:
    site.add_host("wire")
    base = site.base_url("wire")
    # One entry carries the whole story and has no page at all (its link would answer 404);
    # the other carries a teaser, so its page is fetched.
    (in_feed,) = add_pages(site, "wire", [("/in-feed", "TikTok ordered to sell", None)])
    (teased,) = add_pages(site, "wire", [("/teased", "Regulator fines platform", WIRE_STORY)])
    items = [
        dataclasses.replace(in_feed, content=FULL),
        dataclasses.replace(teased, content=TEASER),
    ]
    site.route("wire", "/rss", Response(body=rss_feed("Wire", base, items)))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")

    out = run_newsbeam(
        feeds,
        tmp_path / "out",
        "--no-robots",
        "--all-stories",
        "--feed-text-min-chars",
        "1000",
        "--duplicates",
        "publish",
    )

    assert_accounting(out)
    assert out.summary["published"] == 2 and out.summary["feeds"]["pages_from_feed"] == 1
    assert not site.requests_for("wire", "/in-feed")  # never requested
    assert len(site.requests_for("wire", "/teased")) == 1
    story = next(s for s in out.stories if s["url"] == in_feed.link)
    assert WIRE_STORY.split("\n")[0][:60] in story["text"]

    again = run_newsbeam(feeds, tmp_path / "again", "--no-robots", "--all-stories")
    assert_accounting(again)  # without the flag the page is fetched: it does not exist
    assert [d["url"] for d in again.dead_letters] == [in_feed.link]
    assert again.summary["feeds"]["pages_from_feed"] == 0
