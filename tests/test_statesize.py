"""The faster state-cache sizing gives exactly Beam's answers."""

from __future__ import annotations

import sys
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import objsize
import pytest
from apache_beam.runners.worker import statecache

from transforms import statesize
from transforms.records import FeedEntry, FeedState


class Labelled(list[object]):
    """A list with attributes of its own: not a plain container, though a list."""


class WeighedInPart(statecache.CacheAware):
    """A value that tells Beam's cache which of its parts to weigh."""

    def __init__(self) -> None:
        self.weighed = "w" * 100
        self.not_weighed = "n" * 10_000

    def get_referents_for_cache(self) -> list[Any]:
        return [self.weighed]


class Unsizable:
    """sys.getsizeof fails on it: Beam weighs it at a default instead."""

    def __sizeof__(self) -> int:
        raise TypeError("no size")


LABELLED = Labelled([1.5, "x"])
LABELLED.label = "y" * 100  # type: ignore[attr-defined]
REFERENT = FeedState("http://a.example/rss")

VALUES = [
    b"\x00" * 100,
    ("found", b"key", b"claim" * 10),
    ("story", b"x" * 5000, b"claim", 18),
    FeedState("http://a.example/rss", '"etag"', None, "ab" * 32),
    FeedEntry(feed_url="f", link="http://a.example/1", key="k", title="T" * 50),
    {"nested": [1, 2.5, "three", (4, 5)], "none": None},
    [FeedState("u"), FeedState("v")],
    # flat values, sized without objsize: they must still match Beam's answer
    [],
    [1.5, 2.5, 1.5],
    ["a" * 40, "b", None, "a" * 40],
    (b"x" * 300, 7.25, "id"),
    [True, 3, 10**30, "é" * 9],
    "just a string",
    None,
    [[1.0], 2.0],
    # nested: what ClaimPerKey sends the verdict step for one story (a tuple of messages)
    (("story", b"x" * 5000, b"claim", 18), ("found", b"key", None), ("found", b"k2", b"c" * 46)),
    [(1, "a"), [2.5, ("b", None)], ()],
    # Beam's own rules, passed to objsize: attributes of a list subclass are weighed, a
    # weak reference is not, CacheAware chooses, an unsizable object weighs a default
    LABELLED,
    (REFERENT, weakref.ref(REFERENT)),
    [WeighedInPart(), 2.5],
    [Unsizable(), "x"],
    [FeedState("u"), vars(weakref)],  # a module's globals are shared: not weighed
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_same_size_as_beams(value: object) -> None:
    assert statesize.beam_deep_size is not None
    assert statesize.deep_size(value) == statesize.beam_deep_size(value)


def test_install_replaces_the_cache_sizing_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statecache, "get_deep_size", statesize.beam_deep_size)
    monkeypatch.setattr(statesize, "_installed", False)
    assert statesize.install()
    assert statecache.get_deep_size is statesize.deep_size
    assert statesize.install()  # idempotent
    assert statecache.get_deep_size is statesize.deep_size


def objsize_without_exclude_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """objsize as its 1.0 will be: no exclude_set parameter (0.7 deprecates it)."""
    real = objsize.get_deep_size

    def get_deep_size(*objs: Any, **settings: Any) -> int:
        if "exclude_set" in settings:
            raise TypeError("get_deep_size() got an unexpected keyword argument 'exclude_set'")
        return int(real(*objs, **settings))

    monkeypatch.setattr(objsize, "get_deep_size", get_deep_size)


def beam_with_other_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for Beam's statecache as an upgrade might change it: its own sizing
    function, without the helpers (_size_func, ...) deep_size passes to objsize."""
    import apache_beam.runners.worker

    module = types.ModuleType("statecache")
    module.get_deep_size = statesize.beam_deep_size  # type: ignore[attr-defined]
    monkeypatch.setattr(apache_beam.runners.worker, "statecache", module)


def beam_sizing_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Beam whose sizing gives other answers (here: 8 bytes a value)."""
    monkeypatch.setattr(statesize, "beam_deep_size", lambda *objs: 8 * len(objs))


