"""Threads, as docs/reliability.md promises: a Codec is shared freely; an
IncrementalDecoder used by a second thread while a call is running raises
RuntimeError and keeps its stream intact."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bygpt_codec import Codec


class _Blocking(list):
    """A chunk (a list of byte values) whose conversion waits until released,
    so that a decoder's call is held open while another thread tries it."""

    def __init__(self, values: bytes, entered: threading.Event, release: threading.Event) -> None:
        super().__init__(values)
        self.entered, self.release = entered, release

    def __iter__(self):
        self.entered.set()
        assert self.release.wait(30)
        return super().__iter__()


def test_a_decoder_in_use_by_another_thread_raises_runtime_error():
    c = Codec()
    data = c.encode("並行に使われるデコーダ")
    dec = c.incremental_decoder()
    entered, release = threading.Event(), threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(dec.decode, _Blocking(data[:5], entered, release))
        assert entered.wait(30)
        for misuse in (lambda: dec.decode(b"a"), dec.reset, lambda: dec.position, lambda: dec.pending):
            with pytest.raises(RuntimeError, match="in use by another thread; use one decoder per stream and thread"):
                misuse()
        assert repr(dec) == "<IncrementalDecoder (in use by another thread)>"
        release.set()
        text = first.result(timeout=30)
    # The refused calls changed nothing: the stream goes on where the first call left it.
    assert text + dec.decode(data[5:], final=True) == "並行に使われるデコーダ"


def test_decoder_repr_shows_its_settings_and_state():
    c = Codec("utf8")
    dec = c.incremental_decoder(errors="replace", skip_special_tokens=True)
    assert dec.decode("aé".encode()[:2]) == "a"
    assert repr(dec) == (
        "<IncrementalDecoder scheme='utf8' errors='replace' skip_special_tokens=True position=1 pending=b'\\xc3'>"
    )


def test_one_codec_shared_by_threads_gives_every_thread_its_own_answer(prose):
    c = Codec()
    docs = [prose[i : i + 300] for i in range(0, 30_000, 300)]

    def work(k: int) -> bool:
        batch = c.encode_batch(docs[k:] + docs[:k])
        return c.decode_batch(batch["input_ids"]) == docs[k:] + docs[:k] and c.decode(c.encode(docs[k])) == docs[k]

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(32)))


def test_a_document_taken_from_a_shard_outlives_close(tmp_path):
    from bygpt_codec.shards import ShardWriter, open_shard

    c = Codec()
    rows = [c.encode(text, add_special_tokens=True) for text in ("吾輩は猫である。", "名前はまだ無い。")]
    with ShardWriter(str(tmp_path / "s"), "jpblock") as w:
        w.add(b"".join(rows), [len(r) for r in rows])
        w.commit()
    with open_shard(tmp_path / "s") as shard:
        doc = shard[1]
    # Another thread may still hold a view when the shard is closed: it must stay readable.
    assert c.decode(bytes(doc), skip_special_tokens=True) == "名前はまだ無い。"
    assert len(shard) == 0
