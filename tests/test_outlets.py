"""Tests for the outlet catalogue (transforms/outlets.py, transforms/data/outlets.csv) and its
compiler (tools/build_outlets.py).

The dataset tests are table-driven from the State Media Matrix in ../shared/corpus and skip with
a reason where the corpus is absent (on CI, where it never is, they fail); everything else uses
the bundled catalogue and tmp files.
"""

from __future__ import annotations

import csv
import importlib.util
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import corpus_missing
from transforms.analysis import enrich_article
from transforms.outlets import (
    SUBDOMAIN_LANGUAGES,
    TYPOLOGY_CODES,
    OutletCatalogue,
    OutletFileError,
    edition_language,
    normalise_domain,
)
from transforms.records import Article, FeedEntry, Outlet

REPO = Path(__file__).resolve().parents[1]
MATRIX = REPO.parent / "shared" / "corpus" / "outlets" / "state-media" / "State_Media_Matrix.csv"
NO_CORPUS = f"State Media Matrix not found at {MATRIX} (../shared/corpus is absent)"
HEADER = "domain,name,country,language,state_affiliation\n"


def _load_build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_outlets", REPO / "tools" / "build_outlets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_module()


def _matrix_rows() -> list[dict[str, str]]:
    """Rows of the dataset that have a URL, with their CSV line number under ``line``."""
    if not MATRIX.exists():
        return []
    with MATRIX.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return [{**row, "line": str(reader.line_num)} for row in reader if row["URL"].strip()]


MATRIX_ROWS = _matrix_rows()


def _as_url(raw: str) -> str:
    raw = raw.strip()
    return raw if "://" in raw else "http://" + raw


def _typology(raw: str) -> str:
    return raw.strip().rstrip("?")  # documented: "ISFM?" is read as ISFM


@pytest.fixture
def matrix_present() -> None:
    """Skips the test where the dataset is absent (fails it on CI: ``corpus_missing``)."""
    if not MATRIX_ROWS:
        corpus_missing(NO_CORPUS)


@pytest.fixture(scope="module")
def catalogue() -> OutletCatalogue:
    return OutletCatalogue.load()


@pytest.fixture(scope="module")
def expected_typology(catalogue: OutletCatalogue) -> dict[str, str]:
    """Per catalogue domain, the typology the documented rule picks: the most state control
    among all dataset rows that resolve to that domain."""
    codes: dict[str, list[str]] = defaultdict(list)
    for row in MATRIX_ROWS:
        codes[catalogue.lookup(_as_url(row["URL"])).domain].append(_typology(row["Typology"]))
    return {domain: min(found, key=TYPOLOGY_CODES.index) for domain, found in codes.items()}


def _row_params() -> list[Any]:
    if not MATRIX_ROWS:  # the test then skips, or fails on CI (corpus_missing)
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(row, id=f"line{row['line']}-{row['URL'].strip()}") for row in MATRIX_ROWS]


# --- the dataset, row by row ---------------------------------------------------------------


@pytest.mark.realworld
@pytest.mark.parametrize("row", _row_params())
def test_matrix_row_resolves_to_its_country_and_typology(
    row: dict[str, str] | None, catalogue: OutletCatalogue, expected_typology: dict[str, str]
) -> None:
    if row is None:
        corpus_missing(NO_CORPUS)
    outlet = catalogue.lookup(_as_url(row["URL"]))
    assert outlet.name, f"no catalogue entry for {row['URL']!r}"
    assert outlet.country == build.country_code(row["Country"])
    assert outlet.state_affiliation == expected_typology[outlet.domain]
    assert outlet.state_affiliation in TYPOLOGY_CODES
    # Mobile, AMP and www hosts of the outlet fall back to the same entry.
    for prefix in ("m.", "amp.", "mobile.", "www.", "www3."):
        assert catalogue.lookup(f"https://{prefix}{outlet.domain}/some/article") == outlet


