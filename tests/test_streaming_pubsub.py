"""End to end with the real Pub/Sub emulator.

Always-on: between polls the loopback site adds stories to one feed and leaves another
unchanged. A subscription filtered on TikTok + China must receive exactly the matching
relevant stories, each once, with their attributes; the dead-letter topic receives the
broken item. One-shot: stories whose publishing failed are published by the next run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import rss_feed
from tests.conftest import add_pages, assert_accounting, run_newsbeam
from tests.emulator import (
    PROJECT,
    emulator_applies_filters,
    matches_existence_filter,
    pull_all,
    unique,
)
from tests.test_pipeline_e2e import OFF_TOPIC, WIRE_STORY, seed_story
from tests.test_streaming import RSS, changing_feed, run_polling

pytestmark = [pytest.mark.pipeline, pytest.mark.emulator]

TIKTOK_CHINA = "attributes:platform_tiktok AND attributes:state_china"
META_RUSSIA = "\n".join(
    [
        "Meta said on Thursday it had removed a network of more than 400 Facebook and "
        "Instagram accounts run from Russia that posed as independent news pages in Germany "
        "and France, in what the company called coordinated inauthentic behavior.",
        "The accounts pushed articles from Kremlin-backed outlets and spent about 90,000 "
        "dollars on advertising, Meta's security team said in its quarterly threat report. "
        "Investigators linked the operation to people associated with the Internet Research "
        "Agency.",
        "The network targeted voters ahead of regional elections and shared fabricated quotes "
        "attributed to government ministers, the report said. Meta said it had shared its "
        "findings with researchers and with authorities in both countries.",
        "The Russian embassy in Berlin did not respond to a request for comment. Moscow has "
        "denied running influence operations on foreign social media platforms in the past.",
    ]
)


def test_streaming_run_delivers_each_story_once_to_a_filtered_subscription(
    site: LoopbackSite, tmp_path: Path, pubsub_emulator: str
) -> None:
    topic, dead_topic = unique("stories"), unique("dead")
    filtered, everything, dead = unique("tiktok-china"), unique("all"), unique("dead-sub")
    setup = ["topics", "setup", "--project", PROJECT, "--topic", topic]
    setup += ["--dead-letter-topic", dead_topic, "--dead-letter-subscription", dead]
    setup += ["--subscription", filtered, "--filter", TIKTOK_CHINA, "--subscription", everything]
    assert main(setup) == 0

    growing, steady = site.add_host("growing"), site.add_host("steady")
    title, text = seed_story()
    rows: dict[str, list[tuple[str, str, str | None]]] = {
        "growing": [
            ("/seed", title, text),
            ("/sale", "TikTok ordered to find a buyer within 120 days", WIRE_STORY),
            ("/cup", "Late goal seals cup win", OFF_TOPIC),
            ("/gone", "A story that was taken down", None),
        ],
        "steady": [("/meta", "Meta takes down Russian network posing as news pages", META_RUSSIA)],
    }
    items = {host: add_pages(site, host, pages) for host, pages in rows.items()}  # /gone: 404
    changing_feed(site, "growing", [items["growing"][:1], items["growing"]])
    site.route(
        "steady",
        "/rss",
        Response(body=rss_feed("steady", steady, items["steady"]), content_type=RSS, etag='"same"'),
    )
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{growing}/rss\n{steady}/rss\n")
    project_path = f"projects/{PROJECT}"

    out = run_polling(
        feeds,
        tmp_path / "out",
        "2.5s",
        "--topic",
        f"{project_path}/topics/{topic}",
        "--dead-letter-topic",
        f"{project_path}/topics/{dead_topic}",
    )

    assert_accounting(out)
    assert out.summary["published"] == 3
    assert out.summary["failed"] == {"fetch/http_404": 1}
    by_url = {s["fetched_url"]: s["story_id"] for s in out.stories}
    tiktok_china = {by_url[f"{growing}/seed"], by_url[f"{growing}/sale"]}

    received = pull_all(f"{project_path}/subscriptions/{filtered}", expected=2)
    if not emulator_applies_filters(PROJECT):  # Google's emulator before SDK 555
        received = [m for m in received if matches_existence_filter(TIKTOK_CHINA, m.attributes)]
    assert sorted(m.attributes["story_id"] for m in received) == sorted(tiktok_china)
    for message in received:
        story = json.loads(message.data)
        assert story["story_id"] == message.attributes["story_id"]
        assert message.attributes["relevant"] == "true"
        assert message.attributes["platform_tiktok"] == message.attributes["state_china"] == "1"
        assert message.attributes["schema_version"] == str(story["schema_version"])
        assert "tiktok" in story["platforms"] and "china" in story["state_actors"]

    everything_got = pull_all(f"{project_path}/subscriptions/{everything}", expected=3)
    assert sorted(m.attributes["story_id"] for m in everything_got) == sorted(by_url.values())

    (dead_letter,) = pull_all(f"{project_path}/subscriptions/{dead}", expected=1)
    assert dead_letter.attributes["stage"] == "fetch"
    assert dead_letter.attributes["error_type"] == "http_404"
    assert json.loads(dead_letter.data)["url"] == f"{growing}/gone"
    assert [r.status for r in site.requests_for("steady", "/rss")] == [200, 304, 304]


def test_stories_a_one_shot_run_could_not_publish_are_published_by_the_next(
    site: LoopbackSite, tmp_path: Path, pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The topic is missing in the first run (every story a retryable publish failure) and
    exists in the second. The second run fetched the story again but used to drop it as a
    duplicate of itself: the first run had remembered its signature as if published."""
    topic, everything = unique("later"), unique("later-all")
    base = site.add_host("news")
    title, text = seed_story()
    (item,) = add_pages(site, "news", [("/seed", title, text)])
    site.route("news", "/rss", Response(body=rss_feed("news", base, [item]), content_type=RSS))
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(f"{base}/rss\n")
    flags = ("--no-robots", "--topic", f"projects/{PROJECT}/topics/{topic}")

    state = ("--state-dir", str(tmp_path / "st"))
    argv = ["run", "--feeds", str(feeds), "--output", str(tmp_path / "first"), "--allow-loopback"]
    code = main([*argv, *flags, *state])  # the newsbeam command, for its exit code
    err = capsys.readouterr().err
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert (
        main(
            ["topics", "setup", "--project", PROJECT, "--topic", topic]
            + ["--subscription", everything]
        )
        == 0
    )
    second = run_newsbeam(feeds, tmp_path / "second", *flags, *state)

    assert code == 4  # nothing could be published: not the success a quiet run is
    # the error names the topic, the reason and the state directory that retries them
    assert (
        f"no story could be published to projects/{PROJECT}/topics/{topic} "
        "(publish/topic_not_found 1: " in err
    )
    assert f"the next run with the state directory {tmp_path / 'st'} tries" in err
    assert summary["failed"] == {"publish/topic_not_found": 1} and summary["balanced"]
    assert_accounting(second)
    assert second.summary["published"] == 1 and second.summary["discarded"] == {}
    (message,) = pull_all(f"projects/{PROJECT}/subscriptions/{everything}", expected=1)
    assert json.loads(message.data)["url"] == second.stories[0]["url"]
