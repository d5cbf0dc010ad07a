"""Tests for the bundled sample site: manifest, files, and what the loopback server answers."""

from __future__ import annotations

import gzip
import http.client
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import feedparser
import lxml.html
import pytest
import yaml

from pipelines.loopback import LoopbackSite
from pipelines.sample_manifest import (
    SampleManifest,
    SampleSiteError,
    load_manifest,
    sample_site_root,
)
from pipelines.sample_site import outlets_csv, serve_sample_site, write_feed_list
from transforms.outlets import OutletCatalogue
from transforms.records import FeedSpec

ROOT = Path(str(sample_site_root()))


@pytest.fixture(scope="module")
def manifest() -> SampleManifest:
    return load_manifest()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LoopbackSite, list[FeedSpec]]]:
    with LoopbackSite() as site:
        yield site, serve_sample_site(site)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request(
            "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {}
        )
        resp = conn.getresponse()
        head = {k.lower(): v for k, v in resp.getheaders()}
        body = resp.read()
        if head.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return resp.status, head, body
    finally:
        conn.close()


def test_manifest_has_the_required_mix(manifest: SampleManifest) -> None:
    topics = [a.topic for a in manifest.articles.values()]
    assert 24 <= len(topics) <= 36
    assert topics.count("on_topic") >= 8 and topics.count("off_topic") >= 8
    assert 3 <= len(manifest.outlets) <= 4
    outcomes = manifest.expected_outcomes()
    assert outcomes["duplicate"] == outcomes["dead_link"] == outcomes["not_html"] == 1
    assert len(manifest.broken_feeds()) == 1
    assert outcomes["published"] == topics.count("on_topic")
    assert outcomes["not_relevant"] == topics.count("off_topic")


def test_every_article_is_listed_once_and_expected_matches_topic(manifest: SampleManifest) -> None:
    listed = [
        (e.article, e.expected) for f in manifest.feeds for e in f.entries if e.article is not None
    ]
    non_duplicates = [a for a, expected in listed if expected != "duplicate"]
    assert sorted(non_duplicates) == sorted(manifest.articles)
    for article_id, expected in listed:
        if expected != "duplicate":
            topic = manifest.articles[article_id].topic
            assert expected == {"on_topic": "published", "off_topic": "not_relevant"}[topic]


def test_every_file_in_the_folder_is_referenced() -> None:
    raw = yaml.safe_load((ROOT / "manifest.yaml").read_text("utf-8"))
    referenced = {"manifest.yaml"}
    referenced |= {o["template"] for o in raw["outlets"]}
    referenced |= {a["file"] for a in raw["articles"]}
    referenced |= {f["file"] for f in raw["files"]}
    referenced |= {f["file"] for f in raw["feeds"] if "file" in f}
    on_disk = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()}
    assert on_disk == referenced


def test_articles_are_news_length_and_dated_2026(manifest: SampleManifest) -> None:
    for article in manifest.articles.values():
        words = sum(len(p.split()) for p in article.paragraphs)
        assert 250 <= words <= 600, article.id
        assert article.published.year == 2026, article.id
        assert article.author and article.summary and article.title, article.id


def test_every_feed_parses_and_lists_the_manifest_entries(
    manifest: SampleManifest, served: tuple[LoopbackSite, list[FeedSpec]]
) -> None:
    site, specs = served
    assert len(specs) == len(manifest.feeds)
    for spec, feed in zip(specs, manifest.feeds, strict=True):
        status, _, body = _get(spec.url)
        assert status == 200, spec.url
        parsed = feedparser.parse(body)
        if feed.expected == "broken_feed":
            assert parsed.bozo and parsed.entries == [], spec.url
            continue
        assert not parsed.bozo, spec.url
        base = site.base_url(feed.host)
        assert [e.link for e in parsed.entries] == [base + e.path for e in feed.entries]
        assert [e.title for e in parsed.entries] == [e.title for e in feed.entries]


def test_every_linked_page_exists_with_the_right_type(
    manifest: SampleManifest, served: tuple[LoopbackSite, list[FeedSpec]]
) -> None:
    site, _ = served
    for feed in manifest.feeds:
        base = site.base_url(feed.host)
        for entry in feed.entries:
            status, headers, body = _get(base + entry.path)
            if entry.expected == "dead_link":
                assert status == 404, entry.path
            elif entry.expected == "not_html":
                assert (status, headers["content-type"]) == (200, "application/pdf")
                assert body.startswith(b"%PDF-")
            else:
                assert status == 200 and headers["content-type"].startswith("text/html")
                assert entry.article is not None
                article = manifest.articles[entry.article]
                page = lxml.html.fromstring(body)
                canonical = page.xpath("//link[@rel='canonical']/@href")
                assert canonical == [base + article.path], entry.path
                assert page.xpath("//meta[@property='og:title']/@content") == [article.title]
                assert page.xpath("//meta[@name='author']/@content") == [article.author]
                published = page.xpath("//meta[@property='article:published_time']/@content")
                assert datetime.fromisoformat(published[0]) == article.published
                assert page.xpath("//nav") and page.xpath("//footer")


