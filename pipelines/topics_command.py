"""``newsbeam topics setup``: create the story topic, the dead-letter topic and subscriptions.

Consumes a project id, topic and subscription names and subscription filters; produces
Pub/Sub resources on the emulator (when PUBSUB_EMULATOR_HOST is set) or in a real
project (with application default credentials), and one line per resource on stdout:
"created ..." or "exists ... (left alone)". Existing resources are never changed; an
existing subscription that reads another topic or filters otherwise than asked is reported
and makes the exit code 1, as the setup asked for is then not what exists.
Errors (a malformed project id, no credentials, an unreachable emulator, a bad name or
filter, a subscription named twice, one topic for stories and dead letters, a missing
permission) are one line on stderr and exit code 2.

Example::

    newsbeam topics setup --project my-project \\
        --subscription tiktok-china --filter 'attributes:platform_tiktok AND attributes:state_china'
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.pubsub_checks import (
    SetupError,
    check_emulator,
    filter_problem,
    service_name,
)

EXIT_OK = 0
EXIT_CONFLICT = 1  # an existing subscription differs from the one asked for
EXIT_ERROR = 2
DEFAULT_TOPIC = "tagged-stories"
DEFAULT_DEAD_LETTER_TOPIC = "newsbeam-dead-letters"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SetupReport:
    """What ``setup_pubsub`` did: one line per resource, and the subscriptions that differ."""

    lines: list[str]
    conflicts: list[str]  # paths of existing subscriptions unlike the ones asked for


@dataclass(frozen=True)
class SubscriptionSpec:
    """A subscription to create: its name and its filter ("" for every message)."""

    name: str
    filter: str = ""


class _AddSubscription(argparse.Action):
    """``--subscription NAME`` starts a subscription; a following ``--filter`` belongs to it."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        specs = list(getattr(namespace, "subscriptions", None) or [])
        if option == "--filter":
            if not specs or specs[-1].filter:
                parser.error("each --filter must follow the --subscription it applies to")
            specs[-1] = SubscriptionSpec(specs[-1].name, str(values))
        else:
            specs.append(SubscriptionSpec(str(values)))
        namespace.subscriptions = specs


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``topics`` command (``topics setup``).

    Args:
        subparsers: The ``newsbeam`` command's subparsers.
    """
    topics = subparsers.add_parser("topics", help="set up the Pub/Sub topics and subscriptions")
    actions = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    setup = actions.add_parser(
        "setup",
        help="create the story topic, the dead-letter topic and subscriptions (idempotent)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    add_arguments(setup)
    setup.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``topics setup`` options to a parser.

    Args:
        parser: The parser of ``topics setup``.
    """
    parser.add_argument("--project", required=True, help="Google Cloud project id")
    parser.add_argument(
        "--topic",
        default=DEFAULT_TOPIC,
        help=f"story topic name or projects/P/topics/T path (default: {DEFAULT_TOPIC})",
    )
    parser.add_argument(
        "--dead-letter-topic",
        default=DEFAULT_DEAD_LETTER_TOPIC,
        help=f"dead-letter topic name (default: {DEFAULT_DEAD_LETTER_TOPIC})",
    )
    parser.add_argument(
        "--subscription",
        dest="subscriptions",
        metavar="NAME",
        action=_AddSubscription,
        default=[],
        help="a subscription to the story topic (repeatable)",
    )
    parser.add_argument(
        "--filter",
        dest="subscriptions",
        metavar="EXPR",
        action=_AddSubscription,
        help="the filter of the preceding --subscription, e.g. "
        "'attributes:platform_tiktok AND attributes:state_china' (at most 256 bytes; AND, OR, "
        'NOT in capitals; AND and OR mixed only with parentheses; values quoted: "CN")',
    )
    parser.add_argument(
        "--dead-letter-subscription",
        metavar="NAME",
        default=None,
        help="a subscription to the dead-letter topic",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each request may take, retries included (default: {DEFAULT_TIMEOUT:g})",
    )


