"""A lookup key's claim, and a story's verdict from the claims its keys held.

Plain Python, no Beam, shared by ``transforms.dedup`` (keyed Beam state) and
``transforms.minhash_index`` (one process), and read back from a state directory
(``transforms.state_files``). Consumes what ``transforms.minhash`` makes of a story (its
:class:`~transforms.minhash.Fingerprint` and keys); produces the compact :class:`Claim` that
state keeps (about 46 bytes: story and cluster ids, time, word count, title bits, 2-bit sketch),
the check that a candidate found under a key is a duplicate (:func:`verify`), and the
:class:`Verdict` (:func:`pick_verdict`): the earliest verified earlier story, if any. Also the
references a key holds instead of a claim (:func:`encode_refs`): a story's claim is kept once,
under its element id, and each of its keys names that element and its time (23 bytes).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from transforms.minhash import (
    TEXT_KEY,
    URL_KEY,
    DedupParams,
    Fingerprint,
    sketch_similarity,
    title_overlap,
)

_ID_HEX = re.compile(r"[0-9a-f]{16}")
_CLAIM = struct.Struct("<dHQ")  # seen_at, n_words, title bits
# An element id as transforms.dedup makes it: the story id, "/", 12 hex digits of a hash.
_UID_HEX = re.compile(r"([0-9a-f]{16})/([0-9a-f]{12})")
_REF_TIME = struct.Struct("<d")


# The longest story id a claim holds (``newsbeam cluster`` takes ids from its input).
MAX_ID_BYTES = 65535


def _pack_id(story_id: str) -> bytes:
    """A story id in a claim: the pipeline's 16 hex digits as 8 bytes, any other id whole,
    after its UTF-8 length in one byte (up to 255) or in two (up to ``MAX_ID_BYTES``)."""
    if _ID_HEX.fullmatch(story_id):
        return b"\x00" + bytes.fromhex(story_id)
    raw = story_id.encode("utf-8")
    if len(raw) <= 255:
        return bytes([1, len(raw)]) + raw
    if len(raw) > MAX_ID_BYTES:
        raise ValueError(f"a story id of {len(raw):,} bytes: at most {MAX_ID_BYTES:,}")
    return b"\x02" + len(raw).to_bytes(2, "little") + raw


def _unpack_id(buf: bytes, pos: int) -> tuple[str, int]:
    if buf[pos] == 0:
        return buf[pos + 1 : pos + 9].hex(), pos + 9
    if buf[pos] == 1:
        n, start = buf[pos + 1], pos + 2
    else:
        n, start = int.from_bytes(buf[pos + 1 : pos + 3], "little"), pos + 3
    return buf[start : start + n].decode("utf-8"), start + n


def encode_refs(refs: Iterable[tuple[str, float]]) -> bytes:
    """``(element id, time)`` pairs as bytes: 23 each for the pipeline's element ids (the
    time, then the story id's 8 bytes and the hash's 6), any other id whole after its length."""
    out = bytearray()
    for uid, at in refs:
        out += _REF_TIME.pack(at)
        match = _UID_HEX.fullmatch(uid)
        if match:
            out += b"\x00" + bytes.fromhex(match[1] + match[2])
        else:
            raw = uid.encode("utf-8")
            if len(raw) > MAX_ID_BYTES:
                raise ValueError(f"an element id of {len(raw):,} bytes: at most {MAX_ID_BYTES:,}")
            out += b"\x01" + len(raw).to_bytes(2, "little") + raw
    return bytes(out)


def decode_refs(buf: bytes) -> list[tuple[str, float]]:
    """The inverse of :func:`encode_refs`."""
    refs, pos = [], 0
    while pos < len(buf):
        (at,) = _REF_TIME.unpack_from(buf, pos)
        pos += _REF_TIME.size
        if buf[pos] == 0:
            raw = buf[pos + 1 : pos + 15].hex()
            uid, pos = f"{raw[:16]}/{raw[16:]}", pos + 15
        else:
            n = int.from_bytes(buf[pos + 1 : pos + 3], "little")
            uid, pos = buf[pos + 3 : pos + 3 + n].decode("utf-8"), pos + 3 + n
        refs.append((uid, at))
    return refs


@dataclass(frozen=True)
class Claim:
    """What a key's state remembers: the earliest story seen under it."""

    story_id: str
    cluster_id: str
    seen_at: float
    n_words: int = 0
    title_bits: int = 0
    sketch: bytes = b""

    def encode(self) -> bytes:
        """Compact bytes (about 46 for a 16-hex-digit story id): what state stores."""
        return (
            _pack_id(self.story_id)
            + _pack_id(self.cluster_id)
            + _CLAIM.pack(self.seen_at, min(self.n_words, 65535), self.title_bits)
            + self.sketch
        )

    @classmethod
    def decode(cls, buf: bytes) -> Claim:
        """The inverse of :meth:`encode`."""
        story_id, pos = _unpack_id(buf, 0)
        cluster_id, pos = _unpack_id(buf, pos)
        seen_at, n_words, bits = _CLAIM.unpack_from(buf, pos)
        return cls(story_id, cluster_id, seen_at, n_words, bits, buf[pos + _CLAIM.size :])

    def order(self) -> tuple[float, str]:
        return (self.seen_at, self.story_id)


