"""The title, body and authors extract_article publishes, cleaned (transforms.page_metadata).

The cases are those of real pages (the Zyte and newspaper4k corpora): a site's name in the
title, the headline as the body's first line, bylines with job titles, dateline words and
the site; and the ones that must come through unchanged.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.cpu_limited import run_cpu_limited
from transforms.analysis import extract_article, split_authors
from transforms.page_metadata import clean_title, drop_title_line, site_key
from transforms.records import Article, Discard, FeedEntry, FetchedPage

BODY = "".join(
    f"<p>Paragraph {i}: the regulator said the platform had failed to protect user data and"
    " would face a review of its licence before the end of the year.</p>"
    for i in range(6)
)
ENTRY = FeedEntry(
    feed_url="https://www.daily.example/rss",
    link="https://www.daily.example/news/regulator-review",
    key="https://www.daily.example/news/regulator-review",
)


def page(head: str, article: str = "<h1>Regulator opens review</h1>", **entry: str) -> FetchedPage:
    """A page with ``head`` in its <head>, ``article`` before the body's paragraphs."""
    html = f"<html lang='en'><head>{head}</head><body><article>{article}{BODY}</article></body>"
    feed_entry = dataclasses.replace(ENTRY, **entry)
    return FetchedPage(feed_entry, ENTRY.link, ENTRY.link, 200, "text/html", html, "")


def og(title: str, site: str = "Daily Example", author: str | None = None) -> str:
    """<head> meta tags: og:title, og:site_name and perhaps an author."""
    meta = f'<meta property="og:title" content="{title}">'
    meta += f'<meta property="og:site_name" content="{site}">'
    return meta + (f'<meta name="author" content="{author}">' if author else "")


def extracted(fetched: FetchedPage, min_text_chars: int = 0) -> Article:
    article = extract_article(fetched, min_text_chars)
    assert isinstance(article, Article), article
    return article


# Titles


@pytest.mark.parametrize(
    ("title", "site", "clean"),
    [
        ("Best tech gadgets of 2019 | ZDNet", "ZDNet", "Best tech gadgets of 2019"),
        (
            "BREAKING: Lawan moves motion over Nzeribe, Adedoyin’s deaths - The Paradigm",
            "The Paradigm",
            "BREAKING: Lawan moves motion over Nzeribe, Adedoyin’s deaths",
        ),
        (
            "New York State Attorney General reportedly investigating WeWork – TechCrunch",
            "TechCrunch",
            "New York State Attorney General reportedly investigating WeWork",
        ),
        (
            "N. Korea slams S. Korea for joint military drill, warns of consequences"
            " | Yonhap News Agency",
            "Yonhap News Agency",
            "N. Korea slams S. Korea for joint military drill, warns of consequences",
        ),
        (
            "MacBook sale at Amazon from $700 - 9to5Mac",
            "9To5Mac",
            "MacBook sale at Amazon from $700",
        ),
        ("Só quem se Ama... — Mensagens de Reflexão", "Mensagens de Reflexão", "Só quem se Ama..."),
        ("Three Cases of Plague · Smithsonian", "Smithsonian.com", "Three Cases of Plague"),
        ("NASA adds five companies - SpaceNews.com", "SpaceNews", "NASA adds five companies"),
        ("Hong Kong chaos :: Express", "www.express.co.uk", "Hong Kong chaos"),
        ("Dear Abby » Oregonlive", "https://www.oregonlive.com", "Dear Abby"),
        ("Paradigm « Lawan moves motion", "The Paradigm", "Lawan moves motion"),  # leading
        ("WIRED - The Latest in Technology", "WIRED", "The Latest in Technology"),
        # the site's name has a separator of its own
        (
            "Black Friday per nostalgici - Remember 80/90 - Memorabilia anni 80/90",
            "Remember 80/90 - Memorabilia anni 80/90",
            "Black Friday per nostalgici",
        ),
        (
            "Star Wars Jedi: review - shoots for the moon - VG247",
            "VG247",
            "Star Wars Jedi: review - shoots for the moon",
        ),
        # one phrase without spaces, ten characters or more, is a title
        (
            "商品の改造が商標法違反に！？ - 特許業務法人ライトハウス国際特許事務所",
            "特許業務法人ライトハウス国際特許事務所",
            "商品の改造が商標法違反に！？",
        ),
    ],
)
def test_the_sites_name_is_stripped_from_the_title(title: str, site: str, clean: str) -> None:
    assert clean_title(title, site, None) == clean


