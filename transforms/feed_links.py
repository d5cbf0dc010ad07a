"""Each feed entry's link, as ``parse_feed`` (``transforms.feed_parsing``) passes it on.

Consumes feedparser's entries and the feed's bytes; produces each entry's link (its link
element's, or its GUID standing in when the feed wrote that as an absolute http(s) URL), or
"" when it has none to fetch: no host, or the feed's own URL; and for an entry left without
one, its GUID as the feed wrote it, for its dead letter to name (``links_of``,
``why_not_a_link``). No Beam.
"""

from __future__ import annotations

import html
import re
from collections import deque
from collections.abc import Collection
from typing import Any, NamedTuple
from urllib.parse import urljoin

import feedparser

from transforms.feed_documents import as_document


def guid_of(raw: Any) -> str | None:
    return str(raw.get("id") or "").strip() or None


class EntryLinks(NamedTuple):
    """What ``links_of`` finds: each entry's link ("" for none), and by the index of an entry
    left without one, its GUID as the feed wrote it (the GUID could not stand in)."""

    links: list[str]
    unused_guids: dict[int, str]


def links_of(
    raw_entries: list[Any], body: bytes, headers: dict[str, str], feed_url: str
) -> EntryLinks:
    """Each entry's link: the one its link element gives, or its GUID standing in.

    A link is no link when it names no host (``https://``; ``http:///x``, which feedparser
    makes ``http://x``) or points back at the feed itself (``#``, ``http://``, empty or
    fragment-only references that resolve to the feed's own URL): such an entry has nothing
    to fetch. Links in other schemes (``mailto:``) are kept, for the fetch stage to refuse
    naming them.

    A GUID stands in for a missing (or no) link only when the feed wrote it as an absolute
    http(s) URL. feedparser copies every permalink GUID (RSS 2.0's default, and every Atom
    id) into ``link`` and resolves it against the feed's URL, so ``<guid>abc-123</guid>``
    comes out as ``http://host/f/abc-123``, a URL the feed never held. A resolved GUID on
    another host than the feed's was written with its host (absolute, or ``//host/...``); one
    on the feed's own host, or any GUID of a feed with an ``xml:base``, is checked as written.

    feedparser blanks a link it cannot resolve against the feed's URL (``http://[::1/x``:
    ``urljoin`` raises) and keeps no trace of it; that link is then taken as written (the
    fetch stage refuses it as ``bad_url``, naming it, where the entry was an
    ``entry_without_link`` dead letter that had lost it).

    An entry left without a link has its GUID, if any, as written among ``unused_guids``: its
    ``entry_without_link`` dead letter names it, since the resolved ``http://host/f/abc-123``
    is not what a user fixing the feed finds in it (``why_not_a_link`` says why it was not
    used).

    The links and GUIDs as written come from a second parse of the same bytes without a base
    URL (no join; same decoding), run only for a feed with an entry that needs one; entries
    are matched by index, and the second parse is ignored if the counts differ (then no GUID
    awaiting the check stands in, and no GUID that feedparser may have resolved is named).
    """
    base = headers.get("content-location") or feed_url
    unusable = _hostless_links(body, base)
    own = {_document(url) for url in (base, feed_url) if url}
    # once for the feed: searched again for each entry, a 800 KB feed of 20,000 entries
    # with a GUID and no link took 10 s, quadratic in its size
    has_xml_base = b"xml:base" in body

    def usable(url: str) -> bool:
        return bool(url) and url not in unusable and _document(url) not in own

    links: list[str] = []
    guids_to_check: dict[int, str] = {}
    emptied: list[int] = []
    for i, raw in enumerate(raw_entries):
        link = _element_link(raw)
        if link and usable(link) and not _hostless_web_url(link):
            links.append(link)
            continue
        links.append("")
        guid = guid_of(raw)
        if guid and _WEB_URL.match(guid) and usable(guid):
            if _origin(guid) != _origin(base) and not has_xml_base:
                links[i] = guid
                continue
            guids_to_check[i] = guid
        if not link and _had_link(raw):
            emptied.append(i)
    # The GUIDs of entries without a link: one that is no http(s) URL once feedparser has
    # resolved it was none as written either (``mailto:``, ``tag:``; no second parse for it).
    linkless = _linkless_guids(raw_entries, links)
    unused = {i: guid for i, guid in linkless if not _WEB_URL.match(guid)}
    if not guids_to_check and not emptied and len(unused) == len(linkless):
        return EntryLinks(links, unused)
    unresolved = feedparser.parse(
        as_document(body),
        response_headers={**headers, "content-location": ""},
        sanitize_html=False,
        resolve_relative_uris=False,
    ).get("entries", [])
    if len(unresolved) != len(raw_entries):
        return EntryLinks(links, unused)
    for i, guid in guids_to_check.items():
        if _WEB_URL.match(guid_of(unresolved[i]) or ""):
            links[i] = guid
    for i in emptied:
        if not links[i]:
            links[i] = str(unresolved[i].get("link") or "").strip()
    written = {i: guid_of(unresolved[i]) for i, _ in _linkless_guids(raw_entries, links)}
    return EntryLinks(links, {i: guid for i, guid in written.items() if guid})


