"""The outlet catalogue: who published a URL, from which country, with which state affiliation.

Consumes the bundled catalogue ``transforms/data/outlets.csv`` (and optionally a user file in the
same format, given with ``--outlets FILE``) and produces ``transforms.records.Outlet`` records for
URLs or host names.

The catalogue files' format, and how they are read and checked: ``transforms.outlet_files``.

Matching (``OutletCatalogue.lookup``): the host is lower-cased and IDNA-encoded, then looked up
exactly, then each parent in turn (``m.arabic.people.com.cn`` -> ``arabic.people.com.cn`` ->
``people.com.cn``), stopping at the registered domain given by the public-suffix list (the
snapshot bundled with ``publicsuffixlist``; nothing is downloaded). So subdomain entries win
over their parent, and mobile, AMP and ``www`` hosts (``m.``, ``amp.``, ``mobile.``, ``www3.``)
fall back to the parent entry. A host that falls back through a label naming a language
(``english.``, ``chinese.``, ``en.``, ``cn.``: ``SUBDOMAIN_LANGUAGES``) is that language's
edition: it takes the parent's entry with that language (``chinese.cgtn.com`` -> CGTN, ``zh``).
Entries are keyed by host only, never by path: every host that the
State Media Matrix lists for several outlets (``sb.by/respublika/``, ``tdm.com.mo/radio/``) has
one country for all of them, so a path would change only the outlet's name.

The feed list (``OutletCatalogue.lookup_for_entry``): a feed's own ``name`` and ``country``
(YAML; an OPML outline's title is its name) fill the outlet's name and country where the
catalogue has none for the page's host, and only when the page's registered domain is the feed
URL's (an aggregator's or syndicating feed does not name the outlets it links to). The
catalogue's values always win; language and state affiliation come from the catalogue only.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from transforms.codes import check_country
from transforms.outlet_files import (
    COLUMNS,
    TYPOLOGY_CODES,
    OutletFileError,
    host_to_ascii,
    ip_literal,
    normalise_domain,
    read_catalogue_file,
)
from transforms.records import FeedEntry, Outlet
from transforms.urls import public_suffixes

BUNDLED_PATH = Path(__file__).resolve().parent / "data" / "outlets.csv"

_SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_OPAQUE_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")

# First labels of a host that name its edition's language (``english.news.cn``), read by
# ``OutletCatalogue.lookup`` for a host without an entry of its own and by
# ``tools/build_outlets.py`` for the State Media Matrix's hosts. Only labels that name a language
# on any site: a language's name or code, or a country whose edition has that one language
# (``br``, ``gr``, ``jp``, ``kr``, ``cn``); ``ar`` is Arabic (``ar.irna.ir``), not Argentina. Not
# ``it`` (a site's IT section), ``ch`` (Switzerland), ``uk`` (the British edition, in English),
# ``az`` (Arizona), ``ca`` (Canada or Catalan), ``in`` (India), ``mundo`` (Spanish and Portuguese).
SUBDOMAIN_LANGUAGES: dict[str, str] = {
    "en": "en", "eng": "en", "english": "en", "learningenglish": "en",
    "ar": "ar", "arabic": "ar",
    "zh": "zh", "cn": "zh", "chinese": "zh",
    "fr": "fr", "french": "fr", "francais": "fr",
    "es": "es", "espanol": "es", "spanish": "es",
    "de": "de", "german": "de", "deutsch": "de",
    "ru": "ru", "russian": "ru",
    "ja": "ja", "jp": "ja", "japanese": "ja",
    "ko": "ko", "kr": "ko", "korean": "ko",
    "pt": "pt", "portuguese": "pt", "br": "pt",
    "fa": "fa", "persian": "fa", "farsi": "fa",
    "ur": "ur", "urdu": "ur",
    "tr": "tr", "turkish": "tr",
    "italian": "it", "pl": "pl", "gr": "el", "lt": "lt", "rs": "sr",
}  # fmt: skip


def edition_language(host: str, parent: str) -> str | None:
    """The language named by a label of ``host`` left of ``parent``, its catalogued parent.

    Args:
        host: a lower-case host name (``m.english.news.cn``).
        parent: a parent domain of ``host`` (``news.cn``), or ``host`` itself.

    Returns:
        The ISO 639-1 code of the leftmost label that names a language (``SUBDOMAIN_LANGUAGES``),
        or ``None`` when there is none (``m.``, ``www.``, ``news.``).
    """
    for label in host[: len(host) - len(parent)].split("."):
        if label in SUBDOMAIN_LANGUAGES:
            return SUBDOMAIN_LANGUAGES[label]
    return None


class OutletCatalogue:
    """Outlets keyed by host; looks up the outlet that published a URL.

    Load it once per worker (``OutletCatalogue.load()`` in a DoFn's ``setup()``); ``lookup`` is a
    handful of dict probes, one per label of the host.
    """

    BUNDLED: ClassVar[Path] = BUNDLED_PATH

    def __init__(self, outlets: dict[str, Outlet]) -> None:
        """Wrap already validated entries (use ``load`` to read files).

        Args:
            outlets: outlets keyed by normalised domain (see ``normalise_domain``).
        """
        self._outlets = dict(outlets)
        self._psl = public_suffixes()

    @classmethod
    def load(cls, extra_path: str | Path | None = None) -> OutletCatalogue:
        """Load the bundled catalogue, then the user's file whose rows extend or override it.

        Args:
            extra_path: an optional user catalogue in the same format (``--outlets FILE``).

        Returns:
            The merged catalogue.

        Raises:
            OutletFileError: when either file is missing or malformed.
        """
        outlets = read_catalogue_file(cls.BUNDLED)
        if extra_path is not None:
            outlets.update(read_catalogue_file(extra_path))
        return cls(outlets)

    def __len__(self) -> int:
        return len(self._outlets)

    def __contains__(self, domain: object) -> bool:
        return isinstance(domain, str) and domain in self._outlets

    def registered_domain(self, host: str) -> str:
        """The registrable domain of ``host`` (``news.bbc.co.uk`` -> ``bbc.co.uk``).

        Args:
            host: a lower-case ASCII host name or IP address.

        Returns:
            The registered domain; the host itself for IP addresses, single-label names
            (``localhost``) and hosts that are themselves public suffixes.
        """
        if ip_literal(host) is not None:
            return host
        registered = self._psl.privatesuffix(host)
        return registered if registered else host

    def lookup(self, url_or_host: str) -> Outlet:
        """The outlet that publishes at ``url_or_host``.

        Args:
            url_or_host: an absolute URL (``https://m.example.com/a``), a scheme-less URL
                (``example.com/a``) or a bare host name.

        Returns:
            The catalogue's outlet for the most specific matching host: the exact host, else the
            nearest parent down to the registered domain, with the language of a label that
            names one between the two (``SUBDOMAIN_LANGUAGES``). For an unknown host, an ``Outlet``
            whose ``domain`` is the registered domain and whose other fields are ``None``.

        Raises:
            ValueError: when no host can be read from ``url_or_host``.
        """
        host = self.host_of(url_or_host)
        ip = ip_literal(host)
        if ip is not None:
            return self._outlets.get(ip) or Outlet(domain=ip)
        registered = self.registered_domain(host)
        candidate = host
        while True:
            found = self._outlets.get(candidate)
            if found is not None:
                language = edition_language(host, candidate)
                if language is None or language == found.language:
                    return found
                return replace(found, language=language)
            if candidate == registered or "." not in candidate:
                return Outlet(domain=registered)
            candidate = candidate.split(".", 1)[1]

    def lookup_for_entry(self, url: str, entry: FeedEntry) -> Outlet:
        """``lookup(url)``, with the feed's name and country where the catalogue has none.

        Args:
            url: the page's URL (after redirects).
            entry: the feed entry that linked to it (``feed_url``, ``feed_name``,
                ``feed_country``; the country was checked when the feed list was read).

        Returns:
            The catalogue's outlet; its missing ``name`` / ``country`` taken from the feed
            only when ``url``'s registered domain is the feed URL's. Nothing else changes.

        Raises:
            ValueError: when no host can be read from ``url``.
        """
        outlet = self.lookup(url)
        name = outlet.name or entry.feed_name or None
        country = outlet.country or entry.feed_country or None
        if (name, country) == (outlet.name, outlet.country) or not self._same_site(url, entry):
            return outlet
        # an outlet no catalogue entry knew stays "state media: unknown" (records.Outlet)
        return replace(
            outlet, name=name, country=country, catalogued=outlet.state_media is not None
        )

    def _same_site(self, url: str, entry: FeedEntry) -> bool:
        """Whether ``url`` and the entry's feed URL have the same registered domain."""
        try:
            feed_host = self.host_of(entry.feed_url)
        except ValueError:
            return False
        page_host = self.host_of(url)
        return self.registered_domain(page_host) == self.registered_domain(feed_host)

    @staticmethod
    def host_of(url_or_host: str) -> str:
        """The lower-case ASCII host of a URL or host name.

        Args:
            url_or_host: as for ``lookup``.

        Returns:
            The host, without port, user info or trailing dot.

        Raises:
            ValueError: when there is no host.
        """
        text = url_or_host.strip()
        has_scheme = _SCHEME_RE.match(text) is not None
        if not has_scheme and _OPAQUE_RE.match(text):  # mailto:x, javascript:x, urn:x
            raise ValueError(f"no host name in {url_or_host!r}")
        parts = urlsplit(text if has_scheme or text.startswith("//") else "//" + text)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(f"no host name in {url_or_host!r} (bad port)") from None
        host = parts.hostname or ""
        if not host:
            raise ValueError(f"no host name in {url_or_host!r}")
        return host_to_ascii(host)


__all__ = [
    "COLUMNS",
    "TYPOLOGY_CODES",
    "OutletCatalogue",
    "OutletFileError",
    "SUBDOMAIN_LANGUAGES",
    "check_country",
    "edition_language",
    "normalise_domain",
    "read_catalogue_file",
]
