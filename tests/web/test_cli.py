"""The `samepage` command as a user meets it: each mistake is one line on stderr and a
non-zero exit (never a traceback), a mistyped `--db` creates nothing, `--version`,
`--json`, and progress bars only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.server import ROOT, TEST_SECRET, free_port, run_cli
from web.cli import main

ROOM = "notes"

# (argv with {db} {tmp} {file} {dead}, extra environment, a fragment of the one line)
FAILURES: list[tuple[list[str], dict[str, str], str]] = [
    (["history", ROOM, "--db", "foo://bar"], {}, "unknown database scheme 'foo'"),
    (["history", ROOM, "--db", "{tmp}/no/such/dir/x.db"], {}, "no/such/dir' does not exist"),
    (["serve", "--db", "{tmp}/no/such/dir/x.db"], {}, "no/such/dir' does not exist"),
    (["history", "bad name", "--db", "{db}"], {}, "invalid room name 'bad name'"),
    (["export", "../etc", "--db", "{db}"], {}, "invalid room name"),
    (["export", ROOM, "--time", "yesterday", "--db", "{db}"], {}, "is not an ISO 8601 time"),
    (["token", ROOM, "--secret", TEST_SECRET, "--ttl", "forever"], {}, "not a duration"),
    (["compact", "--db", "{db}", "--older-than", "forever"], {}, "not a duration"),
    (["import", ROOM, "{tmp}/missing.txt", "--db", "{db}"], {}, "no file to import"),
    (["import", ROOM, "{file}", "--url", "http://127.0.0.1:{dead}"], {}, "cannot reach"),
    (["serve"], {"SAMEPAGE_PORT": "abc"}, "invalid int value: 'abc' (from SAMEPAGE_PORT)"),
    (["serve"], {"SAMEPAGE_OPEN": "maybe"}, "SAMEPAGE_OPEN='maybe'"),
    (["export", ROOM, "--at", "-1", "--db", "{db}"], {}, "'-1' is not a sequence number"),
    (["export", ROOM, "--at", "99", "--db", "{db}"], {}, "after the head"),
    (["export", ROOM, "--db", "{db}", "-o", "{tmp}/no/dir/out.txt"], {}, "No such file"),
    (["history", ROOM, "--limit", "0", "--db", "{db}"], {}, "at least 1"),
    (["history", ROOM, "--db", "{tmp}/typo.db"], {}, "no database there"),
    (["export", ROOM, "--db", "{tmp}/typo.db"], {}, "no database there"),
    (["compact", "--db", "{tmp}/typo.db"], {}, "no database there"),
    (["rooms", "--db", "{tmp}/typo.db"], {}, "no database there"),
    (["rooms", "--db", "memory://"], {}, "memory:// holds nothing"),
    (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A database holding room `notes` (made by `samepage import`), and a text file."""
    tmp = tmp_path_factory.mktemp("cli")
    text = tmp / "in.txt"
    text.write_text("héllo 👋🏽 wörld\n", encoding="utf-8")
    db = tmp / "good.db"
    made = run_cli("import", ROOM, str(text), "--db", str(db))
    assert made.returncode == 0, made.stderr
    return {"tmp": str(tmp), "db": str(db), "file": str(text), "dead": str(free_port())}


@pytest.mark.parametrize(("argv", "env", "fragment"), FAILURES)
def test_every_mistake_is_one_line_and_a_non_zero_exit(
    paths: dict[str, str],
    argv: list[str],
    env: dict[str, str],
    fragment: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In this process (an interpreter start per case would take a minute): an
    exception escaping `main` fails the test as a traceback would."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        code = main([a.format(**paths) for a in argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code not in (0, None), err
    assert len(lines) == 1 and lines[0].startswith("samepage"), err
    assert fragment in lines[0], lines[0]
    assert out == ""
    assert not (Path(paths["tmp"]) / "typo.db").exists()  # a read never creates one


def test_the_console_script_prints_no_traceback(paths: dict[str, str]) -> None:
    """The same through a real interpreter, for two of them."""
    for argv, env in [
        (["serve"], {"SAMEPAGE_PORT": "abc"}),
        (["history", "bad name", "--db", paths["db"]], {}),
    ]:
        done = run_cli(*argv, env=env)
        assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`samepage ARGV` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_bad_variable_of_serve_leaves_other_commands_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAMEPAGE_PORT", "abc")
    code, out, err = run(capsys, "token", ROOM, "--secret", TEST_SECRET)
    assert code == 0 and out.strip().count(".") == 2, err  # a JWT


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("samepage 0."), out
    top = run(capsys, "--help")[1]
    assert top.splitlines()[2].startswith("samepage: documents many people edit at once")
    serve = run(capsys, "serve", "--help")[1]
    assert "(default: 8000; env SAMEPAGE_PORT)" in " ".join(serve.split())


def test_json_output_of_rooms_and_history(
    paths: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    rooms = json.loads(run(capsys, "rooms", "--json", "--db", paths["db"])[1])
    assert [r["name"] for r in rooms] == [ROOM]
    assert set(rooms[0]) == {"name", "seq", "bytes", "created_at", "updated_at"}
    rows = json.loads(run(capsys, "history", ROOM, "--json", "--db", paths["db"])[1])
    assert [(r["seq"], r["author"]) for r in rows] == [(1, "import")]
    assert set(rows[0]) == {"seq", "time", "author", "bytes"}
    by_session = run(capsys, "history", ROOM, "--json", "--group", "session", "--db", paths["db"])
    sessions = json.loads(by_session[1])
    assert sessions[0]["first_seq"] == 1 and sessions[0]["author"] == "import"


def test_progress_bar_only_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compaction draws its bar with `\r` on a terminal; a log gets none of it."""
    db, source = str(tmp_path / "many.db"), tmp_path / "t.txt"

    def add_versions() -> None:
        for n in range(3):
            source.write_text(f"version {n}\n")
            assert run(capsys, "import", ROOM, str(source), "--db", db)[0] == 0

    add_versions()
    code, _, logged = run(capsys, "compact", "--db", db, "--keep-every", "1")
    assert code == 0 and "checkpoints added" in logged and "\r" not in logged, logged
    add_versions()
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "web.cli", "compact", "--db", db, "--keep-every", "1"],
            cwd=ROOT,
            stderr=follower,
            stdout=subprocess.DEVNULL,
            timeout=60,
            env=os.environ,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end has closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"\r" in seen and b"checkpoints" in seen, seen


def test_runtime_imports_are_runtime_dependencies() -> None:
    """`pip install .` (no test extra) has every package the server and the CLI import
    (`import --url` once needed httpx from the test extra)."""
    import ast
    import re
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {norm(re.split(r"[<>=\[ ;]", d)[0]) for d in project["dependencies"]}
    owners = packages_distributions()
    ours = {"sync", "storage", "web", "tests"}
    missing = set()
    for package in ("sync", "storage", "web"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in ours or top in sys.stdlib_module_names:
                        continue
                    dists = {norm(d) for d in owners.get(top, [top])}
                    if not dists & declared:
                        missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not in [project.dependencies]: {sorted(missing)}"
