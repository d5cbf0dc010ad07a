"""`newsbeam demo`: the bundled sample site end to end, checked against its manifest."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.sample_manifest import load_manifest
from tests.conftest import REPO

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


def _file_size_limit() -> None:
    """In the child: a regular file may not grow past 3,000 bytes (EFBIG, as a full disk
    fails a write with ENOSPC), and going past the limit is an error, not a signal."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))


def test_a_run_that_cannot_write_its_files_says_so_in_one_line(tmp_path: Path) -> None:
    # A full disk was a Beam traceback of 140 lines (and a Python one after it), exit 1.
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "demo", "--output", str(tmp_path / "out")],
        cwd=REPO, preexec_fn=_file_size_limit, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("newsbeam: error: the run could not write its files: File too large")
    assert "(step " in line and "Write" in line
