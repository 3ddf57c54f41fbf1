#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs pytest. Real Kafka and S3
# servers are started by the test fixtures (tests/real_services.py) through
# deploy/local/services.sh unless RUNSTREAM_TEST_* endpoints are given.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bash deploy/local/setup.sh
bash deploy/local/chromium.sh  # the report's browser test; not needed to track or query runs
# Build/download Kafka and MinIO up front (cached): the first MinIO build takes minutes,
# which must not count against one test's timeout.
bash deploy/local/services.sh install all
exec .venv/bin/python -m pytest "$@"
