"""SyndicationUpdates: where else a story ran, as later copies of it arrive.

Consumes ``(story id, (role, outlet domain))`` pairs from ``ClusterStories`` (role ``head``
for the first story of a cluster, ``copy`` for each later copy, in the ``link`` and
``publish`` duplicate modes) and produces a ``SyndicationUpdate`` for the first story each
time an outlet is added to a story already known from another outlet: its ``syndication``
lists every outlet domain that carried the story so far, sorted. A copy from an outlet
already listed adds nothing and sends nothing. Keyed by the first story's id; the state (the
domains) is small and kept ``ttl_seconds`` after the story's last sighting: an event-time
timer clears it where timers run (Dataflow), and a sighting later than that starts a new
list on any runner (Beam's local runner runs no such timers). ``known`` gives the outlets
of stories earlier one-shot runs published (``--state-dir``): a story's state starts from
them, so a copy found today of yesterday's story lists yesterday's outlets too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.coders import FloatCoder, StrUtf8Coder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import (
    BagStateSpec,
    ReadModifyWriteStateSpec,
    TimerSpec,
    on_timer,
)

# SyndicationUpdate is defined with the other records; imported here also so that updates
# pickled under this module's name (elements of a running job) still load.
from transforms.records import SyndicationUpdate
from transforms.ttl import TtlStateFn, gc_time

SYNDICATION_PREFIX = "syndication"

_DOMAINS = BagStateSpec("domains", StrUtf8Coder())
_DOMAINS_PARAM = beam.DoFn.StateParam(_DOMAINS)
# When the story was last sighted (event time, seconds): jobs started before it was kept
# have none, and keep their lists until their timers clear them.
_LAST_SIGHTING = ReadModifyWriteStateSpec("last_sighting", FloatCoder())
_LAST_SIGHTING_PARAM = beam.DoFn.StateParam(_LAST_SIGHTING)
_EXPIRY = TimerSpec("expiry", TimeDomain.WATERMARK)
_EXPIRY_PARAM = beam.DoFn.TimerParam(_EXPIRY)


class _SyndicationFn(TtlStateFn):
    def __init__(
        self, ttl_seconds: float, gc_timers: bool, known: Mapping[str, tuple[str, ...]]
    ) -> None:
        super().__init__(ttl_seconds, gc_timers)
        self._known = dict(known)

    def process(
        self,
        element: tuple[str, tuple[str, str]],
        timestamp: Any = beam.DoFn.TimestampParam,
        domains: Any = _DOMAINS_PARAM,
        last_sighting: Any = _LAST_SIGHTING_PARAM,
        expiry: Any = _EXPIRY_PARAM,
    ) -> Iterator[SyndicationUpdate]:
        story_id, (_role, domain) = element
        now, last = float(timestamp), last_sighting.read()
        if last is not None and now - last > self._ttl:  # as the timer would have cleared it
            domains.clear()
        last_sighting.write(max(now, last or now))
        known = set(domains.read())
        if not known and story_id in self._known:  # a story an earlier run published
            for earlier in self._known[story_id]:
                domains.add(earlier)
            known = set(self._known[story_id])
        if self._gc_timers:
            expiry.set(gc_time(timestamp, self._ttl))
        if domain not in known:  # else nothing new to say (a second copy from that outlet)
            domains.add(domain)
            known.add(domain)
            # the role does not matter: a head that arrives after its copies completes the list
            if len(known) > 1:
                yield SyndicationUpdate(story_id, tuple(sorted(known)))

    @on_timer(_EXPIRY)
    def _expire(
        self, domains: Any = _DOMAINS_PARAM, last_sighting: Any = _LAST_SIGHTING_PARAM
    ) -> None:
        domains.clear()
        last_sighting.clear()


class SyndicationUpdates(beam.PTransform):
    """PCollection[(story id, (role, outlet domain))] -> PCollection[SyndicationUpdate].

    ``role`` is ``"head"`` for the first story of a cluster and ``"copy"`` for a later one.
    """

    def __init__(
        self,
        ttl_seconds: float,
        gc_timers: bool = True,
        known: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__()
        self._ttl = ttl_seconds
        self._gc_timers = gc_timers
        self._known = dict(known or {})

    def expand(self, sightings: beam.PCollection) -> beam.PCollection:
        return (
            sightings
            | "TypeSightings"
            >> beam.Map(lambda kv: kv).with_output_types(tuple[str, tuple[str, str]])
            | "OutletsPerStory"
            >> beam.ParDo(_SyndicationFn(self._ttl, self._gc_timers, self._known))
        )
