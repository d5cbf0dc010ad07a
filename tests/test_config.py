"""From flags to a RunConfig (pipelines/config.py, pipelines/options.py), without a run.

``config_from_options`` is called on the parsed flags, as ``newsbeam run`` does before it
builds the pipeline: what each flag becomes in the RunConfig, where the state directory is
and what is read from it, and the defaults the help texts promise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.config import RunConfig, UsageError, config_from_options
from pipelines.options import help_parser, parse_duration
from tests.conftest import REPO
from transforms.dedup_claims import make_claim
from transforms.records import FeedState
from transforms.state import signature_line

DAY = 86400.0


def make_config(tmp_path: Path, *flags: str, output: str | None = None) -> RunConfig:
    """The RunConfig of ``newsbeam run --feeds F --output OUT FLAGS`` (OUT: tmp_path/out)."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n", encoding="utf-8")
    out = output if output is not None else str(tmp_path / "out")
    return config_from_options(PipelineOptions(["--feeds", str(feeds), "--output", out, *flags]))


@pytest.mark.usefixtures("emulator_listening")  # credentials: not needed
def test_each_flag_reaches_the_run_config(tmp_path: Path) -> None:
    # A flag read into the wrong field, or not at all, runs the job with the default: no
    # error anywhere, only a crawler that behaves otherwise than it was told.
    config = make_config(
        tmp_path,
        *("--per-host-in-flight", "3", "--per-host-interval", "0.5", "--fetch-timeout", "12"),
        *("--contact-url", "https://me.example/crawler", "--no-robots", "--allow-loopback"),
        *("--extract-processes", "2", "--max-in-flight", "8", "--min-text-chars", "100"),
        *("--feed-text-min-chars", "500", "--duplicates", "publish", "--dedup-ttl", "2d"),
        *("--all-stories", "--topic", "projects/project-1/topics/stories"),
        *("--dead-letter-topic", "projects/project-1/topics/dead"),
        *("--taxonomy", "transforms/data/taxonomy.yaml"),
    )
    http = config.http
    assert (http.per_host_in_flight, http.per_host_min_interval, http.deadline) == (3, 0.5, 12)
    assert http.contact_url == "https://me.example/crawler"
    assert http.respect_robots is False and http.allow_loopback is True
    assert (config.extract_processes, config.max_in_flight) == (2, 8)
    assert (config.min_text_chars, config.feed_text_min_chars) == (100, 500)
    assert config.duplicates == "publish" and config.dedup_ttl == 2 * DAY
    assert config.all_stories is True
    assert config.taxonomy_path == "transforms/data/taxonomy.yaml" and config.outlets_path is None
    assert config.topic == "projects/project-1/topics/stories"
    assert config.dead_letter_topic == "projects/project-1/topics/dead"
    assert config.streaming is False and config.local_runner is True


def test_without_flags_the_run_is_the_safe_default(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    http = config.http
    assert http.respect_robots is True and http.allow_loopback is False
    assert http.contact_url is None
    assert (http.per_host_in_flight, http.per_host_min_interval, http.deadline) == (2, 0, 30)
    assert (config.duplicates, config.topic, config.dead_letter_topic) == ("drop", None, None)
    assert config.dedup_ttl == 7 * DAY


def test_a_streaming_run_polls_from_now_and_keeps_no_state_dir(tmp_path: Path) -> None:
    before = time.time()
    config = make_config(tmp_path, "--streaming", "--poll-interval", "5m", "--duration", "1h")
    after = time.time()
    assert config.streaming is True
    assert (config.poll_interval, config.duration) == (300, 3600)
    assert before <= config.start_time <= after  # the first poll fires now, not in 1970
    assert config.state_dir is None  # Beam's keyed state instead
    assert not (tmp_path / "out" / "state").exists()


def test_no_state_reads_and_makes_no_state_dir(tmp_path: Path) -> None:
    config = make_config(tmp_path, "--no-state")
    assert config.state_dir is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".output.lock"]


