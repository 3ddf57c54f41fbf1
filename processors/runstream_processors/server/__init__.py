"""The store's owner: ClickHouse's HTTP interface over the embedded chdb store.

chdb lets one process open a store and serves no port. ``runstream store serve``
is that process for everyone else (the worker, the CLI, tests, Grafana): it owns
the store, keeps merges running, takes in the local spool, and answers the subset
of ClickHouse's HTTP interface that clickhouse-connect and clickhouse-go use.
"""

from .config import ServerConfig
from .runner import serve

__all__ = ["ServerConfig", "serve"]
