"""HTTP body codings: request bodies clients compress, responses the client asked to compress.

ClickHouse accepts ``Content-Encoding`` gzip, deflate, br, zstd and lz4 (an LZ4
frame, as clickhouse-connect writes it) and compresses a response only when the
request says ``enable_http_compression=1`` and names a coding it accepts. Both
directions work chunk by chunk so a large insert or result never sits in memory
twice.
"""

from __future__ import annotations

import importlib
import zlib
from typing import Any, Protocol

from . import errors


def _optional(module: str) -> Any:
    """A codec module imported by name: br only when brotli is installed; lz4 has no stubs."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_brotli = _optional("brotli")


class Decoder(Protocol):
    def decode(self, chunk: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class Encoder(Protocol):
    def encode(self, chunk: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _Identity:
    def decode(self, chunk: bytes) -> bytes:
        return chunk

    encode = decode

    def finish(self) -> bytes:
        return b""


class _Zlib:
    def __init__(self, wbits: int, compress: bool) -> None:
        self._out: Any = zlib.compressobj(6, zlib.DEFLATED, wbits) if compress else None
        self._in: Any = None if compress else zlib.decompressobj(wbits)

    def decode(self, chunk: bytes) -> bytes:
        return bytes(self._in.decompress(chunk))

    def encode(self, chunk: bytes) -> bytes:
        return bytes(self._out.compress(chunk))

    def finish(self) -> bytes:
        if self._out is not None:
            return bytes(self._out.flush())
        if not self._in.eof:
            raise ValueError("the compressed body ends early")
        return bytes(self._in.flush())


class _Lz4:
    def __init__(self, compress: bool) -> None:
        frame = _optional("lz4.frame")
        self._out: Any = frame.LZ4FrameCompressor() if compress else None
        self.new: Any = frame.LZ4FrameDecompressor
        self._in: Any = None if compress else self.new()
        self._started = False

    def decode(self, chunk: bytes) -> bytes:
        return _frames(self, chunk)

    def encode(self, chunk: bytes) -> bytes:
        head = b"" if self._started else bytes(self._out.begin())
        self._started = True
        return head + bytes(self._out.compress(chunk))

    def finish(self) -> bytes:
        if self._out is not None:
            head = b"" if self._started else bytes(self._out.begin())
            return head + bytes(self._out.flush())
        return b""


class _Zstd:
    def __init__(self, compress: bool) -> None:
        from backports import zstd

        self._zstd = zstd
        self._out: Any = zstd.ZstdCompressor() if compress else None
        self.new: Any = zstd.ZstdDecompressor
        self._in: Any = None if compress else self.new()

    def decode(self, chunk: bytes) -> bytes:
        return _frames(self, chunk)

    def encode(self, chunk: bytes) -> bytes:
        return bytes(self._out.compress(chunk))

    def finish(self) -> bytes:
        if self._out is not None:
            return bytes(self._out.flush(self._zstd.ZstdCompressor.FLUSH_FRAME))
        return b""


class _Brotli:
    def __init__(self, compress: bool) -> None:
        assert _brotli is not None
        self._out: Any = _brotli.Compressor() if compress else None
        self._in: Any = None if compress else _brotli.Decompressor()

    def decode(self, chunk: bytes) -> bytes:
        return bytes(self._in.process(chunk))

    def encode(self, chunk: bytes) -> bytes:
        return bytes(self._out.process(chunk))

    def finish(self) -> bytes:
        return bytes(self._out.finish()) if self._out is not None else b""


def _frames(codec: _Lz4 | _Zstd, chunk: bytes) -> bytes:
    """Decode ``chunk``, which may end one frame and start the next (clients send several)."""
    out = []
    while chunk:
        if codec._in.eof:
            codec._in = codec.new()
        out.append(bytes(codec._in.decompress(chunk)))
        chunk = codec._in.unused_data if codec._in.eof else b""
    return b"".join(out)


def supported() -> tuple[str, ...]:
    """Codings this process can read and write, in the order it prefers for responses."""
    return ("lz4", "zstd", "gzip", "deflate") + (("br",) if _brotli is not None else ())


def _make(coding: str, compress: bool) -> Decoder | Encoder:
    coding = coding.strip().lower()
    if coding in ("", "identity", "none"):
        return _Identity()
    if coding in ("gzip", "x-gzip"):
        return _Zlib(31, compress)
    if coding == "deflate":
        return _Zlib(15, compress)
    if coding == "lz4":
        return _Lz4(compress)
    if coding == "zstd":
        return _Zstd(compress)
    if coding == "br" and _brotli is not None:
        return _Brotli(compress)
    raise errors.ClickHouseError(
        errors.UNKNOWN_COMPRESSION_METHOD,
        f"Unknown HTTP compression method '{coding}'; supported: {', '.join(supported())}",
    )


def decoder(content_encoding: str | None) -> Decoder:
    """A streaming decoder for a request body's ``Content-Encoding``."""
    result = _make(content_encoding or "", compress=False)
    assert isinstance(result, _Identity | _Zlib | _Lz4 | _Zstd | _Brotli)
    return result


def encoder(coding: str) -> Encoder:
    result = _make(coding, compress=True)
    assert isinstance(result, _Identity | _Zlib | _Lz4 | _Zstd | _Brotli)
    return result


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
