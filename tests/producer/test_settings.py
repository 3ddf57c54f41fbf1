"""Settings: the one place RUNSTREAM_* variables are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from runstream.settings import load_settings


def test_store_server_users_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "RUNSTREAM_SERVER_USERS",
        "RUNSTREAM_SERVER_PASSWORD",
        "RUNSTREAM_SERVER_READONLY_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    plain = load_settings(tmp_path)
    assert (plain.server_users_file, plain.server_password, plain.server_readonly_password) == (
        None,
        None,
        None,
    )
    monkeypatch.setenv("RUNSTREAM_SERVER_USERS", str(tmp_path / "users.toml"))
    monkeypatch.setenv("RUNSTREAM_SERVER_PASSWORD", "rw-secret")
    monkeypatch.setenv("RUNSTREAM_SERVER_READONLY_PASSWORD", "ro-secret")
    given = load_settings(tmp_path)
    assert given.server_users_file == tmp_path / "users.toml"
    assert (given.server_password, given.server_readonly_password) == ("rw-secret", "ro-secret")
    assert "rw-secret" not in repr(given) and "ro-secret" not in repr(given)
