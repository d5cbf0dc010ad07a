r"""Near-duplicate detection core: text normalisation, MinHash, LSH band keys, verification.

Plain Python (numpy via datasketch), no Beam. ``transforms.dedup.ClusterStories`` (keyed Beam
state per key) and ``newsbeam cluster`` (``transforms.minhash_index.Index``, one process)
share every function here.

Consumes a story's id, title, text and canonical URL; produces a :class:`Fingerprint` (``None``
when the text is too short or only boilerplate: such stories are matched by URL only), the keys
under which it is looked up, and the similarity of two sketches; the compact claim a key's
state keeps and a story's verdict are in ``transforms.dedup_claims``.

The pipeline of one text:

1. markup is removed (HTML tags, entities, Markdown link targets, bare URLs);
2. lines with fewer than ``min_line_words`` words (menus, captions, buttons) are dropped, and so
   are lines dense in boilerplate vocabulary (cookie walls, paywall offers, sign-in prompts);
3. what remains are the *informative words*; fewer than ``min_words`` -> not judged by text;
4. word ``shingle_size``-shingles -> 64-permutation MinHash -> 16 bands of 4 rows = 16 band keys,
   plus an exact key on the hash of the informative words and one on the canonical URL.

A word is a run of word characters (``\w+``), except in scripts written without spaces between
words (Chinese and Japanese: Han, Hiragana, Katakana), where each character is a word of its own,
as the tagger's matcher counts them; a run such as ``美国国会再推tiktok`` would otherwise be one
"word" per clause. Such a character counts as half a word (``UNSPACED_CHARS_PER_WORD``) against
``min_line_words``, ``min_words`` and ``retitle_min_words``, which were tuned on English words: a
Chinese word is one to two characters, and a Chinese text has about 1.5-2 characters for each word
of its English translation. Text without such characters is split exactly as by ``\w+``, so its
fingerprints are unchanged. Thai, also unspaced, is left to ``\w+``: it splits Thai at each
vowel or tone mark written above or below a letter (not word characters), into about as many
pieces as there are words (28 in a sentence of about 25 words), the same in every copy, so Thai
copies are judged by their text already. Hangul is written with spaces.

A candidate found under a band key is only a duplicate when verified: the Jaccard similarity
estimated from 2-bit sketches of the two signatures is at least ``threshold``, and, when the
titles differ (title word overlap below ``title_similar``), both texts carry at least
``retitle_min_words`` informative words. That last guard is what keeps short shared stubs (a
paywall offer, a code host's chrome, a mailing-list footer) under different headlines apart,
while real re-titled copies, which are full articles, still merge.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import zlib
from dataclasses import dataclass, field

import numpy as np
from datasketch import MinHash

# An HTML tag (r"<[^>]*>") and a Markdown link target (r"\]\([^)\s]*\)"), each matched with
# its closing character optional: one never closed is matched as far as the search for its end
# went, and left as it is (_strip_tags, _strip_link_targets), rather than searched again from
# the next "<" or "](", which stops at the same place, unclosed as well. Searching from each
# took quadratic time: "<" or "](" repeated, 64,000 characters took 4-12 s, 1 MB hours.
_TAG = re.compile(r"<[^>]*(>)?")
_MD_LINK_TARGET = re.compile(r"\]\([^)\s]*(\))?")
_BARE_URL = re.compile(r"https?://\S+|www\.\S+")
# Word characters of scripts written without spaces: each one is a word (see the docstring).
_UNSPACED = (
    "\u3005-\u3007"  # 々 〆 〇
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs: extension A, unified, compatibility
    "\uff66-\uff9f"  # halfwidth Katakana
    "\U00020000-\U0003ffff"  # CJK ideographs: extensions B and later, compatibility supplement
)
# One unspaced word character (``(?=\w)``: not the blocks' punctuation, such as ・ and ゠), or a
# run of other word characters: on text without unspaced characters, exactly ``\w+``.
_UNSPACED_CHAR = f"(?=\\w)[{_UNSPACED}]"
_WORD = re.compile(f"{_UNSPACED_CHAR}|[^\\W{_UNSPACED}]+")
_UNSPACED_WORD = re.compile(_UNSPACED_CHAR)
_ANY_UNSPACED = re.compile(f"[{_UNSPACED}]")
_SPACED_WORD = re.compile(r"\w+")  # what _WORD finds in a text without unspaced characters
UNSPACED_CHARS_PER_WORD = 2


# Words that make up cookie walls, paywall offers, sign-in and error pages. A line where they
# are at least BOILERPLATE_LINE_SHARE of the words (and at least two of them) is dropped.
BOILERPLATE_WORDS = frozenset(
    """cookie cookies consent consenting subscribe subscribed subscription subscriptions
    subscriber subscribers newsletter newsletters signin login logged password javascript
    browser captcha paywall premium unlock upfront preferences personalization
    personalisation advertising advertisement analytics storage copyright reserved rights
    terms policy disable enable enabled denied unavailable""".split()  # noqa: SIM905
)

URL_KEY, TEXT_KEY = 0xFE, 0xFF  # band index byte of the two exact keys


@dataclass(frozen=True)
class DedupParams:
    """Tunables of near-duplicate detection (defaults tuned on the corpus pairs)."""

    shingle_size: int = 5
    num_perm: int = 64
    bands: int = 16
    threshold: float = 0.6
    min_words: int = 50
    min_line_words: int = 5
    boilerplate_line_share: float = 0.12
    retitle_min_words: int = 200
    title_similar: float = 0.5
    seed: int = 1

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


def informative_words(text: str, params: DedupParams = DedupParams()) -> list[str]:
    """The words of ``text`` that can tell one story from another (steps 1-2 above).

    Args:
        text: extracted article text, possibly with markup left in.
        params: the thresholds.

    Returns:
        Case-folded words, in order (a Chinese or Japanese character is a word of its own).
    """
    return _informative(text, params)[0]


def _has_unspaced(text: str) -> bool:
    """Whether ``text`` has a character of a script written without spaces.

    NumPy finds the highest code point first (5 us for an article of 4,500 characters); the
    regex (30 us, 5% of a fingerprint) runs only when it is U+3005 or above.
    """
    if text.isascii():
        return False
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return int(codes.max()) >= 0x3005 and _ANY_UNSPACED.search(text) is not None


def _strip_tags(text: str) -> str:
    """``text`` with each HTML tag (``<`` to the next ``>``) a space, in linear time."""
    return _TAG.sub(_closed_tag, text)


def _closed_tag(m: re.Match[str]) -> str:
    return " " if m.group(1) else m.group()


def _strip_link_targets(text: str) -> str:
    """``text`` with each Markdown link target (``](`` to the next ``)``, no whitespace in
    between) ``"] "``, in linear time."""
    return _MD_LINK_TARGET.sub(_closed_link_target, text)


def _closed_link_target(m: re.Match[str]) -> str:
    return "] " if m.group(1) else m.group()


def _informative(text: str, params: DedupParams) -> tuple[list[str], float]:
    """:func:`informative_words` and how many words they count as (an unspaced character as
    ``1 / UNSPACED_CHARS_PER_WORD``: the count the thresholds are compared with)."""
    plain = _strip_tags(html.unescape(_strip_tags(text)))
    plain = _BARE_URL.sub(" ", _strip_link_targets(plain))
    # The plain ``\w+`` for a text without unspaced characters (nearly all outside Chinese and
    # Japanese): the same words, faster than _WORD
    unspaced_text = _has_unspaced(plain)
    split = _WORD.findall if unspaced_text else _SPACED_WORD.findall
    out: list[str] = []
    total: float = 0
    for line in plain.splitlines():
        folded = line.casefold()
        words = split(folded)
        count: float = len(words)
        if unspaced_text and words:
            unspaced = len(_UNSPACED_WORD.findall(folded))
            count -= unspaced - unspaced / UNSPACED_CHARS_PER_WORD
        if count < params.min_line_words:
            continue
        chrome = sum(1 for w in words if w in BOILERPLATE_WORDS)
        if chrome >= 2 and chrome >= params.boilerplate_line_share * count:
            continue
        out.extend(words)
        total += count
    return out, total


def title_bits(title: str | None) -> int:
    """A 64-bit set of the title's words (one bit per word hash), for a cheap title overlap."""
    bits = 0
    folded = (title or "").casefold()
    for word in (_SPACED_WORD if folded.isascii() else _WORD).findall(folded):
        bits |= 1 << (zlib.crc32(word.encode("utf-8")) & 63)
    return bits


