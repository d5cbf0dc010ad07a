"""ClaimPerKey: the earliest story under each lookup key, and what each prober is told.

Step 2 of ``transforms.dedup.ClusterStories`` (streaming runs and Dataflow), keyed by lookup
key (a story's canonical URL, its exact text, its 16 LSH bands), between ``Fingerprint`` and
``ClaimPerStory`` (``transforms.dedup_store``). Consumes probes ``(key, (element id, claim
bytes, payload))``; produces ``(element id, messages)`` for ClaimPerStory: the story itself on
its way to its verdict (``story``), what the key held before each prober (``found``: nothing,
or the claim when the key holds it itself; else a ``lookup`` addressed to the holder, which
ClaimPerStory answers), the holder's ``claim`` when a story takes a key, and corrections
(``earlier``) to later stories when an earlier one takes a key after them. The rules are those
of the grouped path (``transforms.dedup_verdicts.key_answers``), reached once corrections
arrive; ``tests/test_dedup_orders.py`` compares the two in shuffled orders.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer

from transforms.dedup_claims import Claim, decode_refs, encode_refs
from transforms.dedup_store import BundleOutbox
from transforms.dedup_verdicts import PRIOR_RUN
from transforms.ttl import TtlStateFn, gc_time

# What a key holds for the earliest story seen under it, and for the later stories told of it
# (``(element id, time)`` each: told of an earlier story that takes the key after them; the
# last _MAX_FOLLOWERS of them are kept: a wire story carried by more outlets in one poll, or a
# key that text boilerplate fills, keeps no more). The value is one of:
# - ``encode_refs([(element id, time), *later])``: bytes, 23 a story; its claim is kept once,
#   by ClaimPerStory, and looked up there;
# - ``(element id, claim bytes, later)``: the claim itself, for a claim remembered from an
#   earlier one-shot run (one element id, PRIOR_RUN, for all of them: nothing to look up),
#   and what every key held in jobs before ClaimPerStory (jobs before those kept two).
_MAX_FOLLOWERS = 32
HELD_STATE = ReadModifyWriteStateSpec("held", PickleCoder())
_HELD_PARAM = beam.DoFn.StateParam(HELD_STATE)
_CLAIM_EXPIRY = TimerSpec("claim_expiry", TimeDomain.WATERMARK)
_CLAIM_EXPIRY_PARAM = beam.DoFn.TimerParam(_CLAIM_EXPIRY)


def _read_held(value: Any) -> tuple[str | None, tuple[float, str] | None, bytes | None, Any]:
    """A key's state as (element id, claim order, claim bytes or None, later stories). A
    reference's claim order is its time and the story id that begins its element id (``_uid``:
    all but the last "/" and the hash after it; a story id may hold a "/")."""
    if value is None:
        return None, None, None, ()
    if isinstance(value, bytes):
        (uid, at), *later = decode_refs(value)
        story_id, slash, _hash = uid.rpartition("/")
        return uid, (at, story_id if slash else uid), None, tuple(later)
    uid, raw, *rest = value
    return uid, Claim.decode(raw).order(), raw, rest[0] if rest else ()


class ClaimPerKeyFn(TtlStateFn, BundleOutbox):
    """ClaimPerKey, keyed by lookup key: keep the earliest story's reference; tell
    each prober what was held (by way of ClaimPerStory, which has the claim).

    Messages are gathered per story element over the bundle (``BundleOutbox``).
    """

    def process(
        self,
        element: tuple[bytes, tuple[str, bytes, Any]],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
        held_state: Any = _HELD_PARAM,
        expiry: Any = _CLAIM_EXPIRY_PARAM,
    ) -> None:
        key, (uid, claim_bytes, payload) = element
        prior = uid == PRIOR_RUN  # a claim remembered from an earlier one-shot run
        if payload is not None:  # the story itself, on its way to its verdict
            story, n_keys = payload
            self._send(uid, timestamp, window, ("story", story, claim_bytes, n_keys))
        new = Claim.decode(claim_bytes)
        held_uid, held_order, raw, followers = _read_held(held_state.read())
        if held_order is not None and new.seen_at - held_order[0] > self._ttl:
            held_uid, held_order, raw, followers = None, None, None, ()
        # Ties in claim order (one article listed twice, fetched at one time: the same story
        # id and time) go to the element id, as in key_answers: one of them is the first.
        replaced = held_order is None or (new.order(), uid) < (held_order, held_uid)
        if replaced:
            # An earlier story reached this key after later ones were told of the claim it
            # takes: tell each of them (the one that held it, and those it was answered
            # to), whose verdicts wait for the watermark (transforms.dedup's _VerdictFn). Not
            # one older than the earlier story by more than the TTL: it would not have found
            # it held, had it come first (as key_answers says).
            later = [(held_uid, held_order[0])] if held_order and held_uid is not None else []
            later = [
                (u, at)
                for u, at in [*later, *followers]
                if u not in (uid, PRIOR_RUN) and at - new.seen_at <= self._ttl
            ]
            for later_uid, _at in later:
                self._send(later_uid, timestamp, window, ("earlier", key, claim_bytes))
            followers = tuple(later[-_MAX_FOLLOWERS:])
            if prior:
                held_state.write((uid, claim_bytes, followers))
            else:
                held_state.write(encode_refs([(uid, new.seen_at), *followers]))
                self._send(uid, timestamp, window, ("claim", claim_bytes))
            if self._gc_timers:
                expiry.set(gc_time(timestamp, self._ttl))
        elif not prior and held_uid != uid:
            # Told of the held claim: corrected too if an earlier story takes the key.
            followers = (*followers, (uid, new.seen_at))[-_MAX_FOLLOWERS:]
            if raw is None and held_uid is not None and held_order is not None:
                held_state.write(encode_refs([(held_uid, held_order[0]), *followers]))
            else:  # the claim itself, as it was held
                held_state.write((held_uid, raw, followers))
        if prior:
            return
        if replaced or held_uid == uid:
            # Nothing was held before it: this claim comes first, or is its own from a
            # delivery before.
            self._send(uid, timestamp, window, ("found", key, None))
        elif raw is not None:
            self._send(uid, timestamp, window, ("found", key, raw))
        else:  # ClaimPerStory answers with the held story's claim
            self._send(held_uid, timestamp, window, ("lookup", key, uid))

    @on_timer(_CLAIM_EXPIRY)
    def _expire(self, held_state: Any = _HELD_PARAM) -> None:
        held_state.clear()
