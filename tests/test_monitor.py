"""pipelines/monitor.py around the graph: the options ``prepare`` settles, what a stop
signal does; and of ``run()``: that it waits for the job, keeps what earlier runs
remembered, and summarises from the files when the runner's metrics cannot be read.

The graph itself (which steps, what each reads) is in ``tests/test_graph_shape.py``; whole
runs are in ``tests/test_pipeline_e2e.py``, ``tests/test_state_runs.py`` and
``tests/test_streaming.py``; an earlier run's files and the entries the next run retries in
``tests/test_output_files.py``. Signals are sent in a new Python process (the handlers end the
process they run in); the handlers' installing and restoring is checked here.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apache_beam import Pipeline
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.runner import PipelineResult, PipelineRunner, PipelineState

from deploy.dataflow_graph import OFFLINE_ARGS
from pipelines import monitor
from pipelines.cli import EXIT_INTERRUPTED, EXIT_NOTHING_DONE
from pipelines.config import RunConfig, UsageError
from pipelines.loopback import LoopbackSite, Request, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from pipelines.monitor import prepare
from pipelines.stopping import EXIT_FORCED, stop_on_signal
from tests.conftest import REPO, WHEN, add_pages, assert_accounting, run_newsbeam
from tests.test_pipeline_e2e import OFF_TOPIC, WIRE_STORY
from tests.test_state import lock_held_by_another_process
from tests.test_summary import STATE_MEDIA, tagged_story
from transforms.common import FETCHED, PROGRESS
from transforms.http import HttpConfig
from transforms.records import Discard, Failure
from transforms.sinks import to_json_line


def flags(tmp_path: Path, *more: str) -> list[str]:
    """``newsbeam run`` flags for one feed (not polled: nothing here runs the pipeline)."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/rss\n")
    return ["--feeds", str(feeds), "--output", str(tmp_path / "out"), *more]


def test_without_a_runner_the_run_is_on_the_offline_local_runner(tmp_path: Path) -> None:
    """FnApiRunner, not Beam's default DirectRunner (which would first try Prism and
    download it); a runner that is named is kept."""
    options, _ = prepare(flags(tmp_path))
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    options, _ = prepare(flags(tmp_path, "--runner", "DirectRunner"))
    assert options.view_as(StandardOptions).runner == "DirectRunner"


@pytest.mark.parametrize("runner", [(), ("--runner", "DirectRunner")], ids=["default", "direct"])
def test_a_streaming_run_on_the_local_runner_gets_one_worker_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, runner: tuple[str, ...]
) -> None:
    """PeriodicImpulse loses ticks with several local workers: two asked for become one,
    with a warning saying why."""
    with caplog.at_level(logging.WARNING, logger=monitor.__name__):
        options, _ = prepare(flags(tmp_path, "--streaming", "--direct_num_workers", "2", *runner))
    assert options.view_as(DirectOptions).direct_num_workers == 1
    assert "uses one worker (PeriodicImpulse)" in caplog.text


def test_a_streaming_run_that_asked_for_no_workers_is_not_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=monitor.__name__):
        options, _ = prepare(flags(tmp_path, "--streaming"))
    assert options.view_as(DirectOptions).direct_num_workers == 1
    assert "one worker" not in caplog.text


@pytest.mark.parametrize(
    "more",
    [("--direct_num_workers", "2"), ("--streaming", "--direct_num_workers", "2", *OFFLINE_ARGS)],
    ids=["one-shot", "streaming-remote"],
)
def test_other_runs_keep_the_workers_asked_for(tmp_path: Path, more: tuple[str, ...]) -> None:
    """One-shot runs use every local worker; a remote runner's workers are its own."""
    options, _ = prepare(flags(tmp_path, *more))
    assert options.view_as(DirectOptions).direct_num_workers == 2


def stop_config(output_dir: Path | str, streaming: bool) -> RunConfig:
    return RunConfig(
        feeds=(),
        output_dir=str(output_dir),
        http=HttpConfig(),
        max_in_flight=1,
        all_stories=False,
        taxonomy_path=None,
        outlets_path=None,
        min_text_chars=250,
        streaming=streaming,
    )


