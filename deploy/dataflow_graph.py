"""newsbeam's graph as Dataflow would receive it, translated offline, and its step names.

Consumes ``pipelines.monitor.build()`` with one ``RunConfig`` per graph variant
(``VARIANTS``). Produces:

* ``dataflow_proto()``: the portable Runner API pipeline exactly as the DataflowRunner
  would submit it: Beam's own ``DataflowRunner.run_pipeline`` with ``--dry_run``, which
  applies the Dataflow overrides and visitors, resolves environments to the Docker image
  and builds the job, then returns before staging anything or calling the service;
* ``step_names()``: the names Dataflow's in-place update matches: the top-level steps,
  and the full names of steps that keep per-key state or timers, with what each keeps
  (its state cells' names, kinds and coders; its timers);
* ``check_steps()``: the differences against the golden file ``deploy/step_names.json``
  that a ``deploy/transform_name_mapping.json`` entry does not explain, and every change
  to a stateful step's state, which no mapping can explain.

Regenerate the golden file on purpose (after adding, removing or renaming a step)::

    .venv/bin/python -m deploy.dataflow_graph --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner

from pipelines.config import RunConfig
from pipelines.monitor import build
from transforms.http import HttpConfig
from transforms.records import FeedSpec

DEPLOY_DIR = Path(__file__).resolve().parent
GOLDEN_PATH = DEPLOY_DIR / "step_names.json"
MAPPING_PATH = DEPLOY_DIR / "transform_name_mapping.json"
REGENERATE = ".venv/bin/python -m deploy.dataflow_graph --write"

PARDO_URN = "beam:transform:pardo:v1"

# Options a real launch would carry; none of them makes Beam reach the network on a dry run.
OFFLINE_ARGS = (
    "--runner=DataflowRunner",
    "--project=newsbeam-offline",
    "--region=us-central1",
    "--temp_location=gs://newsbeam-offline/temp",
    "--staging_location=gs://newsbeam-offline/staging",
    "--sdk_container_image=us-central1-docker.pkg.dev/newsbeam-offline/newsbeam/newsbeam:check",
    "--no_auth",
    "--dry_run=True",
)


def _batch_config() -> RunConfig:
    return RunConfig(
        feeds=(FeedSpec(url="https://news.example/rss"),),
        output_dir="gs://newsbeam-offline/out",
        http=HttpConfig(),
        max_in_flight=32,
        all_stories=False,
        taxonomy_path=None,
        outlets_path=None,
        min_text_chars=250,
        state_dir=None,
        local_runner=False,
    )


def _streaming_config() -> RunConfig:
    """The template's graph: always on, on Dataflow, publishing to the topics."""
    return dataclasses.replace(
        _batch_config(),
        streaming=True,
        local_runner=False,
        poll_interval=300.0,
        start_time=1_800_000_000.0,
        topic="projects/newsbeam-offline/topics/tagged-stories",
        dead_letter_topic="projects/newsbeam-offline/topics/newsbeam-dead-letters",
    )


@dataclass(frozen=True)
class Variant:
    """One shape of the graph: how to configure it and which extra flags it runs with."""

    config: Callable[[], RunConfig]
    args: tuple[str, ...] = ()


def _streaming_links_config() -> RunConfig:
    """The template with ``duplicates=link``: copies published as links (more steps)."""
    return dataclasses.replace(_streaming_config(), duplicates="link")


def _streaming_pool_config() -> RunConfig:
    """The template with ``extract_processes=2``: AnalysePages instead of the three stages."""
    return dataclasses.replace(_streaming_config(), extract_processes=2)


def _streaming_no_topics_config() -> RunConfig:
    """The template with neither ``topic`` nor ``dead_letter_topic``: no publishing steps."""
    return dataclasses.replace(_streaming_config(), topic=None, dead_letter_topic=None)


VARIANTS: dict[str, Variant] = {
    "batch": Variant(_batch_config),
    "streaming": Variant(_streaming_config, ("--streaming",)),
    # template parameters that change the graph's steps
    "streaming_links": Variant(_streaming_links_config, ("--streaming",)),
    "streaming_pool": Variant(_streaming_pool_config, ("--streaming",)),
    "streaming_no_topics": Variant(_streaming_no_topics_config, ("--streaming",)),
}


