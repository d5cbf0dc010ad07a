"""What ``-v`` shows: Beam's logs at INFO, without the type hint conversions that made up
most of a verbose demo's lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pipelines.cli import TYPE_HINT_LOGGER, _configure_logging


@pytest.fixture
def levels_put_back() -> Iterator[None]:
    """Beam's loggers as a new process has them (an earlier test's ``main`` may have quieted
    them), and the levels ``_configure_logging`` sets put back after the test."""
    names = ["", "apache_beam", "apache_beam.runners", TYPE_HINT_LOGGER]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING if name == "" else logging.NOTSET)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("levels_put_back")
def test_verbose_shows_beams_info_logs_but_not_its_type_hint_conversions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A root logger without handlers, as the command finds it, so that basicConfig sets its
    # level (pytest's handlers, added for each phase of a test, are put back after it).
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    _configure_logging(verbose=True)
    assert logging.getLogger(TYPE_HINT_LOGGER).getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("apache_beam.runners").getEffectiveLevel() == logging.INFO
