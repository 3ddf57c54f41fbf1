"""Entry point of the ``runstream`` command."""

from __future__ import annotations

import importlib
import sys

import click
from runstream import __version__
from runstream.errors import RunstreamError

from ..errors import ProcessorError

COMMANDS: dict[str, tuple[str, str]] = {
    "runs": ("runs", "runs_command"),
    "show": ("show", "show_command"),
    "compare": ("compare", "compare_command"),
    "leaderboard": ("leaderboard", "leaderboard_command"),
    "eval": ("eval", "eval_command"),
    "report": ("report", "report_command"),
    "dashboards": ("dashboards", "dashboards"),
    "sql": ("sql", "sql_command"),
    "worker": ("worker", "worker_command"),
    "sync": ("sync", "sync_command"),
    "artifacts": ("artifacts", "artifacts_command"),
    "datasets": ("datasets", "datasets_command"),
    "diff": ("diff", "diff_command"),
    "reproduce": ("reproduce", "reproduce_command"),
    "store": ("store", "store"),
    "importance": ("importance", "importance_command"),
}
"""Command name → (module of this package, attribute): imported only when the command runs,
so ``runstream runs`` does not pay for the worker's, the server's or the plots' imports."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (``--help`` imports them all)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="runstream")
@click.option(
    "--dir",
    "data_dir",
    type=click.Path(file_okay=False),
    help="local data directory (spool, embedded store, artifacts) "
    "[default: RUNSTREAM_DIR, else ./.runstream]",
)
def cli(data_dir: str | None) -> None:
    """runstream: every training run, queryable. Set RUNSTREAM_CLICKHOUSE_URL to use a server."""


def main() -> None:
    """Run the CLI; our own errors become one clear line and exit status 1, not a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        from .output import errors

        errors.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (RunstreamError, ProcessorError) as exc:
        from rich.markup import escape

        from .output import errors

        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
