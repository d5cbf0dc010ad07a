"""The README's example --taxonomy and --outlets files load and do what the README says.

The files are read from README.md itself (the first ```yaml block with a ``rules:`` key and
the ```csv block of "Your own taxonomy and outlets"), so an example that stops working, or is
edited into one that does not load, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transforms.outlets import OutletCatalogue
from transforms.tagger import Tagger

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_block(language: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Your own taxonomy and outlets", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, f"expected one ```{language} block in the section"
    return str(blocks[0])


@pytest.fixture
def taxonomy_file(tmp_path: Path) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(_section_block("yaml"), encoding="utf-8")
    return path


def test_the_example_taxonomy_adds_a_platform_and_a_rule_that_makes_a_story_relevant(
    taxonomy_file: Path,
) -> None:
    title = "Regulator hits Bluesky with record penalty"
    text = "The regulator said Bsky had failed to act on complaints. " * 10
    bundled, mine = Tagger.load().tag(title, text), Tagger.load(taxonomy_file).tag(title, text)
    assert "bluesky" not in bundled.platforms and not bundled.relevant
    assert "bluesky" in mine.platforms
    assert "platform_fined" in mine.rules and mine.relevant
    rule_tag = next(t for t in mine.tags if t.facet == "rule" and t.value == "platform_fined")
    assert {e.snippet for e in rule_tag.evidence} >= {"Bluesky", "penalty"}


def test_the_example_outlets_fill_name_country_language_and_state_affiliation(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outlets.csv"
    path.write_text(_section_block("csv"), encoding="utf-8")
    catalogue = OutletCatalogue.load(path)
    state = catalogue.lookup("https://m.daily.example/world/1")  # a subdomain: the parent's row
    assert (state.name, state.country, state.language, state.state_affiliation) == (
        "State Daily",
        "CN",
        "zh",
        "SC",
    )
    plain = catalogue.lookup("news.example")
    assert (plain.name, plain.country, plain.state_affiliation) == ("Example News", "GB", None)
