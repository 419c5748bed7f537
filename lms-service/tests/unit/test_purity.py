"""The domain stays pure: no web framework, database, broker, HTTP client or infrastructure."""

import ast
import pkgutil
from pathlib import Path

import lms.domain

FORBIDDEN = {"fastapi", "sqlalchemy", "aiokafka", "httpx", "servicekit", "pydantic_settings"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_modules_import_nothing_forbidden():
    package_dir = Path(lms.domain.__file__).parent
    modules = [package_dir / "__init__.py"] + [
        package_dir / f"{m.name}.py" for m in pkgutil.iter_modules([str(package_dir)])
    ]
    assert len(modules) >= 6, modules
    for module in modules:
        bad = imported_roots(module) & FORBIDDEN
        assert not bad, f"{module.name} imports {sorted(bad)}"


def test_the_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from sqlalchemy import select\nimport servicekit.db\n")
    assert imported_roots(sample) >= {"sqlalchemy", "servicekit"}
