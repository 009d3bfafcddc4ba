"""Packing corpora on many machines with Ray Data (``pip install
"bygpt-codec[ray]"``).

:func:`pack` reads JSONL or Parquet with Ray Data, encodes the text column in
``map_batches`` with the Rust codec (Arrow ``large_binary`` columns built
over one buffer per batch), writes one shard per write task
(``PARTS/part-NNNNN``) and merges the parts, in dataset order, into one
shard. Ray Data keeps the order (``preserve_order``), so the result is the
same bytes whatever the number of workers or blocks, and the same as
``bygpt-codec pack`` on the same well-formed lines::

    import ray
    from bygpt_codec.ray import pack

    ray.init()                                     # or ray.init(address="auto") on a cluster
    pack(["corpus/a.jsonl", "corpus/b.jsonl"], "shards/corpus", scheme="jpblock")

JSON lines are parsed by Ray Data's reader (pyarrow), not by ``pack``'s: a
line that ``json.loads`` accepts but Arrow cannot hold (a ``\\ud800`` escape,
``NaN``) is refused by the reader. See docs/scale.md for clusters.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

from .arrow import encode_texts, write_shard
from .shards import merge


def _encoder(scheme: str, text_column: str):
    def encode(batch: Any) -> Any:
        import pyarrow as pa

        return pa.table({"ids": encode_texts(batch.column(text_column), scheme, binary=True)})

    return encode


def _sink(parts: str, scheme: str):
    from ray.data import Datasink

    class ShardSink(Datasink):
        """Writes each write task's blocks as one shard, named by its task index."""

        def write(self, blocks, ctx) -> Any:
            prefix = os.path.join(parts, f"part-{ctx.task_idx:05d}")
            return (ctx.task_idx, prefix, write_shard(blocks, prefix, scheme, column="ids"))

    return ShardSink()


def read(paths: str | Sequence[str], *, format: str = "jsonl", text_column: str = "text", **read_args: Any):
    """A Ray Dataset of the inputs' text column (JSONL or Parquet), in order."""
    import ray.data

    ray.data.DataContext.get_current().execution_options.preserve_order = True
    if format == "jsonl":
        return ray.data.read_json(paths, **read_args).select_columns([text_column])
    if format == "parquet":
        return ray.data.read_parquet(paths, **read_args).select_columns([text_column])
    raise ValueError(f"format must be 'jsonl' or 'parquet', not {format!r}")


def pack_dataset(
    ds: Any,
    out_prefix: str | os.PathLike[str],
    *,
    scheme: str = "jpblock",
    text_column: str = "text",
    parts_dir: str | os.PathLike[str] | None = None,
    keep_parts: bool = False,
    batch_size: int | None = 1024,
) -> tuple[int, int]:
    """Encodes ``ds[text_column]`` and packs it into the shard ``out_prefix``
    in dataset order. ``parts_dir`` (default ``OUT_PREFIX.parts``) must be on
    storage every worker and the driver share. Returns (documents, bytes)."""
    import ray.data

    ray.data.DataContext.get_current().execution_options.preserve_order = True
    out_prefix = os.fspath(out_prefix)
    parts = os.fspath(parts_dir) if parts_dir is not None else out_prefix + ".parts"
    if os.path.exists(parts):
        shutil.rmtree(parts)
    os.makedirs(parts)
    encoded = ds.map_batches(_encoder(scheme, text_column), batch_format="pyarrow", batch_size=batch_size)
    written = encoded.write_datasink(_sink(parts, scheme))
    del written
    names = sorted(n[: -len(".json")] for n in os.listdir(parts) if n.startswith("part-") and n.endswith(".json"))
    if not names:  # an empty dataset: no write task wrote anything
        from .shards import ShardWriter

        with ShardWriter(out_prefix, scheme) as w:
            w.commit()
            result = (0, 0)
    else:
        result = merge([os.path.join(parts, n) for n in names], out_prefix, scheme=scheme)
    if not keep_parts:
        shutil.rmtree(parts)
    return result


def pack(
    paths: str | Sequence[str],
    out_prefix: str | os.PathLike[str],
    *,
    format: str = "jsonl",
    scheme: str = "jpblock",
    text_column: str = "text",
    **kwargs: Any,
) -> tuple[int, int]:
    """Reads JSONL or Parquet with Ray Data and packs the text column into
    the shard ``out_prefix`` (see :func:`pack_dataset`)."""
    ds = read(paths, format=format, text_column=text_column)
    return pack_dataset(ds, out_prefix, scheme=scheme, text_column=text_column, **kwargs)
