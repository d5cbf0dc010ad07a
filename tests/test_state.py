"""The --state-dir files: what one-shot runs remember, and what they forget."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import REPO, RUNNER_ARGS
from transforms import folder_locks
from transforms.common import DISCARDED, OK
from transforms.dedup_claims import Claim
from transforms.dedup_verdicts import PRIOR_RUN, key_answers
from transforms.folder_locks import FolderInUse, FolderLockError, lock_folder
from transforms.records import FeedEntry, FeedState
from transforms.state import (
    PENDING_DIR,
    PENDING_SEEN_AGAIN,
    SEEN_AGAIN,
    SkipSeenEntries,
    commit_run_state,
    feed_state_line,
    lock_state_dir,
    seen_line,
    sighting_line,
    signature_line,
    signature_lines,
)
from transforms.state_files import (
    StateDirError,
    all_forgotten,
    load_feed_states,
    load_signatures,
    load_story_outlets,
    read_seen,
)

DAY = 86400.0


def fresh_python_prints_argv(code: str, *argv: str) -> str:
    """What ``python -c code argv...`` prints, run from the repository."""
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout  # fmt: skip


def pending(state: Path, name: str, lines: list[str]) -> None:
    (state / PENDING_DIR).mkdir(parents=True, exist_ok=True)
    (state / PENDING_DIR / name).write_text("".join(f"{line}\n" for line in lines))


def test_first_run_has_no_state(tmp_path: Path) -> None:
    assert load_feed_states(str(tmp_path)) == {}
    assert read_seen(str(tmp_path), DAY).seen == {}


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
    assert read_seen(str(state), 7 * DAY, now=1000 * DAY).seen == {
        "http://a.example/1": 1000 * DAY,
        "k1": 1000 * DAY,
    }
    assert not (state / PENDING_DIR).exists()


def test_a_storys_signature_lines_commit_as_one_pair_per_key(tmp_path: Path) -> None:
    from transforms.dedup_claims import Claim

    state = tmp_path / "state"
    claim = Claim("a" * 16, "a" * 16, 1000 * DAY).encode()
    record = signature_lines(((b"\xfekey-url", b"\x00band", b"\x01band"), claim, "http://a/1"))
    assert len(record.splitlines()) == 3  # WriteToText adds the last newline
    pending(state, "signatures-00000-of-00001", [record])

    commit_run_state(str(state), {}, set(), 7 * DAY, now=1000 * DAY)

    assert sorted(load_signatures(str(state), 7 * DAY, now=1000 * DAY)) == [
        (b"\x00band", claim),
        (b"\x01band", claim),
        (b"\xfekey-url", claim),
    ]


def test_a_story_whose_entry_is_retried_leaves_no_signature(tmp_path: Path) -> None:
    """Its publishing failed retryably: the next run fetches it again and must not find it
    remembered (as its own duplicate); the other story's signature is kept."""
    state = tmp_path / "state"
    sent = Claim("a" * 16, "a" * 16, 1000 * DAY).encode()
    failed = Claim("b" * 16, "b" * 16, 1000 * DAY).encode()
    lines = [signature_lines(((b"ka",), sent, "http://a/1"))]
    lines.append(signature_lines(((b"kb", b"band"), failed, "http://b/2")))
    pending(state, "signatures-00000-of-00001", lines)

    commit_run_state(str(state), {}, {"http://b/2"}, 7 * DAY, now=1000 * DAY)

    assert load_signatures(str(state), 7 * DAY, now=1000 * DAY) == [(b"ka", sent)]


def test_seen_entries_expire_after_the_ttl(tmp_path: Path) -> None:
    state = tmp_path / "state"
    commit_run_state(str(state), {"old": 1 * DAY, "new": 9 * DAY}, set(), 7 * DAY, now=10 * DAY)
    assert read_seen(str(state), 7 * DAY, now=10 * DAY).seen == {"new": 9 * DAY}
    assert read_seen(str(state), 7 * DAY, now=20 * DAY).seen == {}


def test_a_new_entry_line_does_not_move_a_remembered_time(tmp_path: Path) -> None:
    """Only a skipped entry (seen_again) or an unchanged feed moves a remembered time."""
    state = tmp_path / "state"
    entry = FeedEntry(feed_url="f", link="http://a.example/1", key="k")
    pending(state, "seen-0", [seen_line(entry)])
    commit_run_state(str(state), {"k": 5 * DAY}, set(), 7 * DAY, now=6 * DAY)
    row = json.loads((state / "seen.jsonl").read_text())
    assert row == {"key": "k", "seen_at": 5 * DAY, "feed_url": "f"}


