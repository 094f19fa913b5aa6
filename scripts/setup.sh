#!/usr/bin/env bash
# Create .venv and install the project into it, with the versions pinned in
# requirements/constraints.txt. Safe to run again: it skips the install when
# neither pyproject.toml nor the constraints changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: Python 3.11 or newer is required; $python is $("$python" --version 2>&1)." >&2
    echo "setup: set PYTHON to a newer interpreter, for example PYTHON=python3.11." >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$python" -m venv .venv
fi

stamp=.venv/.installed
wanted=$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "setup: installing dependencies into .venv" >&2
    pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
    # torch goes first and exactly at 2.13.0: that is the CPU build. Any looser
    # request made by a later package would pull a CUDA build of several GB.
    "${pip[@]}" torch==2.13.0
    "${pip[@]}" -c requirements/constraints.txt -e ".[test]"
    echo "$wanted" > "$stamp"
fi
