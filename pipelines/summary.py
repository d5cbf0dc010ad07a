"""The run summary: outcome counts read from Beam's metrics, as JSON and as text.

Consumes a pipeline result's metrics (counters in the ``newsbeam`` namespace, see
``transforms.common``); produces a ``RunSummary`` that is written to
``summary.json`` in this shape (other keys may be added)::

    {"entries": N, "published": N, "discarded": {"<reason>": N},
     "failed": {"<stage>/<error_type>": N}, ...}

and printed for people by ``render()``. ``balanced`` is the accounting invariant:
every entry was published, discarded with a reason, or failed.

A summary rebuilt from the output files (``pipelines.summary_files.summary_from_files``: a
streaming run stopped by a signal) counts what the files hold; feed polls are in no file, so
``feeds.polled``, ``feeds.not_modified`` and ``feeds.pages_from_feed`` are ``null`` there (not
counted).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apache_beam.metrics.metric import MetricsFilter

from pipelines.jsonl_command import replaced_on_success
from transforms.common import (
    DISCARDED_PREFIX,
    ENTRIES,
    FAILED_PREFIX,
    FEED_FAILED_PREFIX,
    FEEDS_GONE,
    FEEDS_MOVED,
    FEEDS_NOT_MODIFIED,
    FEEDS_NOT_POLLED_GONE,
    FEEDS_POLLED,
    METRICS_NAMESPACE,
    OUTLET_COUNTRY_PREFIX,
    OUTLET_STATE_PREFIX,
    PAGES_FROM_FEED,
    PUBLISHED,
)
from transforms.feed_health import moved_message
from transforms.feed_parsing import MALFORMED_FEED_RECOVERED
from transforms.feed_polls import GONE_MESSAGE, read_moved_note
from transforms.sinks import sink_files
from transforms.userfiles import is_remote

if TYPE_CHECKING:
    from pipelines.config import RunConfig

_TOP_TAGS = 10
# A poll that read a malformed feed in part: its recovered entries went on (not a failed poll).
_READ_IN_PART = f"poll/{MALFORMED_FEED_RECOVERED}"


@dataclass(frozen=True)
class Delivery:
    """Where a run sent what it made, for the lines ``pipelines.cli.report`` prints about
    it (not in summary.json)."""

    topic: str | None = None
    dead_letter_topic: str | None = None
    syndication_updates: bool = False  # --topic takes syndication_update records too
    state_dir: str | None = None  # a one-shot run's: the next run retries retryable failures

    @classmethod
    def of(cls, config: RunConfig) -> Delivery:
        return cls(
            config.topic, config.dead_letter_topic, config.duplicates != "drop", config.state_dir
        )


@dataclass
class RunSummary:
    """Counts of what happened to every feed entry in one run."""

    entries: int = 0
    published: int = 0
    discarded: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    feed_failures: dict[str, int] = field(default_factory=dict)
    # None: not counted (a summary read from the output files, which hold no feed polls)
    feeds_polled: int | None = 0
    feeds_not_modified: int | None = 0
    pages_from_feed: int | None = 0  # entries not fetched: the feed carried the full text
    # Feeds whose answers began with a permanent redirect: feed -> (where to, HTTP status);
    # None: not known (a summary read from the output files)
    feeds_moved: dict[str, tuple[str, int]] | None = field(default_factory=dict)
    feeds_gone: list[str] | None = field(default_factory=list)  # answered 410 Gone; None: likewise
    not_polled_gone: int | None = 0  # always-on polls not made: the feed answered 410 Gone
    tags: dict[str, int] = field(default_factory=dict)
    outlet_countries: dict[str, int] = field(default_factory=dict)
    outlet_state_affiliations: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    stopped_early: bool = False  # a streaming run stopped by a signal: counted from its files
    delivery: Delivery = field(default_factory=Delivery)

    @property
    def balanced(self) -> bool:
        """entries == published + discarded + failed."""
        return self.entries == (
            self.published + sum(self.discarded.values()) + sum(self.failed.values())
        )

    @property
    def no_feed_read(self) -> bool:
        """Every feed poll failed: the run read nothing (a wrong feed list, no network, or
        addresses it refuses), which a summary of zeros would otherwise pass off as quiet."""
        polls = sum(self.poll_failures.values())
        return bool(self.feeds_polled) and polls >= (self.feeds_polled or 0)

    @property
    def none_published(self) -> bool:
        """Stories were ready but the topic took none (a missing topic, Pub/Sub down)."""
        return self.published == 0 and any(k.startswith("publish/") for k in self.failed)

    @property
    def poll_failures(self) -> dict[str, int]:
        """The feed-level failures of polls (``feed_failures`` also holds dead letters the
        dead-letter topic refused, and those of feeds read in part, ``polls_read_in_part``)."""
        return {
            k: n
            for k, n in self.feed_failures.items()
            if k.startswith("poll/") and k != _READ_IN_PART
        }

    @property
    def undelivered(self) -> dict[str, int]:
        """The other failures that lose no entry: dead letters the dead-letter topic refused
        and syndication updates the topic refused (both ``publish/<error_type>``)."""
        return {k: n for k, n in sorted(self.feed_failures.items()) if not k.startswith("poll/")}

    @property
    def polls_read_in_part(self) -> int:
        """Polls of a malformed feed whose entries up to the fault were recovered and went on
        (each a ``malformed_feed_recovered`` dead letter): not failed polls."""
        return self.feed_failures.get(_READ_IN_PART, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "published": self.published,
            "discarded": dict(sorted(self.discarded.items())),
            "failed": dict(sorted(self.failed.items())),
            "balanced": self.balanced,
            "feeds": {
                "polled": self.feeds_polled,
                "not_modified": self.feeds_not_modified,
                "pages_from_feed": self.pages_from_feed,
                "failed": dict(sorted(self.poll_failures.items())),
                "read_in_part": self.polls_read_in_part,
                "moved_permanently": None
                if self.feeds_moved is None
                else [
                    {"feed": feed, "to": to, "status": status}
                    for feed, (to, status) in sorted(self.feeds_moved.items())
                ],
                "gone": self.feeds_gone,
                "not_polled_gone": self.not_polled_gone,
            },
            "dead_letters_undelivered": self.undelivered,
            "tags": _by_count(self.tags),
            "outlets": {
                "country": _by_count(self.outlet_countries),
                "state_affiliation": _by_count(self.outlet_state_affiliations),
            },
            "outputs": self.outputs,
            "stopped_early": self.stopped_early,
        }

    def write(self, path: Path) -> None:
        """Write ``summary.json``: whole or not at all (``replaced_on_success``: a temporary
        file beside it, renamed), so that a process ended mid-write (a signal, a full disk)
        leaves no summary.json cut short, which no reader could parse."""
        self.outputs.setdefault("summary", [str(path)])
        with replaced_on_success(str(path)) as out:
            out.write(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")

    def render(self) -> str:
        """The human summary printed at the end of a run."""
        lines = (
            [
                "stopped by signal: counts are read from the output files; entries still in "
                "flight when the run stopped are not counted"
            ]
            if self.stopped_early
            else []
        )
        lines += [
            self._feeds_line(),
            *(
                "  " + moved_message(feed, to, status)
                for feed, (to, status) in sorted((self.feeds_moved or {}).items())
            ),
            *(f"  feed {feed} is {GONE_MESSAGE}" for feed in self.feeds_gone or ()),
            f"entries: {self.entries}  published: {self.published}  "
            f"discarded: {sum(self.discarded.values())}  failed: {sum(self.failed.values())}"
            + ("" if self.balanced else "  (UNBALANCED: some entries are unaccounted for)"),
        ]
        for title, counts in (
            ("discarded", self.discarded),
            ("failed", self.failed),
            (
                "other failures (whole feeds, dead-letter delivery, syndication updates)",
                self.feed_failures,
            ),
        ):
            if counts:
                lines.append(f"  {title}: " + _inline(counts))
        if self.tags:
            top = list(_by_count(self.tags))[:_TOP_TAGS]
            lines.append("top tags: " + ", ".join(f"{k} {self.tags[k]}" for k in top))
        if self.outlet_countries:
            lines.append("by outlet country: " + _inline(self.outlet_countries))
            lines.append("by state affiliation: " + _inline(self.outlet_state_affiliations))
        for name, paths in self.outputs.items():
            lines.append(f"{name}: {_listed(paths)}")
        return "\n".join(lines)

    def _feeds_line(self) -> str:
        failed = f"{sum(self.poll_failures.values())} failed"
        if self.polls_read_in_part:
            failed += f", {self.polls_read_in_part} malformed but read in part"
        if self.feeds_polled is None or self.feeds_not_modified is None:
            return f"feeds: polls not counted (summary read from the output files), {failed}"
        line = (
            f"feeds: {self.feeds_polled} polled, {self.feeds_not_modified} not modified, {failed}"
        )
        if self.pages_from_feed:
            line += f", {self.pages_from_feed} entries taken from the feed's own full text"
        if self.not_polled_gone:
            line += f", {self.not_polled_gone} polls of feeds gone (HTTP 410) not made"
        return line


def _listed(paths: list[str]) -> str:
    """The files that hold something; empty ones are counted, not listed (a one-shot run
    writes each sink's file even when it has nothing to hold); "none" when there are none."""
    written = [p for p in paths if not _is_empty(p)]
    empty = len(paths) - len(written)
    if not empty:
        return ", ".join(paths) or "none"
    files = "file" if empty == 1 else "files"
    return ", ".join(written) + (" " if written else "none ") + f"({empty} empty {files})"


def _is_empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:  # gone, or not a local file: list it as it was found
        return False


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in _by_count(counts).items())


