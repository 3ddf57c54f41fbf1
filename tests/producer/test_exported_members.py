"""The public surface of ``import runstream``: what ``__all__`` promises is exactly what exists.

Like httpx's test of the same name: adding a public name without exporting it (or
exporting a name that no longer exists) fails here instead of in a user's import.
"""

from __future__ import annotations
import __future__

import importlib.metadata
import types
import typing

import runstream

# Dunder names that are part of the API although they start with an underscore.
PUBLIC_DUNDERS = {"__version__"}


def _is_public(name: str, value: object) -> bool:
    """A name the package itself defines for users, not a submodule or a helper import."""
    if name.startswith("_"):
        return name in PUBLIC_DUNDERS
    if isinstance(value, types.ModuleType | __future__._Feature):
        return False  # submodules (runstream.spool, ...) and `from __future__ import annotations`
    if typing.get_origin(value) is typing.Literal:
        return True  # type aliases such as Status
    return getattr(value, "__module__", "runstream").startswith("runstream")


def test_all_is_sorted_and_lists_exactly_the_public_names() -> None:
    names = {name: getattr(runstream, name) for name in dir(runstream)}  # resolves lazy names
    public = sorted(name for name, value in names.items() if _is_public(name, value))
    assert runstream.__all__ == sorted(runstream.__all__), "keep __all__ sorted"
    assert runstream.__all__ == public


def test_every_exported_name_resolves() -> None:
    for name in runstream.__all__:
        assert getattr(runstream, name, None) is not None, f"runstream.{name} does not exist"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from runstream import *", namespace)
    assert sorted(name for name in namespace if name != "__builtins__") == sorted(runstream.__all__)


def test_the_documented_error_hierarchy() -> None:
    """Users catch ValueError / RuntimeError / ImportError / OSError as errors.py documents."""
    assert issubclass(runstream.InvalidInputError, runstream.RunstreamError)
    assert issubclass(runstream.InvalidInputError, ValueError)
    for error in (
        runstream.InvalidKeyError,
        runstream.InvalidValueError,
        runstream.InvalidConfigError,
    ):
        assert issubclass(error, runstream.InvalidInputError)
    assert issubclass(runstream.RunStateError, runstream.RunstreamError)
    assert issubclass(runstream.RunStateError, RuntimeError)
    assert issubclass(runstream.MissingExtraError, ImportError)
    assert issubclass(runstream.SpoolError, OSError)


def test_version_matches_the_installed_distribution() -> None:
    assert runstream.__version__ == importlib.metadata.version("runstream")


def test_no_submodule_shadows_a_public_name() -> None:
    """Importing a submodule sets it as an attribute of the package: a module named like an
    exported function (``runstream/init.py`` and ``runstream.init``) would replace it."""
    import pkgutil

    modules = {info.name for info in pkgutil.iter_modules(runstream.__path__)}
    assert sorted(modules & set(runstream.__all__)) == []
