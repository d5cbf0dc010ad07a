"""Which steps the graph has, by flags: the per-page stages and the local Reshuffles."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam

from pipelines.monitor import build, prepare
from transforms.pool_start import pool_flags_given


def labels(tmp_path: Path, *flags: str) -> set[str]:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/rss\n")
    options, config = prepare(["--feeds", str(feeds), "--output", str(tmp_path / "out"), *flags])
    pipeline = beam.Pipeline(options=options)
    build(pipeline, config)
    proto = pipeline.to_runner_api()
    return {t.unique_name.split("/")[0] for t in proto.components.transforms.values()}


PER_PAGE_STAGES = {"ExtractArticles", "EnrichArticles", "TagStories"}
SPREADS = {"SpreadEntries", "SpreadStories"}


def test_one_local_worker_runs_the_three_stages_without_reshuffles(tmp_path: Path) -> None:
    steps = labels(tmp_path)
    assert steps >= PER_PAGE_STAGES
    assert "AnalysePages" not in steps
    assert not SPREADS & steps


def test_several_local_workers_get_the_reshuffles(tmp_path: Path) -> None:
    steps = labels(tmp_path, "--direct_num_workers", "2")
    assert steps >= SPREADS


def test_a_process_pool_replaces_the_three_stages_with_one(tmp_path: Path) -> None:
    steps = labels(tmp_path, "--extract-processes", "2")
    assert "AnalysePages" in steps
    assert not PER_PAGE_STAGES & steps


def test_streaming_never_reshuffles(tmp_path: Path) -> None:
    steps = labels(tmp_path, "--streaming", "--direct_num_workers", "2")
    assert not SPREADS & steps


def test_the_fork_server_starts_early_only_where_the_pool_will_run() -> None:
    assert pool_flags_given(["--feeds", "f", "--extract-processes", "2"])
    assert pool_flags_given(["--extract_processes=4", "--runner", "FnApiRunner"])
    assert not pool_flags_given(["--feeds", "f"])  # no pool: the stages run in the Beam worker
    assert not pool_flags_given(["--extract-processes", "1"])
    assert not pool_flags_given(["--extract-processes", "two"])  # the real parsing will say
    assert not pool_flags_given(
        ["--extract-processes", "2", "--direct_running_mode", "multi_processing"]
    )
    assert not pool_flags_given(["--extract-processes", "2", "--runner", "DataflowRunner"])
    # threads of this process run the job: the pool runs here too
    assert pool_flags_given(
        ["--extract-processes", "2", "--direct_running_mode", "multi_threading"]
    )
