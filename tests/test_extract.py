"""extract_article and enrich_article: the plain-Python cores of two stages."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import py3langid.langid
import pytest
from trafilatura.settings import set_date_params

from transforms import analysis
from transforms.analysis import (
    choose_published,
    detect_language,
    enrich_article,
    enrich_outcome,
    extract_article,
    extract_outcome,
    page_date_params,
    split_authors,
    tag_outcome,
)
from transforms.feed_parsing import parse_feed
from transforms.outcomes import error_message, excerpt
from transforms.outlets import OutletCatalogue
from transforms.records import (
    Article,
    Discard,
    Failure,
    FeedEntry,
    FeedSpec,
    FetchedPage,
    Outlet,
    TagResult,
    story_id_for,
)
from transforms.tagger import Tagger

BODY = " ".join(
    f"Paragraph {i}: the regulator said the platform had failed to protect user data "
    "and would face a review of its licence before the end of the year."
    for i in range(6)
)
PAGE = f"""<html lang="en"><head><title>Regulator opens review | Daily Example</title>
<link rel="canonical" href="https://www.daily.example/news/regulator-review">
<meta name="author" content="Ana Ruiz; Tom Lee">
<meta property="article:published_time" content="2026-03-04T08:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>Regulator opens review</h1>{"".join(f"<p>{p}.</p>" for p in BODY.split(". "))}
</article><div class="comments"><p>Great article, first comment!</p></div>
<footer>Copyright Daily Example. All rights reserved.</footer></body></html>"""

ENTRY = FeedEntry(
    feed_url="https://www.daily.example/rss",
    link="https://www.daily.example/news/regulator-review?utm_source=rss",
    key="https://www.daily.example/news/regulator-review",
    published_at="2026-03-04T08:00:00+00:00",
    feed_language="en",
)


def page(html: str = PAGE, final_url: str = ENTRY.link) -> FetchedPage:
    return FetchedPage(ENTRY, ENTRY.link, final_url, 200, "text/html", html, "2026-03-04")


def test_extracts_body_title_authors_and_canonical() -> None:
    article = extract_article(page())
    assert isinstance(article, Article)
    assert article.title.startswith("Regulator opens review")
    assert "failed to protect user data" in article.text
    assert "Copyright" not in article.text and "Home" not in article.text
    assert article.authors == ("Ana Ruiz", "Tom Lee")
    assert article.canonical_url == "https://www.daily.example/news/regulator-review"
    assert article.published_at == "2026-03-04"


def test_comments_are_excluded() -> None:
    article = extract_article(page())
    assert isinstance(article, Article)
    assert "first comment" not in article.text


def test_short_and_empty_pages_are_discarded_with_reasons() -> None:
    short = extract_article(page("<html><body><article><p>Subscribe to read.</p></article>"))
    assert isinstance(short, Discard)
    assert short.reason in {"too_short", "no_text"}
    empty = extract_article(page("<html><body></body></html>"))
    assert isinstance(empty, Discard) and empty.reason == "no_text"


def _nested(depth: int) -> str:
    """PAGE with its article ``depth`` divs deep."""
    start, _, rest = PAGE.partition("<article>")
    article, _, end = rest.partition("</article>")
    return f"{start}{'<div>' * depth}<article>{article}</article>{'</div>' * depth}{end}"


def test_a_page_the_parser_reads_only_in_part_is_a_dead_letter_not_a_cut_story() -> None:
    # libxml2 stops at 256 nested elements and hands back what it read: the article's
    # paragraphs deeper than that were dropped, and the page was a no_text discard (or, with
    # its opening above the limit, a story with its text cut off), nothing saying why.
    assert isinstance(extract_article(page(_nested(240))), Article)
    deep = extract_article(page(_nested(300)))
    assert isinstance(deep, Failure)
    assert (deep.stage, deep.error_type, deep.retryable) == ("extract", "too_deeply_nested", False)
    assert "256" in deep.message and deep.key == ENTRY.link
    assert deep.input_excerpt == excerpt(_nested(300))
    # The parser's log is its last page's: the next page is read whole again.
    assert isinstance(extract_article(page()), Article)


def test_split_authors() -> None:
    assert split_authors("A. One; B. Two and C. Three") == ("A. One", "B. Two", "C. Three")
    assert split_authors(None) == ()


def test_detect_language() -> None:
    assert detect_language("Die Bundesregierung will die Plattform stärker regulieren.") == "de"
    assert detect_language("Le gouvernement veut interdire le réseau social en France.") == "fr"
    assert detect_language("ok", fallback="pt") == "pt"


def test_choose_published_prefers_the_feeds_timestamp_else_the_pages_date() -> None:
    assert choose_published("2026-03-04", "2026-03-04T08:00:00+00:00") == (
        "2026-03-04T08:00:00+00:00"
    )
    # contradicted by more than a day, the page's date gives way too (the page cannot be
    # dated after its feed listed it; see below for a page date before it)
    assert choose_published("2026-03-04", "2026-03-01T08:00:00+00:00") == (
        "2026-03-01T08:00:00+00:00"
    )
    assert choose_published(None, "2026-03-01T08:00:00+00:00") == "2026-03-01T08:00:00+00:00"
    assert choose_published(None, None) is None


def test_enrich_article_sets_story_id_outlet_and_language() -> None:
    article = extract_article(page(final_url="https://www.rt.com/news/123-story/"))
    assert isinstance(article, Article)
    story = enrich_article(article, OutletCatalogue.load())
    assert story.language == "en"
    assert story.outlet.domain == "rt.com"
    assert story.outlet.state_affiliation is not None
    assert story.outlet.country == "RU"
    assert len(story.story_id) == 16
    assert story.published_at == "2026-03-04T08:00:00+00:00"


def _body(sentences: str) -> str:
    return "".join(f"<p>{s}.</p>" for s in sentences.split(". "))


def test_the_body_is_trimmed_and_kept_from_exactly_the_minimum_length() -> None:
    # A body opening with indented code: trafilatura keeps the indentation; the article's
    # text starts at the code. A body exactly min_text_chars long is kept; one character
    # short of the minimum, it is too short and the discard says how long it was.
    html = f"<html><body><article><pre>    indented = True\n</pre>{_body(BODY)}</article></body>"
    article = extract_article(page(html), min_text_chars=0)
    assert isinstance(article, Article) and article.text.startswith("indented = True\n")
    n = len(article.text)
    assert isinstance(extract_article(page(html), min_text_chars=n), Article)
    short = extract_article(page(html), min_text_chars=n + 1)
    assert short == Discard("extract", ENTRY.link, "too_short", f"{n} characters")


def test_a_page_of_blank_paragraphs_has_no_text_whatever_the_minimum() -> None:
    # trafilatura finds a body here (a zero-width space), but an empty one: "no_text", not an
    # empty article.
    blank = extract_article(page("<html><body><article><p>\u200b</p></article></body>"), 0)
    assert isinstance(blank, Discard) and blank.reason == "no_text"


def test_the_title_is_the_pages_else_the_feeds() -> None:
    titled = FetchedPage(
        dataclasses.replace(ENTRY, title="Feed headline"), ENTRY.link, ENTRY.link, 200, "", PAGE, ""
    )
    article = extract_article(titled)
    assert isinstance(article, Article) and article.title == "Regulator opens review"
    untitled = dataclasses.replace(
        titled,
        entry=dataclasses.replace(ENTRY, title="  Feed headline \n"),
        html=f"<html><body><article>{_body(BODY)}</article></body></html>",
    )
    article = extract_article(untitled)
    assert isinstance(article, Article) and article.title == "Feed headline"


def test_extracts_description_site_name_and_both_urls() -> None:
    meta = (
        '<meta name="description" content="The regulator opens a review.">'
        '<meta property="og:site_name" content="Daily Example"></head>'
    )
    final = "https://www.daily.example/news/regulator-review?page=1"
    article = extract_article(page(PAGE.replace("</head>", meta), final_url=final))
    assert isinstance(article, Article)
    assert article.description == "The regulator opens a review."
    assert article.page_site_name == "Daily Example"
    assert (article.url, article.final_url) == (ENTRY.link, final)  # requested, then reached


def test_split_authors_on_every_separator_once_each() -> None:
    assert split_authors("Ana Ruiz | Tom Lee") == ("Ana Ruiz", "Tom Lee")
    assert split_authors("Ana Ruiz; Tom Lee and Ana Ruiz") == ("Ana Ruiz", "Tom Lee")
    assert split_authors("Ana Ruiz; ;Tom Lee;") == ("Ana Ruiz", "Tom Lee")


GERMAN = "Die Bundesregierung will die Plattform stärker regulieren und prüft ein Verbot der App."


def test_detect_language_needs_40_characters_not_counting_spaces() -> None:
    assert detect_language(GERMAN[:40], fallback="pt") == "de"
    assert detect_language(GERMAN[:39], fallback="pt") == "pt"
    assert detect_language(" " * 30 + GERMAN[:20] + " " * 30, fallback="pt") == "pt"


def test_detect_language_reads_the_first_thousand_characters() -> None:
    # A German story opening with a French quote is German; an English story that quotes a
    # German text after its first thousand characters is English.
    french = "« Nous ne céderons pas », a déclaré la ministre devant les journalistes à Paris. "
    assert detect_language(french + " ".join([GERMAN] * 12)) == "de"
    english = " ".join(
        ["The government wants to regulate the platform and is weighing a ban of the app."] * 13
    )
    assert len(english) > 1000
    assert detect_language(english + " " + " ".join([GERMAN] * 80)) == "en"


def test_choose_published_without_a_feed_date_or_with_a_page_time() -> None:
    assert choose_published("2026-03-04", None) == "2026-03-04"
    # a page date that carries a time is still compared by its day
    assert choose_published("2026-03-04T23:00:00", "2026-03-04T08:00:00+00:00") == (
        "2026-03-04T08:00:00+00:00"
    )


def _published(page_html: str, feed_time: str | None) -> str | None:
    """``published_at`` of the story made of ``page_html`` and a feed entry at ``feed_time``."""
    entry = dataclasses.replace(ENTRY, published_at=feed_time)
    fetched = FetchedPage(entry, entry.link, entry.link, 200, "text/html", page_html, "")
    article = extract_article(fetched)
    assert isinstance(article, Article)
    return enrich_article(article, OutletCatalogue.load()).published_at


def test_the_feeds_time_stands_when_the_page_dates_the_story_in_its_own_time_zone() -> None:
    # 07:30 in Beijing on the 28th is 23:30 UTC on the 27th: the page's date (its local day,
    # from article:published_time) and the feed's UTC day differ, and the time was dropped.
    beijing = PAGE.replace("2026-03-04T08:00:00Z", "2026-11-28T07:30:00+08:00")
    assert _published(beijing, "2026-11-27T23:30:00+00:00") == "2026-11-27T23:30:00+00:00"
    # 21:00 in New York on the 27th is 02:00 UTC on the 28th: a day the other way.
    assert choose_published("2026-11-27", "2026-11-28T02:00:00+00:00") == (
        "2026-11-28T02:00:00+00:00"
    )


# The page's own date, in forms htmldate does not understand (Russian, the Persian calendar,
# the Japanese era, "3 hours ago"), or none at all.
UNDERSTOOD_BY_NO_ONE = [
    "28 \u041d\u041e\u042f, 11:20",
    "\u06f8 \u0622\u0630\u0631 \u06f1\u06f4\u06f0\u06f5",
    "\u4ee4\u548c8\u5e7411\u670828\u65e5",
    "3\u5c0f\u65f6\u524d",
    "",
]


@pytest.mark.parametrize(
    "page_date",
    UNDERSTOOD_BY_NO_ONE,
    ids=["russian", "persian", "japanese era", "relative", "none"],
)
def test_the_feeds_time_wins_over_the_copyright_year_the_page_date_was_guessed_from(
    page_date: str,
) -> None:
    # htmldate fell back on the "Copyright 2026" footer: 1 January 2026, which won.
    html = PAGE.replace(
        '<meta property="article:published_time" content="2026-03-04T08:00:00Z">', ""
    )
    html = html.replace("Copyright Daily Example.", "Copyright 2026 Daily Example.")
    html = html.replace("</h1>", f'</h1><div class="date">{page_date}</div>')
    article = extract_article(page(html))
    assert isinstance(article, Article) and article.published_at == "2026-01-01"
    assert _published(html, "2026-11-28T08:20:00+00:00") == "2026-11-28T08:20:00+00:00"
    assert _published(html, None) == "2026-01-01"  # no feed time: the page's guess is all


@pytest.fixture
def machine_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets the process's local time zone (TZ and tzset), as a machine's zone would be;
    restored after the test."""

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def _page_date(published_time: str) -> str | None:
    """The date trafilatura reads off PAGE with ``article:published_time`` set to this."""
    html = PAGE.replace("2026-03-04T08:00:00Z", published_time)
    article = extract_article(page(html))
    assert isinstance(article, Article)
    return article.published_at


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+12", "America/Los_Angeles", "Asia/Tokyo"])
def test_the_pages_date_is_the_same_whatever_the_machines_time_zone(
    zone: str, machine_zone: Callable[[str], None]
) -> None:
    # trafilatura's default refused a date after the machine's local day: on a UTC machine,
    # a page dated tomorrow (today already, in Tokyo or Kiritimati); at UTC-12, before noon
    # UTC, a page dated today. Either way htmldate fell back on a guess.
    machine_zone(zone)
    today = datetime.now(UTC).date()
    for day in (today - timedelta(days=1), today, today + timedelta(days=1)):
        assert _page_date(f"{day.isoformat()}T00:30:00+14:00") == day.isoformat(), zone
    # two days ahead is later than any time zone's day: still refused
    later = today + timedelta(days=2)
    assert _page_date(f"{later.isoformat()}T00:30:00+14:00") != later.isoformat()


