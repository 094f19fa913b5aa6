#!/usr/bin/env bash
# Set up on a fresh machine and start the service with its embedded defaults:
# SQLite metadata and artifacts under var/, in-process job workers, and the
# demo datasets, models and checkpoint series registered. Extra arguments go
# to `explainer serve`. Both training scripts skip the training when their
# outputs exist.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
.venv/bin/python datasets/train_demo_models.py --output var/demo-models
.venv/bin/python datasets/train_checkpoints.py --output var/demo-models/checkpoints
exec .venv/bin/explainer serve --data-dir var/service --demo-models var/demo-models "$@"
