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


# -- the loss: labels, -100, and the unpadded fast path ------------------------


def _manual_loss(model, ids, labels):
    logits = model(ids)[:, :-1]
    target = labels.view(ids.shape[0], -1, 4)[:, 1:]
    keep = target != -100
    ce = torch.nn.functional.cross_entropy(logits[keep].float(), target[keep])
    return ce


def test_loss_ignores_label_minus_100(tiny_model):
    ids = torch.cat(_rows(5, [6, 6])).view(2, -1)
    labels = ids.clone()
    labels[0, 8:13] = -100
    labels[1, -4:] = -100
    want = _manual_loss(tiny_model, ids, labels)
    torch.testing.assert_close(tiny_model.loss(ids, labels=labels), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(tiny_model.loss(ids, labels=labels, has_padding=False), want, rtol=1e-5, atol=1e-6)
    # All ignored: zero, not NaN.
    assert tiny_model.loss(ids, labels=torch.full_like(ids, -100)).item() == 0.0
    # The older call, labels (with -100 over padding) as the inputs: -100 is
    # read as a pad byte and is not a target.
    rows = _rows(6, [3, 7])
    padded, mask = _pad(rows, "left")
    hf_labels = padded.masked_fill(mask == 0, -100)
    torch.testing.assert_close(tiny_model.loss(hf_labels, mask), tiny_model.loss(padded, mask), rtol=1e-6, atol=1e-7)


def test_causal_lm_loss_from_existing_logits(tiny_model):
    from bygpt_model.modeling import causal_lm_loss

    rows = _rows(7, [4, 9])
    ids, mask = _pad(rows, "right")
    logits = tiny_model(ids, attention_mask=mask)
    block_mask = mask.view(2, -1, 4)[..., 0].bool()
    torch.testing.assert_close(
        causal_lm_loss(logits, ids, block_mask), tiny_model.loss(ids, mask), rtol=1e-6, atol=1e-7
    )
    labels = ids.masked_fill(mask == 0, -100)
    torch.testing.assert_close(causal_lm_loss(logits, labels), tiny_model.loss(ids, mask), rtol=1e-6, atol=1e-7)


def test_unpadded_windows_use_causal_attention_without_host_reads(tiny_model, monkeypatch):
    """has_padding=False: no [B, 1, N, N] mask (SDPA's is_causal instead),
    and with uint8 ids no tensor is read on the host."""
    import torch.nn.functional as F

    ids = torch.cat(_rows(8, [9, 9])).view(2, -1)
    want = tiny_model.loss(ids)
    calls = []
    original = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, is_causal=False, **kwargs):
        calls.append((attn_mask is None, is_causal))
        return original(q, k, v, attn_mask=attn_mask, is_causal=is_causal, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("host read in the training forward")

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    for name in ("item", "tolist", "numpy", "__bool__", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    got = tiny_model.loss(ids.to(torch.uint8), has_padding=False)
    monkeypatch.undo()
    assert calls == [(True, True)] * tiny_model.config.num_hidden_layers
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


# -- chained heads ---------------------------------------------------------------


@pytest.fixture()
def chained_model():
    torch.manual_seed(4321)
    return ByGPTForCausalLM(ByGPTConfig.preset("tiny", heads="chained")).eval()


def test_chained_heads_see_only_earlier_bytes_of_their_block(chained_model, tiny_model):
    ids = torch.cat(_rows(9, [5])).view(1, -1)
    base = chained_model(ids)
    for j in range(4):
        changed = ids.clone()
        changed[0, 8 + j] = (changed[0, 8 + j] + 1) % 255  # byte j of block 2
        logits = chained_model(changed)
        # Position 1 predicts block 2: heads k > j see byte j, the others not.
        for k in range(4):
            same = torch.equal(logits[0, 1, k], base[0, 1, k])
            assert same == (k <= j), (j, k)
    # Independent heads never look at the predicted block.
    changed = ids.clone()
    changed[0, 8] += 1
    assert torch.equal(tiny_model(changed)[0, 1], tiny_model(ids)[0, 1])


def test_chained_heads_train_and_generate(chained_model):
    from bygpt_model import expected_parameters

    assert chained_model.num_parameters() == expected_parameters(chained_model.config)
    ids = torch.cat(_rows(10, [6, 6])).view(2, -1)
    chained_model.train()
    loss = chained_model.loss(ids)
    loss.backward()
    assert all(p.grad is not None for p in chained_model.parameters())
    chained_model.eval()
    for kw in (dict(), dict(do_sample=True)):
        a = chained_model.generate(ids, max_new_tokens=32, generator=torch.Generator().manual_seed(0), **kw)
        b = chained_model.generate(
            ids, max_new_tokens=32, generator=torch.Generator().manual_seed(0), use_cache=False, **kw
        )
        assert torch.equal(a, b), kw


def test_card_layout_and_old_checkpoints_load(tiny_model, chained_model, tmp_path):
    """Independent heads keep the card's weights (no extra tensors), and a
    config.json written before `heads`/`scheme` existed still loads."""
    import json

    names = set(tiny_model.state_dict())
    assert not any(n.startswith("chain.") for n in names)
    assert {n for n in chained_model.state_dict() if n.startswith("chain.")}
    tiny_model.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("heads", "scheme"):
        config.pop(key)
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded = ByGPTForCausalLM.from_pretrained(tmp_path / "old")
    assert loaded.config.heads == "independent" and loaded.config.scheme == "jpblock"
    chained_model.save_pretrained(tmp_path / "chained")
    again = ByGPTForCausalLM.from_pretrained(tmp_path / "chained").eval()
    ids = torch.cat(_rows(11, [4])).view(1, -1)
    assert again.config.heads == "chained"
    assert torch.equal(again(ids), chained_model(ids))
