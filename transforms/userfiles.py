"""A user's file, read by path: local, or remote (``gs://``, ``s3://`` ...) through Beam;
and YAML read as users write it (``load_yaml``: a key written twice is an error); and the
name a misspelt one in it meant (``closest``).

The feed list, ``--taxonomy`` and ``--outlets`` may live on Cloud Storage, as a Dataflow job's
do (its launcher and workers read them there). Local paths are read directly, so the pool's
worker processes (``transforms.analysis``) load their files without importing Beam; Beam's
``FileSystems`` is imported only for a remote path.
"""

from __future__ import annotations

import difflib
import errno
from pathlib import Path
from typing import Any

import yaml


def is_remote(path: str | Path) -> bool:
    """True for paths Beam's FileSystems serve from elsewhere (gs://, s3://, ...)."""
    return "://" in str(path)


# The most read of a user's file: a feed list of 100,000 feeds is some 10 MB, the bundled
# outlet catalogue 70 KB. Past it the file is refused, not read into memory whole
# (``--feeds /dev/zero`` exhausted the machine's).
MAX_USER_FILE_BYTES = 64 * 1024 * 1024


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes.

    Args:
        path: a local path, or a remote one Beam's FileSystems can open (``gs://...``).

    Raises:
        OSError: the file is missing or cannot be read, or holds more than
            ``MAX_USER_FILE_BYTES``; for a remote file, whatever the store raised (an API
            error, a timeout) becomes an OSError whose message is its type and the first
            line of its message.
    """
    if not is_remote(path):
        with open(path, "rb") as handle:
            return _at_most(handle.read(MAX_USER_FILE_BYTES + 1), path)
    from apache_beam.io.filesystems import FileSystems

    name = str(path)
    try:
        if not FileSystems.exists(name):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", name)
        with FileSystems.open(name) as handle:
            data: bytes = _at_most(handle.read(MAX_USER_FILE_BYTES + 1), name)
    except OSError:
        raise
    except Exception as exc:  # the store's own errors (google.api_core ...), one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise OSError(f"{type(exc).__name__}: {first}"[:300]) from exc
    return data


def _at_most(data: bytes, path: str | Path) -> bytes:
    if len(data) > MAX_USER_FILE_BYTES:
        limit = MAX_USER_FILE_BYTES // (1024 * 1024)
        raise OSError(errno.EFBIG, f"more than {limit} MB: not a file newsbeam reads", str(path))
    return data


# libyaml's parser where PyYAML was built with it (its wheels are), else PyYAML's own: the
# pure-Python scanner read 150-200 KB a second, so a taxonomy of 5,000 entities (800 KB) took
# 5.4 s to read, and a feed list of 10,000 feeds (930 KB) 4.9 s, at every load (a taxonomy is
# loaded at the launch's check, then in each step and process that tags); libyaml reads them
# in 0.3-0.5 s. Both build the same documents with the same marks (lines) and refuse a
# document nested past 1,000 levels (libyaml) or past Python's recursion (PyYAML's).
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe loader (``yaml.CSafeLoader`` where there is one) that refuses a mapping naming
    a key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *base' may be overridden by the keys beside it
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first_line
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error says so below
            if seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first_line[key] + 1}):"
                    " a key may appear once in a mapping",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """SafeLoader's, with a value it cannot make (a date that is none, ``2026-13-45``; an
        integer of more than 4,300 digits) a YAML error at its line: its ``ValueError``
        reached the user without the file's name, or as a traceback."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            value = str(node.value) if isinstance(node, yaml.ScalarNode) else node.tag
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown!r}: {str(exc)[:200]}", node.start_mark
            ) from None


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, except that a mapping naming a key twice is an error.

    Raises:
        yaml.YAMLError: the text is not YAML, or a mapping repeats a key (the error's
            ``problem`` names the key and the line of its first use, ``problem_mark`` the
            second); a document nested too deeply for the parser is one too.
    """
    return load_yaml_node(text)[0]


def load_yaml_node(text: str) -> tuple[Any, yaml.Node | None]:
    """``load_yaml``'s document, and the YAML node it was made from, whose marks give the
    line of each of its parts (the taxonomy's errors name an entry's line). Raises as
    ``load_yaml``."""
    loader = _UniqueKeyLoader(text)
    try:  # what yaml.load does, keeping the node
        node = loader.get_single_node()
        return (None if node is None else loader.construct_document(node)), node
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in (exc.problem or ""):  # libyaml's 1,000 levels
            exc.problem = "nested too deeply"
        raise
    finally:
        loader.dispose()


def closest(name: Any, names: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``names``, or nothing: the hint a file's
    misspelt key or column gets (the feed list, ``--outlets``, ``--taxonomy``)."""
    close = difflib.get_close_matches(str(name), [str(n) for n in names], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def key_hint(unknown: list[Any], known: Any) -> str:
    """What unknown keys of a user's file meant: ``closest`` for a single one, else (or with
    none close) `` (known: a, b)``, ``known`` in the order given."""
    hint = closest(unknown[0], known) if len(unknown) == 1 else ""
    return hint or f" (known: {', '.join(map(str, known))})"
