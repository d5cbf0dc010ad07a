"""The newsbeam command: help texts and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from pipelines.cli import entry, main
from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from tests.conftest import NEEDS_DEV_FULL, REPO, WHEN, run_cli
from transforms.pubsub_names import NO_CREDENTIALS

RSS = "application/rss+xml"


def test_run_help_lists_newsbeam_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0
    for flag in ("--feeds", "--output", "--allow-loopback", "--all-stories", "--taxonomy"):
        assert flag in out
    assert "passes through to Apache Beam" in " ".join(out.split())
    assert "refused" in out
    assert "--streaming " in out  # Beam's flag, but the one that makes a run always-on


def test_missing_feed_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "run", "--feeds", str(tmp_path / "nope.opml"))
    assert code == 2
    assert err.strip() == f"newsbeam: error: feed list not found: {tmp_path / 'nope.opml'}"


def test_feeds_flag_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run")
    assert code == 2
    assert "--feeds FILE is required" in err


def test_feed_file_without_feeds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "feeds.txt"
    empty.write_text("# nothing here\n")
    code, _, err = run_cli(capsys, "run", "--feeds", str(empty))
    assert code == 2
    assert "no feeds in" in err and "Traceback" not in err


def test_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = run_cli(capsys, "run", "--feeds", str(feeds), "--output", str(blocker / "out"))
    assert code == 2
    assert err.startswith(f"newsbeam: error: --output: {blocker} is a file, not a folder")


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys)
    assert code == 2
    for command in ("run", "demo", "tag", "cluster"):
        assert command in out


def test_version_is_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"newsbeam {importlib.metadata.version('newsbeam')}\n"


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_may_follow_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    # It used to reach run's options as an unknown option "--v", and tag's as unrecognized.
    missing = tmp_path / "nope.opml"
    code, _, err = run_cli(capsys, "run", "--feeds", str(missing), flag)
    assert (code, err.strip()) == (2, f"newsbeam: error: feed list not found: {missing}")
    code, _, err = run_cli(capsys, "tag", flag, "--input", str(missing))
    assert code == 2 and "unrecognized" not in err and str(missing) in err


def test_demo_help_says_other_flags_go_to_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--streaming --poll-interval" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--feeds", "mine.txt"], "--feeds is"),
        (["--state_dir=st"], "--state-dir is"),
        (["--no-state", "--state-dir", "st"], "--no-state, --state-dir are"),
        (["--outlets=mine.csv"], "--outlets is"),
    ],
)
def test_demo_refuses_the_flags_that_would_not_do_what_they_say(
    capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    """The demo polls its own site with no state: a --feeds of the user's used to be polled
    under the sample site's banner, a --state-dir ignored without a word."""
    code, out, err = run_cli(capsys, "demo", *flags)
    assert code == 2 and out == ""
    assert named in err and "'newsbeam run'" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--all-storis"], "unknown option: --all-storis (did you mean --all-stories?)"),
        (["--fetch-timeout=abc"], "invalid float value: 'abc'"),
        (["stray"], "unexpected argument: stray"),
    ],
)
def test_demo_refuses_a_mistyped_flag_before_it_serves_its_site(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    # It printed "Serving the sample news site ..." and its six feeds, then the error.
    code, out, err = run_cli(capsys, "demo", *flags)
    assert (code, out) == (2, "")
    assert err.startswith("newsbeam: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["run", "demo"])
def test_no_temporary_folder_is_one_line_before_anything_is_written(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
) -> None:
    # TMPDIR, /tmp, /var/tmp and the working directory missing or read-only: Beam's (and the
    # demo's) temporary folder was a FileNotFoundError traceback
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    output = tmp_path / "out"
    argv = ["--output", str(output)] + (["--feeds", str(feeds)] if command == "run" else [])
    code, out, err = run_cli(capsys, command, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("newsbeam: error: cannot make a temporary folder (No such file")
    assert err.endswith("set TMPDIR to a folder this user can write\n") and err.count("\n") == 1
    assert not output.exists()


@pytest.mark.pipeline
def test_a_pool_that_cannot_make_its_socket_is_one_line(tmp_path: Path) -> None:
    # A TMPDIR over ~75 characters: the fork server's socket path is longer than a Unix
    # socket's 107 bytes, and --extract-processes ended in an "AF_UNIX path too long"
    # traceback. Its own process: a fork server started by an earlier test would be used.
    long_tmp = tmp_path / ("t" * max(1, 110 - len(str(tmp_path))))
    long_tmp.mkdir()
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/closed.rss\n")
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out"), "--no-state"]
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *argv, "--extract-processes", "2"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(long_tmp)},
        timeout=300,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "newsbeam: error: the pool of --extract-processes could not start: AF_UNIX path too "
        f"long (it makes its socket in the temporary folder {long_tmp}, and a socket's path "
        "has at most 107 bytes, 103 on macOS): set TMPDIR to a short folder this user can "
        "write\n"
    )


def test_run_refuses_a_feed_url_in_place_of_a_feed_list(capsys: pytest.CaptureFixture[str]) -> None:
    """It used to say Beam has no filesystem for http and to pip install apache-beam[gcp]."""
    code, _, err = run_cli(capsys, "run", "--feeds", "https://news.example/rss.xml")
    assert code == 2
    assert "feed list file" in err and "feeds.txt" in err and "apache-beam" not in err


@pytest.mark.pipeline
def test_a_run_that_could_read_no_feed_says_so_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Every poll failed (here a refused loopback address and a closed port): the summary
    balances at zero entries, which used to exit 0 as if the feeds were merely quiet."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/closed.rss\nhttp://127.0.0.2:9/other.rss\n")
    code, out, err = run_cli(capsys, "run", "--feeds", str(feeds), "--output", str(tmp_path))
    assert code == 4
    assert "feeds: 2 polled, 0 not modified, 2 failed" in out
    assert "no feed could be read" in err and "--allow-loopback" in err
    dead = [json.loads(line) for p in tmp_path.glob("dead_letters-*.jsonl") for line in p.open()]
    assert sorted(d["error_type"] for d in dead) == ["blocked_address", "blocked_address"]
    assert all(d["message"].endswith("(--allow-loopback opens it)") for d in dead)


