"""bygpt_codec.shards: the shard format, its checks, the writer and merge."""

from __future__ import annotations

import numpy as np
import pytest

from bygpt_codec import Codec
from bygpt_codec.shards import HEADER, MAGIC, ShardFormatError, ShardWriter, merge, open_shard, read_header


def _write(prefix, docs, scheme="jpblock"):
    c = Codec(scheme)
    encoded = [c.encode(d, add_special_tokens=True) for d in docs]
    with ShardWriter(str(prefix), scheme) as w:
        w.add(b"".join(encoded), np.array([len(e) for e in encoded], dtype="<u8"))
        w.commit()
    return encoded


def test_header_layout_and_round_trip(tmp_path):
    encoded = _write(tmp_path / "s", ["吾輩は猫である。", "", "名前はまだ無い。"])
    raw = (tmp_path / "s.idx").read_bytes()
    assert raw[:8] == MAGIC and HEADER.size == 32
    assert len(raw) == 32 + 8 * 4
    offsets = np.frombuffer(raw[32:], dtype="<u8")
    assert list(offsets) == [0, *np.cumsum([len(e) for e in encoded])]
    h = read_header(tmp_path / "s.idx")
    assert (h.version, h.scheme, h.num_documents, h.num_bytes) == (1, "jpblock", 3, sum(map(len, encoded)))
    with open_shard(tmp_path / "s.bin") as s:  # a path ending in .bin or .idx is fine too
        assert [bytes(d) for d in s.documents()] == encoded
        assert bytes(s[-1]) == encoded[-1] and s.blocks.shape == (s.num_bytes // 4, 4)
        with pytest.raises(IndexError):
            s[3]


def test_broken_pairs_are_refused(tmp_path):
    _write(tmp_path / "s", ["abc", "def"])
    (tmp_path / "bad.idx").write_bytes(b"NOTMAGIC" + bytes(40))
    with pytest.raises(ShardFormatError, match="bad magic"):
        open_shard(tmp_path / "bad")
    idx = (tmp_path / "s.idx").read_bytes()
    (tmp_path / "t.idx").write_bytes(idx[:-8])
    (tmp_path / "t.bin").write_bytes((tmp_path / "s.bin").read_bytes())
    with pytest.raises(ShardFormatError, match="truncated"):
        open_shard(tmp_path / "t")
    (tmp_path / "u.idx").write_bytes(idx)
    (tmp_path / "u.bin").write_bytes((tmp_path / "s.bin").read_bytes()[:-4])
    with pytest.raises(ShardFormatError, match="mismatched"):
        open_shard(tmp_path / "u")


def test_an_aborted_writer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), ShardWriter(str(tmp_path / "s"), "utf8") as w:
        w.add(b"\xfe\x00\x00\x01\xfe\x00\x00\x02", np.array([8], dtype="<u8"))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_merge_api(tmp_path):
    a = _write(tmp_path / "a", ["一", "二"], "utf8")
    b = _write(tmp_path / "b", ["三"], "utf8")
    assert merge([tmp_path / "a", tmp_path / "b"], str(tmp_path / "m")) == (3, sum(map(len, a + b)))
    with open_shard(tmp_path / "m") as m:
        assert m.scheme == "utf8" and [m.text(i) for i in range(3)] == ["一", "二", "三"]
