"""bygpt-codec side by side with the byte tokenizers people use today.

    python -m benchmarks.compare                       # full run on ../shared/corpus, ~5 minutes
    python -m benchmarks.compare --corpus-dir DIR      # ja-prose.txt and ja-mixed.txt from DIR
    python -m benchmarks.compare --quick --out /tmp/b  # smoke test on the bundled samples, seconds
    python -m benchmarks.compare --threads 1           # this codec on one core too, like its peers

Needs the ``bench`` extra (``pip install ".[bench]"``). Peers, all in this one
process, on the same documents:

* CPython: ``[d.encode("utf-8") for d in docs]`` plus numpy padding, and
  ``bytes.decode`` per row back: the floor for a byte tokenizer in Python.
* utf8-tokenizer ("Back to Bytes"): ``UTF8Tokenizer.torch(docs, padding=True)``,
  its fast path, and ``UTF8Tokenizer()(docs, return_tensors="np")``, its
  transformers ``__call__`` (``__call__`` with ``"pt"`` is the fast path);
  ``batch_decode`` back.
* transformers' ``ByT5Tokenizer``: ``__call__`` to a padded tensor, ``batch_decode`` back.
* this codec, ``jpblock`` and ``utf8``, returning uint8 numpy or int64 torch.

No peer adds special tokens (``add_special_tokens=False``), so every row is the
document's bytes and padding. Workloads: batch encode of ``--docs`` documents of
``--doc-chars`` characters to a padded ``[B, L]`` tensor, batch decode of each
peer's own tensor back to the documents (checked), encode and decode latency of
one ``--prompt-chars`` prompt, and characters per 4-byte step of every scheme
on each whole corpus file.

Timing: calls are timed round-robin (so background load hits every peer
alike), each sample is the mean of enough back-to-back calls to last a few
milliseconds, with the garbage collector paused as ``timeit`` does, and the
figure is the median of ``--repeat`` samples (at least 3 for peers slower than
``--budget`` seconds in all). A ratio is the peer's time over this codec's
time for the same kind of tensor (numpy or torch), so 3.0 means that this
codec is 3 times faster.

Threads: this codec's batch calls use one thread per core (``--threads`` caps
them); the peers run on the calling thread. torch runs on one thread
(``--torch-threads``): the torch peers and ``return_tensors="pt"`` only cast
uint8 to int64, which one thread does at memory speed, while torch's OpenMP
pool on a shared machine can wait a whole scheduler slice (~8 ms) for a busy
core on every cast, which swamps these timings.

Writes ``compare.json`` and ``compare.png`` to ``--out`` (default ``bench-results/``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import bygpt_codec

from . import codec as codec_benchmark

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "tests" / "data"
CORPORA = ("ja-prose.txt", "ja-mixed.txt")
SAMPLE_FILES = {"ja-prose.txt": "ja-prose-sample.txt", "ja-mixed.txt": "ja-mixed-sample.txt"}
SCHEMES = tuple(bygpt_codec.SCHEMES)


# --------------------------------------------------------------------------- inputs


@dataclass
class Corpus:
    name: str
    path: Path
    text: str
    docs: list[str]
    wrapped: bool  # fewer pieces in the file than --docs: documents repeat from its start

    @property
    def chars(self) -> int:
        return sum(map(len, self.docs))


def load_corpus(name: str, path: Path, n_docs: int, doc_chars: int) -> Corpus:
    text = path.read_text(encoding="utf-8")
    pieces = [text[i : i + doc_chars] for i in range(0, len(text), doc_chars)]
    if not pieces:
        raise SystemExit(f"{path} is empty")
    docs = [pieces[i % len(pieces)] for i in range(n_docs)]
    return Corpus(name, path, text, docs, wrapped=n_docs > len(pieces))


def corpus_paths(corpus_dir: Path | None, quick: bool) -> dict[str, Path]:
    """``--corpus-dir`` if given; otherwise the bundled samples in quick mode and
    ``../shared/corpus`` in a full run."""
    if corpus_dir is None and quick:
        return {name: SAMPLES / SAMPLE_FILES[name] for name in CORPORA}
    base = corpus_dir or DEFAULT_CORPUS
    paths = {name: base / name for name in CORPORA}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise SystemExit(
            f"corpus file(s) not found: {', '.join(missing)}\n"
            "pass --corpus-dir DIR (holding ja-prose.txt and ja-mixed.txt), or --quick for the bundled samples"
        )
    return paths


# --------------------------------------------------------------------------- peers


@dataclass
class Peer:
    """One tokenizer call style: how it encodes a batch and decodes its own output."""

    key: str
    label: str
    package: str  # cpython, utf8-tokenizer, transformers, bygpt-codec
    kind: str  # "np" or "pt": the tensor type it returns (and decodes back)
    produces: str  # what one encode returns, in words
    encode: Callable[[list[str]], Any]
    decode: Callable[[Any], list[str]]
    scheme: str = "utf8"  # the byte mapping: jpblock or utf8 (ByT5's ids are bytes + 3)


def cpython_encode(docs: list[str]) -> dict[str, np.ndarray]:
    # The same baseline as benchmarks/codec.py, shaped like the other peers' output.
    ids, mask = codec_benchmark.cpython_encode(docs)
    return {"input_ids": ids, "attention_mask": mask}


def make_peers(notes: list[str]) -> list[Peer]:
    from bygpt_codec import Codec

    peers = [
        Peer(
            "cpython",
            "CPython utf-8 + numpy pad",
            "cpython",
            "np",
            "uint8 numpy ids and mask, pad 0xFF, width a multiple of 4 (decode: bytes.decode per row, lengths known)",
            cpython_encode,
            # The floor: the row lengths are taken as known, so only the bytes.decode calls are timed.
            lambda enc: [enc["input_ids"][i, :n].tobytes().decode("utf-8") for i, n in enumerate(enc["_lengths"])],
        )
    ]

    try:
        from utf8_tokenizer import UTF8Tokenizer

        u8 = UTF8Tokenizer()
    except ImportError as e:
        notes.append(f"utf8-tokenizer skipped: {e}")
    else:
        peers += [
            Peer(
                "utf8tok-torch",
                "utf8-tokenizer .torch()",
                "utf8-tokenizer",
                "pt",
                "UTF8Tokenizer.torch(docs, padding=True, add_special_tokens=False): torch ids (int64 here: torch "
                "cannot embed uint8 ids, so the package casts) and a bool mask, pad 0 (NUL)",
                lambda docs: u8.torch(docs, padding=True, add_special_tokens=False),
                lambda enc: u8.batch_decode(enc.input_ids, skip_special_tokens=True),
            ),
            Peer(
                "utf8tok-call",
                "utf8-tokenizer __call__",
                "utf8-tokenizer",
                "np",
                "UTF8Tokenizer()(docs, padding=True, add_special_tokens=False, return_tensors='np'): the "
                "transformers PreTrainedTokenizer path, int64 numpy ids and mask, pad 0",
                lambda docs: u8(docs, padding=True, add_special_tokens=False, return_tensors="np"),
                lambda enc: u8.batch_decode(enc["input_ids"], skip_special_tokens=True),
            ),
        ]

    try:
        from transformers import ByT5Tokenizer

        byt5 = ByT5Tokenizer()  # needs no vocabulary file, so no hub download
    except ImportError as e:
        notes.append(f"ByT5Tokenizer skipped: {e}")
    else:
        peers.append(
            Peer(
                "byt5",
                "ByT5Tokenizer __call__",
                "transformers",
                "pt",
                "ByT5Tokenizer()(docs, padding=True, add_special_tokens=False, return_tensors='pt'): int64 ids = "
                "byte + 3 (0 pad, 1 </s>, 2 <unk>), int64 mask; with special tokens it would add </s> per row",
                lambda docs: byt5(docs, padding=True, add_special_tokens=False, return_tensors="pt"),
                lambda enc: byt5.batch_decode(enc["input_ids"], skip_special_tokens=True),
            )
        )

    for scheme in SCHEMES:
        c = Codec(scheme)
        for kind, produces in (
            ("np", "uint8 numpy ids and mask, pad 0xFF, width a multiple of 4"),
            ("pt", "int64 torch ids and mask (encode_batch(..., return_tensors='pt')), pad 0xFF"),
        ):
            peers.append(
                Peer(
                    f"bygpt-{scheme}-{kind}",
                    f"bygpt {scheme}",
                    "bygpt-codec",
                    kind,
                    f"Codec({scheme!r}).encode_batch(docs): {produces}",
                    lambda docs, c=c, kind=kind: c.encode_batch(docs, return_tensors=kind),
                    lambda enc, c=c: c.decode_batch(enc["input_ids"]),
                    scheme=scheme,
                )
            )
    return peers


def input_ids(enc: Any) -> Any:
    """The ids of an encode result: a dict, a BatchEncoding or utf8-tokenizer's namedtuple."""
    return enc.input_ids if hasattr(enc, "input_ids") else enc["input_ids"]


