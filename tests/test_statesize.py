"""The faster state-cache sizing gives exactly Beam's answers."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import objsize
import pytest
from apache_beam.runners.worker import statecache

from transforms import statesize
from transforms.records import FeedEntry, FeedState

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


@pytest.mark.parametrize("change", [objsize_without_exclude_set, beam_with_other_helpers])
def test_install_keeps_beams_sizing_when_objsize_or_beam_changed(
    change: Callable[[pytest.MonkeyPatch], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """deep_size hands every value but plain containers to objsize with an exclude set and
    Beam's helpers: install()'s probe takes that path too, and finding it failing keeps
    Beam's own function rather than one that fails on every record put in the state cache."""
    monkeypatch.setattr(statecache, "get_deep_size", statesize.beam_deep_size)
    monkeypatch.setattr(statesize, "_installed", False)
    change(monkeypatch)
    assert statesize.install() is False
    from apache_beam.runners.worker import statecache as in_use

    assert in_use.get_deep_size is statesize.beam_deep_size


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


def test_an_object_shared_between_arguments_is_counted_once() -> None:
    shared = "s" * 1000
    assert statesize.beam_deep_size is not None
    assert statesize.deep_size([shared], (shared,)) == statesize.beam_deep_size([shared], (shared,))
    inner = ("m", shared)
    twice = ((inner, inner), [inner])
    assert statesize.deep_size(*twice) == statesize.beam_deep_size(*twice)


class FreshVars:
    """A sys.modules entry whose vars() is a new object on every call, as typing.io's and a
    cffi library's (_openssl.lib) are."""

    @property
    def __dict__(self) -> dict[str, str]:  # type: ignore[override]
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
    drained = [{} for _ in range(200)]  # Python's free list of dicts is empty now
    ids = statesize._module_globals_ids()
    made_after = [FeedState(f"http://a.example/{i}", '"etag"') for i in range(20)]
    assert drained and not [s for s in made_after if id(vars(s)) in ids]
    assert statesize.deep_size(made_after) == statesize.beam_deep_size(made_after)
