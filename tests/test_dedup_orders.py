"""The stateful clustering (ClaimPerKey, ClaimPerStory, then the verdict) against the grouped
path (``key_answers``, then ``Verdicts``), in plain Python, for many arrival orders.

Random small cases: stories sharing lookup keys (an article listed twice shares its URL key),
ties (one time; one story id from two feeds), an element delivered twice, the TTL's edge,
claims remembered from an earlier run (``PRIOR_RUN``) and keys whose state a job before
ClaimPerStory wrote (the claim itself, with or without the later stories). Each case's probes
reach ClaimPerKey shuffled and cut into bundles, and ClaimPerKey's outputs reach ClaimPerStory
shuffled and cut into bundles again (the two steps are keyed differently: no order holds
between them, and a lookup often comes before the claim it needs); the verdicts are taken
once every message is in, as the watermark has it (``transforms.dedup_store``). Every story's
outcome (link mode) must be the grouped path's.

Left out: probes of one key further apart than the TTL that meet out of order. There the
stateful step can differ (before ClaimPerStory too): a story that claimed a key first loses
it to one more than the TTL older, which neither corrects it nor keeps it among the stories
told of the key; a story earlier than the first (within the TTL) then finds that claim expired
and takes the key without correcting the first, which the grouped path tells of it.
"""

from __future__ import annotations

import pickle
import random
from typing import Any

from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.timestamp import Timestamp

from tests.test_dedup_cores import WINDOW, FakeBagState, FakeTimer, FakeValueState, _element
from tests.test_dedup_pipeline import tagged_story, wire_text
from transforms.dedup_claims import Claim
from transforms.dedup_keys import ClaimPerKeyFn
from transforms.dedup_store import ClaimPerStoryFn
from transforms.dedup_verdicts import PRIOR_RUN, SIGNATURES, Verdicts, key_answers
from transforms.minhash import DedupParams, url_key

PARAMS = DedupParams()
# URL keys: a claim found under one needs no verification, so a story's verdict is the
# earliest earlier claim its keys told it of: what the two paths must agree on.
KEYS = [url_key(f"https://k.example/{n}") for n in range(4)]
TTL = 10.0


def _story(n: int) -> Any:
    return tagged_story(f"https://s.example/{n}", f"Story {n}", wire_text(n, 32))


def _case(rng: random.Random) -> tuple[list[Any], dict[bytes, Any], list[Any]]:
    """Probes ``(key, (element id, claim, payload))`` (each story's first carries it), the
    keys' state from before (an old job's claim itself), and probes of that state's stories
    for the grouped path (which sees every claim at once)."""
    # ties, and the TTL's edge (a claim exactly the TTL older still holds); no probes further
    # apart than the TTL: met out of order, those can differ (see the module's docstring)
    times = [0.0, 5.0, 10.0, 10.0]
    stories = [_story(n) for n in range(rng.randint(2, 5))]
    probes: list[Any] = []
    elements: list[tuple[str, bytes, list[bytes], bytes]] = []
    for n in range(rng.randint(2, 6)):
        story = rng.choice(stories)  # the same story id twice: one article, two feeds
        at = rng.choice(times)
        claim = Claim(story.story_id, story.story_id, at).encode()
        uid = _element(f"e{n}", claim)
        # its own URL key (an article listed twice shares it), and some shared keys
        keys = [url_key(story.story.article.url), *rng.sample(KEYS, rng.randint(0, len(KEYS)))]
        elements.append((uid, claim, keys, pickle.dumps(story)))
    if rng.random() < 0.3:  # one element delivered twice
        elements.append(rng.choice(elements))
    for uid, claim, keys, story in elements:
        for n, key in enumerate(keys):
            payload = (story, len(keys)) if n == 0 else None
            probes.append((key, (uid, claim, payload)))
    if rng.random() < 0.3:  # a claim remembered from an earlier run
        claim = Claim("p" * 16, "p" * 16, rng.choice(times)).encode()
        probes.append((rng.choice(KEYS), (PRIOR_RUN, claim, None)))
    old: dict[bytes, Any] = {}
    seen_before: list[Any] = []
    if rng.random() < 0.3:  # a key as a job before ClaimPerStory left it
        claim = Claim("o" * 16, "o" * 16, rng.choice(times)).encode()
        key, uid = rng.choice(KEYS), _element("old", claim)
        # (element id, claim, later stories); jobs before those kept the first two
        old[key] = (uid, claim, ()) if rng.random() < 0.5 else (uid, claim)
        seen_before.append((key, (uid, claim, None)))
    return probes, old, seen_before