def title_overlap(a: int, b: int) -> float:
    """Jaccard overlap of two :func:`title_bits` sets (1.0 when both titles are empty)."""
    union = (a | b).bit_count()
    return 1.0 if union == 0 else (a & b).bit_count() / union


@dataclass(frozen=True)
class Fingerprint:
    """What one story contributes to near-duplicate detection."""

    n_words: int
    title_bits: int
    text_hash: bytes  # 8 bytes of SHA-256 of the informative words
    hashvalues: np.ndarray = field(repr=False, compare=False)  # MinHash, uint32[num_perm]

    @property
    def sketch(self) -> bytes:
        """The lowest 2 bits of every MinHash value, packed: 16 bytes for 64 permutations."""
        low = (self.hashvalues & 3).astype(np.uint8).reshape(-1, 4)
        return bytes((low[:, 0] | low[:, 1] << 2 | low[:, 2] << 4 | low[:, 3] << 6).tolist())


_PERMUTATIONS: dict[tuple[int, int], tuple[np.ndarray, str]] = {}


# Shingles hashed per datasketch call: ``update_batch`` builds a (shingles x num_perm) uint64
# matrix and its temporaries, ~1 GB for the 1.6 million shingles of a 10 MB page's text at once;
# 2,048 at a time keep it near 1 MB. The minimum over the batches is the minimum over all.
_SHINGLE_BATCH = 2048


def _minhash(words: list[str], params: DedupParams) -> np.ndarray:
    cached = _PERMUTATIONS.get((params.num_perm, params.seed))
    if cached is None:
        seed_hash = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=zlib.crc32)
        cached = (seed_hash.permutations, str(seed_hash.scheme))
        _PERMUTATIONS[(params.num_perm, params.seed)] = cached
    mh = MinHash(
        num_perm=params.num_perm,
        hashfunc=zlib.crc32,
        permutations=cached[0],
        scheme=cached[1],
    )
    k = params.shingle_size
    count = len(words) - k + 1
    for start in range(0, count, _SHINGLE_BATCH):
        stop = min(start + _SHINGLE_BATCH, count)
        mh.update_batch([" ".join(words[i : i + k]).encode("utf-8") for i in range(start, stop)])
    return np.asarray(mh.hashvalues, dtype=np.uint32)


def fingerprint(
    title: str | None, text: str, params: DedupParams = DedupParams()
) -> Fingerprint | None:
    """The fingerprint of a story, or ``None`` when its text is too short or boilerplate.

    Args:
        title: the story's title.
        text: the story's extracted text.
        params: the thresholds.

    Returns:
        A :class:`Fingerprint`, or ``None`` when fewer than ``params.min_words`` informative
        words remain (the story is then matched by URL only).
    """
    words, count = _informative(text, params)
    if count < params.min_words:
        return None
    digest = hashlib.sha256(" ".join(words).encode("utf-8")).digest()[:8]
    return Fingerprint(int(count), title_bits(title), digest, _minhash(words, params))


def url_key(canonical_url: str) -> bytes:
    """The exact key of a canonical URL (9 bytes)."""
    return bytes([URL_KEY]) + hashlib.sha256(canonical_url.encode("utf-8")).digest()[:8]


def lookup_keys(
    fp: Fingerprint | None, canonical_url: str | None, params: DedupParams
) -> list[bytes]:
    """The state keys of a story: URL key, exact-text key, then one key per LSH band.

    Args:
        fp: the story's fingerprint (``None``: URL key only).
        canonical_url: the story's canonical URL, if known.
        params: band layout.

    Returns:
        9-byte keys (a kind/band byte, then 8 bytes of hash).
    """
    keys = [url_key(canonical_url)] if canonical_url else []
    if fp is None:
        return keys
    keys.append(bytes([TEXT_KEY]) + fp.text_hash)
    rows = params.rows
    for band in range(params.bands):
        chunk = fp.hashvalues[band * rows : (band + 1) * rows].tobytes()
        keys.append(bytes([band]) + hashlib.blake2b(chunk, digest_size=8).digest())
    return keys


def sketch_similarity(a: bytes, b: bytes) -> float:
    """Jaccard similarity estimated from two 2-bit sketches (b-bit minwise hashing).

    Two 2-bit values agree by chance one time in four, so ``J = (4 * agree - 1) / 3``.
    The sketches are compared as two Python integers (XOR, then one bit per 2-bit value that
    differs, counted): 0.4 us a pair where NumPy took 10 us, and every duplicate is verified
    under each band key it was found by.
    """
    if not a or len(a) != len(b):
        return 0.0
    diff = int.from_bytes(a, "little") ^ int.from_bytes(b, "little")
    values = 4 * len(a)
    differ = ((diff | diff >> 1) & _low_bits(len(a))).bit_count()
    agree = (values - differ) / values
    return max(0.0, (4.0 * agree - 1.0) / 3.0)


@functools.cache
def _low_bits(n_bytes: int) -> int:
    """The low bit of every 2-bit value in ``n_bytes`` bytes (0b0101...)."""
    return int.from_bytes(b"\x55" * n_bytes, "little")
