"""Keep credentials out of everything a run records.

Scrubbing happens on the training machine before anything is spooled, so no secret reaches
the spool, Kafka, the store or the artifact store. It runs where a run's texts are made:
once in ``init()`` (config, tags, notes, command line, environment variables, git remote and
the uncommitted diff), in ``log_artifact`` (metadata) and for ``run.summary`` texts; never in
``log()``. Each text goes through these layers:

1. **Key rules** (:mod:`.keys`): a config key, environment variable, command-line flag or
   URL query parameter whose name says credential (``token``, ``secret``, ``password``,
   ``api_key``, ...) keeps its name and loses its value: ``--password x``,
   ``--api-key=x``, ``?token=x``, ``DB_PASSWORD=x``.
2. **URL credentials**: the password in ``scheme://user:password@host`` (also with no user).
3. **Authorization headers**: the credential after ``Authorization:`` (``Bearer``,
   ``Basic``, ...) and after ``Bearer``, in values such as ``HEADER=Authorization: Bearer x``.
4. **Value patterns** (:mod:`.scanner`): Yelp's detect-secrets finds tokens whatever their
   name says: AWS keys, GitHub/GitLab/Slack/Stripe/Twilio/npm/PyPI/OpenAI tokens, Slack
   webhooks, JWTs, private keys (the whole block goes), passwords in URLs, secret-named
   assignments in code, high-entropy strings. A single value (an environment variable,
   a config text) is also scanned as a quoted string, so a random token alone is caught;
   a 40 or 64 hex digit value whose key names a digest (``GIT_COMMIT``, ``data_sha256``)
   is kept.

What is removed becomes :data:`REDACTED`, in place: the rest of the value stays, and a diff
keeps its lines (and so mostly stays applicable). The number of redactions is recorded with
the run as the integer param ``runstream.redacted`` (absent when nothing was redacted), and
for an artifact as its metadata entry ``runstream.redacted``.

Cost: the first scan of a process imports detect-secrets (about 0.2 s); then a few hundred
environment variables take a few ms and a diff 0.1 to 0.4 s per MB, depending on how many
quoted strings it holds (``test_scrubbing_is_fast`` in ``tests/producer/test_secrets.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from .keys import REDACTED, is_credential_key
from .scanner import PRIVATE_KEY, Finding, scan, scan_files

__all__ = ["COUNT_KEY", "REDACTED", "Scrubber", "is_credential_key"]

COUNT_KEY = "runstream.redacted"
"""Param (of a run) and metadata entry (of an artifact) counting the redactions."""

_URL_USER = re.compile(r"(://)([^/@\s]+)@")
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)([^@/\s]+)@")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_QUERY_PARAMETER = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s]*)")
_URL_ONLY_KEYS = re.compile(r"^(sig|sv|se|code)$", re.IGNORECASE)
"""Query parameters that are credentials in URLs only (Azure SAS signatures, OAuth codes)."""
_AUTHORIZATION = re.compile(
    r"(\b(?:proxy-)?authorization\s*[:=]\s*(?:(?:bearer|basic|digest|token|bot|negotiate)\s+)?)"
    r"([^\s'\",;]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_KEY_BLOCK_END = re.compile(r"END[A-Z0-9 ]* PRIVATE KEY|END SSH2 ENCRYPTED PRIVATE KEY|Private-MAC")
_MAX_KEY_BLOCK_LINES = 200
_WHOLE_TOKEN_LENGTH = 16
_TOKEN_HEAD = r"[A-Za-z0-9_\-.+/~]*"
_TOKEN_TAIL = r"[A-Za-z0-9_\-.+/~=]*"
_DIGEST_KEY = re.compile(r"sha|commit|hash|digest|checksum|revision|(^|[-_.])rev($|[-_.])", re.I)
_DIGEST = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_DIFF_FILE = re.compile(r"^diff --git a/.* b/(.*)$")


class Scrubber:
    """Removes secrets from texts and counts what it removed (:attr:`count`)."""

    def __init__(self) -> None:
        self.count = 0

    def value(self, text: str, key: str = "") -> str:
        """One value: REDACTED when ``key`` names a credential, else ``text`` scrubbed."""
        return self.values({key: text})[key]

    def values(self, texts: Mapping[str, str]) -> dict[str, str]:
        """Values by key (variables, metadata): key rules, then the value rules, in one scan."""
        clean: dict[str, str] = {}
        for key, text in texts.items():
            if is_credential_key(key):
                clean[key] = REDACTED
                self.count += text != REDACTED
            else:
                clean[key] = text
        scanned = [
            key
            for key, text in clean.items()
            if text != REDACTED and not (_DIGEST_KEY.search(key) and _DIGEST.fullmatch(text))
        ]
        for key, text in zip(scanned, self._texts([clean[key] for key in scanned]), strict=True):
            clean[key] = text
        return clean

    def texts(self, texts: Iterable[str]) -> list[str]:
        """Values without keys (tags, command-line arguments): the value rules only."""
        return self._texts(list(texts))

    def argv(self, args: Sequence[str]) -> list[str]:
        """A command line: values of credential-named flags, then every argument's content."""
        kept: list[str] = []
        hide_next = False
        for arg in args:
            if hide_next and not arg.startswith("-"):
                kept.append(REDACTED)
                self.count += 1
                hide_next = False
                continue
            hide_next = False
            name, equals, flag_value = arg.lstrip("-").partition("=")
            if arg.startswith("-") and _secret_flag(name):
                if not equals:
                    hide_next = True
                elif flag_value and flag_value != REDACTED:
                    arg = arg[: len(arg) - len(flag_value)] + REDACTED
                    self.count += 1
            kept.append(arg)
        return self._texts(kept)

    def url(self, url: str) -> str:
        """A URL without its user name and password (a git remote)."""
        user = _URL_USER.search(url)
        if user is None:
            return self._texts([url])[0]
        self.count += user.group(2) != "git"  # ssh://git@host: a user name, not a secret
        return self._texts([url[: user.start(2)] + url[user.end() :]])[0]

    def diff(self, diff: bytes) -> bytes:
        """``git diff`` output with every secret replaced in place, file by file."""
        if not diff:
            return diff
        text = diff.decode("utf-8", "surrogateescape")
        lines = [self._patterns(line) for line in text.split("\n")]
        files = _diff_files(lines)
        found = scan_files([(lines[start:end], filename) for start, end, filename in files])
        for (start, end, _), findings in zip(files, found, strict=True):
            section = lines[start:end]
            self._redact_lines(section, findings)
            lines[start:end] = section
        return "\n".join(lines).encode("utf-8", "surrogateescape")

    # -- the value rules ---------------------------------------------------------------

    def _texts(self, texts: list[str]) -> list[str]:
        texts = [self._patterns(text) for text in texts]
        # Every value as its own lines, and a single-line value once more in quotes: the
        # high-entropy detectors only consider quoted strings.
        lines: list[str] = []
        owner: list[int] = []
        for index, text in enumerate(texts):
            own = text.split("\n")
            if len(own) == 1 and text:
                own.append(f'"{text}"')
            lines.extend(own)
            owner.extend([index] * len(own))
        by_text: dict[int, list[Finding]] = {}
        for finding in scan(lines):
            by_text.setdefault(owner[finding.line], []).append(finding)
        for index, findings in by_text.items():
            if any(finding.kind == PRIVATE_KEY for finding in findings):
                texts[index] = REDACTED
                self.count += 1
            else:
                texts[index] = self._replace(texts[index], {f.secret for f in findings})
        return texts

    def _patterns(self, text: str) -> str:
        if "://" in text:
            text = _URL_PASSWORD.sub(self._hide(2), text)
            text = _URL.sub(self._query, text)
        if "uthorization" in text or "earer" in text:
            text = _AUTHORIZATION.sub(self._hide(2), text)
            text = _BEARER.sub(self._hide(2), text)
        return text

    def _hide(self, group: int) -> _Hide:
        return _Hide(self, group)

    def _query(self, url: re.Match[str]) -> str:
        def hide(match: re.Match[str]) -> str:
            separator, name, value = match.groups()
            if not value or value == REDACTED:
                return match.group(0)
            if is_credential_key(name) or _URL_ONLY_KEYS.match(name):
                self.count += 1
                return f"{separator}{name}={REDACTED}"
            return match.group(0)

        return _QUERY_PARAMETER.sub(hide, url.group(0))

    def _replace(self, text: str, secrets: Iterable[str]) -> str:
        for secret in sorted(secrets, key=len, reverse=True):
            if secret == REDACTED or secret not in text:
                continue
            if len(secret) >= _WHOLE_TOKEN_LENGTH:
                # A token goes whole: some patterns match a prefix only (a JWT's signature).
                pattern = rf"{_TOKEN_HEAD}{re.escape(secret)}{_TOKEN_TAIL}"
            else:
                pattern = rf"(?<![\w]){re.escape(secret)}(?![\w])"
            text, replaced = re.subn(pattern, REDACTED, text)
            if not replaced:
                replaced = text.count(secret)
                text = text.replace(secret, REDACTED)
            self.count += replaced
        return text

    def _redact_lines(self, lines: list[str], findings: list[Finding]) -> None:
        by_line: dict[int, set[str]] = {}
        for finding in findings:
            if finding.kind == PRIVATE_KEY:
                self._redact_key_block(lines, finding.line)
            else:
                by_line.setdefault(finding.line, set()).add(finding.secret)
        for index, secrets in by_line.items():
            line = lines[index]
            prefix = line[:1] if line[:1] in ("+", "-", " ") else ""  # stays: the diff applies
            lines[index] = prefix + self._replace(line[len(prefix) :], secrets)

    def _redact_key_block(self, lines: list[str], begin: int) -> None:
        """The body of a private key block, from the line after its header to its end."""
        self.count += 1
        for index in range(begin + 1, min(begin + _MAX_KEY_BLOCK_LINES, len(lines))):
            if _KEY_BLOCK_END.search(lines[index]):
                return
            prefix = lines[index][:1] if lines[index][:1] in ("+", "-", " ") else ""
            lines[index] = prefix + REDACTED


class _Hide:
    """``re.sub`` replacement: group ``group`` becomes REDACTED, counted once per match."""

    def __init__(self, scrubber: Scrubber, group: int) -> None:
        self.scrubber, self.group = scrubber, group

    def __call__(self, match: re.Match[str]) -> str:
        if match.group(self.group) == REDACTED:
            return match.group(0)
        self.scrubber.count += 1
        start, end = match.span(self.group)
        whole = match.group(0)
        offset = match.start()
        return whole[: start - offset] + REDACTED + whole[end - offset :]


def _secret_flag(name: str) -> bool:
    return bool(name) and not name.lower().startswith("no-") and is_credential_key(name)


def _diff_files(lines: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, file name) of each file's section of a diff."""
    starts = [(index, match.group(1)) for index, line in enumerate(lines)
              if (match := _DIFF_FILE.match(line))]  # fmt: skip
    if not starts or starts[0][0] != 0:
        starts.insert(0, (0, "diff"))
    ends = [start for start, _ in starts[1:]] + [len(lines)]
    return [
        (start, end, name.rsplit("/", 1)[-1])
        for (start, name), end in zip(starts, ends, strict=True)
    ]
