"""Read a taxonomy YAML file and merge a user's over the bundled one (no validation yet).

:mod:`transforms.tagger.taxonomy` validates what this module reads and merges; see its
docstring for the merge and ``transforms/data/taxonomy.yaml`` for the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from transforms.userfiles import closest, key_hint, load_yaml_node, read_bytes

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "taxonomy.yaml"

# YAML section name -> facet name used in tags and rules.
SECTIONS = {"platforms": "platform", "state_actors": "state_actor", "controversies": "controversy"}
LIST_KEYS = ("aliases", "names", "exact", "ambiguous", "context")
_TOP_KEYS = frozenset({*SECTIONS, "rules", "settings", "include_bundled", "version"})
VERSIONS = (1,)  # the taxonomy file versions this loader reads
SOURCE = "__source__"  # key added to each entity and rule: the file it came from
INDEX = "__index__"  # key added to each rule: its position in the list of its file
LINE = "__line__"  # key added to each entity and rule: its line in its file (0: not known)


class TaxonomyError(ValueError):
    """The taxonomy file is missing, not YAML, or has an invalid entry."""


def read_file(path: str | Path) -> dict[str, Any]:
    """One taxonomy file as a mapping, each entity and rule marked with its file and line
    (and each rule with its place in the file's list), for error messages (``located``)."""
    try:
        text = read_bytes(path).decode("utf-8")
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read taxonomy: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 text: {exc.reason}") from None
    try:
        doc, root = load_yaml_node(text)
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
        hint = unknown_keys(unknown, _TOP_KEYS)
        if "did you mean" not in hint:  # an id written at the top: its section lost its indent
            hint += "; an entity goes under its section, indented ('platforms:', '  bluesky:')"
        raise TaxonomyError(f"{path}: unknown top-level {hint}")
    version = doc.get("version", VERSIONS[-1])
    if type(version) is not int or version not in VERSIONS:
        known = ", ".join(map(str, VERSIONS))
        raise TaxonomyError(f"{path}: version {version!r} is not one this newsbeam reads ({known})")
    # Remember where each entity and rule was written (and a rule's place), for errors.
    entity_lines, rule_lines = _entry_lines(root)
    for section in SECTIONS:
        if isinstance(doc.get(section), dict):
            lines = entity_lines.get(section, {})
            doc[section] = {
                k: {**v, SOURCE: str(path), LINE: lines.get(k, 0)} if isinstance(v, dict) else v
                for k, v in doc[section].items()
            }
    if isinstance(doc.get("rules"), list):
        rule_lines += [0] * (len(doc["rules"]) - len(rule_lines))
        doc["rules"] = [
            {**r, SOURCE: str(path), INDEX: i, LINE: rule_lines[i]} if isinstance(r, dict) else r
            for i, r in enumerate(doc["rules"])
        ]
    return doc


def _entry_lines(root: yaml.Node | None) -> tuple[dict[str, dict[str, int]], list[int]]:
    """The line (from 1) of each entity's id, by section, and of each rule, in a file's node."""
    entities: dict[str, dict[str, int]] = {}
    rules: list[int] = []
    for key, value in root.value if isinstance(root, yaml.MappingNode) else ():
        if key.value in SECTIONS and isinstance(value, yaml.MappingNode):
            entities[key.value] = {
                k.value: k.start_mark.line + 1
                for k, _ in value.value
                if isinstance(k, yaml.ScalarNode)
            }
        elif key.value == "rules" and isinstance(value, yaml.SequenceNode):
            rules = [item.start_mark.line + 1 for item in value.value]
    return entities, rules


def located(spec: Any, where: str) -> str:
    """Where an entity or rule is written, for its errors: ``file:line`` (as the feed list's
    errors say it), else its file, else ``where``."""
    if not isinstance(spec, dict):
        return where
    source, line = spec.get(SOURCE, where), spec.get(LINE)
    return f"{source}:{line}" if line else str(source)


def flag(spec: dict[str, Any], key: str, where: str, default: bool) -> bool:
    """``spec[key]``, which must be ``true`` or ``false`` (``"no"`` or 0 are not)."""
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise TaxonomyError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def unknown_keys(unknown: set[Any], known: Any) -> str:
    """``key(s) ['x']`` and the key meant (``(did you mean 'y'?)``), else the keys known."""
    names = sorted(unknown, key=str)
    return f"key(s) {names}{key_hint(names, sorted(known))}"


def merge(base: dict[str, Any], user: dict[str, Any], where: str) -> dict[str, Any]:
    """``user`` (read from ``where``) merged over ``base``; settings are merged by the caller."""
    out = dict(base)
    for section in SECTIONS:
        if section not in user:
            continue
        merged = dict(mapping(base.get(section), f"{where}: {section}"))
        for ent_id, spec in mapping(user[section], f"{where}: {section}").items():
            old = merged.get(ent_id)
            here = f"{located(spec, where)}: {section}.{ent_id}"
            replace = isinstance(spec, dict) and flag(spec, "replace", here, False)
            enabled = not isinstance(spec, dict) or flag(spec, "enabled", here, True)
            if old is None and (replace or not enabled):
                what = "replace: true" if replace else "enabled: false"
                verb = "replace" if replace else "switch off"
                raise TaxonomyError(
                    f"{here}: {what}, but there is no {section}.{ent_id} to {verb}"
                    f"{closest(ent_id, merged)}"
                )
            if not isinstance(spec, dict) or old is None or replace:
                merged[ent_id] = spec
                continue
            if not enabled:
                del merged[ent_id]
                continue
            new = dict(old)
            for key, val in spec.items():  # including SOURCE: errors then name the user file
                if key in LIST_KEYS and isinstance(val, list):
                    new[key] = list(old.get(key) or []) + val
                else:
                    new[key] = val
            merged[ent_id] = new
        out[section] = merged
    if "rules" in user:
        out["rules"] = merge_rules(base.get("rules") or [], user["rules"], where)
    return out


def merge_rules(base: list[Any], user: Any, where: str) -> list[Any]:
    """The bundled rules with the user's merged in (see the module's docstring for the order).

    A user rule replaces the bundled rule of the same name (names compared stripped, as
    ``_rule`` reads them); two rules of one name in the user file are an error, not the last.
    """
    if not isinstance(user, list):
        raise TaxonomyError(f"{where}: rules must be a list")
    rules = {rule_name(r): r for r in base if isinstance(r, dict)}
    new: list[dict[str, Any]] = []
    own: set[str] = set()
    for i, rule in enumerate(user):
        if not isinstance(rule, dict):
            raise TaxonomyError(f"{where}: rules[{i}]: each rule must be a mapping")
        name, here = rule_name(rule), located(rule, where)
        if not isinstance(name, str) or not name:
            raise TaxonomyError(f"{here}: rules[{i}]: every rule needs a 'name'")
        if name in own:
            raise TaxonomyError(f"{here}: rules: duplicate rule name {name!r}")
        own.add(name)
        enabled = flag(rule, "enabled", f"{here}: rule {name!r}", True)
        if name in rules:
            rules[name] = rule  # in the bundled rule's place
        elif not enabled:
            raise TaxonomyError(
                f"{here}: rule {name!r}: enabled: false, but there is no rule {name!r} to"
                f" switch off{closest(name, rules)}"
            )
        else:
            new.append(rule)
    merged = list(rules.values())
    if not merged:  # nothing bundled (include_bundled: false): the file's own order
        return new
    # New rules that add values run before the first rule that does not, which may need them.
    at = next(
        (
            i
            for i, r in enumerate(merged)
            if r.get("enabled", True) is not False and not r.get("adds")
        ),
        len(merged),
    )
    adding = [r for r in new if r.get("adds")]
    return merged[:at] + adding + merged[at:] + [r for r in new if not r.get("adds")]


def mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TaxonomyError(f"{where}: must be a mapping")
    return value


def rule_name(rule: dict[str, Any]) -> Any:
    """A rule's name as merging compares it: stripped when it is text (else as written, for
    ``_rule`` to refuse)."""
    name = rule.get("name")
    return name.strip() if isinstance(name, str) else name
