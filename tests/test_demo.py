"""`newsbeam demo`: the bundled sample site end to end, checked against its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.sample_manifest import load_manifest

pytestmark = pytest.mark.pipeline


def test_demo_accounts_for_every_entry_as_the_manifest_expects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = load_manifest()
    expected = manifest.expected_outcomes()
    syndicated = sum(1 for a in manifest.articles.values() if a.syndication_of)

    assert main(["demo", "--output", str(tmp_path)]) == 0

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["balanced"]
    assert summary["entries"] == sum(expected.values())
    assert summary["published"] == expected["published"] - syndicated
    assert summary["discarded"] == {
        "duplicate": syndicated,
        "duplicate_url": expected["duplicate"],
        "not_html": expected["not_html"],
        "not_relevant": expected["not_relevant"],
    }
    assert summary["failed"] == {"fetch/http_404": expected["dead_link"]}
    assert sum(summary["feeds"]["failed"].values()) == len(manifest.broken_feeds())
    countries = {o.country for o in manifest.outlets.values()}
    assert set(summary["outlets"]["country"]) <= countries
    printed = capsys.readouterr().out
    assert f"entries: {sum(expected.values())}" in printed
    assert "by outlet country:" in printed
