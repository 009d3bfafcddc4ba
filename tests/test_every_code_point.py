"""Every code point, lone surrogates included, against the reference encoder."""

from __future__ import annotations

import pytest

from bygpt_codec import Codec

from .reference_codec import encode as reference_encode

ALL = "".join(map(chr, range(0x110000)))


@pytest.mark.parametrize("scheme", ["jpblock", "utf8", "jpblock2"])
def test_every_code_point_round_trips_and_matches_reference(scheme):
    c = Codec(scheme=scheme)
    data = c.encode(ALL)
    assert len(data) % 4 == 0
    assert c.decode(data) == ALL
    assert data == reference_encode(ALL, scheme)


def test_each_code_point_alone():
    c = Codec("jpblock")
    for cp in range(0, 0x110000, 7):
        ch = chr(cp)
        assert c.decode(c.encode(ch)) == ch
