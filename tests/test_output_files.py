"""pipelines/output_files.py: which files of an earlier run go before a run, local or on
Cloud Storage, and which entries the next one-shot run retries.

No Cloud Storage runs here: ``_Bucket`` patches Beam's FileSystems to serve a dict, as
tests/test_userfiles.py does for reads and tests/test_sinks.py for writes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import io
import json
from pathlib import Path

import pytest
from apache_beam.io.filesystem import FileMetadata, MatchResult
from apache_beam.io.filesystems import FileSystems

from pipelines.cli import EXIT_USAGE
from pipelines.config import RunFailed, UsageError
from pipelines.output_files import (
    clear_before_run,
    clear_previous_outputs,
    retryable_links,
    write_summary,
)
from pipelines.summary_files import summary_from_files
from tests.conftest import NEEDS_DEV_FULL, run_cli
from tests.test_monitor import stop_config
from tests.test_state import lock_held_by_another_process
from transforms.records import Discard, Failure, FeedEntry
from transforms.sinks import to_json_line
from transforms.state import PENDING_DIR, commit_run_state, seen_line
from transforms.state_files import read_seen


def test_an_earlier_runs_output_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    """Before a run, the JSONL files of every sink (sharded, streaming, undelivered dead
    letters) go, so the summary reads only this run's, and the earlier run's summary.json
    (it stayed while the run went on, and for good if the run was stopped or failed, a
    summary of files no longer there); other files stay, even ones whose names start like a
    sink's."""
    written = [
        "summary.json",
        "stories-00000-of-00001.jsonl",
        "stories-0123456789ab.jsonl",
        "dead_letters-00001-of-00002.jsonl",
        "dead_letters-undelivered-00000-of-00001.jsonl",
        "discarded-00000-of-00001.jsonl",
        "syndication-0123456789ab.jsonl",
        # a killed run's unfinished shards (Beam's file sinks write them here first)
        "beam-temp-stories-0123abcd/shard-1",
        "beam-temp-dead_letters-0123abcd/shard-1",
    ]
    kept = ["summary.jsonl", "stories-notes.txt", "my-stories.jsonl", "state/seen.jsonl"]
    kept += [".output.lock", "state/.lock"]  # the runs' locks
    kept += ["beam-temp-mine/x"]
    # a user's own files named like a sink's (README: `subscribe --json > stories.jsonl`)
    kept += ["stories.jsonl", "stories-notes.jsonl", "discarded-by-hand.jsonl"]
    for name in written + kept:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    clear_previous_outputs(str(tmp_path))
    left = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert left == set(kept)
    assert not list(tmp_path.glob("beam-temp-stories-*"))  # the folders too


def test_the_summary_goes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stopped half-way (Ctrl-C), the folder held a summary.json of story files now gone.
    for name in ["summary.json", "stories-00000-of-00001.jsonl", "discarded-00000-of-00001.jsonl"]:
        (tmp_path / name).write_text("{}\n")
    removed: list[str] = []
    unlink = Path.unlink

    def noting_unlink(self: Path, missing_ok: bool = False) -> None:
        removed.append(self.name)
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", noting_unlink)
    clear_previous_outputs(str(tmp_path))
    assert removed[0] == "summary.json" and len(removed) == 3


