"""Who may talk to the store: users from a file or from plain passwords, checked per request.

Credentials arrive the three ways ClickHouse accepts them (HTTP basic auth,
``X-ClickHouse-User``/``X-ClickHouse-Key`` headers, ``user``/``password`` URL
arguments; mixing two is an error, as in ClickHouse). Passwords are kept only as
SHA-256 digests and compared in constant time; nothing here logs one.

Users file (TOML or JSON, chosen by its suffix)::

    [users.default]
    password = "..."                 # or password_sha256_hex = "<64 hex digits>"
    allow_table_functions = ["url"]  # writers only: table functions beside the defaults
    [users.grafana]
    password_sha256_hex = "..."
    role = "dashboard"               # or readonly = 2; see ROLES

Roles (``role``, or the older ``readonly`` level, which maps onto them):

* ``writer`` (readonly = 0): reads, writes, DDL, KILL, SYSTEM, every system table;
* ``dashboard`` (readonly = 2): reads, and may change the settings on
  :data:`DASHBOARD_SETTINGS` (Grafana's plugin sends some), in the URL or the query
  text (query_settings.py), within the server's limits;
* ``readonly`` (readonly = 1): reads, settings fixed.

No account reaches the host or the network through SQL (see guard.py); accounts that
are not writers cannot KILL, run SYSTEM commands or read other users' work in the
``system`` tables.

Without a users file, ``password`` is the password of ``default`` (a writer) and
``readonly_password`` adds the user ``readonly``, a dashboard account. With neither,
``default`` has no password, which is allowed only on loopback. Where the file and
the passwords come from (flags, environment) is the caller's business.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import errors
from .errors import UsersConfigError

READONLY_USER = "readonly"
ROLES = {"writer": 0, "dashboard": 2, "readonly": 1}
# What a dashboard account may send as URL settings: what Grafana's plugin, clickhouse-go
# and clickhouse-connect send, and harmless output options. Limits among them may only go
# down (the engine's constraints, see limits.py).
DASHBOARD_SETTINGS = frozenset(
    {
        "max_execution_time",
        "max_result_rows",
        "max_result_bytes",
        "result_overflow_mode",
        "timeout_overflow_mode",
        "max_rows_to_read",
        "max_bytes_to_read",
        "read_overflow_mode",
        "max_threads",
        "max_memory_usage",
        "max_block_size",
        "readonly",
        "session_timezone",
        "date_time_input_format",
        "cast_string_to_dynamic_use_inference",
        "log_queries",
        "join_use_nulls",
        "extremes",
        "log_comment",
        "use_query_cache",
        "enable_analyzer",
        "allow_experimental_analyzer",
        "prefer_column_name_to_alias",
        "allow_experimental_object_type",
        "allow_experimental_json_type",
        "allow_experimental_variant_type",
        "allow_experimental_dynamic_type",
        "select_sequential_consistency",
        "insert_quorum",
    }
)
DASHBOARD_SETTING_PREFIXES = (
    "output_format_",
    "input_format_",
    "format_",
    "date_time_output_",
    "http_",
)
DEFAULT_BIND_ADVICE = "give every user a password (a users file, or a password)"

__all__ = [
    "DASHBOARD_SETTINGS",
    "READONLY_USER",
    "ROLES",
    "User",
    "Users",
    "UsersConfigError",
    "credentials",
    "load_users",
]


@dataclass(frozen=True)
class User:
    name: str
    password_sha256: bytes | None
    """None: no password (only for a server on loopback)."""
    readonly: int = 0
    """ClickHouse's level: 0 writer, 1 readonly, 2 dashboard (see ROLES)."""
    table_functions: frozenset[str] = frozenset()
    """Table functions this writer may use beside the defaults (allow_table_functions)."""

    @property
    def role(self) -> str:
        return {0: "writer", 1: "readonly", 2: "dashboard"}[self.readonly]

    def may_set(self, name: str) -> bool:
        """Whether this account may send setting ``name`` (the engine still checks values)."""
        if self.readonly != 2:
            return True  # writers may; readonly=1 accounts are refused by the engine
        return name in DASHBOARD_SETTINGS or name.startswith(DASHBOARD_SETTING_PREFIXES)

    def accepts(self, password: str) -> bool:
        if self.password_sha256 is None:
            return password == ""
        return hmac.compare_digest(hashlib.sha256(password.encode()).digest(), self.password_sha256)


@dataclass(frozen=True)
class Users:
    by_name: Mapping[str, User]
    source: Path | None = None
    """The users file they were read from (no SQL may name it, see guard.py)."""

    def authenticate(self, name: str, password: str) -> User:
        """The user, or AUTHENTICATION_FAILED worded as ClickHouse words it."""
        user = self.by_name.get(name)
        if user is None or not user.accepts(password):
            raise errors.ClickHouseError(
                errors.AUTHENTICATION_FAILED,
                f"{name}: Authentication failed: password is incorrect, "
                "or there is no user with such name",
            )
        return user

    def check_bind(self, host: str, advice: str = DEFAULT_BIND_ADVICE) -> None:
        """Refuse a passwordless user on anything but loopback: the store would be open.

        ``advice`` says how to give the users passwords, in the caller's terms.
        """
        if is_loopback(host):
            return
        open_users = sorted(
            user.name for user in self.by_name.values() if user.password_sha256 is None
        )
        if open_users:
            raise UsersConfigError(
                f"refusing to serve the store on {host} with no password for "
                f"{', '.join(open_users)}: {advice}; "
                "a passwordless user is allowed only when binding 127.0.0.1/::1"
            )


