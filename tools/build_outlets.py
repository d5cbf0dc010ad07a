"""Compile the state-media part of transforms/data/outlets.csv from the State Media Matrix.

Consumes ``State_Media_Matrix.csv`` (https://github.com/pbenzoni/state-media-profiles, MIT
licence; by default read from ``../shared/corpus/outlets/state-media/`` next to the repository)
and the current ``transforms/data/outlets.csv``; rewrites it (or writes ``--out``) with the
header comment block, the compiled state-media rows (``source`` = ``State Media Matrix``) and,
unchanged, every hand-curated row (any other ``source``). Build time only: the pipeline never
reads the matrix.

Rules (also stated in the data file's header):

* host: the URL's host, lower case, without a leading ``www.``/``www3.``; a missing scheme is
  added and paths are dropped (entries are per host, see ``transforms/outlets.py``).
* rows sharing a host: one entry; its typology is the one with the most state control, in the
  order of the State Media Monitor's table (SC, CaPu, CaPr, ISFM, ISF, ISM, IP); ``ISFM?`` is ISFM.
* name: the asset ("Main assets", without prefixes such as "News agency: "); for a host shared by
  several assets, the media company; ``NAME_OVERRIDES`` fixes the few where that reads badly
  or is wrong.
* ``HOST_ALIASES``: a host the dataset lacks, of an outlet it lists under another host, compiled
  from that host's rows.
* language: ``LANGUAGE_OVERRIDES``, else a language in the asset's name ("RT Deutsch"), else a
  language-named first label (``arabic.``, ``en.``: ``transforms.outlets.SUBDOMAIN_LANGUAGES``,
  which lookups read too), else the country's only official language per CLDR (Babel); else
  empty, never a guess.

The build fails if a key of ``HOST_ALIASES``, ``NAME_OVERRIDES`` or ``LANGUAGE_OVERRIDES`` names
no compiled host (a typo, or a host the dataset dropped).

Run: ``.venv/bin/python tools/build_outlets.py [--matrix PATH] [--out PATH] [--current PATH]``;
the hand-curated rows are read from ``--current`` (default: the bundled catalogue), whatever
``--out`` is.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from babel import Locale
from babel.languages import get_official_languages

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transforms.outlets import (  # noqa: E402
    COLUMNS,
    SUBDOMAIN_LANGUAGES,
    TYPOLOGY_CODES,
    normalise_domain,
)

SOURCE = "State Media Matrix"
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_MATRIX = CORPUS / "outlets" / "state-media" / "State_Media_Matrix.csv"
DEFAULT_OUT = REPO / "transforms" / "data" / "outlets.csv"

HEADER = """\
# newsbeam outlet catalogue: host -> outlet name, country, main language, state affiliation.
# Format: transforms/outlet_files.py; matching: transforms/outlets.py. Columns: domain (host),
# name, country (ISO 3166-1 alpha-2), language (ISO 639), state_affiliation (State Media Monitor
# typology code: SC, CaPu, CaPr, ISFM, ISF, ISM, IP; empty = not state-affiliated), source.
#
# Rows with source "State Media Matrix" are compiled by tools/build_outlets.py from
# State_Media_Matrix.csv of "State Media Profiles" by the Alliance for Securing Democracy
# (https://github.com/pbenzoni/state-media-profiles), seed data from the State Media Monitor
# (https://statemediamonitor.com) of the Media and Journalism Research Center.
# Licence of that data: MIT License, Copyright (c) 2023 ASD-at-GMF.
# Compilation rules: one row per host (scheme, path and leading www. dropped); where several
# dataset rows share a host with different typologies, the typology with the most state control
# wins (order SC > CaPu > CaPr > ISFM > ISF > ISM > IP); "ISFM?" is read as ISFM. Language
# (not in the dataset) comes from a table of known outlets in the build script, a language named
# in the asset ("RT Deutsch") or subdomain ("arabic."), or the country's only official language
# (CLDR); otherwise it is left empty. A few hosts the dataset does not list take the row of the
# same outlet's host that it does (yna.co.kr: yonhapnews.co.kr; table in the build script).
#
# Rows with source "newsbeam" are independent outlets added by hand (facts: name, country, main
# language); they carry no state affiliation. Edit them here; re-running the build keeps them.
"""

# Dataset country names that CLDR (Babel, English) spells differently.
COUNTRY_ALIASES = {
    "Turkey": "TR",
    "UAE": "AE",
    "Côte d'Ivoire": "CI",
    "Palestine territories": "PS",
    "Hong Kong": "HK",
    "Macao": "MO",
    "Myanmar": "MM",
    "DR Congo": "CD",
    "Congo": "CG",
    "The Gambia": "GM",
    "Bosnia and Herzegovina": "BA",
    "United States of America": "US",
    "Europen Union": "EU",
}

ASSET_PREFIXES = (
    "News agency:",
    "Print media:",
    "Print:",
    "Television:",
    "Radio:",
    "Online:",
    "News portals:",
)

NAME_OVERRIDES = {
    "globaltimes.cn": "Global Times",
    "en.people.cn": "People's Daily (English)",
    "xinhuanet.com": "Xinhua",
    "ce.cn": "Economic Daily",
    "chinanews.com": "China News Service",
    "legaldaily.com.cn": "Legal Daily",
    "rodong.rep.kp": "Rodong Sinmun",
    "vesti.ru": "Vesti.ru",
    "haberturk.com": "Haberturk",
    "cnnturk.com": "CNN Turk",
    "qna.org.qa": "Qatar News Agency",
    "bna.bh": "Bahrain News Agency",
    "shabait.com": "Shabait",
    "tnh.gob.hn": "Televisión Nacional de Honduras",
    "media.gov.kw": "Kuwait Ministry of Information",
    "dendenmedia.com": "Dimtsi Hafash Eritrea / Eri TV",
    "bbc.co.uk": "BBC",
    "bbc.com": "BBC",
    # The dataset lists www.news.cn under "Television: CNC World", Xinhua's television channel;
    # news.cn is Xinhua's main site (the agency's news in Chinese; english.news.cn in English).
    "news.cn": "Xinhua",
    # The dataset's "China Daily (Zhōngguó Qīngnián Bào)" gives China Youth Daily's Chinese name;
    # China Daily is Zhōngguó Rìbào.
    "chinadaily.com.cn": "China Daily",
    # Added under HOST_ALIASES (below): their rows' assets name another site of the outlet.
    "huanqiu.com": "Huanqiu Shibao",
    "voachinese.com": "Voice of America (Chinese)",
    "china.chinadaily.com.cn": "China Daily (Chinese)",
    "telesurtv.net": "teleSUR",
    "cntv.cn": "China Network Television (CNTV)",
    "english.cntv.cn": "CNTV English",
    "hispantv.com": "HispanTV",
    "snanews.de": "SNA (Sputnik Germany)",
    "fr.sputniknews.africa": "Sputnik Afrique",
    "anlatilaninotesi.com.tr": "Sputnik Türkiye",
    "sputnik.by": "Sputnik Belarus",
    "sputnik.kz": "Sputnik Kazakhstan",
    "sputnik.kg": "Sputnik Kyrgyzstan",
    "sputnik-tj.com": "Sputnik Tajikistan",
    "sputnik.md": "Sputnik Moldova",
    "sputnik.az": "Sputnik Azerbaijan",
    "armeniasputnik.am": "Sputnik Armenia",
    "sputnikportal.rs": "Sputnik Serbia",
    # Corrections of names the dataset gets wrong:
    # "SPAce TV" is one asset of the Saudi Press Agency; spa.gov.sa is the agency's own site.
    "spa.gov.sa": "Saudi Press Agency",
    # The dataset calls it the Latvian edition; "lt" is Lithuania's (Latvia's was lv.).
    "lt.sputniknews.ru": "Sputnik Lithuania",
    # The dataset's "PressTV Spanish": presstv.com is Press TV's English site, as presstv.ir
    # is; IRIB's Spanish channel is HispanTV (hispantv.com, below).
    "presstv.com": "Press TV",
    # The dataset names it for its Arabic edition (Kayhan Al Arabi, a section of the site);
    # kayhan.ir is the Persian daily Kayhan's site.
    "kayhan.ir": "Kayhan",
}

# Hosts the dataset does not list, of outlets it lists under another host: each gets a row
# compiled from that host's dataset rows (country, typology), with its own name and language
# where NAME_OVERRIDES and LANGUAGE_OVERRIDES give them.
HOST_ALIASES = {
    # Yonhap's current domain; the dataset has its former one, which now redirects to it.
    "yna.co.kr": "yonhapnews.co.kr",
    # Huanqiu Shibao (the Chinese Global Times): the dataset lists its world.huanqiu.com section,
    # under the company "Global Times or Huanqiu Shibao".
    "huanqiu.com": "world.huanqiu.com",
    # Voice of America's Mandarin service, on its own domain (the dataset has voanews.com).
    "voachinese.com": "voanews.com",
    # China Daily's Chinese-language site: as a subdomain of chinadaily.com.cn it took that
    # host's row, language English included ("china." names no language on every site).
    "china.chinadaily.com.cn": "chinadaily.com.cn",
    # teleSUR's Spanish-language main site (the dataset has its English one only).
    "telesurtv.net": "telesurenglish.net",
    # Mehr News Agency's main (Persian) site; the dataset has its English one only.
    "mehrnews.com": "en.mehrnews.com",
    # Ukrinform's English site; the dataset's URL is mistyped "ww.ukrinform.net".
    "ukrinform.net": "ww.ukrinform.net",
    # RT DE's mirror domain; the dataset lists only its "test." host.
    "rtde.life": "test.rtde.life",
    # CCTV and its online platform CNTV: the dataset lists news.cctv.cn and news.cntv.cn only.
    "cctv.cn": "news.cctv.cn",
    "cntv.cn": "news.cntv.cn",
    "english.cntv.cn": "news.cntv.cn",
    # The National (Abu Dhabi) moved from thenational.ae to thenationalnews.com.
    "thenationalnews.com": "thenational.ae",
    # IRIB's Spanish channel, which the dataset lists as "PressTV Spanish" under presstv.com.
    "hispantv.com": "presstv.com",
    # Sputnik's current domains; the dataset lists the former *.sputniknews.com editions (or,
    # for country services it lacks, Sputnik International: Rossiya Segodnya, SC, Russia).
    "sputniknews.cn": "cn.sputniknews.com",
    "sputnikarabic.ae": "arabic.sputniknews.com",
    "sputniknews.lat": "mundo.sputniknews.com",
    "sputniknewsbr.com.br": "br.sputniknews.com",
    "snanews.de": "de.sputniknews.com",
    "fr.sputniknews.africa": "fr.sputniknews.com",
    "anlatilaninotesi.com.tr": "tr.sputniknews.com",
    "sputniknews.jp": "jp.sputniknews.com",
    "sputnikportal.rs": "rs.sputniknews.com",
    "sputnik.by": "sputniknews.com",
    "sputnik.kz": "sputniknews.com",
    "sputnik.kg": "sputniknews.com",
    "sputnik-tj.com": "sputniknews.com",
    "sputnik.md": "sputniknews.com",
    "sputnik.az": "sputniknews.com",
    "armeniasputnik.am": "sputniknews.com",
}

# Main language where neither a subdomain nor the country's single official language says it.
LANGUAGE_OVERRIDES = {
    "rt.com": "en",
    # TASS's English-language site (the dataset gives no language; Russia's alone was used):
    # tass.ru is the Russian one.
    "tass.com": "en",
    "voachinese.com": "zh",
    "china.chinadaily.com.cn": "zh",
    "cgtn.com": "en",
    "globaltimes.cn": "en",
    "chinadaily.com.cn": "en",
    "ecns.cn": "en",
    "presstv.ir": "en",
    "tehrantimes.com": "en",
    "hispantv.com": "es",
    "sputniknews.com": "en",
    "aljazeera.com": "en",
    "aljazeera.net": "ar",
    "trtworld.com": "en",
    "dailysabah.com": "en",
    "voanews.com": "en",
    "rferl.org": "en",
    "rfa.org": "en",
    "alhurra.com": "ar",
    "martinoticias.com": "es",
    "golosameriki.com": "ru",
    "currenttime.tv": "ru",
    "svoboda.org": "ru",
    "dw.com": "en",
    "rfi.fr": "fr",
    "tv5monde.com": "fr",
    "france24.com": "fr",
    "rthk.hk": "zh",
    "channelnewsasia.com": "en",
    "straitstimes.com": "en",
    "zaobao.com.sg": "zh",
    "arabnews.com": "en",
    "thenationalnews.com": "en",
    "abc.net.au": "en",
    "sbs.com.au": "en",
    "s4c.cymru": "cy",
    "ccma.cat": "ca",
    "ib3.org": "ca",
    "apuntmedia.es": "ca",
    "africa.cgtn.com": "en",
    "america.cgtn.com": "en",
    "europe.cgtn.com": "en",
    "europe.chinadaily.com.cn": "en",
    "global.chinadaily.com.cn": "en",
    "usa.chinadaily.com.cn": "en",
    "chinadailyhk.com": "en",
    "bjreview.com.cn": "en",
    "jordantimes.com": "en",
    "gulf-times.com": "en",
    "thepeninsulaqatar.com": "en",
    "qatar-tribune.com": "en",
    "omanobserver.om": "en",
    "thenational.ae": "en",
    "egypttoday.com": "en",
    "syriatimes.sy": "en",
    "newspaper.irandaily.ir": "en",
    "journal-neo.org": "en",
    "orientalreview.org": "en",
    "strategic-culture.org": "en",
    "usareally.com": "en",
    "swentr.site": "en",
    "sputnikglobe.com": "en",
    "telesurenglish.net": "en",
    "plenglish.com": "en",
    "vietnamnews.vn": "en",
    "vientianetimes.la": "en",
    "pyongyangtimes.com.kp": "en",
    "kcnawatch.org": "en",
    "globalnewlightofmyanmar.com": "en",
    "khmertimeskh.com": "en",
    "phnompenhpost.com": "en",
    "focustaiwan.tw": "en",
    "taiwantoday.tw": "en",
    "todayonline.com": "en",
    "tnp.sg": "en",
    "businesstimes.com.sg": "en",
    "8days.sg": "en",
    "beritaharian.sg": "ms",
    "tamilmurasu.com.sg": "ta",
    "shinmin.sg": "zh",
    "wanbao.com.sg": "zh",
    "takungpao.com": "zh",
    "wenweipo.com": "zh",
    "hkcd.com": "zh",
    "tvb.com": "zh",
    "news.rthk.hk": "zh",
    "cna.com.tw": "zh",
    "cts.com.tw": "zh",
    "pts.org.tw": "zh",
    "lecourrier.vn": "fr",
    "lerenovateur.la": "fr",
    "observateurcontinental.fr": "fr",
    "diario-octubre.com": "es",
    "actualidad-rt.com": "es",
    "esrt.online": "es",
    "esrt.press": "es",
    "esrt.tech": "es",
    # Press TV's English site (the dataset's "PressTV Spanish" is HispanTV: NAME_OVERRIDES).
    "presstv.com": "en",
    # Sputnik Azerbaijan: "az." is no language label on every site (Arizona), so it is not in
    # transforms.outlets.SUBDOMAIN_LANGUAGES, which this host's language came from until then.
    "az.sputniknews.ru": "az",
    "vovworld.vn": "",
    "sputniknews.in": "",
    "lt.sputniknews.ru": "",
    "infomigrants.net": "",
    "telesurtv.net": "es",
    "sputnikportal.rs": "sr",
    "mehrnews.com": "fa",
    "ukrinform.net": "en",
    "english.cntv.cn": "en",
    # Sputnik's country services whose main language is Russian (each has a section in the
    # country's language too); Moldova's, Azerbaijan's and Armenia's are left empty, not guessed.
    "sputnik.by": "ru",
    "sputnik.kz": "ru",
    "sputnik.kg": "ru",
    "sputnik-tj.com": "ru",
    "sputnik.md": "",
    "sputnik.az": "",
    "armeniasputnik.am": "",
}

# Words in an asset's name that say its language ("RT Deutsch", "Sputnik Persian").
NAME_LANGUAGES = {
    "english": "en", "español": "es", "spanish": "es", "deutsch": "de", "german": "de",
    "french": "fr", "français": "fr", "france": "fr", "arabic": "ar", "العربية": "ar",
    "russian": "ru", "русский": "ru", "turkish": "tr", "kurdi": "ku", "persian": "fa",
    "farsi": "fa", "urdu": "ur", "chinese": "zh", "japanese": "ja", "korean": "ko",
    "portuguese": "pt", "italian": "it", "greek": "el", "polish": "pl", "georgian": "ka",
}  # fmt: skip


def country_code(name: str) -> str:
    """ISO 3166-1 alpha-2 code for a country name as the dataset spells it.

    Args:
        name: the dataset's ``Country`` value, e.g. ``Russia`` or ``UAE``.

    Returns:
        The upper-case code.

    Raises:
        KeyError: for a name neither CLDR nor ``COUNTRY_ALIASES`` knows.
    """
    if name in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[name]
    by_name = {label.lower(): code for code, label in Locale("en").territories.items()}
    code = by_name.get(name.strip().lower())
    if code is None or len(code) != 2:
        raise KeyError(f"unknown country name {name!r}: add it to COUNTRY_ALIASES")
    return code


def host_of_url(raw: str) -> str:
    """Catalogue key for a dataset URL (scheme optional, path and ``www.`` dropped).

    Args:
        raw: the dataset's ``URL`` value, e.g. ``www.bayontv.com.kh`` or ``https://x.ru/en/``.

    Returns:
        The normalised host.
    """
    text = raw.strip()
    if "://" not in text:
        text = "http://" + text
    return normalise_domain(urlsplit(text).hostname or "")


def typology(raw: str) -> str:
    """The typology code of a dataset row (``ISFM?`` is read as ``ISFM``)."""
    code = raw.strip().rstrip("?")
    if code not in TYPOLOGY_CODES:
        raise ValueError(f"unknown typology {raw!r}")
    return code


def strongest(codes: Sequence[str]) -> str:
    """The typology with the most state control among ``codes``."""
    return min(codes, key=TYPOLOGY_CODES.index)


def _asset(row: dict[str, str]) -> str:
    asset = row["Main assets"].strip()
    for prefix in ASSET_PREFIXES:
        if asset.startswith(prefix):
            return asset[len(prefix) :].strip()
    if asset.count("(") > asset.count(")"):
        asset += ")"
    return asset


def _language(host: str, country: str, names: Sequence[str]) -> str:
    if host in LANGUAGE_OVERRIDES:
        return LANGUAGE_OVERRIDES[host]
    words = {word.strip("()").lower() for name in names for word in name.split()}
    named = {NAME_LANGUAGES[word] for word in words if word in NAME_LANGUAGES}
    if len(named) == 1:
        return named.pop()
    first = host.split(".", 1)[0]
    if first in SUBDOMAIN_LANGUAGES and host.count(".") >= 2:
        return SUBDOMAIN_LANGUAGES[first]
    official = {code.split("_")[0] for code in get_official_languages(country, de_facto=True)}
    return official.pop() if len(official) == 1 else ""


def compile_matrix(matrix: Path) -> list[list[str]]:
    """Catalogue rows (in ``COLUMNS`` order) for every host of the matrix, sorted by host.

    Args:
        matrix: path of ``State_Media_Matrix.csv``.

    Returns:
        One row per distinct host.
    """
    by_host: dict[str, list[dict[str, str]]] = defaultdict(list)
    with matrix.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["URL"].strip():
                by_host[host_of_url(row["URL"])].append(row)
    for alias, host in HOST_ALIASES.items():
        if alias in by_host:
            raise ValueError(f"HOST_ALIASES: {alias} is in the dataset: remove it there")
        if host in by_host:  # (a test's small matrix has none of them)
            by_host[alias] = by_host[host]
    out = []
    for host in sorted(by_host):
        rows = by_host[host]
        countries = {country_code(r["Country"]) for r in rows}
        if len(countries) != 1:
            raise ValueError(f"{host}: rows disagree on the country: {sorted(countries)}")
        country = countries.pop()
        assets = {_asset(r) for r in rows}
        companies = {r["Media company"].strip().rstrip("*").strip() for r in rows}
        if host in NAME_OVERRIDES:
            name = NAME_OVERRIDES[host]
        elif len(assets) == 1:
            name = assets.pop()
        elif len(companies) == 1:
            name = companies.pop()
        else:
            name = _asset(rows[0])
        code = strongest([typology(r["Typology"]) for r in rows])
        language = _language(host, country, [_asset(r) for r in rows])
        out.append([host, name, country, language, code, SOURCE])
    return out


def curated_rows(current: Path) -> list[list[str]]:
    """The hand-curated rows (source other than the matrix) of the current catalogue file."""
    if not current.exists():
        return []
    lines = [ln for ln in current.read_text(encoding="utf-8").splitlines() if ln.strip()]
    reader = csv.reader(ln for ln in lines if not ln.lstrip().startswith("#"))
    header = next(reader, None)
    if header != list(COLUMNS):
        raise ValueError(f"{current}: unexpected header {header}")
    return [row for row in reader if row[-1] != SOURCE]


def unmatched_overrides(matrix_rows: list[list[str]]) -> list[str]:
    """The override and alias keys that name no compiled row (a typo, or a host gone from the
    dataset), each as ``TABLE: host``; empty when every key is used.

    Args:
        matrix_rows: the rows ``compile_matrix`` returned.
    """
    hosts = {row[0] for row in matrix_rows}
    tables = {
        "HOST_ALIASES": HOST_ALIASES,
        "NAME_OVERRIDES": NAME_OVERRIDES,
        "LANGUAGE_OVERRIDES": LANGUAGE_OVERRIDES,
    }
    return [f"{table}: {key}" for table, keys in tables.items() for key in keys if key not in hosts]


def render(matrix_rows: list[list[str]], curated: list[list[str]]) -> str:
    """The catalogue file's text: header, column line, matrix rows, curated rows."""
    clash = {r[0] for r in matrix_rows} & {r[0] for r in curated}
    if clash:
        raise ValueError(f"curated rows duplicate State Media Matrix hosts: {sorted(clash)}")
    buffer = io.StringIO()
    buffer.write(HEADER)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    buffer.write("# --- State Media Matrix (generated; do not edit by hand) ---\n")
    writer.writerows(matrix_rows)
    buffer.write("# --- Independent outlets (curated by hand) ---\n")
    writer.writerows(sorted(curated))
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--current",
        type=Path,
        default=DEFAULT_OUT,
        help="catalogue whose hand-curated rows are kept (default: the bundled one)",
    )
    args = parser.parse_args(argv)
    matrix_rows = compile_matrix(args.matrix)
    unmatched = unmatched_overrides(matrix_rows)
    if unmatched:
        print(
            f"error: keys that match no host of {args.matrix}: {', '.join(unmatched)}",
            file=sys.stderr,
        )
        return 1
    text = render(matrix_rows, curated_rows(args.current))
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(matrix_rows)} State Media Matrix hosts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
