"""Pub/Sub messages (plain unit tests) and publishing against the real emulator.

The emulator tests use the ``pubsub_emulator`` and ``private_pubsub_emulator`` fixtures of
``tests/emulator.py``; pipelines run on the runners the DirectRunner would fall back to,
named (offline: see ``tests/conftest.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from pipelines.topics_command import SubscriptionSpec, setup_pubsub
from tests.conftest import RUNNER_ARGS, STREAMING_RUNNER_ARGS
from tests.emulator import (
    PROJECT,
    PubSubEmulator,
    emulator_applies_filters,
    matches_existence_filter,
    pull_all,
    unique,
)
from transforms.common import FAILURES, OK
from transforms.pubsub import (
    PublishDeadLetters,
    PublishStories,
    TopicPublisher,
    classify_publish_error,
)
from transforms.pubsub_messages import (
    DEFAULT_MAX_BYTES,
    MAX_ATTRIBUTES,
    MAX_MAX_BYTES,
    MAX_TAG_ATTRIBUTES,
    MIN_MAX_BYTES,
    PubSubError,
    failure_message,
    link_message,
    published_message,
    story_message,
)
from transforms.pubsub_names import check_topic
from transforms.records import (
    SCHEMA_VERSION,
    Article,
    DuplicateLink,
    Failure,
    FeedEntry,
    Outlet,
    Story,
    SyndicationUpdate,
    TaggedStory,
    TagResult,
    story_id_for,
)

TIKTOK_CHINA = "attributes:platform_tiktok AND attributes:state_china"


def make_story(
    url: str,
    title: str = "A platform and a state",
    text: str = "Body text.",
    *,
    platforms: tuple[str, ...] = (),
    states: tuple[str, ...] = (),
    controversies: tuple[str, ...] = (),
    outlet: Outlet | None = None,
    language: str | None = "en",
    authors: tuple[str, ...] = (),
) -> TaggedStory:
    """A tagged story as the tagger would emit it."""
    domain = url.split("/")[2]
    entry = FeedEntry(feed_url=f"https://{domain}/feed.xml", link=url, key=url)
    article = Article(entry, url, url, url, title, text, authors=authors)
    story = Story(story_id_for(url), article, outlet or Outlet(domain), language, None)
    tagging = TagResult(
        relevant=bool(platforms and states),
        score=0.8 if platforms and states else 0.1,
        platforms=platforms,
        state_actors=states,
        controversies=controversies,
    )
    return TaggedStory(story, tagging)


GLOBAL_TIMES = Outlet("globaltimes.cn", "Global Times", "CN", "zh", "SC")
TIKTOK_CN = make_story(
    "https://www.globaltimes.cn/page/1.shtml",
    "TikTok ban debate",
    platforms=("tiktok",),
    states=("china", "united_states"),
    controversies=("ban_or_restriction",),
    outlet=GLOBAL_TIMES,
)
TIKTOK_US = make_story(
    "https://news.example/tiktok-us", platforms=("tiktok",), states=("united_states",)
)
META_CN = make_story("https://news.example/meta-cn", platforms=("meta",), states=("china",))
PLAIN = make_story("https://news.example/weather", "Weather", language=None)
STORIES = [TIKTOK_CN, TIKTOK_US, META_CN, PLAIN]
# --duplicates link: a state-media outlet's reprint of TIKTOK_US, and an unknown outlet's.
STATE_MEDIA_COPY = DuplicateLink(
    story_id_for("https://www.globaltimes.cn/page/2.shtml"),
    TIKTOK_US.story_id,
    TIKTOK_US.story_id,
    "https://www.globaltimes.cn/page/2.shtml",
    GLOBAL_TIMES.domain,
    GLOBAL_TIMES,
)
UNKNOWN_COPY = DuplicateLink(
    story_id_for("https://blog.example/copy"),
    TIKTOK_US.story_id,
    TIKTOK_US.story_id,
    "https://blog.example/copy",
    "blog.example",
    Outlet("blog.example"),
)
STATE_MEDIA = "attributes:outlet_state_affiliation AND attributes:outlet_country"


def message_size(data: bytes, attrs: dict[str, str]) -> int:
    return len(data) + sum(len(k.encode()) + len(v.encode()) for k, v in attrs.items())


def pipeline_options() -> PipelineOptions:
    return PipelineOptions(RUNNER_ARGS)


# --- messages ------------------------------------------------------------------------


def test_story_message_data_is_the_story_json_with_a_truncation_flag() -> None:
    data, _ = story_message(TIKTOK_CN)
    assert json.loads(data) == {**TIKTOK_CN.to_json(), "text_truncated": False}


def test_story_attributes_name_the_story_outlet_and_each_tag_value() -> None:
    _, attrs = story_message(TIKTOK_CN)
    assert attrs == {
        "story_id": TIKTOK_CN.story_id,
        "schema_version": str(SCHEMA_VERSION),
        "relevant": "true",
        "language": "en",
        "outlet_domain": "globaltimes.cn",
        "outlet_country": "CN",
        "outlet_state_affiliation": "SC",
        "platform_tiktok": "1",
        "state_china": "1",
        "state_united_states": "1",
        "controversy_ban_or_restriction": "1",
    }


def test_a_duplicate_links_message_carries_its_outlet_as_a_story_does() -> None:
    data, attrs = link_message(STATE_MEDIA_COPY)
    record = json.loads(data)
    assert record == STATE_MEDIA_COPY.to_json()  # exactly its line in stories*.jsonl
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["outlet"] == TIKTOK_CN.to_json()["outlet"]  # the same outlet object
    assert attrs == {
        "record_type": "duplicate_link",
        "story_id": STATE_MEDIA_COPY.story_id,
        "duplicate_of": TIKTOK_US.story_id,
        "schema_version": str(SCHEMA_VERSION),
        "outlet_domain": "globaltimes.cn",
        "outlet_country": "CN",
        "outlet_state_affiliation": "SC",
    }
    _, unknown = link_message(UNKNOWN_COPY)
    assert "outlet_country" not in unknown and unknown["outlet_domain"] == "blog.example"


def test_unknown_outlet_and_language_leave_their_attributes_out() -> None:
    _, attrs = story_message(PLAIN)
    assert attrs == {
        "story_id": PLAIN.story_id,
        "schema_version": str(SCHEMA_VERSION),
        "relevant": "false",
        "outlet_domain": "news.example",
    }


@pytest.mark.parametrize("max_bytes", [MIN_MAX_BYTES, 100_000, DEFAULT_MAX_BYTES])
@pytest.mark.parametrize("unit", ["word ", 'é"\n\\ ', "\u6f22\u5b57\U0001f600\x01"])
def test_long_text_is_cut_to_fit_and_flagged(max_bytes: int, unit: str) -> None:
    text = unit * (2 * max_bytes // len(unit.encode()))
    story = make_story("https://news.example/long", text=text, platforms=("x",), states=("iran",))
    data, attrs = story_message(story, max_bytes)
    record = json.loads(data.decode("utf-8"))
    assert message_size(data, attrs) <= max_bytes
    assert message_size(data, attrs) > max_bytes - 16  # cut no more than needed
    assert record["text_truncated"] is True and attrs["text_truncated"] == "true"
    assert text.startswith(record["text"]) and len(record["text"]) < len(text)
    if unit == "word ":  # no escapes, one byte a character: the cut is exact
        assert message_size(data, attrs) == max_bytes
    assert {k: v for k, v in record.items() if k not in ("text", "text_truncated")} == {
        k: v for k, v in story.to_json().items() if k != "text"
    }


def test_text_that_fits_is_kept_whole() -> None:
    story = make_story("https://news.example/fits", text="x" * (MIN_MAX_BYTES // 2))
    data, attrs = story_message(story, MIN_MAX_BYTES)
    assert json.loads(data)["text"] == story.story.article.text
    assert "text_truncated" not in attrs


def test_text_filling_the_budget_exactly_is_kept_whole() -> None:
    """The budget is max_bytes less the attributes, text_truncated included (in case)."""
    url = "https://news.example/exact"
    data, attrs = story_message(make_story(url, text=""), MIN_MAX_BYTES)
    room = MIN_MAX_BYTES - message_size(data, attrs) - len("text_truncatedtrue")
    whole = story_message(make_story(url, text="x" * room), MIN_MAX_BYTES)
    assert json.loads(whole[0])["text_truncated"] is False and "text_truncated" not in whole[1]
    cut = story_message(make_story(url, text="x" * (room + 10)), MIN_MAX_BYTES)
    # cut to fit, exactly: "text_truncated":true is one byte shorter than false
    assert json.loads(cut[0])["text"] == "x" * (room + 1) and cut[1]["text_truncated"] == "true"
    # one byte over: the flag alone would make it fit, but a text flagged cut is cut
    over = story_message(make_story(url, text="x" * (room + 1)), MIN_MAX_BYTES)
    assert json.loads(over[0])["text"] == "x" * room and over[1]["text_truncated"] == "true"


def test_oversized_fields_besides_the_text_are_shrunk_keeping_the_id() -> None:
    story = make_story("https://news.example/authors", authors=("A" * 200,) * 2000)
    data, attrs = story_message(story, MIN_MAX_BYTES)
    record = json.loads(data)
    assert message_size(data, attrs) <= MIN_MAX_BYTES
    assert record["truncated"] is True and record["story_id"] == story.story_id
    assert attrs["story_id"] == story.story_id
    # the list loses items before its strings lose characters: whole names, fewer of them
    assert 0 < len(record["authors"]) < 2000
    assert set(record["authors"]) == {"A" * 200}


@pytest.mark.parametrize(
    ("platforms", "kept", "flagged"),
    [
        # exactly MAX_TAG_ATTRIBUTES tag values: all kept, nothing flagged
        (tuple(f"p{i}" for i in range(MAX_TAG_ATTRIBUTES - 1)), MAX_TAG_ATTRIBUTES, False),
        # a key of exactly 256 bytes is allowed; a longer one is left out and flagged
        (("p" * 247,), 2, False),
        (("p" * 248, "tiktok"), 2, True),
    ],
)
def test_tag_attributes_within_the_key_and_count_limits(
    platforms: tuple[str, ...], kept: int, flagged: bool
) -> None:
    story = make_story("https://news.example/tags", platforms=platforms, states=("china",))
    _, attrs = story_message(story)
    tag_keys = [k for k in attrs if k.startswith(("platform_", "state_", "controversy_"))]
    assert len(tag_keys) == kept and all(len(k.encode()) <= 256 for k in tag_keys)
    assert ("tags_truncated" in attrs) is flagged


def test_too_many_tag_values_are_capped_within_the_attribute_limit_each_facet_keeping_some() -> (
    None
):
    # The 64 were the first platforms, then state actors, then controversies: a story naming
    # 80 platforms lost state_china and controversy_ban_or_restriction, and escaped the
    # README's "TikTok and China" and "any ban" filters.
    platforms = tuple(f"p{i}" for i in range(80))
    states = tuple(f"s{i}" for i in range(40))
    story = make_story(
        "https://news.example/many",
        platforms=platforms,
        states=states,
        controversies=("ban_or_restriction",),
    )
    _, attrs = story_message(story)
    tag_keys = [k for k in attrs if k.startswith(("platform_", "state_", "controversy_"))]
    assert len(tag_keys) == MAX_TAG_ATTRIBUTES and len(attrs) <= MAX_ATTRIBUTES
    assert attrs["tags_truncated"] == "true"
    assert "controversy_ban_or_restriction" in attrs
    assert sum(k.startswith("state_") for k in tag_keys) == 32  # in turn: s0, p0, s1, p1, ...
    assert sum(k.startswith("platform_") for k in tag_keys) == 31
    assert "state_s0" in attrs and "platform_p0" in attrs and "platform_p31" not in attrs


def test_failure_message_is_the_dead_letter_record_with_stage_and_error_attributes() -> None:
    failure = Failure("fetch", "https://x.example/a", "http_503", "Service down", retryable=True)
    data, attrs = failure_message(failure)
    assert json.loads(data) == failure.to_json()
    assert attrs == {"stage": "fetch", "error_type": "http_503", "retryable": "true"}


def test_failure_message_cuts_a_huge_error_message() -> None:
    failure = Failure("extract", "https://x.example/b", "parse_error", "e" * 500_000)
    data, attrs = failure_message(failure, MIN_MAX_BYTES)
    record = json.loads(data)
    assert message_size(data, attrs) <= MIN_MAX_BYTES
    assert record["message_truncated"] is True and record["url"] == "https://x.example/b"


def test_attribute_values_are_cut_to_1024_bytes_and_counted_in_bytes() -> None:
    failure = Failure("é" * 2000, "https://x.example/c", "ü" * 2000, "m" * 500_000)
    data, attrs = failure_message(failure, MIN_MAX_BYTES)
    assert message_size(data, attrs) <= MIN_MAX_BYTES
    assert attrs["stage"] == "é" * 512 and attrs["error_type"] == "ü" * 512


@pytest.mark.parametrize("max_bytes", [MIN_MAX_BYTES, DEFAULT_MAX_BYTES])
def test_a_links_overlong_url_is_cut_to_fit_and_flagged(max_bytes: int) -> None:
    # A feed's link is as long as its feed (10 MB) allows, and an entry whose text the feed
    # carries is never fetched: a duplicate_link message of 4.5 MB went out, which a
    # subscriber reading 4 MiB at most could not read (its stories are cut to fit).
    link = dataclasses.replace(STATE_MEDIA_COPY, url="https://x.example/?q=" + "y" * 3 * max_bytes)
    data, attrs = link_message(link, max_bytes)
    assert message_size(data, attrs) <= max_bytes
    record = json.loads(data)
    assert record["url_truncated"] is True and link.url.startswith(record["url"])
    assert {k: record[k] for k in ("story_id", "duplicate_of")} == {
        "story_id": link.story_id,
        "duplicate_of": link.duplicate_of,
    }
    assert json.loads(link_message(STATE_MEDIA_COPY, max_bytes)[0]) == STATE_MEDIA_COPY.to_json()


def test_a_syndication_update_of_many_outlets_fits_too() -> None:
    update = SyndicationUpdate("s", tuple(f"outlet{i}.example" for i in range(20_000)))
    data, attrs = published_message(update, MIN_MAX_BYTES)
    assert message_size(data, attrs) <= MIN_MAX_BYTES
    assert json.loads(data)["story_id"] == "s"


def test_a_links_message_points_at_the_story_it_duplicates_not_the_cluster() -> None:
    link = dataclasses.replace(STATE_MEDIA_COPY, cluster_id=TIKTOK_CN.story_id)
    _, attrs = link_message(link)
    assert attrs["duplicate_of"] == TIKTOK_US.story_id


def test_published_message_gives_each_record_kind_its_own_message() -> None:
    update = SyndicationUpdate(TIKTOK_US.story_id, ("a.example", "b.example", "globaltimes.cn"))
    data, attrs = published_message(update)
    assert json.loads(data) == {
        "schema_version": SCHEMA_VERSION,
        "record_type": "syndication_update",
        "story_id": TIKTOK_US.story_id,
        "syndication": ["a.example", "b.example", "globaltimes.cn"],
    }
    assert attrs == {
        "record_type": "syndication_update",
        "story_id": TIKTOK_US.story_id,
        "schema_version": str(SCHEMA_VERSION),
    }
    assert published_message(STATE_MEDIA_COPY) == link_message(STATE_MEDIA_COPY)
    assert published_message(TIKTOK_CN) == story_message(TIKTOK_CN)


@pytest.mark.parametrize("max_bytes", [MIN_MAX_BYTES - 1, MAX_MAX_BYTES + 1, 10_000_000])
@pytest.mark.parametrize(
    "record", [TIKTOK_CN, STATE_MEDIA_COPY, SyndicationUpdate("s", ())], ids=type
)
def test_impossible_size_bounds_are_refused(record: object, max_bytes: int) -> None:
    with pytest.raises(PubSubError, match="max_bytes"):
        published_message(record, max_bytes)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_bytes", [MIN_MAX_BYTES, MAX_MAX_BYTES])
def test_the_extreme_size_bounds_are_allowed(max_bytes: int) -> None:
    data, _ = story_message(TIKTOK_CN, max_bytes)
    assert json.loads(data)["text_truncated"] is False


@pytest.mark.parametrize(
    "topic", ["tagged-stories", "projects/p/topics/ab", "projects/p/topics/goog-x", "projects//t"]
)
def test_malformed_topic_paths_are_refused_before_any_run(topic: str) -> None:
    with pytest.raises(PubSubError, match="projects/PROJECT/topics/NAME"):
        check_topic(topic)
    with pytest.raises(PubSubError):
        PublishStories(topic)


def test_publish_errors_are_named_and_only_malformed_messages_are_final() -> None:
    from google.api_core import exceptions as api
    from google.cloud.pubsub_v1.publisher.exceptions import MessageTooLargeError

    cases = {
        None: ("publish_timeout", True),
        api.ServiceUnavailable("down"): ("unavailable", True),
        api.RetryError("gave up", api.ServiceUnavailable("down")): ("unavailable", True),
        api.NotFound("no topic"): ("topic_not_found", True),
        api.PermissionDenied("no"): ("permission_denied", True),
        api.InvalidArgument("bad"): ("invalid_argument", False),
        MessageTooLargeError("big"): ("message_too_large", False),
        api.InternalServerError("oops"): ("internal_server_error", True),
        OSError("socket"): ("publish_error", True),
    }
    for exc, expected in cases.items():
        error = classify_publish_error(exc)
        assert (error.error_type, error.retryable) == expected, exc


# --- publishing to the emulator ------------------------------------------------------


def topic_with_subscriptions(*specs: SubscriptionSpec) -> tuple[str, list[str]]:
    topic = unique("stories")
    setup_pubsub(PROJECT, topic, None, list(specs), timeout=20)
    subs = [f"projects/{PROJECT}/subscriptions/{s.name}" for s in specs]
    return f"projects/{PROJECT}/topics/{topic}", subs


def _by_story_id(messages: list) -> dict[str, tuple[dict, dict[str, str]]]:
    return {m.attributes["story_id"]: (json.loads(m.data), dict(m.attributes)) for m in messages}


@pytest.mark.emulator
@pytest.mark.pipeline
def test_published_stories_reach_a_filtered_subscription_with_their_attributes(
    pubsub_emulator: str,
) -> None:
    filtered = SubscriptionSpec(unique("tiktok-china"), TIKTOK_CHINA)
    everything = SubscriptionSpec(unique("all"))
    topic, (filtered_sub, all_sub) = topic_with_subscriptions(filtered, everything)
    with TestPipeline(options=pipeline_options()) as p:
        out = p | beam.Create(STORIES) | PublishStories(topic)
        assert_that(out[OK], equal_to(STORIES), label="AllPublished")
        assert_that(out[FAILURES], equal_to([]), label="NoFailures")

    expected = {s.story_id: story_message(s) for s in STORIES if _is_tiktok_china(s)}
    received = pull_all(filtered_sub, expected=len(expected))
    if not emulator_applies_filters(PROJECT):  # Google's emulator before SDK 555
        received = [m for m in received if matches_existence_filter(TIKTOK_CHINA, m.attributes)]
    got = _by_story_id(received)
    assert got == {k: (json.loads(data), attrs) for k, (data, attrs) in expected.items()}
    assert set(_by_story_id(pull_all(all_sub, expected=len(STORIES)))) == {
        s.story_id for s in STORIES
    }


@pytest.mark.emulator
@pytest.mark.pipeline
def test_a_state_media_outlets_duplicate_link_reaches_a_subscription_on_its_outlet(
    pubsub_emulator: str,
) -> None:
    topic, (sub,) = topic_with_subscriptions(SubscriptionSpec(unique("state"), STATE_MEDIA))
    links = [STATE_MEDIA_COPY, UNKNOWN_COPY]
    with TestPipeline(options=pipeline_options()) as p:
        out = p | beam.Create(links) | PublishStories(topic)
        assert_that(out[OK], equal_to(links), label="AllPublished")
        assert_that(out[FAILURES], equal_to([]), label="NoFailures")

    received = pull_all(sub, expected=1)
    if not emulator_applies_filters(PROJECT):  # Google's emulator before SDK 555
        received = [m for m in received if matches_existence_filter(STATE_MEDIA, m.attributes)]
    data, attrs = link_message(STATE_MEDIA_COPY)
    assert _by_story_id(received) == {STATE_MEDIA_COPY.story_id: (json.loads(data), attrs)}


def _is_tiktok_china(story: TaggedStory) -> bool:
    return "tiktok" in story.tagging.platforms and "china" in story.tagging.state_actors


@pytest.mark.emulator
@pytest.mark.pipeline
def test_dead_letters_reach_the_dead_letter_topic_with_stage_and_error_type(
    pubsub_emulator: str,
) -> None:
    topic, (sub,) = topic_with_subscriptions(SubscriptionSpec(unique("dead")))
    failures = [
        Failure("fetch", "https://x.example/1", "http_404", "Not Found"),
        Failure("extract", "https://x.example/2", "no_text", "empty body", input_excerpt="<p>"),
        Failure("poll", "https://x.example/feed", "not_a_feed", "HTML", counts_entry=False),
    ]
    with TestPipeline(options=pipeline_options()) as p:
        out = p | beam.Create(failures) | PublishDeadLetters(topic)
        assert_that(out[OK], equal_to(failures), label="AllPublished")
        assert_that(out[FAILURES], equal_to([]), label="NoFailures")

    got = [(json.loads(m.data), dict(m.attributes)) for m in pull_all(sub, len(failures))]
    expected = [(f.to_json(), failure_message(f)[1]) for f in failures]
    assert sorted(got, key=lambda g: g[0]["url"]) == sorted(expected, key=lambda g: g[0]["url"])


@pytest.mark.emulator
@pytest.mark.pipeline
def test_a_missing_topic_dead_letters_every_story_as_retryable(pubsub_emulator: str) -> None:
    topic = f"projects/{PROJECT}/topics/{unique('never-created')}"
    # A story whose feed link is not its canonical URL, and a duplicate link of it: their dead
    # letters name the feed's link, which is what the next one-shot run retries by.
    tracked = dataclasses.replace(
        STORIES[0],
        story=dataclasses.replace(
            STORIES[0].story,
            article=dataclasses.replace(
                STORIES[0].story.article,
                entry=FeedEntry("https://x.example/rss", "https://x.example/a?utm_source=rss", "k"),
            ),
        ),
    )
    link = DuplicateLink("c0ffee", "f00d", "f00d", "https://y.example/b", "y.example", None, "L")
    stories = [tracked, *STORIES[1:], link]
    with TestPipeline(options=pipeline_options()) as p:
        out = p | beam.Create(stories) | PublishStories(topic, timeout=10)
        assert_that(out[OK], equal_to([]), label="NonePublished")
        failed = out[FAILURES] | beam.Map(lambda f: (f.stage, f.key, f.error_type, f.retryable))
        links = ["https://x.example/a?utm_source=rss", *(s.to_json()["url"] for s in STORIES[1:])]
        expected = [("publish", url, "topic_not_found", True) for url in [*links, "L"]]
        assert_that(failed, equal_to(expected), label="AllDeadLettered")


def _pause_at(story: TaggedStory, pid: int, story_id: str) -> TaggedStory:
    if story.story_id == story_id:
        os.kill(pid, signal.SIGSTOP)
    return story


@pytest.mark.emulator
@pytest.mark.pipeline
def test_a_hung_emulator_mid_run_dead_letters_later_stories_and_the_run_ends(
    private_pubsub_emulator: PubSubEmulator,
) -> None:
    """Streaming: the first bundle is published, the emulator hangs during the second."""
    emulator = private_pubsub_emulator
    topic, (sub,) = topic_with_subscriptions(SubscriptionSpec(unique("all")))
    assert emulator.process is not None
    first, later = STORIES[:2], STORIES[2:]
    events = (
        TestStream()
        .add_elements([TimestampedValue(s, 10) for s in first])
        .advance_watermark_to(20)
        .add_elements([TimestampedValue(s, 30) for s in later])
        .advance_watermark_to_infinity()
    )
    options = PipelineOptions(STREAMING_RUNNER_ARGS)
    with TestPipeline(options=options) as p:
        stories = p | events | beam.Map(_pause_at, emulator.process.pid, later[0].story_id)
        out = stories | PublishStories(topic, timeout=3)
        assert_that(out[OK], equal_to(first), label="FirstBundlePublished")
        failed = out[FAILURES] | beam.Map(lambda f: (f.stage, f.key, f.error_type, f.retryable))
        expected = [("publish", s.to_json()["url"], "publish_timeout", True) for s in later]
        assert_that(failed, equal_to(expected), label="LaterStoriesRetryable")
    emulator.resume()
    received = {m.attributes["story_id"] for m in pull_all(sub, len(first))}
    # What the emulator got while frozen it may still deliver after it resumes.
    assert {s.story_id for s in first} <= received <= {s.story_id for s in STORIES}


@pytest.mark.emulator
def test_publisher_recovers_after_the_emulator_is_stopped_and_restarted(
    private_pubsub_emulator: PubSubEmulator,
) -> None:
    emulator = private_pubsub_emulator
    spec = SubscriptionSpec(unique("all"))
    name = unique("stories")
    topic = f"projects/{PROJECT}/topics/{name}"
    setup_pubsub(PROJECT, name, None, [spec], timeout=20)
    publisher = TopicPublisher(topic, timeout=4)
    try:
        rounds = []
        for action in (None, emulator.stop, emulator.start):
            if action is not None:
                action()
            if action == emulator.start:  # a restarted emulator has lost its topics
                setup_pubsub(PROJECT, name, None, [spec], timeout=20)
            for story in STORIES:
                publisher.submit(story.story_id, *story_message(story))
            rounds.append(publisher.drain())
    finally:
        publisher.close()
    before, during, after = rounds
    ids = [s.story_id for s in STORIES]
    assert [o.item for o in before] == ids and all(o.error is None for o in before)
    assert [o.item for o in during] == ids
    assert all(o.error and o.error.retryable for o in during)
    assert {o.error.error_type for o in during if o.error} <= {"unavailable", "publish_timeout"}
    assert [o.item for o in after] == ids and all(o.error is None for o in after)
    sub = f"projects/{PROJECT}/subscriptions/{spec.name}"
    assert sorted(m.attributes["story_id"] for m in pull_all(sub, len(ids))) == sorted(ids)
