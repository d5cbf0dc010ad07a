"""A loopback news site built from real articles, for the throughput benchmark.

Consumes ../shared/corpus: the 181 Zyte pages and the 30 newspaper4k pages (served as they
are), and real articles of the two streams (``streams/articlemd`` Markdown files and
``streams/hn2024`` JSON Lines), each wrapped in a page with the navigation, mega-menu,
sidebar, related-article cards, comments, cookie banner, inline scripts and footer of a
real news site. Produces ``SitePage`` records (gzip bodies, as real servers send them),
RSS feeds of 50 items per outlet, and ``NewsSite``, which serves it all with
``pipelines.loopback.LoopbackSite`` on one 127.0.0.N address per outlet. A feed asked for
under its outlet's name (``<outlet>.example.com``, for trafilatura's CLI, which rejects
bare-IP URLs; see ``benchmarks.trafilatura_cli``) links its items under that name.

``build_pages(corpus, n)`` takes every real page first and fills up with stream articles
(alternating the two streams), so 2,000 articles always include all 211 real pages;
``streams_only=True`` gives the same page mix at every size (for the scaling runs).
Duplicate texts (the same article twice in a stream) are skipped, so every page is a
distinct article; near-duplicates (re-titled copies, the same event by two outlets) stay,
as they do on the real web.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.sitetemplate import OUTLETS, Outlet, markdown_to_html, wrap_article
from pipelines.loopback import LoopbackSite, Request, Response
from pipelines.loopback_feeds import FeedItem, rss_feed

FEED_ITEMS = 50
# Shorter stream records are mostly not articles: GitHub pages kept as HTML fragments, cookie,
# JavaScript and newsletter walls, product pages; some are teasers or short news items.
MIN_STREAM_CHARS = 1500
_T0 = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)


class CorpusError(ValueError):
    """The corpus is missing or a file in it cannot be read."""


@dataclass(frozen=True)
class SourceArticle:
    """One article before it is placed on the site."""

    source: str  # zyte, newspaper4k, articlemd, hn2024
    ident: str
    title: str
    summary: str
    html: bytes | None = None  # a real page, served as it is
    markdown: str | None = None  # a stream article, wrapped in an outlet's page
    author: str = ""


@dataclass(frozen=True)
class SitePage:
    """One article page on the site: where it lives and the gzip bytes served."""

    outlet: int
    path: str
    title: str
    summary: str
    source: str
    published: datetime
    body_gz: bytes
    article_html: str | None = None  # the article alone (stream articles), for full-text feeds

    def html(self) -> bytes:
        """The page's HTML bytes, as a client gets them after decompression."""
        return gzip.decompress(self.body_gz)