def test_the_signal_handlers_are_put_back_after_the_run(tmp_path: Path) -> None:
    """In the main thread the run's handlers replace the ones before it and give them back;
    in another thread (where Python allows no handler) nothing changes."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signal(stop_config(tmp_path, streaming=True)):
        during = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert during[0] is during[1] and during[0] not in before

    seen: list[object] = []

    def in_a_thread() -> None:
        with stop_on_signal(stop_config(tmp_path, streaming=True)):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [before[0]]


# A new Python process: enters stop_on_signal with the config its arguments describe
# (output directory, streaming or not), then sends itself the signals named, one after the
# other. Nothing here ends the process by itself within a minute.
SIGNALLED = """
import os, signal, sys, threading
from pipelines.config import RunConfig, UsageError
from pipelines.stopping import stop_on_signal
from transforms.common import FETCHED, PROGRESS
from transforms.http import HttpConfig
output, streaming, *names = sys.argv[1:]
config = RunConfig(
    (), output, HttpConfig(), 1, False, None, None, 250, topic="projects/my-project/topics/stories",
    streaming=streaming == "1",
)
with stop_on_signal(config):
    for name in names:
        os.kill(os.getpid(), getattr(signal, name))
        threading.Event().wait(60)
print("not stopped", flush=True)
"""


def signalled(output: Path, streaming: bool, *names: str) -> subprocess.CompletedProcess[str]:
    """Run SIGNALLED; its output to pipes is buffered, as it is for a user's pipes."""
    argv = [str(output), str(int(streaming)), *names]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-c", SIGNALLED, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stopped_streaming_run_is_summarised_from_its_files_and_ends_cleanly(
    tmp_path: Path, name: str
) -> None:
    """SIGTERM (a service stopping it) and Ctrl-C alike: summary.json and the printed
    summary count what reached the output files, marked as stopped early; exit code 0."""
    story = tagged_story("https://www.globaltimes.cn/1", STATE_MEDIA)
    discard = Discard("tag", "https://a.example/2", "not_relevant")
    (tmp_path / "stories-0123456789ab.jsonl").write_text(to_json_line(story.to_json()) + "\n")
    (tmp_path / "discarded-0123456789ab.jsonl").write_text(to_json_line(discard.to_json()) + "\n")

    done = signalled(tmp_path, True, name)

    assert done.returncode == 0, done.stderr
    assert "stopped by signal" in done.stdout
    assert "stopped by signal" not in done.stderr  # said once, by the summary
    assert "entries: 2  published: 1  discarded: 1  failed: 0" in done.stdout
    assert "not stopped" not in done.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped_early"] is True
    assert (summary["published"], summary["discarded"]) == (1, {"not_relevant": 1})


def test_a_stopped_streaming_run_that_published_nothing_to_its_topic_exits_as_a_finished_one(
    tmp_path: Path,
) -> None:
    """The exit code of a finished run's summary (4: the topic took none of the stories),
    not 0: a service restarting an always-on run on failure saw a clean stop."""
    failure = Failure("publish", "https://a.example/1", "topic_not_found", "no topic", True)
    (tmp_path / "dead_letters-0123456789ab.jsonl").write_text(
        to_json_line(failure.to_json()) + "\n"
    )
    done = signalled(tmp_path, True, "SIGTERM")
    assert done.returncode == EXIT_NOTHING_DONE == 4, done.stderr
    assert "entries: 1  published: 0  discarded: 0  failed: 1" in done.stdout
    # naming the run's topic (its config) and the reason
    assert (
        "newsbeam: error: no story could be published to projects/my-project/topics/stories "
        "(publish/topic_not_found 1: " in done.stderr
    )


def test_a_stopped_streaming_run_whose_files_cannot_be_read_ends_with_the_forced_code(
    tmp_path: Path,
) -> None:
    """The process ends whatever happens while it summarises: here a line that is not JSON
    (a file not written by newsbeam) is one error line and exit code 3, no summary.json."""
    (tmp_path / "stories-0123456789ab.jsonl").write_text("not json\n")
    done = signalled(tmp_path, True, "SIGTERM")
    assert done.returncode == EXIT_FORCED == 3
    assert "newsbeam: could not summarise the stopped run:" in done.stderr
    assert not (tmp_path / "summary.json").exists()


