"""Which steps the graph has, by flags, and what each reads: the per-page stages, the local
Reshuffles, publishing, the sinks, and the settings each stage is given.

The graph is built by ``build()`` from the flags (through ``prepare``, as ``newsbeam run``
does) on a pipeline that is not run; its Runner API form tells which top-level step reads
which step's outputs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from deploy.dataflow_graph import OFFLINE_ARGS
from pipelines.monitor import build, prepare
from transforms.analyser import AnalysisSettings
from transforms.pool_start import pool_flags_given

TOPIC = "projects/newsbeam-test/topics/stories"
DEAD_LETTER_TOPIC = "projects/newsbeam-test/topics/dead-letters"


def built(tmp_path: Path, *flags: str) -> beam.Pipeline:
    """The pipeline ``build()`` makes for ``flags`` (one feed, output in ``tmp_path``)."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/rss\n")
    options, config = prepare(["--feeds", str(feeds), "--output", str(tmp_path / "out"), *flags])
    pipeline = beam.Pipeline(options=options)
    build(pipeline, config)
    return pipeline


def graph(tmp_path: Path, *flags: str) -> beam_runner_api_pb2.Pipeline:
    return built(tmp_path, *flags).to_runner_api()


def labels(tmp_path: Path, *flags: str) -> set[str]:
    proto = graph(tmp_path, *flags)
    return {t.unique_name.split("/")[0] for t in proto.components.transforms.values()}


def reads(proto: beam_runner_api_pb2.Pipeline) -> dict[str, set[str]]:
    """Each top-level step: the top-level steps whose outputs it reads."""
    transforms = proto.components.transforms
    (root,) = proto.root_transform_ids
    top = [transforms[t] for t in transforms[root].subtransforms]
    producer = {pcoll: t.unique_name for t in top for pcoll in t.outputs.values()}
    return {t.unique_name: {producer[p] for p in t.inputs.values()} for t in top}


def dofns(pipeline: beam.Pipeline) -> dict[str, Any]:
    """The DoFn of each ParDo in the graph, by the ParDo's full label."""
    found: dict[str, Any] = {}

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, applied: Any) -> None:
            if isinstance(applied.transform, beam.ParDo):
                found[applied.full_label] = applied.transform.fn

    pipeline.visit(Visitor())
    return found


def dofn(pipeline: beam.Pipeline, prefix: str) -> Any:
    (fn,) = [fn for label, fn in dofns(pipeline).items() if label.startswith(prefix)]
    return fn


def fns_with(pipeline: beam.Pipeline, attribute: str) -> dict[str, Any]:
    """The value of ``attribute`` in each DoFn that has it, by the DoFn's ParDo label."""
    found = dofns(pipeline).items()
    return {label: getattr(fn, attribute) for label, fn in found if hasattr(fn, attribute)}


def labels_below(tmp_path: Path, step: str, *flags: str) -> set[str]:
    """The unique names of ``step`` and the transforms in it."""
    names = (t.unique_name for t in graph(tmp_path, *flags).components.transforms.values())
    return {n for n in names if n == step or n.startswith(f"{step}/")}


PER_PAGE_STAGES = {"ExtractArticles", "EnrichArticles", "TagStories"}
SPREADS = {"SpreadEntries", "SpreadStories"}
# The steps before the per-page ones and after them: each gives failures and discards.
BEFORE = ["PollFeeds", "DedupEntries", "SkipSeenEntries", "FetchArticles"]
AFTER = ["ClusterStories"]


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


def test_a_remote_runner_gets_no_local_reshuffles(tmp_path: Path) -> None:
    """Dataflow shuffles between stateful steps anyway; --direct_num_workers is the local
    runner's (a launcher machine's CPUs must not add steps to the job)."""
    steps = labels(tmp_path, *OFFLINE_ARGS, "--direct_num_workers", "2")
    assert not SPREADS & steps


@pytest.mark.parametrize(
    ("flags", "per_page"),
    [
        ((), ["ExtractArticles", "EnrichArticles", "TagStories"]),
        (("--extract-processes", "2"), ["AnalysePages"]),
    ],
    ids=["in-worker", "process-pool"],
)
def test_each_stage_reads_the_one_before_and_every_stage_ends_in_the_sinks(
    tmp_path: Path, flags: tuple[str, ...], per_page: list[str]
) -> None:
    """The stages in a row, each reading the last one's good output; the stories written are
    the clustered ones (no topic); the dead letters and the discards of every stage reach
    their sinks (a stage left out would lose its failures or discards uncounted)."""
    steps = reads(graph(tmp_path, *flags))
    chain = ["ReadFeedList", *BEFORE, *per_page, *AFTER, "WriteStories"]
    for before, step in zip(chain, chain[1:], strict=False):
        assert steps[step] == {before}, step
    stages = {*BEFORE, *per_page, *AFTER}
    assert steps["DeadLetters"] == stages
    assert steps["Discards"] == stages


