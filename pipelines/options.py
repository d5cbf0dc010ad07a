"""NewsbeamOptions: every newsbeam flag, with its help text, in one place.

Flags are written with dashes (``--allow-loopback``); the underscore spelling
(``--allow_loopback``) is accepted too, as Beam's own options use it. A flag not
declared here but by Beam (``--runner``, ``--direct_num_workers``, the Google Cloud
options ...) passes through to Beam unchanged; one declared nowhere is refused on a local run
and only warned about on another runner (``pipelines.flag_checks.refuse_unknown_flags``: Beam
itself would only log that it dropped it).

Help texts are plain text (no reStructuredText markup): ``--help`` prints them as written.

Transforms never read this object: ``pipelines.monitor.build()`` turns it into plain
constructor arguments.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.records import DEFAULT_MIN_TEXT_CHARS
from transforms.ttl import DEFAULT_TTL_SECONDS


def _flag(parser: Any, name: str, **kwargs: Any) -> None:
    dashed = f"--{name.replace('_', '-')}"
    spellings = [dashed] if "-" not in name and "_" not in name else [dashed, f"--{name}"]
    parser.add_argument(*spellings, dest=name, **kwargs)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_SECONDS = 3650 * 86400  # ten years: any duration flag


def parse_duration(text: str) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"15m"``, ``"12h"`` or ``"7d"``.

    Raises:
        argparse.ArgumentTypeError: the text is not a positive duration.
    """
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (try 3600, 12h or 7d)"
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    if seconds > MAX_DURATION_SECONDS:  # a clock past year 9999 overflowed time.sleep
        raise argparse.ArgumentTypeError(f"duration must be at most 3650d: {text!r}")
    return seconds


