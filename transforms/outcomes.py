"""How an entry ends when it is not published: a ``Failure`` (a dead letter) or a ``Discard``.

Consumes what a stage could not process or chose to drop (its key, the reason, the input or
the exception) and produces the frozen record that the stage's failure or discard output
carries to the sinks, which count each once and write it (``to_json``, user names and
passwords in URLs left out). ``excerpt`` and ``error_message`` cut an input and an exception
to a dead letter's ``input`` and ``message``.

``transforms.records`` re-exports both records, which running streaming jobs pickle under
that module's path; the flow of all records is described there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transforms.urls import redact_userinfo


@dataclass(frozen=True)
class Failure:
    """A dead letter: an element that a stage could not process.

    ``retryable`` says whether trying again later could help (timeouts, 5xx,
    429) or not (404, a feed that does not parse).
    """

    stage: str  # "poll", "fetch", "extract", "enrich", "tag", "dedup", "publish"
    key: str  # usually the URL
    error_type: str  # short snake_case name, e.g. "http_404", "timeout", "not_a_feed"
    message: str
    retryable: bool = False
    input_excerpt: str = ""  # the start of the input, truncated
    counts_entry: bool = True  # False for failures that are not a feed entry (a whole feed)

    @classmethod
    def crashed(
        cls, stage: str, key: str, error_type: str, exc: BaseException, input: object
    ) -> Failure:
        """The dead letter of a stage core that raised: the exception as its message, the
        start of ``input`` as its excerpt. Not retryable (a bug meets the same input the same
        way), except an ``OSError``: the cores compute on strings, so one is the machine's
        (a full temporary folder, too many open files), and the next run may do better. A
        full temporary folder made every story an ``enrich_error`` (the language model is
        unpacked there on first use), which a one-shot run remembered and never tried again."""
        retryable = isinstance(exc, OSError)
        return cls(stage, key, error_type, error_message(exc), retryable, excerpt(input))

    @property
    def outcome(self) -> str:
        return f"{self.stage}/{self.error_type}"

    def to_json(self) -> dict[str, Any]:
        """The dead letter as written and published; a user name and password in any URL
        it quotes are left out, as they are from a story's URLs."""
        return {
            "stage": self.stage,
            "url": redact_userinfo(self.key),
            "error_type": self.error_type,
            "message": redact_userinfo(self.message),
            "retryable": self.retryable,
            "input": redact_userinfo(self.input_excerpt),
            "counts_entry": self.counts_entry,
        }


@dataclass(frozen=True)
class Discard:
    """An entry dropped on purpose, for a named reason (duplicate, not_relevant, ...)."""

    stage: str
    key: str
    reason: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The discard as written; a user name and password in a URL are left out."""
        return {
            "stage": self.stage,
            "key": redact_userinfo(self.key),
            "reason": self.reason,
            "detail": redact_userinfo(self.detail),
        }


def excerpt(value: object, limit: int = 500) -> str:
    """The start of ``value``'s text form, for a dead letter's ``input`` field."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def error_message(exc: BaseException) -> str:
    """``"Type: message"`` of an exception, cut to 300 characters: a dead letter's message."""
    return f"{type(exc).__name__}: {exc}"[:300]
