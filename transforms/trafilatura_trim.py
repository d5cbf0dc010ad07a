"""Make trafilatura's pass cheaper where newsbeam does not need what it computes.

Two changes, each leaving every field newsbeam reads unchanged (text, title, author, date,
canonical URL, site name, description: identical on the throughput benchmark's 2,000 pages
and the 181 Zyte pages, with both changes and without):

* ``trim_metadata``: ``bare_extraction(with_metadata=True)`` ends its metadata pass
  (``extract_metadata``) by looking for the page's categories and tags (``extract_catstags``:
  a series of XPath searches over the whole tree, all of them when nothing matches, once for
  categories and once for tags) and its licence (``extract_license``). newsbeam reads none
  of the three; on the benchmark's pages they were 17-28% of the extraction time (8.7-9.2 ms
  a page instead of 10.6-12.0, three rounds on the same pages). trafilatura has no option to
  skip them, so the two functions in ``trafilatura.metadata`` are replaced with ones that
  find nothing, after checking that ``extract_metadata`` still looks both up by those names,
  with the same parameters.
* ``plain_element_proxies``: trafilatura parses with an ``lxml.html.HTMLParser``, whose
  element class lookup is a Python method that lxml calls for every element it hands to
  Python (thousands a page), only to give form fields their helper classes, which neither
  trafilatura nor htmldate uses. lxml's C-level default lookup, set to the same HTML
  classes, skips that call: 4% of the extraction time (8.0 -> 7.6 ms a page, pages
  alternated, 1,000 pages).

If trafilatura changed (an upgrade), each part leaves it as it is and logs why, once;
``tests/test_trafilatura_trim.py`` then fails, so the upgrade gets looked at. The changes are
process-wide: ``install()`` is called by ``transforms.analysis.trafilatura_document`` on its
first call, so every process that extracts as newsbeam does (the extract stage, the analysis
pool's fork server and workers, the benchmarks' ceiling) runs the cheaper pass.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import trafilatura.metadata
import trafilatura.utils
from lxml import etree
from lxml import html as lxml_html

log = logging.getLogger(__name__)

# name in trafilatura.metadata -> the parameter names it must have
TRIMMED = {"extract_catstags": ("metatype", "tree"), "extract_license": ("tree",)}
# trafilatura's own functions, kept for comparison (install() replaces them in its module)
ORIGINALS: dict[str, Any] = {name: getattr(trafilatura.metadata, name, None) for name in TRIMMED}

# Every element a plain HtmlElement (HtmlComment, ...), looked up in C, not by a Python method.
PLAIN_LOOKUP = etree.ElementDefaultClassLookup(
    element=lxml_html.HtmlElement,
    comment=lxml_html.HtmlComment,
    pi=lxml_html.HtmlProcessingInstruction,
    entity=lxml_html.HtmlEntity,
)

_lock = threading.Lock()
# id() of a module or parser -> (it, whether it was changed); holding it keeps its id unique
_outcome: dict[int, tuple[object, bool]] = {}


def _no_categories_or_tags(metatype: str, tree: Any) -> list[str]:
    """Stands in for ``extract_catstags``: finds nothing (newsbeam does not read them)."""
    return []


def _no_license(tree: Any) -> str | None:
    """Stands in for ``extract_license``: finds nothing (newsbeam does not read it)."""
    return None


_REPLACEMENTS = {"extract_catstags": _no_categories_or_tags, "extract_license": _no_license}


def mismatch(module: ModuleType) -> str | None:
    """Why ``module`` cannot be trimmed safely, or ``None`` when it can."""
    extract_metadata = getattr(module, "extract_metadata", None)
    code = getattr(extract_metadata, "__code__", None)
    if code is None:
        return "no extract_metadata function"
    for name, params in TRIMMED.items():
        function = getattr(module, name, None)
        if function is None:
            return f"no {name}"
        if function is _REPLACEMENTS[name]:
            continue
        if name not in code.co_names:
            return f"extract_metadata no longer calls {name} by name"
        found = tuple(inspect.signature(function).parameters)
        if found != params:
            return f"{name} takes {found}, expected {params}"
    return None


def install() -> bool:
    """Both changes, to trafilatura's own module and parser (once; later calls return at once).

    Returns:
        True when both are in place.
    """
    return trim_metadata() & plain_element_proxies()


def plain_element_proxies(parser: Any = None) -> bool:
    """Give ``parser`` lxml's C-level element class lookup (once per parser).

    Args:
        parser: default ``trafilatura.utils.HTML_PARSER``; another parser in tests.

    Returns:
        True when the lookup is set, False when ``parser`` is not an ``lxml.html.HTMLParser``
        (it is then left untouched, and a warning says why, once).
    """

    if parser is None:
        parser = getattr(trafilatura.utils, "HTML_PARSER", None)

    def change() -> str | None:
        if not isinstance(parser, lxml_html.HTMLParser):
            return f"its HTML parser is a {type(parser).__name__}, not lxml.html's"
        parser.set_element_class_lookup(PLAIN_LOOKUP)
        return None

    return _once(parser, "parser", change)


def trim_metadata(module: ModuleType = trafilatura.metadata) -> bool:
    """Trim trafilatura's metadata pass (once per module).

    Args:
        module: the module to trim; trafilatura's own, except in tests.

    Returns:
        True when the trimmed functions are in place, False when ``module`` is not as
        expected (it is then left untouched, and a warning says why, once).
    """

    def change() -> str | None:
        problem = mismatch(module)
        if problem is None:
            for name, replacement in _REPLACEMENTS.items():
                setattr(module, name, replacement)
        return problem

    return _once(module, "metadata pass", change)


def _once(target: object, what: str, change: Callable[[], str | None]) -> bool:
    """Run ``change()`` on ``target`` once per process; remember (and return) whether it took.

    ``change`` makes the change and returns ``None``, or returns why it cannot.
    """
    done = _outcome.get(id(target))
    if done is not None:
        return done[1]
    with _lock:
        done = _outcome.get(id(target))
        if done is not None:
            return done[1]
        problem = change()
        if problem is not None:
            log.warning("trafilatura's %s left as it is (%s): extraction is slower", what, problem)
        _outcome[id(target)] = (target, problem is None)
        return problem is None