@pytest.mark.realworld
@pytest.mark.usefixtures("matrix_present")
def test_shared_host_conflicts_take_the_most_state_control(catalogue: OutletCatalogue) -> None:
    by_domain: dict[str, set[str]] = defaultdict(set)
    for row in MATRIX_ROWS:
        by_domain[catalogue.lookup(_as_url(row["URL"])).domain].add(_typology(row["Typology"]))
    conflicts = {domain: codes for domain, codes in by_domain.items() if len(codes) > 1}
    for domain, codes in conflicts.items():
        picked = catalogue.lookup(domain).state_affiliation
        assert picked == min(codes, key=TYPOLOGY_CODES.index)
        # The rule overrode at least one of the rows: the strongest beats every other code.
        assert all(TYPOLOGY_CODES.index(picked) < TYPOLOGY_CODES.index(c) for c in codes - {picked})


@pytest.mark.realworld
@pytest.mark.usefixtures("matrix_present")
def test_bundled_state_media_rows_match_a_fresh_compile(tmp_path: Path) -> None:
    bundled = [
        row
        for row in csv.reader(
            line for line in build.DEFAULT_OUT.read_text("utf-8").splitlines() if line.strip()
        )
        if row and not row[0].startswith("#") and row[-1] == build.SOURCE
    ]
    assert bundled == build.compile_matrix(MATRIX)


# --- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://arabic.people.com.cn/n3/2024/a.html", "arabic.people.com.cn"),
        ("https://m.arabic.people.com.cn/n3/a.html", "arabic.people.com.cn"),
        ("http://www.people.com.cn/", "people.com.cn"),
        ("https://espanol.cgtn.com/n/2024/x.html", "espanol.cgtn.com"),
        ("https://amp.espanol.cgtn.com/x", "espanol.cgtn.com"),
        ("https://news.cgtn.com/news/x.html", "cgtn.com"),
        ("https://asia.nikkei.com/Business/x", "asia.nikkei.com"),
        ("https://www.nikkei.com/article/x", "nikkei.com"),
        ("https://mobile.reuters.com/article/x", "reuters.com"),
        ("https://www3.nhk.or.jp/news/html/x.html", "nhk.or.jp"),
        ("HTTPS://WWW.GlobalTimes.CN:443/page/x.shtml", "globaltimes.cn"),
        ("globaltimes.cn/page/x.shtml", "globaltimes.cn"),
        ("www.rt.com", "rt.com"),
        ("https://www.nytimes.com./2024/x.html", "nytimes.com"),  # a fully qualified host
        ("//www.nytimes.com/2024/x.html", "nytimes.com"),  # protocol-relative
    ],
)
def test_most_specific_entry_wins(catalogue: OutletCatalogue, url: str, domain: str) -> None:
    assert catalogue.lookup(url).domain == domain
    assert catalogue.lookup(url) == catalogue.lookup(domain)


def test_subdomain_entry_differs_from_its_parent(catalogue: OutletCatalogue) -> None:
    arabic = catalogue.lookup("arabic.people.com.cn")
    parent = catalogue.lookup("people.com.cn")
    assert (arabic.language, parent.language) == ("ar", "zh")
    assert arabic.name != parent.name


@pytest.mark.parametrize(
    ("host", "domain", "language"),
    [
        ("chinese.cgtn.com", "cgtn.com", "zh"),  # the parent's language is en
        ("english.xinhuanet.com", "xinhuanet.com", "en"),  # ... zh
        ("english.cctv.com", "cctv.com", "en"),
        ("m.english.news.cn", "news.cn", "en"),  # a mobile host of the English edition
        ("french.presstv.ir", "presstv.ir", "fr"),
        ("cn.chinadaily.com.cn", "chinadaily.com.cn", "zh"),
        ("chinese.aljazeera.net", "aljazeera.net", "zh"),
        ("jp.reuters.com", "reuters.com", "ja"),
        ("kr.reuters.com", "reuters.com", "ko"),
        ("news.cgtn.com", "cgtn.com", "en"),  # no language in the label: the parent's
        ("www.news.cn", "news.cn", "zh"),
        ("uk.reuters.com", "reuters.com", "en"),  # the British edition, not Ukrainian
        ("it.nikkei.com", "nikkei.com", "ja"),  # "it" is no language label on every site
        ("english.alarabiya.net", "english.alarabiya.net", "en"),  # its own row wins
        ("russian.news.cn", "russian.news.cn", "ru"),
        ("en.chinese.cgtn.com", "cgtn.com", "en"),  # two language labels: the leftmost's
    ],
)
def test_a_subdomain_named_for_a_language_is_that_language_s_edition(
    catalogue: OutletCatalogue, host: str, domain: str, language: str
) -> None:
    outlet = catalogue.lookup(f"https://{host}/2026/x.html")
    parent = catalogue.lookup(domain)
    assert (outlet.domain, outlet.language) == (domain, language)
    assert (outlet.name, outlet.country, outlet.state_affiliation) == (
        parent.name,
        parent.country,
        parent.state_affiliation,
    )


