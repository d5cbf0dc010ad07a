"""Tables, targets and environment for the throughput benchmark (``benchmarks/throughput.py``).

Consumes the measured rows (``Row``: tool, delay, articles, attempted, seconds,
peak memory, CPU seconds), the stage profile and the scaling rows; produces the Markdown
tables and the PASS/FAIL lines of issue 8's targets. Also reads newsbeam's run summary and
writes trafilatura's settings file.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import platform
import statistics
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Discard reasons given after extraction: the article was extracted, then set aside.
AFTER_EXTRACTION = ("enrich", "tag", "dedup")


@dataclass(frozen=True)
class Row:
    """One measured run: a tool on the site, with or without the delay."""

    tool: str
    delay: bool
    articles: int
    attempted: int
    seconds: float
    peak_mb: float
    cpu_s: float = 0.0
    note: str = ""

    @property
    def rate(self) -> float:
        """Articles per second."""
        return self.articles / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Round:
    """One ``--repeat`` round: the 2-process ceiling, then newsbeam at once and on the slow site
    (and, when measured, the floor: extraction alone inside Beam, ``throughput_floor``)."""

    ceiling: Row
    at_once: Row | None
    slow: Row | None
    floor: Row | None = None
    floor_analyse: Row | None = None  # the floor with newsbeam's AnalysePages as its pool


@dataclass(frozen=True)
class Spread:
    """newsbeam's ratio to the ceiling over several rounds, each against its own ceiling run."""

    median: float
    low: float
    high: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.median:.2f} (median of {self.rounds} rounds, {self.low:.2f}-{self.high:.2f})"


def spread(rounds: Sequence[Round], delay: bool, floor: str = "") -> Spread | None:
    """The ratio newsbeam / ceiling of each round on one site: median, lowest and highest.

    Args:
        floor: ``"floor"`` or ``"floor_analyse"``: that floor's ratio instead of newsbeam's
            (measured on the site at once; ``delay`` is not read).
    """
    ratios = sorted(
        nb.rate / r.ceiling.rate
        for r in rounds
        if (nb := getattr(r, floor) if floor else r.slow if delay else r.at_once) is not None
        and r.ceiling.rate > 0
    )
    if not ratios:
        return None
    return Spread(statistics.median(ratios), ratios[0], ratios[-1], len(ratios))


def rounds_table(rounds: Sequence[Round]) -> str:
    """Each round's runs and their ratios to that round's ceiling: newsbeam's two, and the
    floor's when the rounds measured it."""
    floors = [
        (name, label)
        for name, label in (("floor", "floor"), ("floor_analyse", "floor + AnalysePages"))
        if any(getattr(r, name) is not None for r in rounds)
    ]
    lines = [
        f"Repeated rounds ({len(rounds)}): the 2-process ceiling, "
        + "".join(f"then the {label}, " for _, label in floors)
        + "then newsbeam at once, then newsbeam on the slow site, alternated (articles/s)",
        "| round | ceiling, 2 processes | "
        + "".join(f"{label} | ratio | " for _, label in floors)
        + "newsbeam at once | ratio | newsbeam, slow site | ratio |",
        "|---:|---:|" + "---:|---:|" * len(floors) + "---:|---:|---:|---:|",
    ]

    def cells(nb: Row | None, ceiling: Row) -> str:
        if nb is None or not ceiling.rate:
            return "- | -"
        return f"{nb.rate:.1f} | {nb.rate / ceiling.rate:.2f}"

    for i, r in enumerate(rounds, 1):
        floor = "".join(f"{cells(getattr(r, name), r.ceiling)} | " for name, _ in floors)
        lines.append(
            f"| {i} | {r.ceiling.rate:.1f} | {floor}{cells(r.at_once, r.ceiling)} | "
            f"{cells(r.slow, r.ceiling)} |"
        )
    return "\n".join(lines)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return "unknown"


