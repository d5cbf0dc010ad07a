"""Find taxonomy aliases and rule terms in a story's fields with one Aho-Corasick pass each.

Consumes a story's title and text, splits the text into ``lede`` and ``body`` (see
:func:`fields`), and produces :class:`Hit` records: which pattern matched, in which field,
at which character offsets and at which word position (for ``NEAR/n``).

Matching is case-insensitive (one character for one: the Turkish 'İ' is 'i') unless a
pattern is marked case-sensitive, reads every apostrophe (’ ‘ ʼ ＇ ...) as "'" (case-sensitive
patterns too) and the whitespace between two words as one space (a line break, a no-break
space, several spaces; not a blank line, which ends a paragraph): see :func:`normalise`.
It respects word boundaries for letters and digits on either side of a match, except for a
pattern ending in ``*`` (a prefix: ``sanction*`` matches "sanctions") and for CJK
characters, which have no spaces between words (``禁止`` matches inside ``美国禁止抖音``). A
one-character match hyphened to a word is part of another name ("X-Mode", "X-ray"), not a
match. Hits' offsets are the text's own, whatever was read otherwise.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

import ahocorasick

FIELDS = ("title", "lede", "body")
_START, _END = attrgetter("start"), attrgetter("end")

# The lede is the start of the text holding at least LEDE_MIN_CHARS of prose lines, cut at
# LEDE_MAX_CHARS; prose lines are those of at least _PROSE_LINE characters that are not only
# markdown images, links or captions.
LEDE_MIN_CHARS = 300
LEDE_MAX_CHARS = 1200
_PROSE_LINE = 60

_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uac00-\ud7af"  # hangul
)
_CJK_CHAR = re.compile(f"[{_CJK}]")
_WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_SENTENCE_END = re.compile(r"[.!?](?=\s)|[。！？]")
_LINE = re.compile(r"[^\n]*\n*")
# Apostrophes written otherwise (typographic, modifier letter, full-width, prime, accents) are
# read as "'" in patterns and text alike, one character for one: curly "People’s Daily" is
# the alias "People's Daily", and the other way round.
_APOSTROPHES = "\u2019\u2018\u201b\u02bc\uff07\u2032\u00b4\u0060"
# Every whitespace character but the line break is a space (tab, no-break space, thin space,
# ideographic space, carriage return, ...), one for one as well.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \n")
_FOLDED = {**dict.fromkeys(_APOSTROPHES, "'"), **dict.fromkeys(_SPACES, " ")}
# (a regex: str.translate with a table beyond ASCII took 5 times as long)
_TO_FOLD = re.compile(f"[{re.escape(''.join(_FOLDED))}]")
# A run of whitespace holding at most one line break is one space in the text patterns are
# found in ("Chinese\n  government" is "Chinese government"); one holding a blank line (two
# line breaks) stays as long, in spaces, which no pattern has: a phrase does not run from one
# paragraph into the next. Patterns are written with single spaces (any whitespace in an
# alias is read as one space).
_RUN = re.compile(r"[ \n]{2,}")
_PATTERN_SPACE = re.compile(r"\s+")
# Link targets and bare URLs are blanked out before matching: "twitter.com/..." in a link
# is not a mention of Twitter. The link target (r"\]\([^)\s]*\)") is matched with its ")"
# optional: one never closed is matched as far as the search for its ")" went (to a space or
# the end), and only the bare URLs in it are blanked (_blank_urls), rather than searched
# again from the next "](", which stops at the same place, unclosed as well. Searching from
# each took quadratic time: "](" repeated, 64,000 characters took 9-11 s, 1 MB hours.
_BARE_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_URL = re.compile(rf"\]\([^)\s]*(\))?|{_BARE_URL.pattern}")


def _blank_urls(text: str) -> str:
    """``text`` with each link target and bare URL blanked out (as long, in spaces)."""
    return _URL.sub(_blank_url, text)


def _blank_url(m: re.Match[str]) -> str:
    if m.group(1) is None and m.group().startswith("]("):  # never closed: no link target
        return _BARE_URL.sub(_blank, m.group())  # (a URL in it ends where the match does)
    return " " * len(m.group())


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())


def fields(title: str, text: str) -> dict[str, str]:
    """Split a story into the three fields that rules and evidence refer to.

    ``lede`` is a prefix of ``text``: its first lines up to and including the line where the
    prose (lines of 60+ characters that are not markdown images or links) reaches 300
    characters, and never more than 1,200 characters (then cut at the first sentence end after
    300 characters, or at a space). ``body`` is the rest of ``text``, so
    ``lede + body == text``.

    Args:
        title: The story's title.
        text: The story's extracted body text.

    Returns:
        ``{"title": title, "lede": ..., "body": ...}``.
    """
    end = _lede_end(text)
    return {"title": title, "lede": text[:end], "body": text[end:]}


def _lede_end(text: str) -> int:
    prose = 0
    end = len(text)
    for m in _LINE.finditer(text):
        if not m.group():
            break
        line = m.group().strip()
        if len(line) >= _PROSE_LINE and not line.startswith(("![", "[", "*[")):
            prose += len(line)
        if prose >= LEDE_MIN_CHARS or m.end() > LEDE_MAX_CHARS:
            end = m.end()
            break
    if end <= LEDE_MAX_CHARS:
        return end
    sentence = _SENTENCE_END.search(text, LEDE_MIN_CHARS, LEDE_MAX_CHARS)
    if sentence:
        return sentence.end()
    space = text.rfind(" ", LEDE_MIN_CHARS, LEDE_MAX_CHARS)
    return space + 1 if space > 0 else LEDE_MAX_CHARS


@dataclass(frozen=True)
class Pattern:
    """One string to look for, and what it stands for.

    Attributes:
        text: The pattern as written (without a trailing ``*``).
        kind: ``"entity"`` (a taxonomy alias), ``"term"`` (a word or phrase of a rule) or
            ``"context"`` (a word that makes an ambiguous alias mean the company).
        key: What a hit of this pattern is filed under: ``facet:id`` for entities (an id is
            unique in its section only), the normalised term for rule terms and context words.
        case_sensitive: Whether the case must match exactly.
        prefix: Whether the pattern may be followed by more letters (written ``word*``).
        ambiguous: Whether an entity alias needs context to count (see the tagger).
        weak: Whether an entity alias is only a name (see ``names`` in the taxonomy).
    """

    text: str
    kind: str
    key: str
    case_sensitive: bool = False
    prefix: bool = False
    ambiguous: bool = False
    weak: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a pattern: ``fields(...)[field][start:end]`` is what matched."""

    field: str
    start: int
    end: int
    word: int  # index of the first word of the match in its field
    last_word: int  # index of its last word (NEAR/n counts from the closer end)
    pattern: Pattern


