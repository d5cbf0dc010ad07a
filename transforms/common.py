"""Conventions shared by every pipeline stage: output tags and outcome counters.

Every stage is a composite ``PTransform`` whose ``expand()`` returns a Beam
``DoOutputsTuple`` with three outputs:

* ``OK`` (the main output): the records that go on to the next stage;
* ``FAILURES``: ``transforms.records.Failure`` dead letters;
* ``DISCARDED``: ``transforms.records.Discard`` records, entries dropped on purpose.

Stages do not count outcomes themselves: the sinks count each outcome exactly
once (``published``, ``discarded:<reason>``, ``failed:<stage>/<error_type>``), so
the run summary can prove ``entries == published + discarded + failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam

from transforms.records import Discard, Failure

OK = "ok"
FAILURES = "failures"
DISCARDED = "discarded"

# Namespace of every newsbeam counter in Beam's metrics.
METRICS_NAMESPACE = "newsbeam"

ENTRIES = "entries"
PUBLISHED = "published"
PUBLISHED_LINKS = "published_links"
SYNDICATION_UPDATES = "syndication_updates"
DISCARDED_PREFIX = "discarded:"
FAILED_PREFIX = "failed:"
FEED_FAILED_PREFIX = "feed_failed:"
FEEDS_POLLED = "feeds_polled"
FEEDS_NOT_MODIFIED = "feeds_not_modified"
# Entries whose page was made from the feed's own full text, not fetched (--feed-text-min-chars).
PAGES_FROM_FEED = "pages_from_feed"

# The facets counted for the summary's top tags (rule tags are in each story's ``rules``).
TAG_FACETS = frozenset({"platform", "state_actor", "controversy"})


def counter(name: str) -> Any:
    """A Beam counter in newsbeam's namespace."""
    return beam.metrics.Metrics.counter(METRICS_NAMESPACE, name)


def tagged_output(outcome: Any) -> Any:
    """A stage's outcome on its output: a Failure to FAILURES, a Discard to DISCARDED."""
    if isinstance(outcome, Failure):
        return beam.pvalue.TaggedOutput(FAILURES, outcome)
    if isinstance(outcome, Discard):
        return beam.pvalue.TaggedOutput(DISCARDED, outcome)
    return outcome


def with_stage_outputs(pcoll: beam.PCollection, fn: beam.DoFn, label: str) -> Any:
    """Apply ``fn`` as a ParDo with newsbeam's three outputs (ok, failures, discarded)."""
    return pcoll | label >> beam.ParDo(fn).with_outputs(FAILURES, DISCARDED, main=OK)


class EachInput(beam.PTransform):
    """Apply a sink to several PCollections: flattened in batch, one by one in streaming.

    Beam's local runner holds a Flatten's output until a streaming run ends, so a streaming
    graph applies ``make()`` to each input under its own name (``<label>/<name>``); a batch
    graph flattens them into one (``<label>/Collect``, ``<label>/All``) for one set of files.

    Args:
        make: builds the sink transform, once per application.
        streaming: whether the graph is a streaming one.
    """

    def __init__(self, make: Callable[[], beam.PTransform], streaming: bool) -> None:
        super().__init__()
        self._make = make
        self._streaming = streaming

    def expand(self, inputs: dict[str, beam.PCollection]) -> None:
        if self._streaming:
            for name, pcoll in inputs.items():
                pcoll | name >> self._make()
        else:
            tuple(inputs.values()) | "Collect" >> beam.Flatten() | "All" >> self._make()
