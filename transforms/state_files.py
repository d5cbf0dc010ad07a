"""The state directory's files, read back (``transforms.state`` says what each holds).

Consumes ``feeds.json``, ``seen.jsonl``, ``signatures.jsonl`` and ``outlets.jsonl`` of a
``--state-dir``; produces what a run starts from: each feed's validators, the entries seen
and the stories' claims and outlets within the TTL. Each row is checked as it is read: a row
that is not what newsbeam writes there (not JSON, a field missing or of the wrong type, a
claim that does not decode) is a ``StateDirError`` naming the file, the row and the fault,
except the last line of a JSON Lines file when it is cut short (no end of line, and not JSON:
a crash, or a full disk, while the file was written or copied): that line is left out with a
warning, and the next commit writes the file whole. A time later than the loading run's clock
is read as that run's time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from transforms.dedup_claims import Claim
from transforms.records import FeedState

FEEDS_FILE = "feeds.json"
SEEN_FILE = "seen.jsonl"
SIGNATURES_FILE = "signatures.jsonl"
OUTLETS_FILE = "outlets.jsonl"

_Row = TypeVar("_Row")

log = logging.getLogger(__name__)
# The cut-short last lines already warned about (file, size): a run reads its state files when
# it starts and again when it commits.
_CUT_SHORT_WARNED: set[tuple[str, int]] = set()


class StateDirError(ValueError):
    """The state directory cannot be read or written."""


def load_feed_states(state_dir: str) -> dict[str, FeedState]:
    """The validators remembered for each feed URL (empty on a first run).

    Raises:
        StateDirError: ``feeds.json`` cannot be read, or holds what newsbeam does not write.
    """
    return {url: state for url, (state, _) in load_feed_rows(state_dir).items()}


def load_feed_rows(state_dir: str) -> dict[str, tuple[FeedState, float | None]]:
    """Each feed's validators, with the time of the last run whose feed list named it
    (None: a ``feeds.json`` written before that time was recorded).

    Raises:
        StateDirError: ``feeds.json`` cannot be read, or holds what newsbeam does not write.
    """
    rows = _load(Path(state_dir) / FEEDS_FILE, _feed_row, one_list=True)
    return {state.feed_url: (state, listed_at) for state, listed_at in rows}


@dataclass(frozen=True)
class SeenFile:
    """``seen.jsonl``, read once: the entries within the TTL with when each was last seen
    (no later than the run's clock), the feed that listed each (every line that names one),
    and whether an older newsbeam wrote lines with no ``feed_url`` field (``without_feeds``:
    it did not record which feed listed each entry; lines written since always have the
    field, empty for an entry whose feed is not known); and when the newest line was last
    seen, within the TTL or not (None: no line)."""

    seen: dict[str, float]
    feed_of: dict[str, str]
    without_feeds: bool
    newest: float | None = None


def read_seen(state_dir: str, ttl_seconds: float, now: float | None = None) -> SeenFile:
    """``seen.jsonl`` (``SeenFile``; empty on a first run).

    Raises:
        StateDirError: ``seen.jsonl`` cannot be read, or holds what newsbeam does not write.
    """
    now = time.time() if now is None else now
    rows = _load(Path(state_dir) / SEEN_FILE, _seen_row)
    return SeenFile(
        seen={key: min(at, now) for key, at, _, _ in rows if at >= now - ttl_seconds},
        feed_of={key: feed_url for key, _, feed_url, _ in rows if feed_url},
        without_feeds=any(not has_feed for _, _, _, has_feed in rows),
        newest=max((at for _, at, _, _ in rows), default=None),
    )


def all_forgotten(
    state_dir: str, seen: SeenFile, ttl_seconds: float, now: float | None = None
) -> str | None:
    """What to tell a user whose state directory remembers entries, none of them within the
    TTL (runs paused for longer than ``--dedup-ttl``, or run less often than it): every entry
    a changed feed still lists is new to this run, published again. None otherwise."""
    now = time.time() if now is None else now
    if seen.newest is None or seen.newest >= now - ttl_seconds:
        return None
    return (
        f"the newest entry remembered in {state_dir} was seen {_span(now - seen.newest)} ago, "
        f"longer ago than --dedup-ttl ({_span(ttl_seconds)}): all are forgotten, so the "
        "stories a changed feed still lists are published again (a longer --dedup-ttl keeps "
        "them)"
    )


def _span(seconds: float) -> str:
    """A duration in the largest unit that fits, to a tenth: "8 days", "6.9 days", "1 hour"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            count = f"{seconds / size:.1f}".removesuffix(".0")
            return f"{count} {unit}{'' if count == '1' else 's'}"
    raise AssertionError("unreachable")


def load_signatures(
    state_dir: str, ttl_seconds: float, now: float | None = None
) -> list[tuple[bytes, bytes]]:
    """The (lookup key, claim) pairs of stories earlier runs published, within the TTL; a
    claim stamped after ``now`` is given ``now`` as its time (see the module docstring).

    Raises:
        StateDirError: ``signatures.jsonl`` cannot be read, or holds a row that is not a
            lookup key and a claim.
    """
    now = time.time() if now is None else now
    rows = _load(Path(state_dir) / SIGNATURES_FILE, _signature_row)
    return [
        (key, claim if seen_at <= now else _restamped(claim, now))
        for key, claim, seen_at in rows
        if seen_at >= now - ttl_seconds
    ]


def _restamped(claim: bytes, seen_at: float) -> bytes:
    """``claim`` (encoded) with its time replaced by ``seen_at``."""
    return replace(Claim.decode(claim), seen_at=seen_at).encode()


def load_story_outlets(
    state_dir: str, ttl_seconds: float, now: float | None = None
) -> dict[str, tuple[str, ...]]:
    """The outlets that carried each first story of earlier runs, by story id, for those
    whose last outlet was added within the TTL (``SyndicationUpdates``' ``known``).

    Raises:
        StateDirError: ``outlets.jsonl`` cannot be read, or holds what newsbeam does not write.
    """
    return {
        story_id: tuple(sorted(domains))
        for story_id, (domains, _) in story_outlets(state_dir, ttl_seconds, now).items()
    }


def story_outlets(
    state_dir: str, ttl_seconds: float, now: float | None
) -> dict[str, tuple[set[str], float]]:
    now = time.time() if now is None else now
    rows = _load(Path(state_dir) / OUTLETS_FILE, _outlets_row)
    return {
        story_id: (domains, min(at, now))
        for story_id, domains, at in rows
        if at >= now - ttl_seconds
    }


# What a state file's row can be found to be instead of what newsbeam writes there.
_FAULTS = (OSError, ValueError, TypeError, KeyError, IndexError, struct.error, RecursionError)


def _load(path: Path, row_of: Callable[[Any], _Row], one_list: bool = False) -> list[_Row]:
    """Each row of a state file, decoded and checked by ``row_of`` (none if there is no file):
    the items of one JSON list (``one_list``: ``feeds.json``), or one JSON object a line.

    Raises:
        StateDirError: the file cannot be read, or a row is not what newsbeam writes there:
            the message names the file, the row and the fault.
    """
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
        if one_list:
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError(f"a JSON list expected, not {_shown(items)}")
            rows = [(f"item {n}", item) for n, item in enumerate(items, 1)]
        else:  # at "\n" only, as written (str.splitlines also splits at U+2028 and others)
            lines = text.split("\n")
            rows = [(f"line {n}", line) for n, line in enumerate(lines, 1) if line.strip()]
            if _cut_short(lines[-1]):  # newsbeam ends every line it writes
                rows.pop()
                _warn_cut_short(path, len(lines), len(text))
    except _FAULTS as exc:
        raise _unreadable(path, "", exc) from None
    checked = []
    for where, row in rows:
        try:
            checked.append(row_of(row if one_list else json.loads(row)))
        except _FAULTS as exc:
            raise _unreadable(path, f"{where}: ", exc) from None
    return checked


def _cut_short(last: str) -> bool:
    """Whether the text after a JSON Lines file's last end of line is a line cut short: some
    text that is not JSON (one that is, its end of line alone lost, is read as it is)."""
    if not last.strip():
        return False
    try:
        json.loads(last)
    except ValueError:
        return True
    except RecursionError:
        return False  # whole or not, it is refused as a row (_FAULTS)
    return False


def _warn_cut_short(path: Path, line: int, size: int) -> None:
    if (str(path), size) in _CUT_SHORT_WARNED:
        return
    _CUT_SHORT_WARNED.add((str(path), size))
    log.warning(
        "the last line of %s (line %d) was cut short, as by a crash or a full disk while the "
        "file was written or copied: the file is read up to that line, and what it held from "
        "there on is forgotten (an entry a feed still lists is handled again when the feed "
        "changes; a copy of a story may pass as new); this run's state rewrites it whole",
        path,
        line,
    )


# What to do about a damaged state file: deleting feeds.json costs the next run only its
# validators; deleting another forgets all it holds, where one line may be all that is wrong.
_ADVICE = {
    FEEDS_FILE: "delete it: the next run polls every feed in full, without its ETags, and "
    "still skips the entries seen.jsonl remembers"
}


def _unreadable(path: Path, where: str, exc: Exception) -> StateDirError:
    if isinstance(exc, OSError):  # the file may be sound: its permissions, the disk
        # (deleting it, as advised for a damaged file, would forget what it holds)
        return StateDirError(f"cannot read {path}: {exc.strerror or exc}")
    fault = f"no {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
    line = "delete that line, or the file to start afresh"
    advice = _ADVICE.get(
        path.name, line if where.startswith("line") else "delete it to start afresh"
    )
    return StateDirError(f"cannot read {path}: {where}{fault} ({advice})")


def _feed_row(row: Any) -> tuple[FeedState, float | None]:
    unknown = sorted(set(_object(row)) - {f.name for f in fields(FeedState)} - {"listed_at"})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    state = FeedState(
        _text(row, "feed_url"),
        etag=_text(row, "etag", optional=True),
        last_modified=_text(row, "last_modified", optional=True),
        body_sha256=_text(row, "body_sha256", optional=True),
    )
    return state, _time(row, "listed_at") if "listed_at" in row else None


def _seen_row(row: Any) -> tuple[str, float, str | None, bool]:
    """A ``seen.jsonl`` row: its key, time, feed (or None), and whether it has the field."""
    feed_url = _text(row, "feed_url", optional=True)
    return _text(row, "key"), _time(row, "seen_at"), feed_url, "feed_url" in row


def _signature_row(row: Any) -> tuple[bytes, bytes, float]:
    """A ``signatures.jsonl`` row: its lookup key, claim (both non-empty base64) and the
    claim's time (the claim decoded, as ClusterStories will)."""
    key, claim = (_base64(row, name) for name in ("key", "claim"))
    try:
        seen_at = Claim.decode(claim).seen_at
    except (ValueError, IndexError, struct.error):
        raise ValueError(f"'claim' is not a story's claim: {_shown(row['claim'])}") from None
    if not math.isfinite(seen_at):
        raise ValueError(f"'claim' holds no time: {_shown(row['claim'])}")
    return key, claim, seen_at


def _outlets_row(row: Any) -> tuple[str, set[str], float]:
    domains = _object(row).get("domains")
    if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
        raise ValueError(f"'domains' is {_shown(domains)}, not a list of domain names")
    return _text(row, "story_id"), set(domains), _time(row, "at")


def _object(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"a JSON object expected, not {_shown(row)}")
    return row


@overload
def _text(row: Any, name: str) -> str: ...
@overload
def _text(row: Any, name: str, optional: bool) -> str | None: ...
def _text(row: Any, name: str, optional: bool = False) -> str | None:
    """``row[name]``, a string (or, ``optional``, null or absent: None)."""
    value = _object(row).get(name) if optional else _object(row)[name]
    if not (isinstance(value, str) or (optional and value is None)):
        raise ValueError(f"{name!r} is {_shown(value)}, not a string")
    return value


def _time(row: Any, name: str) -> float:
    """``row[name]``, a time in seconds since the epoch (a finite number)."""
    value = _object(row)[name]
    seconds = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an integer past a float's range
            seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{name!r} is {_shown(value)}, not a time in seconds")
    return seconds


def _base64(row: Any, name: str) -> bytes:
    try:
        decoded = base64.b64decode(_text(row, name), validate=True)
    except binascii.Error:
        decoded = b""
    if not decoded:
        raise ValueError(f"{name!r} is {_shown(row[name])}, not base64 bytes")
    return decoded


def _shown(value: Any) -> str:
    """``value`` as JSON, cut short (for an error message)."""
    shown = json.dumps(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
