"""Pub/Sub delivery: stories and dead letters as messages, published by a DoFn.

Consumes ``TaggedStory`` and ``Failure`` records; produces Pub/Sub messages, and for the
pipeline the published records (main output) and ``publish`` dead letters (``FAILURES``).

* Plain-Python core: ``story_message`` and ``failure_message`` build messages that always
  fit Pub/Sub's limits (a long text is cut and flagged ``text_truncated``, never a failed
  publish), with attributes for server-side filters (``platform_tiktok``, ``state_china``,
  ``outlet_country`` ...); ``TopicPublisher`` publishes rounds of messages with one deadline.
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
from transforms.dedup import DuplicateLink
from transforms.records import SCHEMA_VERSION, Failure, TaggedStory, excerpt
from transforms.syndication import SyndicationUpdate

# Pub/Sub limits (https://cloud.google.com/pubsub/quotas#resource_limits).
PUBSUB_MAX_REQUEST_BYTES = 10_000_000
MAX_ATTRIBUTES = 100
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 1024

# Default bound on data + attributes of one message: far above any real article (the
# longest are a few hundred KB of text), and small enough for subscribers whose gRPC
# channel keeps the default 4 MiB receive limit (the Python client on the emulator does).
DEFAULT_MAX_BYTES = 1_000_000
MIN_MAX_BYTES = 65_536
MAX_MAX_BYTES = PUBSUB_MAX_REQUEST_BYTES - 100_000  # room for the request's own framing

# At most this many tag attributes (platform_*, state_*, controversy_*) per message.
MAX_TAG_ATTRIBUTES = 64
TAG_PREFIXES = (("platforms", "platform_"), ("state_actors", "state_"),
                ("controversies", "controversy_"))  # fmt: skip

DEFAULT_PUBLISH_TIMEOUT = 30.0
PUBLISH_STAGE = "publish"

_TOPIC = re.compile(r"projects/[^/\s]+/topics/(?!goog)[A-Za-z][-A-Za-z0-9._~%+]{2,254}")


class PubSubError(ValueError):
    """A Pub/Sub setting that cannot work (malformed topic path, impossible size bound)."""


def check_topic(topic: str) -> str:
    """Check a full topic path.

    Args:
        topic: ``projects/PROJECT/topics/TOPIC``.

    Returns:
        The topic path, unchanged.

    Raises:
        PubSubError: The path is malformed; the message shows the expected form.
    """
    if not _TOPIC.fullmatch(topic):
        raise PubSubError(
            f"not a Pub/Sub topic path: {topic!r} (expected projects/PROJECT/topics/NAME, "
            "NAME 3-255 letters, digits or -._~%+, starting with a letter)"
        )
    return topic


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def _encode_str(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "replace")


def _cut(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form has at most ``max_bytes`` bytes."""
    return text.encode("utf-8", "replace")[: max(0, max_bytes)].decode("utf-8", "ignore")


def _shrink(value: Any, chars: int, items: int) -> Any:
    """Every string cut to ``chars`` characters and every list to ``items`` items, deeply."""
    if isinstance(value, str):
        return value[:chars]
    if isinstance(value, list):
        return [_shrink(v, chars, items) for v in value[:items]]
    if isinstance(value, dict):
        return {k: _shrink(v, chars, items) for k, v in value.items()}
    return value


def _attributes_size(attributes: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())


