"""Shared fixtures: the third-party corpus, loopback sites, and pipeline runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.loopback import LoopbackSite

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_path(*parts: str) -> Path:
    """A path in ../shared/corpus; skips the calling test with a reason when it is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party corpus not found at {path} (CI always has it)")
    return path


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    """A fresh loopback news site; hosts are added by the test."""
    with LoopbackSite() as s:
        yield s
