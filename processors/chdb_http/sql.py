"""Just enough of ClickHouse's lexer to route a request; the engine parses the SQL itself.

The server must know, before the engine sees anything: where an INSERT's inline
data starts (it goes to the engine as a file, not as SQL text), the output format
(for the ``X-ClickHouse-Format`` header and to choose streaming), and whether the
text holds what ClickHouse's HTTP interface refuses (several statements, ``INTO
OUTFILE``, ``FROM INFILE``).

Request bodies arrive in chunks, and a body may be hostile, so a :class:`Router`
reads one request's text incrementally: each chunk is scanned once, from where the
last one stopped (a token cut by a chunk boundary resumes where it was, a literal
or a comment never rescanned), and the analysis keeps a few tokens, never a list
of them, so its time is linear and its memory is the text itself plus a constant.
Literals, comments and identifiers are skipped by possessive regular expressions
(C loops that neither backtrack nor grow a stack). The text the router keeps is
at most ``max_size`` bytes, ClickHouse's ``max_query_size``: for an INSERT, the
text before its data; for any other statement, the whole text (whitespace after
the limit is dropped, as ClickHouse ignores it). A token that ends past the limit
is refused, as ClickHouse does, with ``Code: 62 ... Max query size exceeded``.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from . import errors
from .errors import ChdbHttpError

DEFAULT_MAX_QUERY_SIZE = 262144
"""ClickHouse's default ``max_query_size``."""

WHITESPACE = b" \t\n\r\f\v"
_SPACE = re.compile(rb"[ \t\n\r\f\v]*+")
_BLANKS = re.compile(rb"[ \t\f]*+")
_WORD = re.compile(rb"[A-Za-z0-9_$]*+")
_NUMBER = re.compile(rb"[0-9A-Za-z_.]*+")
_LINE = re.compile(rb"[^\n]*+")
_TAG = re.compile(rb"[A-Za-z0-9_]*+")
_COMMENT_MARK = re.compile(rb"/\*|\*/")
_PARAMETER_NAME = re.compile(rb"[^:}\s]*+")
# Punctuation the analysis never looks into (not ; ( ) [ ] . nor what starts a literal or a
# comment), and any other byte: one token for a run of it, not one per byte.
_OTHER = re.compile(rb"[^A-Za-z0-9_ \t\n\r\f\v'\"`$\-/#;()\[\].]++")
# The inside of a quoted literal up to its closing quote, a trailing backslash or the
# end of the text: escapes and doubled quotes are skipped, nothing is ever retried.
_QUOTED = {
    quote: re.compile(rb"[^Q\\]*+(?:(?:\\.|QQ)[^Q\\]*+)*+".replace(b"Q", bytes([quote])), re.S)
    for quote in b"'\"`"
}
_WORD_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset(b"0123456789")
_SPACES = frozenset(WHITESPACE)


class NeedMore(ChdbHttpError):
    """The prefix ends before the analysis could decide: read more of the body."""


class Token(NamedTuple):
    kind: str  # word, str, qid, num, p (punctuation), end (the end of the text)
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


def max_size_error(position: int, max_size: int, hint: str = "") -> errors.ClickHouseError:
    """ClickHouse's answer to a token that ends past ``max_query_size``."""
    how = f"; {hint}" if hint else ""
    return errors.ClickHouseError(
        errors.SYNTAX_ERROR,
        f"Max query size exceeded: Syntax error: failed at position {position + 1}: "
        f"the query is longer than max_query_size = {max_size} bytes{how}",
    )


# What the analysis waits on: a token, or None while the lexer needs more text.
_Wait = Generator[None, None, Token]


