"""Extraction quality: our article bodies against the Zyte benchmark's ground truth.

Reads ../shared/corpus/articles/zyte (181 real news pages, their true article bodies,
and the published outputs of trafilatura, newspaper and readability.js), runs
newsbeam's extraction core on every page exactly as the pipeline does (bytes decoded
by our HTTP layer, then ``transforms.analysis.extract_article``), and prints token-level
precision, recall and F1 (macro averages; ``benchmarks/scoring.py``) for ours and the
published outputs, scored the same way in the same run.

Usage: python benchmarks/extraction_quality.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scoring import Score, mean_scores, score  # noqa: E402
from transforms.analysis import extract_article  # noqa: E402
from transforms.http import HttpResult  # noqa: E402
from transforms.records import Discard, FeedEntry, FetchedPage  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def our_bodies(zyte: Path, truth: dict[str, dict[str, str]]) -> tuple[dict[str, str], float]:
    """Extract every page with newsbeam's core; returns bodies by id and seconds spent."""
    bodies: dict[str, str] = {}
    spent = 0.0
    for page_id, item in truth.items():
        raw = gzip.decompress((zyte / "html" / f"{page_id}.html.gz").read_bytes())
        url = item["url"]
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
        page = FetchedPage(
            entry=FeedEntry(feed_url="", link=url, key=url),
            url=url,
            final_url=url,
            status=200,
            content_type="text/html",
            html=result.text(),
            fetched_at="",
        )
        start = time.perf_counter()
        article = extract_article(page, min_text_chars=0)
        spent += time.perf_counter() - start
        bodies[page_id] = "" if isinstance(article, Discard) else article.text
    return bodies, spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="the shared corpus folder; reads the Zyte pages in articles/zyte/ in it"
        " (default: %(default)s)",
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
    return 0 if verdict == "PASS" else 1


def _scores(bodies: dict[str, str], truth: dict[str, dict[str, str]]) -> tuple[float, float, float]:
    scores: list[Score] = [score(bodies.get(k, ""), v["articleBody"]) for k, v in truth.items()]
    return mean_scores(scores)


if __name__ == "__main__":
    sys.exit(main())
