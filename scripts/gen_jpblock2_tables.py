#!/usr/bin/env python3
"""Generate the jpblock2 tables: rust/core/data/jpblock2-one-byte.txt and rust/core/data/jpblock2-table.txt.

jpblock2 is jpblock (docs/spec.md) with 37 one-byte codes reassigned; see docs/spec.md ("The jpblock2 scheme").

* Given up (the set G, 37 code points): the C0 controls other than TAB, LF and CR (29), DEL (1), and the
  Hiragana-block code points that CPython's euc_jp codec cannot encode, the combining marks U+3099 and U+309A
  excepted (U+3040, U+3094..U+3098, U+309F: 3 unassigned, ゔ ゕ ゖ ゟ).
* Promoted (the list P, 37 characters, in rank order): U+3001 、 and U+3002 。 first, then the members of the
  jpblock table T ranked by their weight in wordfreq 3.1.1's Japanese list ("ja", wordlist "large"): the weight
  of a character is the sum, over the words of the list, of the word's frequency times the number of times the
  character occurs in the word.  Ties (none occur) would go to the lower code point.
* One-byte map: the byte of the i-th member of G, in ascending order of byte value, becomes the 1-byte code of
  P[i].  Every other byte means what it means in jpblock.
* 2-byte table T2: T with each promoted character's entry replaced.  The entries of P, in ascending order of
  table index, receive the members of G in ascending order of code point.  Every other entry keeps its index.

The jpblock table T is read from rust/core/data/jpblock-table.txt.

Usage: python scripts/gen_jpblock2_tables.py [--check] [--ranking N]
  --check      exit 1 if the committed files differ from what this script generates (writes nothing).
  --ranking N  also print the first N ranked candidates with their weights.
Needs wordfreq==3.1.1 (pip install wordfreq==3.1.1); the tests read the committed files, never wordfreq.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "rust" / "core" / "data"
ONE_BYTE_FILE = DATA / "jpblock2-one-byte.txt"
TABLE_FILE = DATA / "jpblock2-table.txt"
JPBLOCK_TABLE_TXT = DATA / "jpblock-table.txt"

WORDFREQ_VERSION = "3.1.1"
WORDFREQ_LANG = "ja"
WORDFREQ_LIST = "large"

#: Japanese punctuation ranked above every wordfreq character (wordfreq lists words, so it has none).
PUNCTUATION_FIRST = (0x3001, 0x3002)  # 、 。
#: Hiragana-block combining marks, kept as 1-byte codes although euc_jp cannot encode them (NFD text).
COMBINING_KANA = (0x3099, 0x309A)
TAB, LF, CR, DEL = 0x09, 0x0A, 0x0D, 0x7F
HIRAGANA = range(0x3040, 0x30A0)
TABLE_LEAD = 0xE0
LEAD2_COUNT = 28  # 0xE0..=0xFB


# --------------------------------------------------------------------------- jpblock, as docs/spec.md defines it


def jpblock_one_byte() -> list[int]:
    """Code point of each jpblock 1-byte code 0x00..0xDF."""
    return list(range(0x80)) + list(HIRAGANA)


def parse_code_point_lines(text: str) -> list[int]:
    """`U+XXXX` lines; `#` starts a comment that runs to the end of the line; blank lines are ignored."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"U\+[0-9A-F]{4,6}", line):
            raise ValueError(f"line {n}: expected U+XXXX, got {raw!r}")
        out.append(int(line[2:], 16))
    return out


def load_jpblock_table() -> tuple[list[int], str]:
    """The jpblock table T in index order, and the file it came from."""
    return parse_code_point_lines(JPBLOCK_TABLE_TXT.read_text(encoding="utf-8")), str(JPBLOCK_TABLE_TXT)


# --------------------------------------------------------------------------- the design


def given_up() -> list[int]:
    """G: the code points that lose their 1-byte code, ascending."""
    controls = [cp for cp in range(0x20) if cp not in (TAB, LF, CR)] + [DEL]
    kana = []
    for cp in HIRAGANA:
        if cp in COMBINING_KANA:
            continue
        try:
            chr(cp).encode("euc_jp")
        except UnicodeEncodeError:
            kana.append(cp)
    return controls + kana