def environment(newsbeam_source: Path = REPO) -> str:
    """CPU, Python, library versions, the commit and the machine's load right now."""
    dirty = _git("status", "--porcelain", "--", "pipelines", "transforms", "benchmarks")
    commit = _git("rev-parse", "--short", "HEAD") + (" (+ uncommitted changes)" if dirty else "")
    if newsbeam_source.resolve() != REPO:
        commit += f"; newsbeam itself run from {newsbeam_source}"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"environment: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
        f"{platform.machine()}, Python {platform.python_version()}, apache-beam "
        f"{_version('apache-beam')}, trafilatura {_version('trafilatura')}, newspaper4k "
        f"{_version('newspaper4k')}, feedparser {_version('feedparser')}; commit {commit}; "
        f"load average {load}"
    )


def mix(pages: Sequence[Any]) -> str:
    """ "181 zyte, 30 newspaper4k, ..." for the site's pages."""
    counts = Counter(p.source for p in pages)
    return ", ".join(f"{n} {source}" for source, n in counts.items())


def row_line(row: Row) -> str:
    """One row as a progress line."""
    return (
        f"{row.tool}: {row.articles}/{row.attempted} articles in {row.seconds:.1f} s = "
        f"{row.rate:.1f}/s, peak {row.peak_mb:.0f} MB, CPU {row.cpu_s:.0f} s  {row.note}"
    )