@pytest.mark.parametrize(
    "change", [objsize_without_exclude_set, beam_with_other_helpers, beam_sizing_otherwise]
)
def test_install_keeps_beams_sizing_when_objsize_or_beam_changed(
    change: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """deep_size hands every value but plain containers to objsize with an exclude set and
    Beam's helpers: install()'s probe takes that path too, and finding it failing (or giving
    another answer than Beam's) keeps Beam's own function rather than one that fails on
    every record put in the state cache."""
    beams = statesize.beam_deep_size
    monkeypatch.setattr(statecache, "get_deep_size", beams)
    monkeypatch.setattr(statesize, "_installed", False)
    change(monkeypatch)
    assert statesize.install() is False
    from apache_beam.runners.worker import statecache as in_use

    assert in_use.get_deep_size is beams


def test_module_globals_are_recomputed_when_modules_change() -> None:
    before = statesize._module_globals_ids()
    module = types.ModuleType("newsbeam_probe_module")
    sys.modules[module.__name__] = module
    try:
        after = statesize._module_globals_ids()
        assert id(vars(module)) in after and id(vars(module)) not in before
    finally:
        del sys.modules[module.__name__]


def test_flat_values_skip_the_traversal() -> None:
    assert statesize._flat_size(([1.5, "x"],)) is not None
    assert statesize._flat_size(([FeedState("u")],)) is None
    assert statesize._flat_size(([[1.0]],)) is not None  # nested plain containers
    assert statesize._flat_size(((("found", b"k", None), ("story", b"s", b"c", 18)),)) is not None
    assert statesize._flat_size(([(1, [FeedState("u")])],)) is None  # a record, however deep
    assert statesize._flat_size(([True, 3, 2.5, b"x", "s"],)) is not None  # every leaf type
    assert statesize._flat_size(([LABELLED],)) is None  # a list, but not only a list


def test_an_object_shared_between_arguments_is_counted_once() -> None:
    shared = "s" * 1000
    assert statesize.beam_deep_size is not None
    assert statesize.deep_size([shared], (shared,)) == statesize.beam_deep_size([shared], (shared,))
    inner = ("m", shared)
    twice = ((inner, inner), [inner])
    assert statesize.deep_size(*twice) == statesize.beam_deep_size(*twice)


class FreshVars:
    """A sys.modules entry whose vars() is a new object on every call, as typing.io's and a
    cffi library's (_openssl.lib) are; counts the calls."""

    calls = 0

    @property
    def __dict__(self) -> dict[str, str]:  # type: ignore[override]
        FreshVars.calls += 1
        return {"made": "now"}


@pytest.fixture
def fresh_vars_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "newsbeam_fresh_vars", FreshVars())
    monkeypatch.setattr(statesize, "_cached", None)  # computed again, with it
    yield


def test_values_made_after_the_module_walk_are_sized_in_full(fresh_vars_module: None) -> None:
    """The cached set names only dicts that still exist: a dict that vars() made for the walk
    and then dropped must not leave its id behind, or a dict of a later state value that
    Python puts at the same address would be left out of its size (objsize, walking anew
    on each call, never sees such a stale id)."""
    # Python's free list of dicts is empty after these
    drained: list[dict[str, str]] = [{} for _ in range(200)]
    ids = statesize._module_globals_ids()
    made_after = [FeedState(f"http://a.example/{i}", '"etag"') for i in range(20)]
    assert drained and not [s for s in made_after if id(vars(s)) in ids]
    assert statesize.beam_deep_size is not None
    assert statesize.deep_size(made_after) == statesize.beam_deep_size(made_after)


def test_the_module_walk_is_made_once_while_the_module_count_holds(
    fresh_vars_module: None,
) -> None:
    """objsize would walk sys.modules again on every call (what this module saves): deep_size
    walks it once, then no entry's vars() is asked for again until modules come or go."""
    value = [FeedState("http://a.example/rss"), {"k": 1.5}]
    first = statesize.deep_size(value)  # walks: the fixture emptied the cache
    walked = FreshVars.calls
    assert walked > 0
    assert [statesize.deep_size(value) for _ in range(3)] == [first] * 3
    assert FreshVars.calls == walked
    assert statesize.beam_deep_size is not None
    assert first == statesize.beam_deep_size(value)


def test_a_module_without_globals_in_sys_modules_is_passed_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sys.modules may hold None (an import blocked on purpose), whose vars() fails."""
    monkeypatch.setitem(sys.modules, "newsbeam_blocked", None)
    monkeypatch.setattr(statesize, "_cached", None)
    value = [FeedState("http://a.example/rss")]
    assert statesize.beam_deep_size is not None
    assert statesize.deep_size(value) == statesize.beam_deep_size(value)