@pytest.mark.parametrize(
    ("title", "site"),
    [
        ("Apple - the company that changed phones", "Daily Example"),  # a headline's own dash
        ("Apple - the company that changed phones", None),
        ("Opinion | Republicans Are Following Trump to Nowhere", "NYTimes"),
        ("Take C.A.R.E. - comwrap auf der DMEXCO 2018", "Comwrap"),
        ("Die Patientenakte – der lange Marsch ins Digitale", "Comwrap"),
        ("Takeaways from the trial | CNN Politics", "CNN"),  # not the site's name
        ("Live | ZDNet", "ZDNet"),  # what would be left is not a title
        ("ZDNet | Live", "ZDNet"),
        ("ZDNet", "ZDNet"),
        ("ผล DNA ยืนยัน ศพลอยแม่น้ำโขงเป็นคนสนิท", "ผล DNA ยืนยัน ศพลอยแม่น้ำโขงเป็นคนสนิท"),
        ("Chien-Ming Wang wins again-ZDNet", "ZDNet"),  # no spaces: no separator
        ("Regulator opens review in the ZDNet case", "ZDNet"),
    ],
)
def test_a_title_without_the_sites_name_beside_a_separator_is_kept(
    title: str, site: str | None
) -> None:
    assert clean_title(f"  {title} ", site, None) == title


def test_a_title_of_many_separators_is_cleaned_in_linear_time() -> None:
    # Found by timing the cores on generated pages: every separator was tried, each try
    # normalising the text on both sides of it (4,000 " - " took 8 s, 16,000 two minutes).
    many = " - ".join(["word"] * 100_000)
    cleaned = run_cpu_limited(clean_title, f"{many} | ZDNet", "ZDNet", "Feed title")
    assert cleaned == many  # the site's name at the end is still stripped
    assert clean_title(f"Feed title - {many}", "ZDNet", "Feed title") == "Feed title"


def test_what_follows_the_feeds_title_after_a_separator_is_stripped() -> None:
    feed = "Regulator opens review"
    assert clean_title("Regulator opens review - Daily Example World", None, feed) == feed
    assert (
        clean_title("REGULATOR  opens review | anything", "Other", feed)
        == "REGULATOR  opens review"
    )
    # the feed's title with more after it, but no separator; a feed title of one word
    assert clean_title("Regulator opens review today", None, feed) == "Regulator opens review today"
    assert clean_title("Review - the regulator opens one", None, "Review") == (
        "Review - the regulator opens one"
    )


def test_site_key_ignores_case_the_www_and_a_domain_suffix() -> None:
    assert site_key("The Paradigm") == site_key("paradigm.com") == site_key("PARADIGM") != ""
    assert site_key("https://www.hawaiinewsnow.com") == site_key("HawaiiNewsNow")
    assert site_key("Express.co.uk") == site_key("express")
    assert site_key("Cleveland com") == site_key("cleveland.com") == site_key("Cleveland")
    assert site_key("9To5Mac") == site_key("9to5mac")
    assert site_key("Fox News") != site_key("Fox")


def test_extract_article_strips_the_sites_name_from_the_pages_title() -> None:
    titled = page(og("Regulator opens review | Daily Example"))
    assert extracted(titled).title == "Regulator opens review"
    feed_titled = page(og("Regulator opens review - Business desk"), title="Regulator opens review")
    assert extracted(feed_titled).title == "Regulator opens review"
    kept = page(og("Apple - the company that changed phones"), "<h1>Apple</h1>")
    assert extracted(kept).title == "Apple - the company that changed phones"


def test_without_a_title_on_the_page_the_feeds_is_used_as_it_is() -> None:
    untitled = page("", "", title=" Regulator opens review | Daily Example ")
    assert extracted(untitled).title == "Regulator opens review | Daily Example"


# The headline as the body's first line


def test_the_headline_is_not_the_bodys_first_line() -> None:
    # trafilatura keeps the page's <h1>; the title (cleaned or the page's own) is enough
    article = extracted(page(og("Regulator opens review | Daily Example")))
    assert article.text.startswith("Paragraph 0: the regulator")
    raw_title = "Regulator opens review | Daily Example"
    raw = extracted(page(og(raw_title), f"<h1>{raw_title}</h1>"))
    assert raw.title == "Regulator opens review"
    assert raw.text.startswith("Paragraph 0: the regulator")
    # case, white space and typographic quotes aside
    quoted = page(og("The 'Medium' is the message"), "<h1>The  ‘MEDIUM’ is the message</h1>")
    assert extracted(quoted).text.startswith("Paragraph 0: the regulator")


