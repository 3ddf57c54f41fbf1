"""``python engine_checks.py STORE``: the engine's own check, without the SQL router before it.

chdb runs every statement of a text, so a second statement the router missed must not
run, not even inside the check's EXPLAIN. Prints JSON: query -> code (0: it ran).
Its own process: chdb has one engine per process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chdb_http import guard
from chdb_http.engine import Engine, Job
from chdb_http.errors import ClickHouseError

store = Path(sys.argv[1])
engine = Engine(store, store.with_name("staging"), "t")
engine.open()
writer = guard.Policy("default", writer=True)
outcome: dict[str, int] = {}
for query in (
    "SELECT 1; SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELEC 1; SELECT * FROM file('/etc/hostname', 'LineAsString')",
    "SELECT 1;",
    "SELECT 'a;b'",
):
    try:
        engine.run(Job(query.encode(), "TSV", policy=writer))
        outcome[query] = 0
    except ClickHouseError as error:
        outcome[query] = error.code
print(json.dumps(outcome))
engine.close()
