"""Unit tests for the Tagger: ambiguity, evidence offsets, languages, taxonomy files, pickling."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import corpus_missing, evidence_problems
from tests.cpu_limited import run_cpu_limited
from transforms.records import TagResult
from transforms.tagger import Tagger, TaxonomyError
from transforms.tagger.matcher import Matcher, Pattern, _blank_urls, normalise

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


def assert_evidence_exact(result: TagResult, title: str, text: str) -> None:
    """conftest's evidence_problems, where a snippet is its term as the matcher compares them
    (``normalise``: "İNSTAGRAM" is "Instagram"), not only up to ``str.lower``."""
    tags = [tag.to_json() for tag in result.tags]
    for ev in (ev for tag in tags for ev in tag["evidence"]):
        snippet, term = normalise(ev["snippet"]), normalise(ev["term"])
        if snippet == term or (term.endswith("*") and snippet.startswith(term[:-1])):
            ev["term"] = ev["snippet"] + ("*" if term.endswith("*") else "")
    assert evidence_problems(title, text, tags) == []


TIKTOK_TITLE = "US lawmakers vote to force ByteDance to sell TikTok or face a ban"
TIKTOK_TEXT = (
    "The House of Representatives voted on Wednesday to force ByteDance to sell TikTok or "
    "face a ban in the United States, citing national security risks and fears that Beijing "
    "could access user data.\n\n"
    "TikTok said the bill would trample free speech. The Chinese government has said it "
    "opposes a forced sale."
)


def test_headline_story_is_relevant_with_facets_and_rules(tagger: Tagger) -> None:
    result = tagger.tag(TIKTOK_TITLE, TIKTOK_TEXT)
    assert result.relevant
    assert 0.5 <= result.score <= 1
    assert {"tiktok", "bytedance"} <= set(result.platforms)
    assert {"china", "united_states"} <= set(result.state_actors)
    assert "ban_or_restriction" in result.controversies
    assert "headline" in result.rules
    assert result.platforms == tuple(sorted(result.platforms))
    assert_evidence_exact(result, TIKTOK_TITLE, TIKTOK_TEXT)


def test_passing_mention_is_not_relevant(tagger: Tagger) -> None:
    title = "Five recipes for a summer barbecue"
    text = (
        "Grill the corn for ten minutes and serve it with lime. " * 10
        + "\n\nFollow us on Facebook for more recipes."
    )
    result = tagger.tag(title, text)
    assert not result.relevant
    assert result.platforms == ()
    assert 0 <= result.score < 0.5


def test_tags_carry_facet_names_and_rule_tags(tagger: Tagger) -> None:
    result = tagger.tag(TIKTOK_TITLE, TIKTOK_TEXT)
    facets = {t.facet for t in result.tags}
    assert facets == {"platform", "state_actor", "controversy", "rule"}
    assert {t.value for t in result.tags if t.facet == "rule"} == set(result.rules)


@pytest.mark.parametrize(
    ("title", "text", "absent"),
    [
        ("Apple harvest up 10% in Normandy", "Farmers picked more apple varieties.", "apple"),
        ("Meta-analysis of sleep studies", "A meta review of 40 trials.", "meta"),
        ("Signal boost for rural radio", "The Signal was weak in the valley.", "signal"),
        ("Telegram from the front, 1916", "A Telegram arrived for the family.", "telegram"),
        ("Zoom in: camera tips", "Zoom in on the subject and focus.", "zoom"),
        ("Malcolm X biography reviewed", "X marks the spot in the old map.", "x_twitter"),
        ("BOTTOM LINE: a week at Wimbledon", "The LINE judge called it out.", "other"),
        # a context word elsewhere in the lede does not make a headline's word the company
        (
            "Apple exporters reel as China bans US fruit",
            "Growers said the ban would hurt the company town of Wenatchee, where apples grow.",
            "apple",
        ),
        (
            "Signal of détente? Russia lifts ban on US fruit",
            "Moscow lifted its ban on apples; officials said in messaging to farmers that "
            "more would follow.",
            "signal",
        ),
        (
            "BOTTOM LINE: Russia bans imports",
            "Russia banned imports of Japanese cars, hitting users of the port of Vladivostok.",
            "other",
        ),
    ],
)
def test_ambiguous_names_need_company_context(
    tagger: Tagger, title: str, text: str, absent: str
) -> None:
    assert absent not in tagger.tag(title, text).platforms


@pytest.mark.parametrize(
    ("title", "text", "present"),
    [
        ("Apple removes VPN apps", "Apple pulled the apps from its App Store in China.", "apple"),
        (
            "Meta fined by regulator",
            "Meta, which owns Facebook and Instagram, will appeal.",
            "meta",
        ),
        (
            "Signal leaves market",
            "The encrypted messaging app Signal said it would leave.",
            "signal",
        ),
        (
            "Telegram blocked",
            "The messaging app Telegram was blocked by the regulator.",
            "telegram",
        ),
        ("Zoom under scrutiny", "Zoom video calls were routed through servers.", "zoom"),
        ("X fined in Brazil", "Elon Musk's platform X refused to suspend accounts.", "x_twitter"),
        (
            "LINE removes accounts in Thailand",
            "LINE, the messaging app most Thais use, said it had removed the accounts.",
            "other",
        ),
        (
            "Irish regulator fines Meta €1.2bn over US data transfers",
            "The Irish Data Protection Commission fined Meta a record 1.2 billion euros.",
            "meta",
        ),
        (  # the headline's name, named again in the text, with a context word in the lede
            "Meta fined in Ireland",
            "The Irish regulator fined the company 1.2 billion euros. Meta will appeal.",
            "meta",
        ),
    ],
)
def test_ambiguous_names_in_company_context(
    tagger: Tagger, title: str, text: str, present: str
) -> None:
    assert present in tagger.tag(title, text).platforms


def test_congress_is_the_us_one_only_with_its_own_words(tagger: Tagger) -> None:
    india = tagger.tag(
        "Congress accuses Modi government of forcing X to block farmers' accounts",
        "India's opposition Congress party said the government ordered X to withhold accounts "
        "of protesting farmers.",
    )
    assert india.state_actors == ("india",)
    us = tagger.tag(
        "Congress passes TikTok bill",
        "Congress voted to force ByteDance to sell TikTok, and the Senate followed.",
    )
    assert "united_states" in us.state_actors


def test_case_sensitive_acronyms(tagger: Tagger) -> None:
    assert "united_states" not in tagger.tag("Tell us what you think", "Write to us.").state_actors
    assert "united_states" in tagger.tag("US bans app", "The US banned the app.").state_actors


def test_country_name_alone_is_not_a_state_actor(tagger: Tagger) -> None:
    result = tagger.tag("Travel guide: ten days in Australia", "Australia has great beaches.")
    assert "australia" not in result.state_actors
    result = tagger.tag("Australia fines Telegram", "Australia fined Telegram for delays.")
    assert "australia" in result.state_actors


@pytest.mark.parametrize(
    ("language", "title", "platform", "state", "controversy"),
    [
        (
            "de",
            "Russland verhängt Verbot gegen Telegram-Kanäle",
            "telegram",
            "russia",
            "ban_or_restriction",
        ),
        (
            "fr",
            "Les États-Unis veulent l'interdiction de TikTok",
            "tiktok",
            "united_states",
            "ban_or_restriction",
        ),
        ("es", "China impone la censura a WeChat", "wechat", "china", "censorship_takedown"),
        ("pt", "Brasil: multa contra o Twitter", "x_twitter", "brazil", "regulatory_enforcement"),
        (
            "ru",
            "Роскомнадзор ввел запрет на Инстаграм",
            "instagram",
            "russia",
            "ban_or_restriction",
        ),
        ("zh", "美国政府禁止华为设备", "huawei", "united_states", "ban_or_restriction"),
        ("zh", "中国网信办对微博进行审查", "weibo", "china", "censorship_takedown"),
    ],
)
def test_aliases_per_language(
    tagger: Tagger, language: str, title: str, platform: str, state: str, controversy: str
) -> None:
    result = tagger.tag(title, "")
    assert platform in result.platforms
    assert state in result.state_actors
    assert controversy in result.controversies
    assert_evidence_exact(result, title, "")


def test_evidence_offsets_hold_with_case_changing_characters(tagger: Tagger) -> None:
    title = "İstanbul court: TİKTOK ban? TikTok banned by Turkish government"
    text = "ǅ İİ The Turkish government banned TikTok, citing national security. " * 3
    result = tagger.tag(title, text)
    assert "tiktok" in result.platforms
    assert_evidence_exact(result, title, text)


def test_turkish_dotted_capital_i_matches_i(tagger: Tagger) -> None:
    # 'İ'.lower() is two characters, so 'İ' stayed unlowered and "İNSTAGRAM" was no Instagram
    title = "İNSTAGRAM'A ERİŞİM YASAĞI"
    text = "Türkiye'de İNSTAGRAM'a erişim engellendi. " * 3
    result = tagger.tag(title, text)
    assert result.platforms == ("instagram",)
    assert [e.snippet for t in result.tags for e in t.evidence][:2] == ["İNSTAGRAM", "İNSTAGRAM"]
    assert_evidence_exact(result, title, text)


@pytest.mark.parametrize("apostrophe", ["'", "\u2019", "\u2018", "\u02bc", "\uff07"])
def test_aliases_with_an_apostrophe_match_every_apostrophe(tagger: Tagger, apostrophe: str) -> None:
    # the aliases are written "People's Daily", "users' data"; news mostly writes ’
    title = f"People{apostrophe}s Daily says TikTok harvests users{apostrophe} data"
    result = tagger.tag(title, "")
    assert "china" in result.state_actors
    assert "data_access_surveillance" in result.controversies
    snippets = {e.snippet: e.term for t in result.tags for e in t.evidence}
    assert snippets[f"People{apostrophe}s Daily"] == "People's Daily"
    assert snippets[f"users{apostrophe} data"] == "users' data"
    assert_evidence_exact(result, title, "")


def test_aliases_match_across_line_breaks_and_runs_of_spaces(tagger: Tagger) -> None:
    title = "Chinese\u00a0government   condemns US ban on TikTok"
    text = "The Chinese\ngovernment said the ban on TikTok was unfair.\n\nChinese\n\ngovernment"
    result = tagger.tag(title, text)
    assert "china" in result.state_actors
    snippets = [(e.snippet, e.term) for t in result.tags if t.value == "china" for e in t.evidence]
    assert snippets == [
        ("Chinese\u00a0government", "Chinese government"),
        ("Chinese\ngovernment", "Chinese government"),
        ("Chinese", "Chinese"),  # not across the blank line
    ]
    assert_evidence_exact(result, title, text)


def test_links_are_not_mentions(tagger: Tagger) -> None:
    text = "Read more [here](https://twitter.com/someone) and https://www.facebook.com/page."
    assert tagger.tag("Gardening news", text).platforms == ()


# A link target never closed, in a text of 1 MB: the child gets 20 s of CPU time
# (tests.cpu_limited) where r"\]\([^)\s]*\)" searched for a ")" from each "](" again, to the
# next space, for minutes; linear work takes a fraction of a second.
LINK = "](https://tiktok.com/b)"
NEVER_CLOSED = ("](" * 50_000 + " ](https://tiktok.com/a [TikTok" + LINK + " ") * 10


def test_link_targets_and_urls_are_blanked_in_linear_time_after_ones_never_closed() -> None:
    # the "](" stay, a URL after one is blanked, a closed link target is blanked ("]" too)
    url = " " * len("https://tiktok.com/a")
    assert run_cpu_limited(_blank_urls, NEVER_CLOSED) == (
        ("](" * 50_000 + " ](" + url + " [TikTok" + " " * len(LINK) + " ") * 10
    )


def test_a_text_of_link_targets_never_closed_is_matched_in_linear_time() -> None:
    matcher = Matcher((Pattern("TikTok", "entity", "platforms:tiktok"),))
    hits = run_cpu_limited(lambda: [(h.start, h.end) for h in matcher.find("body", NEVER_CLOSED)])
    names = [m.start() + 1 for m in re.finditer(r"\[TikTok", NEVER_CLOSED)]
    assert len(names) == 10 and hits == [(i, i + len("TikTok")) for i in names]  # not the URLs


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("X banned the account", [0]),
        ("the app X, fined", [8]),
        ("X-Mode sold location data", []),  # hyphened to the word after it
        ("Gen-X voters", []),  # and to the word before it
        ("pre-X clinics", []),
        ("- X - fined", [2]),  # a dash alone is no word
    ],
)
def test_a_one_letter_alias_hyphened_to_a_word_is_part_of_another_name(
    text: str, found: list[int]
) -> None:
    matcher = Matcher((Pattern("X", "entity", "platforms:x_twitter", case_sensitive=True),))
    assert [hit.start for hit in matcher.find("title", text)] == found


def test_tagger_pickles_and_tags_the_same(tagger: Tagger) -> None:
    clone = pickle.loads(pickle.dumps(tagger))
    assert clone.tag(TIKTOK_TITLE, TIKTOK_TEXT) == tagger.tag(TIKTOK_TITLE, TIKTOK_TEXT)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "user.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_user_file_adds_entities_aliases_and_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
platforms:
  tiktok:
    aliases: [Tiktokkers]
  mastodon:
    aliases: [Mastodon]
rules:
  - name: mastodon_watch
    match: 'title:{platform:mastodon} AND (ban* OR block*)'
    weight: 0.9
""",
    )
    user = Tagger.load(path)
    assert "tiktok" in user.tag("Tiktokkers react", "").platforms
    result = user.tag("Mastodon blocked in Ruritania", "")
    assert "mastodon" in result.platforms
    assert "mastodon_watch" in result.rules
    assert result.relevant
    assert not Tagger.load().tag("Mastodon blocked in Ruritania", "").relevant


