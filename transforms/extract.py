"""ExtractArticles: trafilatura turns a fetched page into an Article.

Consumes ``FetchedPage`` records; produces ``Article`` records, ``Discard`` records
for pages with no usable article (``no_text``, ``too_short``) and ``Failure``
dead letters when the extractor itself breaks.

The core, ``transforms.analysis.extract_article()``, is plain Python: it runs trafilatura
on the text we fetched ourselves (trafilatura never fetches), with comments excluded, and
fills the metadata the page gives: title, authors, date, canonical URL, description.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms.analysis import extract_outcome
from transforms.common import tagged_output, with_stage_outputs
from transforms.records import DEFAULT_MIN_TEXT_CHARS, FetchedPage


class _ExtractArticlesFn(beam.DoFn):
    def __init__(self, min_text_chars: int) -> None:
        self._min_text_chars = min_text_chars

    def process(self, page: FetchedPage) -> Iterator[Any]:
        yield tagged_output(extract_outcome(page, self._min_text_chars))


class ExtractArticles(beam.PTransform):
    """PCollection[FetchedPage] -> ok: Article, failures: Failure, discarded: Discard.

    Extracts in the Beam worker itself; ``transforms.analyse.AnalysePages`` extracts,
    enriches and tags in a pool of processes instead (``--extract-processes``).

    Args:
        min_text_chars: shorter bodies are discarded as ``too_short``.
    """

    def __init__(self, min_text_chars: int = DEFAULT_MIN_TEXT_CHARS) -> None:
        super().__init__()
        self._min_text_chars = min_text_chars

    def expand(self, pages: beam.PCollection) -> Any:
        return with_stage_outputs(pages, _ExtractArticlesFn(self._min_text_chars), "Extract")
