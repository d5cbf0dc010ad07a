"""In-process near-duplicate clustering: ``Index``, for ``newsbeam cluster`` and the benchmarks.

Consumes stories one by one (id, title, text, canonical URL, time) and produces each one's
``transforms.dedup_claims.Verdict``, keeping the same per-key claims as ``ClusterStories``
keeps in Beam state, in a dict. No Beam.
"""

from __future__ import annotations

from transforms.dedup_claims import Claim, Verdict, make_claim, pick_verdict
from transforms.minhash import DedupParams, fingerprint, lookup_keys


class Index:
    """Sequential near-duplicate clustering in one process (``newsbeam cluster``, benchmarks).

    Keeps the same per-key claims as ``ClusterStories`` keeps in Beam state, in a dict, and
    forgets a claim ``ttl_seconds`` after the time it was made.

    Args:
        params: thresholds and band layout.
        ttl_seconds: how long a claim is kept.
    """

    def __init__(self, params: DedupParams | None = None, ttl_seconds: float = 7 * 86400.0):
        self.params = params or DedupParams()
        self.ttl_seconds = ttl_seconds
        self._claims: dict[bytes, bytes] = {}

    def _live(self, key: bytes, now: float) -> Claim | None:
        buf = self._claims.get(key)
        if buf is None:
            return None
        claim = Claim.decode(buf)
        if now - claim.seen_at > self.ttl_seconds:
            del self._claims[key]
            return None
        return claim

    def add(
        self,
        story_id: str,
        title: str | None,
        text: str,
        canonical_url: str | None = None,
        seen_at: float = 0.0,
    ) -> Verdict:
        """Cluster one story against everything kept so far, and remember it.

        Args:
            story_id: the story's id.
            title: its title.
            text: its extracted text.
            canonical_url: its canonical URL, if known (same URL = same story).
            seen_at: when it was seen, in seconds (drives ordering and the TTL).

        Returns:
            The story's verdict.
        """
        fp = fingerprint(title, text, self.params)
        keys = lookup_keys(fp, canonical_url, self.params)
        own = make_claim(story_id, story_id, seen_at, fp)
        held = {key: self._live(key, seen_at) for key in keys}
        verdict = pick_verdict(own, ((k, c) for k, c in held.items() if c is not None), self.params)
        mine = make_claim(story_id, verdict.cluster_id, seen_at, fp).encode()
        for key, claim in held.items():
            if claim is None or own.order() < claim.order():
                self._claims[key] = mine
        return verdict

    def state_bytes(self) -> int:
        """Bytes of keys and encoded claims currently kept."""
        return sum(len(k) + len(v) for k, v in self._claims.items())

    def __len__(self) -> int:
        return len(self._claims)
