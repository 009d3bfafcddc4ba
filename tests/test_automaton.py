"""The byte automaton accepts exactly what strict decoding accepts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bygpt_codec import Codec, DecodeError


def _accepts(automaton, data: bytes) -> bool:
    s = automaton.run(data)
    return s >= 0 and bool(automaton.code_start[s])


def _decodes(codec: Codec, data: bytes) -> bool:
    try:
        codec.decode(data)
    except DecodeError:
        return False
    return True


@pytest.fixture(scope="module", params=["jpblock", "utf8", "jpblock2"])
def pair(request):
    codec = Codec(request.param, special_tokens={"<|user|>": 300})
    return codec, codec.byte_automaton()


def test_shape_and_encoded_text(pair, prose):
    codec, a = pair
    assert a.next.shape == (a.num_states, 256) and a.next.dtype == np.int32
    assert a.num_states < 1000
    assert a.code_start[a.start] and a.offset[a.start] == 0
    data = codec.encode(prose[:3000] + "<|user|><|eos|>", parse_special=True, add_special_tokens=True)
    assert _accepts(a, data)


@given(data=st.binary(max_size=24))
def test_agrees_with_strict_decoding_on_random_bytes(pair, data):
    codec, a = pair
    assert _accepts(a, data) == _decodes(codec, data)


@given(text=st.text(max_size=20))
def test_prefixes_of_valid_streams_stay_alive(pair, text):
    codec, a = pair
    data = codec.encode(text)
    for k in range(len(data) + 1):
        assert a.run(data[:k]) >= 0


def test_registered_specials_only(pair):
    codec, a = pair
    assert _accepts(a, b"\xfe\x00\x01\x2c")  # 300
    assert not _accepts(a, b"\xfe\x00\x01\x2d")
    assert not _accepts(a, b"a\xfe\x00\x00\x02"[:5])
