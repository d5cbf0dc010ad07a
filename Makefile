# newsbeam: `make demo` and `make test` are all a fresh machine needs.
# Each creates or reuses .venv, upgrades pip there, installs the project, then runs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help venv demo test lint typecheck bench-quality bench-tagging bench-tagging-streams bench-dedup bench-fetch bench-large-pages bench-latency bench-throughput clean
.DEFAULT_GOAL := help

# `make` alone, or `make help`: every target with the text after its `##`.
help:
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  make %-22s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# Every package the Dataflow image installs is installed here at the version the image has:
# deploy/requirements.lock, with its hashes dropped, is the constraints file (pip cannot
# hash-check an editable install). tests/test_deploy.py fails where the two differ.
# scripts/ensure-venv installs; it runs again only when what it installs from has changed
# since (the stamp), so that a run needs no package index once installed.
STAMP := $(VENV)/.installed

venv: $(STAMP)  ## create or update .venv with the project and its pinned dependencies

$(STAMP): pyproject.toml deploy/requirements.lock scripts/ensure-venv
	@scripts/ensure-venv $(VENV) $(PYTHON)
	@touch $@

demo: venv  ## run the pipeline offline on the bundled sample news site (out/demo)
	$(BIN)/newsbeam demo

test: venv  ## run the tests (PYTEST_ARGS=... passes arguments to pytest)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv  ## ruff check and ruff format --check
	$(BIN)/ruff check pipelines transforms tests benchmarks deploy tools
	$(BIN)/ruff format --check pipelines transforms tests benchmarks deploy tools

typecheck: venv  ## mypy over the code, benchmarks and tests
	$(BIN)/mypy pipelines transforms benchmarks deploy tests

bench-quality: venv  ## extraction quality on the Zyte pages (needs ../shared/corpus)
	$(BIN)/python -m benchmarks.extraction_quality

bench-tagging: venv  ## tagging accuracy on the labelled dev set (needs ../shared/corpus)
	$(BIN)/python -m benchmarks.tagging_eval

bench-tagging-streams: venv  ## tagging at volume on unlabelled streams (needs ../shared/corpus)
	$(BIN)/python -m benchmarks.tagging_streams

bench-dedup: venv  ## duplicate detection scores (needs ../shared/corpus)
	$(BIN)/python -m benchmarks.dedup_eval

bench-fetch: venv  ## fetching concurrency against a slow loopback site
	$(BIN)/python -m benchmarks.fetch_concurrency

bench-large-pages: venv  ## cost and limits on very large pages
	$(BIN)/python -m benchmarks.large_pages

bench-latency: venv  ## time from a feed entry to its published story
	$(BIN)/python -m benchmarks.latency

# newspaper4k (the `bench` extra) is installed at its pinned version, every dependency it
# shares with newsbeam held at the lock's, so that what the tests run is unchanged.
bench-throughput: venv  ## end-to-end speed against the ceiling and other tools, ~12 min (BENCH_ARGS=...)
	@$(BIN)/python -c 'import newspaper' 2>/dev/null || \
	  PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet \
	    --no-build-isolation --constraint $(VENV)/constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.throughput $(BENCH_ARGS)

clean:  ## remove out/, build files and tool caches (not .venv)
	rm -rf out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

# --- Dataflow (deploy/README.md): build the image + Flex Template, then run or update the job.
# Every variable is listed in deploy/README.md ("The Makefile's variables"). Nothing runs
# until every check passes; each refusal names the variable:
# * PROJECT, REGION, BUCKET, REPOSITORY (and FEEDS for deploy) must be set: all the missing
#   ones are named at once;
# * TAG is HEAD's short commit hash. Given on make's command line (make template TAG=v2) it
#   is used as given; exported, it must be HEAD's hash: a TAG exported before a new commit
#   would build the new code under the running job's tag;
# * IMAGE and TEMPLATE are derived from TAG; one set to anything else is refused;
# * make template refuses uncommitted changes (untracked files included) in IMAGE_INPUTS,
#   what the image and the template are built from, so a tag always names one commit;
# * UPDATE is 1, true or yes (update the running job JOB in place) or 0, false, no or
#   empty (launch a new job);
# * PARAMETERS (name=value,name=value: more template parameters) and GCLOUD_FLAGS (more
#   gcloud flags, e.g. --max-workers=4) are passed through as written, with or without
#   UPDATE; PARAMETERS may not set what the Makefile already passes.
.PHONY: template deploy
comma := ,
missing = $(strip $(foreach v,$(1),$(if $(strip $($(v))),,$(v))))
require = $(if $(call missing,$(1)),$(error not set: $(call missing,$(1)) (export each; see deploy/README.md, "The Makefile's variables")))
differ = $(filter-out $(1),$(2))$(filter-out $(2),$(1))
BEAM_VERSION = $(shell sed -n 's/.*"apache-beam\[gcp\]==\([^"]*\)".*/\1/p' pyproject.toml)
HEAD_TAG = $(shell git rev-parse --short HEAD 2>/dev/null)
IMAGE_INPUTS = pyproject.toml README.md LICENSE LICENSES pipelines transforms deploy/main.py \
  deploy/requirements.lock deploy/Dockerfile deploy/Dockerfile.dockerignore \
  deploy/cloudbuild.yaml deploy/metadata.json
