"""The ``bygpt-codec`` command line.

Every command streams: memory stays bounded whatever the input's size, the
heavy work runs in Rust on all cores with the GIL released, and outputs appear
under their final names only once complete. Exit status: 0 success, 1 bad
input (or an I/O error), 2 usage error, 130 interrupted (SIGINT), 141 the
reader of stdout went away (a closed pipe, as for a process killed by
SIGPIPE), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources

from . import SCHEMES, EncodingStats, __version__, _native
from ._cli_io import (
    Input,
    Output,
    Progress,
    Terminated,
    UsageError,
    flush_stdout,
    raise_on_sigterm,
    refuse_overwriting_inputs,
    write_stdout,
)

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`


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


def _same_contents(a: int, b: int) -> bool:
    """Whether two file descriptors (read from their start) hold the same bytes."""
    os.lseek(a, 0, os.SEEK_SET)
    os.lseek(b, 0, os.SEEK_SET)
    while True:
        x, y = os.read(a, 1 << 20), os.read(b, 1 << 20)
        while len(y) < len(x):  # reads may come back short
            more = os.read(b, len(x) - len(y))
            if not more:
                return False
            y += more
        if x != y[: len(x)] or len(y) > len(x):
            return False
        if not x:
            return True


def cmd_demo(args: argparse.Namespace) -> int:
    """Streams like every other command: the text is measured, encoded to a
    temporary file, decoded to another and compared with the input, chunk by
    chunk, so memory stays bounded whatever the file's size."""
    if args.file == "-" or (args.file and os.path.exists(args.file) and not os.path.isfile(args.file)):
        raise UsageError(f"demo reads its input several times: give a regular file, not {args.file}")
    if args.file:
        source: contextlib.AbstractContextManager[str] = contextlib.nullcontext(args.file)
        name = args.file
    else:
        source = resources.as_file(resources.files("bygpt_codec").joinpath("data/sample-ja.txt"))
        name = "bundled sample (data/sample-ja.txt)"
    with source as path, Input(os.fspath(path)) as src:
        rows, size = _native._stats_fd(src.fd, errors="strict", in_name=src.name)
        stats = [EncodingStats(*row) for row in rows]
        write_stdout(f"input: {name}, {stats[0].chars} characters, {size} UTF-8 bytes\n")
        ok = True
        for scheme in SCHEMES:
            with tempfile.TemporaryFile() as enc, tempfile.TemporaryFile() as back:
                os.lseek(src.fd, 0, os.SEEK_SET)
                io = {"errors": "strict", "special_tokens": False, "out_name": "<temporary file>"}
                _native._transcode_fd("encode", scheme, src.fd, enc.fileno(), in_name=src.name, **io)
                encoded = os.fstat(enc.fileno()).st_size
                os.lseek(enc.fileno(), 0, os.SEEK_SET)
                _native._transcode_fd("decode", scheme, enc.fileno(), back.fileno(), in_name="<encoded>", **io)
                same = _same_contents(src.fd, back.fileno())
            ok &= same
            verdict = "OK" if same else "FAILED"
            write_stdout(f"{scheme:<8} encoded {encoded} bytes ({encoded // 4} blocks); round trip {verdict}\n")
    write_stdout("\n" + _stats_table(stats) + "\n")
    return EXIT_OK if ok else EXIT_BAD_INPUT


def _transcode(args: argparse.Namespace, label: str, call, hint) -> int:
    """Runs one streaming native call from args.input to args.output, with
    the progress bar, the temporary-output protocol and an error hint."""
    refuse_overwriting_inputs([args.input], [args.output])
    with Input(args.input) as src, Output(args.output) as dst:
        bar = Progress(label, src.size, Progress.wanted(args.quiet))
        try:
            call(src.fd, dst.fd, in_name=src.name, out_name=dst.name, progress=bar)
        except ValueError as e:
            raise ValueError(f"{e}{hint(str(e))}") from None
        finally:
            bar.close()
        dst.commit()
    return EXIT_OK


