"""The generate loop: cache exactness, batching, stop sequences, sampling,
input checks and streaming. Runs on the CPU in float32."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from bygpt_model import ByGPTConfig, ByGPTForCausalLM, ByteStreamer  # noqa: E402
from bygpt_model.stopping import StopMatcher, normalize_stop_sequences  # noqa: E402

PAD = 255


def _prompt(seed: int, blocks: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 255, (4 * blocks,), generator=g)


def _left_pad(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :], mask[i, width - len(r) :] = r, 1
    return ids, mask


def _strip(data: list[int]) -> bytes:
    return bytes(b for b in data if b != 0xFF)


# -- cache exactness and batching ------------------------------------------


@pytest.mark.parametrize("blocks", [1, 3, 10])
def test_cached_greedy_equals_recompute(tiny_model, blocks):
    ids = _prompt(blocks, blocks)[None]
    cached = tiny_model.generate(ids, max_new_tokens=96)
    recomputed = tiny_model.generate(ids, max_new_tokens=96, use_cache=False)
    assert cached.shape == (1, 4 * blocks + 96)
    assert torch.equal(cached, recomputed)
    assert torch.equal(cached[:, : 4 * blocks], ids)


def test_batch_of_different_lengths_equals_each_row_alone(tiny_model):
    rows = [_prompt(10 + i, n) for i, n in enumerate([2, 7, 4, 1])]
    ids, mask = _left_pad(rows)
    batch = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=64)
    batch_nocache = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=64, use_cache=False)
    assert torch.equal(batch, batch_nocache)
    # Without a mask the leading all-pad blocks are taken as padding.
    assert torch.equal(tiny_model.generate(ids, max_new_tokens=64), batch)
    width = ids.shape[1]
    for i, r in enumerate(rows):
        alone = tiny_model.generate(r[None], max_new_tokens=64)
        assert torch.equal(batch[i, width - len(r) :], alone[0])
        assert torch.equal(batch[i, : width - len(r)], torch.full((width - len(r),), PAD))


def test_max_new_tokens_counts_bytes_rounded_up_to_blocks(tiny_model):
    ids = _prompt(0, 2)[None]
    assert tiny_model.generate(ids, max_new_tokens=5).shape == (1, 8 + 8)
    assert tiny_model.generate(ids, max_new_tokens=4).shape == (1, 8 + 4)
    assert torch.equal(tiny_model.generate(ids, max_new_tokens=0), ids)


def test_generation_stops_at_the_context(tiny_model):
    ctx = tiny_model.config.max_position_embeddings
    ids = _prompt(0, ctx - 3)[None]
    out = tiny_model.generate(ids, max_new_tokens=100)
    assert out.shape == (1, 4 * ctx)


# -- stop sequences ----------------------------------------------------------


def _free_run(model, ids, n=96):
    out = model.generate(ids, max_new_tokens=n)
    return out[0, ids.shape[1] :].tolist()


def _expected_stop_block(generated: list[int], stop: bytes) -> int:
    """Index of the block in which ``stop`` first completes (filler-free)."""
    stream, owner = [], []
    for i, b in enumerate(generated):
        if b != 0xFF:
            stream.append(b)
            owner.append(i // 4)
    end = bytes(stream).find(stop) + len(stop) - 1
    return owner[end]


@pytest.mark.parametrize("offset", [1, 2, 3])
def test_stop_sequence_split_across_blocks(tiny_model, offset):
    ids = _prompt(5, 3)[None]
    generated = _free_run(tiny_model, ids)
    # Two bytes straddling the boundary between generated blocks 5 and 6.
    start = 5 * 4 + 4 - offset
    stop = bytes(generated[start : start + 2])
    if 0xFF in stop:
        pytest.skip("random model emitted filler at the chosen spot")
    stop_block = _expected_stop_block(generated, stop)
    assert stop_block <= 6
    out = tiny_model.generate(ids, max_new_tokens=96, eos_token_id=stop)
    # Keeps the block that completes the stop, then ends (the only row).
    assert out.shape[1] == ids.shape[1] + 4 * (stop_block + 1)
    assert out[0, ids.shape[1] :].tolist() == generated[: 4 * (stop_block + 1)]
    assert stop in _strip(out[0, ids.shape[1] :].tolist())


def test_stop_within_one_block_and_formats(tiny_model):
    ids = _prompt(6, 2)[None]
    generated = _free_run(tiny_model, ids)
    stop = bytes(b for b in generated[12:16] if b != 0xFF)[:1]
    block = _expected_stop_block(generated, stop)
    want = ids.shape[1] + 4 * (block + 1)
    for eos in (
        stop,
        list(stop),
        [list(stop)],
        [list(stop) + [0xFF, 0xFF, 0xFF]],  # filler from codec.encode is stripped
        torch.tensor(list(stop)),
        [b"\x00\x01\x02\x03\x04", stop],  # any of several sequences
    ):
        out = tiny_model.generate(ids, max_new_tokens=96, eos_token_id=eos)
        assert out.shape[1] == want, eos


def test_finished_rows_are_padded_while_others_continue(tiny_model):
    rows = [_prompt(20, 2), _prompt(21, 3)]
    ids, mask = _left_pad(rows)
    free = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=64)
    width = ids.shape[1]
    gen0 = free[0, width:].tolist()
    stop = bytes(b for b in gen0[8:12] if b != 0xFF)[:2]
    block0 = _expected_stop_block(gen0, stop)
    gen1 = free[1, width:].tolist()
    if stop in _strip(gen1):
        pytest.skip("stop sequence also occurs in the other row")
    out = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=64, eos_token_id=stop)
    assert out.shape == free.shape  # row 1 never stops
    assert out[0, width:].tolist()[: 4 * (block0 + 1)] == gen0[: 4 * (block0 + 1)]
    assert set(out[0, width + 4 * (block0 + 1) :].tolist()) == {PAD}
    assert torch.equal(out[1], free[1])


def test_stop_matcher_ignores_filler_and_prompt():
    matcher = StopMatcher([b"\n\n"], 2, 4, torch.device("cpu"))
    hits = [
        matcher.update(torch.tensor([[0x0A, 0xFF, 0xFF, 0xFF], [0x41, 0x0A, 0xFF, 0xFF]])),
        matcher.update(torch.tensor([[0x0A, 0x41, 0x42, 0x43], [0x42, 0x0A, 0x0A, 0xFF]])),
    ]
    assert hits[0].tolist() == [False, False]
    assert hits[1].tolist() == [True, True]
    # A long run of filler does not push earlier bytes out of the tail.
    matcher = StopMatcher([b"ab"], 1, 4, torch.device("cpu"))
    assert not matcher.update(torch.tensor([[0x61, 0xFF, 0xFF, 0xFF]])).item()
    assert not matcher.update(torch.tensor([[0xFF, 0xFF, 0xFF, 0xFF]])).item()
    assert matcher.update(torch.tensor([[0x62, 0xFF, 0xFF, 0xFF]])).item()


def test_normalize_stop_sequences():
    assert normalize_stop_sequences(None) == []
    assert normalize_stop_sequences(10) == [b"\n"]
    assert normalize_stop_sequences(b"\n\xff\xff\xff") == [b"\n"]
    assert normalize_stop_sequences([10, 255, 255, 255]) == [b"\n"]
    assert normalize_stop_sequences([[10, 255], b"\xfe\x00\x00\x02"]) == [b"\n", b"\xfe\x00\x00\x02"]
    assert normalize_stop_sequences(torch.tensor([[10, 255], [13, 10]])) == [b"\n", b"\r\n"]
    with pytest.raises(ValueError, match="empty"):
        normalize_stop_sequences([[255, 255]])
    with pytest.raises(ValueError, match="0..255"):
        normalize_stop_sequences([300])
    with pytest.raises(ValueError):
        normalize_stop_sequences("\n")


# -- sampling ------------------------------------------------------------------


def test_seeded_sampling_is_reproducible(tiny_model):
    ids, mask = _left_pad([_prompt(30, 2), _prompt(31, 4)])

    def run(seed, **kw):
        g = torch.Generator().manual_seed(seed)
        return tiny_model.generate(ids, attention_mask=mask, max_new_tokens=48, do_sample=True, generator=g, **kw)

    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))
    kw = dict(temperature=0.7, top_k=50, top_p=0.9)
    assert torch.equal(run(3, **kw), run(3, **kw))
    # top_k=1 is greedy.
    greedy = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=48)
    assert torch.equal(run(3, top_k=1), greedy)
    # A tiny top_p keeps only the most likely byte: greedy again.
    assert torch.equal(run(4, top_p=1e-6), greedy)


def test_sampling_with_cache_equals_recompute(tiny_model):
    ids = _prompt(40, 3)[None]
    a = tiny_model.generate(ids, max_new_tokens=48, do_sample=True, generator=torch.Generator().manual_seed(1))
    b = tiny_model.generate(
        ids, max_new_tokens=48, do_sample=True, generator=torch.Generator().manual_seed(1),
        use_cache=False,
    )  # fmt: skip
    assert torch.equal(a, b)


# -- input checks ------------------------------------------------------------

_ZEROS = torch.zeros(1, 8, dtype=torch.long)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_ids=torch.zeros(1, 6, dtype=torch.long)), "multiple of 4"),
        (dict(input_ids=torch.full((1, 8), 256)), "0..255"),
        (dict(input_ids=torch.full((1, 8), -3)), "0..255"),
        (dict(input_ids=torch.zeros(0, 8, dtype=torch.long)), "empty batch"),
        (dict(input_ids=torch.zeros(1, 0, dtype=torch.long)), "empty prompt"),
        (dict(input_ids=[[1, 2, 3, 4], [1, 2]]), "rectangular"),
        (dict(input_ids=torch.zeros(1, 8)), "integer"),
        (dict(input_ids=torch.zeros(1, 4 * 257, dtype=torch.long)), "longer than the context"),
        (dict(input_ids=torch.full((1, 8), 255)), "at least one real block"),
        (dict(input_ids=_ZEROS, attention_mask=torch.tensor([[1] * 4 + [0] * 4])), "left-padded"),
        (dict(input_ids=_ZEROS, attention_mask=torch.tensor([[0, 1, 1, 1] * 2])), "same for all 4 bytes"),
        (dict(input_ids=_ZEROS, attention_mask=torch.ones(1, 4)), "shape"),
        (dict(input_ids=_ZEROS, max_new_tokens=-1), "max_new_tokens"),
        (dict(input_ids=_ZEROS, do_sample=True, temperature=0.0), "temperature"),
        (dict(input_ids=_ZEROS, pad_token_id=300), "pad_token_id"),
    ],
)
def test_bad_input_raises_value_error(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_model.generate(**kwargs)


def test_accepts_lists_bytes_and_uint8(tiny_model):
    ids = _prompt(50, 2)
    want = tiny_model.generate(ids[None], max_new_tokens=8)
    assert torch.equal(tiny_model.generate(ids.tolist(), max_new_tokens=8), want)
    assert torch.equal(tiny_model.generate([ids.tolist()], max_new_tokens=8), want)
    assert torch.equal(tiny_model.generate(bytes(ids.tolist()), max_new_tokens=8), want)
    assert torch.equal(tiny_model.generate(ids.to(torch.uint8)[None], max_new_tokens=8), want)
    # What the codec's encode_batch(return_tensors="np") gives: uint8 arrays.
    arr = ids.numpy().astype("uint8")[None]
    assert torch.equal(tiny_model.generate(arr, attention_mask=arr * 0 + 1, max_new_tokens=8), want)


def test_card_keyword_arguments(tiny_model):
    ids = _prompt(51, 2)[None]
    out = tiny_model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        eos_token_id=[[0x0A, 0xFF, 0xFF, 0xFF]],
        pad_token_id=255,
        max_new_tokens=160,
        do_sample=False,
    )
    assert out.shape[0] == 1 and out.shape[1] % 4 == 0
    assert out.shape[1] <= ids.shape[1] + 160


# -- streaming ---------------------------------------------------------------


class _Latin1Decoder:
    """Stand-in for the codec's incremental decoder: drops filler, latin-1."""

    def decode(self, chunk: bytes, final: bool = False) -> str:
        return bytes(b for b in chunk if b != 0xFF).decode("latin-1")


