"""URL canonicalisation, entry keys with GUID/link/title fallbacks, confirmed AMP/mobile mapping."""

from __future__ import annotations

import dataclasses

import pytest

from tests.cpu_limited import run_cpu_limited
from tests.test_dedup_pipeline import tagged_story, with_article
from transforms.entry_keys import KeyBasis, choose_key_basis, entry_key, entry_keys
from transforms.page_urls import (
    amp_mobile_variant_of,
    is_amp_or_mobile_variant,
    page_canonical,
    resolve_canonical,
)
from transforms.records import Discard, Failure
from transforms.urls import canonicalize_url, host_of, redact_userinfo, without_userinfo


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?utm_source=x&UTM_Medium=y&id=3", "https://example.com/a?id=3"),
        ("https://example.com/a?FBCLID=1&gclid=2&mc_cid=3&mc_eid=4", "https://example.com/a"),
        ("https://example.com/a?igshid=1&ocid=2&_ga=3&p=4", "https://example.com/a?p=4"),
        ("https://example.com/%7Euser//x", "https://example.com/~user/x"),
        ("https://example.com/story%31", "https://example.com/story1"),  # %31 is "1"
        ("https://example.com/story1", "https://example.com/story1"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a/../../b?x=1", "https://example.com/b?x=1"),
        ("https://example.com/a/b/.", "https://example.com/a/b/"),
        ("https://example.com/a/..", "https://example.com/"),
        ("https://example.com/.well-known/a..b", "https://example.com/.well-known/a..b"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("not a url", "not a url"),
        ("  junk \n", "junk"),
        ("", ""),
        ("http://[::1", "http://[::1"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_canonicalize_url(raw: str, expected: str) -> None:
    assert canonicalize_url(raw) == expected


def test_canonical_form_is_stable() -> None:
    once = canonicalize_url("HTTPS://News.Example.com:443/story?utm_campaign=x&b=1&a=2#top")
    assert canonicalize_url(once) == once


# Sites that identify the article by a value-less query: courlan drops such parts, which gave
# two articles one canonical URL (hence one story_id, and the second dropped as a duplicate).
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://site.example/article.php?12345", "https://site.example/article.php?12345"),
        ("https://b.example/index.php?/archives/123", "https://b.example/index.php?/archives/123"),
        ("https://c.example/view?article123&utm_source=rss", "https://c.example/view?article123"),
        (
            "https://c.example/s.php?12345&fbclid=x&gclid=y&id=2",
            "https://c.example/s.php?12345&id=2",
        ),
        ("https://c.example/s.php?b7&a7#top", "https://c.example/s.php?a7&b7"),
        ("https://c.example/s.php?12345&a=", "https://c.example/s.php?12345"),
    ],
)
def test_value_less_query_that_can_identify_the_article_is_kept(raw: str, expected: str) -> None:
    assert canonicalize_url(raw) == expected
    assert canonicalize_url(expected) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "https://site.example/a/1?amp",
        "https://site.example/a/1?AMP",
        "https://site.example/a/1?rss",
        "https://site.example/a/1?share",
        "https://site.example/a/1?ref",
        "https://site.example/a/1?utm_source",
        "https://site.example/a/1?fbclid",
        "https://site.example/a/1?amp&utm_medium=social&fbclid=abc",
    ],
)
def test_named_value_less_junk_is_still_removed(raw: str) -> None:
    assert canonicalize_url(raw) == "https://site.example/a/1"


def test_articles_identified_by_a_value_less_query_get_distinct_keys() -> None:
    first = "https://site.example/article.php?12345&utm_source=rss"
    second = "https://site.example/article.php?67890&utm_source=rss"
    assert canonicalize_url(first) != canonicalize_url(second)
    # each seen in its own fetch of a feed without GUIDs: the key is the link alone
    assert entry_keys([(first, None, "One")]) != entry_keys([(second, None, "Two")])
    assert choose_key_basis([(first, None, "One"), (second, None, "Two")]) is KeyBasis.LINK


