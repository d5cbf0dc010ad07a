"""A page's own URL: its confirmed canonical link, and AMP and mobile editions.

Consumes a page's URL and HTML (its ``<link rel=canonical>`` and ``og:url``); produces the
canonical URL the story is known by (:func:`page_canonical`, :func:`resolve_canonical`).
AMP and mobile variants (``m.``/``amp.`` hosts, ``/amp`` paths, ``?amp=1``, the Google AMP
cache) are mapped to the page's canonical URL only when the page itself confirms it with
``<link rel=canonical>`` or ``og:url`` on the same site; the URL alone is never rewritten on a
guess, because ``m.`` and ``/amp`` sites do not always mirror their desktop paths. Plain
Python, no Beam.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html

from transforms.urls import canonicalize_url, is_web_url

_MOBILE_HOST_LABELS = frozenset({"m", "mobile", "amp", "mobi"})
_AMP_PATH = re.compile(r"(?:^|/)amp(?:/|$|\.html?$)|\.amp(?:\.html?)?$", re.IGNORECASE)
_AMP_QUERY = re.compile(r"(?:^|&)(?:amp|outputtype=amp|amp=1|_amp=true)(?:&|$)", re.IGNORECASE)
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
_EDITION_LABELS = _MOBILE_HOST_LABELS | {"www"}
_HEAD_LIMIT = 1_000_000  # characters of a page read for its canonical link when no </head>


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
    if not is_web_url(target) or is_amp_or_mobile_variant(target):
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        target_parts = urlsplit(target)
        target_host = target_parts.hostname or ""
        target_parts.port  # noqa: B018 - raises for a port that is no port (":99999", ":x")
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
    rel_canonical, og_url = (_absolute(url, declared) for declared in _declared_canonicals(html))
    return resolve_canonical(url, rel_canonical, og_url)


def _absolute(url: str, declared: str | None) -> str | None:
    """``declared`` made absolute against ``url``; None when there is none, or it does not
    parse (``http://[x/``: ``urljoin`` raises, and the page's article was lost with it)."""
    if not declared or not declared.strip():
        return None
    try:
        return urljoin(url, declared.strip())
    except ValueError:
        return None


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
