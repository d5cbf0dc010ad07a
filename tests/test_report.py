"""What ``pipelines.cli.report`` says on stderr about a run's Pub/Sub delivery, and its exit
code: the topics named, with the count and the reason of what they refused."""

from __future__ import annotations

import pytest

from pipelines.cli import EXIT_NOTHING_DONE, report
from pipelines.summary import Delivery, summary_from_counters

STORIES = "projects/my-project/topics/tagged-stories"
DEAD_LETTERS = "projects/my-project/topics/typo-dl"
# The demo's run with a dead-letter topic that does not exist: 2 dead letters refused.
REFUSED_DEAD_LETTERS = {
    "entries": 3,
    "published": 1,
    "failed:fetch/http_404": 2,
    "feeds_polled": 1,
    "feed_failed:publish/topic_not_found": 2,
}


def test_dead_letters_the_dead_letter_topic_refused_are_one_warning_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = summary_from_counters(REFUSED_DEAD_LETTERS)
    summary.delivery = Delivery(topic=STORIES, dead_letter_topic=DEAD_LETTERS)

    assert report(summary) == 0  # delivered stories: the run did its work
    err = capsys.readouterr().err
    assert err == (
        f"newsbeam: warning: 2 dead letters could not be delivered to the dead-letter topic "
        f"{DEAD_LETTERS} (publish/topic_not_found 2: see the publish dead letters); "
        "'newsbeam topics setup' creates a missing topic\n"
    )


def test_refused_syndication_updates_name_the_topic(capsys: pytest.CaptureFixture[str]) -> None:
    summary = summary_from_counters(
        {"entries": 1, "published": 1, "feed_failed:publish/unavailable": 1}
    )
    summary.delivery = Delivery(topic=STORIES, syndication_updates=True)

    assert report(summary) == 0
    assert capsys.readouterr().err == (
        f"newsbeam: warning: 1 syndication update could not be delivered to the topic "
        f"{STORIES} (publish/unavailable 1: see the publish dead letters)\n"
    )


def test_with_both_topics_taking_refusals_the_warning_names_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = summary_from_counters(REFUSED_DEAD_LETTERS)
    summary.delivery = Delivery(STORIES, DEAD_LETTERS, syndication_updates=True)

    report(summary)
    err = capsys.readouterr().err
    assert err.startswith(
        "newsbeam: warning: 2 dead letters or syndication updates could not be delivered to "
        f"the dead-letter topic {DEAD_LETTERS} or the topic {STORIES} (publish/topic_not_found 2"
    )
    assert err.count("\n") == 1


def test_a_run_that_delivered_everything_says_nothing_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    summary = summary_from_counters({"entries": 1, "published": 1, "feeds_polled": 1})
    summary.delivery = Delivery(topic=STORIES, dead_letter_topic=DEAD_LETTERS)

    assert report(summary) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("state_dir", "again"),
    [(None, False), ("out/state", True)],
    ids=["no state directory (the demo)", "a state directory"],
)
def test_a_topic_that_took_no_story_is_named_with_the_reason(
    capsys: pytest.CaptureFixture[str], state_dir: str | None, again: bool
) -> None:
    summary = summary_from_counters(
        {"entries": 3, "failed:publish/topic_not_found": 2, "failed:fetch/http_404": 1}
    )
    summary.delivery = Delivery(topic=STORIES, state_dir=state_dir)

    assert report(summary) == EXIT_NOTHING_DONE
    err = capsys.readouterr().err
    assert err.startswith(
        f"newsbeam: error: no story could be published to {STORIES} "
        "(publish/topic_not_found 2: see the publish dead letters); check --topic"
    )
    assert ("the next run with the state directory out/state tries" in err) is again
    assert ("state directory" in err) is again
    assert "fetch/http_404" not in err  # not a reason the topic took nothing
