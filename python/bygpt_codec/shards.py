"""Training shards: a pair of files that ``bygpt-codec pack`` writes.

* ``PREFIX.bin``: the documents back to back, each a ``<|bos|>`` block, its
  encoded text, filler to the block's end and an ``<|eos|>`` block, so every
  document starts a 4-byte block and the file is a whole number of blocks.
* ``PREFIX.idx``: a 32-byte header, then ``num_documents + 1`` little-endian
  uint64 offsets into ``PREFIX.bin``: document ``i`` is
  ``bin[offsets[i]:offsets[i + 1]]`` (``offsets[0]`` is 0, the last is the
  size of ``PREFIX.bin``). Header, all little-endian::

      0   8 bytes  magic b"BYGPTIDX"
      8   uint32   format version (1)
      12  uint32   scheme: 1 jpblock, 2 utf8, 3 jpblock2
      16  uint64   number of documents
      24  uint64   size of PREFIX.bin in bytes

Open a pair with :func:`open_shard` (numpy memmaps: nothing is read until
used), then iterate documents or fixed-length training windows::

    shard = open_shard("train-00000")
    shard.scheme, len(shard)              # "jpblock", number of documents
    shard[0]                              # uint8 array: the first document's bytes
    shard.text(0)                         # ... decoded
    for window in shard.windows(2048):    # 2048-byte (512-step) windows, in order
        ...
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from . import _native
from .constants import BLOCK

MAGIC = b"BYGPTIDX"
VERSION = 1
HEADER = struct.Struct("<8sIIQQ")
SCHEME_IDS: dict[str, int] = dict(_native.SCHEME_IDS)  # the ids the Rust core defines
_SCHEME_NAMES = {v: k for k, v in SCHEME_IDS.items()}


class ShardFormatError(ValueError):
    """A file that is not a shard index, or a .bin/.idx pair that do not match."""


def shard_paths(prefix: str | os.PathLike[str]) -> tuple[str, str]:
    """The (``.bin``, ``.idx``) paths of a prefix; a path ending in either is accepted too."""
    p = os.fspath(prefix)
    if p.endswith((".bin", ".idx")):
        p = p[:-4]
    return p + ".bin", p + ".idx"


@dataclass(frozen=True)
class ShardHeader:
    version: int
    scheme: str
    num_documents: int
    num_bytes: int

    def pack(self) -> bytes:
        return HEADER.pack(MAGIC, self.version, SCHEME_IDS[self.scheme], self.num_documents, self.num_bytes)


def read_header(idx_path: str | os.PathLike[str]) -> ShardHeader:
    """Reads and checks the header of a ``.idx`` file."""
    with open(idx_path, "rb") as f:
        raw = f.read(HEADER.size)
        size = os.fstat(f.fileno()).st_size
    if len(raw) < HEADER.size or raw[:8] != MAGIC:
        raise ShardFormatError(f"{os.fspath(idx_path)}: not a bygpt-codec shard index (bad magic)")
    _, version, scheme_id, docs, nbytes = HEADER.unpack(raw)
    if version != VERSION:
        raise ShardFormatError(f"{os.fspath(idx_path)}: shard format version {version}; this reads {VERSION}")
    if scheme_id not in _SCHEME_NAMES:
        raise ShardFormatError(f"{os.fspath(idx_path)}: unknown scheme id {scheme_id}")
    if size != HEADER.size + 8 * (docs + 1):
        raise ShardFormatError(
            f"{os.fspath(idx_path)}: {size} bytes, but a header for {docs} documents needs "
            f"{HEADER.size + 8 * (docs + 1)} (truncated or unfinished?)"
        )
    return ShardHeader(version, _SCHEME_NAMES[scheme_id], docs, nbytes)


class Shard:
    """A packed shard opened as read-only numpy memmaps.

    ``data`` is the uint8 contents of ``.bin``, ``offsets`` the ``num_documents
    + 1`` uint64 document boundaries. Indexing gives a document's bytes as a
    uint8 array view (no copy).
    """

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.bin_path, self.idx_path = shard_paths(prefix)
        header = read_header(self.idx_path)
        self.scheme = header.scheme
        self.version = header.version
        size = os.path.getsize(self.bin_path)
        if size != header.num_bytes:
            raise ShardFormatError(
                f"{self.bin_path}: {size} bytes, but {self.idx_path} says {header.num_bytes} (mismatched pair?)"
            )
        n = header.num_documents
        self.offsets: np.ndarray = np.memmap(self.idx_path, dtype="<u8", mode="r", offset=HEADER.size, shape=(n + 1,))
        # numpy cannot map an empty file
        self.data: np.ndarray = (
            np.memmap(self.bin_path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
        )

    @property
    def num_documents(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_bytes(self) -> int:
        return len(self.data)

    @property
    def blocks(self) -> np.ndarray:
        """The data as ``[num_bytes // 4, 4]``: one row per model step."""
        return self.data.reshape(-1, BLOCK)

    def __len__(self) -> int:
        return self.num_documents

    def __getitem__(self, i: int) -> np.ndarray:
        n = self.num_documents
        if not -n <= i < n:
            raise IndexError(f"document {i} out of range for a shard of {n}")
        i %= n
        return self.data[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def documents(self) -> Iterator[np.ndarray]:
        """Every document's bytes, in order."""
        for i in range(self.num_documents):
            yield self[i]

    def text(self, i: int, *, skip_special_tokens: bool = True, errors: str = "strict") -> str:
        """Document ``i`` decoded (without its ``<|bos|>``/``<|eos|>`` by default)."""
        from . import Codec

        return Codec(self.scheme).decode(self[i], errors=errors, skip_special_tokens=skip_special_tokens)

    def _check_window(self, length: int, stride: int | None) -> int:
        stride = length if stride is None else stride
        for name, v in (("length", length), ("stride", stride)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0 or v % BLOCK:
                raise ValueError(f"{name} must be a positive multiple of {BLOCK} (whole blocks), not {v!r}")
        return int(stride)

    def num_windows(self, length: int, *, stride: int | None = None) -> int:
        """How many full windows of ``length`` bytes start every ``stride`` bytes."""
        stride = self._check_window(length, stride)
        return 0 if self.num_bytes < length else (self.num_bytes - length) // stride + 1

    def window(self, k: int, length: int, *, stride: int | None = None) -> np.ndarray:
        """Window ``k``: ``data[k * stride : k * stride + length]`` (a view)."""
        stride = self._check_window(length, stride)
        if not 0 <= k < self.num_windows(length, stride=stride):
            raise IndexError(f"window {k} out of range")
        return self.data[k * stride : k * stride + length]

    def windows(self, length: int, *, stride: int | None = None) -> Iterator[np.ndarray]:
        """Fixed-length training windows over the concatenated documents, in
        order. ``length`` and ``stride`` (default ``length``) are multiples of
        4, so every window starts a block; a last partial window is dropped."""
        stride = self._check_window(length, stride)
        for k in range(self.num_windows(length, stride=stride)):
            yield self.data[k * stride : k * stride + length]

    def close(self) -> None:
        """Drops this shard's memmaps: it reads as empty from now on. The
        mapping itself is released when the last view of it goes, so a
        document taken earlier (``shard[i]``), or one another thread is
        reading, stays valid (unmapping it at once would crash its reader)."""
        self.data = np.zeros(0, dtype=np.uint8)
        self.offsets = np.zeros(1, dtype="<u8")

    def __enter__(self) -> Shard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Shard({self.bin_path[:-4]!r}, scheme={self.scheme!r}, documents={len(self)}, bytes={self.num_bytes})"


def open_shard(prefix: str | os.PathLike[str]) -> Shard:
    """Opens ``PREFIX.bin`` and ``PREFIX.idx`` (see the module docs)."""
    return Shard(prefix)


class ShardWriter:
    """Writes a shard pair through two command-line outputs (temporary files
    renamed on :meth:`commit`, ``.bin`` first, then ``.idx``)."""

    def __init__(self, prefix: str, scheme: str) -> None:
        from ._cli_io import Output

        if scheme not in SCHEME_IDS:
            raise ValueError(f"unknown scheme {scheme!r}")
        self.scheme = scheme
        self.bin_path, self.idx_path = shard_paths(prefix)
        self.bin = Output(self.bin_path)
        try:
            self.idx = Output(self.idx_path)
        except BaseException:
            self.bin.abort()
            raise
        self.num_documents = 0
        self.num_bytes = 0
        self.idx.write(ShardHeader(VERSION, scheme, 0, 0).pack())
        self.idx.write(np.zeros(1, dtype="<u8").tobytes())

    def add(self, data: bytes, lengths: np.ndarray) -> None:
        """Appends encoded documents (``data``) of the given byte lengths."""
        self.bin.write(data)
        self.add_lengths(lengths)

    def add_lengths(self, lengths: np.ndarray) -> None:
        """Records documents whose bytes were already written to ``bin``."""
        lengths = np.asarray(lengths, dtype="<u8")
        if not len(lengths):
            return
        ends = np.cumsum(lengths, dtype="<u8") + np.uint64(self.num_bytes)
        self.idx.write(ends.astype("<u8", copy=False).tobytes())
        self.num_documents += len(lengths)
        self.num_bytes = int(ends[-1])

    def commit(self) -> None:
        header = ShardHeader(VERSION, self.scheme, self.num_documents, self.num_bytes).pack()
        os.pwrite(self.idx.fd, header, 0)
        self.bin.commit()
        self.idx.commit()

    def abort(self) -> None:
        self.bin.abort()
        self.idx.abort()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.idx.committed:
            self.abort()


def merge(
    prefixes: Sequence[str | os.PathLike[str]],
    out_prefix: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Joins shard pairs, in the given order, into one; returns (documents,
    bytes). Every input must have the same scheme and format version."""
    if not prefixes:
        raise ValueError("merge needs at least one shard")
    shards = [Shard(p) for p in prefixes]
    try:
        schemes = {s.scheme for s in shards}
        if len(schemes) > 1:
            listing = ", ".join(f"{s.bin_path[:-4]} ({s.scheme})" for s in shards)
            raise ShardFormatError(f"cannot merge shards of different schemes: {listing}")
        done = 0
        with ShardWriter(out_prefix, shards[0].scheme) as out:
            for s in shards:
                step = 8 << 20
                for at in range(0, s.num_bytes, step):
                    out.bin.write(s.data[at : at + step])
                    if progress is not None:
                        progress(done + at)
                done += s.num_bytes
                for at in range(0, s.num_documents, 1 << 20):
                    chunk = np.diff(s.offsets[at : at + (1 << 20) + 1])
                    out.add_lengths(chunk)
            out.commit()
            return out.num_documents, out.num_bytes
    finally:
        for s in shards:
            s.close()