@pytest.mark.pipeline
def test_a_standard_output_that_cannot_write_a_path_shows_it_escaped(tmp_path: Path) -> None:
    # PYTHONIOENCODING=ascii (or a C locale): the run was done and its state saved, then the
    # summary's "dead_letters: .../sortie-é/..." ended in a traceback, exit 1.
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("http://127.0.0.1:9/closed.rss\n")
    output = tmp_path / "sortie-\u00e9"
    argv = ["run", "--feeds", str(feeds), "--output", str(output), "--no-state"]
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *argv],
        capture_output=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0"},
        timeout=300,
    )
    assert result.returncode == 4, result.stderr  # no feed read: the summary's own code
    assert b"Traceback" not in result.stderr
    assert f"dead_letters: {tmp_path}/sortie-\\xe9/dead_letters-".encode() in result.stdout


@pytest.mark.parametrize("argv", [[], ["--version"], ["run", "--help"]])
def test_a_reader_that_went_away_ends_the_program_quietly(argv: list[str]) -> None:
    """``newsbeam ... | head``: no traceback, and the shell's code for SIGPIPE.

    stdout is buffered, as it is for a pipe unless PYTHONUNBUFFERED is set: the write fails
    when the program flushes at its end, which used to print "Exception ignored ...
    BrokenPipeError" and exit with 120.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails (EPIPE), as after `head` exits
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
            env=env,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.parametrize("argv", [["--version"], ["topics", "--help"]])
def test_a_closed_stdout_is_no_traceback(argv: list[str]) -> None:
    # As a shell's >&-: Python has sys.stdout None then, and "AttributeError: 'NoneType'
    # object has no attribute 'flush'" ended the program (exit 1, after a run's files).
    command = [sys.executable, "-m", "pipelines.cli", *argv]
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command],
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("command", ["tag", "cluster"])
def test_a_closed_stdin_is_one_line_not_a_traceback(command: str) -> None:
    # As a shell's <&-: Python has sys.stdin None, and "TypeError: 'NoneType' object is not
    # iterable" ended the command (exit 1).
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", sys.executable, "-m", "pipelines.cli", command],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"newsbeam {command}: standard input: closed (give --input FILE)\n"


@NEEDS_DEV_FULL
def test_a_full_stdout_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    # A command whose printing fails (argparse's own help and version swallow the error):
    # "OSError: [Errno 28] No space left on device" with a traceback.
    printing = tmp_path / "printing.py"
    printing.write_text(
        "import pipelines.cli as cli\n"
        "cli.main = lambda: print('x' * 100_000) or 0\n"  # more than stdout's buffer
        "cli.entry()\n"
    )
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, str(printing)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert (result.returncode, result.stderr) == (
        1,
        "newsbeam: error: cannot write to standard output: No space left on device\n",
    )


def test_an_error_that_is_not_the_standard_outputs_is_not_called_so() -> None:
    # Any OSError that main() let through was reported as "cannot write to standard
    # output": Beam's Cloud Storage errors (OSErrors with no errno) among them.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pipelines.cli as cli\n"
            "def fail(): raise OSError('Match operation failed: gs://b/out')\n"
            "cli.main = fail\n"
            "cli.entry()\n",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 1
    assert "standard output" not in result.stderr
    assert result.stderr.rstrip().endswith("OSError: Match operation failed: gs://b/out")


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("newsbeam")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "newsbeam" in result.stdout


def test_the_program_exits_with_the_commands_code_and_a_frozen_heap(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # entry() freezes the heap so that interpreter shutdown skips its garbage collections.
    monkeypatch.setattr(sys, "argv", ["newsbeam"])  # no command: help, exit code 2
    # What entry() sets for the process, undone for the tests after this one: PYTHONSAFEPATH
    # (empty: unset, to Python; left at "1", every later `python -m benchmarks...` a test
    # starts from the repository failed to find the package) and its SIGTERM handler.
    monkeypatch.setenv("PYTHONSAFEPATH", "")
    sigterm = signal.getsignal(signal.SIGTERM)
    frozen_before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as exited:
            entry()
        assert exited.value.code == 2
        assert gc.get_freeze_count() > frozen_before
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, sigterm)
    assert "usage: newsbeam" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--feed-text-min-chars", "-1"], "--feed-text-min-chars must not be negative"),
        (["--extract-processes", "0"], "--extract-processes must be between 1 and 64"),
        (["--extract-processes", "65"], "--extract-processes must be between 1 and 64"),
        (["--per-host-in-flight", "9"], "--per-host-in-flight must be between 1 and 4"),
        (["--fetch-timeout", "0"], "--fetch-timeout must be positive and at most 3600 (seconds)"),
        (["--min-text-chars", "-5"], "--min-text-chars must not be negative"),
        (["--contact-url", "https://me.example/\nX: 1"], "--contact-url must be one word"),
        (["--all-storis"], "unknown option: --all-storis (did you mean --all-stories?)"),
        (
            ["--topik=projects/my-project/topics/t"],
            "unknown option: --topik (did you mean --topic?)",
        ),
        (["-x"], "unknown option: -x (see 'newsbeam run --help'"),  # as written, not --x
        (
            ["--direct_num_worker", "2"],
            "unknown option: --direct_num_worker (did you mean --direct_num_workers?",
        ),
        # Beam declares its own flags with underscores only and drops the hyphenated spelling
        # (the run went on in_memory), although the option's name is known
        (
            ["--direct-running-mode", "multi_processing"],
            "unknown option: --direct-running-mode (did you mean --direct_running_mode?)",
        ),
        (["--runner", "NoSuchRunner"], "--runner: Unexpected pipeline runner: NoSuchRunner."),
        # each bound itself, not only a value far past it
        (["--per-host-in-flight", "5"], "--per-host-in-flight must be between 1 and 4"),
        (["--per-host-in-flight", "0"], "--per-host-in-flight must be between 1 and 4"),
        (
            ["--per-host-interval", "-0.5"],
            "--per-host-interval must be between 0 and 3600 (seconds)",
        ),
        (["--min-text-chars", "-1"], "--min-text-chars must not be negative"),
        (["--contact-url", "Jane Doe <jane@example.org>"], "--contact-url must be one word"),
        # a template launcher passes every parameter, an empty one as --feeds=
        (["--feeds="], "--feeds FILE is required"),
        (["--topic", "tagged-stories"], "--topic: not a Pub/Sub topic path: 'tagged-stories'"),
        (["--dead-letter-topic", "dead"], "--dead-letter-topic: not a Pub/Sub topic path: 'dead'"),
        # a project Pub/Sub refuses: every story failed at publishing, the run went on
        (
            ["--topic", "projects/audit/topics/stories"],
            "--topic: not a Pub/Sub topic path: 'projects/audit/topics/stories' (its project "
            "'audit' is not a Google Cloud project id",
        ),
        (
            ["--all-storis", "--topik=projects/my-project/topics/t"],
            "unknown options: --all-storis (did you mean --all-stories?), "
            "--topik (did you mean --topic?)",
        ),
        (["--runner", "no_such_module.Runner"], "--runner: No module named 'no_such_module'"),
        # values argparse refuses: Beam's parser printed the usage of every Beam flag first
        (
            ["--poll-interval", "5x"],
            "argument --poll-interval/--poll_interval: not a duration: '5x' (try 3600, 12h or 7d)",
        ),
        (["--streaming=false"], "argument --streaming: ignored explicit argument 'false'"),
        (["--duplicates", "maybe"], "argument --duplicates: invalid choice: 'maybe'"),
        (["--extract-processes", "two"], "argument --extract-processes/--extract_processes:"),
        (["--poll-interval", "5m"], "--poll-interval needs --streaming"),
    ],
)
def test_out_of_range_numbers_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], message: str
) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    code, _, err = run_cli(capsys, "run", "--feeds", str(feeds), "--output", str(tmp_path), *flags)
    assert code == 2
    assert err.startswith(f"newsbeam: error: {message}")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "content", "flag", "message"),
    [
        ("o.csv", "domain,country\nexample.com,USA\n", "--outlets", "o.csv, line 2: country"),
        ("t.yaml", "rules:\n  - name: r\n    match: 'a AND'\n", "--taxonomy", "rule 'r'"),
        ("t.yaml", "platforms: [1, 2\n", "--taxonomy", "not valid YAML"),
    ],
)
def test_bad_user_files_are_one_line_errors_before_the_run(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    content: str,
    flag: str,
    message: str,
) -> None:
    # Before, each was a traceback from inside the pipeline's first step to read the file
    # (and, with --extract-processes 2, a run that dead-lettered every page and exited 0).
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    (tmp_path / name).write_text(content)
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv, flag, str(tmp_path / name))
    assert code == 2
    assert err.startswith(f"newsbeam: error: {flag}: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "summary.json").exists()


def test_unwritable_state_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "state").write_text("a file where the state directory goes")
    code, _, err = run_cli(capsys, "run", "--feeds", str(feeds), "--output", str(tmp_path / "out"))
    assert code == 2
    state = tmp_path / "out" / "state"
    assert err.startswith(f"newsbeam: error: --state-dir: {state} is a file, not a folder")


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize(
    ("flag", "topic"),
    [
        ("--topic", "projects/project-1/topics/tagged-stories"),
        # publishing only the dead letters publishes too; the message names the flag given
        ("--dead-letter-topic", "projects/project-1/topics/dead"),
    ],
)
def test_publishing_without_credentials_is_one_line_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, topic: str
) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv, flag, topic)
    assert code == 2
    assert err.strip() == f"newsbeam: error: {flag}: {NO_CREDENTIALS}"


@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize("flag", ["--output", "--feeds", "--taxonomy", "--outlets"])
def test_cloud_storage_without_credentials_is_one_line_before_anything_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str
) -> None:
    # Beam's Cloud Storage client retried for two minutes in silence, then the run ended
    # with "cannot write to standard output: Match operation failed ...".
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    given = {"--feeds": str(feeds), "--output": str(tmp_path / "out"), flag: "gs://b/f"}
    argv = ["run", *(part for pair in given.items() for part in pair)]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert err == (
        f"newsbeam: error: {flag} gs://b/f: no Google Cloud credentials; run "
        "'gcloud auth application-default login'\n"
    )
    assert not (tmp_path / "out").exists()


def test_publishing_to_an_emulator_that_is_not_there_is_one_line_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PUBSUB_EMULATOR_HOST names a port nothing listens on: the run used to start, fetch
    everything and wait 30 s a bundle to dead-letter each story."""
    from tests.emulator import free_port

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv, "--topic", "projects/project-1/topics/tagged-stories")
    assert code == 2
    assert err.startswith("newsbeam: error: --topic: cannot reach the emulator at 127.0.0.1:")
    assert "scripts/pubsub-emulator start" in err