@pytest.mark.parametrize(
    ("url", "declared", "expected"),
    [
        (
            "https://m.example.co.uk/news/1",
            "https://www.example.co.uk/news/1",
            "https://www.example.co.uk/news/1",
        ),
        (
            "https://example.com/news/1/amp",
            "https://example.com/news/1?utm_source=amp",
            "https://example.com/news/1",
        ),
        (
            "https://example-com.cdn.ampproject.org/c/s/example.com/n/1",
            "https://example.com/n/1",
            "https://example.com/n/1",
        ),
        # not a variant: the declared canonical is not used
        ("https://www.example.com/news/1", "https://www.example.com/other", None),
        # a variant whose declared canonical is another site: refused
        ("https://m.example.com/news/1", "https://aggregator.example.net/news/1", None),
        # a variant declaring another variant: refused
        ("https://m.example.com/news/1", "https://example.com/amp/news/1", None),
        ("https://m.example.com/news/1", None, None),
    ],
)
def test_amp_mobile_variant_needs_confirmation(
    url: str, declared: str | None, expected: str | None
) -> None:
    assert amp_mobile_variant_of(url, declared) == expected


def test_resolve_canonical_prefers_rel_canonical_then_og_url() -> None:
    url = "https://m.example.com/a?utm_source=x"
    assert resolve_canonical(url, None, "https://example.com/a") == "https://example.com/a"
    assert resolve_canonical(url, "https://example.com/b", "https://example.com/a") == (
        "https://example.com/b"
    )
    assert resolve_canonical(url, None, None) == "https://m.example.com/a"


def test_stable_guids_are_used_and_scoped_to_the_site() -> None:
    rows = [("https://a.example/1", "101", "One"), ("https://a.example/2", "102", "Two")]
    assert choose_key_basis(rows) is KeyBasis.GUID
    assert entry_keys(rows) == ["guid:a.example:101", "guid:a.example:102"]
    other = entry_key("https://b.example/1", "101", "One", guid_usable=True)
    assert other != entry_keys(rows)[0]


def test_url_shaped_guids_are_canonicalised() -> None:
    key = entry_key("https://a.example/x", "HTTPS://A.example/?p=7#c", None, guid_usable=True)
    assert key == "https://a.example/?p=7"


@pytest.mark.parametrize("guids", [["", "g2"], [None, "g2"], ["same", "same"], ["  ", "   "]])
def test_blank_or_repeated_guids_fall_back_to_links(guids: list[str | None]) -> None:
    rows = [
        ("https://a.example/1?utm_source=rss", guids[0], "One"),
        ("https://a.example/2", guids[1], "Two"),
    ]
    assert choose_key_basis(rows) is KeyBasis.LINK
    assert entry_keys(rows) == ["https://a.example/1", "https://a.example/2"]


def test_repeated_links_fall_back_to_link_and_title() -> None:
    # Links written differently but equal once canonicalised: their titles tell the entries
    # apart (each is fetched; the clustering finds one article listed twice by its URL).
    rows = [
        ("https://a.example/live?utm_source=rss", None, "Update 1"),
        ("https://a.example/live?utm_source=mail", None, "Update 2"),
    ]
    assert choose_key_basis(rows) is KeyBasis.LINK_TITLE
    first, second = entry_keys(rows)
    assert first != second
    assert first.startswith("https://a.example/live#title:")
    assert entry_keys(list(reversed(rows))) == [second, first]


def test_a_link_written_again_in_one_feed_is_the_same_entry() -> None:
    # A live blog listed once per update: one page, fetched once. Each update had a key of
    # its own, so the page was fetched once per listing and published once per listing.
    rows = [
        ("https://a.example/live", None, "Update 2"),
        ("https://a.example/live", None, "Update 1"),
        ("", None, "No link"),
        ("", None, "No link either"),
    ]
    assert choose_key_basis(rows) is KeyBasis.LINK_TITLE
    update_2, update_1, no_link, no_link_either = entry_keys(rows)
    assert update_1 == update_2 == entry_keys(rows[:1] + rows[2:])[0]
    assert update_2.startswith("https://a.example/live#title:")
    assert no_link != no_link_either  # no link to share: told apart by their titles


