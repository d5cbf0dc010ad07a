"""topics setup and subscribe without the emulator: what is checked before any request, and
what a message prints as. (Their runs against the emulator: tests/test_topics_subscribe.py.)"""

from __future__ import annotations

import argparse
import json
import socket
from typing import Any

import pytest

from pipelines import pubsub_checks, subscribe_command, topics_command
from pipelines.topics_command import SubscriptionSpec
from tests.conftest import run_cli

# --- newsbeam topics setup: what is checked before any request ------------------------------


def topics_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    topics_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_each_filter_belongs_to_the_subscription_before_it() -> None:
    args = topics_args(
        *("--project", "my-project", "--subscription", "tc", "--filter", "attributes:a"),
        *("--subscription", "all"),
    )
    assert args.subscriptions == [SubscriptionSpec("tc", "attributes:a"), SubscriptionSpec("all")]


@pytest.mark.parametrize(
    "argv",
    [
        ["--filter", "attributes:a"],  # no subscription before it
        ["--subscription", "tc", "--filter", "attributes:a", "--filter", "attributes:b"],
    ],
)
def test_a_filter_without_its_own_subscription_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        topics_args("--project", "my-project", *argv)
    assert exited.value.code == 2
    assert "each --filter must follow the --subscription it applies to" in capsys.readouterr().err


@pytest.mark.parametrize(
    "project",
    [
        "abcde",  # 5 characters: one short
        "a" + "b" * 29 + "c",  # 31: one long
        "my-project-",
        "1project",
        "my-project/topics",
    ],
)
@pytest.mark.usefixtures("no_credentials")
def test_malformed_project_ids_are_refused_before_credentials_are_looked_for(
    capsys: pytest.CaptureFixture[str],
    project: str,
) -> None:
    # No emulator and no credentials: a check that came later would say that instead.
    code, out, err = run_cli(capsys, "topics", "setup", "--project", project)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"newsbeam topics setup: error: not a Google Cloud project id: {project!r} (6-30 "
        "lowercase letters, digits or hyphens, starting with a letter, e.g. my-project)"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--subscription", "ab"],
            "not a subscription path: 'projects/my-project/subscriptions/ab' (expected "
            "projects/PROJECT/subscriptions/NAME, NAME 3-255 letters, digits or -._~%+, "
            "starting with a letter, not with goog)",
        ),
        (["--topic", "tt"], "not a Pub/Sub topic path: 'projects/my-project/topics/tt'"),
        (["--dead-letter-topic", "goog-dead"], "not a Pub/Sub topic path"),
        (["--dead-letter-subscription", "9lives"], "not a subscription path"),
        (["--subscription", "projects/other/subscriptions/s/x"], "not a subscription path"),
    ],
)
@pytest.mark.usefixtures("no_credentials")
def test_names_pubsub_refuses_are_refused_before_anything_is_created(
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    # The service refused a bad subscription name only after the topics had been created, and
    # its message did not give the rule. No emulator and no credentials here: the names are
    # checked before any client is made.
    code, out, err = run_cli(capsys, "topics", "setup", "--project", "my-project", *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"newsbeam topics setup: error: {message}")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--subscription", "same", "--dead-letter-subscription", "same"],
            "subscription 'same' is named twice: a subscription reads one topic with one "
            "filter, give each its own name",
        ),
        (
            ["--subscription", "same", "--subscription", "same"],
            "subscription 'same' is named twice",
        ),
        (
            ["--subscription", "same", "--filter", "attributes:a"]
            + ["--subscription", "projects/my-project/subscriptions/same"],
            "subscription 'projects/my-project/subscriptions/same' is named twice",
        ),
        (
            ["--dead-letter-topic", "tagged-stories"],
            "--dead-letter-topic is the story topic ('tagged-stories'): dead letters need a "
            "topic of their own",
        ),
        (
            ["--topic", "stories", "--dead-letter-topic", "projects/my-project/topics/stories"],
            "--dead-letter-topic is the story topic",
        ),
    ],
)
@pytest.mark.usefixtures("no_credentials")
def test_a_subscription_named_twice_or_one_topic_for_both_uses_is_refused_first(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # '--subscription same --dead-letter-subscription same' made one subscription and then
    # reported it "left alone" with a filter, exit 0: no dead-letter subscription.
    code, out, err = run_cli(capsys, "topics", "setup", "--project", "my-project", *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"newsbeam topics setup: error: {message}")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("no_credentials")
def test_a_bad_filter_is_one_line_and_exit_2_before_anything_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--subscription", "all", "--subscription", "tiktok-china"]
    argv += ["--filter", "attributes:platform_tiktok and attributes:state_china"]
    code, out, err = run_cli(capsys, "topics", "setup", "--project", "my-project", *argv)
    assert (code, out) == (2, "")
    assert err == (
        "newsbeam topics setup: error: bad --filter of subscription 'tiktok-china': "
        "operators are written in capitals: AND, not and\n"
    )


@pytest.mark.parametrize("project", ["abcdef", "a" + "b" * 28 + "c", "example.com:my-project"])
def test_project_ids_of_each_allowed_length_and_legacy_ids_pass(project: str) -> None:
    assert topics_command.check_project(project) == project


@pytest.mark.parametrize(
    ("error", "emulator", "message"),
    [
        (
            "DeadlineExceeded",
            "127.0.0.1:8085",
            "cannot reach the emulator at 127.0.0.1:8085 (PUBSUB_EMULATOR_HOST) to create topic T",
        ),
        ("ServiceUnavailable", None, "cannot reach Pub/Sub to create topic T"),
        ("Unauthenticated", None, "permission denied creating topic T: boom"),
        ("PermissionDenied", None, "permission denied creating topic T: boom"),
        ("NotFound", None, "not found while creating topic T (does the project exist?)"),
        ("InvalidArgument", None, "cannot create topic T: boom"),
    ],
)
def test_pubsub_errors_become_one_line_saying_what_to_fix(
    monkeypatch: pytest.MonkeyPatch, error: str, emulator: str | None, message: str
) -> None:
    from google.api_core import exceptions as api

    if emulator is None:
        monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    else:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator)
    exc = getattr(api, error)("boom")
    assert str(topics_command._api_error(exc, "topic T")) == message