def test_a_tokyo_page_published_just_now_keeps_its_tokyo_date_on_a_utc_machine(
    machine_zone: Callable[[str], None],
) -> None:
    machine_zone("UTC")
    in_tokyo = datetime.now(ZoneInfo("Asia/Tokyo")) - timedelta(minutes=30)
    assert _page_date(in_tokyo.isoformat(timespec="seconds")) == in_tokyo.date().isoformat()


def test_the_date_search_keeps_trafilaturas_settings_but_bounds_by_the_next_utc_day() -> None:
    # 16:00 UTC on the 30th is already the 1st in Tokyo
    now = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert page_date_params(now) == {**set_date_params(True), "max_date": "2026-12-01"}


def test_a_feed_date_far_after_the_poll_gives_way_to_the_pages_date() -> None:
    # A feed entry dated 2099 (a CMS placeholder) was the story's date, over the page's.
    rss = (
        '<rss version="2.0"><channel><title>T</title><item><title>Regulator opens review'
        f"</title><link>{ENTRY.link}</link><pubDate>Thu, 01 Jan 2099 00:00:00 GMT</pubDate>"
        "</item></channel></rss>"
    ).encode()
    polled = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    (entry,) = parse_feed(rss, FeedSpec(ENTRY.feed_url), polled_at=polled).entries
    fetched = FetchedPage(entry, entry.link, entry.link, 200, "text/html", PAGE, "")
    article = extract_article(fetched)
    assert isinstance(article, Article)
    assert enrich_article(article, OutletCatalogue.load()).published_at == "2026-03-04"


