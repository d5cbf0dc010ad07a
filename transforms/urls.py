"""URL canonicalisation and feed-entry keys: the exact-duplicate half of deduplication.

Consumes raw strings (links, GUIDs and titles from feeds, canonical / og:url values from pages)
and produces canonical URL strings and entry keys. Plain Python, no Beam: ``PollFeeds`` fills
``FeedEntry.key`` with :func:`entry_keys`, ``DedupEntries`` groups by that key, and the story
stage joins the page's confirmed canonical URL (:func:`resolve_canonical`) to the key.

Canonical form (:func:`canonicalize_url`), as RFC 3986 section 6.2.2 normalises a URL, plus
what news links add:

- scheme and host lower-cased, punycode decoded (courlan's ``decode_punycode``), a trailing
  dot of the host dropped, default ports (80/443) dropped;
- percent-escapes of unreserved characters decoded (``%7E`` -> ``~``), the others' hex digits
  upper-cased (``%c3%a9`` -> ``%C3%A9``), duplicate slashes folded, ``.`` and ``..`` path
  segments resolved (``/a/./b/../c`` -> ``/a/c``); the path keeps the characters RFC 3986
  allows in it as they are (``;jsessionid=``, ``/@user``, ``(``, ``+``), so that the URL
  published is the page's own;
- the fragment dropped, and so are a user name and password (``https://user:pw@host/``):
  they would be published with the story;
- query parameters sorted by name; tracking parameters removed, compared case-insensitively
  and by whole name (:func:`is_tracking_param`: ``utm_*``, ``fbclid``, ``gclid``, ``ref``,
  ``source``, ... and :data:`EXTRA_TRACKING_PARAMS`), never by a name's first letters
  (``gallery``, ``cid`` and ``source_id`` may say which article it is); parameters with an
  empty value (``?a=``) dropped; names and values escaped as forms escape them (``+`` for a
  space), byte for byte, so a value that is not UTF-8 (``?t=caf%E9``) keeps its bytes;
- value-less query parts kept, sorted, ahead of the parameters, because many sites identify the
  article by them (``story.php?12345``, ``index.php?/archives/123``, ``?article123``). Only
  those named in :data:`VALUELESS_JUNK` (``?amp``, ``?rss``, ...) or tracking names are removed.
- anything that is not an absolute http(s) URL is returned stripped, unchanged: the function
  never raises.

Until this module did the query and the path itself, courlan's ``normalize_url`` did: its
tracker pattern matched names by their first letters (``gallery=1`` and ``gallery=2`` were
one URL), it decoded values as UTF-8 with replacement (``caf%E9`` and ``caf%E8`` were one),
and it escaped ``;`` and ``@`` in paths. A URL with such parts has another story id since.

AMP and mobile variants (``m.``/``amp.`` hosts, ``/amp`` paths, ``?amp=1``, the Google AMP cache)
are mapped to the page's canonical URL only when the page itself confirms it with
``<link rel=canonical>`` or ``og:url`` on the same site; the URL alone is never rewritten on a
guess, because ``m.`` and ``/amp`` sites do not always mirror their desktop paths.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from ipaddress import ip_address
from urllib.parse import (
    SplitResult,
    quote,
    quote_plus,
    unquote_plus,
    unquote_to_bytes,
    urljoin,
    urlsplit,
    urlunsplit,
)

import lxml.etree
import lxml.html
from courlan.clean import decode_punycode
from publicsuffixlist import PublicSuffixList

# Query parameters that track a click, a campaign or a visitor, never say which article a URL
# is (compared lower-cased, by whole name): the ad networks' click ids, the analytics tools'
# campaign names, and the referral and session names courlan's tracker list names.
TRACKING_PARAMS = frozenset(
    {
        "aff",
        "aff_id",
        "affi",
        "affid",
        "affiliate",
        "campaign",
        "campaign_id",
        "campaignid",
        "clickid",
        "clid",
        "dclid",
        "fbclid",
        "ga",
        "gbraid",
        "gclid",
        "gclsrc",
        "gl",
        "igsh",
        "igshid",
        "kwd",
        "medium",
        "msclkid",
        "partnerid",
        "ref",
        "ref_src",
        "ref_url",
        "referer",
        "referrer",
        "session",
        "session_id",
        "sessionid",
        "source",
        "srsltid",
        "twclid",
        "wbraid",
        "xtor",
        "yclid",
        "ysclid",
    }
)
# Name prefixes of the same (``utm_source``, ``mc_cid``, Matomo's ``mtm_``, Piwik's ``pk_``).
TRACKING_PREFIXES = ("ad_", "ads_", "ga_", "gs_", "itm_", "mc_", "mkt_", "ml_", "mtm_", "oly_",
                     "pk_", "utm_", "vero_")  # fmt: skip

# More tracking parameters, one site's each (compared lower-cased, by whole name). Only names
# no site uses to say which article a URL is: generic ones that news sites also use for
# tracking (WSJ's ``mod``, Forbes's ``sh``, the New York Times's ``action``, ``module``,
# ``pgtype``) stay, as a CMS's ``?mod=article&id=5`` may need them.
EXTRA_TRACKING_PARAMS = frozenset(
    {
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "at_campaign",
        "at_medium",
        "cmp",  # the Guardian's CMP=share_btn_tw
        "cmpid",
        "emc",  # the New York Times's emc=rss
        "ftcamp",  # the Financial Times
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "hpt",  # CNN's hpt=hp_t1
        "hsctatracking",
        "itid",  # the Washington Post's itid=lk_inline_manual_3
        "mkt_tok",
        "ns_campaign",
        "ns_linkname",
        "ns_mchannel",
        "ncid",  # Yahoo's and Engadget's ncid=rss
        "ns_source",
        "ocid",
        "s_kwcid",
        "smid",
        "smtyp",
        "sr_share",
        "srcref",  # MSN's srcref=rss
        "wpisrc",  # the Washington Post's wpisrc=nl_tech
        "wt_mc",
        "yptr",  # Yahoo's yptr=yahoo
        "__twitter_impression",
    }
)

# Value-less query parts (``page?amp``) that mark a rendering or a referral of the same article,
# never which article it is (compared lower-cased, after percent-decoding), besides tracking
# names (``?ref``, ``?fbclid``: ``is_tracking_param``). Any other value-less part is kept: it may
# be the article's id.
VALUELESS_JUNK = frozenset(
    {
        "amp",  # the AMP rendering: page?amp (valued forms, ?amp=1, are kept: see module docs)
        "rss",  # feed-click marker: transfermarkt.de feeds link every item as .../news/326649?rss
        "share",  # share-button marker: page?share
    }
)
# Characters a value-less query part keeps as they are ("%" so escapes are not escaped twice).
_QUERY_SAFE = "!$'()*+,;:@/?~-._%"
# Characters a path keeps as they are: RFC 3986's pchar and "/", and "%" as above.
_PATH_SAFE = "!$&'()*+,;=:@/~-._%"
_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_SLASHES = re.compile(r"/{2,}")
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|[46][1-9a-fA-F]|[57][0-9aA]|3[0-9])")
_MOBILE_HOST_LABELS = frozenset({"m", "mobile", "amp", "mobi"})
_AMP_PATH = re.compile(r"(?:^|/)amp(?:/|$|\.html?$)|\.amp(?:\.html?)?$", re.IGNORECASE)
_AMP_QUERY = re.compile(r"(?:^|&)(?:amp|outputtype=amp|amp=1|_amp=true)(?:&|$)", re.IGNORECASE)
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
_EDITION_LABELS = _MOBILE_HOST_LABELS | {"www"}
_HEAD_LIMIT = 1_000_000  # characters of a page read for its canonical link when no </head>
_PSL: PublicSuffixList | None = None


def host_of(url: str) -> str:
    """The lower-cased host name of ``url``.

    Args:
        url: any string; typically a feed URL or an entry's link.

    Returns:
        The host, or "" when there is none or the URL does not parse (``http://[::1/x``,
        ``http://[1:2:3]/``). Never raises: callers use it to group requests, and the HTTP
        client refuses such a URL itself, as ``bad_url``.
    """
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def public_suffixes() -> PublicSuffixList:
    """The public-suffix list, parsed once per process from the package's bundled snapshot
    (nothing is downloaded)."""
    global _PSL
    if _PSL is None:
        _PSL = PublicSuffixList()
    return _PSL


def _is_web_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host (False when it does not parse)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def is_tracking_param(name: str) -> bool:
    """Whether a query parameter's name (decoded) is a tracking one: a whole name of
    :data:`TRACKING_PARAMS` or :data:`EXTRA_TRACKING_PARAMS`, or one of
    :data:`TRACKING_PREFIXES`, in any case."""
    lowered = name.lower()
    return (
        lowered in TRACKING_PARAMS
        or lowered in EXTRA_TRACKING_PARAMS
        or lowered.startswith(TRACKING_PREFIXES)
    )


def _query(query: str) -> str:
    """A raw query in canonical form: value-less parts that may identify the page, escaped
    and sorted, then the parameters with a value that are not tracking ones, sorted by name
    (a name's values in their order), each escaped as a form escapes it, byte for byte."""
    valueless: set[str] = set()
    params: list[tuple[str, int, str]] = []
    # A feed that escapes its links twice gives "a=1&amp;b=2": the parameter is b, not "amp;b".
    for position, piece in enumerate(query.replace("&amp;", "&").split("&")):
        if not piece:
            continue
        if "=" not in piece:
            name = unquote_plus(piece)
            if name.lower() not in VALUELESS_JUNK and not is_tracking_param(name):
                valueless.add(quote(piece, safe=_QUERY_SAFE))
            continue
        raw_name, raw_value = piece.split("=", 1)
        name = unquote_plus(raw_name)
        if raw_value and not is_tracking_param(name):
            params.append((name, position, f"{_form_escaped(raw_name)}={_form_escaped(raw_value)}"))
    return "&".join([*sorted(valueless), *(escaped for _, _, escaped in sorted(params))])


def _form_escaped(part: str) -> str:
    """A query name or value escaped as an HTML form escapes it (``+`` for a space, every
    byte but letters, digits and ``_.-~`` as ``%XX``), from the bytes its escapes stand for."""
    return quote_plus(unquote_to_bytes(part.replace("+", " ")), safe="")


def _host_and_port_of(parts: SplitResult) -> str:
    """The canonical authority of a parsed URL: its host lower-cased without a trailing dot,
    punycode decoded, in brackets if it is IPv6, and its port unless it is the scheme's
    default. Raises ValueError for a port that is not a number."""
    host = (parts.hostname or "").lower().rstrip(".")
    host = f"[{host}]" if ":" in host else decode_punycode(host)
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"


def _without_dot_segments(path: str) -> str:
    """An absolute path with its ``.`` and ``..`` segments resolved (RFC 3986, 5.2.4)."""
    if "/." not in path:
        return path
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    trailing = "/" if segments[-1] in (".", "..") and kept else ""
    return "/" + "/".join(kept) + trailing


def canonicalize_url(url: str) -> str:
    """The canonical form of a URL (see the module docstring for the rules).

    Args:
        url: any string; typically a feed link, a GUID or a page's canonical URL.

    Returns:
        The canonical URL, or ``url.strip()`` when it is not an absolute http(s) URL or cannot
        be parsed. Never raises.
    """
    raw = url.strip() if isinstance(url, str) else ""
    try:
        if not _is_web_url(raw):
            return raw
        parts = urlsplit(_UNRESERVED_ESCAPE.sub(lambda m: chr(int(m[1], 16)), raw))
        path = _without_dot_segments(_SLASHES.sub("/", parts.path) or "/")
        path = _ESCAPE.sub(lambda m: m[0].upper(), quote(path, safe=_PATH_SAFE))
        query = _ESCAPE.sub(lambda m: m[0].upper(), _query(parts.query))
        return urlunsplit((parts.scheme.lower(), _host_and_port_of(parts), path, query, ""))
    except (ValueError, TypeError, AttributeError, UnicodeError):
        return raw


def _host_and_port(netloc: str) -> str:
    return netloc.rpartition("@")[2]


def without_userinfo(url: str) -> str:
    """``url`` without the user name and password its authority may carry
    (``https://user:pw@host/x`` -> ``https://host/x``), otherwise exactly as given: for URLs
    that are published as fetched. Never raises."""
    try:
        parts = urlsplit(url)
    except (ValueError, TypeError, AttributeError):
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=_host_and_port(parts.netloc)))


