"""Flags checked before a run: the values argparse refuses, stray arguments, flags no one
declares. Beam's own parser prints the usage of every option it knows and exits on a bad
value, and drops what it does not know with a log line; these checks turn each into a
``UsageError`` with a one-line message (``pipelines.config.config_from_options`` and
``newsbeam demo`` make them first).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import logging
import re
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transforms.pool_start import LOCAL_RUNNERS

log = logging.getLogger(__name__)


class UsageError(ValueError):
    """A flag or input the user must fix; printed as one line, exit code 2."""


def check_flag_names(argv: Sequence[str]) -> None:
    """Only the flag checks of ``config_from_options``: a value argparse refuses, a stray
    argument, a flag no one declares on a local run. ``newsbeam demo`` makes them before
    it serves its site (it printed the site's feeds, then the typo).

    Raises:
        UsageError: the first such flag.
    """
    options = PipelineOptions(list(argv))
    parse_all(options)
    refuse_unknown_flags(options, options.view_as(StandardOptions).runner in LOCAL_RUNNERS)


def parse_all(options: PipelineOptions) -> None:
    """Parse every flag once, so that a bad value (``--poll-interval 5x``, ``--streaming=no``)
    is a ``UsageError`` with argparse's own one-line reason: Beam's parser prints the usage of
    every option Beam declares (~140 lines) before it, then exits."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            options.get_all_options()
    except SystemExit:
        lines = captured.getvalue().strip().splitlines()
        reason = lines[-1].split(": error: ", 1)[-1] if lines else "bad flags"
        raise UsageError(reason) from None


def flags_given(options: PipelineOptions) -> dict[str, str]:
    """Each flag on the command line by option name (``poll_interval``), as the user wrote it
    (``--poll-interval``); Beam keeps the command line in ``_flags``."""
    return {
        flag.split("=", 1)[0].lstrip("-").replace("-", "_"): flag.split("=", 1)[0]
        for flag in getattr(options, "_flags", [])
        if flag.startswith("--") or re.match(r"-[A-Za-z]", flag)  # -x too, as unknown_flags
    }


def unknown_flags(options: PipelineOptions) -> list[str]:
    """The flags no options class declares, by name (Beam only logs that it drops them, so
    a misspelled ``--topik`` would run the job without publishing), in command-line order.
    A Beam option written with hyphens (``--direct-running-mode``) is one of them: Beam
    declares only the underscore spelling and drops the other, although its name is known.
    """
    names = (
        arg.split("=", 1)[0].lstrip("-").replace("-", "_")
        for arg in _left_over(options)
        if (arg.startswith("--") and len(arg) > 2) or re.match(r"-[A-Za-z]", arg)
    )
    return list(dict.fromkeys(names))


def stray_arguments(options: PipelineOptions) -> list[str]:
    """The arguments that are neither a flag nor a flag's value, in command-line order: a
    second file after ``--feeds feeds.txt`` (Beam drops them without a word, so the run read
    one list of two). A word after an unknown ``--flag`` is taken as its value."""
    stray, after_flag = [], False
    for arg in _left_over(options):
        if arg.startswith("-") and len(arg) > 1:
            after_flag = "=" not in arg
        elif after_flag:
            after_flag = False
        else:
            stray.append(arg)
    return stray


def _left_over(options: PipelineOptions) -> list[str]:
    """What of the command line no options class reads, as Beam's own parser leaves it."""
    parsers: list[argparse.ArgumentParser] = []
    options.get_all_options(add_extra_args_fn=parsers.append)  # the parser Beam builds
    _, left = parsers[0].parse_known_args(getattr(options, "_flags", []))
    return list(left)


def refuse_unknown_flags(options: PipelineOptions, local_runner: bool) -> None:
    """Refuse flags no one declares on a local run; on another runner, warn only: a service
    (the Flex Template launcher) may add flags of its own, and template parameters are
    checked against ``deploy/metadata.json`` before they get here."""
    stray = stray_arguments(options)
    if stray:
        raise UsageError(
            f"unexpected argument{'s' if len(stray) > 1 else ''}: {', '.join(stray)} (every "
            "value follows its flag, and a run reads one --feeds file: list every feed in it)"
        )
    unknown = unknown_flags(options)
    if not unknown:
        return
    given = flags_given(options)
    if not local_runner:
        spelled = ", ".join(given.get(name, f"--{name}") for name in unknown)
        log.warning("options no one declares, passed on to the runner: %s", spelled)
        return
    from pipelines.options import help_parser

    ours = {a.dest for a in help_parser("newsbeam run")._actions if a.option_strings}
    beams = [name for name in options.get_all_options() if name not in ours]
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, [*ours, *beams], n=1)
        hint = given.get(name, f"--{name}")
        if close:
            spelled = close[0].replace("_", "-") if close[0] in ours else close[0]
            hint += f" (did you mean --{spelled}?)"
        hints.append(hint)
    raise UsageError(
        f"unknown option{'s' if len(hints) > 1 else ''}: {', '.join(hints)} "
        "(see 'newsbeam run --help' for newsbeam's; Beam's own are written with underscores)"
    )
