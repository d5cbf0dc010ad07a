"""Score tagger output against the labelled development set (topic-dev/labels.jsonl).

Consumes labelled rows (``in_scope``, ``platforms``, ``platforms_acceptable``, ...) and the
tagger's predictions for them; produces precision, recall and F1 of relevance against
``in_scope`` and, per facet, micro precision (against the ``_acceptable`` list, the values
either annotator gave) and micro recall (against the list both annotators gave), over all
articles, as the end of GUIDELINE.md prescribes. Used by ``benchmarks/tagging_eval.py`` and
the regression test.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# facet name in the tagger's output -> key in labels.jsonl
FACET_LABELS = {
    "platforms": "platforms",
    "state_actors": "state_actors",
    "controversies": "controversy",
}


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 with the counts behind them."""

    tp_precision: int  # predictions that are acceptable
    predicted: int
    tp_recall: int  # required values that were predicted
    required: int

    @property
    def precision(self) -> float:
        return self.tp_precision / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.tp_recall / self.required if self.required else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read labels.jsonl.

    Args:
        path: The file.

    Returns:
        One dict per line.
    """
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def score(
    labels: Iterable[Mapping[str, Any]], predictions: Mapping[str, Mapping[str, Any]]
) -> dict[str, PRF]:
    """Score predictions against labels.

    Args:
        labels: Labelled rows (with ``id``).
        predictions: ``id`` -> the tagger's JSON output for that row (``relevant`` and the
            three facet lists).

    Returns:
        ``{"relevance": PRF, "platforms": PRF, "state_actors": PRF, "controversies": PRF}``.

    Raises:
        KeyError: A labelled id has no prediction.
    """
    counts = {name: [0, 0, 0, 0] for name in ("relevance", *FACET_LABELS)}
    for row in labels:
        pred = predictions[row["id"]]
        rel = counts["relevance"]
        rel[0] += bool(pred["relevant"] and row["in_scope"])
        rel[1] += bool(pred["relevant"])
        rel[2] += bool(pred["relevant"] and row["in_scope"])
        rel[3] += bool(row["in_scope"])
        for facet, key in FACET_LABELS.items():
            got = set(pred[facet])
            required = set(row[key])
            acceptable = set(row[f"{key}_acceptable"]) | required
            c = counts[facet]
            c[0] += len(got & acceptable)
            c[1] += len(got)
            c[2] += len(got & required)
            c[3] += len(required)
    return {name: PRF(*c) for name, c in counts.items()}


def format_table(scores: Mapping[str, PRF]) -> str:
    """A plain-text table of the scores, one line per measure.

    Args:
        scores: The output of :func:`score`.

    Returns:
        The table.
    """
    lines = [f"{'measure':<14} {'precision':>9} {'recall':>7} {'F1':>6}   counts"]
    for name, prf in scores.items():
        lines.append(
            f"{name:<14} {prf.precision:>9.3f} {prf.recall:>7.3f} {prf.f1:>6.3f}   "
            f"P {prf.tp_precision}/{prf.predicted}  R {prf.tp_recall}/{prf.required}"
        )
    return "\n".join(lines)
