"""Unit tests for the tagger's rule language: parsing, errors, NEAR, field scopes."""

from __future__ import annotations

import pytest

from transforms.tagger.evaluation import Index, evaluate
from transforms.tagger.matcher import FIELDS, Matcher, Pattern, fields
from transforms.tagger.rules import (
    And,
    Near,
    Not,
    Or,
    Ref,
    RuleSyntaxError,
    Scope,
    Term,
    needs_evidence,
    parse,
    walk,
)


def fire(rule: str, title: str, text: str) -> bool:
    """Evaluate a rule with only plain terms against a story."""
    node = parse(rule)
    terms = [n for n in walk(node) if isinstance(n, Term)]
    matcher = Matcher(tuple(Pattern(t.text, "term", t.key, prefix=t.prefix) for t in terms))
    hits: dict[str, list] = {}
    for name, value in fields(title, text).items():
        for hit in matcher.find(name, value):
            hits.setdefault(hit.pattern.key, []).append(hit)
    fired, _ = evaluate(node, Index(hits, lambda facet, value: []))
    return fired


def test_precedence_or_and_near_not() -> None:
    node = parse("a OR b AND c NEAR/3 d AND NOT e")
    assert node == Or(
        (
            Term("a"),
            And((Term("b"), Near(Term("c"), Term("d"), 3), Not(Term("e")))),
        )
    )


def test_parentheses_phrases_scopes_refs_and_prefixes() -> None:
    rule = 'title:("Forced Sale" OR ban*) AND {platform:tiktok} AND head:{state_actor}'
    node = parse(rule)
    assert isinstance(node, And)
    scope, ref, head = node.children
    assert scope == Scope(frozenset({"title"}), Or((Term("forced sale"), Term("ban", True))))
    assert ref == Ref("platform", "tiktok", rule.index("{platform"))
    assert head == Scope(frozenset({"title", "lede"}), Ref("state_actor", None, rule.index("{s")))


