"""How the bundled taxonomy reads news phrasing: restrictions, blocking orders, fines, "X".

Each case is a short invented story in the style of wire copy; together they pin down the
general phrasing the taxonomy must read (throttling is a restriction, orders to block accounts
are censorship, "fines X" names the company) and what it must not read into a story.
"""

from __future__ import annotations

import pytest

from tests.conftest import evidence_problems
from transforms.tagger import Tagger


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.load()


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Brazil fines X over hate speech", "The regulator fined X 5 million reais on Monday."),
        ("Court orders X to block accounts", "A judge ordered X to block 40 accounts."),
        ("Turkey restricts X and YouTube", "Access to X was restricted after the protests."),
        ("Regulator says X's verification misleads", "X's blue checks deceive users, it said."),
    ],
)
def test_x_in_enforcement_contexts_is_the_company(tagger: Tagger, title: str, text: str) -> None:
    assert "x_twitter" in tagger.tag(title, text).platforms


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("Tesla recalls the Model X", "Owners of the Model X will get a software update."),
        ("Generation X saves less", "Members of Generation X put less into pensions."),
        # hyphened to a word, X is part of another name, enforcement words around it or not
        ("FTC bans X-Mode from selling location data", "The FTC banned X-Mode Social."),
        ("Hospital fined over X-ray doses", "The regulator fined the pre-X clinic for X-rays."),
    ],
)
def test_x_elsewhere_is_not_the_company(tagger: Tagger, title: str, text: str) -> None:
    assert "x_twitter" not in tagger.tag(title, text).platforms


@pytest.mark.parametrize(
    ("title", "text", "state", "controversy"),
    [
        (
            "Russia slows YouTube to a crawl",
            "The regulator Roskomnadzor has been throttling YouTube since Monday.",
            "russia",
            "ban_or_restriction",
        ),
        (
            "Turkey restricts Instagram and TikTok during protests",
            "Access to Instagram was severely restricted across Turkey, the regulator BTK said.",
            "turkey",
            "ban_or_restriction",
        ),
        (
            "India orders Facebook to block 300 accounts",
            "The Ministry of Electronics and Information Technology ordered Facebook to "
            "withhold the accounts.",
            "india",
            "censorship_takedown",
        ),
        (
            "Belarus court bans Telegram channels as extremist",
            "Joining the banned Telegram channels is now a crime, the Belarusian authorities say.",
            "belarus",
            "censorship_takedown",
        ),
        (
            "Apple hit with a $2 billion fine by the European Commission",
            "The European Commission imposed the fine on Apple over App Store rules.",
            "european_union",
            "regulatory_enforcement",
        ),
        (
            "Senate moves to force ByteDance to sell TikTok",
            "Washington wants TikTok sold by a deadline or banned in the United States.",
            "united_states",
            "national_security_review",
        ),
        (
            "Russland drosselt YouTube",
            "Roskomnadzor: Drosselung von YouTube.",
            "russia",
            "ban_or_restriction",
        ),
        ("Роскомнадзор: замедление YouTube", "", "russia", "ban_or_restriction"),
        (
            "Turquía restringe TikTok",
            "El gobierno turco restringe el acceso.",
            "turkey",
            "ban_or_restriction",
        ),
    ],
)
def test_restriction_and_blocking_phrasing(
    tagger: Tagger, title: str, text: str, state: str, controversy: str
) -> None:
    result = tagger.tag(title, text)
    assert state in result.state_actors, result
    assert controversy in result.controversies, result
    assert evidence_problems(title, text, [tag.to_json() for tag in result.tags]) == []


def test_other_controversy_only_when_no_listed_type(tagger: Tagger) -> None:
    both = tagger.tag(
        "Russia runs disinformation network on Facebook",
        "Facebook said the Russian propaganda network spread misinformation about vaccines.",
    )
    assert "influence_operation" in both.controversies
    assert "other" not in both.controversies
    alone = tagger.tag(
        "Brazil says YouTube spreads misinformation",
        "Brazil's government accused YouTube of spreading vaccine misinformation.",
    )
    assert alone.controversies == ("other",)


def test_controversy_term_inside_an_agency_name_is_not_a_controversy(tagger: Tagger) -> None:
    result = tagger.tag(
        "National Security Agency warns of ransomware",
        "The National Security Agency and CISA warned hospitals about ransomware attacks.",
    )
    assert "united_states" in result.state_actors
    assert "national_security_review" not in result.controversies


def test_throttling_a_service_needs_a_platform_or_state(tagger: Tagger) -> None:
    result = tagger.tag(
        "Water utility throttles supply during drought",
        "The utility slowed down deliveries to farms for a week.",
    )
    assert result.controversies == ()
    assert not result.relevant


