"""The rule language: parse a rule into a tree once (evaluated against a story's hits in
:mod:`transforms.tagger.evaluation`).

Consumes a rule string from the taxonomy YAML and produces a :class:`Node` tree; evaluating
the tree against an :class:`~transforms.tagger.evaluation.Index` of a story's hits gives
whether the rule fired and the hits that made it fire (its evidence).

Grammar (operators in capitals; ``AND`` binds tighter than ``OR``, ``NEAR/n`` tighter
than ``AND``, and ``NOT`` and field scopes tighter still)::

    rule    := or
    or      := and ("OR" and)*
    and     := near ("AND" near)*
    near    := unary ("NEAR/" n ["f"] unary)*  # within n words of each other, same field,
                                              # not the same place; NEAR/nf: and the left
                                              # one comes first
    unary   := "NOT" unary | scope ":" unary | "(" or ")" | operand
    scope   := "title" | "lede" | "body" | "head"   # head = title or lede
    operand := '"a quoted phrase"' | word | word* | "{" facet [":" value] "}"

``word*`` matches words starting with ``word``. ``{platform}`` stands for every mention of a
platform the story is about (a salient one: see the tagger), ``{platform:tiktok}`` for every
mention of TikTok, ``{platform:*}`` for every mention of any platform, salient or not;
likewise ``{state_actor}`` and ``{controversy}``. ``a NEAR/3f b`` (forward) is ``a NEAR/3 b``
with ``a`` before ``b``: ``blocks NEAR/2f {platform:*}`` finds "blocks Telegram" but not
"Telegram blocks". Words and phrases match case-insensitively on word boundaries, a
phrase's space any whitespace between its words (not a blank line) and an apostrophe any
apostrophe (see :func:`transforms.tagger.matcher.normalise`). ``NEAR/n`` needs positions on
both sides, so its operands cannot be ``NOT`` expressions. Terms are plain text: a word or
phrase with ``|``, ``\\``, ``[``, ``]`` or ``?`` (a regex) is refused, as the taxonomy's
aliases are; a quoted phrase may hold parentheses (``"Section 230(c)"``), which the matcher
skips as it does other punctuation. Rules are evaluated by recursion, so a rule nests at most 50
parentheses, NOTs and scopes, chains at most 100 operands by NEAR, and is at most 200 nodes
deep.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from transforms.tagger.matcher import FIELDS
from transforms.userfiles import closest

SCOPES: dict[str, frozenset[str]] = {
    "title": frozenset({"title"}),
    "lede": frozenset({"lede"}),
    "body": frozenset({"body"}),
    "head": frozenset({"title", "lede"}),
}
ALL_FIELDS = frozenset(FIELDS)
MAX_NESTING, MAX_CHAIN, MAX_DEPTH = 50, 100, 200  # see the module's docstring
# Terms, like the taxonomy's aliases, are plain text: these make one written as a pattern
# (a regex's '|', '[...]', '?', '\'), which the matcher would look for as written.
PATTERN_CHARS = re.compile(r"[|\\\[\]?()]")
# In a rule, a quoted phrase may hold parentheses ("Digital Markets Act (DMA)", "Section
# 230(c)"): the matcher reads words and skips them, so such a phrase matches as it reads.
_TERM_PATTERN_CHARS = re.compile(r"[|\\\[\]?]")


class RuleSyntaxError(ValueError):
    """A rule that does not parse; ``position`` is the 0-based character offset in the rule."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Term:
    text: str  # lower case, without the trailing "*"
    prefix: bool = False

    @property
    def key(self) -> str:
        return self.text + ("*" if self.prefix else "")


@dataclass(frozen=True)
class Ref:
    facet: str
    value: str | None
    position: int


@dataclass(frozen=True)
class Scope:
    fields: frozenset[str]
    child: Node


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int
    ordered: bool = False  # NEAR/nf: a left hit must come before the right one


