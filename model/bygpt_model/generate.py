"""The batched generation loop.

One step appends one K-byte block to every row: the model's K heads give K
distributions and each head's byte is chosen independently (argmax, or a
sample). The per-step work on the device (decode step, byte choice, stop
check) never waits for the host; the host only looks at the "all rows
finished" flag every ``sync_every`` steps, and a streamer (if given) copies
each block out. On CUDA the decode step is captured once as a CUDA graph and
replayed, which removes the kernel-launch overhead that otherwise dominates a
batch-1 step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .cache import StaticKVCache
from .modeling import causal_block_mask, positions_from_block_mask
from .stopping import StopMatcher, normalize_stop_sequences

if TYPE_CHECKING:
    from .modeling import ByGPTForCausalLM


# --------------------------------------------------------------------------
# Input checks (host side, once per call)
# --------------------------------------------------------------------------


def _as_2d_ids(value: Any, name: str, device: torch.device) -> torch.Tensor:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = np.frombuffer(bytes(value), dtype=np.uint8)
    if not isinstance(value, torch.Tensor):
        try:
            arr = np.asarray(value)
        except ValueError as exc:  # ragged lists
            raise ValueError(f"{name} must be a rectangular [batch, bytes] array: {exc}") from None
        if arr.dtype == object or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"{name} must hold integer byte ids, got dtype {arr.dtype}")
        value = torch.as_tensor(arr.astype(np.int64))
    if value.is_floating_point() or value.is_complex():
        raise ValueError(f"{name} must hold integer byte ids, got {value.dtype}")
    if value.dim() == 1:
        value = value.unsqueeze(0)
    if value.dim() != 2:
        raise ValueError(f"{name} must be [batch, bytes], got shape {tuple(value.shape)}")
    return value.to(device=device, dtype=torch.long)


def _as_2d_mask(value: Any, device: torch.device) -> torch.Tensor:
    # Masks may come as bool, int or float (0.0 / 1.0), as in transformers.
    mask = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    if mask.dim() == 1:
        mask = mask.unsqueeze(0)
    if mask.dim() != 2:
        raise ValueError(f"attention_mask must be [batch, bytes], got shape {tuple(mask.shape)}")
    if mask.numel() and ((mask != 0) & (mask != 1)).any():
        raise ValueError("attention_mask must hold only 0 and 1")
    return mask.to(device=device, dtype=torch.long)


def _check_inputs(
    model: ByGPTForCausalLM,
    input_ids: Any,
    attention_mask: Any,
    pad_token_id: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and return (ids [B, L] long, block mask [B, N] bool)."""
    cfg = model.config
    k = cfg.bytes_per_block
    if input_ids is None:
        raise ValueError("input_ids is required")
    ids = _as_2d_ids(input_ids, "input_ids", model.device)
    b, length = ids.shape
    if b == 0:
        raise ValueError("empty batch: input_ids has no rows")
    if length == 0:
        raise ValueError("empty prompt: rows need at least one block (e.g. the <|bos|> block)")
    if length % k:
        raise ValueError(f"row length {length} is not a multiple of {k} bytes (whole blocks only)")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"input_ids must be byte values 0..255, got values in {lo}..{hi}")
    if not 0 <= pad_token_id <= 255:
        raise ValueError(f"pad_token_id must be a byte value 0..255, got {pad_token_id}")
    n = length // k
    if n > cfg.max_position_embeddings:
        raise ValueError(
            f"prompt of {n} blocks ({length} bytes) is longer than the context of "
            f"{cfg.max_position_embeddings} blocks ({cfg.max_length_bytes} bytes)"
        )
    blocks = ids.view(b, n, k)
    if attention_mask is None:
        # Only leading all-pad blocks count as padding when no mask is given.
        is_pad = (blocks == pad_token_id).all(-1)
        block_mask = ~(is_pad.long().cumprod(dim=1).bool())
    else:
        mask = _as_2d_mask(attention_mask, model.device)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask shape {tuple(mask.shape)} differs from input_ids {tuple(ids.shape)}")
        per_block = mask.view(b, n, k)
        if (per_block != per_block[..., :1]).any():
            raise ValueError("attention_mask must be the same for all 4 bytes of a block")
        block_mask = per_block[..., 0].bool()
        if (block_mask[:, 1:].long() < block_mask[:, :-1].long()).any():
            raise ValueError(
                "rows must be left-padded (padding before the prompt); encode the batch with padding_side='left'"
            )
    if not block_mask.any(dim=1).all():
        raise ValueError("every row needs at least one real block (e.g. the <|bos|> block)")
    return ids, block_mask


# --------------------------------------------------------------------------
# Choosing the next block
# --------------------------------------------------------------------------


