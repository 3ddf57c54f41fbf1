"""Entry point of the ``runstream`` command."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from runstream import __version__
from runstream.errors import RunstreamError

from ..errors import ProcessorError
from .artifacts import artifacts_command
from .compare import compare_command
from .output import errors
from .runs import runs_command
from .show import show_command
from .sql import sql_command
from .store import store
from .sync import sync_command
from .worker import worker_command


@click.group()
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


cli.add_command(runs_command)
cli.add_command(show_command)
cli.add_command(compare_command)
cli.add_command(sql_command)
cli.add_command(worker_command)
cli.add_command(sync_command)
cli.add_command(artifacts_command)
cli.add_command(store)


def main() -> None:
    """Run the CLI; our own errors become one clear line and exit status 1, not a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        errors.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (RunstreamError, ProcessorError) as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
