"""Train a byGPT model on packed shards.

    python -m bygpt_model.train --data shards/train --out runs/tiny --preset tiny --steps 2000
    python -m bygpt_model.train --data shards/train --eval-data shards/heldout --out runs/a \\
        --heads chained --batch-size 32 --window 1024 --lr 3e-3 --time-budget 600

The data are fixed-length windows of ``bygpt_codec.shards`` (``bygpt-codec
pack`` writes them): every window starts a block and holds whole documents
or parts of them (``<|bos|>`` ... ``<|eos|>``), never padding, so the
forward pass uses plain causal attention (``has_padding=False``) and the
step reads nothing back to the host.

* AdamW (betas 0.9 / 0.95, weight decay on matrices only), linear warmup
  then cosine decay to ``--min-lr-ratio`` of the peak, gradient clipping.
  With ``--time-budget`` the schedule runs on elapsed training time instead
  of steps, and training stops when the budget is spent.
* bf16 autocast on CUDA; float32 on the CPU, with a thread count that suits
  a busy machine (:func:`bygpt_model.serving.pick_cpu_threads`).
* The batch order is a function of ``--seed`` and the step alone (a fresh
  permutation of the windows per epoch), so a run resumed from its
  checkpoint (``OUT/checkpoint.pt``: model, optimizer, step, RNG) takes the
  same steps and reports the same losses as one never interrupted.
* Held-out evaluation in bits per character: the summed cross-entropy of
  every predicted byte (filler and special blocks included), in bits, over
  the number of characters those bytes decode to. ``--eval-data`` names a
  held-out shard; without it the last ``--eval-fraction`` of the training
  shard's windows are held out.
* A progress line with the step, the loss, bytes/s and the learning rate.

The final model is written with ``save_pretrained`` to ``OUT`` and the
metrics to ``OUT/metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bygpt_codec.constants import BLOCK

from .config import HEADS, ByGPTConfig
from .modeling import ByGPTForCausalLM
from .serving import pick_cpu_threads

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@dataclass
class TrainArgs:
    data: str
    out: str
    eval_data: str | None = None
    preset: str = "tiny"
    heads: str = "independent"
    overrides: dict[str, Any] = field(default_factory=dict)
    window: int | None = None  # bytes; default: the context, at most 1024
    batch_size: int = 16
    steps: int = 1000
    time_budget: float | None = None  # seconds of training (eval excluded)
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: float = 0.05  # fraction of the schedule
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    device: str | None = None
    threads: int | None = None
    eval_every: int = 0  # steps; 0: only at the end
    eval_windows: int = 64
    eval_fraction: float = 0.05
    save_every: int = 0  # steps; 0: only at the end
    log_every: int = 10
    resume: bool = True
    stop_at: int | None = None  # stop after this step as if interrupted (checkpoint, no final eval)
    progress: bool = True


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


class Windows:
    """Training and held-out windows of packed shards, read only through
    ``open_shard``, ``num_windows(length)``, ``window(k, length)`` and
    ``windows(length, stride=)``."""

    def __init__(self, args: TrainArgs, length: int) -> None:
        from bygpt_codec.shards import open_shard

        self.length = length
        self.train = open_shard(args.data)
        self.scheme = self.train.scheme
        total = self.train.num_windows(length)
        if args.eval_data:
            self.held = open_shard(args.eval_data)
            if self.held.scheme != self.scheme:
                raise SystemExit(f"--eval-data is {self.held.scheme}, --data is {self.scheme}")
            self.num_train = total
            self.eval_start = 0
        else:
            # Hold out the tail of the training shard: training windows stop
            # where the held-out region starts.
            self.held = self.train
            held = max(1, int(total * args.eval_fraction)) if total > 1 else 0
            self.num_train = total - held
            self.eval_start = -(-self.num_train * length // self.eval_stride)
        if self.num_train < 1:
            raise SystemExit(f"{args.data} holds no full window of {length} bytes")
        self.max_eval = args.eval_windows
        self.seed = args.seed
        self._perm: dict[int, np.ndarray] = {}

    @property
    def eval_stride(self) -> int:
        # Consecutive held-out windows overlap by one block, so the bytes
        # they predict (all but each window's first block) tile the region.
        return self.length - BLOCK

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perm:
            self._perm = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.num_train)}
        return self._perm[epoch]

    def batch(self, step: int, batch_size: int) -> np.ndarray:
        """The uint8 [batch, length] windows of ``step`` (a pure function of
        the seed and the step)."""
        rows = []
        for i in range(step * batch_size, (step + 1) * batch_size):
            epoch, pos = divmod(i, self.num_train)
            rows.append(self.train.window(int(self._order(epoch)[pos]), self.length))
        return np.stack(rows)

    def held_out(self) -> list[np.ndarray]:
        """Up to ``eval_windows`` consecutive held-out windows (views)."""
        every = self.held.windows(self.length, stride=self.eval_stride)
        return list(itertools.islice(every, self.eval_start, self.eval_start + self.max_eval))


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


@torch.no_grad()
def evaluate(model: ByGPTForCausalLM, windows: list[np.ndarray], scheme: str, batch_size: int = 16) -> dict[str, float]:
    """Bits per character and per byte of ``windows`` (consecutive windows
    that overlap by one block): every byte after each window's first block is
    predicted once. Characters are those the predicted bytes decode to
    (special tokens excluded; under utf8 a character cut by the region's
    start counts as one replacement character)."""
    import bygpt_codec

    if not windows:
        return {}
    was_training = model.training
    model.eval()
    device = model.device
    total_nats = 0.0
    predicted = 0
    for at in range(0, len(windows), batch_size):
        ids = torch.from_numpy(np.stack(windows[at : at + batch_size])).to(device)
        with _autocast(device):
            loss = model.loss(ids, has_padding=False)
        count = ids.shape[0] * (ids.shape[1] - BLOCK)
        total_nats += float(loss) * count
        predicted += count
    model.train(was_training)
    region = np.concatenate([w[BLOCK:] for w in windows])
    chars = len(bygpt_codec.Codec(scheme).decode(region, errors="replace", skip_special_tokens=True))
    bits = total_nats / math.log(2)
    return {
        "bits_per_char": bits / max(chars, 1),
        "bits_per_byte": bits / predicted,
        "chars": chars,
        "bytes": predicted,
        "chars_per_step": chars / (predicted / BLOCK),
    }


# --------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------


def lr_at(progress: float, args: TrainArgs) -> float:
    """Linear warmup over ``warmup`` of the schedule, then cosine to
    ``min_lr_ratio`` of the peak; ``progress`` in [0, 1]."""
    if args.warmup > 0 and progress < args.warmup:
        return args.lr * progress / args.warmup
    span = max(1e-12, 1.0 - args.warmup)
    t = min(1.0, (progress - args.warmup) / span)
    floor = args.lr * args.min_lr_ratio
    return floor + (args.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def make_optimizer(model: torch.nn.Module, args: TrainArgs) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = model.lm_heads[0].weight.device.type == "cuda"
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused or None)


def _autocast(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


# --------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------


class Progress:
    """One status line on stderr (rewritten in place on a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def update(self, step: int, loss: float, bytes_per_s: float, lr: float, elapsed: float) -> None:
        if not self.enabled:
            return
        eta = elapsed / max(step, 1) * (self.total - step)
        line = (
            f"step {step}/{self.total} | loss {loss:.4f} | {bytes_per_s / 1e3:.1f} kB/s | "
            f"lr {lr:.2e} | {elapsed:.0f}s elapsed, ~{eta:.0f}s left"
        )
        if self.tty:
            sys.stderr.write("\r" + line.ljust(100))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------


def _save_checkpoint(path: Path, model, optimizer, step: int, elapsed: float, config: ByGPTConfig, history) -> None:
    state = {
        "step": step,
        "elapsed": elapsed,
        "config": config.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "history": history,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------


def _device(args: TrainArgs) -> torch.device:
    if args.device:
        return torch.device(args.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_config(args: TrainArgs, scheme: str) -> ByGPTConfig:
    return ByGPTConfig.preset(args.preset, heads=args.heads, scheme=scheme, **args.overrides)


def train(args: TrainArgs) -> dict[str, Any]:
    """Runs (or resumes) training; returns the metrics it also writes."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = _device(args)
    probe = ByGPTConfig.preset(args.preset, **args.overrides)
    if device.type == "cpu":
        torch.set_num_threads(args.threads or pick_cpu_threads(small_model=probe.hidden_size < 128))
    length = args.window or min(probe.max_length_bytes, 1024)
    data = Windows(args, length)
    config = build_config(args, data.scheme)
    if length > config.max_length_bytes or length % BLOCK:
        raise SystemExit(f"--window {length} must be a multiple of {BLOCK} within the context")

    torch.manual_seed(args.seed)
    with torch.device(device):
        model = ByGPTForCausalLM(config)
    model.train()
    optimizer = make_optimizer(model, args)
    step, elapsed = 0, 0.0
    history: dict[str, list] = {"loss": [], "eval": []}
    ckpt = out / CHECKPOINT
    progress = Progress(args.steps, args.progress)
    if args.resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if ByGPTConfig.from_dict(state["config"]) != config:
            raise SystemExit(f"{ckpt} was written for another model configuration; use a new --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng_cpu"])
        if state.get("rng_cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        step, elapsed, history = state["step"], state["elapsed"], state["history"]
        progress.message(f"resuming from {ckpt} at step {step}")

    def evaluate_now() -> dict[str, float]:
        result = evaluate(model, data.held_out(), data.scheme)
        if result:
            result["step"] = step
            history["eval"].append(result)
            progress.message(
                f"eval at step {step}: {result['bits_per_char']:.4f} bits/char, "
                f"{result['bits_per_byte']:.4f} bits/byte ({result['chars']} chars)"
            )
        return result

    loss_sum = torch.zeros((), device=device)
    logged_from = step
    window_bytes = args.batch_size * length
    t_last = time.perf_counter()
    interrupted = False
    while step < args.steps:
        if args.time_budget is not None and elapsed >= args.time_budget:
            break
        t0 = time.perf_counter()
        frac = elapsed / args.time_budget if args.time_budget else step / args.steps
        lr = lr_at(frac, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        ids = torch.from_numpy(data.batch(step, args.batch_size)).to(device, non_blocking=True)
        with _autocast(device):
            loss = model.loss(ids, has_padding=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        step += 1
        elapsed += time.perf_counter() - t0
        if step % args.log_every == 0 or step == args.steps:
            mean = float(loss_sum) / (step - logged_from)  # the only host read, every log_every steps
            history["loss"].append([step, mean])
            now = time.perf_counter()
            rate = window_bytes * (step - logged_from) / max(now - t_last, 1e-9)
            progress.update(step, mean, rate, lr, elapsed)
            loss_sum.zero_()
            logged_from, t_last = step, now
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            evaluate_now()
        if args.save_every and step % args.save_every == 0:
            _save_checkpoint(ckpt, model, optimizer, step, elapsed, config, history)
        if args.stop_at is not None and step >= args.stop_at:
            interrupted = True
            break

    _save_checkpoint(ckpt, model, optimizer, step, elapsed, config, history)
    metrics: dict[str, Any] = {
        "args": {k: v for k, v in dataclasses.asdict(args).items()},
        "config": config.to_dict(),
        "parameters": model.num_parameters(),
        "steps": step,
        "train_seconds": elapsed,
        "window": length,
        "bytes_seen": step * window_bytes,
        "history": history,
        "interrupted": interrupted,
    }
    if not interrupted:
        metrics["eval"] = evaluate_now()
        model.save_pretrained(out)
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv: list[str] | None = None) -> TrainArgs:
    ap = argparse.ArgumentParser(
        prog="python -m bygpt_model.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    ap.add_argument("--data", required=True, help="training shard prefix (PREFIX.bin / PREFIX.idx)")
    ap.add_argument("--out", required=True, help="run directory: checkpoint, final model, metrics")
    ap.add_argument("--eval-data", help="held-out shard prefix (default: the tail of --data)")
    ap.add_argument("--preset", default="tiny", choices=ByGPTConfig.preset_names())
    ap.add_argument("--heads", default="independent", choices=HEADS)
    ap.add_argument("--set", dest="overrides", type=_override, action="append", default=[], metavar="KEY=VALUE",
                    help="override a config field, e.g. --set num_hidden_layers=4")  # fmt: skip
    ap.add_argument("--window", type=int, help="bytes per training window (default: context, at most 1024)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--time-budget", type=float, help="seconds of training; the schedule follows time")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of the schedule")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: what a busy machine allows)")
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--eval-windows", type=int, default=64)
    ap.add_argument("--eval-fraction", type=float, default=0.05)
    ap.add_argument("--save-every", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an existing checkpoint")
    ap.add_argument("--stop-at", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--no-progress", dest="progress", action="store_false")
    ns = ap.parse_args(argv)
    values = vars(ns)
    values["overrides"] = dict(values["overrides"])
    return TrainArgs(**values)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    metrics = train(args)
    summary = {k: metrics[k] for k in ("steps", "train_seconds", "parameters")}
    if metrics.get("eval"):
        summary.update({k: metrics["eval"][k] for k in ("bits_per_char", "bits_per_byte")})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
