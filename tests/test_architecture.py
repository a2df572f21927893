"""The code's shape, checked: the domain never imports the Dagster layer, and only the settings module reads the
environment. Both rules are read from the source (AST), so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAGSTER_SIDE = (
    "dagster",
    "dagster_aws",
    "dagster_postgres",
    "dagster_webserver",
    "cliply_assets",
    "cliply_resources",
    "cliply_sensors",
    "cliply_dagster",
)
ADAPTER = "cliply/orchestration.py"  # the one module that runs Dagster for `cliply process` and readiness
SETTINGS = "cliply/settings.py"


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}:
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in {"environ", "getenv"} for a in node.names)
        ):
            return True
    return False


def test_domain_never_imports_the_dagster_layer() -> None:
    offenders = {}
    for path in _modules("cliply"):
        rel = path.relative_to(ROOT).as_posix()
        upward = sorted(n for n in _imports(path) if n.split(".")[0] in DAGSTER_SIDE)
        if upward and rel != ADAPTER:
            offenders[rel] = upward
    assert offenders == {}, f"cliply/ must not import Dagster or its packages (only {ADAPTER} may): {offenders}"


def test_the_adapter_is_the_only_exception_and_is_used() -> None:
    assert {n.split(".")[0] for n in _imports(ROOT / ADAPTER)} & set(DAGSTER_SIDE)


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = [
        p.relative_to(ROOT).as_posix()
        for p in _modules("cliply", "cliply_assets", "cliply_resources", "cliply_sensors", "cliply_dagster")
        if _reads_environment(p)
    ]
    assert readers == [SETTINGS]


def test_the_rules_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\ndef f():\n    from cliply_assets import media\n    return os.environ.get('X')\n")
    assert "cliply_assets" in _imports(bad)
    assert _reads_environment(bad)
