#!/usr/bin/env bash
# The one test command: installs everything the suite needs, starts the services it
# uses when they are not running, then runs the whole suite (lint, types, tests).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'

# npm packages for the interop tests, the front-end bundle check and the browser tests.
for dir in tests/interop web/frontend; do
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# Debian's chromium for the browser tests (Playwright drives it via executable_path).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "chromium missing and not root: browser tests will skip (outside CI) or fail (in CI)"
  fi
fi

# Debian's nginx (and openssl for a test certificate) for the reverse-proxy test
# (tests/deploy/test_nginx.py) and bench s7.
if ! { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1 || ! command -v openssl >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx openssl >/dev/null
  else
    echo "nginx missing and not root: the proxy test will skip (outside CI) or fail (in CI)"
  fi
fi

# Services used by the multi-node tests.
if command -v redis-cli >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
fi

.venv/bin/ruff check sync storage web tests bench
.venv/bin/ruff format --check sync storage web tests bench
.venv/bin/mypy
exec .venv/bin/pytest "$@"