def test_a_link_written_again_under_other_guids_keeps_the_guids_keys() -> None:
    # A section page as every entry's link, each with a GUID of its own: the GUIDs tell the
    # entries apart, and a link written again makes them one entry only when keys are made of
    # link and title.
    rows = [("https://a.example/news", "g1", "A"), ("https://a.example/news", "g2", "B")]
    assert choose_key_basis(rows) is KeyBasis.GUID
    assert entry_keys(rows) == ["guid:a.example:g1", "guid:a.example:g2"]


# URLs urlsplit refuses with ValueError: an unclosed bracket, a bracketed host that is not IPv6.
UNPARSEABLE = ["http://[::1/x", "http://[1:2:3]/a", "https://[example.com]/"]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("HTTP://Example.COM:8080/a", "example.com"),
        ("http://[::1]/x", "::1"),
        ("http:///feed", ""),
        ("not a url", ""),
        *[(url, "") for url in UNPARSEABLE],
    ],
)
def test_host_of_never_raises(url: str, host: str) -> None:
    assert host_of(url) == host


@pytest.mark.parametrize("url", UNPARSEABLE)
def test_unparseable_urls_never_raise(url: str) -> None:
    assert canonicalize_url(url) == url
    assert not is_amp_or_mobile_variant(url)
    assert amp_mobile_variant_of("https://m.example.com/a", url) is None
    assert resolve_canonical("https://m.example.com/a", url, None) == "https://m.example.com/a"
    assert resolve_canonical(url, "https://example.com/a", None) == url
    assert entry_key(url, url, "t", guid_usable=True) == f"guid::{url}"
    assert entry_keys([(url, url, "t"), ("https://example.com/b", "g2", "u")]) == [
        f"guid::{url}",
        "guid:example.com:g2",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # empty pieces of the query are not kept as an empty value-less part
        ("https://x.example/p?a&&b", "https://x.example/p?a&b"),
        # value-less parts are sorted (eight of them: a set's order is sorted by chance 1/40320)
        ("https://x.example/p?h&g&f&e&d&c&b&a", "https://x.example/p?a&b&c&d&e&f&g&h"),
        # a value-less tracking name of EXTRA_TRACKING_PARAMS, and a percent-encoded junk name
        ("https://x.example/p?12345&_ga", "https://x.example/p?12345"),
        ("https://x.example/p?%61mp", "https://x.example/p"),
        # value-less parts are escaped once: non-ASCII and spaces escaped, escapes left alone
        ("https://x.example/p?caf\u00e9", "https://x.example/p?caf%C3%A9"),
        ("https://x.example/p?a b", "https://x.example/p?a%20b"),
        ("https://x.example/p?100%25", "https://x.example/p?100%25"),
        # EXTRA_TRACKING_PARAMS are removed whatever their case
        ("https://x.example/p?OCID=1&_GA=2&Smid=3&p=4", "https://x.example/p?p=4"),
        # newsrooms' own (the Guardian, CNN, the Washington Post, the New York Times, the FT,
        # Yahoo, MSN); generic names that a site may also need to find the article stay
        (
            "https://x.example/p?CMP=share_btn_tw&hpt=hp_t1&itid=lk_3&wpisrc=nl&emc=rss"
            "&ftcamp=c&ncid=rss&srcref=rss&yptr=yahoo&id=7",
            "https://x.example/p?id=7",
        ),
        (
            "https://x.example/p?mod=article&sh=1&module=a&pgtype=b",
            "https://x.example/p?mod=article&module=a&pgtype=b&sh=1",
        ),
    ],
)
def test_query_parts_edge_cases(raw: str, expected: str) -> None:
    assert canonicalize_url(raw) == expected
    assert canonicalize_url(expected) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://x.example/a%2Fb",
        "https://x.example/a%40b",
        "https://x.example/a%5Bb%5D",
        "https://x.example/a%7Bb%7D",
        "https://x.example/a%7Cb",
        "https://x.example/p?user%40host",
    ],
)
def test_escaped_reserved_characters_stay_escaped(url: str) -> None:
    # only unreserved characters are decoded; %2F is not a path separator, nor %40 an "@"
    assert canonicalize_url(url) == url


