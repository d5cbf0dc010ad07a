"""What one-shot runs remember between runs: the ``--state-dir``.

A streaming job keeps per-feed validators and seen entries in Beam's keyed state.
A one-shot (batch) run ends, so it keeps them in files instead, so that running
``newsbeam run`` twice on unchanged feeds fetches no article twice and publishes
nothing twice:

* ``feeds.json``: per feed, the ETag, Last-Modified and body hash of its last poll;
* ``seen.jsonl``: the key of every entry that went past SkipSeenEntries, with its feed and
  the time it was last seen: an entry a later run finds again in its feed (and skips) is
  remembered from that run on, and so are all of a feed's entries when the feed is
  unchanged (not modified, or the same body: it still lists them), so a feed that keeps
  listing an entry for longer than the TTL keeps it suppressed. Entries older than the TTL
  are forgotten on load, and entries that failed
  with a retryable error are not recorded (the next run retries): their feeds are not
  recorded in ``feeds.json`` either, so that the next run fetches and parses those feeds in
  full even if they are unchanged (the entries handled already are then skipped as seen);
* ``signatures.jsonl``: the near-duplicate claims (lookup key, claim) of every story a run
  published first, so that a later run recognises a copy of yesterday's story; claims
  older than the TTL are forgotten;
* ``outlets.jsonl`` (``--duplicates link`` or ``publish``): per first story, the outlets that
  carried it so far and when the last was added, so that a copy found by a later run
  sends a ``syndication_update`` listing them all; forgotten a TTL after the last outlet.

A time in these files later than the loading run's clock (written under a clock that was
wrong, set years ahead) is read as that run's time: kept as it was, an entry would stay
suppressed, and a claim would hold its keys (and sort after this run's stories, so that a copy
passed as new), until that date; read so, it is forgotten a TTL after the run that read it.

Each file is checked row by row when it is loaded: a row that is not what newsbeam writes
there (not JSON, a field missing or of the wrong type, a claim that does not decode) is a
``StateDirError`` naming the file, the row and the fault, before the run starts.

During a run, the pipeline writes what it learned to ``<state-dir>/pending/``
(``SkipSeenEntries`` drops entries seen by earlier runs, counted as
``seen_in_earlier_run``); after the run, ``commit_run_state()`` merges those files
into the files above and removes them. Only the launcher process touches the files.

One run at a time: ``lock_state_dir`` takes an exclusive lock on ``<state-dir>/.lock`` for
the life of the process (a second run on the same folder is refused, naming the first's
pid) and removes what a killed run left in ``pending/``; ``lock_folder`` does the same for
a local ``--output`` folder (``.output.lock``), before the run clears or writes anything.
The commit writes every file beside its target first, then puts them in place with SIGINT
and SIGTERM held back until the last is in place: ``signatures.jsonl`` and ``outlets.jsonl``
first, then ``seen.jsonl``, ``feeds.json`` last. A run killed between two of those renames
(SIGKILL) leaves stories remembered whose entries are not (fetched again, each is then the
duplicate of itself), never entries remembered as seen whose stories are not (skipped, and
a copy of them elsewhere published as new); and entries remembered as seen under feeds that
will be fetched and parsed again, never feeds "not modified" whose new entries nobody
remembers.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import math
import os
import shutil
import signal
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, TypeVar, overload

import apache_beam as beam

from transforms.common import DISCARDED, FAILURES, OK, with_stage_outputs
from transforms.minhash import Claim
from transforms.records import Discard, FeedEntry, FeedState
from transforms.urls import redact_userinfo

FEEDS_FILE = "feeds.json"
SEEN_FILE = "seen.jsonl"
PENDING_DIR = "pending"
PENDING_FEEDS = "feeds"
PENDING_SEEN = "seen"
PENDING_SEEN_AGAIN = "resighted"
SEEN_AGAIN = "seen_again"  # SkipSeenEntries' output of the entries it skipped
SIGNATURES_FILE = "signatures.jsonl"
PENDING_SIGNATURES = "signatures"
OUTLETS_FILE = "outlets.jsonl"
PENDING_OUTLETS = "outlets"
LOCK_FILE = ".lock"  # the state directory's
OUTPUT_LOCK_FILE = ".output.lock"  # a local --output folder's (the two may be one folder)
_LOCK_FILES = {"--state-dir": LOCK_FILE, "--output": OUTPUT_LOCK_FILE}

_Row = TypeVar("_Row")

_held_locks: dict[str, int] = {}  # lock file (resolved) -> its open descriptor


class FolderLockError(Exception):
    """A folder's lock cannot be taken: its lock file is not a file, or cannot be opened."""


class FolderInUse(FolderLockError):
    """Another process holds the folder's lock (the message names its pid)."""


