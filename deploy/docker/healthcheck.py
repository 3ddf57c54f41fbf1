"""Compose healthcheck of the worker: can it reach what it works between?

Standard library only (it runs every 30 s): ClickHouse answers a query with the worker's
own credentials and the Kafka bootstrap port accepts a connection. A stuck consumer is
seen in lag, not here; this catches a worker cut off from its services.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
import urllib.request
from urllib.parse import urlsplit

TIMEOUT_S = 5.0


def clickhouse_ok(url: str) -> bool:
    parts = urlsplit(url)
    request = urllib.request.Request(
        f"{parts.scheme}://{parts.hostname}:{parts.port or 8123}/?query=SELECT%201"
    )
    if parts.username:
        token = f"{parts.username}:{parts.password or ''}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return bool(response.read().strip() == b"1")


def kafka_ok(bootstrap: str) -> bool:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_S):
        return True


def main() -> int:
    try:
        ok = clickhouse_ok(os.environ["RUNSTREAM_CLICKHOUSE_URL"]) and kafka_ok(
            os.environ["RUNSTREAM_KAFKA_BOOTSTRAP"]
        )
    except (OSError, KeyError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
