"""The page template of the benchmark's news site: an article body inside real-looking chrome.

Consumes an article (title, body HTML, author, date, related titles) and an ``Outlet``;
produces the page bytes a news site would serve: inline CSS and scripts (an analytics tag,
a consent-manager configuration, a minified application bundle), a cookie banner, a top
bar, a mega-menu, a breaking-news ticker, a breadcrumb, the article with its share bar,
lead image, in-body "read more" box and ad slots, tags, author box, newsletter form,
comments, a sidebar of most-read and latest teasers, related cards, and a large footer.
A page weighs about 100 KB, like the Zyte pages (174 KB on average).

``markdown_to_html`` turns the streams' Markdown-ish bodies into HTML blocks.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime
from html import escape


@dataclass(frozen=True)
class Outlet:
    """A fictional outlet: its host name, name, sections and look."""

    host: str
    name: str
    sections: tuple[str, ...]
    accent: str


_SECTIONS = ("World", "Politics", "Business", "Tech", "Science", "Opinion", "Culture", "Sport")
OUTLETS = tuple(
    Outlet(f"{slug}.example.{tld}", name, _SECTIONS[i % 3 :] + _SECTIONS[: i % 3], accent)
    for i, (slug, name, tld, accent) in enumerate(
        [
            ("northwind-post", "The Northwind Post", "com", "#b00020"),
            ("valley-herald", "Valley Herald", "org", "#00529b"),
            ("metro-chronicle", "Metro Chronicle", "net", "#222222"),
            ("coastal-times", "The Coastal Times", "com", "#0a7e8c"),
            ("capital-dispatch", "Capital Dispatch", "org", "#7b1fa2"),
            ("riverside-gazette", "Riverside Gazette", "net", "#2e7d32"),
            ("summit-observer", "Summit Observer", "com", "#e65100"),
            ("prairie-sentinel", "Prairie Sentinel", "org", "#37474f"),
            ("harbour-courier", "Harbour Courier", "net", "#c62828"),
            ("lakeside-tribune", "Lakeside Tribune", "com", "#1565c0"),
            ("granite-ledger", "Granite Ledger", "org", "#4e342e"),
            ("meadow-review", "Meadow Review", "net", "#558b2f"),
        ]
    )
)

_SUBSECTIONS = (
    "Latest",
    "Analysis",
    "Explainers",
    "Interviews",
    "Photos",
    "Video",
    "Podcasts",
    "Live",
)
_WORDS = tuple(
    [
        "market",
        "council",
        "vote",
        "storm",
        "league",
        "budget",
        "court",
        "school",
        "transit",
        "harbor",
        "energy",
        "housing",
        "festival",
        "museum",
        "election",
        "startup",
        "police",
        "river",
        "climate",
        "hospital",
        "union",
        "airport",
        "bridge",
        "strike",
        "summit",
        "ruling",
        "tariff",
        "drought",
        "vaccine",
        "stadium",
        "satellite",
        "museum",
        "chip",
    ]
)
_COMMENTERS = ("jdoe42", "Maria T.", "oldtimer", "A reader from Leeds", "K. Okafor", "sam_w")


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


def _headline(rng: random.Random) -> str:
    return _words(rng, rng.randint(5, 9)).capitalize()


def _css(outlet: Outlet, rng: random.Random) -> str:
    props = ("margin", "padding", "font-size", "line-height", "max-width", "border-top")
    rules = []
    for i in range(140):
        selector = f".{outlet.host[:3]}-c{i} > .el-{rng.randint(0, 99)}"
        decls = ";".join(f"{p}:{rng.randint(0, 40)}px" for p in rng.sample(props, 3))
        rules.append(f"{selector}{{{decls};color:{outlet.accent}}}")
    return "\n".join(rules)


def _bundle(outlet: Outlet, rng: random.Random) -> str:
    """A minified-looking application bundle (~24 KB), the same on every page of an outlet."""
    parts = []
    for i in range(260):
        name = f"_{outlet.host[:2]}{i:x}"
        parts.append(
            f"function {name}(e,t){{var n=e&&e.{rng.choice(_WORDS)}||[];for(var r=0;r<n.length;"
            f'r++)t.push(n[r]*{rng.randint(2, 99)});return t.length>{rng.randint(1, 9)}?"'
            f'{rng.choice(_WORDS)}":null}}'
        )
    return "!function(){" + ";".join(parts) + "}();"


_BUNDLES: dict[str, tuple[str, str]] = {}


def _outlet_assets(outlet: Outlet) -> tuple[str, str]:
    if outlet.host not in _BUNDLES:
        rng = random.Random(outlet.host)
        _BUNDLES[outlet.host] = (_css(outlet, rng), _bundle(outlet, rng))
    return _BUNDLES[outlet.host]


def _nav(outlet: Outlet) -> str:
    items = []
    for section in outlet.sections:
        subs = "".join(
            f'<li class="sub"><a href="/{section.lower()}/{s.lower()}">{s}</a></li>'
            for s in _SUBSECTIONS
        )
        items.append(
            f'<li class="menu-item"><a href="/{section.lower()}">{section}</a>'
            f'<div class="mega"><ul>{subs}</ul></div></li>'
        )
    return f'<nav class="main-nav" aria-label="Sections"><ul>{"".join(items)}</ul></nav>'


def _teasers(css: str, items: list[tuple[str, str]], rng: random.Random) -> str:
    cards = []
    for title, url in items:
        image = f"/img/t{rng.randint(1, 999)}"
        cards.append(
            f'<li class="{css}-item"><div class="card"><div class="card-media"><picture>'
            f'<source srcset="{image}.webp" type="image/webp"><source srcset="{image}.avif" '
            f'type="image/avif"><img src="{image}.jpg" alt="" loading="lazy"></picture></div>'
            f'<div class="card-body"><span class="kicker">{rng.choice(_SECTIONS)}</span>'
            f'<h3 class="hl"><a href="{escape(url)}">{escape(title)}</a></h3>'
            f'<div class="meta"><time>{rng.randint(1, 23)}h ago</time>'
            f'<span class="comments-count">{rng.randint(0, 300)}</span></div></div></div></li>'
        )
    return f'<ul class="{css}">{"".join(cards)}</ul>'


def _page_data(title: str, teasers: list[tuple[str, str]], rng: random.Random) -> str:
    """A framework's hydration blob (like Next.js ``__NEXT_DATA__``), ~10 KB of JSON."""
    items = ",".join(
        f'{{"id":{rng.randint(10**6, 10**7)},"title":"{escape(t)}","url":"{escape(u)}",'
        f'"section":"{rng.choice(_SECTIONS)}","flags":[{rng.randint(0, 9)},{rng.randint(0, 9)}]}}'
        for t, u in teasers * 2
    )
    return (
        '<script id="__DATA__" type="application/json">{"props":{"page":{"title":"'
        f'{escape(title)}","ads":{{"targeting":"{_words(rng, 6)}"}}}},"teasers":[{items}]}}}}'
        "</script>"
    )