def lock_folder(folder: str, flag: str) -> bool:
    """Hold the lock of ``folder``, given as ``flag`` (``--state-dir`` or ``--output``), for
    the rest of this process: an exclusive flock on its lock file, which holds this pid.

    Args:
        folder: an existing local folder.
        flag: what the folder is for; each use has its own lock file (``_LOCK_FILES``), so
            one folder can be both a run's state directory and its output.

    Returns:
        True if this call took the lock, False if this process held it already.

    Raises:
        FolderInUse: another process holds it (the message names the flag and its pid).
        FolderLockError: the lock file is not a regular file (a folder, a link), or cannot
            be opened.
    """
    root = Path(folder).resolve()
    path = root / _LOCK_FILES[flag]
    if str(path) in _held_locks:
        return False
    try:  # not through a link; a FIFO would block an open without O_NONBLOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        raise _lock_file_fault(flag, path, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _lock_file_fault(flag, path, "not a file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise FolderInUse(
            f"{flag} {root} is in use by another newsbeam run (pid {holder}): give this run "
            f"another {flag}, or wait for that one to end"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held_locks[str(path)] = fd
    return True


def _lock_file_fault(flag: str, path: Path, error: str) -> FolderLockError:
    with contextlib.suppress(OSError):
        mode = path.lstat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a link" if stat.S_ISLNK(mode) else None
            error = f"it is {kind or 'a special file'}, not a file: delete it"
    return FolderLockError(f"{flag} {path.parent}: cannot take its lock {path.name} ({error})")


def lock_state_dir(state_dir: str) -> None:
    """Hold the state directory's lock for the rest of this process (``lock_folder``), and
    clear ``pending/`` when this call took it.

    Raises:
        FolderInUse: another newsbeam process holds it (the message names its pid).
        FolderLockError: its ``.lock`` is not a regular file, or cannot be opened.
    """
    if not lock_folder(state_dir, "--state-dir"):
        return
    # What a killed run left half-written (Beam's temporary folders among it) is no one's now.
    pending = Path(state_dir).resolve() / PENDING_DIR
    if pending.is_dir() and not pending.is_symlink():
        shutil.rmtree(pending, ignore_errors=True)
    else:  # a file (or a link) where the run's folder goes
        pending.unlink(missing_ok=True)


class StateDirError(ValueError):
    """The state directory cannot be read or written."""


def pending_prefix(state_dir: str, kind: str) -> str:
    """The WriteToText prefix for what a run learned (``kind``: ``PENDING_*``)."""
    return str(Path(state_dir) / PENDING_DIR / kind)


def load_feed_states(state_dir: str) -> dict[str, FeedState]:
    """The validators remembered for each feed URL (empty on a first run).

    Raises:
        StateDirError: ``feeds.json`` cannot be read, or holds what newsbeam does not write.
    """
    states = _load(Path(state_dir) / FEEDS_FILE, _feed_row, one_list=True)
    return {state.feed_url: state for state in states}


def load_seen(state_dir: str, ttl_seconds: float, now: float | None = None) -> dict[str, float]:
    """Entry keys seen by earlier runs within the TTL, with when they were last seen (no
    later than ``now``: see the module docstring).

    Raises:
        StateDirError: ``seen.jsonl`` cannot be read, or holds what newsbeam does not write.
    """
    now = time.time() if now is None else now
    rows = _load(Path(state_dir) / SEEN_FILE, _seen_row)
    return {key: min(seen_at, now) for key, seen_at, _ in rows if seen_at >= now - ttl_seconds}


def _seen_feeds(state_dir: str) -> dict[str, str]:
    """The feed each remembered entry came from (lines written before feeds were recorded
    have none)."""
    rows = _load(Path(state_dir) / SEEN_FILE, _seen_row)
    return {key: feed_url for key, _, feed_url in rows if feed_url}


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
        for story_id, (domains, _) in _story_outlets(state_dir, ttl_seconds, now).items()
    }


def _story_outlets(
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
            lines = enumerate(text.split("\n"), 1)
            rows = [(f"line {n}", line) for n, line in lines if line.strip()]
    except _FAULTS as exc:
        raise _unreadable(path, "", exc) from None
    checked = []
    for where, row in rows:
        try:
            checked.append(row_of(row if one_list else json.loads(row)))
        except _FAULTS as exc:
            raise _unreadable(path, f"{where}: ", exc) from None
    return checked


def _unreadable(path: Path, where: str, exc: Exception) -> StateDirError:
    fault = f"no {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
    return StateDirError(f"cannot read {path}: {where}{fault} (delete it to start afresh)")


def _feed_row(row: Any) -> FeedState:
    unknown = sorted(set(_object(row)) - {f.name for f in fields(FeedState)})
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    return FeedState(
        _text(row, "feed_url"),
        etag=_text(row, "etag", optional=True),
        last_modified=_text(row, "last_modified", optional=True),
        body_sha256=_text(row, "body_sha256", optional=True),
    )


def _seen_row(row: Any) -> tuple[str, float, str | None]:
    return _text(row, "key"), _time(row, "seen_at"), _text(row, "feed_url", optional=True)


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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name!r} is {_shown(value)}, not a time in seconds")
    return float(value)


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


