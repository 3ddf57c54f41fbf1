"""Just enough of ClickHouse's lexer to route a request; the engine parses the SQL itself.

The server must know, before the engine sees anything: where an INSERT's inline
data starts (it goes to the engine as a file, not as SQL text), the output format
(for the ``X-ClickHouse-Format`` header and to choose streaming), and whether the
text holds what ClickHouse's HTTP interface refuses (several statements, ``INTO
OUTFILE``, ``FROM INFILE``). Request bodies arrive in chunks, so analysis works on
a prefix and says when it needs more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import ChdbHttpError

_TOKEN = re.compile(
    rb"""
    (?P<ws>[ \t\r\n\f\v]+)
    |(?P<comment>--[^\n]*|//[^\n]*|\#[ !][^\n]*)
    |(?P<block>/\*)
    |(?P<str>'(?:[^'\\]|\\.|'')*')
    |(?P<qid>"(?:[^"\\]|\\.|"")*"|`(?:[^`\\]|\\.|``)*`)
    |(?P<heredoc>\$(?P<tag>[A-Za-z0-9_]*)\$)
    |(?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    |(?P<num>[0-9][0-9A-Za-z_.]*)
    |(?P<p>.)
    """,
    re.S | re.X,
)
_OPENERS = frozenset(b"'\"`")
_PARAMETER_NAME = re.compile(rb"[^:}\s]*")


def _names_parameter(buf: bytes, pos: int) -> bool:
    """Whether ``pos`` starts the name of a ``{name:Type}`` query parameter."""
    return buf[:pos].rstrip().endswith(b"{")


class NeedMore(ChdbHttpError):
    """The prefix ends before the analysis could decide: read more of the body."""


@dataclass(frozen=True)
class Token:
    kind: str  # word, str, qid, num, p (punctuation)
    start: int
    end: int
    text: bytes

    @property
    def upper(self) -> str:
        return self.text.decode("latin-1").upper() if self.kind == "word" else ""

    @property
    def name(self) -> str:
        """An identifier's name: a word, or a quoted identifier without its quotes."""
        if self.kind == "qid":
            return self.text[1:-1].decode("utf-8", "replace")
        return self.text.decode("utf-8", "replace")


@dataclass(frozen=True)
class Statement:
    keyword: str
    """The first keyword, upper case ('' when the text is empty or starts oddly)."""
    output_format: str | None = None
    """An explicit trailing ``FORMAT name`` of a query."""
    multi: bool = False
    outfile: bool = False
    infile: bool = False
    insert_target: bytes | None = None
    """``INSERT INTO t (cols)``, for an INSERT whose data follows inline."""
    insert_settings: bytes = b""
    insert_format: str | None = None
    data_offset: int | None = None
    """Where the inline data of an INSERT starts in the analysed text."""


def tokens(buf: bytes, complete: bool) -> Iterator[Token]:
    """Significant tokens of ``buf``; raises NeedMore when the prefix cuts one short."""
    pos, end = 0, len(buf)
    while pos < end:
        match = _TOKEN.match(buf, pos)
        assert match is not None  # the last alternative matches any byte
        kind = match.lastgroup or "p"
        stop = match.end()
        if kind == "block":
            stop = _block_comment_end(buf, pos)
        elif kind == "heredoc" and not _names_parameter(buf, pos):
            closing = buf.find(match.group(0), stop)
            stop = -1 if closing < 0 else closing + len(match.group(0))
        elif kind == "heredoc":  # {$x$:Int32}: a query parameter's name, not a heredoc
            kind = "word"
            stop = _PARAMETER_NAME.match(buf, pos).end()  # type: ignore[union-attr]
        elif kind == "p" and buf[pos] in _OPENERS:
            stop = -1
        if stop < 0:
            if not complete:
                raise NeedMore
            return  # an unterminated literal: the engine will say what is wrong
        if stop == end and not complete and kind in ("ws", "word", "num", "comment"):
            raise NeedMore
        if kind not in ("ws", "comment", "block"):
            yield Token("str" if kind == "heredoc" else kind, pos, stop, buf[pos:stop])
        pos = stop


def analyze(buf: bytes, complete: bool = True) -> Statement:
    """Route one request's SQL (``complete`` False: ``buf`` is only a prefix of it)."""
    stream = tokens(buf, complete)
    first = next(stream, None)
    if first is None:
        if not complete:
            raise NeedMore
        return Statement("")
    keyword = first.upper or ("(" if first.text == b"(" else "")  # (SELECT 1) UNION ALL ...
    if keyword == "INSERT":
        return _insert(buf, stream, complete)
    if not complete:
        raise NeedMore  # anything else is SQL text through to the end of the body
    return _query(keyword, [first, *stream])


def _block_comment_end(buf: bytes, pos: int) -> int:
    depth, index = 0, pos
    while index < len(buf) - 1:
        pair = buf[index : index + 2]
        if pair == b"/*":
            depth, index = depth + 1, index + 2
        elif pair == b"*/":
            depth, index = depth - 1, index + 2
            if depth == 0:
                return index
        else:
            index += 1
    return -1


def _query(keyword: str, toks: list[Token]) -> Statement:
    multi, outfile = False, False
    for index, token in enumerate(toks):
        if token.text == b";" and index + 1 < len(toks):
            multi = True
        if token.upper == "INTO" and index + 1 < len(toks) and toks[index + 1].upper == "OUTFILE":
            outfile = True
    return Statement(keyword, _trailing_format(toks), multi=multi, outfile=outfile)


def _trailing_format(toks: list[Token]) -> str | None:
    """``FORMAT name`` at depth 0 followed only by a SETTINGS clause, a ';' or nothing."""
    depth, found = 0, None
    for index, token in enumerate(toks):
        if token.text in (b"(", b"["):
            depth += 1
        elif token.text in (b")", b"]"):
            depth -= 1
        elif depth == 0 and token.upper == "FORMAT" and index + 1 < len(toks):
            following = toks[index + 2] if index + 2 < len(toks) else None
            if toks[index + 1].kind in ("word", "qid") and (
                following is None or following.text == b";" or following.upper == "SETTINGS"
            ):
                found = toks[index + 1].name
    return found


def without_format(buf: bytes) -> bytes:
    """The query without its trailing ``FORMAT name [SETTINGS ...]`` and ``;``."""
    toks = list(tokens(buf, complete=True))
    depth, cut = 0, len(buf)
    for index, token in enumerate(toks):
        if token.text in (b"(", b"["):
            depth += 1
        elif token.text in (b")", b"]"):
            depth -= 1
        elif (
            depth == 0
            and token.upper == "FORMAT"
            and index + 1 < len(toks)
            and toks[index + 1].kind in ("word", "qid")
            and (
                index + 2 == len(toks)
                or toks[index + 2].text == b";"
                or toks[index + 2].upper == "SETTINGS"
            )
        ):
            cut = token.start
        elif depth == 0 and token.text == b";":
            cut = min(cut, token.start)
    return buf[:cut]


class _Tokens:
    """A token stream that can take one token back."""

    def __init__(self, stream: Iterator[Token]) -> None:
        self._stream = stream
        self._back: Token | None = None

    def next(self) -> Token | None:
        if self._back is not None:
            token, self._back = self._back, None
            return token
        return next(self._stream, None)

    def push(self, token: Token) -> None:
        self._back = token


def _insert(buf: bytes, stream: Iterator[Token], complete: bool) -> Statement:
    """Find where an INSERT's data starts: after VALUES, or after ``FORMAT name``."""
    toks = _Tokens(stream)
    target_end = _skip_target(toks)
    if target_end is None:
        if not complete:
            raise NeedMore
        return Statement("INSERT")
    settings_start: int | None = None
    while (token := toks.next()) is not None:
        word = token.upper
        if word == "SETTINGS" and settings_start is None:
            settings_start = token.start
        elif word in ("SELECT", "WITH") or token.text == b"(":
            return Statement("INSERT")
        elif word == "FROM":
            return Statement("INSERT", infile=True)
        elif word in ("VALUES", "FORMAT"):
            settings = buf[settings_start : token.start] if settings_start is not None else b""
            return _with_data(buf, toks, token, buf[:target_end], settings, complete)
    if not complete:
        raise NeedMore
    return Statement("INSERT")


def _with_data(
    buf: bytes, toks: _Tokens, clause: Token, target: bytes, settings: bytes, complete: bool
) -> Statement:
    if clause.upper == "VALUES":
        return Statement(
            "INSERT",
            insert_target=target,
            insert_settings=settings,
            insert_format="Values",
            data_offset=clause.end,
        )
    name = toks.next()
    if name is None or name.kind not in ("word", "qid"):
        if not complete:
            raise NeedMore
        return Statement("INSERT")
    return Statement(
        "INSERT",
        insert_target=target,
        insert_settings=settings,
        insert_format=name.name,
        data_offset=_data_start(buf, name.end, complete),
    )


def _skip_target(toks: _Tokens) -> int | None:
    """Consume ``INTO [TABLE] name[.name] [(columns)]`` or ``INTO FUNCTION f(...)``."""
    token = toks.next()
    if token is None or token.upper != "INTO":
        return None
    token = toks.next()
    if token is not None and token.upper == "TABLE":
        token = toks.next()
    if token is None:
        return None
    if token.upper == "FUNCTION":
        toks.next()
        return _skip_parens(toks, toks.next())
    end = token.end
    token = toks.next()
    while token is not None and token.text == b".":
        name = toks.next()
        end = name.end if name is not None else end
        token = toks.next()
    if token is not None and token.text == b"(":
        return _skip_parens(toks, token)
    if token is not None:
        toks.push(token)
    return end


def _skip_parens(toks: _Tokens, opening: Token | None) -> int | None:
    if opening is None or opening.text != b"(":
        return None
    depth = 1
    while (token := toks.next()) is not None:
        if token.text == b"(":
            depth += 1
        elif token.text == b")":
            depth -= 1
            if depth == 0:
                return token.end
    return None


def _data_start(buf: bytes, pos: int, complete: bool) -> int:
    """ClickHouse's rule: skip blanks, then at most one line break, after the format name."""
    end = len(buf)
    while pos < end and buf[pos] in b" \t\f":
        pos += 1
    if pos == end and not complete:
        raise NeedMore
    if pos < end and buf[pos] == 0x0D:
        pos += 1
        if pos == end and not complete:
            raise NeedMore
    if pos < end and buf[pos] == 0x0A:
        pos += 1
    return pos
