"""URL canonicalisation: the exact-duplicate half of deduplication.

Consumes raw strings (links, GUIDs and page URLs) and produces canonical URL strings and hosts.
Plain Python, no Beam. Feed entries' keys are built from these in ``transforms.entry_keys``,
and a page's own canonical URL (its ``rel=canonical`` or ``og:url``; AMP and mobile editions)
is found in ``transforms.page_urls``.

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
"""

from __future__ import annotations

import re
from ipaddress import ip_address
from urllib.parse import (
    SplitResult,
    quote,
    quote_plus,
    unquote_plus,
    unquote_to_bytes,
    urlsplit,
    urlunsplit,
)

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
        "mwrsm",  # the New York Times's mwrsm=Email (links in the corpus's feeds)
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
        "traffic_source",  # Al Jazeera's feeds' traffic_source=rss, on every item link
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


def is_web_url(url: str) -> bool:
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
        if not is_web_url(raw):
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


def site_of(host: str) -> str:
    """The registrable domain of a host name (``news.bbc.co.uk`` -> ``bbc.co.uk``); an IP
    address is a site of its own, whole (the public-suffix list would make ``10.0.0.2`` and
    ``127.0.0.2`` one site, ``0.2``)."""
    try:
        ip_address(host.strip("[]"))
    except ValueError:
        return public_suffixes().privatesuffix(host) or host
    return host
