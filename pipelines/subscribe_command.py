"""``newsbeam subscribe``: print the stories of a Pub/Sub subscription as they arrive.

Consumes messages of a subscription to newsbeam's story topic (or its dead-letter topic);
produces on stdout one readable block per story (title, outlet with country and state
affiliation, time, tags, URL) or per dead letter, or with --json the raw message data,
one JSON line each, for piping. Each message is acknowledged once printed. Runs until
Ctrl-C, --max-messages or --timeout (a duration: 90, 30s, 5m, 2h).
Errors (a malformed or unknown subscription, no credentials, an unreachable emulator) are
one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 2
PULL_BATCH = 100
PULL_WAIT = 10.0  # seconds one pull may wait for messages
ACK_WAIT = 30.0  # seconds an acknowledgement may take (then: one line, exit code 2)


class SubscribeError(RuntimeError):
    """The subscription cannot be read; the message says why."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``subscribe`` command.

    Args:
        subparsers: The ``newsbeam`` command's subparsers.
    """
    parser = subparsers.add_parser(
        "subscribe",
        help="print the stories of a Pub/Sub subscription as they arrive",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``subscribe`` options to a parser.

    Args:
        parser: The parser of ``subscribe``.
    """
    parser.add_argument("--subscription", required=True, help="projects/PROJECT/subscriptions/NAME")
    parser.add_argument("--json", action="store_true", help="print each message's JSON, one a line")
    parser.add_argument(
        "--max-messages",
        type=int,
        default=None,
        metavar="N",
        help="stop after N messages (it waits for them: add --timeout to stop when fewer come)",
    )
    parser.add_argument(
        "--timeout",
        default=None,
        metavar="DURATION",
        help="stop after DURATION, as 'newsbeam run' takes them: seconds (90) or 30s, 5m, 2h",
    )


def _outlet_line(outlet: dict[str, Any]) -> str:
    name = outlet.get("name")
    domain = outlet.get("domain") or "?"
    parts = [f"{name} ({domain})" if name else domain]
    parts.append(outlet.get("country") or "country unknown")
    code = outlet.get("state_affiliation")
    if code:
        media = " (state media)" if outlet.get("state_media") else ""
        parts.append(f"state affiliation {code}{media}")
    elif outlet.get("state_media") is False:
        parts.append("no state affiliation")
    return " | ".join(parts)


def _tags_line(story: dict[str, Any]) -> str:
    facets = (
        ("platforms", "platforms"),
        ("state actors", "state_actors"),
        ("controversies", "controversies"),
    )
    parts = [f"{label}: {', '.join(story[key])}" for label, key in facets if story.get(key)]
    return " | ".join(parts) or "none"


def format_story(story: dict[str, Any]) -> str:
    """A readable block for one story record (``TaggedStory.to_json()``).

    Args:
        story: The story JSON.

    Returns:
        Lines: title, outlet, time and language, tags, URL (and notes), no trailing newline.
    """
    relevant = "relevant" if story.get("relevant") else "not relevant"
    score = story.get("score")
    lines = [
        f"== {story.get('title') or '(no title)'}",
        f"   outlet:  {_outlet_line(story.get('outlet') or {})}",
        f"   time:    {story.get('published_at') or 'unknown'}"
        f"   language: {story.get('language') or 'unknown'}",
        f"   tags:    {_tags_line(story)} ({relevant}"
        + (f", score {score})" if score is not None else ")"),
        f"   url:     {story.get('url')}",
    ]
    if story.get("duplicate_of"):
        lines.append(f"   copy of: {story['duplicate_of']}")
    if story.get("text_truncated"):
        lines.append("   note:    text truncated to fit a Pub/Sub message")
    return "\n".join(lines)


def format_duplicate_link(record: dict[str, Any]) -> str:
    """A readable block for a later copy of a story (``--duplicates link``).

    Returns:
        Lines: which story it copies, the copy's outlet and URL.
    """
    outlet = record.get("outlet")
    outlet = outlet if isinstance(outlet, dict) else {"domain": outlet}  # schema 2: a domain
    return (
        f"== copy of story {record.get('duplicate_of')}\n"
        f"   outlet:  {_outlet_line(outlet)}\n"
        f"   url:     {record.get('url')}"
    )


def format_syndication_update(record: dict[str, Any]) -> str:
    """A readable line for the outlets that carried a story so far."""
    outlets = record.get("syndication") or []
    return f"== story {record.get('story_id')} carried by {len(outlets)}: {', '.join(outlets)}"