class _FakeCodec:
    def incremental_decoder(self, errors: str = "strict") -> _Latin1Decoder:
        return _Latin1Decoder()


def test_streamer_receives_generated_text(tiny_model):
    ids, mask = _left_pad([_prompt(60, 1), _prompt(61, 3)])
    pieces: list[tuple[str, int]] = []
    streamer = ByteStreamer(_FakeCodec(), on_text=lambda text, row: pieces.append((text, row)))
    out = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=40, streamer=streamer)
    width = ids.shape[1]
    for row in range(2):
        want = _strip(out[row, width:].tolist()).decode("latin-1")
        assert streamer.texts[row] == want
        assert "".join(t for t, r in pieces if r == row) == want


def test_streamer_with_codec(tiny_model, codec):
    prompt = codec.encode("吾輩は猫である。")
    ids = torch.tensor(list(prompt))[None]
    streamer = ByteStreamer(codec)
    out = tiny_model.generate(ids, max_new_tokens=64, streamer=streamer)
    generated = bytes(out[0].tolist())
    full = codec.decode(generated, errors="replace")
    assert full == codec.decode(prompt, errors="replace") + streamer.texts[0]


# -- CUDA (skipped on the CPU) -------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_matches_eager_and_never_syncs():
    torch.manual_seed(0)
    model = ByGPTForCausalLM(ByGPTConfig.preset("tiny")).cuda().eval()
    ids, mask = _left_pad([_prompt(70, 2), _prompt(71, 5)])
    ids, mask = ids.cuda(), mask.cuda()
    eager = model.generate(ids, attention_mask=mask, max_new_tokens=64, use_cuda_graph=False)
    graph = model.generate(ids, attention_mask=mask, max_new_tokens=64, use_cuda_graph=True)
    assert torch.equal(eager, graph)
    from bygpt_model.cache import StaticKVCache
    from bygpt_model.generate import DecodeStep

    cache = StaticKVCache(2, 2, 2, 32, 16, dtype=torch.float32, device="cuda")
    step = DecodeStep(model, cache, 2, use_cuda_graph=False)
    block = torch.zeros(2, 4, dtype=torch.long, device="cuda")
    pos = torch.zeros(2, 1, dtype=torch.long, device="cuda")
    step(block, pos, 0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step(block, pos, 1)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# -- properties the CUDA-graph path relies on, checked on the CPU --------------


def test_decode_step_is_idempotent(tiny_model, monkeypatch):
    """CUDA-graph capture warms up by running the current step twice more;
    that must not change the result (the step rewrites the same cache slot)."""
    from bygpt_model.generate import DecodeStep

    ids, mask = _left_pad([_prompt(80, 2), _prompt(81, 4)])
    want = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=48)
    original = DecodeStep._run

    def run_three_times(self):
        original(self)
        original(self)
        return original(self)

    monkeypatch.setattr(DecodeStep, "_run", run_three_times)
    assert torch.equal(tiny_model.generate(ids, attention_mask=mask, max_new_tokens=48), want)