def summary_from_counters(
    counters: dict[str, int],
    output_dir: str | None = None,
    notes: dict[str, set[str]] | None = None,
) -> RunSummary:
    """Build the summary from newsbeam's counters (name -> value) and string sets (``notes``:
    name -> strings)."""
    notes = notes or {}
    summary = RunSummary(
        entries=counters.get(ENTRIES, 0),
        published=counters.get(PUBLISHED, 0),
        feeds_polled=counters.get(FEEDS_POLLED, 0),
        feeds_not_modified=counters.get(FEEDS_NOT_MODIFIED, 0),
        pages_from_feed=counters.get(PAGES_FROM_FEED, 0),
        not_polled_gone=counters.get(FEEDS_NOT_POLLED_GONE, 0),
        feeds_gone=sorted(notes.get(FEEDS_GONE, ())),
    )
    prefixed = (
        (DISCARDED_PREFIX, summary.discarded),
        (FAILED_PREFIX, summary.failed),
        (FEED_FAILED_PREFIX, summary.feed_failures),
        ("tag:", summary.tags),
        (OUTLET_COUNTRY_PREFIX, summary.outlet_countries),
        (OUTLET_STATE_PREFIX, summary.outlet_state_affiliations),
    )
    summary.feeds_moved = {
        feed: (to, status)
        for feed, to, status in map(read_moved_note, sorted(notes.get(FEEDS_MOVED, ())))
    }
    for name, value in counters.items():
        for prefix, target in prefixed:
            if name.startswith(prefix) and value:
                target[name[len(prefix) :]] = value
    if output_dir:
        for key in ("stories", "dead_letters", "discarded", "syndication"):
            found = local_sink_files(output_dir, key)
            if found or key != "syndication":
                summary.outputs[key] = found
    return summary


