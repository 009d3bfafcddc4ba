"""The training entry point on a shard packed from the test corpus: the
command line end to end, exact resumption, held-out bits per character."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
bygpt_codec = pytest.importorskip("bygpt_codec")

from bygpt_model import ByGPTForCausalLM  # noqa: E402
from bygpt_model.train import TrainArgs, evaluate, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "ja-prose-sample.txt"


def pack_sample(directory: Path, scheme: str = "jpblock", documents: int = 24) -> str:
    """Pack the prose sample, cut into ``documents`` text files, with the
    codec's command line; returns the shard prefix."""
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    per = -(-len(lines) // documents)
    files = []
    for i in range(documents):
        f = directory / f"doc{i:03d}.txt"
        f.write_text("".join(lines[i * per : (i + 1) * per]), encoding="utf-8")
        files.append(str(f))
    prefix = str(directory / f"sample-{scheme}")
    cmd = [sys.executable, "-m", "bygpt_codec", "pack", *files, "-o", prefix, "--format", "text", "--scheme", scheme]
    subprocess.run([*cmd, "-q"], check=True)
    return prefix


@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> str:
    return pack_sample(tmp_path_factory.mktemp("shard"))


def _args(shard: str, out: Path, **kw) -> TrainArgs:
    base = dict(data=shard, out=str(out), steps=6, batch_size=4, window=256, log_every=1, eval_windows=4)
    base["progress"] = False
    base.update(kw)
    return TrainArgs(**base)


def test_command_line_end_to_end(shard, tmp_path):
    out = tmp_path / "run"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "model"), os.environ.get("PYTHONPATH")]))
    )
    options = "--steps 8 --batch-size 4 --window 256 --log-every 4 --eval-windows 4 --heads chained".split()
    cmd = [sys.executable, "-m", "bygpt_model.train", "--data", shard, "--out", str(out), *options]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # The progress lines carry the step, the loss and bytes/s.
    assert "step 8/8 | loss" in proc.stderr and "kB/s" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 8 and 0 < summary["bits_per_char"] < 20
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["heads"] == "chained" and metrics["config"]["scheme"] == "jpblock"
    model = ByGPTForCausalLM.from_pretrained(out).eval()
    codec = bygpt_codec.Codec("jpblock")
    ids = torch.tensor(list(codec.encode("すべての")))[None]
    codec.decode(bytes(model.generate(ids, max_new_tokens=32)[0].tolist()))  # valid text


def test_resume_is_exact(shard, tmp_path):
    whole = train(_args(shard, tmp_path / "whole"))
    first = train(_args(shard, tmp_path / "split", stop_at=3))
    assert first["interrupted"] and first["steps"] == 3
    rest = train(_args(shard, tmp_path / "split"))
    assert rest["steps"] == 6
    assert rest["history"]["loss"] == whole["history"]["loss"]  # bitwise, every step
    assert rest["eval"] == whole["eval"]
    a = ByGPTForCausalLM.from_pretrained(tmp_path / "whole").state_dict()
    b = ByGPTForCausalLM.from_pretrained(tmp_path / "split").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Another seed takes other windows, hence other losses.
    other = train(_args(shard, tmp_path / "other", seed=1))
    assert other["history"]["loss"] != whole["history"]["loss"]


def test_time_budget_and_schedule(shard, tmp_path):
    from bygpt_model.train import lr_at

    args = TrainArgs(data="", out="", lr=1.0, warmup=0.1, min_lr_ratio=0.1)
    assert lr_at(0.0, args) == 0.0 and lr_at(0.05, args) == pytest.approx(0.5)
    assert lr_at(0.1, args) == pytest.approx(1.0) and lr_at(1.0, args) == pytest.approx(0.1)
    assert lr_at(0.55, args) == pytest.approx(0.55)
    result = train(_args(shard, tmp_path / "budget", steps=10_000, time_budget=1.0, log_every=5))
    assert 0 < result["steps"] < 10_000 and result["train_seconds"] >= 1.0


def test_bits_per_char_counts_the_decoded_characters(tmp_path):
    """On text with no special blocks, bits/char x chars = bits/byte x bytes,
    and chars is what the predicted bytes decode to."""
    import numpy as np

    from bygpt_model import ByGPTConfig

    codec = bygpt_codec.Codec("jpblock")
    text = SAMPLE.read_text(encoding="utf-8")[:3000]
    data = np.frombuffer(codec.encode(text), dtype=np.uint8)
    length, stride = 256, 252
    windows = [data[k * stride : k * stride + length] for k in range((len(data) - length) // stride + 1)]
    torch.manual_seed(0)
    model = ByGPTForCausalLM(ByGPTConfig.preset("tiny"))
    result = evaluate(model, windows, "jpblock")
    region = data[4 : (len(windows) - 1) * stride + length]
    assert result["bytes"] == len(region)
    assert result["chars"] == len(codec.decode(region))
    assert result["bits_per_char"] * result["chars"] == pytest.approx(result["bits_per_byte"] * result["bytes"])
    # A fresh model is near-uniform: about 8 bits per byte.
    assert 7.5 < result["bits_per_byte"] < 8.5
