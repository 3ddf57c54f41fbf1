"""Users from plain values: chdb_http reads no environment, its caller passes them in."""

from __future__ import annotations

from pathlib import Path

import pytest
from chdb_http import ClickHouseError, UsersConfigError, load_users


def test_passwords_make_default_and_readonly() -> None:
    users = load_users(password="rw", readonly_password="ro")
    assert users.authenticate("default", "rw").role == "writer"
    reader = users.authenticate("readonly", "ro")
    assert (reader.role, reader.readonly) == ("dashboard", 2)  # Grafana's plugin sends settings
    with pytest.raises(ClickHouseError):
        users.authenticate("default", "ro")


def test_no_password_serves_only_loopback() -> None:
    users = load_users()
    assert set(users.by_name) == {"default"}
    users.check_bind("127.0.0.1")
    with pytest.raises(UsersConfigError, match="no password for default: give every user"):
        users.check_bind("0.0.0.0")
    with pytest.raises(UsersConfigError, match="no password for default: ask the admin"):
        users.check_bind("0.0.0.0", advice="ask the admin")


def test_a_users_file_wins_over_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text('[users.grafana]\npassword = "g"\nreadonly = 2\n')
    users = load_users(path, password="ignored")
    assert set(users.by_name) == {"grafana"}
    users.check_bind("0.0.0.0")
