"""The domain layout holds: dependencies point one way and each app alone writes its rows.

`lint-imports` (in `make lint`) checks the import contracts in pyproject.toml; these tests run
it too, and check what an import contract cannot see: who calls the ORM's write methods on
which model, and that no import hides inside a function to dodge a cycle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("tasks_app", "recurrence_app", "notifications_app", "chatbot_app", "planning")
DOMAIN = ("tasks_app", "recurrence_app", "notifications_app", "accounts_app", "planning")
# Each model with the app that alone may write it.
OWNERS = {
    "Task": "tasks_app",
    "RecurringSeries": "recurrence_app",
    "Reminder": "notifications_app",
}
WRITES = {"create", "bulk_create", "update", "delete", "get_or_create", "update_or_create"}
WRITES |= {"bulk_update", "save"}
# Instances are named after their model throughout the code (`task.save(...)`), which lets a
# plain reading find instance writes too.
INSTANCE_NAMES = {"task": "Task", "series": "RecurringSeries", "reminder": "Reminder"}


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def sources(*packages: str) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), filename=str(path))


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603  # our own venv's tool, fixed arguments
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _root_name(node: ast.expr) -> str | None:
    """`Task` for `Task.objects.filter(...).update`, else None."""
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None


# Raw SQL that changes rows; a module naming a model's table only in SELECTs reads it.
SQL_WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b", re.IGNORECASE)


def _writes_sql(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SQL_WRITE.search(node.value)
        for node in ast.walk(tree)
    )


def _writes(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """(model, line) for each write: through the manager, on an instance, or in raw SQL (a
    model's table named in a module with an INSERT, UPDATE or DELETE)."""
    writes_sql = _writes_sql(tree)
    for node in ast.walk(tree):
        if writes_sql and isinstance(node, ast.Attribute) and node.attr == "db_table":
            model = _root_name(node)
            if model in OWNERS:
                yield model, node.lineno
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in WRITES:
            continue
        target = node.func.value
        if isinstance(target, ast.Name) and target.id in INSTANCE_NAMES:
            yield INSTANCE_NAMES[target.id], node.lineno
        elif ".objects" in ast.unparse(node.func):
            model = _root_name(node.func)
            if model in OWNERS:
                yield model, node.lineno


@pytest.mark.parametrize("app", APPS)
def test_each_app_writes_only_its_own_models(app: str) -> None:
    foreign = [
        f"{path}:{line} writes {model}"
        for path, tree in sources(app)
        for model, line in _writes(tree)
        if OWNERS[model] != app
    ]
    assert foreign == []


def test_no_import_of_another_app_hides_in_a_function() -> None:
    """A function-level import between apps is a cycle being dodged (AppConfig.ready()
    importing the app's own handlers, to register them, is not)."""
    hidden = []
    for path, tree in sources(*DOMAIN, "chatbot_app"):
        own = path.split("/")[0]
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and node.module:
                    top = node.module.split(".")[0]
                    if top in (*DOMAIN, "chatbot_app") and top != own:
                        hidden.append(f"{path}:{node.lineno} imports {node.module}")
    assert hidden == []


def test_a_table_named_beside_a_raw_write_counts_as_a_write_and_beside_a_select_does_not() -> None:
    writing = ast.parse('SQL = f"UPDATE {Task._meta.db_table} SET title = %s"')
    reading = ast.parse('SQL = f"SELECT id FROM {Task._meta.db_table} WHERE id = %s"')

    assert [model for model, _ in _writes(writing)] == ["Task"]
    assert list(_writes(reading)) == []