class Router:
    """One request's SQL text, fed chunk by chunk, analysed as it comes.

    ``feed`` returns the :class:`Statement` once it is known (None: feed more);
    ``finish`` says the text is complete. For an INSERT with inline data, the
    statement is known as soon as its data starts: ``text[data_offset:]`` and then
    ``overflow`` are the first of its data, and the rest of the body follows.
    Raises ClickHouseError (SYNTAX_ERROR, Max query size exceeded) past ``max_size``.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_QUERY_SIZE, hint: str = "") -> None:
        self.max_size = max_size
        self.hint = hint
        self.buf = bytearray()
        self.overflow = b""
        self.statement: Statement | None = None
        self.keyword: str | None = None
        self._complete = False
        self._back: Token | None = None
        self._lexer = self._lex()
        self._analysis = self._analyse()

    @property
    def text(self) -> bytes:
        return bytes(self.buf)

    def feed(self, data: bytes) -> Statement | None:
        if self.statement is not None:
            self.overflow += data
            return self.statement
        room = self.max_size + 1 - len(self.buf)  # one byte more tells a token ended at the limit
        extra = b""
        if len(data) > room:
            data, extra = data[:room], data[room:]
        self.buf += data
        self._step()
        if extra:
            if self.statement is not None:
                self.overflow += extra
            elif self.keyword == "INSERT" or extra.strip(WHITESPACE):
                raise self._too_large(len(self.buf))
        return self.statement

    def finish(self) -> Statement:
        self._complete = True
        if self.statement is None:
            self._step()
        assert self.statement is not None
        return self.statement

    def _step(self) -> None:
        try:
            next(self._analysis)
        except StopIteration as stop:
            self.statement = stop.value

    def _too_large(self, position: int) -> errors.ClickHouseError:
        return max_size_error(position, self.max_size, self.hint)

    # -- the lexer: significant tokens, resumable at any byte ---------------------------

    def _more(self, start: int) -> bool:
        """Wait for more text inside a token begun at ``start``; False once it is complete."""
        if self._complete:
            return False
        if len(self.buf) > self.max_size:
            raise self._too_large(start)
        return True

    def _lex(self) -> Iterator[Token | None]:
        buf = self.buf
        pos = 0
        while True:
            if pos >= len(buf):
                if self._complete:
                    yield Token("end", len(buf), len(buf), b"")
                    continue
                yield None
                continue
            start, byte = pos, buf[pos]
            kind = "p"
            if byte in _SPACES:
                pos = _SPACE.match(buf, pos).end()  # type: ignore[union-attr]
                continue  # whitespace past the limit does not count, as in ClickHouse
            if byte in _WORD_START or byte in _DIGITS:
                pattern, kind = (_WORD, "word") if byte in _WORD_START else (_NUMBER, "num")
                pos = pattern.match(buf, pos + 1).end()  # type: ignore[union-attr]
                while pos == len(buf) and self._more(start):
                    yield None
                    pos = pattern.match(buf, pos).end()  # type: ignore[union-attr]
            elif byte in _QUOTED:
                pattern = _QUOTED[byte]
                pos = pattern.match(buf, pos + 1).end()  # type: ignore[union-attr]
                while True:
                    if (
                        pos < len(buf)
                        and buf[pos] == byte
                        and (pos + 1 < len(buf) or self._complete)
                    ):
                        pos += 1  # the closing quote (a doubled one was skipped as an escape)
                        break
                    if not self._more(start):
                        yield from self._ended()  # unterminated: the engine will say so
                    yield None
                    pos = pattern.match(buf, pos).end()  # type: ignore[union-attr]
                kind = "str" if byte == ord("'") else "qid"
            elif byte in b"-/#":
                while pos + 1 == len(buf) and self._more(start):
                    yield None  # '-', '/' and '#' may start a comment
                following = buf[pos + 1] if pos + 1 < len(buf) else -1
                if byte == ord("/") and following == ord("*"):
                    pos = yield from self._block_comment(start)
                    continue
                if (byte, following) in ((45, 45), (47, 47), (35, 32), (35, 33)):  # -- // '# ' #!
                    pos = _LINE.match(buf, pos).end()  # type: ignore[union-attr]
                    while pos == len(buf) and self._more(start):
                        yield None
                        pos = _LINE.match(buf, pos).end()  # type: ignore[union-attr]
                    if pos > self.max_size:
                        raise self._too_large(start)
                    continue
                pos += 1
            elif byte == ord("$") and self._names_parameter(start):
                pos = yield from self._parameter_name(start)  # {$x$:Int32}: not a heredoc
                kind = "word"
            elif byte == ord("$"):
                pos, kind = yield from self._heredoc(start)
            else:
                other = _OTHER.match(buf, pos)
                pos = other.end() if other is not None else pos + 1
            if pos > self.max_size:
                raise self._too_large(start)
            yield Token(kind, start, pos, b"" if kind == "str" else bytes(buf[start:pos]))

    def _ended(self) -> Iterator[Token | None]:
        while True:
            yield Token("end", len(self.buf), len(self.buf), b"")

    def _block_comment(self, start: int) -> Generator[Token | None, None, int]:
        """Skip a ``/* */`` comment (they nest) and return where it ends."""
        buf, depth, pos = self.buf, 1, start + 2
        while True:
            mark = _COMMENT_MARK.search(buf, pos)
            if mark is not None:
                pos = mark.end()
                depth += 1 if buf[mark.start()] == ord("/") else -1
                if depth == 0:
                    if pos > self.max_size:
                        raise self._too_large(start)
                    return pos
                continue
            if not self._more(start):
                yield from self._ended()
            pos = max(pos, len(buf) - 1)  # a last '/' or '*' may pair with the next byte
            yield None

    def _names_parameter(self, start: int) -> bool:
        """Whether ``start`` begins the name of a ``{name:Type}`` query parameter."""
        back = start - 1
        while back >= 0 and self.buf[back] in _SPACES:
            back -= 1
        return back >= 0 and self.buf[back] == ord("{")

    def _parameter_name(self, start: int) -> Generator[Token | None, None, int]:
        buf = self.buf
        pos = _PARAMETER_NAME.match(buf, start).end()  # type: ignore[union-attr]
        while pos == len(buf) and self._more(start):
            yield None
            pos = _PARAMETER_NAME.match(buf, pos).end()  # type: ignore[union-attr]
        return pos

    def _heredoc(self, start: int) -> Generator[Token | None, None, tuple[int, str]]:
        """``$tag$ ... $tag$`` as one string token, else a lone ``$``."""
        buf = self.buf
        pos = _TAG.match(buf, start + 1).end()  # type: ignore[union-attr]
        while pos == len(buf) and self._more(start):
            yield None
            pos = _TAG.match(buf, pos).end()  # type: ignore[union-attr]
        if pos >= len(buf) or buf[pos] != ord("$"):
            return start + 1, "p"
        tag = bytes(buf[start : pos + 1])
        scan = pos + 1
        while True:
            closing = buf.find(tag, scan)
            if closing >= 0:
                return closing + len(tag), "str"
            if not self._more(start):
                yield from self._ended()
            scan = max(scan, len(buf) - len(tag) + 1)
            yield None

    # -- the analysis: a few tokens at a time --------------------------------------------

    def _next(self) -> _Wait:
        if self._back is not None:
            back, self._back = self._back, None
            return back
        while True:
            token = next(self._lexer)
            if token is not None:
                return token
            yield

    def _analyse(self) -> Generator[None, None, Statement]:
        first = yield from self._next()
        if first.kind == "end":
            return Statement("")
        self.keyword = first.upper or ("(" if first.text == b"(" else "")  # (SELECT 1) UNION ...
        if self.keyword == "INSERT":
            return (yield from self._insert())
        return (yield from self._query(self.keyword, first))

    def _query(self, keyword: str, token: Token) -> Generator[None, None, Statement]:
        multi = outfile = after_semicolon = False
        found: str | None = None
        depth, previous = 0, ""
        window: list[tuple[Token, int]] = []  # the last two tokens, with the depth of each
        while True:
            if (
                len(window) == 2
            ):  # ``FORMAT name`` at depth 0, then a SETTINGS clause, ';' or nothing
                (clause, level), (name, _) = window
                if (
                    level == 0
                    and clause.upper == "FORMAT"
                    and name.kind in ("word", "qid")
                    and (token.kind == "end" or token.text == b";" or token.upper == "SETTINGS")
                ):
                    found = name.name
            if token.kind == "end":
                return Statement(keyword, found, multi=multi, outfile=outfile)
            multi = multi or after_semicolon
            word = token.upper
            outfile = outfile or (previous == "INTO" and word == "OUTFILE")
            after_semicolon, previous = token.text == b";", word
            window = [*window[-1:], (token, depth)]
            if token.text in (b"(", b"["):
                depth += 1
            elif token.text in (b")", b"]"):
                depth -= 1
            token = yield from self._next()

    def _drain(self, statement: Statement) -> Generator[None, None, Statement]:
        """Read to the end of the text (it is all SQL) and answer ``statement``."""
        while (yield from self._next()).kind != "end":
            pass
        return statement

    def _insert(self) -> Generator[None, None, Statement]:
        """Find where an INSERT's data starts: after VALUES, or after ``FORMAT name``."""
        target_end = yield from self._skip_target()
        if target_end is None:
            return (yield from self._drain(Statement("INSERT")))
        settings_start: int | None = None
        while (token := (yield from self._next())).kind != "end":
            word = token.upper
            if word == "SETTINGS" and settings_start is None:
                settings_start = token.start
            elif word in ("SELECT", "WITH") or token.text == b"(":
                return (yield from self._drain(Statement("INSERT")))
            elif word == "FROM":
                return (yield from self._drain(Statement("INSERT", infile=True)))
            elif word in ("VALUES", "FORMAT"):
                settings = (
                    bytes(self.buf[settings_start : token.start])
                    if settings_start is not None
                    else b""
                )
                target = bytes(self.buf[:target_end])
                return (yield from self._with_data(token, target, settings))
        return Statement("INSERT")

    def _with_data(
        self, clause: Token, target: bytes, settings: bytes
    ) -> Generator[None, None, Statement]:
        if clause.upper == "VALUES":
            return Statement(
                "INSERT",
                insert_target=target,
                insert_settings=settings,
                insert_format="Values",
                data_offset=clause.end,
            )
        name = yield from self._next()
        if name.kind == "end":
            return Statement("INSERT")
        if name.kind not in ("word", "qid"):
            return (yield from self._drain(Statement("INSERT")))
        return Statement(
            "INSERT",
            insert_target=target,
            insert_settings=settings,
            insert_format=name.name,
            data_offset=(yield from self._data_start(name.end)),
        )

    def _skip_target(self) -> Generator[None, None, int | None]:
        """Consume ``INTO [TABLE] name[.name] [(columns)]`` or ``INTO FUNCTION f(...)``."""
        token = yield from self._next()
        if token.upper != "INTO":
            self._back = token
            return None
        token = yield from self._next()
        if token.upper == "TABLE":
            token = yield from self._next()
        if token.kind == "end":
            self._back = token
            return None
        if token.upper == "FUNCTION":
            yield from self._next()
            return (yield from self._skip_parens((yield from self._next())))
        end = token.end
        token = yield from self._next()
        while token.kind == "p" and token.text == b".":
            name = yield from self._next()
            end = name.end if name.kind != "end" else end
            token = yield from self._next()
        if token.text == b"(":
            return (yield from self._skip_parens(token))
        self._back = token
        return end

    def _skip_parens(self, opening: Token) -> Generator[None, None, int | None]:
        if opening.text != b"(":
            self._back = opening
            return None
        depth = 1
        while (token := (yield from self._next())).kind != "end":
            if token.text == b"(":
                depth += 1
            elif token.text == b")":
                depth -= 1
                if depth == 0:
                    return token.end
        self._back = token
        return None

    def _data_start(self, pos: int) -> Generator[None, None, int]:
        """ClickHouse's rule: skip blanks, then at most one line break, after the format name."""
        buf = self.buf
        pos = _BLANKS.match(buf, pos).end()  # type: ignore[union-attr]
        while pos == len(buf) and not self._complete:
            yield
            pos = _BLANKS.match(buf, pos).end()  # type: ignore[union-attr]
        if pos < len(buf) and buf[pos] == 0x0D:
            pos += 1
            while pos == len(buf) and not self._complete:
                yield
        if pos < len(buf) and buf[pos] == 0x0A:
            pos += 1
        return pos


def analyze(buf: bytes, complete: bool = True) -> Statement:
    """Route one request's SQL (``complete`` False: ``buf`` is only a prefix of it)."""
    router = Router(max(len(buf), DEFAULT_MAX_QUERY_SIZE))
    statement = router.feed(buf)
    if complete:
        return router.finish()
    if statement is None:
        raise NeedMore
    return statement


def tokens(buf: bytes, complete: bool = True) -> Iterator[Token]:
    """Significant tokens of ``buf``; raises NeedMore when the prefix cuts one short."""
    router = Router(max(len(buf), DEFAULT_MAX_QUERY_SIZE))
    router.buf += buf
    router._complete = complete
    for token in router._lex():
        if token is None:
            raise NeedMore
        if token.kind == "end":
            return
        yield token


def without_format(buf: bytes) -> bytes:
    """The query without its trailing ``FORMAT name [SETTINGS ...]`` and ``;``."""
    toks = [token for token in tokens(buf, complete=True) if token.kind != "end"]
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
