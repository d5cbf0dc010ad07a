"""The sinks: each record counted once under its names, written as one JSON line.

Plain-Python tests for the counting functions (their effect on the progress line; Beam's
counters only exist inside a run), the JSON line and the streaming writer; small pipelines
for the counters and files, one publishing dead letters to the Pub/Sub emulator.
``tests/test_summary.py`` checks that a stopped run's summary agrees with these counters.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.summary import read_counters
from pipelines.topics_command import SubscriptionSpec, setup_pubsub
from tests.conftest import RUNNER_ARGS, read_jsonl
from tests.emulator import PROJECT, pull_all, unique
from tests.test_summary import STATE_MEDIA, tagged_story
from transforms import sinks as sinks_module
from transforms.common import DISCARDED, FAILED, PROGRESS, PUBLISHED
from transforms.records import (
    Discard,
    DuplicateLink,
    Failure,
    Outlet,
    SyndicationUpdate,
    Tag,
)
from transforms.sinks import (
    UNDELIVERED_PREFIX,
    DeliverDeadLetters,
    WriteDiscards,
    WriteStories,
    WriteSyndicationUpdates,
    _AppendJsonlFn,
    count_discard,
    count_failure,
    count_published,
    is_sink_file,
    stop_local_writes,
    to_json_line,
)

COPY_OUTLET = Outlet("x.example", "X News", "GB", "en", None)

STORY = tagged_story(
    "https://www.globaltimes.cn/1",
    STATE_MEDIA,
    (Tag("platform", "tiktok"), Tag("state_actor", "china"), Tag("rule", "ban")),
)
LINK = DuplicateLink(
    "c0ffee", STORY.story_id, STORY.story_id, "https://x.example/3", "x.example", COPY_OUTLET
)
ENTRY_FAILURE = Failure("fetch", "https://a.example/1", "http_404", "404")
FEED_FAILURE = Failure("poll", "https://a.example/feed", "malformed_feed", "x", counts_entry=False)
DISCARD = Discard("tag", "https://a.example/2", "not_relevant")


def run(build: Any) -> dict[str, int]:
    """Run the pipeline ``build(pipeline)`` makes; its newsbeam counters by name."""
    pipeline = TestPipeline(options=PipelineOptions(RUNNER_ARGS))
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return read_counters(result.metrics())


def rows(directory: Path, prefix: str) -> list[str]:
    """The JSON lines of ``prefix*.jsonl``, parsed and dumped again, in sorted order."""
    return sorted(json.dumps(row) for row in read_jsonl(directory, prefix))


def rows_of(*records: Any) -> list[str]:
    return sorted(json.dumps(record.to_json()) for record in records)


def test_a_json_line_is_compact_and_keeps_utf8_readable() -> None:
    """One line, no spaces after separators, non-ASCII text as itself (not \\u escapes)."""
    line = to_json_line({"title": "Ünïcode — 新闻", "n": [1, 2]})
    assert line == '{"title":"Ünïcode — 新闻","n":[1,2]}'


def progress_after(call: Callable[[], object]) -> dict[str, int]:
    """How far ``call`` moved the progress line's published, discarded and failed counts."""
    before = {what: PROGRESS.count(what) for what in (PUBLISHED, DISCARDED, FAILED)}
    call()
    return {what: PROGRESS.count(what) - n for what, n in before.items()}


@pytest.mark.parametrize(
    ("count", "record", "moved"),
    [
        (count_published, STORY, PUBLISHED),
        (count_published, LINK, PUBLISHED),
        (count_discard, DISCARD, DISCARDED),
        (count_failure, ENTRY_FAILURE, FAILED),
        (count_failure, FEED_FAILURE, None),  # a whole feed is no entry done
    ],
    ids=["story", "link", "discard", "entry failure", "feed failure"],
)
def test_each_outcome_moves_the_progress_line_once(
    count: Callable[[Any], object], record: object, moved: str | None
) -> None:
    """The counting functions return their record (the sink writes it next) and count it
    once on the progress line, as what it is; counters are checked in a pipeline below."""
    returned: list[object] = []
    deltas = progress_after(lambda: returned.append(count(record)))
    assert returned == [record]
    assert deltas == {what: int(what == moved) for what in (PUBLISHED, DISCARDED, FAILED)}


def test_the_streaming_writers_local_lines_are_on_disk_before_the_bundle_ends(
    tmp_path: Path,
) -> None:
    """A stopped always-on run summarises its files while a bundle may go on (a poll's
    bundle lasts as long as its slowest page): a line held in a buffer until the bundle's
    end was an outcome missing from the summary."""
    writer = _AppendJsonlFn(str(tmp_path), "discarded")
    writer.setup()
    writer.process('{"reason":"duplicate_url"}')
    (written,) = tmp_path.iterdir()
    assert written.read_bytes() == b'{"reason":"duplicate_url"}\n'
    writer.process("{}")
    assert written.read_bytes() == b'{"reason":"duplicate_url"}\n{}\n'
    writer.teardown()


