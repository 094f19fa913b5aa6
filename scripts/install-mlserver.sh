#!/usr/bin/env bash
# Create .venv-mlserver with MLServer and its scikit-learn runtime, for the
# tests and the benchmark that explain a model served over the Open Inference
# Protocol. MLServer gets a virtual environment of its own because its
# dependencies (protobuf<7 among them) conflict with the project's.
#
# scikit-learn and skops are installed at the versions pinned in
# requirements/constraints.txt, so that a model trained in .venv-mlserver
# loads in .venv with the same code and predicts the same.
#
# Safe to run again: it skips the install when the stamp file records the same
# versions. Prints the environment's Python interpreter on standard output.
set -euo pipefail
cd "$(dirname "$0")/.."

mlserver_version=1.7.1
venv=.venv-mlserver
python=${PYTHON:-python3}

pinned() {
    local version
    version=$(grep -i "^$1==" requirements/constraints.txt | cut -d= -f3)
    if [ -z "$version" ]; then
        echo "install-mlserver: requirements/constraints.txt does not pin $1." >&2
        exit 1
    fi
    echo "$version"
}

packages=(
    "mlserver==$mlserver_version"
    "mlserver-sklearn==$mlserver_version"
    "scikit-learn==$(pinned scikit-learn)"
    "skops==$(pinned skops)"
)

stamp=$venv/.installed
wanted="${packages[*]}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if [ ! -x "$venv/bin/python" ]; then
        echo "install-mlserver: creating $venv" >&2
        "$python" -m venv "$venv"
    fi
    echo "install-mlserver: installing ${packages[*]} into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}" >&2
    echo "$wanted" > "$stamp"
fi
echo "$PWD/$venv/bin/python"
