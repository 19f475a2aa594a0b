"""The real-time core stays small: importing it loads no history caches (numpy, the
YATA code) and no SQL (SQLAlchemy). Checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_real_time_core_loads_neither_numpy_nor_sqlalchemy() -> None:
    probe = (
        "import sys, sync.manager, sync.room; "
        "print(sorted(m for m in ('numpy', 'sqlalchemy', 'storage.texthistory.cache', "
        "'storage.texthistory.timeline') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
