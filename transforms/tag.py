"""TagStories: the taxonomy tagger applied to every story.

Consumes ``Story`` records; produces ``TaggedStory`` records (main output),
``Discard(reason="not_relevant")`` for stories the tagger finds out of scope
(unless every story is kept), and ``Failure`` dead letters if tagging breaks.
The tagger itself is ``transforms.tagger.Tagger`` (plain Python, shared with the
``newsbeam tag`` command), applied by ``transforms.analysis.tag_outcome``; this module
is its thin Beam adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from transforms import loaded
from transforms.analysis import tag_outcome
from transforms.common import tagged_output, with_stage_outputs
from transforms.records import Story
from transforms.tagger import Tagger


class _TagStoriesFn(beam.DoFn):
    def __init__(self, taxonomy_path: str | None, keep_irrelevant: bool) -> None:
        self._taxonomy_path = taxonomy_path
        self._keep_irrelevant = keep_irrelevant
        self._tagger: Tagger | None = None

    def setup(self) -> None:
        self._tagger = loaded.tagger(self._taxonomy_path)  # one per process (transforms.loaded)

    def process(self, story: Story) -> Iterator[Any]:
        assert self._tagger is not None
        yield tagged_output(tag_outcome(story, self._tagger, self._keep_irrelevant))


class TagStories(beam.PTransform):
    """PCollection[Story] -> ok: TaggedStory, failures: Failure, discarded: Discard."""

    def __init__(self, taxonomy_path: str | None = None, keep_irrelevant: bool = False) -> None:
        super().__init__()
        self._taxonomy_path = taxonomy_path
        self._keep_irrelevant = keep_irrelevant

    def expand(self, stories: beam.PCollection) -> Any:
        fn = _TagStoriesFn(self._taxonomy_path, self._keep_irrelevant)
        return with_stage_outputs(stories, fn, "Tag")
