#!/usr/bin/env bash
# Install, train the example twice (embedded mode: no services), then show what was tracked.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bash deploy/local/setup.sh
.venv/bin/python examples/train_digits.py --name baseline
.venv/bin/python examples/train_digits.py --name sgd-fast --optimizer sgd --lr 0.05
.venv/bin/runstream runs
.venv/bin/runstream compare baseline sgd-fast --plot curves.png --metric accuracy
echo "curves: $repo/curves.png — try: .venv/bin/runstream show baseline"
