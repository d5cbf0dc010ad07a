"""A state directory over weeks of one-shot runs: feeds renamed, removed and added again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import rss_feed
from tests.conftest import RunOutput, add_pages, assert_accounting, run_newsbeam
from tests.test_pipeline_e2e import OFF_TOPIC, seed_story
from tests.test_state import pending
from tests.test_state_runs import RSS, age_state
from transforms.records import FeedEntry, FeedState
from transforms.state import PENDING_SEEN_AGAIN, commit_run_state, feed_state_line, seen_line
from transforms.state_files import load_feed_states, read_seen

DAY = 86400.0
TTL = 7 * DAY


def _commit(state: Path, day: float, listed: list[str], polled: list[FeedState]) -> set[str]:
    """One run's commit on ``day``: its feed list, the feeds it polled; the feeds kept."""
    pending(state, "feeds-0", [feed_state_line(feed) for feed in polled])
    commit_run_state(str(state), {}, set(), TTL, now=day * DAY, listed=listed)
    return set(load_feed_states(str(state)))


def test_a_feed_that_left_the_list_is_forgotten_a_ttl_after_the_last_run_that_listed_it(
    tmp_path: Path,
) -> None:
    """feeds.json kept every feed ever listed. A feed the list no longer names is kept a TTL
    after the last run whose list named it (added again by then, it resumes); one still
    named is kept however long its polls fail; a row from before the time was recorded
    counts from the first run that reads it."""
    state = tmp_path / "state"
    kept, dropped, readded, failing, older = (
        FeedState(f"http://{name}.example/rss", etag='"1"')
        for name in ("kept", "dropped", "readded", "failing", "older")
    )
    state.mkdir()
    (state / "feeds.json").write_text(json.dumps([vars(older)]))
    every = [kept, dropped, readded, failing]
    urls = [feed.feed_url for feed in every]
    assert _commit(state, 0, urls, every) == set(urls) | {older.feed_url}
    # day 3: "dropped" and "readded" leave the list; "failing" is listed, but fails
    listed = [kept.feed_url, failing.feed_url]
    assert _commit(state, 3, listed, [kept]) == set(urls) | {older.feed_url}
    # day 6: "readded" is back
    assert _commit(state, 6, [*listed, readded.feed_url], [kept, readded]) == set(urls) | {
        older.feed_url
    }
    # day 7.5: a TTL has passed since "dropped" and "older" were last listed
    after = {kept.feed_url, readded.feed_url, failing.feed_url}
    assert _commit(state, 7.5, listed, [kept]) == after
    # day 13.5: and since "readded" was
    assert _commit(state, 13.5, listed, [kept]) == {kept.feed_url, failing.feed_url}


def test_a_feed_listed_exactly_a_ttl_ago_is_still_kept(tmp_path: Path) -> None:
    """The TTL counts as for entries seen (kept while seen at or after now - TTL): a feed last
    listed on day 1 (its poll failed: listed, not polled) is kept by the commit of day 8,
    gone by the next."""
    state = tmp_path / "state"
    feed = FeedState("http://a.example/rss", etag='"1"')
    assert _commit(state, 0, [feed.feed_url], [feed]) == {feed.feed_url}
    assert _commit(state, 1, [feed.feed_url], []) == {feed.feed_url}
    assert _commit(state, 8, [], []) == {feed.feed_url}
    assert _commit(state, 8.01, [], []) == set()


def test_a_listing_time_ahead_of_the_clock_is_read_as_the_clocks(tmp_path: Path) -> None:
    """A feeds.json written under a clock set years ahead: the feed is forgotten a TTL after
    the run that read it, not a TTL after that date."""
    state = tmp_path / "state"
    state.mkdir()
    row = {**vars(FeedState("http://a.example/rss")), "listed_at": 1000 * DAY}
    (state / "feeds.json").write_text(json.dumps([row]))
    assert _commit(state, 10, [], []) == {row["feed_url"]}
    assert _commit(state, 17.5, [], []) == set()