def test_an_entry_seen_again_is_remembered_from_this_run(tmp_path: Path) -> None:
    """A key a run skipped as seen is remembered from the run's time; one it skipped that
    has since expired (a run longer than what is left of its TTL) is not brought back."""
    state = tmp_path / "state"
    again = FeedEntry(feed_url="f", link="http://a.example/1", key="k")
    expired = FeedEntry(feed_url="f", link="http://a.example/2", key="gone")
    pending(state, f"{PENDING_SEEN_AGAIN}-0", [seen_line(again), seen_line(expired)])
    before = {"k": 1 * DAY, "gone": 0.5 * DAY, "other": 2 * DAY}
    commit_run_state(str(state), before, set(), 7 * DAY, now=7.8 * DAY)
    assert read_seen(str(state), 7 * DAY, now=7.8 * DAY).seen == {"k": 7.8 * DAY, "other": 2 * DAY}


def test_an_unchanged_feeds_entries_are_remembered_from_this_run(tmp_path: Path) -> None:
    """A feed whose state comes back with the same body hash (not modified, or the same
    body) still lists what it listed: its entries are remembered from now. A changed feed's
    entries keep their time, and so do entries remembered without their feed (an older
    seen.jsonl)."""
    state = tmp_path / "state"
    quiet = FeedState("http://a.example/rss", etag='"v1"', body_sha256="aaa")
    busy = FeedState("http://b.example/rss", body_sha256="bbb")
    state.mkdir()
    (state / "feeds.json").write_text(json.dumps([vars(quiet), vars(busy)]))
    rows = [("a1", quiet.feed_url), ("b1", busy.feed_url), ("old", None)]
    lines = [{"key": k, "seen_at": 1 * DAY, **({"feed_url": f} if f else {})} for k, f in rows]
    (state / "seen.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines))
    changed = FeedState(busy.feed_url, body_sha256="ccc")
    pending(state, "feeds-0", [feed_state_line(quiet), feed_state_line(changed)])

    before = read_seen(str(state), 7 * DAY, now=7.5 * DAY).seen
    commit_run_state(str(state), before, set(), 7 * DAY, now=7.5 * DAY)

    assert read_seen(str(state), 7 * DAY, now=7.5 * DAY).seen == {
        "a1": 7.5 * DAY,
        "b1": 1 * DAY,
        "old": 1 * DAY,
    }
    assert load_feed_states(str(state)) == {quiet.feed_url: quiet, busy.feed_url: changed}


def test_an_older_state_is_committed_with_the_feeds_this_run_polled(tmp_path: Path) -> None:
    """seen.jsonl without feed_url (an older newsbeam's): an entry a feed listed again gets
    that feed, so an unchanged feed keeps it from then on; feeds.json keeps only the feeds
    this run polled (the older one kept a broken feed's body hash: "not modified" for good)."""
    state = tmp_path / "state"
    state.mkdir()
    kept = FeedState("http://a.example/rss", etag='"v1"', body_sha256="aaa")
    broken = FeedState("http://b.example/rss", body_sha256="bbb")
    (state / "feeds.json").write_text(json.dumps([vars(kept), vars(broken)]))
    lines = [{"key": k, "seen_at": 1 * DAY} for k in ("listed", "gone")]
    (state / "seen.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines))
    assert read_seen(str(state), DAY).without_feeds
    pending(state, "feeds-0", [feed_state_line(kept)])
    again = FeedEntry(feed_url=kept.feed_url, link="http://a.example/1", key="listed")
    pending(state, f"{PENDING_SEEN_AGAIN}-0", [seen_line(again)])

    before = read_seen(str(state), 7 * DAY, now=2 * DAY).seen
    commit_run_state(str(state), before, set(), 7 * DAY, now=2 * DAY)

    assert not read_seen(str(state), DAY).without_feeds
    assert load_feed_states(str(state)) == {kept.feed_url: kept}
    # a later run finds the feed unchanged: its entry is remembered from then, the other not
    pending(state, "feeds-0", [feed_state_line(kept)])
    before = read_seen(str(state), 7 * DAY, now=8.5 * DAY).seen
    commit_run_state(str(state), before, set(), 7 * DAY, now=8.5 * DAY)
    assert read_seen(str(state), 7 * DAY, now=8.5 * DAY).seen == {"listed": 8.5 * DAY}


@pytest.mark.parametrize(
    ("name", "text", "fault"),
    [
        ("feeds.json", "{not json", "Expecting property name"),
        ("feeds.json", '{"feed_url": "u"}', 'a JSON list expected, not {"feed_url": "u"}'),
        ("feeds.json", "[5]", "item 1: a JSON object expected, not 5"),
        ("feeds.json", '[{"etag": "x"}]', "item 1: no 'feed_url'"),
        ("feeds.json", '[{"feed_url": "u", "etga": "x"}]', "item 1: unknown field 'etga'"),
        # valid JSON of the wrong types: every poll then failed with a TypeError
        ("feeds.json", '[{"feed_url": "u", "last_modified": ["x"]}]', "'last_modified' is"),
        ("feeds.json", '[{"feed_url": "u", "body_sha256": 5}]', "'body_sha256' is 5, not a"),
        ("feeds.json", '[{"feed_url": null}]', "'feed_url' is null, not a string"),
        ("feeds.json", '[{"feed_url": "u", "listed_at": "x"}]', "'listed_at' is \"x\", not a"),
        ("seen.jsonl", '{"key": "k"}\n', "line 1: no 'seen_at'"),
        ("seen.jsonl", '\n{"key": "k", "seen_at": "soon"}\n', "line 2: 'seen_at' is \"soon\""),
        ("seen.jsonl", '{"key": 7, "seen_at": 1.0}\n', "'key' is 7, not a string"),
        ("seen.jsonl", '{"key": "k", "seen_at": 1, "feed_url": [1]}\n', "'feed_url' is"),
        ("seen.jsonl", '{"key": "k", "seen_at": Infinity}\n', "not a time in seconds"),
        # found by fuzzing: an integer past a float's range, an OverflowError traceback
        ("seen.jsonl", '{"key": "k", "seen_at": 1' + "0" * 400 + "}\n", "not a time in"),
        ("outlets.jsonl", '{"story_id": "s", "domains": [], "at": -1' + "0" * 400 + "}", "'at' is"),
        ("seen.jsonl", '["k", 1.0]\n', "line 1: a JSON object expected"),
        ("signatures.jsonl", '{"key": "AA=="}\n', "no 'claim'"),
        # a claim too short to decode: an IndexError traceback
        ("signatures.jsonl", '{"key": "AA==", "claim": "AA=="}\n', "not a story's claim"),
        ("signatures.jsonl", '{"key": "AA==", "claim": "!!!"}\n', "'claim' is \"!!!\", not"),
        ("signatures.jsonl", '{"key": "", "claim": "AA=="}\n', "'key' is \"\", not base64"),
        ("outlets.jsonl", '{"story_id": "s", "domains": ["a.example"]}\n', "no 'at'"),
        ("outlets.jsonl", '{"story_id": "s", "domains": "a.b", "at": 1}\n', "'domains' is"),
        ("outlets.jsonl", '{"story_id": 1, "domains": [], "at": 1}\n', "'story_id' is 1"),
        ("outlets.jsonl", "\xff\n", "can't decode byte 0xff"),
    ],
)
def test_corrupt_state_is_a_clear_error(tmp_path: Path, name: str, text: str, fault: str) -> None:
    (tmp_path / name).write_bytes(text.encode("latin-1"))
    load = {
        "feeds.json": lambda: load_feed_states(str(tmp_path)),
        "seen.jsonl": lambda: read_seen(str(tmp_path), DAY).seen,
        "signatures.jsonl": lambda: load_signatures(str(tmp_path), DAY),
        "outlets.jsonl": lambda: load_story_outlets(str(tmp_path), DAY),
    }[name]
    with pytest.raises(StateDirError) as caught:
        load()
    message = str(caught.value)
    assert message.startswith(f"cannot read {tmp_path / name}: ")
    advice = {  # feeds.json: its validators alone; a JSON Lines file: the line first
        "feeds.json": "still skips the entries seen.jsonl remembers)",
        "line": "(delete that line, or the file to start afresh)",
    }
    where = "feeds.json" if name == "feeds.json" else "line" if ": line " in message else ""
    assert fault in message and message.endswith(advice.get(where, "(delete it to start afresh)"))
    assert "\n" not in message


def test_a_claim_decoded_from_the_signatures_file_is_checked_with_its_key(
    tmp_path: Path,
) -> None:
    # A good row, then one whose claim is not one: the error names the second line.
    good = signature_line((b"k1", _claim(9 * DAY)))
    bad = signature_line((b"k2", b"\x01\x05ab"))  # an id longer than the claim
    (tmp_path / "signatures.jsonl").write_text(f"{good}\n{bad}\n")
    with pytest.raises(StateDirError, match=r"signatures\.jsonl: line 2: 'claim' is not a"):
        load_signatures(str(tmp_path), DAY, now=9 * DAY)


def _claim(seen_at: float, story: str = "a") -> bytes:
    return Claim(story * 16, story * 16, seen_at).encode()


def test_a_later_run_keeps_what_earlier_runs_remembered(tmp_path: Path) -> None:
    """Feeds not polled this run, earlier signatures and every pending shard all survive."""
    state = tmp_path / "state"
    old = FeedState("http://a.example/rss", etag='"v1"')
    other = FeedState("http://c.example/rss", etag='"c1"')
    (state / PENDING_DIR).mkdir(parents=True)
    (state / "feeds.json").write_text(json.dumps([vars(old), vars(other)]))
    (state / "signatures.jsonl").write_text(signature_line((b"k1", _claim(9 * DAY))) + "\n")
    new = FeedState(old.feed_url, etag='"v2"')
    pending(state, "feeds-00000-of-00002", [feed_state_line(new)])
    pending(state, "feeds-00001-of-00002", [])
    entries = [FeedEntry("f", f"http://b.example/{n}", f"k{n}") for n in range(2)]
    pending(state, "seen-00000-of-00002", [seen_line(entries[0]), ""])
    pending(state, "seen-00001-of-00002", [seen_line(entries[1])])
    pending(state, "signatures-00001-of-00002", [signature_line((b"k2", _claim(10 * DAY, "b")))])

    commit_run_state(str(state), {}, set(), 7 * DAY, now=10 * DAY)

    assert load_feed_states(str(state)) == {old.feed_url: new, other.feed_url: other}
    assert read_seen(str(state), 7 * DAY, now=10 * DAY).seen == {"k0": 10 * DAY, "k1": 10 * DAY}
    assert sorted(load_signatures(str(state), 7 * DAY, now=10 * DAY)) == [
        (b"k1", _claim(9 * DAY)),
        (b"k2", _claim(10 * DAY, "b")),
    ]


def test_the_earliest_claim_of_a_key_is_the_one_remembered(tmp_path: Path) -> None:
    """Two first stories under one key: the earliest holds it, as in the running clustering."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "signatures.jsonl").write_text(signature_line((b"k", _claim(9 * DAY))) + "\n")
    later, earlier = _claim(10 * DAY, "b"), _claim(8 * DAY, "c")
    pending(state, "signatures-00000-of-00001", [signature_line((b"k", later))])
    commit_run_state(str(state), {}, set(), 7 * DAY, now=10 * DAY)
    assert load_signatures(str(state), 7 * DAY, now=10 * DAY) == [(b"k", _claim(9 * DAY))]
    pending(state, "signatures-00000-of-00001", [signature_line((b"k", earlier))])
    commit_run_state(str(state), {}, set(), 7 * DAY, now=10 * DAY)
    assert load_signatures(str(state), 7 * DAY, now=10 * DAY) == [(b"k", earlier)]


def test_expired_seen_entries_and_signatures_leave_the_files(tmp_path: Path) -> None:
    """An entry exactly one TTL old is kept; an older one is dropped from the file itself."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "signatures.jsonl").write_text(
        "\n".join(
            signature_line((k, _claim(t))) for k, t in [(b"old", 2 * DAY), (b"edge", 3 * DAY)]
        )
        + "\n\n"
    )
    seen = {"old": 2 * DAY, "edge": 3 * DAY}
    commit_run_state(str(state), seen, set(), 7 * DAY, now=10 * DAY)
    assert [
        json.loads(line)["key"] for line in (state / "seen.jsonl").read_text().splitlines()
    ] == ["edge"]
    assert [key for key, _ in load_signatures(str(state), 7 * DAY, now=10 * DAY)] == [b"edge"]
    assert read_seen(str(state), 7 * DAY, now=10 * DAY).seen == {"edge": 3 * DAY}
    assert load_signatures(str(state), 7 * DAY, now=10 * DAY + 1) == []


YEAR_2100 = 4102444800.0  # 2100-01-01, as a clock set far ahead stamps it


def test_a_time_after_the_clock_is_read_as_the_clocks(tmp_path: Path) -> None:
    # A run under a clock set to 2100 wrote its stamps; they kept an entry suppressed, a claim
    # holding its keys and a story's outlets remembered until 2100 (any later TTL).
    state = tmp_path / "state"
    state.mkdir()
    (state / "seen.jsonl").write_text(
        json.dumps({"key": "ahead", "seen_at": YEAR_2100, "feed_url": "f"})
        + "\n"
        + json.dumps({"key": "past", "seen_at": 9 * DAY, "feed_url": "f"})
        + "\n"
    )
    (state / "signatures.jsonl").write_text(signature_line((b"k", _claim(YEAR_2100))) + "\n")
    (state / "outlets.jsonl").write_text(
        json.dumps({"story_id": "s", "domains": ["wire.example"], "at": YEAR_2100}) + "\n"
    )
    now = 10 * DAY
    assert read_seen(str(state), 7 * DAY, now=now).seen == {"ahead": now, "past": 9 * DAY}
    assert load_signatures(str(state), 7 * DAY, now=now) == [(b"k", _claim(now))]
    assert load_story_outlets(str(state), 7 * DAY, now=now) == {"s": ("wire.example",)}
    # the run commits them as its own time: a TTL later they are forgotten
    seen = read_seen(str(state), 7 * DAY, now=now).seen
    commit_run_state(str(state), seen, set(), 7 * DAY, now=now)
    later = now + 7 * DAY + 1
    assert read_seen(str(state), 7 * DAY, now=later).seen == {}
    assert load_signatures(str(state), 7 * DAY, now=later) == []
    assert load_story_outlets(str(state), 7 * DAY, now=later) == {}


def test_a_remembered_claim_stamped_after_the_clock_still_holds_its_key(tmp_path: Path) -> None:
    # Stamped in 2100, the earlier run's claim sorted after this run's copy of its story, so
    # the copy was told of no earlier story and passed as new.
    state = tmp_path / "state"
    state.mkdir()
    prior = _claim(YEAR_2100, "p")
    (state / "signatures.jsonl").write_text(signature_line((b"k", prior)) + "\n")
    now = 10 * DAY
    ((key, remembered),) = load_signatures(str(state), 7 * DAY, now=now)
    copy = _claim(now + 60, "c")
    answers = list(key_answers(key, [(PRIOR_RUN, remembered, None), ("copy", copy, None)], DAY))
    assert answers == [("copy", ("found", b"k", remembered))]
    assert Claim.decode(remembered).story_id == "p" * 16


def test_a_run_with_nothing_to_remember_creates_a_nested_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "runs" / "monitor" / "state"
    commit_run_state(str(state), {}, set(), DAY, now=DAY)
    assert load_feed_states(str(state)) == {}
    assert sorted(p.name for p in state.iterdir()) == [
        "feeds.json",
        "seen.jsonl",
        "signatures.jsonl",
    ]


@pytest.mark.pipeline
def test_skip_seen_entries_matches_entry_keys_not_links() -> None:
    seen = FeedEntry("f", "http://a.example/1", key="k-seen")
    new = FeedEntry("f", "k-seen-link", key="k-new")  # its link happens to equal a seen key
    options = PipelineOptions(RUNNER_ARGS)
    with TestPipeline(options=options) as p:
        out = p | beam.Create([seen, new]) | SkipSeenEntries(frozenset({"k-seen", "k-seen-link"}))
        assert_that(out[OK] | beam.Map(lambda e: e.key), equal_to(["k-new"]), label="ok")
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: (d.stage, d.key, d.reason)),
            equal_to([("state", "http://a.example/1", "seen_in_earlier_run")]),
            label="discarded",
        )


