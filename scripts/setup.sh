#!/usr/bin/env bash
# Creates .venv (if missing) and installs adrs-spec with its test extras and a CPU torch.
# torch is only needed for policies written against the public torch interface.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]' 'torch==2.13.0'