def test_a_runner_module_that_fails_to_import_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A runner named by its module whose import fails with a long message (a missing extra,
    # say): the first line of it, not the rest.
    (tmp_path / "site_runner.py").write_text(
        'raise ImportError("site_runner needs the cluster extra\\n  pip install site-runner")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv, "--runner", "site_runner.SiteRunner")
    assert code == 2
    assert err.strip() == "newsbeam: error: --runner: site_runner needs the cluster extra"


def test_a_runner_class_missing_from_its_module_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A fully qualified runner with its class misspelled (DataFlowRunner) was a traceback.
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv, "--runner", "apache_beam.runners.direct.DirectRuner")
    assert code == 2
    assert err.strip() == (
        "newsbeam: error: --runner: module 'apache_beam.runners.direct' has no attribute "
        "'DirectRuner'"
    )


@pytest.mark.parametrize("where", ["download", "missing copy"])
def test_prism_without_its_program_is_one_line(
    where: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Beam's Prism runner downloads its program from GitHub on first use; offline, or with
    # --prism_location naming no file, that was a 40-line traceback. The download goes to a
    # proxy on loopback that refuses it, so nothing leaves the machine.
    from apache_beam.runners.portability.prism_runner import PrismJobServer

    monkeypatch.setattr(PrismJobServer, "BIN_CACHE", str(tmp_path / "prism-cache"))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:1")
    # urlopen reads the proxy settings once, into the opener it keeps: a fresh one reads these
    monkeypatch.setattr(urllib.request, "_opener", None)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "out")]
    # Beam keeps one Prism job server per process, with the first run's options: each case
    # gets its own here
    argv += ["--runner", "PrismRunner", "--experiments", "disable_prism_server_singleton"]
    if where == "missing copy":
        argv += ["--prism_location", str(tmp_path / "no-such-prism.zip")]
    code, _, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.startswith("newsbeam: error: Beam's Prism runner could not get its program (")
    assert err.count("\n") == 1
    assert "give --prism_location a copy" in err
    assert ("no-such-prism.zip" in err) == (where == "missing copy")
    assert ("github.com" in err) == (where == "download")


