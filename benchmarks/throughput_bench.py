"""One benchmark invocation's runs: each tool started as its own process tree and measured.

Consumes the loopback site (``benchmarks.newsite.NewsSite``), a work folder and the parsed
flags of ``benchmarks.throughput``; produces ``throughput_report.Row`` records (articles,
seconds, peak memory and CPU of each run's process tree, ``benchmarks.proctree``), printing
each as it is measured. newsbeam runs as a user runs it (``python -m pipelines.cli run``);
the ceiling, the serial script, newspaper4k and the stage profile run in
``benchmarks.throughput_workers``; trafilatura's own CLI in ``benchmarks.trafilatura_cli``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shlex
import sys
from pathlib import Path
from typing import Any

from benchmarks import throughput_report as report
from benchmarks.newsite import NewsSite
from benchmarks.proctree import Measured, measure
from benchmarks.throughput_report import Row

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
# trafilatura's CLI settings: loopback addresses allowed (SSRF_PROTECTION), no sleep between
# requests to a host (newsbeam bounds the requests in flight to a host but waits none between
# them), and the shortest text kept the same as newsbeam's (250 characters).
TRAFILATURA_SETTINGS = {"SSRF_PROTECTION": "off", "SLEEP_TIME": "0", "MIN_OUTPUT_SIZE": "250"}


def worker_row(tool: str, delay: bool, res: dict[str, Any], m: Measured, note: str) -> Row:
    """A table row from a ``throughput_workers`` result and its process tree's measurement."""
    return Row(
        tool,
        delay,
        res["articles"],
        res["attempted"],
        res["seconds"],
        m.peak_tree_mb,
        m.cpu_s,
        note,
    )


