"""ClusterStories and DedupEntries on the DirectRunner: one alert per story, TTL expiry.

Beam 2.77's DirectRunner first tries Prism (which downloads a binary from GitHub); these tests
name the runners it would fall back to (``tests/conftest.py``: FnApiRunner in batch, the
BundleBasedDirectRunner streaming), which work offline.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from tests.conftest import RUNNER_ARGS, STREAMING_RUNNER_ARGS
from transforms.common import DISCARDED, OK
from transforms.dedup import ClusterStories
from transforms.dedup_entries import DedupEntries
from transforms.entry_keys import entry_keys
from transforms.minhash import DedupParams
from transforms.records import (
    Article,
    DuplicateLink,
    EntryResighted,
    FeedEntry,
    Outlet,
    Story,
    SyndicationUpdate,
    TaggedStory,
    TagResult,
    story_id_for,
)
from transforms.syndication import SyndicationUpdates
from transforms.urls import canonicalize_url

pytestmark = pytest.mark.pipeline

DAY = 86400.0


def _options(streaming: bool = False) -> PipelineOptions:
    return PipelineOptions(STREAMING_RUNNER_ARGS if streaming else RUNNER_ARGS)


def wire_text(seed: int, words: int = 320) -> str:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    sentences = [" ".join(rng.choice(vocab) for _ in range(16)) + "." for _ in range(words // 16)]
    return "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))


def tagged_story(url: str, title: str, text: str) -> TaggedStory:
    domain = url.split("/")[2]
    entry = FeedEntry(feed_url=f"https://{domain}/feed", link=url, key=url)
    article = Article(
        entry=entry, url=url, final_url=url, canonical_url=url, title=title, text=text
    )
    story = Story(story_id_for(url), article, Outlet(domain), "en", None)
    return TaggedStory(story=story, tagging=TagResult(relevant=True, score=1.0))


def with_article(story: TaggedStory, **changes: Any) -> TaggedStory:
    """``story`` with its article's fields ``changes`` replaced (story id and tags kept)."""
    article = dataclasses.replace(story.story.article, **changes)
    return dataclasses.replace(story, story=dataclasses.replace(story.story, article=article))


WIRE = wire_text(1)
OUTLETS = [
    tagged_story("https://a.example/wire-story", "Regulator fines platform over data", WIRE),
    tagged_story("https://b.example/news/1", "Regulator fines platform over data", WIRE + "\n\nAP"),
    tagged_story("https://c.example/x?id=9", "Platform hit with fine", "By staff.\n\n" + WIRE),
]
OTHER = tagged_story("https://a.example/other", "Unrelated story", wire_text(2))


def _ids(pcoll: beam.PCollection, label: str) -> beam.PCollection:
    return pcoll | label >> beam.Map(lambda s: s.story_id)


# Both shapes of ClusterStories: the stateful steps (streaming, Dataflow) and the grouped
# path of local one-shot runs; each test below must hold for both.
GROUPED = pytest.mark.parametrize("grouped", [False, True], ids=["stateful", "grouped"])


@GROUPED
def test_three_outlets_one_wire_story_give_one_alert(grouped: bool) -> None:
    with TestPipeline(options=_options()) as p:
        clusters = ClusterStories(DAY, mode="drop", grouped=grouped)
        out = p | beam.Create([*OUTLETS, OTHER]) | clusters
        assert_that(
            out[OK] | beam.Map(lambda s: (s.cluster_id == s.story_id, s.duplicate_of)),
            equal_to([(True, None), (True, None)]),
            label="two heads",
        )
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: (d.stage, d.reason)),
            equal_to([("dedup", "duplicate")] * 2),
            label="two duplicates dropped",
        )
        assert_that(
            out[OK] | beam.Filter(lambda r: isinstance(r, DuplicateLink)),
            equal_to([]),
            label="no links",
        )


