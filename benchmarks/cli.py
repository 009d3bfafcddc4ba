"""The command line on a ~100 MB Japanese file, side by side with iconv and CPython.

    python benchmarks/cli.py [--corpus-dir ../shared/corpus] [--size-mb 100] [--repeat 3]

Without ``--corpus-dir`` and without ``../shared/corpus`` (a fresh clone) the
big files are built from the small sample in ``tests/data``, with a note:
figures on it are not the published ones.

Builds ``big.txt`` (~100 MB, the prose corpus repeated) and ``big.jsonl`` (the
same text as ~1,000-character JSONL documents) in a temporary folder, then
times file-to-file runs of whole processes, each the median of ``--repeat``:

* ``bygpt-codec encode`` (both schemes, all cores and one), ``decode``,
  ``stats`` and ``pack``, as a user runs them (interpreter start-up included),
  and ``pack`` of one ``--line-mb`` (256) MB JSONL line against the same text
  packed with ``--format text`` (time and peak RSS: the line is streamed);
* ``iconv -c -f UTF-8 -t EUC-JP`` (a C transcoder doing a similar
  table-driven job; ``-c`` drops the few characters EUC-JP lacks, which
  would otherwise stop it);
* CPython: ``open().read().decode().encode("utf-16-le")`` written out, and
  for pack, ``json.loads`` per line plus ``.encode("utf-8")``.

MB/s is input megabytes (10^6 bytes) per second. Peak RSS is each child's
``ru_maxrss``. Ratios are the other tool's time divided by ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bygpt_codec import SCHEMES

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpus"
BYGPT = [sys.executable, "-m", "bygpt_codec"]
CPY_TRANSCODE = "import sys; open(sys.argv[2], 'wb').write(open(sys.argv[1], 'rb').read().decode().encode('utf-16-le'))"
CPY_PACK = (
    "import json, sys\n"
    "with open(sys.argv[1], 'rb') as f, open(sys.argv[2], 'wb') as o:\n"
    "    for line in f:\n"
    "        o.write(json.loads(line)['text'].encode('utf-8'))\n"
)


def write_one_line(corpus: Path, size: int, txt: Path, jsonl: Path) -> None:
    """``corpus`` repeated to at least ``size`` bytes of UTF-8, as a text file
    and as one JSONL object's ``text`` (escaped as ``json.dumps`` would)."""
    text = corpus.read_text(encoding="utf-8")
    repeats = size // len(text.encode()) + 1
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    with txt.open("w", encoding="utf-8") as t, jsonl.open("w", encoding="utf-8") as j:
        j.write('{"text": "')
        for _ in range(repeats):
            t.write(text)
            j.write(escaped)
        j.write('"}\n')


