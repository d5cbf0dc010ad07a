"""The bundled sample news site's manifest: reads it, checks it, and types it.

Consumes ``transforms/data/sample_site/`` (``manifest.yaml`` and the article sources
``articles/<host>/*.md`` with a YAML front matter; templates, static files and file feeds are
only checked to exist) and produces a validated ``SampleManifest``: outlets, articles, feeds
with their entries and the outcome each entry is expected to end in, and static files. Bad
input raises ``SampleSiteError`` naming the file and the place in it. Serving and rendering
are in ``pipelines.sample_site``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.abc import Traversable
from importlib.resources import files
from typing import Any

import yaml

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


__all__ = [
    "ArticlePage",
    "ENTRY_OUTCOMES",
    "EntrySpec",
    "FEED_CONTENT_TYPES",
    "FeedDef",
    "MANIFEST",
    "Outlet",
    "SampleManifest",
    "SampleSiteError",
    "StaticFile",
    "load_manifest",
    "sample_site_root",
]