@GROUPED
def test_publish_mode_sets_duplicate_of_on_later_copies(grouped: bool) -> None:
    with TestPipeline(options=_options()) as p:
        out = p | beam.Create(OUTLETS) | ClusterStories(DAY, mode="publish", grouped=grouped)
        assert_that(
            out[OK] | beam.combiners.ToList() | beam.Map(_cluster_shape),
            equal_to([(1, 2, 1)]),
        )


def _cluster_shape(stories: list[TaggedStory]) -> tuple[int, int, int]:
    heads = [s for s in stories if s.duplicate_of is None]
    copies = [s for s in stories if s.duplicate_of is not None]
    clusters = {s.cluster_id for s in stories}
    assert all(c.duplicate_of == heads[0].story_id for c in copies)
    return len(heads), len(copies), len(clusters)


def _catalogued(story: TaggedStory) -> TaggedStory:
    """The story with an outlet the catalogue knows (country, state affiliation)."""
    domain = story.story.outlet.domain
    outlet = Outlet(domain, domain.upper(), "CN", "en", "SC")
    return dataclasses.replace(story, story=dataclasses.replace(story.story, outlet=outlet))


@GROUPED
def test_link_mode_emits_small_link_records(grouped: bool) -> None:
    stories = [_catalogued(s) for s in OUTLETS]
    outlet_of = {s.story_id: s.story.outlet for s in stories}
    with TestPipeline(options=_options()) as p:
        out = p | beam.Create(stories) | ClusterStories(DAY, mode="link", grouped=grouped)
        heads = out[OK] | "Heads" >> beam.Filter(lambda r: isinstance(r, TaggedStory))
        links = out[OK] | "Links" >> beam.Filter(lambda r: isinstance(r, DuplicateLink))
        assert_that(heads | beam.combiners.Count.Globally(), equal_to([1]), label="one head")
        assert_that(
            links | beam.Map(lambda link: link.duplicate_of == link.cluster_id),
            equal_to([True, True]),
            label="two links to the head",
        )
        assert_that(
            links
            | beam.Map(lambda link: link.to_json()["outlet"] == outlet_of[link.story_id].to_json()),
            equal_to([True, True]),
            label="each link carries its copy's outlet",
        )


def test_a_duplicate_link_pickled_before_it_carried_its_outlet_still_loads() -> None:
    old = object.__new__(DuplicateLink)  # the fields of a link pickled by an earlier release
    old.__dict__.update(story_id="s", duplicate_of="h", cluster_id="h", url="u", outlet="x.example")
    link = pickle.loads(pickle.dumps(old))
    assert link.to_json()["outlet"] == Outlet("x.example").to_json()


def _timed(items: list[tuple[object, float]]) -> TestStream:
    stream = TestStream()
    for value, at in items:
        stream = stream.add_elements([TimestampedValue(value, at)]).advance_watermark_to(at + 1)
    return stream.advance_watermark_to_infinity()


def test_story_clusters_expire_after_the_ttl() -> None:
    t0 = 1_700_000_000.0
    stream = _timed([(OUTLETS[0], t0), (OUTLETS[1], t0 + 0.5 * DAY), (OUTLETS[2], t0 + 3 * DAY)])
    with TestPipeline(options=_options(streaming=True)) as p:
        out = p | stream | ClusterStories(DAY, mode="drop")
        assert_that(
            _ids(out[OK], "HeadIds"),
            equal_to([OUTLETS[0].story_id, OUTLETS[2].story_id]),
            label="the copy after the TTL is a new head",
        )
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: d.key),
            equal_to(["https://b.example/news/1"]),
            label="the copy within the TTL is dropped",
        )


