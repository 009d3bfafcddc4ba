"""The transformers workflows of issue #11, each tested as a user runs it: Auto
loads and saves in a fresh interpreter, ``pipeline``, ``Trainer`` with the
recommended collator, transformers' collators, streamers, ``datasets.map``,
chat templates, and the tokenizer's padding, truncation and masks."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from bygpt_codec import Codec  # noqa: E402
from bygpt_codec.constants import PAD_ID  # noqa: E402
from bygpt_codec.hf import REMOTE_CODE, ByGPTTokenizer, DataCollatorForByteLM  # noqa: E402

from .harness import run_python  # noqa: E402

SCHEMES = ["jpblock", "utf8"]
LINES = ["吾輩は猫である。名前はまだ無い。", "どこで生れたか\nとんと見当がつかぬ。", "Hello, world!", "あ"]
# Newlines in every position of a block, special tokens after newlines, a supplementary character.
STREAM_TEXT = "はい\n吾輩は猫である。\n<|eos|>名前は\nまだ無い。<|bos|>\n\nabc\n😀x\nabcd\n<|mask|>ア\n"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from bygpt_model.make_tiny import make_tiny

    directory = tmp_path_factory.mktemp("bygpt-tiny")
    make_tiny(str(directory))
    return directory


def blocks_of(row) -> np.ndarray:
    return np.asarray(row).reshape(-1, 4)


# -- 1, 3, 11: Auto loads, saves and the pipeline, in a fresh interpreter ------------


def test_auto_load_then_save_then_pipeline(tiny_dir, tmp_path):
    code = f"""
