"""Training shards: Megatron-Core indexed datasets that ``bygpt-codec pack``
writes, plus a small sidecar.

* ``PREFIX.bin``: the documents back to back, each a ``<|bos|>`` block, its
  encoded text, filler to the block's end and an ``<|eos|>`` block, so every
  document starts a 4-byte block (dtype uint8).
* ``PREFIX.idx``: Megatron-Core's ``MMIDIDX`` index (version 1, dtype code 1
  = uint8), one sequence per document, so that
  ``megatron.core.datasets.indexed_dataset.IndexedDataset(PREFIX)`` reads the
  pair unchanged: sequence ``i`` is document ``i``.
* ``PREFIX.json``: the sidecar: scheme name and id, format version, counts,
  sizes and the SHA-256 of the ``.idx``, which ties it to this exact pair.
  Writers rename it into place last (the commit marker).

Every reader checks the whole index first (first pointer 0, each pointer the
sum of the lengths before it, so none goes backwards or skips, whole 4-byte
blocks, the last sequence ending at the size of ``.bin``, document indices
from 0 to the sequence count, and the sidecar's counts and checksum) and
refuses a damaged shard with :class:`ShardFormatError` naming the file and
the first bad entry. A shard without a sidecar (one that Megatron's own
``IndexedDatasetBuilder`` wrote, with dtype uint8) opens when its scheme is
named: ``open_shard(prefix, scheme="jpblock")``. The old ``BYGPTIDX`` format
of bygpt-codec 0.1 is no longer read (pack again).

Open a shard with :func:`open_shard` (numpy memmaps: nothing is read until
used), then iterate documents or fixed-length training windows::

    shard = open_shard("train-00000")
    shard.scheme, len(shard)              # "jpblock", number of documents
    shard[0]                              # uint8 array: the first document's bytes
    shard.text(0)                         # ... decoded
    for window in shard.windows(2048):    # 2048-byte (512-step) windows, in order
        ...
"""

from __future__ import annotations

import contextlib
import operator
import os
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, overload

from . import _native
from .constants import BLOCK

if TYPE_CHECKING:
    import numpy as np

# numpy is imported where it is used, not here: packing and merging (the
# command line) never need it, and importing it starts BLAS threads.

SCHEME_IDS: dict[str, int] = dict(_native.SCHEME_IDS)  # the ids the Rust core defines
HEADER_SIZE = 34  # Megatron's index header: magic, version, dtype, two counts


class ShardFormatError(ValueError):
    """A shard whose files are damaged, do not belong together, or are no shard."""


def _prefix(prefix: str | os.PathLike[str]) -> str:
    p = os.fspath(prefix)
    for ext in (".bin", ".idx", ".json"):
        if p.endswith(ext):
            return p[: -len(ext)]
    return p


def shard_paths(prefix: str | os.PathLike[str]) -> tuple[str, str]:
    """The (``.bin``, ``.idx``) paths of a prefix; a path ending in ``.bin``,
    ``.idx`` or ``.json`` is taken as its prefix."""
    p = _prefix(prefix)
    return p + ".bin", p + ".idx"


def sidecar_path(prefix: str | os.PathLike[str]) -> str:
    """The ``.json`` sidecar path of a prefix."""
    return _prefix(prefix) + ".json"


