"""Tag the corpus streams at volume and score what the tagger marks relevant against a review.

The labelled dev set (``topic-dev``) has 149 articles and was used for tuning. The two
streams of ``../shared/corpus/streams`` (``articlemd``: 2021-22 security and tech news;
``hn2024``: articles linked from Hacker News in 2024) hold ~11,600 more records, unlabelled,
~9,400 of them with a body of at least ``MIN_STREAM_CHARS`` (1,500) characters: the shorter
ones are mostly not articles (GitHub repository pages kept as HTML fragments, cookie,
JavaScript and newsletter walls, product pages, code-only pages), with some teasers and short
news items. This script tags the long ones (the dev set's articles, matched by title, and
repeated titles left out), prints both counts, counts how many are relevant, and scores the
relevant ones against ``benchmarks/data/stream_review.csv``: one line per story tagged
relevant, ``stream,id,verdict,note``, where ``verdict`` is a reviewer's reading of the
story's title and lede by the dev set's GUIDELINE.md:

* ``in``: its main subject is a controversy between a platform and a state actor;
* ``borderline``: the guideline can be read either way (most often a security company's
  report of state hackers, where the platform is the reporter rather than the target or
  the channel);
* ``out``: out of scope (no state actor in the story's subject, a platform named in
  passing, an index or live page on many subjects).

Precision is printed twice, borderline counted in and counted out. Stories tagged relevant
that the review does not list are named (a taxonomy change makes new ones: review them and
add lines), and so are reviewed stories no longer relevant. The review file holds ids (a
Markdown file's path, a JSON Lines line number) and the reviewer's words, no corpus text.

Recall cannot be scored this way (nobody labelled the ~9,200 stories not tagged); the dev
set's recall is in ``tagging_eval.py``. ``--near-misses`` lists the stories a rule fired on
that still fell short of relevant (score above 0), the place to look for missed phrasing.

Usage::

    .venv/bin/python -m benchmarks.tagging_streams [--corpus ../shared/corpus] [--list]
        [--near-misses] [--taxonomy FILE] [--review FILE]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import CORPUS
from benchmarks.newsite import (
    MIN_STREAM_CHARS,
    SourceArticle,
    articlemd_articles,
    hn2024_articles,
)
from transforms.records import TagResult
from transforms.tagger import Tagger

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REVIEW = ROOT / "benchmarks" / "data" / "stream_review.csv"
VERDICTS = ("in", "borderline", "out")


class ReviewError(ValueError):
    """The review file cannot be read: the message names the file and line."""


@dataclass(frozen=True)
class Tagged:
    """A stream article and what the tagger says of it."""

    key: tuple[str, str]  # (stream, id)
    title: str
    result: TagResult


def dev_titles(corpus: Path) -> set[str]:
    """The titles of the dev set's articles (``topic-dev/labels.jsonl``)."""
    labels = corpus / "topic-dev" / "labels.jsonl"
    with labels.open(encoding="utf-8") as lines:
        return {json.loads(line)["title"].strip() for line in lines if line.strip()}


def stream_articles(corpus: Path, skipped: Counter[str] | None = None) -> Iterator[SourceArticle]:
    """Both streams' articles, less the dev set's (matched by title) and repeated titles.

    The loaders (``benchmarks.newsite``) yield only records with a body of at least
    ``MIN_STREAM_CHARS`` characters. ``skipped["repeated title"]`` counts the repeats left out.
    """
    dev = dev_titles(corpus)
    seen: set[str] = set()
    for source in (articlemd_articles(corpus), hn2024_articles(corpus)):
        for article in source:
            title = article.title.strip()
            if title in dev:
                continue
            if title.lower() in seen:
                if skipped is not None:
                    skipped["repeated title"] += 1
                continue
            seen.add(title.lower())
            yield article


def record_counts(corpus: Path) -> tuple[int, int]:
    """(records, records shorter than ``MIN_STREAM_CHARS``) of both streams, the dev set's out.

    A record is what the loaders read as an article before their length filter: an articlemd
    file with a title and an ``## Article:`` section, an hn2024 line with a title; its length
    is measured as the loader measures it (the Markdown body; the hn2024 text).
    """
    dev = dev_titles(corpus)
    records = short = 0
    for path in sorted((corpus / "streams" / "articlemd").rglob("*.md")):
        head, sep, body = path.read_text(encoding="utf-8", errors="replace").partition(
            "## Article:"
        )
        first = head.strip().splitlines()[0] if head.strip() else ""
        title = first.removeprefix("# ").strip()
        if sep and title and title not in dev:
            records += 1
            short += len(body.strip()) < MIN_STREAM_CHARS
    hn = corpus / "streams" / "hn2024" / "hn2024_en_all.jsonl.gz"
    with gzip.open(hn, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            title = (row.get("title") or "").strip()
            if title and title not in dev:
                records += 1
                short += len((row.get("text") or "").strip()) < MIN_STREAM_CHARS
    return records, short


def read_review(path: Path) -> dict[tuple[str, str], str]:
    """``{(stream, id): verdict}`` from a review CSV (header ``stream,id,verdict,note``)."""
    review: dict[tuple[str, str], str] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), 2):
            key = (row.get("stream") or "", row.get("id") or "")
            verdict = row.get("verdict") or ""
            if verdict not in VERDICTS:
                raise ReviewError(f"{path}:{number}: verdict {verdict!r} is not one of {VERDICTS}")
            if key in review:
                raise ReviewError(f"{path}:{number}: {key[0]} {key[1]} is reviewed twice")
            review[key] = verdict
    return review