class _Bucket:
    """A stand-in for a Cloud Storage folder behind Beam's FileSystems (none runs here):
    match by glob, exists, open and delete on a dict of paths to text."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, objects: dict[str, str]) -> None:
        self.objects = dict(objects)
        self.patterns: list[list[str]] = []
        monkeypatch.setattr(FileSystems, "match", self.match)
        monkeypatch.setattr(FileSystems, "exists", lambda path: path in self.objects)
        monkeypatch.setattr(FileSystems, "open", lambda path: io.BytesIO(self.read(path)))
        monkeypatch.setattr(FileSystems, "delete", self.delete)

    def match(self, found: list[str]) -> list[MatchResult]:
        self.patterns.append(found)
        (pattern,) = found
        paths = [p for p in self.objects if fnmatch.fnmatch(p, pattern)]
        return [MatchResult(pattern, [FileMetadata(p, len(self.objects[p])) for p in paths])]

    def read(self, path: str) -> bytes:
        return self.objects[path].encode()

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            del self.objects[path]


REMOTE_RUN_FILES = [
    "gs://b/out/stories-00000-of-00003.jsonl",
    "gs://b/out/stories-0123456789ab.jsonl",
    "gs://b/out/dead_letters-00002-of-00003.jsonl",
    "gs://b/out/dead_letters-undelivered-00000-of-00001.jsonl",
    "gs://b/out/discarded-00001-of-00003.jsonl",
    "gs://b/out/syndication-00000-of-00001.jsonl",
]
REMOTE_OTHER_FILES = [
    "gs://b/out/my-stories.jsonl",
    "gs://b/out/stories.jsonl",  # a user's own, e.g. saved from newsbeam subscribe --json
    "gs://b/out/dead_letters-reviewed.jsonl",
    "gs://b/out/stories-notes.txt",
    "gs://b/other/stories-00000-of-00001.jsonl",
    "gs://b/feeds.yaml",
]


def test_an_earlier_runs_files_are_removed_from_a_remote_output_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A one-shot job on Dataflow picks its own shard count, so an earlier job's
    stories-00000-of-00003 would stay beside this one's -of-00002 and be read as this run's
    (its retryable dead letters too). Through Beam's FileSystems, only the sinks' files go."""
    bucket = _Bucket(monkeypatch, dict.fromkeys(REMOTE_RUN_FILES + REMOTE_OTHER_FILES, "{}"))
    clear_previous_outputs("gs://b/out/")
    assert sorted(bucket.objects) == sorted(REMOTE_OTHER_FILES)


def test_a_remote_always_on_jobs_files_are_kept_and_a_one_shot_jobs_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An always-on job's folder on Cloud Storage is its archive: starting it again (an
    update, a new template launch) must not delete the stories it wrote. A local always-on
    run replaces its files as a one-shot run does."""
    bucket = _Bucket(monkeypatch, dict.fromkeys(REMOTE_RUN_FILES, "{}"))
    clear_before_run(stop_config("gs://b/out", streaming=True))
    assert sorted(bucket.objects) == sorted(REMOTE_RUN_FILES)
    clear_before_run(stop_config("gs://b/out", streaming=False))
    assert bucket.objects == {}
    (tmp_path / "stories-0123456789ab.jsonl").write_text("{}\n")
    clear_before_run(stop_config(tmp_path, streaming=True))
    assert list(tmp_path.iterdir()) == []


def test_files_that_cannot_be_removed_stop_the_run_with_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store's own error (here a permission refusal) names the folder and what to do,
    instead of a traceback from inside Beam."""
    bucket = _Bucket(monkeypatch, dict.fromkeys(REMOTE_RUN_FILES, "{}"))

    def refuse(paths: list[str]) -> None:
        raise PermissionError("403 caller does not have storage.objects.delete access\nmore")

    monkeypatch.setattr(FileSystems, "delete", refuse)
    with pytest.raises(UsageError) as caught:
        clear_previous_outputs("gs://b/out")
    message = str(caught.value)
    assert "gs://b/out" in message and "storage.objects.delete" in message
    assert "more" not in message and "--output" in message
    assert sorted(bucket.objects) == sorted(REMOTE_RUN_FILES)


