"""HTTP body codings: request bodies clients compress, responses the client asked to compress.

ClickHouse accepts ``Content-Encoding`` gzip, deflate, br, zstd and lz4 (an LZ4
frame, as clickhouse-connect writes it) and compresses a response only when the
request says ``enable_http_compression=1`` and names a coding it accepts. Both
directions work chunk by chunk so a large insert or result never sits in memory
twice.

Decoding is bounded: ``Decoder.decode(chunk, limit)`` hands out the chunk's output
in pieces of at most ``limit`` bytes, each made only when the one before has been
taken, so a compressed body that inflates to gigabytes (a "bomb") costs no more
memory than one piece, and the caller can refuse it as soon as its total is past a
limit. zstd frames may not ask for a window larger than ``ZSTD_WINDOW_LOG_MAX``;
br is offered only with a brotli that bounds its output (1.2 or later).
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

from . import errors

ZSTD_WINDOW_LOG_MAX = 25
"""zstd frames needing a window over 32 MiB (--long, --ultra levels) are refused."""


def _optional(module: str) -> Any:
    """A codec module imported by name: br only when brotli is installed; lz4 has no stubs."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_brotli = _optional("brotli")
if _brotli is not None and not hasattr(_brotli.Decompressor(), "can_accept_more_data"):
    _brotli = None  # before 1.2 a brotli decompressor cannot bound its output


class Decoder(Protocol):
    def decode(self, chunk: bytes, limit: int) -> Iterator[bytes]:
        """``chunk`` decoded, in pieces of at most ``limit`` bytes made one at a time."""
        ...

    def finish(self) -> None:
        """The body has ended: raise ValueError if it ends inside a compressed stream."""
        ...


