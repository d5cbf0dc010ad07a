"""The ``newsbeam`` command.

Subcommands:

* ``run``: the pipeline, once over a feed list (``newsbeam run --help``);
* ``demo``: the pipeline over the bundled sample news site, served on loopback;
* ``tag``: the tagger over JSON Lines (``pipelines.tag_command``);
* ``cluster``: near-duplicate clustering over JSON Lines (``pipelines.cluster_command``);
* ``topics setup``: create the Pub/Sub topics and subscriptions (``pipelines.topics_command``);
* ``subscribe``: print stories as they arrive on a subscription (``pipelines.subscribe_command``).

User mistakes print one line, ``newsbeam: error: ...``, and exit with code 2;
``-v``/``--verbose`` (anywhere on the line) shows Beam's logs. Output piped into a reader that
stops early (``| head``) ends the command quietly, as other Unix tools do.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import importlib.metadata
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transforms.pool_start import pool_flags_given, quiet_chatty_libraries, start_fork_server

if TYPE_CHECKING:  # imported when a run needs it: it loads Beam
    from pipelines.summary import RunSummary

PROG = "newsbeam"
EXIT_USAGE = 2
EXIT_UNBALANCED = 1  # entries != published + discarded + failed
EXIT_NOTHING_DONE = 4  # every feed poll failed, or the topic took no story
EXIT_INTERRUPTED = 130
EXIT_FAILED = 1  # the run could not write its files or start its runner (config.RunFailed)
# What a shell reports for a command ended by SIGPIPE (128 + 13): the reader went away.
EXIT_BROKEN_PIPE = 141
VERBOSE_FLAGS = ("-v", "--verbose")
# At INFO, Beam logs "Converting string literal type hint to Any" for every such hint it
# meets (some 220 of the 236 lines of a verbose demo): nothing about the run.
TYPE_HINT_LOGGER = "apache_beam.typehints.native_type_compatibility"
# How writing to the standard output fails (full disk, quota, file size limit, a device's
# error, a closed descriptor); a broken pipe is quiet (EXIT_BROKEN_PIPE).
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF}


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def report(summary: RunSummary) -> int:
    """Print a run's summary, and on stderr a warning when dead letters or syndication
    updates could not be delivered (the exit code stays 0 for that); its exit code: 0, or
    why the run cannot be trusted."""
    print(summary.render())
    sys.stdout.flush()  # the summary before the lines on stderr
    if summary.undelivered:
        print(f"{PROG}: warning: {_undelivered(summary)}", file=sys.stderr)
    if not summary.balanced:
        return EXIT_UNBALANCED
    problem = None
    if summary.no_feed_read:
        problem = (
            "no feed could be read (every poll failed: see the dead letters); check the feed "
            "list, the network, and for sites on this machine --allow-loopback"
        )
    elif summary.none_published:
        problem = _none_published(summary)
    if problem is None:
        return 0
    print(f"{PROG}: error: {problem}", file=sys.stderr)
    return EXIT_NOTHING_DONE


def _none_published(summary: RunSummary) -> str:
    """Why no story reached the topic: the topic, the reasons and what to check."""
    delivery = summary.delivery
    reasons = {k: n for k, n in summary.failed.items() if k.startswith("publish/")}
    again = (
        f"; the next run with the state directory {delivery.state_dir} tries the retryable "
        "ones again"
        if delivery.state_dir
        else ""
    )
    return (
        f"no story could be published to {delivery.topic or 'the topic'} ({_counts(reasons)}: "
        "see the publish dead letters); check --topic ('newsbeam topics setup' creates it) "
        f"and that Pub/Sub is reachable{again}"
    )


def _undelivered(summary: RunSummary) -> str:
    """What could not be delivered, where to, and why (``RunSummary.undelivered``)."""
    delivery = summary.delivery
    counts = summary.undelivered
    # Both kinds are publish/<error_type>: which topic refused what is told only where one
    # topic could have refused them all.
    kinds = []
    if delivery.dead_letter_topic:
        kinds.append(("dead letter", f"the dead-letter topic {delivery.dead_letter_topic}"))
    if delivery.topic and delivery.syndication_updates:
        kinds.append(("syndication update", f"the topic {delivery.topic}"))
    total = sum(counts.values())
    if len(kinds) == 1:
        (kind, topic), plural = kinds[0], "" if total == 1 else "s"
        what = f"{total} {kind}{plural} could not be delivered to {topic}"
    else:
        topics = " or ".join(topic for _, topic in kinds) or "Pub/Sub"
        what = f"{total} dead letters or syndication updates could not be delivered to {topics}"
    missing = any(k.endswith("/topic_not_found") for k in counts)
    hint = "; 'newsbeam topics setup' creates a missing topic" if missing else ""
    return f"{what} ({_counts(counts)}: see the publish dead letters){hint}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if verbose:
        logging.getLogger(TYPE_HINT_LOGGER).setLevel(logging.WARNING)
    else:
        # Beam warns about things a user cannot act on (e.g. runner fallbacks).
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        # A step's exception is logged there with its traceback before the run raises it:
        # newsbeam then says in one line what it was (a file it could not write), or the
        # traceback reaches the user anyway.
        logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
        quiet_chatty_libraries()


def _start_pool_early(beam_argv: list[str]) -> None:
    """With ``--extract-processes N``, start the pool's fork server before Beam is imported:
    it loads its models meanwhile (``transforms.pool_start``)."""
    if pool_flags_given(beam_argv):
        # If it cannot start now, the pool starts it when it is created, and reports why not.
        with contextlib.suppress(OSError, ValueError):
            start_fork_server()


def cmd_run(beam_argv: list[str]) -> int:
    """``newsbeam run``: everything after ``run`` goes to the pipeline options."""
    if any(a in ("-h", "--help") for a in beam_argv):
        from pipelines.options import help_parser

        help_parser(f"{PROG} run").print_help()
        return 0
    _start_pool_early(beam_argv)
    from pipelines.config import RunFailed, UsageError
    from pipelines.launch_checks import check_dataflow_launch, check_storage_credentials
    from pipelines.monitor import run

    try:
        check_dataflow_launch(beam_argv)
        check_storage_credentials(beam_argv)
        summary = run(beam_argv)
    except UsageError as exc:
        return _fail(str(exc))
    except RunFailed as exc:
        return _fail(str(exc), EXIT_FAILED)
    return 0 if summary is None else report(summary)


def cmd_demo(args: argparse.Namespace, beam_argv: list[str]) -> int:
    """``newsbeam demo``: serve the sample site on loopback and run the pipeline on it."""
    given = {flag.split("=", 1)[0].replace("_", "-") for flag in beam_argv}
    # --outlets replaced the demo's own file (the sample site's outlets on loopback)
    refused = sorted(given & {"--feeds", "--state-dir", "--no-state", "--outlets"})
    if refused:
        return _fail(
            f"newsbeam demo reads its own sample site and outlets and remembers nothing "
            f"between runs: {', '.join(refused)} {'is' if len(refused) == 1 else 'are'} for "
            "'newsbeam run'"
        )
    _start_pool_early(beam_argv)
    from pipelines.config import RunFailed, UsageError
    from pipelines.flag_checks import check_flag_names
    from pipelines.launch_checks import check_temp_folder

    try:
        check_flag_names(beam_argv)  # before the site's feeds are printed
        check_temp_folder()  # before the feed list is written to one
    except UsageError as exc:
        return _fail(str(exc))
    from pipelines.loopback import LoopbackSite
    from pipelines.monitor import run
    from pipelines.sample_site import serve_sample_site, write_feed_list, write_outlets_file
    from pipelines.stopping import remove_at_forced_exit

    with LoopbackSite() as site, tempfile.TemporaryDirectory(prefix="newsbeam-demo-") as tmp:
        remove_at_forced_exit(tmp)  # Ctrl-C ends the run, and the process, at once
        specs = serve_sample_site(site)
        feed_list = Path(tmp) / "feeds.yaml"
        write_feed_list(specs, feed_list)
        outlets = Path(tmp) / "outlets.csv"
        write_outlets_file(site, outlets)
        print(f"Serving the sample news site on loopback: {len(specs)} feeds")
        for spec in specs:
            print(f"  {spec.name or ''}: {spec.url}")
        # A demo shows a whole run every time: nothing is remembered between demos.
        argv = ["--feeds", str(feed_list), "--output", args.output, "--allow-loopback"]
        argv += ["--no-state", "--outlets", str(outlets)]
        argv += ["--no-robots"] if args.no_robots else []
        try:
            summary = run(argv + beam_argv)
        except UsageError as exc:
            return _fail(str(exc))
        except RunFailed as exc:
            return _fail(str(exc), EXIT_FAILED)
    return 0 if summary is None else report(summary)


def build_parser() -> argparse.ArgumentParser:
    # Imported here: ``newsbeam run`` needs none of them, and some load Beam or SciPy (each
    # worker of --extract-processes runs this module again when it starts).
    from pipelines import cluster_command, subscribe_command, tag_command, topics_command

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="newsbeam: a media-monitoring pipeline on Apache Beam. It polls RSS/Atom "
        "feeds, extracts the articles, and tags stories about controversies between online "
        "platforms and state actors.",
    )
    parser.add_argument(
        *VERBOSE_FLAGS, action="store_true", help="show Beam's logs (anywhere on the line)"
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "run",
        help="run the pipeline over a feed list, once or always-on (see 'newsbeam run --help')",
        add_help=False,
    )
    demo = sub.add_parser(
        "demo",
        help="run on the bundled sample news site, offline",
        description="Serve the bundled sample news site on loopback and run the pipeline on "
        "it. Any other flag goes to the run, as in 'newsbeam run' (see 'newsbeam run --help'), "
        "e.g. 'newsbeam demo --streaming --poll-interval 2s --duration 10s', except --feeds, "
        "--outlets, --state-dir and --no-state: the demo reads its own site and outlets and "
        "remembers nothing.",
    )
    demo.add_argument("--output", default="out/demo", help="output directory (default: out/demo)")
    demo.add_argument(
        "--no-robots", action="store_true", help="skip robots.txt (the sample site has one)"
    )
    tag_command.register(sub)
    cluster_command.register(sub)
    topics_command.register(sub)
    subscribe_command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``newsbeam`` command and return its exit code (``entry`` is the program)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    verbose = any(arg in VERBOSE_FLAGS for arg in args_list)
    args_list = [arg for arg in args_list if arg not in VERBOSE_FLAGS]
    _configure_logging(verbose)
    try:
        return _dispatch(args_list)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _version() -> str:
    try:
        return importlib.metadata.version("newsbeam")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "(not installed)"


def _dispatch(args_list: list[str]) -> int:
    if args_list[:1] == ["run"]:
        return cmd_run(args_list[1:])
    parser = build_parser()
    args, extra = parser.parse_known_args(args_list)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "demo":
        return cmd_demo(args, extra)
    if extra:
        return _fail(f"unrecognized arguments: {' '.join(extra)}")
    return int(args.func(args))


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    """The ``newsbeam`` console script and ``python -m pipelines.cli``: ``main()``, then exit.

    The heap is frozen first (``gc.freeze``): everything is written and closed by then, and the
    interpreter's shutdown would otherwise walk every object Beam, numpy and trafilatura
    loaded in its final garbage collections (measured: ~0.4 s at the end of every command).
    """
    # Started with stdout or stderr closed (``newsbeam run ... >&-``), Python has None there:
    # what would have been printed is dropped, as a shell's 2>/dev/null would.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's whole life
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    # A standard output that cannot write every character (PYTHONIOENCODING=ascii, a C or
    # Latin-1 locale) shows the others as escapes, as Python's stderr does: the summary of a
    # finished run, naming an output folder "sortie-é", ended in a UnicodeEncodeError
    # traceback, exit 1. (JSON Lines written to stdout are UTF-8 whatever the locale.)
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    # SIGTERM (a service stopping the command, ``kill``) is Ctrl-C's KeyboardInterrupt, so
    # that every command ends on it as on Ctrl-C: saying so, exit code 130, its temporary
    # files removed. Python's default killed the process where it stood, silently: a
    # ``newsbeam tag`` left its .partial output file. (``newsbeam run`` sets handlers of its
    # own while its pipeline runs, ``pipelines.monitor``.)
    signal.signal(signal.SIGTERM, _interrupt)
    # The Python processes this command starts import newsbeam's packages, not a folder of the
    # same name where it runs (``transforms/`` and ``pipelines/`` are common in data projects):
    # Beam's worker processes (``--direct_running_mode multi_processing``) run ``python -m``,
    # which puts the working directory first on sys.path.
    os.environ.setdefault("PYTHONSAFEPATH", "1")
    try:
        try:
            code: int | str | None = main()
        except SystemExit as exc:  # argparse's --help, --version and usage errors
            code = exc.code
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of our output went away (``newsbeam demo | head -1``). Point stdout at
        # /dev/null so that the interpreter's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS or exc.filename is not None:
            raise  # not a print's: a bug, whose traceback is what to report
        # a print's: stdout is a full disk, /dev/full
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = _fail(f"cannot write to standard output: {exc.strerror or exc}", EXIT_FAILED)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
