"""The dedup steps' cores in plain Python: what each DoFn reads, writes and sends, no runner.

ClaimPerKey (``ClaimPerKeyFn``), ClaimPerStory (``ClaimPerStoryFn``), VerdictPerStory
(``_VerdictFn``), ``Verdicts``, ``key_answers`` and DedupEntries' ``_DedupEntriesFn`` are driven
here with fakes of Beam's state and timers (``FakeValueState``, ``FakeBagState``,
``FakeTimer``): the local runner fires event-time timers as soon as they are set and cannot
hold a story back until a chosen time, so the rules
the pipeline tests cannot reach there (ties, the TTL's edge, corrections, prior-run claims,
what a timer clears) are checked one by one; the pipeline tests cover the real wiring. Also
the JSON of the records the clustering publishes (a story, a duplicate link), field by field.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from typing import Any

import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Duration, Timestamp

from tests.test_dedup_pipeline import DAY, WIRE, tagged_story, wire_text, with_article
from transforms.common import DISCARDED
from transforms.dedup import ClusterStories, _ProbeFn, _uid, _VerdictFn
from transforms.dedup_claims import (
    MAX_ID_BYTES,
    Claim,
    decode_refs,
    encode_refs,
    make_claim,
)
from transforms.dedup_entries import _DedupEntriesFn
from transforms.dedup_keys import ClaimPerKeyFn
from transforms.dedup_store import ClaimPerStoryFn, as_messages
from transforms.dedup_verdicts import (
    PRIOR_RUN,
    SIGHTINGS,
    SIGNATURES,
    Verdicts,
    key_answers,
    story_url,
)
from transforms.minhash import DedupParams, fingerprint, lookup_keys, url_key
from transforms.records import (
    Article,
    Discard,
    DuplicateLink,
    Evidence,
    FeedEntry,
    Outlet,
    Story,
    Tag,
    TaggedStory,
    TagResult,
)
from transforms.syndication import _SyndicationFn

PARAMS = DedupParams()
WINDOW = GlobalWindow()


class FakeValueState:
    """A ReadModifyWriteState."""

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def read(self) -> Any:
        return self.value

    def write(self, value: Any) -> None:
        self.value = value

    def clear(self) -> None:
        self.value = None


class FakeBagState:
    """A BagState."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, value: Any) -> None:
        self.items.append(value)

    def read(self) -> list[Any]:
        return list(self.items)

    def clear(self) -> None:
        self.items = []


class FakeTimer:
    """A timer: remembers when it was last set for."""

    def __init__(self) -> None:
        self.at: Timestamp | None = None

    def set(self, at: Timestamp) -> None:
        self.at = at


class FakeClock:
    """An injected clock, set by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _claim(story_id: str, at: float) -> bytes:
    return Claim(story_id, story_id, at).encode()


def _story_claim(story: TaggedStory, at: float) -> bytes:
    """The claim ``story`` leaves under its keys when seen at ``at``."""
    article = story.story.article
    fp = fingerprint(article.title, article.text, PARAMS)
    return make_claim(story.story_id, story.story_id, at, fp).encode()


def _keys(story: TaggedStory) -> list[bytes]:
    article = story.story.article
    return lookup_keys(fingerprint(article.title, article.text, PARAMS), story_url(story), PARAMS)


# --- ClaimPerKey ---------------------------------------------------------------------------


_NAMES: dict[str, str] = {}


def _element(name: str, claim: bytes) -> str:
    """The element id the pipeline would give story ``name``: its claim's story id, "/", and
    12 hex digits (here ``name``'s bytes, so that ties between elements fall as names sort)."""
    if name == PRIOR_RUN:
        return PRIOR_RUN
    uid = f"{Claim.decode(claim).story_id}/{name.encode().hex()[:12]:0<12}"
    _NAMES[uid] = name
    return uid


def _named(held: FakeValueState) -> Any:
    """A key's state, with element ids as their names: ``[(name, time), ...]`` for references
    (the holder first), ``(name, claim, ((name, time), ...))`` for a claim held itself."""
    value = held.read()
    if isinstance(value, bytes):
        return [(_NAMES.get(uid, uid), at) for uid, at in decode_refs(value)]
    uid, raw, later = value
    return (_NAMES.get(uid, uid), raw, tuple((_NAMES.get(u, u), at) for u, at in later))


def _claims(
    fn: ClaimPerKeyFn,
    held: FakeValueState,
    probes: list[tuple[str, bytes, float]],
    key: bytes = b"k",
    stored: Sequence[tuple[str, bytes]] = (),
) -> tuple[list[tuple[str, tuple[Any, ...]]], FakeTimer]:
    """Run ``probes`` ``(name, claim, event time)`` through one key (ClaimPerKey) and then
    ClaimPerStory, in one bundle each, ClaimPerStory holding the ``stored`` claims before: the
    messages the verdict step gets, as ``(name, messages)``, and the key's expiry timer."""
    timer = FakeTimer()
    fn.start_bundle()
    for name, claim, at in probes:
        fn.process((key, (_element(name, claim), claim, None)), Timestamp(at), WINDOW, held, timer)
    states = {
        _element(name, claim): (FakeValueState(claim), FakeBagState(), FakeTimer())
        for name, claim in stored
    }
    return _stored(list(fn.finish_bundle()), states=states), timer


def _stored(
    outputs: list[Any], store: ClaimPerStoryFn | None = None, states: dict[str, Any] | None = None
) -> list[tuple[str, tuple[Any, ...]]]:
    """ClaimPerKey's ``outputs`` through ClaimPerStory (one bundle; ``states``: each element's
    claim, waiting lookups and timer), as ``(name, messages)`` for the verdict step."""
    store = store or ClaimPerStoryFn(DAY, False)
    states = {} if states is None else states
    store.start_bundle()
    for wv in outputs:
        uid, messages = wv.value
        claim, waiting, timer = states.setdefault(
            uid, (FakeValueState(), FakeBagState(), FakeTimer())
        )
        store.process((uid, messages), wv.timestamp, WINDOW, claim, waiting, timer)
    return [(_NAMES.get(uid, uid), messages) for uid, messages in _values(store.finish_bundle())]


def _values(outputs: Any) -> list[Any]:
    return [wv.value for wv in outputs]


def test_an_earlier_story_takes_a_key_from_a_later_one_and_corrects_it() -> None:
    # The later story's probe came first: it claimed the key; the earlier one takes it over,
    # is told that no claim came before its own (as key_answers tells it; it was told the
    # later claim, which no verdict reads), and the later one is told which earlier story is
    # there now (its verdict needs that claim, not its own; it leaves with the earlier story's
    # time).
    later, earlier = _claim("b" * 16, 20.0), _claim("a" * 16, 10.0)
    held = FakeValueState()
    probes = [("later", later, 20.0), ("earlier", earlier, 10.0)]
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, probes)
    assert sorted(sent) == [
        ("earlier", (("found", b"k", None),)),
        ("later", (("earlier", b"k", earlier),)),
        ("later", (("found", b"k", None),)),
    ]
    # the later story is kept as one told of the claim, to be corrected again
    assert _named(held) == [("earlier", 10.0), ("later", 20.0)]


