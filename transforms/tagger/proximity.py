"""Where a tag's hits lie: is a context word near this hit, is this hit inside a longer one?

Consumes the matcher's :class:`~transforms.tagger.matcher.Hit` records (context words' hits,
or names' hits) and produces lookups that answer by bisection, for
:class:`~transforms.tagger.tagger.Tagger`: :class:`Context` (is a context word within n words of
a position?), :class:`Covering` (does a strictly longer hit contain this one?) and
:func:`any_within` (does a sorted list of word positions hold one within n of a position?).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from itertools import accumulate

from transforms.tagger.matcher import Hit


class Context:
    """The context words' hits by key and field, for "is one within n words of this hit?".

    Each question costs a bisection per context key, not a pass over every context hit: a
    page can hold thousands of ambiguous names and context words, and asking for each name
    was quadratic.
    """

    def __init__(self, hits: Iterable[Hit]) -> None:
        self._words: dict[tuple[str, str], list[int]] = defaultdict(list)
        for h in hits:
            self._words[(h.pattern.key, h.field)].append(h.word)
        for words in self._words.values():
            words.sort()

    def near(self, key: str, field: str, word: int, window: int) -> bool:
        """Whether a hit of ``key`` in ``field`` lies within ``window`` words of ``word``."""
        return any_within(self._words.get((key, field), []), word, window)

    def anywhere(self, key: str, field: str) -> bool:
        """Whether ``field`` holds a hit of ``key`` at all."""
        return bool(self._words.get((key, field)))


def any_within(words: list[int], word: int, window: float) -> bool:
    """Whether the sorted ``words`` hold one within ``window`` of ``word`` (by bisection)."""
    i = bisect_left(words, word - window)
    return i < len(words) and words[i] <= word + window


class Covering:
    """Whether a hit lies inside a strictly longer one of ``others`` in the same field.

    Each question costs a bisection, not a pass over ``others``: a page can hold tens of
    thousands of hits, and asking for each of them was quadratic.
    """

    def __init__(self, others: Iterable[Hit]) -> None:
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for o in others:
            spans[o.field].append((o.start, o.end))
        # per field: the starts in order, and the furthest end reached by a span starting there
        # or before
        self._fields: dict[str, tuple[list[int], list[int]]] = {}
        for name, pairs in spans.items():
            pairs.sort()
            reach = list(accumulate((e for _, e in pairs), max))
            self._fields[name] = ([s for s, _ in pairs], reach)

    def covers(self, hit: Hit) -> bool:
        starts, reach = self._fields.get(hit.field, ([], []))
        before = bisect_left(starts, hit.start)  # spans starting before the hit
        if before and reach[before - 1] >= hit.end:
            return True  # starts earlier, ends at or after: strictly longer
        # spans starting where the hit starts cover it only by ending after it (those starting
        # earlier reach less far, or the answer was already yes)
        upto = bisect_right(starts, hit.start)
        return upto > before and reach[upto - 1] > hit.end