def test_the_local_reshuffles_come_before_fetching_and_before_clustering(tmp_path: Path) -> None:
    """Fetching and extracting, and then clustering, are what each Reshuffle spreads."""
    steps = reads(graph(tmp_path, "--direct_num_workers", "2"))
    assert steps["SpreadEntries"] == {"SkipSeenEntries"}
    assert steps["FetchArticles"] == {"SpreadEntries"}
    assert steps["SpreadStories"] == {"TagStories"}
    assert steps["ClusterStories"] == {"SpreadStories"}


@pytest.mark.usefixtures("emulator_listening")
@pytest.mark.parametrize("streaming", [(), ("--streaming",)], ids=["one-shot", "streaming"])
def test_what_is_written_is_what_was_published_and_publish_failures_are_dead_letters(
    tmp_path: Path, streaming: tuple[str, ...]
) -> None:
    """With --topic, the stories file holds the stories the topic took (a story it refused
    is a dead letter, not also a story); with --duplicates link, so do the syndication
    updates."""
    steps = reads(graph(tmp_path, "--topic", TOPIC, "--duplicates", "link", *streaming))
    assert steps["PublishStories"] == {"ClusterStories"}
    assert steps["WriteStories"] == {"PublishStories"}
    assert steps["PublishSyndicationUpdates"] == {"ClusterStories"}
    assert steps["WriteSyndicationUpdates"] == {"PublishSyndicationUpdates"}
    assert steps["DeadLetters"] >= {"PublishStories", "PublishSyndicationUpdates"}


@pytest.mark.parametrize(
    ("duplicates", "updates"), [("drop", False), ("link", True), ("publish", True)]
)
def test_syndication_updates_are_written_unless_copies_are_dropped(
    tmp_path: Path, duplicates: str, updates: bool
) -> None:
    """Copies published as links or in full are news about their story (where else it ran)."""
    steps = reads(graph(tmp_path, "--duplicates", duplicates))
    assert ("WriteSyndicationUpdates" in steps) is updates
    if updates:
        assert steps["WriteSyndicationUpdates"] == {"ClusterStories"}


def sinks_publishing(proto: beam_runner_api_pb2.Pipeline) -> set[str]:
    """The dead-letter sinks (``DeadLetters/<name>``) that publish to the dead-letter topic."""
    names = (t.unique_name for t in proto.components.transforms.values())
    return {m[1] for n in names if (m := re.fullmatch(r"(DeadLetters/[^/]+)/Publish", n))}


@pytest.mark.usefixtures("emulator_listening")
def test_a_dead_letter_topic_gets_every_stages_dead_letters(tmp_path: Path) -> None:
    """Without the flag nothing publishes; with it, the flattened dead letters of a one-shot
    run do, and each stage's of a streaming run."""
    assert sinks_publishing(graph(tmp_path)) == set()
    assert sinks_publishing(graph(tmp_path, "--dead-letter-topic", DEAD_LETTER_TOPIC)) == {
        "DeadLetters/All"
    }
    streaming = graph(tmp_path, "--streaming", "--dead-letter-topic", DEAD_LETTER_TOPIC)
    stages = {"Poll", "Dedup", "Skip", "Fetch", "Extract", "Enrich", "Tag", "Cluster"}
    assert sinks_publishing(streaming) == {f"DeadLetters/{name}" for name in stages}


def test_a_streaming_graph_writes_each_record_as_it_comes(tmp_path: Path) -> None:
    """No Flatten (Beam's local runner holds a Flatten's output until a streaming run ends)
    and no WriteToText (it writes when a window closes): every sink appends as records come,
    each stage's dead letters and discards under its own name."""
    proto = graph(tmp_path, "--streaming", "--duplicates", "link")
    transforms = proto.components.transforms.values()
    assert not [
        t.unique_name for t in transforms if t.spec.urn == common_urns.primitives.FLATTEN.urn
    ]
    assert not [t.unique_name for t in transforms if "WriteImpl" in t.unique_name]
    appending = {t.unique_name for t in transforms if t.unique_name.endswith("/Append")}
    stages = ["Poll", "Dedup", "Skip", "Fetch", "Extract", "Enrich", "Tag", "Cluster"]
    assert appending == {
        "WriteStories/Append",
        "WriteSyndicationUpdates/Append",
        *(f"DeadLetters/{name}/Write/Append" for name in stages),
        *(f"Discards/{name}/Append" for name in stages),
    }


def test_a_one_shot_graph_writes_one_set_of_files(tmp_path: Path) -> None:
    """The other way round: each sink writes its shards once (WriteToText), the stages'
    dead letters and discards flattened into one file set each."""
    proto = graph(tmp_path, "--duplicates", "link")
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert not [n for n in names if n.endswith("/Append")]
    assert {"DeadLetters/Collect", "Discards/Collect"} <= names
    for sink in (
        "WriteStories",
        "WriteSyndicationUpdates",
        "DeadLetters/All/Write",
        "Discards/All",
    ):
        assert f"{sink}/Write" in names, sink