@pytest.mark.parametrize("order", ["bca", "cba", "cab", "bac"])
def test_an_earlier_story_corrects_every_later_story_told_of_the_claim_it_takes(
    order: str,
) -> None:
    # Three copies of one poll (one time): b claims the key, c is told b's claim, then a takes
    # the key. c must hear of a too, as the grouped path tells it (key_answers: the earliest
    # claim before it), or c's verdict names b, a copy, as what it duplicates and as its
    # cluster (and the syndication update is sent for b, not for the story a consumer has).
    claims = {name: _claim(name * 16, 10.0) for name in "abc"}
    probes = [(name, claims[name], 10.0) for name in order]
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), FakeValueState(), probes)
    told: dict[str, set[bytes]] = {}
    for uid, messages in sent:
        for _kind, _key, raw in messages:
            if raw is not None:
                told.setdefault(uid, set()).add(raw)
    grouped = dict(key_answers(b"k", [(uid, claim, None) for uid, claim, _ in probes], DAY))
    assert grouped == {"a": ("found", b"k", None)} | {
        uid: ("found", b"k", claims["a"]) for uid in "bc"
    }
    assert "a" not in told
    assert claims["a"] in told["b"] and claims["a"] in told["c"]  # what the verdicts pick
    # a later story that comes after all of them is told the earliest claim at once
    then = [*probes, ("d", _claim("d" * 16, 10.0), 10.0)]
    late, _ = _claims(ClaimPerKeyFn(DAY, False), FakeValueState(), then)
    assert ("d", (("found", b"k", claims["a"]),)) in late


def test_a_key_keeps_the_last_stories_told_of_its_claim_up_to_a_bound() -> None:
    # Forty later stories told of b's claim; a takes the key: b and the last 32 of them are
    # corrected.
    probes = [("b", _claim("b" * 16, 10.0), 10.0)]
    probes += [(f"c{n:02}", _claim(f"c{n:015}", 10.0), 10.0) for n in range(40)]
    earlier = _claim("a" * 16, 10.0)
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), FakeValueState(), [*probes, ("a", earlier, 10.0)])
    corrected = [uid for uid, messages in sent if ("earlier", b"k", earlier) in messages]
    assert corrected == ["b"] + [f"c{n:02}" for n in range(8, 40)]
    # An earlier story still takes it from a: a and the last 32 told (b, told first, left
    # out; not the last told, c39) are corrected.
    held = FakeValueState()
    _claims(ClaimPerKeyFn(DAY, False), held, [*probes, ("a", earlier, 10.0)])
    earliest = _claim("0" * 16, 10.0)
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, [("z", earliest, 10.0)])
    corrected = [uid for uid, messages in sent if ("earlier", b"k", earliest) in messages]
    assert corrected == ["a"] + [f"c{n:02}" for n in range(8, 40)]


def test_a_key_held_before_it_kept_the_stories_told_of_its_claim_still_corrects() -> None:
    # A running job's state, written before a key kept the stories told of its claim: the
    # pair (element id, claim) still reads, and the one it names is still corrected.
    later, earlier = _claim("b" * 16, 20.0), _claim("a" * 16, 10.0)
    held = FakeValueState((_element("later", later), later))
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, [("earlier", earlier, 10.0)])
    assert sorted(sent) == [
        ("earlier", (("found", b"k", None),)),
        ("later", (("earlier", b"k", earlier),)),
    ]
    assert _named(held)[0] == ("earlier", 10.0)


