"""Stop sequences and <|eos|> on generated text, both schemes.

A scripted model (its heads spell out fixed text) generates every character
whose code holds 0x0A or 0xFF after its lead byte (derived from the codec by
encoding the whole BMP), at every offset of a block, followed by a newline:
a "\\n" stop must fire on the newline and never inside a character. Each
such character is also used as a stop itself, next to a character that
shares all of its code but the last byte.
"""

from __future__ import annotations

import functools

import pytest

torch = pytest.importorskip("torch")
bygpt_codec = pytest.importorskip("bygpt_codec")

from bygpt_codec.constants import EOS, EOS_ID, FILLER, special_block  # noqa: E402
from bygpt_model.automaton import host_tables  # noqa: E402
from bygpt_model.stopping import normalize_stop_sequences, strip_filler  # noqa: E402

from .scripting import ScriptedModel, expected_output, reference_stop, script_rows  # noqa: E402

SCHEMES = bygpt_codec.SCHEMES
# Characters of every kind, for schemes where no code has 0x0A or 0xFF after
# its lead (utf8) and as neighbours for the others.
ORDINARY = "aあア新、😀한é"
CHUNK = 192


def _code(codec, host, ch: str) -> bytes:
    """The code of one character: its encoding without trailing filler."""
    return strip_filler(codec.encode(ch), host)


@functools.cache
def trail_characters(scheme: str) -> tuple[str, ...]:
    """Every BMP character whose code has 0x0A or 0xFF after its lead byte."""
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    found = []
    for cp in range(0x10000):
        ch = chr(cp)
        code = _code(codec, host, ch)
        if 0x0A in code[1:] or FILLER in code[1:]:
            found.append(ch)
    return tuple(found)


@functools.cache
def supplementary_characters(scheme: str) -> tuple[str, ...]:
    """Characters above the BMP whose code has 0x0A or 0xFF after its lead:
    too many to try all (tens of thousands under jpblock, whose 4-byte code
    is the code point's 3 bytes), so every combination of plane byte, middle
    byte and low byte drawn from {0x00, 0x0A, 0x41, 0xFF} is tried."""
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    found = []
    for plane in (0x01, 0x02, 0x0A, 0x0E, 0x10):
        for mid in (0x00, 0x0A, 0x41, 0xFF):
            for low in (0x00, 0x0A, 0x41, 0xFF):
                ch = chr(plane << 16 | mid << 8 | low)
                code = _code(codec, host, ch)
                if 0x0A in code[1:] or FILLER in code[1:]:
                    found.append(ch)
    return tuple(found)


def _run(model, prompt: bytes, rows: int, **kw) -> torch.Tensor:
    ids = torch.tensor(list(prompt))[None].expand(rows, -1)
    return model.generate(ids, do_sample=False, **kw)


def _check_rows(codec, host, texts, stops, *, valid_only, blocks=8, stop_on_eos=True):
    """Generate ``texts`` with a scripted model and compare every row with
    the reference matcher; returns the decoded generated texts."""
    prompt = special_block(1)  # the <|bos|> block
    state = host.run(prompt)
    decoded = []
    for at in range(0, len(texts), CHUNK):
        part = texts[at : at + CHUNK]
        script = script_rows(codec, part, blocks)
        model = ScriptedModel(script, first=0, scheme=codec.scheme)
        out = _run(
            model, prompt, len(part), max_new_tokens=4 * blocks, eos_token_id=stops,
            valid_only=valid_only, stop_on_eos=stop_on_eos,
        )  # fmt: skip
        all_stops = normalize_stop_sequences(stops, host) + ([special_block(EOS_ID)] if stop_on_eos else [])
        for i in range(len(part)):
            generated = script[i].flatten().tolist()
            want = expected_output(generated, reference_stop(generated, host, state, all_stops))
            got = out[i, 4:].tolist()
            got = got[: len(want)]
            assert got == want, (part[i], got, want)
            assert set(out[i, 4 + len(want) :].tolist()) <= {codec.pad_token_id}
            decoded.append(codec.decode(bytes(got)))  # strict: every row stays valid
    return decoded


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("valid_only", [True, False])
def test_newline_stop_never_fires_inside_a_character(scheme, valid_only):
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    chars = trail_characters(scheme) + supplementary_characters(scheme) + tuple(ORDINARY)
    # Each character three times, then a newline, then more text, starting
    # at every offset of a block.
    texts = [pre + ch * 3 + "\nafter" for ch in chars for pre in ("", "a", "ab", "abc")]
    decoded = _check_rows(codec, host, texts, [list(codec.encode("\n"))], valid_only=valid_only)
    for text, got in zip(texts, decoded, strict=True):
        assert got == text[: text.index("\n") + 1], (text, got)