def test_a_second_signal_ends_a_stopping_streaming_run_at_once_with_the_forced_code(
    tmp_path: Path,
) -> None:
    """While the first signal's summary is under way (here it waits on a named pipe that
    nobody writes to), a second one ends the process at once: exit code 3, no summary."""
    pipe = tmp_path / "stories-0123456789ab.jsonl"
    os.mkfifo(pipe)
    argv = [sys.executable, "-c", SIGNALLED, str(tmp_path), "1", "SIGTERM"]
    # The child first; then opening the pipe to write returns once its summary has opened
    # the pipe to read it.
    with (
        subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True) as child,
        open(pipe, "w"),
    ):  # fmt: skip
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    assert child.returncode == EXIT_FORCED == 3, err
    assert (
        err
        == "newsbeam: stopped by a second signal while summarising the stopped run (no summary)\n"
    )
    assert "not stopped" not in out
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_one_shot_runs_first_signal_ends_it_at_once_with_130(tmp_path: Path, name: str) -> None:
    """A one-shot run is not summarised: the first signal says so and ends the process with
    code 130, leaving no ``beam-temp-*`` folder (an earlier version raised KeyboardInterrupt,
    which Beam could wrap in another exception, see the end-to-end test below)."""
    (tmp_path / "beam-temp-stories-0123abcd").mkdir()
    (tmp_path / "beam-temp-stories-0123abcd" / "shard").write_text("half\n")
    (tmp_path / "beam-temp-mine").mkdir()  # not a sink's: left alone
    done = signalled(tmp_path, False, name)
    assert done.returncode == EXIT_INTERRUPTED
    assert done.stderr == "newsbeam: interrupted\n"
    assert "not stopped" not in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beam-temp-mine"]


# SIGNALLED for a one-shot run that has committed its state and was writing its summary
# (a partial file beside summary.json) when the signal came.
SIGNALLED_WHILE_SUMMARISING = SIGNALLED.replace(
    "with stop_on_signal(config):\n",
    "from pathlib import Path\n"
    "from pipelines.stopping import STATE_COMMITTED\n"
    "Path(output, '.summary.json.x1y2z3.partial').write_text('{\"entr')\n"
    "with stop_on_signal(config):\n"
    "    STATE_COMMITTED.set()\n",
)
# SIGNALLED for a one-shot run in a process whose earlier run committed its state.
SIGNALLED_AFTER_AN_EARLIER_RUN = SIGNALLED.replace(
    "with stop_on_signal(config):",
    "from pipelines.stopping import STATE_COMMITTED\n"
    "STATE_COMMITTED.set()\n"
    "with stop_on_signal(config):",
)


