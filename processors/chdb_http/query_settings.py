"""The settings a query's own text changes (``SETTINGS`` clauses, ``SET``), for readers.

The engine's constraints cap the limits for everyone (limits.py); a dashboard account
may, beyond that, change only the settings on its list (auth.DASHBOARD_SETTINGS), in
the URL and in the query text alike. The names are read off the tokens; the engine's
parse says how many SETTINGS clauses there are (``Set`` nodes in EXPLAIN AST), and when
the two disagree the text is refused rather than guessed at.
"""

from __future__ import annotations

from . import sql

_OPEN = {b"(": b")", b"[": b"]", b"{": b"}"}


def changed(text: bytes) -> tuple[list[str], int]:
    """(setting names, number of clauses) that ``SETTINGS``/``SET`` in ``text`` change."""
    toks = list(sql.tokens(text, complete=True))
    names: list[str] = []
    clauses = 0
    index = 0
    while index < len(toks):
        token = toks[index]
        starts = token.upper == "SETTINGS" or (index == 0 and token.upper == "SET")
        if starts:
            found, index = _pairs(toks, index + 1)
            if found:
                clauses += 1
                names.extend(found)
                continue
        index += 1
    return names, clauses


def _pairs(toks: list[sql.Token], index: int) -> tuple[list[str], int]:
    """``name = value [, name = value]*`` from ``index``: the names and where it ended."""
    names: list[str] = []
    while (
        index + 1 < len(toks)
        and toks[index].kind in ("word", "qid")
        and toks[index + 1].text == b"="
    ):
        names.append(toks[index].name)
        index = _value_end(toks, index + 2)
        if index < len(toks) and toks[index].text == b",":
            index += 1
            continue
        break
    return names, index


def _value_end(toks: list[sql.Token], index: int) -> int:
    """Past one literal value: a string, number, word, -number, or a bracketed one."""
    if index < len(toks) and toks[index].text == b"-":
        index += 1
    if index >= len(toks):
        return index
    closing = _OPEN.get(toks[index].text)
    if closing is None:
        return index + 1
    depth = 0
    while index < len(toks):
        text = toks[index].text
        if text in _OPEN:
            depth += 1
        elif text in (b")", b"]", b"}"):
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index