def _article(title: str, text: str, final_url: str, feed_language: str | None) -> Article:
    entry = dataclasses.replace(ENTRY, feed_language=feed_language)
    return Article(entry, ENTRY.link, final_url, "https://www.lemonde.fr/canonical", title, text)


def test_enrich_judges_the_language_on_title_and_text_else_the_feeds_else_the_outlets() -> None:
    catalogued = OutletCatalogue.load()
    lemonde = "https://www.lemonde.fr/story"  # a French outlet in the catalogue
    # the title and a short text together are long enough to judge
    story = enrich_article(_article(GERMAN, "Mehr bald.", lemonde, "en"), catalogued)
    assert story.language == "de"
    # too short to judge: the feed's language, then the outlet's
    assert (
        enrich_article(_article("Kurz", "Mehr bald.", lemonde, "pt"), catalogued).language == "pt"
    )
    assert (
        enrich_article(_article("Kurz", "Mehr bald.", lemonde, None), catalogued).language == "fr"
    )
    # the story id is the canonical URL's, not the page's
    assert story.story_id == story_id_for("https://www.lemonde.fr/canonical")


def test_a_crash_in_a_stage_core_is_a_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("extractor bug")

    with monkeypatch.context() as patched:
        patched.setattr(analysis, "bare_extraction", broken)
        failure = extract_outcome(page(), 250)
    assert failure == Failure(
        "extract",
        ENTRY.link,
        "extraction_error",
        "RuntimeError: extractor bug",
        False,
        PAGE[:500] + "...",
    )
    # a page URL the outlet lookup cannot read (its port is out of range)
    odd = _article("Title", BODY, "https://www.daily.example:99999/x", "en")
    odd = dataclasses.replace(odd, canonical_url=odd.final_url)
    enriched = enrich_outcome(odd, OutletCatalogue.load())
    assert isinstance(enriched, Failure)
    assert (enriched.stage, enriched.key, enriched.error_type) == (
        "enrich",
        ENTRY.link,
        "enrich_error",
    )
    assert enriched.input_excerpt == "Title" and enriched.message.startswith("ValueError: ")

    class BrokenTagger(Tagger):
        def tag(self, title: str, text: str) -> TagResult:
            raise KeyError("rule")

    story = enrich_article(
        _article("Title", BODY, "https://www.daily.example/x", "en"), OutletCatalogue.load()
    )
    tagged = tag_outcome(story, BrokenTagger.load(), keep_irrelevant=True)
    assert tagged == Failure("tag", ENTRY.link, "tag_error", "KeyError: 'rule'", False, "Title")


