"""Regenerate ``dashboards/*.json``: ``python -m dashboards.build [--out DIR]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from . import comparison, overview, parameters, pipeline, run_detail, system

DASHBOARDS = {
    "runs-overview": overview,  # the name compose's home dashboard path names
    "run-comparison": comparison,
    "parameters": parameters,
    "run-detail": run_detail,
    "system": system,
    "pipeline-health": pipeline,
}


def render() -> dict[str, str]:
    """Each dashboard's file name and JSON text (sorted keys, so diffs stay small)."""
    return {
        f"{name}.json": json.dumps(
            module.build().build(), cls=JSONEncoder, indent=2, sort_keys=True
        )
        + "\n"
        for name, module in DASHBOARDS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1])
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out / name).write_text(text)
        print(out / name)


if __name__ == "__main__":
    main()
