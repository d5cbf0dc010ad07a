"""ClaimPerStory: each story's claim kept once, read back for the keys that name it.

Step 3 of ``transforms.dedup.ClusterStories`` (streaming runs and Dataflow), keyed by story
element id, between ``ClaimPerKey`` (keyed by lookup key) and ``VerdictPerStory``. A lookup key
holds a reference to the story that claimed it (its element id and time, 23 bytes) rather than
the claim itself (~52 bytes, under each of ~17 keys); the claim is kept here, once a story.

Consumes ``(element id, messages)`` from ClaimPerKey (a tuple of messages, or one bare message
as ClaimPerKey sent before batching: in flight when a job is updated in place, ``as_messages``)
and produces ``(element id, messages)`` for VerdictPerStory. Messages addressed to this element:

- ``("claim", claim bytes)``: the element took a key; its claim is kept (for the TTL);
- ``("lookup", key, prober's element id)``: a later story probed a key this element holds;
  the prober is answered ``("found", key, claim)``, at once when the claim is here, else when
  it arrives: the key sent the claim when its story took it, in that bundle or an earlier one,
  but nothing keeps two elements in order between steps keyed differently, so the lookup may
  come first. Its verdict is not held up: the claim's message, stamped with the earlier
  story's time, holds the watermark back until it is read, so the prober's decide timer
  cannot fire before the answer. Nothing held (``None``) is the answer only if no claim has
  come by the TTL and a second after the lookup (not expected: it was sent before);
- anything else (``story``, ``found``, ``earlier``) goes on to the verdict step unchanged,
  with no state read.

``BundleOutbox`` (shared with ClaimPerKey) gathers a bundle's messages for one element into one
output per timestamp and window.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.coders import BytesCoder, StrUtf8Coder, TupleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration
from apache_beam.utils.windowed_value import WindowedValue

from transforms.ttl import TtlStateFn, gc_time

# The claim outlives the TTL by this much: a probe exactly the TTL later (still answered, as
# ClaimPerKey and key_answers draw the TTL's edge) finds it whatever order the runner takes
# the timer and the probe's lookup in.
_MARGIN = Duration(seconds=1)


def as_messages(value: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """ClaimPerKey's messages for one story: a tuple of messages, or one bare message as
    jobs before batching sent and kept in state (a streaming job updated in place still holds
    some, in VerdictPerStory's state and in flight: a message starts with its kind, a
    string)."""
    return (value,) if value and isinstance(value[0], str) else value


class BundleOutbox(beam.DoFn):
    """Messages for one story element gathered over a bundle, sent in ``finish_bundle`` as one
    ``(element id, messages)`` output per timestamp and window: every message is what it was,
    only the number of elements (and of the next step's state writes) shrinks. Nothing waits
    longer than the bundle it came in."""

    def start_bundle(self) -> None:
        self._outbox: dict[tuple[str, Any, Any], list[tuple[Any, ...]]] = {}

    def _send(self, uid: Any, timestamp: Any, window: Any, message: tuple[Any, ...]) -> None:
        self._outbox.setdefault((uid, timestamp, window), []).append(message)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        outbox, self._outbox = self._outbox, {}
        for (uid, timestamp, window), messages in outbox.items():
            yield WindowedValue((uid, tuple(messages)), timestamp, (window,))


CLAIM_STATE = ReadModifyWriteStateSpec("claim", BytesCoder())
_CLAIM_PARAM = beam.DoFn.StateParam(CLAIM_STATE)
# (prober's element id, key) of lookups that came before the claim
WAITING_STATE = BagStateSpec("waiting", TupleCoder([StrUtf8Coder(), BytesCoder()]))
_WAITING_PARAM = beam.DoFn.StateParam(WAITING_STATE)
# Not "claim_expiry", ClaimPerKey's: the local runner mixed the two steps' timers up when fused
# (it decoded one's with the other's key coder).
_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)


class ClaimPerStoryFn(TtlStateFn, BundleOutbox):
    """ClaimPerStory, keyed by story element id: keep the element's claim; answer lookups."""

    def process(
        self,
        element: tuple[str, tuple[tuple[Any, ...], ...]],
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
        claim_state: Any = _CLAIM_PARAM,
        waiting: Any = _WAITING_PARAM,
        expiry: Any = _EXPIRY_PARAM,
    ) -> None:
        uid, messages = element[0], as_messages(element[1])
        claims = [m[1] for m in messages if m[0] == "claim"]
        lookups = [(m[2], m[1]) for m in messages if m[0] == "lookup"]
        passed = [m for m in messages if m[0] not in ("claim", "lookup")]
        for message in passed:
            self._send(uid, timestamp, window, message)
        claim = None
        if claims:
            claim = claims[0]
            claim_state.write(claim)
            waited = list(waiting.read())
            if waited:  # seldom: a state write saved for every other claim
                lookups = [*waited, *lookups]
                waiting.clear()
            if self._gc_timers:
                expiry.set(gc_time(timestamp, self._ttl) + _MARGIN)
        elif lookups:
            claim = claim_state.read()
        if claim is None:
            for prober, key in lookups:
                waiting.add((prober, key))
            if lookups and self._gc_timers:  # answered "nothing held" if the claim never comes
                expiry.set(gc_time(timestamp, self._ttl) + _MARGIN)
            return
        for prober, key in lookups:
            self._send(prober, timestamp, window, ("found", key, claim))

    @on_timer(_EXPIRY)
    def _expire(
        self, claim_state: Any = _CLAIM_PARAM, waiting: Any = _WAITING_PARAM
    ) -> Iterator[tuple[str, tuple[tuple[Any, ...], ...]]]:
        pending = list(waiting.read())
        claim_state.clear()
        waiting.clear()
        for prober, key in pending:
            yield prober, (("found", key, None),)
