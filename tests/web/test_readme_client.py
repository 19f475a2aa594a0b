"""The README's Python client example, taken from README.md itself, pasted into a file
and run against a live server: it exits only after the server stored its edit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.server import ROOT, ServerProcess


def readme_python_client() -> str:
    """The ```python block of the README's API section (the one using `Provider`)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- section:api -->", 1)[1].split("<!-- /section:api -->", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "Provider(" in b]
    assert len(blocks) == 1, f"expected one Python client example, found {len(blocks)}"
    return blocks[0]


def test_the_readme_python_client_runs_and_its_edit_is_stored(
    server: ServerProcess, tmp_path: Path
) -> None:
    snippet = readme_python_client()
    assert "127.0.0.1:8000" in snippet and "asyncio.run(" in snippet
    script = tmp_path / "client.py"
    script.write_text(snippet.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}"))
    for run in (1, 2):
        # run from elsewhere: the snippet needs only the installed packages
        done = subprocess.run(
            [sys.executable, str(script)], cwd=tmp_path, capture_output=True, timeout=30
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        # the moment it exits, the server has the edit (no waiting here)
        text = httpx.get(f"{server.http}/api/rooms/notes/content", timeout=5).text
        assert text == "hello" * run, text
        assert done.stdout.decode().strip() == f"saved: {text}"
