#!/usr/bin/env bash
# Installs what the benchmark needs: the load generator's and the Node peers' npm
# packages (from the lockfiles, exact versions) and the chart's Python packages (into the
# project's .venv). samepage itself and pycrdt-websocket come with the project
# (`pip install -e .`, done by scripts/test.sh or scripts/serve.sh).
set -euo pipefail
cd "$(dirname "$0")"
for dir in . peers/ref; do
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
../.venv/bin/pip install -q -r requirements.txt
