"""Typed, immutable records that travel between newsbeam's pipeline stages.

Every stage consumes one of these records and produces the next one, or a
``Failure`` (a dead letter) or a ``Discard`` (an entry dropped for a named reason); those two
are defined in ``transforms.outcomes`` and importable from here too.
Nothing else crosses a stage boundary: no dicts, lxml trees or feedparser objects.

The flow is::

    FeedSpec -> FeedEntry -> FetchedPage -> Article -> Story -> TaggedStory (or DuplicateLink)
                     \\            \\           \\         \\        \\
                      +-----------+-----------+---------+--------+--> Failure | Discard

Deduplication adds a ``SyndicationUpdate`` (the outlets that carried a story so far) each time
a copy from a new outlet arrives, in the ``link`` and ``publish`` duplicate modes.

All records are frozen dataclasses of plain values (str, int, float, bool, None,
tuples of those), so Beam can pickle them cheaply and tests can compare them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# Failure and Discard live in transforms.outcomes. They are imported here, and named by
# this module's __all__, because running streaming jobs hold pickled ones (dead letters and
# discards in flight) that name their class as transforms.records.Failure or .Discard: a
# job updated in place loads those through this path.
from transforms.outcomes import Discard, Failure
from transforms.urls import without_userinfo

# Version of the published story JSON (README documents the schema). Bump it
# whenever a field is added, removed or changes meaning.
SCHEMA_VERSION = 4

# State Media Monitor typology codes that mean the state controls the outlet.
STATE_MEDIA_CODES = frozenset({"SC", "CaPu", "CaPr"})


@dataclass(frozen=True)
class FeedSpec:
    """One feed to poll, as read from the feed list (OPML, text or YAML)."""

    url: str
    name: str | None = None
    country: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class FeedState:
    """What newsbeam remembers of a feed between polls, for conditional requests."""

    feed_url: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None


@dataclass(frozen=True)
class EntryResighted:
    """An always-on poll found a feed unchanged that still lists the entry keyed ``key``.

    Not an entry (nothing is fetched, nothing is counted): it travels with the entries from
    ``PollFeeds`` into ``DedupEntries`` only to refresh the time the key was last seen, so
    that an entry a feed keeps listing while unchanged for longer than the TTL is not taken
    for a new one when the feed changes.
    """

    feed_url: str
    key: str


@dataclass(frozen=True)
class FeedEntry:
    """One item of a parsed feed: what the feed says about an article.

    ``key`` is the deduplication key of the entry (canonical link, or GUID
    where the feed's GUIDs are usable); it is filled by ``PollFeeds``.
    """

    feed_url: str
    link: str
    key: str
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    published_at: str | None = None  # ISO 8601, UTC, when the feed gives one
    feed_name: str | None = None
    feed_country: str | None = None
    feed_language: str | None = None
    # The article's full text as the feed carries it (HTML of content:encoded or Atom
    # content), kept only with --feed-text-min-chars; FetchArticles then skips the page.
    content: str | None = None
    # Of an entry without a link only: its GUID as the feed wrote it, which could not stand in
    # for one (``transforms.feed_links``; ``guid`` is feedparser's, resolved against the
    # feed's URL). Its entry_without_link dead letter names it; such an entry goes no further.
    unused_guid: str | None = None


@dataclass(frozen=True)
class FetchedPage:
    """The bytes of an article page, fetched and decoded to text."""

    entry: FeedEntry
    url: str  # what was requested
    final_url: str  # after redirects
    status: int
    content_type: str
    html: str
    fetched_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Article:
    """The body and metadata extracted from a fetched page."""

    entry: FeedEntry
    url: str
    final_url: str
    canonical_url: str
    title: str
    text: str
    authors: tuple[str, ...] = ()
    published_at: str | None = None
    language: str | None = None
    description: str | None = None
    page_site_name: str | None = None


@dataclass(frozen=True)
class Outlet:
    """Who published a story: looked up from the outlet catalogue by host.

    Unknown hosts carry only ``domain``; every other field is ``None`` (never a guess).
    ``state_affiliation`` is a State Media Monitor typology code
    (SC, CaPu, CaPr, ISFM, ISF, ISM, IP) or ``None``.
    """

    domain: str
    name: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, upper case
    language: str | None = None
    state_affiliation: str | None = None
    # False when no catalogue entry knew the outlet and its name or country came from the
    # feed list: whether it is state media is then unknown, not "no"
    catalogued: bool = True

    @property
    def state_media(self) -> bool | None:
        """True for state-controlled or captured media, None when the outlet is unknown."""
        if not self.catalogued:
            return None
        if self.name is None and self.country is None and self.state_affiliation is None:
            return None
        return self.state_affiliation in STATE_MEDIA_CODES

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "name": self.name,
            "country": self.country,
            "language": self.language,
            "state_affiliation": self.state_affiliation,
            "state_media": self.state_media,
        }


@dataclass(frozen=True)
class Story:
    """An enriched article: the article plus who published it and in what language."""

    story_id: str
    article: Article
    outlet: Outlet
    language: str | None
    published_at: str | None


@dataclass(frozen=True)
class Evidence:
    """Where a tag was found, exactly: ``title[start:end] == snippet`` for the title,
    ``text[start:end] == snippet`` for the lede and the body (the lede is the start of the
    text, the body the rest; see ``transforms.tagger.matcher.fields``)."""

    field: str  # "title", "lede" or "body"
    start: int
    end: int
    snippet: str
    term: str | None = None  # the alias or rule term that matched
    # On a value a rule adds (the national_security_review of a forced sale): the rule whose
    # hit this is, where the item is not one of the value's own matches.
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "field": self.field,
            "start": self.start,
            "end": self.end,
            "snippet": self.snippet,
        }
        if self.term is not None:
            out["term"] = self.term
        if self.rule is not None:
            out["rule"] = self.rule
        return out


@dataclass(frozen=True)
class Tag:
    """One facet value found in a story, with the evidence for it."""

    facet: str  # "platform", "state_actor", "controversy" or "rule"
    value: str  # lowercase id, e.g. "tiktok", "china", "ban_or_restriction"
    evidence: tuple[Evidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "facet": self.facet,
            "value": self.value,
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class TagResult:
    """What the tagger says of one story."""

    relevant: bool
    score: float  # in [0, 1]
    platforms: tuple[str, ...] = ()
    state_actors: tuple[str, ...] = ()
    controversies: tuple[str, ...] = ()
    tags: tuple[Tag, ...] = ()
    rules: tuple[str, ...] = ()  # names of the rules that fired

    def to_json(self) -> dict[str, Any]:
        return {
            "relevant": self.relevant,
            "score": round(self.score, 4),
            "platforms": list(self.platforms),
            "state_actors": list(self.state_actors),
            "controversies": list(self.controversies),
            "rules": list(self.rules),
            "tags": [t.to_json() for t in self.tags],
        }


@dataclass(frozen=True)
class TaggedStory:
    """A story with its tags: what the sinks write and publish."""

    story: Story
    tagging: TagResult
    duplicate_of: str | None = None
    cluster_id: str | None = None
    syndication: tuple[str, ...] = ()  # domains of outlets that carried the same story

    @property
    def story_id(self) -> str:
        return self.story.story_id

    def to_json(self) -> dict[str, Any]:
        """The published story: the schema README documents (``schema_version``)."""
        article = self.story.article
        return {
            "schema_version": SCHEMA_VERSION,
            "story_id": self.story.story_id,
            "url": article.canonical_url or without_userinfo(article.final_url),
            "fetched_url": without_userinfo(article.final_url),
            "feed_url": without_userinfo(article.entry.feed_url),
            "title": article.title,
            "text": article.text,
            "authors": list(article.authors),
            "published_at": self.story.published_at,
            "language": self.story.language,
            "outlet": self.story.outlet.to_json(),
            "duplicate_of": self.duplicate_of,
            "cluster_id": self.cluster_id,
            "syndication": list(self.syndication),
            **self.tagging.to_json(),
        }


@dataclass(frozen=True)
class DuplicateLink:
    """What ``--duplicates link`` publishes for a later copy of a story: a pointer, no body.

    ``outlet_record`` is the copy's outlet as enrichment found it; it defaults to ``None`` so
    links pickled before it existed (elements of a running job) still load, and those
    publish an outlet that knows only its domain.
    """

    story_id: str
    duplicate_of: str
    cluster_id: str
    url: str
    outlet: str  # the outlet's domain
    outlet_record: Outlet | None = None
    # The copy's entry link as its feed gave it (what a retryable dead letter names, so that
    # the next one-shot run retries the entry); None for links pickled before it existed.
    entry_link: str | None = None

    @property
    def full_outlet(self) -> Outlet:
        """The copy's outlet: ``outlet_record``, or only the domain when there is none."""
        return self.outlet_record or Outlet(self.outlet)

    def to_json(self) -> dict[str, Any]:
        """The published link record (README documents it): ``outlet`` as a story's is."""
        return {
            "record_type": "duplicate_link",
            "schema_version": SCHEMA_VERSION,
            "story_id": self.story_id,
            "duplicate_of": self.duplicate_of,
            "cluster_id": self.cluster_id,
            "url": self.url,
            "outlet": self.full_outlet.to_json(),
        }


@dataclass(frozen=True)
class SyndicationUpdate:
    """The outlets that carried a story, published again as copies of it arrive.

    ``transforms.syndication.SyndicationUpdates`` makes these; ``syndication`` lists every
    outlet domain that carried the story so far, sorted.
    """

    story_id: str
    syndication: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The published update record (README documents it)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "record_type": "syndication_update",
            "story_id": self.story_id,
            "syndication": list(self.syndication),
        }


# Articles whose body is shorter than this (in characters) are discarded as too_short:
# paywall stubs, video pages with a caption, cookie walls (``--min-text-chars``).
DEFAULT_MIN_TEXT_CHARS = 250


def story_id_for(url: str) -> str:
    """A stable story id: the first 16 hex digits of the SHA-256 of the canonical URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


__all__ = [
    "SCHEMA_VERSION",
    "Article",
    "Discard",
    "Evidence",
    "FeedEntry",
    "FeedSpec",
    "FeedState",
    "FetchedPage",
    "Failure",
    "Outlet",
    "Story",
    "Tag",
    "TagResult",
    "TaggedStory",
    "story_id_for",
]
