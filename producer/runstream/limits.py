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
MAX_CLASSES = 1_000
"""Classes of one sample batch: the length of class_names, probabilities and scores."""
MAX_CLASS_NAME_BYTES = 256
MAX_SLICE_KEYS = 16
MAX_SLICE_VALUE_BYTES = 256
MAX_METADATA_KEYS = 32
MAX_METADATA_VALUE_BYTES = 4 * 1024
PROBABILITY_SUM_TOLERANCE = 1e-3
"""How far a sample's probabilities may sum away from 1 (float32 softmax outputs do)."""
MAX_ENVELOPE_BYTES = 900 * 1024
"""Below Kafka's default 1 MiB message limit, with room for the record header."""
MAX_PAYLOAD_BYTES = MAX_ENVELOPE_BYTES - 16 * 1024
"""Room for one payload (a batch, a RunStarted), leaving space for the Envelope around it."""

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
PROJECT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def text_problem(
    value: object,
    *,
    what: str = "text",
    max_chars: int | None = None,
    max_bytes: int | None = None,
    control: bool = True,
    empty: bool = True,
) -> str | None:
    """Why ``value`` cannot be stored as a wire string, or None when it can.

    Every string the SDK puts into an envelope passes this check in the caller's thread:
    protobuf refuses strings that are not valid UTF-8 (lone surrogates, which Python
    strings may hold), and a refusal in the background recorder would lose the events
    encoded with it. ``control=False`` refuses control characters (keys, names);
    ``empty=False`` refuses empty and blank strings.
    """
    if not isinstance(value, str):
        return f"{what} must be a string, got {type(value).__name__}"
    if not empty and not value.strip():
        return f"{what} is empty"
    if max_chars is not None and len(value) > max_chars:
        return f"{what} is {len(value)} characters long, the limit is {max_chars}"
    if not value.isascii():
        try:
            encoded = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"not valid UTF-8 (a lone surrogate at position {exc.start})"
        if max_bytes is not None and len(encoded) > max_bytes:
            return f"{what} is {len(encoded)} bytes long, the limit is {max_bytes}"
    elif max_bytes is not None and len(value) > max_bytes:
        return f"{what} is {len(value)} bytes long, the limit is {max_bytes}"
    if not control and any(ord(char) < 32 for char in value):
        return f"{what} contains control characters"
    return None


def key_problem(key: object) -> str | None:
    """Why ``key`` cannot name a metric, param, split or artifact, or None when it can."""
    if not isinstance(key, str):
        return f"keys must be strings, got {type(key).__name__}"
    return text_problem(key, what="key", max_chars=MAX_KEY_LENGTH, control=False, empty=False)


def safe_text(value: str) -> str:
    """``value`` as a string protobuf accepts: lone surrogates (undecodable bytes of an
    environment variable or a path, say) become ``\\udcff`` escapes. For what the SDK
    captures itself; what users pass is refused by :func:`text_problem` instead."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def truncated_text(value: str, max_bytes: int) -> tuple[str, int]:
    """``value`` cut to about ``max_bytes`` UTF-8 bytes with a visible marker, and the
    number of bytes cut (0 when it fits)."""
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value, 0
    marker_room = 64
    kept = encoded[: max(0, max_bytes - marker_room)].decode("utf-8", "ignore")
    cut = len(encoded) - len(kept.encode("utf-8"))
    return f"{kept}… [truncated by runstream: {cut} bytes]", cut


def project_problem(project: object) -> str | None:
    """Why ``project`` cannot name a project, or None when it can."""
    if not isinstance(project, str) or not project:
        return "project must be a non-empty string"
    if len(project) > MAX_PROJECT_LENGTH:
        return f"project name is longer than {MAX_PROJECT_LENGTH} characters"
    if not PROJECT_PATTERN.match(project):
        return "project may hold letters, digits, '.', '_' and '-' and starts with a letter/digit"
    return None
