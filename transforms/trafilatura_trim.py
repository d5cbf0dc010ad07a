"""Skip the parts of trafilatura's metadata pass that newsbeam never reads.

``bare_extraction(with_metadata=True)`` ends its metadata pass (``extract_metadata``) by looking
for the page's categories and tags (``extract_catstags``: a series of XPath searches over the
whole tree, all of them when nothing matches, once for categories and once for tags) and its
licence (``extract_license``). newsbeam reads none of the three, and on the throughput
benchmark's 2,000 pages they were 17-28% of the extraction time (8.7-9.2 ms a page instead of
10.6-12.0, three rounds on the same pages), while text, title, author, date, canonical URL,
site name and description came out identical on every page. trafilatura has no option to
skip them, so ``install()`` replaces the two functions in ``trafilatura.metadata`` with ones
that find nothing.

``install()`` first checks that ``extract_metadata`` still looks both up by those names, with
the same parameters. If trafilatura changed (an upgrade), it leaves trafilatura as it is and
logs why; ``tests/test_trafilatura_trim.py`` then fails, so the upgrade gets looked at. The
replacement is process-wide: it is installed by ``transforms.analysis.trafilatura_document``
on its first call, so every process that extracts as newsbeam does (the extract stage, the
analysis pool's fork server and workers, the benchmarks' ceiling) runs the trimmed pass.
"""

from __future__ import annotations

import inspect
import logging
import threading
from types import ModuleType
from typing import Any

import trafilatura.metadata

log = logging.getLogger(__name__)

# name in trafilatura.metadata -> the parameter names it must have
TRIMMED = {"extract_catstags": ("metatype", "tree"), "extract_license": ("tree",)}
# trafilatura's own functions, kept for comparison (install() replaces them in its module)
ORIGINALS: dict[str, Any] = {name: getattr(trafilatura.metadata, name, None) for name in TRIMMED}

_lock = threading.Lock()
_outcome: dict[int, bool] = {}  # id() of a module -> whether install() trimmed it


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


def install(module: ModuleType = trafilatura.metadata) -> bool:
    """Trim trafilatura's metadata pass (once per process; later calls return at once).

    Args:
        module: the module to trim; trafilatura's own, except in tests.

    Returns:
        True when the trimmed functions are in place, False when ``module`` is not as
        expected (it is then left untouched, and a warning says why, once).
    """
    done = _outcome.get(id(module))
    if done is not None:
        return done
    with _lock:
        done = _outcome.get(id(module))
        if done is not None:
            return done
        problem = mismatch(module)
        if problem is None:
            for name, replacement in _REPLACEMENTS.items():
                setattr(module, name, replacement)
        else:
            log.warning(
                "trafilatura's metadata pass left whole (%s): extraction is slower", problem
            )
        _outcome[id(module)] = problem is None
        return problem is None