def make_claim(story_id: str, cluster_id: str, seen_at: float, fp: Fingerprint | None) -> Claim:
    """The claim a story leaves under its keys."""
    if fp is None:
        return Claim(story_id, cluster_id, seen_at)
    return Claim(story_id, cluster_id, seen_at, fp.n_words, fp.title_bits, fp.sketch)


def verify(key: bytes, new: Claim, old: Claim, params: DedupParams) -> float | None:
    """Whether ``new`` duplicates ``old``, found under ``key``: the similarity, or ``None``.

    Args:
        key: the key both were found under (the URL key needs no check; the exact-text key
            skips the similarity estimate but not the title guard).
        new: the claim the newer story would leave.
        old: the claim held by the key.
        params: threshold and guards.

    Returns:
        The (estimated) similarity when verified, else ``None``.
    """
    if key[0] == URL_KEY:
        return 1.0
    sim = 1.0 if key[0] == TEXT_KEY else sketch_similarity(new.sketch, old.sketch)
    if sim < params.threshold:
        return None
    if title_overlap(new.title_bits, old.title_bits) < params.title_similar and (
        min(new.n_words, old.n_words) < params.retitle_min_words
    ):
        return None
    return sim


@dataclass(frozen=True)
class Verdict:
    """The outcome for one story: ``duplicate_of`` is ``None`` for the first of a cluster."""

    story_id: str
    cluster_id: str
    duplicate_of: str | None = None
    similarity: float | None = None


def pick_verdict(new: Claim, found: Iterable[tuple[bytes, Claim]], params: DedupParams) -> Verdict:
    """One verdict from what every key of a story found: the earliest verified earlier story.

    Args:
        new: the story's own claim (its id, time and sketch).
        found: ``(key, claim held by that key)`` for every key that held an earlier claim.
        params: threshold and guards.

    Returns:
        The verdict; claims that are not earlier than ``new`` (by ``(seen_at, story_id)``) are
        ignored, so two stories racing each other cannot both be marked duplicates.
    """
    best: tuple[tuple[float, str], Claim, float] | None = None
    for key, old in found:
        # Not earlier than ``new``, or than a story already verified (often the same story,
        # found under several band keys): it cannot become the verdict, so it is not verified.
        if old.order() >= new.order() or (best is not None and old.order() >= best[0]):
            continue
        sim = verify(key, new, old, params)
        if sim is not None:
            best = (old.order(), old, sim)
    if best is None:
        return Verdict(new.story_id, new.story_id)
    return Verdict(new.story_id, best[1].cluster_id, best[1].story_id, best[2])
