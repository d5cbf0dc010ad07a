"""Which steps the graph has, by flags: the per-page stages and the local Reshuffles."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam

from pipelines.monitor import _pool_runs_here, build, prepare


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


def test_the_fork_server_starts_early_only_where_the_pool_will_run(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/rss\n")

    def pool_here(*flags: str) -> bool:
        base = ["--feeds", str(feeds), "--output", str(tmp_path / "out")]
        options, config = prepare([*base, *flags])
        return _pool_runs_here(options, config)

    assert pool_here("--extract-processes", "2")
    assert not pool_here()  # no pool: the three stages run in the Beam worker
    assert not pool_here("--extract-processes", "2", "--direct_running_mode", "multi_processing")
    assert not pool_here("--extract-processes", "2", "--runner", "DataflowRunner")
