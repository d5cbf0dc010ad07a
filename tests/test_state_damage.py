"""State files damaged by a crash or a full disk: a last line cut short is left out with a
warning (the rest is read, the next commit writes the file whole); other damage stops the run
naming the file and what to delete, and what deleting it costs."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import pytest

from pipelines import monitor
from pipelines.config import RunFailed
from tests.test_monitor import stop_config
from tests.test_state import DAY, _claim, pending
from transforms import durable
from transforms.records import FeedState
from transforms.state import commit_run_state, feed_state_line, signature_line
from transforms.state_files import (
    StateDirError,
    load_feed_states,
    load_signatures,
    read_seen,
)


def seen_rows(keys: list[str], at: float = DAY) -> list[str]:
    return [
        json.dumps({"key": k, "seen_at": at, "feed_url": "https://a.example/rss"}) for k in keys
    ]


def test_a_seen_file_whose_last_line_was_cut_short_is_read_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A crash (or a disk that filled) while seen.jsonl was written or copied: the run was
    # refused with "delete it to start afresh", and a user who did lost every entry: the
    # next run fetched each again.
    rows = seen_rows(["a", "b", "c"])
    cut = rows[2][: len(rows[2]) // 2]
    (tmp_path / "seen.jsonl").write_text(f"{rows[0]}\n{rows[1]}\n{cut}")

    with caplog.at_level(logging.WARNING, logger="transforms.state_files"):
        seen = read_seen(str(tmp_path), 7 * DAY, now=2 * DAY)
        read_seen(str(tmp_path), 7 * DAY, now=2 * DAY)  # as the commit reads it again

    assert seen.seen == {"a": DAY, "b": DAY}
    (warning,) = caplog.messages  # said once
    assert f"the last line of {tmp_path / 'seen.jsonl'} (line 3) was cut short" in warning
    # the run's commit writes the file whole: the next run reads it without a word
    commit_run_state(str(tmp_path), seen.seen, set(), 7 * DAY, now=2 * DAY)
    text = (tmp_path / "seen.jsonl").read_text()
    assert text.endswith("\n")
    assert sorted(json.loads(line)["key"] for line in text.splitlines()) == ["a", "b"]


def test_a_signatures_file_cut_short_keeps_its_whole_lines(tmp_path: Path) -> None:
    lines = [signature_line((bytes([n]) * 9, _claim(DAY, story=str(n)))) for n in range(3)]
    (tmp_path / "signatures.jsonl").write_text("\n".join(lines)[:-10])
    kept = load_signatures(str(tmp_path), 7 * DAY, now=2 * DAY)
    assert [key for key, _ in kept] == [bytes([0]) * 9, bytes([1]) * 9]


def test_a_last_line_missing_only_its_end_of_line_is_read(tmp_path: Path) -> None:
    rows = seen_rows(["a", "b"])
    (tmp_path / "seen.jsonl").write_text(f"{rows[0]}\n{rows[1]}")
    assert read_seen(str(tmp_path), 7 * DAY, now=2 * DAY).seen == {"a": DAY, "b": DAY}


def test_a_line_cut_short_before_others_is_damage_naming_the_line(tmp_path: Path) -> None:
    # Not what a crash leaves (a file is written from its start): a fault that is named.
    rows = seen_rows(["a", "b"])
    (tmp_path / "seen.jsonl").write_text(f"{rows[0][:20]}\n{rows[1]}\n")
    with pytest.raises(StateDirError) as caught:
        read_seen(str(tmp_path), 7 * DAY, now=2 * DAY)
    message = str(caught.value)
    assert message.startswith(f"cannot read {tmp_path / 'seen.jsonl'}: line 1: ")
    assert message.endswith("(delete that line, or the file to start afresh)")


def test_a_feeds_file_cut_short_names_what_deleting_it_costs(tmp_path: Path) -> None:
    # feeds.json is one JSON document: no line can be left out. Deleting it costs the next
    # run its ETags only (every feed polled in full, the entries seen still skipped).
    state = FeedState("https://a.example/rss", etag='"v1"')
    pending(tmp_path, "feeds-0", [feed_state_line(state)])
    commit_run_state(str(tmp_path), {}, set(), 7 * DAY, now=DAY)
    text = (tmp_path / "feeds.json").read_text()
    (tmp_path / "feeds.json").write_text(text[: len(text) // 2])
    with pytest.raises(StateDirError) as caught:
        load_feed_states(str(tmp_path))
    assert str(caught.value).endswith(
        "(delete it: the next run polls every feed in full, without its ETags, and still "
        "skips the entries seen.jsonl remembers)"
    )


def test_a_folder_in_the_place_of_a_state_file_is_named_when_the_commit_fails(
    tmp_path: Path,
) -> None:
    # The commit writes feeds.json.tmp beside feeds.json; a folder of that name made it
    # "could not be saved (Is a directory): ... free the space, then run again".
    state = tmp_path / "state"
    (state / "feeds.json.tmp").mkdir(parents=True)
    config = dataclasses.replace(stop_config(tmp_path / "out", False), state_dir=str(state))
    with pytest.raises(RunFailed) as raised:
        monitor._commit(config)
    assert str(raised.value) == (
        f"the state directory {state} could not be saved (Is a directory: "
        f"{state / 'feeds.json.tmp'}): this run's stories are in {tmp_path / 'out'}, but the "
        "next run handles its entries again; fix that, then run again"
    )
    assert [p.name for p in state.iterdir()] == ["feeds.json.tmp"]  # nothing else written


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc to name a file by")
def test_the_runs_stories_are_on_the_disk_before_its_state_remembers_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beam's file sinks do not sync what they write, and the state commit did not wait for
    # them: after a power cut the state could remember as published the entries of stories
    # the disk had lost, never to be fetched again. Every sync is let through, and noted.
    out, state = tmp_path / "out", tmp_path / "out" / "state"
    state.mkdir(parents=True)
    (out / "stories-00000-of-00001.jsonl").write_text('{"story_id": "s"}\n')
    (out / "dead_letters-00000-of-00001.jsonl").write_text("")
    pending(state, "seen-00000-of-00001", [json.dumps({"key": "k", "link": "l", "feed_url": "f"})])
    synced: list[str] = []
    sync_to_disk = durable.sync_to_disk

    def noting(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        sync_to_disk(fd)

    monkeypatch.setattr(durable, "sync_to_disk", noting)
    config = dataclasses.replace(stop_config(out, False), state_dir=str(state))
    monitor._commit(config)

    stories = synced.index(str(out / "stories-00000-of-00001.jsonl"))
    assert synced.index(str(out / "dead_letters-00000-of-00001.jsonl")) < synced.index(str(out))
    assert stories < synced.index(str(out)) < synced.index(str(state / "seen.jsonl.tmp"))
    assert synced[-1] == str(state)  # and the renames of the commit
