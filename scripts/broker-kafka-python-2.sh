#!/usr/bin/env bash
# Runs the broker's kafka-python interop tests with kafka-python 2.3.x, in a venv of its
# own (.venvs/kafka-python-2) since the main venv pins 3.x. Rebuilt when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV_KAFKA_PYTHON_2:-.venvs/kafka-python-2}
python=${PYTHON:-python3}
requirements=Tests/Interop/requirements-kafka-python-2.txt
stamp="$venv/.causeway-stamp"
want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.executable, sys.version)'; } | sha256sum | cut -d' ' -f1)

if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "venv: creating $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi

CAUSEWAY_BIN=${CAUSEWAY_BIN:-${SCRATCH:-.build}/debug/causeway} \
    "$venv/bin/python" -m pytest Tests/Interop/test_broker_kafka_python.py -q -rfEsx -p no:cacheprovider
