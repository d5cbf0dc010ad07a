"""The cheaper trafilatura pass: the same fields newsbeam reads; no categories, tags or
licence; elements looked up in C.

These tests fail on a trafilatura upgrade that renames or stops calling the two trimmed
functions, or parses with another parser: that is on purpose (see
``transforms.trafilatura_trim``).
"""

from __future__ import annotations

import gzip
import logging
from types import ModuleType

import pytest
import trafilatura.metadata
import trafilatura.utils
from lxml import etree
from lxml import html as lxml_html
from trafilatura.settings import Document

from tests.conftest import corpus_path
from transforms import trafilatura_trim
from transforms.analysis import trafilatura_document

PARAGRAPH = (
    "<p>The regulator said on Tuesday that the video platform had until the end of the month "
    "to answer questions about where the data of its users is stored and who can read it.</p>"
)
PAGE = f"""<html><head><title>Regulator questions platform | The Daily</title>
<meta name="author" content="Jane Doe"><meta property="article:published_time"
content="2026-03-04T10:00:00Z"><link rel="canonical" href="https://daily.example/story/1">
</head><body><article><h1>Regulator questions platform</h1>{PARAGRAPH * 8}</article>
<div class="post-meta"><a href="https://daily.example/category/technology/">Technology</a></div>
<div class="tags"><a href="https://daily.example/tag/privacy/">Privacy</a></div>
<footer><a rel="license" href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>
</footer></body></html>"""

# What newsbeam reads from trafilatura's Document (transforms.analysis.extract_article).
READ = ("text", "title", "author", "date", "url", "sitename", "description")


def whole(monkeypatch: pytest.MonkeyPatch, html: str, url: str | None) -> Document | None:
    """trafilatura_document with trafilatura's own functions and element lookup back."""
    trafilatura_trim.install()
    parser = trafilatura.utils.HTML_PARSER
    with monkeypatch.context() as patch:
        for name in trafilatura_trim.TRIMMED:
            patch.setattr(trafilatura.metadata, name, trafilatura_trim.ORIGINALS[name])
        parser.set_element_class_lookup(lxml_html.HtmlElementClassLookup())
        try:
            return trafilatura_document(html, url)
        finally:
            parser.set_element_class_lookup(trafilatura_trim.PLAIN_LOOKUP)


def read_fields(doc: Document | None) -> tuple[object, ...] | None:
    return None if doc is None else tuple(getattr(doc, name) for name in READ)


def test_the_pinned_trafilatura_is_trimmed() -> None:
    assert trafilatura_trim.mismatch(trafilatura.metadata) is None
    trafilatura_document(PAGE, "https://daily.example/story/1")  # installs, if not yet
    assert trafilatura_trim.install() is True
    for name in trafilatura_trim.TRIMMED:
        assert getattr(trafilatura.metadata, name) is not trafilatura_trim.ORIGINALS[name]
    # a form field comes out as a plain element: lxml's Python lookup was not asked
    tree = trafilatura.utils.load_html("<html><body><form><input name='q'></form></body></html>")
    assert tree is not None
    assert [type(e) for e in tree.iter("form", "input")] == [lxml_html.HtmlElement] * 2
    assert type(lxml_html.fromstring("<form></form>")) is lxml_html.FormElement  # lxml's own


def test_trimmed_pass_drops_only_categories_tags_and_licence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = whole(monkeypatch, PAGE, "https://daily.example/story/1")
    trimmed = trafilatura_document(PAGE, "https://daily.example/story/1")
    assert full is not None and trimmed is not None
    # the page does exercise the skipped searches ...
    assert full.categories == ["Technology"]
    assert full.tags == ["Privacy"]
    assert full.license == "CC BY 4.0"
    # ... which the trimmed pass no longer makes
    assert (trimmed.categories, trimmed.tags, trimmed.license) == ([], [], None)
    assert read_fields(trimmed) == read_fields(full)
    assert trimmed.author == "Jane Doe" and trimmed.date == "2026-03-04"


def test_real_pages_give_the_same_fields_trimmed(monkeypatch: pytest.MonkeyPatch) -> None:
    html_dir = corpus_path("articles", "zyte", "html")
    pages = sorted(html_dir.glob("*.html.gz"))[:40]
    assert len(pages) == 40
    for path in pages:
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        url = f"https://outlet.example/{path.name}"
        assert read_fields(trafilatura_document(html, url)) == read_fields(
            whole(monkeypatch, html, url)
        ), path.name