@pytest.mark.parametrize("gap", [DAY, DAY + 0.5])
def test_an_earlier_story_corrects_a_later_one_only_within_the_ttl(gap: float) -> None:
    # Out of order by more than the TTL: had the earlier story come first, its claim would
    # have expired before the later one probed (the grouped path, taking probes in claim
    # order, tells the later one nothing), so the stateful step sends it no correction either
    # and the later story is not called a copy of one older than the TTL. The earlier story
    # still takes the key: a third story within the TTL of it finds it, in both paths.
    later, earlier = _claim("b" * 16, 100.0 + gap), _claim("a" * 16, 100.0)
    held = FakeValueState()
    probes = [("later", later, 100.0 + gap), ("earlier", earlier, 100.0)]
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, probes)
    corrections = [m for uid, messages in sent for m in messages if m[0] == "earlier"]
    grouped = dict(key_answers(b"k", [(uid, claim, None) for uid, claim, _ in probes], DAY))
    if gap <= DAY:
        assert corrections == [("earlier", b"k", earlier)]
        assert grouped["later"] == ("found", b"k", earlier)
    else:
        assert corrections == []
        assert grouped["later"] == ("found", b"k", None)
    assert _named(held)[0] == ("earlier", 100.0)


def test_a_claim_of_the_same_time_and_id_does_not_take_the_key() -> None:
    # Only an earlier claim takes a key: the second of two equal claims (the same story, met
    # twice at one time) is told the first's, and the first is not "corrected" by itself.
    first, again = _claim("a" * 16, 10.0), _claim("a" * 16, 10.0)
    held = FakeValueState()
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, [("one", first, 10.0), ("two", again, 10.0)])
    assert sent == [("one", (("found", b"k", None),)), ("two", (("found", b"k", first),))]
    assert _named(held) == [("one", 10.0), ("two", 10.0)]


def test_an_element_met_twice_is_not_told_its_own_claim_in_either_path() -> None:
    # One element id probing a key twice (one element delivered twice) is not told its own
    # claim, which its verdict would read as the same article claimed before it: both
    # deliveries were discarded as listed again, and the article was never published.
    claim = _claim("a" * 16, 10.0)
    held = FakeValueState()
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, [("one", claim, 10.0), ("one", claim, 10.0)])
    assert sent == [("one", (("found", b"k", None), ("found", b"k", None)))]
    assert _named(held) == [("one", 10.0)]
    grouped = list(key_answers(b"k", [("one", claim, None), ("one", claim, None)], DAY))
    assert grouped == [("one", ("found", b"k", None))] * 2


def test_two_entries_of_one_article_at_one_time_are_two_elements() -> None:
    # Two feeds listing one article in one streaming poll: the same story id, time and text,
    # from two entries. They were one element id, so each copy's probes met the other's claim
    # as their own. A re-delivery of one entry is still the same element.
    entry = HEAD.story.article.entry
    other = with_article(HEAD, entry=dataclasses.replace(entry, key="urn:guid:1"))
    elsewhere = with_article(HEAD, entry=dataclasses.replace(entry, feed_url="https://b.example/"))
    assert len({_uid(HEAD, 10.0), _uid(other, 10.0), _uid(elsewhere, 10.0)}) == 3
    assert _uid(HEAD, 10.0) == _uid(dataclasses.replace(HEAD), 10.0)
    assert _uid(HEAD, 10.0).startswith(f"{HEAD.story_id}/")


def test_a_claim_holds_for_exactly_its_ttl_in_both_paths() -> None:
    # The stateful step and the grouped path (key_answers) draw the TTL's edge alike: a claim
    # exactly the TTL older still holds; a moment older, it is gone.
    held_claim = _claim("a" * 16, 100.0)
    for gap, expected in ((DAY, held_claim), (DAY + 0.5, None)):
        later = _claim("b" * 16, 100.0 + gap)
        probe = [("x", later, 100.0 + gap)]
        held = FakeValueState(encode_refs([(_element("first", held_claim), 100.0)]))
        sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, probe, stored=[("first", held_claim)])
        assert sent == [("x", (("found", b"k", expected),))], gap
        grouped = list(key_answers(b"k", [("x", later, None), ("first", held_claim, None)], DAY))
        assert ("x", ("found", b"k", expected)) in grouped, gap


def test_a_claim_from_an_earlier_run_is_sent_nothing() -> None:
    # Claims remembered by --state-dir (element id PRIOR_RUN) hold keys, but no verdict step
    # waits for them: neither an answer nor a correction is addressed to them (all of them
    # would pile up under the one element id "").
    prior, story, earlier = _claim("p" * 16, 10.0), _claim("s" * 16, 20.0), _claim("e" * 16, 5.0)
    probes = [(PRIOR_RUN, prior, 10.0), ("story", story, 20.0), ("earlier", earlier, 5.0)]
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), FakeValueState(), probes)
    assert sorted(sent) == [
        ("earlier", (("found", b"k", None),)),  # it comes before the prior claim
        # told of the prior claim, then of the earlier story that took the key from it, as
        # key_answers tells it the earliest
        ("story", (("earlier", b"k", earlier),)),
        ("story", (("found", b"k", prior),)),
    ]
    grouped = dict(key_answers(b"k", [(uid, claim, None) for uid, claim, _ in probes], DAY))
    assert grouped == {"earlier": ("found", b"k", None), "story": ("found", b"k", earlier)}


def test_a_claim_is_cleared_by_its_timer_a_ttl_after_it_was_made() -> None:
    held = FakeValueState()
    _, timer = _claims(ClaimPerKeyFn(DAY, True), held, [("one", _claim("a" * 16, 10.0), 10.0)])
    assert timer.at == Timestamp(10.0) + Duration(seconds=DAY)
    ClaimPerKeyFn(DAY, True)._expire(held)
    assert held.read() is None
    _, off = _claims(
        ClaimPerKeyFn(DAY, False), FakeValueState(), [("one", _claim("a" * 16, 10.0), 10.0)]
    )
    assert off.at is None  # no timers on the local runner