def test_copies_racing_at_one_time_give_one_head_whichever_arrives_last() -> None:
    # Two copies with the same event time (two feeds of one poll): the one whose id orders
    # first is the head even when it arrives after the other's keys have answered, because
    # the verdict waits until the watermark has passed the story's time, not merely reached
    # it (at that point more stories of the same time may still come).
    first, second = sorted(OUTLETS[:2], key=lambda s: s.story_id)
    t0 = 1_700_000_000.0
    stream = (
        TestStream()
        .add_elements([TimestampedValue(second, t0)])
        .advance_watermark_to(t0)
        .add_elements([TimestampedValue(first, t0)])
        .advance_watermark_to(t0 + 1)  # the verdicts, before the end (as in _timed)
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=_options(streaming=True)) as p:
        out = p | stream | ClusterStories(DAY, mode="publish")
        assert_that(
            out[OK] | beam.Map(lambda s: (s.story_id, s.duplicate_of)),
            equal_to([(first.story_id, None), (second.story_id, first.story_id)]),
        )


def test_three_copies_at_one_time_all_name_the_first_whatever_their_order() -> None:
    # The second copy claims the keys, the third is told of it, then the first takes them:
    # the third must hear of the first too, or it names the second (a copy) as what it
    # duplicates and as its cluster, as the grouped path never does.
    first, second, third = sorted(OUTLETS, key=lambda s: s.story_id)
    t0 = 1_700_000_000.0
    stream = TestStream().advance_watermark_to(t0)
    for story in (second, third, first):
        stream = stream.add_elements([TimestampedValue(story, t0)])
    stream = stream.advance_watermark_to(t0 + 1).advance_watermark_to_infinity()
    with TestPipeline(options=_options(streaming=True)) as p:
        out = p | stream | ClusterStories(DAY, mode="publish")
        assert_that(
            out[OK] | beam.Map(lambda s: (s.story_id, s.duplicate_of, s.cluster_id)),
            equal_to(
                [
                    (first.story_id, None, first.story_id),
                    (second.story_id, first.story_id, first.story_id),
                    (third.story_id, first.story_id, first.story_id),
                ]
            ),
        )


def test_the_near_duplicate_settings_are_the_ones_given() -> None:
    # With a minimum length no story reaches, every story is looked up by its URL alone:
    # the three outlets' copies are three stories.
    params = DedupParams(min_words=100_000)
    with TestPipeline(options=_options()) as p:
        out = p | beam.Create(OUTLETS) | ClusterStories(DAY, params=params, grouped=True)
        assert_that(out[OK] | beam.Map(lambda s: s.duplicate_of), equal_to([None] * 3))