def test_a_signal_after_the_commit_says_so_and_leaves_no_partial_summary(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED_WHILE_SUMMARISING, str(tmp_path), "0", "SIGTERM"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr == (
        "newsbeam: interrupted (after the run ended and its state was saved; no summary.json)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_signal_before_this_runs_commit_does_not_take_an_earlier_runs_for_it(
    tmp_path: Path,
) -> None:
    # A program's second run, interrupted, said its state was saved: the first run's was.
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLED_AFTER_AN_EARLIER_RUN, str(tmp_path), "0", "SIGTERM"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_INTERRUPTED, done.stderr
    assert done.stderr == "newsbeam: interrupted\n"


RSS = "application/rss+xml"
PAGES = [
    ("/sale", "TikTok ordered to find a buyer", WIRE_STORY),
    ("/cup", "Late goal seals cup win", OFF_TOPIC),
    ("/final", "Cup final preview", OFF_TOPIC.replace("home side", "visitors")),
]


def one_feed(site: LoopbackSite, tmp_path: Path) -> Path:
    """A feed list of one feed with a relevant story and an off-topic one."""
    base = site.add_host("news")
    items = add_pages(site, "news", PAGES[:2])
    site.route("news", "/rss", Response(body=rss_feed("news", base, items), content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    return feeds


@pytest.mark.pipeline
def test_a_run_replaces_the_output_files_an_earlier_run_left(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """Files of the same names are overwritten anyway; these are not (a streaming run's
    story file, a dead-letter shard of a run with more shards), and would be counted as this
    run's by whoever reads the output directory."""
    output = tmp_path / "out"
    output.mkdir()
    earlier = tagged_story("https://www.globaltimes.cn/1", STATE_MEDIA)
    (output / "stories-0123456789ab.jsonl").write_text(to_json_line(earlier.to_json()) + "\n")
    failure = Failure("fetch", "https://a.example/1", "http_503", "503", retryable=True)
    (output / "dead_letters-00001-of-00002.jsonl").write_text(to_json_line(failure.to_json()))

    out = run_newsbeam(one_feed(site, tmp_path), output, "--no-robots")

    assert_accounting(out)
    assert [s["url"] for s in out.stories] == [f"{site.base_url('news')}/sale"]
    assert out.dead_letters == []


@pytest.mark.pipeline
def test_each_run_keeps_what_every_earlier_run_remembered(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """A feed that grows by one entry a run: each run fetches only its new entry, the ones
    the two runs before it saw are skipped as seen (not only the last run's)."""
    base = site.add_host("news")
    items = add_pages(site, "news", PAGES)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    runs = []
    for count in (1, 2, 3):
        feed = rss_feed("news", base, items[:count])
        site.route("news", "/rss", Response(body=feed, content_type=RSS))
        runs.append(run_newsbeam(feeds, tmp_path / "out", "--no-robots"))

    third = runs[-1]
    assert_accounting(third)
    assert third.summary["entries"] == 3
    assert third.summary["discarded"]["seen_in_earlier_run"] == 2
    assert [len(site.requests_for("news", path)) for path, _, _ in PAGES] == [1, 1, 1]


@pytest.mark.pipeline
def test_a_run_gives_back_its_folders_when_it_returns(site: LoopbackSite, tmp_path: Path) -> None:
    """A program that calls run() and goes on (a test, a scheduler) kept each run's --output
    and state directory locked, a descriptor open for each, until it ended: meanwhile every
    other run on those folders was refused as 'in use by another newsbeam run'."""
    output = tmp_path / "out"
    run_newsbeam(one_feed(site, tmp_path), output, "--no-robots")
    with (
        lock_held_by_another_process(output, "--output"),
        lock_held_by_another_process(output / "state"),
    ):
        pass


def test_a_run_refused_as_it_starts_gives_back_its_folders(tmp_path: Path) -> None:
    # The locks are taken before the state files are read: a damaged seen.jsonl refused the
    # run and left both folders locked for as long as the program went on.
    output = tmp_path / "out"
    (output / "state").mkdir(parents=True)
    (output / "state" / "seen.jsonl").write_text("{bad\n")
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/feed.xml\n")
    with pytest.raises(UsageError, match=r"seen\.jsonl: line 1"):
        monitor.run(["--feeds", str(feeds), "--output", str(output), "--allow-loopback"])
    with (
        lock_held_by_another_process(output, "--output"),
        lock_held_by_another_process(output / "state"),
    ):
        pass


@pytest.mark.pipeline
def test_each_runs_progress_line_counts_that_run_alone(site: LoopbackSite, tmp_path: Path) -> None:
    feeds = one_feed(site, tmp_path)
    run_newsbeam(feeds, tmp_path / "first", "--no-robots")
    fetched = PROGRESS.count(FETCHED)
    run_newsbeam(feeds, tmp_path / "second", "--no-robots")
    assert fetched == PROGRESS.count(FETCHED) == 2  # the feed's two pages, once


@pytest.mark.pipeline
def test_when_the_runners_metrics_cannot_be_read_the_summary_comes_from_the_files(
    site: LoopbackSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beam's local runner can overflow the stack reading its metrics after a long streaming
    run (reading them here raises as it does then). The files hold every outcome of a run
    that ended by itself: the summary counts them and is not marked as stopped early."""

    def overflowing(*_args: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(monitor, "summary_from_metrics", overflowing)
    out = run_newsbeam(one_feed(site, tmp_path), tmp_path / "out", "--no-robots")

    assert_accounting(out)
    assert out.summary["stopped_early"] is False
    assert (out.summary["published"], out.summary["discarded"]) == (1, {"not_relevant": 1})


class SubmittingRunner(PipelineRunner):
    """A runner that returns as soon as the job is submitted, as a remote one does: the job
    runs (on the local runner) when it is waited for, and has no counters before that."""

    def run_pipeline(self, pipeline: Pipeline, options: PipelineOptions) -> PipelineResult:
        return SubmittedJob(lambda: FnApiRunner().run_pipeline(pipeline, options))


class SubmittedJob(PipelineResult):
    def __init__(self, job: Callable[[], PipelineResult]) -> None:
        super().__init__(PipelineState.RUNNING)
        self._job: Callable[[], PipelineResult] | None = job
        self._done: PipelineResult | None = None

    def wait_until_finish(self, duration: int | None = None) -> str:
        if self._job is not None:
            self._done, self._job = self._job(), None
            self._state = self._done.wait_until_finish()
        return str(self._state)

    def metrics(self) -> Any:
        if self._done is None:
            raise RuntimeError("the job is still running: its counters are not final")
        return self._done.metrics()


@pytest.mark.pipeline
def test_a_runner_that_returns_at_once_is_waited_for_before_the_counters_are_read(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """``newsbeam run`` on a runner whose run() only submits the job (Dataflow's) waits for
    the job to end, then counts: the summary is the finished job's."""
    feeds = one_feed(site, tmp_path)
    runner = f"{__name__}.{SubmittingRunner.__name__}"
    out = run_newsbeam(feeds, tmp_path / "out", "--no-robots", "--runner", runner)
    assert_accounting(out)
    assert (out.summary["published"], out.summary["discarded"]) == (1, {"not_relevant": 1})


@pytest.mark.parametrize(
    ("name", "more", "group"),
    [
        ("SIGINT", ["--extract-processes", "2"], True),
        ("SIGTERM", [], True),
        # a service's stop (or ``kill``) signals the process alone
        (
            "SIGTERM",
            ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"],
            False,
        ),
    ],
)
def test_an_interrupted_one_shot_run_says_so_exits_130_and_leaves_no_temporary_folders(
    site: LoopbackSite, tmp_path: Path, name: str, more: list[str], group: bool
) -> None:
    """Ctrl-C (or SIGTERM) while a page is still being fetched: the interrupt reached a DoFn,
    Beam wrapped it in a RuntimeError, and the run printed a 200-line traceback, exited 1
    (the code for an unbalanced count), waited for the page's deadline, and left Beam's
    ``beam-temp-*`` folders in ``--output`` (and its ``beam-pipeline-temp*`` in the temporary
    folder). Here the page never answers (until the test
    ends): the run can only end by giving it up. Ctrl-C in a terminal signals the whole
    process group, the pool's workers too: they leave it to the run (no traceback of
    theirs). Beam's worker processes (``multi_processing``), which a signal to the run alone
    does not reach, outlived it by seconds, writing tracebacks after its last line."""
    base = site.add_host("news")
    (item,) = add_pages(site, "news", [("/ok", "Late goal seals cup win", OFF_TOPIC)])
    asked = threading.Event()
    release = threading.Event()

    def never_answers(_request: Request) -> Response:
        asked.set()
        release.wait(120)
        return Response(body=b"<html><body>late</body></html>")

    site.route("news", "/hang", never_answers)
    hanging = FeedItem("Hangs", f"{base}/hang", f"{base}/hang", "", WHEN)
    site.route(
        "news", "/rss", Response(body=rss_feed("news", base, [item, hanging]), content_type=RSS)
    )
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"
    command = [
        sys.executable, "-m", "pipelines.cli", "run", "--feeds", str(feeds),
        "--output", str(output), "--allow-loopback", "--no-robots", "--all-stories",
        "--fetch-timeout", "120", *more,
    ]  # fmt: skip
    temporary = tmp_path / "tmp"  # the run's own, to see what it leaves there
    temporary.mkdir()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(temporary)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert asked.wait(60), "the run never asked for the page"
        if group:
            os.killpg(process.pid, getattr(signal, name))
        else:
            process.send_signal(getattr(signal, name))
        stdout, stderr = process.communicate(timeout=60)  # the page would hold it 120 s
    finally:
        release.set()
        process.kill()
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert stderr.strip().splitlines()[-1] == "newsbeam: interrupted"
    assert "Traceback" not in stderr, stderr
    assert not list(output.glob("beam-temp-*"))
    # nor Beam's local folder, which Pipeline.run removes only when it returns
    assert not list(temporary.glob("beam-pipeline-temp*"))
    # nor multiprocessing's folder of the pool's fork server (its socket in it)
    assert not list(temporary.glob("pymp-*"))
    assert not (output / "summary.json").exists()


class _FakeDataflowJob:
    """A fake of what DataflowRunner's run() returns for a submitted job (Dataflow cannot run
    here): only the job id, and no wait, which would last as long as the job."""

    def job_id(self) -> str:
        return "2026-11-29_10_00_00-1234"

    def wait_until_finish(self) -> None:
        raise AssertionError("an always-on Dataflow job never finishes: nothing may wait for it")


def test_an_always_on_dataflow_run_returns_once_submitted_and_says_how_to_stop_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It waited for the job to finish, which a streaming job never does; Ctrl-C then
    # summarised the job's gs:// folder, exit 0, and left the job running unsaid.
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    submitted: list[RunConfig] = []

    def launch(options: PipelineOptions, config: RunConfig) -> _FakeDataflowJob:
        submitted.append(config)
        return _FakeDataflowJob()

    monkeypatch.setattr(monitor, "launch", launch)
    argv = ["--runner", "DataflowRunner", "--streaming", "--feeds", str(feeds)]
    argv += ["--output", "gs://b/out", "--project", "my-project", "--region", "europe-west1"]
    assert monitor.run([*argv, "--temp_location", "gs://b/temp"]) is None
    assert [c.streaming for c in submitted] == [True]
    out = capsys.readouterr().out
    assert "the always-on job 2026-11-29_10_00_00-1234 is running" in out
    assert "gcloud dataflow jobs drain JOB_ID --region REGION" in out and "gs://b/out" in out
