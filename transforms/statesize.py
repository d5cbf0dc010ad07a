"""A faster, equivalent sizing function for Beam's user-state cache.

Beam 2.77's SDK harness weighs every value it puts in its state cache with
``objsize.get_deep_size``, asking objsize to exclude every loaded module's globals. objsize
then walks ``sys.modules`` (thousands of modules with Beam's GCP extras) on every single
call: about 0.8 ms each here. newsbeam's keyed steps make ~57 state calls per story (one per
LSH key, twice), so that walk was more than half of a local run's time (profiled: 19 s of
34 s for 400 articles).

``install()`` replaces the cache's sizing function with one that gives the same answer but
computes the set of module-globals ids once, recomputing it only when modules are added or
removed, and sizes flat values (strings, numbers, lists and tuples of them) directly,
without objsize. It is called from the ``setup()`` of newsbeam's stateful DoFns, in the worker
process; if objsize's or Beam's internals are not as expected it leaves Beam's own function
in place.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Beam's own function, kept for comparison (install() replaces it in Beam's module).
beam_deep_size: Callable[..., int] | None
try:
    from apache_beam.runners.worker.statecache import get_deep_size as beam_deep_size
except ImportError:  # pragma: no cover - Beam is a dependency
    beam_deep_size = None

# objsize 0.7 deprecates passing a precomputed exclude set; 1.0 will drop it, and then
# install() finds the call failing and keeps Beam's function.
warnings.filterwarnings(
    "ignore",
    message="marked_set and exclude_set parameters are deprecated",
    category=DeprecationWarning,
)

_lock = threading.Lock()
_cached: tuple[int, frozenset[int], list[Any]] | None = None
_installed = False


def _module_globals_ids() -> frozenset[int]:
    """ids of every loaded module's globals dict, cached while the module count is stable."""
    global _cached
    count = len(sys.modules)
    cached = _cached
    if cached is not None and cached[0] == count:
        return cached[1]
    # Held with their ids: vars() of some entries (typing.io, a cffi library) is a new object
    # on every call, whose id a later state value could take once it is dropped.
    dicts = [vars(module) for module in list(sys.modules.values()) if _has_dict(module)]
    ids = frozenset(map(id, dicts))
    _cached = (count, ids, dicts)
    return ids


def _has_dict(module: Any) -> bool:
    try:
        vars(module)
    except TypeError:
        return False
    return True


# Values whose deep size is their own size: no referents objsize would follow.
_LEAF_TYPES = frozenset({str, bytes, int, float, bool})


def _flat_size(objs: tuple[Any, ...]) -> int | None:
    """The deep size of leaves, and of lists and tuples nested from leaves; None for the rest.

    Most state values newsbeam's keyed steps write are such plain containers (a list of
    floats, of strings, a tuple of messages that are tuples of bytes); sizing them directly
    skips objsize's traversal and the copy of the module-globals set it needs. Each object is
    counted once, and None not at all, as objsize does.
    """
    seen: set[int] = set()
    total = 0
    todo = list(objs)
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        kind = type(obj)
        if kind is list or kind is tuple:
            todo.extend(obj)
        elif kind not in _LEAF_TYPES:
            return None
        seen.add(id(obj))
        total += sys.getsizeof(obj)
    return total


def deep_size(*objs: Any) -> int:
    """What ``apache_beam.runners.worker.statecache.get_deep_size`` returns, faster."""
    flat = _flat_size(objs)
    if flat is not None:
        return flat
    import objsize
    from apache_beam.runners.worker import statecache

    exclude = set(_module_globals_ids())
    exclude.add(id(None))
    return int(
        objsize.get_deep_size(
            *objs,
            exclude_set=exclude,
            exclude_modules_globals=False,
            get_size_func=statecache._size_func,
            get_referents_func=statecache._get_referents_func,
            filter_func=statecache._filter_func,
        )
    )


def install() -> bool:
    """Make Beam's state cache size values with ``deep_size`` (idempotent).

    Returns:
        Whether the faster function is in place.
    """
    global _installed
    with _lock:
        if _installed:
            return True
        try:
            from apache_beam.runners.worker import statecache

            # a plain container, and a dict: objsize's path, with the exclude set and Beam's helpers
            for probe in (("probe", b"\x00" * 8, 1.5), {"probe": [1.5, None]}):
                if beam_deep_size is None or deep_size(probe) != beam_deep_size(probe):
                    log.warning("state sizing differs from Beam's; keeping Beam's")
                    return False
            statecache.get_deep_size = deep_size
        except (ImportError, AttributeError, TypeError) as exc:
            log.warning("keeping Beam's state sizing: %s", exc)
            return False
        _installed = True
        return True