@pytest.mark.parametrize(
    ("host", "parent", "language"),
    [
        ("en.chinese.x.cn", "x.cn", "en"),  # the leftmost label that names a language
        ("m.ru.english.x.cn", "x.cn", "ru"),
        ("chinese.en.x.cn", "x.cn", "zh"),
        ("m.news.x.cn", "x.cn", None),
        ("english.x.cn", "english.x.cn", None),  # the parent's own labels are not read
    ],
)
def test_edition_language_is_the_leftmost_language_label_left_of_the_parent(
    host: str, parent: str, language: str | None
) -> None:
    assert edition_language(host, parent) == language


@pytest.mark.parametrize(
    ("raw", "domain"),
    [
        ("www.example.com", "example.com"),
        ("www2.example.com", "example.com"),
        ("WWW3.Example.COM.", "example.com"),
        ("wwwx.example.com", "wwwx.example.com"),  # not a www host: a name of its own
    ],
)
def test_normalise_domain_drops_a_www_label_with_or_without_a_number(raw: str, domain: str) -> None:
    assert normalise_domain(raw) == domain


def test_a_language_label_under_an_unknown_outlet_says_nothing(
    catalogue: OutletCatalogue,
) -> None:
    assert catalogue.lookup("english.unknown-outlet.example") == Outlet(
        domain="unknown-outlet.example"
    )


def test_the_build_reads_subdomain_languages_from_the_catalogue_module() -> None:
    assert build.SUBDOMAIN_LANGUAGES is SUBDOMAIN_LANGUAGES


@pytest.mark.parametrize(
    ("url", "name", "language"),
    [
        # the dataset names the host after CNC World, Xinhua's television channel
        ("https://www.news.cn/world/x.htm", "Xinhua", "zh"),
        ("https://english.news.cn/x.htm", "Xinhua", "en"),
        # ... and China Daily after China Youth Daily (Zhōngguó Qīngnián Bào)
        ("https://www.chinadaily.com.cn/a/x.html", "China Daily", "en"),
        ("https://tass.com/politics/1", "TASS", "en"),  # TASS's English site
        ("https://tass.ru/politika/1", "TASS", "ru"),
        # China Daily's Chinese site took its parent's row, English included
        ("http://china.chinadaily.com.cn/a/1.html", "China Daily (Chinese)", "zh"),
        ("https://www.chinadaily.com.cn/a/1.html", "China Daily", "en"),
    ],
)
def test_catalogue_corrections_of_the_dataset(
    catalogue: OutletCatalogue, url: str, name: str, language: str
) -> None:
    outlet = catalogue.lookup(url)
    assert (outlet.name, outlet.language, outlet.state_affiliation) == (name, language, "SC")


@pytest.mark.parametrize(
    ("alias", "host"),
    [
        ("yna.co.kr", "yonhapnews.co.kr"),
        ("huanqiu.com", "world.huanqiu.com"),
        ("voachinese.com", "voanews.com"),
        ("china.chinadaily.com.cn", "chinadaily.com.cn"),
    ],
)
def test_an_outlet_the_dataset_lists_under_another_host_has_its_classification(
    catalogue: OutletCatalogue, alias: str, host: str
) -> None:
    assert build.HOST_ALIASES[alias] == host
    outlet, listed = catalogue.lookup(f"https://www.{alias}/x"), catalogue.lookup(host)
    assert outlet.domain == alias
    assert (outlet.country, outlet.state_affiliation) == (listed.country, listed.state_affiliation)
    assert catalogue.lookup(f"https://en.{alias}/x").language == "en"


