"""End-to-end speed: newsbeam against the extraction ceiling and the tools users pick instead.

Builds a loopback news site from real pages (``benchmarks/newsite.py``: the 211 Zyte and
newspaper4k pages plus stream articles in realistic page chrome, 2,000 articles by default,
RSS feeds of 50 items over several hosts) and measures, on the same site and in one run,
articles per second and peak memory of: newsbeam one-shot on the DirectRunner (a
subprocess, like a user runs it), the extraction ceiling (trafilatura on the HTML in
memory, 1 and 2 processes, called as newsbeam calls it, and with its defaults), the floor
(that extraction alone inside a Beam pipeline run as newsbeam runs it, start-up included;
``floor-analyse``: the same with newsbeam's AnalysePages, which also enriches and tags), a
hand-written serial script, trafilatura's own CLI and newspaper4k, once with the site
answering at once and once with a 100-300 ms delay per request; plus a profile of
newsbeam's stages and, with ``--scaling``, how its cost grows.
Prints tables, the environment, the commit and each target's PASS/FAIL.

Usage:
    python -m benchmarks.throughput                     # the comparison, 2,000 articles
    python -m benchmarks.throughput --scaling 500,2000,8000 --only newsbeam --skip-delay
    python -m benchmarks.throughput --tune --only newsbeam   # try DirectRunner settings
    python -m benchmarks.throughput --only ceiling,newsbeam --repeat 5   # the ratio's spread
    python -m benchmarks.throughput --only ceiling,floor,newsbeam --skip-delay --repeat 3
    python -m benchmarks.throughput --only ceiling,floor,floor-analyse,newsbeam --skip-delay
Every tool reads the site at its 127.0.0.N addresses except trafilatura's CLI, which rejects
bare-IP URLs: it reads the same feeds under the outlets' names, resolved to the same addresses
inside its own process (``benchmarks.trafilatura_cli``; no root, /etc/hosts untouched).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks import CORPUS
from benchmarks import throughput_report as report
from benchmarks.newsite import NewsSite, SitePage, SourceArticle, build_pages, source_articles
from benchmarks.throughput_bench import REPO, Bench
from benchmarks.throughput_report import Row

TOOLS = (
    "ceiling",
    "floor",
    "floor-analyse",
    "profile",
    "newsbeam",
    "serial",
    "trafilatura",
    "newspaper4k",
)
DELAY = (0.1, 0.3)
# The best local settings found with --tune on a 2-core machine (README): one in-process Beam
# worker (two worker processes pay more in serialisation than the second core gives back),
# extracting in two processes, four requests in flight per host (the most the politeness
# rules allow).
BEST_NEWSBEAM = (
    "--direct_num_workers=1 --direct_running_mode=in_memory --extract-processes=2 "
    "--per-host-in-flight=4"
)
TUNE_CONFIGS = (
    "--direct_num_workers=1 --direct_running_mode=in_memory",
    "--direct_num_workers=1 --direct_running_mode=in_memory --extract-processes=2",
    "--direct_num_workers=2 --direct_running_mode=multi_threading",
    "--direct_num_workers=2 --direct_running_mode=multi_processing",
    "--direct_num_workers=2 --direct_running_mode=multi_processing --max-in-flight=8",
    "--direct_num_workers=2 --direct_running_mode=multi_processing --max-in-flight=64 "
    "--per-host-in-flight=4",
)


def _run_site(bench: Bench, args: argparse.Namespace, delay: bool) -> None:
    only = set(args.only)
    bench.site.set_delay(*(DELAY if delay else (0.0, 0.0)))
    print(f"site {'with a 100-300 ms delay' if delay else 'answering at once'}:", flush=True)
    if not delay and "ceiling" in only:
        for call in ("newsbeam", "defaults"):
            bench.ceiling(1, call)
            bench.ceiling(2, call)
    if not delay and "floor" in only:
        bench.floor()
    if not delay and "floor-analyse" in only:
        bench.floor(analyse=True)
    if not delay and "profile" in only:
        bench.run_profile()
    if "newsbeam" in only:
        for settings in TUNE_CONFIGS if args.tune else (args.newsbeam_settings,):
            bench.newsbeam(delay, settings)
    if "serial" in only:
        bench.serial(delay)
    if "trafilatura" in only:
        for parallel in (4, 8, 16) if args.tune else (args.trafilatura_parallel,):
            bench.trafilatura(delay, parallel)
    if "newspaper4k" in only:
        bench.newspaper4k(delay)


def _run_rounds(bench: Bench, args: argparse.Namespace) -> None:
    """``--repeat N``: N rounds of the 2-process ceiling, then newsbeam at once and on the slow
    site, so that newsbeam's ratio to the ceiling is measured N times, each against its own
    ceiling run (one run's ratio moves by several hundredths; README); with ``floor`` or
    ``floor-analyse`` among ``--only``, those floors too, after the ceiling."""
    for i in range(args.repeat):
        print(f"round {i + 1} of {args.repeat}:", flush=True)
        ceiling = bench.ceiling(2, keep=False)
        floor = bench.floor(keep=False) if "floor" in args.only else None
        analysed = bench.floor(analyse=True, keep=False) if "floor-analyse" in args.only else None
        at_once = slow = None
        if not args.skip_nodelay:
            bench.site.set_delay(0.0, 0.0)
            at_once = bench.newsbeam(False, args.newsbeam_settings, keep=False)
        if not args.skip_delay:
            bench.site.set_delay(*DELAY)
            slow = bench.newsbeam(True, args.newsbeam_settings, keep=False)
        bench.rounds.append(report.Round(ceiling, at_once, slow, floor, analysed))


def run_comparison(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    articles = source_articles(args.corpus, args.articles)
    pages = build_pages(articles, args.hosts)
    with NewsSite(pages, args.hosts) as site:
        print(
            f"site: {len(pages)} articles, {len(site.feeds)} feeds on {args.hosts} hosts "
            f"({report.mix(pages)})",
            flush=True,
        )
        bench = Bench(site, work, args)
        if not args.skip_nodelay:
            _run_site(bench, args, delay=False)
        if not args.skip_delay:
            _run_site(bench, args, delay=True)
        _run_rounds(bench, args)
    return {
        "rows": bench.rows,
        "profile": bench.profile,
        "articles": len(pages),
        "rounds": bench.rounds,
    }


def run_scaling(args: argparse.Namespace, work: Path) -> list[Row]:
    sizes = sorted(int(s) for s in args.scaling.split(","))
    rows = []
    for n in [50, *sizes]:
        pages = build_pages(source_articles(args.corpus, n, streams_only=True), args.hosts)
        folder = work / f"scale-{n}"
        folder.mkdir()
        with NewsSite(pages, args.hosts) as site:
            bench = Bench(site, folder, args)
            row = bench.newsbeam(False, args.newsbeam_settings, label=f"newsbeam, {n} articles")
            rows.append(replace(row, attempted=n))
    return rows


def feed_text_quality(
    articles: list[SourceArticle], pages: list[SitePage], sample: int
) -> tuple[float, float, int]:
    """Extraction F1 against each stream article's own text, from its page and from its feed.

    Both go through ``transforms.analysis.extract_article`` as the pipeline calls it; the page
    is the site's page (outlet template, navigation, related links), the feed's text is the
    article's HTML as ``content:encoded`` carries it (``transforms.fetch.page_from_feed``).

    Returns:
        Mean F1 from the pages, mean F1 from the feeds, and how many articles were scored.
    """
    from benchmarks.scoring import score
    from transforms.analysis import extract_article
    from transforms.fetch import page_from_feed
    from transforms.records import Article, FeedEntry, FetchedPage

    def f1(page: FetchedPage, truth: str) -> float:
        article = extract_article(page)
        return score(article.text if isinstance(article, Article) else "", truth).f1

    from_page, from_feed = [], []
    pairs = [(a, p) for a, p in zip(articles, pages, strict=True) if p.article_html][:sample]
    for article, page in pairs:
        url = f"http://news.invalid{page.path}"
        entry = FeedEntry("http://news.invalid/feed", url, url, title=page.title)
        html = page.html().decode("utf-8", "replace")
        fetched = FetchedPage(entry, url, url, 200, "text/html", html, "2024-06-01T06:00:00")
        from_page.append(f1(fetched, article.markdown or ""))
        with_text = replace(entry, content=page.article_html)
        from_feed.append(f1(page_from_feed(with_text), article.markdown or ""))
    n = len(pairs)
    return (sum(from_page) / n if n else 0.0, sum(from_feed) / n if n else 0.0, n)


def run_feed_text(args: argparse.Namespace, work: Path) -> list[Row]:
    """newsbeam on a site whose feeds carry the stream articles' full text, at once: fetching
    every page, then taking the text from the feed (``--feed-text-min-chars``); and the
    extraction quality of the two ways on a sample of the same articles."""
    articles = source_articles(args.corpus, args.articles)
    pages = build_pages(articles, args.hosts)
    page_f1, feed_f1, scored = feed_text_quality(articles, pages, 300)
    print(
        f"extraction F1 against the source text, {scored} stream articles: "
        f"from the page {page_f1:.3f}, from the feed {feed_f1:.3f}",
        flush=True,
    )
    rows = []
    folder = work / "feed-text"
    folder.mkdir()
    with NewsSite(pages, args.hosts, feed_text=True) as site:
        bench = Bench(site, folder, args)
        for extra, label in (
            ("", "pages fetched"),
            (f" --feed-text-min-chars {args.feed_text}", "text from the feeds"),
        ):
            settings = args.newsbeam_settings + extra
            rows.append(bench.newsbeam(False, settings, label=f"full-text feeds, {label}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--articles", type=int, default=2000, help="articles on the site (default: %(default)s)"
    )
    parser.add_argument(
        "--hosts",
        type=int,
        default=8,
        help="hosts (127.0.0.N addresses) the site is spread over (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(TOOLS),
        help=f"comma-separated subset of {','.join(TOOLS)}",
    )
    parser.add_argument(
        "--skip-delay", action="store_true", help="skip the site answering in 100-300 ms"
    )
    parser.add_argument(
        "--skip-nodelay", action="store_true", help="skip the site answering at once"
    )
    parser.add_argument("--scaling", default="", help="e.g. 500,2000,8000 (newsbeam only)")
    parser.add_argument("--tune", action="store_true", help="try several settings per tool")
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        metavar="N",
        help="after the comparison, N rounds of the 2-process ceiling and newsbeam (at once, then "
        "on the slow site) alternated; the two ceiling targets then use the median ratio",
    )
    parser.add_argument(
        "--feed-text",
        type=int,
        default=0,
        metavar="N",
        help="also run newsbeam on a site whose feeds carry the full text, with and without "
        "--feed-text-min-chars N (with --only newsbeam --skip-delay: next to one run on the usual "
        "site)",
    )
    parser.add_argument(
        "--newsbeam-settings",
        default=BEST_NEWSBEAM,
        help="newsbeam's flags for the comparison (default: %(default)s)",
    )
    parser.add_argument(
        "--trafilatura-parallel",
        type=int,
        default=16,
        help="trafilatura CLI's --parallel (default: %(default)s)",
    )
    parser.add_argument(
        "--newspaper-threads",
        type=int,
        default=16,
        help="newspaper4k's download threads (default: %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=90.0,
        help="seconds after which the serial script and newspaper4k stop",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds after which any one tool's run is stopped (default: %(default)s)",
    )
    parser.add_argument(
        "--profile-every",
        type=int,
        default=2,
        help="the stage profile runs on every N-th feed entry (default: %(default)s)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the shared corpus (default: ../shared/corpus beside the repository)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--newsbeam-source",
        type=Path,
        default=REPO,
        help="run newsbeam from this source tree (e.g. `git archive COMMIT` unpacked)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only) - set(TOOLS))
    if unknown:
        parser.error(f"--only: unknown {', '.join(unknown)}; choose among {','.join(TOOLS)}")
    if args.repeat < 0:
        parser.error("--repeat must be 0 or more")
    if args.repeat and args.scaling and not set(args.only) - {"newsbeam"}:
        parser.error("--repeat runs with the comparison, which --scaling --only newsbeam skips")
    if not args.corpus.is_dir():
        print(f"skipped: corpus not found at {args.corpus}")
        return 0
    print(report.environment(args.newsbeam_source), flush=True)
    with tempfile.TemporaryDirectory(prefix="nb-throughput-") as tmp:
        result: dict[str, Any] = {
            "rows": [],
            "profile": None,
            "articles": args.articles,
            "rounds": [],
        }
        if args.only and (not args.scaling or set(args.only) - {"newsbeam"}):
            result = run_comparison(args, Path(tmp))
        scaling = run_scaling(args, Path(tmp)) if args.scaling else []
        feed_text = run_feed_text(args, Path(tmp)) if args.feed_text else []
    print(
        report.render(
            result["rows"], result["profile"], scaling, result["articles"], result["rounds"]
        )
    )
    if len(feed_text) == 2:
        fetched, from_feed = feed_text
        print(
            "Full text in the feeds (stream articles; the real pages' entries have a summary):\n"
            + "\n".join(report.row_line(r) for r in feed_text)
            + f"\ntext from the feeds / pages fetched: {from_feed.rate / fetched.rate:.2f}x"
        )
    if args.json:
        payload = {
            **result,
            "rows": [asdict(r) for r in result["rows"]],
            "rounds": [asdict(r) for r in result["rounds"]],
            "scaling": [asdict(r) for r in scaling],
            "feed_text": [asdict(r) for r in feed_text],
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