# A URL's scheme and user info, r"\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@", matched with the user
# info optional: a run of scheme characters not followed by user info is matched whole and
# left as it is (_without_userinfo), rather than searched again from each later word in it
# ("a.b-c"), whose scheme would end where the run does, with no user info either. Searching
# from each took quadratic time: "a." repeated, 64,000 characters took 20 s, 1 MB hours.
_USERINFO_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*)(://[^/?#@\s]*@)?")


def redact_userinfo(text: str) -> str:
    """``text`` with the user name and password taken out of every URL it contains
    (``... https://user:pw@host/x ...`` -> ``... https://host/x ...``): for dead letters and
    discards, whose URL, message and input excerpt may quote a link with credentials."""
    return _USERINFO_IN_TEXT.sub(_without_userinfo, text) if "@" in text else text


def _without_userinfo(m: re.Match[str]) -> str:
    return m.group(1) + "://" if m.group(2) else m.group()


def is_amp_or_mobile_variant(url: str) -> bool:
    """True when the URL looks like an AMP or mobile edition (host, path or query marker).

    Args:
        url: a URL, canonical or not.

    Returns:
        Whether the URL carries an AMP or mobile marker. A guess: only
        :func:`amp_mobile_variant_of` acts on it, and only with the page's confirmation.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except (ValueError, AttributeError):
        return False
    if not host:
        return False
    if host.endswith(_AMP_CACHE_SUFFIX) or host.split(".")[0] in _MOBILE_HOST_LABELS:
        return True
    return bool(_AMP_PATH.search(parts.path) or _AMP_QUERY.search(parts.query))


def _site(host: str) -> str:
    """The registrable domain of a host name (``news.bbc.co.uk`` -> ``bbc.co.uk``); an IP
    address is a site of its own, whole (the public-suffix list would make ``10.0.0.2`` and
    ``127.0.0.2`` one site, ``0.2``)."""
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return public_suffixes().privatesuffix(host) or host
    return host


def amp_mobile_variant_of(url: str, canonical: str | None) -> str | None:
    """The canonical page an AMP/mobile URL stands for, when the page confirms it.

    Args:
        url: the URL that was fetched (after redirects).
        canonical: what the page declares, from ``<link rel=canonical>`` or ``og:url``.

    Returns:
        The canonicalised declared URL when ``url`` is an AMP or mobile variant, the declared URL
        is an absolute http(s) URL on the same site (same registrable domain; for the Google
        AMP cache, the site its path names) and is not itself a variant; otherwise ``None``.
    """
    if not canonical or not is_amp_or_mobile_variant(url):
        return None
    target = canonicalize_url(canonical)
    if not _is_web_url(target) or is_amp_or_mobile_variant(target):
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        target_host = urlsplit(target).hostname or ""
    except ValueError:
        return None
    if host.endswith(_AMP_CACHE_SUFFIX):
        # The cache serves any site's AMP page: trust a canonical only on the site whose
        # page the cache URL names, or a page there could take another outlet's story id.
        host = _amp_cache_origin(parts.path)
    if not host or _edition_host(host) != _edition_host(target_host):
        return None
    if urlsplit(target).path == "/" and not urlsplit(target).query:
        return None  # the site's home page: a site-wide og:url, not this article's desktop page
    return target


def _edition_host(host: str) -> str:
    """A host without the leading labels that name an edition of the same site
    (``www.``, ``m.``, ``amp.``, ...): ``m.example.com`` and ``www.example.com`` are one
    site's, ``alice.substack.com`` and ``bob.substack.com`` are not."""
    labels = host.lower().rstrip(".").split(".")
    while len(labels) > 2 and labels[0] in _EDITION_LABELS:
        labels = labels[1:]
    return ".".join(labels)


def page_canonical(url: str, html: str) -> str:
    """The key URL of a fetched page, with what its HTML declares (:func:`resolve_canonical`).

    Args:
        url: the URL that was fetched (after redirects).
        html: the page.

    Returns:
        A canonical URL. Only an AMP or mobile URL's page is read: its first
        ``<link rel=canonical href>`` and ``<meta property=og:url content>``, in that order,
        made absolute against ``url``. Not trafilatura's ``url``, which prefers og:url and
        falls back on ``<base href>`` and hreflang: on some sites those name the home page
        on every article, which made every AMP article of the site one story.
    """
    if not is_amp_or_mobile_variant(url):
        return canonicalize_url(url)
    rel_canonical, og_url = (
        urljoin(url, declared.strip()) if declared and declared.strip() else None
        for declared in _declared_canonicals(html)
    )
    return resolve_canonical(url, rel_canonical, og_url)


def _declared_canonicals(html: str) -> tuple[str | None, str | None]:
    """The first ``<link rel=canonical>`` href and ``og:url`` content of a page's head (its
    first 1 MB when it has no ``</head>``)."""
    start = html[:_HEAD_LIMIT]
    end = start.lower().find("</head>")
    head = start[: end + len("</head>")] if end >= 0 else start
    try:
        tree = lxml.html.document_fromstring(head)
    except (ValueError, lxml.etree.ParserError):
        return None, None
    rel_canonical = next(
        (el.get("href") for el in tree.iter("link")
         if "canonical" in (el.get("rel") or "").lower().split() and el.get("href")),
        None,
    )  # fmt: skip
    og_url = next(
        (el.get("content") for el in tree.iter("meta")
         if (el.get("property") or "").strip().lower() == "og:url" and el.get("content")),
        None,
    )  # fmt: skip
    return rel_canonical, og_url


def _amp_cache_origin(path: str) -> str:
    """The origin host a Google AMP cache path names: ``/c/s/example.com/...`` (``c``
    content, ``v`` viewer, ``i`` image; ``s`` for https), lower case; "" when it names none."""
    segments = path.split("/")[1:]
    if segments[:1] not in (["c"], ["v"], ["i"]):
        return ""
    rest = segments[2:] if segments[1:2] == ["s"] else segments[1:]
    origin = rest[0].lower() if rest else ""
    return origin if "." in origin else ""


def resolve_canonical(url: str, rel_canonical: str | None, og_url: str | None) -> str:
    """The key URL of a fetched page: its confirmed desktop canonical, else its own canonical form.

    Args:
        url: the URL that was fetched (after redirects).
        rel_canonical: the page's ``<link rel=canonical href>``, if any.
        og_url: the page's ``<meta property=og:url content>``, if any.

    Returns:
        A canonical URL; never raises.
    """
    for declared in (rel_canonical, og_url):
        target = amp_mobile_variant_of(url, declared)
        if target is not None:
            return target
    return canonicalize_url(url)


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
        ``GUID`` when every GUID is non-blank and no two entries share one; else ``LINK`` when
        every canonical link is non-blank and unique; else ``LINK_TITLE``.
    """
    rows = list(entries)
    guids = [g.strip() for _, g, _ in rows if g and g.strip()]
    if len(guids) == len(rows) and not _has_repeats(guids):
        return KeyBasis.GUID
    links = [canonicalize_url(link) for link, _, _ in rows if not _blank(link)]
    if len(links) == len(rows) and not _has_repeats(links):
        return KeyBasis.LINK
    return KeyBasis.LINK_TITLE


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
        if _is_web_url(gid):
            return canonicalize_url(gid)
        try:
            parts = urlsplit(canon)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            host, port = "", None
        scope = _site(host) if host else ""
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


__all__ = [
    "EXTRA_TRACKING_PARAMS",
    "VALUELESS_JUNK",
    "KeyBasis",
    "amp_mobile_variant_of",
    "canonicalize_url",
    "choose_key_basis",
    "entry_key",
    "entry_keys",
    "host_of",
    "is_amp_or_mobile_variant",
    "redact_userinfo",
    "resolve_canonical",
    "without_userinfo",
]