@pytest.mark.parametrize(
    ("url", "name", "country", "language", "code"),
    [
        ("https://sputniknews.cn/20240101/x.html", "Sputnik Chinese", "RU", "zh", "SC"),
        ("https://sputnikarabic.ae/x", "Sputnik Arabic", "RU", "ar", "SC"),
        ("https://sputniknews.lat/x", "Sputnik Spanish", "RU", "es", "SC"),
        ("https://sputniknewsbr.com.br/x", "Sputnik Portuguese", "RU", "pt", "SC"),
        ("https://snanews.de/x", "SNA (Sputnik Germany)", "RU", "de", "SC"),
        ("https://fr.sputniknews.africa/x", "Sputnik Afrique", "RU", "fr", "SC"),
        ("https://anlatilaninotesi.com.tr/x", "Sputnik Türkiye", "RU", "tr", "SC"),
        ("https://sputniknews.jp/x", "Sputnik Japanese", "RU", "ja", "SC"),
        ("https://sputnik.by/x", "Sputnik Belarus", "RU", "ru", "SC"),
        ("https://sputnik.kz/x", "Sputnik Kazakhstan", "RU", "ru", "SC"),
        ("https://sputnikportal.rs/x", "Sputnik Serbia", "RU", "sr", "SC"),
        ("https://www.telesurtv.net/news/x.html", "teleSUR", "VE", "es", "SC"),
        ("https://www.mehrnews.com/news/1/x", "Mehr News Agency (MNA)", "IR", "fa", "SC"),
        ("https://www.ukrinform.net/rubric-polytics/x.html", "Ukrinform", "UA", "en", "SC"),
        ("https://rtde.life/x", "RT Deutsch", "RU", "de", "SC"),
        ("https://news.cctv.cn/2024/x.shtml", "China Central Television (CCTV)", "CN", "zh", "SC"),
        ("https://tv.cctv.cn/2024/x.shtml", "China Central Television (CCTV)", "CN", "zh", "SC"),
        ("https://tv.cntv.cn/x", "China Network Television (CNTV)", "CN", "zh", "SC"),
        ("https://english.cntv.cn/2024/x.shtml", "CNTV English", "CN", "en", "SC"),
        ("https://www.thenationalnews.com/news/x", "The National", "AE", "en", "CaPu"),
        ("https://www.hispantv.com/noticias/x", "HispanTV", "IR", "es", "SC"),
        # names the dataset gets wrong
        ("https://www.spa.gov.sa/x", "Saudi Press Agency", "SA", "ar", "SC"),
        ("https://lt.sputniknews.ru/x", "Sputnik Lithuania", "RU", "", "SC"),
        ("https://www.presstv.com/Detail/x", "Press TV", "IR", "en", "SC"),
        ("https://kayhan.ir/fa/news/1", "Kayhan", "IR", "fa", "SC"),
    ],
)
def test_current_domains_and_names_of_state_outlets(
    catalogue: OutletCatalogue, url: str, name: str, country: str, language: str, code: str
) -> None:
    outlet = catalogue.lookup(url)
    assert (outlet.name, outlet.country, outlet.language or "", outlet.state_affiliation) == (
        name,
        country,
        language,
        code,
    )
    assert outlet.state_media is True


@pytest.mark.realworld
@pytest.mark.usefixtures("matrix_present")
def test_every_override_and_alias_key_names_a_compiled_host() -> None:
    assert build.unmatched_overrides(build.compile_matrix(MATRIX)) == []


@pytest.mark.realworld
@pytest.mark.usefixtures("matrix_present")
def test_the_build_fails_on_an_override_for_no_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(build.LANGUAGE_OVERRIDES, "no-such-host.example", "en")
    monkeypatch.setitem(build.NAME_OVERRIDES, "typo.sputniknews.com", "Sputnik")
    out = tmp_path / "outlets.csv"
    assert build.main(["--out", str(out)]) == 1
    assert not out.exists()
    error = capsys.readouterr().err
    assert "LANGUAGE_OVERRIDES: no-such-host.example" in error
    assert "NAME_OVERRIDES: typo.sputniknews.com" in error


