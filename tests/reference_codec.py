"""A slow, obviously-correct Python encoder written straight from docs/spec.md.

The Rust codec must produce exactly these bytes; tests compare the two.
"""

from __future__ import annotations

import bygpt_codec._native as native

TABLE = native._jp_table()
INDEX = {cp: i for i, cp in enumerate(TABLE)}
SPECIALS = {"<|bos|>": 1, "<|eos|>": 2, "<|mask|>": 3}


def jpblock_code(cp: int) -> bytes:
    if cp < 0x80:
        return bytes([cp])
    if 0x3040 <= cp <= 0x309F:
        return bytes([0x80 + cp - 0x3040])
    if cp in INDEX:
        i = INDEX[cp]
        return bytes([0xE0 + i // 256, i % 256])
    if cp <= 0xFFFF:
        return bytes([0xFC]) + cp.to_bytes(2, "big")
    return bytes([0xFD]) + cp.to_bytes(3, "big")


def utf8_code(cp: int) -> bytes:
    return chr(cp).encode("utf-8", "surrogatepass")


def encode(text: str, scheme: str, *, parse_special: bool = False, add_special_tokens: bool = False) -> bytes:
    out = bytearray()

    def special(token_id: int) -> None:
        while len(out) % 4:
            out.append(0xFF)
        out.extend(bytes([0xFE]) + token_id.to_bytes(3, "big"))

    if add_special_tokens:
        special(1)
    i = 0
    while i < len(text):
        if parse_special:
            hit = next((n for n in sorted(SPECIALS, key=len, reverse=True) if text.startswith(n, i)), None)
            if hit:
                special(SPECIALS[hit])
                i += len(hit)
                continue
        cp = ord(text[i])
        code = jpblock_code(cp) if scheme == "jpblock" else utf8_code(cp)
        if scheme == "jpblock" and len(out) % 4 + len(code) > 4:
            while len(out) % 4:
                out.append(0xFF)
        out.extend(code)
        i += 1
    while len(out) % 4:
        out.append(0xFF)
    if add_special_tokens:
        special(2)
    return bytes(out)
