"""Large pages: does each stage's cost grow linearly with the page, up to the size cap?

A page may be up to ``max_page_bytes`` (10 MB) and a feed up to ``max_feed_bytes``; one stage
that is quadratic in a page's size or in its number of hits holds a worker for minutes (the
tagger was, until commit c389d4c). For each shape of page below, this builds a small page
(``--small-mb``, 0.25 MB) and a large one (``--large-mb``, 4 MB) of the same content repeated,
and measures the CPU of each stage on both: the pool's analysis of the page (extract, enrich,
tag: ``Analyser.analyse``), the clustering's fingerprint of the text extracted from it, and,
for the feed shape, the feed parser. The small page runs as many times as it takes to process
as many bytes as the large one does once, so both figures are long enough to read. It prints
the cost per MB at each size and their ratio: a linear stage keeps the ratio near 1 (caches
and allocation move it a little), a quadratic one multiplies it by the size ratio (16x by
default). Then the peak of the Python heap during each stage on the large page, and how much
of the large page's text (its characters outside tags) the story holds.

Target: every ratio under 2, over the pages whose story holds the page's text (at least
``MIN_KEPT`` of it). A page whose story is cut, such as the nested ``<div>``s (libxml2 stops
at its nesting depth limit, 256, so the 0.25 MB and the 4 MB page give the same story), tests
truncation, not linearity: the stages past the parser see the same text at both sizes. Its row
is printed, marked, with how much text was lost, and left out of the worst ratio.

Synthetic content, no corpus needed: sentences from a vocabulary of the taxonomy's own words
(so the tagger finds hits everywhere), ambiguous names among company words, links, tables,
lists, ``<br>`` lines, dates, deep nesting, one endless word, and an RSS feed of many items.

Usage: python -m benchmarks.large_pages [--small-mb 0.25] [--large-mb 4] [--only SHAPE,...]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput_report import environment  # noqa: E402
from transforms.analyser import Analyser, AnalysisSettings, preload  # noqa: E402
from transforms.feed_parsing import parse_feed  # noqa: E402
from transforms.minhash import fingerprint  # noqa: E402
from transforms.records import Failure, FeedEntry, FeedSpec, FetchedPage, TaggedStory  # noqa: E402

TARGET_RATIO = 2.0
MIN_KEPT = 0.9  # a story holding less of its page's text is a truncated page, not a scaling test
_MB = 1024 * 1024
_VOCABULARY = tuple(
    re.findall(
        r"\S+",
        "the government said TikTok Beijing platform user data regulators ban forced sale "
        "ByteDance court ruling minister accounts network removed coordinated inauthentic "
        "behavior propaganda state media company shares market policy law official Monday "
        "Washington Brussels commission fine investigation election campaign citizens report",
    )
)
_AMBIGUOUS = tuple(
    re.findall(r"\S+", "Apple Meta Amazon X Apple's company shares iPhone Instagram")
)


def _sentence(rng: random.Random, words: tuple[str, ...] = _VOCABULARY) -> str:
    return " ".join(rng.choice(words) for _ in range(15)).capitalize() + ". "


def _page(body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>A long page</title></head><body>{body}</body></html>"


def _inside(*tags: str) -> Callable[[str], str]:
    """The wrapper putting the repeated units inside ``<article>`` and then ``tags``."""
    opening = "".join(f"<{tag}>" for tag in ("article", *tags))
    closing = "".join(f"</{tag}>" for tag in reversed(("article", *tags)))
    return lambda body: _page(opening + body + closing)


# Each shape: (one repeated unit of the body, the wrapper around the repeated units).
Unit = Callable[[random.Random, int], str]
SHAPES: dict[str, tuple[Unit, Callable[[str], str]]] = {
    "paragraphs": (lambda r, i: f"<p>{_sentence(r)}</p>", _inside()),
    "one_paragraph": (lambda r, i: _sentence(r), _inside("p")),
    "ambiguous_names": (lambda r, i: f"<p>{_sentence(r, _AMBIGUOUS)}</p>", _inside()),
    "links": (
        lambda r, i: f"<p><a href='/story/{i}'>{_sentence(r)}</a> {_sentence(r)}</p>",
        _inside(),
    ),
    "table": (lambda r, i: f"<tr><td>{i}</td><td>{_sentence(r)}</td></tr>", _inside("table")),
    "list": (lambda r, i: f"<li>{_sentence(r)}</li>", _inside("ul")),
    "br_lines": (lambda r, i: f"{_sentence(r)}<br>", _inside("p")),
    "dates": (
        lambda r, i: (
            f"<p>On {r.randint(1, 28)} Jun {r.randint(1990, 2030)}, 4:03: {_sentence(r)}</p>"
        ),
        _inside(),
    ),
    "flat_divs": (
        lambda r, i: f"<div class='c{i % 50}'><span>{i}</span> {_sentence(r)}</div>",
        _page,
    ),
    "nested_divs": (lambda r, i: f"<div>{_sentence(r)}", _page),
    "endless_word": (lambda r, i: "x" * 100, _inside("p")),
}
FEED = "feed"  # RSS items, through the feed parser


def _rss(body: str) -> str:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    )


def _rss_item(rng: random.Random, i: int) -> str:
    return (
        f"<item><title>{_sentence(rng)}</title><link>http://news.example/s/{i}</link>"
        f"<guid>g{i}</guid><description>{_sentence(rng)}</description>"
        "<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>"
    )


def build(unit: Unit, wrap: Callable[[str], str], size_bytes: int, seed: int = 1) -> str:
    """The wrapped document of as many units as reach ``size_bytes`` (UTF-8)."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size_bytes:
        part = unit(rng, len(parts))
        parts.append(part)
        total += len(part.encode())
    return wrap("".join(parts))