def _bundles(rng: random.Random, items: list[Any]) -> list[list[Any]]:
    items = rng.sample(items, len(items))
    cuts = sorted(rng.sample(range(1, len(items)), rng.randint(0, len(items) - 1)))
    return [items[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]


class _Waiting(FakeBagState):
    """ClaimPerStory's waiting lookups, counting those that came before their claim."""

    added = 0

    def add(self, value: Any) -> None:
        _Waiting.added += 1
        super().add(value)


def _stateful(rng: random.Random, probes: list[Any], old: dict[bytes, Any]) -> dict[str, list]:
    claim_fn, store_fn = ClaimPerKeyFn(TTL, True), ClaimPerStoryFn(TTL, True)
    held: dict[bytes, FakeValueState] = {}
    sent: list[Any] = []
    for bundle in _bundles(rng, probes):
        claim_fn.start_bundle()
        for key, (uid, claim, payload) in bundle:
            at = Timestamp(Claim.decode(claim).seen_at)
            state = held.setdefault(key, FakeValueState(old.get(key)))
            claim_fn.process((key, (uid, claim, payload)), at, WINDOW, state, FakeTimer())
        sent += claim_fn.finish_bundle()
    stored: dict[str, Any] = {}
    inbox: dict[str, list[Any]] = {}
    outputs = []
    for bundle in _bundles(rng, sent):
        store_fn.start_bundle()
        for wv in bundle:
            uid, messages = wv.value
            state = stored.setdefault(uid, (FakeValueState(), _Waiting(), FakeTimer()))
            store_fn.process((uid, messages), wv.timestamp, WINDOW, *state)
        outputs += [wv.value for wv in store_fn.finish_bundle()]
    for wv in sent:  # a lookup comes before its claim's expiry (TTL and margin), whatever
        for message in wv.value[1]:  # the runner does first: its time holds the watermark
            if message[0] == "lookup":
                assert wv.timestamp < stored[wv.value[0]][2].at, message
    for claim, waiting, _timer in stored.values():  # the expiry timers, once all is in
        outputs += list(store_fn._expire(claim, waiting))
    for uid, messages in outputs:
        inbox.setdefault(uid, []).extend(messages)
    return inbox


def _grouped(probes: list[Any], seen_before: list[Any]) -> dict[str, list]:
    by_key: dict[bytes, list[Any]] = {}
    for key, probe in [*seen_before, *probes]:
        by_key.setdefault(key, []).append(probe)
    inbox: dict[str, list[Any]] = {}
    for key, group in by_key.items():
        for uid, message in key_answers(key, group, TTL):
            inbox.setdefault(uid, []).append(message)
    return inbox


def _outcome(messages: list[Any]) -> list[Any]:
    """A story's outputs (link mode), comparable."""
    out = []
    for o in Verdicts(PARAMS, "link").decide(messages):
        tag, value = (o.tag, o.value) if isinstance(o, TaggedOutput) else ("", o)
        if tag == SIGNATURES:  # its keys as they answered: in the order they came
            value = (sorted(value[0]), *value[1:])
        out.append((tag, repr(value)))
    return sorted(out)


def test_the_stateful_steps_give_the_grouped_paths_verdicts_in_any_order() -> None:
    differ = []
    for seed in range(600):
        rng = random.Random(seed)
        probes, old, seen_before = _case(rng)
        grouped = _grouped(probes, seen_before)
        stateful = _stateful(rng, probes, old)
        expected = {uid: _outcome(messages) for uid, messages in grouped.items()}
        got = {uid: _outcome(messages) for uid, messages in stateful.items()}
        if {u: o for u, o in got.items() if o} != {u: o for u, o in expected.items() if o}:
            differ.append(seed)
    assert differ == []  # the seeds whose outcomes differ
    assert _Waiting.added > 50  # lookups that reached ClaimPerStory before the claim
