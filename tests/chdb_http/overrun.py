"""``python overrun.py STORE``: the watchdog cancels a query past its time limit.

The engine itself stops queries at their limit nearly always, so to see the watchdog
act, its grace is set below zero: it cancels a 3 s query of a 4 s limit after about
2.2 s, where the engine would let it finish. Prints JSON: the code the query got, how
long it took. Its own process: chdb has one engine per process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from chdb_http.engine import Engine, Job
from chdb_http.errors import ClickHouseError
from chdb_http.limits import Limits

store = Path(sys.argv[1])
limits = Limits(max_query_seconds=4, overrun_grace_seconds=-2)
engine = Engine(store, store.with_name("staging"), "t", limits)
engine.open()
started = time.monotonic()
code = 0
try:
    engine.run(Job(b"SELECT sleepEachRow(1) FROM numbers(3) SETTINGS max_block_size = 1", "TSV"))
except ClickHouseError as error:
    code = error.code
print(json.dumps({"code": code, "seconds": time.monotonic() - started}))
engine.close()
