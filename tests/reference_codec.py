"""A slow, obviously-correct Python encoder written straight from docs/spec.md.

The Rust codec must produce exactly these bytes; tests compare the two.

jpblock2 (docs/spec.md ("The jpblock2 scheme")) is read from its committed data files in rust/core/data/,
so this module needs neither wordfreq nor the Rust build for it.  `decode` is a reference decoder for the
block schemes (jpblock, jpblock2).
"""

from __future__ import annotations

from pathlib import Path

SPECIALS = {"<|bos|>": 1, "<|eos|>": 2, "<|mask|>": 3}

DATA = Path(__file__).resolve().parent.parent / "rust" / "core" / "data"
#: First-byte meanings other than a 1-byte code.
LEAD2, LEAD3, LEAD4, SPECIAL, FILLER = "LEAD2", "LEAD3", "LEAD4", "SPECIAL", "FILLER"
CODE_LENGTH = {LEAD2: 2, LEAD3: 3, LEAD4: 4, SPECIAL: 4, FILLER: 1}


def jpblock_code(cp: int) -> bytes:
    """The jpblock code of ``cp``, straight from the spec's lead-byte table."""
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


def _data_lines(name: str) -> list[str]:
    """Data lines of a rust/data file: `#` starts a comment to the end of the line; blank lines are ignored."""
    lines = (raw.split("#", 1)[0].strip() for raw in (DATA / name).read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _code_point(field: str) -> int:
    if not (field.startswith("U+") and 4 <= len(field) - 2 <= 6):
        raise ValueError(f"not a U+XXXX code point: {field!r}")
    return int(field[2:], 16)


TABLE = [_code_point(line) for line in _data_lines("jpblock-table.txt")]
INDEX = {cp: i for i, cp in enumerate(TABLE)}


def load_jpblock2() -> tuple[list[int | str], list[int]]:
    """(first-byte meanings 0x00..0xFF, 2-byte table) of jpblock2, from rust/core/data/jpblock2-*.txt."""
    meanings: list[int | str] = []
    for line in _data_lines("jpblock2-one-byte.txt"):
        byte, meaning = line.split()
        if int(byte, 16) != len(meanings):
            raise ValueError(f"jpblock2-one-byte.txt: expected byte 0x{len(meanings):02X}, got {byte}")
        meanings.append(meaning if meaning in CODE_LENGTH else _code_point(meaning))
    if len(meanings) != 256:
        raise ValueError(f"jpblock2-one-byte.txt has {len(meanings)} byte lines, not 256")
    return meanings, [_code_point(line) for line in _data_lines("jpblock2-table.txt")]


def jpblock_meanings() -> list[int | str]:
    """jpblock's first-byte meanings, from the table in docs/spec.md."""
    return list(range(0x80)) + list(range(0x3040, 0x30A0)) + [LEAD2] * 28 + [LEAD3, LEAD4, SPECIAL, FILLER]


JP2_MEANINGS, JP2_TABLE = load_jpblock2()
JP2_ONE = {m: b for b, m in enumerate(JP2_MEANINGS) if isinstance(m, int)}
JP2_LEADS = [b for b, m in enumerate(JP2_MEANINGS) if m == LEAD2]
JP2_INDEX = {cp: i for i, cp in enumerate(JP2_TABLE)}
JP2_LEAD3 = bytes([JP2_MEANINGS.index(LEAD3)])
JP2_LEAD4 = bytes([JP2_MEANINGS.index(LEAD4)])


def jpblock2_code(cp: int) -> bytes:
    if cp in JP2_ONE:
        return bytes([JP2_ONE[cp]])
    if cp in JP2_INDEX:
        i = JP2_INDEX[cp]
        return bytes([JP2_LEADS[i // 256], i % 256])
    if cp <= 0xFFFF:
        return JP2_LEAD3 + cp.to_bytes(2, "big")
    return JP2_LEAD4 + cp.to_bytes(3, "big")


def utf8_code(cp: int) -> bytes:
    return chr(cp).encode("utf-8", "surrogatepass")


CODE = {"jpblock": jpblock_code, "jpblock2": jpblock2_code, "utf8": utf8_code}
#: Schemes with the block rule (no code crosses a 4-byte block).
BLOCK_SCHEMES = ("jpblock", "jpblock2")


def encode(text: str, scheme: str, *, parse_special: bool = False, add_special_tokens: bool = False) -> bytes:
    out = bytearray()
    code_of = CODE[scheme]

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
        code = code_of(cp)
        if scheme in BLOCK_SCHEMES and len(out) % 4 + len(code) > 4:
            while len(out) % 4:
                out.append(0xFF)
        out.extend(code)
        i += 1
    while len(out) % 4:
        out.append(0xFF)
    if add_special_tokens:
        special(2)
    return bytes(out)


class ReferenceDecodeError(ValueError):
    def __init__(self, kind: str, position: int) -> None:
        super().__init__(f"{kind} at byte {position}")
        self.kind = kind
        self.position = position


def decode(data: bytes, scheme: str, errors: str = "strict") -> str:
    """Decode a block scheme as the spec's "Decoding" section says (specials rendered as their names)."""
    if scheme == "jpblock":
        meanings, table = jpblock_meanings(), TABLE
    elif scheme == "jpblock2":
        meanings, table = JP2_MEANINGS, JP2_TABLE
    else:
        raise ValueError(f"decode: {scheme!r} is not a block scheme")
    leads = [b for b, m in enumerate(meanings) if m == LEAD2]
    code_of = CODE[scheme]
    names = {i: n for n, i in SPECIALS.items()}
    out: list[str] = []
    p = 0
    while p < len(data):
        meaning = meanings[data[p]]
        if meaning == FILLER:
            p += 1
            continue
        length = 1 if isinstance(meaning, int) else CODE_LENGTH[meaning]
        unit = data[p : p + length]
        text = error = None
        if p % 4 + length > 4:
            error = "crosses a block"
        elif len(unit) < length:
            error = "truncated"
        elif isinstance(meaning, int):
            text = chr(meaning)
        elif meaning == LEAD2:
            i = leads.index(unit[0]) * 256 + unit[1]
            if i < len(table):
                text = chr(table[i])
            else:
                error = "table index out of range"
        elif meaning == SPECIAL:
            token = int.from_bytes(unit[1:], "big")
            if token in names:
                text = names[token]
            else:
                error = "unknown special"
        else:
            cp = int.from_bytes(unit[1:], "big")
            if cp > 0x10FFFF:
                error = "out of range"
            elif code_of(cp) != unit:
                error = "non-shortest"
            else:
                text = chr(cp)
        if error is None:
            out.append(text)
            p += length
        elif errors == "strict":
            raise ReferenceDecodeError(error, p)
        else:
            out.append("\ufffd")
            p = p - p % 4 + 4
    return "".join(out)
