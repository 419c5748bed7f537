"""The domain stays pure: no web, database, broker, settings or infrastructure imports."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import los.domain

FORBIDDEN = {
    "fastapi",
    "sqlalchemy",
    "aiokafka",
    "httpx",
    "servicekit",
    "pydantic_settings",
    "random",
    "starlette",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_domain_imports_nothing_impure():
    modules = list(pkgutil.walk_packages(los.domain.__path__, "los.domain."))
    assert len(modules) >= 7
    root = Path(los.domain.__file__).parent
    for path in [root / "__init__.py", *(root / f"{m.name.rsplit('.', 1)[1]}.py" for m in modules)]:
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_domain_never_reads_the_clock():
    root = Path(los.domain.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text("utf-8")
        for call in ("datetime.now(", "date.today(", "time.time(", "uuid4("):
            assert call not in text, f"{path.name} calls {call}"
