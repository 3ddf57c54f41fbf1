"""chdb_http stands alone: it imports nothing of runstream and leaves the environment be."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import chdb_http
from chdb_http import errors

PACKAGE = Path(chdb_http.__file__).resolve().parent
FORBIDDEN = ("runstream", "runstream_processors")


def _modules() -> list[Path]:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 5, modules
    return modules


def _imported(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def test_no_module_imports_runstream() -> None:
    offending = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in _modules()
        for name in _imported(ast.parse(path.read_text(), str(path)))
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offending == []


def test_no_module_reads_or_changes_the_environment() -> None:
    offending = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in (
                "environ",
                "getenv",
                "putenv",
                "unsetenv",
                "tzset",
            ):
                offending.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.attr}")
    assert offending == []


def test_every_exception_derives_from_the_root_and_is_in_its_tree() -> None:
    found = []
    for path in _modules():
        name = "chdb_http." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        module = importlib.import_module(name.removesuffix(".__init__"))
        found.extend(
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        )
    assert {cls.__name__ for cls in found} >= {"ChdbHttpError", "ClickHouseError", "NeedMore"}
    tree = errors.__doc__ or ""
    for cls in found:
        assert issubclass(cls, errors.ChdbHttpError), cls
        assert f" {cls.__name__} " in tree or f"\n    {cls.__name__}\n" in tree, cls
