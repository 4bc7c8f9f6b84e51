#!/bin/sh
# The serving-only install (no torch, transformers or scikit-learn): headstart without its dependencies, then
# pyproject.toml's `serve` extra. `headstart serve` and `headstart predict --runtime onnx` run on it; other commands
# say they need the full install. Used by the Dockerfile and bench/serve_install.py.
#   PYTHON=/path/to/venv/bin/python sh tools/install_serve.sh [SOURCE_DIR]
set -eu
PYTHON="${PYTHON:-python3}"
SOURCE="${1:-.}"
REQUIREMENTS="$(mktemp)"
"$PYTHON" -c 'import sys, tomllib
extras = tomllib.load(open(sys.argv[1] + "/pyproject.toml", "rb"))["project"]["optional-dependencies"]
print("\n".join(extras["serve"]))' "$SOURCE" > "$REQUIREMENTS"
"$PYTHON" -m pip install --no-cache-dir -q -r "$REQUIREMENTS"
"$PYTHON" -m pip install --no-cache-dir -q --no-deps "$SOURCE"
rm -f "$REQUIREMENTS"