def sighting_line(sighting: tuple[str, tuple[str, str]]) -> str:
    """A pending ``outlets`` line from one of ClusterStories' sightings: the first story's id
    and an outlet that carried it (itself, or a copy)."""
    story_id, (_role, domain) = sighting
    return json.dumps({"story_id": story_id, "domain": domain})


def signature_line(pair: tuple[bytes, bytes], **more: str) -> str:
    """One ``signatures.jsonl`` line: the lookup key and the claim, base64 (and ``more``)."""
    key, claim = pair
    return json.dumps(
        {"key": base64.b64encode(key).decode(), "claim": base64.b64encode(claim).decode(), **more}
    )


def signature_lines(story: tuple[tuple[bytes, ...], bytes, str]) -> str:
    """A first story's pending ``signatures`` lines, one per lookup key, as one string.

    ClusterStories emits a story's keys, claim and entry link as one element (one per key
    cost ~19 elements a story through the sink); written as one record, they are still one
    line each. The link lets ``commit_run_state`` leave out a story whose entry the next run
    retries (its publishing failed): remembered, the retried story was its own duplicate.
    """
    keys, claim, link = story
    return "\n".join(signature_line((key, claim), link=link) for key in keys)


def signature_from_json(row: dict[str, str]) -> tuple[bytes, bytes]:
    """One ``signatures`` line (base64 ``key`` and ``claim``) as ``(lookup key, claim)``."""
    return base64.b64decode(row["key"]), base64.b64decode(row["claim"])


