"""Measure the tagger: accuracy on the labelled dev set, and speed against trafilatura.

Reads ../shared/corpus/topic-dev/labels.jsonl, runs them through ``newsbeam tag`` (the
command's own code path, in-process), and prints precision/recall/F1 of ``relevant`` against
``in_scope`` and micro P/R/F1 per facet, scored as GUIDELINE.md prescribes. It tags the
bundled sample news site (``transforms/data/sample_site``: each article rendered with its
outlet's template and extracted with trafilatura, as the pipeline does) and prints relevance
against the manifest's on/off-topic verdicts, naming every miss. Then the speed: the Zyte
benchmark pages (../shared/corpus/articles/zyte/html/*.html.gz, decoded by newsbeam's HTTP
layer) are extracted with trafilatura as newsbeam calls it
(``transforms.analysis.trafilatura_document``: ``fast=True``, newsbeam's trims) and the
extracted articles tagged, in alternated rounds on one core (``--rounds``: an extraction pass
over the pages, then a tagging pass over the articles, the order swapped every other round);
it prints tagging throughput (MB of text per second), both per-article times (median of the
rounds) and the median ratio of tagging to extraction with its range over the rounds.

Targets (README, Tagging), each printed PASS or FAIL; the exit code is 1 when one fails:
relevance precision >= 0.90 and F1 >= 0.90; platforms, state_actors and controversies F1 >=
0.85 each; tagging under 10% of extraction (the median ratio). Without the corpus it prints
``skipped: ...`` and exits 0.

Usage::

    .venv/bin/python -m benchmarks.tagging_eval [--corpus ../shared/corpus] [--taxonomy FILE]
        [--rounds 5]
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

from benchmarks import CORPUS  # noqa: E402
from benchmarks.extraction_quality import stored_page  # noqa: E402
from benchmarks.tagging_scoring import PRF, format_table, read_labels, score  # noqa: E402
from pipelines import tag_command  # noqa: E402
from transforms.analysis import trafilatura_document  # noqa: E402
from transforms.tagger import Tagger  # noqa: E402

# (measure, "precision" or "f1", the least value): the README's targets for the dev set.
ACCURACY_TARGETS = (
    ("relevance", "precision", 0.90),
    ("relevance", "f1", 0.90),
    ("platforms", "f1", 0.85),
    ("state_actors", "f1", 0.85),
    ("controversies", "f1", 0.85),
)
MAX_TAG_SHARE = 0.10  # tagging time under 10% of extraction's, per article


def accuracy_verdicts(scores: dict[str, PRF]) -> list[tuple[str, bool]]:
    """One ``(line, passed)`` per accuracy target."""
    verdicts = []
    for measure, attribute, least in ACCURACY_TARGETS:
        value = getattr(scores[measure], attribute)
        passed = value >= least
        name = "P" if attribute == "precision" else "F1"
        verdicts.append(
            (
                f"target {measure} {name} >= {least:.2f}: {value:.3f}:"
                f" {'PASS' if passed else 'FAIL'}",
                passed,
            )
        )
    return verdicts


def accuracy(labels_path: Path, taxonomy: str | None) -> tuple[str, dict[str, PRF]]:
    """Run the tag command over the dev set and score it.

    Args:
        labels_path: topic-dev/labels.jsonl.
        taxonomy: A user taxonomy file, or None.

    Returns:
        The score table, and the scores.
    """
    rows = read_labels(labels_path)
    lines = [json.dumps({"id": r["id"], "title": r["title"], "text": r["text"]}) for r in rows]
    out = io.StringIO()
    tagger = Tagger.load(taxonomy)
    for result in tag_command.tag_lines(tagger, lines):
        out.write(json.dumps(result) + "\n")
    predictions = {p["id"]: p for p in map(json.loads, out.getvalue().splitlines())}
    scores = score(rows, predictions)
    in_scope = sum(r["in_scope"] for r in rows)
    return f"dev set: {len(rows)} articles, {in_scope} in scope\n{format_table(scores)}", scores


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


def speed(zyte: Path, taxonomy: str | None, rounds: int) -> tuple[str, bool]:
    """Time extraction as newsbeam calls it and tagging of the same pages, alternated.

    Args:
        zyte: The Zyte benchmark folder (``html/*.html.gz``; ``ground-truth.json`` for URLs).
        taxonomy: A user taxonomy file, or None.
        rounds: Rounds of one extraction pass over the pages and one tagging pass over the
            articles extracted, the order swapped every other round.

    Returns:
        A report of both times and their ratio, and whether the ratio's target is met.
    """
    truth = json.loads((zyte / "ground-truth.json").read_text())
    urls = {page_id: item.get("url", "") for page_id, item in truth.items()}
    pages = [
        stored_page(gzip.decompress(path.read_bytes()), urls.get(path.name[: -len(".html.gz")], ""))
        for path in sorted((zyte / "html").glob("*.html.gz"))
    ]
    tagger = Tagger.load(taxonomy)
    articles: list[tuple[str, str]] = []

    def extract_all() -> None:
        articles.clear()
        for page in pages:
            doc = trafilatura_document(page.html, page.final_url or None)
            text = (doc.text or "").strip() if doc is not None else ""
            if text:
                articles.append((doc.title or "" if doc is not None else "", text))

    extract_all()  # the articles to tag in the first round, and newsbeam's trims installed
    extract_s: list[float] = []
    tag_s: list[float] = []
    for n in range(rounds):
        for step in ("extract", "tag") if n % 2 == 0 else ("tag", "extract"):
            t0 = time.process_time()
            if step == "extract":
                extract_all()
            else:
                for title, text in articles:
                    tagger.tag(title, text)
            (extract_s if step == "extract" else tag_s).append(time.process_time() - t0)
    ratios = [(t / len(articles)) / (e / len(pages)) for e, t in zip(extract_s, tag_s, strict=True)]
    ratio = statistics.median(ratios)
    relevant = sum(tagger.tag(title, text).relevant for title, text in articles)
    chars = sum(len(t) + len(x) for t, x in articles)
    mb = sum(len(t.encode()) + len(x.encode()) for t, x in articles) / 1e6
    extract_ms = 1000 * statistics.median(extract_s) / len(pages)
    tag_ms = 1000 * statistics.median(tag_s) / len(articles)
    five_kb_ms = tag_ms * 5000 / (chars / len(articles))
    passed = ratio < MAX_TAG_SHARE
    report = "\n".join(
        [
            f"speed: {len(pages)} Zyte pages, {len(articles)} extracted, "
            f"mean {chars / len(articles):,.0f} characters of text; {rounds} alternated rounds,"
            " CPU time, one core",
            f"extraction as newsbeam calls it {extract_ms:8.2f} ms/article (median round)",
            f"tagging                         {tag_ms:8.3f} ms/article (median round,"
            f" {mb / statistics.median(tag_s):.2f} MB/s); {five_kb_ms:.3f} ms per 5,000"
            " characters",
            f"ratio tagging/extraction: median {ratio:.1%} (rounds {min(ratios):.1%}"
            f"-{max(ratios):.1%})",
            f"target tagging < {MAX_TAG_SHARE:.0%} of extraction: {ratio:.1%}:"
            f" {'PASS' if passed else 'FAIL'}",
            f"tagged relevant: {relevant}/{len(articles)} of these unlabelled general-news pages",
        ]
    )
    return report, passed


def main(argv: list[str] | None = None) -> int:
    """Print the accuracy table and the speed comparison.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        0 when every target passes or the corpus is missing (skipped), 1 when one fails.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the shared corpus folder; reads topic-dev/labels.jsonl and articles/zyte/html/ in"
        " it (default: %(default)s)",
    )
    parser.add_argument(
        "--taxonomy",
        metavar="FILE",
        help="a taxonomy YAML file merged over the bundled one (default: the bundled one alone)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternated rounds of extraction and tagging of the Zyte pages for the speed"
        " figures, which are the median rounds (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    labels = args.corpus / "topic-dev" / "labels.jsonl"
    zyte = args.corpus / "articles" / "zyte"
    needed = (labels, zyte / "html", zyte / "ground-truth.json")
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        print(f"skipped: corpus not found: no {', '.join(missing)}")
        return 0
    table, scores = accuracy(labels, args.taxonomy)
    print(table)
    verdicts = accuracy_verdicts(scores)
    for line, _ in verdicts:
        print(line)
    print()
    print(sample_site(args.taxonomy))
    print()
    report, speed_passed = speed(zyte, args.taxonomy, args.rounds)
    print(report)
    return 0 if speed_passed and all(passed for _, passed in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