def test_a_key_names_its_holder_and_each_story_claim_is_kept_once() -> None:
    # A story's 18 keys each name it (element id and time, 23 bytes); its claim is kept once,
    # by ClaimPerStory. A copy probing them is answered the story's claim under every key.
    keys, head = _keys(HEAD), _story_claim(HEAD, 10.0)
    held = {key: FakeValueState() for key in keys}
    fn = ClaimPerKeyFn(DAY, False)
    states: dict[str, Any] = {}
    for name, claim, at in (("head", head, 10.0), ("copy", _story_claim(COPY, 20.0), 20.0)):
        fn.start_bundle()
        for key in keys:
            fn.process((key, (_element(name, claim), claim, None)), Timestamp(at), WINDOW,
                       held[key], FakeTimer())  # fmt: skip
        sent = _stored(list(fn.finish_bundle()), states=states)
    assert all(len(state.read()) == 2 * 23 for state in held.values())  # the story and its copy
    assert all(_named(state) == [("head", 10.0), ("copy", 20.0)] for state in held.values())
    assert [claim.read() for claim, _, _ in states.values()] == [head]
    assert sent == [("copy", tuple(("found", key, head) for key in keys))]


def test_a_reference_orders_a_story_id_with_a_slash_as_its_claim_does() -> None:
    # An element id is the story id, "/" and 12 hex digits (_uid); a key's reference gives
    # its claim order from it. Ids that are not the pipeline's 16 hex digits (the transform
    # takes any) may hold a "/": "a/2" was read as story "a", ordered before "a/1", so "a/1"
    # of one time neither took the key nor corrected "a/2": both were published as first.
    first, second = _claim("a/1", 10.0), _claim("a/2", 10.0)
    # (one that begins as the pipeline's does, 16 hex digits, "/" and 12, is kept whole)
    pipeline_like = "a" * 16 + "/" + "0" * 16 + "/" + "1" * 12
    for uid in (_element("second", second), "ü/x", "a" * 16 + "/" + "0" * 11, pipeline_like):
        assert decode_refs(encode_refs([(uid, 10.0)])) == [(uid, 10.0)]
    held = FakeValueState()
    probes = [("second", second, 10.0), ("first", first, 10.0)]
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, probes)
    assert sorted(sent) == [
        ("first", (("found", b"k", None),)),
        ("second", (("found", b"k", None), ("earlier", b"k", first))),
    ]
    assert _named(held) == [("first", 10.0), ("second", 10.0)]
    grouped = dict(key_answers(b"k", [(uid, claim, None) for uid, claim, _ in probes], DAY))
    assert grouped == {"first": ("found", b"k", None), "second": ("found", b"k", first)}


def test_a_reference_holds_an_element_id_up_to_the_longest_and_refuses_a_longer_one() -> None:
    longest = "x" * MAX_ID_BYTES
    assert decode_refs(encode_refs([(longest, 10.0)])) == [(longest, 10.0)]
    with pytest.raises(ValueError, match="at most 65,535"):
        encode_refs([(longest + "x", 10.0)])


def test_a_lookup_that_comes_before_the_claim_waits_for_it() -> None:
    # The key sent the claim before the lookup, but nothing keeps the two in order on their
    # way to ClaimPerStory: the lookup may come first.
    head, copy = _element("head", _claim("a" * 16, 10.0)), _element("copy", _claim("b" * 16, 20.0))
    claim, waiting, timer = FakeValueState(), FakeBagState(), FakeTimer()
    fn = ClaimPerStoryFn(DAY, True)
    fn.start_bundle()
    fn.process((head, (("lookup", b"k", copy),)), Timestamp(20.0), WINDOW, claim, waiting, timer)
    assert _values(fn.finish_bundle()) == []
    assert waiting.read() == [(copy, b"k")]
    assert timer.at == Timestamp(20.0) + Duration(seconds=DAY + 1)  # "nothing held" then
    fn.start_bundle()
    registered = ("claim", _claim("a" * 16, 10.0))
    fn.process((head, (registered,)), Timestamp(10.0), WINDOW, claim, waiting, timer)
    assert _values(fn.finish_bundle()) == [(copy, (("found", b"k", _claim("a" * 16, 10.0)),))]
    assert waiting.read() == [] and claim.read() == _claim("a" * 16, 10.0)
    assert timer.at == Timestamp(10.0) + Duration(seconds=DAY + 1)  # the claim's TTL


def test_a_lookup_whose_claim_never_came_is_told_nothing_held_when_the_timer_fires() -> None:
    head, copy = _element("head", _claim("a" * 16, 10.0)), _element("copy", _claim("b" * 16, 20.0))
    claim, waiting = FakeValueState(), FakeBagState()
    fn = ClaimPerStoryFn(DAY, True)
    fn.start_bundle()
    fn.process((head, (("lookup", b"k", copy),)), Timestamp(20.0), WINDOW, claim, waiting,
               FakeTimer())  # fmt: skip
    assert list(fn._expire(claim, waiting)) == [(copy, (("found", b"k", None),))]
    assert waiting.read() == [] and claim.read() is None


class _Unread(FakeValueState):
    def read(self) -> Any:
        raise AssertionError("state read for a message that only passes through")