def test_a_stopping_run_counts_lines_no_sink_adds_to(tmp_path: Path) -> None:
    """A stopped always-on run counted its files while its sinks went on appending: its
    summary.json said 2,115 where the file held 2,127 lines. Once it stops the writes, a
    sink's next line waits (here, in a thread of its own, until the test lets it go)."""
    writer = _AppendJsonlFn(str(tmp_path), "discarded")
    writer.setup()
    writer.process("{}")
    (written,) = tmp_path.iterdir()
    stop_local_writes()
    late = threading.Thread(target=writer.process, args=('{"late":1}',))
    try:
        late.start()
        late.join(timeout=1.0)
        assert late.is_alive()  # waiting on the stop, not writing
        assert written.read_text() == "{}\n"
    finally:
        sinks_module._LOCAL_WRITES.release()  # the process would have ended here
        late.join()
        writer.teardown()
    assert written.read_text() == '{}\n{"late":1}\n'


def test_the_streaming_writer_has_a_file_per_instance_on_disk_at_each_bundles_end(
    tmp_path: Path,
) -> None:
    """Each instance that writes appends to its own <prefix>-<12 hex>.jsonl; a bundle's lines
    are in the file when the bundle ends (a monitor reads them while the run goes on), one per
    line, in UTF-8, and later bundles append to the same file; an instance with nothing to
    write makes no file (an always-on run starts many); teardown closes the file."""
    writers = [_AppendJsonlFn(str(tmp_path), "stories") for _ in range(3)]
    for writer in writers:
        writer.setup()
    first, second, idle = writers
    first.process('{"title":"新闻"}')
    first.process("{}")
    first.finish_bundle()
    second.process('{"n":1}')
    second.finish_bundle()
    idle.finish_bundle()
    by_size = sorted(tmp_path.iterdir(), key=lambda p: p.stat().st_size)
    assert len(by_size) == 2
    assert all(re.fullmatch(r"stories-[0-9a-f]{12}\.jsonl", f.name) for f in by_size)
    assert by_size[0].read_bytes() == b'{"n":1}\n'
    assert by_size[1].read_bytes() == '{"title":"新闻"}\n{}\n'.encode()
    second.process('{"n":2}')
    second.finish_bundle()
    assert by_size[0].read_bytes() == b'{"n":1}\n{"n":2}\n'
    assert len(list(tmp_path.iterdir())) == 2
    for writer in writers:
        writer.teardown()
    assert first._file.closed and second._file.closed and idle._file is None


class _Upload(io.BytesIO):
    """A Cloud Storage upload as the writer sees it: the object exists once it is closed."""

    def __init__(self, bucket: dict[str, bytes], path: str) -> None:
        super().__init__()
        self._bucket, self._path = bucket, path

    def close(self) -> None:
        if not self.closed:
            self._bucket[self._path] = self.getvalue()
        super().close()


