"""End to end: train the tiny model on Japanese text with the training entry
point (a shard packed from the test corpus), then generate and decode.
About 10-20 s on two CPU cores."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from bygpt_model import ByGPTForCausalLM, ByteStreamer  # noqa: E402
from bygpt_model.train import TrainArgs, train  # noqa: E402

from .test_train import pack_sample  # noqa: E402

STEPS = 300
BATCH = 16
WINDOW = 256


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("e2e")
    shard = pack_sample(directory)
    args = TrainArgs(
        data=shard, out=str(directory / "run"), steps=STEPS, batch_size=BATCH, window=WINDOW,
        lr=3e-3, warmup=0.1, weight_decay=0.0, log_every=1, eval_windows=16, progress=False,
    )  # fmt: skip
    metrics = train(args)
    model = ByGPTForCausalLM.from_pretrained(directory / "run").eval()
    return model, [loss for _, loss in metrics["history"]["loss"]], metrics


def test_loss_falls_well_below_its_start(trained):
    _, losses, metrics = trained
    start = losses[0]
    end = sum(losses[-20:]) / 20
    assert abs(start - math.log(256)) < 0.2
    # Per-byte cross-entropy: jpblock bytes are dense, so ~3.4 nats after
    # 300 steps of a 178k-parameter model (from ln 256 = 5.55).
    assert end < start - 1.5 and end < 0.7 * start, (start, end)
    # Held-out text (the sample's last windows): well under 8 bits per byte.
    assert metrics["eval"]["bits_per_byte"] < 6.0
    assert metrics["eval"]["bits_per_char"] > metrics["eval"]["bits_per_byte"]


def test_generates_decodable_japanese(trained, codec):
    model, _, _ = trained
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
    texts = codec.decode_batch(out, errors="strict")  # valid-only decoding
    width = batch["input_ids"].shape[1]
    ja = total = 0
    for i, (prompt, text) in enumerate(zip(prompts, texts, strict=True)):
        assert text.startswith(prompt)
        generated = text[len(prompt) :]
        assert generated and generated == streamer.texts[i]
        # A stopped row ends exactly with the newline (the rest of its block
        # is filler); otherwise it ran the full 160 bytes.
        if "\n" in generated:
            assert generated.index("\n") == len(generated) - 1
        else:
            assert out.shape[1] == width + 160
        ja += sum("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in generated)
        total += len(generated)
    # The model learned the script: most of the text is kana or kanji.
    assert ja >= total // 2, texts
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


def test_sampling_decodes_strictly(trained, codec):
    model, _, _ = trained
    ids = torch.tensor(list(codec.encode("すべての")))[None]
    g = torch.Generator().manual_seed(0)
    out = model.generate(ids, do_sample=True, temperature=0.8, top_p=0.95, generator=g, max_new_tokens=80)
    text = codec.decode(bytes(out[0].tolist()))  # valid-only decoding: strict decoding works
    assert text.startswith("すべての") and len(text) > len("すべての")
