"""Limits shared by the SDK (which refuses bad input) and the processors (which dead-letter it).

Keeping them in one module means a producer never emits what a processor rejects.
"""

from __future__ import annotations

import re

MAX_KEY_LENGTH = 250
MAX_PROJECT_LENGTH = 128
MAX_NAME_LENGTH = 256
MAX_TAG_LENGTH = 128
MAX_TEXT_VALUE_BYTES = 64 * 1024
MAX_SAMPLE_FIELD_BYTES = 64 * 1024
MAX_SAMPLES_PER_BATCH = 10_000
MAX_POINTS_PER_BATCH = 20_000
MAX_ENVELOPE_BYTES = 900 * 1024
"""Below Kafka's default 1 MiB message limit, with room for the record header."""
MAX_PAYLOAD_BYTES = MAX_ENVELOPE_BYTES - 16 * 1024
"""Room for one payload (a batch, a RunStarted), leaving space for the Envelope around it."""

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
PROJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot name a metric or param, or None when it can."""
    if not isinstance(key, str):
        return f"keys must be strings, got {type(key).__name__}"
    if not key or not key.strip():
        return "key is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"key is {len(key)} characters long, the limit is {MAX_KEY_LENGTH}"
    if any(ord(char) < 32 for char in key):
        return "key contains control characters"
    return None


def project_problem(project: object) -> str | None:
    """Why ``project`` cannot name a project, or None when it can."""
    if not isinstance(project, str) or not project:
        return "project must be a non-empty string"
    if len(project) > MAX_PROJECT_LENGTH:
        return f"project name is longer than {MAX_PROJECT_LENGTH} characters"
    if not PROJECT_PATTERN.match(project):
        return "project may hold letters, digits, '.', '_' and '-' and starts with a letter/digit"
    return None