@pytest.mark.pipeline
def test_skip_seen_entries_reports_the_entries_it_skipped_when_asked() -> None:
    """For the state directory (one-shot runs): each skipped entry also leaves on SEEN_AGAIN."""
    seen = FeedEntry("f", "http://a.example/1", key="k-seen")
    new = FeedEntry("f", "http://a.example/2", key="k-new")
    options = PipelineOptions(RUNNER_ARGS)
    with TestPipeline(options=options) as p:
        skip = SkipSeenEntries(frozenset({"k-seen"}), report_seen_again=True)
        out = p | beam.Create([seen, new]) | skip
        assert_that(out[OK] | beam.Map(lambda e: e.key), equal_to(["k-new"]), label="ok")
        again = out[SEEN_AGAIN] | beam.Map(lambda e: e.key)
        assert_that(again, equal_to(["k-seen"]), label="again")
        assert_that(out[DISCARDED] | beam.combiners.Count.Globally(), equal_to([1]), label="d")


def test_the_outlets_of_each_first_story_add_up_across_runs_and_expire(tmp_path: Path) -> None:
    # What a later run's syndication update starts from: every outlet earlier runs saw carry
    # the story, kept a TTL from the last one added.
    state = tmp_path / "state"
    assert load_story_outlets(str(state), DAY) == {}
    sightings = [("s1", ("head", "wire.example")), ("s1", ("copy", "daily.example"))]
    sightings += [("s2", ("head", "other.example"))]
    pending(state, "outlets-00000-of-00001", [sighting_line(s) for s in sightings])
    commit_run_state(str(state), {}, set(), DAY, now=1000.0)
    assert load_story_outlets(str(state), DAY, now=1000.0) == {
        "s1": ("daily.example", "wire.example"),
        "s2": ("other.example",),
    }
    # Half a day later s1 gains an outlet (remembered a TTL from then); s2 gains none.
    pending(state, "outlets-00000-of-00001", [sighting_line(("s1", ("copy", "weekly.example")))])
    commit_run_state(str(state), {}, set(), DAY, now=1000.0 + 0.5 * DAY)
    later = 1000.0 + 1.2 * DAY  # past s2's TTL, within s1's
    assert load_story_outlets(str(state), DAY, now=later) == {
        "s1": ("daily.example", "weekly.example", "wire.example")
    }
    commit_run_state(str(state), {}, set(), DAY, now=later)
    assert len((state / "outlets.jsonl").read_text().splitlines()) == 1  # s2 left the file