def test_a_machine_error_in_a_stage_core_is_a_retryable_dead_letter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # py3langid unpacks its model (68 MB) into the temporary folder on first use: where it
    # cannot (full, or not a folder), every story was a dead letter no run tried again
    not_a_folder = tmp_path / "tmp"
    not_a_folder.write_text("a file")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    monkeypatch.setattr(py3langid.langid, "IDENTIFIER", None)  # not loaded yet
    enriched = enrich_outcome(
        _article("Title", BODY, "https://www.daily.example/x", "en"), OutletCatalogue.load()
    )
    assert isinstance(enriched, Failure)
    assert (enriched.stage, enriched.error_type) == ("enrich", "enrich_error")
    assert enriched.message.startswith("NotADirectoryError: ")
    assert enriched.retryable
    # once the folder is usable, the same article goes through
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    story = enrich_outcome(
        _article("Title", BODY, "https://www.daily.example/x", "en"), OutletCatalogue.load()
    )
    assert not isinstance(story, Failure) and story.language == "en"


def test_an_outlet_is_state_media_by_its_code_and_unknown_without_a_record() -> None:
    # State-controlled (SC) and captured (CaPu, CaPr) are state media; an independent code
    # or none is not, once anything is known of the outlet; nothing known (or only the feed
    # list's word for it) is unknown.
    codes = ("SC", "CaPu", "CaPr")
    assert [Outlet("x.example", state_affiliation=c).state_media for c in codes] == [True] * 3
    assert Outlet("x.example", "X", state_affiliation="ISM").state_media is False
    assert Outlet("x.example", name="X").state_media is False
    assert Outlet("x.example", country="FR").state_media is False
    assert Outlet("x.example", language="fr").state_media is None
    assert Outlet("x.example", "X", "FR", catalogued=False).state_media is None
    assert Outlet("x.example", "X", "FR", "fr", "CaPr").to_json() == {
        "domain": "x.example",
        "name": "X",
        "country": "FR",
        "language": "fr",
        "state_affiliation": "CaPr",
        "state_media": True,
    }


