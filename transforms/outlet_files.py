"""Catalogue files: the format of ``transforms/data/outlets.csv`` and of ``--outlets FILE``,
and how one is read and checked (``read_catalogue_file``) into ``Outlet`` records keyed by
domain. ``transforms.outlets`` merges them into the catalogue and looks outlets up.

File format (CSV, UTF-8)::

    # comment lines start with '#'; blank lines are ignored
    domain,name,country,language,state_affiliation,source
    globaltimes.cn,Global Times,CN,en,SC,State Media Matrix
    nytimes.com,The New York Times,US,en,,newsbeam

``domain`` is required on every row: a host name (``example.com``, ``arabic.people.com.cn``) or
an IP address, without scheme, port or path; a leading ``www.`` is dropped. A public suffix
(``co.uk``, ``com``, ``github.io``) is refused: lookups stop at the registered domain below it
(``transforms.outlets``, Matching), so its row would never be used. ``country`` is an
ISO 3166-1 alpha-2 code and ``language`` an ISO 639 code (``en``, ``zh``, ``pt-BR`` too), in
any case as in the feed list (``transforms.codes``), kept upper case (``GB``) and lower case
(``en``, ``pt-br``). ``state_affiliation`` is a State Media Monitor typology code (SC, CaPu,
CaPr, ISFM, ISF, ISM, IP), in any case (``capu`` is kept as ``CaPu``), or empty for none.
Only the ``domain`` column is required in a user file's header; unknown columns are an error
(they are usually typos). A user row replaces the bundled row for the same domain entirely (an
empty field there means "none", not "keep").
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from transforms.codes import check_country, check_language
from transforms.records import Outlet
from transforms.urls import public_suffixes
from transforms.userfiles import closest, read_bytes

# State Media Monitor typology, from most to least state control (the order of its table).
TYPOLOGY_CODES: tuple[str, ...] = ("SC", "CaPu", "CaPr", "ISFM", "ISF", "ISM", "IP")
_TYPOLOGY_BY_FOLDED = {code.casefold(): code for code in TYPOLOGY_CODES}

COLUMNS: tuple[str, ...] = ("domain", "name", "country", "language", "state_affiliation", "source")

_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_WWW_RE = re.compile(r"^www\d*\.")


class OutletFileError(ValueError):
    """A catalogue file that cannot be used; the message names the file, line and problem."""


@dataclass(frozen=True)
class _Entry:
    outlet: Outlet
    line: int


def ip_literal(host: str) -> str | None:
    """``host`` in canonical form if it is an IPv4/IPv6 address, else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def host_to_ascii(host: str) -> str:
    """Lower-case, IDNA-encoded form of ``host`` (raises ValueError if it cannot be encoded)."""
    host = host.strip().rstrip(".").lower()
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"host {host!r} is not a valid internationalised name") from exc


def normalise_domain(raw: str) -> str:
    """The catalogue key for a domain column value.

    Args:
        raw: a host name or IP address as written in a catalogue file.

    Returns:
        The lower-case ASCII host with any leading ``www.`` (``www2.``...) removed.

    Raises:
        ValueError: when ``raw`` is empty or is not a bare host name or IP address.
    """
    value = raw.strip()
    if not value:
        raise ValueError("missing domain")
    if "/" in value or (":" in value and ip_literal(value) is None):
        raise ValueError(f"domain {raw!r} must be a bare host name such as example.com")
    ip = ip_literal(value)
    if ip is not None:
        return ip
    host = _WWW_RE.sub("", host_to_ascii(value))
    labels = host.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        raise ValueError(f"domain {raw!r} is not a valid host name")
    return host