def select_next_block(
    logits: torch.Tensor,
    *,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """[B, K, V] logits -> [B, K] byte ids, each head on its own."""
    if not do_sample:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a byte once the bytes before it already cover top_p; the most
        # likely byte always survives.
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(-1)
    # Sampling by "exponential race": argmax(p / E) with E ~ Exp(1) picks i
    # with probability p_i. Unlike torch.multinomial it never synchronises
    # with the host, and it draws from ``generator`` so runs are repeatable.
    race = torch.empty_like(probs).exponential_(1.0, generator=generator)
    return (probs / race).argmax(dim=-1)


# --------------------------------------------------------------------------
# The decode step
# --------------------------------------------------------------------------


def decode_step(
    model: ByGPTForCausalLM,
    cache: StaticKVCache,
    block: torch.Tensor,
    position: torch.Tensor,
    cache_position: torch.Tensor,
) -> torch.Tensor:
    """One cached step: block [B, 1, K] at ``position`` [B, 1], written to
    cache slot ``cache_position`` ([1]); returns [B, K, V] logits.

    Only in-place writes and fixed shapes: no host reads, so it can be
    captured as a CUDA graph or compiled once per shape.
    """
    # The new slot becomes a valid key for every row; slots not yet written
    # are still False, so key_valid alone is the causal mask.
    cache.key_valid.index_fill_(1, cache_position, True)
    mask = cache.key_valid[:, None, None, :]
    return model.forward_blocks(block, position, mask, cache, cache_position, last_only=True)


_compiled_decode_step: Any = None


def _get_compiled_decode_step() -> Any:
    # One compiled function for the process: dynamo guards on shapes and
    # dtypes, so a new cache of the same size reuses the compiled code.
    global _compiled_decode_step
    if _compiled_decode_step is None:
        _compiled_decode_step = torch.compile(decode_step, fullgraph=True, dynamic=False)
    return _compiled_decode_step


class DecodeStep:
    """One cached decode step over static buffers.

    Inputs are copied into fixed tensors, the step reads only those, and the
    cache is written in place, so on CUDA the step can be captured once as a
    CUDA graph (``use_cuda_graph``) and replayed with new inputs. With
    ``compile`` the step is first compiled by ``torch.compile`` (fusing the
    many small element-wise kernels of a step), then captured.
    """

    def __init__(
        self,
        model: ByGPTForCausalLM,
        cache: StaticKVCache,
        batch_size: int,
        use_cuda_graph: bool,
        compile: bool = False,
    ) -> None:
        k = model.config.bytes_per_block
        dev = model.device
        self.model, self.cache = model, cache
        self.block = torch.zeros(batch_size, 1, k, dtype=torch.long, device=dev)
        self.position = torch.zeros(batch_size, 1, dtype=torch.long, device=dev)
        self.cache_position = torch.zeros(1, dtype=torch.long, device=dev)
        self.use_cuda_graph = use_cuda_graph
        self.step_fn = _get_compiled_decode_step() if compile else decode_step
        self.graph: Any = None
        self.logits: torch.Tensor | None = None

    def _run(self) -> torch.Tensor:
        return self.step_fn(self.model, self.cache, self.block, self.position, self.cache_position)

    def _capture(self) -> None:
        # Warm up on a side stream (compilation, allocator, kernel choice),
        # then capture. Running the step for the current inputs is idempotent
        # (it rewrites the same cache slot), so warm-up leaves state intact.
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._run()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = self._run()

    def __call__(self, block: torch.Tensor, position: torch.Tensor, cache_position: int) -> torch.Tensor:
        self.block.copy_(block.view_as(self.block))
        self.position.copy_(position.view_as(self.position))
        self.cache_position.fill_(cache_position)
        if not self.use_cuda_graph:
            return self._run()
        if self.graph is None:
            self._capture()
        self.graph.replay()
        assert self.logits is not None
        return self.logits


# --------------------------------------------------------------------------
# generate
# --------------------------------------------------------------------------


@torch.no_grad()
def generate(
    model: ByGPTForCausalLM,
    input_ids: Any = None,
    attention_mask: Any = None,
    max_new_tokens: int = 160,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: Any = None,
    pad_token_id: int | None = 255,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    streamer: Any = None,
    *,
    use_cuda_graph: bool | None = None,
    compile: bool = False,
    sync_every: int = 16,
) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` bytes after each prompt row.

    ``input_ids`` is [B, L] byte ids (tensor, array, nested lists or one
    ``bytes`` row), L a multiple of 4, rows left-padded with pad blocks
    (``attention_mask`` 0, or without a mask: leading all-pad blocks).
    ``max_new_tokens`` counts bytes and is rounded up to whole blocks; the
    total is also capped by the context length. ``eos_token_id``: see
    :func:`bygpt_model.stopping.normalize_stop_sequences`. Returns the prompt
    plus the generated blocks as one [B, L'] long tensor; a row that hit a
    stop sequence keeps the block that completed it and is pad blocks after
    that, and the loop ends early (trimming pad-only tail blocks) once every
    row has stopped.

    ``use_cuda_graph`` (default: on for CUDA with the cache) captures the
    decode step; ``compile`` runs it through ``torch.compile`` first (the
    first call per shape pays the compilation); ``sync_every`` is how often
    the host checks "all stopped".
    """
    cfg = model.config
    k = cfg.bytes_per_block
    pad = cfg.pad_token_id if pad_token_id is None else int(pad_token_id)
    ids, block_mask = _check_inputs(model, input_ids, attention_mask, pad)
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if do_sample and not temperature > 0:
        raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if sync_every < 1:
        raise ValueError(f"sync_every must be >= 1, got {sync_every}")
    if top_k is not None and top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    stops = normalize_stop_sequences(eos_token_id)

    b, length = ids.shape
    n = length // k
    dev = model.device
    steps = min(math.ceil(max_new_tokens / k), cfg.max_position_embeddings - n)
    if use_cuda_graph is None:
        use_cuda_graph = True
    use_cuda_graph = use_cuda_graph and use_cache and dev.type == "cuda"

    out = torch.full((b, (n + steps) * k), pad, dtype=torch.long, device=dev)
    out[:, :length] = ids
    if streamer is not None:
        streamer.put(ids.cpu())
    if steps == 0:
        if streamer is not None:
            streamer.end()
        return out

    out_blocks = out.view(b, n + steps, k)
    pad_block = torch.full((k,), pad, dtype=torch.long, device=dev)
    matcher = StopMatcher(stops, b, k, dev) if stops else None
    finished = torch.zeros(b, dtype=torch.bool, device=dev)
    # Steps each row ran before stopping (steps if it never did): the output
    # is trimmed to the longest row, independent of sync_every.
    row_steps = torch.full((b,), steps, dtype=torch.long, device=dev)

    positions = positions_from_block_mask(block_mask)
    next_position = positions[:, -1:] + 1  # [B, 1]; the last block is real
    sample_kw = dict(do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
    full_mask = torch.ones(b, n + steps, dtype=torch.bool, device=dev)
    full_mask[:, :n] = block_mask

    if use_cache:
        # Round the cache up to a multiple of 16 positions: aligned masks
        # keep the fused attention kernels eligible; extra slots stay masked.
        cache_len = -(-(n + steps) // 16) * 16
        cache = StaticKVCache(
            cfg.num_hidden_layers, b, cfg.num_key_value_heads, cache_len, cfg.head_dim,
            dtype=model.dtype, device=dev,
        )  # fmt: skip
        cache.key_valid[:, :n] = block_mask
        # The prefill queries see the whole cache; slots past the prompt are
        # empty, so they are masked out.
        prefill_mask = torch.nn.functional.pad(causal_block_mask(block_mask), (0, cache_len - n))
        prompt_pos = torch.arange(n, device=dev)
        logits = model.forward_blocks(ids.view(b, n, k), positions, prefill_mask, cache, prompt_pos, last_only=True)
        step_fn = DecodeStep(model, cache, b, use_cuda_graph, compile=compile)
    else:
        logits = model.forward_blocks(ids.view(b, n, k), positions, causal_block_mask(block_mask), last_only=True)

    for t in range(steps):
        block = select_next_block(logits, **sample_kw)
        if matcher is not None:
            block = torch.where(finished[:, None], pad_block, block)
            newly = matcher.update(block) & ~finished
            row_steps = torch.where(newly, t + 1, row_steps)
            finished |= newly
        out_blocks[:, n + t] = block
        if streamer is not None:
            streamer.put(block.cpu())
        if t + 1 == steps:
            break
        if matcher is not None and (t + 1) % sync_every == 0 and bool(finished.all()):
            break
        if use_cache:
            logits = step_fn(block, next_position, n + t)
        else:
            # Reference path: recompute the whole sequence every step.
            m = n + t + 1
            seq_mask = full_mask[:, :m]
            logits = model.forward_blocks(
                out_blocks[:, :m], positions_from_block_mask(seq_mask), causal_block_mask(seq_mask), last_only=True
            )
        next_position = next_position + 1

    if streamer is not None:
        streamer.end()
    if matcher is None:
        return out
    used = int(row_steps.max())
    return out[:, : (n + used) * k]
