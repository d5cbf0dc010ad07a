"""``newsbeam cluster``: near-duplicate clusters over JSON Lines stories, outside the pipeline.

Consumes JSON Lines {"id", "title", "text", "url"?, "published_at"?} (stdin or --input), or
the stories the pipeline writes (whose id is story_id; its duplicate_link and
syndication_update records, which are no stories, are skipped), and produces JSON Lines {"id",
"cluster_id", "duplicate_of"} (stdout or --output), one line per story, in input order.
duplicate_of is null for the first story of a cluster (input order decides which is first) and
cluster_id is that first story's id. The decisions are those of the pipeline's clustering step:
the same MinHash code, run in one process. Bad input (a missing file, a line that is not a
JSON object with string id or story_id, title and text, an id over 65,535 bytes) is a one-line
error on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from typing import Any

from pipelines.jsonl_command import InputError, parse_story, run_jsonl
from transforms.dedup_claims import MAX_ID_BYTES
from transforms.minhash_index import Index
from transforms.urls import canonicalize_url


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
    """Cluster stories given as JSON lines; blank lines and records that are not stories are
    skipped.

    Args:
        lines: The input lines.
        index: The clustering state (a fresh :class:`Index` when omitted).

    Yields:
        ``{"id", "cluster_id", "duplicate_of"}`` per story, in order.

    Raises:
        InputError: A line is not valid JSON or lacks a string id, title or text.
    """
    index = index or Index(ttl_seconds=float("inf"))
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        story = parse_story(line, number, optional=("url", "published_at"))
        if story is None:  # a record that is not a story
            continue
        if len(story["id"].encode("utf-8")) > MAX_ID_BYTES:
            raise InputError(f"line {number}: id longer than {MAX_ID_BYTES:,} bytes")
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


def run(args: argparse.Namespace) -> int:
    """Run ``newsbeam cluster``.

    Args:
        args: Parsed options (``input``, ``output``).

    Returns:
        The exit code: 0, or 2 for bad input (after a one-line message on stderr).
    """
    return run_jsonl("cluster", args.input, args.output, cluster_lines)
