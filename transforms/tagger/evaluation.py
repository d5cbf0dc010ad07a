"""Evaluate a parsed rule (:mod:`transforms.tagger.rules`) against a story's hits: whether
it fired, and the hits that made it fire (its evidence). Rules are evaluated by recursion, to
the depth the parser allows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transforms.tagger.matcher import Hit
from transforms.tagger.rules import ALL_FIELDS, And, Near, Node, Not, Or, Ref, Scope, Term


@dataclass(frozen=True)
class Index:
    """A story's hits as rules see them.

    Attributes:
        terms: Hits of rule words and phrases, by :attr:`Term.key`.
        refs: ``(facet, value)`` to hits; ``refs(facet, None)`` gives the salient values'
            hits of a facet, ``refs(facet, "*")`` the hits of all its values.
    """

    terms: dict[str, list[Hit]]
    refs: Callable[[str, str | None], Sequence[Hit]]


def evaluate(
    node: Node, index: Index, scope: frozenset[str] = ALL_FIELDS
) -> tuple[bool, list[Hit]]:
    """Evaluate a rule tree.

    Args:
        node: The parsed rule.
        index: The story's hits.
        scope: The fields the rule may look at (narrowed by ``title:`` etc.).

    Returns:
        ``(fired, hits)``: whether the rule holds, and the hits that support it.
    """
    if isinstance(node, Term | Ref):
        found = (
            index.terms.get(node.key, [])
            if isinstance(node, Term)
            else index.refs(node.facet, node.value)
        )
        hits = [h for h in found if h.field in scope]
        return bool(hits), hits
    if isinstance(node, Scope):
        return evaluate(node.child, index, scope & node.fields)
    if isinstance(node, Not):
        fired, _ = evaluate(node.child, index, scope)
        return not fired, []
    if isinstance(node, And):
        out: list[Hit] = []
        for child in node.children:
            fired, hits = evaluate(child, index, scope)
            if not fired:
                return False, []
            out.extend(hits)
        return True, out
    if isinstance(node, Or):
        out = []
        any_fired = False
        for child in node.children:
            fired, hits = evaluate(child, index, scope)
            any_fired = any_fired or fired
            out.extend(hits)
        return any_fired, out if any_fired else []
    return _near(node, index, scope)


def _near(node: Near, index: Index, scope: frozenset[str]) -> tuple[bool, list[Hit]]:
    """Every left hit with a right hit within ``distance`` words (same field), and those right
    hits, in the order a pass over every pair would find them (left first, then right). A hit
    is never near itself: a pair is two hits at different places (field, start and end), so
    ``tiktok NEAR/1 tiktok`` needs two mentions of TikTok, as ``{platform:*} NEAR/5
    {platform:*}`` needs two platform mentions.

    The right hits are looked up by word position (bisection), not paired with every left hit:
    a long page can hold thousands of each, and the pairs grew with the square of its length.
    """
    _, left = evaluate(node.left, index, scope)
    _, right = evaluate(node.right, index, scope)
    if not left or not right:
        return False, []
    positions: dict[str, list[int]] = defaultdict(list)  # right hits' indices, by field
    for i in sorted(range(len(right)), key=lambda i: right[i].word):
        positions[right[i].field].append(i)
    words = {f: [right[i].word for i in idx] for f, idx in positions.items()}
    span = max(b.last_word - b.word for b in right)  # the most words a right hit covers
    used: dict[int, Hit] = {}
    for a in left:
        if a.field not in positions:
            continue
        # A right hit from a.word on is near when it starts within ``distance`` words after
        # a's last word; one starting before a (unordered only) when it ends within
        # ``distance`` words before a starts, so it starts at most ``span`` words earlier.
        low = a.word if node.ordered else a.word - node.distance - span
        field_words, field_positions = words[a.field], positions[a.field]
        first = bisect_left(field_words, low)
        last = bisect_right(field_words, a.last_word + node.distance)
        near = sorted(
            i
            for i in field_positions[first:last]
            if (right[i].word >= a.word or right[i].last_word >= a.word - node.distance)
            and (right[i].start, right[i].end) != (a.start, a.end)  # the same field already
        )
        if near:
            used.setdefault(id(a), a)
            for i in near:
                used.setdefault(id(right[i]), right[i])
    return bool(used), list(used.values())
