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
# Bytecode, compiled once: uv does not compile by default, and where PYTHONDONTWRITEBYTECODE
# is set Python never caches it, so every CLI call would recompile ~500 modules (~0.7 s).
# Up-to-date files are skipped (~5 s).
site_packages="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
.venv/bin/python -m compileall -q -j 0 "$site_packages" producer processors >/dev/null || true
echo "runstream is installed in $repo/.venv"