def _cpu(fn: Callable[[], object], times: int) -> float:
    """CPU seconds of ``times`` calls of ``fn``."""
    start = time.process_time()
    for _ in range(times):
        fn()
    return time.process_time() - start


def peak_heap(fn: Callable[[], object]) -> float:
    """Peak of the Python heap (NumPy's arrays included, libxml2's trees not) during ``fn()``, MB.

    A separate call from the timed ones: tracing slows every allocation.
    """
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / _MB
    finally:
        tracemalloc.stop()


@dataclass
class Cost:
    """CPU seconds of each stage on one document, and the peak heap of each when measured.

    ``kept`` is the share of the page's text (characters outside tags) in the story, None for
    a feed or a page that gave no story; ``refused`` the dead letter's error type of a page
    newsbeam refused (``too_deeply_nested``: a page the parser read only in part).
    """

    megabytes: float
    seconds: dict[str, float]
    peak_mb: dict[str, float]
    kept: float | None = None
    refused: str | None = None


def page_text_chars(html: str) -> int:
    """Characters of ``html`` outside its tags (the benchmark's pages have no scripts)."""
    return len(re.sub(r"<[^>]*>", "", html))


def _measure(
    stages: dict[str, Callable[[], object]], times: int, heap: bool
) -> tuple[dict[str, float], dict[str, float]]:
    seconds = {name: _cpu(fn, times) for name, fn in stages.items()}
    peaks = {name: peak_heap(fn) for name, fn in stages.items()} if heap else {}
    return seconds, peaks


def page_cost(analyser: Analyser, html: str, times: int, heap: bool) -> Cost:
    """CPU of ``times`` analyses of ``html`` and fingerprints of the text extracted."""
    url = "http://news.example/a-long-page"
    entry = FeedEntry(feed_url="http://news.example/rss", link=url, key=url, title="A long page")
    page = FetchedPage(entry, url, url, 200, "text/html", html, "2026-11-02T10:00:00Z")
    stages: dict[str, Callable[[], object]] = {"analyse": lambda: analyser.analyse(page)}
    outcome = analyser.analyse(page)
    kept = None
    if isinstance(outcome, TaggedStory):
        article = outcome.story.article
        stages["fingerprint"] = lambda: fingerprint(article.title, article.text)
        kept = len(article.text) / max(1, page_text_chars(html))
    elif not isinstance(outcome, Failure):
        print(f"(no story from this page, only its analysis is measured: {outcome})")
    seconds, peaks = _measure(stages, times, heap)
    refused = outcome.error_type if isinstance(outcome, Failure) else None
    return Cost(times * len(html.encode()) / _MB, seconds, peaks, kept, refused)