def load_users(
    users_file: Path | None = None,
    password: str | None = None,
    readonly_password: str | None = None,
) -> Users:
    """Users from ``users_file``, else from the two passwords (see the module docstring)."""
    if users_file is not None:
        return _from_file(users_file)
    users = {"default": User("default", _digest(password))}
    if readonly_password:
        users[READONLY_USER] = User(
            READONLY_USER, _digest(readonly_password), readonly=ROLES["dashboard"]
        )
    return Users(users)


def credentials(headers: Mapping[str, str], args: Mapping[str, str]) -> tuple[str, str]:
    """(user, password) from a request, the way ClickHouse's HTTP handler reads them."""
    header_user = headers.get("X-ClickHouse-User", "")
    header_key = headers.get("X-ClickHouse-Key", "")
    authorization = headers.get("Authorization", "")
    in_args = "user" in args or "password" in args
    if header_user or header_key:
        if authorization:
            raise _mixed("X-ClickHouse HTTP headers", "Authorization HTTP header")
        if in_args:
            raise _mixed("X-ClickHouse HTTP headers", "authentication via parameters")
        return _nonempty(header_user, "X-ClickHouse HTTP headers"), header_key
    if authorization:
        if in_args:
            raise _mixed("Authorization HTTP header", "authentication via parameters")
        return _basic(authorization)
    return _nonempty(args.get("user", "default"), "authentication via parameters"), args.get(
        "password", ""
    )


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise errors.ClickHouseError(
            errors.AUTHENTICATION_FAILED,
            f"Invalid authentication: '{scheme}' HTTP Authorization scheme is not supported",
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise errors.ClickHouseError(
            errors.AUTHENTICATION_FAILED, "Invalid authentication: malformed Basic credentials"
        ) from exc
    user, _, password = decoded.partition(":")
    return _nonempty(user, "Authorization HTTP header"), password


def _nonempty(user: str, method: str) -> str:
    if not user:
        raise errors.ClickHouseError(
            errors.AUTHENTICATION_FAILED, f"Got an empty user name from {method}"
        )
    return user


def _mixed(first: str, second: str) -> errors.ClickHouseError:
    return errors.ClickHouseError(
        errors.AUTHENTICATION_FAILED,
        f"Invalid authentication: it is not allowed to use {first} and {second} simultaneously",
    )


def _digest(password: str | None) -> bytes | None:
    return hashlib.sha256(password.encode()).digest() if password else None


def _from_file(path: Path) -> Users:
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise UsersConfigError(f"cannot read the users file {path}: {exc}") from exc
    table = raw.get("users") if isinstance(raw, dict) else None
    if not isinstance(table, dict) or not table:
        raise UsersConfigError(f"the users file {path} has no [users.<name>] entries")
    return Users(
        {name: _user(path, name, entry) for name, entry in table.items()}, source=path.resolve()
    )


def _user(path: Path, name: str, entry: object) -> User:
    if not isinstance(entry, dict):
        raise UsersConfigError(f"{path}: users.{name} must be a table")
    keys = {"password", "password_sha256_hex", "readonly", "role", "allow_table_functions"}
    unknown = set(entry) - keys
    if unknown:
        raise UsersConfigError(f"{path}: users.{name} has unknown keys {sorted(unknown)}")
    readonly = entry.get("readonly", 0)
    if readonly not in (0, 1, 2):
        raise UsersConfigError(f"{path}: users.{name}.readonly must be 0, 1 or 2")
    if "role" in entry:
        role = entry["role"]
        if role not in ROLES:
            raise UsersConfigError(
                f"{path}: users.{name}.role must be one of {', '.join(ROLES)}, not {role!r}"
            )
        if "readonly" in entry and ROLES[role] != readonly:
            raise UsersConfigError(f"{path}: users.{name} has both role and a different readonly")
        readonly = ROLES[role]
    functions = entry.get("allow_table_functions", [])
    if not isinstance(functions, list) or not all(isinstance(f, str) for f in functions):
        raise UsersConfigError(
            f"{path}: users.{name}.allow_table_functions must be a list of names"
        )
    if functions and readonly:
        raise UsersConfigError(
            f"{path}: users.{name}.allow_table_functions is for writers only "
            "(a reader never reaches outside the store)"
        )
    table_functions = frozenset(f.lower() for f in functions)
    if "password_sha256_hex" in entry:
        try:
            digest = bytes.fromhex(str(entry["password_sha256_hex"]))
        except ValueError as exc:
            raise UsersConfigError(f"{path}: users.{name}.password_sha256_hex is not hex") from exc
        if len(digest) != 32:
            raise UsersConfigError(f"{path}: users.{name}.password_sha256_hex is not 64 hex digits")
        return User(name, digest, int(readonly), table_functions)
    return User(name, _digest(str(entry.get("password", ""))), int(readonly), table_functions)
