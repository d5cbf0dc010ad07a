"""EnrichArticles: who published an article, in what language, and when.

Consumes ``Article`` records; produces ``Story`` records (main output) and
``Failure`` dead letters if enrichment breaks. Enrichment never drops an article.

The core is ``transforms.analysis.enrich_article`` (plain Python):

* outlet: looked up by host in the outlet catalogue (``transforms.outlets``); the feed list's
  name and country fill what the catalogue lacks when the page is on the feed's own site;
* language: detected from the text (py3langid, bundled model, offline), else the
  feed's declared language;
* published_at: the feed entry's timestamp, else the page's own date
  (``transforms.analysis.choose_published`` says why the feed's wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms import loaded
from transforms.analysis import enrich_outcome
from transforms.common import tagged_output, with_stage_outputs
from transforms.outlets import OutletCatalogue
from transforms.records import Article


class _EnrichArticlesFn(beam.DoFn):
    def __init__(self, outlets_path: str | None) -> None:
        self._outlets_path = outlets_path
        self._outlets: OutletCatalogue | None = None

    def setup(self) -> None:
        self._outlets = loaded.outlets(self._outlets_path)  # one per process (transforms.loaded)

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