def test_a_folder_that_cannot_be_listed_stops_the_run_with_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Listing a Cloud Storage folder that cannot be reached raises the store's BeamIOError,
    an OSError, which left the run as "cannot write to standard output"."""
    from apache_beam.io.filesystem import BeamIOError

    bucket = _Bucket(monkeypatch, dict.fromkeys(REMOTE_RUN_FILES, "{}"))

    def unreachable(patterns: list[str]) -> None:
        raise BeamIOError("List operation failed", {patterns[0]: TimeoutError("120 s")})

    monkeypatch.setattr(FileSystems, "match", unreachable)
    with pytest.raises(UsageError) as caught:
        clear_previous_outputs("gs://b/out")
    message = str(caught.value)
    assert message.startswith("cannot list or remove the earlier run's files in gs://b/out")
    assert "BeamIOError: List operation failed" in message and "--output" in message
    assert sorted(bucket.objects) == sorted(REMOTE_RUN_FILES)


def test_a_second_run_on_an_output_folder_in_use_is_refused_before_it_clears_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two runs on one --output each replaced the other's files: the first reported stories
    the folder no longer held. The second is refused (one line naming the first's pid, the
    usage error's code), and the first's files stay; its own --state-dir changes nothing.
    The feed is on loopback without --allow-loopback: a run let through fails fast, offline."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/rss\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "stories-00000-of-00001.jsonl").write_text('{"title": "the first run\'s"}\n')
    argv = ["run", "--feeds", str(feeds), "--output", str(out), "--state-dir", str(tmp_path)]
    with lock_held_by_another_process(out, "--output") as holder:
        code, stdout, err = run_cli(capsys, *argv)
    assert code == EXIT_USAGE and stdout == ""
    assert err == (
        f"newsbeam: error: --output {out} is in use by another newsbeam run (pid {holder.pid}): "
        "give this run another --output, or wait for that one to end\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [".output.lock", "stories-00000-of-00001.jsonl"]
    assert "the first run's" in (out / "stories-00000-of-00001.jsonl").read_text()


def test_the_links_to_retry_are_those_of_retryable_entry_dead_letters(tmp_path: Path) -> None:
    """In every shard of the dead-letter file: an entry that failed retryably is retried by
    the next run; one that failed for good is not, nor a whole feed's failure (its URL is
    no entry's link), nor a discard."""
    shards = {
        "dead_letters-00000-of-00002.jsonl": [
            Failure("fetch", "https://a.example/1", "http_503", "503", retryable=True),
            Failure("fetch", "https://a.example/2", "http_404", "404"),
            Failure("poll", "https://a.example/rss", "timeout", "t", True, counts_entry=False),
        ],
        "dead_letters-00001-of-00002.jsonl": [
            Failure("fetch", "https://b.example/3", "timeout", "t", retryable=True),
        ],
    }
    for name, failures in shards.items():
        (tmp_path / name).write_text("".join(to_json_line(f.to_json()) + "\n" for f in failures))
    discard = Discard("tag", "https://c.example/4", "not_relevant")
    (tmp_path / "discarded-00000-of-00001.jsonl").write_text(to_json_line(discard.to_json()))
    assert retryable_links(str(tmp_path)) == {"https://a.example/1", "https://b.example/3"}


def test_a_line_separator_inside_a_dead_letter_does_not_split_its_line(tmp_path: Path) -> None:
    """U+2028, U+2029 and U+0085 are line breaks to ``str.splitlines`` but not to JSON Lines:
    a hostile feed's body quoted raw in a dead letter's ``input`` broke the line in two, and
    every later one-shot run stopped at its commit with a JSON error, remembering nothing."""
    failure = Failure(
        "poll", "https://a.example/feed", "not_a_feed", "no feed", retryable=True,
        input_excerpt="nothing\u2028to\u2029see\x85here",
    )  # fmt: skip
    raw = json.dumps(failure.to_json(), ensure_ascii=False)  # as any writer may leave it
    assert len(raw.splitlines()) == 4
    (tmp_path / "dead_letters-00000-of-00001.jsonl").write_text(raw + "\n", encoding="utf-8")
    assert retryable_links(str(tmp_path)) == {"https://a.example/feed"}


