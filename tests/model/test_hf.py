"""transformers integration: the tokenizer, the model wrapper, and the model
card's script run as the card runs it (Auto classes with remote code, no
network). The transformers workflows are in tests/transformers/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from bygpt_codec.hf import ByGPTTokenizer  # noqa: E402

from ..transformers.harness import ROOT, run_python  # noqa: E402

CARD_TEXTS = [
    "日本三景一覧:\n1. 広島県, 宮島\n2. 京都府, 天橋立\n3. 宮城県, ",
    "原文: I like to play soccer. 訳文: 私はサッカーをするのが好きです。",
]


@pytest.fixture(scope="module")
def tokenizer() -> ByGPTTokenizer:
    return ByGPTTokenizer()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from bygpt_model.make_tiny import make_tiny

    directory = tmp_path_factory.mktemp("bygpt-tiny")
    make_tiny(str(directory))
    return directory


def test_tokenizer_card_behaviours(tokenizer):
    assert tokenizer.bos_token == "<|bos|>" and tokenizer.eos_token == "<|eos|>"
    assert tokenizer.pad_token_id == 255
    assert tokenizer.encode("\n", add_special_tokens=False) == [10, 255, 255, 255]
    texts = [f"{tokenizer.bos_token}{t}" for t in CARD_TEXTS]
    batch = tokenizer(texts, return_tensors="pt", padding="longest", add_special_tokens=False)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.dtype == torch.int64 and ids.shape == mask.shape and ids.shape[1] % 4 == 0
    for row, m, text in zip(ids, mask, texts, strict=True):
        own = bytes(row[m == 1].tolist())
        # The special-token string was parsed into its block (transformers' default).
        assert own[:4] == b"\xfe\x00\x00\x01"
        assert own == tokenizer.codec.encode(text, parse_special=True)
        assert set(row[m == 0].tolist()) <= {255}
        pad = int((m == 0).sum())
        assert pad % 4 == 0 and m[:pad].sum() == 0  # left padding in whole blocks
    assert tokenizer.batch_decode(ids, skip_special_tokens=False) == texts
    assert tokenizer.batch_decode(ids, skip_special_tokens=True) == CARD_TEXTS


def test_tokenizer_special_forms(tokenizer):
    assert tokenizer.eos_token_bytes == [0xFE, 0, 0, 2] and tokenizer.bos_token_bytes == [0xFE, 0, 0, 1]
    # Virtual ids stand for their blocks wherever ids go back in.
    assert tokenizer.decode([tokenizer.bos_token_id, 0x82]) == "<|bos|>あ"
    assert tokenizer("あ")["input_ids"] == [0xFE, 0, 0, 1, 0x82, 255, 255, 255]  # add_special_tokens adds <|bos|>
    assert tokenizer.convert_tokens_to_ids(tokenizer.tokenize("漢字")) == tokenizer.encode(
        "漢字", add_special_tokens=False
    )
    right = tokenizer(["あ", "あいうえおか"], padding="longest", padding_side="right", add_special_tokens=False)
    assert right["input_ids"][0][-1] == 255 and right["attention_mask"][0][-1] == 0
    cut = tokenizer(["あいうえおかきくけこ"], truncation=True, max_length=6, add_special_tokens=False)
    assert cut["input_ids"][0] == list(tokenizer.codec.encode("あいうえ"))
    utf8 = ByGPTTokenizer(scheme="utf8")
    cut = utf8(["あいうえ"], truncation=True, max_length=8, add_special_tokens=False)
    assert utf8.decode(cut["input_ids"][0]) == "あい"  # cut on a character boundary, not inside え
    with pytest.raises(ValueError):
        tokenizer("a", "b")


def test_tokenizer_save_and_load_round_trip(tmp_path):
    tok = ByGPTTokenizer(scheme="utf8", add_eos_token=True)
    tok.save_pretrained(tmp_path)
    loaded = ByGPTTokenizer.from_pretrained(tmp_path)
    assert loaded.scheme == "utf8" and loaded.add_eos_token
    assert loaded("日本")["input_ids"] == tok("日本")["input_ids"]
    assert (tmp_path / "tokenization_bygpt.py").exists()


def test_model_wrapper_matches_reference_model(tiny_dir):
    from bygpt_model.hf import ByGPTHFForCausalLM

    model = ByGPTHFForCausalLM.from_pretrained(tiny_dir).eval()
    tok = ByGPTTokenizer.from_pretrained(tiny_dir)
    batch = tok(CARD_TEXTS, return_tensors="pt", padding="longest")
    out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape == (2, batch["input_ids"].shape[1] // 4, 4, 256)
    assert torch.isfinite(out.loss)
    reference = model.bygpt.generate(batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=16)
    card = model.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        eos_token_id=[tok.encode("\n", add_special_tokens=False)],
        pad_token_id=tok.pad_token_id,
        max_new_tokens=16,
        do_sample=False,
    )
    assert card.shape[1] <= reference.shape[1]
    assert torch.equal(card, reference[:, : card.shape[1]])
    # The tokenizer's virtual <|eos|> id works as a stop token too.
    model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], eos_token_id=tok.eos_token_id)
    with pytest.raises(ValueError, match="num_beams"):
        model.generate(input_ids=batch["input_ids"], num_beams=4)


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_damaged_weight_file_is_named(tiny_dir, tmp_path, damage):
    import shutil

    from bygpt_model.hf import ByGPTHFForCausalLM

    directory = tmp_path / "damaged"
    shutil.copytree(tiny_dir, directory)
    weights = directory / "model.safetensors"
    if damage == "missing":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    else:
        weights.write_bytes(b"\x00" * 64)
    with pytest.raises(OSError, match="model.safetensors"):
        ByGPTHFForCausalLM.from_pretrained(directory)


def test_model_card_example_runs_on_cpu(tiny_dir, tmp_path):
    # The card's own command line (short options, allow_abbrev=False).
    card = str(ROOT / "examples" / "model_card.py")
    result = run_python("", tmp_path, card, "-m", str(tiny_dir), "-n", "16", "-s", "1")
    blocks = result.stdout.split("===\n")[1:]
    assert len(blocks) == 2
    assert blocks[0].startswith("Decoded: <|bos|>日本三景一覧:") and blocks[1].startswith("Decoded: <|bos|>原文:")


def test_make_tiny_command(tmp_path):
    run_python("", tmp_path, "-m", "bygpt_model.make_tiny", str(tmp_path / "t"), "--scheme", "utf8")
    names = {p.name for p in (tmp_path / "t").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "tokenization_bygpt.py"} <= names
    config = json.loads((tmp_path / "t" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["scheme"] == "utf8" and config["model_max_length"] == 1024  # the tiny model's context