def test_the_derived_sets_are_what_the_issue_counts():
    """jpblock: 28 two-byte codes end in 0x0A and 27 in 0xFF (plus 3-byte
    codes whose bytes hold them); utf8 has none."""
    jp = trail_characters("jpblock")
    codec, host = bygpt_codec.Codec("jpblock"), host_tables("jpblock")
    two_byte = [ch for ch in jp if len(_code(codec, host, ch)) == 2]
    assert sum(_code(codec, host, ch)[1] == 0x0A for ch in two_byte) == 28
    assert sum(_code(codec, host, ch)[1] == 0xFF for ch in two_byte) == 27
    assert "新" in jp and "親" in jp
    # Plane 0x0A: all 16 (middle, low) pairs; other planes: the 12 that hold 0x0A or 0xFF.
    assert len(supplementary_characters("jpblock")) == 16 + 4 * 12
    assert trail_characters("utf8") == () and supplementary_characters("utf8") == ()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_character_as_its_own_stop(scheme):
    """A stop whose last byte is 0xFF keeps it, so it fires on that
    character and not on one that shares its other bytes."""
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    chars = trail_characters(scheme) or tuple(ORDINARY)
    by_prefix: dict[bytes, list[str]] = {}
    for cp in range(0x3000, 0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        code = _code(codec, host, chr(cp))
        by_prefix.setdefault(code[:-1], []).append(chr(cp))
    group = 16
    for at in range(0, len(chars), group):
        part = chars[at : at + group]
        cases = []
        for ch in part:
            code = _code(codec, host, ch)
            twins = [c for c in by_prefix.get(code[:-1], []) if c != ch and c not in part]
            cases.append((ch, twins[0] if twins else "x"))
        # The twin (same code but the last byte) comes first and must not stop.
        texts = [f"{twin}-{twin}{ch}-{ch}" for ch, twin in cases]
        stops = [list(codec.encode(ch)) for ch in part]
        for valid_only in (True, False):
            decoded = _check_rows(codec, host, texts, stops, valid_only=valid_only)
            for (ch, twin), got in zip(cases, decoded, strict=True):
                assert got == f"{twin}-{twin}{ch}", (ch, twin, got)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_eos_block_stops_by_default(scheme):
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    texts = [f"本文{EOS}続き", f"ab{EOS}", "no end here at all"]
    scripts = [codec.encode(t, parse_special=True) for t in texts]
    script = torch.tensor([list(s) + [FILLER] * (32 - len(s)) for s in scripts]).view(3, 8, 4)
    model = ScriptedModel(script, first=0, scheme=scheme)
    prompt = torch.tensor(list(special_block(1)))[None].expand(3, -1)
    out = model.generate(prompt, max_new_tokens=32)
    got = codec.decode_batch(out[:, 4:], errors="strict")
    assert got == [f"本文{EOS}", f"ab{EOS}", "no end here at all"]
    assert out.shape[1] == 4 + 32
    # Opting out keeps going after the <|eos|> block.
    cont = model.generate(prompt, max_new_tokens=32, stop_on_eos=False)
    assert codec.decode_batch(cont[:, 4:], errors="strict") == texts
    assert host.is_valid(bytes(cont[0].tolist()))


def test_stop_sequences_are_normalized_with_the_automaton():
    host = host_tables("jpblock")
    codec = bygpt_codec.Codec("jpblock")
    ff_char = next(ch for ch in trail_characters("jpblock") if codec.encode(ch)[1] == 0xFF)
    code = codec.encode(ff_char)
    # Trailing filler goes, the 0xFF trail byte stays.
    assert normalize_stop_sequences(list(code), host) == [bytes(code[:2])]
    # Without the automaton every 0xFF is dropped (the legacy behaviour).
    assert normalize_stop_sequences(list(code)) == [bytes(code[:1])]
    # Filler that the block rule inserts in the middle is dropped too.
    assert normalize_stop_sequences(codec.encode("abc新"), host) == [b"abc" + codec.encode("新")[:2]]
