"""The throughput benchmark's measured programs, each run as its own process.

``benchmarks/throughput.py`` starts ``python -m benchmarks.throughput_workers MODE ...`` so
that each program's time and memory are its own. Each mode prints one JSON line on stdout
(``articles``, ``attempted``, ``seconds``, plus mode-specific figures):

* ``ceiling``: trafilatura's ``bare_extraction`` over the site's HTML already in memory, in
  one process or a pool of ``--processes`` (forked after loading, pages passed by index, so
  nothing but results is pickled); ``--call newsbeam`` (default) calls it exactly as
  newsbeam's extract stage does (``transforms.analysis.trafilatura_document``: fast mode,
  with ``transforms.trafilatura_trim``), ``--call defaults`` with trafilatura's defaults, as
  the serial script does;
* ``floor``: extraction alone inside a Beam pipeline run as newsbeam runs it, start-up
  included (``benchmarks.throughput_floor``): the most newsbeam could reach with its design;
* ``serial``: what a user would write by hand: feedparser + a requests session +
  trafilatura, one article after the other, stopping after ``--budget`` seconds;
* ``newspaper4k``: feedparser for the links, then ``newspaper.article`` in a thread pool
  (images not fetched);
* ``profile``: newsbeam's own stage cores, serially, on a sample of the site: feed parsing,
  fetching (``transforms.http``), extraction, enrichment, tagging and near-duplicate
  fingerprints, each timed on its own (wall and CPU seconds: ``stages`` maps a stage to
  ``[wall, cpu]``), after the one-time loads newsbeam's pool also makes before its first page.

Counted as an article: an extracted body of at least ``MIN_CHARS`` characters, newsbeam's
default ``--min-text-chars``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import pickle
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

MIN_CHARS = 250
_PAGES: list[str] = []  # the decoded HTML, inherited by forked pool workers


def load_pages(path: Path) -> list[tuple[str, bytes]]:
    """The (URL, gzip body) pairs that ``throughput.py`` pickled for the workers."""
    with path.open("rb") as f:
        pages: list[tuple[str, bytes]] = pickle.load(f)
    return pages


def decode(url: str, body_gz: bytes) -> str:
    """The page as newsbeam's fetcher decodes it (header, meta tag, then detection)."""
    from transforms.charset import decode_html

    return decode_html(gzip.decompress(body_gz), "text/html")


def _extract_text(html: str | bytes, url: str | None = None) -> str:
    """trafilatura with its defaults, as a user's own script calls it."""
    from trafilatura import bare_extraction

    doc = bare_extraction(html, url=url, include_comments=False, with_metadata=True)
    return ((getattr(doc, "text", None) or "") if doc is not None else "").strip()


def _newsbeam_text(html: str, url: str | None = None) -> str:
    """trafilatura as newsbeam's extract stage calls it (``fast``: no fallback extractors;
    no search for categories, tags or licence; element classes looked up in C)."""
    from transforms.analysis import trafilatura_document

    doc = trafilatura_document(html, url)
    return (doc.text or "").strip() if doc is not None else ""


_EXTRACTORS: dict[str, Callable[..., str]] = {"newsbeam": _newsbeam_text, "defaults": _extract_text}
_extractor = _newsbeam_text  # set by ceiling() before the pool forks


def _extract_index(i: int) -> int:
    return len(_extractor(_PAGES[i]))


def ceiling(pages_file: Path, processes: int, call: str = "newsbeam") -> dict[str, Any]:
    """Extract every page in memory; one process or a forked pool.

    Args:
        call: ``newsbeam`` (trafilatura as newsbeam calls it) or ``defaults``.
    """
    global _PAGES, _extractor
    _PAGES = [decode(url, body) for url, body in load_pages(pages_file)]
    _extractor = _EXTRACTORS[call]
    # Before the clock, as newsbeam's pool does before its first page (and forked workers
    # inherit it): imports, trafilatura's lazily built parts, dateparser's tables; then one
    # extraction with the chosen call (trafilatura's defaults load their fallback extractors).
    from transforms.analyser import preload

    preload()
    _extractor(_PAGES[0])
    start = time.perf_counter()
    if processes == 1:
        lengths = [_extract_index(i) for i in range(len(_PAGES))]
    else:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            lengths = list(pool.imap_unordered(_extract_index, range(len(_PAGES)), chunksize=4))
    seconds = time.perf_counter() - start
    articles = sum(n >= MIN_CHARS for n in lengths)
    return {"articles": articles, "attempted": len(_PAGES), "seconds": seconds}


