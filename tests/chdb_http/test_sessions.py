"""``session_id`` and ``query_id`` as real clients rely on them."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from support.store_server import READONLY_PASSWORD, Server, http


def post(server: Server, query: str, **args: str) -> tuple[int, str | None, bytes]:
    status, headers, body = http(server, query, body=b"", **args)
    return status, headers.get("X-ClickHouse-Exception-Code"), body


def test_a_session_keeps_temporary_tables_and_settings(served: Server) -> None:
    session = uuid.uuid4().hex
    assert post(served, "CREATE TEMPORARY TABLE tmp (a UInt8)", session_id=session)[1] is None
    assert post(served, "INSERT INTO tmp VALUES (1), (2)", session_id=session)[1] is None
    assert post(served, "SET max_threads = 1", session_id=session)[1] is None
    assert post(served, "SELECT sum(a) FROM tmp", session_id=session)[2] == b"3\n"
    assert post(served, "SELECT getSetting('max_threads')", session_id=session)[2] == b"1\n"
    # another session, or none, sees nothing of it
    assert post(served, "SELECT sum(a) FROM tmp", session_id=uuid.uuid4().hex)[1] == "60"
    assert post(served, "SELECT sum(a) FROM tmp")[1] == "60"
    # nor does another user naming the same session
    _, headers, _ = http(
        served,
        "SELECT sum(a) FROM tmp",
        body=b"",
        anonymous=True,
        user="readonly",
        password=READONLY_PASSWORD,
        session_id=session,
    )
    assert headers.get("X-ClickHouse-Exception-Code") == "60"


def test_session_check_and_concurrent_use(served: Server) -> None:
    unknown = uuid.uuid4().hex
    assert post(served, "SELECT 1", session_id=unknown, session_check="1")[1] == "372"
    session = uuid.uuid4().hex
    answers: list[Any] = []

    def slow() -> None:
        answers.append(post(served, "SELECT sleep(1.5)", session_id=session))

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    assert post(served, "SELECT 1", session_id=session)[1] == "373"
    worker.join(30)
    assert answers[0][0] == 200
    assert post(served, "SELECT 1", session_id=session, session_check="1")[2] == b"1\n"


def test_a_running_query_id_is_not_reused(served: Server) -> None:
    query_id = f"mine-{uuid.uuid4().hex}"
    answers: list[Any] = []

    def slow() -> None:
        answers.append(post(served, "SELECT sleep(1.5)", query_id=query_id))

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    _status, code, body = post(served, "SELECT 1", query_id=query_id)
    assert code == "216", body
    assert b"QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING" in body
    worker.join(30)
    assert answers[0][0] == 200
    deadline = time.monotonic() + 10  # the id is free once the server has closed the query
    while (again := post(served, "SELECT 1", query_id=query_id))[1] == "216":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert again[2] == b"1\n"


def test_native_keeps_datetime_zones_from_revision_54337(served: Server) -> None:
    query = (
        "SELECT toDateTime('2026-01-01 00:00:00', 'Europe/Berlin') AS t, "
        "[toDateTime('2026-01-01 00:00:00', 'Asia/Tokyo')] AS ts, toDateTime(0, 'UTC') AS u, "
        "now() AS plain"
    )
    for how in ("run", "stream"):
        extra = {"wait_end_of_query": "1"} if how == "run" else {}
        _, _, body = http(
            served, query, default_format="Native", client_protocol_version="54460", **extra
        )
        assert b"DateTime('Europe/Berlin')" in body, (how, body)
        assert b"Array(DateTime('Asia/Tokyo'))" in body, (how, body)
        assert b"\x05plain\x08DateTime" in body, (how, body)
        _, _, old = http(
            served, query, default_format="Native", client_protocol_version="54336", **extra
        )
        assert b"Europe/Berlin" not in old, how
