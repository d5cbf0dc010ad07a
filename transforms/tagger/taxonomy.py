"""Load, merge and validate the tagger's taxonomy YAML.

Consumes the bundled ``transforms/data/taxonomy.yaml`` and, optionally, a user's file; produces
a validated :class:`Taxonomy` (entities per facet, compiled rules, settings). Any problem
raises :class:`TaxonomyError` naming the file and the entry (and, for a rule that does not
parse, the rule and the character position).

A user file is merged over the bundled one, section by section:

* an entity with a new id is added; an entity with an existing id gets the user's
  ``aliases``/``exact``/``ambiguous``/``context`` appended and its other keys replaced, unless
  it says ``replace: true`` (then it replaces the bundled entity) or ``enabled: false`` (then
  the bundled entity is removed);
* a rule with a new name is added; one with an existing name replaces the bundled rule
  (``enabled: false`` switches it off);
* ``settings`` keys replace the bundled ones;
* ``include_bundled: false`` at the top of the user file ignores the bundled taxonomy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from transforms.tagger.rules import Node, Ref, RuleSyntaxError, needs_evidence, parse, walk
from transforms.userfiles import read_bytes

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "taxonomy.yaml"

# YAML section name -> facet name used in tags and rules.
SECTIONS = {"platforms": "platform", "state_actors": "state_actor", "controversies": "controversy"}
_LIST_KEYS = ("aliases", "names", "exact", "ambiguous", "context")
_ENTITY_KEYS = frozenset({*_LIST_KEYS, "name", "value", "window", "replace", "enabled"})
_RULE_KEYS = frozenset({"name", "match", "weight", "enabled", "description", "adds"})
_SETTINGS = {
    "threshold": 0.5,  # score at and above which a story is relevant
    "salience": 2.0,  # a value is salient (reported) when its mention weight reaches this
    "title_weight": 2.0,  # mention weights by field
    "lede_weight": 2.0,
    "body_weight": 1.0,
    "max_evidence": 3,  # evidence items kept per tag
    "window": 12,  # default context window of ambiguous aliases, in words
    "relative": 0.0,  # and at least this fraction of the facet's most salient value's weight
    "controversy_salience": 2.0,  # the salience floor for controversy types
    "controversy_relative": 0.0,  # the relative rule for controversy types
    "strong": 1000.0,  # a value whose mentions weigh this much is salient whatever the top
    # a controversy term counts only within this many words of a platform or state actor
    # mention in the same field (0: anywhere)
    "controversy_window": 0.0,
    # 1: the catch-all controversy value "other" is reported only when no listed type is
    "controversy_other_alone": 1.0,
}
_TOP_KEYS = frozenset({*SECTIONS, "rules", "settings", "include_bundled", "version"})
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_SOURCE = "__source__"  # key added to each entity and rule: the file it came from


class TaxonomyError(ValueError):
    """The taxonomy file is missing, not YAML, or has an invalid entry."""


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
    sources = [str(BUNDLED)]
    doc = _read(BUNDLED)
    if path is not None:
        user = _read(path)
        if user.get("include_bundled", True) is False:
            doc, sources = {}, []
        doc = _merge(doc, user, str(path))
        sources.append(str(path))
    return _validate(doc, " + ".join(sources), tuple(sources))


def _read(path: str | Path) -> dict[str, Any]:
    try:
        text = read_bytes(path).decode("utf-8")
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read taxonomy: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 text: {exc.reason}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TaxonomyError(f"{path}:{where}: not valid YAML: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise TaxonomyError(f"{path}: the taxonomy must be a mapping at the top level")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise TaxonomyError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    # Remember which file each entity and rule came from, for error messages.
    for section in SECTIONS:
        if isinstance(doc.get(section), dict):
            doc[section] = {
                k: {**v, _SOURCE: str(path)} if isinstance(v, dict) else v
                for k, v in doc[section].items()
            }
    if isinstance(doc.get("rules"), list):
        doc["rules"] = [
            {**r, _SOURCE: str(path)} if isinstance(r, dict) else r for r in doc["rules"]
        ]
    return doc


def _merge(base: dict[str, Any], user: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in base.items()}
    for section in SECTIONS:
        if section not in user:
            continue
        merged = dict(_mapping(base.get(section), f"{where}: {section}"))
        for ent_id, spec in _mapping(user[section], f"{where}: {section}").items():
            old = merged.get(ent_id)
            if not isinstance(spec, dict) or old is None or spec.get("replace"):
                merged[ent_id] = spec
                continue
            if spec.get("enabled", True) is False:
                del merged[ent_id]
                continue
            new = dict(old)
            for key, val in spec.items():  # including _SOURCE: errors then name the user file
                if key in _LIST_KEYS and isinstance(val, list):
                    new[key] = list(old.get(key) or []) + val
                else:
                    new[key] = val
            merged[ent_id] = new
        out[section] = merged
    if "rules" in user:
        # A user rule replaces the bundled rule of the same name (names compared stripped, as
        # _rule reads them); two rules of one name in the user file are an error, not the last.
        rules = {_rule_name(r): r for r in base.get("rules") or [] if isinstance(r, dict)}
        if not isinstance(user["rules"], list):
            raise TaxonomyError(f"{where}: rules must be a list")
        own: set[Any] = set()
        for rule in user["rules"]:
            if not isinstance(rule, dict):
                raise TaxonomyError(f"{where}: rules: each rule must be a mapping")
            name = _rule_name(rule)
            if name in own and isinstance(name, str) and name:
                raise TaxonomyError(f"{where}: rules: duplicate rule name {name!r}")
            own.add(name)
            rules[name] = rule
        out["rules"] = list(rules.values())
    if "settings" in user:
        out["settings"] = {
            **_mapping(base.get("settings"), where),
            **_mapping(user["settings"], f"{where}: settings"),
        }
    return out


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TaxonomyError(f"{where}: must be a mapping")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TaxonomyError(f"{where}: must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _validate(doc: dict[str, Any], where: str, sources: tuple[str, ...]) -> Taxonomy:
    settings = dict(_SETTINGS)
    for key, val in _mapping(doc.get("settings"), f"{where}: settings").items():
        if key not in _SETTINGS:
            raise TaxonomyError(f"{where}: settings.{key}: unknown setting")
        if not isinstance(val, int | float) or isinstance(val, bool) or val < 0:
            raise TaxonomyError(f"{where}: settings.{key}: must be a number >= 0")
        settings[key] = float(val)
    if settings["threshold"] > 1:
        raise TaxonomyError(f"{where}: settings.threshold: must be in [0, 1]")
    entities = []
    for section, facet in SECTIONS.items():
        for ent_id, spec in _mapping(doc.get(section), f"{where}: {section}").items():
            if isinstance(spec, dict) and spec.get("enabled", True) is False:
                continue  # switched off by a user file
            entities.append(_entity(section, facet, ent_id, spec, where, int(settings["window"])))
    known = {facet: {e.value for e in entities if e.facet == facet} for facet in SECTIONS.values()}
    rules = []
    seen: set[str] = set()
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise TaxonomyError(f"{where}: rules must be a list")
    for i, spec in enumerate(raw_rules):
        rule = _rule(spec, i, where, known)
        if rule is not None:
            if rule.name in seen:
                raise TaxonomyError(f"{where}: rules: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
            rules.append(rule)
    return Taxonomy(tuple(entities), tuple(rules), settings, sources)


def _rule_name(rule: dict[str, Any]) -> Any:
    """A rule's name as merging compares it: stripped when it is text (else as written, for
    ``_rule`` to refuse)."""
    name = rule.get("name")
    return name.strip() if isinstance(name, str) else name


def _entity(section: str, facet: str, ent_id: Any, spec: Any, where: str, window: int) -> Entity:
    if isinstance(spec, dict):
        spec = dict(spec)
        where = spec.pop(_SOURCE, where)
    here = f"{where}: {section}.{ent_id}"
    if not isinstance(ent_id, str) or not _ID.match(ent_id):
        raise TaxonomyError(f"{here}: ids are lowercase letters, digits and '_'")
    spec = _mapping(spec, here)
    unknown = set(spec) - _ENTITY_KEYS
    if unknown:
        raise TaxonomyError(f"{here}: unknown key(s) {sorted(unknown)}")
    value = spec.get("value", ent_id)
    if not isinstance(value, str) or not _ID.match(value):
        raise TaxonomyError(f"{here}.value: must be a lowercase id")
    lists = {key: _strings(spec.get(key), f"{here}.{key}") for key in _LIST_KEYS}
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


def _rule(spec: Any, i: int, where: str, known: dict[str, set[str]]) -> Rule | None:
    if isinstance(spec, dict):
        spec = dict(spec)
        where = spec.pop(_SOURCE, where)
    here = f"{where}: rules[{i}]"
    spec = _mapping(spec, here)
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TaxonomyError(f"{here}: every rule needs a 'name'")
    here = f"{where}: rule {name!r}"
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise TaxonomyError(f"{here}: unknown key(s) {sorted(unknown)}")
    if spec.get("enabled", True) is False:
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
    for sub in walk(node):
        if isinstance(sub, Ref):
            if sub.facet not in known:
                raise TaxonomyError(
                    f"{here}: unknown facet {sub.facet!r} at position {sub.position}"
                    f" (use {', '.join(sorted(known))})"
                )
            if sub.value not in (None, "*") and sub.value not in known[sub.facet]:
                raise TaxonomyError(
                    f"{here}: unknown {sub.facet} {sub.value!r} at position {sub.position}"
                )
    adds = []
    for item in _strings(spec.get("adds"), f"{here}: adds"):
        facet, _, value = item.partition(":")
        if facet not in known or value not in known[facet]:
            raise TaxonomyError(f"{here}: adds: {item!r} is not a known facet:value")
        adds.append((facet, value))
    return Rule(name.strip(), text, node, float(weight), tuple(adds))
