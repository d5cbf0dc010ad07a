"""Feed lists: OPML, text and YAML, and the clear errors for bad ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring

from tests.conftest import corpus_path
from transforms.feedlist import FeedListError, read_feed_list
from transforms.opml_mend import mend_attribute_quotes
from transforms.outlets import OutletCatalogue, OutletFileError
from transforms.records import FeedSpec


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_text_list_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds.txt",
        "# my feeds\n\nhttps://a.example/rss  # the A feed\nhttp://b.example/atom.xml\n",
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss"),
        FeedSpec("http://b.example/atom.xml"),
    ]


def test_text_list_keeps_fragments_and_skips_blank_padded_lines(tmp_path: Path) -> None:
    """Only a ``#`` after whitespace starts a comment; a URL's own fragment stays."""
    path = write(
        tmp_path,
        "feeds.txt",
        "   \n\tHTTPS://A.example/rss#top\n  # indented comment\nhttp://b.example/x#y # B\n",
    )
    assert read_feed_list(path) == [
        FeedSpec("HTTPS://A.example/rss#top"),
        FeedSpec("http://b.example/x#y"),
    ]


def test_text_list_names_the_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds.txt", "https://a.example/rss\nftp://b.example/feed\n")
    with pytest.raises(FeedListError, match=r"feeds\.txt:2: not an http\(s\) feed URL"):
        read_feed_list(path)


def test_yaml_with_metadata_and_duplicates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        "feeds.yaml",
        "feeds:\n"
        "  - url: https://a.example/rss\n    name: A News\n    country: de\n    language: de\n"
        "  - https://b.example/rss\n"
        "  - https://a.example/rss\n",
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss", name="A News", country="DE", language="de"),
        FeedSpec("https://b.example/rss"),
    ]
    # The repeat is said, once: a list of 3,500 lines with 500 repeats polled 3,000 feeds
    # without a word.
    assert [r.getMessage() for r in caplog.records if r.name == "transforms.feedlist"] == [
        f"{path}: 1 feed URL(s) listed more than once, each polled once, as first listed "
        "(https://a.example/rss)"
    ]


def test_a_list_without_repeats_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "feeds.txt", "https://a.example/rss\nhttps://b.example/rss\n")
    assert len(read_feed_list(path)) == 2
    assert [r for r in caplog.records if r.name == "transforms.feedlist"] == []


def test_yaml_text_is_utf8_and_blank_country_is_none(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Feeds.YML",
        "- url: https://a.example/rss\n  name: Süddeutsche Zeitung\n  country: ''\n"
        "- url: ' https://b.example/rss '\n  country: ' ie '\n",
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss", name="Süddeutsche Zeitung"),
        FeedSpec("https://b.example/rss", country="IE"),
    ]


@pytest.mark.parametrize(
    ("country", "message"),
    [
        ("Britain", r"feed #2: country 'Britain' is not an ISO 3166-1 alpha-2 code"),
        (
            "UK",
            r"feed #2: country 'UK' is not an ISO 3166-1 alpha-2 code: ISO's code for that"
            r" country is GB$",
        ),
        ("NO", r"feed #2: country False is a YAML boolean: quote it \('NO'\)"),
    ],
)
def test_yaml_country_must_be_an_iso_code(tmp_path: Path, country: str, message: str) -> None:
    path = write(
        tmp_path,
        "feeds.yaml",
        f"- url: https://a.example/rss\n  country: 'no'\n- url: https://b.example/rss\n"
        f"  country: {country}\n",
    )
    with pytest.raises(
        FeedListError, match=rf"^{re.escape(str(tmp_path))}/feeds\.yaml: {message}"
    ) as caught:
        read_feed_list(path)
    assert "\n" not in str(caught.value)


