"""Feed-entry keys: what ``DedupEntries`` groups a feed's entries by.

Consumes each entry's link, GUID and title as the feed gives them; produces one key per
entry (:func:`entry_keys`), built from the GUIDs, the canonical links
(``transforms.urls.canonicalize_url``) or the titles, whichever tells the feed's entries
apart (:func:`choose_key_basis`). ``PollFeeds`` fills ``FeedEntry.key`` with them, and the
story stage joins the page's confirmed canonical URL (``transforms.page_urls``) to the key.
Plain Python, no Beam.
"""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from transforms.urls import canonicalize_url, is_web_url, site_of


class KeyBasis(enum.Enum):
    """What a feed's entry keys are built from."""

    GUID = "guid"
    LINK = "link"
    LINK_TITLE = "link_title"


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def choose_key_basis(entries: Iterable[tuple[str, str | None, str | None]]) -> KeyBasis:
    """Decide, for one feed, whether its GUIDs are usable, else its links, else link + title.

    Args:
        entries: ``(link, guid, title)`` of every entry of one fetch of one feed.

    Returns:
        ``GUID`` when every GUID is non-blank and no two entries share one (a URL-shaped GUID
        as its key has it, canonicalised: ``https://site/feed#item-1`` and ``#item-2`` are one,
        and gave two entries one key); else ``LINK`` when every canonical link is non-blank
        and unique; else ``LINK_TITLE``.
    """
    rows = list(entries)
    guids = [_guid_as_keyed(g) for _, g, _ in rows if g and g.strip()]
    if len(guids) == len(rows) and not _has_repeats(guids):
        return KeyBasis.GUID
    links = [canonicalize_url(link) for link, _, _ in rows if not _blank(link)]
    if len(links) == len(rows) and not _has_repeats(links):
        return KeyBasis.LINK
    return KeyBasis.LINK_TITLE


def _guid_as_keyed(guid: str) -> str:
    """A non-blank GUID as :func:`entry_key` reads it: stripped, and canonicalised when it is
    an http(s) URL."""
    gid = guid.strip()
    return canonicalize_url(gid) if is_web_url(gid) else gid


def _has_repeats(values: Sequence[str]) -> bool:
    return any(n > 1 for n in Counter(values).values())


def _norm_title(title: str | None) -> str:
    return " ".join((title or "").casefold().split())


def entry_key(
    link: str,
    guid: str | None,
    title: str | None,
    guid_usable: bool,
    link_usable: bool = True,
) -> str:
    """The deduplication key of one feed entry.

    Args:
        link: the entry's link (any form; canonicalised here).
        guid: the entry's GUID / Atom id, if any.
        title: the entry's title, if any.
        guid_usable: whether the feed's GUIDs are stable (see :func:`choose_key_basis`).
        link_usable: whether the feed's links are unique; when not (and GUIDs are unusable),
            the title joins the link.

    Returns:
        The canonical link (the common case, so a discard's key reads as a URL); a URL-shaped
        GUID canonicalised; ``guid:<site>:<guid>`` for other GUIDs (scoped to the link's site so
        that two feeds numbering their items 1, 2, 3 do not collide); or
        ``<canonical link>#title:<12 hex digits>`` for link + title. Never raises.
    """
    canon = canonicalize_url(link or "")
    if guid_usable and not _blank(guid):
        gid = (guid or "").strip()
        if is_web_url(gid):
            return canonicalize_url(gid)
        try:
            parts = urlsplit(canon)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            host, port = "", None
        scope = site_of(host) if host else ""
        return f"guid:{scope}{f':{port}' if port else ''}:{gid}"
    if link_usable and canon:
        return canon
    digest = hashlib.sha256(_norm_title(title).encode("utf-8")).hexdigest()[:12]
    return f"{canon}#title:{digest}"


def entry_keys(entries: Sequence[tuple[str, str | None, str | None]]) -> list[str]:
    """Keys for all entries of one feed fetch, choosing the key basis for the feed as a whole.

    Args:
        entries: ``(link, guid, title)`` of every entry of one fetch of one feed.

    Returns:
        One key per entry, in order. With link + title, an entry whose link is written exactly
        as an earlier entry's (a live blog listed once per update) gets that entry's key: it
        is the same page, to be fetched once (``DedupEntries`` drops the repeat), where links
        that differ only in what canonicalising drops (``?12345`` and ``?67890``) may not be.
    """
    basis = choose_key_basis(entries)
    keys: list[str] = []
    first_of_link: dict[str, str] = {}
    for link, guid, title in entries:
        written = (link or "").strip()
        if basis is KeyBasis.LINK_TITLE and written in first_of_link:
            keys.append(first_of_link[written])
            continue
        key = entry_key(
            link,
            guid,
            title,
            guid_usable=basis is KeyBasis.GUID,
            link_usable=basis is not KeyBasis.LINK_TITLE,
        )
        if written:  # entries without a link stay told apart by their titles
            first_of_link.setdefault(written, key)
        keys.append(key)
    return keys