def test_a_story_id_is_the_start_of_the_urls_sha256() -> None:
    # Stable across runs and releases: --state-dir and subscribers match stories by it.
    assert story_id_for("https://a.example/news/1") == "0255a70a6060ad42"


def test_a_dead_letter_keeps_the_start_of_its_input_and_message() -> None:
    assert excerpt("x" * 500) == "x" * 500  # up to 500 characters whole
    assert excerpt("x" * 501) == "x" * 500 + "..."
    assert excerpt(("a", 1)) == "('a', 1)"
    assert error_message(ValueError("y" * 400)) == ("ValueError: " + "y" * 400)[:300]
    failure = Failure("fetch", "https://a.example/1", "http_503", "busy", True, "<html>", False)
    assert failure.outcome == "fetch/http_503"
    assert failure.to_json() == {
        "stage": "fetch",
        "url": "https://a.example/1",
        "error_type": "http_503",
        "message": "busy",
        "retryable": True,
        "input": "<html>",
        "counts_entry": False,
    }


def amp_page(path: str, head: str) -> FetchedPage:
    html = PAGE.replace(
        '<link rel="canonical" href="https://www.daily.example/news/regulator-review">', head
    )
    url = "https://www.daily.example" + path
    entry = dataclasses.replace(ENTRY, link=url, key=url)
    return FetchedPage(entry, url, url, 200, "text/html", html, "2026-03-04")


