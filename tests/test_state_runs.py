"""One-shot runs remember between runs (--state-dir): run twice, nothing is done twice."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import rss_feed
from tests.conftest import add_pages, article_html, assert_accounting, run_newsbeam
from tests.test_pipeline_e2e import OFF_TOPIC, WIRE_STORY, seed_story

pytestmark = pytest.mark.pipeline

RSS = "application/rss+xml"


def test_second_run_on_unchanged_feeds_fetches_and_publishes_nothing(
    site: LoopbackSite, tmp_path: Path
) -> None:
    tagged, plain = site.add_host("tagged"), site.add_host("plain")
    title, text = seed_story()
    pages = {
        "tagged": [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)],
        "plain": [("/sale", "TikTok ordered to find a buyer within 120 days", WIRE_STORY)],
    }
    for host, rows in pages.items():
        base = site.base_url(host)
        items = add_pages(site, host, rows)
        # One feed sends an ETag; the other sends no validators at all (its body hash tells).
        etag = '"v1"' if host == "tagged" else None
        site.route(
            host, "/rss", Response(body=rss_feed(host, base, items), content_type=RSS, etag=etag)
        )
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{tagged}/rss\n{plain}/rss\n")
    output = tmp_path / "out"

    first = run_newsbeam(feeds, output, "--no-robots")
    requests_after_first = len(site.requests)
    second = run_newsbeam(feeds, output, "--no-robots")

    assert_accounting(first)
    assert first.summary["published"] == 2
    assert_accounting(second)
    assert second.summary["entries"] == 0
    assert second.summary["published"] == 0 and second.stories == []
    assert second.summary["feeds"]["not_modified"] == 2
    later = site.requests[requests_after_first:]
    assert sorted((r.host, r.path, r.status) for r in later) == [
        ("plain", "/rss", 200),
        ("tagged", "/rss", 304),
    ]
    assert (output / "state" / "feeds.json").exists()
    # the summary names the folder the next run reads (a new --output starts a new one)
    assert second.summary["outputs"]["state"] == [str(output / "state")]


def test_a_new_entry_in_a_known_feed_is_the_only_one_fetched(
    site: LoopbackSite, tmp_path: Path
) -> None:
    base = site.add_host("news")
    title, text = seed_story()
    rows = [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)]
    items = add_pages(site, "news", rows)
    site.route("news", "/rss", Response(body=rss_feed("news", base, items[:1]), content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"

    run_newsbeam(feeds, output, "--no-robots")
    site.route("news", "/rss", Response(body=rss_feed("news", base, items), content_type=RSS))
    second = run_newsbeam(feeds, output, "--no-robots")

    assert second.summary["entries"] == 2
    assert second.summary["discarded"] == {"not_relevant": 1, "seen_in_earlier_run": 1}
    assert len(site.requests_for("news", "/seed")) == 1
    assert len(site.requests_for("news", "/cup")) == 1


def test_a_copy_published_tomorrow_is_recognised_from_the_state_dir(
    site: LoopbackSite, tmp_path: Path
) -> None:
    wire, daily = site.add_host("wire"), site.add_host("daily")
    headline = "TikTok ordered to find a buyer within 120 days"
    original = add_pages(site, "wire", [("/sale", headline, WIRE_STORY)])
    site.route("wire", "/rss", Response(body=rss_feed("wire", wire, original), content_type=RSS))
    first_feeds = tmp_path / "first.txt"
    first_feeds.write_text(f"{wire}/rss\n")
    output = tmp_path / "out"

    first = run_newsbeam(first_feeds, output, "--no-robots")

    # The next day another outlet carries the same story under its own URL.
    copy = add_pages(site, "daily", [("/news/tiktok-sale", headline, WIRE_STORY + "\n\n(AP)")])
    site.route("daily", "/rss", Response(body=rss_feed("daily", daily, copy), content_type=RSS))
    second_feeds = tmp_path / "second.txt"
    second_feeds.write_text(f"{daily}/rss\n")
    second = run_newsbeam(second_feeds, output, "--no-robots")

    assert_accounting(first)
    assert [s["url"] for s in first.stories] == [original[0].link]
    assert_accounting(second)
    assert second.summary["published"] == 0
    assert second.summary["discarded"] == {"duplicate": 1}
    (discard,) = second.discards
    assert discard["key"] == copy[0].link
    assert discard["detail"] == f"duplicate_of={first.stories[0]['story_id']}"


def test_a_copy_found_by_a_later_run_lists_the_outlets_earlier_runs_saw(
    site: LoopbackSite, tmp_path: Path
) -> None:
    # Run 1: the wire's story and a daily's copy (an update listing both). Run 2: a third
    # outlet's copy. It was recognised (a duplicate link) but sent no syndication update:
    # the state directory kept the signatures, not the outlets.
    hosts = {name: site.add_host(name) for name in ("wire", "daily", "weekly")}
    headline = "TikTok ordered to find a buyer within 120 days"
    for name, text in (("wire", WIRE_STORY), ("daily", WIRE_STORY + "\n\n(AP)")):
        items = add_pages(site, name, [("/sale", headline, text)])
        feed = rss_feed(name, hosts[name], items)
        site.route(name, "/rss", Response(body=feed, content_type=RSS))
    copy = add_pages(site, "weekly", [("/sale", headline, "By staff.\n\n" + WIRE_STORY)])
    feed = rss_feed("weekly", hosts["weekly"], copy)
    site.route("weekly", "/rss", Response(body=feed, content_type=RSS))
    first_feeds, second_feeds = tmp_path / "first.txt", tmp_path / "second.txt"
    first_feeds.write_text(f"{hosts['wire']}/rss\n{hosts['daily']}/rss\n")
    second_feeds.write_text(f"{hosts['weekly']}/rss\n")
    output = tmp_path / "out"
    flags = ("--no-robots", "--duplicates", "link")

    first = run_newsbeam(first_feeds, output, *flags)
    first_updates = [json.loads(line) for p in output.glob("syndication-*") for line in p.open()]
    second = run_newsbeam(second_feeds, output, *flags)
    second_updates = [json.loads(line) for p in output.glob("syndication-*") for line in p.open()]

    domains = {name: base.split("//")[1].split(":")[0] for name, base in hosts.items()}
    (story,) = [s for s in first.stories if "record_type" not in s]
    assert [u["syndication"] for u in first_updates] == [
        sorted([domains["wire"], domains["daily"]])
    ]
    (link,) = second.stories
    assert (link["record_type"], link["duplicate_of"]) == ("duplicate_link", story["story_id"])
    assert [(u["story_id"], u["syndication"]) for u in second_updates] == [
        (story["story_id"], sorted(domains.values()))
    ]


def one_story_feed(site: LoopbackSite, tmp_path: Path, page: Response) -> tuple[Path, str]:
    """A feed (no validators: its body hash tells) of one story whose page answers ``page``."""
    base = site.add_host("news")
    title, _ = seed_story()
    (item,) = add_pages(site, "news", [("/story", title, None)])
    site.route("news", "/story", page)
    site.route("news", "/rss", Response(body=rss_feed("news", base, [item]), content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    return feeds, item.link


def test_an_entry_that_failed_retryably_is_retried_on_an_unchanged_feed(
    site: LoopbackSite, tmp_path: Path
) -> None:
    # Retry-After over the client's cap: a 503 dead-lettered as retryable without waiting.
    down = Response(503, headers={"Retry-After": "3600"})
    feeds, link = one_story_feed(site, tmp_path, down)
    output = tmp_path / "out"

    first = run_newsbeam(feeds, output, "--no-robots")
    title, text = seed_story()
    site.route("news", "/story", Response(body=article_html(title, text, link)))
    second = run_newsbeam(feeds, output, "--no-robots")
    third = run_newsbeam(feeds, output, "--no-robots")

    assert_accounting(first)
    assert first.summary["failed"] == {"fetch/http_503": 1}
    assert_accounting(second)
    assert second.summary["entries"] == 1
    assert second.summary["feeds"]["not_modified"] == 0
    assert [s["url"] for s in second.stories] == [link]
    assert_accounting(third)  # handled now: the unchanged feed is not modified again
    assert third.summary["entries"] == 0
    assert third.summary["feeds"]["not_modified"] == 1
    assert len(site.requests_for("news", "/story")) == 2


def test_an_entry_that_failed_for_good_is_not_retried_on_an_unchanged_feed(
    site: LoopbackSite, tmp_path: Path
) -> None:
    feeds, link = one_story_feed(site, tmp_path, Response(404))
    output = tmp_path / "out"

    first = run_newsbeam(feeds, output, "--no-robots")
    title, text = seed_story()
    site.route("news", "/story", Response(body=article_html(title, text, link)))
    second = run_newsbeam(feeds, output, "--no-robots")

    assert_accounting(first)
    assert first.summary["failed"] == {"fetch/http_404": 1}
    assert_accounting(second)
    assert second.summary["entries"] == 0
    assert second.summary["feeds"]["not_modified"] == 1
    assert len(site.requests_for("news", "/story")) == 1


def age_state(state: Path, seconds: float) -> None:
    """Move every remembered time ``seconds`` into the past, as if the runs were that far apart."""
    for name, field in (("seen.jsonl", "seen_at"), ("signatures.jsonl", None)):
        rows = [json.loads(line) for line in (state / name).read_text().splitlines()]
        if field is None:  # a signature's time is inside its claim: drop them all instead
            rows = []
        for row in rows:
            row[field] -= seconds
        (state / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    feeds = json.loads((state / "feeds.json").read_text())
    for feed in feeds:  # the last run whose feed list named it
        if "listed_at" in feed:
            feed["listed_at"] -= seconds
    (state / "feeds.json").write_text(json.dumps(feeds))


def test_an_entry_a_feed_keeps_listing_is_remembered_from_its_last_sighting(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """A feed lists a story for 8 days, past the 7-day --dedup-ttl, gaining an entry now and
    then: each run that skips the story as seen remembers it from then on (as an always-on
    run does), so it is fetched once, not again once 7 days have passed since its first run.
    (The signatures are dropped when the state is aged, so only the seen entry can tell.)"""
    base = site.add_host("news")
    title, text = seed_story()
    rows = [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)]
    rows += [("/derby", "Derby ends level", OFF_TOPIC)]
    items = add_pages(site, "news", rows)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"
    runs = []
    for listed in (1, 2, 3):  # day 0, day 6, day 8
        site.route(
            "news", "/rss", Response(body=rss_feed("news", base, items[:listed]), content_type=RSS)
        )
        runs.append(run_newsbeam(feeds, output, "--no-robots"))
        age_state(output / "state", (6 if listed == 1 else 2) * 86400)

    for out in runs:
        assert_accounting(out)
    assert [s["url"] for s in runs[0].stories] == [items[0].link]
    assert runs[1].summary["discarded"] == {"seen_in_earlier_run": 1, "not_relevant": 1}
    assert runs[2].summary["discarded"] == {"seen_in_earlier_run": 2, "not_relevant": 1}
    assert len(site.requests_for("news", "/seed")) == 1


def test_an_unchanged_feeds_entries_stay_remembered_past_the_ttl(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """A feed answers "not modified" for 8 days, past the 7-day --dedup-ttl, then gains an
    entry: the run that found it unchanged remembered its entries from then, so only the
    new entry is fetched (before, the story was fetched again once its time expired)."""
    base = site.add_host("news")
    title, text = seed_story()
    rows = [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)]
    items = add_pages(site, "news", rows)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"
    runs = []
    for listed, etag in ((1, '"v1"'), (1, '"v1"'), (2, '"v2"')):  # day 0, day 6, day 8
        feed = rss_feed("news", base, items[:listed])
        site.route("news", "/rss", Response(body=feed, content_type=RSS, etag=etag))
        runs.append(run_newsbeam(feeds, output, "--no-robots"))
        age_state(output / "state", (6 if len(runs) == 1 else 2) * 86400)

    for out in runs:
        assert_accounting(out)
    assert runs[1].summary["feeds"]["not_modified"] == 1
    assert runs[2].summary["discarded"] == {"seen_in_earlier_run": 1, "not_relevant": 1}
    assert len(site.requests_for("news", "/seed")) == 1


def test_a_run_after_the_ttl_says_its_state_is_forgotten(
    site: LoopbackSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Runs paused for longer than --dedup-ttl: the entries remembered are all forgotten, so
    the story a changed feed still lists is published again; the run says so as it starts (it
    said nothing: a cron job resumed after a holiday republished its feeds without a word)."""
    base = site.add_host("news")
    title, text = seed_story()
    items = add_pages(site, "news", [("/seed", title, text), ("/cup", "Cup win", OFF_TOPIC)])
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"
    runs = []
    for listed in (1, 2):  # day 0; day 8, the feed with a new entry
        feed = rss_feed("news", base, items[:listed])
        site.route("news", "/rss", Response(body=feed, content_type=RSS))
        with caplog.at_level("WARNING", logger="pipelines.config"):
            runs.append(run_newsbeam(feeds, output, "--no-robots", "--dedup-ttl", "7d"))
        age_state(output / "state", 8 * 86400)

    assert [[s["url"] for s in out.stories] for out in runs] == [[items[0].link]] * 2
    warned = [r.getMessage() for r in caplog.records if "forgotten" in r.getMessage()]
    assert warned == [
        f"the newest entry remembered in {output / 'state'} was seen 8 days ago, longer ago "
        "than --dedup-ttl (7 days): all are forgotten, so the stories a changed feed still "
        "lists are published again (a longer --dedup-ttl keeps them)"
    ]