@pytest.mark.realworld
@pytest.mark.usefixtures("matrix_present")
def test_a_build_to_another_file_keeps_the_bundled_curated_rows(tmp_path: Path) -> None:
    out = tmp_path / "elsewhere.csv"
    assert build.main(["--out", str(out)]) == 0
    assert out.read_text("utf-8") == build.DEFAULT_OUT.read_text("utf-8")
    assert len(build.curated_rows(out)) == len(build.curated_rows(build.DEFAULT_OUT)) >= 150


@pytest.mark.parametrize(
    ("url", "country"),
    [
        ("https://www.nytimes.com/2024/05/01/technology/tiktok-ban.html", "US"),
        ("https://www.washingtonpost.com/technology/2024/x/", "US"),
        ("https://amp.theguardian.com/technology/2024/x", "GB"),
        ("https://edition.cnn.com/2024/x/index.html", "US"),
        ("https://www.reuters.com/technology/x/", "GB"),
        ("https://apnews.com/article/x", "US"),
        ("https://www.lemonde.fr/pixels/article/x.html", "FR"),
        ("https://m.spiegel.de/netzwelt/x", "DE"),
        ("https://elpais.com/tecnologia/x.html", "ES"),
        ("https://www1.folha.uol.com.br/mercado/x.shtml", "BR"),
        ("https://www.scmp.com/tech/x", "HK"),
        ("https://www.japantimes.co.jp/news/x", "JP"),
        ("https://www.thehindu.com/sci-tech/x", "IN"),
        ("https://techcrunch.com/2024/x/", "US"),
        ("https://therecord.media/x", "US"),
        ("https://www.bleepingcomputer.com/news/security/x/", "US"),
    ],
)
def test_independent_outlets_have_no_affiliation(
    catalogue: OutletCatalogue, url: str, country: str
) -> None:
    outlet = catalogue.lookup(url)
    assert outlet.name
    assert outlet.country == country
    assert outlet.language
    assert outlet.state_affiliation is None
    assert outlet.state_media is False


def test_at_least_150_curated_independent_domains() -> None:
    rows = [
        row
        for row in csv.reader(build.DEFAULT_OUT.read_text("utf-8").splitlines())
        if row and not row[0].startswith("#") and row[-1] == "newsbeam"
    ]
    assert len(rows) >= 150
    assert all(row[4] == "" and row[2] and row[3] for row in rows)


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://news.unknown-outlet.co.uk/a/b", "unknown-outlet.co.uk"),
        ("https://M.Unknown-Site.COM./x?y=1", "unknown-site.com"),
        ("https://someone.blogspot.com/2024/x.html", "someone.blogspot.com"),
        ("http://127.0.0.1:8080/feed.xml", "127.0.0.1"),
        ("http://[::1]:8080/a", "::1"),
        ("localhost:8000/a", "localhost"),
        ("https://bücher.example/x", "xn--bcher-kva.example"),
        ("http://[2001:DB8:0::1]/a", "2001:db8::1"),
    ],
)
def test_unknown_hosts_carry_only_their_domain(
    catalogue: OutletCatalogue, url: str, domain: str
) -> None:
    outlet = catalogue.lookup(url)
    assert outlet == Outlet(domain=domain)
    assert outlet.state_media is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "https://",
        "mailto:someone",
        "mailto:someone@example.com",
        "https://example.com:port/x",
    ],
)
def test_lookup_without_a_host_is_an_error(catalogue: OutletCatalogue, bad: str) -> None:
    with pytest.raises(ValueError, match="no host"):
        catalogue.lookup(bad)