COMMIT_UNDER_A_FILE_SIZE_LIMIT = """
import json, resource, signal, sys
from transforms.state import commit_run_state
state, limit = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    commit_run_state(state, {}, set(), 7 * 86400.0, now=1000 * 86400.0)
except OSError as exc:
    print(exc.strerror)
"""


def test_a_commit_that_cannot_write_every_file_replaces_none(tmp_path: Path) -> None:
    # Each file was written and put in place in turn: a full disk (or a kill) between two
    # of them left feeds.json new and seen.jsonl old, and the next run, told "not modified",
    # never remembered the new entries. Every file is now written beside its target first.
    state = tmp_path / "state"
    state.mkdir()
    (state / "seen.jsonl").write_text('{"key": "old", "seen_at": 86400000.0, "feed_url": ""}\n')
    (state / "feeds.json").write_text("[]")
    feed = FeedState("http://a.example/rss", etag='"v1"', body_sha256="abc")
    entries = [FeedEntry(feed.feed_url, f"http://a.example/{i}", f"k{i}") for i in range(400)]
    pending(state, "seen-00000-of-00001", [seen_line(e) for e in entries])
    pending(state, "feeds-00000-of-00001", [feed_state_line(feed)])
    claim = Claim("a" * 16, "a" * 16, 1000 * DAY).encode()
    pending(state, "signatures-00000-of-00001", [signature_line((b"key", claim))])
    before = {p.name: p.read_text() for p in state.iterdir() if p.is_file()}
    # Room for the small files (signatures.jsonl, feeds.json), not for the new seen.jsonl.
    limit = 2_000
    done = fresh_python_prints_argv(COMMIT_UNDER_A_FILE_SIZE_LIMIT, str(state), str(limit))
    assert done.strip() == "File too large"
    assert {p.name: p.read_text() for p in state.iterdir() if p.is_file()} == before
    assert (state / PENDING_DIR).is_dir()  # kept: nothing was merged
    commit_run_state(str(state), {}, set(), 7 * DAY, now=1000 * DAY)  # room again: all of it
    assert len(read_seen(str(state), 7 * DAY, now=1000 * DAY).seen) == 400
    assert load_feed_states(str(state)) == {feed.feed_url: feed}
    assert len(load_signatures(str(state), 7 * DAY, now=1000 * DAY)) == 1


