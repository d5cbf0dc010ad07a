"""The --state-dir files: what one-shot runs remember, and what they forget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transforms.records import FeedEntry, FeedState
from transforms.state import (
    PENDING_DIR,
    StateDirError,
    commit_run_state,
    feed_state_line,
    load_feed_states,
    load_seen,
    load_signatures,
    seen_line,
    signature_lines,
)

DAY = 86400.0


def pending(state: Path, name: str, lines: list[str]) -> None:
    (state / PENDING_DIR).mkdir(parents=True, exist_ok=True)
    (state / PENDING_DIR / name).write_text("".join(f"{line}\n" for line in lines))


def test_first_run_has_no_state(tmp_path: Path) -> None:
    assert load_feed_states(str(tmp_path)) == {}
    assert load_seen(str(tmp_path), DAY) == {}


def test_commit_merges_feeds_and_seen_and_skips_retryable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    feed = FeedState("http://a.example/rss", etag='"v1"', body_sha256="abc")
    # b's feed lists an entry to retry: its validators (old and new) are not remembered, so
    # the next run fetches and parses it even if it is unchanged.
    retried = FeedState("http://b.example/rss", etag='"v2"', body_sha256="def")
    state.mkdir()
    (state / "feeds.json").write_text(json.dumps([vars(FeedState(retried.feed_url, '"v1"'))]))
    pending(state, "feeds-00000-of-00001", [feed_state_line(feed), feed_state_line(retried)])
    ok = FeedEntry(feed_url=feed.feed_url, link="http://a.example/1", key="http://a.example/1")
    done = FeedEntry(feed_url=retried.feed_url, link="http://b.example/1", key="k1")
    retry = FeedEntry(feed_url=retried.feed_url, link="http://b.example/2", key="k2")
    pending(state, "seen-00000-of-00001", [seen_line(e) for e in (ok, done, retry)])

    commit_run_state(str(state), {}, {"http://b.example/2"}, 7 * DAY, now=1000 * DAY)

    assert load_feed_states(str(state)) == {feed.feed_url: feed}
    assert load_seen(str(state), 7 * DAY, now=1000 * DAY) == {
        "http://a.example/1": 1000 * DAY,
        "k1": 1000 * DAY,
    }
    assert not (state / PENDING_DIR).exists()


def test_a_storys_signature_lines_commit_as_one_pair_per_key(tmp_path: Path) -> None:
    from transforms.minhash import Claim

    state = tmp_path / "state"
    claim = Claim("a" * 16, "a" * 16, 1000 * DAY).encode()
    record = signature_lines(((b"\xfekey-url", b"\x00band", b"\x01band"), claim))
    assert len(record.splitlines()) == 3  # WriteToText adds the last newline
    pending(state, "signatures-00000-of-00001", [record])

    commit_run_state(str(state), {}, set(), 7 * DAY, now=1000 * DAY)

    assert sorted(load_signatures(str(state), 7 * DAY, now=1000 * DAY)) == [
        (b"\x00band", claim),
        (b"\x01band", claim),
        (b"\xfekey-url", claim),
    ]


def test_seen_entries_expire_after_the_ttl(tmp_path: Path) -> None:
    state = tmp_path / "state"
    commit_run_state(str(state), {"old": 1 * DAY, "new": 9 * DAY}, set(), 7 * DAY, now=10 * DAY)
    assert load_seen(str(state), 7 * DAY, now=10 * DAY) == {"new": 9 * DAY}
    assert load_seen(str(state), 7 * DAY, now=20 * DAY) == {}


def test_first_sighting_time_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    entry = FeedEntry(feed_url="f", link="http://a.example/1", key="k")
    pending(state, "seen-0", [seen_line(entry)])
    commit_run_state(str(state), {"k": 5 * DAY}, set(), 7 * DAY, now=6 * DAY)
    assert json.loads((state / "seen.jsonl").read_text()) == {"key": "k", "seen_at": 5 * DAY}


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "feeds.json").write_text("{not json")
    with pytest.raises(StateDirError, match="delete it to start afresh"):
        load_feed_states(str(tmp_path))
