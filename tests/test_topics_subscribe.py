"""``newsbeam topics setup`` and ``newsbeam subscribe`` against the real emulator.

The commands' ``run`` functions are called with an argparse Namespace built by their own
parsers (``add_arguments``), stdout and stderr captured.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from pipelines import subscribe_command, topics_command
from tests.conftest import REPO
from tests.emulator import PROJECT, free_port, pull_all, unique
from tests.test_pubsub import GLOBAL_TIMES, META_CN, TIKTOK_CN, make_story
from transforms.pubsub import TopicPublisher
from transforms.pubsub_messages import (
    failure_message,
    link_message,
    story_message,
    update_message,
)
from transforms.records import DuplicateLink, Failure, Outlet, SyndicationUpdate

pytestmark = pytest.mark.emulator


def _topics_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    topics_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _subscribe_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    subscribe_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _get_subscription(path: str) -> object:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    with pubsub_v1.SubscriberClient() as subscriber:
        return subscriber.get_subscription(request={"subscription": path}, timeout=20)


def test_setup_creates_topics_and_filtered_subscriptions_then_leaves_them_alone(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, dead, sub, other = unique("stories"), unique("dead"), unique("tc"), unique("all")
    argv = ["--project", PROJECT, "--topic", topic, "--dead-letter-topic", dead]
    argv += ["--subscription", sub, "--filter", "attributes:platform_tiktok"]
    argv += ["--subscription", other, "--dead-letter-subscription", unique("dl")]

    assert topics_command.run(_topics_args(*argv)) == 0
    first = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in first] == [
        ["created", "topic"],
        ["created", "topic"],
        ["created", "subscription"],
        ["created", "subscription"],
        ["created", "subscription"],
    ]
    created = _get_subscription(f"projects/{PROJECT}/subscriptions/{sub}")
    assert created.filter == "attributes:platform_tiktok"  # type: ignore[attr-defined]
    assert created.topic == f"projects/{PROJECT}/topics/{topic}"  # type: ignore[attr-defined]

    assert topics_command.run(_topics_args(*argv)) == 0
    second = capsys.readouterr().out.splitlines()
    assert len(second) == len(first)
    assert all(line.startswith("exists") and "left alone" in line for line in second)


def test_setup_reports_an_existing_subscription_with_another_filter(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    topic, sub = unique("stories"), unique("tc")
    base = ["--project", PROJECT, "--topic", topic, "--subscription", sub]
    assert topics_command.run(_topics_args(*base, "--filter", "attributes:platform_x")) == 0
    capsys.readouterr()
    # Exit 1: it exited 0, so `topics setup && newsbeam subscribe ...` went on reading
    # messages the subscription's old filter chose, not the ones asked for.
    assert topics_command.run(_topics_args(*base, "--filter", "attributes:platform_y")) == 1
    out, err = capsys.readouterr()
    line = out.splitlines()[-1]
    assert "'attributes:platform_x'" in line and "delete the subscription" in line
    assert err == (
        "newsbeam topics setup: 1 existing subscription(s) differ from what was asked and "
        f"were left alone: projects/{PROJECT}/subscriptions/{sub}\n"
    )
    kept = _get_subscription(f"projects/{PROJECT}/subscriptions/{sub}")
    assert kept.filter == "attributes:platform_x"  # type: ignore[attr-defined]


def test_setup_says_when_an_existing_subscription_reads_another_topic(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It blamed the filter ("it reads T with filter ''; a filter cannot change") though
    # the topic was what differed.
    topic, dead, sub = unique("stories"), unique("dead"), unique("sub")
    base = ["--project", PROJECT, "--topic", topic, "--dead-letter-topic", dead]
    assert topics_command.run(_topics_args(*base, "--subscription", sub)) == 0
    capsys.readouterr()
    assert topics_command.run(_topics_args(*base, "--dead-letter-subscription", sub)) == 1
    line = capsys.readouterr().out.splitlines()[-1]
    assert line == (
        f"exists  subscription projects/{PROJECT}/subscriptions/{sub} (left alone: it reads "
        f"topic {topic}, not {dead}; a subscription cannot change topic, delete it to "
        "replace it or choose another name)"
    )
    kept = _get_subscription(f"projects/{PROJECT}/subscriptions/{sub}")
    assert kept.topic == f"projects/{PROJECT}/topics/{topic}"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("attributes:a and attributes:b", "operators are written in capitals: AND, not and"),
        ("attributes.x = 1", "the value after = must be a quoted string"),
        ("attributes:a AND attributes:b OR attributes:c", "AND and OR mixed without parentheses"),
        ('attributes.k = "' + "x" * 883 + '"', "a filter is at most 256 bytes, this one is 900"),
    ],
)
def test_setup_refuses_a_bad_filter_the_emulator_would_store_and_creates_nothing(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str], expression: str, problem: str
) -> None:
    # The emulator stores any filter unchecked: these were printed as created, exit 0.
    from google.api_core import exceptions as api
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    topic, sub = unique("stories"), unique("sub")
    argv = ["--project", PROJECT, "--topic", topic, "--subscription", sub, "--filter"]
    assert topics_command.run(_topics_args(*argv, expression)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and f"bad --filter of subscription {sub!r}: {problem}" in err[0]
    with pubsub_v1.PublisherClient() as publisher, pytest.raises(api.NotFound):
        publisher.get_topic(request={"topic": f"projects/{PROJECT}/topics/{topic}"}, timeout=20)

    # Corrected, with every part of the syntax the check must let through, it is created.
    fixed = (
        '(attributes:platform_tiktok OR hasPrefix(attributes.outlet_domain, "global")) AND '
        'NOT attributes:record_type AND attributes.outlet_country != "CN" AND -attributes:x'
    )
    assert topics_command.run(_topics_args(*argv, fixed)) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("created subscription")
    created = _get_subscription(f"projects/{PROJECT}/subscriptions/{sub}")
    assert created.filter == fixed  # type: ignore[attr-defined]


def test_filter_without_a_subscription_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        _topics_args("--project", PROJECT, "--filter", "attributes:a")
    assert exit_info.value.code == 2


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_no_positive_number_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    # 0, -1 and nan timed every request out at once: "cannot reach the emulator".
    with pytest.raises(SystemExit) as exit_info:
        _topics_args("--project", PROJECT, "--topic", "t", "--timeout", timeout)
    assert exit_info.value.code == 2
    assert "argument --timeout: " in capsys.readouterr().err


@pytest.mark.parametrize(
    "project",
    ["", "My-Project", "1project", "proj", "my_project", "my-project-", "projects/my-project"],
)
def test_setup_with_a_malformed_project_id_is_a_one_line_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], project: str
) -> None:
    # The emulator takes any project id (--project '' made projects//topics/...): the
    # command must refuse it itself. Nothing answers here, so a request would fail otherwise.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    assert topics_command.run(_topics_args("--project", project, "--timeout", "2")) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and f"not a Google Cloud project id: {project!r}" in err[0]
    assert captured.out == ""


def test_a_dead_letter_subscription_without_its_topic_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --dead-letter-topic '' (no dead-letter topic): it was refused after the story topic
    # had been created. Nothing answers here, so a request would fail with another message.
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")
    args = ["--project", PROJECT, "--topic", unique("stories"), "--dead-letter-topic", ""]
    args += ["--dead-letter-subscription", "dead-letters-sub", "--timeout", "2"]
    assert topics_command.run(_topics_args(*args)) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().endswith("--dead-letter-subscription needs a dead-letter topic")
    assert captured.out == ""


@pytest.mark.parametrize("project", [PROJECT, "my-project", "example.com:my-project"])
def test_well_formed_project_ids_pass_the_check(project: str) -> None:
    assert topics_command.check_project(project) == project


@pytest.mark.usefixtures("no_credentials")
def test_setup_without_credentials_or_emulator_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert topics_command.run(_topics_args("--project", PROJECT)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Google Cloud credentials" in err[0]


@pytest.mark.parametrize("command", ["topics", "subscribe"])
def test_an_unreachable_emulator_is_one_line_at_once_naming_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # A closed loopback port: topics setup retried for its whole --timeout (30 s, silent),
    # subscribe said "cannot reach Pub/Sub: failed to connect to all addresses ...".
    host = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
    if command == "topics":
        args, run = _topics_args("--project", PROJECT), topics_command.run
    else:
        sub = f"projects/{PROJECT}/subscriptions/stories"
        args, run = _subscribe_args("--subscription", sub), subscribe_command.run
    code = run(args)  # the message below comes only from the check before any request
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    err = captured.err.strip().splitlines()
    assert len(err) == 1
    name = "topics setup" if command == "topics" else "subscribe"
    assert err[0] == (
        f"newsbeam {name}: error: cannot reach the emulator at {host} (PUBSUB_EMULATOR_HOST): "
        "nothing accepts connections there; start one with "
        "'export PUBSUB_EMULATOR_HOST=\"$(scripts/pubsub-emulator start)\"', "
        "or unset PUBSUB_EMULATOR_HOST to use Google Cloud"
    )


def _publish_to_new_subscription(messages: list[tuple[bytes, dict[str, str]]]) -> str:
    topic, sub = unique("stories"), unique("sub")
    topics_command.setup_pubsub(PROJECT, topic, None, [topics_command.SubscriptionSpec(sub)])
    publisher = TopicPublisher(f"projects/{PROJECT}/topics/{topic}", timeout=20)
    for i, (data, attrs) in enumerate(messages):
        publisher.submit(i, data, attrs)
    try:
        assert all(o.error is None for o in publisher.drain())
    finally:
        publisher.close()
    return f"projects/{PROJECT}/subscriptions/{sub}"


@pytest.fixture
def pulled_ack_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ack ids of the messages every SubscriberClient pulls during the test, in order.

    ``pull`` is wrapped, not replaced: the command under test pulls from the emulator as
    usual; the test learns which deliveries it got, to ask the emulator about them later.
    """
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    ack_ids: list[str] = []
    pull = pubsub_v1.SubscriberClient.pull

    def recording_pull(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = pull(self, *args, **kwargs)
        ack_ids.extend(m.ack_id for m in response.received_messages)
        return response

    monkeypatch.setattr(pubsub_v1.SubscriberClient, "pull", recording_pull)
    return ack_ids


def _unacknowledged_after_nack(subscription: str, ack_ids: list[str]) -> list[Any]:
    """Nack these deliveries (ack deadline 0), then pull: what comes back was never acked.

    A delivery pulled but not acknowledged is invisible until its ack deadline (10 s or
    more), so pulling at once proves nothing; nacking it makes it deliverable again at once,
    while the nack of an acknowledged delivery changes nothing.
    """
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.modify_ack_deadline(
            request={"subscription": subscription, "ack_ids": ack_ids, "ack_deadline_seconds": 0},
            timeout=20,
        )
    return pull_all(subscription, expected=0)


def test_subscribe_prints_a_readable_block_per_story_and_acknowledges(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str], pulled_ack_ids: list[str]
) -> None:
    sub = _publish_to_new_subscription([story_message(TIKTOK_CN), story_message(META_CN)])
    args = _subscribe_args("--subscription", sub, "--max-messages", "2", "--timeout", "60")
    assert subscribe_command.run(args) == 0
    out = capsys.readouterr().out
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert len(blocks) == 2
    tiktok = next(b for b in blocks if TIKTOK_CN.story.article.title in b)
    assert "Global Times (globaltimes.cn) | CN | state affiliation SC (state media)" in tiktok
    assert "platforms: tiktok | state actors: china, united_states" in tiktok
    assert "controversies: ban_or_restriction" in tiktok
    assert TIKTOK_CN.to_json()["url"] in tiktok
    assert any(META_CN.to_json()["url"] in b and "country unknown" in b for b in blocks)
    delivered = list(pulled_ack_ids)
    assert len(delivered) == 2
    assert _unacknowledged_after_nack(sub, delivered) == []  # both were acknowledged


