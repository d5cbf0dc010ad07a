"""Shared fixtures: the third-party corpus, loopback sites, and pipeline runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem
from tests.guard import loopback_guard
from tests.http_support import config as http_config
from transforms.http import HttpClient, HttpConfig
from transforms.tagger import fields
from transforms.tagger.matcher import normalise

pytest_plugins = ["tests.emulator"]

REPO = Path(__file__).resolve().parents[1]
# A device every write to fails with ENOSPC (a full disk): Linux has one, macOS has none.
NEEDS_DEV_FULL = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
# Pipeline tests' runner: FnApiRunner, what the DirectRunner runs batch pipelines on once its
# first choice, Prism, fails (naming it skips Prism, which would download a binary).
RUNNER_ARGS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]
# Streaming pipeline tests' runner (TestStream, timers): the one the DirectRunner falls back
# to for a streaming pipeline once Prism fails; named, Prism is not tried.
STREAMING_RUNNER_ARGS = ["--runner=BundleBasedDirectRunner", "--streaming"]
WHEN = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)  # when the test sites' stories were published
CORPUS = REPO.parent / "shared" / "corpus"
GUARD = REPO / "tests" / "guard"
_PYTHONPATH = os.environ.get("PYTHONPATH", "")


def corpus_missing(reason: str) -> NoReturn:
    """Skip the calling test because (a part of) the third-party corpus is absent; on CI
    (``CI=true``), which always has ../shared/corpus, fail it instead, as ``tests.emulator``
    does for a missing emulator."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must have it")
    pytest.skip(reason)


def corpus_path(*parts: str) -> Path:
    """A path in ../shared/corpus; skips the calling test with a reason when it is absent
    (fails it on CI: ``corpus_missing``)."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        corpus_missing(f"third-party corpus not found at {path}")
    return path


@pytest.fixture(autouse=True, scope="session")
def loopback_only_in_processes_the_tests_start() -> Iterator[None]:
    """Every Python process a test starts (the ``newsbeam`` command, Beam's worker processes,
    the extraction pool) guards its sockets as the test process does (``tests/guard``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD), _PYTHONPATH])))
        patch.setenv(loopback_guard.ENV, "1")
        yield