def label(p: Peer) -> str:
    return f"{p.label} ({p.kind})"


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)
    number: int = 1  # calls per sample
    spent: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def _sample(fn: Callable[[], Any], number: int) -> float:
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - t0
    finally:
        if gc_was_on:
            gc.enable()


def measure(cases: dict[str, Callable[[], Any]], cfg: argparse.Namespace, min_sample_s: float) -> dict[str, Timing]:
    """Median seconds per call of each case, timed round-robin."""
    timings: dict[str, Timing] = {}
    for key, fn in cases.items():
        fn()  # warm up: imports, JIT (numba), thread pools, caches
        once = _sample(fn, 1)
        timings[key] = Timing(number=max(1, min(10_000, math.ceil(min_sample_s / max(once, 1e-7)))))
    keys = list(cases)
    for r in range(cfg.repeat):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t = timings[key]
            if len(t.samples) >= 3 and t.spent >= cfg.budget:
                continue
            seconds = _sample(cases[key], t.number)
            t.samples.append(seconds / t.number)
            t.spent += seconds
    return timings


# --------------------------------------------------------------------------- workloads


def ratio_refs(peers: list[Peer]) -> dict[tuple[str, str], str]:
    """(scheme, kind) -> the key of this codec's case to divide by."""
    return {(p.scheme, p.kind): p.key for p in peers if p.package == "bygpt-codec"}


