#!/usr/bin/env bash
# One command to install and run samepage (SQLite by default, no other service needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q .
exec .venv/bin/samepage serve "$@"
