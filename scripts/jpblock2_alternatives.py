#!/usr/bin/env python3
"""The design alternatives of docs/spec.md ("The jpblock2 scheme"), measured: characters per 4-byte step
of each variant.

Each variant is a set of 1-byte and 2-byte code points (everything else: 3 bytes in the BMP, 4 above); the block
rule is simulated on code lengths alone, which is all that density depends on (the chosen variant gives exactly
what scripts/measure_density.py measures with the reference encoder).  Needs wordfreq 3.1.1, like the generator.

Usage: python scripts/jpblock2_alternatives.py TEXT...
  TEXT  UTF-8 files (.gz is decompressed); a path ending in `:prose` is measured on its prose extraction
        (scripts/measure_density.py's prose_paragraphs), e.g. debian-reference.ja.txt.gz:prose
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load("gen_jpblock2_tables")
measure = _load("measure_density")

JPBLOCK_ONE = set(gen.jpblock_one_byte())
KANA_4 = [0x3094, 0x3095, 0x3096, 0x309F]  # ゔ ゕ ゖ ゟ
ISSUE_33 = [cp for cp in gen.given_up() if cp not in KANA_4]
SPACING_MARKS = [0x309B, 0x309C]  # ゛ ゜
BRACKETS = [0x300C, 0x300D]  # 「 」
PARENS = [0xFF08, 0xFF09]  # （ ）


def variant(table, weights, given_up, first=(0x3001, 0x3002), leads=28, fill_spare=False, ranking=None):
    """(1-byte set, 2-byte set) of a jpblock2-like variant."""
    ranked = ranking if ranking is not None else gen.rank(table, weights)
    ranked = [cp for cp in ranked if cp not in first and cp in set(table)]
    extra = 28 - leads  # each freed lead byte becomes one more 1-byte code
    promoted = list(first) + ranked[: len(given_up) + extra - len(first)]
    one = (JPBLOCK_ONE - set(given_up)) | set(promoted)
    two = (set(table) - set(promoted)) | set(given_up)
    if len(two) > leads * 256:  # demote the least weighted entries to 3-byte codes
        rest = sorted((cp for cp in two if cp not in given_up), key=lambda cp: (weights.get(cp, 0.0), -cp))
        two -= set(rest[: len(two) - leads * 256])
    if fill_spare:
        outside = sorted(
            (cp for cp in weights if cp <= 0xFFFF and cp not in one and cp not in two), key=lambda c: -weights[c]
        )
        two |= set(outside[: leads * 256 - len(two)])
    return one, two


def chars_per_step(text: str, one: set[int], two: set[int]) -> float:
    length = {}
    for ch in set(text):
        cp = ord(ch)
        length[ch] = 1 if cp in one else 2 if cp in two else 3 if cp <= 0xFFFF else 4
    pos = 0
    for ch in text:
        n = length[ch]
        if (pos & 3) + n > 4:
            pos += 4 - (pos & 3)
        pos += n
    return 4 * len(text) / (pos + (-pos) % 4)


def main(argv: list[str]) -> int:
    texts = {}
    for arg in argv:
        prose = arg.endswith(":prose")
        path = Path(arg.removesuffix(":prose"))
        text = measure.read_text(path)
        if prose:
            text = "\n".join(measure.prose_paragraphs(text)) + "\n"
        texts[path.name.removesuffix(".gz") + (" prose" if prose else "")] = text
    table, _ = gen.load_jpblock_table()
    weights = gen.wordfreq_weights()
    g37 = gen.given_up()
    oracle = None
    if texts:
        first = next(iter(texts.values()))
        oracle = [ord(c) for c, _ in Counter(first).most_common() if ord(c) in set(table)]
    rows = {
        "jpblock": (JPBLOCK_ONE, set(table)),
        "33 codes (issue's set), wordfreq only": variant(table, weights, ISSUE_33, first=()),
        "33 codes, 、。 first": variant(table, weights, ISSUE_33),
        "37 codes, wordfreq only": variant(table, weights, g37, first=()),
        "37 codes, 、。 first (chosen)": variant(table, weights, g37),
        "37 codes, 、。「」 first": variant(table, weights, g37, first=(0x3001, 0x3002, *BRACKETS)),
        "37 codes, 、。「」（） first": variant(table, weights, g37, first=(0x3001, 0x3002, *BRACKETS, *PARENS)),
        "39 codes, also ゛゜": variant(table, weights, g37 + SPACING_MARKS),
        "37 + 108 spare 2-byte slots filled": variant(table, weights, g37, fill_spare=True),
        "41 codes, 24 lead bytes (912 to 3 bytes)": variant(table, weights, g37, leads=24),
        "45 codes, 20 lead bytes (1,932 to 3 bytes)": variant(table, weights, g37, leads=20),
    }
    if oracle:
        rows[f"oracle: 37 codes ranked on {next(iter(texts))}"] = variant(table, weights, g37, first=(), ranking=oracle)
    print(f"{'variant':<46} " + " ".join(f"{name[:22]:>22}" for name in texts))
    for name, (one, two) in rows.items():
        print(f"{name:<46} " + " ".join(f"{chars_per_step(t, one, two):>22.3f}" for t in texts.values()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