def settings_flags(tmp_path: Path) -> tuple[list[str], Path, Path]:
    """Flags that change every per-page setting from its default; the files they name."""
    outlets, taxonomy = tmp_path / "outlets.csv", tmp_path / "taxonomy.yaml"
    outlets.write_text("domain,name,country,language,state_affiliation\nnews.example,N,GB,en,\n")
    taxonomy.write_text(
        "rules:\n  - name: cycle_lane\n    match: 'cycle NEAR/3 lane'\n    weight: 0.6\n"
    )
    flags = ["--min-text-chars", "100", "--outlets", str(outlets), "--taxonomy", str(taxonomy)]
    return [*flags, "--all-stories"], outlets, taxonomy


def test_the_per_page_settings_reach_the_three_stages(tmp_path: Path) -> None:
    """--min-text-chars, --outlets, --taxonomy and --all-stories reach the DoFns that use
    them (``build()`` hands each stage its plain values)."""
    flags, outlets, taxonomy = settings_flags(tmp_path)
    pipeline = built(tmp_path, *flags)
    assert dofn(pipeline, "ExtractArticles/")._min_text_chars == 100
    assert dofn(pipeline, "EnrichArticles/")._outlets_path == str(outlets)
    tag = dofn(pipeline, "TagStories/")
    assert (tag._taxonomy_path, tag._keep_irrelevant) == (str(taxonomy), True)


def test_the_per_page_settings_and_the_processes_reach_the_pool(tmp_path: Path) -> None:
    """The same settings, and --extract-processes, reach AnalysePages in their place."""
    flags, outlets, taxonomy = settings_flags(tmp_path)
    pool = dofn(built(tmp_path, *flags, "--extract-processes", "3"), "AnalysePages/")
    assert pool._settings == AnalysisSettings(100, str(outlets), str(taxonomy), True)
    assert pool._processes == 3


def test_the_request_limit_reaches_polling_and_fetching(tmp_path: Path) -> None:
    """--max-in-flight bounds the feed requests of a local run's concurrent polling and the
    page requests of each fetching DoFn."""
    assert fns_with(built(tmp_path, "--max-in-flight", "5"), "_max_in_flight") == {
        "PollFeeds/Poll/ParDo(_PollFeedsConcurrentlyFn)": 5,
        "FetchArticles/Fetch/ParDo(_FetchArticlesFn)": 5,
    }


def test_a_local_always_on_run_polls_its_feeds_at_once_dataflow_in_keyed_state(
    tmp_path: Path,
) -> None:
    """Polled one at a time, an always-on poll took the sum of every feed's time (30 of 100
    feeds on hosts that never answer, a 5 s deadline: 150 s a poll, polled every 20 s)."""
    streaming = ("--streaming", "--poll-interval", "20s", "--dedup-ttl", "2d")
    assert fns_with(built(tmp_path, *streaming), "_resight_seconds") == {
        "PollFeeds/Poll/ParDo(_PollFeedsConcurrentlyFn)": 24 * 3600.0
    }
    assert fns_with(built(tmp_path, *streaming, *OFFLINE_ARGS), "_resight_seconds") == {
        "PollFeeds/Poll/ParDo(_PollFeedsFn)": 24 * 3600.0
    }
    assert fns_with(built(tmp_path), "_resight_seconds") == {  # one-shot: each feed once
        "PollFeeds/Poll/ParDo(_PollFeedsConcurrentlyFn)": None
    }


def test_only_a_remote_runner_fetches_each_host_in_a_stateful_step(tmp_path: Path) -> None:
    """A local run is one process, which holds the per-host limits by itself; on Dataflow's
    many workers, keying by host makes them hold for the job."""
    local, remote = (
        labels_below(tmp_path, "FetchArticles"),
        labels_below(tmp_path, "FetchArticles", *OFFLINE_ARGS),
    )
    assert "FetchArticles/FetchPerHost" not in local and "FetchArticles/Fetch" in local
    assert "FetchArticles/FetchPerHost" in remote


@pytest.mark.parametrize(
    ("remote", "timers"), [((), False), (OFFLINE_ARGS, True)], ids=["local", "remote"]
)
def test_stateful_steps_clear_expired_state_with_timers_only_on_a_remote_runner(
    tmp_path: Path, remote: tuple[str, ...], timers: bool
) -> None:
    """Beam's local runner fires event-time timers as soon as they are set (the time-to-live
    is checked when a key comes again instead); elsewhere timers keep the state bounded."""
    gc = fns_with(built(tmp_path, *remote), "_gc_timers")
    assert {label.split("/")[0] for label in gc} == {"DedupEntries", "ClusterStories"}
    assert set(gc.values()) == {timers}


@pytest.mark.parametrize(
    ("streaming", "clock"),
    [((), time.time), (("--streaming",), None)],
    ids=["one-shot", "streaming"],
)
def test_stories_are_ordered_by_the_clock_in_one_shot_runs_by_event_time_when_streaming(
    tmp_path: Path, streaming: tuple[str, ...], clock: Any
) -> None:
    """A one-shot run orders its stories by wall-clock time, after the claims remembered
    from earlier runs; an always-on run by their event time."""
    clocks = fns_with(built(tmp_path, *streaming), "_clock")
    assert clocks["ClusterStories/Fingerprint/ParDo(_ProbeFn)"] is clock


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