@pytest.mark.parametrize(
    ("rule", "position", "message"),
    [
        ("a AND (b OR c", 13, "missing ')'"),
        ('a AND "open phrase', 6, "unterminated quote"),
        ("a AND", 5, "unexpected end"),
        ("a b", 2, "missing AND/OR"),
        ("a NEAR b", 2, "NEAR needs a distance"),
        ("a NEAR/5 NOT b", 2, "NEAR cannot take a NOT"),
        ("a OR )", 5, "unexpected ')'"),
        ("ba*n", 0, "'*' only at the end"),
        ("a AND {platform", 6, "unterminated '{'"),
        ("a) OR b", 1, "unmatched ')'"),
        ("title:body:a", 6, "'body:' inside a scope without that field"),
        ("head:(a OR body:b)", 11, "'body:' inside a scope without that field"),
        ("title:head:lede:x", 11, "'lede:' inside a scope without that field"),
        ("NOT a NEAR/3 b", 6, "NEAR cannot take a NOT"),
        ("(a b", 3, "missing ')'"),
        ("{Platform}", 0, "bad reference '{Platform}': write a facet, and ':' with a value or"),
        ("{platform:TikTok}", 0, "in lower case: {platform}, {state_actor:china}, {controversy:*}"),
        # operators not in capitals are words; the error says so, not "missing AND/OR?"
        ("a near/3 b", 2, "unexpected 'near/3': operators are written in capitals (AND, OR,"),
        ("a near/3 b", 2, "NOT, NEAR/n): write 'NEAR/3'"),
        ("a Near/2F b", 2, "write 'NEAR/2f'"),
        ("a near b", 2, "write NEAR with a distance, e.g. 'NEAR/10'"),
        ("war and peace", 4, "unexpected 'and': operators are written in capitals"),
        ("(a or b)", 3, "write 'OR'"),
        ("not a", 0, "write 'NOT'"),  # "not" is a word, then "a" does not fit
        ("a AND b c", 8, "unexpected 'c' (missing AND/OR?)"),
        # a misspelt operator: what was meant, not "missing AND/OR?"
        ("a NEER/20 b", 2, "unexpected 'NEER/20' (did you mean 'NEAR/20'?)"),
        ("a OR NEER/20 b", 5, "unexpected 'NEER/20' (did you mean 'NEAR/20'?)"),
        ("(a NAER/3f b)", 3, "unexpected 'NAER/3f' (did you mean 'NEAR/3f'?)"),
        ("a neer/2 b", 2, "(did you mean 'NEAR/2'?)"),
        ("a ANDD b", 2, "unexpected 'ANDD' (did you mean 'AND'?)"),
        ("a NOTT b", 2, "(did you mean 'NOT'?)"),
        ("EU AI", 3, "unexpected 'AI' (missing AND/OR?)"),  # a word like no operator
        ("a 24/7 b", 2, "unexpected '24/7' (missing AND/OR?)"),
        ('a OR ""', 5, "bad term '': a phrase needs a word"),
        ('" "', 0, "bad term ' ': a phrase needs a word"),
        ("a OR b|c", 5, "bad term 'b|c': '|' is not part of the rule language"),
        ('a AND "b [c]"', 6, "'[' is not part of the rule language"),
        ("*", 0, "bad term"),
    ],
)
def test_syntax_errors_carry_the_position(rule: str, position: int, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse(rule)
    assert info.value.position == position
    assert message in info.value.message


def _chains(levels: int) -> str:
    """A NEAR chain of 99 whose first operand is such a chain, ``levels`` deep."""
    rule = "a"
    for _ in range(levels):
        rule = "(" + " NEAR/1 ".join([rule] + ["b"] * 98) + ")"
    return rule


@pytest.mark.parametrize(
    ("rule", "position", "message"),
    [
        ("(" * 400 + "a" + ")" * 400, 50, "nested more than 50 levels deep"),
        ("NOT " * 51 + "a AND b", 200, "nested more than 50 levels deep"),
        ("title:" * 51 + "a", 300, "nested more than 50 levels deep"),
        (" NEAR/3 ".join(["a"] * 700), 2 + 99 * 9, "more than 100 operands chained by NEAR"),
        (_chains(3), 0, "rule nested more than 200 levels deep"),
    ],
)
def test_rules_too_deep_to_evaluate_are_refused(rule: str, position: int, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse(rule)  # a RecursionError before, here or when every story was tagged
    assert (info.value.position, info.value.message) == (position, message)


def test_rules_at_the_limits_parse_and_evaluate() -> None:
    for rule in ("(" * 50 + "a" + ")" * 50, " NEAR/3 ".join(["a"] * 100), _chains(2)):
        assert fire(rule, "a b " * 60, "")


@pytest.mark.parametrize(
    ("rule", "node"),
    [
        ("x*", Term("x", True)),
        ('"Forced   Sale"', Term("forced sale")),  # runs of spaces are one space
        ("ORACLE OR NOTICE", Or((Term("oracle"), Term("notice")))),  # words, not AND/OR/NOT
        # a scope covers its operand only: "body:" after "title:a" is not inside "title:"
        (
            "title:a AND body:b",
            And((Scope(frozenset({"title"}), Term("a")), Scope(frozenset({"body"}), Term("b")))),
        ),
    ],
)
def test_parses_to(rule: str, node: object) -> None:
    assert parse(rule) == node


@pytest.mark.parametrize(
    ("rule", "needs"),
    [
        ("a", True),
        ("a AND NOT b", True),
        ("NOT b AND (a OR {platform})", True),
        ("head:title:a", True),
        ("a NEAR/3 b", True),
        ("NOT a", False),
        ("title:NOT a", False),
        ("a OR NOT b", False),
        ("NOT a AND NOT b", False),
    ],
)
def test_needs_evidence(rule: str, needs: bool) -> None:
    assert needs_evidence(parse(rule)) is needs


def test_lowercase_operators_are_plain_words() -> None:
    with pytest.raises(RuleSyntaxError):
        parse("war and peace")  # three words without an operator
    assert parse('"war and peace"') == Term("war and peace")
    assert parse("android") == Term("android")  # not the operator AND


def test_and_or_not() -> None:
    text = "The regulator fined the company."
    assert fire("fined AND regulator", "", text)
    assert not fire("fined AND banned", "", text)
    assert fire("fined OR banned", "", text)
    assert fire("fined AND NOT banned", "", text)
    assert not fire("NOT fined", "", text)


def test_near_counts_words_between_matches_either_way() -> None:
    text = "Beijing said on Friday that the app would be banned."
    # Beijing is word 0, banned word 9: eight words in between, distance 9.
    assert fire("beijing NEAR/9 banned", "", text)
    assert not fire("beijing NEAR/8 banned", "", text)
    assert fire("banned NEAR/9 beijing", "", text)
    # multi-word phrases count from their closer end
    assert fire('"the app" NEAR/3 banned', "", text)


def test_a_near_operand_is_never_near_itself() -> None:
    assert not fire("tiktok NEAR/1 tiktok", "TikTok once", "")
    assert fire("tiktok NEAR/1 tiktok", "TikTok, TikTok", "")
    # the same place matched by another pattern is the same hit too
    assert not fire("tiktok NEAR/3f (tiktok OR tik*)", "TikTok once", "")
    assert fire("tiktok NEAR/3 tik*", "TikTok and Tiktokers", "")
    # an overlapping hit at another place is another hit
    assert fire('"chinese government" NEAR/0 government', "", "The Chinese government said")


def test_near_needs_both_in_the_same_field() -> None:
    assert not fire("tiktok NEAR/50 ban", "TikTok news", "A ban was announced.")
    assert fire("tiktok AND ban", "TikTok news", "A ban was announced.")


def test_field_scopes() -> None:
    title = "Regulator fines platform"
    lede = "x " * 200 + "The regulator acted on Monday.\n\n"
    body = "Later the court banned it."
    text = lede + body
    parts = fields(title, text)
    assert "banned" in parts["body"] and "banned" not in parts["lede"]
    assert fire("title:fines", title, text)
    assert not fire("title:banned", title, text)
    assert fire("body:banned", title, text)
    assert not fire("lede:banned", title, text)
    assert fire("head:regulator", title, text)
    assert not fire("head:court", title, text)
    assert fire("NOT title:court", title, text)


@pytest.mark.parametrize(
    ("rule", "fires"),
    [
        ("title:(fines AND head:court)", False),  # an inner scope cannot widen the outer one
        ("title:NOT court", True),
        ("title:(fines AND court)", False),
        ("title:(banned OR court)", False),
        ("head:(fines AND court)", True),
    ],
)
def test_a_scope_holds_for_every_operand_inside_it(rule: str, fires: bool) -> None:
    assert fire(rule, "Regulator fines platform", "The court banned the app.") is fires


def test_prefix_and_word_boundaries() -> None:
    assert fire("sanction*", "", "New sanctions were imposed.")
    assert not fire("sanction", "", "New sanctions were imposed.")
    assert not fire("ban", "", "The bank opened a banner.")


def test_near_on_cjk_counts_characters_as_words() -> None:
    assert fire("美国 NEAR/3 禁止", "", "美国将禁止抖音")
    assert not fire("美国 NEAR/1 禁止", "", "美国政府将要禁止抖音")


def test_fields_lede_and_body_partition_the_text() -> None:
    text = "![img](http://x/y.jpg)\n\n" + ("A long sentence about the story. " * 30)
    parts = fields("T", text)
    assert parts["lede"] + parts["body"] == text
    assert 300 <= len(parts["lede"]) <= 1200
    assert set(parts) == set(FIELDS)


def test_forward_near_keeps_the_order() -> None:
    text = "Russia slows YouTube while YouTube blocks the channels."
    assert fire("slows NEAR/1f youtube", "", text)
    assert not fire("youtube NEAR/1f slows", "", text)
    assert fire("youtube NEAR/1 slows", "", text)
    assert fire("youtube NEAR/1f blocks", "", text)
    assert not fire("blocks NEAR/3f youtube", "", text)
    assert parse("a NEAR/3f b") == Near(Term("a"), Term("b"), 3, ordered=True)


@pytest.mark.parametrize("rule", ["a NEAR/3x b", "a NEAR/f b"])
def test_forward_near_needs_a_distance_and_only_f(rule: str) -> None:
    with pytest.raises(RuleSyntaxError, match="NEAR needs a distance"):
        parse(rule)


def _pairs_near(node: Near, left: list, right: list) -> list:
    """NEAR's meaning, pair by pair: the reference the indexed version must match."""
    used: dict[int, object] = {}
    for a in left:
        for b in right:
            if a.field != b.field or (node.ordered and a.word > b.word):
                continue
            if (a.start, a.end) == (b.start, b.end):
                continue  # a hit is not near itself
            gap = b.word - a.last_word if a.word <= b.word else a.word - b.last_word
            if gap <= node.distance:
                used[id(a)] = a
                used[id(b)] = b
    return list(used.values())


@pytest.mark.parametrize("seed", range(40))
def test_near_gives_what_pairing_every_hit_gives_in_the_same_order(seed: int) -> None:
    import random

    from transforms.tagger.matcher import Hit

    rnd = random.Random(seed)
    pattern = Pattern("x", "term", "x")

    def hits(n: int) -> list[Hit]:
        out = []
        for _ in range(n):
            word = rnd.randrange(60)
            field = rnd.choice(("title", "body", "body"))
            out.append(Hit(field, word, word + 1, word, word + rnd.choice((0, 0, 1, 3)), pattern))
        return out + rnd.sample(out, k=min(2, len(out)))  # the same hit twice, as Or can give

    left, right = hits(rnd.randrange(1, 25)), hits(rnd.randrange(1, 25))
    if rnd.random() < 0.3:  # an operand NEAR itself, as in '{platform:*} NEAR/5 {platform:*}'
        right = left
    node = Near(Term("a"), Term("b"), rnd.randrange(0, 8), ordered=rnd.random() < 0.4)
    fired, got = evaluate(node, Index({"a": left, "b": right}, lambda facet, value: []))
    want = _pairs_near(node, left, right)
    assert [id(h) for h in got] == [id(h) for h in want]
    assert fired == bool(want)


# --- the lede's boundaries ------------------------------------------------------------------

PROSE_60 = "abcd " * 11 + "abcde"  # a prose line of exactly 60 characters


def test_lede_ends_on_the_line_where_prose_reaches_300_characters() -> None:
    lines = [PROSE_60] * 7
    text = "\n".join(lines)
    assert fields("T", text)["lede"] == "\n".join(lines[:5]) + "\n"  # 5 x 60 = 300


def test_link_and_image_lines_are_not_prose() -> None:
    link = "[" + "a link to another story on the same site, not prose at all" + "](/x)"
    text = "\n".join([link, *[PROSE_60] * 6])
    assert fields("T", text)["lede"] == "\n".join([link, *[PROSE_60] * 5]) + "\n"


def test_a_lede_of_exactly_the_maximum_is_kept_whole() -> None:
    text = "abcd\n" * 179 + (PROSE_60 + "\n") * 5 + "tail"
    assert len(text) - len("tail") == 1200
    assert fields("T", text)["lede"] == text[:1200]


def test_a_long_lede_is_cut_at_a_sentence_end_else_after_a_space() -> None:
    sentences = "A long sentence about the story. " * 60  # one line of 1,980 characters
    lede = fields("T", sentences)["lede"]
    assert lede == sentences[: sentences.index(". ", 300) + 1]
    spaced = "word " * 400
    lede = fields("T", spaced)["lede"]
    assert lede.endswith(" ") and len(lede) <= 1200 and fields("T", spaced)["body"][0] == "w"


# --- what Matcher.find reports -------------------------------------------------------------


def _find(pattern: Pattern, text: str) -> list[str]:
    return [text[h.start : h.end] for h in Matcher((pattern,)).find("body", text)]


@pytest.mark.parametrize(
    "text",
    [
        "Visit www.tiktok.com/policy today.",
        "Posted on https://tiktok.com/@user yesterday.",
        "See [the post](https://tiktok.com/@user/video/1) here.",
    ],
)
def test_names_inside_urls_are_not_mentions(text: str) -> None:
    assert _find(Pattern("tiktok", "entity", "tiktok"), text) == []


def test_prefix_pattern_reports_the_whole_word_digits_included() -> None:
    assert _find(Pattern("covid", "term", "covid", prefix=True), "Covid19 cases rose.") == [
        "Covid19"
    ]


def test_boundaries_only_where_the_pattern_has_a_letter_or_digit() -> None:
    assert _find(Pattern("@tiktok", "entity", "tiktok"), "via@TikTok on Monday") == ["@TikTok"]
    assert _find(Pattern("u.s.", "entity", "us"), "the U.S.Senate voted") == ["U.S."]
    assert _find(Pattern("us", "entity", "us"), "the USSenate voted") == []


def test_turkish_dotted_capital_i_is_i_in_patterns_and_text() -> None:
    assert _find(Pattern("instagram", "entity", "instagram"), "İNSTAGRAM'A ERİŞİM") == ["İNSTAGRAM"]
    assert _find(Pattern("İstanbul", "entity", "x"), "İSTANBUL, istanbul, Istanbul") == [
        "İSTANBUL",
        "istanbul",
        "Istanbul",
    ]


def test_every_apostrophe_is_a_straight_one_in_patterns_and_text() -> None:
    text = "People’s Daily, People‘s Daily, Peopleʼs Daily, People＇s Daily, People's Daily."
    for written in ("people's daily", "People’s Daily"):
        found = _find(Pattern(written, "entity", "x"), text)
        assert found == [name.strip(",. ") for name in text.split(", ")]
    exact = Pattern("O'Reilly", "entity", "x", case_sensitive=True)
    assert _find(exact, "O’Reilly, o’reilly, O'REILLY") == ["O’Reilly"]
    # "ʼ" is a letter to Python: "Kyivʼs" was one word, so "Kyiv" did not end on a boundary
    assert _find(Pattern("kyiv", "entity", "x"), "Kyivʼs decision") == ["Kyiv"]
    (hit,) = Matcher((Pattern("ban", "term", "ban"),)).find("body", "Kyivʼs ban")
    assert hit.word == 2


@pytest.mark.parametrize(
    "gap", ["\n", "  ", "\u00a0", "\t", " \n  ", "\r\n", "\u2009", "\u3000", " \u00a0\n"]
)
def test_whitespace_between_words_is_one_space(gap: str) -> None:
    text = f"The  Chinese{gap}government\n\nsaid"
    assert _find(Pattern("Chinese government", "entity", "x"), text) == [f"Chinese{gap}government"]
    assert fire('"forced sale" AND said', f"Forced{gap}sale", "it said")


@pytest.mark.parametrize("gap", ["\n\n", " \n\n ", "\n \n", "\r\n\r\n"])
def test_a_phrase_does_not_run_across_a_blank_line(gap: str) -> None:
    assert _find(Pattern("Chinese government", "entity", "x"), f"Chinese{gap}government") == []


@pytest.mark.parametrize("seed", range(20))
def test_phrases_across_any_whitespace_keep_exact_offsets_and_word_positions(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    gaps = [" ", " ", "  ", "\n", " \n ", "\t", "\u00a0", "\n\n", " \n \n"]
    words = [rnd.choice(["chinese", "Government", "ban", "x"]) for _ in range(40)]
    seps = [rnd.choice(gaps) for _ in words]
    text, starts = "", []  # each word after its whitespace, and where it starts
    for sep, word in zip(seps, words, strict=True):
        starts.append(len(text) + len(sep))
        text += sep + word
    want = [
        (starts[i], starts[i + 1] + len("government"), i, i + 1)
        for i in range(len(words) - 1)
        if (words[i], words[i + 1]) == ("chinese", "Government") and seps[i + 1].count("\n") < 2
    ]
    patterns = (Pattern("Chinese government", "entity", "x"), Pattern("ban", "term", "ban"))
    hits = Matcher(patterns).find("body", text)
    got = [(h.start, h.end, h.word, h.last_word) for h in hits if h.pattern.key == "x"]
    assert got == want
    bans = [(h.start, h.word) for h in hits if h.pattern.key == "ban"]
    assert bans == [(starts[i], i) for i, word in enumerate(words) if word == "ban"]


def test_hit_word_positions_and_duplicate_patterns() -> None:
    pattern = Pattern("ban", "term", "ban")
    hits = Matcher((pattern, pattern)).find("body", "ban the ban now")
    assert [(h.start, h.word, h.last_word) for h in hits] == [(0, 0, 0), (8, 2, 2)]
    phrase = Pattern("forced sale", "term", "forced sale")
    (hit,) = Matcher((phrase,)).find("body", "It opposes a forced sale.")
    assert (hit.word, hit.last_word) == (3, 4)