def test_a_remote_runner_passes_unknown_flags_on_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A launcher (Dataflow's Flex Template) may add flags of its own: not refused there.
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.config import config_from_options

    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://news.example/rss\n")
    argv = ["--feeds", str(feeds), "--output", "gs://bucket/out", "--runner", "DataflowRunner"]
    flags = ["--launcher_only_flag=1", "--temp-location", "gs://bucket/tmp"]
    config = config_from_options(PipelineOptions([*argv, *flags]))
    assert not config.local_runner
    # named as written: Beam drops a hyphenated spelling of its own --temp_location too
    assert "passed on to the runner: --launcher_only_flag, --temp-location" in caplog.text


@pytest.mark.parametrize("text", ["0", "-5m", "inf", "nan", "5x", ""])
def test_durations_must_be_finite_and_positive(text: str) -> None:

    from pipelines.options import parse_duration

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)
    assert parse_duration("90") == 90 and parse_duration("15m") == 900


# --- newsbeam cluster ----------------------------------------------------------------------

CLUSTER_TEXT = (
    "The city council approved the new budget on Tuesday after a long debate about "
    "schools, roads and the harbour, and the mayor said the vote settled a year of "
    "arguments over taxes. Opposition members said they would keep pressing for a "
    "review of the harbour contract before the next election in the spring."
)


