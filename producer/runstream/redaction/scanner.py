"""Secrets found by their value: Yelp's detect-secrets, with every plugin but one.

detect-secrets decides what is a secret (AWS, GitHub, GitLab, Slack, Stripe, Twilio, npm,
PyPI, OpenAI, SendGrid, Discord, Telegram, Azure, IBM, Artifactory, Mailchimp tokens,
private keys, JWTs, passwords in URLs, secret-named assignments, high-entropy quoted
strings) and its own false-positive filters (UUIDs, templates, ``${VAR}`` references,
sequential strings...) decide what is not. Left out: ``IPPublicDetector``, since a public IP
address is not a credential and removing it from a command line or a diff loses information.

Speed: the library's full per-line pipeline costs about 0.2 ms a line, several seconds for a
diff of a few MB. So a text is scanned in two steps, with the same verdicts:

1. each plugin runs once over the text of a file (a C-speed regex pass instead of one call
   per line; the keyword detector, which reports one match per pattern and string, line by
   line); plugins whose patterns are slow on long texts (:func:`_gates`) run only over
   the lines holding a word every one of their patterns requires;
2. the lines holding anything step 1 found go through the library's line scan with its
   filters, which gives the verdict.

The library keeps its configuration in a process-wide object: every scan sets it for its
own duration (``transient_settings``) and puts back what was there.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from detect_secrets.plugins.base import BasePlugin

PRIVATE_KEY = "Private Key"
"""detect-secrets' name for private key blocks: only their header line is matched, so the
caller removes the whole block."""

_DISABLED = frozenset({"IPPublicDetector"})
_FIRST_MATCH_ONLY = frozenset({"KeywordDetector"})
"""Plugins that report the first match of each pattern in a string, not all: line by line."""

_ASSIGNMENT_WORDS = re.compile(r"key|pw|pass|token|secret|cloudant|softlayer", re.IGNORECASE)
"""The gates with ``re.IGNORECASE`` are applied, without it, to the lower-cased text: Python's
regex engine is several times slower on a case-insensitive alternation."""
_FIXED_GATES: dict[str, re.Pattern[str]] = {
    # Each pattern of these plugins contains one of these words (their regexes are in
    # detect_secrets/plugins/<name>.py); without the gate they cost 0.1 to 0.3 s per MB each.
    "IbmCloudIamDetector": _ASSIGNMENT_WORDS,
    "CloudantDetector": _ASSIGNMENT_WORDS,
    "SoftlayerDetector": _ASSIGNMENT_WORDS,
    "IbmCosHmacDetector": _ASSIGNMENT_WORDS,
    "ArtifactoryDetector": re.compile(r"AKC|AP[\dA-F]"),
    "MailchimpDetector": re.compile(r"-us\d"),
}


@dataclass(frozen=True)
class Finding:
    """One secret: its exact text, the index of the line it is on, and its kind."""

    line: int
    secret: str
    kind: str


def scan(lines: Sequence[str], filename: str = "runstream-value") -> list[Finding]:
    """The secrets detect-secrets finds in ``lines`` (the lines of one file).

    ``filename`` picks the keyword detector's rules for that file type (``x.py`` wants
    quotes around the value, ``x.yaml`` does not).
    """
    return scan_files([(lines, filename)])[0]


def scan_files(files: Sequence[tuple[Sequence[str], str]]) -> list[list[Finding]]:
    """:func:`scan` of each (lines, filename), with the library configured once."""
    _import_detect_secrets()
    from detect_secrets.settings import get_plugins, transient_settings

    with transient_settings({"plugins_used": _plugins()}):
        plugins = get_plugins()
        return [_scan(plugins, lines, filename) if lines else [] for lines, filename in files]


def _scan(plugins: Sequence[BasePlugin], lines: Sequence[str], filename: str) -> list[Finding]:
    from detect_secrets.core.scan import _process_line_based_plugins

    text = "\n".join(lines)
    starts = _line_starts(lines)
    lowered = text.lower()
    gated: dict[re.Pattern[str], list[int]] = {}
    candidates: set[int] = set()
    for plugin in plugins:
        name = type(plugin).__name__
        gate = _gates().get(name)
        if gate is not None and gate not in gated:
            gated[gate] = _gated(text, lowered, starts, gate)
        if name in _FIRST_MATCH_ONLY:
            for index in range(len(lines)) if gate is None else gated[gate]:
                if plugin.analyze_line(filename=filename, line=lines[index], line_number=0):
                    candidates.add(index)
            continue
        searched = text if gate is None else "\n".join(lines[index] for index in gated[gate])
        if not searched:
            continue
        for found in plugin.analyze_line(filename=filename, line=searched, line_number=0):
            if found.secret_value:
                candidates.update(_lines_holding(text, starts, found.secret_value))
    if not candidates:
        return []
    numbered = [(index + 1, lines[index]) for index in sorted(candidates)]
    return [
        Finding(secret.line_number - 1, secret.secret_value, secret.type)
        for secret in _process_line_based_plugins(lines=numbered, filename=filename)
        if secret.secret_value
    ]


def _gated(text: str, lowered: str, starts: list[int], gate: re.Pattern[str]) -> list[int]:
    """Indexes of the lines of ``text`` holding a match of ``gate``."""
    searched = text
    if gate.flags & re.IGNORECASE and len(lowered) == len(text):
        searched, gate = lowered, _case_sensitive(gate)
    kept: list[int] = []
    position = 0
    while match := gate.search(searched, position):
        index = bisect.bisect_right(starts, match.start()) - 1
        kept.append(index)
        position = starts[index + 1] if index + 1 < len(starts) else len(searched) + 1
    return kept


@functools.cache
def _case_sensitive(gate: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(gate.pattern, gate.flags & ~re.IGNORECASE)


def _line_starts(lines: Sequence[str]) -> list[int]:
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    return starts


def _lines_holding(text: str, starts: list[int], value: str) -> Iterator[int]:
    """Indexes of the lines where ``value`` (or, across lines, its first line) occurs."""
    needle = value.split("\n", 1)[0]
    if not needle:
        return
    position = text.find(needle)
    while position != -1:
        yield bisect.bisect_right(starts, position) - 1
        position = text.find(needle, position + 1)


@functools.cache
def _import_detect_secrets() -> None:
    """Import detect-secrets, keeping the process's warnings as they were.

    Its logging module calls ``logging.captureWarnings(True)`` on import, which would send
    every warning of the training process (runstream's TrackingWarning included) to the
    ``py.warnings`` logger and past ``warnings.catch_warnings(record=True)``.
    """
    import warnings

    showwarning = warnings.showwarning
    import detect_secrets.core.log  # noqa: F401

    warnings.showwarning = showwarning


_PLUGINS: list[dict[str, str]] | None = None


def _plugins() -> list[dict[str, str]]:
    global _PLUGINS
    if _PLUGINS is None:
        _import_detect_secrets()
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

        mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
        names = [plugin.__name__ for plugin in mapping.values()]
        _PLUGINS = [{"name": name} for name in names if name not in _DISABLED]
    return _PLUGINS


def _gates() -> dict[str, re.Pattern[str]]:
    """:data:`_FIXED_GATES`, and the keyword detector gated by its own list of words."""
    global _GATES
    if _GATES is None:
        _import_detect_secrets()
        from detect_secrets.plugins.keyword import DENYLIST_REGEX

        # Its patterns are DENYLIST_REGEX, with affixes, before an assignment.
        words = DENYLIST_REGEX.removesuffix(r"\w*")
        _GATES = {**_FIXED_GATES, "KeywordDetector": re.compile(words, re.IGNORECASE)}
    return _GATES


_GATES: dict[str, re.Pattern[str]] | None = None