def test_an_entry_whose_link_carries_credentials_is_retried_though_its_dead_letter_hides_them(
    tmp_path: Path,
) -> None:
    """The dead letter names the link without its user name and password; the state
    directory's pending files name it as the feed gave it. The commit matched the two as
    written, so such an entry was remembered as seen and never tried again."""
    link = "https://reader:s3cret@news.example/a/1"
    failure = Failure("fetch", link, "timeout", "t", retryable=True)
    (tmp_path / "dead_letters-00000-of-00001.jsonl").write_text(
        to_json_line(failure.to_json()) + "\n"
    )
    retry = retryable_links(str(tmp_path))
    assert retry == {"https://news.example/a/1"}  # no secret in the file
    state = tmp_path / "state"
    (state / PENDING_DIR).mkdir(parents=True)
    entry = FeedEntry(feed_url="https://news.example/rss", link=link, key="k1")
    kept = FeedEntry(feed_url="https://news.example/rss", link=link.replace("/1", "/2"), key="k2")
    (state / PENDING_DIR / "seen-00000-of-00001").write_text(
        seen_line(entry) + "\n" + seen_line(kept) + "\n"
    )
    commit_run_state(str(state), {}, retry, 7 * 86400.0, now=1000.0)
    assert set(read_seen(str(state), 7 * 86400.0, now=1000.0).seen) == {"k2"}


def test_json_lines_escape_the_characters_other_tools_split_lines_at() -> None:
    record = {"input": "a\u2028b\u2029c\x85d\ne", "title": "caf\u00e9"}
    line = to_json_line(record)
    assert line.splitlines() == [line] and "caf\u00e9" in line  # kept readable
    assert json.loads(line) == record


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_json_lines_escape_each_of_those_characters_on_its_own(separator: str) -> None:
    """Each is looked for on its own before the line is translated (a line with only one
    must not be left as it is)."""
    record = {"text": f"\u201cquoted\u201d{separator}after"}
    line = to_json_line(record)
    assert separator not in line and line.splitlines() == [line]
    assert json.loads(line) == record


def test_the_links_to_retry_are_read_from_a_remote_output_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A one-shot run with --output gs://... and a local --state-dir: the dead letters are
    read through Beam's FileSystems (here patched to serve a dict, as no Cloud Storage runs
    here; tests/test_userfiles.py does the same for reads), not looked for on the local disk,
    where none are and every retryable entry would be remembered as seen."""
    objects = {
        "gs://b/out/dead_letters-00000-of-00001.jsonl": to_json_line(
            Failure("fetch", "https://a.example/1", "timeout", "t", retryable=True).to_json()
        ),
        "gs://b/out/dead_letters-undelivered-00000-of-00001.jsonl": to_json_line(
            Failure("fetch", "https://a.example/2", "http_503", "503", retryable=True).to_json()
        ),
        "gs://b/out/discarded-00000-of-00001.jsonl": to_json_line(
            Discard("tag", "https://a.example/3", "not_relevant").to_json()
        ),
    }
    bucket = _Bucket(monkeypatch, objects)
    assert retryable_links("gs://b/out") == {"https://a.example/1", "https://a.example/2"}
    assert bucket.patterns == [["gs://b/out/dead_letters*.jsonl"]]


@NEEDS_DEV_FULL
def test_a_summary_json_that_cannot_be_written_ends_the_run_naming_it(tmp_path: Path) -> None:
    # A full disk when the summary was written (the run's files and state already were):
    # its write error names no file, and newsbeam said "cannot write to standard output".
    (tmp_path / "summary.json").symlink_to("/dev/full")  # every write: ENOSPC
    config = dataclasses.replace(stop_config(tmp_path, streaming=False), state_dir="st")
    with pytest.raises(RunFailed) as raised:
        write_summary(summary_from_files(str(tmp_path)), config)
    assert str(raised.value) == (
        f"the run ended and its state was saved, but its summary could not be written to "
        f"{tmp_path / 'summary.json'} (No space left on device); its other files are in "
        f"{tmp_path}"
    )
