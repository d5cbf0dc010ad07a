"""What ``newsbeam tag`` and ``newsbeam cluster`` share: JSON Lines stories in, JSON Lines out.

Each reads stories from ``--input`` (or stdin), one JSON object a line, checks each line
(``parse_story``), and writes one JSON object a line to ``--output`` (or stdout). The stories
the pipeline writes (``DIR/stories-*.jsonl``, ``newsbeam subscribe --json``) are such input:
their id is ``story_id``, and its records that are not stories (``duplicate_link``,
``syndication_update``: no title or text) are skipped. A UTF-8 byte-order mark at the start
of the input is dropped. Bad input (a missing file, a line that is not a story or is not
UTF-8) is a one-line error on stderr naming the line, and exit code 2 (``run_jsonl``). An
``--output`` file appears only when the whole input was read: it is written beside its final
path and renamed into place, so a bad line leaves no half-written file (and an existing one
untouched), and ``--output`` may name the ``--input`` file itself.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class InputError(ValueError):
    """A line of the input is not a valid story; the message names the line number."""


# Records the pipeline writes beside its stories (``record_type``; stories have none) that
# are pointers to a story, not stories: no title or text to tag or compare.
SKIPPED_RECORD_TYPES = frozenset({"duplicate_link", "syndication_update"})


def parse_story(line: str, number: int, optional: Iterable[str] = ()) -> dict[str, Any] | None:
    """One input line as a story: a JSON object with string ``id``, ``title`` and ``text``.

    A story as the pipeline writes it (``DIR/stories-*.jsonl``, ``subscribe --json``) names
    its id ``story_id``: that is the id when there is no ``id``. The pipeline's records that
    are not stories (``record_type`` ``duplicate_link`` or ``syndication_update``) give None.

    Args:
        line: the line.
        number: its line number, for the error message.
        optional: keys that may be missing or null, else must be strings.

    Returns:
        The story, with its id under ``id``; None for a record that is not a story.

    Raises:
        InputError: the line is not such an object.
    """
    try:
        story = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"line {number}: bad JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # an integer too long, nesting too deep
        raise InputError(f"line {number}: bad JSON: {exc}") from None
    if not isinstance(story, dict):
        raise InputError(f"line {number}: expected a JSON object")
    if "\\ud" in line.lower() and not _encodes(story):
        raise InputError(
            f"line {number}: a string holds a lone surrogate escape (\\ud800-\\udfff "
            "without its pair), which is no character"
        )
    if story.get("record_type") in SKIPPED_RECORD_TYPES:
        return None
    names = {"id": "id", "title": "title", "text": "text"}  # as the line names them
    if "id" not in story and "story_id" in story:
        story = {**story, "id": story["story_id"]}
        names["id"] = "story_id"
    for key, name in names.items():
        if key not in story:
            also = " (or 'story_id')" if key == "id" else ""
            raise InputError(f"line {number}: no {key!r}{also}")
        if not isinstance(story[key], str):
            raise InputError(f"line {number}: {name!r} must be a string")
    for key in optional:
        if story.get(key) is not None and not isinstance(story[key], str):
            raise InputError(f"line {number}: {key!r} must be a string or null")
    return story


def _encodes(story: dict[str, Any]) -> bool:
    """Whether the story can be written as UTF-8 (JSON's escapes can name half a pair)."""
    try:
        json.dumps(story, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_text(path: str | None, mode: str) -> Any:
    """``path`` as UTF-8 text; None or ``-`` is stdin (``r``) or stdout (``w``), left open.

    Read, a byte-order mark at the start (a Windows editor's UTF-8) is dropped, and a byte
    that is not UTF-8 is read as a lone surrogate (``surrogateescape``), so that the line
    holding it can be named (``utf8_lines``): decoding fails a block of lines ahead of them.
    """
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    errors = "surrogateescape" if mode == "r" else "strict"
    if path is not None and path != "-":
        return open(path, mode, encoding=encoding, errors=errors)
    stream = sys.stdin if mode == "r" else sys.stdout
    if stream is None:  # started with it closed (<&-): Python has None there
        if mode == "r":
            raise OSError(errno.EBADF, "closed (give --input FILE)", "standard input")
        raise OSError(errno.EBADF, "closed (give --output FILE)", "standard output")
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):  # e.g. a captured stream
        return contextlib.nullcontext(stream)
    if mode == "w":
        stream.flush()  # what was printed before comes first
    return open(fd, mode, encoding=encoding, errors=errors, closefd=False)


def utf8_lines(lines: Iterable[str]) -> Iterator[str]:
    """The lines of an ``open_text`` input, each checked for bytes that were not UTF-8.

    Raises:
        InputError: naming the first line that held such a byte, and the byte.
    """
    for number, line in enumerate(lines, start=1):
        if line.isascii():
            yield line
            continue
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: a byte that was not UTF-8
            code = ord(line[exc.start])
            byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else "a byte"
            raise InputError(
                f"line {number}: not UTF-8 ({byte} at character {exc.start + 1})"
            ) from None
        yield line


def _is_special_file(path: str) -> bool:
    """Whether ``path`` (followed if a link) exists and is neither a regular file nor a
    directory: a device, a named pipe, a socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # nothing there (yet), or not reachable: written as a new file
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_PARTIAL = ".partial"  # the suffix of replaced_on_success's temporary files


def partial_name_pattern(name: str) -> str:
    """A glob for the temporary files ``replaced_on_success`` writes beside the file ``name``
    (for a process that ends at once, skipping the clean-up)."""
    return f".{glob.escape(name)}.*{_PARTIAL}"


@contextlib.contextmanager
def replaced_on_success(path: str | None) -> Iterator[Any]:
    """A text stream for ``path`` that becomes ``path`` only if the block ends without error.

    The stream is a temporary file in ``path``'s directory, renamed over ``path`` at the end
    (an atomic replace), or removed if the block raises. None or ``-`` is stdout, written as
    it goes (``open_text``), and so is anything that is not a regular file (``/dev/null``, a
    named pipe, ``/dev/stdout``): a rename would have put a file in its place. A symbolic
    link is followed: the file it names is replaced, the link stays.
    """
    if path is None or path == "-" or _is_special_file(path):
        with open_text(path, "w") as stream:
            yield stream
        return
    if os.path.isdir(path):  # refused before any input is read
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    target = os.path.realpath(path)  # a link's file, replaced; the link stays
    directory, name = os.path.split(target)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=_PARTIAL, dir=directory)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        with open(fd, "w", encoding="utf-8") as stream:  # owns fd from here: always closed
            os.chmod(fd, 0o666 & ~_umask())  # what open(path, "w") would have given
            yield stream
        try:
            os.replace(temporary, target)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def run_jsonl(
    command: str,
    input_path: str | None,
    output_path: str | None,
    convert: Callable[[Iterable[str]], Iterator[dict[str, Any]]],
) -> int:
    """Write ``convert(input lines)`` as JSON Lines; bad input is a one-line error.

    Args:
        command: the subcommand's name, for messages (``tag``, ``cluster``).
        input_path: ``--input`` (None: stdin).
        output_path: ``--output`` (None: stdout).
        convert: turns the input lines into output objects; raises ``InputError``.

    Returns:
        The exit code: 0, or 2 for bad input (after a one-line message on stderr).
    """
    where = input_path or "stdin"
    try:
        with open_text(input_path, "r") as src, replaced_on_success(output_path) as dst:
            for obj in convert(utf8_lines(src)):
                dst.write(json.dumps(obj, ensure_ascii=False) + "\n")
    except InputError as exc:
        print(f"newsbeam {command}: {where}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        raise  # the reader of stdout went away (| head): the program ends quietly (cli.entry)
    except OSError as exc:
        # an error with no file name is the standard output's (a full disk, /dev/full)
        name = exc.filename or output_path or "standard output"
        print(f"newsbeam {command}: {name}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeDecodeError as exc:
        print(f"newsbeam {command}: {where}: input is not UTF-8: {exc.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK
