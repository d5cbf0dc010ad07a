"""A run's limit on open files (pipelines/open_files.py): macOS gives a process 256."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import rss_feed
from pipelines.open_files import limit_note, raise_limit
from pipelines.stopping import files_failed
from tests.conftest import REPO, add_pages
from tests.test_pipeline_e2e import OFF_TOPIC, seed_story

HOSTS = 300  # their connections, kept for the next request to each, pass 256


def _limit(soft_and_hard: tuple[int, int | None]) -> Callable[[], None]:
    """For the child: its limit on open files (None: the hard limit as it is)."""

    def limited() -> None:
        soft, hard = soft_and_hard
        current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, current_hard if hard is None else hard))

    return limited


def _run_over_many_hosts(tmp_path: Path, limit: Callable[[], None]) -> dict[str, Any]:
    """A one-shot run, in a child under ``limit``, over HOSTS loopback hosts of two entries
    each; its summary (the run must end with exit code 0)."""
    raise_limit()  # this process serves the hosts' connections
    title, text = seed_story()
    feeds = tmp_path / "feeds.txt"
    with LoopbackSite() as site:
        urls = []
        for n in range(HOSTS):
            base = site.add_host(f"h{n}")
            rows = [
                (f"/a{n}", f"{title} ({n})", f"{text} Report {n}."),
                (f"/b{n}", "Cup", OFF_TOPIC),
            ]
            items = add_pages(site, f"h{n}", rows)
            body = rss_feed(f"h{n}", base, items)
            site.route(f"h{n}", "/rss", Response(body=body, content_type="application/rss+xml"))
            urls.append(f"{base}/rss")
        feeds.write_text("\n".join(urls) + "\n")
        out = tmp_path / "out"
        argv = ["run", "--feeds", str(feeds), "--output", str(out), "--allow-loopback"]
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", *argv, "--no-robots"],
            cwd=REPO, preexec_fn=limit, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "state" / "seen.jsonl").read_text().count("\n") == 2 * HOSTS
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


@pytest.mark.pipeline
def test_a_run_over_300_hosts_under_macos_limit_on_open_files_ends_well(tmp_path: Path) -> None:
    # Connections failed with "Too many open files" (feed polls failed, their entries never
    # seen), and past that Beam's last step did: a 140-line traceback, exit 1, no stories.
    # macOS gives 256 files, its hard limit higher: the run raises its own.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard limit on open files here is {hard}: the run could not raise it")
    summary = _run_over_many_hosts(tmp_path, _limit((256, None)))
    assert summary["feeds"]["failed"] == {}
    assert (summary["entries"], summary["failed"]) == (2 * HOSTS, {})


@pytest.mark.pipeline
def test_a_run_over_300_hosts_under_a_hard_limit_of_256_files_keeps_fewer_connections(
    tmp_path: Path,
) -> None:
    # A shell's "ulimit -n 256" sets the hard limit too: the run cannot raise it, and kept
    # 256 hosts' connections: 12 to 14 feed polls failed with "Too many open files".
    summary = _run_over_many_hosts(tmp_path, _limit((256, 256)))
    assert summary["feeds"]["failed"] == {}
    assert (summary["entries"], summary["failed"]) == (2 * HOSTS, {})


def test_too_many_open_files_in_a_step_is_one_line_naming_the_limit() -> None:
    # As Beam reports it: the OSError's text inside its own exception, with the step.
    beams = RuntimeError(
        "OSError: [Errno 24] Too many open files: '/x/synchronize.py' "
        "[while running 'WriteFeedStates/Write/WriteImpl/FinalizeWrite']"
    )
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert files_failed(beams) == (
        "Too many open files: '/x/synchronize.py' (step WriteFeedStates/Write/WriteImpl/"
        f"FinalizeWrite) (this process may have {soft} files and connections open at once; "
        f"{limit_note().split('; ', 1)[1]})"
    )
    own = OSError(errno.EMFILE, os.strerror(errno.EMFILE))
    assert files_failed(own) == f"Too many open files ({limit_note()})"


@pytest.mark.parametrize(("hard", "raised"), [(1000, 1000), (8000, 4096)])
def test_the_limit_is_raised_no_further_than_the_hard_limit(hard: int, raised: int) -> None:
    code = (
        "import resource, sys; from pipelines.open_files import raise_limit; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, int(sys.argv[1]))); "
        "print(raise_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(hard)], cwd=REPO, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert done.stdout.split() == [str(raised), str(raised), str(hard)]
