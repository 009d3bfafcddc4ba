#!/usr/bin/env python3
"""Derive the jpblock 2-byte code table T from CPython's codecs and write it
as the committed data file rust/core/data/jpblock-table.txt.

The data file is normative (the Rust core compiles it in); this script is how
it was made, and tests/test_table.py runs it again as a cross-check, so the
encoding does not depend on which CPython builds the project.

T is defined in docs/spec.md from CPython's own codecs, so anyone can
re-derive it: {U+3000..U+303F} | {U+30A0..U+30FF} | {U+FF00..U+FFEF}
| {code points euc_jp encodes to exactly 2 bytes, first byte >= 0xA1}
| {code points cp932 encodes to 2 bytes with first byte 0x87},
minus code points below 0x80 and minus Hiragana (U+3040..U+309F),
sorted ascending.  Entry i is written as lead 0xE0 + i // 256, then i % 256.

Usage: python scripts/gen_jp_table.py [--check] [OUTPUT]
  --check  exit 1 if OUTPUT differs from what this script generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "rust" / "core" / "data" / "jpblock-table.txt"
CAPACITY = 28 * 256  # lead bytes 0xE0..=0xFB


def derive_table() -> list[int]:
    members: set[int] = set(range(0x3000, 0x3040))
    members |= set(range(0x30A0, 0x3100))
    members |= set(range(0xFF00, 0xFFF0))
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates are never encodable by these codecs
        ch = chr(cp)
        try:
            b = ch.encode("euc_jp")
            if len(b) == 2 and b[0] >= 0xA1:
                members.add(cp)
        except UnicodeEncodeError:
            pass
        try:
            b = ch.encode("cp932")
            if len(b) == 2 and b[0] == 0x87:
                members.add(cp)
        except UnicodeEncodeError:
            pass
    table = sorted(cp for cp in members if cp >= 0x80 and not 0x3040 <= cp <= 0x309F)
    if len(table) > CAPACITY:
        raise SystemExit(f"table has {len(table)} entries, over capacity {CAPACITY}")
    if table[-1] > 0xFFFF:
        raise SystemExit("table must hold BMP code points only (stored as u16)")
    return table


HEADER = """\
# The jpblock 2-byte code table T (docs/spec.md, "Table T"): 7060 code points,
# sorted ascending. Entry i is encoded as the bytes 0xE0 + i / 256, i % 256.
# This file is normative: the Rust core reads it at build time (rust/core/build.rs).
# It was derived from CPython's euc_jp and cp932 codecs by scripts/gen_jp_table.py,
# and tests/test_table.py derives it again as a cross-check.
# Format: one code point per line as U+XXXX; '#' starts a comment.
"""


def render(table: list[int]) -> str:
    return HEADER + "".join(f"U+{cp:04X}\n" for cp in table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render(derive_table())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/gen_jp_table.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
