"""The tagger on the bundled sample news site: a held-out check of relevance.

Renders every article of ``transforms/data/sample_site`` with its outlet's template
(pipelines.sample_site.render_article), extracts it as the pipeline does
(transforms.analysis.extract_article: trafilatura, so the text starts with the repeated
headline), tags title + text, and checks ``relevant`` against the manifest's ``topic``
(on_topic / off_topic). The misses these invented articles showed were fixed through their
general causes, so they are a regression check now, not held-out data; see the Tagging
section of README.md.
"""

from __future__ import annotations

import pytest

from pipelines.sample_manifest import ArticlePage, SampleManifest, load_manifest
from pipelines.sample_site import render_article
from transforms.analysis import extract_article
from transforms.records import Article, FeedEntry, FetchedPage, TagResult
from transforms.tagger import Tagger

MANIFEST = load_manifest()


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


def _extracted(manifest: SampleManifest, art: ArticlePage) -> Article:
    base = f"http://{art.host}.example"
    url = base + art.path
    entry = FeedEntry(feed_url=base + "/feed", link=url, key=url, title=art.title)
    html = render_article(manifest, art, base)
    page = FetchedPage(
        entry, url, url, 200, "text/html; charset=utf-8", html, "2026-03-20T00:00:00Z"
    )
    article = extract_article(page)
    assert isinstance(article, Article), f"{art.id}: not extracted: {article}"
    return article


def _explain(result: TagResult) -> str:
    return (
        f"score {result.score:.2f}, platforms {result.platforms}, states {result.state_actors},"
        f" controversies {result.controversies}, rules {result.rules}"
    )


def test_sample_site_has_both_kinds_of_story() -> None:
    topics = [a.topic for a in MANIFEST.articles.values()]
    assert topics.count("on_topic") >= 10
    assert topics.count("off_topic") >= 10


@pytest.mark.parametrize("article_id", sorted(MANIFEST.articles))
def test_relevance_matches_the_manifest(tagger: Tagger, article_id: str) -> None:
    art = MANIFEST.articles[article_id]
    article = _extracted(MANIFEST, art)
    result = tagger.tag(article.title, article.text)
    expected = art.topic == "on_topic"
    assert result.relevant is expected, f"{art.id} ({art.topic}): {_explain(result)}"


@pytest.mark.parametrize("article_id", sorted(MANIFEST.articles))
def test_relevance_from_the_source_paragraphs(tagger: Tagger, article_id: str) -> None:
    # The same verdict without trafilatura: title + the article's paragraphs as written.
    art = MANIFEST.articles[article_id]
    result = tagger.tag(art.title, "\n\n".join(art.paragraphs))
    expected = art.topic == "on_topic"
    assert result.relevant is expected, f"{art.id} ({art.topic}): {_explain(result)}"


@pytest.mark.parametrize(
    ("article_id", "platform", "state_actor", "controversy"),
    [
        ("wire/russia-slows-youtube", "youtube", "russia", "ban_or_restriction"),
        ("wire/eu-fines-x-dsa", "x_twitter", "european_union", "regulatory_enforcement"),
        ("wire/turkey-throttles-social-media", "x_twitter", "turkey", "ban_or_restriction"),
        ("courier/india-orders-x-block", "x_twitter", "india", "censorship_takedown"),
    ],
)
def test_facets_of_stories_once_missed(
    tagger: Tagger, article_id: str, platform: str, state_actor: str, controversy: str
) -> None:
    article = _extracted(MANIFEST, MANIFEST.articles[article_id])
    result = tagger.tag(article.title, article.text)
    assert platform in result.platforms, _explain(result)
    assert state_actor in result.state_actors, _explain(result)
    assert controversy in result.controversies, _explain(result)
