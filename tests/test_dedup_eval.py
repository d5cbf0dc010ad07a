"""benchmarks.dedup_eval's state figure: what the clustering's keyed state holds per story.

The target (under 1 KB a story) is about the state a streaming job keeps. It was judged on
``minhash_index.Index``'s keys and claims, without the URL key every fetched page has, the
element id each key keeps beside its claim, or the later stories a key was told of; then on
ClaimPerKey's state, which held the claim under each key (~1.75 KB a story); now each key holds
references (element id and time) and ClaimPerStory the claim, once a story.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from apache_beam.coders import BytesCoder, PickleCoder

from benchmarks import dedup_eval
from tests.test_dedup_pipeline import wire_text
from transforms.dedup_claims import encode_refs, make_claim
from transforms.minhash import DedupParams, fingerprint, lookup_keys

WIRE = ("Regulator fines platform over data", wire_text(1))
UID = "0123456789abcdef/0123456789ab"  # an element id: story id / 12 hex digits
LATER = "fedcba9876543210/ba9876543210"  # another story's


def _keys_and_claim(title: str, text: str) -> tuple[list[bytes], bytes]:
    params = DedupParams()
    fp = fingerprint(title, text, params)
    keys = lookup_keys(fp, "https://site0.example/story/0", params)
    return keys, make_claim("0123456789abcdef", "0123456789abcdef", 0.0, fp).encode()


def test_a_story_too_short_to_judge_by_text_keeps_its_url_key() -> None:
    assert dedup_eval.pipeline_state_bytes([("Brief", "Too short to judge.")]) > 0


def _key_state(*refs: tuple[str, float]) -> int:
    """A lookup key's state naming ``refs``, as its coder encodes it."""
    return len(PickleCoder().encode(encode_refs(refs)))


def _story_state(claim: bytes) -> int:
    """ClaimPerStory's key (the element id) and state (the claim), as encoded."""
    return len(UID.encode()) + len(BytesCoder().encode(claim))


def test_each_key_names_the_story_and_its_claim_is_counted_once() -> None:
    keys, claim = _keys_and_claim(*WIRE)
    assert len(keys) == 18  # the URL key, the text key and 16 bands
    held = _key_state((UID, 0.0))
    assert held == len(PickleCoder().encode(b"")) + 23  # the element id and time
    expected = sum(len(k) for k in keys) + 18 * held + _story_state(claim)
    assert dedup_eval.pipeline_state_bytes([WIRE]) == expected
    assert expected < 1024  # as kept before ClaimPerStory, ~1,860 bytes:
    assert sum(len(k) for k in keys) + 18 * len(PickleCoder().encode((UID, claim, ()))) > 1800


def test_a_copy_adds_itself_to_the_stories_each_key_was_told_of() -> None:
    one = dedup_eval.pipeline_state_bytes([WIRE])
    two = dedup_eval.pipeline_state_bytes([WIRE, WIRE])
    keys, claim = _keys_and_claim(*WIRE)
    # the copy's own URL key, and its claim (it holds that key) ...
    copy_url_key = len(keys[0]) + _key_state((UID, 1.0)) + _story_state(claim)
    told = _key_state((UID, 0.0), (LATER, 1.0)) - _key_state((UID, 0.0))
    assert told == 23
    # ... and itself (element id, time) under the 17 keys it shares
    assert two - one == copy_url_key + 17 * told


def test_the_benchmark_judges_the_target_on_that_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "streams" / "articlemd").mkdir(parents=True)
    (tmp_path / "streams" / "articlemd" / "a.md").write_text(f"# {WIRE[0]}\n## Article:{WIRE[1]}")
    (tmp_path / "streams" / "hn2024").mkdir()
    with gzip.open(tmp_path / "streams" / "hn2024" / "hn2024_en_all.jsonl.gz", "wt") as fh:
        fh.write("")
    (tmp_path / "dedup").mkdir()
    (tmp_path / "dedup" / "near_duplicate_pairs.csv").write_text(
        "a,b,kind\nstreams/articlemd/a.md,streams/articlemd/a.md,near_duplicate\n"
    )
    ((title, text),) = dedup_eval.load_streams(tmp_path).values()
    keys, claim = _keys_and_claim(title, text)

    dedup_eval.main(["--corpus", str(tmp_path), "--sizes", "1", "10"])

    found = re.search(r"state per story < 1024 bytes at 1: (\d+): PASS", capsys.readouterr().out)
    assert found is not None
    held = _key_state((UID, 0.0))
    assert int(found.group(1)) == sum(len(k) for k in keys) + len(keys) * held + _story_state(claim)
