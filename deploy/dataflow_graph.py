"""newsbeam's graph as Dataflow would receive it, translated offline, and its step names.

Consumes ``pipelines.monitor.build()`` with one ``RunConfig`` per graph variant
(``VARIANTS``). Produces:

* ``dataflow_proto()``: the portable Runner API pipeline exactly as the DataflowRunner
  would submit it: Beam's own ``DataflowRunner.run_pipeline`` with ``--dry_run``, which
  applies the Dataflow overrides and visitors, resolves environments to the Docker image
  and builds the job, then returns before staging anything or calling the service;
* ``step_names()``: the names Dataflow's in-place update matches: the top-level steps,
  and the full names of steps that keep per-key state or timers;
* ``check_steps()``: the differences against the golden file ``deploy/step_names.json``
  that a ``deploy/transform_name_mapping.json`` entry does not explain.

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


VARIANTS: dict[str, Variant] = {
    "batch": Variant(_batch_config),
    "streaming": Variant(_streaming_config, ("--streaming",)),
    # template parameters that change the graph's steps
    "streaming_links": Variant(_streaming_links_config, ("--streaming",)),
    "streaming_pool": Variant(_streaming_pool_config, ("--streaming",)),
}


@dataclass(frozen=True)
class StepNames:
    """What Dataflow's update compatibility check matches, for one graph variant."""

    steps: tuple[str, ...]  # top-level labels, in the order build() applies them
    stateful: tuple[str, ...]  # full names of ParDos with user state or timers, sorted

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
    return StepNames(tuple(top), tuple(stateful))


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
        body[variant] = {"steps": list(found.steps), "stateful": list(found.stateful)}
    return json.dumps(body, indent=2) + "\n"


def load_golden(path: Path = GOLDEN_PATH) -> dict[str, StepNames]:
    """Read the golden file (variants keyed by name)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {
        key: StepNames(tuple(value["steps"]), tuple(value["stateful"]))
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
        if before != now:
            added = sorted(now - before)
            problems.append(
                f"[{variant}] the golden file is out of date (new: {added}); "
                f"regenerate it with `{REGENERATE}`"
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