def test_a_stored_claim_is_kept_a_ttl_after_its_story_then_cleared() -> None:
    # Its expiry is set by the claim's time: a correction or an answer passing through
    # later, stamped with an earlier story's time, must not bring it forward (the claim
    # would be gone before a story a TTL after it looked it up). When it fires, the claim
    # is forgotten and no one waited for it.
    head = _element("head", _claim("a" * 16, 10.0))
    claim, waiting, timer = FakeValueState(), FakeBagState(), FakeTimer()
    fn = ClaimPerStoryFn(DAY, True)
    fn.start_bundle()
    fn.process((head, (("claim", _claim("a" * 16, 10.0)),)), Timestamp(10.0), WINDOW, claim,
               waiting, timer)  # fmt: skip
    passing = (("earlier", b"k", _claim("e" * 16, 5.0)), ("found", b"k2", None))
    fn.process((head, passing), Timestamp(5.0), WINDOW, claim, waiting, timer)
    assert _values(fn.finish_bundle()) == [(head, passing)]
    assert timer.at == Timestamp(10.0) + Duration(seconds=DAY + 1)
    assert list(fn._expire(claim, waiting)) == []
    assert claim.read() is None


def test_claim_per_story_passes_other_messages_on_without_reading_state() -> None:
    # A story, a key's answer, a correction, and a key's answer with the claim itself (from a
    # job before ClaimPerStory, or a claim from an earlier run): unchanged, no state read.
    head = _claim("a" * 16, 10.0)
    messages = (
        ("story", b"pickled story", head, 18),
        ("found", b"k1", None),
        ("found", b"k2", _claim("e" * 16, 5.0)),
        ("earlier", b"k3", _claim("e" * 16, 5.0)),
    )
    fn = ClaimPerStoryFn(DAY, True)
    fn.start_bundle()
    fn.process(("u", messages), Timestamp(10.0), WINDOW, _Unread(), FakeBagState(), FakeTimer())
    assert _values(fn.finish_bundle()) == [("u", messages)]


@pytest.mark.parametrize(
    "bare",
    [("found", b"k1", None), ("story", b"pickled story", _claim("a" * 16, 10.0), 18)],
    ids=["found-nothing", "story"],
)
def test_claim_per_story_passes_on_a_bare_message_from_a_job_before_batching(
    bare: tuple[Any, ...],
) -> None:
    # An in-place update from a job whose ClaimPerKey sent one bare message an element
    # (before batching; VerdictPerStory reads both forms): such a message in flight now
    # reaches ClaimPerStory first, which took it apart field by field: a None or an int
    # field raised TypeError (a streaming job retries a failing element for ever).
    fn = ClaimPerStoryFn(DAY, True)
    fn.start_bundle()
    fn.process(("u", bare), Timestamp(10.0), WINDOW, _Unread(), FakeBagState(), FakeTimer())
    assert [(uid, as_messages(sent)) for uid, sent in _values(fn.finish_bundle())] == [
        ("u", (bare,))
    ]


def test_a_key_holding_a_claim_itself_answers_with_it_and_keeps_that_form() -> None:
    # A running job's state from before ClaimPerStory: (element id, claim, later stories).
    # Its claim was never kept by ClaimPerStory: the key answers with the claim it holds.
    first, later = _claim("a" * 16, 10.0), _claim("b" * 16, 20.0)
    held = FakeValueState((_element("first", first), first, ()))
    sent, _ = _claims(ClaimPerKeyFn(DAY, False), held, [("later", later, 20.0)])
    assert sent == [("later", (("found", b"k", first),))]
    assert _named(held) == ("first", first, (("later", 20.0),))


def test_a_claim_from_an_earlier_run_is_held_whole() -> None:
    # All of them have one element id (PRIOR_RUN): nothing ClaimPerStory could look up.
    prior, story = _claim("p" * 16, 10.0), _claim("s" * 16, 20.0)
    held = FakeValueState()
    sent, _ = _claims(
        ClaimPerKeyFn(DAY, False), held, [(PRIOR_RUN, prior, 10.0), ("s", story, 20.0)]
    )
    assert held.read() == (PRIOR_RUN, prior, ((_element("s", story), 20.0),))
    assert sent == [("s", (("found", b"k", prior),))]


def test_key_answers_order_claims_of_one_time_by_story_id() -> None:
    # Copies carried by two feeds of one poll share a time: the smaller story id is the
    # earlier claim, whichever probe came first (the stateful step's order()).
    a, b = _claim("a" * 16, 10.0), _claim("b" * 16, 10.0)
    got = list(key_answers(b"k", [("b", b, None), ("a", a, None)], DAY))
    assert got == [("a", ("found", b"k", None)), ("b", ("found", b"k", a))]


# --- Fingerprint and VerdictPerStory --------------------------------------------------------


def test_the_first_probe_carries_the_story_and_how_many_keys_will_answer() -> None:
    story = tagged_story("https://a.example/wire-story", "Regulator fines platform", WIRE)
    probes = list(_ProbeFn(PARAMS, clock=None).process(story, Timestamp(0)))
    payloads = [payload for _key, (_uid, _claim, payload) in probes]
    assert pickle.loads(payloads[0][0]) == story
    assert payloads[0][1] == len(probes) == 18
    assert payloads[1:] == [None] * 17


