"""The ``runstream`` console script: the CLI, or one line naming the extra it needs.

``pip install runstream`` gives a training machine the SDK alone; the command lives in
``runstream_processors.cli`` (same distribution) and needs the ``cli`` extra: click,
rich, jinja2 (the report), the store and its server. Without them the script prints which package is
missing and ``pip install 'runstream[cli]'``, and exits 1, instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

from .errors import MissingExtraError

CLI_EXTRA = "cli"
CLI_MODULES: dict[str, str] = {
    "click": "click",
    "rich": "rich",
    "chdb": "chdb",
    "clickhouse_connect": "clickhouse-connect",
    "pyarrow": "pyarrow",
    "numpy": "numpy",
    "aiohttp": "aiohttp",
    "jinja2": "jinja2",
}
"""Top-level module → distribution, for everything the ``cli`` extra installs directly."""


def load_cli() -> Callable[[], None]:
    """The CLI's ``main``; MissingExtraError naming the ``cli`` extra when a part is missing."""
    for module, distribution in CLI_MODULES.items():
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(distribution, CLI_EXTRA)
    try:
        from runstream_processors.cli.main import main
    except ModuleNotFoundError as exc:  # a module of the extra that find_spec found broken
        top = (exc.name or "").partition(".")[0]
        if top not in CLI_MODULES:
            raise
        raise MissingExtraError(CLI_MODULES[top], CLI_EXTRA) from exc
    return main


def main() -> None:
    try:
        cli_main = load_cli()
    except MissingExtraError as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        sys.exit(1)
    cli_main()


if __name__ == "__main__":
    main()
