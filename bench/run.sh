#!/usr/bin/env bash
# The one command: set up, then run every scenario against every server.
#   bench/run.sh            full run (about 15 minutes)
#   bench/run.sh --quick    short ramps, for iterating
# Other flags go to `python -m bench` (--scenarios s1,s3 --servers samepage,reference).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "no .venv: run ./scripts/test.sh or ./scripts/serve.sh first" >&2
  exit 2
fi
bench/setup.sh
exec .venv/bin/python -m bench "$@"