Node = Term | Ref | Scope | Not | And | Or | Near

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<phrase>"[^"]*")
      | (?P<ref>\{[^{}]*\})
      | (?P<near>NEAR/(?P<n>\d+)(?P<f>f)?(?![^\s()"{}]))
      | (?P<op>(?:AND|OR|NOT)(?![^\s()"{}]))
      | (?P<scope>(?:title|lede|body|head):)
      | (?P<word>[^\s()"{}:]+)
    """,
    re.VERBOSE,
)
_REF_BODY = re.compile(r"\s*([a-z_]+)\s*(?::\s*([a-z0-9_]+|\*)\s*)?")
# An operator not written in capitals is a word: "a and b", "a near/3 b" are words in a row.
_OPERATOR_WORD = re.compile(r"(and|or|not)|near(?:/(\d+)(f?))?", re.IGNORECASE)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(rule: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(rule):
        m = _TOKEN.match(rule, pos)
        if m is None:
            what = "unterminated quote" if rule[pos] == '"' else f"unexpected {rule[pos]!r}"
            if rule[pos] == "{":
                what = "unterminated '{'"
            raise RuleSyntaxError(what, pos)
        kind = m.lastgroup or ""
        if kind in ("n", "f"):
            kind = "near"
        if kind == "word" and (m.group() == "NEAR" or m.group().startswith("NEAR/")):
            raise RuleSyntaxError("NEAR needs a distance, e.g. NEAR/10 or NEAR/10f", pos)
        if kind != "space":
            out.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    return out


def parse(rule: str) -> Node:
    """Parse one rule.

    Args:
        rule: The rule text, e.g. ``'title:(ban* OR "forced sale") AND {platform}'``.

    Returns:
        The rule's tree.

    Raises:
        RuleSyntaxError: The rule does not parse; the error carries the character position.
    """
    parser = _Parser(_tokens(rule), len(rule))
    node = parser.parse_or()
    if parser.i < len(parser.toks):
        tok = parser.toks[parser.i]
        if tok.kind == "rparen":
            raise RuleSyntaxError("unmatched ')'", tok.pos)
        raise _not_in_capitals(parser.toks, parser.i) or RuleSyntaxError(
            f"unexpected {tok.text!r} (missing AND/OR?)", tok.pos
        )
    if _depth(node) > MAX_DEPTH:
        raise RuleSyntaxError(f"rule nested more than {MAX_DEPTH} levels deep", 0)
    return node


def _depth(node: Node) -> int:  # without recursion: a tree too deep is what is checked
    deepest, stack = 0, [(node, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Scope | Not):
            stack.append((node.child, depth + 1))
        elif isinstance(node, And | Or):
            stack.extend((child, depth + 1) for child in node.children)
        elif isinstance(node, Near):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
    return deepest


class _Parser:
    def __init__(self, toks: list[_Tok], length: int) -> None:
        self.toks = toks
        self.i = 0
        self.length = length
        self.scope = ALL_FIELDS  # the fields the scopes around the current token allow
        self.nesting = 0  # parentheses, NOT and scopes around the current token

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _is_op(self, word: str) -> bool:
        tok = self._peek()
        return tok is not None and tok.kind == "op" and tok.text == word

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self._is_op("OR"):
            self.i += 1
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while self._is_op("AND"):
            self.i += 1
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> Node:
        left = self.parse_unary()
        operands = 1
        while (tok := self._peek()) is not None and tok.kind == "near":
            self.i += 1
            operands += 1
            if operands > MAX_CHAIN:
                raise RuleSyntaxError(f"more than {MAX_CHAIN} operands chained by NEAR", tok.pos)
            right = self.parse_unary()
            if isinstance(left, Not) or isinstance(right, Not):
                raise RuleSyntaxError("NEAR cannot take a NOT operand", tok.pos)
            spec = tok.text.split("/")[1]
            left = Near(left, right, int(spec.rstrip("f")), spec.endswith("f"))
        return left

    def parse_unary(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise RuleSyntaxError("unexpected end of rule", self.length)
        self.i += 1
        if tok.kind in ("op", "scope", "lparen"):
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise RuleSyntaxError(f"nested more than {MAX_NESTING} levels deep", tok.pos)
            try:
                return self._nested(tok)
            finally:
                self.nesting -= 1
        if tok.kind == "phrase":
            return _term(tok.text[1:-1], tok.pos)
        if tok.kind == "word":
            return _term(tok.text, tok.pos)
        if tok.kind == "ref":
            m = _REF_BODY.fullmatch(tok.text[1:-1])
            if m is None:
                raise RuleSyntaxError(
                    f"bad reference {tok.text!r}: write a facet, and ':' with a value or '*' if"
                    " you like, in lower case: {platform}, {state_actor:china}, {controversy:*}",
                    tok.pos,
                )
            return Ref(m.group(1), m.group(2), tok.pos)
        raise RuleSyntaxError(f"unexpected {tok.text!r}", tok.pos)

    def _nested(self, tok: _Tok) -> Node:  # what follows NOT, a scope or "("
        if tok.kind == "op" and tok.text == "NOT":
            return Not(self.parse_unary())
        if tok.kind == "scope":
            outer, fields = self.scope, SCOPES[tok.text[:-1]]
            if not outer & fields:
                raise RuleSyntaxError(f"{tok.text!r} inside a scope without that field", tok.pos)
            self.scope = outer & fields
            try:
                return Scope(fields, self.parse_unary())
            finally:
                self.scope = outer
        if tok.kind == "lparen":
            node = self.parse_or()
            close = self._peek()
            if close is None or close.kind != "rparen":
                where = close.pos if close else self.length
                lower_case = _not_in_capitals(self.toks, self.i) if close else None
                raise lower_case or RuleSyntaxError(
                    f"missing ')' (to close the '(' at {tok.pos})", where
                )
            self.i += 1
            return node
        raise RuleSyntaxError(f"unexpected {tok.text!r}", tok.pos)


def _not_in_capitals(toks: list[_Tok], i: int) -> RuleSyntaxError | None:
    """The error for an operator not in capitals, or misspelt (``_misspelt``), at ``toks[i]``,
    the token that does not fit, or just before it ("not a": the word "not", then "a"), or
    None."""
    for tok in (toks[i], toks[i - 1]) if i else (toks[i],):
        m = _OPERATOR_WORD.fullmatch(tok.text) if tok.kind == "word" else None
        if m is None and tok.kind == "word" and (hint := _misspelt(tok.text)):
            return RuleSyntaxError(f"unexpected {tok.text!r}{hint}", tok.pos)
        if m is not None:
            if m.group(1):
                meant = f"write {m.group(1).upper()!r}"
            elif m.group(2):
                meant = f"write 'NEAR/{m.group(2)}{m.group(3).lower()}'"
            else:
                meant = "write NEAR with a distance, e.g. 'NEAR/10'"
            return RuleSyntaxError(
                f"unexpected {tok.text!r}: operators are written in capitals (AND, OR, NOT,"
                f" NEAR/n): {meant}",
                tok.pos,
            )
    return None


# A word written like NEAR/n with another word before the '/' ("NEER/20").
_NEAR_LIKE = re.compile(r"([a-z]+)/(\d+)(f?)", re.IGNORECASE)


def _misspelt(word: str) -> str:
    """`` (did you mean 'NEAR/20'?)`` for a word close to an operator: ``NEER/20`` (any
    capitals), or a word in capitals close to AND, OR or NOT (``ANDD``); else nothing. A word
    in a rule that does not fit is an error anyway: the hint only says what it meant."""
    near = _NEAR_LIKE.fullmatch(word)
    if near is not None:
        meant = f"NEAR/{near.group(2)}{near.group(3).lower()}"
        return f" (did you mean {meant!r}?)" if closest(near.group(1).upper(), ["NEAR"]) else ""
    return closest(word, ("AND", "OR", "NOT")) if word.isalpha() and word.isupper() else ""


def _term(text: str, pos: int) -> Term:
    prefix = text.endswith("*")
    core = text.rstrip("*").strip()
    if not core and "*" not in text:
        raise RuleSyntaxError(f"bad term {text!r}: a phrase needs a word", pos)
    if not core or "*" in core:
        raise RuleSyntaxError(f"bad term {text!r} ('*' only at the end of a word)", pos)
    bad = _TERM_PATTERN_CHARS.search(core)
    if bad:  # matched as written, never as a pattern: such a rule would never fire
        raise RuleSyntaxError(
            f"bad term {text!r}: {bad.group()!r} is not part of the rule language, whose terms"
            " are plain words and phrases (write 'fine OR fined', not 'fine|fined')",
            pos,
        )
    return Term(" ".join(core.lower().split()), prefix)


def needs_evidence(node: Node) -> bool:
    """Whether the rule can only fire on words of the story (and so always has evidence).

    ``NOT x`` fires on what is absent; ``a OR NOT b`` can fire on nothing found. A rule of
    the taxonomy must not: its tag would have no evidence to show.
    """
    if isinstance(node, Not):
        return False
    if isinstance(node, Scope):
        return needs_evidence(node.child)
    if isinstance(node, And):
        return any(needs_evidence(child) for child in node.children)
    if isinstance(node, Or):
        return all(needs_evidence(child) for child in node.children)
    return True  # a term, a reference, NEAR (both sides are found words)


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, depth first (used to collect terms and references)."""
    yield node
    if isinstance(node, Scope | Not):
        yield from walk(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Near):
        yield from walk(node.left)
        yield from walk(node.right)