def run_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str]
) -> tuple[int, list[dict], str]:
    """``newsbeam cluster --input FILE`` on these lines: exit code, output objects, stderr."""
    src = tmp_path / "stories.jsonl"
    src.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    code, out, err = run_cli(capsys, "cluster", "--input", str(src))
    return code, [json.loads(line) for line in out.splitlines()], err


def test_cluster_skips_blank_lines_even_with_spaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    story = {"id": "a", "title": "Budget passes", "text": CLUSTER_TEXT}
    code, out, err = run_cluster(capsys, tmp_path, [json.dumps(story), "   ", "\t"])
    assert (code, err) == (0, "")
    assert out == [{"id": "a", "cluster_id": "a", "duplicate_of": None}]


def test_cluster_stories_at_one_canonical_url_are_one_story(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Same URL = same story (a page updated in place), whatever its text became; the URLs
    # are compared canonical, so a feed's tracking parameters make no other story.
    first = {"id": "a", "title": "Budget passes", "text": CLUSTER_TEXT}
    first["url"] = "https://news.example/budget?utm_source=rss"
    later = {"id": "b", "title": "Rain", "text": "Rain all week. " * 20}
    later["url"] = "https://news.example/budget"
    code, out, _ = run_cluster(capsys, tmp_path, [json.dumps(first), json.dumps(later)])
    assert code == 0
    assert [o["duplicate_of"] for o in out] == [None, "a"]


def test_cluster_input_order_decides_which_story_is_first(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Not the ids' order: "b" comes first in the input, so "a" is its copy.
    lines = [json.dumps({"id": i, "title": "Budget passes", "text": CLUSTER_TEXT}) for i in "ba"]
    code, out, _ = run_cluster(capsys, tmp_path, lines)
    assert code == 0
    assert [(o["cluster_id"], o["duplicate_of"]) for o in out] == [("b", None), ("b", "b")]


@pytest.mark.parametrize(
    ("story_id", "message"),
    [
        ("x" * 65535, None),  # the longest id there is: taken whole
        ("\u00e9" * 40000, "line 1: id longer than 65,535 bytes"),  # 40,000 chars, 80,000 bytes
    ],
)
def test_cluster_ids_are_limited_in_utf8_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, story_id: str, message: str | None
) -> None:
    story = {"id": story_id, "title": "Budget passes", "text": CLUSTER_TEXT}
    code, out, err = run_cluster(capsys, tmp_path, [json.dumps(story)])
    if message is None:
        assert code == 0 and out[0]["cluster_id"] == story_id
    else:
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cluster_published_at_must_be_a_string_or_null(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = {"id": "a", "title": "T", "text": CLUSTER_TEXT, "published_at": None}
    bad = {"id": "b", "title": "T", "text": CLUSTER_TEXT, "published_at": 1772616600}
    code, _, err = run_cluster(capsys, tmp_path, [json.dumps(good), json.dumps(bad)])
    assert code == 2
    assert "line 2: 'published_at' must be a string or null" in err


@pytest.mark.usefixtures("no_credentials")
def test_a_dataflow_run_names_what_it_lacks_before_anything_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # It printed nothing for minutes (the storage client retrying a gs:// feed list, or
    # Beam creating a default bucket), then, stopped, a summary of nothing and exit 0. The
    # feed list here does not exist: these checks come before it is read.
    argv = ["run", "--runner", "DataflowRunner", "--feeds", "gs://b/feeds.yaml"]
    code, _, err = run_cli(capsys, *argv, "--output", "gs://b/out", "--region", "europe-west1")
    assert code == 2
    assert err == (
        "newsbeam: error: --runner DataflowRunner needs --project, "
        "--temp_location gs://BUCKET/temp\n"
    )
    complete = [*argv, "--project", "my-project", "--region", "europe-west1"]
    code, _, err = run_cli(capsys, *complete, "--temp_location", "gs://b/temp")
    assert code == 2
    assert err == (
        "newsbeam: error: --runner DataflowRunner: no Google Cloud credentials; run "
        "'gcloud auth application-default login'\n"
    )


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_page_given_up_on_is_its_discard_not_library_logging_on_stderr(
    site: LoopbackSite, tmp_path: Path, processes: str
) -> None:
    # trafilatura logged four ERROR and WARNING lines ("empty HTML tree: URL", ...) for a page
    # the run rightly discarded as no_text (in this process; the pool's workers showed none of
    # trafilatura's, which ends at its own NullHandler there: that case guards only).
    base = site.add_host("news")
    site.route("news", "/empty", Response(body=b"  "))
    items = [FeedItem("Empty", f"{base}/empty", f"{base}/empty", "", WHEN)]
    site.route("news", "/rss", Response(body=rss_feed("news", base, items), content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    command = [
        sys.executable, "-m", "pipelines.cli", "run", "--feeds", str(feeds),
        "--output", str(tmp_path / "out"), "--allow-loopback", "--no-robots",
        "--extract-processes", processes,
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["discarded"] == {"no_text": 1}
    assert "trafilatura" not in done.stderr and "empty HTML tree" not in done.stderr
