#!/usr/bin/env bash
# Create .venv and install runstream with every extra, pinned by constraints.txt.
# Idempotent and cached: uv keeps downloaded wheels (torch is several GB) in its cache.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
uv="$(command -v uv || python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/uv"
[ -x "$uv" ] || uv="$(command -v uv)"

if [ ! -x .venv/bin/python ]; then
  "$uv" venv --quiet --python python3.11 .venv
fi
VIRTUAL_ENV="$repo/.venv" "$uv" pip install --quiet -e ".[dev]" -c deploy/local/constraints.txt
# Bytecode for what the CLI imports, written once: uv does not compile it, and where
# PYTHONDONTWRITEBYTECODE is set Python never caches it, so every CLI call would recompile
# ~500 modules (~0.7 s). Importing them once with caching on takes a few seconds.
env -u PYTHONDONTWRITEBYTECODE .venv/bin/python - <<'PY'
import importlib

from runstream_processors.cli.main import COMMANDS

for module, _ in COMMANDS.values():
    importlib.import_module(f"runstream_processors.cli.{module}")
for module in ("chdb", "clickhouse_connect.driver._chdbclient", "runstream.start", "rich.table",
               "runstream_processors.ingest.spool", "runstream_processors.analysis.refresh",
               "sklearn.ensemble"):
    importlib.import_module(module)
PY
echo "runstream is installed in $repo/.venv"
