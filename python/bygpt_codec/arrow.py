"""Encoding columns of text for Arrow-based pipelines: Hugging Face
``datasets`` (``Dataset.map`` in batched mode) and Ray Data.

Each document becomes its ``encode(text, add_special_tokens=True)`` bytes:
the texts of a batch are encoded in Rust on all cores, joined once, and
handed to Arrow as one ``list<uint8>`` (or ``binary``) column built over that
buffer and an offsets array, with no Python object per byte::

    import datasets
    from bygpt_codec.arrow import DatasetEncoder

    ds = datasets.Dataset.from_dict({"text": ["吾輩は猫である。", "名前はまだ無い。"]})
    ds = ds.map(DatasetEncoder("jpblock"), batched=True, remove_columns=["text"])
    ds[0]["input_ids"][:4]      # [254, 0, 0, 1]: the <|bos|> block

:func:`write_shard` writes such a column (or any iterable of Arrow batches)
to a training shard. pyarrow is imported when first needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._codec import Codec


def _texts(column: Any) -> list[str]:
    """A column of texts as a list of str (Arrow arrays, chunked arrays, lists)."""
    if hasattr(column, "to_pylist"):
        texts = column.to_pylist()
    else:
        texts = list(column)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"row {i}: the text column holds {type(t).__name__}, not str")
    return texts


def encode_texts(column: Any, scheme: str = "jpblock", *, binary: bool = False):
    """Encodes a column of texts (``pa.Array``, ``pa.ChunkedArray`` or a list
    of str) into one Arrow array: ``list<uint8>`` by default (what
    ``datasets`` reads as a sequence of uint8), ``large_binary`` with
    ``binary=True``. Each row is ``encode(text, add_special_tokens=True)``."""
    import pyarrow as pa

    rows = Codec(scheme).encode_rows(_texts(column), add_special_tokens=True)
    data = b"".join(rows)
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    values = pa.py_buffer(data)
    if binary:
        return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(rows), [None, pa.py_buffer(offsets), values])
    flat = pa.Array.from_buffers(pa.uint8(), len(data), [None, values])
    if len(data) < 2**31:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), flat)
    return pa.LargeListArray.from_arrays(pa.array(offsets), flat)


class DatasetEncoder:
    """A batched ``datasets.Dataset.map`` function: takes the ``text_column``
    of a batch (a dict of lists, or a ``pyarrow.Table`` under
    ``with_format("arrow")``) and returns a ``pyarrow.Table`` with one
    ``list<uint8>`` column, ``output_column``.
    Picklable, so ``num_proc`` works."""

    def __init__(self, scheme: str = "jpblock", text_column: str = "text", output_column: str = "input_ids") -> None:
        Codec(scheme)  # an unknown scheme fails here, not in a worker
        self.scheme, self.text_column, self.output_column = scheme, text_column, output_column

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        column = batch.column(self.text_column) if hasattr(batch, "column") else batch[self.text_column]
        return pa.table({self.output_column: encode_texts(column, self.scheme)})


def _buffers(array: Any) -> tuple[memoryview, np.ndarray]:
    """(values, lengths) of a list<uint8>/binary Arrow array (one chunk)."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        raise TypeError("one chunk at a time")
    if array.null_count:
        raise ValueError("the column has nulls; every row must be an encoded document")
    t = array.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offsets = np.asarray(array.offsets)
        values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        data = np.asarray(values.cast(pa.uint8()) if values.type != pa.uint8() else values)
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        offsets = np.frombuffer(array.buffers()[1], dtype=np.int64 if pa.types.is_large_binary(t) else np.int32)
        offsets = offsets[array.offset : array.offset + len(array) + 1]
        data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
    else:
        raise TypeError(f"expected list<uint8> or binary, not {t}")
    return memoryview(np.ascontiguousarray(data)), np.diff(offsets).astype(np.uint64)


def write_shard(batches: Iterable[Any], prefix: str | os.PathLike[str], scheme: str, column: str = "input_ids") -> int:
    """Writes encoded documents to the shard ``prefix`` (``.bin``/``.idx``/
    ``.json``, renamed into place at the end): ``batches`` are Arrow tables
    or record batches (``Dataset.with_format("arrow").iter(batch_size)``, Ray
    blocks) or arrays, holding ``column`` as list<uint8> or binary. Returns
    the number of documents."""
    from .shards import ShardWriter

    with ShardWriter(prefix, scheme) as w:
        for batch in batches:
            array = batch.column(column) if hasattr(batch, "column") else batch
            chunks = array.chunks if hasattr(array, "chunks") else [array]
            for chunk in chunks:
                data, lengths = _buffers(chunk)
                w.add(data, lengths)
        w.commit()
        return w.num_documents