def test_an_entry_is_remembered_with_the_feed_that_listed_it_last(tmp_path: Path) -> None:
    """An entry skipped as seen in another feed than the one recorded (the feed renamed in the
    list), and one the recorded feed listed, forgotten since, that another feed lists as new:
    both are recorded with the feed that listed them now (the first feed was kept)."""
    state = tmp_path / "state"
    state.mkdir()
    old, new = "http://a.example/rss", "http://a.example/feed"
    rows = [{"key": "moved", "seen_at": 1 * DAY}, {"key": "back", "seen_at": 0.5 * DAY}]
    lines = [json.dumps({**row, "feed_url": old}) + "\n" for row in rows]
    (state / "seen.jsonl").write_text("".join(lines))
    pending(state, f"{PENDING_SEEN_AGAIN}-0", [seen_line(FeedEntry(new, "http://a/1", "moved"))])
    pending(state, "seen-0", [seen_line(FeedEntry(new, "http://a/2", "back"))])

    before = read_seen(str(state), TTL, now=7.6 * DAY).seen
    assert before == {"moved": 1 * DAY}
    commit_run_state(str(state), before, set(), TTL, now=7.6 * DAY, listed=[new])

    lines = (state / "seen.jsonl").read_text().splitlines()
    assert {row["key"]: row["feed_url"] for row in map(json.loads, lines)} == {
        "moved": new,
        "back": new,
    }


@pytest.mark.pipeline
def test_a_removed_feed_resumes_within_the_ttl_and_is_forgotten_after_it(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """The run passes its feed list to the commit: a feed removed on day 5 and added again on
    day 6 is asked with its ETag ("not modified"); removed again, it is gone from feeds.json
    on day 14, while a listed feed that fails (404) on day 14 keeps its row."""
    a, b = site.add_host("a"), site.add_host("b")
    for host, base in (("a", a), ("b", b)):
        feed = rss_feed(host, base, add_pages(site, host, [("/cup", "Cup win", OFF_TOPIC)]))
        site.route(host, "/rss", Response(body=feed, content_type=RSS, etag='"v1"'))
    feeds = tmp_path / "feeds.txt"
    output = tmp_path / "out"
    state = output / "state"
    runs: list[RunOutput] = []
    for listed, days_to_next in (((a, b), 5), ((a,), 1), ((a, b), 8), ((a,), 0)):
        if len(runs) == 3:
            site.route("a", "/rss", Response(status=404, body=b"gone"))
        feeds.write_text("".join(f"{base}/rss\n" for base in listed))
        runs.append(run_newsbeam(feeds, output, "--no-robots"))
        age_state(state, days_to_next * DAY)

    for out in runs:
        assert_accounting(out)
    assert runs[2].summary["feeds"]["not_modified"] == 2
    assert [r.status for r in site.requests_for("b", "/rss")] == [200, 304]
    assert runs[3].summary["feeds"]["not_modified"] == 0
    assert set(load_feed_states(str(state))) == {f"{a}/rss"}


@pytest.mark.pipeline
def test_a_renamed_feed_keeps_its_entries_remembered_while_unchanged(
    site: LoopbackSite, tmp_path: Path
) -> None:
    """The feed list names a feed by a new URL (the site moved it): the first run under the
    new URL skips its entries as seen, and from then on they are the new URL's, so that its
    "not modified" answers keep them remembered past the TTL, as the old URL's did. (They
    stayed the old URL's: on day 14 the story, last seen on day 6, was fetched again.)"""
    base = site.add_host("news")
    title, text = seed_story()
    rows = [("/seed", title, text), ("/cup", "Late goal seals cup win", OFF_TOPIC)]
    items = add_pages(site, "news", rows)
    feeds = tmp_path / "feeds.txt"
    output = tmp_path / "out"
    runs = []
    # day 0 under /rss; day 6 renamed /feed; day 8 not modified; day 14 a new entry
    for path, listed, etag, days_to_next in (
        ("/rss", 1, '"v1"', 6),
        ("/feed", 1, '"v1"', 2),
        ("/feed", 1, '"v1"', 6),
        ("/feed", 2, '"v2"', 0),
    ):
        feed = rss_feed("news", base, items[:listed])
        site.route("news", path, Response(body=feed, content_type=RSS, etag=etag))
        feeds.write_text(f"{base}{path}\n")
        runs.append(run_newsbeam(feeds, output, "--no-robots"))
        age_state(output / "state", days_to_next * DAY)

    for out in runs:
        assert_accounting(out)
    assert runs[1].summary["discarded"] == {"seen_in_earlier_run": 1}
    assert runs[2].summary["feeds"]["not_modified"] == 1
    assert runs[3].summary["discarded"] == {"seen_in_earlier_run": 1, "not_relevant": 1}
    assert len(site.requests_for("news", "/seed")) == 1
