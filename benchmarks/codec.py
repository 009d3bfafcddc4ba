"""Batch encode/decode throughput against CPython's own UTF-8, side by side.

    python benchmarks/codec.py [--corpus-dir ../shared/corpus] [--repeat 7] [--threads N]

Without ``--corpus-dir`` and without ``../shared/corpus`` (a fresh clone) it
runs on the small samples in ``tests/data`` and says so: figures on them are
not the published ones.

Documents are the corpus cut into ~1,000-character pieces. The baseline is
what a byte tokenizer in plain Python does: ``[d.encode("utf-8") for d in docs]``
plus numpy padding to one width (and ``bytes.decode`` per row back). Each
figure is the median of ``--repeat`` runs; ratios are baseline time / ours.

A second table times single calls on one 100-character prompt, the cost a
server pays per request: the best of ``--repeat`` rounds of 20,000 calls
(the least disturbed round; medians of microsecond calls mostly measure the
machine's other tenants), against the same CPython baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bygpt_codec import SCHEMES, Codec

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "corpus"
SAMPLES = HERE.parent / "tests" / "data"
CORPUS_FILES = ("ja-prose.txt", "ja-mixed.txt")


def corpus_files(corpus_dir: Path | None) -> dict[str, Path]:
    """``ja-prose.txt`` and ``ja-mixed.txt`` in ``corpus_dir`` (default
    ``../shared/corpus``); when no directory was given and the default is
    missing, the small samples in ``tests/data``, with a note on stderr."""
    paths = {name: (corpus_dir or DEFAULT_CORPUS) / name for name in CORPUS_FILES}
    if all(p.is_file() for p in paths.values()):
        return paths
    missing = ", ".join(str(p) for p in paths.values() if not p.is_file())
    if corpus_dir is not None:
        raise SystemExit(f"corpus file(s) not found: {missing}")
    print(
        f"note: {DEFAULT_CORPUS} not found; running on the small samples in tests/data instead. "
        "Figures on them are not the published ones (pass --corpus-dir for the full corpus).",
        file=sys.stderr,
    )
    return {name: SAMPLES / name.replace(".txt", "-sample.txt") for name in CORPUS_FILES}


def load_docs(path: Path, doc_chars: int = 1000) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [text[i : i + doc_chars] for i in range(0, len(text), doc_chars)]


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm up caches and thread pools
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpython_encode(docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [d.encode("utf-8") for d in docs]
    width = -(-max(map(len, encoded)) // 4) * 4
    ids = np.full((len(docs), width), 255, dtype=np.uint8)
    mask = np.zeros((len(docs), width), dtype=np.uint8)
    for i, e in enumerate(encoded):
        ids[i, : len(e)] = np.frombuffer(e, dtype=np.uint8)
        mask[i, : len(e)] = 1
    return ids, mask


def cpython_decode(ids: np.ndarray, lengths: list[int]) -> list[str]:
    return [ids[i, :n].tobytes().decode("utf-8") for i, n in enumerate(lengths)]


def per_call_microseconds(fn, repeat: int, number: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=max(repeat, 3))) / number * 1e6


def prompt_calls(c: Codec, prompt: str) -> dict[str, Callable[[], object]]:
    """The single calls timed on one prompt, with default options (an API
    every release has: ``per_call_ab.py`` runs these under 0.1 too)."""
    data = c.encode(prompt)
    ids = c.encode_batch([prompt])["input_ids"]
    return {
        "encode": lambda: c.encode(prompt),
        "encode_batch": lambda: c.encode_batch([prompt]),
        "decode": lambda: c.decode(data),
        "decode_batch": lambda: c.decode_batch(ids),
    }


def per_call(prompt: str, repeat: int) -> None:
    """Single calls on one short prompt: the fixed cost of each API call."""
    print(f"\nper call, one prompt of {len(prompt)} characters (best of {max(repeat, 3)} x 20,000 calls)")
    print(f"{'call':<34} {'us':>8} {'ratio':>8}")
    utf8 = prompt.encode("utf-8")
    rows = [len(utf8)]
    base_ids, _ = cpython_encode([prompt])
    baselines = {
        "encode": per_call_microseconds(lambda: prompt.encode("utf-8"), repeat),
        "encode_batch": per_call_microseconds(lambda: cpython_encode([prompt]), repeat),
        "decode": per_call_microseconds(lambda: utf8.decode("utf-8"), repeat),
        "decode_batch": per_call_microseconds(lambda: cpython_decode(base_ids, rows), repeat),
    }
    ours = {scheme: prompt_calls(Codec(scheme), prompt) for scheme in SCHEMES}
    for call, base in baselines.items():
        print(f"{call + '  CPython':<34} {base:8.2f} {1:7.2f}x")
        for scheme in SCHEMES:
            us = per_call_microseconds(ours[scheme][call], repeat)
            print(f"{call + '  bygpt ' + scheme:<34} {us:8.2f} {base / us:7.2f}x")


def run(corpus_dir: Path | None, repeat: int) -> None:
    files = corpus_files(corpus_dir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    prose = load_docs(files["ja-prose.txt"])
    n_chars = sum(map(len, prose))
    print(f"documents: {len(prose)} of ~1,000 characters from {files['ja-prose.txt'].name} ({n_chars:,} characters)\n")

    base_ids, base_mask = cpython_encode(prose)
    lengths = base_mask.sum(axis=1).tolist()
    t_base_enc = median_seconds(lambda: cpython_encode(prose), repeat)
    t_base_dec = median_seconds(lambda: cpython_decode(base_ids, lengths), repeat)

    def row(label: str, seconds: float, base: float) -> None:
        print(f"{label:<34} {seconds * 1e3:8.2f} {n_chars / seconds / 1e6:8.1f} {base / seconds:7.2f}x")

    print(f"{'task':<34} {'ms':>8} {'Mchar/s':>8} {'ratio':>8}")
    row("encode  CPython utf-8 + numpy pad", t_base_enc, t_base_enc)
    for scheme in SCHEMES:
        c = Codec(scheme)
        row(f"encode  bygpt {scheme}", median_seconds(lambda c=c: c.encode_batch(prose), repeat), t_base_enc)
    row("decode  CPython bytes.decode", t_base_dec, t_base_dec)
    for scheme in SCHEMES:
        c = Codec(scheme)
        ids = c.encode_batch(prose)["input_ids"]
        assert c.decode_batch(ids, errors="strict") == prose
        row(f"decode  bygpt {scheme}", median_seconds(lambda c=c, ids=ids: c.decode_batch(ids), repeat), t_base_dec)

    per_call(prose[5][:100], repeat)  # the same prompt as ja-prose.txt[5000:5100]

    print(f"\n{'corpus':<14} {'scheme':<8} {'chars/step':>10} {'bytes/char':>10} {'straddling':>10} {'filler':>7}")
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        for scheme in SCHEMES:
            s = Codec(scheme).stats(text)
            print(
                f"{name:<14} {scheme:<8} {s.chars_per_step:10.3f} {s.bytes_per_char:10.3f}"
                f" {s.straddling_share:10.1%} {s.filler_share:7.1%}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus-dir", type=Path, help="holding ja-prose.txt and ja-mixed.txt (default: ../shared/corpus)"
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, help="cap the codec's worker threads (default: one per core)")
    args = parser.parse_args()
    if args.threads:
        # Read by the Rust thread pool when it starts, at the first batch call.
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    print(f"codec threads: {os.environ.get('RAYON_NUM_THREADS', 'one per core')}")
    run(args.corpus_dir, args.repeat)


if __name__ == "__main__":
    main()
