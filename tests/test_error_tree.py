"""Each package's errors form one tree, and the tree its root module draws is the true one.

For every package listed in ``TREES``: import every module (``pkgutil.walk_packages``),
take every ``BaseException`` subclass *defined* in that module (not imported), and check
that (a) it derives from the package's root and (b) its name appears in the tree drawn in
the root module's docstring. A new exception class therefore fails here until it is put
in the tree, in the code and in the drawing.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Tree:
    package: str
    root_module: str
    root: str


TREES = [
    Tree("runstream", "runstream.errors", "RunstreamError"),
    Tree("runstream_processors", "runstream_processors.errors", "ProcessorError"),
    Tree("chdb_http", "chdb_http.errors", "ChdbHttpError"),
]


def _modules(tree: Tree) -> Iterator[types.ModuleType]:
    package = importlib.import_module(tree.package)
    yield package

    def on_error(name: str) -> None:
        raise ImportError(f"cannot import {name}")

    for info in pkgutil.walk_packages(package.__path__, f"{tree.package}.", onerror=on_error):
        yield importlib.import_module(info.name)


def _exceptions(tree: Tree) -> list[type[BaseException]]:
    found = []
    for module in _modules(tree):
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def _tree_names(docstring: str) -> set[str]:
    """The class names drawn in the docstring's tree: the root (the line above the first
    branch) and every ``├── Name`` / ``└── Name``."""
    lines = docstring.splitlines()
    branches = [i for i, line in enumerate(lines) if re.search(r"[├└]── ", line)]
    if not branches:
        return set()
    names = set(re.findall(r"[├└]── ([A-Za-z_]\w*)", "\n".join(lines)))
    root = re.match(r"\s*([A-Za-z_]\w*)", lines[branches[0] - 1])
    if root:
        names.add(root.group(1))
    return names


PARAMS = [pytest.param(tree, id=tree.package) for tree in TREES]


@pytest.mark.parametrize("tree", PARAMS)
def test_every_exception_derives_from_the_root(tree: Tree) -> None:
    root = getattr(importlib.import_module(tree.root_module), tree.root)
    exceptions = _exceptions(tree)
    assert root in exceptions
    stray = sorted(
        f"{error.__module__}.{error.__qualname__}"
        for error in exceptions
        if not issubclass(error, root)
    )
    assert stray == [], f"derive these from {tree.root_module}.{tree.root}"


@pytest.mark.parametrize("tree", PARAMS)
def test_every_exception_is_drawn_in_the_tree(tree: Tree) -> None:
    docstring = importlib.import_module(tree.root_module).__doc__ or ""
    drawn = _tree_names(docstring)
    missing = sorted(
        f"{error.__module__}.{error.__qualname__}"
        for error in _exceptions(tree)
        if error.__name__ not in drawn
    )
    assert missing == [], f"draw these in the tree of {tree.root_module}'s docstring"


def test_the_processors_root_derives_from_the_sdk_root() -> None:
    from runstream.errors import RunstreamError
    from runstream_processors.errors import ProcessorError

    assert issubclass(ProcessorError, RunstreamError)


def test_transient_errors_carry_retry_after_and_classify_by_class() -> None:
    import runstream.errors as sdk
    import runstream_processors.errors as processors
    from runstream.artifacts import ObjectStoreError, ObjectStoreUnavailableError

    for transient in (
        sdk.ServiceUnavailableError,
        ObjectStoreUnavailableError,
        processors.StoreUnavailableError,
    ):
        error = transient("later", retry_after=1.5)
        assert error.retry_after == 1.5
        assert str(error) == "later"
        assert isinstance(error, sdk.TransientError)
        assert transient("no opinion").retry_after is None
    assert issubclass(ObjectStoreUnavailableError, ObjectStoreError)
    assert issubclass(ObjectStoreUnavailableError, OSError)
    assert not issubclass(processors.TerminalError, sdk.TransientError)
    assert not issubclass(processors.InvalidEventError, processors.TransientError)
    assert issubclass(processors.Stopping, sdk.StopRequested)
