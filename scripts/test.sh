#!/usr/bin/env bash
# Sets up .venv and runs the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
JAX_PLATFORMS=cpu python -m pytest -q "$@"
