"""The README's client examples, taken from README.md itself, pasted into files and run
against a live server (Python, and JavaScript in Node with the npm packages the README
names); and the README's tables: every flag of `serve`, every close code."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import httpx

from sync.errors import CloseCode
from tests.helpers.server import ROOT, ServerProcess
from tests.interop.node import node_or_skip
from web.cli import build_parser


def readme_section(name: str) -> str:
    """The text between `<!-- section:NAME -->` and its end in README.md."""
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"<!-- section:{name} -->", 1)[1].split(f"<!-- /section:{name} -->")[0]


def readme_block(language: str, needle: str) -> str:
    """The one ```LANGUAGE block of the README's clients section containing `needle`."""
    section = readme_section("clients")
    blocks = [b for b in re.findall(rf"```{language}\n(.*?)```", section, re.S) if needle in b]
    assert len(blocks) == 1, f"expected one {language} example, found {len(blocks)}"
    return blocks[0]


def readme_python_client() -> str:
    """The Python client example (the one using `Provider`)."""
    return readme_block("python", "Provider(")


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


def test_the_readme_js_client_runs_with_the_packages_it_names(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The JavaScript example, in Node with the packages of its `npm install` line
    (tests/interop/node_modules holds them at the lockfile's versions)."""
    node = node_or_skip()
    install = readme_block("sh", "npm install")
    packages = set(install.split("npm install", 1)[1].split())
    snippet = readme_block("js", "WebsocketProvider")
    imported = set(re.findall(r"from '([^']+)'", snippet))
    assert imported <= packages, (imported, packages)
    modules = ROOT / "tests" / "interop" / "node_modules"
    for package in packages:
        assert (modules / package / "package.json").exists(), package
    (tmp_path / "node_modules").symlink_to(modules)
    script = tmp_path / "client.mjs"
    script.write_text(snippet.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}"))
    done = subprocess.run([node, str(script)], cwd=tmp_path, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    text = httpx.get(f"{server.http}/api/rooms/notes/content", timeout=5).text
    assert text == "hello from JS\n"
    assert done.stdout.decode().strip() == 'stored: "hello from JS\\n"'


def test_the_configuration_table_names_every_flag_and_close_code() -> None:
    section = readme_section("configuration")
    table = {
        flag
        for row in re.findall(r"^\| (`--.*?) \|", section, re.M)
        for flag in re.findall(r"`(--[a-z-]+)`", row)
    }
    serve = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["serve"]
    flags = {
        max((o for o in action.option_strings if o.startswith("--")), key=len)
        for action in serve._actions
        if action.option_strings and action.help != argparse.SUPPRESS
    } - {"--help"}
    assert flags - table == set(), "flags missing in the README's Configuration"
    assert table - flags == set(), "the README names flags serve does not have"
    codes = {int(c) for c in re.findall(r"^\| (\d{4})", section, re.M)}
    codes |= {int(c) for c in re.findall(r"^\| \d{4} / (\d{4})", section, re.M)}
    wanted = {int(code) for code in CloseCode} - {CloseCode.NORMAL, CloseCode.POLICY}
    assert wanted - codes == set(), "close codes missing in the README"