def format_dead_letter(record: dict[str, Any]) -> str:
    """A readable block for one dead letter (``Failure.to_json()``).

    Args:
        record: The dead-letter JSON.

    Returns:
        Two lines: stage/error type (retryable or not) and URL, then the message.
    """
    retry = "retryable" if record.get("retryable") else "not retryable"
    return (
        f"!! failed at {record.get('stage')}: {record.get('error_type')} ({retry})"
        f"  {record.get('url')}\n   {record.get('message')}"
    )


# Control characters other than the newline (C0, DEL, C1) shown as escapes: a feed's title
# or a page's text goes to the terminal here, and an escape sequence in it could rewrite the
# screen or the window title, or print lines that look like newsbeam's own.
_TERMINAL_SAFE = {
    code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if code != 0x0A
}
# The same characters in JSON (which escapes C0 itself, but not DEL or C1).
_JSON_SAFE = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0))}


def format_message(data: bytes, attributes: dict[str, str]) -> str:
    """A readable block for any message: a story, a dead letter, or something else.

    A message that looks like newsbeam's but whose fields are not what newsbeam writes (an
    outlet that is a string, platforms that are numbers: another publisher's, or a hand-made
    one) is shown as a foreign message, not a traceback: unacknowledged, it would come first
    again, and stop every later run at the same place.

    Args:
        data: The message data.
        attributes: The message attributes.

    Returns:
        The block, no trailing newline; control characters but newlines shown as ``\\xNN``,
        and what cannot be written as UTF-8 (a lone surrogate) as ``\\uNNNN``.
    """
    try:
        block = _readable_block(data, attributes)
    except (AttributeError, TypeError, ValueError, KeyError):
        block = _foreign(data, attributes)
    return _encodable(block.translate(_TERMINAL_SAFE))


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate (JSON's ``"\\ud800"`` decodes to one) as ``\\ud800``:
    printed as it was, it failed the whole write."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _foreign(data: bytes, attributes: dict[str, str]) -> str:
    shown = data.decode("utf-8", "replace")[:500]
    return f"?? not a newsbeam message (attributes {dict(attributes)}): {shown}"


def _readable_block(data: bytes, attributes: dict[str, str]) -> str:
    try:
        record = json.loads(data)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or JSON json.loads refuses
        record = None
    # newsbeam's story ids are strings: {"story_id": 5} printed as a story "(no title)"
    if not isinstance(record, dict) or not isinstance(record.get("story_id", ""), str):
        return _foreign(data, attributes)
    if record.get("record_type") == "duplicate_link":
        return format_duplicate_link(record)
    if record.get("record_type") == "syndication_update":
        return format_syndication_update(record)
    if "story_id" in record:
        return format_story(record)
    if "stage" in attributes and "error_type" in record:
        return format_dead_letter(record)
    return _foreign(data, attributes)


def _json_line(data: bytes, ascii_only: bool = False) -> str:
    """The message's data as one compact JSON line; with ``ascii_only``, every character
    beyond ASCII written as JSON's ``\\uNNNN`` escape (the same JSON, for a standard output
    that cannot write UTF-8)."""
    text = data.decode("utf-8", "replace")
    try:
        line = json.dumps(json.loads(text), ensure_ascii=ascii_only, separators=(",", ":"))
    except (ValueError, RecursionError):
        line = json.dumps({"data": text}, ensure_ascii=ascii_only)
    return _encodable(line.translate(_JSON_SAFE))  # a lone surrogate: JSON's own escape again


def _narrow_stdout() -> str | None:
    """The encoding of the standard output where it cannot write every character, else
    None. It is the locale's: ASCII under ``LANG=C`` with ``PYTHONUTF8=0``, Latin-1 under
    ``en_US.ISO-8859-1``, where a title's em dash or a Chinese outlet name failed the whole
    write with a traceback."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        "\u2014\u6e2f\U0001f4f0".encode(encoding)
    except UnicodeEncodeError:
        return encoding
    except LookupError:  # an encoding Python does not know: written as Python would
        return None
    return None


def _writable(block: str, encoding: str | None) -> str:
    """``block`` with each character ``encoding`` cannot write as ``\\xNN``, ``\\uNNNN``
    (as Python writes its own error messages on such a terminal)."""
    return (
        block if encoding is None else block.encode(encoding, "backslashreplace").decode(encoding)
    )


def receive(
    subscription: str,
    as_json: bool = False,
    max_messages: int | None = None,
    timeout: float | None = None,
) -> int:
    """Print and acknowledge messages until ``max_messages`` or ``timeout``.

    Args:
        subscription: ``projects/P/subscriptions/S``.
        as_json: Print each message's data as one JSON line instead of a block.
        max_messages: Stop after this many messages (None: no limit).
        timeout: Stop after this many seconds (None: no limit).

    Returns:
        How many messages were printed.

    Raises:
        SubscribeError: The subscription is malformed, unknown or unreachable.
    """
    from pipelines.pubsub_checks import SetupError, check_emulator, service_name
    from transforms.pubsub_messages import PubSubError
    from transforms.pubsub_names import NO_CREDENTIALS, check_subscription

    try:
        check_subscription(subscription)
        check_emulator()
    except (PubSubError, SetupError) as exc:
        raise SubscribeError(str(exc)) from None
    import google.auth.exceptions
    from google.api_core import exceptions as api
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    try:
        subscriber = _subscriber_client(pubsub_v1)
    except google.auth.exceptions.DefaultCredentialsError:
        raise SubscribeError(NO_CREDENTIALS) from None
    deadline = None if timeout is None else time.monotonic() + timeout
    narrow = _narrow_stdout()
    printed = 0
    try:
        while max_messages is None or printed < max_messages:
            left = PULL_WAIT if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            want = PULL_BATCH if max_messages is None else min(PULL_BATCH, max_messages - printed)
            try:
                response = subscriber.pull(
                    request={"subscription": subscription, "max_messages": want},
                    timeout=min(left, PULL_WAIT),
                    retry=None,
                )
            except api.DeadlineExceeded:
                continue  # nothing arrived in time: pull again
            except api.ServiceUnavailable as exc:
                raise SubscribeError(f"cannot reach {service_name()}: {exc.message}") from None
            except api.NotFound:
                raise SubscribeError(f"no such subscription: {subscription}") from None
            except api.GoogleAPICallError as exc:
                raise SubscribeError(f"cannot pull from {subscription}: {exc.message}") from None
            received = list(response.received_messages)
            for item in received:
                message = item.message
                if as_json:
                    print(_json_line(message.data, ascii_only=narrow is not None))
                else:
                    block = format_message(message.data, dict(message.attributes))
                    print(_writable(block, narrow) + "\n")
            sys.stdout.flush()
            if received:
                ack_ids = [m.ack_id for m in received]
                try:
                    subscriber.acknowledge(
                        request={"subscription": subscription, "ack_ids": ack_ids},
                        timeout=ACK_WAIT,
                        retry=None,
                    )
                except api.GoogleAPICallError as exc:
                    raise SubscribeError(
                        f"the {len(received)} messages printed last could not be acknowledged "
                        f"({exc.message or type(exc).__name__}): the subscription delivers "
                        "them again"
                    ) from None
                printed += len(received)
    finally:
        subscriber.close()
    return printed


def _subscriber_client(pubsub_v1: Any) -> Any:
    """A SubscriberClient. On the emulator, its channel takes answers of any size, as the
    client's channel to Google's service does: the library opens the emulator's with gRPC's
    default of 4 MiB, and a pull of messages near newsbeam's 1,000,000-byte cap (five are
    enough) failed, every run again, since nothing was acknowledged."""
    emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not emulator:
        return pubsub_v1.SubscriberClient()
    import grpc
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    channel = grpc.insecure_channel(emulator, options=[("grpc.max_receive_message_length", -1)])
    return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))


def run(args: argparse.Namespace) -> int:
    """Run ``newsbeam subscribe``.

    Args:
        args: Parsed options (``subscription``, ``json``, ``max_messages``, ``timeout``).

    Returns:
        The exit code: 0 (also on Ctrl-C), or 2 after a one-line message on stderr.
    """
    if args.max_messages is not None and args.max_messages < 1:
        print("newsbeam subscribe: error: --max-messages must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    timeout = None
    if args.timeout is not None:
        from pipelines.options import parse_duration

        try:
            timeout = parse_duration(args.timeout)
        except argparse.ArgumentTypeError as exc:
            print(f"newsbeam subscribe: error: --timeout: {exc}", file=sys.stderr)
            return EXIT_ERROR
    # Started with its standard output closed (>&-), the command prints to the /dev/null
    # ``cli.entry`` opened in its place (a shell's >/dev/null keeps the name <stdout>); each
    # message is acknowledged once printed: here, printed to no one.
    if getattr(sys.stdout, "name", None) == os.devnull:
        print(
            "newsbeam subscribe: error: the standard output is closed: the messages would be "
            "acknowledged and printed nowhere (redirect it to a file, or to /dev/null to "
            "drop them)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        receive(args.subscription, args.json, args.max_messages, timeout)
    except SubscribeError as exc:
        print(f"newsbeam subscribe: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK
