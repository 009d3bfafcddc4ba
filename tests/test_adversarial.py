"""Adversarial inputs through the Python API: each ends in a correct result or
a clear Python exception, never a crash or a Rust panic."""

from __future__ import annotations

import multiprocessing
import pickle
import threading

import numpy as np
import pytest

from bygpt_codec import Codec, DecodeError


def test_huge_single_string_round_trips():
    # ~120 M characters (240 MB as a UCS-2 str): mixed kana, kanji and ASCII.
    unit = "吾輩は猫である。名前はまだ無い。 ASCII text, too.\n"
    text = unit * (120_000_000 // len(unit))
    for scheme in ("jpblock",):
        c = Codec(scheme)
        data = c.encode(text)
        assert len(data) % 4 == 0
        assert c.decode(data) == text
        del data


def test_a_million_empty_strings():
    c = Codec()
    out = c.encode_batch([""] * 1_000_000)
    assert out["input_ids"].shape == (1_000_000, 0)
    assert c.decode_batch(out["input_ids"]) == [""] * 1_000_000
    out = c.encode_batch(["", "あ"] * 500_000)
    assert out["input_ids"].shape == (1_000_000, 4)
    assert out["attention_mask"].sum() == 4 * 500_000


def test_wrong_arrays_raise_clearly():
    c = Codec()
    good = np.frombuffer(c.encode("日本語"), dtype=np.uint8)
    with pytest.raises(ValueError, match="2-D batch"):
        c.decode_batch(np.zeros((2, 2, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="0..255"):
        c.decode_batch(np.array([[1, 2, 3, 256]], dtype=np.int64))
    with pytest.raises(TypeError, match="integer dtype"):
        c.decode(np.array([True, False]))
    with pytest.raises(TypeError):
        c.decode(good.astype(np.float64))
    # int64 ids above 255 raise, never wrap around to another byte.
    with pytest.raises(ValueError, match="found 321"):
        c.decode(good.astype(np.int64) + np.array([0] * (len(good) - 1) + [321 - int(good[-1])]))
    # Strided, transposed, read-only and big-endian views decode correctly.
    batch = c.encode_batch(["一二", "三四"])["input_ids"]
    wide = np.repeat(batch, 2, axis=1)[:, ::2]
    assert not wide.flags.c_contiguous and c.decode_batch(wide) == ["一二", "三四"]
    assert c.decode_batch(np.ascontiguousarray(batch.T).T) == ["一二", "三四"]
    ro = batch.copy()
    ro.flags.writeable = False
    assert c.decode_batch(ro) == ["一二", "三四"]
    assert c.decode(good.astype(">i4")) == "日本語"
    assert c.decode(memoryview(good.tobytes()).cast("B")) == "日本語"


@pytest.mark.parametrize("return_tensors", ["np", "pt"])
def test_absurd_fixed_width_is_a_memory_error_not_a_panic(return_tensors):
    # Found in review: rows * width overflowed and a Rust assertion panicked;
    # on the int64 path width * 8 did (PanicException "chunk_size must not be zero").
    if return_tensors == "pt":
        pytest.importorskip("torch")
    c = Codec()
    for max_length in (2**40, 2**61, 2**61 + 4, 2**62, 2**63, 2**64 + 4, 2**200):
        with pytest.raises(MemoryError, match="too large"):
            c.encode_batch(["a", "b"], max_length=max_length, padding="max_length", return_tensors=return_tensors)
        with pytest.raises(MemoryError, match="too large"):
            c.pad_batch([b"a"], max_length=max_length, padding="max_length", return_tensors=return_tensors)
        # A huge limit that only truncates is no limit at all.
        out = c.encode_batch(["a", "b"], max_length=max_length, truncation=True, return_tensors=return_tensors)
        assert tuple(out["input_ids"].shape) == (2, 4)
    for multiple in (2**61, 2**64 + 1):
        with pytest.raises(MemoryError, match="too large"):
            c.encode_batch(["a"], pad_to_multiple_of=multiple, return_tensors=return_tensors)


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, -(2**200), 256, -1])
def test_out_of_range_ids_are_value_errors(value):
    # Found in review: decode([2**63]) raised OverflowError, not ValueError.
    c = Codec()
    with pytest.raises(ValueError, match="0..255"):
        c.decode([0x61, value])
    with pytest.raises(ValueError, match="0..255"):
        c.decode_batch([[0x61], [value]])
    with pytest.raises(ValueError, match="0..255"):
        c.incremental_decoder().decode([value])
    with pytest.raises(ValueError, match="0..255"):
        c.pad_batch([[value]])


def test_truncation_never_cuts_a_special_block():
    c = Codec("utf8")
    text = "<|mask|>あ" * 20
    for max_length in range(4, 64, 4):
        out = c.encode_batch([text], max_length=max_length, truncation=True, parse_special=True)
        row = bytes(out["input_ids"][0])
        assert len(row) <= max_length
        decoded = c.decode(row, errors="strict")
        assert text.startswith(decoded)
        # Special blocks sit whole at block starts.
        assert all(row[i] != 0xFE or row[i : i + 4] == b"\xfe\x00\x00\x03" for i in range(0, len(row), 4))


def test_unknown_special_names_and_bad_registrations():
    c = Codec()
    with pytest.raises(ValueError, match="unknown special token"):
        c.special_bytes("<|nope|>")
    assert c.encode("<|nope|>", parse_special=True) == c.encode("<|nope|>")
    with pytest.raises(DecodeError, match="unknown special token id 4"):
        c.decode(b"\xfe\x00\x00\x04")
    with pytest.raises(TypeError):
        Codec("jpblock", special_tokens={"<|x|>": "256"})
    with pytest.raises(TypeError):
        Codec("jpblock", special_tokens=[1, 2])


def test_one_incremental_decoder_shared_by_threads_does_not_crash():
    c = Codec()
    data = c.encode("並行に使われるデコーダ" * 100)
    dec = c.incremental_decoder(errors="replace")
    failures: list[BaseException] = []

    def feed():
        try:
            for i in range(0, len(data), 3):
                dec.decode(data[i : i + 3])
        except RuntimeError:
            pass  # concurrent mutable borrow is refused cleanly; acceptable
        except BaseException as e:  # pragma: no cover
            failures.append(e)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def _encode_in_child(args):
    codec, text = args
    return codec.encode(text, parse_special=True)


def test_codecs_pickle_across_processes():
    codec = Codec("utf8", special_tokens={"<|user|>": 300})
    texts = ["<|user|>こんにちは", "さようなら"]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_encode_in_child, [(codec, t) for t in texts])
    assert results == [codec.encode(t, parse_special=True) for t in texts]
    error = pickle.loads(pickle.dumps(DecodeError("bad", 3, row=2)))
    assert (error.position, error.row) == (3, 2)


