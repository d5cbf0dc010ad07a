"""The run summary: counters to summary.json, the invariant, and the text for people."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.summary import summary_from_counters


def test_summary_shape_and_invariant(tmp_path: Path) -> None:
    counters = {
        "entries": 10,
        "published": 3,
        "discarded:not_relevant": 4,
        "discarded:duplicate_url": 1,
        "failed:fetch/http_404": 2,
        "feed_failed:poll/malformed_feed": 1,
        "feeds_polled": 4,
        "tag:platform:tiktok": 2,
        "outlet_country:CN": 1,
        "outlet_state:SC": 1,
    }
    summary = summary_from_counters(counters, str(tmp_path))
    assert summary.balanced
    summary.write(tmp_path / "summary.json")
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["entries"] == 10 and data["published"] == 3
    assert data["discarded"] == {"duplicate_url": 1, "not_relevant": 4}
    assert data["failed"] == {"fetch/http_404": 2}
    assert data["feeds"]["failed"] == {"poll/malformed_feed": 1}
    assert data["outlets"]["state_affiliation"] == {"SC": 1}
    text = summary.render()
    assert "entries: 10  published: 3  discarded: 5  failed: 2" in text
    assert "platform:tiktok 2" in text


def test_unbalanced_summary_says_so() -> None:
    summary = summary_from_counters({"entries": 5, "published": 3})
    assert not summary.balanced
    assert "UNBALANCED" in summary.render()
