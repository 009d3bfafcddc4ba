"""``bygpt-codec pack`` and ``merge`` through the real console script."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from bygpt_codec import Codec
from bygpt_codec.shards import open_shard

from .test_cli import _random_text, run


def _docs(prose: str, n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        start = rng.randrange(len(prose) - 300)
        docs.append(prose[start : start + rng.randrange(0, 300)] + _random_text(rng, i % 5))
    return docs


def _write_jsonl(path, docs: list[str], ascii_every: int = 2) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, d in enumerate(docs):
            f.write(json.dumps({"id": i, "text": d, "meta": {"n": [i, 1.5, None]}}, ensure_ascii=i % ascii_every == 0))
            f.write("\n")


def _expected(docs: list[str], scheme: str = "jpblock") -> list[bytes]:
    c = Codec(scheme)
    return [c.encode(d, add_special_tokens=True) for d in docs]


def test_pack_jsonl_gives_one_block_aligned_document_per_line(tmp_path, prose, scheme):
    docs = _docs(prose, 500) + ["\ud800 lone surrogate via a json escape", ""]  # index 500: ascii
    _write_jsonl(tmp_path / "a.jsonl", docs)
    out = run("pack", tmp_path / "a.jsonl", "-o", tmp_path / "s", "--scheme", scheme)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"" and b"packed 502 documents" in out.stderr
    want = _expected(docs, scheme)
    with open_shard(tmp_path / "s") as shard:
        assert shard.scheme == scheme and len(shard) == len(docs)
        assert [bytes(d) for d in shard.documents()] == want
        assert shard.num_bytes % 4 == 0 and all(int(o) % 4 == 0 for o in shard.offsets)
        assert shard.text(3) == docs[3]
        assert bytes(shard.data) == b"".join(want)


def test_pack_text_files_one_document_each(tmp_path, prose, mixed):
    paths = []
    for i, text in enumerate([prose, "", mixed, "短い"]):
        p = tmp_path / f"{i}.txt"
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    out = run("pack", *paths, "--format", "text", "-o", tmp_path / "t", "-q")
    assert out.returncode == 0 and out.stderr == b""
    with open_shard(tmp_path / "t") as shard:
        assert [bytes(d) for d in shard.documents()] == _expected([prose, "", mixed, "短い"])


def test_custom_field_stdin_and_empty_input(tmp_path):
    lines = b'{"body": "\\u3042\\u3044", "text": 3}\n\n{"body": "x"}\n'
    out = run("pack", "-", "--text-field", "body", "-o", tmp_path / "b", stdin=lines)
    assert out.returncode == 0, out.stderr
    with open_shard(tmp_path / "b") as shard:
        assert [bytes(d) for d in shard.documents()] == _expected(["あい", "x"])
    assert run("pack", "-", "-o", tmp_path / "e", stdin=b"").returncode == 0
    with open_shard(tmp_path / "e") as shard:
        assert len(shard) == 0 and shard.num_bytes == 0 and list(shard.windows(8)) == []


def test_bad_lines_fail_naming_the_line_or_are_skipped_and_counted(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_bytes(
        b'{"text": "a"}\n{"text": "b"}\n{"text": 1}\n{"text": "c"\nnot json\n{"body": "x"}\n{"text": "\xff"}\n'
    )
    out = run("pack", src, "-o", tmp_path / "s")
    assert out.returncode == 1
    assert f"{src}: line 3 (byte 28)".encode() in out.stderr and b"not a string" in out.stderr
    assert not (tmp_path / "s.bin").exists() and not (tmp_path / "s.idx").exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.jsonl"]  # no temporary files left
    out = run("pack", src, "-o", tmp_path / "s", "--skip-invalid", "-q")
    assert out.returncode == 0
    err = out.stderr.decode()
    assert "skipped 5 invalid lines" in err
    assert "line 3 " in err and "line 4 " in err and "line 5 " in err and "and 2 more" in err
    with open_shard(tmp_path / "s") as shard:
        assert [bytes(d) for d in shard.documents()] == _expected(["a", "b"])
    missing = tmp_path / "m.jsonl"
    missing.write_text('{"text": "a"}\n{"title": "b"}\n', encoding="utf-8")
    out = run("pack", missing, "-o", tmp_path / "m")
    assert out.returncode == 1 and b"line 2" in out.stderr and b'no "text" field' in out.stderr


def test_slices_merge_into_exactly_the_unsliced_pack(tmp_path, prose):
    docs = _docs(prose, 3000, seed=5)
    _write_jsonl(tmp_path / "a.jsonl", docs[:1700])
    _write_jsonl(tmp_path / "b.jsonl", docs[1700:])
    (tmp_path / "empty.jsonl").write_bytes(b"")
    inputs = [tmp_path / "a.jsonl", tmp_path / "empty.jsonl", tmp_path / "b.jsonl"]
    assert run("pack", *inputs, "-o", tmp_path / "whole").returncode == 0
    n = 7
    for i in range(n):
        out = run("pack", *inputs, "-o", tmp_path / f"part{i}", "--shard-index", i, "--num-shards", n)
        assert out.returncode == 0, out.stderr
    counts = [len(open_shard(tmp_path / f"part{i}")) for i in range(n)]
    assert sum(counts) == len(docs) and min(counts) > 0  # every document in exactly one slice
    out = run("merge", *[tmp_path / f"part{i}" for i in range(n)], "-o", tmp_path / "merged")
    assert out.returncode == 0, out.stderr
    for ext in (".bin", ".idx"):
        assert (tmp_path / f"merged{ext}").read_bytes() == (tmp_path / f"whole{ext}").read_bytes()


def test_pack_is_the_same_whatever_the_thread_count(tmp_path, prose):
    _write_jsonl(tmp_path / "a.jsonl", _docs(prose, 4000, seed=9))
    outs = []
    for threads in ("1", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        assert run("pack", tmp_path / "a.jsonl", "-o", tmp_path / f"t{threads}", env=env).returncode == 0
        outs.append((tmp_path / f"t{threads}.bin").read_bytes() + (tmp_path / f"t{threads}.idx").read_bytes())
    assert outs[0] == outs[1]


def test_text_slices_and_usage_errors(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / f"{i}.txt"
        p.write_text(f"文書{i}", encoding="utf-8")
        paths.append(p)
    got = []
    for i in range(2):
        prefix = tmp_path / f"p{i}"
        out = run("pack", *paths, "--format", "text", "-o", prefix, "--shard-index", i, "--num-shards", 2)
        assert out.returncode == 0
        with open_shard(prefix) as shard:
            got += [shard.text(k) for k in range(len(shard))]
    assert got == [f"文書{i}" for i in range(5)]
    assert run("pack", *paths, "-o", tmp_path / "x", "--shard-index", 2, "--num-shards", 2).returncode == 2
    assert run("pack", "-", "-o", tmp_path / "x", "--num-shards", 2).returncode == 2


def test_merge_refuses_mixed_schemes(tmp_path):
    for scheme in ("jpblock", "utf8"):
        assert run("pack", "-", "-o", tmp_path / scheme, "--scheme", scheme, stdin=b'{"text": "a"}\n').returncode == 0
    out = run("merge", tmp_path / "jpblock", tmp_path / "utf8", "-o", tmp_path / "m")
    assert out.returncode == 1 and b"different schemes" in out.stderr
    assert not (tmp_path / "m.bin").exists()


@pytest.mark.parametrize("length", [8, 64])
def test_windows_cover_the_data_in_order(tmp_path, prose, length):
    _write_jsonl(tmp_path / "a.jsonl", _docs(prose, 50))
    assert run("pack", tmp_path / "a.jsonl", "-o", tmp_path / "s").returncode == 0
    with open_shard(tmp_path / "s") as shard:
        wins = list(shard.windows(length))
        assert len(wins) == shard.num_bytes // length == shard.num_windows(length)
        assert np.array_equal(np.concatenate(wins), shard.data[: len(wins) * length])
        assert np.array_equal(shard.window(1, length), wins[1])
        half = list(shard.windows(length, stride=length // 2))
        assert len(half) == shard.num_windows(length, stride=length // 2)
        with pytest.raises(ValueError, match="multiple of 4"):
            shard.num_windows(6)


def test_a_text_file_packed_as_jsonl_gets_the_format_text_hint(tmp_path, prose):
    # A newcomer's first `pack` of a .txt file: the error must say what to do.
    src = tmp_path / "book.txt"
    src.write_text(prose[:2000], encoding="utf-8")
    out = run("pack", src, "-o", tmp_path / "s", "-q")
    assert out.returncode == 1
    assert b"--format text packs each file as one document" in out.stderr, out.stderr
    assert not list(tmp_path.glob("s.*"))  # nothing half-written
    # JSON that is merely malformed is not mistaken for text: no hint.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    out = run("pack", bad, "-o", tmp_path / "t", "-q")
    assert out.returncode == 1 and b"line 2" in out.stderr and b"--format text" not in out.stderr, out.stderr