class _FixedClock:
    """An injected clock: every call returns the same time (a stand-in for a fake clock)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _entries() -> Iterator[FeedEntry]:
    for feed in ("https://a.example/feed", "https://b.example/feed"):
        yield FeedEntry(feed_url=feed, link="https://x.example/1", key="https://x.example/1")
    yield FeedEntry(feed_url="https://a.example/feed", link="https://x.example/2", key="k2")


def test_state_time_comes_from_the_clock_else_the_event_time() -> None:
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.timestamp import Duration, Timestamp

    from transforms.ttl import gc_time, now_from

    assert now_from(_FixedClock(5.0), Timestamp(100)) == 5.0
    assert now_from(None, Timestamp(100)) == 100.0
    assert gc_time(Timestamp(100), 50.0) == Timestamp(150)
    end = GlobalWindow().max_timestamp()  # a timer past the window's end would never fire
    assert gc_time(end - Duration(seconds=10), 3600.0) == end


def test_dedup_entries_passes_the_first_entry_per_key() -> None:
    # The entries' event times are three days apart, more than the TTL: the injected clock,
    # which says they came at once, is what decides.
    with TestPipeline(options=_options()) as p:
        entries = (
            p
            | beam.Create(list(enumerate(_entries())))
            | beam.MapTuple(lambda i, entry: TimestampedValue(entry, i * 3 * DAY))
        )
        out = entries | DedupEntries(DAY, clock=_FixedClock(5.0))
        assert_that(
            out[OK] | beam.Map(lambda e: e.key),
            equal_to(["https://x.example/1", "k2"]),
            label="firsts",
        )
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: (d.stage, d.key, d.reason)),
            equal_to([("dedup_entries", "https://x.example/1", "duplicate_url")]),
            label="repeat",
        )


# Two articles a site identifies by a value-less query (courlan drops such a query).
ARTICLE_PHP = ["https://site.example/article.php?12345", "https://site.example/article.php?67890"]


@GROUPED
def test_articles_told_apart_by_a_value_less_query_are_both_kept(grouped: bool) -> None:
    titles = ("Minister resigns", "Storm floods the harbour")
    entries = [  # as PollFeeds keys them, each link seen in its own fetch of a GUID-less feed
        FeedEntry("https://site.example/feed", link, key=entry_keys([(link, None, title)])[0])
        for link, title in zip(ARTICLE_PHP, titles, strict=True)
    ]
    # the story stage derives story_id from the canonical URL; the clustering's "same URL"
    # rule canonicalises the article's URL itself
    assert len({story_id_for(canonicalize_url(link)) for link in ARTICLE_PHP}) == 2
    stories = [
        tagged_story(link, title, wire_text(seed, words=400))
        for link, title, seed in zip(ARTICLE_PHP, titles, (3, 4), strict=True)
    ]
    with TestPipeline(options=_options()) as p:
        entries_out = (
            p | "Entries" >> beam.Create(entries) | DedupEntries(DAY, clock=_FixedClock(5.0))
        )
        assert_that(
            entries_out[OK] | beam.Map(lambda e: e.link), equal_to(ARTICLE_PHP), label="entries"
        )
        assert_that(entries_out[DISCARDED], equal_to([]), label="no entry dropped")
        clusters = ClusterStories(DAY, mode="publish", grouped=grouped)
        out = p | "Stories" >> beam.Create(stories) | clusters
        assert_that(
            out[OK] | beam.Map(lambda s: (s.story.article.url, s.duplicate_of)),
            equal_to([(link, None) for link in ARTICLE_PHP]),
            label="both published, neither a duplicate",
        )


def test_dedup_entries_forgets_a_key_after_the_ttl() -> None:
    first, again, _ = list(_entries())
    stream = _timed([(first, 1000.0), (again, 1000.0 + 2 * DAY), (again, 1000.0 + 2.5 * DAY)])
    with TestPipeline(options=_options(streaming=True)) as p:
        out = p | stream | DedupEntries(DAY)
        assert_that(
            out[OK] | beam.Map(lambda e: e.feed_url),
            equal_to(["https://a.example/feed", "https://b.example/feed"]),
            label="the first, then the repeat two days later",
        )
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: d.key),
            equal_to(["https://x.example/1"]),
            label="the repeat half a day after that",
        )


def test_a_resighting_keeps_an_entry_remembered_past_the_ttl_and_is_never_emitted() -> None:
    # An unchanged feed emits no entries, only EntryResighted for the keys it still lists:
    # without them the entry's key was forgotten a TTL after its first sighting, and the same
    # entry listed again when the feed next changed was fetched and published again.
    first, _, _ = list(_entries())
    resighted = EntryResighted(first.feed_url, first.key)
    at = [1000.0, 1000.0 + 0.6 * DAY, 1000.0 + 1.2 * DAY, 1000.0 + 1.5 * DAY]
    stream = _timed([(first, at[0]), (resighted, at[1]), (resighted, at[2]), (first, at[3])])
    with TestPipeline(options=_options(streaming=True)) as p:
        out = p | stream | DedupEntries(DAY)
        assert_that(
            out[OK] | beam.Map(lambda e: (type(e).__name__, e.key)),
            equal_to([("FeedEntry", first.key)]),
            label="the entry once, no resighting",
        )
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: (d.key, d.reason)),
            equal_to([(first.key, "duplicate_url")]),
            label="listed again 1.5 TTLs after its first sighting, 0.3 after its last",
        )


def test_verdict_inputs_from_before_batching_are_still_read() -> None:
    """A streaming job updated in place holds single messages in state and in flight."""
    from transforms.dedup_store import as_messages

    found, story = ("found", b"key", None), ("story", b"bytes", b"claim", 18)
    assert as_messages(found) == (found,)
    assert as_messages((story, found)) == (story, found)
    assert as_messages(()) == ()


def test_key_answers_follow_claim_order_not_arrival_order() -> None:
    from transforms.dedup_claims import Claim
    from transforms.dedup_verdicts import PRIOR_RUN, key_answers

    def claim(story: str, at: float) -> bytes:
        return Claim(story, story, at).encode()

    early, mid, late, stale = (
        claim("b" * 16, 10.0),
        claim("a" * 16, 20.0),
        claim("c" * 16, 30.0),
        claim("d" * 16, 0.0),
    )
    probes = [("late", late, None), ("mid", mid, (b"story", 3)), ("early", early, None)]
    got = list(key_answers(b"k", probes, ttl_seconds=100.0))
    assert ("mid", ("story", b"story", mid, 3)) in got
    found = {uid: held for uid, (kind, *rest) in got if kind == "found" for held in [rest[1]]}
    assert found == {"early": None, "mid": early, "late": early}  # the earliest, whoever came first
    # a claim remembered from an earlier run holds the key but is not answered
    prior = list(key_answers(b"k", [("mid", mid, None), (PRIOR_RUN, early, None)], 100.0))
    assert prior == [("mid", ("found", b"k", early))]
    # a claim older than the TTL (by the later story's time) no longer holds: the next one does
    aged = list(
        key_answers(b"k", [("late", late, None), ("x", stale, None), ("mid", mid, None)], 15.0)
    )
    assert aged == [
        ("x", ("found", b"k", None)),
        ("mid", ("found", b"k", None)),
        ("late", ("found", b"k", mid)),
    ]


def test_a_story_that_cannot_be_fingerprinted_becomes_a_dead_letter() -> None:
    from apache_beam.utils.timestamp import Timestamp

    from transforms.common import FAILURES
    from transforms.dedup import _ProbeFn
    from transforms.minhash import DedupParams

    good = tagged_story("https://a.example/odd", "Odd story", WIRE)
    odd = with_article(good, canonical_url="https://a.example/\ud800")
    out = list(_ProbeFn(DedupParams(), clock=None).process(odd, Timestamp(0)))
    assert len(out) == 1 and out[0].tag == FAILURES
    failure = out[0].value
    assert (failure.stage, failure.error_type) == ("dedup", "fingerprint_error")
    assert failure.message.startswith("UnicodeEncodeError: ")
    assert failure.input_excerpt == "Odd story" and not failure.retryable
    probes = list(_ProbeFn(DedupParams(), clock=None).process(good, Timestamp(0)))
    assert len(probes) == 18 and all(not hasattr(p, "tag") for p in probes)  # URL, text, 16 bands


@GROUPED
def test_a_story_without_a_url_is_still_decided(grouped: bool) -> None:
    """Nothing to look it up by (no URL, text too short to fingerprint): published alone."""
    stub = tagged_story("https://a.example/stub", "A stub", "Too short to fingerprint.")
    urlless = with_article(stub, url="", final_url="", canonical_url="")
    with TestPipeline(options=_options()) as p:
        out = p | beam.Create([urlless, OTHER]) | ClusterStories(DAY, grouped=grouped)
        assert_that(
            out[OK] | beam.Map(lambda s: (s.story_id, s.cluster_id, s.duplicate_of)),
            equal_to([(s.story_id, s.story_id, None) for s in (urlless, OTHER)]),
        )


def test_syndication_updates_come_only_when_an_outlet_is_added() -> None:
    # A second copy from an outlet already listed sent the same update again; a head arriving
    # after its copies (order within a key is the runner's) completes the list all the same.
    sightings = [
        ("s1", ("head", "wire.example")),
        ("s1", ("copy", "a.example")),
        ("s1", ("copy", "a.example")),
        ("s1", ("copy", "b.example")),
        ("s2", ("head", "solo.example")),
        ("s2", ("copy", "solo.example")),
    ]
    with TestPipeline(options=_options()) as p:
        updates = p | beam.Create(sightings) | SyndicationUpdates(ttl_seconds=3600)
        # order-free: one update per outlet after the first, the last one listing them all
        assert_that(
            updates
            | beam.Map(lambda u: (u.story_id, len(u.syndication)))
            | beam.combiners.Count.PerElement(),
            equal_to([(("s1", 2), 1), (("s1", 3), 1)]),
        )


def test_a_syndication_update_lists_every_outlet_sorted() -> None:
    outlets = ["wire.example", "z.example", "m.example", "b.example", "y.example", "a.example"]
    sightings = [("s1", ("head" if i == 0 else "copy", o)) for i, o in enumerate(outlets)]
    with TestPipeline(options=_options()) as p:
        updates = p | beam.Create(sightings) | SyndicationUpdates(ttl_seconds=3600)
        assert_that(
            updates | beam.Filter(lambda u: len(u.syndication) == len(outlets)),
            equal_to([SyndicationUpdate("s1", tuple(sorted(outlets)))]),
        )


def test_a_storys_outlets_are_forgotten_a_ttl_after_its_last_sighting() -> None:
    t0 = 1_700_000_000.0

    def seen(role: str, outlet: str, days: float) -> TimestampedValue:
        return TimestampedValue(("s1", (role, outlet)), t0 + days * DAY)

    stream = (
        TestStream()
        .add_elements([seen("head", "wire.example", 0), seen("copy", "a.example", 0.5)])
        .advance_watermark_to(t0 + 1.2 * DAY)  # a TTL after the first sighting, not the last
        .add_elements([seen("copy", "b.example", 1.3)])
        .advance_watermark_to(t0 + 2.4 * DAY)  # a TTL after the last sighting
        .add_elements([seen("copy", "c.example", 2.5), seen("copy", "d.example", 2.6)])
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=_options(streaming=True)) as p:
        updates = p | stream | SyndicationUpdates(ttl_seconds=DAY)
        assert_that(
            updates | beam.Map(lambda u: u.syndication),
            equal_to(
                [
                    ("a.example", "wire.example"),
                    ("a.example", "b.example", "wire.example"),
                    ("c.example", "d.example"),
                ]
            ),
        )


@pytest.mark.parametrize("mode", ["drop", "link", "publish"])
@GROUPED
def test_the_same_article_listed_twice_is_published_once_and_never_as_its_own_copy(
    grouped: bool, mode: str
) -> None:
    # A feed listing one link under two titles (a live blog's updates) keys its entries by
    # link and title, so both were fetched and reached the clustering as two stories with one
    # story id: the second was published as a copy of itself (duplicate_of its own id; a
    # duplicate_link to itself), or dropped as a "duplicate" of itself.
    first = OUTLETS[0]
    again = with_article(
        first,
        entry=dataclasses.replace(first.story.article.entry, key="wire#title:2"),
        title="Regulator fines platform over data (updated)",
    )
    with TestPipeline(options=_options()) as p:
        out = p | beam.Create([first, again]) | ClusterStories(DAY, mode=mode, grouped=grouped)
        assert_that(
            out[OK] | beam.Map(lambda s: (type(s).__name__, s.story_id, s.duplicate_of)),
            equal_to([("TaggedStory", first.story_id, None)]),
            label="published once",
        )
        assert_that(
            out[DISCARDED] | beam.Map(lambda d: (d.stage, d.key, d.reason)),
            equal_to([("dedup", "https://a.example/wire-story", "duplicate_url")]),
            label="the second listing",
        )