def test_user_file_disables_rules_and_entities(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules:\n  - name: headline\n    enabled: false\nplatforms:\n  zte:\n    enabled: false\n",
    )
    user = Tagger.load(path)
    assert "headline" not in user.tag(TIKTOK_TITLE, TIKTOK_TEXT).rules
    assert "zte" not in user.taxonomy.values("platform")
    assert "zte" in Tagger.load().taxonomy.values("platform")


def test_rule_that_adds_a_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
  - name: firewall
    match: '"great firewall"'
    weight: 0
    adds: ['controversy:censorship_takedown']
""",
    )
    result = Tagger.load(path).tag("Inside the Great Firewall", "")
    assert result.controversies == ("censorship_takedown",)
    tag = next(t for t in result.tags if t.value == "censorship_takedown")
    assert tag.evidence[0].snippet == "Great Firewall"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("rules:\n  - name: broken\n    match: 'tiktok AND (ban'\n", "rule 'broken': missing ')'"),
        ("rules:\n  - name: r\n    match: '{platform:nope}'\n", "unknown platform 'nope'"),
        ("rules:\n  - name: r\n    match: '{galaxy}'\n", "unknown facet 'galaxy'"),
        ("platforms:\n  Bad-Id:\n    aliases: [x]\n", "platforms.Bad-Id: ids are lowercase"),
        ("platforms:\n  new:\n    aliases: 'Mastodon'\n", "platforms.new.aliases: must be a list"),
        ("platforms:\n  new:\n    ambiguous: [Nova]\n", "need a 'context' list"),
        ("settings:\n  threshold: 3\n", "settings.threshold"),
        ("platforms: [1, 2\n", "not valid YAML"),
        ("colours: {}\n", "unknown top-level key"),
        ("controversy:\n  x: {aliases: [x]}\n", "(did you mean 'controversies'?)"),
        (  # an entity whose section lost its indent: the known keys, and where it goes
            "controversies:\ndsa_fine:\n  aliases: [x]\n",
            "key(s) ['dsa_fine'] (known: controversies, include_bundled, platforms, rules,"
            " settings, state_actors, version); an entity goes under its section, indented",
        ),
        ("rules:\n  - name: r\n    match: 'NOT football'\n", "rule 'r': can fire on words"),
        ("rules:\n  - name: r\n    match: 'x OR NOT y'\n", "leaves its tag without evidence"),
        ("rules:\n  - name: r\n    match: 'title:body:x'\n", "without that field at position 6"),
        ("- tiktok\n", "must be a mapping at the top level"),
        ("rules: {name: r, match: x}\n", "rules must be a list"),
        ("rules: [tiktok]\n", "each rule must be a mapping"),
        ("rules:\n  - name: ' '\n    match: x\n", "every rule needs a 'name'"),
        ("rules:\n  - name: r\n    match: ' '\n", "rule 'r': needs a non-empty 'match'"),
        (
            "rules:\n  - name: r\n    match: x\n    wieght: 1\n",
            "key(s) ['wieght'] (did you mean 'weight'?)",
        ),
        ("rules:\n  - name: r\n    match: x\n    weight: 1.5\n", "weight must be a number in"),
        ("rules:\n  - name: r\n    match: x\n    adds: ['platform:nope']\n", "'platform:nope' is"),
        (  # a rule names a facet value, not an entity id
            "platforms:\n  newapp: {aliases: [Newapp], value: tiktok}\n"
            "rules:\n  - name: r\n    match: '{platform:newapp}'\n",
            "unknown platform 'newapp'",
        ),
        ("platforms:\n  new:\n    aliases: ['  ']\n", "new.aliases: must be a list of non-empty"),
        ("platforms:\n  new: {aliases: [x], alias: [y]}\n", "['alias'] (did you mean 'aliases'?)"),
        (
            "platforms:\n  new: {aliases: [x], foo: 1, bar: 2}\n",
            "new: unknown key(s) ['bar', 'foo'] (known: aliases, ambiguous, context, enabled,",
        ),
        ("platforms:\n  new: {aliases: [x], value: New}\n", "new.value: must be a lowercase id"),
        ("platforms:\n  new: {context: [app]}\n", "new: needs at least one of aliases"),
        ("platforms:\n  new: {aliases: [x], window: 0}\n", "new.window: must be a positive"),
        ("settings:\n  treshold: 0.3\n", "settings.treshold: unknown setting"),
        ("settings:\n  salience: -1\n", "settings.salience: must be a finite number >= 0"),
        ("settings:\n  salience: yes\n", "settings.salience: must be a finite number >= 0"),
    ],
)
def test_invalid_taxonomy_names_file_and_entry(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(TaxonomyError) as info:
        Tagger.load(path)
    assert path in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("content", "entry"),
    [
        ("platforms:\n  tiktok:\n    aliases: 'TikTok'\n", "platforms.tiktok.aliases"),
        ("rules:\n  - name: headline\n    match: 'a AND'\n", "rule 'headline'"),
    ],
)
def test_errors_in_a_user_entry_name_the_user_file_alone(
    tmp_path: Path, content: str, entry: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(TaxonomyError) as info:
        Tagger.load(path)
    assert str(info.value).startswith(f"{path}:2: {entry}")  # and the entry's line


def test_user_file_appends_to_lists_and_replaces_settings_one_by_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "platforms:\n  tiktok:\n    aliases: [' Tiktokkers ']\n  apple:\n    context: [orchard]\n"
        "settings:\n  threshold: 1\n",
    )
    user = Tagger.load(path)
    assert user.tag("Tiktokkers react", "").platforms == ("tiktok",)  # the name, stripped
    assert user.tag("TikTok reacts", "").platforms == ("tiktok",)  # and the bundled names
    assert "apple" in user.tag("Apple removes VPN apps", "").platforms  # context: apps
    assert user.taxonomy.settings == {**Tagger.load().taxonomy.settings, "threshold": 1.0}


def test_user_entity_with_replace_drops_the_bundled_names(tmp_path: Path) -> None:
    user = Tagger.load(
        write(tmp_path, "platforms:\n  tiktok: {replace: true, aliases: [Tiktokkers]}\n")
    )
    assert user.tag("TikTok banned in Ruritania", "").platforms == ()
    assert user.tag("Tiktokkers react", "").platforms == ("tiktok",)


@pytest.mark.parametrize("second", ["watch", "' watch '"])
def test_two_user_rules_of_one_name_are_an_error_not_the_last_one(
    tmp_path: Path, second: str
) -> None:
    path = write(
        tmp_path,
        "rules:\n  - {name: watch, match: tiktok, weight: 0.9}\n"
        f"  - {{name: {second}, match: gamma, weight: 0.1}}\n",
    )
    with pytest.raises(TaxonomyError, match=f"{path}:3: rules: duplicate rule name 'watch'"):
        Tagger.load(path)


def test_a_user_rule_replaces_the_bundled_rule_of_its_name_even_with_spaces(
    tmp_path: Path,
) -> None:
    user = Tagger.load(write(tmp_path, "rules:\n  - {name: ' headline ', enabled: false}\n"))
    assert "headline" not in user.tag(TIKTOK_TITLE, TIKTOK_TEXT).rules
    assert len(user.taxonomy.rules) == len(Tagger.load().taxonomy.rules) - 1


def test_an_empty_user_file_changes_nothing(tmp_path: Path) -> None:
    user = Tagger.load(write(tmp_path, "# nothing yet\n"))
    assert user.taxonomy.entities == Tagger.load().taxonomy.entities
    assert user.taxonomy.rules == Tagger.load().taxonomy.rules


def test_rule_error_names_the_position(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - name: broken\n    match: 'a AND AND b'\n")
    with pytest.raises(TaxonomyError, match="rule 'broken': unexpected 'AND' at position 6"):
        Tagger.load(path)


def test_missing_file_is_a_taxonomy_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read taxonomy"):
        Tagger.load(str(tmp_path / "absent.yaml"))


def test_bundled_taxonomy_has_the_required_breadth(tagger: Tagger) -> None:
    taxonomy = tagger.taxonomy
    assert len(taxonomy.values("platform")) >= 30
    assert len(taxonomy.values("state_actor")) >= 30
    assert taxonomy.values("controversy") >= {
        "influence_operation",
        "data_access_surveillance",
        "ban_or_restriction",
        "regulatory_enforcement",
        "censorship_takedown",
        "national_security_review",
        "state_hacking",
    }


def test_seed_story(tagger: Tagger) -> None:
    seeds = sorted((CORPUS / "seed").glob("*.txt"))
    if not seeds:
        corpus_missing(f"seed story absent: {CORPUS / 'seed'} (../shared/corpus not mounted)")
    title, _, text = seeds[0].read_text(encoding="utf-8").partition("\n")
    result = tagger.tag(title, text)
    assert result.relevant
    assert {"tiktok", "bytedance"} <= set(result.platforms)
    assert {"china", "united_states"} <= set(result.state_actors)
    assert {
        "influence_operation",
        "data_access_surveillance",
        "ban_or_restriction",
    } <= set(result.controversies)
    assert_evidence_exact(result, title, text)


def test_hits_come_by_start_and_the_longest_first_at_the_same_start() -> None:
    from transforms.tagger.matcher import Matcher, Pattern

    matcher = Matcher(
        tuple(
            Pattern(text, "entity", text)
            for text in ("government", "Chinese", "Chinese government", "Chinese government app")
        )
    )
    hits = matcher.find("body", "The Chinese government app and the government.")
    assert [(h.start, h.pattern.text) for h in hits] == [
        (4, "Chinese government app"),
        (4, "Chinese government"),
        (4, "Chinese"),
        (12, "government"),
        (35, "government"),
    ]


@pytest.mark.parametrize("seed", range(30))
def test_covering_gives_what_comparing_with_every_hit_gives(seed: int) -> None:
    import random

    from transforms.tagger.matcher import Hit, Pattern
    from transforms.tagger.proximity import Covering

    rnd = random.Random(seed)
    pattern = Pattern("x", "term", "x")

    def hit() -> Hit:
        start = rnd.randrange(40)
        return Hit(rnd.choice(("title", "body")), start, start + rnd.randrange(1, 8), 0, 0, pattern)

    others = [hit() for _ in range(rnd.randrange(0, 20))]
    covering = Covering(others)
    for h in [hit() for _ in range(40)] + others:
        inside_a_longer = any(
            o.field == h.field
            and o.start <= h.start
            and h.end <= o.end
            and o.end - o.start > h.end - h.start
            for o in others
        )
        assert covering.covers(h) == inside_a_longer, (h, others)


@pytest.mark.parametrize("seed", range(30))
def test_context_lookup_gives_what_scanning_every_context_hit_gives(seed: int) -> None:
    import random

    from transforms.tagger.matcher import Hit, Pattern
    from transforms.tagger.proximity import Context

    rnd = random.Random(seed)
    patterns = {k: Pattern(k, "context", k) for k in ("company", "app", "users")}
    fields_ = ("title", "lede", "body")
    context_hits = [
        Hit(rnd.choice(fields_), 0, 1, w, w, patterns[rnd.choice(list(patterns))])
        for w in (rnd.randrange(80) for _ in range(rnd.randrange(0, 15)))
    ]
    context = Context(context_hits)
    keys = frozenset(rnd.sample(sorted(patterns), k=rnd.randint(1, 2)))
    window = rnd.randrange(0, 12)
    for _ in range(30):
        field, word = rnd.choice(fields_), rnd.randrange(80)
        scanned = any(
            c.pattern.key in keys
            and (
                (c.field == field and abs(c.word - word) <= window)
                or (field == "title" and c.field == "lede")
            )
            for c in context_hits
        )
        looked_up = any(
            context.near(k, field, word, window)
            or (field == "title" and context.anywhere(k, "lede"))
            for k in keys
        )
        assert looked_up == scanned


def test_body_evidence_points_into_the_text(tagger: Tagger) -> None:
    # A lede of over 300 characters of prose, then a body with the story's terms: the body's
    # evidence counts from the start of the text, as the published story's reader needs.
    lede = (
        "Lawmakers met on Tuesday to discuss the annual budget, a long session that covered "
        "schools, roads, hospitals and the pensions of public servants across the country. "
        "The debate ran late into the evening, and several amendments were left for later.\n\n"
        "Members of the finance committee said the numbers would be revised next month.\n\n"
    )
    body = (
        "Separately, the government banned TikTok, citing Beijing's access to user data. "
        "TikTok said the ban was unfair; Beijing called it an attack on Chinese companies. "
        "The TikTok ban takes effect next week. "
    ) * 2  # a body mention weighs 1, and a platform needs a weight of 5 (taxonomy.yaml)
    result = tagger.tag("Budget session runs late", lede + body)
    assert "tiktok" in result.platforms
    evidence = [ev for tag in result.tags for ev in tag.evidence]
    assert any(ev.field == "body" and ev.start > len(lede) for ev in evidence), evidence
    assert_evidence_exact(result, "Budget session runs late", lede + body)


# --- the tagger's mechanics, on a small taxonomy of its own ---------------------------------
# Its settings: every title or lede mention weighs 2 and a value needs 2; a short text is all
# lede. (include_bundled: false keeps the bundled settings where a file does not set its own.)

MINI = """
include_bundled: false
platforms:
  alpha: {aliases: [Alpha Corp], ambiguous: [Alpha], context: [app]}
  beta: {aliases: [Beta, Beta Chat], exact: [Beta]}
  gamma: {aliases: [Gamma]}
