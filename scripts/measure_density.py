#!/usr/bin/env python3
"""Characters per 4-byte step of jpblock, jpblock2 and utf8, measured with the reference encoder.

Each text is encoded whole, as one string, by tests/reference_codec.py (block rule and final padding included,
no special tokens): chars/step = 4 * characters / encoded bytes, as `bygpt-codec stats` counts it.

Usage: python scripts/measure_density.py [--heldout FILE]... [--write-sample OUT] [TEXT ...]
  TEXT            UTF-8 text files (.gz is decompressed).  Default: ../shared/corpus/ja-prose.txt and
                  ja-mixed.txt when present, and the held-out sample tests/data/heldout-debian-reference-ja.txt.
  --heldout FILE  a held-out document in Debian's plain-text form (e.g. debian-reference.ja.txt.gz): measures
                  its full text and its prose extraction (`prose_paragraphs`).
  --write-sample OUT  write the held-out sample (SAMPLE_BYTES of the prose extraction of the first --heldout).

The held-out texts used for docs/spec.md ("The jpblock2 scheme"), not used in the design (the tables come
from wordfreq only):
  apt-get download debian-reference-ja=2.100 debian-faq-ja=11.1
  dpkg-deb -x debian-reference-ja_2.100_all.deb x && dpkg-deb -x debian-faq-ja_11.1_all.deb x
  python scripts/measure_density.py --heldout x/usr/share/debian-reference/debian-reference.ja.txt.gz \\
      --heldout x/usr/share/doc/debian/FAQ/debian-faq.ja.txt.gz
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMES = ("jpblock", "jpblock2", "utf8")
SHARED = ROOT.parent / "shared" / "corpus"
SAMPLE = ROOT / "tests" / "data" / "heldout-debian-reference-ja.txt"
SAMPLE_BYTES = 100_000
#: Paragraphs longer than this are tables of contents, not prose.
MAX_PARAGRAPH = 5000


def read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def is_japanese(ch: str) -> bool:
    o = ord(ch)
    return 0x3000 <= o <= 0x30FF or 0x4E00 <= o <= 0x9FFF or 0xFF00 <= o <= 0xFFEF


def prose_paragraphs(text: str) -> list[str]:
    """The prose of a plain-text document: one line per paragraph.

    Paragraphs are separated by blank lines.  Each line is stripped and the lines are joined (with a space only
    between two ASCII characters, as Japanese wraps lines without one).  A paragraph is kept when it has at least
    10 non-space characters, at least half of them Japanese (U+3000..U+30FF, U+4E00..U+9FFF, U+FF00..U+FFEF),
    and at most MAX_PARAGRAPH characters.
    """
    kept = []
    for block in re.split(r"\n\s*\n", text):
        para = ""
        for line in (line.strip() for line in block.splitlines()):
            if not line:
                continue
            if para and para[-1].isascii() and line[0].isascii():
                para += " "
            para += line
        letters = [ch for ch in para if not ch.isspace()]
        if 10 <= len(letters) and 2 * sum(map(is_japanese, letters)) >= len(letters) and len(para) <= MAX_PARAGRAPH:
            kept.append(para)
    return kept


def sample(paragraphs: list[str], limit: int = SAMPLE_BYTES) -> str:
    """Every third paragraph, in order, until `limit` UTF-8 bytes (spread over the whole document)."""
    out, size = [], 0
    for para in paragraphs[::3]:
        size += len(para.encode("utf-8")) + 1
        if size > limit:
            break
        out.append(para)
    return "\n".join(out) + "\n"


def chars_per_step(text: str, scheme: str) -> float:
    sys.path.insert(0, str(ROOT))
    from tests.reference_codec import encode  # needs bygpt_codec (the jpblock table); imported only here

    return 4 * len(text) / len(encode(text, scheme))


def report(name: str, text: str) -> None:
    cells = " ".join(f"{chars_per_step(text, s):>9.3f}" for s in SCHEMES)
    print(f"{name:<50} {len(text):>9} {cells}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", nargs="*", type=Path)
    parser.add_argument("--heldout", action="append", type=Path, default=[])
    parser.add_argument("--write-sample", type=Path)
    args = parser.parse_args(argv)
    texts = args.texts
    if not texts and not args.heldout:
        texts = [p for p in (SHARED / "ja-prose.txt", SHARED / "ja-mixed.txt") if p.exists()]
        texts += [SAMPLE] if SAMPLE.exists() else []
    print(f"{'text':<50} {'chars':>9} " + " ".join(f"{s:>9}" for s in SCHEMES))
    for path in texts:
        report(path.name, read_text(path))
    for n, path in enumerate(args.heldout):
        full = read_text(path)
        paragraphs = prose_paragraphs(full)
        name = path.name.removesuffix(".gz")
        report(f"{name} (full text)", full)
        report(f"{name} (prose, {len(paragraphs)} paragraphs)", "\n".join(paragraphs) + "\n")
        if n == 0 and args.write_sample:
            args.write_sample.write_text(sample(paragraphs), encoding="utf-8")
            report(f"{args.write_sample.name} (sample written)", args.write_sample.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
