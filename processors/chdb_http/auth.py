"""Who may talk to the store: users from a file or from plain passwords, checked per request.

Credentials arrive the three ways ClickHouse accepts them (HTTP basic auth,
``X-ClickHouse-User``/``X-ClickHouse-Key`` headers, ``user``/``password`` URL
arguments; mixing two is an error, as in ClickHouse). Passwords are kept only as
SHA-256 digests and compared in constant time; nothing here logs one.

Users file (TOML or JSON, chosen by its suffix)::

    [users.default]
    password = "..."                 # or password_sha256_hex = "<64 hex digits>"
    [users.grafana]
    password_sha256_hex = "..."
    readonly = 1                     # 1: reads only, settings fixed; 2: reads, settings may change

Without a users file, ``password`` is the password of ``default`` (read-write) and
``readonly_password`` adds the user ``readonly`` (readonly=1). With neither,
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
DEFAULT_BIND_ADVICE = "give every user a password (a users file, or a password)"

__all__ = ["READONLY_USER", "User", "Users", "UsersConfigError", "credentials", "load_users"]


@dataclass(frozen=True)
class User:
    name: str
    password_sha256: bytes | None
    """None: no password (only for a server on loopback)."""
    readonly: int = 0

    def accepts(self, password: str) -> bool:
        if self.password_sha256 is None:
            return password == ""
        return hmac.compare_digest(hashlib.sha256(password.encode()).digest(), self.password_sha256)


@dataclass(frozen=True)
class Users:
    by_name: Mapping[str, User]

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
        users[READONLY_USER] = User(READONLY_USER, _digest(readonly_password), readonly=1)
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
    return Users({name: _user(path, name, entry) for name, entry in table.items()})


def _user(path: Path, name: str, entry: object) -> User:
    if not isinstance(entry, dict):
        raise UsersConfigError(f"{path}: users.{name} must be a table")
    unknown = set(entry) - {"password", "password_sha256_hex", "readonly"}
    if unknown:
        raise UsersConfigError(f"{path}: users.{name} has unknown keys {sorted(unknown)}")
    readonly = entry.get("readonly", 0)
    if readonly not in (0, 1, 2):
        raise UsersConfigError(f"{path}: users.{name}.readonly must be 0, 1 or 2")
    if "password_sha256_hex" in entry:
        try:
            digest = bytes.fromhex(str(entry["password_sha256_hex"]))
        except ValueError as exc:
            raise UsersConfigError(f"{path}: users.{name}.password_sha256_hex is not hex") from exc
        if len(digest) != 32:
            raise UsersConfigError(f"{path}: users.{name}.password_sha256_hex is not 64 hex digits")
        return User(name, digest, int(readonly))
    return User(name, _digest(str(entry.get("password", ""))), int(readonly))