def test_per_step_work_never_reads_tensors_on_the_host(tiny_model, monkeypatch):
    """The decode step, the byte choice and the stop check must not turn a
    tensor into a Python value (on CUDA that is a host synchronisation)."""
    from bygpt_model.cache import StaticKVCache
    from bygpt_model.generate import DecodeStep, select_next_block

    cfg = tiny_model.config
    b = 3
    cache = StaticKVCache(
        cfg.num_hidden_layers, b, cfg.num_key_value_heads, 32, cfg.head_dim,
        dtype=torch.float32, device="cpu",
    )  # fmt: skip
    step = DecodeStep(tiny_model, cache, b, use_cuda_graph=False)
    matcher = StopMatcher([b"\n", b"ab"], b, 4, torch.device("cpu"))
    block = torch.zeros(b, 4, dtype=torch.long)
    pos = torch.zeros(b, 1, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)

    def refuse(*args, **kwargs):
        raise AssertionError("host read of a tensor inside the decode step")

    for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    for t in range(4):
        logits = step(block, pos + t, t)
        block = select_next_block(logits, do_sample=False)
        block = select_next_block(logits, do_sample=True, top_k=20, top_p=0.9, generator=gen)
        matcher.update(block)
    monkeypatch.undo()
    assert logits.shape == (b, 4, 256)


@pytest.mark.skipif(
    not os.environ.get("BYGPT_TEST_COMPILE"),
    reason="torch.compile takes ~30 s on a small CPU; set BYGPT_TEST_COMPILE=1",
)
def test_compiled_decode_step_matches_eager(tiny_model):
    ids, mask = _left_pad([_prompt(90, 2), _prompt(91, 4)])
    want = tiny_model.generate(ids, attention_mask=mask, max_new_tokens=64)
    assert torch.equal(tiny_model.generate(ids, attention_mask=mask, max_new_tokens=64, compile=True), want)
