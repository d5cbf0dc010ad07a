"""``newsbeam cluster``: near-duplicate clusters over JSON Lines stories, outside the pipeline.

Consumes JSON Lines ``{"id", "title", "text", "url"?, "published_at"?}`` (stdin or ``--input``)
and produces JSON Lines ``{"id", "cluster_id", "duplicate_of"}`` (stdout or ``--output``), one
line per story, in input order. ``duplicate_of`` is null for the first story of a cluster (input
order decides which is first) and ``cluster_id`` is that first story's id. The decisions are
those of the pipeline's ``ClusterStories``: the same ``transforms.minhash`` code, run in one
process (``minhash.Index``). Bad input (a missing file, a line that is not a JSON object with
string ``id``, ``title`` and ``text``) is a one-line error on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from transforms.minhash import Index
from transforms.urls import canonicalize_url

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class ClusterInputError(ValueError):
    """A line of the input is not a valid story; the message names the line number."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cluster`` subcommand.

    Args:
        subparsers: The ``newsbeam`` command's subparsers.
    """
    parser = subparsers.add_parser(
        "cluster",
        help="group JSON Lines stories into near-duplicate clusters",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument("--input", metavar="FILE", help="JSON Lines stories (default: stdin)")
    parser.add_argument("--output", metavar="FILE", help="JSON Lines clusters (default: stdout)")
    parser.set_defaults(func=run)


def cluster_lines(lines: Iterable[str], index: Index | None = None) -> Iterator[dict[str, Any]]:
    """Cluster stories given as JSON lines; blank lines are skipped.

    Args:
        lines: The input lines.
        index: The clustering state (a fresh :class:`Index` when omitted).

    Yields:
        ``{"id", "cluster_id", "duplicate_of"}`` per story, in order.

    Raises:
        ClusterInputError: A line is not valid JSON or lacks a string id, title or text.
    """
    index = index or Index(ttl_seconds=float("inf"))
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        story = _parse(line, number)
        url = story.get("url")
        verdict = index.add(
            story["id"],
            story["title"],
            story["text"],
            canonicalize_url(url) if url else None,
            seen_at=float(number),
        )
        yield {
            "id": story["id"],
            "cluster_id": verdict.cluster_id,
            "duplicate_of": verdict.duplicate_of,
        }


def _parse(line: str, number: int) -> dict[str, Any]:
    try:
        story = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ClusterInputError(
            f"line {number}: bad JSON: {exc.msg} (column {exc.colno})"
        ) from None
    if not isinstance(story, dict):
        raise ClusterInputError(f"line {number}: expected a JSON object")
    for key in ("id", "title", "text"):
        if not isinstance(story.get(key), str):
            raise ClusterInputError(f"line {number}: {key!r} must be a string")
    for key in ("url", "published_at"):
        if story.get(key) is not None and not isinstance(story[key], str):
            raise ClusterInputError(f"line {number}: {key!r} must be a string or null")
    return story


def _open(path: str | None, mode: str) -> IO[str]:
    if path is None or path == "-":
        stream = sys.stdin if mode == "r" else sys.stdout
        return open(stream.fileno(), mode, encoding="utf-8", closefd=False)
    return open(path, mode, encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Run ``newsbeam cluster``.

    Args:
        args: Parsed options (``input``, ``output``).

    Returns:
        The exit code: 0, or 2 for bad input (after a one-line message on stderr).
    """
    where = args.input or "stdin"
    try:
        with _open(args.input, "r") as src, _open(args.output, "w") as dst:
            for out in cluster_lines(src):
                dst.write(json.dumps(out, ensure_ascii=False) + "\n")
    except ClusterInputError as exc:
        print(f"newsbeam cluster: {where}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"newsbeam cluster: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeDecodeError as exc:
        print(f"newsbeam cluster: {where}: input is not UTF-8: {exc.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK
