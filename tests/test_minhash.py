"""The near-duplicate core: normalisation, guards against shared boilerplate, Index and TTL."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import random
import zlib
from collections import defaultdict

import numpy as np
import pytest
from datasketch import MinHash

from pipelines.cluster_command import cluster_lines
from pipelines.jsonl_command import InputError
from tests.conftest import corpus_path
from tests.cpu_limited import run_cpu_limited
from transforms import dedup_claims, minhash
from transforms.dedup_claims import Claim, make_claim, verify
from transforms.minhash import (
    DedupParams,
    fingerprint,
    informative_words,
    lookup_keys,
    sketch_similarity,
)
from transforms.minhash_index import Index


def _article(seed: int, words: int = 400) -> str:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    sentences = [" ".join(rng.choice(vocab) for _ in range(20)) + "." for _ in range(words // 20)]
    return "\n\n".join(" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2))


COOKIE_WALL = (
    "We use cookies to personalise content and ads. Manage your cookie preferences or accept "
    "all cookies. Read our privacy policy.\n"
)
PAYWALL_STUB = "\n".join(
    [
        "Complete digital access to quality journalism with expert analysis. Pay a year upfront.",
        "Standard Digital",
        "Premium newsletters by leading experts every single day of the week for you",
        "Get unlimited access to every story in the archive with your subscription today",
    ]
    * 3
)


def test_markup_menus_and_cookie_lines_are_not_informative() -> None:
    text = (
        "<div class='x'>Home</div>\nNews\n"
        + COOKIE_WALL
        + "The minister said the [new rules](https://gov.example/rules) apply from Monday.\n"
    )
    assert informative_words(text) == (
        ["the", "minister", "said", "the", "new", "rules", "apply", "from", "monday"]
    )


def test_short_or_boilerplate_only_texts_are_not_judged_by_text() -> None:
    assert fingerprint("Title", "Too short to say anything about.") is None
    assert fingerprint("Title", COOKIE_WALL * 5) is None


def test_identical_short_stub_under_different_titles_does_not_merge() -> None:
    params = DedupParams()
    stub = PAYWALL_STUB  # long enough to be judged, too short to be a re-titled article
    a = fingerprint("Central bank raises rates", stub, params)
    b = fingerprint("Chip maker opens new factory", stub, params)
    assert a is not None and b is not None
    old, new = make_claim("a", "a", 0.0, a), make_claim("b", "b", 1.0, b)
    shared = set(lookup_keys(a, None, params)) & set(lookup_keys(b, None, params))
    assert shared  # the texts are identical: every key collides ...
    assert all(verify(k, new, old, params) is None for k in shared)  # ... and none merges


def test_retitled_full_article_merges() -> None:
    text = _article(1)
    index = Index()
    assert index.add("a", "Storm hits coast", text, "https://a.example/1", 1.0).duplicate_of is None
    verdict = index.add("b", "Thousands without power", text + "\nMore later.", None, 2.0)
    assert verdict.duplicate_of == "a" and verdict.cluster_id == "a"


def test_different_articles_do_not_merge() -> None:
    index = Index()
    index.add("a", "One", _article(1), None, 1.0)
    assert index.add("b", "One", _article(2), None, 2.0).duplicate_of is None


def test_same_url_is_a_duplicate_even_for_short_texts() -> None:
    index = Index()
    index.add("a", "One", "short", "https://a.example/1", 1.0)
    assert index.add("b", "Two", "other", "https://a.example/1", 2.0).duplicate_of == "a"


def test_index_forgets_after_the_ttl() -> None:
    index = Index(ttl_seconds=100.0)
    text = _article(3)
    index.add("a", "T", text, None, seen_at=0.0)
    assert index.add("b", "T", text, None, seen_at=50.0).duplicate_of == "a"
    later = index.add("c", "T", text, None, seen_at=500.0)
    assert later.duplicate_of is None and later.cluster_id == "c"


def test_chains_resolve_to_the_head_in_the_index() -> None:
    index = Index()
    base = _article(4).split()
    index.add("a", "T", " ".join(base), None, 1.0)
    verdict = index.add("b", "T", " ".join(base[:-40] + _article(5, 40).split()), None, 2.0)
    assert verdict.cluster_id == "a"


def test_sketch_similarity_tracks_jaccard() -> None:
    a = fingerprint("T", _article(6))
    b = fingerprint("T", _article(6) + "\n" + _article(8, 200))
    c = fingerprint("T", _article(9))
    assert a is not None and b is not None and c is not None
    assert sketch_similarity(a.sketch, a.sketch) == 1.0
    assert sketch_similarity(a.sketch, c.sketch) < 0.3 < sketch_similarity(a.sketch, b.sketch)


def _numpy_sketch_similarity(a: bytes, b: bytes) -> float:
    """The 2-bit count as NumPy did it before ``sketch_similarity`` used Python integers."""
    diff = np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)
    agree = sum(int(((diff >> s) & 3 == 0).sum()) for s in (0, 2, 4, 6)) / (4 * len(a))
    return max(0.0, (4.0 * agree - 1.0) / 3.0)


def test_sketch_similarity_equals_the_numpy_count() -> None:
    rng = random.Random(12)
    for n_bytes in (1, 16, 33):
        for _ in range(2000):
            a = rng.randbytes(n_bytes)
            flips = [rng.getrandbits(8) if rng.random() < 0.3 else 0 for _ in range(n_bytes)]
            b = bytes(x ^ f for x, f in zip(a, flips, strict=True))
            assert sketch_similarity(a, b) == _numpy_sketch_similarity(a, b)
    assert sketch_similarity(b"", b"") == sketch_similarity(b"ab", b"a") == 0.0


def test_pick_verdict_takes_the_earliest_verified_story_and_its_first_key() -> None:
    params = DedupParams()
    fp = fingerprint("T", _article(13))
    assert fp is not None
    new = make_claim("c", "c", 3.0, fp)
    near = bytes([fp.sketch[0] ^ 0b11]) + fp.sketch[1:]  # one 2-bit value of 64 differs
    first = Claim("a", "a", 1.0, fp.n_words, fp.title_bits, near)
    second = make_claim("b", "a", 2.0, fp)
    text_key = bytes([minhash.TEXT_KEY]) + fp.text_hash
    bands = lookup_keys(fp, None, params)[1:]
    found = [(bands[0], second), (bands[1], first), (text_key, first), (bands[2], first)]
    verdict = dedup_claims.pick_verdict(new, found, params)
    assert (verdict.duplicate_of, verdict.cluster_id) == ("a", "a")
    assert verdict.similarity == sketch_similarity(new.sketch, near) < 1.0  # bands[1], not TEXT
    later = make_claim("d", "d", 4.0, fp)
    assert dedup_claims.pick_verdict(new, [(text_key, later)], params).duplicate_of is None


@pytest.mark.parametrize("batch", [1, 7, 10_000])
def test_shingles_hashed_in_batches_give_the_minhash_of_them_all(
    monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    params = DedupParams()
    text = _article(11, words=400)
    words = informative_words(text, params)
    k = params.shingle_size
    whole = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=zlib.crc32)
    whole.update_batch([" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)])
    monkeypatch.setattr(minhash, "_SHINGLE_BATCH", batch)
    fp = fingerprint("T", text, params)
    assert fp is not None
    assert np.array_equal(fp.hashvalues, whole.hashvalues.astype(np.uint32))


@pytest.mark.parametrize(
    "story_id",
    ["0123456789abcdef", "my story #1", "n" * 255, "n" * 300, "\u00e9" * 200, "x" * 65535],
    ids=["hex", "text", "255 bytes", "300 bytes", "400 bytes of 2-byte characters", "longest"],
)
def test_claim_round_trip(story_id: str) -> None:
    fp = fingerprint("T", _article(10))
    claim = make_claim(story_id, story_id, 12.5, fp)
    assert Claim.decode(claim.encode()) == claim


def test_a_story_id_over_the_longest_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="at most 65,535"):
        make_claim("x" * 65536, "x", 1.0, None).encode()


def test_cluster_lines_and_bad_input() -> None:
    text = _article(11)
    lines = [
        json.dumps({"id": "x", "title": "A", "text": text}),
        "",
        json.dumps({"id": "y", "title": "B", "text": text + " end"}),
    ]
    assert [r["duplicate_of"] for r in cluster_lines(lines)] == [None, "x"]
    with pytest.raises(InputError, match="line 2"):
        list(cluster_lines([lines[0], '{"id": "z", "title": 1, "text": ""}']))

    # long ids come back whole, as cluster_id and duplicate_of of later copies
    long_id = "\u00e9" * 200  # 400 bytes, cut at 255 it was no longer UTF-8
    got = list(cluster_lines([json.dumps({"id": long_id, "title": "A", "text": text}), lines[2]]))
    assert [(r["cluster_id"], r["duplicate_of"]) for r in got] == [(long_id, None)] + [
        (long_id, long_id)
    ]
    huge = json.dumps({"id": "x" * 65536, "title": "A", "text": text})
    with pytest.raises(InputError, match="line 1: id longer than 65,535 bytes"):
        list(cluster_lines([huge]))


def _corpus_text(ref: str, hn: dict[str, dict[str, str]]) -> tuple[str, str]:
    if "#" in ref:
        row = hn[ref.split("#", 1)[1]]
        return row["title"], row["text"]
    raw = corpus_path(ref).read_text(encoding="utf-8", errors="replace")
    title = raw.split("\n", 1)[0].lstrip("# ").strip()
    return title, raw.split("## Article:", 1)[-1]


@pytest.mark.realworld
def test_corpus_pairs_meet_the_targets() -> None:
    pairs_path = corpus_path("dedup", "near_duplicate_pairs.csv")
    with gzip.open(corpus_path("streams", "hn2024", "hn2024_en_all.jsonl.gz"), "rt") as f:
        hn = {row["file"]: row for row in map(json.loads, f)}
    merged: dict[str, list[bool]] = defaultdict(list)
    with pairs_path.open(encoding="utf-8") as f:
        for pair in csv.DictReader(f):
            index = Index()
            index.add("a", *_corpus_text(pair["a"], hn), None, 1.0)
            verdict = index.add("b", *_corpus_text(pair["b"], hn), None, 2.0)
            merged[pair["kind"]].append(verdict.duplicate_of == "a")
    rate = {kind: sum(v) / len(v) for kind, v in merged.items()}
    assert rate["near_duplicate"] >= 0.95
    assert rate["retitled_duplicate"] >= 0.95
    assert rate["shared_boilerplate_trap"] <= 0.01


# --- boundaries of the text normalisation ------------------------------------------------


def test_a_line_of_exactly_min_line_words_words_is_kept() -> None:
    assert informative_words("one two three four five") == ["one", "two", "three", "four", "five"]
    assert informative_words("one two three four") == []


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("The new policy starts on Monday", True),  # one such word (a sixth of the line): kept
        ("Manage your cookie preferences here now", False),  # two, a third of the line: dropped
        # three of 25 words is exactly the share (0.12): dropped
        (" ".join(["cookie", "consent", "policy"] + [f"w{i}" for i in range(22)]), False),
        (" ".join(["cookie", "consent", "policy"] + [f"w{i}" for i in range(23)]), True),
    ],
)
def test_boilerplate_line_share(line: str, kept: bool) -> None:
    assert bool(informative_words(line)) is kept


def test_link_targets_urls_escaped_markup_and_entities_are_not_words() -> None:
    text = (
        "The minister said the [new rules](/rules/2026-04) apply from Monday.\n"
        "Details at https://gov.example/rules-for-all explain the rules in full.\n"
        "Owners of the caf&eacute; said &lt;b&gt;nothing&lt;/b&gt; about it.\n"
    )
    assert informative_words(text) == [
        *["the", "minister", "said", "the", "new", "rules", "apply", "from", "monday"],
        *["details", "at", "explain", "the", "rules", "in", "full"],
        *["owners", "of", "the", "café", "said", "nothing", "about", "it"],
    ]


# Markup never closed, in a text of 1 MB: each child gets 20 s of CPU time (tests.cpu_limited)
# where searching for the closing character again from each "<" or "](" took minutes to hours;
# linear work takes a fraction of a second.


def test_tags_are_found_in_linear_time_after_one_never_closed() -> None:
    # a "<" with no ">" after it (a comparison, not a tag) stays; r"<[^>]*>" searched for a ">"
    # from each "<" again, to the end of the text
    text = "<p>Closed tags</p> go, " + "x < y, " * 150_000
    assert run_cpu_limited(minhash._strip_tags, text) == " Closed tags  go, " + "x < y, " * 150_000


def test_link_targets_are_found_in_linear_time_after_ones_never_closed() -> None:
    # a "](" not closed by ")" before a space stays; r"\]\([^)\s]*\)" searched for a ")" from
    # each "](" again, to the space
    text = ("](" * 50_000 + " [a](https://a.example/x) ") * 10
    assert run_cpu_limited(minhash._strip_link_targets, text) == ("](" * 50_000 + " [a]  ") * 10


def test_the_words_of_a_text_of_markup_never_closed_come_in_linear_time() -> None:
    text = (
        "The minister said the <b>new rules</b> [apply](/rules) from Monday.\n"
        + "](" * 200_000
        + "\n"
        + "&lt;" * 100_000  # a "<" once entities are read
        + "\n"
        + "<" * 300_000
        + "\nThese five words stay here\n"
    )
    assert run_cpu_limited(informative_words, text) == [
        *["the", "minister", "said", "the", "new", "rules", "apply", "from", "monday"],
        *["these", "five", "words", "stay", "here"],
    ]


def test_exactly_min_words_informative_words_are_judged_by_text() -> None:
    params = DedupParams()
    words = [f"w{i}" for i in range(params.min_words)]
    text = "\n".join(" ".join(words[i : i + 10]) for i in range(0, len(words), 10))
    assert fingerprint("T", text, params) is not None
    assert fingerprint("T", text.rsplit(" ", 1)[0], params) is None


def test_text_hash_keeps_word_boundaries() -> None:
    base = " ".join(f"w{i}" for i in range(60))
    a = fingerprint("T", base + " ab c", DedupParams())
    b = fingerprint("T", base + " a bc", DedupParams())
    assert a is not None and b is not None and a.text_hash != b.text_hash


# --- titles, keys and claims ---------------------------------------------------------------


def test_title_bits_ignore_case_and_use_all_64_bits() -> None:
    assert minhash.title_bits("Storm Hits Coast") == minhash.title_bits("storm hits coast")
    many = minhash.title_bits(" ".join(f"word{i}" for i in range(40)))
    assert many >> 32 and many & 0xFFFFFFFF
    assert minhash.title_overlap(minhash.title_bits(None), minhash.title_bits("")) == 1.0


def test_lookup_keys_layout_and_bands() -> None:
    params = DedupParams()
    values = np.arange(params.num_perm, dtype=np.uint32)
    fp = minhash.Fingerprint(100, 0, b"12345678", values)
    other = values.copy()
    other[params.rows] += 1  # the first value of band 1 only
    keys = lookup_keys(fp, "https://a.example/1", params)
    other_keys = lookup_keys(minhash.Fingerprint(100, 0, b"12345678", other), None, params)
    assert len(keys) == 2 + params.bands
    assert keys[0] == minhash.url_key("https://a.example/1")
    assert keys[1] == bytes([minhash.TEXT_KEY]) + b"12345678"
    assert [k[0] for k in keys[2:]] == list(range(params.bands))
    assert [a == b for a, b in zip(keys[1:], other_keys, strict=True)] == [
        True,  # the text key
        True,  # band 0
        False,  # band 1
        *[True] * (params.bands - 2),
    ]
    assert lookup_keys(None, None, params) == []


def test_claims_of_hex_ids_are_compact_and_word_counts_saturate() -> None:
    claim = Claim("0123456789abcdef", "fedcba9876543210", 1.5, 70_000, 1 << 63, b"\x01" * 16)
    encoded = claim.encode()
    assert len(encoded) == 9 + 9 + 18 + 16
    assert Claim.decode(encoded) == Claim(
        "0123456789abcdef", "fedcba9876543210", 1.5, 65535, 1 << 63, b"\x01" * 16
    )


# --- verification and verdicts --------------------------------------------------------------


def _claim(story: str, at: float, sketch: bytes, n_words: int = 1000, bits: int = 1) -> Claim:
    return Claim(story, story, at, n_words, bits, sketch)


SKETCH = bytes(range(16))
FAR = bytes(b ^ 0xFF for b in SKETCH)  # every 2-bit value differs


def test_exact_text_key_needs_no_similarity_but_the_title_guard() -> None:
    params = DedupParams()
    text_key = bytes([minhash.TEXT_KEY]) + b"12345678"
    new, old = _claim("b", 2.0, FAR), _claim("a", 1.0, SKETCH)
    assert verify(text_key, new, old, params) == 1.0
    assert verify(bytes([0]) + b"12345678", new, old, params) is None
    short = _claim("c", 2.0, FAR, n_words=100, bits=2)
    assert verify(text_key, short, old, params) is None


def test_verification_boundaries() -> None:
    near = bytes([SKETCH[0] ^ 0b11]) + SKETCH[1:]
    sim = sketch_similarity(SKETCH, near)
    band = bytes([0]) + b"12345678"
    at = DedupParams(threshold=sim)
    assert verify(band, _claim("b", 2.0, near), _claim("a", 1.0, SKETCH), at) == sim
    # titles overlapping by exactly title_similar pass the guard, whatever the length
    half = DedupParams(title_similar=0.5)
    new = Claim("b", "b", 2.0, 10, 0b01, SKETCH)
    assert verify(band, new, Claim("a", "a", 1.0, 10, 0b11, SKETCH), half) == 1.0
    # different titles: both texts need retitle_min_words, the shorter one decides
    other = DedupParams(retitle_min_words=200)
    long_old = Claim("a", "a", 1.0, 5000, 0b10, SKETCH)
    assert verify(band, Claim("b", "b", 2.0, 200, 0b01, SKETCH), long_old, other) == 1.0
    assert verify(band, Claim("b", "b", 2.0, 199, 0b01, SKETCH), long_old, other) is None


def test_pick_verdict_ignores_the_story_itself_and_later_candidates() -> None:
    params = DedupParams()
    band = bytes([0]) + b"12345678"
    new = _claim("b", 2.0, SKETCH)
    assert dedup_claims.pick_verdict(new, [(band, new)], params).duplicate_of is None
    earliest, later = _claim("a", 1.0, SKETCH), _claim("c", 1.5, SKETCH)
    verdict = dedup_claims.pick_verdict(new, [(band, earliest), (band, later)], params)
    assert verdict.duplicate_of == "a"
    # the same story found again under another key keeps the similarity of the first key
    near = bytes([SKETCH[0] ^ 0b11]) + SKETCH[1:]
    text_key = bytes([minhash.TEXT_KEY]) + b"12345678"
    twice = _claim("a", 1.0, near)
    verdict = dedup_claims.pick_verdict(new, [(band, twice), (text_key, twice)], params)
    assert verdict.similarity == sketch_similarity(SKETCH, near) < 1.0
    # a tie on time is broken by story id (not by cluster id)
    tied = Claim("z", "a", 2.0, 1000, 1, SKETCH)
    assert dedup_claims.pick_verdict(new, [(band, tied)], params).duplicate_of is None


def test_a_chain_of_copies_joins_the_first_story_cluster() -> None:
    index = Index()
    text = _article(14)
    index.add("a", "T", text, None, 1.0)
    index.add("b", "T", text, None, 2.0)
    verdict = index.add("c", "T", text, None, 3.0)
    assert (verdict.duplicate_of, verdict.cluster_id) == ("a", "a")


def test_a_chain_found_through_a_copy_takes_the_copy_cluster() -> None:
    params = DedupParams()
    band = bytes([0]) + b"12345678"
    copy = Claim("b", "a", 2.0, 1000, 1, SKETCH)  # b, a copy of a
    verdict = dedup_claims.pick_verdict(_claim("c", 3.0, SKETCH), [(band, copy)], params)
    assert (verdict.duplicate_of, verdict.cluster_id) == ("b", "a")


def test_an_earlier_story_arriving_late_takes_over_the_keys() -> None:
    index = Index()
    text = _article(15)
    index.add("b", "T", text, None, 2.0)
    assert index.add("a", "T", text, None, 1.0).duplicate_of is None  # earlier than b
    assert index.add("c", "T", text, None, 3.0).duplicate_of == "a"


def test_index_keeps_a_claim_for_exactly_the_ttl_and_counts_its_bytes() -> None:
    index = Index(ttl_seconds=100.0)
    text = _article(16)
    index.add("0123456789abcdef", "T", text, "https://a.example/1", seen_at=0.0)
    n_keys = 2 + index.params.bands
    assert len(index) == n_keys
    assert index.state_bytes() == n_keys * (9 + 9 + 9 + 18 + 16)
    assert index.add("b", "T", text, None, seen_at=100.0).duplicate_of == "0123456789abcdef"


# --- scripts written without spaces (Chinese, Japanese) ------------------------------------

# A wire story (invented, in the style of a Xinhua dispatch), another story, and a Japanese one.
ZH_STORY = "\n".join(
    [
        (
            "新华社北京11月28日电 美国国会众议院27日再次推动针对短视频平台TikTok（抖音国际版）"
            "的所谓“不卖就禁”法案，要求中国企业字节跳动在180天内出售TikTok美国业务，否则将在美"
            "国应用商店下架。"
        ),
        (
            "外交部发言人在28日举行的例行记者会上表示，美方长期以来泛化国家安全概念，滥用国家力"
            "量无理打压别国企业，这种霸凌行径违背公平竞争原则，中方对此坚决反对。"
        ),
        (
            "发言人指出，美国至今没有找到任何证据证明TikTok威胁美国国家安全，却不断对其进行封禁"
            "和打压，这种做法严重破坏了国际经贸秩序，最终只会反噬美国自身。"
        ),
        (
            "分析人士认为，美国政府对TikTok的封禁威胁与此前针对微信和华为的制裁如出一辙。此前，"
            "美国商务部曾试图禁止微信在美国的下载和使用，后被联邦法院叫停。"
        ),
        (
            "据报道，TikTok在美国拥有超过1.7亿用户，其中许多是中小企业主和内容创作者。多名创作"
            "者在微博和抖音上发文称，一旦禁令生效，他们的生计将受到严重影响。"
        ),
        (
            "字节跳动方面表示，公司已投入巨资实施数据安全项目，美国用户数据存储在美国本土服务器"
            "上，并接受第三方监督。公司将通过一切法律手段维护自身合法权益。"
        ),
    ]
)
ZH_TITLE = "美国国会再推TikTok“不卖就禁”法案 中方：坚决反对"
ZH_OTHER_STORY = "\n".join(
    [
        (
            "中央气象台11月28日发布寒潮蓝色预警，受强冷空气影响，预计28日至30日，我国中东部大部"
            "地区气温将先后下降6至10摄氏度，部分地区降温幅度可达12摄氏度以上。"
        ),
        (
            "内蒙古中东部、东北地区、华北北部等地将出现4至6级偏北风，阵风可达7至9级。新疆北部、"
            "东北地区东部等地将有中到大雪，局地暴雪。"
        ),
        (
            "气象专家提醒，此次寒潮过程影响范围广、降温幅度大，公众应及时添加衣物，注意防寒保暖"
            "。交通运输部门应防范道路结冰对交通的不利影响。"
        ),
        (
            "据了解，今年入冬以来，我国已经历了三次较强冷空气过程。国家气候中心预计，今年冬季我"
            "国大部地区气温接近常年同期到偏高，但阶段性寒潮天气仍较频繁。"
        ),
    ]
)
JA_STORY = "\n".join(
    [
        (
            "米下院は27日、中国の字節跳動（バイトダンス）に対し、動画共有アプリ「TikTok（ティッ"
            "クトック）」の米国事業を売却するよう求める法案を再び可決した。売却に応じない場合、"
            "米国内のアプリストアでの配信が禁止される。"
        ),
        (
            "法案を支持する議員らは、中国政府がTikTokを通じて米国の利用者データにアクセスし、世"
            "論工作に利用する恐れがあると主張しており、国家安全保障上の脅威だとしている。"
        ),
        (
            "これに対し中国外務省の報道官は、米国は国家安全の概念を拡大解釈し、外国企業を不当に"
            "抑圧していると反発した。"
        ),
        (
            "日本でも政府職員の業務用端末でのTikTok利用を制限する動きが広がっている。専門家は、"
            "データ保護をめぐる米中対立が今後さらに激しくなると指摘している。"
        ),
    ]
)


def test_each_chinese_or_japanese_character_is_a_word_counting_half() -> None:
    assert informative_words("美国国会再推TikTok法案，中方坚决反对。") == [
        *"美国国会再推",
        "tiktok",
        *"法案中方坚决反对",  # fmt: skip
    ]
    assert informative_words("ドナルド・トランプ大統領が来日") == [*"ドナルドトランプ大統領が来日"]
    # ten characters are five words, a line's minimum; nine are not (a byline, a menu)
    assert informative_words("责任编辑：王小明") == []
    assert informative_words("国家气候中心预计今冬") == [*"国家气候中心预计今冬"]
    assert informative_words("国家气候中心预计今") == []
    # 100 characters are the 50 words a text needs to be judged by its text
    line = "我国中东部大部地区气温将先后下降"[:10]
    assert fingerprint("T", "\n".join([line] * 10)) is not None
    assert fingerprint("T", "\n".join([line] * 9 + [line[:9]])) is None


def test_chinese_and_japanese_copies_cluster_and_other_stories_do_not() -> None:
    index = Index()
    assert index.add("zh", ZH_TITLE, ZH_STORY, "https://a.example/1", 1.0).duplicate_of is None
    same = index.add("copy", ZH_TITLE, ZH_STORY.replace("28日", "28日下午"), None, 2.0)
    assert same.duplicate_of == "zh"
    # a re-titled copy of a full article (over 200 words: 443 characters) merges too
    retitled = index.add(
        "retitled", "外交部回应美国会TikTok法案：泛化国家安全概念", ZH_STORY, None, 3.0
    )
    assert retitled.duplicate_of == "zh"
    # another story, though it shares dates, places and phrases such as 国家 and 11月28日
    assert index.add("weather", ZH_TITLE, ZH_OTHER_STORY, None, 4.0).duplicate_of is None
    assert (
        index.add("ja", "米下院、TikTok売却法案を再可決", JA_STORY, None, 5.0).duplicate_of is None
    )
    ja_copy = index.add(
        "ja_copy", "米下院、TikTok売却法案を再可決", JA_STORY + "\n（共同）", None, 6.0
    )
    assert ja_copy.duplicate_of == "ja"


def test_a_short_unspaced_text_under_another_title_stays_apart() -> None:
    # 150 words' worth (about 300 characters): under a different title, shared text this short
    # is what a paywall or a site's footer is, as for English (test above)
    text = "\n".join(ZH_OTHER_STORY.splitlines()[:2] + ZH_STORY.splitlines()[:1])
    fp = fingerprint("T", text)
    assert fp is not None and 100 < fp.n_words < DedupParams().retitle_min_words
    index = Index()
    index.add("a", "寒潮来袭", text, None, 1.0)
    assert index.add("b", "另一条新闻", text, None, 2.0).duplicate_of is None
    assert index.add("c", "寒潮来袭", text, None, 3.0).duplicate_of == "a"


def test_fingerprints_of_text_without_unspaced_characters_are_unchanged() -> None:
    # State directories keep fingerprints: these values are those of 3b01ee7's ``\w+`` words,
    # on Latin, Cyrillic, Arabic, Hangul (written with spaces) and odd word characters.
    text = "\n".join(
        [
            _article(7, 200),
            (
                "Роскомнадзор заблокировал доступ к мессенджеру Телеграм в ряде регионов России"
                ", сообщили в ведомстве."
            ),
            (
                "أعلنت السلطات الأمريكية يوم الجمعة أنها ستفرض حظرا على تطبيق تيك توك إذا لم تق"
                "م الشركة ببيع عملياتها."
            ),
            (
                "미국 하원이 27일 중국 바이트댄스에 동영상 플랫폼 틱톡의 미국 사업 매각을 요구"
                "하는 법안을 다시 통과시켰다."
            ),
            (
                "Das Bundesamt für Justiz hat gegen den Messengerdienst ein Bußgeld in Höhe von"
                " fünf Millionen Euro verhängt."
            ),
            "snake_case naïve Œuvre ½ 1.7 x² ﬁnance l'œil ǅemal ŉ",
        ]
    )
    fp = fingerprint("Ｔｉｔｌｅ: Storm hits the coast — 폭풍 Ⅻ", text)
    assert fp is not None
    assert (fp.n_words, fp.title_bits, fp.text_hash.hex()) == (
        275,
        0x80084000440020,
        "e8a8ec3b653d9f43",
    )
    assert hashlib.sha256(fp.hashvalues.tobytes()).hexdigest()[:32] == (
        "3d79788194ef952b649783594d759a4e"
    )
