"""A stopped run's summary, rebuilt from the files its sinks wrote.

Consumes a local output folder's ``stories*``, ``discarded*`` and ``dead_letters*`` JSON Lines
files (a streaming run stopped by a signal, whose metrics are gone); produces the
``pipelines.summary.RunSummary`` a finished run would have given for what reached a sink:
each line counted under the counters the running pipeline increments for it. Feed polls are in
no file: those counts are ``None`` (``null`` in ``summary.json``).
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.summary import RunSummary, local_sink_files, summary_from_counters
from transforms.common import (
    DISCARDED_PREFIX,
    ENTRIES,
    FAILED_PREFIX,
    FEED_FAILED_PREFIX,
    PUBLISHED,
    published_counters,
)


def summary_from_files(output_dir: str) -> RunSummary:
    """The summary of a run that was stopped, from the files its sinks wrote so far.

    Every published, discarded or failed entry is a line in one of the output files,
    so these counts are exact for what reached a sink; ``entries`` is their sum. Each
    published line is counted as ``count_published`` counts it in a running pipeline
    (``_published_counters``), so the tags and the outlet split match a finished run's.
    Feed polls are in no file: ``feeds_polled``, ``feeds_not_modified`` and
    ``pages_from_feed`` are ``None`` (not counted).

    Args:
        output_dir: The run's output directory.

    Returns:
        The summary, with ``stopped_early`` set.
    """
    counters: dict[str, int] = {}

    def bump(name: str) -> None:
        counters[name] = counters.get(name, 0) + 1

    def rows(prefix: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for path in local_sink_files(output_dir, prefix):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    # a stopped run may leave a partial last line: it is not counted
                    if line.strip() and line.endswith("\n"):
                        found.append(json.loads(line))
        return found

    for story in rows("stories"):
        for name in _published_counters(story):
            bump(name)
    for discard in rows("discarded"):
        bump(f"{DISCARDED_PREFIX}{discard['reason']}")
    for failure in rows("dead_letters"):
        prefix = FAILED_PREFIX if failure.get("counts_entry", True) else FEED_FAILED_PREFIX
        bump(f"{prefix}{failure['stage']}/{failure['error_type']}")
    counters[ENTRIES] = sum(
        v
        for k, v in counters.items()
        if k == PUBLISHED or k.startswith((DISCARDED_PREFIX, FAILED_PREFIX))
    )
    summary = summary_from_counters(counters, output_dir)
    summary.feeds_polled = summary.feeds_not_modified = summary.pages_from_feed = None
    summary.feeds_moved = summary.feeds_gone = summary.not_polled_gone = None  # told in the log
    summary.stopped_early = True
    return summary


def _published_counters(record: dict[str, Any]) -> list[str]:
    """The counters a published line of ``stories*.jsonl`` stands for.

    The same names ``count_published`` (``transforms.sinks``) increments for the record
    while the pipeline runs: ``published``; ``tag:<facet>:<value>`` per summary facet for a
    story, ``published_links`` for a ``duplicate_link``; its outlet's country and affiliation.

    Args:
        record: One JSON line of ``stories*.jsonl``.

    Returns:
        Counter names, each to be incremented once.
    """
    outlet = record.get("outlet")
    outlet = outlet if isinstance(outlet, dict) else {}  # links before schema 3: a domain
    return published_counters(
        record.get("record_type") == "duplicate_link",
        [(tag["facet"], tag["value"]) for tag in record.get("tags", [])],
        outlet.get("country"),
        outlet.get("state_affiliation"),
        outlet.get("state_media") is not None,
    )
