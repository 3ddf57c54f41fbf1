"""The ClickHouse store: one client path (clickhouse-connect) for chdb in-process and servers."""
