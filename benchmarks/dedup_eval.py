"""Near-duplicate detection benchmark: pair recall / false merges, throughput, state per story.

Consumes ../shared/corpus/dedup/near_duplicate_pairs.csv and the two streams it refers to
(../shared/corpus/streams/articlemd, ../shared/corpus/streams/hn2024); prints a Markdown table.

* Pairs: each pair is clustered on its own (a fresh ``minhash_index.Index``: a, then b); a pair is
  merged when b comes out as ``duplicate_of`` a. Targets: recall >= 0.95 on near_duplicate and
  retitled_duplicate, false merges <= 1% on shared_boilerplate_trap; partial_overlap reported.
* Scale: the streams' documents, then synthetic variants of them (about 5% of words replaced,
  a new title) up to each size, clustered in one ``Index``; documents per second and the ratio
  of times (target time(100k)/time(10k) <= 12). Then the state kept per story (target < 1 KB):
  the same stories, each with a URL of its own as a fetched page has, go through the
  pipeline's own Fingerprint, ClaimPerKey and ClaimPerStory code (``transforms.dedup``,
  ``transforms.dedup_store``, called in order without a runner), and each key's state is
  encoded by that state's coder, with the key: per lookup key the stories it names (the one
  that holds it, the later ones told of it), per story element its claim, as a streaming job
  keeps them (before the runner's own per-key overhead). The ``Index``'s keys and claims
  alone are printed beside it.

Times are the process's CPU time (``time.process_time``), with wall-clock time beside them.
On the shared 2-core machine other engineers' test runs take a core away now and then: the one
wall-clock sample of the 100k run (about a minute) nearly always overlaps one, that of the 10k
run (about 5 s) seldom does, which inflated the wall-clock ratio by up to a fifth (an audit:
13.4 and 13.7, where quiet runs gave 11.0-11.2). CPU time leaves out the time the process waits
for a core; the target is judged on it, and both ratios are printed.

Each target is printed PASS or FAIL; the exit code is 1 when one fails. Without the corpus it
prints ``skipped: ...`` and exits 0.

Run: ``.venv/bin/python -m benchmarks.dedup_eval [--sizes 10000 100000]``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import CORPUS
from transforms.dedup import _ProbeFn
from transforms.dedup_keys import HELD_STATE, ClaimPerKeyFn
from transforms.dedup_store import CLAIM_STATE, WAITING_STATE, ClaimPerStoryFn
from transforms.minhash import DedupParams
from transforms.minhash_index import Index
from transforms.records import (
    Article,
    FeedEntry,
    Outlet,
    Story,
    TaggedStory,
    TagResult,
    story_id_for,
)
from transforms.ttl import DEFAULT_TTL_SECONDS


def load_streams(corpus: Path) -> dict[str, tuple[str, str]]:
    """All documents of both streams by their pair-file reference: ``{ref: (title, text)}``."""
    docs: dict[str, tuple[str, str]] = {}
    for path in sorted((corpus / "streams" / "articlemd").rglob("*.md")):
        raw = path.read_text(encoding="utf-8", errors="replace")
        title = raw.split("\n", 1)[0].lstrip("# ").strip()
        docs[str(path.relative_to(corpus))] = (title, raw.split("## Article:", 1)[-1])
    hn = corpus / "streams" / "hn2024" / "hn2024_en_all.jsonl.gz"
    with gzip.open(hn, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            docs[f"streams/hn2024/hn2024_en_all.jsonl.gz#{row['file']}"] = (
                row["title"],
                row["text"],
            )
    return docs


def pair_rates(corpus: Path, docs: dict[str, tuple[str, str]]) -> dict[str, tuple[int, float]]:
    """``{kind: (pairs, share merged)}`` over the labelled pairs."""
    merged: dict[str, list[bool]] = defaultdict(list)
    with (corpus / "dedup" / "near_duplicate_pairs.csv").open(encoding="utf-8") as f:
        for pair in csv.DictReader(f):
            index = Index()
            index.add("a", *docs[pair["a"]], None, 1.0)
            verdict = index.add("b", *docs[pair["b"]], None, 2.0)
            merged[pair["kind"]].append(verdict.duplicate_of == "a")
    return {kind: (len(v), sum(v) / len(v)) for kind, v in sorted(merged.items())}


def _variant(rng: random.Random, title: str, text: str) -> tuple[str, str]:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 20)):
        words[rng.randrange(len(words))] = f"v{rng.randrange(10**6)}"
    return f"{title} (update {rng.randrange(1000)})", " ".join(words)


def workload(docs: list[tuple[str, str]], size: int, seed: int = 5) -> list[tuple[str, str]]:
    """The streams' documents, then synthetic variants of them, ``size`` in all."""
    rng = random.Random(seed)
    out = list(docs[:size])
    while len(out) < size:
        out.append(_variant(rng, *docs[rng.randrange(len(docs))]))
    return out


def scale_run(items: list[tuple[str, str]]) -> tuple[float, float, int, int]:
    """Cluster ``items`` in one Index: (CPU s, wall s, duplicates found, state bytes)."""
    index = Index()
    cpu, wall = time.process_time(), time.perf_counter()
    dups = 0
    for n, (title, text) in enumerate(items):
        verdict = index.add(f"{n:016x}", title, text, None, float(n))
        dups += verdict.duplicate_of is not None
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, dups, index.state_bytes()


class _KeyState:
    """One key's ReadModifyWriteState, as the replayed steps read and write it."""

    def __init__(self) -> None:
        self.value: Any = None

    def read(self) -> Any:
        return self.value

    def write(self, value: Any) -> None:
        self.value = value

    def clear(self) -> None:
        self.value = None


