#!/usr/bin/env bash
# Install Debian's chromium for the report's browser test (tests/processors/report), once.
# Playwright drives this system browser; it never downloads one of its own. Where chromium is
# already on PATH this returns at once; without apt or root it says so and the test skips.
set -euo pipefail
for browser in chromium chromium-browser google-chrome; do
  command -v "$browser" >/dev/null 2>&1 && exit 0
done
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "chromium.sh: no chromium and no root apt-get here: the report's browser test will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
echo "chromium installed: $(chromium --version)"
