"""The graph as Dataflow would receive it, translated offline, and its stable step names.

Uses ``deploy.dataflow_graph``: Beam's own ``DataflowRunner`` with ``--dry_run`` applies
the Dataflow overrides and builds the job, then returns before staging or submitting.
A socket guard proves that nothing reaches beyond loopback while it does.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from deploy import dataflow_graph as dg

REPO = Path(__file__).resolve().parents[1]
OUR_SOURCES = {p.name for d in ("pipelines", "transforms") for p in (REPO / d).rglob("*.py")}

# Leaf (primitive) transforms the Dataflow runner v2 executes. Anything else, such as
# TestStream or the DirectRunner's private primitives, would be refused at submission.
DATAFLOW_PRIMITIVES = {
    common_urns.primitives.IMPULSE.urn,
    common_urns.primitives.PAR_DO.urn,
    common_urns.primitives.FLATTEN.urn,
    common_urns.primitives.GROUP_BY_KEY.urn,
    common_urns.primitives.ASSIGN_WINDOWS.urn,
    common_urns.composites.RESHUFFLE.urn,
    common_urns.composites.COMBINE_PER_KEY.urn,
    common_urns.composites.COMBINE_GLOBALLY.urn,
    common_urns.combine_components.COMBINE_PER_KEY_PRECOMBINE.urn,
    common_urns.combine_components.COMBINE_PER_KEY_MERGE_ACCUMULATORS.urn,
    common_urns.combine_components.COMBINE_PER_KEY_EXTRACT_OUTPUTS.urn,
    common_urns.sdf_components.PAIR_WITH_RESTRICTION.urn,
    common_urns.sdf_components.SPLIT_AND_SIZE_RESTRICTIONS.urn,
    common_urns.sdf_components.PROCESS_SIZED_ELEMENTS_AND_RESTRICTIONS.urn,
    common_urns.sdf_components.TRUNCATE_SIZED_RESTRICTION.urn,
    common_urns.requirements.REQUIRES_STATEFUL_PROCESSING.urn,
}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and record) every connection or name lookup beyond loopback."""
    attempts: list[str] = []
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (host.startswith("127.") or host in ("::1", "localhost") or host.startswith("/")):
            attempts.append(f"connect {address}")
            raise OSError(f"test refused a connection to {address}")
        return real_connect(sock, address)

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost", "127.0.0.1", "::1"):
            attempts.append(f"lookup {host}")
            raise socket.gaierror(f"test refused a name lookup of {host}")
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield attempts


_TRANSLATED: dict[str, beam_runner_api_pb2.Pipeline] = {}


@pytest.fixture(params=sorted(dg.VARIANTS))
def translated(request: pytest.FixtureRequest, no_network: list[str]) -> Any:
    """(variant name, Dataflow proto), translated with the network refused: once per
    variant in a test session (each translation takes seconds); tests only read it."""
    if request.param not in _TRANSLATED:
        variant = dg.VARIANTS[request.param]
        _TRANSLATED[request.param] = dg.dataflow_proto(variant.config(), variant.args)
        assert no_network == [], f"the dry run reached for the network: {no_network}"
    return request.param, _TRANSLATED[request.param]


def test_translation_targets_the_image_and_only_dataflow_primitives(translated: Any) -> None:
    _, proto = translated
    transforms = proto.components.transforms
    # A composite that returns its input unchanged (Beam's Create/MaybeReshuffle for one
    # element) has no subtransforms and nothing to execute: it is not a leaf.
    leaves = {
        t.unique_name: t.spec.urn
        for t in transforms.values()
        if not t.subtransforms and set(t.outputs.values()) != set(t.inputs.values())
    }
    refused = {name: urn for name, urn in leaves.items() if urn not in DATAFLOW_PRIMITIVES}
    assert not refused, f"transforms Dataflow does not execute: {refused}"
    assert leaves, "the translated graph has no steps"
    docker = common_urns.environments.DOCKER.urn
    for env_id, env in proto.components.environments.items():
        assert env.urn == docker, f"environment {env_id} is {env.urn}, not a Docker image"
        image = beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image
        assert f"--sdk_container_image={image}" in dg.OFFLINE_ARGS


