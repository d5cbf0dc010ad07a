"""The sinks: where stories, dead letters and discards end, and where they are counted.

Consumes ``TaggedStory``, ``Failure`` and ``Discard`` records; writes JSON Lines
files and counts each outcome exactly once in Beam's metrics (namespace
``newsbeam``), which the run summary reads:

* ``WriteStories``: ``stories*.jsonl``, one published story per line; counter
  ``published`` and one ``tag:<facet>:<value>`` counter per tag of a published story,
  plus ``outlet_country:<CC>`` and ``outlet_state:<code>`` for the outlet split.
* ``WriteDeadLetters``: ``dead_letters*.jsonl``; counter ``failed:<stage>/<error_type>``
  for failures of entries, ``feed_failed:<stage>/<error_type>`` for whole feeds.
* ``WriteDiscards``: ``discarded*.jsonl`` (stage, key, reason); counter
  ``discarded:<reason>``.
* ``WriteSyndicationUpdates``: ``syndication*.jsonl``; counter ``syndication_updates``
  (updates are news about published stories, not entries).
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam

from transforms.common import (
    DISCARDED,
    DISCARDED_PREFIX,
    FAILED,
    FAILED_PREFIX,
    FAILURES,
    FEED_FAILED_PREFIX,
    PROGRESS,
    PUBLISHED,
    SYNDICATION_UPDATES,
    counter,
    published_counters,
)
from transforms.pubsub import PublishDeadLetters
from transforms.records import Discard, DuplicateLink, Failure, SyndicationUpdate, TaggedStory
from transforms.syndication import SYNDICATION_PREFIX
from transforms.userfiles import is_remote

STORIES_PREFIX = "stories"
DEAD_LETTERS_PREFIX = "dead_letters"
# Dead letters the topic refused: files of their own (both sinks' one-shot shards would have
# the same names, the later replacing the earlier), still read as ``dead_letters*.jsonl``.
UNDELIVERED_PREFIX = f"{DEAD_LETTERS_PREFIX}-undelivered"
DISCARDS_PREFIX = "discarded"
JSONL = ".jsonl"
# What follows a sink's prefix in the names it writes: a one-shot run's shard number
# (WriteToText's "-SSSSS-of-NNNNN") or an always-on writer's own 12 hex digits.
_OWN_SUFFIX = r"-(?:\d+-of-\d+|[0-9a-f]{12})" + re.escape(JSONL)


def is_sink_file(path: str, prefix: str) -> bool:
    """Whether ``path`` (local or ``gs://``) names a file the sink with ``prefix`` writes.

    A one-shot run's shard (``stories-00000-of-00002.jsonl``) or an always-on writer's file
    (``stories-0123456789ab.jsonl``); the dead letters' include the undelivered ones. A
    user's own ``stories.jsonl`` or ``stories-notes.jsonl`` in the same folder is not one:
    a run neither reads nor removes it.
    """
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    stems = (prefix, UNDELIVERED_PREFIX) if prefix == DEAD_LETTERS_PREFIX else (prefix,)
    return any(re.fullmatch(re.escape(stem) + _OWN_SUFFIX, name) for stem in stems)


def sink_files(output_dir: str, prefix: str) -> list[str]:
    """The files the sink with ``prefix`` wrote in ``output_dir``, sorted: a local folder, or
    a remote one (``gs://...``) through Beam's FileSystems (``is_sink_file``: not a user's
    own ``stories.jsonl`` beside them)."""
    pattern = f"{prefix}*{JSONL}"
    if not is_remote(output_dir):
        paths = [str(path) for path in Path(output_dir).glob(pattern)]
    else:
        from apache_beam.io.filesystems import FileSystems

        results = FileSystems.match([f"{output_dir.rstrip('/')}/{pattern}"])
        paths = [metadata.path for result in results for metadata in result.metadata_list]
    return sorted(path for path in paths if is_sink_file(path, prefix))


# Characters that JSON leaves raw in a string but that line-splitting tools treat as line
# breaks (Python's str.splitlines, JavaScript): written as escapes, one record stays one line.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def to_json_line(record: dict[str, Any]) -> str:
    """One compact JSON line, UTF-8 kept readable, and a line to any tool that splits lines."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    # Searched for first: str.translate looks every character up in the table once the line
    # holds any non-ASCII character (a curly quote does), 1.25 ms for a 10 KB story's line,
    # 15x the encoding itself; the three searches take ~2 us and nearly always find nothing.
    if "\u2028" in line or "\u2029" in line or "\x85" in line:
        line = line.translate(_LINE_BREAKS)
    return line


def count_published(story: TaggedStory | DuplicateLink) -> TaggedStory | DuplicateLink:
    """Count a published story, its tags and its outlet's country and affiliation.

    A ``DuplicateLink`` (``--duplicates link``) is a published entry too, counted as
    ``published`` and ``published_links`` and in the outlet split (its copy's outlet); it
    carries no tags of its own.
    """
    PROGRESS.record(PUBLISHED)
    if isinstance(story, DuplicateLink):
        is_link, tags, outlet = True, [], story.full_outlet
    else:
        is_link, outlet = False, story.story.outlet
        tags = [(tag.facet, tag.value) for tag in story.tagging.tags]
    known = outlet.state_media is not None
    for name in published_counters(is_link, tags, outlet.country, outlet.state_affiliation, known):
        counter(name).inc()
    return story


def count_failure(failure: Failure) -> Failure:
    """Count a dead letter once, as an entry failure or a whole-feed failure."""
    prefix = FAILED_PREFIX if failure.counts_entry else FEED_FAILED_PREFIX
    counter(f"{prefix}{failure.outcome}").inc()
    if failure.counts_entry:
        PROGRESS.record(FAILED)
    return failure


def count_discard(discard: Discard) -> Discard:
    """Count a discarded entry once, by reason."""
    counter(f"{DISCARDED_PREFIX}{discard.reason}").inc()
    PROGRESS.record(DISCARDED)
    return discard


# Held by a local streaming sink while it writes a line, and taken for good by a stopping run
# before it counts the lines (``stop_local_writes``).
_LOCAL_WRITES = threading.Lock()


def stop_local_writes() -> None:
    """Let no local streaming sink of this process write another line, once the line being
    written is whole: for a run stopped by a signal, which then counts what its files hold
    and ends the process. Its sinks went on appending while it counted (a poll's bundle runs
    on), so summary.json counted fewer lines than the files held (12 of 2,127, say). A sink
    that writes after this waits until the process ends."""
    _LOCAL_WRITES.acquire()


class _AppendJsonlFn(beam.DoFn):
    """Appends lines to one file per DoFn instance, each local line on disk once written.

    The streaming file sink: Beam's WriteToText needs windows and triggers in streaming,
    and a local monitor wants its lines on disk as soon as they exist. A local file is
    written a line at a time (line-buffered): a run stopped by a signal summarises its files
    while a bundle may still be going on (a poll's bundle lasts as long as its slowest page),
    and a settled outcome held in a buffer until the bundle's end was left out. Each worker
    instance writes its own ``<prefix>-<uuid>.jsonl``, so no two writers share a file;
    it is created with the instance's first line (an always-on run starts many writers
    that never write: they leave no empty files).

    A remote ``output_dir`` (``gs://...``, a Dataflow job's) is written through Beam's
    ``FileSystems``, one file a bundle, closed at the bundle's end: an object store has no
    append, and makes an object readable only once it is closed.
    """

    def __init__(self, output_dir: str, prefix: str) -> None:
        self._path_prefix = os.path.join(output_dir, prefix)
        self._remote = is_remote(output_dir)
        self._file: Any = None

    def process(self, line: str) -> None:
        if self._file is None:
            self._file = self._create(f"{self._path_prefix}-{uuid.uuid4().hex[:12]}{JSONL}")
        if self._remote:
            self._file.write((line + "\n").encode("utf-8"))
            return
        with _LOCAL_WRITES:
            self._file.write(line + "\n")

    def _create(self, path: str) -> Any:
        if self._remote:
            from apache_beam.io.filesystems import FileSystems

            return FileSystems.create(path, mime_type="application/x-ndjson")
        return open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - see teardown

    def finish_bundle(self) -> None:
        if self._file is None:
            return
        if self._remote:
            self._file.close()
            self._file = None
        else:
            self._file.flush()

    def teardown(self) -> None:
        if self._file is not None:
            self._file.close()


def _write_jsonl(
    pcoll: beam.PCollection, output_dir: str, prefix: str, streaming: bool, skip_if_empty: bool
) -> Any:
    if streaming:
        return pcoll | "Append" >> beam.ParDo(_AppendJsonlFn(output_dir, prefix))
    return pcoll | "Write" >> beam.io.WriteToText(
        os.path.join(output_dir, prefix), file_name_suffix=JSONL, skip_if_empty=skip_if_empty
    )


def count_update(update: SyndicationUpdate) -> SyndicationUpdate:
    """Count a syndication update: it is news about a published story, not an entry."""
    counter(SYNDICATION_UPDATES).inc()
    return update


class _WriteJsonl(beam.PTransform):
    """Count each record once, then write it as a JSON line to ``<prefix>*.jsonl``.

    A one-shot run writes one file even when there is nothing to write (so each sink's file
    is there to read), unless ``skip_if_empty``; a streaming writer makes a file only when
    it has a line.
    """

    prefix: str
    count: Callable[[Any], Any]

    def __init__(
        self,
        output_dir: str,
        streaming: bool = False,
        prefix: str | None = None,
        skip_if_empty: bool = False,
    ) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._streaming = streaming
        self._skip_if_empty = skip_if_empty
        if prefix is not None:
            self.prefix = prefix

    def expand(self, records: beam.PCollection) -> Any:
        lines = (
            records
            | "Count" >> beam.Map(type(self).count)
            | "ToJson" >> beam.Map(lambda r: to_json_line(r.to_json()))
        )
        return _write_jsonl(
            lines, self._output_dir, self.prefix, self._streaming, self._skip_if_empty
        )


class WriteStories(_WriteJsonl):
    """PCollection[TaggedStory | DuplicateLink] -> ``stories*.jsonl`` in ``output_dir``."""

    prefix = STORIES_PREFIX
    count = staticmethod(count_published)


class WriteSyndicationUpdates(_WriteJsonl):
    """PCollection[SyndicationUpdate] -> ``syndication*.jsonl`` in ``output_dir``."""

    prefix = SYNDICATION_PREFIX
    count = staticmethod(count_update)


class WriteDeadLetters(_WriteJsonl):
    """PCollection[Failure] -> ``dead_letters*.jsonl`` in ``output_dir``."""

    prefix = DEAD_LETTERS_PREFIX
    count = staticmethod(count_failure)


class WriteDiscards(_WriteJsonl):
    """PCollection[Discard] -> ``discarded*.jsonl`` in ``output_dir``."""

    prefix = DISCARDS_PREFIX
    count = staticmethod(count_discard)


class DeliverDeadLetters(beam.PTransform):
    """PCollection[Failure] -> the dead-letter file and, if given, the dead-letter topic.

    Every dead letter is written to the file and counted there; those the topic refuses
    come back as extra records that count no entry, and are written too (to
    ``dead_letters-undelivered*.jsonl``, made only when there are some).
    """

    def __init__(self, output_dir: str, streaming: bool, topic: str | None) -> None:
        super().__init__()
        self._output_dir = output_dir
        self._streaming = streaming
        self._topic = topic

    def expand(self, failures: beam.PCollection) -> None:
        failures | "Write" >> WriteDeadLetters(self._output_dir, self._streaming)
        if self._topic:
            undelivered = failures | "Publish" >> PublishDeadLetters(self._topic)
            undelivered[FAILURES] | "WriteUndelivered" >> WriteDeadLetters(
                self._output_dir, self._streaming, UNDELIVERED_PREFIX, skip_if_empty=True
            )
