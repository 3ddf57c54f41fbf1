"""What every command shares: the settings chosen by ``--dir`` and the environment."""

from __future__ import annotations

import click
from runstream.settings import Settings, load_settings


def settings_from(ctx: click.Context) -> Settings:
    """Settings from the environment, with the root group's ``--dir`` over RUNSTREAM_DIR."""
    root = ctx.find_root().params.get("data_dir")
    return load_settings(root)
