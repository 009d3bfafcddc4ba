"""``bygpt-codec pack``: documents from JSONL lines or whole text files into a
training shard (see :mod:`bygpt_codec.shards`). Reading, parsing, encoding
and writing run in Rust (``_native._ShardWriter``); this module plans the
slice and opens the files.

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

from ._cli_io import Input
from .shards import ShardWriter


@dataclass
class PackSummary:
    documents: int = 0
    bytes: int = 0
    lines: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)  # the first few skipped, for the summary

    def add(self, lines: int, skipped: int, examples: list[str]) -> None:
        self.lines += lines
        self.skipped += skipped
        self.examples.extend(examples[: max(3 - len(self.examples), 0)])


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
    ``num_shards``) into the shard ``out_prefix``. Nothing appears under its
    names unless the whole pack succeeds."""
    summary = PackSummary()
    report = progress or (lambda _done: None)
    if sizes is None:
        sizes = [None if p == "-" else os.stat(p).st_size for p in inputs]
    with ShardWriter(out_prefix, scheme) as writer:
        done = 0

        def step(n: int) -> None:
            report(done + n)

        if fmt == "text":
            lo, hi = _slice(len(inputs), shard_index, num_shards)
            for path in inputs[lo:hi]:
                with Input(path) as src:
                    summary.add(*writer.pack_text(src.fd, src.name, skip_invalid=skip_invalid, progress=step))
                    done += src.size or 0
        else:
            total = sum(s or 0 for s in sizes)
            lo, hi = _slice(total, shard_index, num_shards) if num_shards > 1 else (0, total)
            base = 0
            for path, size in zip(inputs, sizes, strict=True):
                if num_shards > 1 and size is not None and (base + size <= lo or base >= hi):
                    base += size or 0  # no line of this file starts in the slice
                    continue
                with Input(path) as src:
                    f_slice = (max(lo - base, 0), hi - base) if num_shards > 1 else None
                    got = writer.pack_jsonl(
                        src.fd, src.name, field=text_field, skip_invalid=skip_invalid, slice=f_slice, progress=step
                    )
                    summary.add(*got)
                done += size or 0
                base += size or 0
        writer.commit()
    summary.documents, summary.bytes = writer.num_documents, writer.num_bytes
    return summary