def test_outlets_use_different_templates(
    manifest: SampleManifest, served: tuple[LoopbackSite, list[FeedSpec]]
) -> None:
    site, _ = served
    shapes = set()
    for host in manifest.outlets:
        article = next(a for a in manifest.articles.values() if a.host == host)
        page = lxml.html.fromstring(_get(site.base_url(host) + article.path)[2])
        shapes.add(tuple(el.tag for el in page.iter() if isinstance(el.tag, str))[:40])
    assert len(shapes) == len(manifest.outlets)


def test_syndicated_pair_shares_its_body_text(
    manifest: SampleManifest, served: tuple[LoopbackSite, list[FeedSpec]]
) -> None:
    site, _ = served
    copies = [a for a in manifest.articles.values() if a.syndication_of is not None]
    assert len(copies) == 1
    copy = copies[0]
    original = manifest.articles[copy.syndication_of or ""]
    assert (copy.host, copy.title) != (original.host, original.title)

    def paragraphs(host: str, path: str) -> list[str]:
        page = lxml.html.fromstring(_get(site.base_url(host) + path)[2])
        return [p.text_content().strip() for p in page.xpath("//article//p")]

    original_text = paragraphs(original.host, original.path)
    copy_text = paragraphs(copy.host, copy.path)
    shared = [p for p in original_text if p in copy_text]
    assert len(shared) >= 5 and len(" ".join(shared).split()) >= 250


def test_duplicate_entry_differs_only_by_utm_parameters(
    manifest: SampleManifest, served: tuple[LoopbackSite, list[FeedSpec]]
) -> None:
    site, _ = served
    [dup] = [e for f in manifest.feeds for e in f.entries if e.expected == "duplicate"]
    assert dup.article is not None
    plain = manifest.articles[dup.article].path
    parts = urlsplit(dup.path)
    assert parts.path == plain
    assert parse_qsl(parts.query) and all(k.startswith("utm_") for k, _ in parse_qsl(parts.query))
    base = site.base_url(manifest.articles[dup.article].host)
    assert _get(base + dup.path)[2] == _get(base + plain)[2]


def test_feeds_answer_304_to_their_validators(served: tuple[LoopbackSite, list[FeedSpec]]) -> None:
    site, specs = served
    status, headers, _ = _get(specs[0].url)
    assert status == 200
    assert _get(specs[0].url, {"If-None-Match": headers["etag"]})[0] == 304
    modified = {"If-Modified-Since": headers["last-modified"]}
    assert _get(specs[0].url, modified)[0] == 304


def test_write_feed_list_round_trips(
    served: tuple[LoopbackSite, list[FeedSpec]], tmp_path: Path
) -> None:
    _, specs = served
    out = tmp_path / "feeds.yaml"
    write_feed_list(specs, out)
    loaded = yaml.safe_load(out.read_text("utf-8"))["feeds"]
    assert [FeedSpec(**f) for f in loaded] == specs
    assert {s.country for s in specs} >= {"US", "GB"}


def test_outlets_sharing_one_address_get_no_row(manifest: SampleManifest, tmp_path: Path) -> None:
    # macOS's loopback has 127.0.0.1 alone: LoopbackSite puts every outlet there on a port
    # of its own, and a row for each made the catalogue refuse the file ("domain
    # '127.0.0.1' already defined"), so newsbeam demo did not run there.
    path = tmp_path / "outlets.csv"
    path.write_text(outlets_csv(manifest, dict.fromkeys(manifest.outlets, "127.0.0.1")))
    assert OutletCatalogue.load(path).lookup("127.0.0.1").name is None  # the feeds' names
    own = {host: f"127.0.0.{n}" for n, host in enumerate(manifest.outlets, start=2)}
    path.write_text(outlets_csv(manifest, own))
    catalogue = OutletCatalogue.load(path)
    names = [catalogue.lookup(own[host]).name for host in manifest.outlets]
    assert names == [outlet.name for outlet in manifest.outlets.values()]


def test_a_bad_manifest_names_the_problem(tmp_path: Path) -> None:
    root = tmp_path / "site"
    shutil.copytree(ROOT, root)
    raw = yaml.safe_load((root / "manifest.yaml").read_text("utf-8"))
    raw["feeds"][0]["entries"][0]["article"] = "ledger/no-such-story"
    (root / "manifest.yaml").write_text(yaml.safe_dump(raw), "utf-8")
    with pytest.raises(SampleSiteError, match=r"manifest.yaml: feeds\[0\].entries\[0\]"):
        load_manifest(root)
    (root / raw["articles"][0]["file"]).write_text("no front matter here\n", "utf-8")
    with pytest.raises(SampleSiteError, match="front matter"):
        load_manifest(root)


def test_published_dates_are_utc(manifest: SampleManifest) -> None:
    assert all(a.published.tzinfo == UTC for a in manifest.articles.values())
