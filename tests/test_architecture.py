"""The rules the code base must keep: dependency direction, determinism, the README's promises."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each layer may import only what is listed for it among our own top-level packages.
ALLOWED = {
    "ledger": {"ledger", "lvyue_verify"},
    "projections": {"projections", "ledger", "lvyue_verify"},
    "api": {"api", "projections", "ledger", "lvyue_verify"},
    "lvyue_verify": {"lvyue_verify"},
}
OURS = {"ledger", "projections", "api", "lvyue", "lvyue_verify", "bench"}
FRAMEWORKS_KEPT_OUT_OF_LEDGER = {"fastapi", "sqlalchemy", "pydantic", "starlette", "typer", "rich"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _files(layer: str) -> list[Path]:
    single = ROOT / f"{layer}.py"
    return [single] if single.exists() else sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_dependencies_point_one_way(layer: str) -> None:
    """api → projections → ledger; the offline verifier imports nothing of ours."""
    for path in _files(layer):
        ours = _imports(path) & OURS
        assert ours <= ALLOWED[layer], (
            f"{path.relative_to(ROOT)} imports {sorted(ours - ALLOWED[layer])}"
        )


def test_ledger_uses_no_web_or_orm_framework() -> None:
    for path in _files("ledger"):
        found = _imports(path) & FRAMEWORKS_KEPT_OUT_OF_LEDGER
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"


NONDETERMINISM = re.compile(
    r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|uuid4\(|uuid1\(|time\.time\(|"
    r"\brandom\.|os\.urandom\(|secrets\.|\.generate\(\)"
)


def test_ledger_reads_no_clock_and_no_randomness() -> None:
    """Time, actor and ids are arguments, so a replay years later is identical."""
    for path in _files("ledger"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not NONDETERMINISM.search(code), (
                f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            )


def test_readme_quick_start_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make demo" in readme
    assert "make test" in readme
    for target in ("demo", "test", "lint", "typecheck", "check"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no {target} target"
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_lvyue_command_in_the_readme_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`lvyue ([a-z][a-z-]*)", readme))
    assert mentioned, "the README names no lvyue command"
    for command in sorted(mentioned):
        result = subprocess.run(
            [sys.executable, "-m", "lvyue", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"`lvyue {command}` is in the README but not in the CLI"
