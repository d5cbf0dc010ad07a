"""Pub/Sub messages: what newsbeam publishes, as bytes and attributes within Pub/Sub's limits.

Consumes ``TaggedStory``, ``DuplicateLink``, ``SyndicationUpdate`` and ``Failure`` records;
produces ``(data, attributes)`` pairs. Data is the record's JSON (UTF-8); attributes serve
server-side filters (``platform_tiktok``, ``state_china``, ``outlet_country`` ...). A message
always fits: a long text is cut and flagged ``text_truncated``, never a failed publish.
``transforms.pubsub`` publishes them.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from transforms.common import counter
from transforms.records import (
    SCHEMA_VERSION,
    DuplicateLink,
    Failure,
    Outlet,
    SyndicationUpdate,
    TaggedStory,
)

# Pub/Sub limits (https://cloud.google.com/pubsub/quotas#resource_limits).
PUBSUB_MAX_REQUEST_BYTES = 10_000_000
MAX_ATTRIBUTES = 100
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 1024

# Default bound on data + attributes of one message: far above any real article (the
# longest are a few hundred KB of text), and small enough for subscribers whose gRPC
# channel keeps the default 4 MiB receive limit (the Python client on the emulator does).
DEFAULT_MAX_BYTES = 1_000_000
MIN_MAX_BYTES = 65_536
MAX_MAX_BYTES = PUBSUB_MAX_REQUEST_BYTES - 100_000  # room for the request's own framing

# At most this many tag attributes (platform_*, state_*, controversy_*) per message; past it
# they are taken from each facet in turn, in this order, so that every facet keeps a share.
MAX_TAG_ATTRIBUTES = 64
TAG_PREFIXES = (("controversies", "controversy_"), ("state_actors", "state_"),
                ("platforms", "platform_"))  # fmt: skip


class PubSubError(ValueError):
    """A Pub/Sub setting that cannot work (malformed topic path, impossible size bound)."""


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def _encode_str(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "replace")


def _cut(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form has at most ``max_bytes`` bytes."""
    return text.encode("utf-8", "replace")[: max(0, max_bytes)].decode("utf-8", "ignore")


def _shrink(value: Any, chars: int, items: int) -> Any:
    """Every string cut to ``chars`` characters and every list to ``items`` items, deeply."""
    if isinstance(value, str):
        return value[:chars]
    if isinstance(value, list):
        return [_shrink(v, chars, items) for v in value[:items]]
    if isinstance(value, dict):
        return {k: _shrink(v, chars, items) for k, v in value.items()}
    return value


def _attributes_size(attributes: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())


