"""The sinks: each record counted once under its names, written as one JSON line.

Plain-Python tests for the counting functions (their effect on the progress line; Beam's
counters only exist inside a run), the JSON line and the streaming writer; two small
pipeline tests for the counters and files. ``tests/test_summary.py`` checks that the
summary of a stopped run agrees with these counters.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import apache_beam as beam
import grpc
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from google.pubsub_v1.types import PublishRequest, PublishResponse

from pipelines.summary import read_counters
from tests.conftest import RUNNER_ARGS, read_jsonl
from transforms.records import Failure
from transforms.sinks import DeliverDeadLetters

DEAD_TOPIC = "projects/newsbeam-test/topics/dead"


class PublisherStandIn:
    """Pub/Sub's Publish method on a loopback port, as the emulator serves it: it accepts
    every message, or refuses every one as the service does a topic that does not exist."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.received = 0
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        publish = grpc.unary_unary_rpc_method_handler(self._publish)
        service = grpc.method_handlers_generic_handler(
            "google.pubsub.v1.Publisher", {"Publish": publish}
        )
        self._server.add_generic_rpc_handlers([service])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def _publish(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        messages = PublishRequest.deserialize(request).messages
        self.received += len(messages)
        if not self.accept:
            context.abort(grpc.StatusCode.NOT_FOUND, "Resource not found (resource=dead).")
        ids = [str(i) for i in range(len(messages))]
        return bytes(PublishResponse.serialize(PublishResponse(message_ids=ids)))

    def __enter__(self) -> PublisherStandIn:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)


@pytest.fixture(params=[True, False], ids=["topic accepts", "topic refuses"])
def dead_letter_topic(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PublisherStandIn]:
    with PublisherStandIn(accept=request.param) as service:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{service.port}")
        yield service


def run(build: Any) -> dict[str, int]:
    """Run the pipeline ``build(pipeline)`` makes; its newsbeam counters by name."""
    pipeline = TestPipeline(options=PipelineOptions(RUNNER_ARGS))
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return read_counters(result.metrics())


@pytest.mark.pipeline
def test_a_one_shot_runs_dead_letters_stay_in_the_file_with_a_dead_letter_topic(
    dead_letter_topic: PublisherStandIn, tmp_path: Path
) -> None:
    """Every dead letter is written to the local file, whatever the topic does with it, and
    those the topic refuses are written as well, as publish failures that count no entry.
    (The retryable ones are what the next one-shot run retries, read from these files.)"""
    failures = [
        Failure("fetch", "https://a.example/1", "timeout", "timed out", retryable=True),
        Failure("poll", "https://a.example/feed", "not_a_feed", "HTML", counts_entry=False),
    ]

    def build(pipeline: beam.Pipeline) -> None:
        _ = (
            pipeline
            | beam.Create(failures)
            | DeliverDeadLetters(str(tmp_path), streaming=False, topic=DEAD_TOPIC)
        )

    counters = run(build)
    assert dead_letter_topic.received >= 2
    rows = read_jsonl(tmp_path, "dead_letters")
    originals = [f.to_json() for f in failures]
    assert [r for r in rows if r["stage"] != "publish"] == originals
    undelivered = [r for r in rows if r["stage"] == "publish"]
    expected = {"failed:fetch/timeout": 1, "feed_failed:poll/not_a_feed": 1}
    if dead_letter_topic.accept:
        assert undelivered == []
    else:
        assert sorted(r["url"] for r in undelivered) == sorted(f.key for f in failures)
        assert {(r["error_type"], r["counts_entry"]) for r in undelivered} == {
            ("topic_not_found", False)
        }
        expected |= {"feed_failed:publish/topic_not_found": 2, "pubsub_failed:topic_not_found": 2}
    assert counters == expected