def extracted_by_newsbeam(summary: dict[str, Any], output: Path) -> int:
    """Articles newsbeam extracted: published, plus those set aside after extraction."""
    later = 0
    for path in output.glob("discarded*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and json.loads(line).get("stage") in AFTER_EXTRACTION:
                later += 1
    return int(summary.get("published", 0)) + later


def trafilatura_config(overrides: dict[str, str]) -> str:
    """trafilatura's own settings file with ``overrides`` applied to [DEFAULT]."""
    import trafilatura

    parser = configparser.ConfigParser()
    parser.read(Path(trafilatura.__file__).parent / "settings.cfg")
    for key, value in overrides.items():
        parser["DEFAULT"][key] = value
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


CEILING_NEWSBEAM = "ceiling: bare_extraction as newsbeam calls it"
CEILING_DEFAULTS = "ceiling: bare_extraction, trafilatura's defaults"
FLOOR = "floor: that extraction alone in a Beam pipeline as newsbeam runs it"
FLOOR_ANALYSE = "floor + AnalysePages: the same with newsbeam's pool stage (enrich, tag too)"


def _best(rows: Sequence[Row], prefix: str, delay: bool) -> Row | None:
    found = [r for r in rows if r.tool.startswith(prefix) and r.delay == delay]
    return max(found, key=lambda r: r.rate) if found else None


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def comparison_table(rows: Sequence[Row]) -> str:
    """The main table: every row with its speed ratio to newsbeam on the same site."""
    lines = [
        "| site | tool | articles/s | articles (of entries) | seconds | peak memory | "
        "newsbeam ÷ tool | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        nb = _best(rows, "newsbeam", row.delay) or _best(rows, "newsbeam", False)
        ratio = f"{nb.rate / row.rate:.2f}x" if nb and row.rate else "-"
        lines.append(
            f"| {'100-300 ms' if row.delay else 'at once'} | {row.tool} | {row.rate:.1f} | "
            f"{row.articles} ({row.attempted}) | {row.seconds:.1f} | {row.peak_mb:.0f} MB | "
            f"{ratio} | {row.note} |"
        )
    return "\n".join(lines)


def not_extraction(profile: dict[str, Any] | None, run: Row | None) -> float:
    """The share of ``run``'s CPU (all its processes) that is not extraction as the profile
    measured it alone, per article (NaN if either is unknown)."""
    if not profile or not profile.get("articles") or not run or not run.articles or not run.cpu_s:
        return float("nan")
    extract_cpu = profile["stages"].get("extract", [0.0, 0.0])[1] / profile["articles"]
    return 1 - extract_cpu / (run.cpu_s / run.articles)


def profile_table(profile: dict[str, Any] | None, newsbeam: Row | None) -> tuple[str, float]:
    """Where newsbeam's CPU goes, and the share that is not extraction (NaN if unknown)."""
    if not profile or not profile.get("articles"):
        return "profile: not measured", float("nan")
    n = profile["articles"]
    per = {stage: cpu / n * 1000 for stage, (_wall, cpu) in profile["stages"].items()}
    total = newsbeam.cpu_s / newsbeam.articles * 1000 if newsbeam and newsbeam.articles else 0.0
    lines = [
        f"Profile: newsbeam's stage cores run serially on {n} articles of the same site "
        "(CPU ms per extracted article), against the CPU time of the whole newsbeam run "
        "(all its processes) per article" + (f": {total:.1f} ms" if total else ""),
        "| stage | CPU ms/article | share of the newsbeam run |",
        "|---|---:|---:|",
    ]
    for stage in ("feeds", "fetch", "extract", "enrich", "tag", "dedup"):
        ms = per.get(stage, 0.0)
        share = f"{ms / total:.1%}" if total else "-"
        lines.append(f"| {stage} | {ms:.2f} | {share} |")
    if total:
        rest = total - sum(per.values())
        lines.append(
            f"| Beam overhead, start-up, records between stages, sinks (the rest) | "
            f"{rest:.2f} | {rest / total:.1%} |"
        )
        return "\n".join(lines), not_extraction(profile, newsbeam)
    return "\n".join(lines), float("nan")


def scaling_table(rows: Sequence[Row]) -> tuple[str, float, float]:
    """Articles/s by size; per-article cost ratios (largest vs smallest of 500+) raw and marginal.

    The marginal cost of a size removes the fixed start-up cost: (seconds(n) - seconds(50))
    / (articles(n) - articles(50)), using the 50-article run.
    """
    if len(rows) < 3:
        return "", float("nan"), float("nan")
    base, sized = rows[0], rows[1:]
    lines = [
        "| articles | articles/s | seconds | ms/article | marginal ms/article | peak memory |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    raw, marginal = [], []
    for r in sized:
        cost = r.seconds / r.articles * 1000
        extra = (r.seconds - base.seconds) / max(r.articles - base.articles, 1) * 1000
        raw.append(cost)
        marginal.append(extra)
        lines.append(
            f"| {r.attempted} | {r.rate:.1f} | {r.seconds:.1f} | {cost:.1f} | {extra:.1f} | "
            f"{r.peak_mb:.0f} MB |"
        )
    lines.append(f"(fixed cost: the 50-article run took {base.seconds:.1f} s)")
    return "\n".join(lines), raw[-1] / raw[0], marginal[-1] / marginal[0]


def render(
    rows: Sequence[Row],
    profile: dict[str, Any] | None,
    scaling: Sequence[Row],
    n_articles: int,
    rounds: Sequence[Round] = (),
) -> str:
    """Every table and the targets (the two ceiling ratios from ``rounds`` when there are any:
    one run's ratio moves by several hundredths from one run to the next)."""
    parts = []
    if rows:
        parts.append(comparison_table(rows))
    if rounds:
        parts.append(rounds_table(rounds))
    prof, non_extraction = profile_table(profile, _best(rows, "newsbeam", False))
    parts.append(prof)
    scale, raw_ratio, marginal_ratio = scaling_table(scaling)
    if scale:
        parts.append("Scaling (newsbeam, stream articles only, site answering at once)\n" + scale)
    # The targets compare newsbeam with the ceiling of its own extraction call; the ceiling of
    # trafilatura's defaults (slower: its fallback extractors) is shown alongside.
    ceiling = _best(rows, f"{CEILING_NEWSBEAM}, 2", False)
    defaults_ceiling = _best(rows, f"{CEILING_DEFAULTS}, 2", False)
    nb0, nb1 = _best(rows, "newsbeam", False), _best(rows, "newsbeam", True)
    traf, serial = _best(rows, "trafilatura", True), _best(rows, "serial", True)

    def frac(r: Row) -> float:
        return r.articles / r.attempted if r.attempted else 0.0

    def ceiling_ratio(nb: Row | None, delay: bool, target: float) -> tuple[Any, bool] | None:
        repeated = spread(rounds, delay)
        if repeated is not None:
            return repeated, repeated.median >= target
        if nb and ceiling:
            return nb.rate / ceiling.rate, nb.rate >= target * ceiling.rate
        return None

    checks = [
        (
            "no delay: newsbeam >= 80% of the 2-process ceiling",
            ceiling_ratio(nb0, False, 0.8),
        ),
        (
            "100-300 ms delay: newsbeam >= 70% of the 2-process ceiling",
            ceiling_ratio(nb1, True, 0.7),
        ),
        (
            "delay: newsbeam >= 2x trafilatura CLI, at least as many articles",
            nb1
            and traf
            and traf.rate
            and (nb1.rate / traf.rate, nb1.rate >= 2 * traf.rate and nb1.articles >= traf.articles),
        ),
        (
            # the serial script is stopped after its time budget: newsbeam must extract at least
            # as many articles (the words) and as large a share of those it tried
            "delay: newsbeam >= 5x the serial script, at least as many articles and as large a "
            "share extracted",
            nb1
            and serial
            and serial.rate
            and (
                nb1.rate / serial.rate,
                nb1.rate >= 5 * serial.rate
                and nb1.articles >= serial.articles
                and frac(nb1) >= frac(serial),
            ),
        ),
    ]
    lines = ["Targets:"]
    for name, outcome in checks:
        if outcome:
            value, ok = outcome
            shown = value if isinstance(value, Spread) else f"{value:.2f}"
            lines.append(f"- {name}: {shown} -> {_verdict(ok)}")
        else:
            lines.append(f"- {name}: n/a (not measured)")
    floor_row = _best(rows, FLOOR, False)
    for name, prefix, what in (
        (
            "floor",
            FLOOR,
            "the floor, extraction alone inside Beam as newsbeam runs it, start-up included "
            "(the most newsbeam could reach)",
        ),
        ("floor_analyse", FLOOR_ANALYSE, "the floor with newsbeam's AnalysePages as its pool"),
    ):
        over_rounds = spread(rounds, False, floor=name)
        row = _best(rows, prefix, False)
        ratio = str(over_rounds) if over_rounds else None
        if ratio is None and row and ceiling and ceiling.rate:
            ratio = f"{row.rate / ceiling.rate:.2f}"
        if ratio:
            lines.append(f"- (for information) {what}: {ratio} of the 2-process ceiling")
    if nb0 and nb1 and defaults_ceiling:
        lines.append(
            "- (for information) the same two ratios against the 2-process ceiling of "
            f"trafilatura's defaults: {nb0.rate / defaults_ceiling.rate:.2f} / "
            f"{nb1.rate / defaults_ceiling.rate:.2f}"
        )
    # every newsbeam run at this size, the --repeat rounds' included
    round_rows = [r for rnd in rounds for r in (rnd.at_once, rnd.slow) if r is not None]
    peaks = [r.peak_mb for r in [*rows, *round_rows] if r.tool.startswith("newsbeam")]
    if peaks and n_articles >= 2000:
        lines.append(
            f"- peak memory < 2 GB ({n_articles} articles): {max(peaks):.0f} MB -> "
            f"{_verdict(max(peaks) < 2048)}"
        )
    else:
        lines.append("- peak memory < 2 GB for 2,000 articles: n/a (needs --articles >= 2000)")
    if non_extraction == non_extraction:  # not NaN
        lines.append(
            f"- non-extraction share of newsbeam's CPU < 20%: {non_extraction:.1%} -> "
            f"{_verdict(non_extraction < 0.2)}"
        )
    floor_share = not_extraction(profile, floor_row)
    if floor_share == floor_share:
        lines.append(
            "- (for information) the floor's CPU that is not extraction (Beam, the pool, "
            f"start-up, decoding): {floor_share:.1%}"
        )
    if raw_ratio == raw_ratio:
        lines.append(
            f"- per-article cost at the largest size within 1.25x of 500: raw "
            f"{raw_ratio:.2f}, marginal {marginal_ratio:.2f} -> "
            f"{_verdict(max(raw_ratio, marginal_ratio) <= 1.25)}"
        )
    parts.append("\n".join(lines))
    return "\n\n".join(parts)