def test_a_passing_country_mention_does_not_make_a_private_lawsuit_relevant(
    tagger: Tagger,
) -> None:
    """A platform sued in the title, and one mention of a country in the lede: the country
    is too slight to report, owners suing a company is no enforcement (suing is, when a
    state actor sues), and a story with no state actor is out of the guideline's scope. The
    same story about a regulator is relevant."""
    lede = (
        "Samsung has been sued by owners whose Chromebook displays cracked at the hinge. The "
        "class action, filed in a U.S. court, says the company knew of the defect for years "
        "and refused to repair the laptops under warranty, leaving owners to pay for repairs."
    )
    private = tagger.tag("Samsung sued over cracking Chromebook hinges", lede)
    assert private.platforms and private.controversies == () and private.state_actors == ()
    assert not private.relevant
    regulator = tagger.tag(
        "FTC sues Samsung over cracking Chromebook hinges",
        lede.replace("Samsung has been sued by owners", "The FTC sued Samsung for owners"),
    )
    assert regulator.state_actors == ("united_states",)
    assert regulator.controversies == ("regulatory_enforcement",)
    assert regulator.relevant


@pytest.mark.parametrize(
    ("title", "text", "platform", "state", "controversy"),
    [
        (
            "Twitter removes 3,000 state-backed accounts linked to China",
            "The accounts pushed the Chinese government's line on Xinjiang, Twitter said.",
            "x_twitter",
            "china",
            "influence_operation",
        ),
        (
            "EU probes Microsoft's stake in AI startup",
            "The European Commission said it was probing the deal under its merger rules.",
            "microsoft",
            "european_union",
            "regulatory_enforcement",
        ),
        (
            "Huawei's offices in France raided",
            "French financial prosecutors raided Huawei's offices near Paris on Tuesday.",
            "huawei",
            "france",
            "regulatory_enforcement",
        ),
        (
            "US House panel subpoenas Google and Reddit",
            "The US House committee subpoenaed Google and Reddit for records on the riot.",
            "google",
            "united_states",
            "regulatory_enforcement",
        ),
        (
            "FBI demanded data from Google on YouTube viewers",
            "The FBI demanded data on everyone who watched the videos, court papers show.",
            "google",
            "united_states",
            "data_access_surveillance",
        ),
        # "Apple" and "Amazon" alone are the companies beside enforcement words, as "Meta" is
        (
            "EU regulator fines Apple in music case",
            "The European Commission fined Apple 1.8 billion euros on Monday.",
            "apple",
            "european_union",
            "regulatory_enforcement",
        ),
        (  # a paywall page: the title alone
            "EU to hit Apple with a first fine, a penalty in a music streaming case",
            "",
            "apple",
            "european_union",
            "regulatory_enforcement",
        ),
        (
            "Ireland fines Amazon under GDPR",
            "Ireland's data regulator fined Amazon 746 million euros under the GDPR.",
            "amazon",
            "ireland",
            "regulatory_enforcement",
        ),
    ],
)
def test_enforcement_takedown_and_data_demand_phrasing(
    tagger: Tagger, title: str, text: str, platform: str, state: str, controversy: str
) -> None:
    result = tagger.tag(title, text)
    assert platform in result.platforms, result
    assert state in result.state_actors, result
    assert controversy in result.controversies, result
    assert result.relevant, result
    assert evidence_problems(title, text, [tag.to_json() for tag in result.tags]) == []


def test_russian_aliases_whose_first_word_is_inflected_match(tagger: Tagger) -> None:
    """'Саудовск* Арави*' and 'хакерск* группировк*' had a '*' inside the alias, which the
    matcher reads as a literal star: they never matched. Each form is listed now."""
    story = "TikTok: хакерская группировка атаковала Саудовскую Аравию"
    result = tagger.tag(story, story)
    assert "saudi_arabia" in result.state_actors
    assert "state_hacking" in result.controversies


@pytest.mark.parametrize(
    "title",
    [
        "Russian hackers attacked TikTok",
        "Russische Hacker greifen TikTok an",
        "Hackers rusos atacan TikTok",
        "Hackers russos atacam TikTok",
        # the languages whose word for hackers is not "hacker(s)"
        "Des pirates informatiques russes visent TikTok",
        "Un pirate informatique chinois a piraté Microsoft",
        "Российские хакеры атаковали TikTok",
        "Китайские хакеры взломали серверы Microsoft",
        "俄罗斯黑客攻击TikTok",
    ],
)
def test_hackers_named_after_a_state_in_every_language(tagger: Tagger, title: str) -> None:
    result = tagger.tag(title, "")
    assert "state_hacking" in result.controversies
    tags = [tag.to_json() for tag in result.tags]
    assert evidence_problems(title, "", tags) == []


@pytest.mark.parametrize(
    "title",
    ["Hackers on a Russian forum sell TikTok data", "黑客在俄罗斯论坛出售TikTok数据"],
)
def test_hackers_merely_near_a_state_name_are_not_state_hackers(tagger: Tagger, title: str) -> None:
    assert "state_hacking" not in tagger.tag(title, "").controversies


@pytest.mark.parametrize(
    ("title", "text"),
    [
        (  # German writes disinformation campaigns as one word
            "Russische Desinformationskampagne auf TikTok aufgedeckt",
            "Die Bundesregierung wirft Russland eine Desinformationskampagne auf TikTok vor.",
        ),
        ("Desinformationen über Facebook: EU-Kommission ermittelt", ""),
    ],
)
def test_german_compounds_of_desinformation_are_influence_operations(
    tagger: Tagger, title: str, text: str
) -> None:
    result = tagger.tag(title, text)
    assert "influence_operation" in result.controversies
    assert result.relevant