def _read_pending(state_dir: str, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((Path(state_dir) / PENDING_DIR).glob(f"{kind}*")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def commit_run_state(
    state_dir: str,
    seen_before: dict[str, float],
    retry_links: set[str],
    ttl_seconds: float,
    now: float | None = None,
) -> None:
    """Merge what a run learned into the state directory's four files: ``feeds.json`` (feed
    validators and body hashes), ``seen.jsonl`` (entries handled), ``signatures.jsonl`` (the
    published stories' lookup keys; those of retried links dropped) and ``outlets.jsonl``
    (the outlets that carried each story).

    Args:
        state_dir: the state directory.
        seen_before: what ``load_seen`` returned at the start of the run.
        retry_links: links of entries that failed with a retryable error: neither they nor
            their feeds' validators and body hashes are remembered, so the next run
            fetches those feeds unconditionally and retries them; nor, for one whose
            publishing failed, its story's signatures.
        ttl_seconds: how long a seen entry is remembered.
        now: the current time (seconds since the epoch), for tests.
    """
    root = Path(state_dir)
    now = time.time() if now is None else now

    def retried(link: str | None) -> bool:
        # dead letters name a link without its credentials (redact_userinfo), the pending
        # files as the feed gave it
        return link is not None and (link in retry_links or redact_userinfo(link) in retry_links)

    feeds = load_feed_states(state_dir)
    unchanged = set()  # feeds that still list what they listed: their entries are still there
    for row in _read_pending(state_dir, PENDING_FEEDS):
        state = FeedState(**row)
        last = feeds.get(state.feed_url)
        if last is not None and last.body_sha256 and last.body_sha256 == state.body_sha256:
            unchanged.add(state.feed_url)
        feeds[state.feed_url] = state
    feed_of = _seen_feeds(state_dir)
    seen = {k: t for k, t in seen_before.items() if t >= now - ttl_seconds}
    for entry_key in seen:
        if feed_of.get(entry_key) in unchanged:
            seen[entry_key] = now
    for row in _read_pending(state_dir, PENDING_SEEN):
        if not retried(row["link"]):
            seen.setdefault(row["key"], now)
            feed_of.setdefault(row["key"], row["feed_url"])
        else:  # an unchanged feed would be "not modified" next time: forget it
            feeds.pop(row.get("feed_url", ""), None)
    for row in _read_pending(state_dir, PENDING_SEEN_AGAIN):
        if row["key"] in seen:  # still in its feed: remembered for a TTL from now
            seen[row["key"]] = now
    signatures = dict(load_signatures(state_dir, ttl_seconds, now))
    for row in _read_pending(state_dir, PENDING_SIGNATURES):
        if retried(row.get("link")):
            continue  # not delivered: the next run tries the entry again
        key, claim = signature_from_json(row)
        held = signatures.get(key)
        # Two first stories under one key (a band hit that did not verify): the earliest
        # claim holds it, as in the stateful clustering.
        if held is None or Claim.decode(claim).order() < Claim.decode(held).order():
            signatures[key] = claim
    outlets = _story_outlets(state_dir, ttl_seconds, now)
    for row in _read_pending(state_dir, PENDING_OUTLETS):
        domains, _ = outlets.setdefault(row["story_id"], (set(), now))
        if row["domain"] not in domains:
            domains.add(row["domain"])
            outlets[row["story_id"]] = (domains, now)  # remembered a TTL from this outlet
    root.mkdir(parents=True, exist_ok=True)
    # In the order they are put in place (see the module docstring): the stories' claims and
    # outlets, then the entries seen, feeds.json last.
    files = {SIGNATURES_FILE: "".join(signature_line(pair) + "\n" for pair in signatures.items())}
    if outlets or (root / OUTLETS_FILE).exists():
        files[OUTLETS_FILE] = "".join(
            json.dumps({"story_id": k, "domains": sorted(d), "at": at}) + "\n"
            for k, (d, at) in outlets.items()
        )
    files[SEEN_FILE] = "".join(
        json.dumps({"key": k, "seen_at": t, "feed_url": feed_of.get(k, "")}) + "\n"
        for k, t in seen.items()
    )
    files[FEEDS_FILE] = json.dumps([asdict(s) for s in feeds.values()], indent=1)
    _write_all(root, files)
    shutil.rmtree(root / PENDING_DIR, ignore_errors=True)


def _write_all(root: Path, files: dict[str, str]) -> None:
    """Write each file beside its target (a full disk fails here, before any is replaced),
    then put them in place in order, SIGINT and SIGTERM held back until the last is in
    (``stop_signals_held``)."""
    staged = [(root / (name + ".tmp"), root / name, text) for name, text in files.items()]
    try:
        for tmp, _, text in staged:
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
    except OSError:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    with stop_signals_held():
        for tmp, path, _ in staged:
            tmp.replace(path)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block ends, then act on them as they would
    have been: the handler in place before the block runs, or the default action.

    Python runs signal handlers in the main thread whichever thread the system delivered the
    signal to, so blocking it in the main thread's signal mask does not hold it back (a run
    has many threads, and a handler that ended the process ran between two renames of the
    commit). While the block runs, the handlers only note the signal. From another thread,
    where handlers cannot be changed, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[tuple[int, Any]] = []
    before = {
        signum: signal.signal(signum, lambda number, frame: noted.append((number, frame)))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for held, handler in before.items():  # None: one set outside Python, not restorable
            signal.signal(held, signal.SIG_DFL if handler is None else handler)
        for number, frame in noted:
            handler = before[signal.Signals(number)]
            if callable(handler):
                handler(number, frame)
            elif handler != signal.SIG_IGN:  # the default action (or one set outside Python)
                signal.raise_signal(number)


def feed_state_line(state: FeedState) -> str:
    """One pending ``feeds`` line: the feed's URL, validators and body hash, as JSON."""
    return json.dumps(asdict(state))


def seen_line(entry: FeedEntry) -> str:
    """One pending ``seen`` line: the entry's key, link and feed (read by commit_run_state)."""
    return json.dumps({"key": entry.key, "link": entry.link, "feed_url": entry.feed_url})


class _SkipSeenEntriesFn(beam.DoFn):
    def __init__(self, seen: frozenset[str], report_seen_again: bool) -> None:
        self._seen = seen
        self._report = report_seen_again

    def process(self, entry: FeedEntry) -> Iterator[Any]:
        if entry.key in self._seen:
            yield beam.pvalue.TaggedOutput(
                DISCARDED, Discard("state", entry.link, "seen_in_earlier_run")
            )
            if self._report:
                yield beam.pvalue.TaggedOutput(SEEN_AGAIN, entry)
        else:
            yield entry


class SkipSeenEntries(beam.PTransform):
    """PCollection[FeedEntry] -> ok: entries not seen by earlier runs; discarded: the rest.

    Args:
        seen: the keys earlier runs saw (``load_seen``).
        report_seen_again: also put each skipped entry on the ``SEEN_AGAIN`` output, for the
            state directory to remember it from this run on (a run that keeps no state
            leaves the step with its usual three outputs).
    """

    def __init__(self, seen: frozenset[str], report_seen_again: bool = False) -> None:
        super().__init__()
        self._seen = seen
        self._report = report_seen_again

    def expand(self, entries: beam.PCollection) -> Any:
        fn = _SkipSeenEntriesFn(self._seen, self._report)
        if not self._report:
            return with_stage_outputs(entries, fn, "Skip")
        return entries | "Skip" >> beam.ParDo(fn).with_outputs(
            FAILURES, DISCARDED, SEEN_AGAIN, main=OK
        )
