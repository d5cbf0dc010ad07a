"""The whole batch pipeline over real HTTP on loopback: outputs, reasons and accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import FeedItem, rss_feed
from tests.conftest import (
    WHEN,
    article_html,
    assert_accounting,
    corpus_path,
    evidence_problems,
    read_jsonl,
    run_newsbeam,
)

pytestmark = pytest.mark.pipeline


OFF_TOPIC = "\n".join(
    f"The home side won {i + 2}-1 on Saturday after a late goal from the young striker, "
    "who had come on as a substitute in the second half. The coach praised the defence and "
    "said the squad would rest before the cup tie next week against their local rivals."
    for i in range(5)
)


def seed_story() -> tuple[str, str]:
    seed = next(corpus_path("seed").glob("*.txt")).read_text(encoding="utf-8")
    title, _, text = seed.partition("\n")
    return title.strip(), text.strip()


@pytest.fixture
def news_site(site: LoopbackSite, tmp_path: Path) -> Path:
    """Three outlets, their feeds, and the usual trouble; returns the feed list file."""
    wire, daily, broken = (site.add_host(n) for n in ("wire", "daily", "broken"))
    title, text = seed_story()
    seed_url = f"{wire}/tech/tiktok-propaganda-account"
    site.route(
        "wire",
        "/tech/tiktok-propaganda-account",
        Response(body=article_html(title, text, seed_url)),
    )
    site.route(
        "daily",
        "/sport/cup-win",
        Response(body=article_html("Late goal seals cup win", OFF_TOPIC, f"{daily}/sport/cup-win")),
    )
    site.route(
        "daily",
        "/files/report.pdf",
        Response(body=b"%PDF-1.4 fake", content_type="application/pdf"),
    )
    wire_items = [
        FeedItem(title=title, link=seed_url, guid=seed_url, summary="", published=WHEN),
        FeedItem(
            title="Gone", link=f"{wire}/gone", guid=f"{wire}/gone", summary="", published=WHEN
        ),
    ]
    daily_items = [
        FeedItem(
            title="Late goal seals cup win",
            link=f"{daily}/sport/cup-win",
            guid=f"{daily}/sport/cup-win",
            summary="",
            published=WHEN,
        ),
        FeedItem(
            title="Annual report (PDF)",
            link=f"{daily}/files/report.pdf",
            guid=f"{daily}/files/report.pdf",
            summary="",
            published=WHEN,
        ),
        FeedItem(
            title=title,
            link=f"{seed_url}?utm_source=daily&utm_medium=rss",
            guid=f"{seed_url}?utm_source=daily",
            summary="",
            published=WHEN,
        ),
    ]
    rss = "application/rss+xml"
    site.route("wire", "/rss", Response(body=rss_feed("Wire", wire, wire_items), content_type=rss))
    site.route(
        "daily", "/rss", Response(body=rss_feed("Daily", daily, daily_items), content_type=rss)
    )
    site.route(
        "broken",
        "/rss",
        Response(
            body=b"<html><body>Fatal error: database unavailable</body></html>", content_type=rss
        ),
    )
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{wire}/rss\n{daily}/rss\n{broken}/rss\n")
    return feeds


@pytest.mark.parametrize("processes", ["1", "2"], ids=["in-worker", "process-pool"])
def test_pipeline_publishes_relevant_and_accounts_for_everything(
    news_site: Path, tmp_path: Path, processes: str
) -> None:
    out = run_newsbeam(news_site, tmp_path / "out", "--no-robots", "--extract-processes", processes)
    assert_accounting(out)
    s = out.summary
    assert s["entries"] == 5
    assert s["published"] == 1
    assert s["discarded"] == {"duplicate_url": 1, "not_html": 1, "not_relevant": 1}
    assert s["failed"] == {"fetch/http_404": 1}
    assert sum(s["feeds"]["failed"].values()) == 1

    (story,) = out.stories
    assert story["relevant"] is True
    assert "tiktok" in story["platforms"] and "china" in story["state_actors"]
    assert story["url"].endswith("/tech/tiktok-propaganda-account")
    assert story["text"] and story["title"]
    assert evidence_problems(story["title"], story["text"], story["tags"]) == []
    assert {d["error_type"] for d in out.dead_letters} >= {"http_404"}
    assert all(d["message"] for d in out.dead_letters)


def test_all_stories_publishes_irrelevant_ones_too(news_site: Path, tmp_path: Path) -> None:
    out = run_newsbeam(news_site, tmp_path / "out", "--no-robots", "--all-stories")
    assert_accounting(out)
    assert out.summary["published"] == 2
    assert "not_relevant" not in out.summary["discarded"]
    relevant = {s["title"][:20]: s["relevant"] for s in out.stories}
    assert sorted(relevant.values()) == [False, True]


WIRE_STORY = "\n".join(
    [
        "The government ordered TikTok's Chinese owner ByteDance on Tuesday to sell the app's "
        "American business within 120 days or face a nationwide ban, citing the risk that "
        "Beijing could obtain data on millions of American users.",
        "The order, signed by the Commerce Department after a national security review, gives "
        "ByteDance until July to find a buyer approved by federal regulators.",
        "TikTok said it would challenge the order in court, arguing that it had already moved "
        "the data of American users to servers run by an American partner and that no "
        "evidence of access by the Chinese government had been presented.",
        "Lawmakers from both parties welcomed the decision. A senator who sits on the "
        "intelligence committee said the app's recommendation system could be used to push "
        "propaganda, and that the order was overdue after years of warnings from officials.",
        "Analysts said a sale would be complicated by export rules in China that cover the "
        "recommendation algorithm, and that few buyers could afford the business at the "
        "valuation investors had discussed. Shares of rival platforms rose in early trading.",
        "The company employs several thousand people in the country and says more than one "
        "hundred million Americans use the app every month, many of them small businesses "
        "that sell through its shopping features.",
    ]
)


HEADLINES = [
    "TikTok ordered to find a buyer within 120 days",
    "U.S. sets a 120-day deadline for the sale of TikTok",
    "ByteDance must sell TikTok's American arm or face a ban",
]


def add_wire_outlets(site: LoopbackSite, count: int) -> list[str]:
    """Add ``count`` outlets, each carrying WIRE_STORY under its own headline and URL.

    Returns:
        Each outlet's feed URL, in order.
    """
    feeds = []
    for n in range(count):
        host = f"outlet{n}"
        base = site.add_host(host)
        url = f"{base}/news/tiktok-sale-{n}"
        page = article_html(HEADLINES[n], WIRE_STORY, url)
        site.route(host, f"/news/tiktok-sale-{n}", Response(body=page))
        item = FeedItem(title=HEADLINES[n], link=url, guid=url, summary="", published=WHEN)
        feed = rss_feed(host, base, [item])
        site.route(host, "/rss", Response(body=feed, content_type="application/rss+xml"))
        feeds.append(f"{base}/rss")
    return feeds


def feed_list(tmp_path: Path, feeds: list[str]) -> Path:
    path = tmp_path / "feeds.txt"
    path.write_text("".join(f"{url}\n" for url in feeds))
    return path


def test_one_alert_when_three_outlets_carry_the_same_wire_story(
    site: LoopbackSite, tmp_path: Path
) -> None:
    feeds = feed_list(tmp_path, add_wire_outlets(site, 3))

    out = run_newsbeam(feeds, tmp_path / "out", "--no-robots")

    assert_accounting(out)
    assert out.summary["entries"] == 3
    assert out.summary["published"] == 1
    assert out.summary["discarded"] == {"duplicate": 2}
    (story,) = out.stories
    duplicates = [d for d in out.discards if d["reason"] == "duplicate"]
    assert {d["detail"] for d in duplicates} == {f"duplicate_of={story['story_id']}"}


def test_one_article_listed_by_three_feeds_under_their_own_guids_is_fetched_once(
    site: LoopbackSite, tmp_path: Path
) -> None:
    # Each feed's GUID is its own, so each entry passed the entry step and the page was
    # fetched three times, two of them only to be discarded as listed again.
    base = site.add_host("outlet")
    url = f"{base}/news/tiktok-sale"
    site.route(
        "outlet", "/news/tiktok-sale", Response(body=article_html(HEADLINES[0], WIRE_STORY, url))
    )
    feeds = []
    for n, section in enumerate(("world", "tech", "business")):
        link = url if n < 2 else f"{url}?utm_source={section}"  # the same canonical URL
        item = FeedItem(HEADLINES[0], link, f"{section}-{n}", "", WHEN)
        site.route("outlet", f"/{section}.rss", Response(body=rss_feed(section, base, [item])))
        feeds.append(f"{base}/{section}.rss")

    out = run_newsbeam(feed_list(tmp_path, feeds), tmp_path / "out", "--no-robots")

    assert_accounting(out)
    asked = [r for r in site.requests_for("outlet") if r.path.startswith("/news/")]
    # Shared within a bundle of the fetch step (one request, as a rule); the runner may still
    # split the three entries over two bundles, or an entry may come after the page's fetch
    # has ended (seen once on a loaded CI machine: two requests). Before, one per entry.
    assert len(asked) < len(feeds)
    assert (out.summary["entries"], out.summary["published"]) == (3, 1)
    assert out.summary["discarded"] == {"duplicate_url": 2}  # as before: listed again
    assert {(d["stage"], d["key"]) for d in out.discards} == {("dedup", url)}


def test_link_mode_publishes_one_story_two_links_and_where_it_ran(
    site: LoopbackSite, tmp_path: Path
) -> None:
    feeds = feed_list(tmp_path, add_wire_outlets(site, 3))

    out = run_newsbeam(feeds, tmp_path / "out", "--no-robots", "--duplicates", "link")

    assert_accounting(out)
    assert out.summary["published"] == 3 and out.summary["discarded"] == {}
    assert sum(out.summary["outlets"]["country"].values()) == 3  # links in the split too
    (story,) = [s for s in out.stories if s.get("record_type") != "duplicate_link"]
    links = [s for s in out.stories if s.get("record_type") == "duplicate_link"]
    assert {link["duplicate_of"] for link in links} == {story["story_id"]}
    updates = read_jsonl(tmp_path / "out", "syndication")
    assert {u["story_id"] for u in updates} == {story["story_id"]}
    outlets = {story["outlet"]["domain"]} | {link["outlet"]["domain"] for link in links}
    assert max((u["syndication"] for u in updates), key=len) == sorted(outlets)


def test_a_later_run_recognises_a_copy_of_an_earlier_runs_story(
    site: LoopbackSite, tmp_path: Path
) -> None:
    first_feed, second_feed = add_wire_outlets(site, 2)
    output = tmp_path / "out"

    first = run_newsbeam(feed_list(tmp_path, [first_feed]), output, "--no-robots")
    second = run_newsbeam(feed_list(tmp_path, [first_feed, second_feed]), output, "--no-robots")

    assert first.summary["published"] == 1
    assert second.summary["published"] == 0
    assert second.summary["discarded"] == {"duplicate": 1}
    (copy,) = second.discards
    assert copy["detail"] == f"duplicate_of={first.stories[0]['story_id']}"
