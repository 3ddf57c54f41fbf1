"""The processors import from the SDK only what ``runstream.surface`` declares.

Every ``import``/``from ... import`` of a ``runstream`` module anywhere under
``processors/`` must name a module of ``PROCESSOR_MODULES`` (or a module of that set
through its package: ``from runstream.wire import events_pb2``), and take no private name
from it: everything else in the SDK is internal and free to change.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from runstream.surface import PROCESSOR_MODULES

REPO = Path(__file__).resolve().parents[2]
PROCESSORS = REPO / "processors"


def _is_sdk(module: str) -> bool:
    return module == "runstream" or module.startswith("runstream.")


def _problems(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_sdk(alias.name) and alias.name not in PROCESSOR_MODULES:
                    yield node.lineno, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not _is_sdk(node.module):
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in PROCESSOR_MODULES:
                    continue
                if node.module not in PROCESSOR_MODULES:
                    yield node.lineno, f"from {node.module} import {alias.name}"
                elif alias.name.startswith("_") and alias.name != "__version__":
                    yield node.lineno, f"from {node.module} import {alias.name} (private)"


def test_processors_import_only_the_declared_sdk_surface() -> None:
    sources = sorted(PROCESSORS.rglob("*.py"))
    assert len(sources) > 40, "the walk found too few files: did the layout change?"
    found = [
        f"{path.relative_to(REPO)}:{line}: {code}"
        for path in sources
        for line, code in _problems(ast.parse(path.read_text(), str(path)))
    ]
    assert not found, (
        "the processors import SDK modules outside runstream.surface.PROCESSOR_MODULES "
        "(use a declared one, or declare the module there and in processors/README.md):\n"
        + "\n".join(found)
    )


def test_the_check_catches_undeclared_and_private_imports() -> None:
    code = (
        "import runstream.init\n"
        "from runstream.recorder import Recorder\n"
        "from runstream.spool import _frame\n"
        "from runstream.wire import events_pb2\n"
        "from runstream import __version__, MissingExtraError\n"
        "from runstream.spool import SpoolReader\n"
    )
    assert [line for line, _ in _problems(ast.parse(code))] == [1, 2, 3]


def test_every_declared_module_exists() -> None:
    import importlib.util

    missing = [name for name in PROCESSOR_MODULES if importlib.util.find_spec(name) is None]
    assert missing == []


def test_the_processors_readme_lists_every_declared_module() -> None:
    readme = (PROCESSORS / "README.md").read_text()
    section = readme.split("## What the processors use from the SDK", 1)[1].split("\n## ", 1)[0]
    assert [name for name in sorted(PROCESSOR_MODULES) if f"`{name}`" not in section] == []
