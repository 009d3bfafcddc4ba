"""Forward pass, loss, masking and safetensors round trips."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from bygpt_model import ByGPTConfig, ByGPTForCausalLM  # noqa: E402

PAD = 255


def _rows(seed: int, lengths: list[int]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # 0..254: no accidental all-pad blocks inside a row.
    return [torch.randint(0, 255, (4 * n,), generator=g) for n in lengths]


def _pad(rows: list[torch.Tensor], side: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(width - len(r), width) if side == "left" else slice(0, len(r))
        ids[i, sl], mask[i, sl] = r, 1
    return ids, mask


def test_forward_shape_and_initial_loss(tiny_model):
    ids = torch.cat(_rows(0, [6, 6])).view(2, -1)
    logits = tiny_model(ids)
    assert logits.shape == (2, 6, 4, 256)
    # A fresh model is close to uniform over 256 byte values.
    assert abs(tiny_model.loss(ids).item() - math.log(256)) < 0.1


@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_rows_match_rows_alone(tiny_model, side):
    rows = _rows(1, [3, 7, 5])
    ids, mask = _pad(rows, side)
    logits = tiny_model(ids, attention_mask=mask)
    for i, r in enumerate(rows):
        alone = tiny_model(r[None])[0]
        n = len(r) // 4
        got = logits[i, -n:] if side == "left" else logits[i, :n]
        torch.testing.assert_close(got, alone, rtol=1e-5, atol=1e-5)
    # Without a mask, all-pad blocks are taken as padding.
    torch.testing.assert_close(tiny_model(ids), logits)


def test_loss_ignores_pad_blocks(tiny_model):
    rows = _rows(2, [4, 9])
    ids, mask = _pad(rows, "right")
    alone = [tiny_model.loss(r[None]) for r in rows]
    # Mean over all real predictions: 3 from row 0, 8 from row 1.
    expected = (alone[0] * 3 + alone[1] * 8) / 11
    torch.testing.assert_close(tiny_model.loss(ids, mask), expected, rtol=1e-5, atol=1e-6)
    left_ids, left_mask = _pad(rows, "left")
    torch.testing.assert_close(tiny_model.loss(left_ids, left_mask), expected, rtol=1e-5, atol=1e-6)


def test_loss_backpropagates(tiny_model):
    ids = torch.cat(_rows(3, [5, 5])).view(2, -1)
    tiny_model.loss(ids).backward()
    assert all(p.grad is not None for p in tiny_model.parameters())


@pytest.mark.parametrize(
    "ids, message",
    [
        (torch.zeros(1, 6, dtype=torch.long), "multiple of 4"),
        (torch.full((1, 8), 256), "0..255"),
        (torch.full((1, 8), -1), "0..255"),
        (torch.zeros(8, dtype=torch.long), r"\[batch, bytes\]"),
    ],
)
def test_forward_rejects_bad_input(tiny_model, ids, message):
    with pytest.raises(ValueError, match=message):
        tiny_model(ids)


def test_safetensors_round_trip(tiny_model, tmp_path):
    ids = torch.cat(_rows(4, [5])).view(1, -1)
    weights = tiny_model.save_pretrained(tmp_path / "ckpt")
    assert weights.name == "model.safetensors" and (tmp_path / "ckpt" / "config.json").exists()
    loaded = ByGPTForCausalLM.from_pretrained(tmp_path / "ckpt").eval()
    assert loaded.config == tiny_model.config
    want, got = tiny_model.state_dict(), loaded.state_dict()
    assert list(want) == list(got)
    assert all(torch.equal(want[name], got[name]) for name in want)
    assert torch.equal(loaded(ids), tiny_model(ids))
    # A lone weights file carries its config as metadata.
    single = ByGPTForCausalLM.from_pretrained(weights)
    assert torch.equal(single(ids), tiny_model(ids))
    assert torch.equal(single.generate(ids, max_new_tokens=16), tiny_model.generate(ids, max_new_tokens=16))


def test_from_pretrained_with_dtype(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    half = ByGPTForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16
    assert half(torch.zeros(1, 8, dtype=torch.long)).dtype == torch.bfloat16


def test_model_is_plain_module():
    model = ByGPTForCausalLM(ByGPTConfig.preset("tiny"))
    assert isinstance(model, torch.nn.Module)
    names = dict(model.named_parameters())
    assert {f"lm_heads.{k}.weight" for k in range(4)} <= set(names)
    assert names["model.embed.byte_embed.weight"].shape == (4 * 256, 16)
