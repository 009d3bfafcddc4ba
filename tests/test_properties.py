"""Property tests over arbitrary code points (surrogates included) and bytes."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bygpt_codec import Codec, DecodeError

from .reference_codec import encode as reference_encode

CODECS = {s: Codec(s) for s in ("jpblock", "utf8", "jpblock2")}
schemes = st.sampled_from(sorted(CODECS))

# Weighted towards Japanese, with ASCII, surrogates and astral planes mixed in.
code_points = st.one_of(
    st.integers(0x00, 0x7F),
    st.integers(0x3000, 0x30FF),
    st.integers(0x4E00, 0x9FFF),
    st.integers(0xFF00, 0xFFFF),
    st.integers(0xD800, 0xDFFF),
    st.integers(0x80, 0xFFFF),
    st.integers(0x10000, 0x10FFFF),
)
texts = st.lists(code_points, max_size=80).map(lambda cps: "".join(map(chr, cps)))
specials = st.sampled_from(["<|bos|>", "<|eos|>", "<|mask|>", "<|eos|", "<|"])
texts_with_specials = st.lists(st.one_of(texts, specials), max_size=6).map("".join)


def jpblock_codes_stay_in_blocks(data: bytes) -> bool:
    i = 0
    while i < len(data):
        lead = data[i]
        n = 1 if lead < 0xE0 or lead == 0xFF else 2 if lead < 0xFC else 3 if lead == 0xFC else 4
        if i % 4 + n > 4:
            return False
        i += n
    return True


@given(schemes, texts)
def test_round_trip_padding_and_reference(scheme, text):
    c = CODECS[scheme]
    data = c.encode(text)
    assert len(data) % 4 == 0
    assert c.decode(data) == text
    assert data == reference_encode(text, scheme)
    if scheme != "utf8":
        assert jpblock_codes_stay_in_blocks(data)


@given(schemes, st.binary(max_size=64))
def test_replace_never_raises_and_strict_points_inside(scheme, data):
    c = CODECS[scheme]
    assert isinstance(c.decode(data, errors="replace"), str)
    try:
        c.decode(data)
    except DecodeError as e:
        assert 0 <= e.position < len(data)
        assert f"byte {e.position}" in str(e)


@given(st.sampled_from(["jpblock", "jpblock2"]), texts, st.data())
def test_one_corrupted_byte_changes_only_its_block(scheme, text, data):
    c = CODECS[scheme]
    good = c.encode(text)
    if not good:
        return
    i = data.draw(st.integers(0, len(good) - 1))
    bad = bytearray(good)
    bad[i] = data.draw(st.integers(0, 255))
    blocks_good = [c.decode(good[k : k + 4], errors="replace") for k in range(0, len(good), 4)]
    blocks_bad = [c.decode(bytes(bad[k : k + 4]), errors="replace") for k in range(0, len(bad), 4)]
    assert c.decode(bytes(bad), errors="replace") == "".join(blocks_bad)
    for k, (g, b) in enumerate(zip(blocks_good, blocks_bad, strict=False)):
        if k != i // 4:
            assert g == b


@given(schemes, texts_with_specials)
def test_literal_special_strings_stay_text_unless_parsed(scheme, text):
    c = CODECS[scheme]
    plain = c.encode(text)
    assert c.decode(plain) == text
    assert not any(plain[k] == 0xFE for k in range(0, len(plain), 4))
    parsed = c.encode(text, parse_special=True)
    assert parsed == reference_encode(text, scheme, parse_special=True)
    assert c.decode(parsed) == text


@given(schemes, st.lists(texts, max_size=8), st.sampled_from(["right", "left"]), st.booleans())
def test_batch_rows_equal_single_encodings(scheme, batch, side, special):
    c = CODECS[scheme]
    out = c.encode_batch(batch, padding_side=side, add_special_tokens=special)
    ids, mask = out["input_ids"], out["attention_mask"]
    for k, text in enumerate(batch):
        single = c.encode(text, add_special_tokens=special)
        own = ids[k][mask[k] == 1]
        assert bytes(own) == single
        assert set(ids[k][mask[k] == 0].tolist()) <= {255}
    assert c.decode_batch(ids, errors="strict", skip_special_tokens=True) == batch


@given(schemes, texts, st.integers(1, 20).map(lambda n: 4 * n))
def test_truncation_cuts_on_character_boundaries(scheme, text, max_length):
    c = CODECS[scheme]
    out = c.encode_batch([text], max_length=max_length, truncation=True)
    row = out["input_ids"][0]
    assert len(row) <= max_length
    decoded = c.decode(row)
    assert text.startswith(decoded)
    if len(c.encode(text)) <= max_length:
        assert decoded == text


@given(schemes, st.binary(max_size=80), st.lists(st.integers(0, 9), max_size=20), st.booleans())
def test_incremental_decoder_equals_one_shot(scheme, data, cuts, replace):
    c = CODECS[scheme]
    errors = "replace" if replace else "strict"
    try:
        expected = c.decode(data, errors=errors)
    except DecodeError as e:
        expected = e
    dec = c.incremental_decoder(errors=errors)
    got, rest = [], data
    try:
        for n in cuts:
            got.append(dec.decode(rest[:n]))
            rest = rest[n:]
        got.append(dec.decode(rest, final=True))
    except DecodeError as e:
        assert isinstance(expected, DecodeError)
        assert e.position == expected.position
        return
    assert "".join(got) == expected


@given(schemes, texts)
def test_numpy_and_list_inputs_decode_alike(scheme, text):
    c = CODECS[scheme]
    data = c.encode(text)
    assert c.decode(np.frombuffer(data, dtype=np.uint8)) == text
    assert c.decode(list(data)) == text


# Texts whose widest character needs 1 (ASCII, Latin-1), 2 or 4 bytes in CPython.
texts_by_width = st.one_of(
    st.text(st.characters(max_codepoint=0x7F), max_size=40),
    st.text(st.characters(max_codepoint=0xFF), max_size=40),
    texts,
)


@given(schemes, st.lists(texts_by_width, min_size=1, max_size=6), st.booleans())
def test_decoded_strs_are_stored_as_cpython_stores_them(scheme, batch, large):
    """Decoded strs equal the originals and use CPython's own (narrowest)
    storage, whichever path made them: one row, a small batch, or a batch
    large enough for the worker threads (whose buffers are reused)."""
    import sys

    c = CODECS[scheme]
    if large:  # past the 64 KB at which batches go parallel
        batch = batch * (70_000 // max(1, sum(len(t) for t in batch)) + 1)
    ids = c.encode_batch(batch)["input_ids"]
    for decoded in (c.decode_batch(ids), [c.decode(c.encode(t)) for t in batch[:6]]):
        assert decoded == batch[: len(decoded)]
        assert [sys.getsizeof(s) for s in decoded] == [sys.getsizeof(t) for t in batch[: len(decoded)]]