def _fake_metadata(extract_metadata_source: str) -> ModuleType:
    """A stand-in for trafilatura.metadata as an upgrade might change it."""
    module = ModuleType("fake_metadata")
    exec(  # noqa: S102 - test-only module body, written here
        "def extract_catstags(metatype, tree):\n    return ['c']\n"
        "def extract_license(tree):\n    return 'L'\n" + extract_metadata_source,
        module.__dict__,
    )
    return module


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("def extract_metadata(tree):\n    return find_tags(tree)\n", "no longer calls"),
        (
            "def extract_metadata(tree):\n"
            "    return extract_catstags(tree), extract_license(tree)\n"
            "def extract_catstags(tree):\n    return ['c']\n",
            "takes ('tree',)",
        ),
    ],
)
def test_a_changed_trafilatura_is_left_alone_with_one_warning(
    source: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    module = _fake_metadata(source)
    before = {name: getattr(module, name) for name in trafilatura_trim.TRIMMED}
    with caplog.at_level(logging.WARNING, logger="transforms.trafilatura_trim"):
        assert trafilatura_trim.trim_metadata(module) is False
        assert trafilatura_trim.trim_metadata(module) is False
    assert {name: getattr(module, name) for name in trafilatura_trim.TRIMMED} == before
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and why in warnings[0], warnings


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("", "no extract_metadata function"),
        (
            "def extract_metadata(tree):\n    return extract_catstags('tag', tree), "
            "extract_license(tree)\n"
            "del extract_license\n",
            "no extract_license",
        ),
        (
            "def extract_metadata(tree):\n    return extract_catstags('tag', tree), "
            "extract_license(tree, 'en')\n"
            "def extract_license(tree, language):\n    return 'L'\n",
            "extract_license takes ('tree', 'language'), expected ('tree',)",
        ),
    ],
    ids=["no extract_metadata", "no extract_license", "extract_license changed"],
)
def test_mismatch_names_what_changed(source: str, why: str) -> None:
    """Each trimmed function is checked, the second as the first."""
    assert trafilatura_trim.mismatch(_fake_metadata(source)) == why


def test_a_function_already_trimmed_does_not_end_the_check() -> None:
    """extract_catstags already newsbeam's stand-in (a second look at a trimmed module):
    extract_license is still checked."""
    module = _fake_metadata(
        "def extract_metadata(tree):\n    return extract_catstags('tag', tree), "
        "extract_license(tree, 'en')\n"
        "def extract_license(tree, language):\n    return 'L'\n"
    )
    vars(module)["extract_catstags"] = trafilatura_trim._no_categories_or_tags
    assert trafilatura_trim.mismatch(module) == (
        "extract_license takes ('tree', 'language'), expected ('tree',)"
    )


def test_an_unchanged_stand_in_is_trimmed() -> None:
    module = _fake_metadata(
        "def extract_metadata(tree):\n    return extract_catstags('tag', tree), "
        "extract_license(tree)\n"
    )
    assert module.extract_metadata(None) == (["c"], "L")
    assert trafilatura_trim.trim_metadata(module) is True
    assert module.extract_metadata(None) == ([], None)


@pytest.mark.parametrize(
    ("parser", "why"),
    [
        (etree.XMLParser(), "a XMLParser, not lxml.html's"),
        # lxml.html's parser is one of these, with lxml.html's classes: this one has none
        (etree.HTMLParser(), "a HTMLParser, not lxml.html's"),
    ],
    ids=["xml", "etree html"],
)
def test_another_parser_is_left_alone_with_one_warning(
    parser: etree._FeedParser, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="transforms.trafilatura_trim"):
        assert trafilatura_trim.plain_element_proxies(parser) is False
        assert trafilatura_trim.plain_element_proxies(parser) is False
    assert type(etree.fromstring("<a/>", parser)) is etree._Element
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and why in warnings[0], warnings


def test_the_plain_lookup_gives_lxml_htmls_classes_but_for_form_fields() -> None:
    """Comments too come out as lxml.html's class, as trafilatura and htmldate get them from
    lxml.html's own lookup. (This libxml2 parses <?...?> in HTML as a comment, as HTML5 does:
    no processing instruction or entity reaches Python.)"""
    page = "<html><body><!-- note --><p>Text <b>bold</b></p></body></html>"
    own = lxml_html.HTMLParser()
    plain = lxml_html.HTMLParser()
    assert trafilatura_trim.plain_element_proxies(plain) is True
    kinds = [type(node) for node in etree.fromstring(page, plain).iter()]
    assert kinds == [type(node) for node in etree.fromstring(page, own).iter()]
    assert lxml_html.HtmlComment in kinds


def test_both_changes_are_made_even_when_one_cannot_be(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A trafilatura whose metadata pass changed still gets the C-level lookup, and install()
    says not everything is in place (False)."""
    monkeypatch.setattr(trafilatura_trim, "_outcome", {})  # as in a process not yet trimmed
    monkeypatch.delattr(trafilatura.metadata, "extract_license")
    parser = lxml_html.HTMLParser()
    monkeypatch.setattr(trafilatura.utils, "HTML_PARSER", parser)
    with caplog.at_level(logging.WARNING, logger="transforms.trafilatura_trim"):
        assert trafilatura_trim.install() is False
    assert "(no extract_license)" in caplog.records[0].getMessage()
    form = etree.fromstring("<html><body><form></form></body></html>", parser).find(".//form")
    assert type(form) is lxml_html.HtmlElement  # lxml.html's lookup: a FormElement
