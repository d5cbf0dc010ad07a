"""The bundled sample news site: serves it on a LoopbackSite, renders pages, writes feed lists.

Consumes the ``SampleManifest`` that ``pipelines.sample_manifest`` loads from
``transforms/data/sample_site/`` (plus the outlets' HTML templates and the static files it
names) and produces routes on a ``LoopbackSite`` (rendered article pages, RSS/Atom feeds built
from the manifest, static files) plus the ``FeedSpec`` list to poll. The manifest also records
the expected outcome of every feed entry, so tests can check a run's accounting against it.
"""

from __future__ import annotations

import hashlib
import html
import re
from importlib.abc import Traversable
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

import yaml

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem, atom_feed, rss_feed
from pipelines.sample_manifest import (
    FEED_CONTENT_TYPES,
    ArticlePage,
    FeedDef,
    SampleManifest,
    load_manifest,
    sample_site_root,
)
from transforms.records import FeedSpec


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


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


__all__ = [
    "render_article",
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
    addresses = {host: urlsplit(site.base_url(host)).hostname or "" for host in manifest.outlets}
    Path(path).write_text(outlets_csv(manifest, addresses), encoding="utf-8")


def outlets_csv(manifest: SampleManifest, addresses: dict[str, str]) -> str:
    """The ``--outlets`` CSV of the sample outlets, given each one's address (by host).

    Outlets that share an address get no row: macOS's loopback has 127.0.0.1 alone, where
    ``LoopbackSite`` gives each outlet its own port, and the catalogue, keyed by host, cannot
    tell them apart (a row for each was refused, "domain already defined", and the demo did
    not run). The feed list's name and country then stand in for each outlet.
    """
    rows = ["domain,name,country,language,state_affiliation"]
    taken = list(addresses.values())
    for host, outlet in manifest.outlets.items():
        if taken.count(addresses[host]) == 1:
            rows.append(f'{addresses[host]},"{outlet.name}",{outlet.country},{outlet.language},')
    return "\n".join(rows) + "\n"
