"""The ``bygpt-codec`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources

from . import SCHEMES, Codec, EncodingStats

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE = 0, 1, 2


def _stats_table(rows: list[EncodingStats]) -> str:
    head = (
        f"{'scheme':<8} {'chars':>9} {'bytes':>9} {'bytes/char':>10} {'chars/step':>10}"
        f" {'straddling':>10} {'filler':>7}"
    )
    lines = [head, "-" * len(head)]
    for s in rows:
        lines.append(
            f"{s.scheme:<8} {s.chars:>9} {s.bytes:>9} {s.bytes_per_char:>10.3f} {s.chars_per_step:>10.3f}"
            f" {s.straddling_share:>10.1%} {s.filler_share:>7.1%}"
        )
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
        name = args.file
    else:
        text = resources.files("bygpt_codec").joinpath("data/sample-ja.txt").read_text(encoding="utf-8")
        name = "bundled sample (data/sample-ja.txt)"
    print(f"input: {name}, {len(text)} characters, {len(text.encode('utf-8'))} UTF-8 bytes")
    stats, ok = [], True
    for scheme in SCHEMES:
        codec = Codec(scheme=scheme)
        data = codec.encode(text)
        back = codec.decode(data)
        stats.append(codec.stats(text))
        same = back == text
        ok &= same
        print(
            f"{scheme:<8} encoded {len(data)} bytes ({len(data) // 4} blocks); round trip {'OK' if same else 'FAILED'}"
        )
    print()
    print(_stats_table(stats))
    return EXIT_OK if ok else EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bygpt-codec",
        description="Byte codec for byte-level LMs that predict 4 bytes per step.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="encode a Japanese sample with every scheme, print stats, check the round trip",
        description="Encode a text (the bundled Japanese sample by default) with every scheme, "
        "print how densely each packs it, decode it back and confirm the round trip.",
        epilog="example: bygpt-codec demo\n         bygpt-codec demo my.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("file", nargs="?", help="UTF-8 text file (default: the bundled sample)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(f"bygpt-codec: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