def test_the_streaming_writer_writes_a_remote_folder_one_object_a_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Dataflow job's --output is gs://...: no append there, and an object is readable only
    once closed. (No Cloud Storage here: Beam's FileSystems.create is patched to a stand-in
    with those two properties, as tests/test_userfiles.py does for reads.) Each bundle's
    lines are one object, there when the bundle ends; a bundle with no line makes none."""
    bucket: dict[str, bytes] = {}
    monkeypatch.setattr(FileSystems, "create", lambda path, **_: _Upload(bucket, path))
    writer = _AppendJsonlFn("gs://b/out", "stories")
    writer.setup()
    writer.process('{"title":"新闻"}')
    writer.process("{}")
    assert bucket == {}  # not closed yet: nothing to read
    writer.finish_bundle()
    writer.finish_bundle()  # an empty bundle
    writer.process('{"n":2}')
    writer.finish_bundle()
    writer.teardown()
    assert all(re.fullmatch(r"gs://b/out/stories-[0-9a-f]{12}\.jsonl", name) for name in bucket)
    assert sorted(bucket.values()) == sorted(['{"title":"新闻"}\n{}\n'.encode(), b'{"n":2}\n'])


@pytest.mark.emulator
@pytest.mark.pipeline
@pytest.mark.parametrize("topic_exists", [True, False], ids=["topic accepts", "topic refuses"])
def test_a_one_shot_runs_dead_letters_stay_in_the_file_with_a_dead_letter_topic(
    pubsub_emulator: str, topic_exists: bool, tmp_path: Path
) -> None:
    """Every dead letter is written to the local file, whatever the topic does with it, and
    those the topic refuses (here: the emulator's answer for a topic that does not exist) are
    written as well, as publish failures that count no entry. (The retryable ones are what
    the next one-shot run retries, read from these files.)"""
    topic = f"projects/{PROJECT}/topics/{unique('dead')}"
    subscription = unique("dead-all")
    if topic_exists:
        name = topic.rsplit("/", 1)[1]
        setup_pubsub(PROJECT, name, None, [SubscriptionSpec(subscription)], timeout=20)
    failures = [
        Failure("fetch", "https://a.example/1", "timeout", "timed out", retryable=True),
        Failure("poll", "https://a.example/feed", "not_a_feed", "HTML", counts_entry=False),
    ]

    def build(pipeline: beam.Pipeline) -> None:
        _ = (
            pipeline
            | beam.Create(failures)
            | DeliverDeadLetters(str(tmp_path), streaming=False, topic=topic)
        )

    counters = run(build)
    written = read_jsonl(tmp_path, "dead_letters")
    originals = [json.dumps(r) for r in written if r["stage"] != "publish"]
    assert sorted(originals) == rows_of(*failures)
    undelivered = [r for r in written if r["stage"] == "publish"]
    expected = {"failed:fetch/timeout": 1, "feed_failed:poll/not_a_feed": 1}
    undelivered_files = list(tmp_path.glob(f"{UNDELIVERED_PREFIX}*"))
    if topic_exists:
        assert undelivered == []
        assert undelivered_files == []  # no empty file when the topic refused nothing
        delivered = pull_all(f"projects/{PROJECT}/subscriptions/{subscription}", expected=2)
        assert sorted(json.dumps(json.loads(m.data)) for m in delivered) == rows_of(*failures)
    else:
        assert sorted(r["url"] for r in undelivered) == sorted(f.key for f in failures)
        assert [p.name for p in undelivered_files] == [f"{UNDELIVERED_PREFIX}-00000-of-00001.jsonl"]
        assert {(r["error_type"], r["counts_entry"]) for r in undelivered} == {
            ("topic_not_found", False)
        }
        expected |= {"feed_failed:publish/topic_not_found": 2, "pubsub_failed:topic_not_found": 2}
    assert counters == expected


@pytest.mark.pipeline
def test_each_sink_counts_its_records_under_their_names_and_writes_its_files(
    tmp_path: Path,
) -> None:
    """Published: ``published`` (and ``published_links`` for a link), one counter per tag of
    the summary's facets (not rules), the outlet split (a link's by its copy's outlet);
    dead letters by stage and error type, entry or whole feed; discards by reason;
    syndication updates (news about a story, not an entry). An empty dead-letter topic
    (a flag given empty, which the options let through) publishes nothing. The syndication
    updates go through the streaming writer here."""
    out = str(tmp_path)
    update = SyndicationUpdate(STORY.story_id, ("globaltimes.cn", "x.example"))

    def build(pipeline: beam.Pipeline) -> None:
        _ = pipeline | "Stories" >> beam.Create([STORY, LINK]) | WriteStories(out)
        _ = (
            pipeline
            | "Failures" >> beam.Create([ENTRY_FAILURE, FEED_FAILURE])
            | DeliverDeadLetters(out, streaming=False, topic="")
        )
        _ = pipeline | "Discards" >> beam.Create([DISCARD]) | WriteDiscards(out)
        _ = (
            pipeline
            | "Updates" >> beam.Create([update])
            | WriteSyndicationUpdates(out, streaming=True)
        )

    assert run(build) == {
        "published": 2,
        "published_links": 1,
        "tag:platform:tiktok": 1,
        "tag:state_actor:china": 1,
        "outlet_country:CN": 1,
        "outlet_country:GB": 1,
        "outlet_state:SC": 1,
        "outlet_state:none": 1,
        "failed:fetch/http_404": 1,
        "feed_failed:poll/malformed_feed": 1,
        "discarded:not_relevant": 1,
        "syndication_updates": 1,
    }
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names[:3] == [
        "dead_letters-00000-of-00001.jsonl",
        "discarded-00000-of-00001.jsonl",
        "stories-00000-of-00001.jsonl",
    ]
    assert len(names) == 4 and re.fullmatch(r"syndication-[0-9a-f]{12}\.jsonl", names[3])
    assert rows(tmp_path, "stories") == rows_of(STORY, LINK)
    assert rows(tmp_path, "dead_letters") == rows_of(ENTRY_FAILURE, FEED_FAILURE)
    assert rows(tmp_path, "discarded") == rows_of(DISCARD)
    assert rows(tmp_path, "syndication") == rows_of(update)


@pytest.mark.parametrize(
    ("path", "prefix", "own"),
    [
        ("out/stories-00000-of-00001.jsonl", "stories", True),
        ("gs://b/out/stories-00012-of-00100.jsonl", "stories", True),
        ("out/stories-0123456789ab.jsonl", "stories", True),
        ("out/dead_letters-undelivered-00000-of-00001.jsonl", "dead_letters", True),
        ("out/dead_letters-0123456789ab.jsonl", "dead_letters", True),
        ("out/syndication-00000-of-00001.jsonl", "syndication", True),
        ("out/stories.jsonl", "stories", False),
        ("out/stories-notes.jsonl", "stories", False),
        ("out/stories-0123456789AB.jsonl", "stories", False),
        ("out/stories-00000-of-00001.jsonl.tmp", "stories", False),
        ("out/discarded-00000-of-00001.jsonl", "stories", False),
        ("out/stories-undelivered-00000-of-00001.jsonl", "stories", False),
    ],
)
def test_a_sinks_own_files_are_told_from_a_users(path: str, prefix: str, own: bool) -> None:
    """A run reads and removes only the names its sinks write (one-shot shards, always-on
    writers' hex ids), never a user's own ``stories.jsonl`` in the same folder."""
    assert is_sink_file(path, prefix) is own