def decode_and_extract(pages: list[tuple[str, bytes]]) -> list[int]:
    """A task of the floor's pool (``benchmarks.throughput_floor``): each page decoded as
    newsbeam's fetcher decodes it and extracted as its extract stage does; the texts' lengths."""
    return [len(_newsbeam_text(decode(url, body), url)) for url, body in pages]


def floor(pages_file: Path, processes: int, analyse: bool = False) -> dict[str, Any]:
    """``benchmarks.throughput_floor``, with the pool's fork server started before Beam is
    imported, as ``newsbeam run`` starts it."""
    started = time.perf_counter()
    from transforms.pool_start import start_fork_server

    start_fork_server()
    from benchmarks.throughput_floor import floor as run_floor

    return run_floor(pages_file, processes, started, analyse)


def _feed_urls(feeds_file: Path) -> list[str]:
    return [line.strip() for line in feeds_file.read_text().splitlines() if line.strip()]


def serial(feeds_file: Path, budget: float) -> dict[str, Any]:
    """feedparser + requests + trafilatura, serially, until done or ``budget`` seconds."""
    import feedparser
    import requests

    start = time.perf_counter()
    articles = attempted = 0
    with requests.Session() as session:
        for feed_url in _feed_urls(feeds_file):
            feed = feedparser.parse(session.get(feed_url, timeout=30).content)
            for entry in feed.entries:
                if time.perf_counter() - start > budget:
                    return _partial(articles, attempted, start)
                attempted += 1
                try:
                    response = session.get(entry.link, timeout=30)
                    response.raise_for_status()
                except requests.RequestException:
                    continue
                text = _extract_text(response.content, response.url)
                articles += len(text) >= MIN_CHARS
    return {"articles": articles, "attempted": attempted, "seconds": time.perf_counter() - start}


def _partial(articles: int, attempted: int, start: float) -> dict[str, Any]:
    seconds = time.perf_counter() - start
    return {"articles": articles, "attempted": attempted, "seconds": seconds, "capped": True}


def _newspaper_text(url: str) -> str:
    import newspaper

    try:
        # fetch_images=False: by default newspaper4k downloads the page's top image (from the
        # site the page names, not our loopback server) to check its size; without internet
        # that is a DNS lookup waiting ~20 s, and the benchmark must stay on loopback.
        # newsbeam reads no images either.
        return newspaper.article(url, fetch_images=False).text or ""
    except Exception:  # noqa: BLE001 - a page newspaper4k cannot handle counts as not extracted
        return ""


def newspaper(feeds_file: Path, threads: int, budget: float) -> dict[str, Any]:
    """newspaper4k on the feeds' links: ``newspaper.article`` (download + parse) in threads.

    This is what newspaper4k's ``fetch_news`` does, except that one page it cannot handle
    (it raises, e.g. for a Japanese page without ``tinysegmenter``) does not end the run.
    Links go in batches of one feed (50), so the run can stop at ``budget`` seconds.
    """
    import feedparser
    import requests

    start = time.perf_counter()
    articles = attempted = 0
    with requests.Session() as session, ThreadPoolExecutor(threads) as pool:
        for feed_url in _feed_urls(feeds_file):
            if time.perf_counter() - start > budget:
                return _partial(articles, attempted, start)
            feed = feedparser.parse(session.get(feed_url, timeout=30).content)
            links = [entry.link for entry in feed.entries]
            attempted += len(links)
            articles += sum(len(t) >= MIN_CHARS for t in pool.map(_newspaper_text, links))
    return {"articles": articles, "attempted": attempted, "seconds": time.perf_counter() - start}