def wordfreq_weights() -> dict[int, float]:
    """Character weights from wordfreq's pinned Japanese list (sum of word frequency x occurrences)."""
    try:
        from importlib.metadata import version

        import wordfreq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(f"needs wordfreq=={WORDFREQ_VERSION}: pip install wordfreq=={WORDFREQ_VERSION}") from exc
    if version("wordfreq") != WORDFREQ_VERSION:
        raise SystemExit(f"needs wordfreq=={WORDFREQ_VERSION}, found {version('wordfreq')}")
    terms: dict[int, list[float]] = {}
    for word, freq in wordfreq.get_frequency_dict(WORDFREQ_LANG, wordlist=WORDFREQ_LIST).items():
        for ch in word:
            terms.setdefault(ord(ch), []).append(freq)
    # fsum is correctly rounded, so the weights do not depend on the order of the list.
    return {cp: math.fsum(fs) for cp, fs in terms.items()}


def rank(table: list[int], weights: dict[int, float]) -> list[int]:
    """Members of T by descending weight (ties to the lower code point); weightless members are left out."""
    return sorted((cp for cp in table if weights.get(cp, 0.0) > 0.0), key=lambda cp: (-weights[cp], cp))


def design(table: list[int], weights: dict[int, float]) -> tuple[list[int], list[int], list[int], list[int]]:
    """(G, P, one_byte, T2): given-up code points, promoted characters, the 0x00..0xDF map, the 2-byte table."""
    g = given_up()
    base = jpblock_one_byte()
    ranked = [cp for cp in rank(table, weights) if cp not in PUNCTUATION_FIRST]
    promoted = list(PUNCTUATION_FIRST) + ranked[: len(g) - len(PUNCTUATION_FIRST)]
    members = set(table)
    if not all(cp in members for cp in promoted):
        raise SystemExit("a promoted character is not in the jpblock table")
    one_byte = list(base)
    freed_bytes = sorted(base.index(cp) for cp in g)
    for byte, cp in zip(freed_bytes, promoted, strict=True):
        one_byte[byte] = cp
    t2 = list(table)
    index = {cp: i for i, cp in enumerate(table)}
    for slot, cp in zip(sorted(index[p] for p in promoted), sorted(g), strict=True):
        t2[slot] = cp
    return g, promoted, one_byte, t2


# --------------------------------------------------------------------------- rendering

HEADER = f"""\
# @generated by scripts/gen_jpblock2_tables.py from wordfreq {WORDFREQ_VERSION} ("{WORDFREQ_LANG}" list,
# wordlist "{WORDFREQ_LIST}") and the jpblock table T of docs/spec.md.
# Do not edit by hand: change the script and run it again.  The design is in docs/spec.md ("The jpblock2 scheme").
# `#` starts a comment that runs to the end of the line; blank lines are ignored.
"""


def two_byte_code(index: int) -> str:
    return f"{TABLE_LEAD + index // 256:02X} {index % 256:02X}"


def render_one_byte(g: list[int], promoted: list[int], one_byte: list[int], t2: list[int]) -> str:
    t2_index = {cp: i for i, cp in enumerate(t2)}
    rank_of = {cp: r for r, cp in enumerate(promoted, 1)}
    lines = [
        "# jpblock2 one-byte map: the meaning of every byte value where a code starts.",
        HEADER.rstrip("\n"),
        "#",
        "# 256 data lines, one per byte value, ascending: `0xNN MEANING`, MEANING being one of",
        "#   U+XXXX   the byte alone is the code of this code point (1-byte code)",
        "#   LEAD2    first byte of a 2-byte code: entry (byte - 0xE0) * 256 + second byte of jpblock2-table.txt",
        "#            (the LEAD2 bytes are 0xE0..0xFB, contiguous)",
        "#   LEAD3    0xFC: a 3-byte code, a code point <= U+FFFF as 2 big-endian bytes",
        "#   LEAD4    0xFD: a 4-byte code, a code point >= U+10000 as 3 big-endian bytes",
        "#   SPECIAL  0xFE: a special block, a 24-bit big-endian token id",
        "#   FILLER   0xFF: filler, carries nothing",
        f"# The {len(g)} lines whose byte means something else than in jpblock carry a comment: the character, its",
        "# rank, and which code point the byte had in jpblock and where that code point went.",
        "",
    ]
    for byte in range(256):
        if byte < len(one_byte):
            cp = one_byte[byte]
            line = f"0x{byte:02X} U+{cp:04X}"
            old = jpblock_one_byte()[byte]
            if cp != old:
                line += (
                    f"  # {chr(cp)} rank {rank_of[cp]}; jpblock: U+{old:04X}, now the 2-byte code "
                    f"{two_byte_code(t2_index[old])} (index {t2_index[old]})"
                )
        elif byte < TABLE_LEAD + LEAD2_COUNT:
            line = f"0x{byte:02X} LEAD2"
        else:
            line = f"0x{byte:02X} " + {0xFC: "LEAD3", 0xFD: "LEAD4", 0xFE: "SPECIAL", 0xFF: "FILLER"}[byte]
        lines.append(line)
    return "\n".join(lines) + "\n"