def _logical_rows(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """CSV rows of ``path`` with their line numbers, skipping blank and '#' comment lines.

    Raises:
        OutletFileError: the CSV is malformed; the message names the line (for a quote
            never closed, the line where its row starts).
    """
    current = 0  # the last line read
    start = 0  # the first line of the row being read

    def physical_lines(handle: Iterator[str]) -> Iterator[str]:
        nonlocal current, start
        for number, line in enumerate(handle, start=1):
            current = number
            if line.strip() and not line.lstrip().startswith("#"):
                start = start or number
                yield line

    text = read_bytes(path).decode("utf-8-sig")
    rows = csv.reader(physical_lines(io.StringIO(text, newline="")), strict=True)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            line, why = current, str(exc)
            if why == "unexpected end of data":  # end of file inside a quoted field
                line, why = start, f"{why}: a quote opened in the row on this line never closes"
            raise OutletFileError(
                f"{path}, line {line}: not a valid UTF-8 CSV file: {why}"
            ) from None
        yield current, row
        start = 0


def _parse_row(cells: dict[str, str]) -> Outlet:
    """One validated ``Outlet`` from a row's cells (raises ValueError naming the bad field)."""
    domain = normalise_domain(cells.get("domain", ""))
    if ip_literal(domain) is None and public_suffixes().publicsuffix(domain, False) == domain:
        raise ValueError(
            f"domain {domain!r} is a public suffix (as co.uk and com are): lookups stop at the"
            " registered domain below it (example.co.uk), so no story would get this row"
        )
    country = cells.get("country", "").strip() or None
    if country is not None:
        country = check_country(country)  # upper case, as the feed list's
    language = cells.get("language", "").strip() or None
    if language is not None:
        language = check_language(language)  # lower case
    affiliation = cells.get("state_affiliation", "").strip() or None
    if affiliation is not None:
        canonical = _TYPOLOGY_BY_FOLDED.get(affiliation.casefold())
        if canonical is None:
            raise ValueError(
                f"state_affiliation {affiliation!r} is not a typology code "
                f"({', '.join(TYPOLOGY_CODES)}, in any case) or empty"
            )
        affiliation = canonical
    name = cells.get("name", "").strip() or None
    return Outlet(
        domain=domain, name=name, country=country, language=language, state_affiliation=affiliation
    )


def read_catalogue_file(path: str | Path) -> dict[str, Outlet]:
    """Parse and validate one catalogue file.

    Args:
        path: a CSV file in the format described in this module's docstring (a local path
            or ``gs://...``: see ``transforms.userfiles``).

    Returns:
        The file's entries keyed by normalised domain.

    Raises:
        OutletFileError: when the file is missing, has no usable header, or a row is malformed;
            the message names the file and line.
    """
    entries: dict[str, _Entry] = {}
    header: list[str] | None = None
    try:
        for line, row in _logical_rows(path):
            where = f"{path}, line {line}"
            if header is None:
                header = [cell.strip() for cell in row]
                unknown = [name for name in header if name not in COLUMNS]
                if unknown or "domain" not in header or len(set(header)) != len(header):
                    named = (
                        f"; no column {unknown[0]!r}{closest(unknown[0], COLUMNS)}"
                        if unknown
                        else ""
                    )
                    raise OutletFileError(
                        f"{where}: header must name the column 'domain' and any of "
                        f"{', '.join(COLUMNS[1:])} once each; got {','.join(header)!r}{named}"
                    )
                continue
            if len(row) != len(header):
                raise OutletFileError(
                    f"{where}: expected {len(header)} fields ({','.join(header)}), got {len(row)}"
                )
            try:
                outlet = _parse_row(dict(zip(header, row, strict=True)))
            except ValueError as exc:
                raise OutletFileError(f"{where}: {exc}") from None
            previous = entries.get(outlet.domain)
            if previous is not None:
                raise OutletFileError(
                    f"{where}: domain {outlet.domain!r} already defined on line {previous.line}"
                )
            entries[outlet.domain] = _Entry(outlet, line)
    except OSError as exc:
        raise OutletFileError(f"{path}: cannot read outlet file: {exc}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise OutletFileError(f"{path}: not a valid UTF-8 CSV file: {exc}") from None
    if header is None:
        raise OutletFileError(f"{path}: empty outlet file (no header line)")
    return {domain: entry.outlet for domain, entry in entries.items()}
