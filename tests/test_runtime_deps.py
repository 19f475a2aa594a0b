"""The service runs on its runtime dependencies alone: `pip install .` (the README's
`./scripts/serve.sh`) does not install the `test` extra, so no module the service
imports may need one (session 4: web/cli_live.py imported httpx, then a test-only
package, and `samepage serve` died with ModuleNotFoundError on a fresh machine).

Every module of sync/, storage/ and web/ is imported in a fresh interpreter in which
the test extra's packages cannot be imported, then the app is built and the CLI's help
printed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib, pkgutil, sys
blocked = set(sys.argv[1].split(","))

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is a test-only dependency", name=name)
        return None

sys.meta_path.insert(0, Refuse())
for package in ("sync", "storage", "web"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(info.name)
from web.app import create_app
from web.settings import Settings
create_app(Settings(db="memory://"))
from web.cli import main
sys.argv = ["samepage", "--help"]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("imported", len([m for m in sys.modules if m.split(".")[0] in ("sync", "storage", "web")]))
"""


def extra_modules() -> list[str]:
    """The top-level modules of the test extra's distributions (ruff and mypy too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = {
        req.split("==")[0].split("[")[0].strip().lower()
        for req in project["optional-dependencies"]["test"]
    }
    runtime = {req.split("==")[0].split("[")[0].strip().lower() for req in project["dependencies"]}
    modules = []
    for module, dists in packages_distributions().items():
        names = {d.lower().replace("_", "-") for d in dists}
        if names & extra and not names & runtime and not module.startswith("_"):
            modules.append(module)
    return sorted(modules)


def test_the_service_imports_without_the_test_extra() -> None:
    blocked = extra_modules()
    assert {"pytest", "hypothesis", "playwright", "yaml"} <= set(blocked), blocked
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(blocked)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported" in done.stdout