def render_table(table: list[int], t2: list[int]) -> str:
    changed = [(i, old, new) for i, (old, new) in enumerate(zip(table, t2, strict=True)) if old != new]
    lines = [
        "# jpblock2 2-byte table T2 in index order: line i (counting data lines from 0) is entry i, whose code is",
        "# the bytes 0xE0 + i / 256, i % 256.  One `U+XXXX` per data line.",
        HEADER.rstrip("\n"),
        "#",
        f"# T2 is the jpblock table T with {len(changed)} entries replaced; every other entry keeps its jpblock index.",
        "# Replaced entries (index, code, jpblock's code point there -> jpblock2's):",
    ]
    for i, old, new in changed:
        lines.append(f"#   {i:4d}  {two_byte_code(i)}  U+{old:04X} {chr(old)} -> U+{new:04X}")
    lines.append("")
    lines += [f"U+{cp:04X}" for cp in t2]
    return "\n".join(lines) + "\n"


def generate(*, verbose: bool = True, ranking: int = 0) -> dict[Path, str]:
    table, source = load_jpblock_table()
    weights = wordfreq_weights()
    g, promoted, one_byte, t2 = design(table, weights)
    if verbose:
        total = math.fsum(weights.values())
        ranked = [cp for cp in rank(table, weights) if cp not in PUNCTUATION_FIRST]
        n_ranked = len(promoted) - len(PUNCTUATION_FIRST)
        print(f"jpblock table T: {len(table)} entries from {source}")
        print(f"wordfreq {WORDFREQ_VERSION} {WORDFREQ_LANG}/{WORDFREQ_LIST}: {len(weights)} characters weighted")
        print(f"given up ({len(g)}): " + " ".join(f"U+{cp:04X}" for cp in g))
        print(f"promoted ({len(promoted)}): {' '.join(map(chr, PUNCTUATION_FIRST))} by rule, then wordfreq ranks")
        for r, cp in enumerate(promoted, 1):
            w = weights.get(cp, 0.0)
            how = "by rule" if cp in PUNCTUATION_FIRST else "ranked"
            print(f"  {r:2d} U+{cp:04X} {chr(cp)} {100 * w / total:.4f}% {how}")
        last, first_out = ranked[n_ranked - 1], ranked[n_ranked]
        print(
            f"margin: last promoted {chr(last)} {100 * weights[last] / total:.4f}% vs first left out "
            f"{chr(first_out)} {100 * weights[first_out] / total:.4f}%"
        )
        for r, cp in enumerate(ranked[:ranking], 1):
            print(f"  rank {r:3d} U+{cp:04X} {chr(cp)} {100 * weights[cp] / total:.4f}%")
    return {ONE_BYTE_FILE: render_one_byte(g, promoted, one_byte, t2), TABLE_FILE: render_table(table, t2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--ranking", type=int, default=0, metavar="N", help="print the first N ranked candidates")
    args = parser.parse_args(argv)
    outputs = generate(ranking=args.ranking)
    stale = []
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if args.check:
            if current != text:
                stale.append(path)
        elif current != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            print(f"{path.relative_to(ROOT)} is up to date")
    if stale:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run scripts/gen_jpblock2_tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