def test_url_without_a_host_is_returned_unchanged() -> None:
    assert canonicalize_url("http:///feed?b=2&a=1") == "http:///feed?b=2&a=1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://mobi.example.com/news/1", True),
        ("https://mobile.example.com/news/1", True),
        ("https://example.com/news/1/AMP", True),
        ("https://example.com/news/1/amp.html", True),
        ("https://example.com/news/1.amp", True),
        ("https://example.com/news/1.amp.html", True),
        ("https://example.com/news/1?outputType=amp", True),
        ("https://example.com/news/1?_amp=true", True),
        ("https://example.com/news/1?a=2&amp=1", True),
        # "amp" inside a word or another parameter name is no marker
        ("https://example.com/news/stamp", False),
        ("https://example.com/news/camp.html", False),
        ("https://example.com/news/1?camp=1", False),
        ("https://example.com/news/1?champ", False),
        ("https://mom.example.com/news/1", False),
        # no host: not a variant, whatever the path says
        ("/news/1/amp", False),
        ("http:///news/1/amp", False),
    ],
)
def test_amp_or_mobile_markers(url: str, expected: bool) -> None:
    assert is_amp_or_mobile_variant(url) is expected


CACHE = "https://example-com.cdn.ampproject.org"


@pytest.mark.parametrize(
    ("cache_path", "canonical", "expected"),
    [
        # the site the cache URL names, in its several forms
        ("/c/s/example.com/n/1", "https://example.com/n/1", True),
        ("/c/s/amp.example.com/n/1", "https://www.example.com/n/1", True),
        ("/v/s/example.com/n/1?amp_js_v=0.1", "https://example.com/n/1", True),
        ("/c/example.com/n/1", "http://example.com/n/1", True),
        # any other site: the cache serves any page, which could claim another outlet's story
        ("/c/s/evil.example/n/1", "https://example.com/n/1", False),
        # a path that names no site
        ("/wp/s/example.com/n/1", "https://example.com/n/1", False),
        ("/c/s/", "https://example.com/n/1", False),
    ],
)
def test_an_amp_cache_page_confirms_a_canonical_only_on_the_site_it_names(
    cache_path: str, canonical: str, expected: bool
) -> None:
    assert (amp_mobile_variant_of(CACHE + cache_path, canonical) is not None) is expected


def test_amp_cache_declaring_a_relative_or_hostless_canonical_is_refused() -> None:
    cache = "https://example-com.cdn.ampproject.org/c/s/example.com/n/1"
    assert amp_mobile_variant_of(cache, "/n/1") is None
    assert amp_mobile_variant_of(cache, "http:///n/1") is None


@pytest.mark.parametrize(
    ("guids", "links", "basis"),
    [
        # one blank GUID (whitespace only) makes GUIDs unusable
        (["  ", "g2"], ["https://a.example/1", "https://a.example/2"], KeyBasis.LINK),
        # one blank link makes links unusable
        ([None, None], ["  ", "https://a.example/2"], KeyBasis.LINK_TITLE),
        # links that differ only by tracking parameters are one link
        (
            [None, None],
            ["https://a.example/1?utm_source=rss", "https://a.example/1#x"],
            KeyBasis.LINK_TITLE,
        ),
    ],
)
def test_key_basis_judges_stripped_guids_and_canonical_links(
    guids: list[str | None], links: list[str], basis: KeyBasis
) -> None:
    rows = [(links[0], guids[0], "One"), (links[1], guids[1], "Two")]
    assert choose_key_basis(rows) is basis


def test_url_guids_that_are_one_url_once_canonicalised_are_not_used_as_keys() -> None:
    # The GUIDs differ only in what canonicalising drops (a fragment, a tracking parameter),
    # so both entries were keyed by one URL and the second was dropped as a duplicate of the
    # first, whose page is another.
    fragments = [
        ("https://news.example/a", "https://news.example/feed#item-1", "A"),
        ("https://news.example/b", "https://news.example/feed#item-2", "B"),
    ]
    assert choose_key_basis(fragments) is KeyBasis.LINK
    assert entry_keys(fragments) == ["https://news.example/a", "https://news.example/b"]
    tracking = [
        ("https://news.example/s?id=1", "https://news.example/s?id=1&utm_source=rss", "A"),
        ("https://news.example/s?id=2", "https://news.example/s?ref=2", "B"),
        ("https://news.example/s?id=3", "https://news.example/s?ref=3", "C"),
    ]
    assert len(set(entry_keys(tracking))) == 3
    # distinct once canonicalised: still the GUIDs
    rows = [(link, guid.replace("#", "?p="), t) for link, guid, t in fragments]
    assert choose_key_basis(rows) is KeyBasis.GUID


