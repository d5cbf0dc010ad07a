"""Pub/Sub delivery: stories and dead letters as messages, published by a DoFn.

Consumes ``TaggedStory``, ``DuplicateLink`` and ``SyndicationUpdate`` records (stories) and
``Failure`` records (dead letters); produces Pub/Sub messages, and for the pipeline the
published records (main output) and ``publish`` dead letters (``FAILURES``).

* Plain-Python core: messages come from ``transforms.pubsub_messages`` (always within
  Pub/Sub's limits, with attributes for server-side filters); ``TopicPublisher`` publishes
  rounds of messages with one deadline. Topic paths and credentials are checked in
  ``transforms.pubsub_names``.
* Beam: ``PublishStories(topic)`` and ``PublishDeadLetters(topic)``, not Beam's
  ``WriteToPubSub`` (it fails with PeriodicImpulse on the DirectRunner). Their DoFn owns a
  ``PublisherClient`` (honouring ``PUBSUB_EMULATOR_HOST``), publishes each element
  asynchronously in ``process`` and waits for the whole bundle in ``finish_bundle``: one
  round of batched requests per bundle, not a round trip per element. The client retries
  transient errors with backoff within the bundle's ``timeout`` (default 30 s); what is
  still unpublished then becomes a dead letter, so nothing is lost silently or hangs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue
from google.api_core import exceptions as api
from google.api_core.retry import Retry, if_exception_type
from google.api_core.timeout import ConstantTimeout
from google.cloud import pubsub_v1  # type: ignore[attr-defined]
from google.cloud.pubsub_v1.publisher.exceptions import MessageTooLargeError

from transforms.common import FAILURES, OK, counter
from transforms.outcomes import excerpt
from transforms.pubsub_messages import (
    DEFAULT_MAX_BYTES,
    check_max_bytes,
    failure_message,
    published_message,
)
from transforms.pubsub_names import check_topic
from transforms.records import DuplicateLink, Failure, SyndicationUpdate, TaggedStory

DEFAULT_PUBLISH_TIMEOUT = 30.0
PUBLISH_STAGE = "publish"

_NAMED_ERRORS: list[tuple[type[BaseException], str, bool]] = [
    (MessageTooLargeError, "message_too_large", False),
    (api.InvalidArgument, "invalid_argument", False),
    (api.DeadlineExceeded, "publish_timeout", True),
    (TimeoutError, "publish_timeout", True),
    (api.ServiceUnavailable, "unavailable", True),
    (api.NotFound, "topic_not_found", True),
    (api.PermissionDenied, "permission_denied", True),
    (api.Unauthenticated, "permission_denied", True),
]


@dataclass(frozen=True)
class PublishError:
    """Why a message was not published: a dead letter's ``error_type``, ``retryable``, text."""

    error_type: str
    retryable: bool
    message: str


def classify_publish_error(exc: BaseException | None) -> PublishError:
    """Name a publishing error for a dead letter.

    Args:
        exc: The exception of a failed publish, or ``None`` for one still pending at the
            deadline.

    Returns:
        The error: ``publish_timeout``, ``unavailable``, ``topic_not_found``,
        ``permission_denied``, ``message_too_large``, ``invalid_argument`` or the snake_case
        name of another API error. Only malformed messages are not retryable: the others
        (an outage, a topic not yet created, a missing permission) can succeed later.
    """
    if exc is None:
        return PublishError("publish_timeout", True, "not published before the deadline")
    if isinstance(exc, api.RetryError) and exc.cause is not None:
        return classify_publish_error(exc.cause)
    text = f"{type(exc).__name__}: {exc}"[:500]
    for kind, error_type, retryable in _NAMED_ERRORS:
        if isinstance(exc, kind):
            return PublishError(error_type, retryable, text)
    if isinstance(exc, api.GoogleAPIError):
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
        return PublishError(snake, True, text)
    return PublishError("publish_error", True, text)