check_tag = $(if $(filter environment%,$(origin TAG)),$(if $(call differ,$(HEAD_TAG),$(TAG)),$(error TAG=$(TAG) is exported but HEAD is $(HEAD_TAG): unset TAG (make uses HEAD's hash), or give a tag of your own on the command line: make $@ TAG=<tag>)))
check_derived = $(foreach v,IMAGE TEMPLATE,$(if $(call differ,$($(v)_FOR_TAG),$($(v))),$(error $(v)=$($(v)) does not match TAG=$(TAG) (expected $($(v)_FOR_TAG)): unset $(v); make derives it from TAG)))
refuse_dirty = $(if $(1),$(error uncommitted changes in what the image is built from: $(1) (git status --porcelain). Commit or stash them first, so that the tag names exactly the code it holds))
check_clean = $(call refuse_dirty,$(shell git status --porcelain -- $(IMAGE_INPUTS) 2>&1))
UPDATE_YES := 1 true yes
UPDATE_NO := 0 false no
update = $(if $(word 2,$(UPDATE)),$(error UPDATE=$(UPDATE): expected one word),$(if $(filter $(UPDATE_YES),$(UPDATE)),yes,$(if $(filter-out $(UPDATE_NO),$(UPDATE)),$(error UPDATE=$(UPDATE): expected 1, true or yes (update the running job in place) or 0, false, no or empty (launch a new job)))))
MAKE_PARAMETERS := sdk_container_image feeds output topic dead_letter_topic
parameter_names = $(foreach p,$(subst $(comma), ,$(PARAMETERS)),$(firstword $(subst =, ,$(p))))
check_parameters = $(if $(filter $(MAKE_PARAMETERS),$(parameter_names)),$(error PARAMETERS sets $(filter $(MAKE_PARAMETERS),$(parameter_names)), which make deploy already passes: use FEEDS, OUTPUT, TOPIC, DEAD_LETTER_TOPIC or TAG instead))
TAG ?= $(HEAD_TAG)
LAUNCHER_TAG ?= latest
IMAGE_FOR_TAG = $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPOSITORY)/newsbeam:$(TAG)
TEMPLATE_FOR_TAG = gs://$(BUCKET)/templates/newsbeam-$(TAG).json
IMAGE ?= $(IMAGE_FOR_TAG)
TEMPLATE ?= $(TEMPLATE_FOR_TAG)
JOB ?= newsbeam
TOPIC ?= projects/$(PROJECT)/topics/tagged-stories
DEAD_LETTER_TOPIC ?= projects/$(PROJECT)/topics/newsbeam-dead-letters
OUTPUT ?= gs://$(BUCKET)/out
SERVICE_ACCOUNT ?= newsbeam-worker@$(PROJECT).iam.gserviceaccount.com
PARAMETERS ?=
GCLOUD_FLAGS ?=
NAME_MAPPING = $(shell $(PYTHON) -c 'import json; print(",".join(f"{k}={v}" for k, v in json.load(open("deploy/transform_name_mapping.json")).items()))')

template:  ## build the Dataflow image and Flex Template (deploy/README.md)
	$(call require,PROJECT REGION BUCKET REPOSITORY BEAM_VERSION TAG)$(check_tag)$(check_derived)$(check_clean)
	gcloud builds submit . --project $(PROJECT) --config deploy/cloudbuild.yaml \
	  --substitutions=_IMAGE=$(IMAGE),_BEAM_VERSION=$(BEAM_VERSION),_LAUNCHER_TAG=$(LAUNCHER_TAG)
	gcloud dataflow flex-template build $(TEMPLATE) --project $(PROJECT) \
	  --image $(IMAGE) --sdk-language PYTHON --metadata-file deploy/metadata.json
	@echo "template: $(TEMPLATE)  image: $(IMAGE)"

deploy:  ## launch or update the Dataflow job from the template (deploy/README.md)
	$(call require,PROJECT REGION BUCKET REPOSITORY FEEDS TAG)$(check_tag)$(check_derived)$(check_parameters)$(if $(update),)
	gcloud dataflow flex-template run $(JOB) --project $(PROJECT) --region $(REGION) \
	  --template-file-gcs-location $(TEMPLATE) \
	  --service-account-email $(SERVICE_ACCOUNT) \
	  --staging-location gs://$(BUCKET)/staging --temp-location gs://$(BUCKET)/temp \
	  --parameters sdk_container_image=$(IMAGE) \
	  --parameters feeds=$(FEEDS),output=$(OUTPUT),topic=$(TOPIC),dead_letter_topic=$(DEAD_LETTER_TOPIC) \
	  $(if $(strip $(PARAMETERS)),--parameters $(strip $(PARAMETERS))) $(GCLOUD_FLAGS) \
	  $(if $(update),--update $(if $(NAME_MAPPING),--transform-name-mappings=$(NAME_MAPPING)))
