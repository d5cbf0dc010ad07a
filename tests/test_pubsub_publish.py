"""Publishing (``transforms/pubsub.py``): name rules, error names, the client's retry policy,
``TopicPublisher``'s rounds and the dead letters of what was not published, in plain Python;
then what ``PublishStories`` and ``PublishDeadLetters`` pass on, against the emulator.

The plain tests that need a ``PublisherClient`` point ``PUBSUB_EMULATOR_HOST`` at a free
loopback port where nothing listens: the client needs no credentials, and every request
fails as it would against a service that is down.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue
from google.api_core import exceptions as api

from pipelines.topics_command import SubscriptionSpec
from tests.emulator import PROJECT, free_port, pull_all, unique
from tests.test_pubsub import (
    PLAIN,
    STATE_MEDIA_COPY,
    TIKTOK_CN,
    make_story,
    message_size,
    pipeline_options,
    topic_with_subscriptions,
)
from transforms.common import FAILURES, METRICS_NAMESPACE, OK
from transforms.pubsub import (
    PublishDeadLetters,
    PublishError,
    PublishStories,
    TopicPublisher,
    _dead_letter_failure,
    _story_failure,
    classify_publish_error,
    make_publisher_client,
)
from transforms.pubsub_messages import MIN_MAX_BYTES, PubSubError, failure_message
from transforms.pubsub_names import (
    NAME_RULE,
    NO_CREDENTIALS,
    check_credentials,
    check_subscription,
    check_topic,
)
from transforms.records import DuplicateLink, Failure, SyndicationUpdate

CHECKS = [(check_topic, "topics"), (check_subscription, "subscriptions")]


@pytest.fixture
def nothing_listening(monkeypatch: pytest.MonkeyPatch) -> str:
    """PUBSUB_EMULATOR_HOST at a free loopback port: clients without credentials, and every
    request refused."""
    host = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
    return host


# --- topic and subscription names ------------------------------------------------------------


@pytest.mark.parametrize(("check", "kind"), CHECKS)
@pytest.mark.parametrize(
    "name",
    [
        "abc",  # 3 characters, the fewest
        "a" * 255,  # the most
        "a-._~%+Z9",  # every kind of character a name may hold after its first letter
        "Z-1",  # a capital first letter, a digit last
        "gooseberry",  # only names starting with goog are reserved
    ],
)
def test_names_within_the_rule_pass_unchanged(check: Any, kind: str, name: str) -> None:
    path = f"projects/my-project/{kind}/{name}"
    assert check(path) == path


@pytest.mark.parametrize(("check", "kind"), CHECKS)
@pytest.mark.parametrize(
    "path",
    [
        "projects/my-project/{kind}/" + "a" * 256,  # one character too many
        "projects/my-project/{kind}/9abc",  # starts with a digit
        "projects/my-project/{kind}/-abc",
        "projects/my-project/{kind}/ab c",
        "projects/my project/{kind}/abc",  # whitespace in the project
        "projects/my-project/{kind}/abc/more",  # a path below the name
        "projects/my-project/{kind}/abc\n",
    ],
)
def test_names_outside_the_rule_are_refused_with_the_rule(check: Any, kind: str, path: str) -> None:
    with pytest.raises(PubSubError) as refused:
        check(path.format(kind=kind))
    assert f"projects/PROJECT/{kind}/NAME, {NAME_RULE})" in str(refused.value)


@pytest.mark.parametrize(("check", "kind"), CHECKS)
@pytest.mark.parametrize(
    "project",
    ["audit", "p", "My-Project", "my_project", "my-project-", "1project", "a" + "b" * 29 + "c"],
)
def test_a_path_whose_project_is_no_project_id_is_refused_naming_it(
    check: Any, kind: str, project: str
) -> None:
    # Such a path passed, so that `newsbeam run --topic projects/audit/topics/stories` ran
    # and failed every story at publishing, while `topics setup --project audit` and the
    # template's regex refused the project.
    path = f"projects/{project}/{kind}/stories"
    with pytest.raises(PubSubError) as refused:
        check(path)
    assert str(refused.value) == (
        f"not a {'Pub/Sub topic' if kind == 'topics' else 'subscription'} path: {path!r} (its "
        f"project {project!r} is not a Google Cloud project id: 6-30 lowercase letters, digits "
        "or hyphens, starting with a letter, e.g. my-project)"
    )


@pytest.mark.parametrize(("check", "kind"), CHECKS)
@pytest.mark.parametrize("project", ["abcdef", "a" + "b" * 28 + "c", "example.com:my-project"])
def test_project_ids_of_each_allowed_length_and_legacy_ids_pass_in_a_path(
    check: Any, kind: str, project: str
) -> None:
    path = f"projects/{project}/{kind}/stories"
    assert check(path) == path


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.usefixtures("no_credentials")
def test_the_emulator_needs_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
    check_credentials()  # no DefaultCredentialsError: none were looked for


@pytest.mark.usefixtures("no_credentials")
def test_without_emulator_or_credentials_the_error_says_how_to_get_either() -> None:
    with pytest.raises(PubSubError) as refused:
        check_credentials()
    assert str(refused.value) == NO_CREDENTIALS


# --- naming publish errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (api.DeadlineExceeded("slow"), "publish_timeout"),
        (TimeoutError("slow"), "publish_timeout"),
        (api.Unauthenticated("who"), "permission_denied"),  # named as a denial, retried later
        (api.RetryError("gave up", None), "retry_error"),  # no cause to name it by
        (api.Aborted("conflict"), "aborted"),  # a client error (409), named by its type
    ],
)
def test_more_publish_errors_are_named_and_retryable(exc: BaseException, error_type: str) -> None:
    error = classify_publish_error(exc)
    assert (error.error_type, error.retryable) == (error_type, True)


def test_a_publish_errors_text_is_its_type_and_message_cut_at_500() -> None:
    assert classify_publish_error(OSError("socket closed")).message == "OSError: socket closed"
    long = classify_publish_error(api.NotFound("t" * 1000)).message
    assert long == ("NotFound: 404 " + "t" * 1000)[:500]
    pending = classify_publish_error(None)
    assert pending.message == "not published before the deadline"


# --- the client's retry policy ---------------------------------------------------------------


def _failing_once(exc: Exception) -> tuple[list[None], Any]:
    """A call that raises ``exc`` the first time and succeeds after, and its list of calls.

    The client's ``Retry`` and ``ConstantTimeout`` wrap calls like this one in the client: the
    tests call them directly, with no request and nothing to wait for but the first backoff.
    """
    calls: list[None] = []

    def call() -> str:
        calls.append(None)
        if len(calls) == 1:
            raise exc
        return "published"

    return calls, call


@pytest.fixture
def client_options(nothing_listening: str) -> Iterator[Any]:
    """The ``PublisherOptions`` of ``make_publisher_client(10)``; the client is closed after."""
    client = make_publisher_client(10.0)
    yield client.publisher_options
    client.transport.close()


@pytest.mark.parametrize(
    "exc",
    [
        api.ServiceUnavailable("down"),
        api.DeadlineExceeded("slow"),
        api.InternalServerError("oops"),
        api.Aborted("conflict"),
        api.ResourceExhausted("quota"),
        api.Unknown("?"),
    ],
    ids=type,
)
def test_the_client_retries_transient_errors(client_options: Any, exc: Exception) -> None:
    calls, call = _failing_once(exc)
    assert client_options.retry(call)() == "published" and len(calls) == 2


@pytest.mark.parametrize(
    "exc", [api.NotFound("no topic"), api.InvalidArgument("bad"), api.PermissionDenied("no")]
)
def test_the_client_does_not_retry_what_waiting_cannot_fix(
    client_options: Any, exc: Exception
) -> None:
    calls, call = _failing_once(exc)
    with pytest.raises(type(exc)):
        client_options.retry(call)()
    assert len(calls) == 1


def test_each_attempt_gets_a_quarter_and_retries_end_early(client_options: Any) -> None:
    """timeout 10: each attempt 2.5 s, no retry after 10 - 2.5 - 0.25 = 7.25 s."""
    seen: list[float] = []
    client_options.timeout(lambda timeout: seen.append(timeout))()
    assert seen == [2.5]
    assert client_options.retry.timeout == 7.25


@pytest.mark.parametrize(("timeout", "last_retry"), [(None, 22.25), (0.2, 0.1)])
def test_the_default_timeout_and_the_shortest_retry_window(
    nothing_listening: str, timeout: float | None, last_retry: float
) -> None:
    """30 s by default; a timeout too short for any retry window still leaves 0.1 s."""
    client = make_publisher_client() if timeout is None else make_publisher_client(timeout)
    try:
        assert client.publisher_options.retry.timeout == pytest.approx(last_retry)
    finally:
        client.transport.close()


# --- TopicPublisher rounds -------------------------------------------------------------------


@pytest.mark.usefixtures("nothing_listening")
def test_a_message_the_client_refuses_comes_back_in_order_and_the_round_ends() -> None:
    """The client raises MessageTooLargeError for a request over 10 MB, before any request:
    that message is a final failure in its place, the others still come back, once."""
    publisher = TopicPublisher("projects/my-project/topics/stories", timeout=2)
    try:
        publisher.submit("first", b"{}", {"story_id": "1"})
        publisher.submit("huge", b"x" * 10_500_000, {"story_id": "2"})
        publisher.submit("last", b"{}", {"story_id": "3"})
        outcomes = publisher.drain()
        assert publisher.drain() == []  # a round is handed back once
    finally:
        publisher.close()
    assert [o.item for o in outcomes] == ["first", "huge", "last"]
    errors = [o.error for o in outcomes if o.error is not None]
    assert len(errors) == 3
    assert (errors[1].error_type, errors[1].retryable) == ("message_too_large", False)
    assert errors[1].message.startswith("MessageTooLargeError: ")
    # nothing listens: the others failed as they do when the service is down, to be retried
    others = {(e.error_type, e.retryable) for e in (errors[0], errors[2])}
    assert others <= {("unavailable", True), ("publish_timeout", True)}


@pytest.mark.usefixtures("nothing_listening")
def test_closing_twice_is_harmless() -> None:
    publisher = TopicPublisher("projects/my-project/topics/stories", timeout=2)
    publisher.close()
    publisher.close()  # the client is already stopped: nothing to raise about
    # Closed means stopped: a message submitted now is refused before any request (the
    # client's own RuntimeError), a retryable failure in its place, handed back at once.
    publisher.submit("late", b"{}", {"story_id": "1"})
    (outcome,) = publisher.drain()
    assert outcome.item == "late" and outcome.error is not None
    assert (outcome.error.error_type, outcome.error.retryable) == ("publish_error", True)
    assert outcome.error.message == "RuntimeError: Cannot publish on a stopped publisher."


# --- dead letters of what was not published --------------------------------------------------

TOPIC = "projects/my-project/topics/stories"
FINAL = PublishError("message_too_large", False, "MessageTooLargeError: big")
DOWN = PublishError("unavailable", True, "ServiceUnavailable: 503 down")


def test_a_storys_dead_letter_names_it_counts_its_entry_and_keeps_its_title() -> None:
    failure = _story_failure(TIKTOK_CN, FINAL, TOPIC)
    assert failure == Failure(
        stage="publish",
        key="https://www.globaltimes.cn/page/1.shtml",
        error_type="message_too_large",
        message=f"story {TIKTOK_CN.story_id} (https://www.globaltimes.cn/page/1.shtml) not "
        f"published to {TOPIC}: MessageTooLargeError: big",
        retryable=False,  # the publish error's: a malformed message stays malformed
        input_excerpt="TikTok ban debate",
        counts_entry=True,
    )


def test_a_storys_dead_letter_names_its_canonical_url_not_the_fetched_one() -> None:
    article = dataclasses.replace(
        TIKTOK_CN.story.article, final_url="https://m.example/1", canonical_url="https://example/1"
    )
    moved = dataclasses.replace(
        TIKTOK_CN, story=dataclasses.replace(TIKTOK_CN.story, article=article)
    )
    assert "(https://example/1) not published" in _story_failure(moved, DOWN, TOPIC).message


def test_a_duplicate_links_dead_letter_without_its_entry_link_is_keyed_by_its_url() -> None:
    # links pickled before entry_link existed have None there, as this one has
    assert isinstance(STATE_MEDIA_COPY, DuplicateLink) and STATE_MEDIA_COPY.entry_link is None
    failure = _story_failure(STATE_MEDIA_COPY, DOWN, TOPIC)
    assert failure == Failure(
        stage="publish",
        key=STATE_MEDIA_COPY.url,
        error_type="unavailable",
        message=f"duplicate link {STATE_MEDIA_COPY.story_id} ({STATE_MEDIA_COPY.url}) not "
        f"published to {TOPIC}: ServiceUnavailable: 503 down",
        retryable=True,
        counts_entry=True,  # the copy's entry ends here
    )


def test_a_syndication_updates_dead_letter_counts_no_entry() -> None:
    update = SyndicationUpdate("f00d", ("a.example", "b.example"))
    for error in (FINAL, DOWN):
        assert _story_failure(update, error, TOPIC) == Failure(
            stage="publish",
            key="f00d",
            error_type=error.error_type,
            message=f"syndication update of f00d (2 outlets) not published to {TOPIC}: "
            f"{error.message}",
            retryable=error.retryable,
            # the update, so that the dead letters of a story's updates differ and can be
            # sent again (input was empty)
            input_excerpt='{"schema_version": 4, "record_type": "syndication_update", '
            '"story_id": "f00d", "syndication": ["a.example", "b.example"]}',
            counts_entry=False,  # news about a story already counted
        )


def test_an_unpublished_dead_letter_keeps_its_key_and_counts_no_entry() -> None:
    """A 404's dead letter that could not be published: the publish failure is retryable
    (the outage passes) but counts no entry, so the next run does not retry the 404."""
    original = Failure("fetch", "https://x.example/1", "http_404", "Not Found", input_excerpt="<p>")
    assert _dead_letter_failure(original, DOWN, TOPIC) == Failure(
        stage="publish",
        key="https://x.example/1",
        error_type="unavailable",
        message=f"dead letter fetch/http_404 not published to {TOPIC}: ServiceUnavailable: 503 "
        "down",
        retryable=True,
        input_excerpt="Not Found",  # what the lost dead letter said
        counts_entry=False,
    )


@pytest.mark.parametrize("max_bytes", [MIN_MAX_BYTES - 1, 10_000_000])
@pytest.mark.parametrize("transform", [PublishStories, PublishDeadLetters])
def test_an_impossible_max_bytes_is_refused_before_any_run(transform: Any, max_bytes: int) -> None:
    with pytest.raises(PubSubError, match="max_bytes"):
        transform(TOPIC, max_bytes=max_bytes)


# --- the transforms against the emulator ------------------------------------------------------


def _where(element: Any, ts: Any = beam.DoFn.TimestampParam, w: Any = beam.DoFn.WindowParam) -> Any:
    key = element.key if isinstance(element, Failure) else element.story_id
    return key, float(ts), float(w.start), float(w.end)


@pytest.mark.emulator
@pytest.mark.pipeline
def test_published_and_failed_stories_keep_their_time_and_window_and_are_counted(
    pubsub_emulator: str,
) -> None:
    topic, _ = topic_with_subscriptions(SubscriptionSpec(unique("all")))
    missing = f"projects/{PROJECT}/topics/{unique('never-created')}"
    p = TestPipeline(options=pipeline_options())
    stories = (
        p
        | beam.Create([(TIKTOK_CN, 15), (PLAIN, 27)])
        | beam.Map(lambda st: TimestampedValue(*st))
        | beam.WindowInto(FixedWindows(10))
    )
    sent = stories | "Sent" >> PublishStories(topic)
    lost = stories | "Lost" >> PublishStories(missing, timeout=10)
    # (story id or dead letter key, timestamp, window start, window end)
    first, second = (15.0, 10.0, 20.0), (27.0, 20.0, 30.0)
    published = [(TIKTOK_CN.story_id, *first), (PLAIN.story_id, *second)]
    dead = [(TIKTOK_CN.story.article.entry.link, *first), (PLAIN.story.article.entry.link, *second)]
    assert_that(sent[OK] | "SentWhere" >> beam.Map(_where), equal_to(published), label="Sent")
    assert_that(sent[FAILURES], equal_to([]), label="NoneFailed")
    assert_that(lost[OK], equal_to([]), label="NoneSent")
    assert_that(lost[FAILURES] | "LostWhere" >> beam.Map(_where), equal_to(dead), label="Lost")
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(
        MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name("pubsub_failed:topic_not_found")
    )["counters"]
    assert sum(c.committed for c in counters) == 2


@pytest.mark.emulator
@pytest.mark.pipeline
def test_max_bytes_bounds_each_message_and_defaults_to_a_million(pubsub_emulator: str) -> None:
    """A 300 kB text is cut to fit 65,536 bytes when asked, and kept whole by default; so is
    a dead letter's 300 kB message."""
    long = make_story("https://news.example/long", text="word " * 60_000)
    letter = Failure("extract", "https://news.example/long", "parse_error", "e" * 300_000)
    small, (small_sub,) = topic_with_subscriptions(SubscriptionSpec(unique("small")))
    default, (default_sub,) = topic_with_subscriptions(SubscriptionSpec(unique("default")))
    with TestPipeline(options=pipeline_options()) as p:
        stories = p | "Stories" >> beam.Create([long])
        letters = p | "Letters" >> beam.Create([letter])
        outputs = [
            stories | "SmallStory" >> PublishStories(small, max_bytes=MIN_MAX_BYTES),
            letters | "SmallLetter" >> PublishDeadLetters(small, max_bytes=MIN_MAX_BYTES),
            stories | "Story" >> PublishStories(default),
            letters | "Letter" >> PublishDeadLetters(default),
        ]
        for i, out in enumerate(outputs):
            assert_that(out[FAILURES], equal_to([]), label=f"NoFailures{i}")

    cut = {m.attributes.get("stage", "story"): m for m in pull_all(small_sub, 2)}
    assert all(message_size(m.data, dict(m.attributes)) <= MIN_MAX_BYTES for m in cut.values())
    assert cut["story"].attributes["text_truncated"] == "true"
    assert json.loads(cut["extract"].data)["message_truncated"] is True
    whole = {m.attributes.get("stage", "story"): m for m in pull_all(default_sub, 2)}
    assert json.loads(whole["story"].data)["text"] == long.story.article.text
    assert json.loads(whole["extract"].data) == json.loads(failure_message(letter)[0])
    assert json.loads(whole["extract"].data)["message"] == letter.message


@pytest.mark.emulator
@pytest.mark.pipeline
def test_dead_letters_that_cannot_be_published_are_publish_failures_counting_no_entry(
    pubsub_emulator: str,
) -> None:
    missing = f"projects/{PROJECT}/topics/{unique('never-created')}"
    letters = [
        Failure("fetch", "https://x.example/1", "http_404", "Not Found"),
        Failure("poll", "https://x.example/feed", "timeout", "slow", retryable=True),
    ]
    with TestPipeline(options=pipeline_options()) as p:
        out = p | beam.Create(letters) | PublishDeadLetters(missing, timeout=10)
        assert_that(out[OK], equal_to([]), label="NonePublished")
        # the message up to the service's own words: the lost letter's stage/error and topic
        failed = out[FAILURES] | beam.Map(
            lambda f: (
                (f.key, f.outcome, f.retryable, f.counts_entry, f.input_excerpt)
                + (f.message.split(": NotFound: ")[0],)
            )
        )
        expected = [
            (f.key, "publish/topic_not_found", True, False, f.message)
            + (f"dead letter {f.outcome} not published to {missing}",)
            for f in letters
        ]
        assert_that(failed, equal_to(expected), label="PublishFailures")
