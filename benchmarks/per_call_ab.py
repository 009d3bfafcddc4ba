"""Per-call cost on one short prompt, two installs of bygpt-codec side by side.

    python benchmarks/per_call_ab.py --other /path/to/other-venv/bin/python [--rounds 10]

A prompt-sized call costs a few microseconds, and on a shared machine one
process's timing of it moves by 2x from minute to minute (other tenants).
So this alternates the two interpreters (this one and ``--other``, e.g. a
virtualenv with release 0.1 installed) for ``--rounds`` rounds, each a fresh
process timing ``encode``, ``encode_batch``, ``decode`` and ``decode_batch``
of one 100-character prompt (best of 3 x 10,000 calls), and prints per call
the best and the median over the rounds. Only the API every release has is
used, with default options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "corpus" / "ja-prose.txt"
SAMPLE = HERE.parent / "tests" / "data" / "ja-prose-sample.txt"
SCHEMES = ("jpblock", "utf8")


def prompt() -> str:
    """Characters 5000-5099 of the prose corpus (of the sample without it)."""
    path = CORPUS if CORPUS.is_file() else SAMPLE
    return path.read_text(encoding="utf-8")[5000:5100]


def child() -> None:
    """Times the calls in this interpreter; prints {call: microseconds}."""
    import importlib.util

    import bygpt_codec

    # codec.py's prompt_calls: the same calls it times against CPython.
    spec = importlib.util.spec_from_file_location("codec_benchmark", HERE / "codec.py")
    codec_benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec_benchmark)
    text = prompt()
    out = {}
    for scheme in SCHEMES:
        for name, fn in codec_benchmark.prompt_calls(bygpt_codec.Codec(scheme), text).items():
            out[f"{name} {scheme}"] = min(timeit.repeat(fn, number=10_000, repeat=3)) / 10_000 * 1e6
    print(json.dumps(out))


def run(python: str) -> dict[str, float]:
    done = subprocess.run([python, __file__, "--child"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--other", help="the other install's python (e.g. a venv with release 0.1)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child()
        return
    if not args.other:
        ap.error("--other is required")
    pythons = {"other": args.other, "this": sys.executable}
    times: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        for tag, python in pythons.items():
            for call, us in run(python).items():
                times.setdefault(call, {}).setdefault(tag, []).append(us)
    print(f"one {len(prompt())}-character prompt; {args.rounds} alternating rounds; µs per call")
    print(f"{'call':<22} {'other best':>10} {'this best':>10} {'other med':>10} {'this med':>10} {'best ratio':>11}")
    for call, t in times.items():
        o, n = min(t["other"]), min(t["this"])
        print(
            f"{call:<22} {o:10.2f} {n:10.2f} {statistics.median(t['other']):10.2f}"
            f" {statistics.median(t['this']):10.2f} {o / n:10.2f}x"
        )


if __name__ == "__main__":
    main()
