"""chdb_http on its own, without runstream: ``python serve_plain.py STORE PORT EVENTS``.

Serves STORE on 127.0.0.1:PORT (user ``default``, password ``pw``) with an ``on_open``
hook and one background task that write what happened, and when, to EVENTS (JSON
lines), with the process's ``TZ`` and ``time.tzname`` each time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import chdb_http

EVENTS = Path(sys.argv[3])


def note(event: str, **what: Any) -> None:
    what.update(event=event, tz=os.environ.get("TZ"), tzname=list(time.tzname))
    with EVENTS.open("a") as sink:
        sink.write(json.dumps(what) + "\n")


class Task:
    def start(self, dsn: str) -> None:
        note("start", dsn=dsn)

    def stop(self) -> None:
        note("stop")


def on_open(dsn: str) -> None:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn)
    try:
        client.command("CREATE DATABASE IF NOT EXISTS hooked")
    finally:
        client.close()
    note("open", dsn=dsn)


note("before")
chdb_http.serve(
    chdb_http.ServerConfig(
        store_dir=Path(sys.argv[1]),
        users=chdb_http.load_users(password="pw"),
        port=int(sys.argv[2]),
        shutdown_grace=5.0,
    ),
    on_open=on_open,
    background=[Task()],
)
note("closed")