def run_once(cmd: list[str], env: dict | None = None, stdout=subprocess.DEVNULL) -> tuple[float, int]:
    """Wall seconds and peak RSS (KB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else b""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss


def measure(cmd: list[str], repeat: int, env: dict | None = None, stdout_path: Path | None = None) -> tuple[float, int]:
    times, peak = [], 0
    for _ in range(repeat):
        if stdout_path is not None:
            with open(stdout_path, "wb") as out:
                t, rss = run_once(cmd, env, stdout=out)
        else:
            t, rss = run_once(cmd, env)
        times.append(t)
        peak = max(peak, rss)
    return statistics.median(times), peak


def build_inputs(corpus: Path, folder: Path, size: int) -> tuple[Path, Path]:
    text = corpus.read_text(encoding="utf-8")
    unit = text.encode()
    big = folder / "big.txt"
    with open(big, "wb") as f:
        for _ in range(max(size // len(unit), 1)):
            f.write(unit)
    jsonl = folder / "big.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        written, k = 0, 0
        while written < size:
            doc = text[(k * 1000) % len(text) :][:1000]
            line = json.dumps({"id": k, "text": doc, "meta": {"source": "ja-prose"}}, ensure_ascii=False) + "\n"
            f.write(line)
            written += len(line.encode())
            k += 1
    return big, jsonl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", type=Path, help="holding ja-prose.txt (default: ../shared/corpus)")
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--line-mb", type=int, default=256, help="size of the single-line JSONL case (default: 256)")
    args = ap.parse_args()
    corpus = (args.corpus_dir or DEFAULT_CORPUS) / "ja-prose.txt"
    if not corpus.exists():
        if args.corpus_dir is not None:
            raise SystemExit(f"corpus not found: {corpus}")
        print(
            f"note: {corpus} not found; building the inputs from the small sample in tests/data instead. "
            "Figures on it are not the published ones (pass --corpus-dir for the full corpus).",
            file=sys.stderr,
        )
        corpus = HERE.parent / "tests" / "data" / "ja-prose-sample.txt"
    iconv = shutil.which("iconv")
    with tempfile.TemporaryDirectory(prefix="bygpt-cli-bench-") as tmp:
        folder = Path(tmp)
        big, jsonl = build_inputs(corpus, folder, args.size_mb * 10**6)
        # Inputs just written are still being flushed to disk; timing meanwhile
        # charges that writeback to whichever command runs first.
        os.sync()
        mb, jmb = big.stat().st_size / 1e6, jsonl.stat().st_size / 1e6
        out = folder / "out"
        one = dict(os.environ, RAYON_NUM_THREADS="1")
        rows: list[tuple[str, float, float, int]] = []

        def add(name: str, cmd: list[str], size_mb: float, env=None, stdout_path=None) -> float:
            t, rss = measure(cmd, args.repeat, env, stdout_path)
            rows.append((name, t, size_mb, rss))
            return t

        iconv_t = (
            add("iconv -c UTF-8 -> EUC-JP", [iconv, "-c", "-f", "UTF-8", "-t", "EUC-JP", str(big)], mb, stdout_path=out)
            if iconv
            else None
        )
        cpy_t = add("CPython decode+encode utf-16-le", [sys.executable, "-c", CPY_TRANSCODE, str(big), str(out)], mb)
        ours = {}
        for scheme in SCHEMES:
            ours[scheme] = add(
                f"bygpt-codec encode --scheme {scheme}",
                [*BYGPT, "encode", str(big), "-o", str(out), "--scheme", scheme],
                mb,
            )
        add("bygpt-codec encode jpblock, 1 thread", [*BYGPT, "encode", str(big), "-o", str(out)], mb, env=one)
        enc = folder / "big.jpb"
        subprocess.run([*BYGPT, "encode", str(big), "-o", str(enc)], check=True)
        add("bygpt-codec decode jpblock", [*BYGPT, "decode", str(enc), "-o", str(out)], mb)
        add("bygpt-codec stats", [*BYGPT, "stats", str(big)], mb)
        cpy_pack = add(
            "CPython json.loads + utf-8 per line", [sys.executable, "-c", CPY_PACK, str(jsonl), str(out)], jmb
        )
        pack_t = add("bygpt-codec pack jsonl", [*BYGPT, "pack", str(jsonl), "-o", str(out), "-q"], jmb)
        add("bygpt-codec pack jsonl, 1 thread", [*BYGPT, "pack", str(jsonl), "-o", str(out), "-q"], jmb, env=one)
        # One document as one huge JSONL line, against the same text as a file (--format text).
        # Written piece by piece: this process never holds the line, since a
        # child started with vfork reports the parent's peak RSS as its own
        # ru_maxrss (Linux keeps the larger at exec).
        line_txt, line_jsonl = folder / "line.txt", folder / "line.jsonl"
        write_one_line(corpus, args.line_mb * 10**6, line_txt, line_jsonl)
        os.sync()
        lmb = line_jsonl.stat().st_size / 1e6
        line_t = add(f"pack one {lmb:.0f} MB JSONL line", [*BYGPT, "pack", str(line_jsonl), "-o", str(out), "-q"], lmb)
        text_t = add(
            "pack the same text, --format text",
            [*BYGPT, "pack", str(line_txt), "--format", "text", "-o", str(out), "-q"],
            line_txt.stat().st_size / 1e6,
        )
        startup, _ = measure([*BYGPT, "--help"], args.repeat)

    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"input {mb:.0f} MB text, {jmb:.0f} MB JSONL; median of {args.repeat}; "
        f"interpreter start-up (bygpt-codec --help) {startup * 1e3:.0f} ms, included below"
    )
    head = f"{'task':<40} {'time':>8} {'MB/s':>8} {'vs iconv':>9} {'vs CPython':>10} {'peak RSS':>9}"
    print(head)
    print("-" * len(head))
    for name, t, size_mb, rss in rows:
        vs_iconv = f"{iconv_t / t * (size_mb / mb):.2f}x" if iconv_t else "-"
        base = cpy_pack if "pack" in name or "json" in name else cpy_t
        vs_cpy = f"{base / t:.2f}x"
        print(f"{name:<40} {t:>7.2f}s {size_mb / t:>8.0f} {vs_iconv:>9} {vs_cpy:>10} {rss / 1024:>7.0f}MB")
    if iconv_t:
        print(
            f"\nencode jpblock: {iconv_t / ours['jpblock']:.1f}x iconv, {cpy_t / ours['jpblock']:.1f}x CPython; "
            f"pack: {jmb / pack_t:.0f} MB/s, {cpy_pack / pack_t:.1f}x CPython json.loads"
        )
    print(
        f"pack JSONL / encode on the same text: {(jmb / pack_t) / (mb / ours['jpblock']):.0%} of encode's MB/s; "
        f"one {lmb:.0f} MB line: {line_t / text_t:.2f}x the time of --format text"
    )


if __name__ == "__main__":
    main()
