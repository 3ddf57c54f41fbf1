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
echo "runstream is installed in $repo/.venv"
