"""What one-shot runs remember between runs: the ``--state-dir``.

A streaming job keeps per-feed validators and seen entries in Beam's keyed state.
A one-shot (batch) run ends, so it keeps them in files instead, so that running
``newsbeam run`` twice on unchanged feeds fetches no article twice and publishes
nothing twice:

* ``feeds.json``: per feed, the ETag, Last-Modified and body hash of its last poll, and the
  time of the last run whose feed list named it: a feed that left the list is forgotten a
  TTL after that (added again by then, it resumes with its validators);
* ``seen.jsonl``: the key of every entry that went past SkipSeenEntries, with the feed that
  listed it last and the time it was last seen: an entry a later run finds again in a feed
  (and skips) is remembered from that run on, and so are all of a feed's entries when it is
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

A ``seen.jsonl`` an older newsbeam wrote has no feed on its lines: the first run on it polls
every feed in full (``pipelines.config`` gives it no validators), its entries still listed
get their feed, and ``feeds.json`` keeps only the feeds that run polled.

A time in these files later than the loading run's clock (written under a clock that was
wrong, set years ahead) is read as that run's time: kept as it was, an entry would stay
suppressed, and a claim would hold its keys (and sort after this run's stories, so that a copy
passed as new), until that date; read so, it is forgotten a TTL after the run that read it.

Each file is checked row by row when it is loaded (``transforms.state_files``): a row that
is not what newsbeam writes there (not JSON, a field missing or of the wrong type, a claim
that does not decode) is a ``StateDirError`` naming the file, the row and the fault, before
the run starts.

During a run, the pipeline writes what it learned to ``<state-dir>/pending/``
(``SkipSeenEntries`` drops entries seen by earlier runs, counted as
``seen_in_earlier_run``); after the run, ``commit_run_state()`` merges those files
into the files above and removes them. Only the launcher process touches the files.

One run at a time: ``lock_state_dir`` takes an exclusive lock on ``<state-dir>/.lock`` until
the run ends (a second run on the same folder is refused, naming the first's pid) and
removes what a killed run left in ``pending/``; ``lock_folder`` (``transforms.folder_locks``)
does the same for a local ``--output`` folder (``.output.lock``), before the run clears or
writes anything.
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
import contextlib
import json
import shutil
import signal
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import apache_beam as beam

from transforms import durable
from transforms.common import DISCARDED, FAILURES, OK, with_stage_outputs
from transforms.dedup_claims import Claim
from transforms.folder_locks import lock_folder
from transforms.records import Discard, FeedEntry, FeedState
from transforms.state_files import (
    FEEDS_FILE,
    OUTLETS_FILE,
    SEEN_FILE,
    SIGNATURES_FILE,
    load_feed_rows,
    load_signatures,
    read_seen,
    story_outlets,
)
from transforms.urls import redact_userinfo

PENDING_DIR = "pending"
PENDING_FEEDS = "feeds"
PENDING_SEEN = "seen"
PENDING_SEEN_AGAIN = "resighted"
SEEN_AGAIN = "seen_again"  # SkipSeenEntries' output of the entries it skipped
PENDING_SIGNATURES = "signatures"
PENDING_OUTLETS = "outlets"


def lock_state_dir(state_dir: str) -> None:
    """Hold the state directory's lock until the run ends (``lock_folder``), and
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


def pending_prefix(state_dir: str, kind: str) -> str:
    """The WriteToText prefix for what a run learned (``kind``: ``PENDING_*``)."""
    return str(Path(state_dir) / PENDING_DIR / kind)


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
    listed: Collection[str] = (),
) -> None:
    """Merge what a run learned into the state directory's four files: ``feeds.json`` (feed
    validators and body hashes), ``seen.jsonl`` (entries handled), ``signatures.jsonl`` (the
    published stories' lookup keys; those of retried links dropped) and ``outlets.jsonl``
    (the outlets that carried each story).

    Args:
        state_dir: the state directory.
        seen_before: what ``read_seen`` gave at the start of the run (its ``seen``).
        retry_links: links of entries that failed with a retryable error: neither they nor
            their feeds' validators and body hashes are remembered, so the next run
            fetches those feeds unconditionally and retries them; nor, for one whose
            publishing failed, its story's signatures.
        ttl_seconds: how long a seen entry is remembered, and a feed's validators once the
            feed has left the feed list.
        now: the current time (seconds since the epoch), for tests.
        listed: the URLs of the run's feed list (a feed polled this run counts as listed
            whether named here or not).
    """
    root = Path(state_dir)
    now = time.time() if now is None else now

    def retried(link: str | None) -> bool:
        # dead letters name a link without its credentials (redact_userinfo), the pending
        # files as the feed gave it
        return link is not None and (link in retry_links or redact_userinfo(link) in retry_links)

    # An older newsbeam's state was polled in full (see ``SeenFile.without_feeds``): a feed
    # this run did not poll successfully keeps no validators or body hash from it (that
    # newsbeam kept a broken feed's, which then passed as "not modified").
    last_rows = load_feed_rows(state_dir)
    seen_file = read_seen(state_dir, ttl_seconds, now)
    # A feed's validators are kept while its feed list names it and a TTL after the last run
    # whose list did (re-added by then, it resumes where it left off); one from before that
    # time was kept counts from this run.
    listed_at = {url: now if at is None else min(at, now) for url, (_, at) in last_rows.items()}
    listed_at.update(dict.fromkeys(listed, now))
    feeds = {} if seen_file.without_feeds else {url: s for url, (s, _) in last_rows.items()}
    unchanged = set()  # feeds that still list what they listed: their entries are still there
    for row in _read_pending(state_dir, PENDING_FEEDS):
        state = FeedState(**row)
        last = last_rows.get(state.feed_url, (None, None))[0]
        if last is not None and last.body_sha256 and last.body_sha256 == state.body_sha256:
            unchanged.add(state.feed_url)
        feeds[state.feed_url] = state
        listed_at[state.feed_url] = now
    feeds = {url: s for url, s in feeds.items() if listed_at[url] >= now - ttl_seconds}
    # Each entry is remembered with the feed that listed it last (a feed renamed in the list
    # takes its entries over), so that while that feed is unchanged they stay remembered.
    feed_of = seen_file.feed_of
    seen = {k: t for k, t in seen_before.items() if t >= now - ttl_seconds}
    for entry_key in seen:
        if feed_of.get(entry_key) in unchanged:
            seen[entry_key] = now
    for row in _read_pending(state_dir, PENDING_SEEN):
        if not retried(row["link"]):
            seen.setdefault(row["key"], now)
            feed_of[row["key"]] = row["feed_url"]
        else:  # an unchanged feed would be "not modified" next time: forget it
            feeds.pop(row.get("feed_url", ""), None)
    for row in _read_pending(state_dir, PENDING_SEEN_AGAIN):
        if row["key"] in seen:  # still in its feed: remembered for a TTL from now
            seen[row["key"]] = now
            feed_of[row["key"]] = row["feed_url"]
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
    outlets = story_outlets(state_dir, ttl_seconds, now)
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
    files[FEEDS_FILE] = json.dumps(
        [{**asdict(s), "listed_at": listed_at[url]} for url, s in feeds.items()], indent=1
    )
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
                durable.sync_to_disk(out.fileno())  # F_FULLFSYNC on macOS
    except OSError:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    with stop_signals_held():
        for tmp, path, _ in staged:
            tmp.replace(path)
    durable.sync_folder(root)  # the renames too


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
        seen: the keys earlier runs saw (``read_seen``'s ``seen``).
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