def _title_of(page: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", page, re.S | re.I)
    raw = match.group(1).decode("utf-8", "replace") if match else ""
    return html.unescape(" ".join(raw.split()))[:200]


def real_pages(corpus: Path) -> list[SourceArticle]:
    """The Zyte and newspaper4k pages, served byte for byte.

    Raises:
        CorpusError: a folder or file is missing.
    """
    zyte = corpus / "articles" / "zyte"
    n4k = corpus / "articles" / "newspaper4k"
    try:
        truth = json.loads((zyte / "ground-truth.json").read_text(encoding="utf-8"))
        out = []
        for page_id in sorted(truth):
            raw = gzip.decompress((zyte / "html" / f"{page_id}.html.gz").read_bytes())
            body = truth[page_id]["articleBody"]
            out.append(SourceArticle("zyte", page_id, _title_of(raw), body[:240], html=raw))
        for path in sorted((n4k / "html").glob("*.html")):
            raw = path.read_bytes()
            txt = n4k / "txt" / f"{path.stem}.txt"
            summary = (
                txt.read_text(encoding="utf-8", errors="replace")[:240] if txt.exists() else ""
            )
            out.append(SourceArticle("newspaper4k", path.stem, _title_of(raw), summary, html=raw))
    except (OSError, KeyError, ValueError) as exc:
        raise CorpusError(f"cannot read the article corpus under {corpus}: {exc}") from exc
    return out


_MD_FIELD = re.compile(r"^\+ (Source|Link|Date|Author): (.*)$", re.M)


def articlemd_articles(corpus: Path) -> Iterator[SourceArticle]:
    """Articles of ``streams/articlemd`` (title, author, Markdown body), in path order."""
    root = corpus / "streams" / "articlemd"
    for path in sorted(root.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        head, sep, body = text.partition("## Article:")
        if not sep:
            continue
        first = head.strip().splitlines()[0] if head.strip() else ""
        title = first.removeprefix("# ").strip()
        fields = dict(_MD_FIELD.findall(head))
        body = body.strip()
        if title and len(body) >= MIN_STREAM_CHARS:
            plain = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", body)
            yield SourceArticle(
                "articlemd",
                str(path.relative_to(root)),
                title,
                " ".join(plain.split())[:240],
                markdown=body,
                author=fields.get("Author", "").strip(),
            )


def hn2024_articles(corpus: Path) -> Iterator[SourceArticle]:
    """Articles of ``streams/hn2024`` with a body of at least ``MIN_STREAM_CHARS``."""
    path = corpus / "streams" / "hn2024" / "hn2024_en_all.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise CorpusError(f"{path}:{number}: not JSON: {exc}") from exc
            text = (row.get("text") or "").strip()
            title = (row.get("title") or "").strip()
            if title and len(text) >= MIN_STREAM_CHARS:
                body = text.split("\n", 1)[1].strip() if text.startswith(title) else text
                summary = " ".join(body.split())[:240]
                yield SourceArticle("hn2024", str(number), title, summary, markdown=body)


def _alternate(a: Iterator[SourceArticle], b: Iterator[SourceArticle]) -> Iterator[SourceArticle]:
    iters = [a, b]
    while iters:
        for it in list(iters):
            item = next(it, None)
            if item is None:
                iters.remove(it)
            else:
                yield item


def source_articles(corpus: Path, n: int, *, streams_only: bool = False) -> list[SourceArticle]:
    """``n`` distinct articles: the real pages first (unless ``streams_only``), then streams.

    Raises:
        CorpusError: the corpus is missing or holds fewer than ``n`` distinct articles.
    """
    if not corpus.is_dir():
        raise CorpusError(f"corpus not found at {corpus}")
    chosen = [] if streams_only else real_pages(corpus)[:n]
    seen: set[str] = set()
    stream = _alternate(articlemd_articles(corpus), hn2024_articles(corpus))
    for article in stream:
        if len(chosen) >= n:
            break
        digest = hashlib.sha1(" ".join((article.markdown or "").split()).encode()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            chosen.append(article)
    if len(chosen) < n:
        raise CorpusError(f"the corpus holds only {len(chosen)} distinct articles, not {n}")
    return chosen


def _slug(title: str, limit: int = 60) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return words[:limit].rstrip("-") or "story"


def build_pages(articles: list[SourceArticle], hosts: int) -> list[SitePage]:
    """Place the articles on ``hosts`` outlets (round robin) and render their pages.

    Args:
        articles: what to publish, in order.
        hosts: how many outlets (at most ``len(OUTLETS)``).

    Returns:
        One page per article; page i belongs to outlet ``i % hosts``.
    """
    if not 1 <= hosts <= len(OUTLETS):
        raise ValueError(f"hosts must be between 1 and {len(OUTLETS)}, got {hosts}")
    pages = []
    for i, article in enumerate(articles):
        outlet_index = i % hosts
        outlet = OUTLETS[outlet_index]
        published = _T0 - timedelta(minutes=7 * i)
        path = f"/{outlet.sections[i % len(outlet.sections)].lower()}/{published:%Y/%m/%d}/"
        path += f"{_slug(article.title)}-{i:05d}.html"
        article_html = None
        if article.html is not None:
            body = article.html
        else:
            article_html = markdown_to_html(article.markdown or "")
            related = [
                (
                    articles[j].title,
                    f"/{outlet.sections[0].lower()}/{_slug(articles[j].title)}-{j:05d}.html",
                )
                for j in range(i + 1, min(i + 9, len(articles)))
            ]
            body = wrap_article(
                outlet,
                article.title,
                article_html,
                author=article.author,
                published=published,
                path=path,
                related=[r for r in related if r[0]],
                seed=i,
            )
        pages.append(
            SitePage(
                outlet=outlet_index,
                path=path,
                title=article.title,
                summary=article.summary,
                source=article.source,
                published=published,
                body_gz=gzip.compress(body, compresslevel=6, mtime=0),
                article_html=article_html,
            )
        )
    return pages


def feeds_of(pages: list[SitePage], hosts: int) -> list[tuple[int, str, list[SitePage]]]:
    """Each outlet's pages cut into RSS feeds of ``FEED_ITEMS``: (outlet, path, pages).

    The list is interleaved across outlets (feed 1 of every outlet, then feed 2, ...), so
    a prefix of it is a fair sample of the site.
    """
    per_outlet: list[list[SitePage]] = [[] for _ in range(hosts)]
    for page in pages:
        per_outlet[page.outlet].append(page)
    rounds = max((len(p) + FEED_ITEMS - 1) // FEED_ITEMS for p in per_outlet)
    feeds = []
    for k in range(rounds):
        for outlet, outlet_pages in enumerate(per_outlet):
            chunk = outlet_pages[k * FEED_ITEMS : (k + 1) * FEED_ITEMS]
            if chunk:
                feeds.append((outlet, f"/feeds/latest-{k + 1}.xml", chunk))
    return feeds


class NewsSite:
    """The pages and feeds served on loopback; use as a context manager.

    Every outlet has its own 127.0.0.N address; ``feeds`` are the feed URLs under those
    addresses, ``named_feeds`` the same feeds under the outlets' names, whose items then link
    to the pages under those names too (``names`` maps each name to its address, for a
    client that resolves them itself: nothing is written to /etc/hosts).

    Args:
        pages: from ``build_pages``.
        hosts: the number of outlets the pages were placed on.
        feed_text: the feeds carry each stream article's full text (``content:encoded``),
            as many real feeds do; the real pages' entries keep only their summary.
    """

    def __init__(self, pages: list[SitePage], hosts: int, *, feed_text: bool = False) -> None:
        self.pages = pages
        self.hosts = hosts
        self._feed_text = feed_text
        self._site = LoopbackSite()
        self.bases: list[str] = []
        self.named_bases: list[str] = []
        self.names: dict[str, str] = {}
        self.feeds: list[str] = []
        self.named_feeds: list[str] = []

    def __enter__(self) -> NewsSite:
        self._site.__enter__()
        for outlet in OUTLETS[: self.hosts]:
            ip_base = self._site.add_host(outlet.host)
            parts = urlsplit(ip_base)
            self.names[outlet.host] = parts.hostname or ""
            self.bases.append(ip_base)
            self.named_bases.append(f"http://{outlet.host}:{parts.port}")
        for page in self.pages:
            self._site.route(
                OUTLETS[page.outlet].host,
                page.path,
                Response(body=page.body_gz, content_type="text/html", body_is_gzip=True),
            )
        for index, path, chunk in feeds_of(self.pages, self.hosts):
            by_ip = self._rss(index, self.bases[index], chunk)
            by_name = self._rss(index, self.named_bases[index], chunk)
            name = OUTLETS[index].host
            self._site.route(name, path, _feed_for_host(name, by_ip, by_name))
            self.feeds.append(self.bases[index] + path)
            self.named_feeds.append(self.named_bases[index] + path)
        return self

    def __exit__(self, *exc: object) -> None:
        self._site.__exit__(*exc)

    def _rss(self, index: int, base: str, chunk: list[SitePage]) -> bytes:
        items = [
            FeedItem(
                p.title,
                base + p.path,
                base + p.path,
                p.summary,
                p.published,
                p.article_html if self._feed_text else None,
            )
            for p in chunk
        ]
        return rss_feed(OUTLETS[index].name, base + "/", items)

    def url_of(self, page: SitePage) -> str:
        """The page's absolute URL on the running site."""
        return self.bases[page.outlet] + page.path

    def set_delay(self, lo_s: float, hi_s: float, seed: int = 8) -> None:
        """Answer every request after a delay drawn in [lo_s, hi_s] (0, 0: at once)."""
        self._site.set_delay_range(lo_s, hi_s, seed)

    def request_count(self) -> int:
        """Requests answered so far (feeds, pages, robots.txt, 404s)."""
        return len(self._site.requests)

    def write_feed_list(self, path: Path, limit: int | None = None, *, named: bool = False) -> Path:
        """Write the feed URLs (the first ``limit``), one a line, to ``path``.

        ``named``: the feeds under the outlets' names (``named_feeds``) instead of addresses.
        """
        feeds = self.named_feeds if named else self.feeds
        path.write_text("\n".join(feeds[:limit]) + "\n", encoding="utf-8")
        return path


def _feed_for_host(name: str, by_ip: bytes, by_name: bytes) -> Callable[[Request], Response]:
    """A route answering with the feed whose links use the host the client asked for."""
    content_type = "application/rss+xml; charset=utf-8"

    def answer(request: Request) -> Response:
        host = next((v for k, v in request.headers.items() if k.lower() == "host"), "")
        host = host.rsplit(":", 1)[0].lower()
        return Response(body=by_name if host == name else by_ip, content_type=content_type)

    return answer


__all__ = [
    "FEED_ITEMS",
    "CorpusError",
    "NewsSite",
    "Outlet",
    "SitePage",
    "SourceArticle",
    "build_pages",
    "feeds_of",
    "source_articles",
]