def test_the_verdict_waits_for_every_key_then_later_corrections_change_nothing() -> None:
    story = tagged_story("https://a.example/s", "A story", WIRE)
    claim = _story_claim(story, 10.0)
    fn = _VerdictFn(PARAMS, "drop", DAY)
    inbox, decide, flush = FakeBagState(), FakeTimer(), FakeTimer()
    first = (("story", pickle.dumps(story), claim, 3), ("found", b"k1", None))
    fn.process(("u", first), Timestamp(10.0), inbox, decide, flush)
    # decided once every story of the same time has probed
    assert decide.at is not None and decide.at > Timestamp(10.0)
    assert flush.at == Timestamp(10.0) + Duration(seconds=DAY)
    fn.process(("u", (("found", b"k2", None),)), Timestamp(10.0), inbox, decide, flush)
    assert list(fn._on_settled(inbox)) == []  # one key of three has not answered
    assert len(inbox.read()) == 2  # kept for the flush
    fn.process(("u", (("found", b"k3", None),)), Timestamp(10.0), inbox, decide, flush)
    (head, signatures) = list(fn._on_settled(inbox))
    assert head == dataclasses.replace(story, cluster_id=story.story_id)
    assert signatures.tag == SIGNATURES and signatures.value == (
        (b"k1", b"k2", b"k3"),
        claim,
        story.story.article.entry.link,
    )
    assert inbox.read() == []
    # a correction arriving after the verdict is dropped when its flush timer fires
    late = ("earlier", b"k1", _claim("e" * 16, 5.0))
    fn.process(("u", (late,)), Timestamp(5.0), inbox, decide, flush)
    assert list(fn._flush(inbox)) == [] and inbox.read() == []


def test_a_story_seen_at_two_times_is_decided_twice_whatever_the_order_of_its_answers() -> None:
    # The grouped path in plain Python. The same story (one URL, one text) seen at two times
    # is two elements, the story and the same article listed again (a duplicate_url discard:
    # it was published as a copy of itself), however GroupByKey orders a story's answers;
    # only a re-delivery at the same time would be one element.
    story = tagged_story("https://a.example/s", "A story", WIRE)
    by_key: dict[bytes, list[Any]] = {}
    for at in (10.0, 20.0):
        for key, probe in _ProbeFn(PARAMS, clock=FakeClock(at)).process(story, Timestamp(0)):
            by_key.setdefault(key, []).append(probe)
    by_story: dict[str, list[Any]] = {}
    for key, probes in by_key.items():
        for uid, message in key_answers(key, probes, DAY):
            by_story.setdefault(uid, []).append(message)
    verdicts = Verdicts(PARAMS, "publish")
    out = [
        o for group in by_story.items() for o in verdicts.decide_group((group[0], group[1][::-1]))
    ]
    stories = [o for o in out if isinstance(o, TaggedStory)]
    assert [(s.duplicate_of, s.cluster_id) for s in stories] == [(None, story.story_id)]
    discards = [o.value for o in out if isinstance(o, TaggedOutput) and o.tag == DISCARDED]
    assert [(d.key, d.reason) for d in discards] == [("https://a.example/s", "duplicate_url")]


# --- Verdicts -------------------------------------------------------------------------------

HEAD = tagged_story("https://a.example/wire-story", "Regulator fines platform over data", WIRE)
# A copy whose feed links to a redirect, which led to the page with a tracking parameter;
# the page names its canonical URL.
_COPY = tagged_story(
    "https://b.example/news/1?utm_source=rss", "Regulator fines platform", WIRE + " AP"
)
COPY = with_article(
    _COPY,
    entry=FeedEntry("https://b.example/feed", "https://b.example/r/1", "k"),
    url="https://b.example/r/1?utm_source=rss",
    canonical_url="https://b.example/news/1",
)
UNRELATED = tagged_story("https://c.example/other", "Unrelated", wire_text(7))


def _decide(mode: str, messages: list[tuple[Any, ...]]) -> list[Any]:
    return list(Verdicts(PARAMS, mode).decide(messages))


def _band(story: TaggedStory) -> bytes:
    return _keys(story)[2]  # the first LSH band key


def test_a_correction_makes_a_story_a_copy_and_its_link_names_its_own_urls() -> None:
    # The copy's keys all answered "nothing held"; then the earlier story reached one of
    # them and corrected it. In link mode the copy becomes a link to the head that carries
    # the copy's canonical URL and its feed's link, and a "copy" sighting of the head.
    head_claim = _story_claim(HEAD, 10.0)
    messages = [
        ("story", pickle.dumps(COPY), _story_claim(COPY, 20.0), 2),
        ("found", url_key(story_url(COPY)), None),
        ("found", _band(COPY), None),
        ("earlier", _band(COPY), head_claim),
    ]
    link, sighting = _decide("link", messages)
    assert link == DuplicateLink(
        COPY.story_id,
        HEAD.story_id,
        HEAD.story_id,
        "https://b.example/news/1",
        "b.example",
        COPY.story.outlet,
        "https://b.example/r/1",
    )
    assert sighting.tag == SIGHTINGS and sighting.value == (HEAD.story_id, ("copy", "b.example"))


def test_every_earlier_story_found_is_verified_not_only_the_first() -> None:
    # An earlier unrelated story shares a key (no verification: not a copy of it); the head,
    # found under another key, is what the story duplicates.
    messages = [
        ("story", pickle.dumps(COPY), _story_claim(COPY, 20.0), 2),
        ("found", _band(COPY), _story_claim(UNRELATED, 5.0)),
        ("found", _keys(COPY)[3], _story_claim(HEAD, 10.0)),
    ]
    (discard,) = _decide("drop", messages)
    assert discard.tag == DISCARDED
    assert discard.value == Discard(
        "dedup", "https://b.example/news/1", "duplicate", f"duplicate_of={HEAD.story_id}"
    )


