"""The steps of a one-shot run that write what the next run must know (``--state-dir``).

Consumes the outputs of ``PollFeeds`` (its ``STATE``: each feed's ETag, Last-Modified and
body hash), ``SkipSeenEntries`` (the entries seen, and seen again) and ``ClusterStories``
(each first story's signatures and, unless later copies are dropped, the outlets that
carried it); produces the state directory's pending files, one line of JSON an element
(``transforms.state``'s ``*_line`` functions). ``pipelines.monitor.build`` applies these
steps; the run commits the pending files once the pipeline has finished
(``transforms.state.commit_run_state``). Step labels are the graph's (a running job's update
matches them), so they stay as they are.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from transforms.common import OK
from transforms.dedup import SIGHTINGS, SIGNATURES
from transforms.feeds import STATE
from transforms.state import (
    PENDING_OUTLETS,
    PENDING_SEEN_AGAIN,
    PENDING_SIGNATURES,
    SEEN_AGAIN,
    feed_state_line,
    pending_prefix,
    seen_line,
    sighting_line,
    signature_lines,
)


def write_pending_state(
    state_dir: str, polled: Any, unseen: Any, clustered: Any, duplicates: str
) -> None:
    """Write what the next one-shot run must know into ``state_dir``'s pending files.

    Feed states (ETag, Last-Modified), the entries seen, and each first story's signatures
    (and, unless later copies are dropped, the outlets that carried it); the run commits
    them once the pipeline has finished (``transforms.state.commit_run_state``).
    """
    (
        polled[STATE]
        | "FeedStateToJson" >> beam.Map(feed_state_line)
        | "WriteFeedStates" >> beam.io.WriteToText(pending_prefix(state_dir, "feeds"))
    )
    (
        unseen[OK]
        | "SeenToJson" >> beam.Map(seen_line)
        | "WriteSeenEntries" >> beam.io.WriteToText(pending_prefix(state_dir, "seen"))
    )
    (
        unseen[SEEN_AGAIN]
        | "SeenAgainToJson" >> beam.Map(seen_line)
        | "WriteSeenAgain" >> beam.io.WriteToText(pending_prefix(state_dir, PENDING_SEEN_AGAIN))
    )
    (
        clustered[SIGNATURES]
        | "SignaturesToJson" >> beam.Map(signature_lines)
        | "WriteSignatures" >> beam.io.WriteToText(pending_prefix(state_dir, PENDING_SIGNATURES))
    )
    if duplicates != "drop":  # the outlets that carried each first story
        (
            clustered[SIGHTINGS]
            | "SightingsToJson" >> beam.Map(sighting_line)
            | "WriteOutlets" >> beam.io.WriteToText(pending_prefix(state_dir, PENDING_OUTLETS))
        )
