"""Measure the tagger: accuracy on the labelled dev set, and speed against trafilatura.

Reads ../shared/corpus/topic-dev/labels.jsonl, runs them through ``newsbeam tag`` (the
command's own code path, in-process), and prints precision/recall/F1 of ``relevant`` against
``in_scope`` and micro P/R/F1 per facet, scored as GUIDELINE.md prescribes. It tags the
bundled sample news site (``transforms/data/sample_site``: each article rendered with its
outlet's template and extracted with trafilatura, as the pipeline does) and prints relevance
against the manifest's on/off-topic verdicts, naming every miss. Then it extracts
the Zyte benchmark pages (../shared/corpus/articles/zyte/html/*.html.gz) with trafilatura and
tags the extracted articles, on one core in the same run, and prints tagging throughput
(MB of text per second), both per-article times and their ratio.

Usage::

    .venv/bin/python benchmarks/tagging_eval.py [--corpus ../shared/corpus] [--taxonomy FILE]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import tag_command  # noqa: E402
from transforms.tagger import Tagger  # noqa: E402
from transforms.tagger.scoring import format_table, read_labels, score  # noqa: E402


def accuracy(labels_path: Path, taxonomy: str | None) -> str:
    """Run the tag command over the dev set and score it.

    Args:
        labels_path: topic-dev/labels.jsonl.
        taxonomy: A user taxonomy file, or None.

    Returns:
        The score table.
    """
    rows = read_labels(labels_path)
    lines = [json.dumps({"id": r["id"], "title": r["title"], "text": r["text"]}) for r in rows]
    out = io.StringIO()
    tagger = Tagger.load(taxonomy)
    for result in tag_command.tag_lines(tagger, lines):
        out.write(json.dumps(result) + "\n")
    predictions = {p["id"]: p for p in map(json.loads, out.getvalue().splitlines())}
    table = format_table(score(rows, predictions))
    in_scope = sum(r["in_scope"] for r in rows)
    return f"dev set: {len(rows)} articles, {in_scope} in scope\n{table}"


def sample_site(taxonomy: str | None) -> str:
    """Tag the bundled sample site's articles as the pipeline sees them; score relevance.

    Args:
        taxonomy: A user taxonomy file, or None.

    Returns:
        A report: relevance precision/recall against the manifest, and each miss.
    """
    from pipelines.sample_manifest import load_manifest
    from pipelines.sample_site import render_article
    from transforms.analysis import extract_article
    from transforms.records import Article, FeedEntry, FetchedPage

    manifest = load_manifest()
    tagger = Tagger.load(taxonomy)
    tp = fp = fn = tn = 0
    misses = []
    for art in manifest.articles.values():
        base = f"http://{art.host}.example"
        url = base + art.path
        entry = FeedEntry(feed_url=base + "/feed", link=url, key=url, title=art.title)
        html = render_article(manifest, art, base)
        extracted = extract_article(FetchedPage(entry, url, url, 200, "text/html", html, ""))
        if not isinstance(extracted, Article):
            misses.append(f"  not extracted: {art.id}")
            continue
        relevant = tagger.tag(extracted.title, extracted.text).relevant
        on_topic = art.topic == "on_topic"
        tp += relevant and on_topic
        fp += relevant and not on_topic
        fn += on_topic and not relevant
        tn += not (relevant or on_topic)
        if relevant != on_topic:
            misses.append(f"  {'missed' if on_topic else 'false alarm'}: {art.title}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    head = (
        f"sample site: {tp + fn} on-topic, {fp + tn} off-topic articles; relevance precision"
        f" {precision:.3f} ({tp}/{tp + fp}), recall {recall:.3f} ({tp}/{tp + fn}),"
        f" off-topic kept out {tn}/{fp + tn}"
    )
    return "\n".join([head, *misses])


def speed(html_dir: Path, taxonomy: str | None, repeats: int) -> str:
    """Time trafilatura extraction and tagging of the same pages, in this process.

    Args:
        html_dir: The folder of ``*.html.gz`` pages.
        taxonomy: A user taxonomy file, or None.
        repeats: How many times to tag the whole set (tagging is fast; repeats steady it).

    Returns:
        A report of both times and their ratio.
    """
    import trafilatura

    pages = [
        gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
        for p in sorted(html_dir.glob("*.html.gz"))
    ]
    articles: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    for html in pages:
        doc = trafilatura.bare_extraction(html, include_comments=False, with_metadata=True)
        text = getattr(doc, "text", None)
        if text:
            articles.append((getattr(doc, "title", None) or "", text))
    extract_s = time.perf_counter() - t0
    tagger = Tagger.load(taxonomy)
    per_round = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for title, text in articles:
            tagger.tag(title, text)
        per_round.append(time.perf_counter() - t0)
    tag_s = statistics.median(per_round)
    relevant = sum(tagger.tag(title, text).relevant for title, text in articles)
    chars = sum(len(t) + len(x) for t, x in articles)
    mb = sum(len(t.encode()) + len(x.encode()) for t, x in articles) / 1e6
    extract_ms = 1000 * extract_s / len(pages)
    tag_ms = 1000 * tag_s / len(articles)
    five_kb_ms = tag_ms * 5000 / (chars / len(articles))
    return "\n".join(
        [
            f"speed: {len(pages)} Zyte pages, {len(articles)} extracted, "
            f"mean {chars / len(articles):,.0f} characters of text",
            f"trafilatura extraction  {extract_ms:8.2f} ms/article ({len(pages) / extract_s:.1f}"
            " pages/s, one core)",
            f"tagging                 {tag_ms:8.3f} ms/article ({mb / tag_s:.2f} MB/s, median of"
            f" {repeats} rounds, one core); {five_kb_ms:.3f} ms per 5,000 characters",
            f"ratio tagging/extraction {tag_ms / extract_ms:7.1%} (target < 10%)",
            f"tagged relevant: {relevant}/{len(articles)} of these unlabelled general-news pages",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Print the accuracy table and the speed comparison.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        0, or 2 when the corpus is missing.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=ROOT.parent / "shared" / "corpus",
        help="the shared corpus folder; reads topic-dev/labels.jsonl and articles/zyte/html/ in"
        " it (default: %(default)s)",
    )
    parser.add_argument(
        "--taxonomy",
        metavar="FILE",
        help="a taxonomy YAML file merged over the bundled one (default: the bundled one alone)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="times the extracted Zyte articles are tagged for the speed figure, which is the"
        " median round (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    labels = args.corpus / "topic-dev" / "labels.jsonl"
    html_dir = args.corpus / "articles" / "zyte" / "html"
    if not labels.is_file() or not html_dir.is_dir():
        print(f"corpus not found under {args.corpus}", file=sys.stderr)
        return 2
    print(accuracy(labels, args.taxonomy))
    print()
    print(sample_site(args.taxonomy))
    print()
    print(speed(html_dir, args.taxonomy, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