def _format_errors(call: Callable, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except ValueError as e:
        if type(e) is ValueError:  # the native layer's "bad shard"
            raise ShardFormatError(str(e)) from None
        raise


class Shard:
    """A checked shard opened as read-only numpy memmaps.

    ``data`` is the uint8 contents of ``.bin``; ``lengths`` (int32),
    ``pointers`` (int64) and ``document_indices`` (int64) are Megatron's
    index arrays. Indexing gives a document's bytes as a uint8 view (no copy).
    """

    def __init__(self, prefix: str | os.PathLike[str], *, scheme: str | None = None) -> None:
        import numpy as np

        self.bin_path, self.idx_path = shard_paths(prefix)
        opened = _format_errors(_native._open_shard, _prefix(prefix), scheme)
        self.scheme, self.num_sequences, n_docs, self._one_per_doc, size, bin_fd, idx_fd = opened
        with os.fdopen(bin_fd, "rb") as b, os.fdopen(idx_fd, "rb") as i:
            # numpy cannot map an empty file
            self.data: np.ndarray = np.memmap(b, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
            index = np.memmap(i, dtype=np.uint8, mode="r")
        s = self.num_sequences
        self.lengths: np.ndarray = index[HEADER_SIZE : HEADER_SIZE + 4 * s].view("<i4")
        self.pointers: np.ndarray = index[HEADER_SIZE + 4 * s : HEADER_SIZE + 12 * s].view("<i8")
        self.document_indices: np.ndarray = index[HEADER_SIZE + 12 * s :].view("<i8")
        self._docs = n_docs

    @property
    def num_documents(self) -> int:
        return self._docs

    @property
    def num_bytes(self) -> int:
        return len(self.data)

    @property
    def offsets(self) -> np.ndarray:
        """Document boundaries: ``num_documents + 1`` byte offsets (computed, in memory)."""
        import numpy as np

        starts = np.append(self.pointers.astype(np.int64), np.int64(self.num_bytes))
        return starts[np.asarray(self.document_indices, dtype=np.int64)]

    @property
    def blocks(self) -> np.ndarray:
        """The data as ``[num_bytes // 4, 4]``: one row per model step."""
        return self.data.reshape(-1, BLOCK)

    def __len__(self) -> int:
        return self.num_documents

    def _start(self, seq: int) -> int:
        return int(self.pointers[seq]) if seq < self.num_sequences else self.num_bytes

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, i: slice) -> list[np.ndarray]: ...
    def __getitem__(self, i: int | slice) -> np.ndarray | list[np.ndarray]:
        n = self.num_documents
        if isinstance(i, slice):  # like a list: a slice of documents, each a view
            return [self[j] for j in range(*i.indices(n))]
        i = operator.index(i)  # numpy integers too; floats and strings are a TypeError
        if not -n <= i < n:
            raise IndexError(f"document {i} out of range for a shard of {n}")
        i %= n
        if self._one_per_doc:
            start = int(self.pointers[i])
            return self.data[start : start + int(self.lengths[i])]
        first, end = int(self.document_indices[i]), int(self.document_indices[i + 1])
        return self.data[self._start(first) : self._start(end)]

    def documents(self) -> Iterator[np.ndarray]:
        """Every document's bytes, in order."""
        for i in range(self.num_documents):
            yield self[i]

    def text(self, i: int, *, skip_special_tokens: bool = True, errors: str = "strict") -> str:
        """Document ``i`` decoded (without its ``<|bos|>``/``<|eos|>`` by default)."""
        from . import Codec

        return Codec(self.scheme).decode(self[i], errors=errors, skip_special_tokens=skip_special_tokens)

    def _check_window(self, length: int, stride: int | None) -> int:
        import numpy as np

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
        import numpy as np

        self.data = np.zeros(0, dtype=np.uint8)
        self.lengths = np.zeros(0, dtype="<i4")
        self.pointers = np.zeros(0, dtype="<i8")
        self.document_indices = np.zeros(1, dtype="<i8")
        self.num_sequences, self._docs, self._one_per_doc = 0, 0, True

    def __enter__(self) -> Shard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Shard({self.bin_path[:-4]!r}, scheme={self.scheme!r}, documents={len(self)}, bytes={self.num_bytes})"


def open_shard(prefix: str | os.PathLike[str], *, scheme: str | None = None) -> Shard:
    """Opens and checks ``PREFIX.bin``/``.idx`` (and ``PREFIX.json``). ``scheme``
    is needed for a shard without a sidecar (written by other tools); with a
    sidecar, it must agree with it."""
    return Shard(prefix, scheme=scheme)


@contextlib.contextmanager
def _folder_lock(folder: str) -> Iterator[None]:
    """Holds an exclusive lock on a folder while a shard's files are renamed,
    so that two writers' renames never interleave."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class ShardWriter:
    """Writes a shard through three outputs: temporary files next to the
    final names, renamed on :meth:`commit` (sidecar removed first, then
    ``.bin``, ``.idx``, and the sidecar last, under a lock on the folder), so
    a reader never takes a half-written or mixed pair for a shard. Missing
    parent folders are created. Documents come from :meth:`add` (encoded
    bytes), :meth:`pack_jsonl` / :meth:`pack_text` (files, packed in Rust)
    or :meth:`merge` (other shards)."""

    def __init__(self, prefix: str | os.PathLike[str], scheme: str) -> None:
        from ._cli_io import Output

        if scheme not in SCHEME_IDS:
            raise ValueError(f"unknown scheme {scheme!r}; known schemes: {', '.join(SCHEME_IDS)}")
        self.scheme = scheme
        self.bin_path, self.idx_path = shard_paths(prefix)
        self.json_path = sidecar_path(prefix)
        self._outputs: list = []
        try:
            for path in (self.bin_path, self.idx_path, self.json_path):
                self._outputs.append(Output(path))
            self.bin, self.idx, self.json = self._outputs
            self._native = _native._ShardWriter(scheme, self.bin.fd, self.bin.name, self.idx.fd, self.idx.name)
        except BaseException:
            self.abort()
            raise
        self.committed = False
        self.num_documents = 0
        self.num_bytes = 0

    def add(self, data, lengths) -> None:
        """Appends encoded documents: ``data`` (bytes-like) holds them back to
        back, ``lengths`` their sizes (each a whole number of blocks)."""
        import numpy as np

        lengths = np.ascontiguousarray(lengths, dtype=np.uint64)
        self._native.add(memoryview(data).cast("B"), lengths)

    def pack_jsonl(self, fd: int, name: str, **kwargs) -> tuple[int, int, list[str]]:
        """Packs JSONL from a file descriptor (see ``_native._ShardWriter.pack_jsonl``)."""
        return self._native.pack_jsonl(fd, name, **kwargs)

    def pack_text(self, fd: int, name: str, **kwargs) -> tuple[int, int, list[str]]:
        """Packs a whole text file as one document."""
        return self._native.pack_text(fd, name, **kwargs)

    def merge(self, prefixes: Sequence[str | os.PathLike[str]], **kwargs) -> None:
        """Appends checked shards, in order."""
        _format_errors(self._native.merge, [_prefix(p) for p in prefixes], **kwargs)

    def commit(self) -> None:
        """Finishes the index, writes the sidecar and renames all three into place."""
        self.num_documents, self.num_bytes = self._native.documents, self._native.bytes
        self.json.write(self._native.finish().encode())
        with _folder_lock(os.path.dirname(os.path.abspath(self.json_path))):
            # A reader that sees a sidecar sees the pair it describes: the old
            # sidecar goes first, the new one comes last.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.json_path)
            self.bin.commit()
            self.idx.commit()
            self.json.commit()
        self.committed = True

    def abort(self) -> None:
        """Drops the unfinished outputs (nothing appears under the final names)."""
        for out in self._outputs:
            out.abort()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not getattr(self, "committed", False):
            self.abort()


def merge(
    prefixes: Sequence[str | os.PathLike[str]],
    out_prefix: str | os.PathLike[str],
    *,
    scheme: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Joins shards, in the given order, into one; returns (documents, bytes).
    Every input is checked before anything is written, and all must have one
    scheme; ``scheme`` is needed for inputs without a sidecar. Memory stays
    bounded whatever the inputs' number and size."""
    if not prefixes:
        raise ValueError("merge needs at least one shard")
    first = scheme or _first_scheme(prefixes[0])
    with ShardWriter(out_prefix, first) as out:
        out.merge(prefixes, scheme=scheme, progress=progress)
        out.commit()
        return out.num_documents, out.num_bytes


def _first_scheme(prefix: str | os.PathLike[str]) -> str:
    import json

    path = sidecar_path(prefix)
    try:
        with open(path, "rb") as f:
            return json.load(f)["scheme"]
    except FileNotFoundError:
        # Let the native check say what is missing, with the right words.
        _format_errors(_native._open_shard, _prefix(prefix), None)
        raise
    except (ValueError, KeyError, TypeError):
        _format_errors(_native._open_shard, _prefix(prefix), None)
        raise ShardFormatError(f"{path}: not a shard sidecar") from None


def check(
    prefix: str | os.PathLike[str], *, scheme: str | None = None, progress: Callable[[int], None] | None = None
) -> tuple[str, int, int]:
    """Checks a shard fully: the whole index and sidecar (as :func:`open_shard`
    does), then a strict decode of every document. Returns (scheme,
    documents, bytes); raises :class:`ShardFormatError` on the first damage."""
    return _format_errors(_native._check_shard, _prefix(prefix), scheme, progress)
