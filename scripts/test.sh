#!/usr/bin/env bash
# Set up on a fresh machine and run the whole test suite. Extra arguments go
# to pytest, for example `scripts/test.sh -k shap -x`. The tests start their
# own Redis and PostgreSQL servers, which install-services.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/install-services.sh
.venv/bin/python datasets/train_demo_models.py --output var/demo-models
.venv/bin/python datasets/train_checkpoints.py --output var/demo-models/checkpoints
exec .venv/bin/python -m pytest "$@"