def test_guid_keys_strip_the_guid_and_use_the_registrable_domain() -> None:
    www = entry_key("https://www.a.example/1", " 101 ", None, guid_usable=True)
    bare = entry_key("https://a.example/1", "101", None, guid_usable=True)
    assert www == bare == "guid:a.example:101"
    assert entry_key("https://news.bbc.co.uk/1", "7", None, guid_usable=True) == "guid:bbc.co.uk:7"


def test_link_title_keys_ignore_title_case_and_spacing() -> None:
    one = entry_key("https://a.example/live", None, "Update  1", False, link_usable=False)
    same = entry_key("https://a.example/live", None, " UPDATE 1\n", False, link_usable=False)
    other = entry_key("https://a.example/live", None, "Update 2", False, link_usable=False)
    assert one == same != other


def test_an_entry_without_a_link_is_keyed_by_its_title() -> None:
    key = entry_key("", None, "Breaking", guid_usable=False)
    assert key.startswith("#title:")
    assert key != entry_key("", None, "Other", guid_usable=False)


def test_dead_letters_and_discards_leave_out_the_credentials_of_every_url_they_quote() -> None:
    # A private feed's (or an entry link's) user name and password were written to
    # dead_letters-*.jsonl and the dead-letter topic: in the url, the message and the input.
    failure = Failure(
        "fetch",
        "https://reader:s3cret@news.example/a/1",
        "http_500",
        "HTTPError: 500 for https://reader:s3cret@news.example/a/1",
        True,
        "FeedEntry(link='HTTP://reader:s3cret@news.example/a/1', feed_url='https://x@feeds.example/f')",
    )
    record = failure.to_json()
    assert record["url"] == "https://news.example/a/1"
    assert record["message"] == "HTTPError: 500 for https://news.example/a/1"
    assert record["input"] == (
        "FeedEntry(link='HTTP://news.example/a/1', feed_url='https://feeds.example/f')"
    )
    assert "s3cret" not in str(record) and record["retryable"] is True
    discard = Discard(
        "tag", "https://u:p@news.example/a/2", "not_relevant", "see https://u@h.example/"
    )
    assert discard.to_json() == {
        "stage": "tag",
        "key": "https://news.example/a/2",
        "reason": "not_relevant",
        "detail": "see https://h.example/",
    }
    # An @ that is not in a URL's authority, and text without URLs, are left as written.
    for text in ("https://news.example/a/b@c?by=x@y", "mail me: ann@news.example", "#title:Hi"):
        assert redact_userinfo(text) == text


def test_user_info_is_taken_out_in_linear_time_after_runs_of_scheme_characters() -> None:
    # r"\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@" looked for "://" and user info at the end of a run
    # of scheme characters from each word in it ("a.a.a...") again: this text took minutes,
    # the child is allowed 20 s of CPU time (tests.cpu_limited)
    run = "a." * 50_000 + "x"
    text = (run + " https://u:pw@h.example/a " + run + "://b.example/@ ") * 5
    assert run_cpu_limited(redact_userinfo, text) == (
        (run + " https://h.example/a " + run + "://b.example/@ ") * 5
    )


def test_a_user_name_and_password_are_never_part_of_a_published_url() -> None:
    # A private feed's credentials in its URL were published with every story it listed.
    assert canonicalize_url("http://user:pw@127.0.0.1:8080/a/1?utm_source=x") == (
        "http://127.0.0.1:8080/a/1"
    )
    assert without_userinfo("https://reader:s3cret@feeds.example/private.xml?x=1#f") == (
        "https://feeds.example/private.xml?x=1#f"
    )
    assert without_userinfo("https://news.example/a/b@c") == "https://news.example/a/b@c"
    assert without_userinfo("http://[::1/x") == "http://[::1/x"  # unparseable: as it was
    story = tagged_story("https://news.example/a/1", "Title", "Text")
    entry = dataclasses.replace(story.story.article.entry, feed_url="https://u:p@news.example/feed")
    secret = with_article(
        story, final_url="https://u:p@news.example/a/1", canonical_url="", entry=entry
    )
    record = secret.to_json()
    assert (record["url"], record["fetched_url"], record["feed_url"]) == (
        "https://news.example/a/1",
        "https://news.example/a/1",
        "https://news.example/feed",
    )