def why_not_a_link(guid: str) -> str:
    """Why the GUID ``guid``, as the feed wrote it, did not stand in for its entry's missing
    link (``links_of``): it is no http(s) URL (``abc-123``, ``tag:...``), or it is one that
    names no host (``https://``, ``http:///x``, ``http:x``) or the feed's own URL."""
    return (
        "not an absolute http(s) URL"
        if not _WEB_SCHEME.match(guid)
        else "no host, or the feed's own URL"
    )


def _linkless_guids(raw_entries: list[Any], links: list[str]) -> list[tuple[int, str]]:
    """The index and GUID (as feedparser gives it) of each entry without a link that has one."""
    return [
        (i, guid) for i, link in enumerate(links) if not link and (guid := guid_of(raw_entries[i]))
    ]


# An absolute http(s) URL with a host (``//host``, not ``///``); the start of any http(s) URL.
_WEB_URL = re.compile(r"(?i)https?://[^/?#\s]")
_WEB_SCHEME = re.compile(r"(?i)https?:")
# What a feed may write as an http(s) URL without a host: ``http:///x``, ``http:/x``, ``http:x``
# (feedparser turns them into ``http://x`` or a path on the feed's own host).
_HOSTLESS_WRITTEN = re.compile(rb"[hH][tT][tT][pP][sS]?:(?!//[^/])[^\s<>\"'\]]*")
_COLLAPSED_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)/*")  # as feedparser's _urifixer


def _hostless_links(body: bytes, base: str) -> frozenset[str]:
    """What feedparser resolves the body's http(s) URLs without a host to (``http:///x`` to
    ``http://x``): links no entry can be fetched from. A resolved URL the body also holds as
    written is not among them (another entry's real link).

    Linear in the body: each URL written is resolved once, and the body is searched for all
    of them at once (``_occurring``). Searching the whole body again for each URL found was
    quadratic: one item whose description repeated ``http:q `` took 80 s at 1 MiB.
    """
    resolved_of: dict[bytes, str | None] = {}  # each URL as written, and what it resolves to
    for match in _HOSTLESS_WRITTEN.finditer(body):
        token = match.group()
        if token in resolved_of:
            continue
        written = html.unescape(token.decode("utf-8", errors="replace")).strip()
        try:
            resolved_of[token] = urljoin(base, _COLLAPSED_SLASHES.sub(r"\1", written))
        except ValueError:
            resolved_of[token] = None
    candidates = {url: url.encode("utf-8") for url in resolved_of.values() if url is not None}
    written_too = _occurring(candidates.values(), body)
    return frozenset(url for url, raw in candidates.items() if raw not in written_too)


# Up to this many strings are each searched for in turn (a pass over the text each); more,
# in one pass of an Aho-Corasick automaton (``_occurring``), slower a byte but one pass.
_SEARCHED_ONE_BY_ONE = 16


def _occurring(needles: Collection[bytes], haystack: bytes) -> frozenset[bytes]:
    """Which of ``needles`` occur in ``haystack`` (as ``needle in haystack`` says), in time
    linear in the haystack and in the needles' length: a few are searched for one by one,
    more in one pass of an Aho-Corasick automaton (a trie of the needles, each node linked
    to the longest proper suffix of its string that is also in the trie)."""
    distinct = set(needles)
    if len(distinct) <= _SEARCHED_ONE_BY_ONE or b"" in distinct:
        return frozenset(needle for needle in distinct if needle in haystack)
    # The trie, built from the needles in sorted order: each shares with the one before it
    # as much of its path as their common prefix (not walked again: a long base URL that
    # every needle starts with is walked once).
    children: list[dict[int, int]] = [{}]
    ends: list[bytes | None] = [None]  # the needle that ends at each node
    path = [0]  # the nodes of the previous needle, by depth
    previous = b""
    for needle in sorted(distinct):
        shared = _common_prefix_length(previous, needle)
        del path[shared + 1 :]
        node = path[-1]
        for byte in needle[shared:]:
            children[node][byte] = len(children)
            node = len(children)
            children.append({})
            ends.append(None)
            path.append(node)
        ends[node] = needle
        previous = needle
    # Failure links (breadth first), and for each node the nearest node on its chain of
    # failure links (itself included) where a needle ends (0: none).
    fail = [0] * len(children)
    report = [0] * len(children)
    queue = deque(children[0].values())
    for node in queue:
        report[node] = node if ends[node] is not None else 0
    while queue:
        node = queue.popleft()
        for byte, child in children[node].items():
            target = fail[node]
            while target and byte not in children[target]:
                target = fail[target]
            fail[child] = children[target].get(byte, 0)
            report[child] = child if ends[child] is not None else report[fail[child]]
            queue.append(child)
    # One pass; from the root, straight to the next byte a needle can start with.
    first_bytes = re.compile(b"[" + b"".join(re.escape(bytes([b])) for b in children[0]) + b"]")
    reported = bytearray(len(children))
    found: set[bytes] = set()
    state, at, end = 0, 0, len(haystack)
    while at < end and len(found) < len(distinct):
        if state == 0:
            start = first_bytes.search(haystack, at)
            if start is None:
                break
            at = start.start()
        byte = haystack[at]
        while state and byte not in children[state]:
            state = fail[state]
        state = children[state].get(byte, 0)
        hit = report[state]
        while hit and not reported[hit]:  # a node reported once had its whole chain reported
            reported[hit] = 1
            ended = ends[hit]
            if ended is not None:  # always: a node reported is one where a needle ends
                found.add(ended)
            hit = report[fail[hit]]
        at += 1
    return frozenset(found)


def _common_prefix_length(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix of ``a`` and ``b`` (a binary search on slices:
    compared in C, not byte by byte in Python)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _hostless_web_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with an empty host (``https://``)."""
    return bool(_WEB_SCHEME.match(url)) and not _WEB_URL.match(url)


def _document(url: str) -> str:
    """``url`` without its fragment, scheme and host in lower case: the document it names."""
    url = url.split("#", 1)[0]
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


def _origin(url: str) -> str:
    """An absolute URL's ``scheme://host``, in lower case."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{re.split(r'[/?#]', rest, maxsplit=1)[0]}".lower()


def _element_link(raw: Any) -> str:
    """The link feedparser read from the entry's own link element, not one it copied from a
    permalink GUID (it does so for an entry with no link element, and says ``guidislink``)."""
    link = str(raw.get("link") or "").strip()
    copied = (
        raw.get("guidislink")
        and link == guid_of(raw)
        and not any(
            isinstance(item, dict) and item.get("rel") == "alternate"
            for item in raw.get("links") or ()
        )
    )
    return "" if copied else link


def _had_link(raw: Any) -> bool:
    """Whether the entry had an alternate link element (feedparser lists it, href or not)."""
    return any(
        isinstance(link, dict) and link.get("rel") == "alternate" and not link.get("href")
        for link in raw.get("links") or ()
    )
