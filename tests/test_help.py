"""The ``--help`` texts: each flag's limits and forms as the code checks them, what the
JSON Lines commands skip, and plain text on the terminal (no reStructuredText markup)."""

from __future__ import annotations

import pytest

from pipelines.cli import main
from pipelines.options import help_parser


def _flag_help(dest: str) -> str:
    (action,) = [a for a in help_parser("newsbeam run")._actions if a.dest == dest]
    return " ".join((action.help or "").split())


@pytest.mark.parametrize(
    ("dest", "phrases"),
    [
        # pipelines.config: 0 < --fetch-timeout <= 3600, 0 <= --per-host-interval <= 3600
        ("fetch_timeout", ["above 0 and at most 3600"]),
        ("per_host_interval", ["0 to 3600"]),
        # parse_duration: a number with s, m, h or d, at most 3650d; the poll at least 1s
        ("poll_interval", ["at least 1s", "at most 3650d", "5m"]),
        ("duration", ["at most 3650d", "5m"]),
        ("dedup_ttl", ["at most 3650d", "s, m, h or d"]),
    ],
)
def test_each_flags_help_gives_its_limits_and_forms(dest: str, phrases: list[str]) -> None:
    text = _flag_help(dest)
    for phrase in phrases:
        assert phrase in text, f"--{dest}: {phrase!r} not in {text!r}"


def test_run_help_says_a_mistyped_flag_is_refused_only_on_a_local_run() -> None:
    # pipelines.flag_checks.refuse_unknown_flags: refused locally, only a warning elsewhere
    epilog = " ".join((help_parser("newsbeam run").epilog or "").split())
    assert "is refused on a local run" in epilog
    assert "only warned about on any other runner" in epilog


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", [["tag"], ["cluster"]])
def test_the_json_lines_commands_say_which_records_they_skip(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # pipelines.jsonl_command.SKIPPED_RECORD_TYPES
    text = _help(capsys, *command)
    assert "duplicate_link and syndication_update records" in text


@pytest.mark.parametrize(
    "command", [["run"], ["demo"], ["tag"], ["cluster"], ["subscribe"], ["topics", "setup"]]
)
def test_help_is_plain_text(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    if command == ["run"]:
        text = help_parser("newsbeam run").format_help()
    else:
        text = _help(capsys, *command)
    assert "``" not in text