def _pending_for_every_file(state: Path) -> None:
    """Pending lines for all four state files: a feed, its entry, a signature, an outlet."""
    feed = FeedState("http://a.example/rss", etag='"v1"', body_sha256="abc")
    pending(state, "feeds-00000-of-00001", [feed_state_line(feed)])
    pending(
        state,
        "seen-00000-of-00001",
        [seen_line(FeedEntry(feed.feed_url, "http://a.example/1", "k1"))],
    )
    claim = Claim("a" * 16, "a" * 16, 1000 * DAY).encode()
    pending(state, "signatures-00000-of-00001", [signature_line((b"key", claim))])
    pending(state, "outlets-00000-of-00001", [sighting_line(("a" * 16, ("head", "a.example")))])


IN_PLACE_ORDER = ["signatures.jsonl", "outlets.jsonl", "seen.jsonl", "feeds.json"]


def test_the_commit_puts_the_stories_first_then_seen_and_feeds_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run killed (SIGKILL) between two renames must leave stories remembered whose entries
    # are fetched again, never entries skipped as seen whose stories nobody remembers (seen
    # was first: a copy of them on another site was published as new); and entries
    # remembered under feeds that are fetched again, never feeds "not modified" whose new
    # entries nobody remembers: feeds.json is put in place last. Path.replace is wrapped to
    # note each rename's target (and then rename as before).
    state = tmp_path / "state"
    _pending_for_every_file(state)
    renamed: list[tuple[str, str]] = []
    replace = Path.replace

    def noting_replace(self: Path, target: str | os.PathLike[str]) -> Path:
        renamed.append((self.name, Path(target).name))
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", noting_replace)
    commit_run_state(str(state), {}, set(), DAY, now=1000 * DAY)
    assert renamed == [(f"{name}.tmp", name) for name in IN_PLACE_ORDER]
    assert sorted(p.name for p in state.iterdir()) == sorted(IN_PLACE_ORDER)