@dataclass
class Matcher:
    """An Aho-Corasick automaton over lower-cased patterns, built once and reused.

    The automaton is not picklable in every version of pyahocorasick, so ``__getstate__``
    keeps only the patterns and ``__setstate__`` rebuilds it.
    """

    patterns: tuple[Pattern, ...]
    _automaton: ahocorasick.Automaton = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._automaton = _build(self.patterns)

    def __getstate__(self) -> dict[str, object]:
        return {"patterns": self.patterns}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.patterns = state["patterns"]  # type: ignore[assignment]
        self._automaton = _build(self.patterns)

    def find(self, field_name: str, text: str) -> list[Hit]:
        """All hits of all patterns in one field, in order of start offset.

        Args:
            field_name: ``"title"``, ``"lede"`` or ``"body"``; copied into each hit.
            text: The field's text.

        Returns:
            The hits, each with exact offsets into ``text`` and its word index.
        """
        if not text or not self.patterns:
            return []
        # the text as patterns are compared with it; its offsets map back to the text's
        squeezed, marks, removed = _squeeze(_fold(text))
        keyed, wide = _two_units(_blank_urls(_lower_same_length(squeezed)))
        word_starts: list[int] | None = None
        hits: list[Hit] = []
        n = len(squeezed)
        for end_index, candidates in self._automaton.iter(keyed):
            end = end_index + 1
            if wide:  # each character written in two before the end: one unit too many
                end -= bisect_left(wide, end)
            for pat, length, extra_words, exact in candidates:
                start = end - length
                if not _boundaries_ok(squeezed, start, end, n, pat):
                    continue
                if exact is not None and squeezed[start:end] != exact:
                    continue
                stop = end
                if pat.prefix:  # report the whole word: "sanction*" -> "sanctions"
                    while stop < n and _is_word_char(squeezed[stop]):
                        stop += 1
                if word_starts is None:
                    word_starts = [m.start() for m in _WORD.finditer(squeezed)]
                word = max(0, bisect_right(word_starts, start) - 1)
                # one-word patterns (most) share the word's int: a page can hold 10^6 hits
                last = word + extra_words if extra_words else word
                if marks:
                    start, stop = (
                        _unsqueeze(start, marks, removed),
                        _unsqueeze(stop, marks, removed),
                    )
                hits.append(Hit(field_name, start, stop, word, last, pat))
        hits.sort(key=_END, reverse=True)  # two stable sorts: by start, longest first
        hits.sort(key=_START)
        return hits


