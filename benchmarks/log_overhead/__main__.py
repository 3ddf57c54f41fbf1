"""Entry point: ``python -m benchmarks.log_overhead`` (from the repo root), or the path form,
``python benchmarks/log_overhead``.

The parent starts each child as ``python benchmarks/log_overhead --child ...`` (the path form),
which works whatever the child's working directory is.
"""

import sys
from pathlib import Path

if not __package__:
    # Run as a path: sys.path[0] is this folder, whose module names (cli, report, ...) must
    # not shadow anything; put the repo root there instead, so the package imports.
    sys.path[0] = str(Path(__file__).resolve().parent.parent.parent)

from benchmarks.log_overhead.cli import main

if __name__ == "__main__":
    sys.exit(main())