class Encoder(Protocol):
    def encode(self, chunk: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _IdentityDecoder:
    def decode(self, chunk: bytes, limit: int) -> Iterator[bytes]:
        for start in range(0, len(chunk), limit):
            yield chunk[start : start + limit]

    def finish(self) -> None:
        pass


class _Identity:
    def encode(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""


class _ZlibEncoder:
    def __init__(self, wbits: int) -> None:
        self._out: Any = zlib.compressobj(6, zlib.DEFLATED, wbits)

    def encode(self, chunk: bytes) -> bytes:
        return bytes(self._out.compress(chunk))

    def finish(self) -> bytes:
        return bytes(self._out.flush())


class _ZlibDecoder:
    """gzip or deflate; a gzip body may hold several members, one after the other."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._in: Any = zlib.decompressobj(wbits)
        self._open = False  # inside a stream (or none has ended yet)
        self._ended = False

    def decode(self, chunk: bytes, limit: int) -> Iterator[bytes]:
        data = chunk
        while data or self._open:
            self._open = True
            out = self._in.decompress(data, limit)
            if out:
                yield out
            if self._in.eof:
                data = self._in.unused_data  # the next member, if any
                self._in = zlib.decompressobj(self._wbits)
                self._open, self._ended = False, True
                continue
            data = self._in.unconsumed_tail
            if not data and len(out) < limit:
                return

    def finish(self) -> None:
        if self._open or not self._ended:
            raise ValueError("the compressed body ends early")


class _FramedDecoder:
    """zstd or lz4 frames (clients send several): ``decompress(data, max_length)``."""

    def __init__(self, new: Any) -> None:
        self._new = new
        self._in: Any = new()
        self._open = False

    def decode(self, chunk: bytes, limit: int) -> Iterator[bytes]:
        data = chunk
        while True:
            if self._in.eof:
                data = (self._in.unused_data or b"") + data
                self._in = self._new()
                self._open = False
            if not data and (self._in.needs_input or not self._open):
                return
            self._open = True
            out = self._in.decompress(data, limit)
            data = b""
            if out:
                yield out

    def finish(self) -> None:
        if self._open and not self._in.eof:
            raise ValueError("the compressed body ends early")


class _BrotliDecoder:
    def __init__(self) -> None:
        assert _brotli is not None
        self._in: Any = _brotli.Decompressor()
        self._open = False

    def decode(self, chunk: bytes, limit: int) -> Iterator[bytes]:
        """(brotli stops growing its output once past ``limit``: a piece may be a bit more.)"""
        if not chunk:
            return
        self._open = True
        out = self._in.process(chunk, output_buffer_limit=limit)
        while out or not self._in.can_accept_more_data():
            if out:
                yield bytes(out)
            out = self._in.process(b"", output_buffer_limit=limit)

    def finish(self) -> None:
        if self._open and not self._in.is_finished():
            raise ValueError("the compressed body ends early")


class _Lz4:
    def __init__(self) -> None:
        frame = _optional("lz4.frame")
        self._out: Any = frame.LZ4FrameCompressor()
        self._started = False

    def encode(self, chunk: bytes) -> bytes:
        head = b"" if self._started else bytes(self._out.begin())
        self._started = True
        return head + bytes(self._out.compress(chunk))

    def finish(self) -> bytes:
        head = b"" if self._started else bytes(self._out.begin())
        return head + bytes(self._out.flush())


class _Zstd:
    def __init__(self) -> None:
        from backports import zstd

        self._zstd = zstd
        self._out: Any = zstd.ZstdCompressor()

    def encode(self, chunk: bytes) -> bytes:
        return bytes(self._out.compress(chunk))

    def finish(self) -> bytes:
        return bytes(self._out.flush(self._zstd.ZstdCompressor.FLUSH_FRAME))


class _Brotli:
    def __init__(self) -> None:
        assert _brotli is not None
        self._out: Any = _brotli.Compressor()

    def encode(self, chunk: bytes) -> bytes:
        return bytes(self._out.process(chunk))

    def finish(self) -> bytes:
        return bytes(self._out.finish())


def _zstd_decompressor() -> Any:
    from backports import zstd

    return zstd.ZstdDecompressor(
        options={zstd.DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX}
    )


def _lz4_decompressor() -> Any:
    return _optional("lz4.frame").LZ4FrameDecompressor()


def supported() -> tuple[str, ...]:
    """Codings this process can read and write, in the order it prefers for responses."""
    return ("lz4", "zstd", "gzip", "deflate") + (("br",) if _brotli is not None else ())


def _coding(coding: str) -> str:
    coding = coding.strip().lower()
    if coding in ("", "identity", "none"):
        return "identity"
    if coding == "x-gzip":
        return "gzip"
    if coding in supported():
        return coding
    raise errors.ClickHouseError(
        errors.UNKNOWN_COMPRESSION_METHOD,
        f"Unknown HTTP compression method '{coding}'; supported: {', '.join(supported())}",
    )


def decoder(content_encoding: str | None) -> Decoder:
    """A streaming, bounded decoder for a request body's ``Content-Encoding``."""
    coding = _coding(content_encoding or "")
    if coding == "gzip":
        return _ZlibDecoder(31)
    if coding == "deflate":
        return _ZlibDecoder(15)
    if coding == "zstd":
        return _FramedDecoder(_zstd_decompressor)
    if coding == "lz4":
        return _FramedDecoder(_lz4_decompressor)
    if coding == "br":
        return _BrotliDecoder()
    return _IdentityDecoder()


def encoder(coding: str) -> Encoder:
    coding = _coding(coding)
    if coding == "gzip":
        return _ZlibEncoder(31)
    if coding == "deflate":
        return _ZlibEncoder(15)
    if coding == "zstd":
        return _Zstd()
    if coding == "lz4":
        return _Lz4()
    if coding == "br":
        return _Brotli()
    return _Identity()


def choose(accept_encoding: str | None) -> str | None:
    """The first coding in the client's ``Accept-Encoding`` that this server can write."""
    if not accept_encoding:
        return None
    ours = supported()
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().lower().partition(";")
        if coding in ours and params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00"):
            return coding
    return None
