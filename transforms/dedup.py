"""ClusterStories: one story, one alert, however many outlets carry it.

``ClusterStories`` consumes ``TaggedStory`` records and produces, per story, exactly one of: the
story on the main output (the first of its cluster, with ``cluster_id``; in ``publish`` mode
also later copies, with ``duplicate_of``), a :class:`DuplicateLink` on the main output
(``link`` mode), or ``Discard(stage="dedup", reason="duplicate")`` (``drop`` mode). Failures
(a text that cannot be fingerprinted) go to ``failures``. The logic is
``transforms.minhash``; the graph is four steps, none with a global key:

1. ``Fingerprint`` (stateless): MinHash the story; emit one probe ``(lookup key, (element
   id, claim))`` per key: the canonical URL, the exact text hash and 16 LSH bands (a
   too-short or boilerplate-only text has the URL key only). The first probe also carries the
   story, which steps 2 and 3 forward to step 4, so each step has a single input.
2. ``ClaimPerKey`` (keyed by lookup key, so it scales out by band bucket;
   ``transforms.dedup_keys``): the state names the
   earliest story seen under the key (its element id and time: 23 bytes) and the later stories
   told of it (the last 32). Each probe gets back what the key held before it (or nothing),
   and claims the key if it was empty, expired, or held by a later story. When an earlier story
   reaches a key that a later one had claimed, the later one, and every later story told of
   its claim, also gets a correction (``earlier``, with the earlier story's claim, which its
   probe carries), unless the two are more than ``ttl_seconds`` apart (the earlier claim would
   have expired): three copies of one poll met in the order second, third, first all name the
   first. Claims expire ``ttl_seconds`` after they were made; an event-time timer clears them.
   The messages a bundle produces for one story travel as one element (a bundle often holds
   all of a story's probes: one message instead of nineteen).
3. ``ClaimPerStory`` (keyed by element id, ``transforms.dedup_store``): keeps the claim (story
   id, time, 2-bit MinHash sketch, title bits: ~52 bytes) of a story that took a key, once,
   where ClaimPerKey kept it under each of ~17 keys (~1.75 KB a story then, ~0.9 KB now);
   a probe that found a key held is answered from here with the holder's claim (one more hop
   for those; the rest pass through).
4. ``VerdictPerStory`` (keyed by element id): buffers the story and its answers until the
   watermark passes the story's time (every story of the same poll has probed by then) and
   every key has answered, then takes one verdict (``dedup_claims.pick_verdict``): the
   earliest earlier story that passes verification (similarity and boilerplate guards) is
   what the story duplicates. Because a candidate must be earlier by ``(time, story id)``,
   two copies that race through different buckets cannot both be called duplicates, nor both
   be first.

Local one-shot runs (bounded input, ``grouped=True``) replace steps 2 to 4 by two
GroupByKeys, still keyed: ``GroupProbes`` by lookup key (all of a key's probes are there at
once, so ``key_answers`` sorts them by claim order and tells each story the earliest live claim
before it: what the stateful step reaches once its corrections arrive), then ``GroupAnswers``
by element id, after which the story's verdict is taken. Same verdicts, no state read per
probe (on Beam's local runner that read was the largest part of clustering: a 2,000-article
run ~2 s faster). No step gathers every story under one key: a version that did (one
GroupByKey of every story, the probes regrouped in plain Python) ended a 2,000-article run
~0.5 s sooner, and was given up for the rule that clustering scales out by key. Streaming runs
and Dataflow keep the stateful steps.

Known limit: a copy claims the empty buckets it reaches before its verdict is known, with its
own id as cluster id; a third story that resembles only that copy gets the copy's id as
``duplicate_of`` and ``cluster_id`` (the in-process ``minhash_index.Index`` resolves it to the
head). And probes of one key further apart than ``ttl_seconds`` that meet out of order (batch
runs on Dataflow, with claims of earlier runs near the TTL's edge) may be answered otherwise
than the grouped path answers them (``tests/test_dedup_orders.py`` says how, and leaves them
out of its comparison).
In ``link`` and ``publish`` modes, each later copy also yields a ``SyndicationUpdate`` of the
first story (``transforms.syndication``), listing every outlet that carried it so far.
``prior_claims`` (one-shot runs with ``--state-dir``) seeds the keys with the claims of stories
published by earlier runs, so a copy of yesterday's story is recognised.

Time: every stateful step here reads "now" from ``clock()`` when a clock is injected, else from
the element's event timestamp. Expiry is decided by comparing that "now" with the stored time
(so it is exact under TestStream or a fake clock, whatever the runner does with timers); the
timers only garbage-collect state that nobody asks about any more.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    TimerSpec,
    on_timer,
)
from apache_beam.utils.timestamp import Duration

from transforms.common import DISCARDED, FAILURES, OK
from transforms.dedup_claims import make_claim
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
    # Elements of a running streaming job, pickled before DuplicateLink moved to records.py,
    # name it here: an in-place update must still find it.
    DuplicateLink,  # noqa: F401
    Failure,
    TaggedStory,
)
from transforms.syndication import SyndicationUpdates
from transforms.ttl import DEFAULT_TTL_SECONDS, Clock, TtlStateFn, gc_time, now_from

DUPLICATE_MODES = ("drop", "link", "publish")
# Extra outputs of ClusterStories: SIGNATURES (lookup keys and claim of each first story, for
# --state-dir) and SyndicationUpdate records (link and publish modes).
UPDATES = "syndication_updates"


def _uid(story: TaggedStory, seen_at: float) -> str:
    """A per-element id: the story id plus a hash of when, which feed entry and what
    (re-deliveries collide). The entry matters: in a streaming run two feeds listing one
    article in one poll give two copies with one time and one text, which were one element
    whose second probe found its own claim (so neither copy was published)."""
    article = story.story.article
    entry = f"{article.entry.feed_url}|{article.entry.key}"
    raw = f"{seen_at!r}|{entry}|{article.title}|{article.text}".encode()
    return f"{story.story_id}/{hashlib.sha256(raw).hexdigest()[:12]}"


class _ProbeFn(beam.DoFn):
    """Step 1 (Fingerprint): fingerprint a story; send a probe to each lookup key.

    The first probe also carries the story itself, which ClaimPerKey forwards to the verdict
    step, so that step has one input (a Flatten of two inputs into a stateful step made
    Beam's local runner hold its data until a streaming run ended).
    """

    def __init__(self, params: DedupParams, clock: Clock | None) -> None:
        self._params = params
        self._clock = clock

    def process(self, story: TaggedStory, timestamp: Any = beam.DoFn.TimestampParam) -> Any:
        now = now_from(self._clock, timestamp)
        article = story.story.article
        try:
            fp = fingerprint(article.title, article.text, self._params)
            # A story with no URL to look it up by (none today: every fetched page has one)
            # is looked up by its id instead, so that the stateful steps decide it too.
            keys = lookup_keys(fp, story_url(story), self._params) or [url_key(story.story_id)]
        except Exception as exc:  # noqa: BLE001 - one odd text must not stop the stream
            failure = Failure.crashed(
                "dedup", story_url(story), "fingerprint_error", exc, article.title
            )
            yield beam.pvalue.TaggedOutput(FAILURES, failure)
            return
        claim = make_claim(story.story_id, story.story_id, now, fp).encode()
        uid = _uid(story, now)
        for n, key in enumerate(keys):
            # The story travels and waits in state as pickled bytes: Beam's state cache
            # weighs every value it holds by walking its object graph, and a record's
            # graph reaches its class and module (measured: half of a local run's time).
            payload = (pickle.dumps(story, pickle.HIGHEST_PROTOCOL), len(keys)) if n == 0 else None
            yield key, (uid, claim, payload)


_PROBES = "probes"


_INBOX = BagStateSpec("inbox", PickleCoder())
_INBOX_PARAM = beam.DoFn.StateParam(_INBOX)
_DECIDE = TimerSpec("decide", TimeDomain.WATERMARK)
_DECIDE_PARAM = beam.DoFn.TimerParam(_DECIDE)
_FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)
_FLUSH_PARAM = beam.DoFn.TimerParam(_FLUSH)
# The verdict waits until the watermark has passed the story's own time by this much: by then
# every story with the same or an earlier time has probed every key (copies carried by two
# feeds of one poll share a timestamp), so the order in which probes met does not matter.
_SETTLE = Duration(micros=1)


class _VerdictFn(TtlStateFn):
    """Step 4 (VerdictPerStory), keyed by story element: once settled, one verdict, one output.

    Answers are the keys' replies (``found``) and corrections from keys that an earlier
    story reached after this one had claimed them (``earlier``). The verdict is taken when
    the watermark passes the story's time (``_DECIDE``) if every key has answered by then,
    else when the state expires (``_FLUSH``); so whichever copy's probes arrive first, the
    earliest copy wins.
    """

    def __init__(self, params: DedupParams, mode: str, ttl_seconds: float) -> None:
        super().__init__(ttl_seconds)
        self._verdicts = Verdicts(params, mode)

    def process(
        self,
        element: tuple[str, tuple[tuple[Any, ...], ...]],
        timestamp: Any = beam.DoFn.TimestampParam,
        inbox: Any = _INBOX_PARAM,
        decide: Any = _DECIDE_PARAM,
        flush: Any = _FLUSH_PARAM,
    ) -> None:
        messages = as_messages(element[1])
        inbox.add(messages)
        kinds = {m[0] for m in messages}
        if "story" in kinds:
            decide.set(timestamp + _SETTLE)
        if kinds - {"found"}:
            # A key's answer carries its probe's timestamp, which is the story's: the timer
            # set for the story covers it. Corrections ("earlier") carry the earlier story's.
            flush.set(gc_time(timestamp, self._ttl))

    @staticmethod
    def _read(inbox: Any) -> list[tuple[Any, ...]]:
        return [message for held in inbox.read() for message in as_messages(held)]

    @on_timer(_DECIDE)
    def _on_settled(self, inbox: Any = _INBOX_PARAM) -> Iterator[Any]:
        messages = self._read(inbox)
        stories = [m for m in messages if m[0] == "story"]
        answered = sum(1 for m in messages if m[0] == "found")
        if not stories or answered < sum(m[3] for m in stories):
            return  # some key has not answered yet: the flush timer decides
        inbox.clear()
        yield from self._verdicts.decide(messages)

    @on_timer(_FLUSH)
    def _flush(self, inbox: Any = _INBOX_PARAM) -> Iterator[Any]:
        messages = self._read(inbox)
        inbox.clear()
        yield from self._verdicts.decide(messages)


class ClusterStories(beam.PTransform):
    """PCollection[TaggedStory] -> ok: TaggedStory | DuplicateLink, discarded, failures.

    Args:
        ttl_seconds: how long a story's claims are kept (default 7 days).
        mode: ``drop`` later copies (a ``duplicate`` discard), ``link`` them (a
            :class:`DuplicateLink` on the main output) or ``publish`` them in full with
            ``duplicate_of`` set.
        clock: optional ``() -> seconds since the epoch``; default: the element's event time.
        params: near-duplicate thresholds (``transforms.minhash.DedupParams``).
        gc_timers: clear expired state with event-time timers. Pass False on Beam's local
            runner, where event-time timers fire as soon as they are set (the watermark
            jumps ahead): the TTL is still enforced when a key is seen again, but state is
            then kept for the whole run.
        grouped: for bounded input (one-shot runs on the local runner), replace the two
            stateful steps by two GroupByKeys (by lookup key, then by element id): every
            probe of a key is there at once, so each story's answers come from sorting them
            (``key_answers``), with no state read per probe (same verdicts). Not for
            streaming input.
        prior_claims: ``(lookup key, claim)`` of the stories earlier one-shot runs published
            (``--state-dir``), so that a copy of one is found.
        prior_outlets: the outlets that carried those stories, by story id, so that such a
            copy's syndication update lists them too.

    Outputs also ``SIGNATURES`` (a first story's lookup keys, claim and entry link) and
    ``SIGHTINGS`` (``(first story's id, (role, outlet domain))``), for the state directory.
    """

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        mode: str = "drop",
        clock: Clock | None = None,
        params: DedupParams | None = None,
        gc_timers: bool = True,
        prior_claims: Sequence[tuple[bytes, bytes]] = (),
        grouped: bool = False,
        prior_outlets: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__()
        if mode not in DUPLICATE_MODES:
            raise ValueError(f"duplicates mode must be one of {DUPLICATE_MODES}, not {mode!r}")
        self._ttl = ttl_seconds
        self._mode = mode
        self._clock = clock
        self._params = params or DedupParams()
        self._gc_timers = gc_timers
        self._prior_claims = list(prior_claims)
        self._grouped = grouped
        self._prior_outlets = dict(prior_outlets or {})

    def expand(self, stories: beam.PCollection) -> Any:
        probed = stories | "Fingerprint" >> beam.ParDo(
            _ProbeFn(self._params, self._clock)
        ).with_outputs(FAILURES, main=_PROBES)
        probes = probed[_PROBES]
        if self._prior_claims:  # one-shot runs: what earlier runs published
            priors = stories.pipeline | "PriorClaims" >> beam.Create(
                [(key, (PRIOR_RUN, claim, None)) for key, claim in self._prior_claims]
            )
            probes = (probes, priors) | "WithPriorClaims" >> beam.Flatten()
        typed = probes | "TypeProbes" >> beam.Map(lambda kv: kv).with_output_types(
            tuple[bytes, Any]
        )
        outputs = (DISCARDED, SIGNATURES, SIGHTINGS)
        if self._grouped:
            ttl = self._ttl
            verdict = Verdicts(self._params, self._mode)
            verdicts = (
                typed
                | "GroupProbes" >> beam.GroupByKey()
                | "AnswersPerKey"
                >> beam.FlatMap(lambda kv: key_answers(kv[0], kv[1], ttl)).with_output_types(
                    tuple[str, Any]
                )
                | "GroupAnswers" >> beam.GroupByKey()
                | "VerdictPerStory"
                >> beam.FlatMap(verdict.decide_group).with_outputs(*outputs, main=OK)
            )
        else:
            verdicts = (
                typed
                | "ClaimPerKey" >> beam.ParDo(ClaimPerKeyFn(self._ttl, self._gc_timers))
                | "TypeAnswers" >> beam.Map(lambda kv: kv).with_output_types(tuple[str, Any])
                | "ClaimPerStory" >> beam.ParDo(ClaimPerStoryFn(self._ttl, self._gc_timers))
                | "TypeMessages" >> beam.Map(lambda kv: kv).with_output_types(tuple[str, Any])
                | "VerdictPerStory"
                >> beam.ParDo(_VerdictFn(self._params, self._mode, self._ttl)).with_outputs(
                    *outputs, main=OK
                )
            )
        updates = verdicts[SIGHTINGS] | "Syndication" >> SyndicationUpdates(
            self._ttl, self._gc_timers, self._prior_outlets
        )
        return {
            OK: verdicts[OK],
            DISCARDED: verdicts[DISCARDED],
            FAILURES: probed[FAILURES],
            SIGNATURES: verdicts[SIGNATURES],
            SIGHTINGS: verdicts[SIGHTINGS],
            UPDATES: updates,
        }
