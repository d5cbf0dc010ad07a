#!/usr/bin/env bash
# Regenerate deploy/requirements.lock: every package the image installs, pinned with hashes,
# resolved from pyproject.toml's dependencies plus deploy/launch-requirements.in.
# Run it from the repository root with Python 3.11 on Linux x86_64 (the image's platform)
# whenever pyproject.toml's dependencies change; tests/test_deploy.py fails until you do.
#
#   bash deploy/lock.sh                      # resolve freely
#   bash deploy/lock.sh image-freeze.txt     # prefer the Beam image's own versions, from
#       docker run --rm --entrypoint pip apache/beam_python3.11_sdk:VERSION freeze > image-freeze.txt
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3.11 -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet pip-tools
constraint=()
if [ $# -gt 0 ]; then constraint=(--constraint "$1"); fi
"$tools/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links "${constraint[@]}" \
    --output-file deploy/requirements.lock pyproject.toml deploy/launch-requirements.in