def test_a_first_story_remembers_each_of_its_keys_once() -> None:
    # A correction from an earlier story that does not verify leaves the story first; its
    # signatures are its keys as they answered, each once (the correction's key included).
    keys = [_keys(HEAD)[0], _band(HEAD)]  # its URL key and a band key
    claim = _story_claim(HEAD, 10.0)
    messages = [
        ("story", pickle.dumps(HEAD), claim, 2),
        ("found", keys[0], None),
        ("found", keys[1], None),
        ("earlier", keys[1], _story_claim(UNRELATED, 5.0)),
    ]
    head, signatures, sighting = _decide("publish", messages)
    assert head == dataclasses.replace(HEAD, cluster_id=HEAD.story_id)
    assert signatures.tag == SIGNATURES and signatures.value == (
        tuple(keys),
        claim,
        HEAD.story.article.entry.link,
    )
    assert sighting.value == (HEAD.story_id, ("head", "a.example"))


def test_a_copy_leaves_no_signatures() -> None:
    messages = [
        ("story", pickle.dumps(COPY), _story_claim(COPY, 20.0), 1),
        ("found", _band(COPY), _story_claim(HEAD, 10.0)),
    ]
    out = _decide("drop", messages)
    assert [getattr(o, "tag", None) for o in out] == [DISCARDED]


@pytest.mark.parametrize("mode", ["drop", "link", "publish"])
def test_the_same_story_delivered_twice_is_published_once(mode: str) -> None:
    # It was published twice, the second time as a copy of itself (duplicate_of its own id).
    claim = _story_claim(HEAD, 10.0)
    story = ("story", pickle.dumps(HEAD), claim, 1)
    out = _decide(mode, [story, story, ("found", _band(HEAD), None)])
    stories = [o for o in out if isinstance(o, TaggedStory)]
    assert [(s.cluster_id, s.duplicate_of) for s in stories] == [(HEAD.story_id, None)]
    discards = [o.value for o in out if isinstance(o, TaggedOutput) and o.tag == DISCARDED]
    assert [(d.stage, d.reason) for d in discards] == [("dedup", "duplicate_url")]


def _outcomes(out: list[Any]) -> list[tuple[str, str | None]]:
    """Each output as (tag, a discard's reason) or (type, what it duplicates)."""
    return [
        (o.tag, getattr(o.value, "reason", None))
        if isinstance(o, TaggedOutput)
        else (type(o).__name__, getattr(o, "duplicate_of", None))
        for o in out
    ]


def test_a_story_whose_article_was_claimed_before_it_is_the_same_article_listed_again() -> None:
    # The same story id claimed before it (a feed listing one link under two titles, two
    # feeds listing one URL under different GUIDs): a duplicate_url discard in every mode,
    # never a copy of itself; a claim of it that comes later is no reason.
    earlier = ("found", _band(HEAD), _story_claim(HEAD, 5.0))
    # Its own claim, as key_answers tells the second of two deliveries of one article at one
    # time (ties go by element id): claimed no later than it, so listed again too.
    same = ("found", _band(HEAD), _story_claim(HEAD, 10.0))
    later = ("found", _band(HEAD), _story_claim(HEAD, 20.0))
    story = ("story", pickle.dumps(HEAD), _story_claim(HEAD, 10.0), 1)
    for mode in ("drop", "link", "publish"):
        for before in (earlier, same):
            out = _decide(mode, [story, before])
            assert _outcomes(out) == [(DISCARDED, "duplicate_url")], mode
        kept = _decide(mode, [story, later])
        assert [type(o).__name__ for o in kept if not isinstance(o, TaggedOutput)] == [
            "TaggedStory"
        ]


@pytest.mark.parametrize("mode", ["drop", "link", "publish"])
def test_one_article_listed_twice_at_one_time_is_published_once(mode: str) -> None:
    # Two feeds list one URL (two element ids, one story id) and both are seen at one time:
    # key_answers orders the tie by element id and tells the second the first's claim, which
    # is the second's own. The first is published; the second is the same article listed
    # again, not a copy of itself (duplicate_of its own id).
    claim = _story_claim(HEAD, 10.0)
    probes = [("e2", claim, (pickle.dumps(HEAD), 1)), ("e1", claim, (pickle.dumps(HEAD), 1))]
    messages: dict[str, list[tuple[Any, ...]]] = {"e1": [], "e2": []}
    for uid, message in key_answers(_band(HEAD), probes, DAY):
        messages[uid].append(message)
    assert messages["e2"][-1] == ("found", _band(HEAD), claim)
    first = _decide(mode, messages["e1"])
    assert [(s.cluster_id, s.duplicate_of) for s in first if isinstance(s, TaggedStory)] == [
        (HEAD.story_id, None)
    ]
    assert _outcomes(_decide(mode, messages["e2"])) == [(DISCARDED, "duplicate_url")]


def test_story_url_is_the_canonical_url_else_the_final_else_the_requested() -> None:
    assert story_url(COPY) == "https://b.example/news/1"
    for fields, expected in (
        ({"canonical_url": ""}, "https://b.example/news/1"),  # the final URL, cleaned
        ({"canonical_url": "", "final_url": ""}, "https://b.example/r/1"),
        ({"canonical_url": "https://B.example/x?utm_source=rss"}, "https://b.example/x"),
    ):
        assert story_url(with_article(COPY, **fields)) == expected, fields


def test_an_unknown_duplicates_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicates mode must be one of"):
        ClusterStories(DAY, mode="keep")


# --- DedupEntries ---------------------------------------------------------------------------


def _entries_seen(times: list[float], ttl: float = DAY) -> list[Any]:
    """What DedupEntries gives for one key seen at each of ``times`` (by the clock)."""
    clock, last_seen, timer = FakeClock(), FakeValueState(), FakeTimer()
    fn = _DedupEntriesFn(ttl, clock, gc_timers=True)
    out = []
    for i, at in enumerate(times):
        clock.now = at
        entry = FeedEntry(f"https://feed{i}.example/rss", f"https://x.example/{i}", "key")
        out += list(fn.process(("key", entry), Timestamp(at), last_seen, timer))
    return out