def score(tagged: list[Tagged], review: dict[tuple[str, str], str]) -> list[str]:
    """Report lines: verdict counts, both precisions, and what the review does not cover."""
    keys = {t.key for t in tagged}
    verdicts = Counter(review[t.key] for t in tagged if t.key in review)
    reviewed = sum(verdicts.values())
    lines = [
        f"reviewed: {reviewed} of {len(tagged)} relevant stories: "
        + ", ".join(f"{verdicts[v]} {v}" for v in VERDICTS)
    ]
    if reviewed:
        strict = verdicts["in"] / reviewed
        lenient = (verdicts["in"] + verdicts["borderline"]) / reviewed
        lines.append(
            f"precision {lenient:.3f} with borderline stories counted in, {strict:.3f} counted out"
        )
    unreviewed = [t for t in tagged if t.key not in review]
    if unreviewed:
        lines.append(f"not in the review ({len(unreviewed)}): review them and add lines")
        lines += [f"  {t.key[0]},{t.key[1]}: {t.title}" for t in unreviewed]
    dropped = sorted(key for key in review if key not in keys)
    if dropped:
        lines.append(f"reviewed but no longer relevant ({len(dropped)}):")
        lines += [f"  {stream},{ident} (was {review[stream, ident]})" for stream, ident in dropped]
    return lines


def print_stories(stories: list[Tagged]) -> None:
    """One line a story: id, title, platforms, state actors, controversies, score."""
    for t in stories:
        r = t.result
        print(
            f"{t.key[0]},{t.key[1]} | {t.title} | {','.join(r.platforms)} | "
            f"{','.join(r.state_actors)} | {','.join(r.controversies)} | {r.score:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the shared corpus (default: %(default)s)",
    )
    parser.add_argument("--taxonomy", help="a user taxonomy file, merged as newsbeam does")
    parser.add_argument(
        "--review",
        type=Path,
        default=DEFAULT_REVIEW,
        help="the review CSV: stream,id,verdict,note (default: %(default)s)",
    )
    parser.add_argument(
        "--list", action="store_true", help="print each relevant story's id, title and tags"
    )
    parser.add_argument(
        "--near-misses",
        action="store_true",
        help="print the stories not relevant whose score is above 0, with their tags",
    )
    args = parser.parse_args(argv)
    needed = [
        args.corpus / "streams" / "articlemd",
        args.corpus / "streams" / "hn2024" / "hn2024_en_all.jsonl.gz",
        args.corpus / "topic-dev" / "labels.jsonl",
    ]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        print(f"skipped: corpus not found: no {', '.join(missing)}")
        return 0
    tagger = Tagger.load(args.taxonomy)
    tagged: list[Tagged] = []
    near: list[Tagged] = []
    total = 0
    skipped: Counter[str] = Counter()
    for article in stream_articles(args.corpus, skipped):
        total += 1
        result = tagger.tag(article.title, article.markdown or "")
        if result.relevant or result.score > 0:
            story = Tagged((article.source, article.ident), article.title, result)
            (tagged if result.relevant else near).append(story)
    controversies = Counter(c for t in tagged for c in t.result.controversies)
    records, short = record_counts(args.corpus)
    print(
        f"streams: {records:,} records besides the dev set's; {short:,} with a body under"
        f" {MIN_STREAM_CHARS:,} characters and {skipped['repeated title']:,} repeated titles left"
        f" out; {total:,} articles tagged, {len(tagged)} relevant"
        f" ({len(tagged) / max(1, total):.1%})"
    )
    print(
        "controversy types of the relevant: "
        + ", ".join(f"{name} {n}" for name, n in controversies.most_common())
    )
    if args.list:
        print_stories(tagged)
    if args.near_misses:
        print(f"near misses: {len(near)} stories with a score above 0, not relevant")
        print_stories(near)
    try:
        review = read_review(args.review) if args.review.exists() else {}
    except ReviewError as exc:
        print(exc, file=sys.stderr)
        return 2
    for line in score(tagged, review):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
