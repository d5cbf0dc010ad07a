"""Real-world end to end: the 181 Zyte benchmark pages through the whole pipeline.

The pages are served gzip-encoded on loopback exactly as the corpus stores them, listed
in RSS feeds across four hosts; the run keeps every story (``--all-stories``). At least
95% of pages must yield an article whose text covers the ground-truth body (token recall
>= 0.8 each); every other page must be a dead letter or a discard with a reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.scoring import score
from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from tests.conftest import assert_accounting, corpus_path, run_newsbeam

pytestmark = [pytest.mark.pipeline, pytest.mark.realworld]

HOSTS = 4
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def test_zyte_pages_end_to_end(site: LoopbackSite, tmp_path: Path) -> None:
    zyte = corpus_path("articles", "zyte")
    truth: dict[str, dict[str, str]] = json.loads((zyte / "ground-truth.json").read_text())
    bases = [site.add_host(f"outlet{n}") for n in range(HOSTS)]
    items: list[list[FeedItem]] = [[] for _ in range(HOSTS)]
    url_to_id: dict[str, str] = {}
    for n, page_id in enumerate(sorted(truth)):
        host = n % HOSTS
        path = f"/articles/{page_id}"
        url = f"{bases[host]}{path}"
        url_to_id[url] = page_id
        body = (zyte / "html" / f"{page_id}.html.gz").read_bytes()
        site.route(f"outlet{host}", path, Response(body=body, body_is_gzip=True))
        items[host].append(
            FeedItem(title=f"Story {n}", link=url, guid=url, summary="", published=WHEN)
        )
    feeds = tmp_path / "feeds.txt"
    for host in range(HOSTS):
        site.route(
            f"outlet{host}",
            "/rss",
            Response(
                body=rss_feed(f"Outlet {host}", bases[host], items[host]),
                content_type="application/rss+xml",
            ),
        )
    feeds.write_text("".join(f"{b}/rss\n" for b in bases))

    out = run_newsbeam(feeds, tmp_path / "out", "--all-stories", "--no-robots")

    assert_accounting(out)
    assert out.summary["entries"] == len(truth)
    good = 0
    for story in out.stories:
        page_id = url_to_id[story["fetched_url"]]
        if score(story["text"], truth[page_id]["articleBody"]).recall >= 0.8:
            good += 1
    assert good >= 0.95 * len(truth), f"only {good} of {len(truth)} pages covered"
    others = len(truth) - len(out.stories)
    assert others == len(out.discards) + sum(out.summary["failed"].values())
    assert all(d["reason"] for d in out.discards)