@pytest.mark.parametrize(
    "value",
    ["localhost", "127.0.0.1:", ":8085", "127.0.0.1:port"]
    # were "nothing accepts connections there", even with the emulator listening
    + ["http://127.0.0.1:8085", "127.0.0.1:99999", "127.0.0.1:0"],
)
def test_an_emulator_address_that_is_not_host_port_is_named_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", value)
    with pytest.raises(pubsub_checks.SetupError) as raised:
        pubsub_checks.check_emulator()
    assert str(raised.value).startswith(f"PUBSUB_EMULATOR_HOST={value!r} is not HOST:PORT; ")
    assert "scripts/pubsub-emulator start" in str(raised.value)


def test_the_emulator_check_passes_when_something_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{listening.getsockname()[1]}")
        pubsub_checks.check_emulator()  # no error
        monkeypatch.delenv("PUBSUB_EMULATOR_HOST")
        pubsub_checks.check_emulator()  # nothing to check without the variable


# --- newsbeam subscribe: argument checks and what a message prints as -----------------------


def subscribe_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    subscribe_command.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-messages", "0"], "--max-messages must be at least 1"),
        (["--timeout", "-1"], "--timeout: duration must be positive: '-1'"),
        (["--timeout", "0"], "--timeout: duration must be positive: '0'"),
        (["--timeout", "0s"], "--timeout: duration must be positive: '0s'"),
        (["--timeout", "inf"], "--timeout: duration must be positive: 'inf'"),
        (["--timeout", "5x"], "--timeout: not a duration: '5x'"),
        (
            ["--subscription", "projects/my-project/subscriptions/goog-sub"],
            "not a subscription path",
        ),
        (["--subscription", "projects/my-project/subscriptions/ab"], "not a subscription path"),
        (["--subscription", "projects/my-project/subscriptions/1abc"], "not a subscription path"),
        (["--subscription", "projects/my-project/subscriptions/abc/x"], "not a subscription path"),
        (["--subscription", "projects/my_project/subscriptions/abc"], "its project 'my_project'"),
    ],
)
@pytest.mark.usefixtures("no_credentials")
def test_subscribe_refuses_bad_arguments_before_looking_for_credentials(
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    args = subscribe_args("--subscription", "projects/my-project/subscriptions/tc", *argv)
    assert subscribe_command.run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("newsbeam subscribe: error: ")
    assert message in err[0]


@pytest.mark.usefixtures("no_credentials")
def test_subscribe_takes_durations_as_newsbeam_run_does_and_plain_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # '--timeout 5m' was refused ("invalid float value: '5m'") though 'newsbeam run' takes
    # it. Accepted, the command goes on to look for credentials (there are none here).
    for timeout in ["5m", "30s", "2h", "90", "0.5"]:
        sub = "projects/my-project/subscriptions/tiktok-china"
        assert subscribe_command.run(subscribe_args("--subscription", sub, "--timeout", timeout))
        assert "no Google Cloud credentials" in capsys.readouterr().err, timeout


def message_block(record: dict[str, Any], **attributes: str) -> list[str]:
    return subscribe_command.format_message(json.dumps(record).encode(), attributes).splitlines()


STATE_MEDIA_STORY = {
    "schema_version": 3,
    "story_id": "c0ffee",
    "title": "TikTok faces a ban",
    "url": "https://www.globaltimes.cn/a",
    "published_at": "2026-03-04T09:30:00+00:00",
    "language": "en",
    "outlet": {
        "domain": "globaltimes.cn",
        "name": "Global Times",
        "country": "CN",
        "language": "zh",
        "state_affiliation": "CN",
        "state_media": True,
    },
    "relevant": True,
    "score": 0.82,
    "platforms": ["tiktok"],
    "state_actors": ["china", "united_states"],
    "controversies": [],
    "duplicate_of": "f00d",
    "text_truncated": True,
}


def test_a_story_prints_its_outlet_tags_and_notes() -> None:
    assert message_block(STATE_MEDIA_STORY) == [
        "== TikTok faces a ban",
        "   outlet:  Global Times (globaltimes.cn) | CN | state affiliation CN (state media)",
        "   time:    2026-03-04T09:30:00+00:00   language: en",
        "   tags:    platforms: tiktok | state actors: china, united_states (relevant, score 0.82)",
        "   url:     https://www.globaltimes.cn/a",
        "   copy of: f00d",
        "   note:    text truncated to fit a Pub/Sub message",
    ]


@pytest.mark.parametrize(
    ("outlet", "line"),
    [
        # an outlet no one knows: every field but the domain is null
        (
            {"domain": "blog.example", "name": None, "country": None, "state_affiliation": None},
            "blog.example | country unknown",
        ),
        (
            {"domain": "apnews.com", "name": "AP", "country": "US", "state_affiliation": None}
            | {"state_media": False},
            "AP (apnews.com) | US | no state affiliation",
        ),
        (
            {"domain": "voanews.com", "name": None, "country": "US", "state_affiliation": "US"}
            | {"state_media": False},
            "voanews.com | US | state affiliation US",
        ),
    ],
)
def test_a_story_without_tags_prints_none_and_a_zero_score(
    outlet: dict[str, Any], line: str
) -> None:
    story: dict[str, Any] = {
        "story_id": "ab",
        "title": None,
        "url": "https://x.example/1",
        "outlet": outlet,
    }
    story |= {"relevant": False, "score": 0.0, "platforms": [], "state_actors": []}
    block = message_block(story)
    assert block[0] == "== (no title)"
    assert block[1] == f"   outlet:  {line}"
    assert block[2] == "   time:    unknown   language: unknown"
    assert block[3] == "   tags:    none (not relevant, score 0.0)"
    assert len(block) == 5


def test_a_schema_2_link_names_its_outlet_by_domain() -> None:
    link = {"record_type": "duplicate_link", "schema_version": 2, "story_id": "c0ffee"}
    link |= {"duplicate_of": "f00d", "url": "https://www.rt.com/news/1", "outlet": "rt.com"}
    assert message_block(link) == [
        "== copy of story f00d",
        "   outlet:  rt.com | country unknown",
        "   url:     https://www.rt.com/news/1",
    ]


def test_a_syndication_update_counts_its_outlets() -> None:
    update: dict[str, Any] = {"record_type": "syndication_update", "story_id": "f00d"}
    update["syndication"] = ["apnews.com", "rt.com", "bbc.co.uk"]
    assert message_block(update) == ["== story f00d carried by 3: apnews.com, rt.com, bbc.co.uk"]


def test_a_dead_letter_prints_stage_error_and_whether_it_is_retried() -> None:
    letter: dict[str, Any] = {
        "stage": "fetch",
        "url": "https://x.example/1",
        "error_type": "http_404",
    }
    letter |= {"message": "not found", "retryable": False, "input": None, "counts_entry": True}
    attributes = {"stage": "fetch", "error_type": "http_404"}
    assert message_block(letter, **attributes) == [
        "!! failed at fetch: http_404 (not retryable)  https://x.example/1",
        "   not found",
    ]


def test_messages_newsbeam_did_not_send_are_shown_cut_not_parsed() -> None:
    # Another sender's JSON with an error_type but no stage attribute is not a dead letter;
    # data that is not UTF-8 shows replaced; long data is cut at 500 characters.
    other = {"error_type": "x", "note": "y" * 600}
    [line] = message_block(other)
    assert line.startswith("?? not a newsbeam message (attributes {}): {")
    assert line.endswith(json.dumps(other)[:500])
    raw = subscribe_command.format_message(b"\xff\xfe not json", {"k": "v"})
    assert raw == "?? not a newsbeam message (attributes {'k': 'v'}): \ufffd\ufffd not json"


def test_json_lines_are_compact_and_wrap_what_is_not_json() -> None:
    data = json.dumps({"story_id": "c0ffee", "title": "Caf\u00e9", "tags": [1, 2]}).encode()
    assert (
        subscribe_command._json_line(data)
        == '{"story_id":"c0ffee","title":"Caf\u00e9","tags":[1,2]}'
    )
    assert subscribe_command._json_line(b"plain text") == '{"data": "plain text"}'


def test_control_characters_reach_the_terminal_as_escapes() -> None:
    # a feed's title that would clear the screen, retitle the window and print a fake line
    title = "\x1b]0;pwned\x07\x1b[2J\rnewsbeam: error\x9b31m"
    story = {"story_id": "c0ffee", "title": title, "url": "https://a.example/1", "tags": []}
    data = json.dumps(story).encode()
    block = subscribe_command.format_message(data, {})
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x0dnewsbeam: error\\x9b31m" in block
    assert not any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 for c in block)
    line = subscribe_command._json_line(data)
    assert "\x9b" not in line and json.loads(line)["title"] == title


@pytest.mark.parametrize("data", [b'{"n": ' + b"1" * 5000 + b"}", b"[" * 100_000])
def test_json_python_cannot_read_prints_as_a_foreign_message(data: bytes) -> None:
    # An integer of over 4,300 digits or nesting past the recursion limit: json.loads
    # raises ValueError or RecursionError there. That stopped `newsbeam subscribe` before
    # it acknowledged the message, so the next start met the same message again.
    block = subscribe_command.format_message(data, {})
    assert block == f"?? not a newsbeam message (attributes {{}}): {data[:500].decode()}"
    assert json.loads(subscribe_command._json_line(data)) == {"data": data.decode()}