def _timed(totals: dict[str, list[float]], stage: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and add its wall and CPU seconds to ``totals[stage]``."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return fn()
    finally:
        spent = totals.setdefault(stage, [0.0, 0.0])
        spent[0] += time.perf_counter() - wall
        spent[1] += time.process_time() - cpu


def profile(feeds_file: Path, every: int) -> dict[str, Any]:
    """newsbeam's stage cores, serially, on every ``every``-th entry of the site's feeds.

    What newsbeam loads once per run (the language model, htmldate's date-parser tables,
    trafilatura's lazily built parts) is loaded first, outside the timings, as newsbeam's
    pool does before its first page: it is start-up, not a per-article cost.
    """
    from transforms.analyser import preload
    from transforms.analysis import enrich_article, extract_article
    from transforms.feed_parsing import parse_feed
    from transforms.fetch import fetch_outcome
    from transforms.http import HttpClient, HttpConfig
    from transforms.minhash_index import Index
    from transforms.outlets import OutletCatalogue
    from transforms.records import Article, FeedSpec, FetchedPage
    from transforms.tagger import Tagger

    preload()
    client = HttpClient(HttpConfig(allow_loopback=True, respect_robots=False))
    outlets, tagger, index = OutletCatalogue.load(None), Tagger.load(None), Index()
    t: dict[str, list[float]] = {}
    articles = attempted = 0
    for feed_url in _feed_urls(feeds_file):
        spec = FeedSpec(feed_url)
        body = _timed(t, "fetch", lambda: client.get(feed_url, kind="feed").body)  # noqa: B023
        parsed = _timed(t, "feeds", lambda: parse_feed(body, spec))  # noqa: B023
        for entry in parsed.entries[::every]:
            attempted += 1
            page = _timed(t, "fetch", lambda: fetch_outcome(client, entry))  # noqa: B023
            if not isinstance(page, FetchedPage):
                continue
            article = _timed(t, "extract", lambda: extract_article(page))  # noqa: B023
            if not isinstance(article, Article):
                continue
            articles += 1
            story = _timed(t, "enrich", lambda: enrich_article(article, outlets))  # noqa: B023
            tag = lambda: tagger.tag(article.title, article.text)  # noqa: B023, E731
            _timed(t, "tag", tag)
            add = lambda: index.add(story.story_id, article.title, article.text)  # noqa: B023, E731
            _timed(t, "dedup", add)
    client.close()
    seconds = sum(wall for wall, _ in t.values())
    return {"articles": articles, "attempted": attempted, "seconds": seconds, "stages": t}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "mode",
        choices=("ceiling", "floor", "serial", "newspaper4k", "profile"),
        help="ceiling: trafilatura on the --pages already in memory; floor: extraction alone"
        " in a Beam pipeline run as newsbeam runs it, start-up included; serial: feedparser +"
        " requests + trafilatura, one article after another; newspaper4k: newspaper4k in"
        " --threads threads; profile: time each of newsbeam's stages on the --feeds",
    )
    parser.add_argument(
        "--pages",
        type=Path,
        help="file of pickled (URL, gzip body) pairs, as throughput.py writes it (ceiling and"
        " floor)",
    )
    parser.add_argument(
        "--feeds",
        type=Path,
        help="text file of feed URLs, one a line (serial, newspaper4k and profile)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="ceiling: processes extracting; 1 extracts in this process, more in a forked pool;"
        " floor: the pool's worker processes (default: %(default)s)",
    )
    parser.add_argument(
        "--call",
        choices=tuple(_EXTRACTORS),
        default="newsbeam",
        help="ceiling: call trafilatura as newsbeam's extract stage does (newsbeam) or with its"
        " defaults (defaults) (default: %(default)s)",
    )
    parser.add_argument(
        "--analyse",
        action="store_true",
        help="floor: the pool is newsbeam's AnalysePages, which also enriches and tags",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=10,
        help="newspaper4k: threads downloading and parsing articles (default: %(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=float("inf"),
        help="serial and newspaper4k: seconds after which the run stops (default: no limit)",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=4,
        help="profile: measure one entry in this many of each feed (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.mode == "ceiling":
        result = ceiling(args.pages, args.processes, args.call)
    elif args.mode == "floor":
        result = floor(args.pages, args.processes, args.analyse)
    elif args.mode == "serial":
        result = serial(args.feeds, args.budget)
    elif args.mode == "newspaper4k":
        result = newspaper(args.feeds, args.threads, args.budget)
    else:
        result = profile(args.feeds, args.every)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