def _release_locks_taken_since(before: set[str]) -> None:
    """Give back the state-directory locks this process took since ``before``: closing the
    descriptor releases the flock. ``lock_state_dir`` holds its lock until
    ``pipelines.monitor.run`` gives it back (``release_folder``), or the process ends."""
    for root in set(folder_locks._held_locks) - before:
        os.close(folder_locks._held_locks.pop(root))


@pytest.fixture
def release_state_locks() -> Iterator[None]:
    """Locks the test takes in the pytest process are released when it ends."""
    before = set(folder_locks._held_locks)
    yield
    _release_locks_taken_since(before)


HOLD_THE_LOCK = """
import sys
from transforms.folder_locks import lock_folder
from transforms.state import lock_state_dir
folder, flag = sys.argv[1:]
lock_state_dir(folder) if flag == "--state-dir" else lock_folder(folder, flag)
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@contextlib.contextmanager
def lock_held_by_another_process(
    folder: Path, flag: str = "--state-dir"
) -> Iterator[subprocess.Popen[str]]:
    """A process that has taken ``folder``'s lock as ``flag`` (HOLD_THE_LOCK: a state
    directory's with ``lock_state_dir``), until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(folder), flag],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.communicate("", timeout=60)


@pytest.mark.usefixtures("release_state_locks")
def test_one_run_at_a_time_holds_a_state_dir_and_clears_what_a_killed_run_left(
    tmp_path: Path,
) -> None:
    # Two runs on one state directory each merged their pending files into the other's:
    # one crashed on a folder the other had removed, the other lost its seen entries.
    state = tmp_path / "state"
    (state / PENDING_DIR / "beam-temp-seen-1234").mkdir(parents=True)
    (state / PENDING_DIR / "beam-temp-seen-1234" / "shard").write_text("half")
    with lock_held_by_another_process(state) as holder:
        assert not (state / PENDING_DIR).exists()  # what a killed run left: cleared
        with pytest.raises(
            FolderInUse, match=rf"in use by another newsbeam run \(pid {holder.pid}\)"
        ):
            lock_state_dir(str(state))
    before = set(folder_locks._held_locks)
    lock_state_dir(str(state))  # the first run has ended: free
    lock_state_dir(str(state))  # this process holds it already: no-op
    _release_locks_taken_since(before)  # as the process's end would
    with lock_held_by_another_process(state):  # released: another process takes it
        pass


