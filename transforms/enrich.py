"""EnrichArticles: who published an article, in what language, and when.

Consumes ``Article`` records; produces ``Story`` records (main output) and
``Failure`` dead letters if enrichment breaks. Enrichment never drops an article.

* outlet: looked up by host in the outlet catalogue (``transforms.outlets``);
* language: detected from the text (py3langid, bundled model, offline), else the
  feed's declared language;
* published_at: the page's own date, made precise by the feed's timestamp when the
  two agree on the day; else the feed's timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import py3langid

from transforms.common import tagged_output, with_stage_outputs
from transforms.outlets import OutletCatalogue
from transforms.records import Article, Failure, Outlet, Story, story_id_for

# Texts shorter than this are too short for a language guess; the feed's language is used.
_MIN_LANGUAGE_CHARS = 40
_LANGUAGE_SAMPLE_CHARS = 1000


def detect_language(text: str, fallback: str | None = None) -> str | None:
    """Guess the ISO 639-1 language of ``text``.

    Args:
        text: the article text (only its start is used).
        fallback: what to answer when the text is too short to judge.

    Returns:
        A two-letter language code, or ``fallback``.
    """
    sample = text[:_LANGUAGE_SAMPLE_CHARS]
    if len(sample.strip()) < _MIN_LANGUAGE_CHARS:
        return fallback
    language, _score = py3langid.classify(sample)
    return str(language)


def choose_published(page_date: str | None, feed_date: str | None) -> str | None:
    """The publication time: the page's date, refined by the feed's timestamp.

    Args:
        page_date: the date the page states (``YYYY-MM-DD`` from trafilatura), if any.
        feed_date: the feed entry's ISO timestamp, if any.

    Returns:
        An ISO date or timestamp, or None when neither source gives one.
    """
    if page_date and feed_date and feed_date.startswith(page_date[:10]):
        return feed_date
    return page_date or feed_date


def enrich_article(article: Article, outlets: OutletCatalogue) -> Story:
    """Turn an article into a story with its outlet, language and publication time."""
    outlet: Outlet = outlets.lookup(article.final_url)
    language = detect_language(
        f"{article.title}\n{article.text}", article.entry.feed_language or outlet.language
    )
    return Story(
        story_id=story_id_for(article.canonical_url or article.final_url),
        article=article,
        outlet=outlet,
        language=language,
        published_at=choose_published(article.published_at, article.entry.published_at),
    )


def enrich_outcome(article: Article, outlets: OutletCatalogue) -> Story | Failure:
    """``enrich_article``, with a bug in enrichment turned into a dead letter."""
    try:
        return enrich_article(article, outlets)
    except Exception as exc:  # noqa: BLE001 - any enrichment bug becomes a dead letter
        return Failure.crashed("enrich", article.entry.link, "enrich_error", exc, article.title)


class _EnrichArticlesFn(beam.DoFn):
    def __init__(self, outlets_path: str | None) -> None:
        self._outlets_path = outlets_path
        self._outlets: OutletCatalogue | None = None

    def setup(self) -> None:
        self._outlets = OutletCatalogue.load(self._outlets_path)

    def process(self, article: Article) -> Iterator[Any]:
        assert self._outlets is not None
        yield tagged_output(enrich_outcome(article, self._outlets))


class EnrichArticles(beam.PTransform):
    """PCollection[Article] -> ok: Story, failures: Failure."""

    def __init__(self, outlets_path: str | None = None) -> None:
        super().__init__()
        self._outlets_path = outlets_path

    def expand(self, articles: beam.PCollection) -> Any:
        return with_stage_outputs(articles, _EnrichArticlesFn(self._outlets_path), "Enrich")
