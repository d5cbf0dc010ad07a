"""Token-level scoring of extracted text against a ground truth.

Used by the extraction-quality benchmark and the real-world end-to-end test, so both
score the same way: texts are lower-cased and split into word tokens (``\\w+``,
Unicode-aware); precision, recall and F1 count the overlap of the two token
multisets (a token found twice in both counts twice).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str | None) -> Counter[str]:
    """The multiset of lower-cased word tokens of ``text``."""
    return Counter(_TOKEN.findall((text or "").lower()))


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 0.0 if total == 0 else 2 * self.precision * self.recall / total


def score(predicted: str | None, truth: str | None) -> Score:
    """Token precision and recall of ``predicted`` against ``truth``.

    An empty prediction scores 0 precision and 0 recall (unless the truth is empty too,
    which scores 1 and 1).
    """
    pred, gold = tokens(predicted), tokens(truth)
    if not pred and not gold:
        return Score(1.0, 1.0)
    overlap = sum((pred & gold).values())
    precision = overlap / sum(pred.values()) if pred else 0.0
    recall = overlap / sum(gold.values()) if gold else 0.0
    return Score(precision, recall)


def mean_scores(scores: list[Score]) -> tuple[float, float, float]:
    """Macro averages (precision, recall, F1) over documents."""
    if not scores:
        return (0.0, 0.0, 0.0)
    n = len(scores)
    return (
        sum(s.precision for s in scores) / n,
        sum(s.recall for s in scores) / n,
        sum(s.f1 for s in scores) / n,
    )