def test_output_and_state_dir_are_made_absolute_with_their_parents_and_left_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative to where the command was started, whatever directory the workers run in;
    # the write probe is removed again; the run holds the output's and the state
    # directory's lock files.
    monkeypatch.chdir(tmp_path)
    config = make_config(tmp_path, output="runs/today/out")
    out = tmp_path / "runs" / "today" / "out"
    assert config.output_dir == str(out)
    assert config.state_dir == str(out / "state")
    assert sorted(p.name for p in out.iterdir()) == [".output.lock", "state"]
    assert sorted(p.name for p in (out / "state").iterdir()) == [".lock"]


def test_a_state_dir_that_is_the_output_folder_holds_a_lock_for_each(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = make_config(tmp_path, "--state-dir", str(out), output=str(out))
    assert config.state_dir == config.output_dir == str(out)
    assert sorted(p.name for p in out.iterdir()) == [".lock", ".output.lock"]


def test_a_remote_output_keeps_no_state_unless_a_local_state_dir_is_given(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pipelines.config"):
        config = make_config(tmp_path, output="gs://bucket/out/")
    assert config.output_dir == "gs://bucket/out"  # no empty last path segment
    assert config.state_dir is None
    assert "will not remember" in caplog.text

    local = tmp_path / "state"
    config = make_config(tmp_path, "--state-dir", str(local), output="gs://bucket/out")
    assert config.state_dir == str(local) and local.is_dir()


@pytest.mark.parametrize("output", ["local", "gs://bucket/out"])
def test_a_remote_state_dir_is_refused_whatever_the_output(tmp_path: Path, output: str) -> None:
    # It was dropped with a warning about a remote output (wrong when the output is local):
    # the user asked to remember, and the run would not have.
    where = str(tmp_path / "out") if output == "local" else output
    with pytest.raises(UsageError, match=r"--state-dir gs://b/state: .* must be a local folder"):
        make_config(tmp_path, "--state-dir", "gs://b/state", output=where)


def test_the_state_dir_is_read_within_the_dedup_ttl(tmp_path: Path) -> None:
    # What earlier runs remembered reaches the run; what is older than --dedup-ttl does not.
    state = tmp_path / "out" / "state"
    state.mkdir(parents=True)
    now = time.time()
    feed = FeedState("https://news.example/rss", etag='"v1"', body_sha256="ab")
    (state / "feeds.json").write_text(json.dumps([feed.__dict__]), encoding="utf-8")
    seen = [
        {"key": "old", "seen_at": now - 3 * DAY, "feed_url": feed.feed_url},
        {"key": "new", "seen_at": now - 3600, "feed_url": feed.feed_url},
    ]
    (state / "seen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in seen))
    claims = [make_claim("old", "old", now - 3 * DAY, None), make_claim("new", "new", now, None)]
    lines = [signature_line((bytes([i]) * 9, c.encode())) for i, c in enumerate(claims)]
    (state / "signatures.jsonl").write_text("\n".join(lines) + "\n")

    config = make_config(tmp_path, "--dedup-ttl", "2d")
    assert config.feed_states == {feed.feed_url: feed}
    assert set(config.seen_before) == {"new"}
    assert [key for key, _ in config.prior_signatures] == [bytes([1]) * 9]


def test_an_unreadable_state_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "out" / "state"
    state.mkdir(parents=True)
    (state / "feeds.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match=r"cannot read .*feeds\.json: .*delete it"):
        make_config(tmp_path)


@pytest.mark.usefixtures("no_credentials")
def test_a_remote_runner_publishes_with_the_workers_credentials(
    tmp_path: Path,
) -> None:
    # No credentials here is no reason to refuse a Dataflow job: its workers have their own.
    flags = ["--runner", "DataflowRunner", "--topic", "projects/project-1/topics/stories"]
    config = make_config(tmp_path, *flags, output="gs://bucket/out")
    assert not config.local_runner and config.topic == "projects/project-1/topics/stories"


def _help_defaults() -> dict[str, str]:
    """Each flag's default as its help text names it: ``(default: 250)`` gives ``250``."""
    named = {}
    for action in help_parser("newsbeam run")._actions:
        found = re.search(r"\(default: ([^,;)\s]+)", " ".join((action.help or "").split()))
        if found and action.default is not None:
            named[action.dest] = found.group(1).rstrip(".")
    return named


def test_each_default_is_the_one_its_help_text_names() -> None:
    # `newsbeam run --help` (and the README table built on it) is what users read.
    parser = help_parser("newsbeam run")
    actions = {a.dest: a for a in parser._actions}
    named = _help_defaults()
    expected = {"min_text_chars", "extract_processes", "max_in_flight", "per_host_in_flight"}
    expected |= {"per_host_interval", "fetch_timeout", "dedup_ttl", "duplicates", "poll_interval"}
    assert expected <= set(named), named
    for dest, text in named.items():
        action = actions[dest]
        convert = action.type if action.type is not None else str
        assert callable(convert), f"--{dest}: type {convert!r} is not a conversion function"
        assert action.default == convert(text), (
            f"--{dest}: help says {text}, default {action.default}"
        )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800), (" 7D ", 604800)],
)
def test_durations_take_each_unit_any_case_and_surrounding_blanks(
    text: str, seconds: float
) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("flag", "workers"), [(None, 1), ("3", 3), ("0", "cpus")])
def test_local_workers_are_what_the_local_runner_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str | None, workers: object
) -> None:
    # Beam's local runner reads --direct_num_workers 0 as one worker per CPU; with 1 recorded,
    # a run with several workers skipped the reshuffles that spread work over them.
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    extra = ["--direct_num_workers", flag] if flag is not None else []
    expected = 6 if workers == "cpus" else workers
    assert make_config(tmp_path, *extra).local_workers == expected