def local_sink_files(output_dir: str, prefix: str) -> list[str]:
    """A sink's files in a local ``output_dir``; the summary lists and reads no remote ones."""
    return [] if is_remote(output_dir) else sink_files(output_dir, prefix)


def read_counters(metrics: Any) -> dict[str, int]:
    """newsbeam's counters from a PipelineResult's ``metrics()``, summed over steps."""
    totals: dict[str, int] = {}
    query = metrics.query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for result in query["counters"]:
        value = result.committed if result.committed is not None else result.attempted
        totals[result.key.metric.name] = totals.get(result.key.metric.name, 0) + int(value or 0)
    return totals


def read_notes(metrics: Any) -> dict[str, set[str]]:
    """newsbeam's string sets (``transforms.common.note``) from a PipelineResult's
    ``metrics()``, joined over steps."""
    notes: dict[str, set[str]] = {}
    query = metrics.query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for result in query.get("string_sets", []):
        value = result.committed if result.committed is not None else result.attempted
        notes.setdefault(result.key.metric.name, set()).update(value or ())
    return notes


def summary_from_metrics(metrics: Any, output_dir: str | None = None) -> RunSummary:
    """The summary of a finished run, from its metrics."""
    return summary_from_counters(read_counters(metrics), output_dir, read_notes(metrics))
