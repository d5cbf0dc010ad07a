"""The Beam adapters of the per-page cores: ExtractArticles, EnrichArticles and TagStories.

Each DoFn is driven directly (``setup``, then ``process``): what it hands its core (the
minimum length, the outlet file, the taxonomy, whether to keep every story) and which output
each outcome goes to. One small pipeline runs the three stages in a row with their defaults,
under the step names Dataflow's in-place update matches. The cores themselves are tested in
``tests/test_analyse.py``, ``tests/test_extract.py``, ``tests/test_outlets.py`` and the
tagger's tests.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import RUNNER_ARGS
from tests.test_analyse import OFF_TOPIC, ON_TOPIC, page
from transforms.analysis import extract_article
from transforms.common import DISCARDED, FAILURES, OK
from transforms.enrich import EnrichArticles, _EnrichArticlesFn
from transforms.extract import ExtractArticles, _ExtractArticlesFn
from transforms.outlets import OutletCatalogue
from transforms.records import Article, Discard, Failure, Story, TaggedStory
from transforms.tag import TagStories, _TagStoriesFn

ON_TOPIC_URL = "https://news.example/tech/tiktok-accounts"
STUB = "Subscribe to read the rest."  # with the page's heading, over 20 characters
OFF_TOPIC_LINK = "https://news.example/city/cycle-lane"
STUB_LINK = "https://news.example/paywalled"


def article(body: str, link: str) -> Article:
    extracted = extract_article(page(body, link))
    assert isinstance(extracted, Article)
    return extracted


def story(body: str, link: str) -> Story:
    enriched = _EnrichArticlesFn(None)
    enriched.setup()
    (out,) = enriched.process(article(body, link))
    assert isinstance(out, Story)
    return out


def test_extract_hands_its_minimum_length_to_the_core_and_discards_go_to_their_output() -> None:
    """The same stub page is an article at 20 characters and a ``too_short`` discard, on
    the discarded output, at 250."""
    (lenient,) = _ExtractArticlesFn(min_text_chars=20).process(page(STUB, STUB_LINK))
    assert isinstance(lenient, Article) and STUB in lenient.text
    (strict,) = _ExtractArticlesFn(min_text_chars=250).process(page(STUB, STUB_LINK))
    assert isinstance(strict, TaggedOutput) and strict.tag == DISCARDED
    detail = f"{len(lenient.text)} characters"  # the same text, under 250 characters
    assert strict.value == Discard("extract", STUB_LINK, "too_short", detail)


def test_enrich_looks_outlets_up_in_the_file_given(tmp_path: Path) -> None:
    """``--outlets``: the user's row for the page's host, over the bundled catalogue (which
    does not know news.example)."""
    outlets = tmp_path / "outlets.csv"
    outlets.write_text("domain,name,country,language,state_affiliation\nnews.example,N,GB,en,\n")
    assert OutletCatalogue.load().lookup(ON_TOPIC_URL).name is None
    fn = _EnrichArticlesFn(str(outlets))
    fn.setup()
    (out,) = fn.process(article(ON_TOPIC, ON_TOPIC_URL))
    assert isinstance(out, Story)
    assert (out.outlet.domain, out.outlet.name, out.outlet.country) == ("news.example", "N", "GB")


def test_an_article_enrichment_cannot_place_is_a_dead_letter_on_the_failures_output() -> None:
    """A page URL without a host has no outlet to look up: the core's error is the stage's
    dead letter (keyed by the entry's link), not an exception out of the stage."""
    fn = _EnrichArticlesFn(None)
    fn.setup()
    hostless = dataclasses.replace(
        article(ON_TOPIC, ON_TOPIC_URL), final_url="/tech/tiktok", canonical_url="/tech/tiktok"
    )
    (out,) = fn.process(hostless)
    assert isinstance(out, TaggedOutput) and out.tag == FAILURES
    assert isinstance(out.value, Failure)
    assert (out.value.stage, out.value.key, out.value.error_type) == (
        "enrich",
        ON_TOPIC_URL,
        "enrich_error",
    )


def test_tag_uses_the_taxonomy_given_and_discards_what_it_finds_out_of_scope(
    tmp_path: Path,
) -> None:
    """The bundled taxonomy finds the cycle-lane story out of scope: a ``not_relevant``
    discard on its output. A ``--taxonomy`` rule about cycle lanes makes it relevant."""
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(
        "rules:\n  - name: cycle_lane\n    match: 'cycle NEAR/3 lane'\n    weight: 0.6\n"
    )
    cycle_lane = story(OFF_TOPIC, OFF_TOPIC_LINK)
    bundled, mine = _TagStoriesFn(None, False), _TagStoriesFn(str(taxonomy), False)
    bundled.setup()
    mine.setup()
    (discarded,) = bundled.process(cycle_lane)
    assert isinstance(discarded, TaggedOutput) and discarded.tag == DISCARDED
    assert discarded.value == Discard("tag", OFF_TOPIC_LINK, "not_relevant")
    (tagged,) = mine.process(cycle_lane)
    assert isinstance(tagged, TaggedStory) and tagged.story == cycle_lane
    assert tagged.tagging.relevant and "cycle_lane" in tagged.tagging.rules


def test_all_stories_keeps_what_the_tagger_finds_out_of_scope() -> None:
    fn = _TagStoriesFn(None, keep_irrelevant=True)
    fn.setup()
    (kept,) = fn.process(story(OFF_TOPIC, OFF_TOPIC_LINK))
    assert isinstance(kept, TaggedStory) and not kept.tagging.relevant


def test_the_three_stages_in_a_row_with_their_defaults_and_step_names() -> None:
    """By default a body under 250 characters is ``too_short`` and a story out of scope is
    ``not_relevant``; the on-topic page comes out tagged. Each stage's ParDo is named
    ``<Stage>/<Extract|Enrich|Tag>``."""
    pages = [page(ON_TOPIC, ON_TOPIC_URL), page(OFF_TOPIC, OFF_TOPIC_LINK), page(STUB, STUB_LINK)]
    with TestPipeline(options=PipelineOptions(RUNNER_ARGS)) as pipeline:
        extracted = pipeline | beam.Create(pages) | "ExtractArticles" >> ExtractArticles()
        enriched = extracted[OK] | "EnrichArticles" >> EnrichArticles()
        tagged = enriched[OK] | "TagStories" >> TagStories()
        stages = {
            "ExtractArticles/Extract/": (extracted, ["too_short"]),
            "EnrichArticles/Enrich/": (enriched, []),
            "TagStories/Tag/": (tagged, ["not_relevant"]),
        }
        for name, (outputs, reasons) in stages.items():
            assert outputs[OK].producer.full_label.startswith(name)
            discarded = outputs[DISCARDED] | f"{name}Reasons" >> beam.Map(lambda d: d.reason)
            assert_that(discarded, equal_to(reasons), label=f"{name}Discards")
            assert_that(outputs[FAILURES], equal_to([]), label=f"{name}Failures")
        links = tagged[OK] | beam.Map(lambda t: t.story.article.entry.link)
        assert_that(links, equal_to([ON_TOPIC_URL]), label="Tagged")
