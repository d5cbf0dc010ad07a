"""``newsbeam tag``: tag JSON Lines stories with the taxonomy, outside the pipeline.

Consumes JSON Lines {"id", "title", "text"} (stdin or --input; other fields are ignored), or
the stories the pipeline writes (whose id is story_id), and produces JSON Lines {"id",
"relevant", "score", "platforms", "state_actors", "controversies", "rules", "tags"} (stdout or
--output), one line per story, in order (the pipeline's duplicate_link and syndication_update
records, which are no stories, are skipped). Bad input (a missing file, a line that is not a
JSON object with string id or story_id, title and text, an invalid taxonomy) is a one-line
error on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from pipelines.jsonl_command import EXIT_BAD_INPUT, parse_story, run_jsonl
from transforms.tagger import Tagger, TaxonomyError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tag`` subcommand.

    Args:
        subparsers: The ``newsbeam`` command's subparsers.
    """
    parser = subparsers.add_parser(
        "tag",
        help="tag JSON Lines stories with platforms, state actors and controversies",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tag`` options to a parser.

    Args:
        parser: The parser of the ``tag`` subcommand.
    """
    parser.add_argument("--input", metavar="FILE", help="JSON Lines stories (default: stdin)")
    parser.add_argument("--output", metavar="FILE", help="JSON Lines tags (default: stdout)")
    parser.add_argument(
        "--taxonomy",
        metavar="FILE",
        help="a taxonomy YAML merged over the bundled one (adds or overrides entities and rules)",
    )


def tag_lines(tagger: Tagger, lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Tag stories given as JSON lines; blank lines and records that are not stories are skipped.

    Args:
        tagger: The tagger.
        lines: The input lines.

    Yields:
        One output object per story.

    Raises:
        InputError: A line is not valid JSON or lacks a string id, title or text.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        story = parse_story(line, number)
        if story is None:  # a record that is not a story
            continue
        result = tagger.tag(story["title"], story["text"])
        yield {"id": story["id"], **result.to_json()}


def run(args: argparse.Namespace) -> int:
    """Run ``newsbeam tag``.

    Args:
        args: Parsed options (``input``, ``output``, ``taxonomy``).

    Returns:
        The exit code: 0, or 2 for bad input (after a one-line message on stderr).
    """
    try:
        tagger = Tagger.load(args.taxonomy)
    except TaxonomyError as exc:
        print(f"newsbeam tag: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_jsonl("tag", args.input, args.output, partial(tag_lines, tagger))


def main(argv: list[str] | None = None) -> int:
    """Run the command standalone (``python -m pipelines.tag_command``).

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(
        prog="newsbeam tag", description=__doc__.split("\n\n")[1] if __doc__ else None
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
