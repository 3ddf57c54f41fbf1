"""Layer 1 of the scrubbing: names that say credential.

A key that looks like a credential (token, secret, password, api key, ...) keeps its
name but loses its value: config keys, environment variables, command-line flags and
URL query parameters.
"""

from __future__ import annotations

import re

REDACTED = "***redacted***"

_CREDENTIAL_KEY = re.compile(
    r"(pass(word|wd|phrase)|secret|api[-_.]?key|access[-_.]?key|private[-_.]?key"
    r"|credential|session[-_.]?key|signature|cookie"
    # Short words that are also parts of harmless ones (tokenizer, max_tokens, author,
    # num_passes): only as whole words.
    r"|(^|[-_.])(token|auth|pass|pwd)([-_.]|$)|(^|[-_.])key$)",
    re.IGNORECASE,
)
# Keys that end in "key" but are not secrets, and the shell's working directories.
_HARMLESS_KEYS = re.compile(
    r"(^|[-_.])(sort|primary|partition|dict|metric|monitor)[-_.]?key$|^(old)?pwd$", re.I
)


def is_credential_key(key: str) -> bool:
    """True when any part of a dotted key suggests its value is a secret (``api_keys.openai``)."""
    return any(
        _CREDENTIAL_KEY.search(part) and not _HARMLESS_KEYS.search(part) for part in key.split(".")
    )
