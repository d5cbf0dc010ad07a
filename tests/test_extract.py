"""extract_article and enrich_article: the plain-Python cores of two stages."""

from __future__ import annotations

from transforms.analysis import (
    choose_published,
    detect_language,
    enrich_article,
    extract_article,
    split_authors,
)
from transforms.outlets import OutletCatalogue
from transforms.records import Article, Discard, FeedEntry, FetchedPage

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


def test_split_authors() -> None:
    assert split_authors("A. One; B. Two and C. Three") == ("A. One", "B. Two", "C. Three")
    assert split_authors(None) == ()


def test_detect_language() -> None:
    assert detect_language("Die Bundesregierung will die Plattform stärker regulieren.") == "de"
    assert detect_language("Le gouvernement veut interdire le réseau social en France.") == "fr"
    assert detect_language("ok", fallback="pt") == "pt"


def test_choose_published_prefers_the_page_refined_by_the_feed() -> None:
    assert choose_published("2026-03-04", "2026-03-04T08:00:00+00:00") == (
        "2026-03-04T08:00:00+00:00"
    )
    assert choose_published("2026-03-04", "2026-03-01T08:00:00+00:00") == "2026-03-04"
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