@pytest.mark.parametrize(
    "name",
    ["gallery", "galleryId", "game", "gameid", "glossary", "cid", "news_cid", "eid", "uid",
     "item_uid", "sourceid", "source_id", "reference", "refid", "article_ref", "keyword",
     "affair", "gazette", "medium_id", "sessions"],
)  # fmt: skip
def test_a_parameter_is_tracking_only_by_its_whole_name(name: str) -> None:
    # courlan's tracker pattern matched names by their first letters: ?gallery=1 and
    # ?gallery=2, two articles, were one URL (the second a duplicate_url discard).
    first = canonicalize_url(f"https://e.example/view.php?{name}=1")
    assert first == f"https://e.example/view.php?{name}=1"
    assert canonicalize_url(f"https://e.example/view.php?{name}=2") != first


@pytest.mark.parametrize(
    "name",
    ["utm_source", "UTM_Campaign", "fbclid", "gclid", "ref", "ref_src", "source", "xtor",
     "srsltid", "mc_cid", "mtm_kwd", "pk_campaign", "sessionid", "session_id", "msclkid",
     "CMP", "ncid", "traffic_source", "MWRSM"],
)  # fmt: skip
def test_tracking_parameters_are_dropped_by_whole_name_or_prefix(name: str) -> None:
    assert canonicalize_url(f"https://e.example/a?id=7&{name}=x") == "https://e.example/a?id=7"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Al Jazeera's feeds add ?traffic_source=rss to every item link; its articles are
        # told apart by their path (its URLs in the corpus have no query at all)
        (
            "https://www.aljazeera.com/news/2026/11/28/a-story?traffic_source=rss",
            "https://www.aljazeera.com/news/2026/11/28/a-story",
        ),
        # the New York Times's mwrsm=Email, as links in the corpus's feeds carry it; the
        # page selected (pagewanted=all) and its generic _r stay
        (
            "https://www.nytimes.com/2015/09/05/us/x.html?mwrsm=Email&_r=1&pagewanted=all",
            "https://www.nytimes.com/2015/09/05/us/x.html?_r=1&pagewanted=all",
        ),
    ],
)
def test_feed_and_share_tracking_parameters_of_news_sites_are_dropped(
    raw: str, expected: str
) -> None:
    # Both were kept: a link with one and the same link without were two URLs (two entry
    # keys, and two story ids where the page names no canonical URL of its own).
    assert canonicalize_url(raw) == expected


def test_query_values_keep_their_bytes_and_are_escaped_as_forms_escape_them() -> None:
    # Latin-1 values were decoded as UTF-8 with replacement: caf%E9 and caf%E8 were one URL.
    assert canonicalize_url("https://e.example/s?t=caf%e9") == "https://e.example/s?t=caf%E9"
    assert canonicalize_url("https://e.example/s?t=caf%e8") == "https://e.example/s?t=caf%E8"
    # UTF-8 values, spaces, reserved characters: escaped as before, one form for each
    assert canonicalize_url("https://e.example/s?q=café+au%20lait&u=/a:b") == (
        "https://e.example/s?q=caf%C3%A9+au+lait&u=%2Fa%3Ab"
    )
    # a name's values keep their order; names are sorted
    assert canonicalize_url("https://e.example/s?b=2&a=9&b=1") == "https://e.example/s?a=9&b=2&b=1"
    # a link escaped twice by its feed: "&amp;" separates parameters
    assert canonicalize_url("https://e.example/s?class=17&amp;aid=5") == (
        "https://e.example/s?aid=5&class=17"
    )
    # an entity-like run inside a name is not an entity (courlan read "&sect" as "§")
    assert canonicalize_url("https://e.example/s?law=CIV&sectionNum=2") == (
        "https://e.example/s?law=CIV&sectionNum=2"
    )


