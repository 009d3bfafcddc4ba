"""``bygpt-codec pack``: documents from JSONL lines or whole text files into a
training shard pair (see :mod:`bygpt_codec.shards`).

Slicing for many machines (``--shard-index I --num-shards N``) is
deterministic and needs no pass over the data:

* JSONL: the inputs, in the order given, are treated as one byte range of
  ``S`` bytes (their sizes added up), and slice ``I`` takes the lines whose
  first byte lies in ``[S*I//N, S*(I+1)//N)``. Each machine seeks straight to
  its range, slices are about equal in bytes, and merging slices 0..N-1 in
  order gives exactly the unsliced pack.
* text: each file is one document, and slice ``I`` takes files
  ``[F*I//N, F*(I+1)//N)`` of the ``F`` files given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import _native
from ._cli_io import Input
from .shards import ShardWriter

READ_BLOCK = 8 << 20


@dataclass
class PackSummary:
    documents: int = 0
    bytes: int = 0
    lines: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)  # the first few skipped, for the summary

    def skip(self, where: str) -> None:
        self.skipped += 1
        if len(self.examples) < 3:
            self.examples.append(where)


def _read_up_to(fd: int, n: int) -> bytes:
    """Up to ``n`` bytes; fewer only at the end of the input."""
    parts = []
    while n > 0:
        data = os.read(fd, min(n, READ_BLOCK))
        if not data:
            break
        parts.append(data)
        n -= len(data)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _count_newlines(fd: int, end: int) -> int:
    """Newlines in the first ``end`` bytes of a seekable file (for line numbers)."""
    count, at = 0, 0
    while at < end:
        data = os.pread(fd, min(READ_BLOCK, end - at), at)
        if not data:
            break
        count += data.count(b"\n")
        at += len(data)
    return count


def _first_line_start(fd: int, lo: int, size: int) -> int:
    """The first line start at or after ``lo`` (``size`` if none)."""
    if lo == 0:
        return 0
    at = lo - 1
    while at < size:
        data = os.pread(fd, 1 << 16, at)
        if not data:
            break
        nl = data.find(b"\n")
        if nl >= 0:
            return at + nl + 1
        at += len(data)
    return size


class _JsonlFile:
    """Packs the lines of one JSONL input that start in ``[lo, hi)``."""

    def __init__(self, src: Input, scheme: str, text_field: str, skip_invalid: bool) -> None:
        self.src, self.scheme, self.field, self.skip_invalid = src, scheme, text_field, skip_invalid
        self.first_line = 1  # number of the first line read (known lazily for a slice)
        self._start = 0

    def _line_number(self, index: int) -> int:
        if self._start and self.first_line == 1:  # a slice: count lines before it, only when needed
            self.first_line = _count_newlines(self.src.fd, self._start) + 1
        return self.first_line + index

    def run(
        self, writer: ShardWriter, summary: PackSummary, lo: int, hi: float, progress: Callable[[int], None]
    ) -> None:
        fd = self.src.fd
        if self.src.size is not None:
            start = _first_line_start(fd, lo, self.src.size)
            os.lseek(fd, start, os.SEEK_SET)
        else:
            start = 0  # stdin: the whole stream
        self._start = start
        pos, carry, lines = start, b"", 0
        while pos < hi:
            data = _read_up_to(fd, READ_BLOCK)
            eof = len(data) < READ_BLOCK
            buf = carry + data if carry else data
            if not buf:
                break
            nl = len(buf) - 1 if eof else buf.rfind(b"\n")
            if nl < 0:  # no line ends yet: read on
                carry = buf
                continue
            block, carry = buf[: nl + 1], buf[nl + 1 :]
            past_slice = pos + len(block) > hi
            if past_slice:  # keep only the lines that start before hi
                cut = block.find(b"\n", max(int(hi) - 1 - pos, 0))
                block = block[: cut + 1] if cut >= 0 else block
            lines += self._pack_block(writer, summary, block, pos, lines)
            pos += len(block)
            progress(pos - start)
            if eof or past_slice:
                break
        summary.lines += lines

    def _pack_block(self, writer: ShardWriter, summary: PackSummary, block: bytes, pos: int, lines: int) -> int:
        try:
            data, lengths, n_lines, skipped = _native._pack_jsonl(
                self.scheme, block, field=self.field, skip_invalid=self.skip_invalid
            )
        except ValueError as e:
            if len(e.args) != 3:
                raise
            message, index, offset = e.args
            raise ValueError(self._where(lines + index, pos + offset) + f": {message}") from None
        for index, offset, message in skipped:
            summary.skip(self._where(lines + index, pos + offset) + f": {message}")
        lens = np.frombuffer(lengths, dtype="<u8")
        writer.add(data, lens)
        summary.documents += len(lens)
        summary.bytes += len(data)
        return n_lines

    def _where(self, index: int, offset: int) -> str:
        return f"{self.src.name}: line {self._line_number(index)} (byte {offset})"


def _slice(total: int, index: int, count: int) -> tuple[int, int]:
    return total * index // count, total * (index + 1) // count


def pack(
    inputs: Sequence[str],
    out_prefix: str,
    *,
    fmt: str = "jsonl",
    text_field: str = "text",
    scheme: str = "jpblock",
    shard_index: int = 0,
    num_shards: int = 1,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    sizes: Sequence[int | None] | None = None,
) -> PackSummary:
    """Packs the documents of ``inputs`` (slice ``shard_index`` of
    ``num_shards``) into ``out_prefix.bin`` / ``.idx``. Nothing appears under
    those names unless the whole pack succeeds."""
    summary = PackSummary()
    report = progress or (lambda _done: None)
    with ShardWriter(out_prefix, scheme) as writer:
        if fmt == "text":
            lo, hi = _slice(len(inputs), shard_index, num_shards)
            done = 0
            for path in inputs[lo:hi]:
                with Input(path) as src:
                    before = writer.bin.tell()
                    try:
                        read, written = _native._transcode_fd(
                            "encode",
                            scheme,
                            src.fd,
                            writer.bin.fd,
                            errors="strict",
                            special_tokens=True,
                            in_name=src.name,
                            out_name=writer.bin.name,
                            progress=lambda n, done=done: report(done + n),
                        )
                    except ValueError as e:
                        if not skip_invalid:
                            raise
                        writer.bin.truncate(before)
                        summary.skip(str(e))
                        continue
                    done += read
                    writer.add_lengths(np.array([written], dtype="<u8"))
                    summary.documents += 1
                    summary.bytes += written
        else:
            total = sum(s or 0 for s in (sizes or [0] * len(inputs)))
            lo, hi = _slice(total, shard_index, num_shards) if num_shards > 1 else (0, float("inf"))
            base, done = 0, 0
            for path, size in zip(inputs, sizes or [None] * len(inputs), strict=True):
                if num_shards > 1 and size is not None and (base + size <= lo or base >= hi):
                    base += size  # no line of this file starts in the slice
                    continue
                with Input(path) as src:
                    job = _JsonlFile(src, scheme, text_field, skip_invalid)
                    f_lo = max(lo - base, 0)
                    before = done

                    def step(n: int, before: int = before) -> None:
                        nonlocal done
                        done = before + n
                        report(done)

                    job.run(writer, summary, f_lo, hi - base, step)
                base += size or 0
        writer.commit()
    return summary
