"""Who published it, end to end: a state-media host and an independent one, told apart; the
feed list's name and country for a host the catalogue does not know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.loopback import LoopbackSite, Response
from pipelines.loopback_feeds import rss_feed
from tests.conftest import add_pages, assert_accounting, run_newsbeam
from tests.emulator import PROJECT, pull_all, unique
from tests.test_pipeline_e2e import WIRE_STORY, seed_story

pytestmark = [pytest.mark.pipeline]


@pytest.mark.emulator
def test_state_media_and_independent_outlets_are_told_apart(
    site: LoopbackSite, tmp_path: Path, pubsub_emulator: str
) -> None:
    state_tv, daily = site.add_host("state_tv"), site.add_host("daily")
    title, text = seed_story()
    stories = {
        "state_tv": ("/tiktok", title, text),
        "daily": ("/tiktok-sale", "TikTok ordered to find a buyer within 120 days", WIRE_STORY),
    }
    feeds = []
    for host, row in stories.items():
        base = site.base_url(host)
        items = add_pages(site, host, [row])
        feed = rss_feed(host, base, items)
        site.route(host, "/rss", Response(body=feed, content_type="application/rss+xml"))
        feeds.append(f"{base}/rss\n")
    feed_list = tmp_path / "feeds.txt"
    feed_list.write_text("".join(feeds))
    state_ip, daily_ip = (b.split("//")[1].split(":")[0] for b in (state_tv, daily))
    outlets = tmp_path / "outlets.csv"
    outlets.write_text(
        "domain,name,country,language,state_affiliation\n"
        f"{state_ip},Loopback State Television,CN,en,SC\n"
        f"{daily_ip},The Loopback Daily,GB,en,\n"
    )
    topic, everything = unique("stories"), unique("all")
    assert (
        main(
            [
                "topics",
                "setup",
                "--project",
                PROJECT,
                "--topic",
                topic,
                "--subscription",
                everything,
            ]
        )
        == 0
    )

    out = run_newsbeam(
        feed_list,
        tmp_path / "out",
        "--no-robots",
        "--outlets",
        str(outlets),
        "--topic",
        f"projects/{PROJECT}/topics/{topic}",
    )

    assert_accounting(out)
    by_host = {s["outlet"]["domain"]: s for s in out.stories}
    assert by_host[state_ip]["outlet"] == {
        "domain": state_ip,
        "name": "Loopback State Television",
        "country": "CN",
        "language": "en",
        "state_affiliation": "SC",
        "state_media": True,
    }
    assert by_host[daily_ip]["outlet"] == {
        "domain": daily_ip,
        "name": "The Loopback Daily",
        "country": "GB",
        "language": "en",
        "state_affiliation": None,
        "state_media": False,
    }
    assert all("tiktok" in s["platforms"] for s in out.stories)
    assert out.summary["outlets"]["state_affiliation"] == {"SC": 1, "none": 1}

    messages = pull_all(f"projects/{PROJECT}/subscriptions/{everything}", expected=2)
    attributes = {m.attributes["outlet_domain"]: dict(m.attributes) for m in messages}
    assert attributes[state_ip]["outlet_country"] == "CN"
    assert attributes[state_ip]["outlet_state_affiliation"] == "SC"
    assert attributes[daily_ip]["outlet_country"] == "GB"
    assert "outlet_state_affiliation" not in attributes[daily_ip]
    assert {json.loads(m.data)["outlet"]["domain"] for m in messages} == {state_ip, daily_ip}


def test_feed_list_names_outlets_the_catalogue_does_not_know(
    site: LoopbackSite, tmp_path: Path
) -> None:
    known, unknown = site.add_host("known"), site.add_host("unknown")
    title, text = seed_story()
    stories = {
        "known": ("/tiktok", title, text),
        "unknown": ("/tiktok-sale", "TikTok ordered to find a buyer within 120 days", WIRE_STORY),
    }
    feeds = []
    for host, row in stories.items():
        base = site.base_url(host)
        feed = rss_feed(host, base, add_pages(site, host, [row]))
        site.route(host, "/rss", Response(body=feed, content_type="application/rss+xml"))
        feeds.append(f"  - url: {base}/rss\n    name: Feed of {host}\n    country: ie\n")
    feed_list = tmp_path / "feeds.yaml"
    feed_list.write_text("feeds:\n" + "".join(feeds))
    known_ip, unknown_ip = (b.split("//")[1].split(":")[0] for b in (known, unknown))
    outlets = tmp_path / "outlets.csv"
    outlets.write_text(f"domain,name,country,language\n{known_ip},The Loopback Daily,GB,en\n")

    out = run_newsbeam(feed_list, tmp_path / "out", "--no-robots", "--outlets", str(outlets))

    assert_accounting(out)
    by_host = {s["outlet"]["domain"]: s["outlet"] for s in out.stories}
    assert by_host[known_ip]["name"] == "The Loopback Daily"  # the catalogue wins
    assert by_host[known_ip]["country"] == "GB"
    assert by_host[unknown_ip] == {
        "domain": unknown_ip,
        "name": "Feed of unknown",
        "country": "IE",
        "language": None,
        "state_affiliation": None,  # never from the feed list
        "state_media": None,  # unknown: no catalogue entry said either way
    }
    assert out.summary["outlets"]["country"] == {"GB": 1, "IE": 1}
