"""ClickHouse's HTTP interface over an embedded chdb store.

chdb lets one process open a store and serves no port. A chdb_http server is that
process for everyone else: it owns the store, keeps merges running, and answers the
subset of ClickHouse's HTTP interface that clickhouse-connect, clickhouse-go and
Grafana's ClickHouse plugin use. It serves any chdb store; what a particular
application adds (a lock around the store, migrations, work beside serving) plugs
in through :func:`serve`'s hooks.
"""

from .auth import User, Users, load_users
from .config import ServerConfig
from .errors import ChdbHttpError, ClickHouseError, EngineError, UsersConfigError
from .runner import BackgroundTask, OnOpen, serve

__all__ = [
    "BackgroundTask",
    "ChdbHttpError",
    "ClickHouseError",
    "EngineError",
    "OnOpen",
    "ServerConfig",
    "User",
    "Users",
    "UsersConfigError",
    "load_users",
    "serve",
]
