"""One-shot compose service: bring the ClickHouse schema up to date, then exit.

The worker applies migrations too (``open_store`` does), but doing it once, before the
worker and Grafana start, means a schema error stops the stack with a clear message
instead of a worker restart loop, and Grafana's first queries find the tables.
"""

from __future__ import annotations

import sys

from runstream.backoff import Backoff
from runstream.settings import load_settings
from runstream_processors.errors import ProcessorError
from runstream_processors.store.connection import open_store

ATTEMPTS = 30  # the server's healthcheck passes a little before it accepts every user


def main() -> int:
    settings = load_settings()
    backoff = Backoff(first_s=0.5, max_s=3.0)  # about 75 s of waits in all before giving up
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with open_store(settings, "migrate") as client:
                version = client.query("SELECT max(version) FROM runstream.schema_migrations")
                print(f"schema at version {version.result_rows[0][0]}")
                return 0
        except ProcessorError as exc:
            print(f"attempt {attempt}/{ATTEMPTS}: {exc}", file=sys.stderr)
            if attempt < ATTEMPTS:
                backoff.wait(exc)
    return 1


if __name__ == "__main__":
    sys.exit(main())