def make_publisher_client(timeout: float = DEFAULT_PUBLISH_TIMEOUT) -> Any:
    """A ``PublisherClient`` whose retries end within ``timeout`` seconds.

    Transient errors (unavailable, deadline exceeded, internal, aborted, resource exhausted,
    unknown) are retried with exponential backoff (0.1 s doubling to 5 s); each attempt
    gets a quarter of ``timeout``, and no retry starts after ``0.75 * timeout - 0.25``.
    The client honours ``PUBSUB_EMULATOR_HOST``.

    Args:
        timeout: Seconds a message may take, retries included.

    Returns:
        A ``google.cloud.pubsub_v1.PublisherClient``.
    """
    transient = if_exception_type(
        api.ServiceUnavailable, api.DeadlineExceeded, api.InternalServerError,
        api.Aborted, api.ResourceExhausted, api.Unknown,
    )  # fmt: skip
    attempt = timeout / 4
    last_retry = max(0.1, timeout - attempt - 0.25)
    retry = Retry(predicate=transient, initial=0.1, maximum=5.0, timeout=last_retry)
    options = pubsub_v1.types.PublisherOptions(retry=retry, timeout=ConstantTimeout(attempt))
    return pubsub_v1.PublisherClient(publisher_options=options)


@dataclass(frozen=True)
class PublishOutcome:
    """What became of one submitted message: ``error`` is None when it was published."""

    item: Any
    error: PublishError | None


class TopicPublisher:
    """Publishes to one topic in rounds: ``submit`` messages, then ``drain`` them all.

    ``drain`` waits at most ``timeout`` seconds for the round, so a dead or hung service
    never blocks a caller for longer; every submitted item comes back exactly once.
    """

    def __init__(self, topic: str, timeout: float = DEFAULT_PUBLISH_TIMEOUT) -> None:
        """Create the client.

        Args:
            topic: ``projects/P/topics/T``.
            timeout: Seconds one round may take.

        Raises:
            PubSubError: The topic path is malformed.
        """
        self._topic = check_topic(topic)
        self._timeout = timeout
        self._client = make_publisher_client(timeout)
        self._pending: list[tuple[Any, Any]] = []  # (item, future | exception)

    def submit(self, item: Any, data: bytes, attributes: dict[str, str]) -> None:
        """Start publishing one message; ``item`` is what ``drain`` hands back for it."""
        try:
            pending: Any = self._client.publish(self._topic, data, **attributes)
        except Exception as exc:  # e.g. MessageTooLargeError, raised before any request
            pending = exc
        self._pending.append((item, pending))

    def drain(self) -> list[PublishOutcome]:
        """Wait for every submitted message, at most ``timeout`` seconds in all.

        Returns:
            One outcome per submitted item, in submission order.
        """
        pending, self._pending = self._pending, []
        futures = [f for _, f in pending if isinstance(f, concurrent.futures.Future)]
        done, _ = concurrent.futures.wait(futures, timeout=self._timeout)
        outcomes = []
        for item, state in pending:
            if isinstance(state, BaseException):
                outcomes.append(PublishOutcome(item, classify_publish_error(state)))
            elif state not in done:
                outcomes.append(PublishOutcome(item, classify_publish_error(None)))
            else:
                exc = state.exception()
                error = None if exc is None else classify_publish_error(exc)
                outcomes.append(PublishOutcome(item, error))
        return outcomes

    def close(self) -> None:
        """Stop the client and close its channel; messages still pending are abandoned."""
        with contextlib.suppress(RuntimeError):  # already stopped
            self._client.stop()
        self._client.transport.close()


def _story_failure(
    story: TaggedStory | DuplicateLink | SyndicationUpdate, error: PublishError, topic: str
) -> Failure:
    if isinstance(story, SyndicationUpdate):  # news about a story already counted
        return Failure(
            stage=PUBLISH_STAGE,
            key=story.story_id,
            error_type=error.error_type,
            message=f"syndication update of {story.story_id} ({len(story.syndication)} "
            f"outlets) not published to {topic}: {error.message}",
            retryable=error.retryable,
            # the update itself, as the topic would have had it: without it the dead letters
            # of one story's updates were alike, and none could be told apart or sent again
            input_excerpt=excerpt(json.dumps(story.to_json(), ensure_ascii=False)),
            counts_entry=False,
        )
    # Keyed, as every stage's dead letter of an entry, by the entry's link as its feed gave it:
    # a one-shot run's state retries the entries whose links it finds in retryable dead letters.
    if isinstance(story, DuplicateLink):
        return Failure(
            stage=PUBLISH_STAGE,
            key=story.entry_link or story.url,
            error_type=error.error_type,
            message=f"duplicate link {story.story_id} ({story.url}) not published to {topic}: "
            f"{error.message}",
            retryable=error.retryable,
        )
    article = story.story.article
    return Failure(
        stage=PUBLISH_STAGE,
        key=article.entry.link,
        error_type=error.error_type,
        message=f"story {story.story_id} ({article.canonical_url or article.final_url}) not "
        f"published to {topic}: {error.message}",
        retryable=error.retryable,
        input_excerpt=excerpt(article.title),
    )