def test_an_amp_pages_canonical_is_its_own_link_not_a_site_wide_og_url_or_base() -> None:
    # A site-wide og:url naming the home page, and <base href>, which trafilatura's url
    # prefers or falls back on: every AMP article of the site became the home page's story.
    pages = {
        "/amp/story-a": '<link rel="canonical" href="/story-a"><meta property="og:url" content=/>',
        "/amp/story-b": '<meta property="og:url" content=/><link rel="CANONICAL" href="/story-b">',
        "/amp/story-c": '<base href="/">',
        "/amp/story-d": '<meta property="og:url" content="https://www.daily.example/story-d">',
    }
    canonical = {}
    for path, head in pages.items():
        article = extract_article(amp_page(path, head))
        assert isinstance(article, Article)
        canonical[path] = article.canonical_url
    assert canonical == {
        "/amp/story-a": "https://www.daily.example/story-a",
        "/amp/story-b": "https://www.daily.example/story-b",
        "/amp/story-c": "https://www.daily.example/amp/story-c",  # nothing confirms a desktop page
        "/amp/story-d": "https://www.daily.example/story-d",
    }


def test_a_page_from_the_amp_cache_is_its_sites_outlet() -> None:
    cache = "https://www-rt-com.cdn.ampproject.org/c/s/www.rt.com/news/123-story/amp/"
    html = PAGE.replace(
        '<link rel="canonical" href="https://www.daily.example/news/regulator-review">',
        '<link rel="canonical" href="https://www.rt.com/news/123-story/">',
    )
    entry = dataclasses.replace(ENTRY, link=cache, key=cache)
    article = extract_article(FetchedPage(entry, cache, cache, 200, "text/html", html, "2026"))
    assert isinstance(article, Article)
    story = enrich_article(article, OutletCatalogue.load())
    assert story.story_id == story_id_for("https://www.rt.com/news/123-story/")
    assert (story.outlet.domain, story.outlet.name, story.outlet.state_media) == (
        "rt.com", "RT International", True,
    )  # fmt: skip