def test_a_first_line_that_is_not_the_headline_stays() -> None:
    other = extracted(page(og("Regulator opens review"), "<h1>Regulator opens a review</h1>"))
    assert other.text.startswith("Regulator opens a review\nParagraph 0")
    text = "Paragraph 0.\nRegulator opens review\nParagraph 1."
    assert drop_title_line(text, ["Regulator opens review", None]) == text
    assert drop_title_line("Regulator opens review", ["Regulator opens review"]) == ""


def test_the_minimum_length_counts_the_body_without_the_headline() -> None:
    fetched = page(og("Regulator opens review"))
    n = len(extracted(fetched).text)
    assert isinstance(extract_article(fetched, n), Article)
    short = extract_article(fetched, n + 1)
    assert short == Discard("extract", ENTRY.link, "too_short", f"{n} characters")
    only_headline = page(og("Regulator opens review"), "<h1>Regulator opens review</h1>")
    only_headline = dataclasses.replace(only_headline, html=only_headline.html.replace(BODY, ""))
    assert extract_article(only_headline, 0) == Discard(
        "extract", ENTRY.link, "no_text", "no article body found"
    )


# Authors


@pytest.mark.parametrize(
    ("author", "site", "names"),
    [
        ("Tom Krisher; Ap Auto Writer", "Connecticut Post", ("Tom Krisher",)),
        ("STEVE PEOPLES; AP National Political Writer", None, ("STEVE PEOPLES",)),
        ("Greg Beacham; Ap Sports Writer", None, ("Greg Beacham",)),
        ("Paul Takahashi; Staff writer", None, ("Paul Takahashi",)),
        ("Analysis by Chris Cillizza; CNN Editor-at-large", "CNN", ("Chris Cillizza",)),
        ("Written by Ana Ruiz and By: Tom Lee", None, ("Ana Ruiz", "Tom Lee")),
        ("Phil Helsel is a reporter", "NBC News", ("Phil Helsel",)),
        ("Ana Ruiz is an editor at large", None, ("Ana Ruiz",)),
        ("Mike Wuerthele; Malcolm Owen Monday; November", None, ("Mike Wuerthele", "Malcolm Owen")),
        ("Jeff Foust Monday; November", None, ("Jeff Foust",)),
        ("Carrie Arnold November", None, ("Carrie Arnold",)),
        ("Detroit News wire services Published", None, ("Detroit News wire services",)),
        ("Ana Ruiz Updated", None, ("Ana Ruiz",)),
        ("JERUSALEM POST STAFF NOVEMBER", "jpost.com", ()),
        ("HNN Staff", None, ()),
        ("Submitted", None, ()),
        ("Dana A Ford; Tom Watkins; CNN", "CNN", ("Dana A Ford", "Tom Watkins")),
        ("Troy Smith; Cleveland com", "Cleveland", ("Troy Smith",)),
        ("Ana Ruiz; The Daily Example", "www.dailyexample.com", ("Ana Ruiz",)),
        ("Ana Ruiz Monday; Ana Ruiz", None, ("Ana Ruiz",)),
    ],
)
def test_authors_lose_what_is_not_a_name(
    author: str, site: str | None, names: tuple[str, ...]
) -> None:
    assert (split_authors(author, site) if site else split_authors(author)) == names


@pytest.mark.parametrize(
    "author",
    [
        "Анна Ивановна; 李明; محمد علي; Anna Ūdre; 日本経済新聞社",
        "Αλέξης Τσίπρας; 김민준; אברהם כהן; สมชาย ใจดี",
        "Theresa May; Brian May; Carol June; Robert August; Byron Bywater",
        "Chien-Ming Wang; Lauren del Valle; Alejandro de la Garza; James S.A. Corey",
        "CNN Wire; Associated Press",
        "Tom Gillespie News reporter",  # alone, a job title may follow the author's name
        "Isaac Butler; Isabel Isaacs",
        "Ilana Muhlstein; MS; RDN",
    ],
)
def test_names_in_any_script_stay(author: str) -> None:
    assert split_authors(author) == tuple(author.split("; "))


def test_a_publisher_other_than_the_site_stays() -> None:
    # Nothing on the page tells "Condé Nast" (Wired's publisher) from a person's name.
    assert split_authors("Condé Nast; Molly Wood", "Wired") == ("Condé Nast", "Molly Wood")
    assert split_authors("Jill Disis; CNN Business", "CNN") == ("Jill Disis", "CNN Business")


def test_extract_article_cleans_the_authors() -> None:
    head = og("Regulator opens review", author="Ana Ruiz Monday; Ap Auto Writer; Daily Example")
    assert extracted(page(head)).authors == ("Ana Ruiz",)
