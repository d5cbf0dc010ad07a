"""Extraction quality: our article bodies against the Zyte benchmark's ground truth.

Reads ../shared/corpus/articles/zyte (181 real news pages, their true article bodies,
and the published outputs of trafilatura, newspaper and readability.js), runs
newsbeam's extraction core on every page as the pipeline does after fetching (nothing is
fetched: each page's stored bytes, ``html/*.html.gz``, are decoded by newsbeam's HTTP layer,
``HttpResult.text()``, then ``transforms.analysis.extract_article``), and prints token-level
precision, recall and F1 (macro averages; ``benchmarks/scoring.py``) for ours and the
published outputs, scored the same way in the same run.

``--compare-default`` also runs trafilatura as newsbeam calls it (``fast=True``: one
extraction pass) against the same call with trafilatura's default (``fast=False``: the
fallback cascade), on the same decoded pages, in alternated rounds: the F1 of each and the
time of each (median of the rounds, and the ratio's range).

Usage: python -m benchmarks.extraction_quality [--corpus DIR] [--compare-default [--rounds 3]]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import CORPUS
from benchmarks.scoring import Score, mean_scores, score  # noqa: E402
from transforms.analysis import extract_article, trafilatura_document  # noqa: E402
from transforms.http import HttpResult  # noqa: E402
from transforms.records import Article, FeedEntry, FetchedPage  # noqa: E402


def stored_page(raw: bytes, url: str) -> FetchedPage:
    """A stored page's bytes as the fetch stage would pass them on: decoded by ``HttpResult``."""
    result = HttpResult(
        url=url,
        final_url=url,
        status=200,
        headers={"content-type": "text/html"},
        body=raw,
        content_type="text/html",
        etag=None,
        last_modified=None,
    )
    return FetchedPage(
        entry=FeedEntry(feed_url="", link=url, key=url),
        url=url,
        final_url=url,
        status=200,
        content_type="text/html",
        html=result.text(),
        fetched_at="",
    )


def stored_pages(zyte: Path, truth: dict[str, dict[str, str]]) -> dict[str, FetchedPage]:
    """Every page of the ground truth, read from ``html/<id>.html.gz`` and decoded."""
    return {
        page_id: stored_page(
            gzip.decompress((zyte / "html" / f"{page_id}.html.gz").read_bytes()), item["url"]
        )
        for page_id, item in truth.items()
    }


def our_bodies(zyte: Path, truth: dict[str, dict[str, str]]) -> tuple[dict[str, str], float]:
    """Extract every page with newsbeam's core; returns bodies by id and seconds spent."""
    bodies: dict[str, str] = {}
    spent = 0.0
    for page_id, page in stored_pages(zyte, truth).items():
        start = time.perf_counter()
        article = extract_article(page, min_text_chars=0)
        spent += time.perf_counter() - start
        bodies[page_id] = article.text if isinstance(article, Article) else ""
    return bodies, spent


def _default_mode_body(page: FetchedPage) -> str:
    """trafilatura's body text with its default (``fast=False``), otherwise as newsbeam calls it.

    ``trafilatura_document`` installs newsbeam's trims on its first call; by then they are in.
    """
    from trafilatura import bare_extraction

    doc = bare_extraction(
        page.html, url=page.final_url, include_comments=False, with_metadata=True, fast=False
    )
    return (getattr(doc, "text", None) or "").strip()


def _fast_mode_body(page: FetchedPage) -> str:
    doc = trafilatura_document(page.html, page.final_url)
    return (doc.text or "").strip() if doc is not None else ""


def compare_default(zyte: Path, truth: dict[str, dict[str, str]], rounds: int) -> list[str]:
    """newsbeam's ``fast=True`` against trafilatura's default, alternated: report lines."""
    pages = stored_pages(zyte, truth)
    modes = {"fast=True (newsbeam)": _fast_mode_body, "fast=False (default)": _default_mode_body}
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    bodies: dict[str, dict[str, str]] = {name: {} for name in modes}
    for n in range(rounds):
        order = list(modes) if n % 2 == 0 else list(reversed(modes))
        for name in order:
            start = time.process_time()
            for page_id, page in pages.items():
                bodies[name][page_id] = modes[name](page)
            seconds[name].append(time.process_time() - start)
    fast, default = modes
    ratios = [f / d for f, d in zip(seconds[fast], seconds[default], strict=True)]
    lines = [
        f"trafilatura mode, same pages, {rounds} alternated rounds (CPU time, one core):",
        "| mode | precision | recall | F1 | ms/page (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in modes:
        p, r, f1 = _scores(bodies[name], truth)
        ms = 1000 * statistics.median(seconds[name]) / len(pages)
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {ms:.2f} |")
    lines.append(
        f"time fast / default: median {statistics.median(ratios):.2f}"
        f" (rounds {min(ratios):.2f}-{max(ratios):.2f})"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the shared corpus folder; reads the Zyte pages in articles/zyte/ in it"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--compare-default",
        action="store_true",
        help="also measure trafilatura's default mode (fast=False) against newsbeam's"
        " (fast=True): F1 and time, alternated rounds",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of each mode with --compare-default (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    zyte = args.corpus / "articles" / "zyte"
    if not zyte.exists():
        print(f"skipped: corpus not found at {zyte}")
        return 0
    truth = json.loads((zyte / "ground-truth.json").read_text())
    ours, seconds = our_bodies(zyte, truth)
    rows: list[tuple[str, tuple[float, float, float]]] = [
        ("newsbeam (this run)", _scores(ours, truth)),
    ]
    for name in ("trafilatura", "newspaper", "readability_js"):
        published = json.loads((zyte / "output" / f"{name}.json").read_text())
        if "output" in published and "version" in published:  # {version, output} files
            published = published["output"]
        bodies = {k: (v or {}).get("articleBody", "") for k, v in published.items()}
        rows.append((f"{name} (published output)", _scores(bodies, truth)))
    print(f"Extraction quality on {len(truth)} Zyte pages (token-level, macro average)")
    print(
        f"python {platform.python_version()}, {platform.machine()}, "
        f"{len(truth) / seconds:.1f} pages/s for our extraction on one core"
    )
    print(f"| {'extractor':<34} | precision | recall |    F1 | F1 vs ours |")
    print(f"|{'-' * 36}|-----------|--------|-------|------------|")
    ours_f1 = rows[0][1][2]
    for name, (p, r, f1) in rows:
        print(f"| {name:<34} |     {p:.3f} |  {r:.3f} | {f1:.3f} |      {f1 / ours_f1:.3f} |")
    published_f1 = rows[1][1][2]
    verdict = "PASS" if ours_f1 >= published_f1 else "FAIL"
    print(f"target: our F1 >= published trafilatura F1: {verdict}")
    if args.compare_default:
        print()
        print("\n".join(compare_default(zyte, truth, args.rounds)))
    return 0 if verdict == "PASS" else 1


def _scores(bodies: dict[str, str], truth: dict[str, dict[str, str]]) -> tuple[float, float, float]:
    scores: list[Score] = [score(bodies.get(k, ""), v["articleBody"]) for k, v in truth.items()]
    return mean_scores(scores)


if __name__ == "__main__":
    sys.exit(main())
