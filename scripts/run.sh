#!/usr/bin/env bash
# The main job on its embedded defaults (no API key, no data download): compile the shipped
# specs, check them with Z3, generate their workloads and holdouts, and validate the shipped
# baseline policies (with their gap to the proven optima of tiny instances).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
adrs-spec compile specs/eplb.adrs specs/placement.adrs specs/txn_scheduling.adrs
adrs-spec check specs/eplb.adrs specs/placement.adrs specs/txn_scheduling.adrs
adrs-spec workloads specs/eplb.adrs --out data/eplb --seed 0
adrs-spec workloads specs/placement.adrs --out data/placement --seed 0
adrs-spec validate specs/eplb.adrs specs/eplb/policies/round_robin.py --holdout
adrs-spec validate specs/eplb.adrs specs/eplb/policies/deepseek.py --array torch --holdout
adrs-spec validate specs/placement.adrs specs/placement/policies/greedy.py --holdout
adrs-spec validate specs/txn_scheduling.adrs specs/txn_scheduling/policies/greedy.py --holdout
# A short search with the built-in mutator (no API key): the summary compares the initial and
# best programs, and the shipped baselines, on the training and holdout sets.
rm -rf runs/run-sh-placement
adrs-spec evolve specs/placement.adrs --initial specs/placement/policies/round_robin.py --iterations 60 \
  --seed 0 --run-dir runs/run-sh-placement