@pytest.mark.parametrize(
    ("more", "why"), [(["--no-state"], "--no-state"), (["--streaming"], "always-on")]
)
def test_a_state_dir_that_would_be_ignored_is_refused(
    tmp_path: Path, more: list[str], why: str
) -> None:
    with pytest.raises(UsageError, match=why):
        make_config(tmp_path, "--state-dir", str(tmp_path / "state"), *more)
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("under", ["", "sub"])
def test_an_output_that_is_a_file_says_so(tmp_path: Path, under: str) -> None:
    """It said "cannot write to out: File exists" (or "Not a directory")."""
    (tmp_path / "afile").write_text("mine\n")
    output = tmp_path / "afile" / under if under else tmp_path / "afile"
    with pytest.raises(UsageError, match=r"afile is a file, not a folder"):
        make_config(tmp_path, output=str(output))
    assert (tmp_path / "afile").read_text() == "mine\n"


@pytest.mark.parametrize("under", ["", "sub"])
def test_an_output_that_is_a_link_to_nothing_says_so(tmp_path: Path, under: str) -> None:
    # It said "cannot write to ...: File exists".
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    output = tmp_path / "out" / under if under else tmp_path / "out"
    with pytest.raises(UsageError) as caught:
        make_config(tmp_path, output=str(output))
    assert str(caught.value) == (
        f"--output: {tmp_path / 'out'} is a link to {tmp_path / 'gone'}, which is not there"
    )
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("flag", ["--output", "--state-dir"])
def test_a_folder_whose_name_is_not_utf_8_here_is_refused_before_anything_is_written(
    tmp_path: Path, flag: str
) -> None:
    # A name in Latin-1 bytes (caf\xe9), or any non-ASCII name under LANG=C with
    # PYTHONUTF8=0, reaches Python as lone surrogates, which Beam cannot encode: the run
    # was a UnicodeEncodeError traceback after the folders were made and locked.
    folder = tmp_path / "caf\udce9"
    flags = [] if flag == "--output" else ["--state-dir", str(folder)]
    output = str(folder) if flag == "--output" else str(tmp_path / "out")
    with pytest.raises(UsageError, match=rf"{flag}: .*caf\udce9: the runner needs file names"):
        make_config(tmp_path, *flags, output=output)
    assert not os.path.lexists(os.fsencode(folder))