def _build(patterns: Iterable[Pattern]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    # compared form -> (pattern, its length, its words after the first, the case-sensitive
    # pattern's text with apostrophes and spaces folded or None)
    table: dict[str, list[tuple[Pattern, int, int, str | None]]] = {}
    for pat in dict.fromkeys(patterns):  # the same pattern twice would give the same hit twice
        folded = _PATTERN_SPACE.sub(" ", _fold(pat.text))
        lowered = _lower_same_length(folded)
        extra_words = max(0, len(_WORD.findall(folded)) - 1)
        exact = folded if pat.case_sensitive else None
        table.setdefault(lowered, []).append((pat, len(lowered), extra_words, exact))
    for key, value in table.items():
        automaton.add_word(_two_units(key)[0], value)
    if table:
        automaton.make_automaton()
    return automaton


# The automaton's keys and the text it reads have each character from U+2E80 on (CJK, kana,
# Hangul, private use, emoji: the scripts of thousands of characters) written as two
# (``_two_units``): its code point's high bits, then its low 8 bits, in two private-use ranges
# that do not overlap (so a match starts and ends on a whole character). pyahocorasick finds
# a node's child by a pass over its children, and the root has one for each first character
# of the patterns: a taxonomy of 5,000 names in Chinese gave the root thousands, passed over
# at almost every character of every story (a space has no child), and tagging a story took
# 3.4 times as long as with the bundled taxonomy. Written in two, they add at most some 130
# first units (CJK's blocks are 82) and 256 children to a node. Characters before U+2E80 (the
# alphabets, and punctuation such as the quotes and dashes of most texts) stay one each.
_WIDE = re.compile("[\u2e80-\U0010ffff]")
_HIGH_UNITS, _LOW_UNITS = 0xE000, 0xF100  # U+E000..U+F0FF, U+F100..U+F1FF


def _two_units(text: str) -> tuple[str, list[int]]:
    """``text`` with each character from U+2E80 on written in two units, and where each of
    those characters' first unit is in the result (sorted: a match ending at ``end`` there
    ends at ``end - bisect_left(wide, end)`` in ``text``)."""
    if text.isascii() or not _WIDE.search(text):
        return text, []
    wide = [m.start() + k for k, m in enumerate(_WIDE.finditer(text))]
    return _WIDE.sub(_units_of, text), wide


def _units_of(m: re.Match[str]) -> str:
    code = ord(m.group())
    return chr(_HIGH_UNITS + (code >> 8)) + chr(_LOW_UNITS + (code & 0xFF))


def normalise(text: str) -> str:
    """``text`` as the matcher compares it with patterns: lower case, one character for one,
    every apostrophe (’ ‘ ʼ ＇ ...) written "'", and each run of whitespace without a blank
    line in it written as one space.

    Two strings match (apart from word boundaries) when their ``normalise`` is the same, so
    a snippet need not equal its term up to ``str.lower`` ("İNSTAGRAM" is "Instagram",
    "People’s Daily" is "People's Daily", "Chinese\ngovernment" is "Chinese government").

    Args:
        text: A pattern or a story's text.

    Returns:
        The compared form: as long as ``text`` where it has no run of whitespace.
    """
    return _lower_same_length(_squeeze(_fold(text))[0])


def _fold(text: str) -> str:
    """``text`` with every apostrophe "'" and every whitespace character but "\\n" a space."""
    return _TO_FOLD.sub(_folded, text)


def _folded(m: re.Match[str]) -> str:
    return _FOLDED[m.group()]


def _squeeze(folded: str) -> tuple[str, list[int], list[int]]:
    """``folded`` (whitespace already spaces and line breaks) with each run of whitespace
    holding at most one line break as one space and each other line break as a space; and
    where the shortened runs are: ``marks[k]`` is the offset in the result just after the k-th
    one's space, ``removed[k]`` how many characters it and those before it lost (see
    :func:`_unsqueeze`)."""
    if "  " not in folded and " \n" not in folded and "\n " not in folded:
        return folded.replace("\n", " "), [], []  # most fields: only "\n" and "\n\n"
    pieces: list[str] = []
    marks: list[int] = []
    removed: list[int] = []
    last = total = 0
    for m in _RUN.finditer(folded):
        start, end = m.span()
        if folded.count("\n", start, end) > 1:
            continue  # a blank line: as long as it is
        pieces += (folded[last:start], " ")
        last = end
        total += end - start - 1
        marks.append(end - total)
        removed.append(total)
    pieces.append(folded[last:])
    return "".join(pieces).replace("\n", " "), marks, removed


def _unsqueeze(offset: int, marks: list[int], removed: list[int]) -> int:
    """The text's offset of an offset into its squeezed form (a match starts and ends on a
    character that is not a space, or at a run's space, which stands for the run's start)."""
    k = bisect_right(marks, offset)
    return offset + removed[k - 1] if k else offset


def _lower_same_length(text: str) -> str:
    """``text.lower()``, one character for one: the Turkish dotted capital 'İ', whose lower
    case is two characters ("i" and a combining dot), becomes 'i' ("İNSTAGRAM" is
    "instagram"), and any other character whose lower case is longer stays as it is."""
    if "İ" in text:
        text = text.replace("İ", "i")
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _is_word_char(c: str) -> bool:
    return c.isalnum() and not _CJK_CHAR.match(c)


def _boundaries_ok(text: str, start: int, end: int, n: int, pat: Pattern) -> bool:
    first, last = text[start], text[end - 1]
    if start > 0 and _is_word_char(first) and _is_word_char(text[start - 1]):
        return False
    if end - start == 1 and _hyphenated(text, start, end, n):
        return False
    return pat.prefix or end >= n or not _is_word_char(last) or not _is_word_char(text[end])


def _hyphenated(text: str, start: int, end: int, n: int) -> bool:
    """Whether a one-character match is hyphened to a word: "X-Mode", "X-ray", "Pre-X" are
    other names, not the letter's (a letter alone is too short to be a name there)."""
    after = end + 1 < n and text[end] == "-" and _is_word_char(text[end + 1])
    before = start >= 2 and text[start - 1] == "-" and _is_word_char(text[start - 2])
    return after or before


def words(text: str) -> list[str]:
    """The words of ``text`` as ``NEAR/n`` counts them (each CJK character is one word).

    Args:
        text: Any text.

    Returns:
        The words, in order.
    """
    return _WORD.findall(text)