def test_feed_language_is_an_iso_code_kept_as_its_primary_subtag(tmp_path: Path) -> None:
    """Like a feed's own <language>: the story's language when its text is too short."""
    path = write(
        tmp_path,
        "feeds.yaml",
        "- url: https://a.example/rss\n  language: EN\n"
        "- url: https://b.example/rss\n  language: ' pt-BR '\n"
        "- url: https://c.example/rss\n  language: ''\n",
    )
    assert [spec.language for spec in read_feed_list(path)] == ["en", "pt", None]
    opml = write(
        tmp_path,
        "subs.opml",
        '<opml version="2.0"><body><outline xmlUrl="https://a.example/rss" language="zh-Hant"/>'
        "</body></opml>",
    )
    assert [spec.language for spec in read_feed_list(opml)] == ["zh"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "feeds.yaml",
            "- url: https://a.example/rss\n  language: english\n",
            r"feeds\.yaml: feed #1: language 'english' is not an ISO 639 code \(e\.g\. en",
        ),
        (
            "feeds.yaml",
            "- url: https://a.example/rss\n  language: no\n",
            r"feeds\.yaml: feed #1: language False is a YAML boolean: quote it \('no'\)",
        ),
        (
            "subs.opml",
            '<opml><body><outline xmlUrl="https://a.example/rss" language="French"/></body></opml>',
            r"subs\.opml: outline https://a\.example/rss: language 'French' is not an ISO 639",
        ),
    ],
)
def test_feed_language_that_is_no_language_code_is_an_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(FeedListError, match=rf"^{re.escape(str(tmp_path))}/{message}"):
        read_feed_list(write(tmp_path, name, text))


def test_yaml_unknown_key_is_an_error_naming_the_key_meant(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds.yml", "- url: https://a.example/rss\n  nmae: typo\n")
    with pytest.raises(
        FeedListError, match=r"feed #1: unknown keys \['nmae'\] \(did you mean 'name'\?\)$"
    ):
        read_feed_list(path)
    # Nothing close, or more than one: the keys a feed may have.
    path = write(tmp_path, "feeds.yml", "- url: https://a.example/rss\n  tags: [a]\n  x: 1\n")
    with pytest.raises(
        FeedListError,
        match=r"unknown keys \['tags', 'x'\] \(known: url, name, country, language\)$",
    ):
        read_feed_list(path)


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("feedz:\n  - https://a.example/rss\n", "['feedz']"),  # was "no feeds in ..."
        ("feeds:\n  - https://a.example/rss\nextra: 1\n", "['extra']"),  # was dropped
    ],
)
def test_yaml_unknown_top_level_key_is_an_error(tmp_path: Path, text: str, unknown: str) -> None:
    path = write(tmp_path, "feeds.yml", text)
    with pytest.raises(FeedListError, match=re.escape(f"unknown keys {unknown}")):
        read_feed_list(path)


