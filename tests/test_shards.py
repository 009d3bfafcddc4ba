"""bygpt_codec.shards: Megatron-format shards, the sidecar, every damaged
index refused by open_shard, merge and check, Megatron-Core reading ours and
us reading Megatron's, and concurrent writers to one prefix."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from bygpt_codec import Codec
from bygpt_codec.shards import ShardFormatError, ShardWriter, check, merge, open_shard

from .test_cli import run

DOCS = ["吾輩は猫である。", "", "名前はまだ無い。\nどこで生れたか", "😀 \ud800 lone", "a" * 1000]


def _write(prefix, docs=DOCS, scheme="jpblock"):
    c = Codec(scheme)
    encoded = [c.encode(d, add_special_tokens=True) for d in docs]
    with ShardWriter(str(prefix), scheme) as w:
        w.add(b"".join(encoded), [len(e) for e in encoded])
        w.commit()
    return encoded


def _index(lens, ptrs=None, docs=None, dtype=1, version=1):
    """A Megatron index, written by hand."""
    ptrs = list(np.cumsum([0, *lens[:-1]])) if ptrs is None else ptrs
    docs = list(range(len(lens) + 1)) if docs is None else docs
    head = b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", version, dtype, len(lens), len(docs))
    return head + np.array(lens, "<i4").tobytes() + np.array(ptrs, "<i8").tobytes() + np.array(docs, "<i8").tobytes()


def test_layout_sidecar_and_round_trip(tmp_path):
    encoded = _write(tmp_path / "s")
    raw = (tmp_path / "s.idx").read_bytes()
    assert raw == _index([len(e) for e in encoded])
    car = json.loads((tmp_path / "s.json").read_text())
    assert car["scheme"] == "jpblock" and car["scheme_id"] == 1 and car["format_version"] == 1
    assert (car["documents"], car["sequences"], car["bin_bytes"]) == (5, 5, sum(map(len, encoded)))
    import hashlib

    assert car["idx_sha256"] == hashlib.sha256(raw).hexdigest() and car["idx_bytes"] == len(raw)
    with open_shard(tmp_path / "s.bin") as s:  # a path ending in .bin, .idx or .json is fine too
        assert [bytes(d) for d in s.documents()] == encoded
        assert [s.text(i) for i in range(len(s))] == DOCS
        assert bytes(s[-1]) == encoded[-1] and s.blocks.shape == (s.num_bytes // 4, 4)
        assert list(s.offsets) == [0, *np.cumsum([len(e) for e in encoded])]
        with pytest.raises(IndexError):
            s[5]
        # Slices and numpy integers index like a list's; other keys are a TypeError.
        assert [bytes(d) for d in s[1:4]] == encoded[1:4] and [bytes(d) for d in s[::-2]] == encoded[::-2]
        assert s[9:] == [] and bytes(s[np.int64(2)]) == encoded[2]
        with pytest.raises(TypeError):
            s[1.0]
    assert check(tmp_path / "s") == ("jpblock", 5, sum(map(len, encoded)))


def test_an_aborted_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), ShardWriter(str(tmp_path / "d" / "s"), "utf8") as w:
        w.add(b"\xfe\x00\x00\x01\xfe\x00\x00\x02", [8])
        raise RuntimeError("interrupted")
    assert list((tmp_path / "d").iterdir()) == []


def test_merge_api(tmp_path):
    a = _write(tmp_path / "a", ["一", "二"], "utf8")
    b = _write(tmp_path / "b", ["三"], "utf8")
    assert merge([tmp_path / "a", tmp_path / "b"], str(tmp_path / "m")) == (3, sum(map(len, a + b)))
    with open_shard(tmp_path / "m") as m:
        assert m.scheme == "utf8" and [m.text(i) for i in range(3)] == ["一", "二", "三"]


def _damaged(tmp_path):
    """(name, files) of shards damaged in every way we know, each next to a good .bin."""
    good = _write(tmp_path / "good")
    lens = [len(e) for e in good]
    bin_ = b"".join(good)
    sidecar = (tmp_path / "good.json").read_text()
    cases = {
        # The attacks: a first offset past 0 (drops <|bos|>), offsets going
        # backwards or past the end, a last offset that is not the size of .bin.
        "first": (_index(lens, [8, *np.cumsum(lens)[:-1] + 8]), bin_, "sequence 0: pointer 8"),
        "backwards": (_index(lens, [0, lens[0], lens[0] - 4, *np.cumsum(lens)[2:-1]]), bin_, "goes backwards"),
        "past_end": (_index(lens, [0, *np.cumsum(lens)[:-2], len(bin_) + 4]), bin_, "sequence 4: pointer"),
        "short_bin": (_index(lens), bin_[:-4], "but the index's sequences end at byte"),
        "long_bin": (_index(lens), bin_ + b"\xff" * 4, "but the index's sequences end at byte"),
        "unaligned": (_index([*lens[:-1], lens[-1] - 2]), bin_[:-2], "not a whole number of 4-byte blocks"),
        "dtype": (_index(lens, dtype=4), bin_, "dtype code 4 (int32)"),
        "version": (_index(lens, version=2), bin_, "index version 2"),
        "truncated_idx": (_index(lens)[:-8], bin_, "truncated?"),
        "extra_idx": (_index(lens) + b"\x00", bin_, "1 bytes after the document indices"),
        "docs": (_index(lens, docs=[0, 2, 1, 4, 5]), bin_, "document index 2 is 1"),
        "old": (b"BYGPTIDX" + bytes(40), bin_, "old bygpt-codec shard format"),
        "magic": (b"NOTMAGIC" + bytes(40), bin_, "bad magic"),
    }
    made = []
    for name, (idx, data, why) in cases.items():
        (tmp_path / f"{name}.idx").write_bytes(idx)
        (tmp_path / f"{name}.bin").write_bytes(data)
        made.append((name, f"{name}.idx" if "bin" not in name else f"{name}.bin", why, None))  # no sidecar
    # Sidecars that do not describe their pair.
    (tmp_path / "other.idx").write_bytes(_index(lens))
    (tmp_path / "other.bin").write_bytes(bin_)
    other = json.loads(sidecar)
    other["documents"] = 4
    (tmp_path / "other.json").write_text(json.dumps(other))
    made.append(("other", "other.json", "documents is 4, but the shard has 5", None))
    swapped = _write(tmp_path / "swap", ["x", "y", "z", "w", "v"])
    (tmp_path / "swap.idx").write_bytes((tmp_path / "good.idx").read_bytes())
    (tmp_path / "swap.bin").write_bytes(bin_)
    assert swapped
    made.append(("swap", "swap.json", "the shard has", None))
    return made


def test_every_damaged_shard_is_refused_by_open_merge_and_check(tmp_path):
    for name, file, why, _ in _damaged(tmp_path):
        with pytest.raises(ShardFormatError) as e:
            open_shard(tmp_path / name, scheme="jpblock")
        assert str(e.value).startswith(f"{tmp_path / file}: ") and why in str(e.value), (name, str(e.value))
        out = run("merge", tmp_path / "good", tmp_path / name, "-o", tmp_path / "out" / "m", "--scheme", "jpblock")
        assert out.returncode == 1 and why.encode() in out.stderr, (name, out.stderr)
        assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []  # nothing written
        out = run("check", tmp_path / "good", tmp_path / name, "--scheme", "jpblock", "-q")
        assert out.returncode == 1 and why.encode() in out.stderr, (name, out.stderr)


def test_check_decodes_every_document_and_the_sidecar_is_needed(tmp_path):
    encoded = _write(tmp_path / "s")
    data = bytearray((tmp_path / "s.bin").read_bytes())
    data[len(encoded[0]) + 4] = 0xFB  # an out-of-range table index in document 2's first block
    data[len(encoded[0]) + 5] = 0xFF
    (tmp_path / "s.bin").write_bytes(data)
    with open_shard(tmp_path / "s") as s:  # the index is fine ...
        assert len(s) == 5
    out = run("check", tmp_path / "s")  # ... the data is not
    assert out.returncode == 1 and b"document 1 (bytes" in out.stderr and b"invalid jpblock data" in out.stderr
    os.remove(tmp_path / "s.json")
    with pytest.raises(ShardFormatError, match="s.json: missing.*name its scheme"):
        open_shard(tmp_path / "s")
    assert len(open_shard(tmp_path / "s", scheme="jpblock")) == 5
    _write(tmp_path / "u", ["x"], "utf8")
    with pytest.raises(ShardFormatError, match="is utf8, not jpblock"):
        open_shard(tmp_path / "u", scheme="jpblock")
    out = run("check", tmp_path / "u")
    assert out.returncode == 0 and b"OK (utf8, 1 documents" in out.stderr


def _megatron():
    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder
    except ImportError:
        pytest.skip("megatron-core is not installed (pip install '.[megatron]'; CI installs it)")
    return IndexedDataset, IndexedDatasetBuilder


def test_megatron_reads_our_shards(tmp_path, prose):
    IndexedDataset, _ = _megatron()
    docs = [prose[i : i + (i % 700)] for i in range(0, 40_000, 97)] + ["", "\ud800"]
    with open(tmp_path / "a.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    assert run("pack", tmp_path / "a.jsonl", "-o", tmp_path / "s", "-q").returncode == 0
    ds = IndexedDataset(str(tmp_path / "s"))
    c = Codec()
    assert len(ds) == len(docs) and list(ds.document_indices) == list(range(len(docs) + 1))
    assert all(bytes(ds[i]) == c.encode(d, add_special_tokens=True) for i, d in enumerate(docs))
    assert ds[0].dtype == np.uint8


def test_we_read_shards_megatron_wrote(tmp_path):
    _, IndexedDatasetBuilder = _megatron()
    import torch

    c = Codec("utf8")
    encoded = [c.encode(d, add_special_tokens=True) for d in DOCS]
    b = IndexedDatasetBuilder(str(tmp_path / "m.bin"), dtype=np.uint8)
    for e in encoded[:3]:
        b.add_item(torch.tensor(list(e), dtype=torch.uint8))
        b.end_document()
    b.add_document(torch.tensor(list(encoded[3] + encoded[4]), dtype=torch.uint8), [len(encoded[3]), len(encoded[4])])
    b.finalize(str(tmp_path / "m.idx"))
    with pytest.raises(ShardFormatError, match="name its scheme"):
        open_shard(tmp_path / "m")
    with open_shard(tmp_path / "m", scheme="utf8") as s:
        assert len(s) == 4 and s.num_sequences == 5
        assert [bytes(d) for d in s.documents()] == [*encoded[:3], encoded[3] + encoded[4]]
    out = run("merge", tmp_path / "m", tmp_path / "m", "--scheme", "utf8", "-o", tmp_path / "two", "-q")
    assert out.returncode == 0, out.stderr
    assert check(tmp_path / "two") == ("utf8", 8, 2 * sum(map(len, encoded)))
    with open_shard(tmp_path / "two") as s:
        assert [bytes(d) for d in s.documents()][4:] == [*encoded[:3], encoded[3] + encoded[4]]
    # Megatron's default dtype (int32 token ids) is no byte shard.
    b = IndexedDatasetBuilder(str(tmp_path / "i.bin"))
    b.add_item(torch.tensor([1, 2, 3, 4]))
    b.end_document()
    b.finalize(str(tmp_path / "i.idx"))
    with pytest.raises(ShardFormatError, match="dtype code 4 .int32."):
        open_shard(tmp_path / "i", scheme="utf8")


WRITER = """
import sys
from bygpt_codec import Codec
from bygpt_codec.shards import ShardWriter
k, prefix = int(sys.argv[1]), sys.argv[2]
c = Codec()
docs = [c.encode(f"writer {k} document {i} " * (k + 1), add_special_tokens=True) for i in range(200 * (k % 3 + 1))]
for _ in range(5):
    with ShardWriter(prefix, "jpblock") as w:
        for d in docs:
            w.add(d, [len(d)])
        w.commit()
"""


def test_concurrent_writers_to_one_prefix_never_leave_a_mixed_pair(tmp_path):
    prefix = str(tmp_path / "s")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(k), prefix]) for k in range(12)]
    seen = 0
    while any(p.poll() is None for p in procs):
        try:  # a reader racing the writers sees one whole shard, or an error
            with open_shard(prefix) as s:
                k = int(s.text(0).split()[1])
                assert [s.text(i) for i in range(len(s))] == [
                    f"writer {k} document {i} " * (k + 1) for i in range(len(s))
                ]
                seen += 1
        except (ShardFormatError, FileNotFoundError):
            pass
    assert all(p.wait() == 0 for p in procs)
    assert check(prefix)[1] in (200, 400, 600)
    assert sorted(os.listdir(tmp_path)) == ["s.bin", "s.idx", "s.json"]
