"""The bundled sample news site: loads it, serves it on a LoopbackSite, writes its feed list.

Consumes ``transforms/data/sample_site/`` (``manifest.yaml``, article sources
``articles/<host>/*.md`` with a YAML front matter, one HTML template per outlet, static files)
and produces routes on a ``LoopbackSite`` (rendered article pages, RSS/Atom feeds built from the
manifest, static files) plus the ``FeedSpec`` list to poll. The manifest also records the
expected outcome of every feed entry, so tests can check a run's accounting against it.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

import yaml

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem, atom_feed, rss_feed
from transforms.records import FeedSpec

MANIFEST = "manifest.yaml"
ENTRY_OUTCOMES = frozenset({"published", "not_relevant", "duplicate", "dead_link", "not_html"})
FEED_CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}


class SampleSiteError(ValueError):
    """The bundled sample site is inconsistent; the message names the file and the place."""


@dataclass(frozen=True)
class Outlet:
    host: str
    name: str
    country: str
    language: str
    template: str
    gzip: bool = False


@dataclass(frozen=True)
class ArticlePage:
    """One article: where it is served and what its source file says."""

    id: str
    host: str
    path: str
    file: str
    topic: str  # "on_topic" or "off_topic"
    title: str
    author: str
    published: datetime
    section: str
    summary: str
    paragraphs: tuple[str, ...]
    syndication_of: str | None = None


@dataclass(frozen=True)
class EntrySpec:
    """One feed entry; ``article`` is None for links to no article (dead link, PDF)."""

    expected: str
    path: str  # the link's path and query on the feed's host
    title: str
    summary: str
    published: datetime
    article: str | None = None


@dataclass(frozen=True)
class FeedDef:
    id: str
    host: str
    path: str
    format: str  # "rss", "atom" or "file"
    title: str
    entries: tuple[EntrySpec, ...] = ()
    file: str | None = None
    content_type: str | None = None
    expected: str | None = None  # "broken_feed" for a feed that yields no entries


@dataclass(frozen=True)
class StaticFile:
    host: str
    path: str
    file: str
    content_type: str


@dataclass(frozen=True)
class SampleManifest:
    """The whole sample site, validated."""

    outlets: dict[str, Outlet]
    articles: dict[str, ArticlePage]
    files: tuple[StaticFile, ...]
    feeds: tuple[FeedDef, ...]
    root: Traversable  # the folder it was read from

    def expected_outcomes(self) -> Counter[str]:
        """How many feed entries should end in each outcome (``published``, ...)."""
        return Counter(e.expected for f in self.feeds for e in f.entries)

    def broken_feeds(self) -> list[FeedDef]:
        """The feeds expected to yield no entries at all."""
        return [f for f in self.feeds if f.expected == "broken_feed"]


def sample_site_root() -> Traversable:
    """The bundled sample site folder (works from a source tree and from an installed wheel)."""
    return files("transforms.data") / "sample_site"


def load_manifest(root: Traversable | None = None) -> SampleManifest:
    """Read and check ``manifest.yaml`` and every article it names.

    Args:
        root: the sample site folder; defaults to the bundled one.

    Returns:
        The validated manifest.

    Raises:
        SampleSiteError: a missing key or file, an unknown reference, a bad front matter.
    """
    root = root or sample_site_root()
    raw = _yaml(root / MANIFEST, MANIFEST)
    outlets: dict[str, Outlet] = {}
    for i, o in enumerate(_list(raw, "outlets")):
        where = f"{MANIFEST}: outlets[{i}]"
        fields = _need(o, where, "host", "name", "country", "language", "template")
        _check_file(root, fields["template"], where)
        outlets[fields["host"]] = Outlet(**fields, gzip=bool(o.get("gzip", False)))
    articles: dict[str, ArticlePage] = {}
    for i, a in enumerate(_list(raw, "articles")):
        where = f"{MANIFEST}: articles[{i}]"
        fields = _need(a, where, "id", "host", "path", "file", "topic")
        _check_host(fields["host"], outlets, where)
        _check_file(root, fields["file"], where)
        if fields["topic"] not in ("on_topic", "off_topic"):
            raise SampleSiteError(f"{where}: topic must be on_topic or off_topic")
        articles[fields["id"]] = _read_article(root, fields, a.get("syndication_of"))
    for art in articles.values():
        if art.syndication_of is not None and art.syndication_of not in articles:
            raise SampleSiteError(f"{MANIFEST}: {art.id}: unknown syndication_of")
    static = []
    for i, f in enumerate(raw.get("files") or []):
        fields = _need(f, f"{MANIFEST}: files[{i}]", "host", "path", "file", "content_type")
        _check_file(root, fields["file"], f"{MANIFEST}: files[{i}]")
        static.append(StaticFile(**fields))
    feeds = tuple(_feed(f, i, outlets, articles) for i, f in enumerate(_list(raw, "feeds")))
    for i, feed in enumerate(feeds):
        if feed.file is not None:
            _check_file(root, feed.file, f"{MANIFEST}: feeds[{i}]")
    return SampleManifest(outlets, articles, tuple(static), feeds, root)


def render_article(manifest: SampleManifest, article: ArticlePage, base_url: str) -> str:
    """The article's HTML page, in its outlet's template.

    Args:
        manifest: the sample site (for the outlet and the sidebar's other articles).
        article: the article to render.
        base_url: the outlet's base URL, for the canonical link and og:url.

    Returns:
        The page's HTML.
    """
    outlet = manifest.outlets[article.host]
    template = Template((manifest.root / outlet.template).read_text("utf-8"))
    others = [a for a in manifest.articles.values() if a.host == article.host and a != article]
    esc = html.escape
    values = {
        "lang": outlet.language,
        "headline": esc(article.title),
        "description": esc(article.summary),
        "author": esc(article.author),
        "author_slug": _slug(article.author),
        "canonical": esc(base_url + article.path),
        "published_iso": article.published.isoformat().replace("+00:00", "Z"),
        "published_human": f"{article.published:%B} {article.published.day}, "
        f"{article.published:%Y} {article.published:%H:%M} UTC",
        "section": esc(article.section),
        "section_slug": _slug(article.section),
        "body": "\n".join(f"<p>{esc(p)}</p>" for p in article.paragraphs),
        "sidebar": "\n".join(
            f'<li><a href="{esc(a.path)}">{esc(a.title)}</a></li>' for a in others[:5]
        ),
    }
    return template.substitute(values)


def serve_sample_site(site: LoopbackSite, root: Traversable | None = None) -> list[FeedSpec]:
    """Add every outlet of the sample site as a host of ``site`` and route all its URLs.

    Args:
        site: a running LoopbackSite with no hosts named like the outlets yet.
        root: the sample site folder; defaults to the bundled one.

    Returns:
        The feeds to poll, in manifest order, with the outlet's name, country and language.
    """
    root = root or sample_site_root()
    manifest = load_manifest(root)
    bases = {host: site.add_host(host) for host in manifest.outlets}
    for art in manifest.articles.values():
        page = render_article(manifest, art, bases[art.host]).encode("utf-8")
        site.route(art.host, art.path, Response(body=page, gzip=manifest.outlets[art.host].gzip))
    for feed in manifest.feeds:
        for entry in feed.entries:
            if entry.article is not None and entry.path != manifest.articles[entry.article].path:
                # A tracking query on a real site serves the same page.
                art = manifest.articles[entry.article]
                page = render_article(manifest, art, bases[art.host]).encode("utf-8")
                site.route(feed.host, entry.path, Response(body=page))
    for static in manifest.files:
        body = (root / static.file).read_bytes()
        site.route(static.host, static.path, Response(body=body, content_type=static.content_type))
    specs = []
    for feed in manifest.feeds:
        site.route(feed.host, feed.path, _feed_response(feed, bases[feed.host], root))
        outlet = manifest.outlets[feed.host]
        specs.append(
            FeedSpec(bases[feed.host] + feed.path, outlet.name, outlet.country, outlet.language)
        )
    return specs


def write_feed_list(specs: list[FeedSpec], path: str | Path) -> None:
    """Write ``specs`` as a YAML feed list: ``feeds: [{url, name, country, language}]``.

    Args:
        specs: the feeds to list.
        path: the file to write (its folder must exist).
    """
    feeds = [
        {
            k: v
            for k, v in (
                ("url", s.url),
                ("name", s.name),
                ("country", s.country),
                ("language", s.language),
            )
            if v is not None
        }
        for s in specs
    ]
    Path(path).write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False), "utf-8")


def _feed_response(feed: FeedDef, base: str, root: Traversable) -> Response:
    if feed.format == "file":
        assert feed.file is not None  # checked by load_manifest
        return Response(body=(root / feed.file).read_bytes(), content_type=feed.content_type)
    items = [
        FeedItem(
            e.title,
            base + e.path,
            base + e.path if feed.format == "rss" else f"tag:{feed.host},2026:{e.path}",
            e.summary,
            e.published,
        )
        for e in feed.entries
    ]
    build = rss_feed if feed.format == "rss" else atom_feed
    body = build(feed.title, base + "/", items)
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    modified = max(e.published for e in feed.entries)
    return Response(
        body=body, content_type=FEED_CONTENT_TYPES[feed.format], etag=etag, last_modified=modified
    )


def _feed(
    raw: Any, i: int, outlets: dict[str, Outlet], articles: dict[str, ArticlePage]
) -> FeedDef:
    where = f"{MANIFEST}: feeds[{i}]"
    fields = _need(raw, where, "id", "host", "path", "format", "title")
    _check_host(fields["host"], outlets, where)
    if fields["format"] == "file":
        more = _need(raw, where, "file", "content_type", "expected")
        return FeedDef(**fields, **more)
    if fields["format"] not in FEED_CONTENT_TYPES:
        raise SampleSiteError(f"{where}: format must be rss, atom or file")
    entries = []
    for j, e in enumerate(_list(raw, "entries", where)):
        here = f"{where}.entries[{j}]"
        expected = _need(e, here, "expected")["expected"]
        if expected not in ENTRY_OUTCOMES:
            raise SampleSiteError(f"{here}: expected must be one of {sorted(ENTRY_OUTCOMES)}")
        if "article" in e:
            art = articles.get(e["article"])
            if art is None or art.host != fields["host"]:
                raise SampleSiteError(f"{here}: no article {e['article']!r} on this host")
            path = art.path + str(e.get("query", ""))
            entries.append(EntrySpec(expected, path, art.title, art.summary, art.published, art.id))
        else:
            f = _need(e, here, "link", "title", "summary", "published")
            entries.append(
                EntrySpec(
                    expected, f["link"], f["title"], f["summary"], _date(f["published"], here)
                )
            )
    return FeedDef(**fields, entries=tuple(entries))


def _read_article(
    root: Traversable, fields: dict[str, Any], syndication_of: str | None
) -> ArticlePage:
    name = fields["file"]
    text = (root / name).read_text("utf-8")
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.S)
    if match is None:
        raise SampleSiteError(f"{name}: line 1: expected a front matter between '---' lines")
    meta = yaml.safe_load(match.group(1)) or {}
    front = _need(meta, name, "title", "author", "published", "section", "summary")
    paragraphs = tuple(p.strip() for p in match.group(2).split("\n\n") if p.strip())
    if not paragraphs:
        raise SampleSiteError(f"{name}: the article has no body")
    front["published"] = _date(front["published"], name)
    return ArticlePage(**fields, **front, paragraphs=paragraphs, syndication_of=syndication_of)


def _yaml(source: Traversable, name: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(source.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SampleSiteError(f"{name}: {exc}") from exc
    if not isinstance(data, dict):
        raise SampleSiteError(f"{name}: line 1: expected a mapping")
    return data


def _list(raw: Any, key: str, where: str = MANIFEST) -> list[Any]:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, list) or not value:
        raise SampleSiteError(f"{where}: {key!r} must be a non-empty list")
    return value


def _need(raw: Any, where: str, *keys: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SampleSiteError(f"{where}: expected a mapping")
    missing = [k for k in keys if raw.get(k) in (None, "")]
    if missing:
        raise SampleSiteError(f"{where}: missing {', '.join(missing)}")
    return {k: raw[k] for k in keys}


def _check_host(host: str, outlets: dict[str, Outlet], where: str) -> None:
    if host not in outlets:
        raise SampleSiteError(f"{where}: unknown host {host!r}")


def _check_file(root: Traversable, name: str, where: str) -> None:
    if not (root / name).is_file():
        raise SampleSiteError(f"{where}: file {name!r} not found in the sample site")


def _date(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise SampleSiteError(f"{where}: bad date {value!r}") from exc
    if not isinstance(value, datetime):
        raise SampleSiteError(f"{where}: bad date {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


__all__ = [
    "ArticlePage",
    "EntrySpec",
    "FeedDef",
    "SampleManifest",
    "SampleSiteError",
    "StaticFile",
    "load_manifest",
    "render_article",
    "sample_site_root",
    "serve_sample_site",
    "write_feed_list",
]


def write_outlets_file(
    site: LoopbackSite, path: str | Path, root: Traversable | None = None
) -> None:
    """Write an ``--outlets`` CSV naming the sample outlets by their loopback addresses.

    The sample outlets are invented, so the bundled catalogue does not know them; this file
    tells the pipeline who publishes on each 127.0.0.N address of ``site``.

    Args:
        site: the LoopbackSite that ``serve_sample_site`` filled.
        path: the CSV file to write.
        root: the sample site folder; defaults to the bundled one.
    """
    manifest = load_manifest(root or sample_site_root())
    rows = ["domain,name,country,language,state_affiliation"]
    for host, outlet in manifest.outlets.items():
        address = urlsplit(site.base_url(host)).hostname
        rows.append(f'{address},"{outlet.name}",{outlet.country},{outlet.language},')
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")