def _int64_layouts(ids: np.ndarray) -> dict[str, np.ndarray]:
    """The same int64 ids in every layout a caller may hold: the fast path
    (C-contiguous, aligned, native order) and those converted in Python."""
    wide = np.zeros((ids.shape[0], 2 * ids.shape[1]), dtype=np.int64)
    wide[:, ::2] = ids
    raw = bytearray(ids.astype(np.int64).nbytes + 1)
    unaligned = np.frombuffer(raw, dtype=np.int64, offset=1).reshape(ids.shape)
    unaligned[...] = ids
    return {
        "contiguous": np.ascontiguousarray(ids, dtype=np.int64),
        "strided": wide[:, ::2],
        "big-endian": ids.astype(">i8"),
        "unaligned": unaligned,
        "fortran": np.asfortranarray(ids, dtype=np.int64),
    }


@pytest.mark.parametrize("scheme", ["jpblock", "utf8"])
def test_int64_batches_decode_as_their_bytes(prose, scheme):
    # A model's ids are int64: narrowed in Rust when the layout allows, in numpy otherwise.
    c = Codec(scheme)
    docs = [prose[i : i + 700] for i in range(0, 7000, 700)]
    ids = c.encode_batch(docs)["input_ids"]  # 10 x ~2,000: several 4,096-id runs
    for name, layout in _int64_layouts(ids).items():
        assert c.decode_batch(layout) == docs, name
        assert c.decode(layout[3]) == docs[3], name
    torch = pytest.importorskip("torch")
    assert c.decode_batch(torch.from_numpy(ids.astype(np.int64))) == docs
    assert c.decode_batch(np.zeros((2, 0), dtype=np.int64)) == ["", ""]
    assert c.decode(np.zeros(0, dtype=np.int64)) == ""


@pytest.mark.parametrize("value", [256, -1, 2**63 - 1, -(2**63)])
@pytest.mark.parametrize("at", [0, 4095, 4096, 9_000])
def test_int64_ids_out_of_range_are_named_where_they_are(value, at):
    c = Codec()
    ids = np.full((3, 4000), 0x61, dtype=np.int64)
    ids.reshape(-1)[at] = value
    for layout in _int64_layouts(ids).values():
        with pytest.raises(ValueError, match=rf"found {value} at flat index {at}$"):
            c.decode_batch(layout)
        row, col = divmod(at, ids.shape[1])
        with pytest.raises(ValueError, match=rf"found {value} at flat index {col}$"):
            c.decode(layout[row])
    with pytest.raises(ValueError, match="one row"):
        c.decode(ids)