# --- the user's file -----------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-outlets.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_extends_and_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# my additions\n"
        "domain,name,country,language,state_affiliation,source\n"
        "\n"
        "local-news.example,Local News,NZ,en,,me\n"
        "www.nytimes.com,NYT (my name),US,en,,me\n"
        "rt.com,RT,RU,en,,me\n"
        "127.0.0.2,Loopback State TV,CN,zh,SC,test\n",
    )
    bundled = OutletCatalogue.load()
    merged = OutletCatalogue.load(path)
    assert len(merged) == len(bundled) + 2
    assert merged.lookup("https://m.local-news.example/x") == Outlet(
        domain="local-news.example", name="Local News", country="NZ", language="en"
    )
    assert merged.lookup("nytimes.com").name == "NYT (my name)"
    assert bundled.lookup("rt.com").state_affiliation == "SC"
    assert merged.lookup("https://rt.com/news/x").state_affiliation is None  # empty means none
    assert merged.lookup("http://127.0.0.2:8000/a").state_affiliation == "SC"
    assert merged.lookup("theguardian.com") == bundled.lookup("theguardian.com")


def test_user_file_keys_are_normalised_like_lookups(tmp_path: Path) -> None:
    """A spreadsheet's BOM, ``www2.``, padded cells, a non-canonical IPv6 address and a
    multi-subtag language all read as a user means them."""
    path = tmp_path / "my-outlets.csv"
    path.write_bytes(
        "domain,name,language\n"
        "www2.paper.example, Paper Daily ,zh-hant-tw\n"
        "2001:DB8:0::1,Lab TV,en\n".encode("utf-8-sig")
    )
    merged = OutletCatalogue.load(path)
    assert merged.lookup("https://paper.example/a") == Outlet(
        domain="paper.example", name="Paper Daily", language="zh-hant-tw"
    )
    assert merged.lookup("http://[2001:db8::1]:8000/a").name == "Lab TV"


def test_user_file_may_name_only_some_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "domain, country\nmy-blog.example,IE\n")
    assert OutletCatalogue.load(path).lookup("my-blog.example") == Outlet(
        domain="my-blog.example", country="IE"
    )


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("ok.example,Ok,US,en,\nbad.example,Bad,USA,en,\n", 3, "country 'USA'"),
        ("bad.example,Bad,usa,en,\n", 2, "country 'usa' is not an ISO 3166-1 alpha-2 code"),
        ("bad.example,Bad,el,el,\n", 2, "country 'el' is not an ISO 3166-1 alpha-2 code: ISO's"),
        ("bad.example,Bad,uk,en,\n", 2, "alpha-2 code: ISO's code for that country is GB"),
        ("bad.example,Bad,US,en,STATE\n", 2, "state_affiliation 'STATE'"),
        ("bad.example,Bad,US,en,S C\n", 2, "state_affiliation 'S C'"),
        (",No domain,US,en,\n", 2, "missing domain"),
        ("https://bad.example/,Bad,US,en,\n", 2, "bare host name"),
        ("bad_host!.example,Bad,US,en,\n", 2, "not a valid host name"),
        ("-bad.example,Bad,US,en,\n", 2, "not a valid host name"),
        ("bad-.example,Bad,US,en,\n", 2, "not a valid host name"),
        ("bad..example,Bad,US,en,\n", 2, "not a valid host name"),
        (f"{'a' * 64}.example,Bad,US,en,\n", 2, "not a valid host name"),
        ("bad.example:8080,Bad,US,en,\n", 2, "bare host name"),
        ("bad.example,Bad,US,English,\n", 2, "language 'English' is not an ISO 639 code"),
        ("bad.example,Bad,US\n", 2, "expected 5 fields"),
        ("a.example,A,US,en,\n# comment\nwww.a.example,A again,US,en,\n", 4, "already defined"),
    ],
)
def test_malformed_rows_name_file_line_and_problem(
    tmp_path: Path, body: str, line: int, message: str
) -> None:
    path = _write(tmp_path, HEADER + body)
    with pytest.raises(OutletFileError) as caught:
        OutletCatalogue.load(path)
    text = str(caught.value)
    assert str(path) in text
    assert f"line {line}:" in text
    assert message in text


