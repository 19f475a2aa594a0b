"""Node.js and web/frontend/node_modules for the front-end checks: skip outside CI, fail in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "web" / "frontend"


def in_ci() -> bool:
    """CI=true (or any value but empty/0/false): required checks must run, not skip."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def node_or_skip() -> str:
    """The `node` binary, once `npm ci` has installed web/frontend's packages."""
    node = shutil.which("node")
    if node is None:
        missing = "node is not installed"
    elif not (FRONTEND / "node_modules" / ".bin" / "esbuild").exists():
        missing = "web/frontend/node_modules is missing (run `npm ci` in web/frontend)"
    else:
        return node
    if in_ci():
        pytest.fail(f"{missing}; the front-end checks must run in CI")
    print(f"SKIP front-end check: {missing}")
    pytest.skip(missing)
