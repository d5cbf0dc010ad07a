"""The throughput benchmark's floor: every page through the real Beam runner and pool, once.

The floor (``benchmarks.throughput_floor``) is timed against the extraction ceiling; these
tests hold it to the same work: it must extract what the ceiling's call extracts from the
same pages, each page once, across several of the pool's tasks; so must the floor whose pool
is newsbeam's AnalysePages.
"""

from __future__ import annotations

import gzip
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.throughput_workers import MIN_CHARS, decode_and_extract
from tests.conftest import article_html

REPO = Path(__file__).resolve().parents[1]
SENTENCE = "The regulator fined the platform for moving user data abroad without consent. "


def _pages(n: int) -> list[tuple[str, bytes]]:
    """``n`` pages; every third too short to count as an article."""
    pages = []
    for i in range(n):
        text = f"Story {i} opens here. " + SENTENCE * (1 if i % 3 == 0 else 8)
        html = article_html(f"Story {i}", text, f"/news/story-{i}.html")
        pages.append((f"http://127.0.0.1/news/story-{i}.html", gzip.compress(html)))
    return pages


@pytest.mark.parametrize("flags", [[], ["--analyse"]], ids=["extraction", "AnalysePages"])
def test_the_floor_extracts_every_page_once_as_the_ceilings_call_does(
    tmp_path: Path, flags: list[str]
) -> None:
    """Extraction alone, or newsbeam's AnalysePages (which sets the short pages aside as
    too short, and must still account for them)."""
    pages = _pages(70)  # more than two tasks of 32 pages
    pages_file = tmp_path / "pages.pkl"
    pages_file.write_bytes(pickle.dumps(pages))
    lengths = decode_and_extract(pages)
    expected = sum(n >= MIN_CHARS for n in lengths)
    assert 0 < expected < len(pages)  # both kinds of page are there
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.throughput_workers", "floor", *flags]
        + ["--pages", str(pages_file), "--processes", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["articles"], result["attempted"]) == (expected, len(pages))
    assert result["results"] == len(pages)
    assert result["seconds"] > 0