def test_an_entry_key_is_remembered_a_ttl_after_it_was_last_seen() -> None:
    # Exactly a TTL after the last sighting it is still a repeat; each repeat (dropped or
    # not) starts the TTL again, so a feed that keeps listing an entry keeps it suppressed.
    out = _entries_seen([0.0, DAY, 1.8 * DAY, 2.9 * DAY])
    assert [isinstance(o, FeedEntry) for o in out] == [True, False, False, True]
    dropped = out[1].value
    assert dropped == Discard("dedup_entries", "key", "duplicate_url", "https://feed1.example/rss")


def test_an_entry_keys_state_is_cleared_a_ttl_after_its_last_sighting() -> None:
    last_seen, timer = FakeValueState(), FakeTimer()
    fn = _DedupEntriesFn(DAY, None, gc_timers=True)
    entry = FeedEntry("https://a.example/rss", "https://x.example/1", "key")
    assert list(fn.process(("key", entry), Timestamp(50.0), last_seen, timer)) == [entry]
    assert (last_seen.read(), timer.at) == (50.0, Timestamp(50.0) + Duration(seconds=DAY))
    fn._expire(last_seen)
    assert last_seen.read() is None


# --- What the clustering's outputs publish --------------------------------------------------


def test_a_published_story_takes_each_field_from_its_own_source() -> None:
    # Every field distinct, so that none can be read from a neighbour (the page's date and
    # language are not the story's, the fetched URL is not the requested one).
    entry = FeedEntry("https://a.example/feed", "https://a.example/r/1", "k")
    article = Article(
        entry,
        "https://a.example/r/1",
        "https://a.example/news/1?page=1",
        "https://a.example/news/1",
        "Title",
        "Text.",
        authors=("Ana Ruiz",),
        published_at="2026-03-04",
        language="xx",
    )
    outlet = Outlet("a.example", "A", "FR", "fr", "CaPr")
    evidence = Evidence("title", 0, 5, "Title", "title")
    tagging = TagResult(
        True,
        0.123456,
        ("tiktok",),
        ("china",),
        ("ban_or_restriction",),
        (Tag("platform", "tiktok", (evidence,)),),
        ("rule_one",),
    )
    story = Story("sid", article, outlet, "fr", "2026-03-04T08:00:00+00:00")
    published = TaggedStory(story, tagging, "hid", "cid", ("a.example", "b.example"))
    assert published.to_json() == {
        "schema_version": 4,
        "story_id": "sid",
        "url": "https://a.example/news/1",
        "fetched_url": "https://a.example/news/1?page=1",
        "feed_url": "https://a.example/feed",
        "title": "Title",
        "text": "Text.",
        "authors": ["Ana Ruiz"],
        "published_at": "2026-03-04T08:00:00+00:00",
        "language": "fr",
        "outlet": outlet.to_json(),
        "duplicate_of": "hid",
        "cluster_id": "cid",
        "syndication": ["a.example", "b.example"],
        "relevant": True,
        "score": 0.1235,
        "platforms": ["tiktok"],
        "state_actors": ["china"],
        "controversies": ["ban_or_restriction"],
        "rules": ["rule_one"],
        "tags": [
            {
                "facet": "platform",
                "value": "tiktok",
                "evidence": [
                    {"field": "title", "start": 0, "end": 5, "snippet": "Title", "term": "title"}
                ],
            }
        ],
    }
    # without a canonical URL, the story is published under the page it was fetched from
    bare = dataclasses.replace(article, canonical_url="")
    plain = dataclasses.replace(published, story=dataclasses.replace(story, article=bare))
    assert plain.to_json()["url"] == "https://a.example/news/1?page=1"


def test_a_published_link_takes_each_field_from_its_own_source() -> None:
    outlet = Outlet("b.example", "B", "DE", "de")
    link = DuplicateLink("sid", "copied", "cluster", "https://b.example/1", "b.example", outlet)
    assert link.to_json() == {
        "record_type": "duplicate_link",
        "schema_version": 4,
        "story_id": "sid",
        "duplicate_of": "copied",
        "cluster_id": "cluster",
        "url": "https://b.example/1",
        "outlet": outlet.to_json(),
    }


# --- SyndicationUpdates ------------------------------------------------------------------------


def test_a_storys_outlets_are_forgotten_a_ttl_after_its_last_sighting_without_timers() -> None:
    # Beam's local runner runs no expiry timers: the list of an always-on run's story kept
    # every outlet for the whole run, where one-shot runs (and Dataflow's timers) forget it.
    fn = _SyndicationFn(ttl_seconds=20.0, gc_timers=False, known={})
    domains, last, timer = FakeBagState(), FakeValueState(), FakeTimer()

    def sighted(role: str, outlet: str, at: float) -> list[tuple[str, ...]]:
        element = ("s1", (role, outlet))
        return [u.syndication for u in fn.process(element, Timestamp(at), domains, last, timer)]

    assert sighted("head", "a.example", 0.0) == []
    assert sighted("copy", "b.example", 7.0) == [("a.example", "b.example")]
    assert sighted("copy", "b.example", 5.0) == []  # late and known: nothing new, no reset
    assert sighted("head", "a.example", 27.0) == []  # 20 s after the last sighting: kept
    assert sighted("head", "a.example", 48.0) == []  # 21 s after it: a new list
    assert sighted("copy", "c.example", 49.0) == [("a.example", "c.example")]
    assert timer.at is None  # no timers asked for
