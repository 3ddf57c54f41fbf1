"""Config values from what training libraries hand over (hparams, TrainingArguments)."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import Any


def plain_config(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as config values: nested mappings kept, scalars and lists of
    scalars as they are, anything else (a class, a callable, a tensor) as its text."""
    plain: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Namespace):
            value = vars(value)
        if isinstance(value, Mapping):
            plain[str(key)] = plain_config(value)
        elif value is None or isinstance(value, bool | int | float | str):
            plain[str(key)] = value
        elif isinstance(value, list | tuple) and all(
            isinstance(item, bool | int | float | str) for item in value
        ):
            plain[str(key)] = list(value)
        else:
            plain[str(key)] = str(value)
    return plain
