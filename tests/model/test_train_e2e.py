"""End to end: train the tiny model on Japanese text with the codec's
batches, then generate and decode. About 10-20 s on two CPU cores."""

from __future__ import annotations

import math
import random

import pytest

torch = pytest.importorskip("torch")

from bygpt_model import ByGPTConfig, ByGPTForCausalLM, ByteStreamer  # noqa: E402

STEPS = 300
BATCH = 16
MAX_BYTES = 256


def _sample_texts(lines: list[str], rng: random.Random, n: int) -> list[str]:
    """Runs of consecutive lines, each ending in a newline, long enough to
    fill MAX_BYTES after encoding (truncation cuts them)."""
    texts = []
    for _ in range(n):
        i = rng.randrange(len(lines))
        text = ""
        while len(text) < MAX_BYTES // 2:
            text += lines[i % len(lines)] + "\n"
            i += 1
        texts.append(text)
    return texts


@pytest.fixture(scope="module")
def trained(ja_lines, codec):
    torch.manual_seed(0)
    rng = random.Random(0)
    model = ByGPTForCausalLM(ByGPTConfig.preset("tiny"))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=STEPS, pct_start=0.1)
    losses = []
    for _ in range(STEPS):
        batch = codec.encode_batch(
            _sample_texts(ja_lines, rng, BATCH),
            max_length=MAX_BYTES,
            truncation=True,
            return_tensors="pt",
        )
        loss = model.loss(batch["input_ids"], batch["attention_mask"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return model.eval(), losses


def test_loss_falls_well_below_its_start(trained):
    _, losses = trained
    start = losses[0]
    end = sum(losses[-20:]) / 20
    assert abs(start - math.log(256)) < 0.2
    # Per-byte cross-entropy: jpblock bytes are dense, so ~3.4 nats after
    # 300 steps of a 178k-parameter model (from ln 256 = 5.55).
    assert end < start - 1.5 and end < 0.7 * start, (start, end)


def test_generates_decodable_japanese(trained, codec):
    model, _ = trained
    prompts = ["このプログラムは", "ファイルを", "すべての"]
    batch = codec.encode_batch(prompts, padding_side="left", return_tensors="pt")
    newline = codec.encode("\n")
    streamer = ByteStreamer(codec)
    out = model.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        eos_token_id=[list(newline)],
        pad_token_id=255,
        max_new_tokens=160,
        do_sample=False,
        streamer=streamer,
    )
    texts = codec.decode_batch(out, errors="replace")
    width = batch["input_ids"].shape[1]
    for i, (prompt, text) in enumerate(zip(prompts, texts, strict=True)):
        assert text.startswith(prompt)
        generated = text[len(prompt) :]
        assert generated and generated == streamer.texts[i]
        # A stopped row ends with the newline (plus at most the rest of its
        # block); otherwise it ran the full 160 bytes.
        if "\n" in generated:
            assert generated.index("\n") >= len(generated) - 4
        else:
            assert out.shape[1] == width + 160
        # The model learned the script: most of the text is kana or kanji.
        ja = sum("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in generated)
        assert ja >= len(generated) // 2, generated
    # Each prompt alone gives the same bytes as in the batch, and the cache
    # changes nothing (on a trained, peaked model too).
    for i, prompt in enumerate(prompts):
        alone = torch.tensor(list(codec.encode(prompt)))[None]
        kwargs = dict(eos_token_id=newline, max_new_tokens=160)
        want = model.generate(alone, **kwargs)
        assert torch.equal(model.generate(alone, use_cache=False, **kwargs), want)
        row = out[i, width - alone.shape[1] :]
        assert torch.equal(row[: want.shape[1]], want[0])
        assert set(row[want.shape[1] :].tolist()) <= {255}


def test_sampling_decodes_with_replace(trained, codec):
    model, _ = trained
    ids = torch.tensor(list(codec.encode("すべての")))[None]
    g = torch.Generator().manual_seed(0)
    out = model.generate(ids, do_sample=True, temperature=0.8, top_p=0.95, generator=g, max_new_tokens=80)
    text = codec.decode(bytes(out[0].tolist()), errors="replace")
    assert text.startswith("すべての") and len(text) > len("すべての")