@pytest.fixture(autouse=True, scope="session")
def temporary_files_under_pytests_basetemp(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Temporary files of the tests, and of the processes they start, go under pytest's base
    temporary directory (which keeps only the last runs'), not /tmp: Beam makes a directory
    for every Pipeline object and removes it only when that pipeline runs, and graph tests
    build pipelines they never run."""
    directory = str(tmp_path_factory.mktemp("tempfile"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", directory)
        patch.setattr(tempfile, "tempdir", directory)
        yield


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any connection attempt to an address outside 127.0.0.0/8 or ::1, and any name
    lookup but of a loopback name (every test); and fail the test afterwards if it tried,
    even where the code under test caught the guard's error."""
    monkeypatch.setattr(socket.socket, "connect", loopback_guard.guarded(socket.socket.connect))
    monkeypatch.setattr(
        socket.socket, "connect_ex", loopback_guard.guarded(socket.socket.connect_ex)
    )
    monkeypatch.setattr(socket, "getaddrinfo", loopback_guard.guarded_lookup(socket.getaddrinfo))
    before = len(loopback_guard.VIOLATIONS)
    yield
    tried = loopback_guard.VIOLATIONS[before:]
    assert not tried, f"the test reached beyond loopback (an error may have been caught): {tried}"


@pytest.fixture
def site() -> Iterator[LoopbackSite]:
    """A fresh loopback news site; hosts are added by the test."""
    with LoopbackSite() as s:
        yield s


@dataclass
class RunOutput:
    """What one pipeline run left in its output directory."""

    summary: dict[str, Any]
    stories: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    discards: list[dict[str, Any]]


def read_jsonl(directory: Path, prefix: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(directory.glob(f"{prefix}*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


@pytest.fixture
def emulator_listening(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """PUBSUB_EMULATOR_HOST names a loopback port something listens on (and answers nothing):
    enough for a run's checks before it starts (credentials not needed, the emulator there),
    for tests that build a graph or a config with publishing flags and run nothing."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        host = f"127.0.0.1:{server.getsockname()[1]}"
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        yield host


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No emulator and no Google Cloud credentials (a key file and gcloud config that do not
    exist), whatever the machine running the tests has."""
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``newsbeam ARGV`` in this process: its exit code, stdout and stderr."""
    from pipelines.cli import main  # imported when used: most test files need no CLI

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_newsbeam(feed_list: Path, output: Path, *extra: str) -> RunOutput:
    """Run the batch pipeline in-process on the DirectRunner, loopback allowed."""
    from pipelines.monitor import run

    run(["--feeds", str(feed_list), "--output", str(output), "--allow-loopback", *extra])
    return RunOutput(
        summary=json.loads((output / "summary.json").read_text()),
        stories=read_jsonl(output, "stories"),
        dead_letters=read_jsonl(output, "dead_letters"),
        discards=read_jsonl(output, "discarded"),
    )


def assert_accounting(out: RunOutput) -> None:
    """entries == published + discarded + failed, in the summary and in the files."""
    s = out.summary
    assert s["entries"] == s["published"] + sum(s["discarded"].values()) + sum(s["failed"].values())
    assert len(out.stories) == s["published"]
    assert len(out.discards) == sum(s["discarded"].values())
    entry_failures = [d for d in out.dead_letters if d["counts_entry"]]
    assert len(entry_failures) == sum(s["failed"].values())


def evidence_problems(title: str, text: str, tags: Iterable[Mapping[str, Any]]) -> list[str]:
    """Each way the tags' evidence (their JSON, as published) fails to point at the story.

    Read as a consumer would, from the story alone: a title snippet is ``title[start:end]``,
    a lede or body snippet ``text[start:end]`` (lede first, body after it), and the snippet is
    the term that matched as the matcher compares them (``transforms.tagger.matcher.normalise``:
    case, apostrophes, whitespace; a ``term*`` prefix: the snippet starts with it).
    """
    lede_end = len(fields(title, text)["lede"])
    problems = []
    for tag in tags:
        if not tag["evidence"]:
            problems.append(f"{tag['facet']}:{tag['value']} has no evidence")
        for ev in tag["evidence"]:
            source = title if ev["field"] == "title" else text
            snippet, term = ev["snippet"], normalise(ev["term"])
            where = f"{tag['value']} {ev}"
            if source[ev["start"] : ev["end"]] != snippet:
                problems.append(f"{where}: the story has {source[ev['start'] : ev['end']]!r}")
            in_body = ev["start"] >= lede_end
            if ev["field"] != "title" and (ev["field"] == "body") != in_body:
                problems.append(f"{where}: not in its field (the lede ends at {lede_end})")
            said = normalise(snippet)
            if not (said == term or (term.endswith("*") and said.startswith(term[:-1]))):
                problems.append(f"{where}: the snippet is not the term")
    return problems


def fresh_python_prints(code: str) -> str:
    """What ``code`` prints in a new Python process started in the repository (imports there
    start from nothing, unlike in the test process)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def article_html(title: str, text: str, url: str, *, author: str = "Staff Reporter") -> bytes:
    """A realistic news page around an article body (nav, sidebar, footer)."""
    paragraphs = "".join(f"<p>{escape(p)}</p>\n" for p in text.split("\n") if p.strip())
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        f'<link rel="canonical" href="{escape(url)}">'
        f'<meta name="author" content="{escape(author)}"></head><body>'
        f'<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/tech">Tech</a></nav>'
        f"<main><article><h1>{escape(title)}</h1>{paragraphs}</article></main>"
        f'<aside><h3>Most read</h3><ul><li><a href="/x">Weather turns</a></li></ul></aside>'
        f"<footer>Copyright 2026. All rights reserved.</footer></body></html>"
    ).encode()


def add_pages(
    site: LoopbackSite, host: str, rows: Sequence[tuple[str, str, str | None]]
) -> list[FeedItem]:
    """Serve an article page for each ``(path, headline, body)`` on ``host``.

    A row whose body is None is left unrouted (the link answers 404).

    Returns:
        The feed items that link to the pages, in order, published at ``WHEN``.
    """
    base = site.base_url(host)
    for path, headline, body in rows:
        if body is not None:
            site.route(host, path, Response(body=article_html(headline, body, base + path)))
    return [FeedItem(headline, base + path, base + path, "", WHEN) for path, headline, _ in rows]


@pytest.fixture
def client() -> Iterator[HttpClient]:
    """An HTTP client for loopback sites, with fast failures (``tests.http_support.config``)."""
    c = HttpClient(http_config())
    yield c
    c.close()


@pytest.fixture
def new_client() -> Iterator[Callable[..., HttpClient]]:
    """Makes ``HttpClient``s with the arguments given, and closes each when the test ends."""
    made: list[HttpClient] = []

    def make(config: HttpConfig, **kwargs: Any) -> HttpClient:
        made.append(HttpClient(config, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()