def test_codes_in_any_case_are_kept_in_their_canonical_case(tmp_path: Path) -> None:
    # As the feed list takes them (README): "language 'EN' is not a lower-case ISO 639 code"
    # and "country 'gb' is not an ISO 3166-1 alpha-2 code" before.
    path = _write(
        tmp_path,
        HEADER + "gb.example,GB Daily,gb,EN,sc\nbr.example,BR Diario, Br ,pt-BR, capu \n",
    )
    # The typology codes too: "state_affiliation 'sc' is not a typology code" before, and a
    # State Media Monitor code written "CAPU" would not match a filter on "CaPu".
    catalogue = OutletCatalogue.load(path)
    assert catalogue.lookup("gb.example") == Outlet(
        domain="gb.example", name="GB Daily", country="GB", language="en", state_affiliation="SC"
    )
    assert catalogue.lookup("br.example") == Outlet(
        domain="br.example",
        name="BR Diario",
        country="BR",
        language="pt-br",
        state_affiliation="CaPu",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty outlet file"),
        ("# only a comment\n", "empty outlet file"),
        ("name,country\nX,US\n", "header must name the column 'domain'"),
        (
            "domain,name,contry\na.example,A,US\n",
            "no column 'contry' \\(did you mean 'country'\\?\\)$",
        ),
        ("domain,name,name\na.example,A,B\n", "once each"),
        ('domain,name\na.example,"A"x\n', "not a valid UTF-8 CSV file"),
    ],
)
def test_malformed_files_are_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(OutletFileError, match=message):
        OutletCatalogue.load(path)


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("domain,name\nzeitung.example,Süddeutsche\n".encode("latin-1"))
    with pytest.raises(OutletFileError, match="not a valid UTF-8 CSV file"):
        OutletCatalogue.load(path)


def test_missing_user_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(OutletFileError, match="nope.csv"):
        OutletCatalogue.load(missing)


@pytest.mark.parametrize("suffix", ["co.uk", "CO.UK", "www.co.uk", "com", "github.io", "рф"])
def test_a_row_for_a_public_suffix_is_refused(tmp_path: Path, suffix: str) -> None:
    # lookups stop at the registered domain (somepaper.co.uk): such a row was never used
    path = _write(tmp_path, HEADER + f"ok.example,Ok,GB,en,\n{suffix},Not an outlet,GB,en,\n")
    with pytest.raises(OutletFileError, match=r"line 3: domain '.*' is a public suffix"):
        OutletCatalogue.load(path)
    assert (
        OutletCatalogue.load().lookup("https://www.somepaper.co.uk/x").domain == "somepaper.co.uk"
    )


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ('a.example,A,US,en,\nb.example,"B Daily,US,en,\nc.example,C,US,en,\n', 3),
        ('a.example,"A\nAgain",US,en,\n# note\nb.example,"B,US,en,\n', 5),
        ('a.example,"A"x,US,en,\n', 2),
    ],
)
def test_a_quote_error_names_its_line(tmp_path: Path, body: str, line: int) -> None:
    path = _write(tmp_path, HEADER + body)
    with pytest.raises(OutletFileError, match=rf"csv, line {line}: not a valid UTF-8 CSV file"):
        OutletCatalogue.load(path)


# --- the compiler --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [("Russia", "RU"), ("UAE", "AE"), ("Côte d'Ivoire", "CI"), ("Hong Kong", "HK")],
)
def test_country_names_map_to_iso_codes(name: str, code: str) -> None:
    assert build.country_code(name) == code


def test_unknown_country_name_is_an_error() -> None:
    with pytest.raises(KeyError, match="Atlantis"):
        build.country_code("Atlantis")