def feed_cost(xml: str, times: int, heap: bool) -> Cost:
    body, spec = xml.encode(), FeedSpec("http://news.example/rss")
    parsed = parse_feed(body, spec)
    if not parsed.entries:
        raise SystemExit(f"the benchmark's feed parsed to no entries: {parsed}")
    stages: dict[str, Callable[[], object]] = {"parse_feed": lambda: parse_feed(body, spec)}
    seconds, peaks = _measure(stages, times, heap)
    return Cost(times * len(body) / _MB, seconds, peaks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [*SHAPES, FEED]
    parser.add_argument(
        "--small-mb",
        type=float,
        default=0.25,
        help="size of the small page in MB, above 0 and below --large-mb; it is processed as many"
        " times as make up the large page's size (default: %(default)s)",
    )
    parser.add_argument(
        "--large-mb",
        type=float,
        default=4.0,
        help="size of the large page in MB, at most 10 (the page size cap) (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        metavar="SHAPE,...",
        help=f"comma-separated shapes of page to measure, of: {', '.join(names)} (default: all)",
    )
    args = parser.parse_args(argv)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown shape(s) {', '.join(unknown)}; choose from {', '.join(names)}")
        names = wanted
    if not 0 < args.small_mb < args.large_mb <= 10:
        parser.error("need 0 < --small-mb < --large-mb <= 10")

    preload()
    analyser = Analyser(AnalysisSettings(250, None, None, True))
    print(
        f"| shape | stage | s/MB at {args.small_mb} MB | s/MB at {args.large_mb} MB | ratio "
        f"| peak heap at {args.large_mb} MB | story / page text at {args.large_mb} MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    cut: list[str] = []
    repeats = round(args.large_mb / args.small_mb)  # the small page to the large one's bytes
    for name in names:
        costs = []
        for megabytes, times, heap in ((args.small_mb, repeats, False), (args.large_mb, 1, True)):
            size = int(megabytes * _MB)
            if name == FEED:
                costs.append(feed_cost(build(_rss_item, _rss, size), times, heap))
            else:
                unit, wrap = SHAPES[name]
                costs.append(page_cost(analyser, build(unit, wrap, size), times, heap))
        small, large = costs
        truncated = large.refused is not None or (large.kept is not None and large.kept < MIN_KEPT)
        if large.refused is not None:
            cut.append(f"{name} (refused: {large.refused})")
        elif truncated:
            cut.append(f"{name} ({large.kept:.1%} of its text kept)")
        kept = large.refused or ("" if large.kept is None else f"{large.kept:.1%}")
        for stage in (s for s in small.seconds if s in large.seconds):
            per_small = small.seconds[stage] / small.megabytes
            per_large = large.seconds[stage] / large.megabytes
            ratio = per_large / max(per_small, 1e-9)
            if not truncated:
                worst = max(worst, ratio)
            print(
                f"| {name} | {stage} | {per_small:.2f} | {per_large:.2f} | {ratio:.2f}"
                f"{' (cut: not in the worst)' if truncated else ''} "
                f"| {large.peak_mb[stage]:.0f} MB | {kept} |",
                flush=True,
            )
    verdict = "PASS" if worst < TARGET_RATIO else "FAIL"
    print(f"\n{environment()}")
    if cut:
        print(
            f"story cut short at {args.large_mb} MB (under {MIN_KEPT:.0%} of the page's text)"
            f" or page refused, left out of the worst ratio: {', '.join(cut)}"
        )
    print(f"worst ratio {worst:.2f} (target: under {TARGET_RATIO}): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