def _fit(
    record: dict[str, Any], cut_fields: tuple[str, ...], keep: tuple[str, ...], budget: int
) -> tuple[bytes, bool]:
    """Encode ``record`` in at most ``budget`` bytes.

    Cuts the ``cut_fields`` first (setting ``<field>_truncated``); as a last resort, every
    string and list but the ``keep`` fields (setting ``truncated``).

    Returns:
        The data, and whether anything was cut.
    """
    data = _encode(record)
    if len(data) <= budget:
        return data, False
    for name in cut_fields:
        value = record.get(name)
        if not isinstance(value, str) or not value:
            continue
        record = {**record, name: "", f"{name}_truncated": True}
        room = budget - len(_encode(record))  # bytes left for the field's JSON
        # Binary search for the longest prefix whose JSON form fits (escapes vary in size). At
        # least one character goes: the record did not fit with the field whole, and only the
        # flag ("true" is one byte shorter than "false") would let it fit, flagged but uncut.
        low, high = 0, len(value) - 1
        while low < high:
            mid = (low + high + 1) // 2
            if len(_encode_str(value[:mid])) - 2 <= room:
                low = mid
            else:
                high = mid - 1
        record[name] = value[:low]
        data = _encode(record)
        if len(data) <= budget:
            return data, True
    for chars in (1000, 100, 10):
        shrunk = _shrink(record, chars, max(1, chars // 50))
        shrunk.update({k: record[k] for k in keep if k in record}, truncated=True)
        data = _encode(shrunk)
        if len(data) <= budget:
            return data, True
    raise PubSubError(f"a message cannot fit in {budget} bytes")  # not with MIN_MAX_BYTES


def check_max_bytes(max_bytes: int) -> None:
    """Raise ``PubSubError`` unless ``max_bytes`` is a message size bound Pub/Sub can take."""
    if not MIN_MAX_BYTES <= max_bytes <= MAX_MAX_BYTES:
        raise PubSubError(
            f"max_bytes must be between {MIN_MAX_BYTES} and {MAX_MAX_BYTES}, not {max_bytes}"
        )


def _value(text: str) -> str:
    return _cut(text, MAX_VALUE_BYTES)


def story_attributes(story: TaggedStory) -> dict[str, str]:
    """The attributes of a story's message (without ``text_truncated``).

    Args:
        story: The tagged story.

    Returns:
        ``story_id``, ``schema_version``, ``relevant`` ("true"/"false"), ``outlet_domain``;
        ``language``, ``outlet_country``, ``outlet_state_affiliation`` when known; one
        ``platform_<id>``/``state_<id>``/``controversy_<id>`` = ``"1"`` per tag value
        (at most ``MAX_TAG_ATTRIBUTES``, then ``tags_truncated`` = ``"true"``, taken from
        the facets in turn: a controversy, a state actor, a platform, a controversy, ...; a
        story with 80 platforms keeps its state actors and controversies).
    """
    attrs = {
        "story_id": _value(story.story_id),
        "schema_version": str(SCHEMA_VERSION),
        "relevant": "true" if story.tagging.relevant else "false",
        **outlet_attributes(story.story.outlet),
    }
    if story.story.language:
        attrs["language"] = _value(story.story.language)
    facets = [
        [prefix + value for value in getattr(story.tagging, field)]
        for field, prefix in TAG_PREFIXES
    ]
    tags = [key for turn in itertools.zip_longest(*facets) for key in turn if key is not None]
    keep = [k for k in dict.fromkeys(tags) if len(k.encode()) <= MAX_KEY_BYTES]
    if len(keep) < len(set(tags)) or len(keep) > MAX_TAG_ATTRIBUTES:
        attrs["tags_truncated"] = "true"
    attrs.update({key: "1" for key in keep[:MAX_TAG_ATTRIBUTES]})
    return attrs


def outlet_attributes(outlet: Outlet) -> dict[str, str]:
    """The outlet's attributes, the same on a story's message and a duplicate link's.

    Args:
        outlet: The story's (or the copy's) outlet.

    Returns:
        ``outlet_domain``; ``outlet_country`` and ``outlet_state_affiliation`` when known.
    """
    attrs = {"outlet_domain": _value(outlet.domain)}
    known = {"outlet_country": outlet.country, "outlet_state_affiliation": outlet.state_affiliation}
    attrs.update({k: _value(v) for k, v in known.items() if v})
    return attrs


def story_message(
    story: TaggedStory, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of a tagged story.

    Args:
        story: The tagged story.
        max_bytes: Bound on the data plus the attributes' keys and values, in bytes.

    Returns:
        The data (the story JSON, UTF-8, with ``text_truncated``) and the attributes
        (``story_attributes``, plus ``text_truncated`` = ``"true"`` when the text was cut).

    Raises:
        PubSubError: ``max_bytes`` is outside [MIN_MAX_BYTES, MAX_MAX_BYTES].
    """
    check_max_bytes(max_bytes)
    attrs = story_attributes(story)
    flag = {"text_truncated": "true"}
    budget = max_bytes - _attributes_size({**attrs, **flag})
    record = {**story.to_json(), "text_truncated": False}
    data, truncated = _fit(record, ("text",), ("story_id", "schema_version"), budget)
    if truncated:
        counter("pubsub_truncated").inc()
        attrs.update(flag)
    return data, attrs


def link_message(
    link: DuplicateLink, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of a ``--duplicates link`` record: a small pointer, no text.

    Data: the link record, exactly its line in ``stories*.jsonl``. Attributes:
    ``record_type`` = ``duplicate_link``, ``story_id``, ``duplicate_of``, ``schema_version``
    and the copy's ``outlet_attributes`` (as a story's: a subscription filtered on an
    outlet's country or state affiliation receives that outlet's copies); no tag
    attributes, so tag-filtered subscriptions receive only the first story of a cluster.
    """
    check_max_bytes(max_bytes)
    attrs = {
        "record_type": "duplicate_link",
        "story_id": _value(link.story_id),
        "duplicate_of": _value(link.duplicate_of),
        "schema_version": str(SCHEMA_VERSION),
        **outlet_attributes(link.full_outlet),
    }
    # A feed's link is as long as the feed makes it (up to its 10 MB): a longer URL is cut,
    # with ``url_truncated``, as a story's text is, so that every message fits ``max_bytes``.
    keep = ("record_type", "schema_version", "story_id", "duplicate_of")
    return _fitted(link.to_json(), ("url",), keep, max_bytes - _attributes_size(attrs)), attrs


def update_message(
    update: SyndicationUpdate, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The message of a syndication update: the outlets that carried a published story.

    Attributes: ``record_type`` = ``syndication_update``, ``story_id``, ``schema_version``.
    """
    check_max_bytes(max_bytes)
    attrs = {
        "record_type": "syndication_update",
        "story_id": _value(update.story_id),
        "schema_version": str(SCHEMA_VERSION),
    }
    keep = ("record_type", "schema_version", "story_id")
    return _fitted(update.to_json(), (), keep, max_bytes - _attributes_size(attrs)), attrs


def _fitted(
    record: dict[str, Any], cut_fields: tuple[str, ...], keep: tuple[str, ...], budget: int
) -> bytes:
    """``_fit``'s data, counted as ``pubsub_truncated`` when anything was cut."""
    data, truncated = _fit(record, cut_fields, keep, budget)
    if truncated:
        counter("pubsub_truncated").inc()
    return data


def published_message(
    record: TaggedStory | DuplicateLink | SyndicationUpdate, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The message of anything the stories topic carries: a story, a link or an update."""
    if isinstance(record, DuplicateLink):
        return link_message(record, max_bytes)
    if isinstance(record, SyndicationUpdate):
        return update_message(record, max_bytes)
    return story_message(record, max_bytes)


def failure_message(
    failure: Failure, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message of a dead letter: the record ``dead_letters*.jsonl`` holds.

    Args:
        failure: The dead letter.
        max_bytes: Bound on the data plus the attributes' keys and values, in bytes.

    Returns:
        The data (``Failure.to_json()``; an overlong ``message`` or ``input`` is cut, with
        ``message_truncated``/``input_truncated``) and the attributes ``stage``,
        ``error_type`` and ``retryable`` ("true"/"false").

    Raises:
        PubSubError: ``max_bytes`` is outside [MIN_MAX_BYTES, MAX_MAX_BYTES].
    """
    check_max_bytes(max_bytes)
    attrs = {
        "stage": _value(failure.stage),
        "error_type": _value(failure.error_type),
        "retryable": "true" if failure.retryable else "false",
    }
    budget = max_bytes - _attributes_size(attrs)
    data, _ = _fit(failure.to_json(), ("message", "input"), ("stage", "error_type"), budget)
    return data, attrs