@dataclass(frozen=True)
class StepNames:
    """What Dataflow's update compatibility check matches, for one graph variant."""

    steps: tuple[str, ...]  # top-level labels, in the order build() applies them
    stateful: tuple[str, ...]  # full names of ParDos with user state or timers, sorted
    # what each stateful step keeps, "step: state cell kind coder" / "step: timer id", sorted
    state: tuple[str, ...] = ()

    def all(self) -> set[str]:
        """Every guarded name."""
        return set(self.steps) | set(self.stateful)


def dataflow_proto(
    config: RunConfig, extra_args: Sequence[str] = ()
) -> beam_runner_api_pb2.Pipeline:
    """Build the graph and translate it as the DataflowRunner would, without submitting.

    Args:
        config: what ``build()`` wires.
        extra_args: more pipeline flags (e.g. ``--streaming``).

    Returns:
        The Runner API proto the job would carry.
    """
    options = PipelineOptions([*OFFLINE_ARGS, *extra_args])
    runner = DataflowRunner()
    pipeline = beam.Pipeline(runner=runner, options=options)
    build(pipeline, config)
    pipeline.run()  # --dry_run: returns after translating, before staging or submitting
    return runner.proto_pipeline


def _is_stateful(transform: beam_runner_api_pb2.PTransform) -> bool:
    if transform.spec.urn != PARDO_URN:
        return False
    payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
    return bool(payload.state_specs or payload.timer_family_specs)


def step_names(proto: beam_runner_api_pb2.Pipeline) -> StepNames:
    """The guarded names of a translated pipeline.

    Args:
        proto: from ``dataflow_proto()``.

    Returns:
        Top-level step labels and stateful step full names.
    """
    transforms = proto.components.transforms
    top: list[str] = []
    for root_id in proto.root_transform_ids:
        root = transforms[root_id]
        # Beam wraps the user's steps in one root transform of its own.
        children = list(root.subtransforms) or [root_id]
        top.extend(transforms[c].unique_name for c in children)
    stateful = sorted(t.unique_name for t in transforms.values() if _is_stateful(t))
    state = sorted(
        line
        for t in transforms.values()
        if _is_stateful(t)
        for line in _state_of(t, proto.components)
    )
    return StepNames(tuple(top), tuple(stateful), tuple(state))


def _state_of(
    transform: beam_runner_api_pb2.PTransform, components: beam_runner_api_pb2.Components
) -> list[str]:
    """One line for the key coder, one per state cell and one per timer family of a
    stateful ParDo: what a job being updated has stored must still read the same way."""
    coders = components.coders

    def shape(coder_id: str) -> str:
        coder = coders[coder_id]
        name = coder.spec.urn.removeprefix("beam:coder:").removesuffix(":v1")
        parts = ",".join(shape(c) for c in coder.component_coder_ids)
        return f"{name}<{parts}>" if parts else name

    payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
    lines = []
    for tag, pcollection in transform.inputs.items():
        if tag not in payload.side_inputs:  # the main input: key-value pairs
            kv = coders[components.pcollections[pcollection].coder_id]
            key = shape(kv.component_coder_ids[0]) if kv.component_coder_ids else "none"
            lines.append(f"{transform.unique_name}: key {key}")
    for state_id, spec in payload.state_specs.items():
        kind = spec.WhichOneof("spec") or "unknown"
        cell = getattr(spec, kind)
        coder_ids = [
            getattr(cell, field)
            for field in ("coder_id", "element_coder_id", "key_coder_id", "value_coder_id",
                          "accumulator_coder_id")
            if getattr(cell, field, "")
        ]  # fmt: skip
        coders_text = " ".join(shape(c) for c in coder_ids)
        lines.append(f"{transform.unique_name}: state {state_id} {kind.removesuffix('_spec')} "
                     f"{coders_text}".rstrip())  # fmt: skip
    for timer_id, timer in payload.timer_family_specs.items():
        domain = beam_runner_api_pb2.TimeDomain.Enum.Name(timer.time_domain)
        lines.append(f"{transform.unique_name}: timer {timer_id} {domain}")
    return lines


def current_names() -> dict[str, StepNames]:
    """Step names of every variant, freshly translated."""
    return {
        name: step_names(dataflow_proto(variant.config(), variant.args))
        for name, variant in VARIANTS.items()
    }


def to_json(names: Mapping[str, StepNames]) -> str:
    """The golden file's text."""
    body: dict[str, object] = {
        "_comment": f"Generated by `{REGENERATE}`; see deploy/README.md, step 6.",
    }
    for variant, found in names.items():
        body[variant] = {
            "steps": list(found.steps),
            "stateful": list(found.stateful),
            "state": list(found.state),
        }
    return json.dumps(body, indent=2) + "\n"


