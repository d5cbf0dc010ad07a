"""A user's taxonomy file (README "Your own taxonomy and outlets"): how it merges with the
bundled one, and the mistakes it is refused for, each with a one-line TaxonomyError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transforms.tagger import Tagger, TaxonomyError
from transforms.tagger.taxonomy import _ENTITY_KEYS, _RULE_KEYS, BUNDLED
from transforms.tagger.taxonomy_file import _TOP_KEYS
from transforms.tagger.taxonomy_settings import SETTINGS


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(TaxonomyError) as info:
        Tagger.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(path), message  # the user's file, not the bundled one
    return message


def rule_names(tagger: Tagger) -> list[str]:
    return [rule.name for rule in tagger.taxonomy.rules]


# --- where a user's rules run -------------------------------------------------------------

COUNCIL = """
platforms:
  uber: {aliases: [Uber]}
state_actors:
  city_council: {aliases: [city council]}
controversies:
  licensing: {aliases: [licence revoked]}
rules:
  - name: council_vote_on_app
    match: 'title:(council NEAR/3 vote*) AND {platform:*}'
    weight: 0
    adds: ['controversy:licensing']
"""


def test_a_value_a_user_rule_adds_reaches_the_bundled_scoring_rules(tmp_path: Path) -> None:
    result = Tagger.load(write(tmp_path, COUNCIL)).tag("City council votes on Uber", "")
    assert result.controversies == ("licensing",)
    assert result.rules == ("council_vote_on_app", "headline", "headline_head")
    assert result.relevant and result.score == pytest.approx(0.72)  # 0.3 when it ran last


def test_new_rules_that_add_run_after_the_bundled_ones_that_add_and_replacements_stay(
    tmp_path: Path,
) -> None:
    bundled = rule_names(Tagger.load())
    first_plain = bundled.index("headline")
    user = Tagger.load(
        write(
            tmp_path,
            "rules:\n"
            "  - {name: plain_one, match: alpha, weight: 0.1}\n"
            "  - {name: adds_one, match: beta, weight: 0, adds: ['controversy:other']}\n"
            "  - {name: headline, match: '{platform} AND {state_actor}', weight: 0.5}\n"
            "  - {name: adds_two, match: gamma, weight: 0, adds: ['controversy:other']}\n"
            "  - {name: plain_two, match: delta, weight: 0.1}\n"
            "  - {name: forced_sale, enabled: false}\n",
        )
    )
    without_forced_sale = [name for name in bundled if name != "forced_sale"]
    assert rule_names(user) == [
        *without_forced_sale[: first_plain - 1],
        "adds_one",
        "adds_two",
        *without_forced_sale[first_plain - 1 :],
        "plain_one",
        "plain_two",
    ]
    assert user.taxonomy.rules[rule_names(user).index("headline")].weight == 0.5


def test_without_the_bundled_taxonomy_rules_run_in_the_files_order(tmp_path: Path) -> None:
    user = Tagger.load(
        write(
            tmp_path,
            "include_bundled: false\nplatforms:\n  beta: {aliases: [Beta]}\n"
            "controversies:\n  ban: {aliases: [banned]}\nrules:\n"
            "  - {name: plain, match: '{controversy}', weight: 0.5}\n"
            "  - {name: adds, match: fined, weight: 0, adds: ['controversy:ban']}\n",
        )
    )
    assert rule_names(user) == ["plain", "adds"]


# --- keys written twice -------------------------------------------------------------------


def test_a_section_written_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "platforms:\n  mastodon: {aliases: [Mastodon]}\n"
        "rules:\n  - {name: r, match: '{platform}', weight: 0.5}\n"
        "platforms:\n  bluesky: {aliases: [Bluesky]}\n",
    )
    assert "line 5, column 1: not valid YAML: duplicate key 'platforms' (first on line 1)" in (
        message
    )


def test_an_entity_id_written_twice_is_refused(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "platforms:\n  mastodon:\n    aliases: [Mastodon]\n  mastodon:\n    aliases: [M]\n",
    )
    assert "line 4, column 3: not valid YAML: duplicate key 'mastodon' (first on line 2)" in (
        message
    )


def test_a_yaml_value_yaml_cannot_make_is_refused_naming_the_line(tmp_path: Path) -> None:
    # Found by fuzzing the loaders: PyYAML's ValueError for a date that is no date ended
    # the run with a traceback.
    message = refused(tmp_path, "settings:\n  threshold: 2026-02-30\n")
    assert "line 2, column 14: not valid YAML: cannot read '2026-02-30': day is out of range" in (
        message
    )


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    user = Tagger.load(
        write(
            tmp_path,
            "platforms:\n  a: &base {aliases: [Alphaco], name: A, window: 5}\n"
            "  b:\n    <<: *base\n    name: B\n    aliases: [Betaco]\n",
        )
    )
    ours = {e.id: e for e in user.taxonomy.entities if e.id in ("a", "b")}
    assert {e.name for e in ours.values()} == {"A", "B"}
    assert (ours["b"].aliases, ours["b"].window) == (("Betaco",), 5)  # the rest is a's


def test_an_id_in_two_sections_names_two_entities(tmp_path: Path) -> None:
    # ids are unique per section: the state actor 'tiktok' took every TikTok mention over,
    # as state actor china, when the tagger filed entities by id alone
    user = Tagger.load(
        write(tmp_path, "state_actors:\n  tiktok: {value: china, aliases: [Zhongnanhai]}\n")
    )
    result = user.tag("TikTok banned in Nepal", "")
    assert (result.platforms, result.state_actors) == (("tiktok",), ("nepal",))
    result = user.tag("Zhongnanhai orders TikTok ban", "")
    assert (result.platforms, result.state_actors) == (("tiktok",), ("china",))
    tiktok = [e.facet for e in user.taxonomy.entities if e.id == "tiktok"]
    assert sorted(tiktok) == ["platform", "state_actor"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # a new controversy with a bundled one's alias: it was never reported, silently
            "controversies:\n  dsa_fine: {aliases: [DSA fine, digital services act]}\n",
            "controversies.dsa_fine.aliases: 'digital services act' is also listed by"
            " controversies.regulatory_enforcement: a mention counts for one controversy only",
        ),
        (
            "controversies:\n  one: {aliases: [content fine]}\n  two: {exact: [Content  Fine]}\n",
            "controversies.two.exact: 'Content  Fine' is also listed by controversies.one",
        ),
        (  # an alias appended to a bundled entity that a later bundled one lists
            "platforms:\n  tiktok: {aliases: [Douyin]}\n",
            "platforms.douyin.aliases: 'Douyin' is also listed by platforms.tiktok",
        ),
    ],
)
def test_a_name_two_values_of_a_facet_list_is_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refused(tmp_path, text)


def test_a_name_may_repeat_within_one_value_or_across_facets(tmp_path: Path) -> None:
    user = Tagger.load(
        write(
            tmp_path,
            "platforms:\n  threads: {aliases: [Instagram Threads, Meta Platforms]}\n"
            "state_actors:\n  ride: {aliases: [Instagram Threads]}\n",
        )
    )
    result = user.tag("Instagram Threads fined by China", "")
    assert (result.platforms, "ride" in result.state_actors) == (("meta",), True)


def test_values_of_a_facet_may_share_a_name_that_context_or_capitals_tell_apart(
    tmp_path: Path,
) -> None:
    # India's "Congress" (the bundled file: "the US one comes with its own words"), ambiguous
    # with context words of its own as the United States' is: each counts it near its words.
    # And two case-sensitive names in other capitals, which no text matches for both.
    user = Tagger.load(
        write(
            tmp_path,
            "state_actors:\n  india: {ambiguous: [Congress], context: [Gandhi, Lok Sabha]}\n"
            "platforms:\n  armco: {exact: [ARM]}\n  armsite: {exact: [Arm]}\n",
        )
    )
    india = user.tag(
        "Congress demands X restore accounts",
        "Congress leader Rahul Gandhi said the order to X to block accounts was a ban.",
    )
    assert india.state_actors == ("india",)
    us = user.tag(
        "Congress passes TikTok bill",
        "Congress voted to force ByteDance to sell TikTok, and the Senate followed.",
    )
    assert us.state_actors == ("united_states",)
    assert user.tag("ARM and Arm", "").platforms == ("armco", "armsite")


# --- true or false, and names that exist --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("platforms:\n  tiktok: {replace: 'no', aliases: [TT]}\n", "replace must be true or false"),
        ("platforms:\n  tiktok: {enabled: 'false'}\n", "tiktok: enabled must be true or false"),
        ("platforms:\n  tiktok: {enabled: 0}\n", "enabled must be true or false, not 0"),
        ("platforms:\n  new: {aliases: [N], enabled: 'yes'}\n", "enabled must be true or false"),
        ("include_bundled: 'false'\n", "include_bundled must be true or false, not 'false'"),
        ("rules:\n  - {name: headline, enabled: 'false'}\n", "rule 'headline': enabled must be"),
        ("rules:\n  - {name: new, match: x, enabled: 'no'}\n", "rule 'new': enabled must be"),
    ],
)
def test_switches_take_true_or_false_only(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refused(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "platforms:\n  tik_tok: {enabled: false}\n",
            "platforms.tik_tok: enabled: false, but there is no platforms.tik_tok to switch off"
            " (did you mean 'tiktok'?)",
        ),
        (
            "platforms:\n  tik_tok: {replace: true, aliases: [TT]}\n",
            "replace: true, but there is no platforms.tik_tok to replace (did you mean 'tiktok'?)",
        ),
        (
            "rules:\n  - {name: headlines, enabled: false}\n",
            "rule 'headlines': enabled: false, but there is no rule 'headlines' to switch off"
            " (did you mean 'headline'?)",
        ),
        ("rules:\n  - {name: zzz, enabled: false}\n", "no rule 'zzz' to switch off"),
    ],
)
def test_switching_off_what_does_not_exist_is_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refused(tmp_path, text)


def test_true_and_false_still_work(tmp_path: Path) -> None:
    user = Tagger.load(
        write(
            tmp_path,
            "platforms:\n  tiktok: {replace: false, enabled: true, aliases: [Tiktokkers]}\n"
            "  zte: {enabled: false}\nrules:\n  - {name: mine, match: x, enabled: true}\n",
        )
    )
    assert user.tag("TikTok and Tiktokkers", "").platforms == ("tiktok",)
    assert "zte" not in user.taxonomy.values("platform")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - {name: r, match: '{platform:tiktk} AND ban'}\n",
            "rule 'r': unknown platform 'tiktk' at position 0 (did you mean 'tiktok'?)",
        ),
        (
            "rules:\n  - {name: r, match: 'ban AND {state_actor:chian}'}\n",
            "unknown state_actor 'chian' at position 8 (did you mean 'china'?)",
        ),
        (
            "rules:\n  - {name: r, match: ban, adds: ['controversy:censorship']}\n",
            "is not a known facet:value (did you mean 'controversy:censorship_takedown'?)",
        ),
        (  # a new value named before it is defined: no other value's name is offered
            "rules:\n  - {name: r, match: ban, adds: ['controversy:dsa_fine']}\n",
            "adds: 'controversy:dsa_fine' is not a known facet:value (rules name values: an"
            " entity's value, else its id; a new value is an entity: add it under controversies:"
            " {dsa_fine: {aliases: [...]}})",
        ),
        (
            "rules:\n  - {name: r, match: 'ban AND {controversy:dsa_fine}'}\n",
            "unknown controversy 'dsa_fine' at position 8 (rules name values: an entity's"
            " value, else its id; a new value is an entity: add it under controversies:",
        ),
        (
            "rules:\n  - {name: r, match: 'tiktok and ban'}\n",
            "rule 'r': unexpected 'and': operators are written in capitals (AND, OR, NOT, NEAR/n):"
            " write 'AND' at position 7",
        ),
        (
            "rules:\n  - {name: r, match: 'tiktok NEER/20 ban'}\n",
            "rule 'r': unexpected 'NEER/20' (did you mean 'NEAR/20'?) at position 7",
        ),
    ],
)
def test_a_misspelt_value_or_operator_in_a_rule_says_what_was_meant(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refused(tmp_path, text)


# --- aliases are plain text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "problem"),
    [
        ("Uber|Lyft", "'|' is not allowed"),
        ("\\bGrab\\b", "'\\\\' is not allowed"),
        ("[Uu]ber", "'[' is not allowed"),
        ("Uber?", "'?' is not allowed"),
        ("(Uber)", "'(' is not allowed"),
        ("taxi*app", "'*' only at the end of the alias"),
        ("Uber *", "'*' only at the end of the alias"),
        ("*", "'*' only at the end of the alias"),
        # the matcher reads only a trailing '*': this one would be a literal star
        ("ride* hailing", "'*' only at the end of the alias"),
        ("-", "needs a letter or digit"),
        ("...", "needs a letter or digit"),
    ],
)
def test_aliases_written_as_patterns_are_refused(tmp_path: Path, alias: str, problem: str) -> None:
    quoted = alias.replace("'", "''")
    message = refused(tmp_path, f"platforms:\n  ride:\n    aliases: [Ride, '{quoted}']\n")
    assert f"platforms.ride.aliases: {alias!r}: {problem}" in message


@pytest.mark.parametrize("key", ["exact", "names", "context"])
def test_other_name_lists_are_plain_text_too(tmp_path: Path, key: str) -> None:
    extra = "ambiguous: [Ride], " if key == "context" else ""
    message = refused(tmp_path, f"platforms:\n  ride: {{aliases: [R1], {extra}{key}: ['a|b']}}\n")
    assert f"platforms.ride.{key}: 'a|b'" in message


@pytest.mark.parametrize(
    ("term", "problem"),
    [
        ("fined|fines", "'|' is not part of the rule language"),
        ("fine[sd]", "'[' is not part of the rule language"),
        ("fine?", "'?' is not part of the rule language"),
        ("\\bfine\\b", "'\\\\' is not part of the rule language"),
    ],
)
def test_rule_terms_written_as_patterns_are_refused(
    tmp_path: Path, term: str, problem: str
) -> None:
    """They loaded and were looked for as written: a rule that never fired, and no error."""
    message = refused(tmp_path, f"rules:\n  - {{name: r, match: '{{platform:*}} NEAR/5 {term}'}}\n")
    assert "rule 'r': bad term" in message
    assert problem in message
    assert "write 'fine OR fined'" in message


def test_a_quoted_phrase_may_hold_parentheses(tmp_path: Path) -> None:
    # Read as words, as the matcher reads the text: such a rule fires, as it did before
    # pattern characters were refused in terms (a review found it refused since).
    path = tmp_path / "user.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: dma, match: '\"Digital Markets Act (DMA)\" AND {platform:*}', weight: 0.9}\n"
        "  - {name: s230, match: '\"Section 230(c)\"', weight: 0.9}\n",
        encoding="utf-8",
    )
    result = Tagger.load(str(path)).tag(
        "Brussels opens a case against TikTok under the Digital Markets Act (DMA)",
        "Section 230(c) was cited in the reply.",
    )
    assert {"dma", "s230"} <= set(result.rules)


def test_plain_aliases_and_trailing_stars_load(tmp_path: Path) -> None:
    user = Tagger.load(
        write(tmp_path, "platforms:\n  ride: {aliases: ['Ride*', U.S.Ride, Ride+, Ри-Де, 叫车]}\n")
    )
    assert user.tag("Rideshare news", "").platforms == ("ride",)


# --- settings ---------------------------------------------------------------------------------


def test_without_the_bundled_taxonomy_the_bundled_settings_still_apply(tmp_path: Path) -> None:
    bundled = Tagger.load().taxonomy.settings
    user = Tagger.load(
        write(
            tmp_path,
            "include_bundled: false\nplatforms:\n  ride: {aliases: [Ride]}\n"
            "settings: {threshold: 0.4}\n",
        )
    )
    assert user.taxonomy.settings == {**bundled, "threshold": 0.4}
    assert bundled["salience"] == 5 and bundled["controversy_window"] == 30
    # a body mention weighs 1 (the bundled body_weight), short of the bundled salience of 5
    assert user.tag("", "News. " * 100 + "Ride.").platforms == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("settings: {window: 0}\n", "settings.window: must be a whole number >= 1"),
        ("settings: {window: 2.5}\n", "settings.window: must be a whole number >= 1"),
        ("settings: {max_evidence: 0}\n", "settings.max_evidence: must be a whole number >= 1"),
        ("settings: {max_evidence: 0.5}\n", "settings.max_evidence: must be a whole"),
        ("settings: {max_evidence: true}\n", "settings.max_evidence: must be a whole"),
        ("settings: {treshold: 0.3}\n", "unknown setting (did you mean 'threshold'?)"),
        # .nan compares false with everything: a threshold of .nan published nothing
        ("settings: {threshold: .nan}\n", "settings.threshold: must be a finite number >= 0"),
        ("settings: {salience: .NaN}\n", "settings.salience: must be a finite number >= 0"),
        ("settings: {title_weight: .inf}\n", "settings.title_weight: must be a finite number"),
        ("settings: {strong: .inf}\n", "settings.strong: must be a finite number >= 0"),
        ("settings: {relative: -.inf}\n", "settings.relative: must be a finite number >= 0"),
        ("settings: {title_weight: -1}\n", "settings.title_weight: must be a finite number >= 0"),
        ("version: 7\n", "version 7 is not one this newsbeam reads (1)"),
        ("version: '1'\n", "version '1' is not one"),
        ("version: true\n", "version True is not one"),
    ],
)
def test_settings_and_version_are_checked_in_the_users_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refused(tmp_path, text)


def test_one_evidence_item_when_max_evidence_is_one(tmp_path: Path) -> None:
    user = Tagger.load(write(tmp_path, "version: 1\nsettings: {max_evidence: 1}\n"))
    result = user.tag("TikTok, TikTok and TikTok banned", "")
    assert [len(tag.evidence) for tag in result.tags if tag.value == "tiktok"] == [1]


# --- errors name the user's file and the user's entry -------------------------------------


def test_taking_away_a_value_a_bundled_rule_adds_blames_the_users_file(tmp_path: Path) -> None:
    message = refused(tmp_path, "controversies:\n  ban_or_restriction: {enabled: false}\n")
    assert str(BUNDLED) not in message
    assert "the bundled rule 'app_store_removal' adds 'controversy:ban_or_restriction'" in message
    assert "switch that rule off too" in message
    # doing so loads
    Tagger.load(
        write(
            tmp_path,
            "controversies:\n  ban_or_restriction: {enabled: false}\nrules:\n"
            "  - {name: app_store_removal, enabled: false}\n"
            "  - {name: service_restricted, enabled: false}\n",
        )
    )


def test_a_users_unnamed_rule_is_numbered_in_the_users_file(tmp_path: Path) -> None:
    message = refused(tmp_path, "rules:\n  - {match: x, weight: 0.2}\n")
    assert message.endswith(": rules[0]: every rule needs a 'name'")


# The line of the entry in the user's file, as the feed list's errors give theirs ("file:3: ...").
ENTRY_ERRORS = [
    (  # an entity's own mistake: the line of its id
        "platforms:\n  mastodon: {aliases: [Mastodon]}\n  bluesky:\n    name: Bluesky\n"
        "    alias: [Bsky]\n",
        3,
        "platforms.bluesky: unknown key(s) ['alias'] (did you mean 'aliases'?)",
    ),
    (
        "controversies:\n\n  dsa_fine:\n    aliases: ['DSA|fine']\n",
        3,
        "controversies.dsa_fine.aliases: 'DSA|fine': '|' is not allowed",
    ),
    (  # added to a bundled entity: the user's line, not the bundled file's
        "platforms:\n  tiktok: {aliases: [TikTok Shop], window: 0}\n",
        2,
        "platforms.tiktok.window: must be a positive integer",
    ),
    (  # refused while merged over the bundled file
        "state_actors:\n  china: {aliases: [PRC]}\n  atlantis: {replace: true, aliases: [x]}\n",
        3,
        "state_actors.atlantis: replace: true, but there is no state_actors.atlantis to replace",
    ),
    (  # a name another value lists
        "controversies:\n  a: {aliases: [x1]}\n  dsa_fine: {aliases: [digital services act]}\n",
        3,
        "controversies.dsa_fine.aliases: 'digital services act' is also listed by",
    ),
    (  # a rule: the line of its item in the list
        "rules:\n  - name: a\n    match: x\n  - {name: r, match: 'tiktok NEER/20 ban'}\n",
        4,
        "rule 'r': unexpected 'NEER/20' (did you mean 'NEAR/20'?) at position 7",
    ),
    ("rules:\n  - {name: a, match: x}\n  - {match: x, weight: 0.2}\n", 3, "rules[1]: every"),
    ("rules:\n  - {name: a, match: x}\n  - {name: a, match: y}\n", 3, "rules: duplicate rule"),
    ("rules:\n  - name: gone\n    enabled: false\n", 2, "rule 'gone': enabled: false, but"),
    ("rules:\n  - {name: r, match: x, weight: 2}\n", 2, "rule 'r': weight must be a number"),
]


@pytest.mark.parametrize(("text", "line", "expected"), ENTRY_ERRORS)
def test_an_entrys_error_names_its_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    # They named the file and the entry only: in a file of hundreds of entries, no line.
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'mine.yaml'}:{line}: {expected}"), message


# --- rules too deep to evaluate -----------------------------------------------------------

DEEP_CHAINS = "ban"
for _ in range(3):  # a chain of 99 whose first operand is such a chain: 3 x 98 levels
    DEEP_CHAINS = "(" + " NEAR/1 ".join([DEEP_CHAINS] + ["ban"] * 98) + ")"


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ("(" * 400 + "tiktok" + ")" * 400, "nested more than 50 levels deep at position 50"),
        ("NOT " * 60 + "tiktok", "nested more than 50 levels deep"),
        (" NEAR/3 ".join(["tiktok"] * 700), "more than 100 operands chained by NEAR"),
        (DEEP_CHAINS, "rule nested more than 200 levels deep at position 0"),
    ],
)
def test_rules_too_deep_are_refused_when_loaded(tmp_path: Path, match: str, expected: str) -> None:
    message = refused(tmp_path, f"rules:\n  - name: deep\n    match: '{match}'\n")
    assert f"rule 'deep': {expected}" in message


def test_rules_at_the_limits_load_and_tag(tmp_path: Path) -> None:
    chain = " NEAR/3 ".join(["tiktok"] * 100)
    nested = "(" * 50 + "tiktok" + ")" * 50
    user = Tagger.load(
        write(
            tmp_path,
            f"rules:\n  - {{name: chain, match: '{chain}', weight: 0.1}}\n"
            f"  - {{name: nested, match: '{nested}', weight: 0.1}}\n",
        )
    )
    assert user.tag("TikTok " * 200, "").rules[-2:] == ("chain", "nested")


# --- the bundled file's header ------------------------------------------------------------


def test_the_bundled_header_explains_every_key() -> None:
    header = BUNDLED.read_text(encoding="utf-8").split("\nversion:", 1)[0]
    words = set(re.findall(r"[a-z_]+", header))
    keys = _ENTITY_KEYS | _RULE_KEYS | _TOP_KEYS | set(SETTINGS)
    assert sorted(keys - words) == []
    for phrase in ("{platform:*}", "head:", "title or the lede", "ignore case"):
        assert phrase in header


def test_a_value_a_rule_adds_shows_its_own_words_before_the_rules(tmp_path: Path) -> None:
    """With one evidence item, licensing shows 'licence revoked' from the lede, not the
    title's 'council' that made the rule fire (evidence used to be the first hits in story
    order, the rule's crowding out the value's own)."""
    path = write(tmp_path, COUNCIL + "settings: {max_evidence: 1}\n")
    lede = "Uber had its licence revoked, the city council said."
    result = Tagger.load(path).tag("City council votes on Uber", lede)
    (licensing,) = [t for t in result.tags if (t.facet, t.value) == ("controversy", "licensing")]
    assert [(e.field, e.snippet) for e in licensing.evidence] == [("lede", "licence revoked")]
    (rule,) = [t for t in result.tags if t.value == "council_vote_on_app"]
    assert [(e.field, e.snippet) for e in rule.evidence] == [("title", "council")]