def _seconds(text: str) -> float:
    """``--timeout``'s seconds: a positive number (0, negative or NaN timed every request out
    at once, which read as an emulator that could not be reached)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return seconds


def check_project(project: str) -> str:
    """Check a Google Cloud project id.

    The emulator takes any string (even ``""``, making ``projects//topics/T``); Pub/Sub
    itself refuses what this refuses.

    Args:
        project: The project id, e.g. ``my-project``.

    Returns:
        The project id, unchanged.

    Raises:
        SetupError: The id is empty or malformed; the message shows the expected form.
    """
    from transforms.pubsub_names import PROJECT_ID, PROJECT_RULE

    if not PROJECT_ID.fullmatch(project):
        raise SetupError(f"not a Google Cloud project id: {project!r} ({PROJECT_RULE})")
    return project


def _check_names(
    project: str,
    topic: str,
    dead_letter_topic: str | None,
    subscriptions: list[SubscriptionSpec] | None,
    dead_letter_subscription: str | None,
) -> None:
    """Check every name before anything is created: a bad subscription name used to be
    refused by the service after the topics had been made, without the rule; a name given
    twice made one subscription, reported as existing with another filter."""
    from transforms.pubsub_messages import PubSubError
    from transforms.pubsub_names import check_subscription, check_topic

    def full(name: str, kind: str) -> str:
        return name if name.startswith("projects/") else f"projects/{project}/{kind}/{name}"

    try:
        for name in (topic, dead_letter_topic):
            if name:
                check_topic(full(name, "topics"))
        seen: set[str] = set()
        for name in [*(spec.name for spec in subscriptions or []), dead_letter_subscription]:
            if name:
                path = check_subscription(full(name, "subscriptions"))
                if path in seen:
                    raise SetupError(
                        f"subscription {name!r} is named twice: a subscription reads one topic "
                        "with one filter, give each its own name"
                    )
                seen.add(path)
    except PubSubError as exc:
        raise SetupError(str(exc)) from None
    for spec in subscriptions or []:
        problem = filter_problem(spec.filter)
        if problem:
            raise SetupError(f"bad --filter of subscription {spec.name!r}: {problem}")
    if dead_letter_subscription and not dead_letter_topic:  # refused after the topics were made
        raise SetupError("--dead-letter-subscription needs a dead-letter topic")
    if dead_letter_topic and full(dead_letter_topic, "topics") == full(topic, "topics"):
        raise SetupError(
            f"--dead-letter-topic is the story topic ({dead_letter_topic!r}): dead letters "
            "need a topic of their own"
        )


def _short(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _clients() -> tuple[Any, Any]:
    """Publisher and subscriber admin clients, or SetupError without credentials."""
    import google.auth.exceptions
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    try:
        return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    except google.auth.exceptions.DefaultCredentialsError:
        from transforms.pubsub_names import NO_CREDENTIALS

        raise SetupError(NO_CREDENTIALS) from None


def _api_error(exc: Exception, what: str) -> SetupError:
    from google.api_core import exceptions as api

    where = service_name()
    if isinstance(exc, api.RetryError | api.ServiceUnavailable | api.DeadlineExceeded):
        return SetupError(f"cannot reach {where} to create {what}")
    if isinstance(exc, api.PermissionDenied | api.Unauthenticated):
        return SetupError(f"permission denied creating {what}: {exc.message}")
    if isinstance(exc, api.NotFound):
        return SetupError(f"not found while creating {what} (does the project exist?)")
    if isinstance(exc, api.GoogleAPICallError):
        return SetupError(f"cannot create {what}: {exc.message}")
    return SetupError(f"cannot create {what}: {exc}")


def setup_pubsub(
    project: str,
    topic: str = DEFAULT_TOPIC,
    dead_letter_topic: str | None = DEFAULT_DEAD_LETTER_TOPIC,
    subscriptions: list[SubscriptionSpec] | None = None,
    dead_letter_subscription: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    echo: Callable[[str], None] | None = None,
) -> SetupReport:
    """Create what is missing among the topics and subscriptions; leave the rest alone.

    Args:
        project: The project id.
        topic: The story topic's name.
        dead_letter_topic: The dead-letter topic's name, or None for none.
        subscriptions: Subscriptions to the story topic.
        dead_letter_subscription: A subscription to the dead-letter topic, or None.
        timeout: Seconds each request may take, retries included.
        echo: Called with each line as soon as it is known (e.g. ``print``).

    Returns:
        One line per resource (``created ...`` or ``exists ... (left alone)``), and the
        existing subscriptions whose topic or filter differs from the one asked for.

    Raises:
        SetupError: A malformed project id, no credentials, the service is unreachable, or
            a request was refused.
    """
    check_project(project)
    _check_names(project, topic, dead_letter_topic, subscriptions, dead_letter_subscription)
    check_emulator()
    from google.api_core import exceptions as api
    from google.api_core.retry import Retry, if_transient_error

    publisher, subscriber = _clients()
    retry = Retry(predicate=if_transient_error, initial=0.2, maximum=2.0, timeout=timeout)
    call: dict[str, Any] = {"retry": retry, "timeout": timeout}
    lines: list[str] = []
    conflicts: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        if echo is not None:
            echo(line)

    def ensure_topic(name: str) -> str:
        path = name if name.startswith("projects/") else publisher.topic_path(project, name)
        try:
            publisher.create_topic(request={"name": path}, **call)
            report(f"created topic {path}")
        except api.AlreadyExists:
            report(f"exists  topic {path} (left alone)")
        except Exception as exc:
            raise _api_error(exc, f"topic {path}") from None
        return path

    def ensure_subscription(spec: SubscriptionSpec, topic_path: str) -> None:
        path = spec.name
        if not path.startswith("projects/"):
            path = subscriber.subscription_path(project, spec.name)
        request = {"name": path, "topic": topic_path, "filter": spec.filter}
        shown = f"subscription {path} to {_short(topic_path)}"
        shown += f" with filter {spec.filter!r}" if spec.filter else ""
        try:
            subscriber.create_subscription(request=request, **call)
            report(f"created {shown}")
            return
        except api.AlreadyExists:
            pass
        except Exception as exc:
            raise _api_error(exc, f"subscription {path}") from None
        try:
            current = subscriber.get_subscription(request={"subscription": path}, **call)
        except Exception as exc:
            raise _api_error(exc, f"subscription {path}") from None
        note = "left alone"
        if current.topic != topic_path:
            now, asked = _short(current.topic), _short(topic_path)
            if now == asked:  # the same name in another project
                now, asked = current.topic, topic_path
            note = (
                f"left alone: it reads topic {now}, not {asked};"
                " a subscription cannot change topic, delete it to replace it or choose "
                "another name"
            )
            conflicts.append(path)
        elif current.filter != spec.filter:
            note = (
                f"left alone: it reads {_short(current.topic)} with filter {current.filter!r};"
                " a filter cannot change, delete the subscription to replace it"
            )
            conflicts.append(path)
        report(f"exists  subscription {path} ({note})")

    try:
        story_topic = ensure_topic(topic)
        dead_topic = ensure_topic(dead_letter_topic) if dead_letter_topic else None
        for spec in subscriptions or []:
            ensure_subscription(spec, story_topic)
        if dead_letter_subscription and dead_topic is not None:  # else refused at first
            ensure_subscription(SubscriptionSpec(dead_letter_subscription), dead_topic)
    finally:
        publisher.transport.close()
        subscriber.close()
    return SetupReport(lines, conflicts)


def run(args: argparse.Namespace) -> int:
    """Run ``newsbeam topics setup``.

    Args:
        args: Parsed options (``project``, ``topic``, ``dead_letter_topic``,
            ``subscriptions``, ``dead_letter_subscription``, ``timeout``).

    Returns:
        The exit code: 0; 1 when an existing subscription differs from the one asked for
        (its line says how); 2 after a one-line message on stderr.
    """
    try:
        report = setup_pubsub(
            args.project,
            args.topic,
            args.dead_letter_topic or None,
            list(args.subscriptions or []),
            args.dead_letter_subscription,
            args.timeout,
            echo=print,
        )
    except SetupError as exc:
        print(f"newsbeam topics setup: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if report.conflicts:
        names = ", ".join(report.conflicts)
        print(
            f"newsbeam topics setup: {len(report.conflicts)} existing subscription(s) differ "
            f"from what was asked and were left alone: {names}",
            file=sys.stderr,
        )
        return EXIT_CONFLICT
    return EXIT_OK
