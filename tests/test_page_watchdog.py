"""The pool worker's watchdog (``transforms/page_watchdog.py``), in a child process of its own:
it ends the process that runs a page past its CPU limit, saying which page, and leaves alone
one whose pages end in time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from transforms.page_watchdog import EXIT_PAGE_TOO_SLOW

ROOT = Path(__file__).resolve().parents[1]


def _child(body: str) -> subprocess.CompletedProcess[str]:
    script = "from transforms.page_watchdog import PageWatchdog\n" + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )


def test_a_page_past_its_cpu_limit_ends_the_process_naming_the_page() -> None:
    result = _child(
        """
        watchdog = PageWatchdog(0.5)
        with watchdog.page("https://news.example/slow"):
            while True:
                pass
        """
    )
    assert result.returncode == EXIT_PAGE_TOO_SLOW
    assert result.stderr == (
        "newsbeam: a page took more than 0.5 s of CPU to analyse, so its worker process ends"
        " (the page is a dead letter): https://news.example/slow\n"
    )


def test_cpu_between_pages_and_pages_within_the_limit_end_nothing() -> None:
    # Each page's time is its own: three pages of 0.4 s each, and 1 s of work outside any
    # page, under a limit of 0.5 s.
    result = _child(
        """
        import time

        def spin(seconds):
            end = time.process_time() + seconds
            while time.process_time() < end:
                pass

        watchdog = PageWatchdog(0.5)
        for n in range(3):
            with watchdog.page(f"https://news.example/{n}"):
                spin(0.4)
        spin(1.0)
        print("done")
        """
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