def _fit(
    record: dict[str, Any], cut_fields: tuple[str, ...], keep: tuple[str, ...], budget: int
) -> tuple[bytes, bool]:
    """Encode ``record`` in at most ``budget`` bytes.

    Cuts the ``cut_fields`` first (setting ``<field>_truncated``); as a last resort, every
    string and list but the ``keep`` fields (setting ``truncated``).

    Returns:
        The data, and whether anything was cut.
    """
    data = _encode(record)
    if len(data) <= budget:
        return data, False
    for name in cut_fields:
        value = record.get(name)
        if not isinstance(value, str) or not value:
            continue
        record = {**record, name: "", f"{name}_truncated": True}
        room = budget - len(_encode(record))  # bytes left for the field's JSON
        # Binary search for the longest prefix whose JSON form fits (escapes vary in size).
        low, high = 0, len(value)
        while low < high:
            mid = (low + high + 1) // 2
            if len(_encode_str(value[:mid])) - 2 <= room:
                low = mid
            else:
                high = mid - 1
        record[name] = value[:low]
        data = _encode(record)
        if len(data) <= budget:
            return data, True
    for chars in (1000, 100, 10):
        shrunk = _shrink(record, chars, max(1, chars // 50))
        shrunk.update({k: record[k] for k in keep if k in record}, truncated=True)
        data = _encode(shrunk)
        if len(data) <= budget:
            return data, True
    raise PubSubError(f"a message cannot fit in {budget} bytes")  # not with MIN_MAX_BYTES


def _check_max_bytes(max_bytes: int) -> None:
    if not MIN_MAX_BYTES <= max_bytes <= MAX_MAX_BYTES:
        raise PubSubError(
            f"max_bytes must be between {MIN_MAX_BYTES} and {MAX_MAX_BYTES}, not {max_bytes}"
        )


def _value(text: str) -> str:
    return _cut(text, MAX_VALUE_BYTES)


def story_attributes(story: TaggedStory) -> dict[str, str]:
    """The attributes of a story's message (without ``text_truncated``).

    Args:
        story: The tagged story.

    Returns:
        ``story_id``, ``schema_version``, ``relevant`` ("true"/"false"), ``outlet_domain``;
        ``language``, ``outlet_country``, ``outlet_state_affiliation`` when known; one
        ``platform_<id>``/``state_<id>``/``controversy_<id>`` = ``"1"`` per tag value
        (at most ``MAX_TAG_ATTRIBUTES``, then ``tags_truncated`` = ``"true"``).
    """
    outlet = story.story.outlet
    attrs = {
        "story_id": _value(story.story_id),
        "schema_version": str(SCHEMA_VERSION),
        "relevant": "true" if story.tagging.relevant else "false",
        "outlet_domain": _value(outlet.domain),
    }
    known = {
        "language": story.story.language,
        "outlet_country": outlet.country,
        "outlet_state_affiliation": outlet.state_affiliation,
    }
    attrs.update({k: _value(v) for k, v in known.items() if v})
    tags = [
        prefix + value for field, prefix in TAG_PREFIXES for value in getattr(story.tagging, field)
    ]
    keep = [k for k in dict.fromkeys(tags) if len(k.encode()) <= MAX_KEY_BYTES]
    if len(keep) < len(set(tags)) or len(keep) > MAX_TAG_ATTRIBUTES:
        attrs["tags_truncated"] = "true"
    attrs.update({key: "1" for key in keep[:MAX_TAG_ATTRIBUTES]})
    return attrs


def story_message(
    story: TaggedStory, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of a tagged story.

    Args:
        story: The tagged story.
        max_bytes: Bound on the data plus the attributes' keys and values, in bytes.

    Returns:
        The data (the story JSON, UTF-8, with ``text_truncated``) and the attributes
        (``story_attributes``, plus ``text_truncated`` = ``"true"`` when the text was cut).

    Raises:
        PubSubError: ``max_bytes`` is outside [MIN_MAX_BYTES, MAX_MAX_BYTES].
    """
    _check_max_bytes(max_bytes)
    attrs = story_attributes(story)
    flag = {"text_truncated": "true"}
    budget = max_bytes - _attributes_size({**attrs, **flag})
    record = {**story.to_json(), "text_truncated": False}
    data, truncated = _fit(record, ("text",), ("story_id", "schema_version"), budget)
    if truncated:
        counter("pubsub_truncated").inc()
        attrs.update(flag)
    return data, attrs


def link_message(
    link: DuplicateLink, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of a ``--duplicates link`` record: a small pointer, no text.

    Attributes: ``record_type`` = ``duplicate_link``, ``story_id``, ``duplicate_of``,
    ``schema_version`` and ``outlet_domain``; no tag attributes, so tag-filtered
    subscriptions receive only the first story of a cluster.
    """
    _check_max_bytes(max_bytes)
    record = {"schema_version": SCHEMA_VERSION, **link.to_json()}
    attrs = {
        "record_type": "duplicate_link",
        "story_id": _value(link.story_id),
        "duplicate_of": _value(link.duplicate_of),
        "schema_version": str(SCHEMA_VERSION),
        "outlet_domain": _value(link.outlet),
    }
    return _encode(record), attrs


def update_message(
    update: SyndicationUpdate, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The message of a syndication update: the outlets that carried a published story.

    Attributes: ``record_type`` = ``syndication_update``, ``story_id``, ``schema_version``.
    """
    _check_max_bytes(max_bytes)
    attrs = {
        "record_type": "syndication_update",
        "story_id": _value(update.story_id),
        "schema_version": str(SCHEMA_VERSION),
    }
    return _encode(update.to_json()), attrs


def published_message(
    record: TaggedStory | DuplicateLink | SyndicationUpdate, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The message of anything the stories topic carries: a story, a link or an update."""
    if isinstance(record, DuplicateLink):
        return link_message(record, max_bytes)
    if isinstance(record, SyndicationUpdate):
        return update_message(record, max_bytes)
    return story_message(record, max_bytes)


def failure_message(
    failure: Failure, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of a dead letter: the record ``dead_letters*.jsonl`` holds.

    Args:
        failure: The dead letter.
        max_bytes: Bound on the data plus the attributes' keys and values, in bytes.

    Returns:
        The data (``Failure.to_json()``; an overlong ``message`` or ``input`` is cut, with
        ``message_truncated``/``input_truncated``) and the attributes ``stage``,
        ``error_type`` and ``retryable`` ("true"/"false").

    Raises:
        PubSubError: ``max_bytes`` is outside [MIN_MAX_BYTES, MAX_MAX_BYTES].
    """
    _check_max_bytes(max_bytes)
    attrs = {
        "stage": _value(failure.stage),
        "error_type": _value(failure.error_type),
        "retryable": "true" if failure.retryable else "false",
    }
    budget = max_bytes - _attributes_size(attrs)
    data, _ = _fit(failure.to_json(), ("message", "input"), ("stage", "error_type"), budget)
    return data, attrs


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
            message=f"syndication update of {story.story_id} not published to {topic}: "
            f"{error.message}",
            retryable=error.retryable,
            counts_entry=False,
        )
    if isinstance(story, DuplicateLink):
        return Failure(
            stage=PUBLISH_STAGE,
            key=story.url,
            error_type=error.error_type,
            message=f"duplicate link {story.story_id} not published to {topic}: {error.message}",
            retryable=error.retryable,
        )
    article = story.story.article
    return Failure(
        stage=PUBLISH_STAGE,
        key=article.canonical_url or article.final_url,
        error_type=error.error_type,
        message=f"story {story.story_id} not published to {topic}: {error.message}",
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
        _check_max_bytes(max_bytes)
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
    """PCollection[TaggedStory | DuplicateLink] -> ok: published, failures: Failure (publish).

    Messages are ``story_message``'s. A story that cannot be published is a failure that
    counts its entry: each story ends in ``ok`` or in ``failures``, exactly once.
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