@pytest.mark.usefixtures("release_state_locks")
def test_an_output_folder_is_held_by_one_run_apart_from_its_state_dir_lock(
    tmp_path: Path,
) -> None:
    # Two runs on one --output each cleared and rewrote the other's files: the first
    # reported stories the file no longer held, and its state recorded them as done.
    with lock_held_by_another_process(tmp_path, "--output") as holder:
        assert (tmp_path / ".output.lock").read_text() == f"{holder.pid}\n"
        with pytest.raises(
            FolderInUse,
            match=rf"^--output {tmp_path} is in use by another newsbeam run "
            rf"\(pid {holder.pid}\): give this run another --output, or wait",
        ):
            lock_folder(str(tmp_path), "--output")
        # The same folder as another run's state directory is no conflict: its own lock.
        assert lock_folder(str(tmp_path), "--state-dir")
    assert lock_folder(str(tmp_path), "--output")  # the first run has ended: free
    assert not lock_folder(str(tmp_path), "--output")  # held by this process: no-op
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", ".output.lock"]


@pytest.mark.usefixtures("release_state_locks")
@pytest.mark.parametrize("flag", ["--state-dir", "--output"])
@pytest.mark.parametrize("kind", ["folder", "link"])
def test_a_lock_file_that_is_not_a_file_is_a_one_line_error(
    tmp_path: Path, flag: str, kind: str
) -> None:
    # A folder at <state>/.lock gave an IsADirectoryError traceback; a link was followed
    # (and the file it named emptied for the pid).
    lock = tmp_path / (".lock" if flag == "--state-dir" else ".output.lock")
    if kind == "folder":
        lock.mkdir()
    else:
        (tmp_path / "elsewhere").write_text("someone's file\n")
        lock.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(
        FolderLockError,
        match=rf"^{flag} {tmp_path}: cannot take its lock {lock.name} "
        rf"\(it is a {kind}, not a file: delete it\)$",
    ):
        lock_folder(str(tmp_path), flag)
    if kind == "link":
        assert (tmp_path / "elsewhere").read_text() == "someone's file\n"


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_a_file_system_that_refuses_file_locks_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some network file systems answer flock with ENOLCK, not "already locked": that was a
    # traceback. Not reproducible on a local disk: the failure is injected into flock.
    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(folder_locks.fcntl, "flock", refuse)
    before = _open_descriptors()
    with pytest.raises(
        FolderLockError,
        match=rf"^--state-dir {tmp_path}: cannot lock \.lock \(No locks available\): this "
        r"file system may not support file locks; give a folder on a local disk$",
    ):
        lock_folder(str(tmp_path), "--state-dir")
    assert _open_descriptors() == before  # the lock file's descriptor is closed
    monkeypatch.undo()
    assert lock_folder(str(tmp_path), "--state-dir")  # not noted as held: taken now
    folder_locks.release_folder(str(tmp_path), "--state-dir")


def test_a_lock_whose_pid_cannot_be_written_is_held_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A full disk: ftruncate works, the pid's write does not (injected: ENOSPC). That was a
    # traceback; the lock is held all the same and the run goes on.
    write = os.write

    def full(fd: int, data: bytes) -> int:
        if data == f"{os.getpid()}\n".encode():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write(fd, data)

    monkeypatch.setattr(folder_locks.os, "write", full)
    try:
        assert lock_folder(str(tmp_path), "--output")
        assert "cannot write this run's pid into .output.lock (No space left on device)" in (
            caplog.text
        )
        other = (
            "import sys; from transforms.folder_locks import lock_folder; "
            "lock_folder(sys.argv[1], '--output')"
        )
        done = subprocess.run(
            [sys.executable, "-c", other, str(tmp_path)], capture_output=True, text=True, cwd=REPO
        )
        assert "is in use by another newsbeam run (pid unknown)" in done.stderr  # held
    finally:
        folder_locks.release_folder(str(tmp_path), "--output")


