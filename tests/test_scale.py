"""Packing at scale: Ray Data (bygpt_codec.ray) on a local 2-CPU cluster and
Hugging Face datasets (bygpt_codec.arrow), each byte-identical to
``bygpt-codec pack``; and a line longer than pack's 8 MB read chunk."""

from __future__ import annotations

import json

import pytest

from bygpt_codec import Codec
from bygpt_codec.shards import open_shard

from .test_cli import run


def _corpus(tmp_path, prose, files=3, lines=400):
    paths = []
    for k in range(files):
        p = tmp_path / f"in{k}.jsonl"
        with open(p, "w", encoding="utf-8") as f:
            for i in range(lines):
                doc = prose[(i * 37 + k) % 5000 :][: (i * 13) % 500]
                f.write(json.dumps({"id": i, "text": doc, "meta": {"k": k}}, ensure_ascii=bool(i % 2)) + "\n")
        paths.append(p)
    assert run("pack", *paths, "-o", tmp_path / "want", "-q").returncode == 0
    return paths


def _same(a, b):
    for ext in (".bin", ".idx", ".json"):
        assert (a.parent / f"{a.name}{ext}").read_bytes() == (b.parent / f"{b.name}{ext}").read_bytes(), ext


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]'; CI installs it)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_pack_is_the_single_process_pack_whatever_the_blocks(ray_cluster, tmp_path, prose):
    from bygpt_codec.ray import pack, pack_dataset, read

    paths = [str(p) for p in _corpus(tmp_path, prose)]
    for blocks in (1, 4):
        ds = read(paths, override_num_blocks=blocks)
        assert pack_dataset(ds, tmp_path / f"b{blocks}", batch_size=64)[0] == 1200
        _same(tmp_path / f"b{blocks}", tmp_path / "want")
    assert not (tmp_path / "b1.parts").exists()
    # Parquet, through the same path.
    import pyarrow.json
    import pyarrow.parquet

    table = pyarrow.concat_tables([pyarrow.json.read_json(p) for p in paths])
    pyarrow.parquet.write_table(table, tmp_path / "c.parquet", row_group_size=100)
    pack(str(tmp_path / "c.parquet"), tmp_path / "pq", format="parquet")
    _same(tmp_path / "pq", tmp_path / "want")


def test_datasets_map_gives_pack_bytes_as_arrow_columns(tmp_path, prose):
    datasets = pytest.importorskip("datasets", reason="datasets is not installed (pip install '.[datasets]')")
    from bygpt_codec.arrow import DatasetEncoder, write_shard

    paths = _corpus(tmp_path, prose, files=1)
    ds = datasets.load_dataset("json", data_files=str(paths[0]), split="train", cache_dir=str(tmp_path / "cache"))
    for d in (ds, ds.with_format("arrow")):
        mapped = d.map(DatasetEncoder("jpblock"), batched=True, batch_size=100, remove_columns=ds.column_names)
        assert str(mapped.features["input_ids"].feature.dtype) == "uint8"
        write_shard(mapped.with_format("arrow").iter(batch_size=150), tmp_path / "hf", "jpblock")
        _same(tmp_path / "hf", tmp_path / "want")
    c = Codec()
    assert bytes(mapped.with_format(None)[3]["input_ids"]) == c.encode(ds[3]["text"], add_special_tokens=True)


def test_a_line_longer_than_a_read_chunk_streams(tmp_path, prose):
    # 20 MB of text in one line (escapes, a lone surrogate, a duplicate key),
    # between short lines: more than two 8 MB chunks, streamed, not held.
    big = (prose[:3000] + '\n"\\\ud800😀') * 2400
    docs = ["短い", big, "後"]
    with open(tmp_path / "a.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"text": docs[0]}, ensure_ascii=False) + "\n")
        text = json.dumps(big, ensure_ascii=False).replace("\ud800", "\\ud800")  # the lone surrogate escaped
        f.write('{"text": "dropped", "text": ' + text + ', "meta": 1}\n')
        f.write(json.dumps({"text": docs[2]}) + "\n")
    out = run("pack", tmp_path / "a.jsonl", "-o", tmp_path / "s")
    assert out.returncode == 0, out.stderr
    c = Codec()
    with open_shard(tmp_path / "s") as s:
        assert [bytes(d) for d in s.documents()] == [c.encode(d, add_special_tokens=True) for d in docs]