import json, pathlib
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline
from bygpt_codec.hf import ByGPTTokenizer
src, out = {str(tiny_dir)!r}, pathlib.Path({str(tmp_path)!r})
tok = AutoTokenizer.from_pretrained(src, trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained(src, trust_remote_code=True)   # the earlier load
tok.save_pretrained(out / "tok")                      # 1: used to copy the package and fail on _native
ByGPTTokenizer(scheme="utf8").save_pretrained(out / "fresh")   # 1: and every later save failed
model.save_pretrained(out / "model")                  # 11: used to copy the package's sources
generator = pipeline("text-generation", model=src, trust_remote_code=True)  # 3
result = generator("吾輩は", max_new_tokens=8, do_sample=False)
print(json.dumps({{"can_generate": model.can_generate(), "text": result[0]["generated_text"],
                   "pipe_model": type(generator.model).__name__}}))
"""
    report = json.loads(run_python(code, tmp_path).stdout.strip().splitlines()[-1])
    assert report["can_generate"] and report["pipe_model"] == "ByGPTHFForCausalLM"
    assert report["text"].startswith("吾輩は")
    saved = {d: {p.name for p in (tmp_path / d).iterdir()} for d in ("tok", "fresh", "model")}
    for d in ("tok", "fresh"):
        assert {p for p in saved[d] if p.endswith(".py")} == {"tokenization_bygpt.py"}
        assert (tmp_path / d / "tokenization_bygpt.py").read_text(encoding="utf-8") == REMOTE_CODE
    assert {p for p in saved["model"] if p.endswith(".py")} == {"configuration_bygpt.py", "modeling_bygpt.py"}
    assert "model.safetensors" in saved["model"] and not any(n.startswith(".") for d in saved.values() for n in d)
    # What was saved loads again, with the same weights and tokenizer.
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok", trust_remote_code=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "model", trust_remote_code=True)
    original = transformers.AutoModelForCausalLM.from_pretrained(tiny_dir, trust_remote_code=True)
    assert tok("吾輩は")["input_ids"] == ByGPTTokenizer()("吾輩は")["input_ids"]
    for (name, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_failed_save_leaves_no_half_written_directory(tiny_dir, tmp_path, monkeypatch):
    from bygpt_model.hf import ByGPTHFForCausalLM

    tok = ByGPTTokenizer()
    tok.chat_template = {"default": "{{ 'a' }}", "../../escape": "x"}  # transformers refuses this name mid-save
    with pytest.raises(ValueError):
        tok.save_pretrained(tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    model = ByGPTHFForCausalLM.from_pretrained(tiny_dir)
    model.save_pretrained(tmp_path / "old")
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path / "old")
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


# -- 2, 12: padding, transformers' collators, the recommended collator, Trainer -----


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pad_and_transformers_collators(scheme):
    tok = ByGPTTokenizer(scheme=scheme)
    features = [tok(t) for t in LINES]
    for side in ("left", "right"):
        batch = tok.pad(features, padding_side=side, return_tensors="pt")
        ids, mask = batch["input_ids"], batch["attention_mask"]
        assert ids.shape[1] % 4 == 0 and ids.dtype == torch.int64
        assert tok.batch_decode(ids, skip_special_tokens=True) == LINES
        for row, m, f in zip(ids, mask, features, strict=True):
            assert row[m == 1].tolist() == f["input_ids"] and set(row[m == 0].tolist()) <= {PAD_ID}
    assert tok.pad(features[0])["input_ids"] == features[0]["input_ids"]  # one example: nothing to pad
    padded = tok.pad(features, padding="max_length", max_length=97, pad_to_multiple_of=8)
    assert {len(r) for r in padded["input_ids"]} == {104}  # 97 rounds up to whole blocks, then to 8
    with_padding = transformers.DataCollatorWithPadding(tok)(features)
    assert with_padding["input_ids"].shape == with_padding["attention_mask"].shape
    for_lm = transformers.DataCollatorForLanguageModeling(tok, mlm=False)(features)
    assert torch.equal(for_lm["input_ids"], with_padding["input_ids"])
    assert ((for_lm["labels"] == -100) == (for_lm["input_ids"] == PAD_ID)).all()  # its rule: every 0xFF
    row = tok.encode("吾輩")
    single = tok.prepare_for_model(tok.encode("吾輩", add_special_tokens=False), max_length=16, padding="max_length")
    pad = 16 - len(row)
    assert single["input_ids"] == [PAD_ID] * pad + row and single["attention_mask"] == [0] * pad + [1] * len(row)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_recommended_collator_ignores_only_padding(scheme):
    tok = ByGPTTokenizer(scheme=scheme)
    features = [tok(t) for t in LINES]
    batch = DataCollatorForByteLM(tok, pad_to_multiple_of=16)(features)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.shape[1] % 16 == 0
    assert torch.equal(labels == -100, mask == 0)
    assert torch.equal(labels[mask == 1], ids[mask == 1])
    assert ((labels == PAD_ID) & (mask == 1)).any()  # filler inside text is a target
    # Labels given with the examples (a prompt masked out) are padded with -100.
    prompt = [dict(f, labels=[-100] * 4 + f["input_ids"][4:]) for f in features]
    masked = DataCollatorForByteLM(tok, padding_side="right")(prompt)
    assert (masked["labels"][:, :4] == -100).all() and torch.equal(
        masked["labels"][:, 4:] == -100, masked["attention_mask"][:, 4:] == 0
    )


def test_model_loss_accepts_transformers_labels(tiny_dir):
    from bygpt_model.hf import ByGPTHFForCausalLM

    model = ByGPTHFForCausalLM.from_pretrained(tiny_dir)
    tok = ByGPTTokenizer.from_pretrained(tiny_dir)
    features = [tok(t) for t in LINES]
    for collator in (DataCollatorForByteLM(tok), transformers.DataCollatorForLanguageModeling(tok, mlm=False)):
        batch = collator(features)
        assert torch.isfinite(model(**batch).loss)
    batch = DataCollatorForByteLM(tok)(features)
    labels = batch["labels"].clone()
    labels[:, : labels.shape[1] // 2] = -100  # fewer targets: another loss, still finite
    assert torch.isfinite(model(**dict(batch, labels=labels)).loss)
    assert model(**dict(batch, labels=labels)).loss != model(**batch).loss


def test_wrapper_loss_comes_from_its_logits_in_one_pass(tiny_dir, monkeypatch):
    # Issue #13: the wrapper computes the loss from the logits it already has
    # (one pass of the decoder), and it equals the reference model's loss.
    from bygpt_model.hf import ByGPTHFForCausalLM

    model = ByGPTHFForCausalLM.from_pretrained(tiny_dir)
    tok = ByGPTTokenizer.from_pretrained(tiny_dir)
    batch = DataCollatorForByteLM(tok)([tok(t) for t in LINES])
    inner = model.bygpt
    calls = []
    original = type(inner).forward_blocks
    monkeypatch.setattr(type(inner), "forward_blocks", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    out = model(**batch)
    assert len(calls) == 1
    assert torch.allclose(out.logits, inner(batch["input_ids"], batch["attention_mask"]))
    want = inner.loss(batch["input_ids"], batch["attention_mask"], labels=batch["labels"])
    assert torch.allclose(out.loss, want, atol=1e-6)


@pytest.mark.parametrize("collator", ["recommended", "default"])
def test_trainer_few_steps(tiny_dir, tmp_path, collator):
    pytest.importorskip("accelerate", reason="Trainer needs accelerate: pip install 'transformers[torch]'")
    from bygpt_model.hf import ByGPTHFForCausalLM

    tok = ByGPTTokenizer.from_pretrained(tiny_dir)
    model = ByGPTHFForCausalLM.from_pretrained(tiny_dir)
    start = {k: v.clone() for k, v in model.state_dict().items()}

    class Lines(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            features = tok(LINES[i % len(LINES)])
            return features if collator == "recommended" else dict(features, labels=features["input_ids"])

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=Lines(),
        processing_class=tok,  # the default collator then pads with tok.pad
        data_collator=DataCollatorForByteLM(tok) if collator == "recommended" else None,
    )
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert any(not torch.equal(start[k], v) for k, v in model.state_dict().items())
    trainer.save_model(str(tmp_path / "saved"))
    assert {p.name for p in (tmp_path / "saved").glob("*.py")} == {
        "configuration_bygpt.py",
        "modeling_bygpt.py",
        "tokenization_bygpt.py",
    }
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "saved", trust_remote_code=True)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values(), strict=True))


def test_datasets_map(tmp_path):
    datasets = pytest.importorskip("datasets")
    tok = ByGPTTokenizer()
    assert pickle.loads(pickle.dumps(tok))("吾輩")["input_ids"] == tok("吾輩")["input_ids"]
    ds = datasets.Dataset.from_dict({"text": LINES})
    mapped = ds.map(lambda batch: tok(batch["text"]), batched=True, remove_columns=["text"])
    assert mapped["input_ids"] == [tok(t)["input_ids"] for t in LINES]
    batch = DataCollatorForByteLM(tok)([mapped[i] for i in range(len(mapped))])
    assert tok.batch_decode(batch["input_ids"], skip_special_tokens=True) == LINES


# -- 4: streamers ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("chunk", [4, 1, 3])
def test_streamers_print_the_one_shot_decode(scheme, chunk, capsys):
    tok = ByGPTTokenizer(scheme=scheme)
    ids = tok.encode(STREAM_TEXT, add_special_tokens=False)
    prompt = torch.tensor([tok.encode("プロンプト\n")])
    for skip in (False, True):
        iterator = transformers.TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=skip)
        printer = transformers.TextStreamer(tok, skip_prompt=True, skip_special_tokens=skip)
        for streamer in (iterator, printer):
            streamer.put(prompt)  # generate puts the prompt first, then the new ids
            for k in range(0, len(ids), chunk):
                streamer.put(torch.tensor(ids[k : k + chunk]))
            streamer.end()
        expected = tok.decode(ids, skip_special_tokens=skip)
        assert "".join(iterator) == expected
        assert capsys.readouterr().out == expected + "\n"  # TextStreamer ends with a newline
    assert tok.decode(ids) == STREAM_TEXT


@pytest.mark.parametrize("scheme", SCHEMES)
def test_streamer_through_generate(tmp_path, scheme):
    from bygpt_model.hf import ByGPTHFForCausalLM
    from bygpt_model.make_tiny import make_tiny

    make_tiny(str(tmp_path), scheme=scheme, seed=3)
    model = ByGPTHFForCausalLM.from_pretrained(tmp_path).eval()
    tok = ByGPTTokenizer.from_pretrained(tmp_path)
    batch = tok(["吾輩は猫である。\n"], return_tensors="pt")
    streamer = transformers.TextIteratorStreamer(tok, skip_prompt=True)
    out = model.generate(
        **batch, max_new_tokens=64, do_sample=True, streamer=streamer, generator=torch.Generator().manual_seed(0)
    )
    assert "".join(streamer) == tok.decode(out[0, batch["input_ids"].shape[1] :])


# -- 5, 6, 10: truncation ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_truncation_keeps_special_blocks_and_sides(scheme):
    codec = Codec(scheme=scheme)
    text = "吾輩は猫である。名前はまだ無い。"
    eos = list(codec.special_bytes("<|eos|>"))
    tok = ByGPTTokenizer(scheme=scheme, add_eos_token=True)
    for max_length in (16, 18):  # 18 rounds down to 16
        row = tok(text, truncation=True, max_length=max_length)["input_ids"]
        expected = codec.encode_batch([text], max_length=16, truncation=True, add_special_tokens=True)
        assert row == expected["input_ids"][0].tolist() and row[-4:] == eos and len(row) == 16
    # truncation_side="left", three ways: the last blocks of the text, after <|bos|>.
    left = ByGPTTokenizer(scheme=scheme, truncation_side="left")
    attribute = ByGPTTokenizer(scheme=scheme)
    attribute.truncation_side = "left"
    rows = [
        left(text, truncation=True, max_length=12)["input_ids"],
        attribute(text, truncation=True, max_length=12)["input_ids"],
        ByGPTTokenizer(scheme=scheme)(text, truncation=True, max_length=12, truncation_side="left")["input_ids"],
    ]
    assert rows[0] == rows[1] == rows[2]
    assert rows[0][:4] == list(codec.special_bytes("<|bos|>"))
    assert text.endswith(left.decode(rows[0][4:])) and len(left.decode(rows[0][4:])) >= 2
    right = ByGPTTokenizer(scheme=scheme)(text, truncation=True, max_length=12)["input_ids"]
    assert text.startswith(tok.decode(right[4:]))


def test_model_max_length_and_warning(tiny_dir, caplog):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_dir, trust_remote_code=True)
    assert tok.model_max_length == 1024  # the tiny model's context: 256 blocks
    long = "吾輩は猫である。" * 200
    assert len(tok(long, truncation=True)["input_ids"]) == 1024
    with caplog.at_level("WARNING", logger="transformers"):
        assert len(tok(long)["input_ids"]) > 1024
    assert any("longer than the specified maximum sequence length" in r.message for r in caplog.records)


# -- 7, 8, 9: virtual ids, added tokens, masks -----------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_virtual_special_ids_start_a_block(scheme):
    tok = ByGPTTokenizer(scheme=scheme)
    a = list(Codec(scheme=scheme).encode("あ"))
    assert tok.decode([0x82, tok.eos_token_id]) == ("あ<|eos|>" if scheme == "jpblock" else "\ufffd<|eos|>")
    for n in range(1, len(a) + 1):  # a virtual id after any part of a block appends its name
        assert tok.decode(a[:n] + [tok.eos_token_id]) == tok.decode(a[:n]) + "<|eos|>"
    assert tok.decode([tok.bos_token_id, *a, tok.mask_token_id, *a]) == "<|bos|>あ<|mask|>あ"
    assert tok.decode([tok.bos_token_id, *a[:1], tok.eos_token_id], skip_special_tokens=True) == tok.decode(a[:1])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_added_special_tokens_are_blocks(scheme, tmp_path):
    tok = ByGPTTokenizer(scheme=scheme)
    size = len(tok)
    assert tok.add_tokens(["<|user|>"], special_tokens=True) == 1
    assert tok.add_special_tokens({"extra_special_tokens": ["<|assistant|>"]}, replace_extra_special_tokens=False) == 1
    assert len(tok) == size + 2 and tok.convert_tokens_to_ids("<|user|>") == size
    ids = tok("<|user|>こんにちは<|assistant|>", add_special_tokens=False)["input_ids"]
    user = list(tok.codec.special_bytes("<|user|>"))
    assert ids[:4] == user and user[0] == 0xFE and len(ids) % 4 == 0
    assert (
        tok.decode(ids) == "<|user|>こんにちは<|assistant|>"
        and tok.decode(ids, skip_special_tokens=True) == "こんにちは"
    )
    assert tok.decode([tok.convert_tokens_to_ids("<|user|>")]) == "<|user|>"
    assert tok.tokenize("<|user|>a") == ["<|user|>", "<0x61>", "<0xFF>", "<0xFF>", "<0xFF>"]
    tok.chat_template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    chat = tok.apply_chat_template([{"role": "user", "content": "やあ"}], tokenize=True, return_dict=False)
    assert chat[:4] == user
    tok.save_pretrained(tmp_path)
    again = ByGPTTokenizer.from_pretrained(tmp_path)
    assert len(again) == len(tok) and again("<|user|>やあ")["input_ids"] == tok("<|user|>やあ")["input_ids"]
    assert again.codec.special_tokens == tok.codec.special_tokens
    with pytest.raises(ValueError, match="filler"):
        ByGPTTokenizer(pad_token="[PAD]")
    with pytest.raises(ValueError, match="filler"):
        tok.pad_token = tok.eos_token


@pytest.mark.parametrize("scheme", SCHEMES)
def test_special_tokens_masks(scheme):
    tok = ByGPTTokenizer(scheme=scheme, add_eos_token=True)
    texts = ["あ", "<|mask|>吾輩は猫である。"]
    for side in ("left", "right"):
        out = tok(texts, padding=True, padding_side=side, return_special_tokens_mask=True)
        for ids, mask, special in zip(out["input_ids"], out["attention_mask"], out["special_tokens_mask"], strict=True):
            blocks, marks = blocks_of(ids), blocks_of(special)
            expected = (blocks[:, 0] == 0xFE) | (blocks_of(mask) == 0).all(axis=1)  # special blocks and padding
            assert (marks.all(axis=1) == expected).all() and (marks.any(axis=1) == expected).all()
            assert tok.get_special_tokens_mask(ids, already_has_special_tokens=True) == list(special)
    row = tok("あ")["input_ids"]  # <|bos|> あ+filler <|eos|>
    assert PAD_ID in row[4:8] and tok.get_special_tokens_mask(row, already_has_special_tokens=True)[4:8] == [0] * 4
    assert tok.get_special_tokens_mask(tok.encode("あ", add_special_tokens=False)) == [1] * 4 + [0] * 4 + [1] * 4


def test_codec_and_collator_import_neither_torch_nor_transformers(tmp_path):
    code = "import sys, bygpt_codec, bygpt_codec.collator; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    assert run_python(code, tmp_path).stdout.strip() == "[]"