def rows_for(peers: list[Peer], timings: dict[str, Timing], chars: int | None) -> list[dict[str, Any]]:
    refs = ratio_refs(peers)
    rows = []
    for p in peers:
        t = timings[p.key]
        row: dict[str, Any] = {
            "key": p.key,
            "label": label(p),
            "package": p.package,
            "kind": p.kind,
            "seconds": t.median,
            "samples": len(t.samples),
            "calls_per_sample": t.number,
        }
        if chars:
            row["mchars_per_s"] = chars / t.median / 1e6
        for scheme in SCHEMES:
            ref = refs.get((scheme, p.kind))
            if ref:
                row[f"ratio_vs_{scheme}"] = t.median / timings[ref].median
        rows.append(row)
    return rows


def batch_workloads(peers: list[Peer], corpus: Corpus, cfg: argparse.Namespace) -> dict[str, Any]:
    docs = corpus.docs
    encoded = {}
    for p in peers:
        enc = p.encode(docs)
        if p.key == "cpython":
            enc["_lengths"] = enc["attention_mask"].sum(axis=1).tolist()
        encoded[p.key] = enc
    roundtrip = {}
    for p in peers:
        roundtrip[p.key] = p.decode(encoded[p.key]) == docs
        if not roundtrip[p.key]:
            print(f"WARNING: {label(p)} does not decode its own batch back to the documents", file=sys.stderr)
    shapes = {p.key: list(input_ids(encoded[p.key]).shape) for p in peers}

    enc_t = measure({p.key: (lambda p=p: p.encode(docs)) for p in peers}, cfg, cfg.min_sample)
    dec_t = measure({p.key: (lambda p=p: p.decode(encoded[p.key])) for p in peers}, cfg, cfg.min_sample)
    return {
        "corpus": corpus.name,
        "file": os.path.relpath(corpus.path, ROOT),
        "documents": len(docs),
        "characters": corpus.chars,
        "wrapped": corpus.wrapped,
        "shapes": shapes,
        "roundtrip": roundtrip,
        "encode": rows_for(peers, enc_t, corpus.chars),
        "decode": rows_for(peers, dec_t, corpus.chars),
    }


def prompt_workload(peers: list[Peer], prompt: str, cfg: argparse.Namespace) -> dict[str, Any]:
    batch = [prompt]
    encoded = {}
    for p in peers:
        enc = p.encode(batch)
        if p.key == "cpython":
            enc["_lengths"] = enc["attention_mask"].sum(axis=1).tolist()
        encoded[p.key] = enc
    enc_t = measure({p.key: (lambda p=p: p.encode(batch)) for p in peers}, cfg, cfg.min_sample_latency)
    dec_t = measure({p.key: (lambda p=p: p.decode(encoded[p.key])) for p in peers}, cfg, cfg.min_sample_latency)
    return {
        "characters": len(prompt),
        "prompt": prompt,
        "roundtrip": {p.key: p.decode(encoded[p.key]) == batch for p in peers},
        "encode": rows_for(peers, enc_t, None),
        "decode": rows_for(peers, dec_t, None),
    }


