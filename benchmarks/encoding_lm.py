"""What the encoding does to a model: jpblock against utf8, independent against
chained heads, at equal steps and at equal wall-clock time.

    python benchmarks/encoding_lm.py                      # the full experiment (see --help for the budget)
    python benchmarks/encoding_lm.py --quick --out /tmp/e # smoke test on the bundled sample, about 30 s

For every scheme (default: all of ``bygpt_codec.SCHEMES``), head type and
seed, the same model configuration is trained with ``bygpt_model.train`` on
the same documents, packed once per scheme:

* **equal steps**: ``--steps`` optimizer steps of ``--batch-size`` windows of
  ``--window`` bytes. A step costs the same for every scheme (one position
  per 4-byte block), so this is equal compute; jpblock simply carries more
  characters per window.
* **equal time**: ``--time-budget`` seconds of training (evaluation
  excluded; the learning-rate schedule follows the clock). Chained heads cost
  a little more per step, so they get fewer steps.

Each trained model is then measured on held-out documents (the same text for
every scheme):

* **bits per character**: summed cross-entropy of every predicted byte in
  bits, over the characters those bytes decode to;
* **characters per step** of the held-out data and of generated samples;
* from samples (temperature 1, ``--samples`` held-out prompts): the share of
  **invalid blocks** when the raw heads choose each byte on their own
  (``valid_only=False``), and the share of generated characters that never
  occur in the training text (**unseen**, i.e. chimeras), with the default
  valid-only decoding and with raw heads (invalid bytes excluded);
* **generation speed**: bytes and characters per second of one sampling call
  (batch ``--samples``, valid-only decoding, this machine's CPU).

Results go to ``OUT/encoding_lm.json`` and ``OUT/encoding_lm.png`` (default
``docs/bench``), and a markdown table is printed. Means are over seeds, with
the sample standard deviation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "model"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import bygpt_codec  # noqa: E402
from bygpt_model import ByGPTConfig, ByGPTForCausalLM, serving  # noqa: E402
from bygpt_model.automaton import host_tables  # noqa: E402
from bygpt_model.train import TrainArgs, train  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "ja-prose.txt"
QUICK_CORPUS = ROOT / "tests" / "data" / "ja-prose-sample.txt"
REPLACEMENT = "\ufffd"


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def split_documents(text: str, doc_lines: int, heldout_fraction: float, heldout_chars: int):
    """Documents of ``doc_lines`` lines; the last ``heldout_fraction`` of them
    (at most ``heldout_chars`` characters) are held out."""
    lines = text.splitlines(keepends=True)
    docs = ["".join(lines[i : i + doc_lines]) for i in range(0, len(lines), doc_lines)]
    n_held = max(1, int(len(docs) * heldout_fraction))
    train_docs, held_docs = docs[:-n_held], docs[-n_held:]
    kept, total = [], 0
    for d in held_docs:
        if total >= heldout_chars:
            break
        kept.append(d)
        total += len(d)
    return train_docs, kept


def pack(docs: list[str], prefix: Path, scheme: str) -> str:
    """Packs documents with the codec's command line (JSONL in, shard out)."""
    jsonl = prefix.with_suffix(".jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}, ensure_ascii=False) + "\n")
    cmd = [sys.executable, "-m", "bygpt_codec", "pack", str(jsonl), "-o", str(prefix), "--scheme", scheme, "-q"]
    subprocess.run(cmd, check=True)
    return str(prefix)


# --------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------


def invalid_blocks(host, prompt: bytes, generated: list[int]) -> tuple[int, int]:
    """(invalid, total) blocks of ``generated``, read after ``prompt``: a block
    is invalid when the automaton rejects one of its bytes (it then recovers
    and goes on)."""
    state = host.run(prompt)
    bad = total = 0
    for at in range(0, len(generated), 4):
        ok = True
        for byte in generated[at : at + 4]:
            if host.next[state, byte] < 0:
                ok = False
            state = int(host.step[state, byte])
        bad += not ok
        total += 1
    return bad, total


def sample_metrics(model, codec, prompts: list[str], charset: set[str], new_bytes: int, seed: int) -> dict[str, Any]:
    host = host_tables(codec)
    batch = codec.encode_batch(prompts, padding_side="left", return_tensors="pt")
    width = batch["input_ids"].shape[1]
    steps = new_bytes // 4
    out: dict[str, Any] = {}
    for valid_only in (True, False):
        gen = torch.Generator().manual_seed(seed)
        t0 = time.perf_counter()
        ids = model.generate(
            **batch, max_new_tokens=new_bytes, do_sample=True, temperature=1.0, generator=gen,
            valid_only=valid_only, stop_on_eos=False,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        rows = ids[:, width:].tolist()
        texts = codec.decode_batch([bytes(r) for r in rows], errors="replace", skip_special_tokens=True)
        chars = [ch for t in texts for ch in t if ch != REPLACEMENT]
        unseen = sum(ch not in charset for ch in chars)
        bad = total = 0
        for r, row in enumerate(rows):
            prompt = bytes(batch["input_ids"][r].tolist())
            b, t = invalid_blocks(host, prompt, row)
            bad, total = bad + b, total + t
        key = "valid" if valid_only else "raw"
        out[key] = {
            "invalid_block_rate": bad / max(total, 1),
            "unseen_char_rate": unseen / max(len(chars), 1),
            "chars_per_step": sum(len(t) for t in texts) / (len(rows) * steps),
            "gen_bytes_per_s": len(rows) * 4 * steps / seconds,
            "gen_chars_per_s": sum(len(t) for t in texts) / seconds,
            "example": texts[0][:80],
        }
    return out


# --------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------


def run_one(args, shards, scheme, heads, seed, mode, charset, prompts, workdir) -> dict[str, Any]:
    budget = dict(steps=args.steps) if mode == "steps" else dict(steps=10**9, time_budget=args.time_budget)
    eval_every = max(1, args.steps // args.curve_points) if mode == "steps" else 0
    out = workdir / f"{scheme}-{heads}-{seed}-{mode}"
    targs = TrainArgs(
        data=shards[scheme]["train"], eval_data=shards[scheme]["held"], out=str(out),
        preset=args.preset, heads=heads, window=args.window, batch_size=args.batch_size, lr=args.lr,
        warmup=args.warmup, seed=seed, eval_every=eval_every, eval_windows=10**9, log_every=50,
        threads=args.threads, progress=False, resume=False, **budget,
    )  # fmt: skip
    t0 = time.perf_counter()
    metrics = train(targs)
    wall = time.perf_counter() - t0
    model = ByGPTForCausalLM.from_pretrained(targs.out).eval()
    codec = bygpt_codec.Codec(scheme)
    samples = sample_metrics(model, codec, prompts, charset, args.sample_bytes, seed)
    ev = metrics["eval"]
    row = {
        "scheme": scheme,
        "heads": heads,
        "seed": seed,
        "mode": mode,
        "parameters": metrics["parameters"],
        "steps": metrics["steps"],
        "train_seconds": metrics["train_seconds"],
        "bytes_seen": metrics["bytes_seen"],
        "bits_per_char": ev["bits_per_char"],
        "bits_per_byte": ev["bits_per_byte"],
        "heldout_chars": ev["chars"],
        "heldout_chars_per_step": ev["chars_per_step"],
        "curve": [[e["step"], e["bits_per_char"]] for e in metrics["history"]["eval"]],
        "samples": samples,
        "wall_seconds": wall,
    }
    print(
        f"  {scheme:8} {heads:11} seed {seed} {mode:5}: {row['bits_per_char']:.4f} bits/char, "
        f"{row['steps']} steps in {row['train_seconds']:.0f} s, raw invalid "
        f"{samples['raw']['invalid_block_rate']:.2%}, unseen {samples['valid']['unseen_char_rate']:.2%}",
        flush=True,
    )
    return row


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["scheme"], r["heads"], r["mode"]), []).append(r)
    summary = []
    for (scheme, heads, mode), rs in groups.items():
        item: dict[str, Any] = {"scheme": scheme, "heads": heads, "mode": mode, "seeds": len(rs)}
        fields = {
            "bits_per_char": lambda r: r["bits_per_char"],
            "steps": lambda r: r["steps"],
            "train_seconds": lambda r: r["train_seconds"],
            "heldout_chars_per_step": lambda r: r["heldout_chars_per_step"],
            "sample_chars_per_step": lambda r: r["samples"]["valid"]["chars_per_step"],
            "raw_invalid_block_rate": lambda r: r["samples"]["raw"]["invalid_block_rate"],
            "raw_unseen_char_rate": lambda r: r["samples"]["raw"]["unseen_char_rate"],
            "valid_invalid_block_rate": lambda r: r["samples"]["valid"]["invalid_block_rate"],
            "valid_unseen_char_rate": lambda r: r["samples"]["valid"]["unseen_char_rate"],
            "gen_bytes_per_s": lambda r: r["samples"]["valid"]["gen_bytes_per_s"],
            "gen_chars_per_s": lambda r: r["samples"]["valid"]["gen_chars_per_s"],
        }
        for name, get in fields.items():
            item[name], item[name + "_sd"] = _mean_sd([float(get(r)) for r in rs])
        summary.append(item)
    return summary


def markdown_table(summary: list[dict[str, Any]]) -> str:
    head = (
        "| mode | scheme | heads | bits/char (± sd) | steps | train s | chars/step (held-out / samples) "
        "| invalid blocks, raw | unseen chars, valid-only / raw | gen bytes/s | gen chars/s |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for s in sorted(summary, key=lambda s: (s["mode"], s["scheme"], s["heads"])):
        lines.append(
            f"| {'equal steps' if s['mode'] == 'steps' else 'equal time'} | {s['scheme']} | {s['heads']} "
            f"| {s['bits_per_char']:.3f} ± {s['bits_per_char_sd']:.3f} | {s['steps']:.0f} | {s['train_seconds']:.0f} "
            f"| {s['heldout_chars_per_step']:.2f} / {s['sample_chars_per_step']:.2f} "
            f"| {s['raw_invalid_block_rate']:.2%} "
            f"| {s['valid_unseen_char_rate']:.2%} / {s['raw_unseen_char_rate']:.2%} "
            f"| {s['gen_bytes_per_s']:.0f} | {s['gen_chars_per_s']:.0f} |"
        )
    return head + "\n".join(lines) + "\n"


def chart(summary, runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_bar, ax_curve) = plt.subplots(1, 2, figsize=(12, 4.5))
    configs = sorted({(s["scheme"], s["heads"]) for s in summary})
    modes = [m for m in ("steps", "time") if any(s["mode"] == m for s in summary)]
    width = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        vals, errs = [], []
        for scheme, heads in configs:
            s = next((s for s in summary if (s["scheme"], s["heads"], s["mode"]) == (scheme, heads, mode)), None)
            vals.append(s["bits_per_char"] if s else np.nan)
            errs.append(s["bits_per_char_sd"] if s else 0.0)
        xs = np.arange(len(configs)) + (i - (len(modes) - 1) / 2) * width
        ax_bar.bar(xs, vals, width, yerr=errs, capsize=3, label="equal steps" if mode == "steps" else "equal time")
    ax_bar.set_xticks(np.arange(len(configs)), [f"{s}\n{h}" for s, h in configs])
    ax_bar.set_ylabel("held-out bits per character (lower is better)")
    ax_bar.set_title("Held-out bits per character (mean ± sd over seeds)")
    lows = [s["bits_per_char"] - 2 * s["bits_per_char_sd"] for s in summary]
    highs = [s["bits_per_char"] + 2 * s["bits_per_char_sd"] for s in summary]
    if lows:
        pad = 0.1 * (max(highs) - min(lows) + 1e-9)
        ax_bar.set_ylim(max(0.0, min(lows) - pad), max(highs) + pad)
    ax_bar.legend()
    for scheme, heads in configs:
        curves = [r["curve"] for r in runs if (r["scheme"], r["heads"], r["mode"]) == (scheme, heads, "steps")]
        if not curves or not curves[0]:
            continue
        steps = [p[0] for p in curves[0]]
        mean = [statistics.fmean(c[i][1] for c in curves if len(c) > i) for i in range(len(steps))]
        ax_curve.plot(steps, mean, marker="o", label=f"{scheme}, {heads}")
    ax_curve.set_xlabel("optimizer step (equal-steps runs)")
    ax_curve.set_ylabel("held-out bits per character")
    ax_curve.set_title("Learning curves (mean over seeds)")
    ax_curve.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schemes", nargs="+", default=list(bygpt_codec.SCHEMES), choices=list(bygpt_codec.SCHEMES))
    ap.add_argument("--heads", nargs="+", default=["independent", "chained"], choices=["independent", "chained"])
    ap.add_argument("--modes", nargs="+", default=["steps", "time"], choices=["steps", "time"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=500, help="optimizer steps (equal-steps mode)")
    ap.add_argument("--time-budget", type=float, default=75.0, help="training seconds (equal-time mode)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--window", type=int, default=512, help="bytes per training window")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=float, default=0.05)
    ap.add_argument("--doc-lines", type=int, default=50, help="corpus lines per document")
    ap.add_argument("--heldout-fraction", type=float, default=0.05)
    ap.add_argument("--heldout-chars", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=32, help="held-out prompts sampled per model")
    ap.add_argument("--sample-bytes", type=int, default=256, help="bytes generated per prompt")
    ap.add_argument("--curve-points", type=int, default=5, help="held-out evaluations per equal-steps run")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: free cores at start)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    ap.add_argument("--quick", action="store_true", help="tiny model, bundled sample, a few steps (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        if args.corpus == DEFAULT_CORPUS:
            args.corpus = QUICK_CORPUS
        args.preset, args.steps, args.time_budget, args.seeds = "tiny", 12, 2.0, args.seeds[:1]
        args.batch_size, args.window, args.samples, args.sample_bytes = 4, 256, 4, 64
        args.curve_points, args.doc_lines, args.heldout_chars = 2, 20, 6_000

    if args.threads is None:
        # Chosen once, before any run: the load average would otherwise count
        # this process's own previous run, and runs would differ in threads.
        hidden = ByGPTConfig.preset(args.preset).hidden_size
        args.threads = serving.pick_cpu_threads(small_model=hidden < 128)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    text = args.corpus.read_text(encoding="utf-8")
    train_docs, held_docs = split_documents(text, args.doc_lines, args.heldout_fraction, args.heldout_chars)
    charset = set("".join(train_docs))
    held_text = "".join(held_docs)
    prompts = [d[:8] for d in held_docs[: args.samples]]
    while len(prompts) < args.samples:
        prompts.append(held_text[len(prompts) * 97 % max(len(held_text) - 8, 1) :][:8])
    reference_unseen = sum(ch not in charset for ch in held_text) / max(len(held_text), 1)
    print(
        f"corpus {args.corpus.name}: {len(train_docs)} training documents, {len(held_docs)} held out "
        f"({len(held_text)} characters; {reference_unseen:.4%} of them unseen in training)",
        flush=True,
    )
    runs = []
    with tempfile.TemporaryDirectory(prefix="encoding-lm-") as tmp:
        work = Path(tmp)
        shards = {
            s: {"train": pack(train_docs, work / f"train-{s}", s), "held": pack(held_docs, work / f"held-{s}", s)}
            for s in args.schemes
        }
        for mode in args.modes:
            for seed in args.seeds:
                for scheme in args.schemes:
                    for heads in args.heads:
                        runs.append(run_one(args, shards, scheme, heads, seed, mode, charset, prompts, work))
    summary = summarize(runs)
    table = markdown_table(summary)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    result = {
        "settings": settings,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "data": {
            "training_documents": len(train_docs),
            "training_chars": sum(len(d) for d in train_docs),
            "heldout_documents": len(held_docs),
            "heldout_chars": len(held_text),
            "heldout_unseen_char_rate": reference_unseen,
        },
        "total_seconds": time.perf_counter() - started,
        "runs": runs,
        "summary": summary,
        "table": table,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "encoding_lm.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    chart(summary, runs, args.out / "encoding_lm.png")
    print()
    print(table)
    print(
        f"reference: {reference_unseen:.4%} of the held-out text's characters are unseen in training; "
        f"total {result['total_seconds']:.0f} s; wrote {args.out / 'encoding_lm.json'} and encoding_lm.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
