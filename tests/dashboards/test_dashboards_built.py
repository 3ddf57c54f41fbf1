"""``dashboards/*.json`` is what ``python -m dashboards.build`` writes, byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dashboards_are_regenerated_from_their_code(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dashboards.build", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    built = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    shipped = {p.name: p.read_text() for p in (ROOT / "dashboards").glob("*.json")}
    assert sorted(built) == sorted(shipped), "a dashboard file without code, or code without file"
    stale = [name for name in built if built[name] != shipped[name]]
    assert not stale, f"stale: {stale}; run `python -m dashboards.build` and commit the JSON"
