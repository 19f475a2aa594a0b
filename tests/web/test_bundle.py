"""The committed bundle in web/static/ is exactly what the lockfile and the source build."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.browser.node import FRONTEND, ROOT, node_or_skip

STATIC = ROOT / "web" / "static"


def _digests(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_committed_bundle_matches_a_fresh_build(tmp_path: Path) -> None:
    """Rebuild from web/frontend into a temp dir; every file must be byte-identical."""
    node = node_or_skip()
    out = tmp_path / "static"
    result = subprocess.run(
        [node, "build.mjs", "--outdir", str(out)],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    fresh, committed = _digests(out), _digests(STATIC)
    assert fresh == committed, (
        "web/static/ is stale: run `npm run build` in web/frontend and commit web/static/ "
        f"(differs: {sorted(set(fresh.items()) ^ set(committed.items()))})"
    )


def test_bundle_ships_its_licences() -> None:
    """Every bundled package is named in THIRD_PARTY_LICENSES.txt."""
    licences = (STATIC / "THIRD_PARTY_LICENSES.txt").read_text(encoding="utf-8")
    for package in ("yjs", "y-websocket", "y-codemirror.next", "y-indexeddb", "@codemirror/view"):
        assert f"\n{package} " in licences
