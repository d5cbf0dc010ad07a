"""The README's example --taxonomy and --outlets files load and do what the README says, and
its table of a story's fields names the fields a story has.

The files are read from README.md itself (the first ```yaml block with a ``rules:`` key and
the ```csv block of "Your own taxonomy and outlets"), so an example that stops working, or is
edited into one that does not load, fails here. A field added to (or taken from) the published
story fails here until README's "Output" table describes it and ``SCHEMA_VERSION`` is bumped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from transforms.outlets import OutletCatalogue
from transforms.records import (
    SCHEMA_VERSION,
    Article,
    FeedEntry,
    Outlet,
    Story,
    TaggedStory,
    TagResult,
)
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


# The published story's fields at each schema version (consumers read `schema_version`). A
# new version's fields go here with the bump.
STORY_FIELDS = {
    4: {
        "schema_version", "story_id", "url", "fetched_url", "feed_url", "title", "text",
        "authors", "published_at", "language", "outlet", "relevant", "score", "platforms",
        "state_actors", "controversies", "tags", "rules", "duplicate_of", "cluster_id",
        "syndication",
    },
}  # fmt: skip


def _output_table_fields() -> set[str]:
    """The field names in the first column of README's table of `DIR/stories-*.jsonl`."""
    text = README.read_text(encoding="utf-8")
    table = text.split("`DIR/stories-*.jsonl`, one story per line", 1)[1].split("\n\n", 2)[1]
    return {
        name
        for row in table.splitlines()[2:]
        for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    }


def test_a_storys_fields_are_those_of_its_schema_version_and_readme_describes_each() -> None:
    entry = FeedEntry("https://a.example/feed", "https://a.example/1", "k")
    article = Article(entry, entry.link, entry.link, entry.link, "Title", "Text.")
    story = Story("0123456789abcdef", article, Outlet("a.example"), "en", None)
    fields = set(TaggedStory(story, TagResult(False, 0.0)).to_json())
    known = STORY_FIELDS.get(SCHEMA_VERSION)
    assert known is not None, f"list schema_version {SCHEMA_VERSION}'s fields in STORY_FIELDS"
    assert fields == known, (
        f"a story's fields changed ({sorted(fields ^ known)}) at schema_version"
        f" {SCHEMA_VERSION}: bump SCHEMA_VERSION in transforms/records.py and list the new"
        " version's fields in STORY_FIELDS here"
    )
    assert _output_table_fields() == fields, (
        "README's Output table does not describe the story's fields: "
        f"{sorted(fields ^ _output_table_fields())}"
    )
