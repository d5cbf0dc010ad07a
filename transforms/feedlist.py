"""Reads the list of feeds to poll: OPML, a plain text list, or YAML.

Consumes a file path; produces ``FeedSpec`` records. Formats:

* OPML (``.opml``, or any file starting with ``<``): every ``<outline xmlUrl=...>``;
  ``title`` gives the name (else ``text``, which OPML readers display), ``language`` (if
  present) the language. An ``&`` that starts no XML reference (``Science & Environment``,
  ``?a=1&b=2``) is read as ``&amp;`` and an HTML name (``&nbsp;``) as its character, as feed
  readers read them, and so is a ``"`` or a ``<`` inside an outline's attribute value (with
  a warning: ``transforms.opml_mend``; hand-made lists have all three, XML forbids them); any
  other XML mistake is an error naming its line and column.
* Plain text: one URL per line; blank lines and ``#`` comments are ignored.
* YAML (``.yaml``/``.yml``): either a list, or a mapping with a ``feeds`` list, whose
  items are URLs or mappings ``{url, name, country, language}``, each value text (quoted
  where YAML would read a number, a boolean or a date; a list or a mapping is an error);
  ``country`` must be an ISO 3166-1 alpha-2 code (any case), checked as the outlet
  catalogue checks it.

A feed's ``language`` (YAML or OPML) stands in for the feed's own ``<language>``: the story's
language where its text is too short to guess from. It must be an ISO 639 code (any case,
``en``, ``pt-BR``), as the outlet catalogue's are, and is kept as its primary subtag (``pt``),
as a feed's own declaration is.

A UTF-8 byte-order mark at the start of the file (as Windows editors save UTF-8) is not
part of the list; a text or YAML list in another encoding is refused (``_utf8``). A YAML
mapping that names a key twice is an error, not the last one
(``transforms.userfiles.load_yaml``, which the taxonomy loader uses too). Errors raise
``FeedListError`` with a one-line message naming the file (and line where there is one),
never a traceback for the user.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import yaml
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from transforms.codes import check_country, check_language
from transforms.opml_mend import in_raw, mend_ampersands, mend_attribute_quotes
from transforms.records import FeedSpec
from transforms.userfiles import key_hint, load_yaml, read_bytes

_log = logging.getLogger(__name__)

_SCHEMES = ("http://", "https://")
_INLINE_COMMENT = re.compile(r"\s+#")


class FeedListError(ValueError):
    """The feed list cannot be read or holds no usable feed."""


def read_feed_list(path: str | Path) -> list[FeedSpec]:
    """Read a feed list file in any supported format.

    Args:
        path: an OPML, plain text or YAML file.

    Returns:
        The feeds, in file order, without duplicates (the first mention wins).

    Raises:
        FeedListError: the file is missing, unreadable (whatever the filesystem raised, e.g.
            Cloud Storage out of reach), malformed or lists no feed.
    """
    name = str(path)  # not str(Path(...)), which turns gs://bucket into gs:/bucket
    try:
        raw = read_bytes(name)
    except FileNotFoundError:
        raise FeedListError(f"feed list not found: {name}") from None
    except IsADirectoryError:
        raise FeedListError(f"feed list is a directory, not a file: {name}") from None
    except OSError as exc:  # a remote store's own errors arrive as OSError too (userfiles)
        raise FeedListError(f"cannot read feed list {name}: {_cause(exc)}") from None
    text = raw.decode("utf-8-sig", errors="replace")  # a BOM (Windows editors) is not text
    suffix = Path(name).suffix.lower()
    if suffix in (".opml", ".xml") or text.lstrip().startswith("<"):
        specs = _parse_opml(raw, name)  # XML declares its own encoding
    elif suffix in (".yaml", ".yml"):
        specs = _parse_yaml(_utf8(raw, name), name)
    else:
        specs = _parse_text(_utf8(raw, name), name)
    unique: list[FeedSpec] = []
    seen: set[str] = set()
    again: list[str] = []
    for spec in specs:
        if spec.url not in seen:
            seen.add(spec.url)
            unique.append(spec)
        else:
            again.append(spec.url)
    if not unique:
        raise FeedListError(f"no feeds in {name}: expected feed URLs (http or https)")
    if again:  # said: 3,500 lines with 500 repeats polled 3,000 feeds without a word
        _log.warning(
            "%s: %d feed URL(s) listed more than once, each polled once, as first listed (%s)",
            name,
            len(again),
            again[0] if len(again) == 1 else f"{again[0]}, ...",
        )
    return unique


def _cause(exc: OSError) -> str:
    """What went wrong, on one line of at most 300 characters: the error's own words
    ("Permission denied"; for a remote store's error, its type and first line)."""
    if exc.strerror:
        return str(exc.strerror)[:300]
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def _check_url(url: str, where: str) -> str:
    url = url.strip()
    if not url.lower().startswith(_SCHEMES):
        raise FeedListError(f"{where}: not an http(s) feed URL: {url!r}")
    return url


def _utf8(raw: bytes, path: str) -> str:
    """A text or YAML feed list's text. One saved in another encoding (Latin-1, Windows'
    "ANSI") is refused, naming the line, as ``--outlets`` and ``--taxonomy`` files are: read
    with replacement characters, ``name: Montr\\xe9al Tribune`` (in Latin-1) was the outlet
    name ``Montr\\ufffdal Tribune`` of every story, and such a byte in a URL another URL."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FeedListError(
            f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}): save the file as UTF-8"
        ) from None


def _parse_text(text: str, path: str) -> list[FeedSpec]:
    specs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = _INLINE_COMMENT.split(line.strip(), maxsplit=1)[0]
        if line and not line.startswith("#"):
            specs.append(FeedSpec(url=_check_url(line, f"{path}:{number}")))
    return specs


def _parse_opml(raw: bytes, path: str) -> list[FeedSpec]:
    specs = []
    for outline in _opml_root(raw, path).iter("outline"):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if not url:
            continue
        specs.append(
            FeedSpec(
                url=_check_url(url, path),
                name=outline.get("title") or outline.get("text") or None,
                language=_language(outline.get("language"), f"{path}: outline {url.strip()}"),
            )
        )
    return specs


def _opml_root(raw: bytes, path: str) -> Element:
    """The OPML document's root: as written, else with the mistakes feed readers read past
    mended (``transforms.opml_mend``); if it still is no XML, the error as the file has it."""
    try:
        return fromstring(raw)
    except ParseError as exc:
        error = str(exc)
    except DefusedXmlException as exc:
        raise FeedListError(f"{path}: not valid OPML: {exc}") from None
    mended = mend_ampersands(raw)
    try:
        if mended != raw:
            return fromstring(mended)
    except ParseError as exc:  # the mistake left, at its place in the file as written
        error = in_raw(exc, raw)
    except DefusedXmlException as exc:
        raise FeedListError(f"{path}: not valid OPML: {exc}") from None
    quoted = mend_attribute_quotes(mended)
    if quoted is not None:
        try:
            root = fromstring(quoted.document)
        except (ParseError, DefusedXmlException):
            pass  # the error as the file has it is the clearer one
        else:
            _log.warning(
                "%s: %d outline attribute value(s) hold a '\"' or '<', which XML forbids there "
                "(the first on line %d): each read up to the quote before the next attribute",
                path,
                quoted.values,
                quoted.first_line,
            )
            return root
    raise FeedListError(f"{path}: not valid OPML: {error}")


def _parse_yaml(text: str, path: str) -> list[FeedSpec]:
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise FeedListError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if isinstance(doc, dict):
        unknown = set(doc) - {"feeds"}
        if unknown:  # "feedz:" read as a list of no feeds; keys are YAML scalars: str() is short
            raise FeedListError(
                f"{path}: unknown keys {sorted(map(str, unknown))} (the list goes under 'feeds:')"
            )
    items: Any = doc.get("feeds") if isinstance(doc, dict) else doc
    if items is None:
        return []
    if not isinstance(items, list):
        raise FeedListError(f"{path}: expected a list of feeds (or a 'feeds:' list)")
    specs = []
    for index, item in enumerate(items, start=1):
        where = f"{path}: feed #{index}"
        if isinstance(item, str):
            specs.append(FeedSpec(url=_check_url(item, where)))
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            known = ("url", "name", "country", "language")
            extra = sorted(map(str, set(item) - set(known)))
            if extra:  # keys are YAML scalars (a list is none): str() is short
                raise FeedListError(f"{where}: unknown keys {extra}{key_hint(extra, known)}")
            specs.append(
                FeedSpec(
                    url=_check_url(item["url"], where),
                    name=_text(item.get("name"), "name", where),
                    country=_country(item.get("country"), where),
                    language=_language(item.get("language"), where),
                )
            )
        else:
            raise FeedListError(f"{where}: expected a URL or a mapping with 'url'")
    return specs


def _text(value: Any, field: str, where: str) -> str | None:
    """A YAML feed's ``field`` that must be text (``name``, and ``country`` and ``language``
    before their codes are checked): the string, or None when absent. Anything else is an
    error naming what YAML read instead, not a value made into text: a list or a mapping
    may be an alias bomb (nine aliases nested ten deep: 3.5 billion items, a few bytes of
    YAML), whose text would never end; ``1843``, ``yes`` or ``2026-03-04`` written for a
    name must be quoted to be read as written."""
    if value is None or isinstance(value, str):
        return value
    kind = _YAML_KINDS.get(type(value), type(value).__name__)
    if isinstance(value, list | dict):
        raise FeedListError(f"{where}: {field} is a YAML {kind}, not text")
    raise FeedListError(f"{where}: {field} {value!r} is a YAML {kind}, not text: quote it")


# What YAML reads an unquoted value as, by the Python type it gives (the safe loader's).
_YAML_KINDS = {
    bool: "boolean",
    int: "number",
    float: "number",
    date: "date",
    datetime: "date and time",
    list: "list",
    dict: "mapping",
    bytes: "binary value",
    set: "set",
}


def _country(value: Any, where: str) -> str | None:
    """A YAML feed's ``country``, checked and upper-cased as the outlet catalogue's is."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # YAML 1.1 reads NO (Norway), no, off ... as false
        raise FeedListError(f"{where}: country {value!r} is a YAML boolean: quote it ('NO')")
    value = _text(value, "country", where)
    try:
        return check_country(str(value))
    except ValueError as exc:
        raise FeedListError(f"{where}: {exc}") from None


def _language(value: Any, where: str) -> str | None:
    """A feed's ``language``, checked and lower-cased as the outlet catalogue's is, and kept
    as its primary subtag (``pt-BR`` -> ``pt``)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # YAML 1.1 reads no (Norwegian), on ... as booleans
        raise FeedListError(f"{where}: language {value!r} is a YAML boolean: quote it ('no')")
    value = _text(value, "language", where)
    try:
        return check_language(str(value)).split("-")[0]
    except ValueError as exc:
        raise FeedListError(f"{where}: {exc}") from None