def test_compile_normalises_urls_and_merges_shared_hosts(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.csv"
    matrix.write_text(
        "Region,Country,Media company,Main assets,URL,Typology\n"
        "Europe,Serbia,RTV Group,RTV1,http://www.rtv.example/,ISFM\n"
        "Europe,Serbia,RTV Group,Radio Novi Sad,https://rtv.example/radio/,CaPr\n"
        "Asia,Cambodia,Bayon,Bayon TV,www.bayon.example,ISFM?\n"
        "Asia,Cambodia,Bayon,Bayon Radio,,SC\n"
        "Asia,China,People's Daily,People's Daily (Arabic),arabic.daily.example/ar/,SC\n",
        encoding="utf-8",
    )
    rows = {row[0]: row for row in build.compile_matrix(matrix)}
    assert set(rows) == {"rtv.example", "bayon.example", "arabic.daily.example"}
    assert rows["rtv.example"][1:5] == ["RTV Group", "RS", "sr", "CaPr"]
    assert rows["bayon.example"][1:5] == ["Bayon TV", "KH", "km", "ISFM"]
    assert rows["arabic.daily.example"][3] == "ar"


# --- the feed list's name and country ------------------------------------------------------


def _entry(feed_url: str, name: str | None = "Feed Name", country: str | None = "IE") -> FeedEntry:
    return FeedEntry(feed_url, feed_url, feed_url, feed_name=name, feed_country=country)


FEED_CATALOGUE = OutletCatalogue(
    {
        "known.example": Outlet("known.example", "Known", "GB", "en", "SC"),
        "partial.example": Outlet("partial.example", state_affiliation="ISM"),
    }
)


@pytest.mark.parametrize(
    ("url", "feed_url", "expected"),
    [
        # The catalogue's entry wins, field by field; its state affiliation is never touched.
        ("https://m.known.example/a", "https://known.example/rss", ("Known", "GB", "SC")),
        ("https://partial.example/a", "https://partial.example/rss", ("Feed Name", "IE", "ISM")),
        # A host the catalogue does not know gets the feed's name and country...
        ("https://www.new.co.uk/a", "https://feeds.new.co.uk/rss", ("Feed Name", "IE", None)),
        ("http://127.0.0.9:8000/a", "http://127.0.0.9:8000/rss", ("Feed Name", "IE", None)),
        # ...but not a page on another registered domain (an aggregator's or wire feed).
        ("https://other.co.uk/a", "https://new.co.uk/rss", (None, None, None)),
        ("https://x.blogspot.com/a", "https://y.blogspot.com/rss", (None, None, None)),
        ("https://partial.example/a", "https://agg.example/rss", (None, None, "ISM")),
        # IP addresses have no registered domain: different addresses are different sites.
        ("http://10.0.0.9/a", "http://127.0.0.9/rss", (None, None, None)),
        # a feed read from a file names no site
        ("https://new.example/a", "/srv/feeds/new.xml", (None, None, None)),
    ],
)
def test_feed_name_and_country_fill_what_the_catalogue_lacks(
    url: str, feed_url: str, expected: tuple[str | None, ...]
) -> None:
    outlet = FEED_CATALOGUE.lookup_for_entry(url, _entry(feed_url))
    assert (outlet.name, outlet.country, outlet.state_affiliation) == expected
    assert outlet.domain == FEED_CATALOGUE.lookup(url).domain
    assert outlet.language == FEED_CATALOGUE.lookup(url).language
    # whether it is state media is the catalogue's to say: unknown for a feed-filled outlet
    assert outlet.state_media == FEED_CATALOGUE.lookup(url).state_media


def test_feed_without_name_or_country_leaves_the_outlet_alone() -> None:
    entry = _entry("https://new.example/rss", name=None, country=None)
    assert FEED_CATALOGUE.lookup_for_entry("https://new.example/a", entry) == Outlet("new.example")
    entry = _entry("https://new.example/rss", name=None)
    assert FEED_CATALOGUE.lookup_for_entry("https://new.example/a", entry) == Outlet(
        "new.example", country="IE", catalogued=False
    )


def test_enrichment_gives_the_story_the_feeds_outlet_name_and_country() -> None:
    """``enrich_article`` is the core both EnrichArticles and AnalysePages run."""
    entry = _entry("https://new.example/rss")
    article = Article(entry, entry.link, "https://new.example/a", "https://new.example/a", "T", "x")
    story = enrich_article(article, FEED_CATALOGUE)
    assert story.outlet == Outlet("new.example", "Feed Name", "IE", catalogued=False)
    assert story.outlet.to_json()["state_media"] is None