def density(corpus: Corpus) -> list[dict[str, Any]]:
    """Characters per 4-byte step of every scheme on the whole corpus file."""
    from bygpt_codec import Codec

    text = corpus.text
    out = []
    for scheme, used_by in (
        ("jpblock", "bygpt jpblock"),
        ("utf8", "UTF-8 bytes: CPython, utf8-tokenizer, ByT5 (ids + 3), bygpt utf8"),
    ):
        s = Codec(scheme).stats(text)
        out.append(
            {
                "scheme": scheme,
                "used_by": used_by,
                "chars_per_step": s.chars_per_step,
                "bytes_per_char": s.bytes_per_char,
                "straddling": s.straddling_share,
                "filler": s.filler_share,
            }
        )
    for scheme, codec, used_by in (
        ("utf-16", "utf-16-le", "UTF16Tokenizer (utf8-tokenizer): 16-bit ids, not a byte vocabulary"),
        ("utf-32", "utf-32-le", "UTF32Tokenizer (utf8-tokenizer): 32-bit ids, not a byte vocabulary"),
    ):
        n = len(text.encode(codec, "surrogatepass"))
        out.append(
            {
                "scheme": scheme,
                "used_by": used_by,
                "chars_per_step": 4 * len(text) / n,
                "bytes_per_char": n / len(text),
                "straddling": None,
                "filler": 0.0,
            }
        )
    return out


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "arch": platform.machine(),
        "cores": usable,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("bygpt-codec", "numpy", "torch", "transformers", "utf8-tokenizer", "numba", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_ratio(row: dict[str, Any], scheme: str) -> str:
    r = row.get(f"ratio_vs_{scheme}")
    return f"{r:.2f}x" if r is not None else "-"


def print_rows(title: str, rows: list[dict[str, Any]], throughput: bool) -> None:
    print(f"\n{title}")
    head = f"{'peer (tensor)':<34} {'time':>10} {'Mchar/s':>8} {'/jpblock':>9} {'/utf8':>8} {'runs':>5}"
    print(head)
    print("-" * len(head))
    for r in rows:
        speed = f"{r['mchars_per_s']:8.1f}" if throughput else f"{'':>8}"
        print(
            f"{r['label']:<34} {fmt_time(r['seconds']):>10} {speed} {fmt_ratio(r, 'jpblock'):>9}"
            f" {fmt_ratio(r, 'utf8'):>8} {r['samples']:>5}"
        )


def print_report(result: dict[str, Any]) -> None:
    print(
        "\nratio = peer time / bygpt time for the same tensor type (np or pt): "
        "2.00x means bygpt is twice as fast; medians of the runs shown"
    )
    for w in result["batch"]:
        what = f"{w['documents']:,} documents, {w['characters']:,} characters" + (
            " (the file is shorter: documents wrap around to its start)" if w["wrapped"] else ""
        )
        print_rows(f"== batch encode to a padded tensor: {w['corpus']}, {what}", w["encode"], True)
        widths = {}
        for p in result["peers"]:
            widths.setdefault(w["shapes"][p["key"]][1], []).append(f"{p['label']} ({p['kind']})")
        for width, who in widths.items():
            print(f"   padded width {width:,}: {', '.join(who)}")
        print_rows(f"== batch decode of each peer's own tensor: {w['corpus']}", w["decode"], True)
    p = result["prompt"]
    print_rows(f"== one {p['characters']}-character prompt: encode to a [1, L] tensor", p["encode"], False)
    print_rows(f"== one {p['characters']}-character prompt: decode its [1, L] tensor", p["decode"], False)
    print("\n== characters per 4-byte step (whole corpus files)")
    head = f"{'corpus':<14} {'scheme':<8} {'chars/step':>10} {'bytes/char':>10} {'straddling':>10}  used by"
    print(head)
    print("-" * len(head))
    for corpus, rows in result["density"].items():
        for r in rows:
            straddle = f"{r['straddling']:10.1%}" if r["straddling"] is not None else f"{'-':>10}"
            print(
                f"{corpus:<14} {r['scheme']:<8} {r['chars_per_step']:10.3f} {r['bytes_per_char']:10.3f}"
                f" {straddle}  {r['used_by']}"
            )
    bad = [
        f"{w.get('corpus', 'prompt')}:{k}"
        for w in [*result["batch"], result["prompt"]]
        for k, ok in w["roundtrip"].items()
        if not ok
    ]
    print("\nround trips: " + ("all peers decode their own tensors back exactly" if not bad else f"FAILED {bad}"))


def draw_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = result["peers"]
    labels = [f"{p['label']} ({p['kind']})" for p in peers]
    is_ours = [p["package"] == "bygpt-codec" for p in peers]
    y = np.arange(len(peers))
    fig, axes = plt.subplots(2, 2, figsize=(15, 10.5))
    colors = ("#1f77b4", "#ff7f0e")

    def bars(ax, series, xlabel, title, log, fmt, palette=colors, legend=False):
        h = 0.8 / len(series)
        for i, (name, values) in enumerate(series):
            pos = y - 0.4 + h * (i + 0.5)
            ax.barh(pos, values, height=h, label=name, color=palette[i % 2])
            for yy, v in zip(pos, values, strict=True):
                ax.text(v, yy, " " + fmt(v), va="center", fontsize=8)
        ax.set_yticks(y, labels)
        for tick, ours in zip(ax.get_yticklabels(), is_ours, strict=True):
            tick.set_fontweight("bold" if ours else "normal")
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
            lo = min(min(v) for _, v in series)
            hi = max(max(v) for _, v in series)
            ax.set_xlim(lo / 2, hi * (40 if legend else 6))
        else:
            ax.set_xlim(0, max(max(v) for _, v in series) * 1.18)
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=11)
        ax.grid(axis="x", which="both", alpha=0.3)
        if legend:
            ax.legend(fontsize=9, loc="upper right")

    def speeds(kind):
        return [(w["corpus"], [r["mchars_per_s"] for r in w[kind]]) for w in result["batch"]]

    docs = result["batch"][0]["documents"]
    chars = result["config"]["doc_chars"]
    bars(
        axes[0, 0],
        speeds("encode"),
        "million characters per second (log scale; higher is better)",
        f"Batch encode: {docs:,} documents of {chars:,} characters to a padded tensor",
        True,
        lambda v: f"{v:.3g}",
    )
    bars(
        axes[0, 1],
        speeds("decode"),
        "million characters per second (log scale; higher is better)",
        "Batch decode: each peer's own tensor back to the documents",
        True,
        lambda v: f"{v:.3g}",
    )
    p = result["prompt"]
    bars(
        axes[1, 0],
        [("encode", [r["seconds"] * 1e6 for r in p["encode"]]), ("decode", [r["seconds"] * 1e6 for r in p["decode"]])],
        "microseconds per call (log scale; lower is better)",
        f"One {p['characters']}-character prompt: latency to a [1, L] tensor and back",
        True,
        lambda v: f"{v:.3g} µs",
        palette=("#2ca02c", "#9467bd"),
        legend=True,
    )

    ax = axes[1, 1]
    dens = result["density"]
    schemes = [r["scheme"] for r in next(iter(dens.values()))]
    names = {
        "jpblock": "jpblock (bygpt)",
        "utf8": "UTF-8 bytes (CPython, utf8-tokenizer,\nByT5, bygpt utf8)",
        "utf-16": "UTF-16 (16-bit ids, not bytes)",
        "utf-32": "UTF-32 (32-bit ids, not bytes)",
    }
    yd = np.arange(len(schemes))
    h = 0.8 / len(dens)
    for i, (corpus, rows) in enumerate(dens.items()):
        pos = yd - 0.4 + h * (i + 0.5)
        vals = [r["chars_per_step"] for r in rows]
        ax.barh(pos, vals, height=h, label=corpus, color=colors[i % 2])
        for yy, v in zip(pos, vals, strict=True):
            ax.text(v, yy, f" {v:.2f}", va="center", fontsize=8)
    ax.set_yticks(yd, [names.get(s, s) for s in schemes])
    ax.get_yticklabels()[0].set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, max(r["chars_per_step"] for rows in dens.values() for r in rows) * 1.18)
    ax.set_xlabel("characters per 4-byte model step (higher is better)")
    ax.set_title("Density: how much text one 4-byte step carries (whole files)", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    handles, names_ = ax.get_legend_handles_labels()
    fig.legend(handles, names_, loc="upper center", bbox_to_anchor=(0.5, 0.935), ncol=len(names_), fontsize=10)

    m = result["machine"]
    v = result["versions"]
    fig.suptitle(
        f"bygpt-codec {v['bygpt-codec']} vs byte tokenizers — {result['date']}, {m['cpu']}, {m['cores']} cores"
        f", bygpt on {result['config']['threads'] or 'all'} thread(s), torch on {result['config']['torch_threads']}, "
        f"Python {m['python']}\nutf8-tokenizer {v['utf8-tokenizer']}, transformers {v['transformers']}, "
        f"torch {v['torch']}, numpy {v['numpy']}; medians of up to {result['config']['repeat']} runs"
        + ("; QUICK MODE (smoke test, not figures)" if result["config"]["quick"] else ""),
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description="bygpt-codec side by side with CPython's UTF-8, utf8-tokenizer and ByT5Tokenizer.",
    )
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=None,
        help=f"folder with ja-prose.txt and ja-mixed.txt (default {DEFAULT_CORPUS}; --quick: the bundled samples)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results", help="folder for compare.json and .png")
    parser.add_argument("--quick", action="store_true", help="smoke test: small inputs, few runs, seconds")
    parser.add_argument("--docs", type=int, default=None, help="documents per batch (default 2000; quick 100)")
    parser.add_argument("--doc-chars", type=int, default=1000, help="characters per document")
    parser.add_argument("--prompt-chars", type=int, default=100, help="characters of the latency prompt")
    parser.add_argument("--repeat", type=int, default=None, help="timed samples per case (default 7; quick 3)")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds after which a slow case stops at 3 samples (default 20)"
    )
    parser.add_argument("--threads", type=int, default=None, help="cap bygpt's threads (default: one per core)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch's intra-op threads for the tensor casts of the torch peers (default 1: see the module docstring)",
    )
    args = parser.parse_args(argv)
    if args.docs is None:
        args.docs = 100 if args.quick else 2000
    if args.repeat is None:
        args.repeat = 3 if args.quick else 7
    if args.budget is None:
        args.budget = 0.2 if args.quick else 20.0
    args.min_sample = 0.002 if args.quick else 0.03  # seconds of back-to-back calls per sample
    args.min_sample_latency = 0.002 if args.quick else 0.02
    if args.docs < 1 or args.doc_chars < 1 or args.prompt_chars < 1 or args.repeat < 1:
        parser.error("--docs, --doc-chars, --prompt-chars and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    # No peer may reach the hub, and keep transformers quiet.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if cfg.threads:
        os.environ["RAYON_NUM_THREADS"] = str(cfg.threads)  # read when bygpt's pool first starts
    paths = corpus_paths(cfg.corpus_dir, cfg.quick)
    corpora = [load_corpus(name, path, cfg.docs, cfg.doc_chars) for name, path in paths.items()]
    prompt = corpora[0].text[: cfg.prompt_chars]

    notes: list[str] = []
    t0 = time.perf_counter()
    peers = make_peers(notes)
    try:
        import torch
    except ImportError:
        raise SystemExit('torch is missing: install the bench extra (pip install ".[bench]")') from None
    torch.set_num_threads(cfg.torch_threads)
    m = machine()
    print(
        f"machine: {m['cpu']}, {m['arch']}, {m['cores']} cores"
        f", bygpt on {cfg.threads or 'all'} thread(s), torch on {cfg.torch_threads}, Python {m['python']}"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items() if v))
    for n in notes:
        print("note:", n)
    for c in corpora:
        print(f"corpus: {c.name} = {c.path} ({len(c.text):,} characters)")

    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": m,
        "versions": versions(),
        "config": {
            "quick": cfg.quick,
            "docs": cfg.docs,
            "doc_chars": cfg.doc_chars,
            "prompt_chars": cfg.prompt_chars,
            "repeat": cfg.repeat,
            "budget_s": cfg.budget,
            "threads": cfg.threads,
            "torch_threads": cfg.torch_threads,
        },
        "notes": notes,
        "peers": [
            {"key": p.key, "label": p.label, "package": p.package, "kind": p.kind, "produces": p.produces}
            for p in peers
        ],
        "batch": [],
    }
    for c in corpora:
        print(f"timing {c.name} ...", flush=True)
        result["batch"].append(batch_workloads(peers, c, cfg))
    print("timing the prompt ...", flush=True)
    result["prompt"] = prompt_workload(peers, prompt, cfg)
    result["density"] = {c.name: density(c) for c in corpora}
    result["elapsed_s"] = time.perf_counter() - t0

    print_report(result)
    cfg.out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = cfg.out / "compare.json", cfg.out / "compare.png"
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    draw_chart(result, png_path)
    print(f"\nwrote {json_path} and {png_path} ({result['elapsed_s']:.0f} s)")
    ok = all(ok for w in [*result["batch"], result["prompt"]] for ok in w["roundtrip"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