@pytest.mark.parametrize(
    ("flag", "name", "other"), [("--output", "out[1]", "out1"), ("--state-dir", "st*", "st-2")]
)
def test_a_folder_whose_path_is_a_glob_pattern_is_refused(
    tmp_path: Path, flag: str, name: str, other: str
) -> None:
    # Beam's sinks delete what their path matches as a pattern before renaming their shards
    # into place: --output out[1] deleted out1/stories-00000-of-00001.jsonl, then ended in a
    # BeamIOError traceback.
    (tmp_path / other).mkdir()
    (tmp_path / other / "stories-00000-of-00001.jsonl").write_text("mine\n")
    folder = str(tmp_path / name)
    flags = ["--state-dir", folder] if flag == "--state-dir" else []
    output = folder if flag == "--output" else str(tmp_path / "out")
    with pytest.raises(UsageError, match=rf"^{flag}: .*: the runner reads a folder's path as"):
        make_config(tmp_path, *flags, output=output)
    assert not os.path.lexists(folder)
    assert (tmp_path / other / "stories-00000-of-00001.jsonl").read_text() == "mine\n"


def test_a_relative_output_in_a_working_directory_that_is_gone_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The UTF-8 check above makes the path absolute, which fails there: a traceback.
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(UsageError, match=r"--output: cannot write to out: No such file"):
        make_config(tmp_path, output="out")


def test_an_argument_that_is_no_flag_nor_its_value_is_refused(tmp_path: Path) -> None:
    # "--feeds three.txt other3.txt" ran on three.txt alone: Beam drops what it cannot place.
    with pytest.raises(UsageError, match=r"unexpected arguments: other\.txt, more\.txt"):
        make_config(tmp_path, "other.txt", "--all-stories", "more.txt")
    # a word after an unknown flag is its value: the flag is what is wrong
    with pytest.raises(UsageError, match=r"unknown option: --topik \(did you mean --topic\?\)"):
        make_config(tmp_path, "--topik", "projects/my-project/topics/t")


@pytest.mark.parametrize(
    "flags",
    [
        ["--fetch-timeout", "nan"],  # turned the deadline off
        ["--fetch-timeout", "inf"],  # crashed the deadline watchdog's clock
        ["--fetch-timeout", "1e10"],
        ["--per-host-interval", "nan"],
        ["--per-host-interval", "inf"],
        ["--streaming", "--poll-interval", "0.01"],  # 800 polls of each feed in 8 s
        ["--direct_num_workers", "-1"],  # Beam's IndexError traceback
    ],
)
def test_values_that_are_no_number_or_out_of_bounds_are_refused(
    tmp_path: Path, flags: list[str]
) -> None:
    with pytest.raises(UsageError, match=re.escape(flags[-2])):
        make_config(tmp_path, *flags)


def test_seconds_at_their_bounds_are_taken(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        *["--fetch-timeout", "3600", "--per-host-interval", "3600"],
        *["--streaming", "--poll-interval", "1s"],
    )
    assert (config.http.deadline, config.http.per_host_min_interval) == (3600, 3600)
    assert config.poll_interval == 1


def test_a_duration_past_ten_years_is_refused() -> None:
    # --poll-interval 1e12 overflowed time.sleep's clock, a traceback
    assert parse_duration("3650d") == 3650 * DAY
    for text in ("3651d", "1e12"):
        with pytest.raises(argparse.ArgumentTypeError, match="at most 3650d"):
            parse_duration(text)


@pytest.mark.usefixtures("emulator_listening")  # credentials: not needed
def test_the_dead_letter_topic_must_not_be_the_stories_topic(tmp_path: Path) -> None:
    topic = "projects/my-project/topics/stories"
    with pytest.raises(UsageError, match="--dead-letter-topic must differ from --topic"):
        make_config(tmp_path, "--topic", topic, "--dead-letter-topic", topic)


def test_an_empty_output_is_refused_not_the_working_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--output must name a folder"):
        make_config(tmp_path, output="")


def _one_byte_files() -> None:
    """In the child: no file may grow past one byte (EFBIG, as a full disk fails a write)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))


def test_an_output_folder_that_cannot_be_written_keeps_no_probe_file(tmp_path: Path) -> None:
    # The check that --output can be written made .newsbeam-write-test, whose write then
    # failed on a full disk: the run was refused, and the empty file stayed in the folder.
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n", encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--feeds", str(feeds), "--output", str(out)],
        cwd=REPO, preexec_fn=_one_byte_files, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        2,
        f"newsbeam: error: --output: cannot write to {out}: File too large\n",
    )
    assert list(out.iterdir()) == []