# Nine aliases of nine aliases, ten deep: 3.5 billion items in a few hundred bytes of YAML.
ALIAS_BOMB = (
    "[&a0 [x, x, x, x, x, x, x, x, x], "
    + ", ".join(f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10))
    + "]"
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", ALIAS_BOMB, "name is a YAML list, not text"),
        ("name", "{a: b}", "name is a YAML mapping, not text"),
        ("name", "1843", "name 1843 is a YAML number, not text: quote it"),
        ("name", "yes", "name True is a YAML boolean, not text: quote it"),
        ("name", "2026-03-04", r"name datetime\.date\(2026, 3, 4\) is a YAML date, not text"),
        ("country", ALIAS_BOMB, "country is a YAML list, not text"),
        ("country", "826", "country 826 is a YAML number, not text: quote it"),
        ("language", ALIAS_BOMB, "language is a YAML list, not text"),
    ],
    ids=[
        "name bomb",
        "name mapping",
        "name number",
        "name yes",
        "name date",
        "country bomb",
        "country number",
        "language bomb",
    ],
)
def test_yaml_fields_that_must_be_text_refuse_anything_else_on_one_line(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    # A list was taken as a feed's name (an alias bomb too, whose text never ends), and a
    # country or language was made text with str() before its code was checked.
    text = f"feeds:\n  - url: http://a.example/\n    {field}: {value}\n"
    with pytest.raises(FeedListError, match=rf"feeds\.yaml: feed #1: {message}") as caught:
        read_feed_list(write(tmp_path, "feeds.yaml", text))
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300


def test_yaml_text_fields_quoted_are_read_as_written(tmp_path: Path) -> None:
    text = "- url: http://a.example/\n  name: '1843'\n  country: 'NO'\n  language: 'no'\n"
    (spec,) = read_feed_list(write(tmp_path, "feeds.yaml", text))
    assert (spec.name, spec.country, spec.language) == ("1843", "NO", "no")


def test_yaml_unknown_keys_that_are_not_text_are_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds.yaml", "- {url: https://a.example/rss, 1: y, b: z}\n")
    with pytest.raises(FeedListError, match=r"feed #1: unknown keys \['1', 'b'\]"):
        read_feed_list(path)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "feeds.yaml",
        "feeds:\n  - https://a.example/rss\n  - url: https://b.example/rss\n   name: B\n",
    )
    with pytest.raises(FeedListError, match=r"feeds\.yaml:4: not valid YAML"):
        read_feed_list(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # the second feeds: list replaced the first, whose feeds were never polled
            "feeds:\n  - https://a.example/rss\nname: mine\nfeeds:\n  - https://b.example/rss\n",
            "feeds.yaml:4: not valid YAML: duplicate key 'feeds' (first on line 1)",
        ),
        (
            "- url: https://a.example/rss\n  name: A\n  name: B\n",
            "feeds.yaml:3: not valid YAML: duplicate key 'name' (first on line 2)",
        ),
        ("- {url: https://a.example/rss, url: https://b.example/rss}\n", "duplicate key 'url'"),
        ("[" * 5000 + "]" * 5000, "feeds.yaml:1: not valid YAML: nested too deeply"),
    ],
)
def test_yaml_key_written_twice_is_an_error(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(FeedListError, match=re.escape(expected)):
        read_feed_list(write(tmp_path, "feeds.yaml", text))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-13-45", "feeds.yaml:3: not valid YAML: cannot read '2026-13-45': month must be"),
        ("2026-02-30 10:00:00+99:00", "feeds.yaml:3: not valid YAML: cannot read '2026-02-30"),
        ("1" + "0" * 5000, "feeds.yaml:3: not valid YAML: cannot read '1000"),
    ],
)
def test_a_yaml_value_yaml_cannot_make_is_an_error_naming_the_line(
    tmp_path: Path, value: str, expected: str
) -> None:
    # Found by fuzzing the loaders: PyYAML's ValueError for a date that is no date or an
    # integer past Python's 4,300 digits reached the user without the file's name.
    text = f"feeds:\n  - url: https://a.example/rss\n    name: {value}\n"
    with pytest.raises(FeedListError, match=re.escape(expected)) as info:
        read_feed_list(write(tmp_path, "feeds.yaml", text))
    assert len(str(info.value)) < 400


def test_opml_outlines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.opml",
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="Tech"><outline text="A" xmlUrl="https://a.example/rss"/></outline>'
        '<outline title="B" xmlUrl="https://b.example/feed" language="fr"/>'
        '<outline text="C" title="C News" xmlUrl="https://c.example/feed"/>'
        '<outline text="no feed here"/></body></opml>',
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss", name="A"),
        FeedSpec("https://b.example/feed", name="B", language="fr"),
        FeedSpec("https://c.example/feed", name="C News"),  # title before text
    ]


def test_opml_lower_case_xmlurl_padded_url_and_empty_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "subs.txt",  # found by its content, past leading whitespace
        '\n  <opml version="1.0"><body>'
        '<outline text="A" xmlurl="https://a.example/rss"/>'
        '<outline text="" title="" xmlUrl=" https://b.example/rss "/></body></opml>',
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss", name="A"),
        FeedSpec("https://b.example/rss"),
    ]