def add_newsbeam_arguments(parser: Any) -> None:
    """Declare newsbeam's flags on an argparse parser (Beam's or a plain one for --help)."""
    _flag(
        parser,
        "feeds",
        help="Feed list: OPML, plain text (one URL a line) or YAML "
        "with per-feed name, country and language. Required.",
    )
    _flag(
        parser,
        "output",
        default="out",
        help="Directory for stories*.jsonl, "
        "dead_letters*.jsonl, discarded*.jsonl, syndication*.jsonl (--duplicates link or "
        "publish) and summary.json (default: out).",
    )
    _flag(
        parser,
        "allow_loopback",
        action="store_true",
        default=False,
        help="Allow fetching from 127.0.0.0/8 and ::1 (tests and the demo). Other private, "
        "link-local and reserved addresses stay refused.",
    )
    _flag(
        parser,
        "all_stories",
        action="store_true",
        default=False,
        help="Publish every story with its tags, not only the relevant ones.",
    )
    _flag(
        parser,
        "taxonomy",
        default=None,
        help="A taxonomy YAML that adds to or overrides the bundled one (entities, rules).",
    )
    _flag(
        parser,
        "outlets",
        default=None,
        help="An outlet catalogue CSV that adds to or overrides the bundled one.",
    )
    _flag(
        parser,
        "min_text_chars",
        type=int,
        default=DEFAULT_MIN_TEXT_CHARS,
        help=(
            "Articles with a shorter body are discarded as too_short "
            f"(default: {DEFAULT_MIN_TEXT_CHARS})."
        ),
    )
    _flag(
        parser,
        "feed_text_min_chars",
        type=int,
        default=0,
        help="Take an article's text from its feed entry instead of fetching the page when the "
        "feed carries it in full (content:encoded, Atom content) with at least this many "
        "characters of text; shorter content (a teaser) still means a fetch. Saves the request "
        "and most of the extraction; the page's own metadata (canonical link, author, date) is "
        "then not read. Default 0: always fetch.",
    )
    _flag(
        parser,
        "extract_processes",
        type=int,
        default=1,
        help="Extract, enrich and tag articles in a pool of this many worker processes (at "
        "most 64), one pool per instance of the analysing step (default: 1, in the step "
        "itself). On a local run, the number of CPU cores is usually fastest; on Dataflow "
        "keep 1 (each harness thread would have its own pool).",
    )
    _flag(
        parser,
        "contact_url",
        default=None,
        help="A URL naming who runs this crawler, added to the User-Agent.",
    )
    _flag(
        parser,
        "max_in_flight",
        type=int,
        default=32,
        help=(
            "Requests in flight at once per instance of the fetching stage, and per feed "
            "poll step of a one-shot run (default: 32); --per-host-in-flight bounds each host."
        ),
    )
    _flag(
        parser,
        "per_host_in_flight",
        type=int,
        default=2,
        help=(
            "Requests in flight to one host at once, 1 to 4 (default: 2). Counted per "
            "process, feed polls included; on Dataflow, article fetches are counted for the "
            "whole job (each host is fetched in one place at a time)."
        ),
    )
    _flag(
        parser,
        "per_host_interval",
        type=float,
        default=0.0,
        help="Minimum seconds between the starts of two requests to one host, 0 to 3600 "
        "(default: 0).",
    )
    _flag(
        parser,
        "fetch_timeout",
        type=float,
        default=30.0,
        help="Total deadline in seconds for fetching one URL, above 0 and at most 3600: every "
        "redirect hop, retry and backoff wait counts against it; waiting for a per-host slot "
        "does not (default: 30).",
    )
    _flag(
        parser,
        "no_robots",
        action="store_true",
        default=False,
        help="Do not fetch or honour robots.txt (only for sites you own, e.g. tests).",
    )
    _flag(
        parser,
        "state_dir",
        default=None,
        help="Where one-shot runs remember feed validators and seen entries between runs, "
        "so a second run fetches and publishes nothing twice (default: OUTPUT/state).",
    )
    _flag(
        parser,
        "no_state",
        action="store_true",
        default=False,
        help="Neither read nor write the state directory (every run starts afresh).",
    )
    _flag(
        parser,
        "dedup_ttl",
        type=parse_duration,
        default=DEFAULT_TTL_SECONDS,
        help="How long seen entries and story signatures are remembered: seconds, or a "
        "number with s, m, h or d, at most 3650d (default: 7d).",
    )
    _flag(
        parser,
        "duplicates",
        choices=("drop", "link", "publish"),
        default="drop",
        help="What to do with later copies of a story (syndication): drop them (counted as "
        "duplicate), publish small link records, or publish them in full with duplicate_of "
        "set (default: drop).",
    )
    _flag(
        parser,
        "poll_interval",
        type=parse_duration,
        default=300.0,
        help="With --streaming: poll every feed this often, at least 1s and at most 3650d: "
        "seconds (90), or a number with s, m, h or d (30s, 5m, 2h, 1d) (default: 300s).",
    )
    _flag(
        parser,
        "duration",
        type=parse_duration,
        default=None,
        help="With --streaming: poll for this long, at most 3650d: seconds (90), or a number "
        "with s, m, h or d (30s, 5m, 2h, 1d). The last poll is the last one due before it "
        "ends, and the run stops once that poll's pages are done: with --poll-interval 5m "
        "--duration 1h, 12 polls, the last at 55 min (default: run until Ctrl-C or SIGTERM).",
    )
    _flag(
        parser,
        "topic",
        default=None,
        help="Publish each story to this Pub/Sub topic, projects/P/topics/T.",
    )
    _flag(
        parser,
        "dead_letter_topic",
        default=None,
        help="Publish each dead letter to this Pub/Sub topic, projects/P/topics/T.",
    )


class NewsbeamOptions(PipelineOptions):
    """The newsbeam flags, as a Beam PipelineOptions view."""

    @classmethod
    def _add_argparse_args(cls, parser: Any) -> None:
        add_newsbeam_arguments(parser)


def help_parser(prog: str) -> argparse.ArgumentParser:
    """A parser that prints only newsbeam's flags, for ``newsbeam run --help``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the newsbeam pipeline over a feed list: once (batch), or always-on "
        "with --streaming, polling every --poll-interval until Ctrl-C, SIGTERM or --duration.",
        epilog="Any other flag Apache Beam declares passes through to Apache Beam, e.g. "
        "--runner DataflowRunner, --direct_num_workers 2, --direct_running_mode "
        "multi_processing. A flag no one declares (a typo) is refused on a local run, naming the "
        "closest real one, and only warned about on any other runner (Beam passes it on to "
        "Dataflow): check the warning there.",
    )
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="Run always-on: poll every feed every --poll-interval until Ctrl-C, SIGTERM or "
        "--duration (Beam's own flag; without it, one run over the feeds).",
    )
    add_newsbeam_arguments(parser)
    return parser