controversies:
  ban: {aliases: [banned]}
  fine: {aliases: [fined]}
  other: {aliases: [scandal]}
"""


MINI_SETTINGS = {
    **{"salience": 2, "title_weight": 2, "lede_weight": 2, "controversy_salience": 2},
    **{"controversy_window": 0},
}


def mini(tmp_path: Path, settings: str = "{}", rules: str = "[]") -> Tagger:
    mine = json.dumps({**MINI_SETTINGS, **yaml.safe_load(settings)})
    return Tagger.load(write(tmp_path, f"{MINI}settings: {mine}\nrules: {rules}\n"))


def snippets(result: TagResult, value: str) -> list[str]:
    return [ev.snippet for tag in result.tags if tag.value == value for ev in tag.evidence]


@pytest.mark.parametrize(
    ("settings", "text", "platforms"),
    [
        ("{relative: 0.5}", "Beta Beta Gamma.", ("beta", "gamma")),  # 2 >= 0.5 x 4
        ("{relative: 0.5}", "Beta Beta Beta Gamma.", ("beta",)),  # 2 < 0.5 x 6
        ("{relative: 0.5, strong: 2}", "Beta Beta Beta Gamma.", ("beta", "gamma")),
        ("{salience: 3}", "Beta news.", ()),  # the alias and the exact name: one mention
        ("{window: 2}", "Alpha is an app.", ()),  # the context word three words away
        ("{window: 3}", "Alpha is an app.", ("alpha",)),
        ("{}", "Gamma and Beta.", ("beta", "gamma")),  # sorted
    ],
)
def test_salience_settings(tmp_path: Path, settings: str, text: str, platforms: tuple) -> None:
    assert mini(tmp_path, settings).tag("", text).platforms == platforms


@pytest.mark.parametrize(
    ("settings", "text", "controversies"),
    [
        ("{controversy_relative: 0.6}", "Beta fined, fined, banned.", ("fine",)),
        ("{}", "Beta banned in a scandal.", ("ban",)),
        ("{controversy_other_alone: 0}", "Beta banned in a scandal.", ("ban", "other")),
        ("{}", "Books banned.", ("ban",)),  # controversy_window 0: anywhere
        ("{controversy_window: 3}", "Beta is now banned.", ("ban",)),
        ("{controversy_window: 3}", "Beta is not now banned.", ()),
        ("{controversy_window: 3, controversy_salience: 0}", "Beta is not now banned.", ()),
    ],
)
def test_controversy_settings(
    tmp_path: Path, settings: str, text: str, controversies: tuple
) -> None:
    assert mini(tmp_path, settings).tag("", text).controversies == controversies


def test_evidence_of_names_and_ambiguous_names(tmp_path: Path) -> None:
    tagger = mini(tmp_path, "{max_evidence: 2}")
    # the longest hit at a start, not the names inside it
    assert snippets(tagger.tag("Beta Chat banned", ""), "beta") == ["Beta Chat"]
    assert snippets(tagger.tag("", "Beta, Beta, Beta."), "beta") == ["Beta", "Beta"]
    # named unambiguously once, every ambiguous mention counts too
    assert snippets(tagger.tag("", "Alpha Corp grew. Alpha hired."), "alpha") == [
        "Alpha Corp",
        "Alpha",
    ]
    # a title's ambiguous name counts when the text names it again and has a context word in
    # its lede; the text's own mention, far from that word, does not
    text = "The app maker " + "said on Monday that it would hire more staff in the city. " * 2
    result = tagger.tag("Alpha hires", text + "Alpha grew.")
    assert [ev.field for tag in result.tags for ev in tag.evidence] == ["title"]
    # nor does a context word in the title bring in its mentions further away than the window
    narrow = mini(tmp_path, "{window: 2}")
    assert snippets(narrow.tag("Alpha app: rivals copy Alpha", ""), "alpha") == ["Alpha"]


def test_references_to_values_that_are_not_salient(tmp_path: Path) -> None:
    rules = (
        "[{name: any, match: 'banned NEAR/2 {platform:*}', weight: 0.5},"
        " {name: named, match: 'banned NEAR/2 {platform:beta}', weight: 0},"
        " {name: salient, match: 'banned NEAR/2 {platform}', weight: 0}]"
    )
    result = mini(tmp_path, "{salience: 10}", rules).tag("Beta banned", "")
    assert result.platforms == ()
    assert result.rules == ("any", "named")
    assert result.relevant  # a score of 0.5 reaches the threshold of 0.5


def test_near_needs_two_mentions_not_one_mention_twice(tmp_path: Path) -> None:
    rules = "[{name: two, match: '{platform:*} NEAR/5 {platform:*}', weight: 0.5}]"
    tagger = mini(tmp_path, "{}", rules)
    assert tagger.tag("Beta banned", "").rules == ()  # fired on the one mention before
    result = tagger.tag("Beta and Gamma banned", "")
    assert result.rules == ("two",)
    assert snippets(result, "two") == ["Beta", "Gamma"]


def test_a_rules_evidence_shows_each_thing_it_matched_before_repeats(tmp_path: Path) -> None:
    # In story order alone, the first three mentions were all of Beta: nothing showed the
    # ban and the fine that made the rule fire.
    rules = "[{name: r, match: '{platform:beta} NEAR/30 banned NEAR/30 fined', weight: 0.6}]"
    result = mini(tmp_path, rules=rules).tag("", "Beta and Beta Chat, Beta again: banned, fined.")
    assert snippets(result, "r") == ["Beta", "banned", "fined"]  # in story order
    limit = mini(tmp_path, "{max_evidence: 4}", rules).tag("", "Beta Beta Beta banned fined.")
    assert snippets(limit, "r") == ["Beta", "Beta", "banned", "fined"]  # then the repeats


def test_rule_evidence_and_threshold_zero(tmp_path: Path) -> None:
    rules = (
        "[{name: r, match: 'banned AND (beta OR b*)', weight: 0.2},"
        " {name: ' f ', match: fined, weight: 0, adds: ['controversy:ban']}]"  # name: f
    )
    tagger = mini(tmp_path, "{threshold: 0}", rules)
    result = tagger.tag("", "Beta banned and fined.")
    # in story order, each place once (beta and b* both match "Beta")
    assert snippets(result, "r") == ["Beta", "banned"]
    assert snippets(result, "ban") == ["banned", "fined"]  # a rule's adds join the mentions
    assert [(t.facet, t.value) for t in result.tags] == [
        ("controversy", "ban"),
        ("controversy", "fine"),
        ("platform", "beta"),
        ("rule", "r"),
        ("rule", "f"),
    ]
    assert result.relevant
    assert not tagger.tag("", "Gamma news.").relevant  # a score of 0 is never relevant
    # Which of a value's evidence items a rule added: they name it ("fined" is f's hit on
    # ban, "banned" ban's own); a consumer could not tell them apart (schema 4).
    (ban,) = [t for t in result.tags if t.value == "ban"]
    assert [(e.snippet, e.rule) for e in ban.evidence] == [("banned", None), ("fined", "f")]
    assert ban.to_json()["evidence"][1]["rule"] == "f"
    assert "rule" not in ban.to_json()["evidence"][0]
    (rule_f,) = [t for t in result.tags if t.value == "f"]
    assert [e.rule for e in rule_f.evidence] == [None]  # a rule's own tag: its hits
