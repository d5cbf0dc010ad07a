"""The tagger: a story's title and text in, a :class:`~transforms.records.TagResult` out.

Consumes a compiled :class:`~transforms.tagger.taxonomy.Taxonomy`; for each story it

1. splits the story into title, lede and body (:func:`~transforms.tagger.matcher.fields`);
2. finds every alias, context word and rule term in one Aho-Corasick pass per field;
3. keeps ambiguous aliases ("X", "Apple", "Signal", ...) only near a context word or when
   the same entity is also named unambiguously (a title's also when the text confirms it:
   ``Tagger._counted``), and drops a hit inside a longer hit of the
   same facet ("China" inside "the Chinese government") and a controversy term inside a
   longer name ("national security" inside "National Security Agency");
4. reports the salient values of each facet: those whose mentions weigh at least
   ``settings.salience`` (title and lede mentions weigh more than body mentions);
5. evaluates the rules; the score is ``1 - prod(1 - w)`` over the fired rules of positive
   weight, times ``prod(1 + w)`` over those of negative weight, and the story is relevant when
   the score reaches ``settings.threshold``;
6. reports the catch-all controversy value ``other`` only when no listed type is reported
   (``settings.controversy_other_alone``).

A Tagger pickles as its taxonomy and rebuilds its automaton on unpickling, so it can be
shipped to Beam workers, or built in ``DoFn.setup()`` with :meth:`Tagger.load`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from transforms.records import Evidence, Tag, TagResult
from transforms.tagger.evaluation import Index, evaluate
from transforms.tagger.matcher import FIELDS, Hit, Matcher, Pattern, fields
from transforms.tagger.proximity import Context, Covering, any_within
from transforms.tagger.rules import Term, walk
from transforms.tagger.taxonomy import Entity, Taxonomy, load_taxonomy

_FIELD_ORDER = {name: i for i, name in enumerate(FIELDS)}
OTHER = "other"  # the catch-all value of a facet (GUIDELINE.md)


class Tagger:
    """Tags stories with platforms, state actors and controversy types, and scores relevance."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        """Compile a taxonomy.

        Args:
            taxonomy: A validated taxonomy, e.g. from :func:`load_taxonomy`.
        """
        self.taxonomy = taxonomy
        # Ids are unique per section only (platforms.x and state_actors.x are two entities),
        # so entities are filed by facet and id: by id alone, the last one took the other's
        # hits over.
        self._entities = {_entity_key(e): e for e in taxonomy.entities}
        self._context_keys = {
            _entity_key(e): frozenset(c.lower() for c in e.context) for e in taxonomy.entities
        }
        self._facet_of_value = {(e.facet, e.value) for e in taxonomy.entities}
        self.matcher = Matcher(tuple(_patterns(taxonomy)))
        s = taxonomy.settings
        self._weights = {
            "title": s["title_weight"],
            "lede": s["lede_weight"],
            "body": s["body_weight"],
        }

    @classmethod
    def load(cls, path: str | Path | None = None) -> Tagger:
        """Build a tagger from the bundled taxonomy, merged with a user file if given.

        Args:
            path: A user taxonomy YAML (merged over the bundled one), or None.

        Returns:
            The tagger.

        Raises:
            TaxonomyError: A taxonomy file is missing or invalid.
        """
        return cls(load_taxonomy(path))

    def __reduce__(self) -> tuple[type[Tagger], tuple[Taxonomy]]:
        return (Tagger, (self.taxonomy,))

    def tag(self, title: str, text: str) -> TagResult:
        """Tag one story.

        The story's language is not asked for: aliases of every language apply to every
        story, as stories quote other languages (a French article names 抖音).

        Args:
            title: The story's title.
            text: The story's body text.

        Returns:
            The tagging: relevance, score, facet values, tags with evidence, fired rules.
        """
        parts = fields(title or "", text or "")
        entity_hits: dict[str, list[Hit]] = defaultdict(list)
        context_hits: list[Hit] = []
        terms: dict[str, list[Hit]] = defaultdict(list)
        for name in FIELDS:
            for hit in self.matcher.find(name, parts[name]):
                kind = hit.pattern.kind
                if kind == "entity":
                    entity_hits[hit.pattern.key].append(hit)
                elif kind == "context":
                    context_hits.append(hit)
                else:
                    terms[hit.pattern.key].append(hit)
        by_value = self._near_actors(self._resolve(entity_hits, context_hits))
        salient = {key: _in_story_order(hits) for key, hits in self._salient(by_value).items()}

        def refs(facet: str, value: str | None) -> Sequence[Hit]:
            if value == "*":
                return [h for (f, _), hits in by_value.items() if f == facet for h in hits]
            if value is not None:
                return by_value.get((facet, value), [])
            return [h for (f, _), hits in salient.items() if f == facet for h in hits]

        index = Index(dict(terms), refs)
        positive, negative = 1.0, 1.0
        fired: list[tuple[str, list[Hit]]] = []
        added_by: dict[tuple[str, str], dict[tuple[str, int, int], str]] = {}
        for rule in self.taxonomy.rules:
            ok, hits = evaluate(rule.node, index)
            if ok:
                fired.append((rule.name, hits))
                for key in rule.adds:  # the value's own matches first, as evidence
                    own = {_span(h) for h in salient.get(key, [])}
                    for hit in hits:
                        if _span(hit) not in own:
                            added_by.setdefault(key, {}).setdefault(_span(hit), rule.name)
                    salient[key] = salient.get(key, []) + _in_story_order(hits)
                if rule.weight >= 0:
                    positive *= 1.0 - rule.weight
                else:
                    negative *= 1.0 + rule.weight
        score = max(0.0, min(1.0, (1.0 - positive) * negative))
        if self.taxonomy.settings["controversy_other_alone"]:
            kinds = [key for key in salient if key[0] == "controversy"]
            if len(kinds) > 1:
                salient.pop(("controversy", OTHER), None)
        return self._result(score, parts, salient, fired, added_by)

    def _near_actors(
        self, by_value: dict[tuple[str, str], list[Hit]]
    ) -> dict[tuple[str, str], list[Hit]]:
        """Keep controversy hits within ``controversy_window`` words of a platform or state."""
        window = self.taxonomy.settings["controversy_window"]
        if not window:
            return by_value
        actors: dict[str, list[int]] = defaultdict(list)
        for (facet, _), hits in by_value.items():
            if facet != "controversy":
                for h in hits:
                    actors[h.field].append(h.word)
        for words in actors.values():
            words.sort()
        out: dict[tuple[str, str], list[Hit]] = {}
        for key, hits in by_value.items():
            if key[0] == "controversy":
                hits = [h for h in hits if any_within(actors.get(h.field, []), h.word, window)]
            if hits:
                out[key] = hits
        return out

    def _salient(
        self, by_value: dict[tuple[str, str], list[Hit]]
    ) -> dict[tuple[str, str], list[Hit]]:
        """The values a story is about: weight >= ``salience`` and >= ``relative`` x the top."""
        weights = {key: sum(self._weights[h.field] for h in hits) for key, hits in by_value.items()}
        top: dict[str, float] = defaultdict(float)
        for (facet, _), weight in weights.items():
            top[facet] = max(top[facet], weight)
        settings = self.taxonomy.settings
        floor = {"controversy": settings["controversy_salience"]}
        relative = {"controversy": settings["controversy_relative"]}
        salient = {
            (facet, value): by_value[(facet, value)]
            for (facet, value), weight in weights.items()
            if weight >= floor.get(facet, settings["salience"])
            and (
                weight >= relative.get(facet, settings["relative"]) * top[facet]
                or weight >= settings["strong"]
            )
        }
        if any(facet == "controversy" for facet, _ in salient):
            return salient
        return {key: hits for key, hits in salient.items() if not all(h.pattern.weak for h in hits)}

    def _resolve(
        self, entity_hits: dict[str, list[Hit]], context_hits: list[Hit]
    ) -> dict[tuple[str, str], list[Hit]]:
        """Drop unsupported ambiguous hits and nested hits; group the rest by facet value."""
        by_facet: dict[str, list[tuple[Hit, Entity]]] = defaultdict(list)
        context = Context(context_hits)
        for key, hits in entity_hits.items():
            entity = self._entities[key]
            by_facet[entity.facet].extend((h, entity) for h in self._counted(hits, entity, context))
        names = Covering(
            h for facet, pairs in by_facet.items() if facet != "controversy" for h, _ in pairs
        )
        by_facet["controversy"] = [
            (h, e) for h, e in by_facet.get("controversy", []) if not names.covers(h)
        ]
        out: dict[tuple[str, str], list[Hit]] = defaultdict(list)
        for facet, pairs in by_facet.items():
            pairs.sort(key=lambda p: (_FIELD_ORDER[p[0].field], p[0].start, -p[0].end))
            last_field, last_end = "", -1
            for hit, entity in pairs:
                if hit.field == last_field and hit.end <= last_end:
                    continue  # inside a longer hit of the same facet
                if hit.field != last_field or hit.end > last_end:
                    last_field, last_end = hit.field, hit.end
                out[(facet, entity.value)].append(hit)
        return out

    def _counted(self, hits: list[Hit], entity: Entity, context: Context) -> list[Hit]:
        """The mentions of ``entity`` that count, in order.

        All of them when one is unambiguous. Else those with a context word near, and a
        title's read with the text: they count when the text names the entity in context, or
        names it again with a context word somewhere in the lede. (A context word anywhere in
        the lede alone made "Apple exporters reel..." over a "company town" about Apple.)
        """
        if not all(_is_ambiguous(h) for h in hits):
            return hits
        near = [self._in_context(h, entity, context) for h in hits]
        in_text = any(ok and h.field != "title" for h, ok in zip(hits, near, strict=True))
        again = any(h.field != "title" for h in hits) and any(
            context.anywhere(key, "lede") for key in self._context_keys[_entity_key(entity)]
        )
        title_counts = in_text or again
        return [
            h
            for h, ok in zip(hits, near, strict=True)
            if ok or (title_counts and h.field == "title")
        ]

    def _in_context(self, hit: Hit, entity: Entity, context: Context) -> bool:
        return any(
            context.near(key, hit.field, hit.word, entity.window)
            for key in self._context_keys[_entity_key(entity)]
        )

    def _result(
        self,
        score: float,
        parts: dict[str, str],
        salient: dict[tuple[str, str], list[Hit]],
        fired: list[tuple[str, list[Hit]]],
        added_by: dict[tuple[str, str], dict[tuple[str, int, int], str]],
    ) -> TagResult:
        limit = int(self.taxonomy.settings["max_evidence"])
        tags = [
            Tag(facet, value, _evidence(hits, parts, limit, added_by.get((facet, value), {})))
            for (facet, value), hits in sorted(salient.items())
        ]
        tags += [
            Tag("rule", name, _evidence(_each_key_first(hits), parts, limit))
            for name, hits in fired
        ]

        def values(facet: str) -> tuple[str, ...]:
            return tuple(sorted(v for f, v in salient if f == facet))

        return TagResult(
            relevant=score >= self.taxonomy.settings["threshold"] and score > 0,
            score=score,
            platforms=values("platform"),
            state_actors=values("state_actor"),
            controversies=values("controversy"),
            tags=tuple(tags),
            rules=tuple(name for name, _ in fired),
        )


def _each_key_first(hits: list[Hit]) -> list[Hit]:
    """A rule's hits for its evidence: the first mention of each thing it matched (each
    value or term: ``pattern.key``), in story order, then the rest in story order. In story
    order alone, a rule of a platform near a state actor near a controversy showed three
    mentions of the platform ("iPhone", "App Store", "Apple") and nothing of why it fired."""
    ordered = _in_story_order(hits)
    first: dict[str, Hit] = {}
    for hit in ordered:
        first.setdefault(hit.pattern.key, hit)
    picked = {id(h) for h in first.values()}
    return [*first.values(), *(h for h in ordered if id(h) not in picked)]


def _is_ambiguous(hit: Hit) -> bool:
    return hit.pattern.ambiguous


def _in_story_order(hits: list[Hit]) -> list[Hit]:
    return sorted(hits, key=lambda h: (_FIELD_ORDER[h.field], h.start))


def _span(hit: Hit) -> tuple[str, int, int]:
    return (hit.field, hit.start, hit.end)


def _evidence(
    hits: list[Hit],
    parts: dict[str, str],
    limit: int,
    added_by: dict[tuple[str, int, int], str] | None = None,
) -> tuple[Evidence, ...]:
    """The first ``limit`` distinct hits, as given, as Evidence in story order, with offsets
    into what the story's reader has: the title for title hits, the whole text for lede and
    body hits (a hit's offsets count from the start of its field; the body starts where the
    lede ends). A value's own matches come before those of a rule that added it, so that a
    rule's hits do not crowd out the words that name the value; ``added_by`` names the rule
    of each of those (by the hit's field and offsets), which its evidence item carries."""
    chosen: dict[tuple[str, int, int], Hit] = {}
    for h in hits:
        chosen.setdefault((h.field, h.start, h.end), h)
        if len(chosen) >= limit:
            break
    shift = {"title": 0, "lede": 0, "body": len(parts["lede"])}
    out: list[Evidence] = []
    for h in _in_story_order(list(chosen.values())):
        term = h.pattern.text + ("*" if h.pattern.prefix else "")
        snippet = parts[h.field][h.start : h.end]
        start = h.start + shift[h.field]
        rule = (added_by or {}).get(_span(h))
        out.append(Evidence(h.field, start, start + len(snippet), snippet, term, rule))
    return tuple(out)


def _entity_key(entity: Entity) -> str:
    """What an entity's hits are filed under: ``facet:id`` (an id is unique in its section)."""
    return f"{entity.facet}:{entity.id}"


def _patterns(taxonomy: Taxonomy) -> list[Pattern]:
    out: list[Pattern] = []
    for e in taxonomy.entities:
        key = _entity_key(e)
        out += [_pattern(a, "entity", key) for a in e.aliases]
        out += [_pattern(a, "entity", key, weak=True) for a in e.names]
        out += [_pattern(a, "entity", key, case_sensitive=True) for a in e.exact]
        out += [
            _pattern(a, "entity", key, case_sensitive=True, ambiguous=True) for a in e.ambiguous
        ]
        out += [_pattern(c, "context", c.lower()) for c in e.context]
    for rule in taxonomy.rules:
        for node in walk(rule.node):
            if isinstance(node, Term):
                out.append(Pattern(node.text, "term", node.key, prefix=node.prefix))
    return out


def _pattern(
    text: str,
    kind: str,
    key: str,
    case_sensitive: bool = False,
    ambiguous: bool = False,
    weak: bool = False,
) -> Pattern:
    prefix = text.endswith("*")
    return Pattern(text.rstrip("*"), kind, key, case_sensitive, prefix, ambiguous, weak)