@pytest.mark.parametrize("name", ["subs.xml", "SUBS.OPML"])
def test_opml_by_file_name_even_behind_a_byte_order_mark(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(
        b'\xef\xbb\xbf<opml><body><outline text="A" xmlUrl="https://a.example/rss"/></body></opml>'
    )
    assert read_feed_list(path) == [FeedSpec("https://a.example/rss", name="A")]


def test_real_opml_export_reads_every_feed() -> None:
    subs = corpus_path("feeds", "netnewswire", "Subs.opml")
    specs = read_feed_list(subs)
    raw = subs.read_text(encoding="utf-8", errors="replace")
    assert len(specs) == len({s.url for s in specs})
    assert len(specs) >= 0.9 * raw.count("xmlUrl=")
    assert all(s.url.startswith(("http://", "https://")) for s in specs)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.txt", "# nothing yet\n", "no feeds in"),
        ("empty.yaml", "feeds: []\n", "no feeds in"),
        ("empty.yml", "feeds:\n", "no feeds in"),
        ("scalar.yaml", "feeds: https://a.example/rss\n", "expected a list of feeds"),
        ("nourl.yaml", "- name: A\n  country: IE\n", "feed #1: expected a URL or a mapping"),
        ("bad.opml", "<opml><body><outline", "not valid OPML"),
    ],
)
def test_files_without_feeds_are_clear_errors(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(FeedListError, match=message):
        read_feed_list(write(tmp_path, name, text))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FeedListError, match="feed list not found"):
        read_feed_list(tmp_path / "nope.txt")
    with pytest.raises(FeedListError, match="is a directory"):
        read_feed_list(tmp_path)


def retry_error() -> Exception:
    """What Beam's GCS filesystem raises, after its retries, when Cloud Storage is out of reach."""
    from google.api_core.exceptions import RetryError, ServiceUnavailable

    last = ServiceUnavailable("GET https://storage.googleapis.com/b/feeds.txt: unreachable")
    return RetryError(f"Timeout of 120.0s exceeded, last exception: {last}\nmore detail", last)


@pytest.mark.parametrize(
    ("step", "error", "cause"),
    [
        ("exists", retry_error, "RetryError: Timeout of 120.0s exceeded, last exception: 503"),
        ("open", lambda: RuntimeError("no credentials"), "RuntimeError: no credentials"),
        ("open", lambda: PermissionError(13, "Permission denied"), "Permission denied"),
        ("open", lambda: OSError(), "OSError"),
        ("open", lambda: OSError("disk on fire " * 100), "disk on fire"),
    ],
)
def test_any_failure_to_read_a_remote_list_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, step: str, error: Callable[[], Exception], cause: str
) -> None:
    from apache_beam.io.filesystems import FileSystems

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error()

    monkeypatch.setattr(FileSystems, "exists", fail if step == "exists" else lambda path: True)
    monkeypatch.setattr(FileSystems, "open", fail)
    with pytest.raises(FeedListError) as raised:
        read_feed_list("gs://b/feeds.txt")
    message = str(raised.value)
    assert message.startswith(f"cannot read feed list gs://b/feeds.txt: {cause}")
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("feeds.txt", "https://a.example/rss\nhttp://b.example/atom.xml\n"),
        ("feeds.yaml", "feeds:\n  - https://a.example/rss\n  - http://b.example/atom.xml\n"),
        (
            "feeds.opml",
            '<opml><body><outline xmlUrl="https://a.example/rss"/>'
            '<outline xmlUrl="http://b.example/atom.xml"/></body></opml>',
        ),
        (  # OPML by its first character, not its name
            "feeds.txt",
            '<?xml version="1.0" encoding="UTF-8"?>\n<opml><body>'
            '<outline xmlUrl="https://a.example/rss"/>'
            '<outline xmlUrl="http://b.example/atom.xml"/></body></opml>',
        ),
    ],
    ids=["text", "yaml", "opml", "opml named .txt"],
)
def test_a_byte_order_mark_is_not_part_of_the_list(tmp_path: Path, name: str, text: str) -> None:
    # Notepad's UTF-8: the text list's first URL was "not an http(s) feed URL:
    # '\ufeffhttps://...'", and OPML not named .opml was read as a text list.
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss"),
        FeedSpec("http://b.example/atom.xml"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "line", "specs"),
    [
        (
            "feeds.yaml",
            "feeds:\n  - url: https://a.example/rss\n    name: Montr\u00e9al Tribune\n",
            3,
            [FeedSpec("https://a.example/rss", name="Montr\u00e9al Tribune")],
        ),
        (
            "feeds.txt",
            "https://a.example/rss\nhttps://b.example/caf\u00e9/rss\n",
            2,
            [FeedSpec("https://a.example/rss"), FeedSpec("https://b.example/caf\u00e9/rss")],
        ),
    ],
    ids=["yaml", "text"],
)
def test_a_list_saved_in_latin_1_is_refused_naming_the_line(
    tmp_path: Path, name: str, text: str, line: int, specs: list[FeedSpec]
) -> None:
    # A Windows "ANSI" or Latin-1 file: read with replacement characters, the feed's name
    # became the outlet name "Montr\ufffdal Tribune" of every story, without a word.
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(FeedListError) as raised:
        read_feed_list(path)
    assert str(raised.value) == f"{path}:{line}: not UTF-8 (byte 0xe9): save the file as UTF-8"
    path.write_text(text, encoding="utf-8")  # saved as UTF-8, it reads
    assert read_feed_list(path) == specs


