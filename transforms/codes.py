"""Country and language codes as catalogue rows and feed lists give them, checked.

Consumes the codes a user writes (``--outlets`` CSV rows, ``--feeds`` YAML and OPML), in any
case and with blanks around them, and returns them in their canonical form (a country upper
case, a language lower case), or raises ``ValueError`` naming the code as written and what was
expected. The outlet catalogue and the feed list share these, so the two files take the same
codes.
"""

from __future__ import annotations

import re

# ISO 3166-1 alpha-2: the officially assigned codes, plus EU (exceptionally reserved, used for
# pan-European outlets) and XK (Kosovo, user-assigned but in general use).
_ISO_ALPHA2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW EU XK"""
_ISO_COUNTRIES = frozenset(_ISO_ALPHA2.split())
# Codes in use that ISO reserves for another one's country: the EU's for the UK and Greece.
_ISO_CODE_FOR = {"UK": "GB", "EL": "GR"}

_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def check_country(code: str) -> str:
    """The ISO 3166-1 alpha-2 code ``code`` is, upper case: ``gb``, `` Gb `` -> ``GB``.

    Raises:
        ValueError: naming the code, when it is not one.
    """
    canonical = code.strip().upper()
    # ASCII only: str.upper() makes codes of other letters too (a dotless i gives I)
    if not code.isascii() or canonical not in _ISO_COUNTRIES:
        meant = _ISO_CODE_FOR.get(canonical) if code.isascii() else None
        hint = f": ISO's code for that country is {meant}" if meant else " (e.g. US, CN)"
        raise ValueError(f"country {code.strip()!r} is not an ISO 3166-1 alpha-2 code{hint}")
    return canonical


def check_language(code: str) -> str:
    """The ISO 639 code ``code`` is, lower case: ``EN`` -> ``en``, ``pt-BR`` -> ``pt-br``.

    Raises:
        ValueError: naming the code, when it is not one.
    """
    canonical = code.strip().lower()
    # ASCII only: str.lower() makes codes of other letters too (the Kelvin sign gives k)
    if not code.isascii() or not _LANGUAGE_RE.fullmatch(canonical):
        raise ValueError(f"language {code.strip()!r} is not an ISO 639 code (e.g. en, zh, pt-BR)")
    return canonical