class Bench:
    """The site, its files and every measured row of one benchmark invocation."""

    def __init__(self, site: NewsSite, work: Path, args: argparse.Namespace) -> None:
        self.site, self.work, self.args = site, work, args
        self.rows: list[Row] = []
        self.rounds: list[report.Round] = []
        self.newsbeam_runs = 0
        self.profile: dict[str, Any] | None = None
        self.feeds_file = site.write_feed_list(work / "feeds.txt")
        self.named_feeds_file = site.write_feed_list(work / "named-feeds.txt", named=True)
        self.pages_file = work / "pages.pkl"
        with self.pages_file.open("wb") as f:
            pickle.dump([(site.url_of(p), p.body_gz) for p in site.pages], f)

    def add(self, row: Row, keep: bool = True) -> Row:
        """Print ``row``; ``keep``: also a row of the main table (not a ``--repeat`` round's)."""
        if keep:
            self.rows.append(row)
        print(f"  {report.row_line(row)}", flush=True)
        return row

    def worker(self, mode: str, *extra: str, timeout: float | None = None) -> tuple[dict, Measured]:
        cmd = [PY, "-m", "benchmarks.throughput_workers", mode, *extra]
        m = measure(cmd, timeout=timeout, cwd=REPO)
        if m.returncode != 0 or not m.stdout.strip():
            raise RuntimeError(f"{mode} failed ({m.returncode}): {m.stderr[-2000:]}")
        return json.loads(m.stdout.strip().splitlines()[-1]), m

    def ceiling(self, processes: int, call: str = "newsbeam", keep: bool = True) -> Row:
        res, m = self.worker(
            "ceiling",
            "--pages",
            str(self.pages_file),
            "--processes",
            str(processes),
            "--call",
            call,
        )
        name = report.CEILING_NEWSBEAM if call == "newsbeam" else report.CEILING_DEFAULTS
        tool = f"{name}, {processes} process{'es' if processes > 1 else ''}"
        note = "HTML in memory; imports and one-time loads before the clock"
        row = worker_row(tool, False, res, m, note)
        return self.add(row, keep)

    def floor(self, analyse: bool = False, keep: bool = True) -> Row:
        """Extraction alone in a Beam pipeline as newsbeam runs it (``throughput_floor``);
        ``analyse``: with newsbeam's AnalysePages as the pool, which also enriches and tags."""
        flags = ["--analyse"] if analyse else []
        res, m = self.worker("floor", "--pages", str(self.pages_file), "--processes", "2", *flags)
        note = "DirectRunner in memory, a pool of 2; Beam's start-up included"
        tool = report.FLOOR_ANALYSE if analyse else report.FLOOR
        return self.add(worker_row(tool, False, res, m, note), keep)

    def run_profile(self) -> None:
        res, m = self.worker(
            "profile", "--feeds", str(self.feeds_file), "--every", str(self.args.profile_every)
        )
        self.profile = res

    def newsbeam(
        self, delay: bool, settings: str, label: str = "newsbeam", keep: bool = True
    ) -> Row:
        self.newsbeam_runs += 1  # a fresh output (and state) directory for every run
        out = self.work / f"nb-{self.newsbeam_runs}"
        cmd = [
            PY,
            "-m",
            "pipelines.cli",
            "run",
            "--feeds",
            str(self.feeds_file),
            "--output",
            str(out),
            "--allow-loopback",
            "--no-robots",
            "--all-stories",
            *shlex.split(settings),
        ]
        source = self.args.newsbeam_source
        env = _importable(source) if source != REPO else None
        m = measure(cmd, cwd=source, env=env, timeout=self.args.timeout)
        summary_file = out / "summary.json"
        if not summary_file.exists():
            raise RuntimeError(f"newsbeam failed ({m.returncode}): {m.stderr[-3000:]}")
        summary = json.loads(summary_file.read_text())
        articles = report.extracted_by_newsbeam(summary, out)
        note = settings + (f"; exit {m.returncode}" if m.returncode else "")
        return self.add(
            Row(
                label,
                delay,
                articles,
                summary.get("entries", 0),
                m.seconds,
                m.peak_tree_mb,
                m.cpu_s,
                note,
            ),
            keep,
        )

    def serial(self, delay: bool) -> Row:
        res, m = self.worker(
            "serial", "--feeds", str(self.feeds_file), "--budget", str(self.args.budget)
        )
        note = f"stopped after {self.args.budget:.0f} s" if res.get("capped") else ""
        return self.add(
            worker_row("serial script: feedparser+requests+trafilatura", delay, res, m, note)
        )

    def newspaper4k(self, delay: bool) -> Row | None:
        try:
            import newspaper  # noqa: F401
        except ImportError:
            print("  newspaper4k: not installed (`make bench-throughput` installs it)")
            return None
        threads = str(self.args.newspaper_threads)
        res, m = self.worker(
            "newspaper4k",
            "--feeds",
            str(self.feeds_file),
            "--threads",
            threads,
            "--budget",
            str(self.args.budget),
        )
        note = f"newspaper.article in {threads} threads (as fetch_news), fetch_images=False"
        note += f"; stopped after {self.args.budget:.0f} s" if res.get("capped") else ""
        return self.add(worker_row("newspaper4k (feedparser for links)", delay, res, m, note))

    def trafilatura(self, delay: bool, parallel: int) -> Row:
        out = self.work / f"traf-{len(self.rows)}"
        config = self.work / "trafilatura.cfg"
        config.write_text(report.trafilatura_config(TRAFILATURA_SETTINGS))
        names = ",".join(f"{name}={ip}" for name, ip in self.site.names.items())
        cmd = [
            PY,
            "-m",
            "benchmarks.trafilatura_cli",
            names,
            "-i",
            str(self.named_feeds_file),
            "--feed",
            "--parallel",
            str(parallel),
            "-o",
            str(out),
            "--no-comments",
            "--with-metadata",
            "--config-file",
            str(config),
        ]
        m = measure(cmd, cwd=self.work, env=_importable(REPO), timeout=self.args.timeout)
        files = [f for f in out.rglob("*") if f.is_file()] if out.exists() else []
        note = f"--parallel {parallel}, SLEEP_TIME=0, SSRF_PROTECTION=off"
        if m.timed_out:
            note += f"; stopped after {self.args.timeout:.0f} s"
        if not files:
            note += f"; nothing extracted: {m.stderr.strip()[-300:]}"
        return self.add(
            Row(
                "trafilatura CLI (--feed)",
                delay,
                len(files),
                len(self.site.pages),
                m.seconds,
                m.peak_tree_mb,
                m.cpu_s,
                note,
            )
        )


def _importable(source: Path) -> dict[str, str]:
    """The environment, with ``source`` first on the module path of a child process."""
    return {**os.environ, "PYTHONPATH": str(source)}