def test_every_step_has_a_unique_stable_label(translated: Any) -> None:
    _, proto = translated
    names = [t.unique_name for t in proto.components.transforms.values()]
    assert len(names) == len(set(names)), "two transforms share a full label"
    unstable = [
        n
        for n in names
        if re.search(r"at 0x[0-9a-f]+", n)
        or any(m.group(1) in OUR_SOURCES for m in re.finditer(r"<lambda at ([\w.]+):\d+>", n))
    ]
    assert not unstable, f"labels that change with the code's line numbers or memory: {unstable}"
    top = dg.step_names(proto).steps
    camel = [s for s in top if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", s)]
    assert not camel, f"top-level steps need explicit CamelCase labels: {camel}"


def test_step_names_match_the_golden_file_or_a_documented_rename(translated: Any) -> None:
    variant, proto = translated
    golden = dg.load_golden()
    assert variant in golden, f"variant {variant!r} is not in the golden file: {dg.REGENERATE}"
    problems = dg.check_steps(
        {variant: golden[variant]}, {variant: dg.step_names(proto)}, dg.load_mapping()
    )
    assert not problems, "\n".join(problems)


def test_on_dataflow_each_host_is_fetched_by_a_stateful_step(translated: Any) -> None:
    # Keyed by host, a host's fetches run in one place at a time on Dataflow, so the per-host
    # limits hold for the job and not once per worker process (tests/test_fetch.py shows why).
    _, proto = translated
    stateful = dg.step_names(proto).stateful
    assert [s for s in stateful if s.startswith("FetchArticles/")] == [
        "FetchArticles/FetchPerHost/ParDo(_FetchPerHostFn)"
    ]


def test_golden_file_has_every_variant_and_nothing_more() -> None:
    assert set(dg.load_golden()) == set(dg.VARIANTS), f"regenerate with `{dg.REGENERATE}`"


# --- check_steps: the rename rules themselves, on made-up names --------------------------

OLD = {"v": dg.StepNames(("ReadFeeds", "Tag"), ("ReadFeeds/Poll/ParDo(_PollFn)",))}


def test_a_renamed_step_without_a_mapping_entry_is_reported_with_the_fix() -> None:
    new = {"v": dg.StepNames(("PollFeeds", "Tag"), ("PollFeeds/Poll/ParDo(_PollFn)",))}
    problems = dg.check_steps(OLD, new, {})
    assert any("'ReadFeeds' is gone" in p and "transform_name_mapping" in p for p in problems)
    assert any("'ReadFeeds/Poll/ParDo(_PollFn)' is gone" in p for p in problems)
    assert any(dg.REGENERATE in p for p in problems)


def test_a_mapped_composite_also_carries_its_stateful_steps() -> None:
    new = {"v": dg.StepNames(("PollFeeds", "Tag"), ("PollFeeds/Poll/ParDo(_PollFn)",))}
    problems = dg.check_steps(OLD, new, {"ReadFeeds": "PollFeeds"})
    assert all("is gone" not in p for p in problems)
    assert any("golden file is out of date" in p for p in problems)
    assert dg.check_steps(new, new, {"ReadFeeds": "PollFeeds"}) == []


def test_a_mapping_to_a_missing_step_or_of_a_live_step_is_reported() -> None:
    new = {"v": dg.StepNames(("PollFeeds", "Tag"), ("PollFeeds/Poll/ParDo(_PollFn)",))}
    wrong_target = dg.check_steps(OLD, new, {"ReadFeeds": "Polls"})
    assert any("not a step" in p for p in wrong_target)
    live_key = dg.check_steps(new, new, {"Tag": "TagStories"})
    assert any("'Tag' is still a step" in p for p in live_key)


def test_a_deliberately_removed_step_maps_to_nothing() -> None:
    new = {"v": dg.StepNames(("Tag",), ())}
    problems = dg.check_steps(OLD, new, {"ReadFeeds": ""})
    assert all("is gone" not in p for p in problems)


def test_the_template_without_topics_has_no_publishing_steps_and_the_same_state() -> None:
    golden = dg.load_golden()
    bare, full = golden["streaming_no_topics"], golden["streaming"]
    assert "PublishStories" in full.steps and "PublishStories" not in bare.steps
    assert set(bare.steps) < set(full.steps)
    assert (bare.stateful, bare.state) == (full.stateful, full.state)


# --- the state a stateful step keeps ------------------------------------------------------

POLL = "PollFeeds/Poll/ParDo(_PollFn)"
KEPT = (f"{POLL}: key string_utf8", f"{POLL}: state feed_state read_modify_write pickled_python")
STATEFUL = {"v": dg.StepNames(("PollFeeds",), (POLL,), KEPT)}


def test_a_changed_state_cell_timer_or_key_of_a_kept_step_is_reported() -> None:
    for changed in (
        (*KEPT, f"{POLL}: state listing read_modify_write pickled_python"),  # a new cell
        (KEPT[0], f"{POLL}: state feeds read_modify_write pickled_python"),  # renamed
        (KEPT[0], f"{POLL}: state feed_state bag pickled_python"),  # another kind
        (f"{POLL}: key bytes", KEPT[1]),  # another key coder
        (*KEPT, f"{POLL}: timer ts-expiry EVENT_TIME"),  # a timer
    ):
        new = {"v": dg.StepNames(("PollFeeds",), (POLL,), changed)}
        problems = dg.check_steps(STATEFUL, new, {})
        assert len(problems) == 1 and f"the state of {POLL!r} changed" in problems[0]
        assert dg.REGENERATE in problems[0]
    assert dg.check_steps(STATEFUL, STATEFUL, {}) == []


def test_a_renamed_stateful_step_is_compared_under_its_new_name() -> None:
    moved = "ReadFeeds/Poll/ParDo(_PollFn)"
    renamed = tuple(line.replace(POLL, moved) for line in KEPT)
    new = {"v": dg.StepNames(("ReadFeeds",), (moved,), renamed)}
    mapping = {"PollFeeds": "ReadFeeds"}
    assert not any("state of" in p for p in dg.check_steps(STATEFUL, new, mapping))
    other = {
        "v": dg.StepNames(("ReadFeeds",), (moved,), (*renamed, f"{moved}: timer t EVENT_TIME"))
    }
    assert any(
        f"the state of {moved!r} changed" in p for p in dg.check_steps(STATEFUL, other, mapping)
    )