@pytest.mark.usefixtures("release_state_locks")
def test_a_file_where_the_pending_folder_goes_is_removed_when_the_lock_is_taken(
    tmp_path: Path,
) -> None:
    # The run then failed with a Beam traceback ("Not a directory") in its first sink.
    (tmp_path / PENDING_DIR).write_text("not a folder")
    lock_state_dir(str(tmp_path))
    assert not (tmp_path / PENDING_DIR).exists()


SIGTERM_DURING_THE_RENAMES = """
import json, os, signal, sys
from pathlib import Path
from transforms.state import commit_run_state
state = Path(sys.argv[1])
targets = sys.argv[2:]
renames = []
handled = []
def note(signum, frame):
    in_place = [t for t in targets if (state / t).exists()]
    handled.append({"renames": len(renames), "in_place": in_place})
signal.signal(signal.SIGTERM, note)
replace = Path.replace
def replace_then_terminate(self, target):
    done = replace(self, target)
    renames.append(Path(target).name)
    if len(renames) == 1:
        os.kill(os.getpid(), signal.SIGTERM)  # as a stop request would, after the first rename
        for _ in range(1_000_000):  # a handler that can run, runs within this loop
            if handled:
                break
    return done
Path.replace = replace_then_terminate
commit_run_state(str(state), {}, set(), 86400.0, now=1000 * 86400.0)
print(json.dumps({"renames": renames, "handled": handled}))
"""


def test_a_sigterm_during_the_commit_is_handled_once_every_file_is_in_place(
    tmp_path: Path,
) -> None:
    # A stop request's handler (which ends the process at once, as newsbeam's does) never
    # runs between two renames. The signal is sent by the process to itself right after the
    # first rename; the handler notes which files are in place when it runs. Blocking the
    # signals in the main thread's mask, as the commit did, did not hold them back: Python
    # runs handlers in the main thread whichever thread the system delivers a signal to.
    state = tmp_path / "state"
    _pending_for_every_file(state)
    out = fresh_python_prints_argv(SIGTERM_DURING_THE_RENAMES, str(state), *IN_PLACE_ORDER)
    report = json.loads(out)
    assert report["renames"] == IN_PLACE_ORDER
    assert report["handled"] == [{"renames": 4, "in_place": IN_PLACE_ORDER}]


def test_a_state_file_that_cannot_be_read_is_not_called_damaged(tmp_path: Path) -> None:
    # An unreadable file (its permissions, the disk; here a folder in its place) was
    # "cannot read ...: [Errno 13] ... (delete it to start afresh)": deleting a sound file
    # forgets what it holds.
    (tmp_path / "seen.jsonl").mkdir()
    with pytest.raises(StateDirError) as caught:
        read_seen(str(tmp_path), DAY)
    assert str(caught.value) == f"cannot read {tmp_path / 'seen.jsonl'}: Is a directory"


def test_all_forgotten_speaks_only_when_every_remembered_entry_is_past_the_ttl(
    tmp_path: Path,
) -> None:
    """None for a first run and for a state with one entry still within the TTL; a message
    naming how long ago the newest entry was seen, and the TTL, when none is."""
    state = tmp_path / "state"
    state.mkdir()
    assert all_forgotten(str(state), read_seen(str(state), 7 * DAY), 7 * DAY) is None
    rows = [{"key": "old", "seen_at": 1 * DAY, "feed_url": "f"}]
    rows.append({"key": "new", "seen_at": 3 * DAY + 7200, "feed_url": "f"})
    (state / "seen.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    def note(now: float, ttl: float) -> str | None:
        return all_forgotten(str(state), read_seen(str(state), ttl, now), ttl, now)

    assert note(now=10 * DAY + 7200, ttl=7 * DAY) is None  # "new" is just within it
    assert note(now=10 * DAY + 7201, ttl=7 * DAY) == (
        f"the newest entry remembered in {state} was seen 7 days ago, longer ago than "
        "--dedup-ttl (7 days): all are forgotten, so the stories a changed feed still lists "
        "are published again (a longer --dedup-ttl keeps them)"
    )
    assert "seen 8.5 days ago, longer ago than --dedup-ttl (1 hour)" in str(
        note(now=11.5 * DAY + 7200, ttl=3600)
    )
    assert "seen 1.5 hours ago, longer ago than --dedup-ttl (59 minutes)" in str(
        note(now=3 * DAY + 7200 + 5400, ttl=3540)
    )