def cmd_encode(args: argparse.Namespace) -> int:
    if args.output in (None, "-") and os.isatty(1):
        raise UsageError("refusing to write encoded (binary) data to a terminal; use -o FILE or pipe it: | ...")

    def hint(message: str) -> str:
        return " (pass --errors surrogateescape to keep such bytes)" if args.errors == "strict" else ""

    def call(src: int, dst: int, **io) -> None:
        special = args.add_special_tokens
        _native._transcode_fd("encode", args.scheme, src, dst, errors=args.errors, special_tokens=special, **io)

    return _transcode(args, "encode", call, hint)


def cmd_decode(args: argparse.Namespace) -> int:
    def hint(message: str) -> str:
        if "lone surrogate" in message:
            return "; decode with --errors surrogateescape (or replace)"
        if args.errors != "replace":
            return f" (is this {args.scheme} data? --errors replace decodes what it can)"
        return ""

    def call(src: int, dst: int, **io) -> None:
        special = not args.skip_special_tokens
        _native._transcode_fd("decode", args.scheme, src, dst, errors=args.errors, special_tokens=special, **io)

    return _transcode(args, "decode", call, hint)


def _stats_rows(rows: list[tuple[str, int, int, int, int]], size: int) -> list[EncodingStats]:
    stats = [EncodingStats(*row) for row in rows]
    utf8 = next(s for s in stats if s.scheme == "utf8")
    # The input as it is: plain UTF-8 with no framing (no padding, no filler).
    stats.append(EncodingStats("plain", utf8.chars, size, 0, utf8.straddling))
    return stats


def _stats_json(stats: list[EncodingStats]) -> dict[str, dict[str, float]]:
    return {
        s.scheme: {
            "chars": s.chars,
            "bytes": s.bytes,
            "filler": s.filler,
            "straddling": s.straddling,
            "bytes_per_char": s.bytes_per_char,
            "chars_per_step": s.chars_per_step,
            "straddling_share": s.straddling_share,
            "filler_share": s.filler_share,
        }
        for s in stats
    }