@pytest.mark.parametrize(
    ("country", "language", "valid"),
    [
        ("gb", "EN", True),
        ("Nz", "Zh-Hant", True),
        (" de ", "pt-BR", True),
        ("uk", "en", False),  # no such country code (GB is)
        ("usa", "en", False),
        ("\u0131e", "en", False),  # a dotless i: upper-cased it is I, but this is no IE
        ("ie", "english", False),
        ("ie", "\u212aa", False),  # the Kelvin sign: lower-cased it is k
    ],
)
def test_the_outlet_catalogue_takes_the_codes_the_feed_list_takes(
    tmp_path: Path, country: str, language: str, valid: bool
) -> None:
    # In any case (README), the same canonical codes, and the same message for a bad one;
    # the catalogue refused "gb" and "EN", and named 'USA' where the user wrote usa.
    feeds = write(
        tmp_path,
        "feeds.yaml",
        f"- url: https://a.example/rss\n  country: '{country}'\n  language: '{language}'\n",
    )
    outlets = write(
        tmp_path,
        "outlets.csv",
        f"domain,name,country,language\na.example,A,{country},{language}\n",
    )
    try:  # the message after "FILE: feed #1: " and after "FILE, line 2: "
        spec, feed_error = read_feed_list(feeds)[0], None
    except FeedListError as exc:
        spec, feed_error = None, str(exc).split(": ", 2)[2]
    try:
        outlet, outlet_error = OutletCatalogue.load(outlets).lookup("a.example"), None
    except OutletFileError as exc:
        outlet, outlet_error = None, str(exc).split(": ", 1)[1]
    assert outlet_error == feed_error
    if not valid:
        assert outlet_error is not None and "lower-case" not in outlet_error
        return
    assert spec is not None and outlet is not None
    assert outlet.country == spec.country == country.strip().upper()
    assert outlet.language == language.lower()
    assert spec.language == language.lower().split("-")[0]


