"""The throughput benchmark's site under names: feeds follow the host asked for, and
trafilatura's CLI reaches the site by name with nothing written to /etc/hosts."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from benchmarks.newsite import NewsSite, SitePage
from benchmarks.sitetemplate import OUTLETS
from benchmarks.throughput_bench import TRAFILATURA_SETTINGS
from benchmarks.throughput_report import trafilatura_config
from benchmarks.trafilatura_cli import parse_names, resolving
from tests.conftest import article_html

REPO = Path(__file__).resolve().parents[1]
TEXT = (
    "The regulator fined the platform for moving user data abroad without consent. "
    "Officials said the company had ignored three warnings over two years. "
) * 6


def _page(outlet: int, n: int) -> SitePage:
    html = article_html(f"Story {n}", TEXT, f"/news/story-{n}.html")
    return SitePage(
        outlet=outlet,
        path=f"/news/story-{n}.html",
        title=f"Story {n}",
        summary="A summary.",
        source="test",
        published=datetime(2026, 11, 2, 10, n, tzinfo=UTC),
        body_gz=gzip.compress(html),
    )


def _feed_links(url: str, host: str | None = None) -> list[str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return [e.link for e in feedparser.parse(answer.read()).entries]


def test_a_feed_links_its_items_under_the_host_it_was_asked_for() -> None:
    with NewsSite([_page(0, 1), _page(1, 2)], hosts=2) as site:
        ip_feed = site.feeds[0]
        name = OUTLETS[0].host
        port = ip_feed.split(":")[2].split("/")[0]
        assert _feed_links(ip_feed) == [site.bases[0] + "/news/story-1.html"]
        assert site.bases[0].startswith("http://127.")
        named = _feed_links(ip_feed, host=f"{name}:{port}")
        assert named == [f"http://{name}:{port}/news/story-1.html"]
        assert site.named_feeds[0] == f"http://{name}:{port}/feeds/latest-1.xml"
        assert site.names[name] == site.bases[0].split("//")[1].split(":")[0]


def test_names_resolve_to_their_loopback_address_and_others_pass_through() -> None:
    asked: list[object] = []

    def resolve(host: object, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        return []

    getaddrinfo = resolving({"north.example.com": "127.0.0.7"}, resolve)
    getaddrinfo("North.Example.com.", 80, type=socket.SOCK_STREAM)
    getaddrinfo(b"north.example.com", 80)
    getaddrinfo("other.example.org", 443)
    assert asked == ["127.0.0.7", "127.0.0.7", "other.example.org"]


@pytest.mark.parametrize("spec", ["north.example.com", "a=10.0.0.1", "=127.0.0.2"])
def test_a_bad_name_mapping_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="expected NAME=127"):
        parse_names(spec)


def test_trafilatura_cli_reaches_the_site_by_name_in_its_own_process(tmp_path: Path) -> None:
    config = tmp_path / "trafilatura.cfg"  # as the benchmark runs it: SSRF protection off
    config.write_text(trafilatura_config(TRAFILATURA_SETTINGS))
    with NewsSite([_page(0, 1)], hosts=1) as site:
        names = ",".join(f"{n}={ip}" for n, ip in site.names.items())
        url = site.named_bases[0] + "/news/story-1.html"
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.trafilatura_cli", names, "-u", url]
            + ["--config-file", str(config)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        served = site.request_count()
    assert done.returncode == 0, done.stderr
    assert "moving user data abroad" in done.stdout
    assert served >= 1
    # Only the launcher's mapping knows the name: nothing was written to /etc/hosts.
    assert OUTLETS[0].host not in Path("/etc/hosts").read_text(encoding="utf-8")