def load_golden(path: Path = GOLDEN_PATH) -> dict[str, StepNames]:
    """Read the golden file (variants keyed by name)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {
        key: StepNames(
            tuple(value["steps"]), tuple(value["stateful"]), tuple(value.get("state", ()))
        )
        for key, value in raw.items()
        if not key.startswith("_")
    }


def load_mapping(path: Path = MAPPING_PATH) -> dict[str, str]:
    """Read the rename mapping: old name -> new name, as ``--transform_name_mapping`` takes it."""
    mapping = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValueError(f"{path}: expected a JSON object of old step name -> new step name")
    return mapping


def apply_mapping(name: str, mapping: Mapping[str, str]) -> str | None:
    """Where Dataflow's update takes ``name``: the longest mapped prefix, rewritten.

    Returns:
        The new name, ``""`` if mapped to nothing (deleted on purpose), or None if unmapped.
    """
    for old in sorted(mapping, key=len, reverse=True):
        if name == old or name.startswith(old + "/"):
            new = mapping[old]
            return new + name[len(old) :] if new else ""
    return None


def check_steps(
    golden: Mapping[str, StepNames],
    current: Mapping[str, StepNames],
    mapping: Mapping[str, str],
) -> list[str]:
    """Why the current graph could not update a job running the golden one in place.

    Returns:
        One message per problem; empty when the golden file is current.
    """
    problems: list[str] = []
    for variant in sorted(set(golden) | set(current)):
        if variant not in golden or variant not in current:
            where = "golden file" if variant not in golden else "VARIANTS"
            problems.append(f"variant {variant!r} is missing from the {where}")
            continue
        before, now = golden[variant].all(), current[variant].all()
        for old in sorted(before - now):
            new = apply_mapping(old, mapping)
            if new is None:
                problems.append(
                    f"[{variant}] step {old!r} is gone: a running job cannot be updated in "
                    f'place. Add "{old}": "<new name>" (or "" if removed on purpose) to '
                    f"deploy/transform_name_mapping.json"
                )
            elif new and new not in now:
                problems.append(
                    f"[{variant}] the mapping sends {old!r} to {new!r}, which is not a step"
                )
        for kept in sorted(set(mapping) & now):
            problems.append(
                f"[{variant}] {kept!r} is still a step but is also a key of the rename mapping"
            )
        problems.extend(_state_changes(variant, golden[variant], current[variant], mapping))
        if before != now:
            added = sorted(now - before)
            problems.append(
                f"[{variant}] the golden file is out of date (new: {added}); "
                f"regenerate it with `{REGENERATE}`"
            )
    return problems


def _state_changes(
    variant: str, golden: StepNames, current: StepNames, mapping: Mapping[str, str]
) -> list[str]:
    """A change to what a stateful step of both graphs keeps (under its new name, if the
    mapping renames it): an update hands the running job's state to the new code."""

    def of(names: StepNames, step: str) -> set[str]:
        return {line[len(step) + 2 :] for line in names.state if line.startswith(step + ": ")}

    problems = []
    for step in golden.stateful:
        now = step if step in current.stateful else apply_mapping(step, mapping)
        if not now or now not in current.stateful:
            continue  # gone or removed on purpose: check_steps reports it
        gone, new = of(golden, step) - of(current, now), of(current, now) - of(golden, step)
        if gone or new:
            problems.append(
                f"[{variant}] the state of {now!r} changed (was {sorted(gone)}, now "
                f"{sorted(new)}): an update carries the running job's state into the new "
                "code, which must read it (or Dataflow refuses the update; then drain and "
                f"relaunch, deploy/README.md); when that is handled, regenerate `{REGENERATE}`"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Print the step names, check them against the golden file, or rewrite it."""
    parser = argparse.ArgumentParser(prog="python -m deploy.dataflow_graph", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"rewrite {GOLDEN_PATH.name}")
    args = parser.parse_args(argv)
    names = current_names()
    if args.write:
        GOLDEN_PATH.write_text(to_json(names), encoding="utf-8")
        print(f"wrote {GOLDEN_PATH}")
        return 0
    problems = check_steps(load_golden(), names, load_mapping())
    print("\n".join(problems) or "step names match the golden file")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
