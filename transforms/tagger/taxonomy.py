"""Load, merge and validate the tagger's taxonomy YAML.

Consumes the bundled ``transforms/data/taxonomy.yaml`` and, optionally, a user's file; produces
a validated :class:`Taxonomy` (entities per facet, compiled rules, settings). Any problem
raises :class:`TaxonomyError` naming the file and the entry (and, for a rule that does not
parse, the rule and the character position).

A user file is merged over the bundled one, section by section:

* an entity with a new id is added; an entity with an existing id gets the user's
  ``aliases``/``names``/``exact``/``ambiguous``/``context`` appended and its other keys
  replaced, unless it says ``replace: true`` (then it replaces the bundled entity) or
  ``enabled: false`` (then the bundled entity is removed); either naming an id that does not
  exist is an error;
* a rule with an existing name replaces the bundled rule in its place (``enabled: false``
  switches it off; naming a rule that does not exist is an error); a new rule with ``adds``
  runs before the first bundled rule without ``adds`` (so the scoring rules see the values
  it adds), a new rule without ``adds`` after every bundled rule, each in the file's order;
* ``settings`` keys replace the bundled ones (their defaults and checks are in
  :mod:`transforms.tagger.taxonomy_settings`);
* ``include_bundled: false`` at the top of the user file ignores the bundled entities and
  rules (the user's rules run in the file's order); the bundled ``settings`` still apply
  where the user file does not set them.

Both files are read with :func:`transforms.userfiles.load_yaml`, which refuses a key written
twice in a mapping. ``replace``, ``enabled`` and ``include_bundled`` take ``true`` or
``false`` only.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transforms.tagger.rules import (
    PATTERN_CHARS,
    Node,
    Ref,
    RuleSyntaxError,
    needs_evidence,
    parse,
    walk,
)
from transforms.tagger.taxonomy_file import (
    BUNDLED,
    INDEX,
    LINE,
    LIST_KEYS,
    SECTIONS,
    SOURCE,
    TaxonomyError,
    flag,
    located,
    mapping,
    merge,
    read_file,
    unknown_keys,
)
from transforms.tagger.taxonomy_settings import SETTINGS, file_settings
from transforms.userfiles import closest

_ENTITY_KEYS = frozenset({*LIST_KEYS, "name", "value", "window", "replace", "enabled"})
_RULE_KEYS = frozenset({"name", "match", "weight", "enabled", "description", "adds"})
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
# A '*' not after a letter or digit, or not at the very end: the matcher reads a trailing '*'
# as "any ending" and any other as a literal star, which no text has ('Саудовск* Арави*').
_BAD_STAR = re.compile(r"(?<![^\W_])\*|\*(?!\Z)")


@dataclass(frozen=True)
class Entity:
    """One platform, state actor or controversy type, and the strings that name it.

    ``aliases`` match case-insensitively, ``exact`` case-sensitively, and ``ambiguous``
    (case-sensitively) only within ``window`` words of a ``context`` word or when the entity
    is also named by an unambiguous alias in the same story (in a title, also when the text
    names it in context, or names it again with a context word in its lede). ``names``
    match like aliases but are weak: a value named only by them is reported only in a story
    with a controversy (a country's name alone does not make its government part of the story).
    """

    id: str
    facet: str
    value: str
    name: str
    aliases: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    window: int = 12


@dataclass(frozen=True)
class Rule:
    """A named rule; when it fires it adds ``weight`` (negative: vetoes) to the score.

    ``adds`` are ``(facet, value)`` pairs the rule reports when it fires (with its hits as
    evidence); rules run in order, so later rules see the values earlier ones added.
    """

    name: str
    text: str
    node: Node
    weight: float = 1.0
    adds: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy, ready to compile into a matcher."""

    entities: tuple[Entity, ...]
    rules: tuple[Rule, ...]
    settings: dict[str, float]
    sources: tuple[str, ...]

    def values(self, facet: str) -> frozenset[str]:
        """The facet values (ids) that entities of ``facet`` report."""
        return frozenset(e.value for e in self.entities if e.facet == facet)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load the bundled taxonomy, merged with a user file when one is given.

    Args:
        path: A user taxonomy YAML file (a local path or ``gs://...``: see
            ``transforms.userfiles``), or None for the bundled one alone.

    Returns:
        The validated taxonomy.

    Raises:
        TaxonomyError: A file is missing or invalid; the message names the file and entry.
    """
    bundled = read_file(BUNDLED)
    settings = {**SETTINGS, **file_settings(bundled, str(BUNDLED))}
    if path is None:
        return _validate(bundled, settings, (str(BUNDLED),), None)
    user = read_file(path)
    where = str(path)
    settings.update(file_settings(user, where))
    sources: tuple[str, ...]
    if flag(user, "include_bundled", where, True):
        doc, sources = merge(bundled, user, where), (str(BUNDLED), where)
    else:  # the bundled settings stay: they are how scores are weighed, not what is found
        doc, sources = merge({}, user, where), (where,)
    return _validate(doc, settings, sources, where)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TaxonomyError(f"{where}: must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _validate(
    doc: dict[str, Any], settings: dict[str, float], sources: tuple[str, ...], user: str | None
) -> Taxonomy:
    where = " + ".join(sources)
    entities = []
    listed: dict[tuple[str, str], list[_Listed]] = {}  # (facet, folded name) -> listings
    for section, facet in SECTIONS.items():
        for ent_id, spec in mapping(doc.get(section), f"{where}: {section}").items():
            entity = _entity(section, facet, ent_id, spec, where, int(settings["window"]))
            if entity is not None:
                source = spec.get(SOURCE, where) if isinstance(spec, dict) else where
                _list_once(entity, section, (source, located(spec, where)), listed)
                entities.append(entity)
    known = {facet: {e.value for e in entities if e.facet == facet} for facet in SECTIONS.values()}
    rules = []
    seen: set[str] = set()
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise TaxonomyError(f"{where}: rules must be a list")
    for i, spec in enumerate(raw_rules):
        rule = _rule(spec, i, where, known, user)
        if rule is not None:
            if rule.name in seen:
                raise TaxonomyError(
                    f"{located(spec, where)}: rules: duplicate rule name {rule.name!r}"
                )
            seen.add(rule.name)
            rules.append(rule)
    return Taxonomy(tuple(entities), tuple(rules), settings, sources)


# A name as an entity lists it: the entity, its list ("aliases", ...), the name with its
# spaces made one, and where (its file, and ``located``'s file and line).
_Where = tuple[str, str]
_Listed = tuple[Entity, str, str, _Where]
_CASED = ("exact", "ambiguous")  # matched as written


def _list_once(
    entity: Entity, section: str, source: _Where, listed: dict[tuple[str, str], list[_Listed]]
) -> None:
    """Refuse a name another value of the facet lists too: a mention counts for one value of
    a facet only (the first entity that lists it), so the later one would never count it.
    Two values may share a name they both list as ``ambiguous`` (each counts it near its own
    context words: India's "Congress" beside the United States'), or list it in ``exact`` or
    ``ambiguous`` written in other capitals ("ARM", "Arm"), which no text matches for both."""
    for key in ("aliases", "names", "exact", "ambiguous"):
        for name in getattr(entity, key):
            spaced = " ".join(name.split())
            others = listed.setdefault((entity.facet, spaced.casefold()), [])
            for first, first_key, first_name, first_source in others:
                apart = (key == first_key == "ambiguous") or (
                    key in _CASED and first_key in _CASED and spaced != first_name
                )
                if first.value != entity.value and not apart:
                    blame = source if first_source[0] == str(BUNDLED) else first_source
                    raise TaxonomyError(
                        f"{blame[1]}: {section}.{entity.id}.{key}: {name!r} is also listed by"
                        f" {section}.{first.id}: a mention counts for one {entity.facet} only"
                        " (the first that lists it), so here it would never count: list it once"
                    )
            others.append((entity, key, spaced, source))


def _entity(
    section: str, facet: str, ent_id: Any, spec: Any, where: str, window: int
) -> Entity | None:
    here = f"{located(spec, where)}: {section}.{ent_id}"
    if isinstance(spec, dict):
        spec = {k: v for k, v in spec.items() if k not in (SOURCE, LINE)}
    if not isinstance(ent_id, str) or not _ID.match(ent_id):
        raise TaxonomyError(f"{here}: ids are lowercase letters, digits and '_'")
    spec = mapping(spec, here)
    unknown = set(spec) - _ENTITY_KEYS
    if unknown:
        raise TaxonomyError(f"{here}: unknown {unknown_keys(unknown, _ENTITY_KEYS)}")
    flag(spec, "replace", here, False)
    if not flag(spec, "enabled", here, True):
        return None  # switched off by a user file
    value = spec.get("value", ent_id)
    if not isinstance(value, str) or not _ID.match(value):
        raise TaxonomyError(f"{here}.value: must be a lowercase id")
    lists = {key: _strings(spec.get(key), f"{here}.{key}") for key in LIST_KEYS}
    for key, names in lists.items():
        for name in names:
            problem = _alias_problem(name)
            if problem:
                raise TaxonomyError(f"{here}.{key}: {name!r}: {problem}")
    if not (lists["aliases"] or lists["names"] or lists["exact"] or lists["ambiguous"]):
        raise TaxonomyError(f"{here}: needs at least one of aliases, names, exact, ambiguous")
    if lists["ambiguous"] and not lists["context"]:
        raise TaxonomyError(f"{here}: ambiguous aliases need a 'context' list")
    win = spec.get("window", window)
    if not isinstance(win, int) or isinstance(win, bool) or win < 1:
        raise TaxonomyError(f"{here}.window: must be a positive integer")
    return Entity(
        id=ent_id,
        facet=facet,
        value=value,
        name=str(spec.get("name", ent_id)),
        window=win,
        **lists,
    )


def _meant(facet: str, value: str, known: dict[str, set[str]], prefix: str = "") -> str:
    """The value of ``facet`` meant by ``value``, or how a new value is made: an entity."""
    close = difflib.get_close_matches(value, sorted(known[facet]), n=1)
    if close:
        return f" (did you mean {prefix + close[0]!r}?)"
    section = next(name for name, f in SECTIONS.items() if f == facet)
    return (
        " (rules name values: an entity's value, else its id; a new value is an entity:"
        f" add it under {section}: {{{value}: {{aliases: [...]}}}})"
    )


def _alias_problem(name: str) -> str | None:
    """Why an alias (or a context word) cannot match as written, or None.

    Aliases are plain text matched on word boundaries, with one pattern: a ``*`` ending the
    alias (``sanction*``, ``national security risk*``). What looks like a regex or a wildcard
    elsewhere is never matched.
    """
    bad = PATTERN_CHARS.search(name)
    if bad:
        return (
            f"{bad.group()!r} is not allowed: aliases are plain text, not patterns"
            " (list each name on its own)"
        )
    if _BAD_STAR.search(name):
        return "'*' only at the end of the alias ('sanction*', 'security risk*')"
    if not any(c.isalnum() for c in name):
        return "needs a letter or digit"
    return None


def _rule(
    spec: Any, i: int, where: str, known: dict[str, set[str]], user: str | None
) -> Rule | None:
    source, written = where, located(spec, where)
    if isinstance(spec, dict):
        source, i = spec.get(SOURCE, where), spec.get(INDEX, i)
        spec = {k: v for k, v in spec.items() if k not in (SOURCE, LINE, INDEX)}
    here = f"{written}: rules[{i}]"
    spec = mapping(spec, here)
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TaxonomyError(f"{here}: every rule needs a 'name'")
    here = f"{written}: rule {name!r}"
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise TaxonomyError(f"{here}: unknown {unknown_keys(unknown, _RULE_KEYS)}")
    if not flag(spec, "enabled", here, True):
        return None
    text = spec.get("match")
    if not isinstance(text, str) or not text.strip():
        raise TaxonomyError(f"{here}: needs a non-empty 'match' string")
    weight = spec.get("weight", 1.0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not -1 <= weight <= 1:
        raise TaxonomyError(f"{here}: weight must be a number in [-1, 1]")
    try:
        node = parse(text)
    except RuleSyntaxError as exc:
        raise TaxonomyError(f"{here}: {exc.message} at position {exc.position}") from None
    if not needs_evidence(node):
        raise TaxonomyError(
            f"{here}: can fire on words that are absent alone (NOT ...), which leaves its tag"
            " without evidence: give it something it must find, e.g. 'x AND NOT y'"
        )
    # A bundled rule naming a value the user's file took away: the user's file is to blame.
    gone = user is not None and source == str(BUNDLED) and user != source

    def taken_away(verb: str, item: str) -> TaxonomyError:
        return TaxonomyError(
            f"{user}: the bundled rule {name!r} {verb} {item!r}, which this file switches off"
            f" or renames: switch that rule off too (rules: - {{name: {name}, enabled: false}})"
        )

    for sub in walk(node):
        if isinstance(sub, Ref):
            if sub.facet not in known:
                raise TaxonomyError(
                    f"{here}: unknown facet {sub.facet!r} at position {sub.position}"
                    f" (use {', '.join(sorted(known))})"
                )
            if sub.value not in (None, "*") and sub.value not in known[sub.facet]:
                if gone:
                    raise taken_away("uses", f"{{{sub.facet}:{sub.value}}}")
                raise TaxonomyError(
                    f"{here}: unknown {sub.facet} {sub.value!r} at position {sub.position}"
                    f"{_meant(sub.facet, sub.value, known)}"
                )
    adds = []
    for item in _strings(spec.get("adds"), f"{here}: adds"):
        facet, _, value = item.partition(":")
        if facet not in known or value not in known[facet]:
            if gone and facet in known:
                raise taken_away("adds", item)
            if facet in known:  # the value: compared with the whole pair, the facet's name won
                hint = _meant(facet, value, known, f"{facet}:")
            else:
                values = [f"{f}:{v}" for f in sorted(known) for v in sorted(known[f])]
                hint = closest(item, values)
            raise TaxonomyError(f"{here}: adds: {item!r} is not a known facet:value{hint}")
        adds.append((facet, value))
    return Rule(name.strip(), text, node, float(weight), tuple(adds))