def _footer(outlet: Outlet, rng: random.Random) -> str:
    columns = []
    for heading in ("Sections", "Services", "About us", "Legal", "Follow"):
        links = "".join(
            f'<li><a href="/{heading.split()[0].lower()}/{i}">{_words(rng, 2).title()}</a></li>'
            for i in range(10)
        )
        columns.append(f'<div class="col"><h4>{heading}</h4><ul>{links}</ul></div>')
    return (
        f'<footer class="site-footer">{"".join(columns)}<p class="legal">Copyright 2024 '
        f"{escape(outlet.name)}. All rights reserved. Registered office: 1 {_words(rng, 2)} "
        "Street. Reproduction without permission is prohibited.</p></footer>"
    )


def _comments(rng: random.Random) -> str:
    comments = "".join(
        f'<li class="comment"><span class="who">{rng.choice(_COMMENTERS)}</span>'
        f"<p>{_words(rng, rng.randint(8, 20)).capitalize()}.</p>"
        f'<button class="reply">Reply</button></li>'
        for _ in range(3)
    )
    return f'<section class="comments"><h3>Comments (3)</h3><ol>{comments}</ol></section>'


def wrap_article(
    outlet: Outlet,
    title: str,
    body_html: str,
    *,
    author: str,
    published: datetime,
    path: str,
    related: list[tuple[str, str]],
    seed: int,
) -> bytes:
    """A full news page around ``body_html``.

    Args:
        outlet: whose chrome to use.
        title: the headline.
        body_html: the article body as HTML blocks (``markdown_to_html``).
        author: the byline ("" for a staff article).
        published: the publication time shown and put in JSON-LD.
        path: the page's path (canonical link, breadcrumb).
        related: (title, URL) of other articles, for the ticker, sidebar and cards.
        seed: varies the generated boilerplate from page to page.

    Returns:
        The page's UTF-8 bytes.
    """
    rng = random.Random(seed)
    css, bundle = _outlet_assets(outlet)
    byline = escape(author or f"{outlet.name} staff")
    when = published.isoformat()
    section = path.split("/")[1].title()
    extra = [(_headline(rng), f"/{section.lower()}/{rng.randint(1000, 9999)}") for _ in range(20)]
    teasers = related + extra
    blocks = [b + "\n" for b in body_html.splitlines() if b.strip()]
    read_more = (
        '<aside class="read-more"><h4>Read more</h4>'
        + _teasers("inline-list", teasers[:3], rng)
        + "</aside>\n"
    )
    ad = '<div class="ad-slot" data-slot="mid-article"><span>Advertisement</span></div>\n'
    if len(blocks) > 3:
        blocks.insert(3, read_more)
    if len(blocks) > 7:
        blocks.insert(7, ad)
    share = "".join(
        f'<a class="share-{s}" href="https://{s}.example/share?u={escape(path)}">{s}</a>'
        for s in ("facebook", "x", "linkedin", "whatsapp", "email", "copy")
    )
    jsonld = (
        '{"@context":"https://schema.org","@type":"NewsArticle","headline":'
        f'"{escape(title)}","datePublished":"{when}","author":{{"@type":"Person","name":'
        f'"{byline}"}},"publisher":{{"@type":"Organization","name":"{escape(outlet.name)}"}}}}'
    )
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{escape(title)} | {escape(outlet.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="og:title" content="{escape(title)}"><meta property="og:type" content="article">
<meta property="og:site_name" content="{escape(outlet.name)}">
<meta name="author" content="{byline}"><meta property="article:published_time" content="{when}">
<link rel="canonical" href="{escape(path)}"><link rel="stylesheet" href="/static/main.css">
<style>{css}</style>
<script type="application/ld+json">{jsonld}</script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}
gtag("js",new Date());
gtag("config","G-{seed % 9973:04d}",{{"page_path":"{escape(path)}"}});</script>
<script>{bundle}</script></head>
<body class="article-page {section.lower()}">
<div id="consent" class="cookie-banner"><p>We and our 143 partners use cookies to personalise
content and ads, to provide social media features and to analyse our traffic.</p>
<button>Accept all</button><button>Manage choices</button></div>
<div class="top-bar"><span>{published:%A %d %B %Y}</span><a href="/subscribe">Subscribe</a>
<a href="/login">Sign in</a><a href="/newsletters">Newsletters</a>
<a href="/epaper">E-paper</a></div>
<header class="masthead"><a class="logo" href="/">{escape(outlet.name)}</a>
<form class="search" action="/search"><input name="q" placeholder="Search">
<button>Go</button></form>
</header>
{_nav(outlet)}
<div class="ticker"><strong>Breaking</strong>{_teasers("ticker-list", teasers[3:8], rng)}</div>
<ol class="breadcrumb"><li><a href="/">Home</a></li>
<li><a href="/{section.lower()}">{section}</a></li></ol>
<div class="layout"><main id="content">
<article class="story"><header><h1 class="headline">{escape(title)}</h1>
<div class="byline">By <a rel="author" href="/authors/{seed % 97}">{byline}</a>
<time datetime="{when}">{published:%d %B %Y, %H:%M}</time>
<span class="reading-time">{rng.randint(3, 12)} min read</span></div>
<div class="share-bar">{share}</div></header>
<figure class="lead"><img src="/img/lead-{seed}.jpg" alt="">
<figcaption>{_words(rng, 8).capitalize()}. Photo: agency</figcaption></figure>
<div class="story-body">
{"".join(blocks)}
</div>
<ul class="tags"><li><a href="/tag/{section.lower()}">{section}</a></li>
<li><a href="/tag/{rng.choice(_WORDS)}">{rng.choice(_WORDS).title()}</a></li></ul>
<div class="author-box"><strong>{byline}</strong> writes about {section.lower()} for
{escape(outlet.name)}.</div>
<form class="newsletter"><h4>Get the morning briefing</h4><input type="email"
placeholder="Your email"><button>Sign up</button></form>
</article>
{_comments(rng)}
</main>
<aside class="sidebar"><section><h3>Most read</h3>{_teasers("most-read", teasers[8:18], rng)}
</section><div class="ad-slot" data-slot="sidebar-1"><span>Advertisement</span></div>
<section><h3>Latest</h3>{_teasers("latest", teasers[18:26], rng)}</section>
<div class="promo podcast"><h3>Listen: The Daily Brief</h3><p>{_words(rng, 12)}</p></div>
</aside></div>
<section class="related"><h3>More from {section}</h3>{_teasers("cards", teasers[:8], rng)}</section>
<section class="recommended"><h3>Recommended for you</h3>
{_teasers("grid", teasers[8:20], rng)}</section>
{_page_data(title, teasers, rng)}
{_footer(outlet, rng)}
<script>(function(){{var s=document.createElement("script");s.async=1;
s.src="/static/ads.js?v={seed % 13}";document.head.appendChild(s)}})();</script>
</body></html>
"""
    return page.encode("utf-8")


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)\s]+)[^)]*\)$")


def _inline(text: str) -> str:
    out = escape(" ".join(text.split()), quote=False)
    out = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)\*(?!\w)", r"<em>\1</em>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def markdown_to_html(markdown: str) -> str:
    """HTML blocks from the streams' Markdown: headings, images, lists, quotes, code, paragraphs.

    Args:
        markdown: the body, blocks separated by blank lines.

    Returns:
        One HTML block per line (``<p>``, ``<h2>``, ``<figure>``, ``<ul>``, ...).
    """
    out = []
    for block in re.split(r"\n\s*\n", markdown.replace("\r\n", "\n")):
        block = block.strip()
        if not block:
            continue
        lines = block.splitlines()
        heading = re.match(r"^(#{1,6})\s+(.*)$", block)
        image = _IMAGE.match(block)
        if heading and len(lines) == 1:
            level = min(len(heading.group(1)) + 1, 4)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif image:
            alt = escape(image.group(1))
            out.append(
                f'<figure><img src="{escape(image.group(2))}" alt="{alt}">'
                f"<figcaption>{alt}</figcaption></figure>"
            )
        elif block.startswith("```"):
            code = "\n".join(line for line in lines if not line.startswith("```"))
            out.append(f"<pre><code>{escape(code)}</code></pre>")
        elif all(re.match(r"^\s*[-+*]\s", line) for line in lines):
            items = "".join(f"<li>{_inline(line.strip()[2:])}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
        elif all(line.startswith(">") for line in lines):
            quote = _inline(" ".join(line.lstrip("> ") for line in lines))
            out.append(f"<blockquote><p>{quote}</p></blockquote>")
        else:
            out.append(f"<p>{_inline(block)}</p>")
    return "\n".join(out) + "\n"


__all__ = ["OUTLETS", "Outlet", "markdown_to_html", "wrap_article"]