def cmd_stats(args: argparse.Namespace) -> int:
    results = []
    totals: dict[str, list[int]] = {}
    for path in args.files:
        with Input(path) as src:
            bar = Progress(f"stats {src.name}", src.size, Progress.wanted(args.quiet))
            try:
                rows, size = _native._stats_fd(src.fd, errors=args.errors, in_name=src.name, progress=bar)
            finally:
                bar.close()
        stats = _stats_rows(rows, size)
        results.append((src.name, size, stats))
        for s in stats:
            t = totals.setdefault(s.scheme, [0, 0, 0, 0])
            for k, v in enumerate((s.chars, s.bytes, s.filler, s.straddling)):
                t[k] += v
    total = [EncodingStats(name, *t) for name, t in totals.items()]
    if args.json:
        doc = {
            "files": [{"path": n, "input_bytes": size, "schemes": _stats_json(st)} for n, size, st in results],
            "total": _stats_json(total),
        }
        write_stdout(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    blocks = [f"{n} ({size} bytes)\n{_stats_table(st)}" for n, size, st in results]
    if len(results) > 1:
        blocks.append(f"all {len(results)} files (each encoded alone)\n{_stats_table(total)}")
    write_stdout("\n\n".join(blocks) + "\n")
    write_stdout("\nplain: the input as it is (UTF-8 without framing); chars/step = 4 * chars / bytes\n")
    return EXIT_OK


def cmd_pack(args: argparse.Namespace) -> int:
    from ._pack import pack

    if args.num_shards < 1 or not 0 <= args.shard_index < args.num_shards:
        raise UsageError(f"need 0 <= --shard-index < --num-shards, got {args.shard_index} and {args.num_shards}")
    if "-" in args.inputs and (args.num_shards > 1 or args.inputs.count("-") > 1):
        raise UsageError("stdin ('-') can be read once, and not with --num-shards (slices need file sizes)")
    refuse_overwriting_inputs(args.inputs, [f"{args.output}{ext}" for ext in (".bin", ".idx", ".json")])
    sizes = [None if p == "-" else os.stat(p).st_size for p in args.inputs]
    if args.format == "text":
        lo = len(args.inputs) * args.shard_index // args.num_shards
        hi = len(args.inputs) * (args.shard_index + 1) // args.num_shards
        total = sum(s or 0 for s in sizes[lo:hi])
    else:
        total = sum(s or 0 for s in sizes) // args.num_shards if "-" not in args.inputs else None
    bar = Progress("pack", total or None, Progress.wanted(args.quiet))
    try:
        summary = pack(
            args.inputs,
            args.output,
            fmt=args.format,
            text_field=args.text_field,
            scheme=args.scheme,
            shard_index=args.shard_index,
            num_shards=args.num_shards,
            skip_invalid=args.skip_invalid,
            progress=bar,
            sizes=sizes,
        )
    except ValueError as e:
        if getattr(e, "not_json", False):  # not JSON from its first byte: perhaps a text file
            raise ValueError(f"{e} (is it plain text? --format text packs each file as one document)") from None
        raise
    finally:
        bar.close()
    what = "lines" if args.format == "jsonl" else "files"
    if not args.quiet:
        seen = summary.lines if args.format == "jsonl" else summary.documents + summary.skipped
        print(
            f"packed {summary.documents} documents ({summary.bytes} bytes, {summary.bytes // 4} steps) "
            f"from {seen} {what} into {args.output}.bin/.idx/.json",
            file=sys.stderr,
        )
    if summary.skipped:  # reported even with --quiet: data was left out
        print(f"skipped {summary.skipped} invalid {what}:", file=sys.stderr)
        for example in summary.examples:
            print(f"  {example}", file=sys.stderr)
        if summary.skipped > len(summary.examples):
            print(f"  ... and {summary.skipped - len(summary.examples)} more", file=sys.stderr)
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from .shards import merge, shard_paths, sidecar_path

    inputs = [f for p in args.shards for f in (*shard_paths(p), sidecar_path(p))]
    refuse_overwriting_inputs(inputs, [f"{args.output}{ext}" for ext in (".bin", ".idx", ".json")])
    total = sum(os.path.getsize(shard_paths(p)[0]) for p in args.shards if os.path.exists(shard_paths(p)[0]))
    bar = Progress("merge", total, Progress.wanted(args.quiet))
    try:
        docs, nbytes = merge(args.shards, args.output, scheme=args.scheme, progress=bar)
    finally:
        bar.close()
    if not args.quiet:
        print(f"merged {len(args.shards)} shards: {docs} documents, {nbytes} bytes", file=sys.stderr)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .shards import check, shard_paths

    for prefix in args.shards:
        name = shard_paths(prefix)[0][:-4]
        size = os.path.getsize(shard_paths(prefix)[0]) if os.path.exists(shard_paths(prefix)[0]) else None
        bar = Progress(f"check {name}", size, Progress.wanted(args.quiet))
        try:
            scheme, docs, nbytes = check(prefix, scheme=args.scheme, progress=bar)
        finally:
            bar.close()
        if not args.quiet:
            print(f"{name}: OK ({scheme}, {docs} documents, {nbytes} bytes)", file=sys.stderr)
    return EXIT_OK


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _command(sub, name: str, help: str, description: str, examples: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=_Formatter,
    )
    p.set_defaults(func=func, command_parser=p)
    return p


def _version(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"bygpt-codec {__version__}")


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bygpt-codec",
        description="Byte codec for byte-level LMs that predict 4 bytes per step. "
        "Every command streams (bounded memory, all cores); '-' means stdin/stdout.",
        epilog="exit status: 0 success, 1 bad input or I/O error, 2 usage error, 130 interrupted, "
        "141 stdout closed (| head), 143 terminated.\n"
        "run 'bygpt-codec COMMAND --help' for a command's options and examples.",
        formatter_class=_Formatter,
    )
    _version(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _command(
        sub,
        "demo",
        "encode a Japanese sample with every scheme, print stats, check the round trip",
        "Encode a text (the bundled Japanese sample by default) with every scheme, "
        "print how densely each packs it, decode it back and confirm the round trip.",
        "  bygpt-codec demo\n  bygpt-codec demo my.txt",
        cmd_demo,
    )
    demo.add_argument("file", nargs="?", help="UTF-8 text file (default: the bundled sample)")
    _version(demo)

    enc = _command(
        sub,
        "encode",
        "encode a UTF-8 text file",
        "Encode a UTF-8 text file. The output is byte for byte what Codec.encode gives for the whole "
        "text: a whole number of 4-byte blocks.",
        "  bygpt-codec encode book.txt -o book.jpb\n"
        "  cat book.txt | bygpt-codec encode - --scheme utf8 > book.u8b\n"
        "  bygpt-codec encode any.bin --errors surrogateescape -o any.jpb   # any file, binary included",
        cmd_encode,
    )
    enc.add_argument("input", metavar="INPUT", help="UTF-8 text file, or - for stdin")
    enc.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    enc.add_argument("--scheme", choices=SCHEMES, default="jpblock", help="encoding scheme (default: jpblock)")
    enc.add_argument("--add-special-tokens", action="store_true", help="wrap the text in <|bos|> ... <|eos|> blocks")
    enc.add_argument(
        "--errors",
        choices=("strict", "surrogateescape"),
        default="strict",
        help="invalid UTF-8: fail naming byte and line (strict, the default), or keep each bad byte "
        "as a lone surrogate U+DC80..U+DCFF that decode --errors surrogateescape turns back",
    )
    _quiet(enc)
    _version(enc)

    dec = _command(
        sub,
        "decode",
        "decode encoded bytes back to UTF-8 text",
        "Decode encoded bytes to UTF-8 text; decode(encode(f)) == f byte for byte.",
        "  bygpt-codec decode book.jpb -o book.txt\n"
        "  bygpt-codec decode book.u8b --scheme utf8 | head\n"
        "  bygpt-codec decode any.jpb --errors surrogateescape -o any.bin",
        cmd_decode,
    )
    dec.add_argument("input", metavar="INPUT", help="encoded file, or - for stdin")
    dec.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    dec.add_argument("--scheme", choices=SCHEMES, default="jpblock", help="encoding scheme (default: jpblock)")
    dec.add_argument(
        "--errors",
        choices=("strict", "replace", "surrogateescape"),
        default="strict",
        help="strict: fail on malformed data or on a lone surrogate; replace: U+FFFD for both; "
        "surrogateescape: strict, but U+DC80..U+DCFF become the bytes 0x80..0xFF again",
    )
    dec.add_argument("--skip-special-tokens", action="store_true", help="drop special blocks instead of their names")
    _quiet(dec)
    _version(dec)

    st = _command(
        sub,
        "stats",
        "how densely each scheme packs text files",
        "For each file, and each scheme plus the plain UTF-8 input: characters, bytes, bytes per "
        "character, characters per 4-byte step, share of characters that straddle a block, filler.",
        "  bygpt-codec stats corpus/*.txt\n  bygpt-codec stats --json book.txt | jq .total.jpblock",
        cmd_stats,
    )
    st.add_argument("files", metavar="FILE", nargs="+", help="UTF-8 text files (- for stdin)")
    st.add_argument("--json", action="store_true", help="print JSON instead of tables")
    st.add_argument(
        "--errors",
        choices=("strict", "surrogateescape"),
        default="strict",
        help="invalid UTF-8: fail (default) or count each bad byte as one character",
    )
    _quiet(st)
    _version(st)

    pk = _command(
        sub,
        "pack",
        "pack documents into a training shard (PREFIX.bin + .idx + .json)",
        "Pack documents (JSONL lines with a text field, or one document per text file) into a "
        "Megatron-Core indexed dataset: PREFIX.bin, each document a <|bos|> block, its text and an "
        "<|eos|> block, 4-byte aligned, and PREFIX.idx, the index (dtype uint8, one sequence per "
        "document), plus PREFIX.json, the sidecar (scheme, counts, checksum of the .idx), renamed "
        "into place last. Read them with bygpt_codec.shards.open_shard or Megatron's IndexedDataset. "
        "The output is the same bytes whatever the thread count, and memory stays bounded whatever "
        "the line lengths.\n\n"
        "--shard-index/--num-shards pick a deterministic slice, so that many machines can each "
        "pack one: for JSONL, the lines whose first byte lies in slice I of N equal byte ranges "
        "of the inputs (taken in order); for text, files [F*I/N, F*(I+1)/N). Merging slices "
        "0..N-1 in order gives exactly the unsliced pack.",
        "  bygpt-codec pack ja_wiki/*.jsonl -o shards/ja_wiki\n"
        "  bygpt-codec pack docs/*.txt --format text --scheme utf8 -o shards/docs\n"
        "  bygpt-codec pack big.jsonl --shard-index $SLURM_ARRAY_TASK_ID --num-shards 64 \\\n"
        "      -o shards/big-$SLURM_ARRAY_TASK_ID\n"
        "  bygpt-codec merge shards/big-{0..63} -o shards/big",
        cmd_pack,
    )
    pk.add_argument("inputs", metavar="INPUT", nargs="+", help="JSONL or text files (- for stdin)")
    pk.add_argument(
        "-o", "--output", metavar="PREFIX", required=True, help="writes PREFIX.bin, .idx and .json (folders made)"
    )
    pk.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="input format (default: jsonl)")
    pk.add_argument("--text-field", default="text", metavar="NAME", help="JSONL field holding the text (default: text)")
    pk.add_argument("--scheme", choices=SCHEMES, default="jpblock", help="encoding scheme (default: jpblock)")
    pk.add_argument("--shard-index", type=int, default=0, metavar="I", help="which slice to pack (default: 0)")
    pk.add_argument("--num-shards", type=int, default=1, metavar="N", help="number of slices (default: 1)")
    pk.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip malformed lines (or invalid files) and count them in a final summary, instead of failing",
    )
    _quiet(pk)
    _version(pk)

    mg = _command(
        sub,
        "merge",
        "join shards into one",
        "Join shards, in the order given, into one. Every input is checked first (the whole index, "
        "the sidecar) and nothing is written if one is damaged; all must have one scheme. Memory "
        "stays bounded whatever the inputs' number and size. Inputs that other tools wrote (no "
        "PREFIX.json) need --scheme.",
        "  bygpt-codec merge shards/part-0 shards/part-1 -o shards/all\n"
        "  bygpt-codec merge megatron/part-{0..9} --scheme jpblock -o shards/all",
        cmd_merge,
    )
    mg.add_argument("shards", metavar="SHARD", nargs="+", help="shard prefixes (PREFIX, or PREFIX.bin/.idx/.json)")
    mg.add_argument(
        "-o", "--output", metavar="PREFIX", required=True, help="writes PREFIX.bin, .idx and .json (folders made)"
    )
    mg.add_argument("--scheme", choices=SCHEMES, help="the scheme of inputs without a sidecar (PREFIX.json)")
    _quiet(mg)
    _version(mg)

    ck = _command(
        sub,
        "check",
        "check shards fully: index, sidecar, and a strict decode of every document",
        "Check shards: the whole index (Megatron header, dtype uint8, every length and pointer, the "
        "size of the .bin, the document indices), the sidecar (counts, checksum of the .idx), then "
        "a strict decode of every document. Stops with exit status 1 at the first damage, naming "
        "the file and the first bad entry.",
        "  bygpt-codec check shards/ja_wiki\n  bygpt-codec check shards/part-* --quiet && echo all good\n"
        "  bygpt-codec check megatron/part-0 --scheme jpblock",
        cmd_check,
    )
    ck.add_argument("shards", metavar="SHARD", nargs="+", help="shard prefixes (PREFIX, or PREFIX.bin/.idx/.json)")
    ck.add_argument("--scheme", choices=SCHEMES, help="the scheme of shards without a sidecar (PREFIX.json)")
    _quiet(ck)
    _version(ck)
    return parser


def _error(message: str, prog: str = "bygpt-codec") -> None:
    try:
        print(f"{prog}: error: {message}", file=sys.stderr)
    except (OSError, ValueError, AttributeError):
        pass


def _os_message(e: OSError) -> str:
    if e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    raise_on_sigterm()
    try:
        status = args.func(args)
        flush_stdout()  # here, so that a failure is reported like any other
        return status
    except UsageError as e:
        # Found after parsing: shown as argparse shows its own, with the command's usage.
        command = getattr(args, "command_parser", parser)
        command.print_usage(sys.stderr)
        _error(str(e), command.prog)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly with 128 + SIGPIPE,
        # and keep Python from complaining again when it flushes stdout at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
        except OSError:
            pass
        return EXIT_CLOSED_PIPE
    except OSError as e:
        _error(_os_message(e))
        return EXIT_BAD_INPUT
    except (UnicodeError, ValueError) as e:
        _error(str(e))
        return EXIT_BAD_INPUT
    except Terminated:
        _error("terminated (SIGTERM); no output was left under its final name")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        _error("interrupted; no output was left under its final name")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
