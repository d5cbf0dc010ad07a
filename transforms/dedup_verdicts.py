"""The clustering's verdicts: a story's messages in, its one output out.

Consumes, per story, the messages ``transforms.dedup`` gathers for it: the story itself
(``story``), what each of its lookup keys held before it (``found``) and corrections from keys
an earlier story reached later (``earlier``). Produces the story's one outcome (the story with
``cluster_id``, a ``DuplicateLink`` or a ``duplicate`` discard, by mode) and, for a first
story, its signatures; in ``link`` and ``publish`` modes also a sighting for the syndication
step. ``Verdicts`` serves both of ``ClusterStories``' paths: the stateful ``VerdictPerStory``
(streaming, Dataflow) once settled, and the grouped path of bounded runs once its messages
(from ``key_answers``, key by key) are grouped by story.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from transforms.common import DISCARDED
from transforms.dedup_claims import Claim, pick_verdict
from transforms.minhash import DedupParams
from transforms.records import Discard, DuplicateLink, TaggedStory
from transforms.urls import canonicalize_url

# Extra outputs of the verdict step: (lookup keys, claim) of each first story, for
# --state-dir; (head story id, (role, outlet)) sightings for the syndication step.
SIGNATURES = "signatures"
SIGHTINGS = "sightings"
PRIOR_RUN = ""  # the element id of claims remembered from an earlier run


def story_url(story: TaggedStory) -> str:
    """The canonical URL a story is looked up and reported by."""
    article = story.story.article
    return canonicalize_url(article.canonical_url or article.final_url or article.url)


class Verdicts:
    """A story's one verdict and output from its messages (``story``, ``found``, ``earlier``):
    what VerdictPerStory does once settled, and the grouped path does once grouped."""

    def __init__(self, params: DedupParams, mode: str) -> None:
        self._params = params
        self._mode = mode

    def decide_group(self, element: tuple[str, Iterable[tuple[Any, ...]]]) -> Any:
        """``decide`` for ``(element id, messages)`` as GroupByKey gives them."""
        return self.decide(list(element[1]))

    def decide(self, messages: list[tuple[Any, ...]]) -> Any:
        """The verdict on one story and what it yields.

        Args:
            messages: the story's ``story`` message(s) (the same story delivered twice gives
                two) and its keys' ``found`` and ``earlier`` answers.

        Yields:
            The story (first of its cluster, or a copy in ``publish`` mode), a
            ``DuplicateLink`` (``link``) or a ``duplicate`` discard (``drop``); tagged
            ``SIGNATURES`` for a first story; tagged ``SIGHTINGS`` unless ``drop``. Nothing
            for a late correction of a story already decided.
        """
        stories = [m for m in messages if m[0] == "story"]
        if not stories:
            return  # a late correction for a story already decided
        _, first_bytes, claim_bytes, _ = stories[0]
        first = pickle.loads(first_bytes)
        held = [
            (key, Claim.decode(raw))
            for kind, key, raw in (m for m in messages if m[0] in ("found", "earlier"))
            if raw is not None
        ]
        own = Claim.decode(claim_bytes)
        if any(c.story_id == own.story_id and c.order() <= own.order() for _, c in held):
            # The same article (the same canonical URL) claimed before it: listed again, in
            # the same feed under another title or in another feed; not a copy of itself.
            yield from self._listed_again(stories)
            return
        verdict = pick_verdict(own, held, self._params)
        yield from self._emit(first, verdict.cluster_id, verdict.duplicate_of)
        if verdict.duplicate_of is None:  # what a later run must remember of a first story
            keys = tuple(m[1] for m in messages if m[0] == "found")
            if keys:  # with its entry's link: a story the next run retries is not remembered
                link = first.story.article.entry.link
                yield beam.pvalue.TaggedOutput(SIGNATURES, (keys, claim_bytes, link))
        if self._mode != "drop":
            head = verdict.duplicate_of or first.story_id
            role = "copy" if verdict.duplicate_of else "head"
            sighting = (head, (role, first.story.outlet.domain))
            yield beam.pvalue.TaggedOutput(SIGHTINGS, sighting)
        yield from self._listed_again(stories[1:])  # the same element delivered twice

    @staticmethod
    def _listed_again(stories: list[tuple[Any, ...]]) -> Iterator[Any]:
        """A ``duplicate_url`` discard for each ``story`` message: an article already claimed
        (its story id) that reached the clustering again. It was published as a copy of
        itself (``duplicate_of`` its own id), or both were published when fetched at once."""
        for _, again, _, _ in stories:
            story = pickle.loads(again)
            detail = f"the same article as story {story.story_id}, listed again"
            yield beam.pvalue.TaggedOutput(
                DISCARDED, Discard("dedup", story_url(story), "duplicate_url", detail)
            )

    def _emit(self, story: TaggedStory, cluster_id: str, duplicate_of: str | None) -> Any:
        if duplicate_of is None:
            yield dataclasses.replace(story, cluster_id=cluster_id)
        elif self._mode == "publish":
            yield dataclasses.replace(story, cluster_id=cluster_id, duplicate_of=duplicate_of)
        elif self._mode == "link":
            link = DuplicateLink(
                story.story_id,
                duplicate_of,
                cluster_id,
                story_url(story),
                story.story.outlet.domain,
                story.story.outlet,
                story.story.article.entry.link,
            )
            yield link
        else:
            yield beam.pvalue.TaggedOutput(
                DISCARDED,
                Discard("dedup", story_url(story), "duplicate", f"duplicate_of={duplicate_of}"),
            )


def key_answers(
    key: bytes, probes: Iterable[tuple[str, bytes, Any]], ttl_seconds: float
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """ClaimPerKey's answers for one key, from all of its probes at once (bounded runs).

    The probes are taken in claim order (time, then story id): each story is told the
    earliest live claim before its own (``found``, or nothing held), and a story's first
    probe forwards the story itself (``story``). That is what the stateful step converges
    to once its corrections (``earlier``) arrive, without a state read per probe; claims
    remembered from earlier runs (``PRIOR_RUN``) take part but get no answer.

    Args:
        key: the lookup key.
        probes: ``(element id, claim bytes, payload)`` from the Fingerprint step.
        ttl_seconds: a claim older than this (by the later story's time) no longer holds.

    Yields:
        ``(element id, message)`` pairs for the verdict step.
    """
    ordered = sorted(  # ties (one article listed twice at one time) by element id
        ((Claim.decode(raw), uid, raw, payload) for uid, raw, payload in probes),
        key=lambda row: (row[0].order(), row[1]),
    )
    held: tuple[Claim, bytes, str] | None = None
    for claim, uid, raw, payload in ordered:
        if payload is not None:
            story, n_keys = payload
            yield uid, ("story", story, raw, n_keys)
        if held is not None and claim.seen_at - held[0].seen_at > ttl_seconds:
            held = None
        if uid != PRIOR_RUN:  # an element delivered twice is not told its own claim
            earlier = held[1] if held is not None and held[2] != uid else None
            yield uid, ("found", key, earlier)
        if held is None:
            held = (claim, raw, uid)