class _KeyBag:
    """One key's BagState."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def read(self) -> list[Any]:
        return list(self.items)

    def add(self, value: Any) -> None:
        self.items.append(value)

    def clear(self) -> None:
        self.items = []


def _tagged(n: int, title: str, text: str) -> TaggedStory:
    url = f"https://site{n % 100}.example/story/{n}"
    entry = FeedEntry(feed_url=f"https://site{n % 100}.example/feed", link=url, key=url)
    article = Article(entry, url, url, url, title, text)
    story = Story(story_id_for(url), article, Outlet(f"site{n % 100}.example"), "en", None)
    return TaggedStory(story=story, tagging=TagResult(relevant=True, score=1.0))


def pipeline_state_bytes(items: list[tuple[str, str]], params: DedupParams | None = None) -> int:
    """What the clustering's keyed state holds after ``items`` (story n seen at second n), in
    bytes: ClaimPerKey's and ClaimPerStory's.

    Each story goes through the pipeline's ``_ProbeFn`` (its lookup keys, URL key included, its
    element id and claim), each probe through ``ClaimPerKeyFn.process`` in order, with one
    in-memory state per key, and what that sends through ``ClaimPerStoryFn.process``, with one
    claim and one bag of waiting lookups per story element; each key then counts its own bytes
    and its state encoded by the state's coder.
    """
    params = params or DedupParams()
    probe, claim = _ProbeFn(params, None), ClaimPerKeyFn(DEFAULT_TTL_SECONDS, gc_timers=False)
    store = ClaimPerStoryFn(DEFAULT_TTL_SECONDS, gc_timers=False)
    keys: dict[bytes, _KeyState] = defaultdict(_KeyState)
    claims: dict[str, tuple[_KeyState, _KeyBag]] = defaultdict(lambda: (_KeyState(), _KeyBag()))
    claim.start_bundle()
    store.start_bundle()
    for n, (title, text) in enumerate(items):
        for key, (uid, claim_bytes, _story) in probe.process(_tagged(n, title, text), n):
            claim.process((key, (uid, claim_bytes, None)), n, None, keys[key], None)
        for sent in claim.finish_bundle():
            uid, messages = sent.value
            store.process((uid, messages), n, None, *claims[uid], None)
        for _ in store.finish_bundle():  # the answers, which leave; not state
            pass
    total = sum(
        len(key) + len(HELD_STATE.coder.encode(s.value)) for key, s in keys.items() if s.value
    )
    for uid, (kept, waiting) in claims.items():
        if kept.value is not None:
            total += len(uid.encode()) + len(CLAIM_STATE.coder.encode(kept.value))
        total += sum(len(WAITING_STATE.coder.encode(item)) for item in waiting.items)
    return total


def _verdict(target: str, value: str, passed: bool) -> str:
    return f"target {target}: {value}: {'PASS' if passed else 'FAIL'}"


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark tables and a verdict per target.

    Returns:
        0 when every target passes or the corpus is missing (skipped), 1 when one fails.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="the shared corpus folder; reads dedup/near_duplicate_pairs.csv and streams/ in it"
        " (default: %(default)s)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        help="documents per scale run (default 10000 100000); the ratio target applies to a"
        " size 10x the first. On the shared 2-core machine: loading and the pairs ~8 s, 10k"
        " ~5 s, 100k ~60 s, and as long again for the state replay",
    )
    args = parser.parse_args(argv)
    needed = [
        args.corpus / "dedup" / "near_duplicate_pairs.csv",
        args.corpus / "streams" / "articlemd",
        args.corpus / "streams" / "hn2024" / "hn2024_en_all.jsonl.gz",
    ]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        print(f"skipped: corpus not found: no {', '.join(missing)}")
        return 0
    docs = load_streams(args.corpus)
    verdicts: list[tuple[str, str, bool]] = []
    print("| pair kind | pairs | merged |\n| --- | ---: | ---: |")
    for kind, (count, rate) in pair_rates(args.corpus, docs).items():
        print(f"| {kind} | {count} | {rate:.3f} |")
        if kind in ("near_duplicate", "retitled_duplicate"):
            verdicts.append((f"{kind} merged >= 0.95", f"{rate:.3f}", rate >= 0.95))
        if kind == "shared_boilerplate_trap":
            verdicts.append((f"{kind} merged <= 0.01", f"{rate:.3f}", rate <= 0.01))
    print(f"\n{len(docs)} stream documents\n")
    print(
        "| documents | CPU seconds | wall seconds | docs/s (CPU) | duplicates | state bytes/story"
        " | keys + claims bytes/story | CPU time / first | wall time / first |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base: tuple[float, float] | None = None
    values = list(docs.values())
    for size in args.sizes:
        items = workload(values, size)
        cpu, wall, dups, claims = scale_run(items)
        state = pipeline_state_bytes(items)
        base = base or (cpu, wall)
        print(
            f"| {size} | {cpu:.1f} | {wall:.1f} | {size / cpu:.0f} | {dups} | {state / size:.0f} "
            f"| {claims / size:.0f} | {cpu / base[0]:.2f} | {wall / base[1]:.2f} |"
        )
        target = f"clustering state per story < 1024 bytes at {size}"
        verdicts.append((target, f"{state / size:.0f}", state / size < 1024))
        if size == 10 * args.sizes[0]:
            ratio = cpu / base[0]
            verdicts.append(
                (f"CPU time({size}) / time({args.sizes[0]}) <= 12", f"{ratio:.2f}", ratio <= 12)
            )
    print()
    for target, value, passed in verdicts:
        print(_verdict(target, value, passed))
    return 0 if all(passed for _, _, passed in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