def test_opml_with_a_bare_ampersand_or_an_html_name_reads_as_feed_readers_read_it(
    tmp_path: Path,
) -> None:
    """XML forbids both, and hand-made lists have them: 'Science & Environment' was 'not valid
    OPML' (54 of the corpus's 68 awesome-rss-feeds lists were refused, 34 for this alone).
    References XML knows stay."""
    path = write(
        tmp_path,
        "subs.opml",
        "<opml><body>"
        '<outline text="Science & Environment" xmlUrl="https://a.example/rss?a=1&b=2"/>'
        '<outline title="Caf&eacute;&nbsp;News &amp; more" xmlUrl="https://b.example/rss"/>'
        '<outline title="C &#38; D &#x26; E &lt;F&gt;" xmlUrl="https://c.example/rss&amp;x=1"/>'
        "</body></opml>",
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss?a=1&b=2", name="Science & Environment"),
        FeedSpec("https://b.example/rss", name="Caf\u00e9\u00a0News & more"),
        FeedSpec("https://c.example/rss&x=1", name="C & D & E <F>"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [  # mistakes of another kind keep the parser's own line and column
        (  # the column in the file as written, not in the file with '&' read as '&amp;'
            '<opml><body>\n<outline title="a & b" xmlUrl="https://a.example/rss"></body></opml>',
            r"subs\.opml: not valid OPML: mismatched tag: line 2, column 56",
        ),
        (  # HTML names mended to references of another length before the mistake
            '<opml><body>\n<outline title="Caf&eacute;&nbsp;&amp; b" xmlUrl="https://a.example/rss">'
            "</body></opml>",
            r"subs\.opml: not valid OPML: mismatched tag: line 2, column 75",
        ),
        (  # the mistake is the loose '&' itself: its column as written
            '<opml><body>\n<outline & title="a" xmlUrl="https://a.example/rss"/></body></opml>',
            r"subs\.opml: not valid OPML: not well-formed \(invalid token\): line 2, column 9$",
        ),
        (  # a '<' in a single-quoted value: the quotes are not mended
            "<opml><body>\n<outline title='a & <b' xmlUrl='https://a.example/rss'/></body></opml>",
            r"subs\.opml: not valid OPML: not well-formed \(invalid token\): line 2, column 20",
        ),
        (  # read to the quotes before the next attribute, the link's title would be the
            # outline's second: the error as written, not a guess
            '<opml><body>\n<outline title="T" description="see <a href="x" title="y">z</a>"'
            ' xmlUrl="https://a.example/rss"/></body></opml>',
            r"subs\.opml: not valid OPML: not well-formed \(invalid token\): line 2, column 36",
        ),
        (  # a value is never read over the outline's feed URL, nor into the next outline
            '<opml><body>\n<outline title="a "b xmlUrl="https://a.example/rss"/>\n'
            '<outline title="c" xmlUrl="https://c.example/rss"/></body></opml>',
            r"subs\.opml: not valid OPML: not well-formed \(invalid token\): line 2, column 19",
        ),
        (  # nor over a feed URL written in lower case, which the list reads too
            '<opml><body>\n<outline title="a "b xmlurl="https://a.example/rss"/>\n'
            '<outline title="c" xmlUrl="https://c.example/rss"/></body></opml>',
            r"subs\.opml: not valid OPML: not well-formed \(invalid token\): line 2, column 19",
        ),
        (
            '<opml><body>\n<outline title="a "b" description="c/>\n'
            '<outline title="c" xmlUrl="https://c.example/rss"/></body></opml>',
            r"subs\.opml: not valid OPML: not well-formed \(invalid token\): line 2, column 19",
        ),
        (
            '<opml><body>\n<outline title="a &bogus; b" xmlUrl="https://a.example/rss"/>'
            "</body></opml>",
            r"subs\.opml: not valid OPML: undefined entity: line 2",
        ),
    ],
)
def test_opml_other_mistakes_are_named_at_their_line(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(FeedListError, match=message):
        read_feed_list(write(tmp_path, "subs.opml", text))


def test_real_hand_made_opml_lists_with_ampersands_read() -> None:
    news = corpus_path("opml", "awesome-rss-feeds", "recommended", "with_category", "News.opml")
    specs = read_feed_list(news)
    assert len(specs) == news.read_text(encoding="utf-8").count("xmlUrl=")
    assert "Yahoo News - Latest News & Headlines" in {s.name for s in specs}


def test_opml_quotes_and_tags_inside_attribute_values_read_as_feed_readers_read_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Descriptions written with quotes and HTML in them (20 of the corpus's 68
    awesome-rss-feeds lists were refused as 'not valid OPML'): each value is read up to the
    quote before the next attribute or the tag's end, and a warning says so."""
    path = write(
        tmp_path,
        "subs.opml",
        "<opml><body>\n"
        '<outline title="Sound" xmlUrl="https://a.example/rss"/>\n'
        '<outline title="Saket" description="He works at <a href="https://square.com/">'
        'Square</a>." xmlUrl="https://b.example/feed/" type="rss" />\n'
        '<outline text="Jen" title="From Head To Toe" description="a blog by Jen "From Head'
        ' To Toe" that shows" xmlUrl="https://c.example/rss" type="rss"/>\n'
        '<outline title="Reply All" description=""\'A podcast\'" - The Guardian."'
        ' xmlUrl="https://d.example/rss"/>\n'
        '<outline title="Gastropod" description="food. <br>\r\n<br>\r\nFind us online"'
        ' xmlUrl="https://e.example/rss"/>'
        "<outline title='Single' xmlUrl='https://f.example/rss'/>"
        "</body></opml>",
    )
    with caplog.at_level("WARNING", logger="transforms.feedlist"):
        specs = read_feed_list(path)
    assert specs == [
        FeedSpec("https://a.example/rss", name="Sound"),
        FeedSpec("https://b.example/feed/", name="Saket"),
        FeedSpec("https://c.example/rss", name="From Head To Toe"),
        FeedSpec("https://d.example/rss", name="Reply All"),
        FeedSpec("https://e.example/rss", name="Gastropod"),
        FeedSpec("https://f.example/rss", name="Single"),
    ]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: 4 outline attribute value(s) hold a '\"' or '<', which XML forbids there"
        " (the first on line 3): each read up to the quote before the next attribute"
    ]


def test_opml_quoted_last_values_read_in_windows_files_and_before_an_end_tag(
    tmp_path: Path,
) -> None:
    """A value holding quotes that is a tag's last is read up to the tag's end where a line
    ends as Windows writes it ('\\r\\n'), and where an outline written open is closed at once
    (``></outline>``), as a feed reader reads both."""
    path = write(
        tmp_path,
        "subs.opml",
        "<opml><body>\r\n"
        '<outline xmlUrl="https://a.example/rss" title="The "Daily" Show"/>\r\n'
        '<outline text="Tech"><outline xmlUrl="https://b.example/rss" title="a <b>bold</b> "c"">'
        "</outline></outline>\r\n"
        "</body></opml>",
    )
    assert read_feed_list(path) == [
        FeedSpec("https://a.example/rss", name='The "Daily" Show'),
        FeedSpec("https://b.example/rss", name='a <b>bold</b> "c"'),
    ]


def test_opml_attribute_values_as_written_are_what_the_mended_document_holds() -> None:
    """The mended values are the values as written (each '"' and '<' a reference), and a
    document with nothing to mend gives None, so that sound lists are never rewritten."""
    root = fromstring(
        mend_attribute_quotes(
            b'<opml><body><outline description="x "y" <z> & w" xmlUrl="u"/></body></opml>'.replace(
                b"& ", b"&amp; "
            )
        ).document  # type: ignore[union-attr]
    )
    assert [o.get("description") for o in root.iter("outline")] == ['x "y" <z> & w']
    assert mend_attribute_quotes(b'<opml><body><outline title="a &lt; b"/></body></opml>') is None


def test_every_awesome_rss_feeds_opml_list_reads_every_feed() -> None:
    """Each of the collection's lists gives as many feeds as it has outlines with a feed URL
    (none listed twice), their names free of the quotes and tags the descriptions hold."""
    lists = sorted(corpus_path("opml", "awesome-rss-feeds").rglob("*.opml"))
    assert len(lists) >= 60
    for path in lists:
        specs = read_feed_list(path)
        assert len(specs) == path.read_bytes().count(b"xmlUrl="), path
        assert all('"' not in (s.name or "") and "<" not in (s.name or "") for s in specs), path
    android = corpus_path(
        "opml", "awesome-rss-feeds", "recommended", "with_category", "Android Development.opml"
    )
    assert FeedSpec("https://saket.me/feed/", name="Saket Narayan") in read_feed_list(android)