def _dead_letter_failure(failure: Failure, error: PublishError, topic: str) -> Failure:
    return Failure(
        stage=PUBLISH_STAGE,
        key=failure.key,
        error_type=error.error_type,
        message=f"dead letter {failure.outcome} not published to {topic}: {error.message}",
        retryable=error.retryable,
        input_excerpt=excerpt(failure.message),
        counts_entry=False,  # the entry is already counted by its own dead letter
    )


class _PublishFn(beam.DoFn):
    """Publishes each element in ``process``; emits every outcome in ``finish_bundle``."""

    def __init__(
        self,
        topic: str,
        max_bytes: int,
        timeout: float,
        to_message: Callable[[Any, int], tuple[bytes, dict[str, str]]],
        to_failure: Callable[[Any, PublishError, str], Failure],
    ) -> None:
        self._topic = check_topic(topic)
        check_max_bytes(max_bytes)
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._to_message = to_message
        self._to_failure = to_failure
        self._publisher: TopicPublisher | None = None

    def setup(self) -> None:
        self._publisher = TopicPublisher(self._topic, self._timeout)

    def process(
        self,
        element: Any,
        timestamp: Any = beam.DoFn.TimestampParam,
        window: Any = beam.DoFn.WindowParam,
    ) -> None:
        assert self._publisher is not None
        data, attributes = self._to_message(element, self._max_bytes)
        self._publisher.submit((element, timestamp, window), data, attributes)

    def finish_bundle(self) -> Any:
        assert self._publisher is not None
        for outcome in self._publisher.drain():
            element, timestamp, window = outcome.item
            if outcome.error is None:
                yield WindowedValue(element, timestamp, (window,))
            else:
                counter(f"pubsub_failed:{outcome.error.error_type}").inc()
                failure = self._to_failure(element, outcome.error, self._topic)
                yield beam.pvalue.TaggedOutput(
                    FAILURES, WindowedValue(failure, timestamp, (window,))
                )

    def teardown(self) -> None:
        if self._publisher is not None:
            self._publisher.close()


class _Publish(beam.PTransform):
    """Publish each element to a topic; ok: the published elements, failures: Failure."""

    to_message: Callable[[Any, int], tuple[bytes, dict[str, str]]]
    to_failure: Callable[[Any, PublishError, str], Failure]

    def __init__(
        self,
        topic: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        """Configure the transform (checking the topic path now, before any run).

        Args:
            topic: ``projects/P/topics/T``.
            max_bytes: Bound on one message's data plus attributes.
            timeout: Seconds one bundle's publishing may take, retries included.

        Raises:
            PubSubError: A malformed topic path or an impossible ``max_bytes``.
        """
        super().__init__()
        to_message, to_failure = type(self).to_message, type(self).to_failure
        self._fn = _PublishFn(topic, max_bytes, timeout, to_message, to_failure)

    def expand(self, pcoll: beam.PCollection) -> Any:
        return pcoll | "Publish" >> beam.ParDo(self._fn).with_outputs(FAILURES, main=OK)


class PublishStories(_Publish):
    """PCollection[TaggedStory | DuplicateLink | SyndicationUpdate] -> ok: published,
    failures: Failure (publish).

    Messages are ``published_message``'s. A story or link that cannot be published is a
    failure that counts its entry: each ends in ``ok`` or in ``failures``, exactly once; a
    syndication update's failure counts none (``counts_entry=False``: its story is counted).
    """

    to_message = staticmethod(published_message)
    to_failure = staticmethod(_story_failure)


class PublishDeadLetters(_Publish):
    """PCollection[Failure] -> ok: Failure published, failures: Failure (stage publish).

    Messages are ``failure_message``'s. A dead letter that cannot be published yields a
    ``publish`` failure with ``counts_entry`` False (its entry is already counted by the
    original dead letter), for the local dead-letter file.
    """

    to_message = staticmethod(failure_message)
    to_failure = staticmethod(_dead_letter_failure)