def test_a_feed_that_stays_broken_is_a_failure_in_every_run(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """The same unparsable body twice: the second run reports it again (its body hash was
    remembered, and it passed as "not modified", the summary showing no failure)."""
    base = site.add_host("news")
    broken = Response(body=b"<html><body>Maintenance</body></html>", content_type=RSS)
    site.route("news", "/rss", broken)
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    output = tmp_path / "out"

    runs = [run_newsbeam(feeds, output, "--no-robots") for _ in range(2)]

    for out in runs:
        assert out.summary["feeds"]["not_modified"] == 0
        assert [d["error_type"] for d in out.dead_letters] == ["not_a_feed"]


def test_an_older_newsbeams_state_is_polled_in_full_once(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """A state directory from a newsbeam that did not record each seen entry's feed (its
    seen.jsonl lines have no feed_url) and that kept a broken feed's body hash. The first
    run polls every feed in full: the broken one is a failure again (it passed as "not
    modified"), and the entries still listed are remembered with their feed, so a feed
    unchanged past the TTL keeps them (before, its story was fetched again on day 8)."""
    base = site.add_host("news")
    title, text = seed_story()
    rows = [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)]
    items = add_pages(site, "news", rows)
    broken = b"<html><body>Maintenance</body></html>"
    site.route("news", "/down", Response(body=broken, content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n{base}/down\n")
    output = tmp_path / "out"
    state = output / "state"
    runs = []
    for listed, etag in ((1, '"v1"'), (1, '"v1"'), (2, '"v2"')):  # day 0, day 6, day 8
        feed = rss_feed("news", base, items[:listed])
        site.route("news", "/rss", Response(body=feed, content_type=RSS, etag=etag))
        runs.append(run_newsbeam(feeds, output, "--no-robots"))
        if len(runs) == 1:  # as the older newsbeam wrote them
            old_rows = [
                json.loads(line) for line in (state / "seen.jsonl").read_text().splitlines()
            ]
            (state / "seen.jsonl").write_text(
                "".join(
                    json.dumps({"key": r["key"], "seen_at": r["seen_at"]}) + "\n" for r in old_rows
                )
            )
            old_feeds = json.loads((state / "feeds.json").read_text())
            digest = hashlib.sha256(broken).hexdigest()
            old_feeds.append(
                {
                    "feed_url": f"{base}/down",
                    "etag": None,
                    "last_modified": None,
                    "body_sha256": digest,
                }
            )
            (state / "feeds.json").write_text(json.dumps(old_feeds))
        age_state(state, (6 if len(runs) == 1 else 2) * 86400)

    for out in runs:
        assert_accounting(out)
    assert runs[1].summary["feeds"]["not_modified"] == 0
    assert [d["error_type"] for d in runs[1].dead_letters] == ["not_a_feed"]
    assert runs[1].summary["discarded"] == {"seen_in_earlier_run": 1}
    seen = [json.loads(line) for line in (state / "seen.jsonl").read_text().splitlines()]
    assert {r["feed_url"] for r in seen} == {f"{base}/rss"}
    assert runs[2].summary["feeds"]["not_modified"] == 0
    assert runs[2].summary["discarded"] == {"seen_in_earlier_run": 1, "not_relevant": 1}
    assert len(site.requests_for("news", "/seed")) == 1