@pytest.mark.parametrize(
    "path", ["/s/a;jsessionid=XYZ", "/@user/post", "/wiki/Foo_(bar)", "/1*x.png", "/a+b", "/$'"]
)
def test_a_path_keeps_the_characters_a_path_may_hold(path: str) -> None:
    # courlan escaped them: /s/a;jsessionid=XYZ was published as /s/a%3Bjsessionid=XYZ,
    # another resource on servers that read path parameters.
    assert canonicalize_url("https://e.example" + path) == "https://e.example" + path


def test_a_hosts_trailing_dot_is_dropped_with_its_default_port() -> None:
    assert canonicalize_url("https://example.com./a") == "https://example.com/a"
    assert canonicalize_url("https://EXAMPLE.com.:443/a") == "https://example.com/a"
    assert canonicalize_url("http://[::1]:80/a") == "http://[::1]/a"


def test_guids_of_feeds_on_two_ip_addresses_or_ports_do_not_collide() -> None:
    # The public-suffix list made 127.0.0.2 and 10.0.0.2 one site, "0.2".
    one = entry_key("http://127.0.0.2/a", "1", "One", guid_usable=True)
    assert one == "guid:127.0.0.2:1"
    assert entry_key("http://10.0.0.2/a", "1", "One", guid_usable=True) != one
    assert entry_key("http://127.0.0.2:8080/a", "1", "One", guid_usable=True) == (
        "guid:127.0.0.2:8080:1"
    )
    assert amp_mobile_variant_of("http://10.0.0.2/amp/x", "http://192.168.0.2/x") is None


def test_an_amp_page_confirms_only_an_article_of_its_own_host() -> None:
    # the home page (a site-wide og:url), or another blog on a shared domain: refused
    assert amp_mobile_variant_of("https://amp.example.com/n/1", "https://www.example.com/") is None
    alice, bob = "https://alice.substack.com/amp/p/x", "https://bob.substack.com/p/y"
    assert amp_mobile_variant_of(alice, bob) is None
    # editions of one host: accepted
    assert amp_mobile_variant_of("https://m.example.com/n/1", "https://www.example.com/n/1") == (
        "https://www.example.com/n/1"
    )
    assert amp_mobile_variant_of("https://example.com/n/1/amp", "https://example.com/?p=1") == (
        "https://example.com/?p=1"
    )


def test_page_canonical_reads_the_canonical_link_before_og_url_and_only_for_variants() -> None:
    html = '<html><head><meta property="og:url" content="/"><base href="/">' \
           '<link rel="alternate canonical" href="../2"></head><body></body></html>'  # fmt: skip
    assert page_canonical("https://example.com/n/amp/1", html) == "https://example.com/n/2"
    assert page_canonical("https://www.example.com/n/1?utm_source=x", html) == (
        "https://www.example.com/n/1"
    )
    assert page_canonical("https://m.example.com/n/1", "<html><head></head></html>") == (
        "https://m.example.com/n/1"
    )
    assert page_canonical("https://m.example.com/n/1", "\0not html") == "https://m.example.com/n/1"


@pytest.mark.parametrize(
    "head",
    [
        # found by fuzzing: urljoin raised ValueError, and the page's article was lost as an
        # extraction_error dead letter; now the declaration is none, and og:url is read
        '<link rel="canonical" href="http://[www.example.com/n/1">',
        '<meta property="og:url" content="https://[::1/n/1">',
        # a port that is no port: not a URL to publish the story under
        '<link rel="canonical" href="https://www.example.com:99999/n/1">',
        '<link rel="canonical" href="https://www.example.com:x/n/1">',
    ],
)
def test_a_declared_canonical_that_does_not_parse_is_none(head: str) -> None:
    html = f"<html><head>{head}</head><body></body></html>"
    assert page_canonical("https://m.example.com/n/1", html) == "https://m.example.com/n/1"
    if "canonical" in head:  # the page's og:url is read after it, as when there is none
        og_url = '<meta property="og:url" content="https://www.example.com/n/1">'
        confirmed = f"<html><head>{head}{og_url}</head></html>"
        assert page_canonical("https://m.example.com/n/1", confirmed) == (
            "https://www.example.com/n/1"
        )
