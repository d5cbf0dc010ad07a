"""Feeds that start or stop failing in always-on runs: one line as it happens, not a line
at every poll (transforms.feed_health)."""

from __future__ import annotations

from transforms.feed_health import FeedHealth
from transforms.records import Failure

URL = "http://news.example/rss"


def failure(error_type: str, message: str = "it broke") -> Failure:
    return Failure("poll", URL, error_type, message, counts_entry=False)


def test_a_feed_that_keeps_failing_is_told_once_and_its_recovery_once() -> None:
    health = FeedHealth()
    assert health.observe(URL, None) is None  # good polls say nothing
    line = health.observe(URL, failure("http_503", "server said 503"))
    assert line is not None
    assert line.startswith(f"feed {URL} failed: http_503: server said 503;")
    assert health.observe(URL, failure("http_503")) is None
    assert health.observe(URL, failure("http_503")) is None
    assert health.observe(URL, None) == f"feed {URL} answers again, after 3 failed poll(s)"
    assert health.observe(URL, None) is None


def test_a_failure_of_another_kind_is_told_with_the_one_before() -> None:
    health = FeedHealth()
    assert health.observe(URL, failure("timeout")) is not None
    line = health.observe(URL, failure("malformed_feed"))
    assert line is not None and "failed: malformed_feed:" in line
    assert "(it failed with timeout before)" in line
    # the first poll of a feed failing says so; a feed's first good poll does not
    assert health.observe("http://other.example/rss", None) is None


def test_feeds_are_told_apart() -> None:
    health = FeedHealth()
    assert health.observe(URL, failure("timeout")) is not None
    assert health.observe("http://other.example/rss", failure("timeout")) is not None
    assert health.observe(URL, failure("timeout")) is None


def test_the_line_is_one_line_without_credentials() -> None:
    url = "http://user:secret@news.example/rss"
    line = FeedHealth().observe(url, failure("http_401", f"denied\nfor {url}\r\n"))
    assert line is not None
    assert "\n" not in line and "\r" not in line
    assert "secret" not in line, line
