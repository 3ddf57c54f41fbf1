"""Keep credentials out of the single source of truth.

A key that looks like a credential (token, secret, password, api key, ...) keeps
its name but loses its value, in config and in captured environment variables.
"""

from __future__ import annotations

import re

REDACTED = "***redacted***"

_CREDENTIAL_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_.]?key|access[-_.]?key|private[-_.]?key"
    r"|credential|auth|session[-_.]?key|signature|cookie|(^|[-_.])key$)",
    re.IGNORECASE,
)
# Keys that end in "key" but are not secrets.
_HARMLESS_KEYS = re.compile(
    r"(^|[-_.])(sort|primary|partition|dict|metric|monitor)[-_.]?key$", re.I
)


def is_credential_key(key: str) -> bool:
    """True when a key's name suggests its value is a secret."""
    last = key.rsplit(".", 1)[-1]
    return bool(_CREDENTIAL_KEY.search(last)) and not _HARMLESS_KEYS.search(last)


def redact_mapping(values: dict[str, str]) -> dict[str, str]:
    """A copy of ``values`` with credential-like keys' values replaced."""
    return {key: REDACTED if is_credential_key(key) else value for key, value in values.items()}