def test_the_acknowledgement_check_sees_messages_left_unacknowledged(
    pubsub_emulator: str,
    capsys: pytest.CaptureFixture[str],
    pulled_ack_ids: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above fails for a subscribe that does not acknowledge (here: made so)."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    monkeypatch.setattr(pubsub_v1.SubscriberClient, "acknowledge", lambda *a, **k: None)
    sub = _publish_to_new_subscription([story_message(TIKTOK_CN), story_message(META_CN)])
    args = _subscribe_args("--subscription", sub, "--max-messages", "2", "--timeout", "60")
    assert subscribe_command.run(args) == 0
    capsys.readouterr()
    delivered = list(pulled_ack_ids)
    assert len(delivered) == 2
    monkeypatch.undo()  # pull_all acknowledges what comes back, for real
    assert len(_unacknowledged_after_nack(sub, delivered)) == 2


def test_subscribe_json_prints_one_story_json_per_line(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    long_story = make_story("https://x.example/long", text="word " * 400_000, outlet=GLOBAL_TIMES)
    sub = _publish_to_new_subscription([story_message(TIKTOK_CN), story_message(long_story)])
    args = _subscribe_args("--subscription", sub, "--json", "--max-messages", "2")
    assert subscribe_command.run(args) == 0
    lines = capsys.readouterr().out.splitlines()
    records = sorted((json.loads(line) for line in lines), key=lambda r: r["url"])
    assert [r["story_id"] for r in records] == [TIKTOK_CN.story_id, long_story.story_id]
    assert records[0] == {**TIKTOK_CN.to_json(), "text_truncated": False}
    assert records[1]["text_truncated"] is True


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_subscribe_writes_to_a_standard_output_that_is_not_utf_8(
    pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    # LANG=C with PYTHONUTF8=0, or an ISO-8859-1 terminal: the first title with an em dash
    # or a Chinese outlet name was a UnicodeEncodeError traceback, nothing printed
    outlet = Outlet("hk.example", name="Zürcher 港 Post", country="HK")
    story = make_story("https://hk.example/a", "Ban — 禁止 of an app", outlet=outlet)
    sub = _publish_to_new_subscription([story_message(story)] * 2)  # one for each mode
    for argv in ([], ["--json"]):
        stdout = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
        monkeypatch.setattr(sys, "stdout", stdout)
        args = _subscribe_args("--subscription", sub, *argv, "--max-messages", "1")
        assert subscribe_command.run(args) == 0
        stdout.flush()
        out = stdout.buffer.getvalue().decode(encoding)
        if argv:  # the same JSON, beyond ASCII in escapes
            assert json.loads(out)["title"] == "Ban — 禁止 of an app"
            assert json.loads(out)["outlet"]["name"] == "Zürcher 港 Post"
        else:  # what the terminal cannot show as Python shows it on stderr
            assert "== Ban \\u2014 \\u7981\\u6b62 of an app" in out
            assert ("Zürcher" if encoding == "latin-1" else "Z\\xfcrcher") + " \\u6e2f Post" in out


def test_subscribe_with_its_standard_output_closed_acknowledges_nothing(
    pubsub_emulator: str,
) -> None:
    # As a shell's >&-: what it printed went to /dev/null, and it acknowledged every message
    # (exit 0): gone from the subscription, delivered nowhere.
    sub = _publish_to_new_subscription([story_message(TIKTOK_CN)])
    command = [sys.executable, "-m", "pipelines.cli", "subscribe", "--subscription", sub]
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command, "--max-messages", "1", "--timeout", "20"],
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PUBSUB_EMULATOR_HOST": pubsub_emulator},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("newsbeam subscribe: error: the standard output is closed")
    assert len(pull_all(sub, expected=1)) == 1  # still there


def test_subscribe_prints_dead_letters_and_foreign_messages(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    failure = Failure("fetch", "https://x.example/gone", "http_410", "Gone", retryable=False)
    sub = _publish_to_new_subscription([failure_message(failure), (b"hello", {"k": "v"})])
    assert subscribe_command.run(_subscribe_args("--subscription", sub, "--max-messages", "2")) == 0
    out = capsys.readouterr().out
    assert "!! failed at fetch: http_410 (not retryable)  https://x.example/gone" in out
    assert "?? not a newsbeam message (attributes {'k': 'v'}): hello" in out


def test_subscribe_stops_at_its_timeout_when_nothing_arrives(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = _publish_to_new_subscription([])
    assert subscribe_command.run(_subscribe_args("--subscription", sub, "--timeout", "1")) == 0
    assert capsys.readouterr().out == ""


def test_subscribe_as_the_readme_pipes_it_stops_at_its_timeout_with_fewer_messages(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # README's '--json --max-messages 100 > stories.jsonl' waited forever for 100 messages;
    # '--timeout 30s' (a duration, as 'newsbeam run' takes) was refused. Here: 2 messages.
    sub = _publish_to_new_subscription([story_message(TIKTOK_CN), story_message(META_CN)])
    argv = ["--subscription", sub, "--json", "--max-messages", "100", "--timeout", "3s"]
    started = time.monotonic()
    assert subscribe_command.run(_subscribe_args(*argv)) == 0
    elapsed = time.monotonic() - started
    lines = capsys.readouterr().out.splitlines()
    assert sorted(json.loads(line)["story_id"] for line in lines) == sorted(
        [TIKTOK_CN.story_id, META_CN.story_id]
    )
    assert elapsed >= 3, f"stopped after {elapsed:.1f} s, before its 3 s timeout"


@pytest.mark.parametrize(
    ("subscription", "message"),
    [
        ("my-sub", "not a subscription path"),
        (f"projects/{PROJECT}/subscriptions/never-created-sub", "no such subscription"),
    ],
)
def test_subscribe_to_a_bad_subscription_is_a_one_line_error(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str], subscription: str, message: str
) -> None:
    assert subscribe_command.run(_subscribe_args("--subscription", subscription)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_links_and_syndication_updates_print_as_what_they_are() -> None:
    # Pure formatting (no emulator): a link was printed as a story "(no title)" before.
    outlet = Outlet("rt.com", "RT", "RU", "en", "SC")
    link = DuplicateLink("c0ffee", "f00d", "f00d", "https://www.rt.com/news/1", "rt.com", outlet)
    block = subscribe_command.format_message(*link_message(link))
    assert block.splitlines() == [
        "== copy of story f00d",
        "   outlet:  RT (rt.com) | RU | state affiliation SC (state media)",
        "   url:     https://www.rt.com/news/1",
    ]
    update = SyndicationUpdate("f00d", ("apnews.com", "rt.com"))
    assert (
        subscribe_command.format_message(*update_message(update))
        == "== story f00d carried by 2: apnews.com, rt.com"
    )


def test_subscribe_reads_a_backlog_of_messages_near_the_size_cap(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # One pull asks for up to 100 messages; the library's channel to the emulator took 4 MiB
    # at most, so five long stories (each under newsbeam's 1,000,000-byte cap) failed every
    # run: "Received message larger than max", nothing acknowledged, the same again next time.
    stories = [
        make_story(f"https://x.example/long-{i}", text="word " * 400_000, outlet=GLOBAL_TIMES)
        for i in range(6)
    ]
    sub = _publish_to_new_subscription([story_message(s) for s in stories])
    assert subscribe_command.receive(sub, as_json=True, max_messages=6, timeout=60) == 6
    lines = capsys.readouterr().out.splitlines()
    assert sorted(json.loads(line)["story_id"] for line in lines) == sorted(
        s.story_id for s in stories
    )


# Messages shaped like newsbeam's whose fields are not what newsbeam writes.
MALFORMED = [
    {"title": None, "story_id": "x", "outlet": "a string"},
    {"story_id": "x", "platforms": [1, 2]},
    {"story_id": "s", "outlet": [1]},
    {"record_type": "syndication_update", "syndication": 5},
    {"record_type": "syndication_update", "syndication": [1, 2]},
    {"record_type": "duplicate_link", "outlet": ["a"]},
    {"story_id": 5},
    {"record_type": "syndication_update", "story_id": ["x"], "syndication": ["a.example"]},
    {"record_type": "duplicate_link", "story_id": 7, "duplicate_of": "x"},
]


@pytest.mark.parametrize("record", MALFORMED, ids=lambda r: json.dumps(r)[:40])
def test_a_malformed_message_is_shown_as_foreign_not_a_traceback(record: dict[str, Any]) -> None:
    block = subscribe_command.format_message(json.dumps(record).encode(), {})
    assert block.startswith("?? not a newsbeam message (attributes {}): {")


def test_a_message_holding_a_lone_surrogate_prints_in_both_modes() -> None:
    # JSON may escape a lone surrogate (JavaScript's JSON.stringify writes them); printed as
    # it decodes, it failed the write: UnicodeEncodeError, exit code 1, in both modes.
    data = b'{"story_id": "x", "title": "bad \\ud800 title"}'
    block = subscribe_command.format_message(data, {})
    assert "== bad \\ud800 title" in block and block.encode("utf-8")
    line = subscribe_command._json_line(data)
    assert line.encode("utf-8") and json.loads(line)["title"] == "bad \ud800 title"


def test_subscribe_goes_past_a_malformed_message(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    malformed: tuple[bytes, dict[str, str]] = (json.dumps(MALFORMED[0]).encode(), {})
    sub = _publish_to_new_subscription([malformed, story_message(TIKTOK_CN)])
    assert subscribe_command.run(_subscribe_args("--subscription", sub, "--max-messages", "2")) == 0
    out = capsys.readouterr().out
    assert "?? not a newsbeam message" in out and TIKTOK_CN.story.article.title in out


def test_an_acknowledgement_that_fails_is_one_line_and_exit_code_2(
    pubsub_emulator: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was a traceback (exit 1) after the library's own minute of retries.
    from google.api_core import exceptions as api
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    sub = _publish_to_new_subscription([story_message(TIKTOK_CN)])
    calls: list[dict[str, Any]] = []

    def unavailable(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(kwargs)
        raise api.ServiceUnavailable("the emulator went away")

    monkeypatch.setattr(pubsub_v1.SubscriberClient, "acknowledge", unavailable)
    assert subscribe_command.run(_subscribe_args("--subscription", sub, "--timeout", "30")) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert "could not be acknowledged" in line and "delivers them again" in line
    assert TIKTOK_CN.story.article.title in captured.out  # printed before the failure
    assert calls and calls[0]["retry"] is None and calls[0]["timeout"] > 0
