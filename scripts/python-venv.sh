#!/usr/bin/env bash
# Creates .venv with the pinned interop test packages. The venv is rebuilt whenever
# requirements.txt or the interpreter changes: the stamp holds a hash of both.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${VENV:-.venv}
python=${PYTHON:-python3}
requirements=Tests/Interop/requirements.txt
stamp="$venv/.causeway-stamp"

want=$( { cat "$requirements"; "$python" -c 'import sys; print(sys.executable, sys.version)'; } | sha256sum | cut -d' ' -f1)

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "venv: $venv is up to date"
    exit 0
fi

echo "venv: creating $venv with $("$python" --version)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"

# The interop tests and the upb benchmark measure the C parser, never the pure-Python one.
backend=$("$venv/bin/python" -c 'from google.protobuf.internal import api_implementation; print(api_implementation.Type())')
if [[ "$backend" != "upb" ]]; then
    echo "venv: protobuf backend is '$backend', expected 'upb'" >&2
    exit 1
fi
echo "$want" > "$stamp"
echo "venv: ready (protobuf backend: $backend)"
