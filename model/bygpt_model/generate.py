"""The batched generation loop.

One step appends one K-byte block to every row. By default the block is the
best (or a sampled) *valid* block of the model's scheme under the K heads
(:mod:`bygpt_model.automaton`); ``valid_only=False`` picks each head's byte
on its own, as the raw heads say. Stop sequences match only where a code
starts (:mod:`bygpt_model.stopping`), and ``<|eos|>`` ends a row.

The per-step work on the device (model step, block choice, automaton states,
stop check) never waits for the host; the host only looks at the "all rows
finished" flag every ``sync_every`` steps, and a streamer (if given) copies
each block out. On CUDA the whole step is captured as a CUDA graph (one per
attention bucket) and replayed, which removes the kernel-launch overhead
that otherwise dominates a batch-1 step.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bygpt_codec.constants import EOS_ID, PAD_ID, special_block

from . import serving
from .automaton import (
    DeviceTables,
    choose_valid_block,
    device_tables,
    filter_mask,
    gumbel,
    host_tables,
    prompt_end_state,
    run_block,
    sampling_scores,
)
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
    top = cfg.vocab_size - 1
    if lo < 0 or hi > top:
        raise ValueError(f"input_ids must be byte values 0..{top}, got values in {lo}..{hi}")
    if not 0 <= pad_token_id <= top:
        raise ValueError(f"pad_token_id must be a byte value 0..{top}, got {pad_token_id}")
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
            raise ValueError(f"attention_mask must be the same for all {k} bytes of a block")
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


def _raw_choice(
    logits: torch.Tensor,
    noise: torch.Tensor | None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Each head's byte on its own: argmax, or with Exp(1) ``noise`` a sample
    after temperature, top-k and top-p ([..., V] -> [...])."""
    if noise is None:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    drop = filter_mask(logits, top_k, top_p)
    if drop is not None:
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(-1)
    # Sampling by "exponential race": argmax(p / E) with E ~ Exp(1) picks i
    # with probability p_i. Unlike torch.multinomial it never synchronises
    # with the host, and it draws from ``generator`` so runs are repeatable.
    return (probs / noise).argmax(dim=-1)


def select_next_block(
    logits: torch.Tensor,
    *,
    do_sample: bool,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """[B, K, V] logits -> [B, K] byte ids, each head on its own (the raw
    heads, as ``generate(valid_only=False)`` uses them)."""
    noise = None
    if do_sample:
        noise = torch.empty(logits.shape, dtype=torch.float32, device=logits.device).exponential_(
            1.0, generator=generator
        )
    return _raw_choice(logits, noise, temperature, top_k, top_p)


class BlockChooser:
    """Chooses each row's next block from the final hidden state.

    Holds the settings and the automaton tables; calling it is pure tensor
    work with fixed shapes (no host reads), so it runs inside the captured or
    compiled step. Returns the block [B, K], whether each byte is read at a
    code boundary [B, K] (for the stop matcher) and the automaton state after
    the block [B].

    * independent heads, ``valid_only``: :func:`choose_valid_block` (exact
      best or exactly sampled valid block under the product of the heads);
    * chained heads: the K heads run one after the other, each fed the bytes
      chosen before it; with ``valid_only`` each byte is restricted to the
      bytes after which the block can still be completed validly (the mask of
      grammar-constrained decoding: every block is valid, and greedy is
      greedy byte by byte, since the block's distribution is no longer a
      product);
    * ``valid_only=False``: each head's own argmax or sample.
    """

    def __init__(
        self,
        tables: DeviceTables,
        *,
        do_sample: bool,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        valid_only: bool,
        pad: int,
    ) -> None:
        self.tables = tables
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.valid_only = valid_only
        self.pad = pad

    def _scores(self, logits: torch.Tensor) -> torch.Tensor:
        if self.do_sample:
            return sampling_scores(logits, self.temperature, self.top_k, self.top_p)
        return logits.float()

    def _chained(
        self, model: ByGPTForCausalLM, hidden: torch.Tensor, state: torch.Tensor, noise: Any, is_last: torch.Tensor
    ) -> torch.Tensor:
        chosen: list[torch.Tensor] = []
        s = state
        for k in range(model.config.bytes_per_block):
            earlier = torch.stack(chosen, dim=1) if chosen else None
            logits = model.head_logits(hidden, k, earlier)
            noise_k = noise[:, k] if noise is not None else None
            if not self.valid_only:
                byte = _raw_choice(logits, noise_k, self.temperature, self.top_k, self.top_p)
            else:
                allowed = torch.where(is_last.reshape(()), self.tables.allowed_last[s], self.tables.allowed[s])
                x = self._scores(logits).masked_fill(~allowed, float("-inf"))
                if noise_k is not None:
                    x = x + gumbel(noise_k)
                byte = x.argmax(dim=-1)
            chosen.append(byte)
            s = self.tables.step[s, byte]
        return torch.stack(chosen, dim=1)

    def __call__(
        self,
        model: ByGPTForCausalLM,
        hidden: torch.Tensor,
        state: torch.Tensor,
        noise: torch.Tensor | None,
        is_last: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if model.chain is not None:
            block = self._chained(model, hidden, state, noise, is_last)
        else:
            logits = model._logits(hidden)
            if self.valid_only:
                block = choose_valid_block(self.tables, self._scores(logits), state, is_last, noise)
            else:
                block = _raw_choice(logits, noise, self.temperature, self.top_k, self.top_p)
        states = run_block(self.tables, state, block)
        k = block.shape[1]
        return block, self.tables.code_start[states[:, :k]], states[:, k]


def choose_next(
    model: ByGPTForCausalLM,
    chooser: BlockChooser,
    matcher: StopMatcher | None,
    hidden: torch.Tensor,
    state: torch.Tensor,
    noise: torch.Tensor | None,
    is_last: torch.Tensor,
    tail: torch.Tensor,
    finished: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block choice plus stop check: (block, state, tail, finished)."""
    block, at_boundary, state = chooser(model, hidden, state, noise, is_last)
    if matcher is not None:
        block, tail, finished = matcher.update(tail, block, at_boundary, finished, chooser.pad)
    return block, state, tail, finished


# --------------------------------------------------------------------------
# The decode step
# --------------------------------------------------------------------------


def decode_step(
    model: ByGPTForCausalLM,
    cache: StaticKVCache,
    chooser: BlockChooser,
    matcher: StopMatcher | None,
    block: torch.Tensor,
    position: torch.Tensor,
    cache_position: torch.Tensor,
    state: torch.Tensor,
    noise: torch.Tensor | None,
    is_last: torch.Tensor,
    tail: torch.Tensor,
    finished: torch.Tensor,
    attend_len: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One cached step: block [B, 1, K] at ``position`` [B, 1] is written to
    cache slot ``cache_position`` ([1]); the step attends over the first
    ``attend_len`` slots and chooses the next block (see :func:`choose_next`).

    Only in-place cache writes and fixed shapes: no host reads, so it can be
    captured as a CUDA graph or compiled once per shape. Running it twice on
    the same inputs gives the same outputs (the cache slot is rewritten with
    the same values), which graph capture's warm-up relies on.
    """
    # The new slot becomes a valid key for every row; slots not yet written
    # are still False, so key_valid alone is the causal mask.
    cache.key_valid.index_fill_(1, cache_position, True)
    mask = cache.key_valid[:, None, None, :attend_len]
    hidden = model.forward_hidden(block, position, mask, cache, cache_position, attend_len)[:, -1]
    return choose_next(model, chooser, matcher, hidden, state, noise, is_last, tail, finished)


_compiled_decode_step: Any = None
# (batch, cache length, attended length) shapes whose compiled step failed:
# they run eagerly from then on.
_FAILED_SHAPES: set[tuple[int, int, int]] = set()


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
    cache is written in place, so on CUDA the step can be captured as a CUDA
    graph (``use_cuda_graph``; one graph per attended length) and replayed
    with new inputs. With ``compile`` the step is first compiled by
    ``torch.compile``; a shape whose compilation fails (for instance past the
    recompile limit) runs eagerly instead, with a warning.
    """

    def __init__(
        self,
        model: ByGPTForCausalLM,
        cache: StaticKVCache,
        chooser: BlockChooser,
        matcher: StopMatcher | None,
        tail: torch.Tensor,
        batch_size: int,
        use_cuda_graph: bool,
        compile: bool = False,
    ) -> None:
        k = model.config.bytes_per_block
        dev = model.device
        self.model, self.cache, self.chooser, self.matcher = model, cache, chooser, matcher
        self.block = torch.zeros(batch_size, 1, k, dtype=torch.long, device=dev)
        self.position = torch.zeros(batch_size, 1, dtype=torch.long, device=dev)
        self.cache_position = torch.zeros(1, dtype=torch.long, device=dev)
        self.state = torch.zeros(batch_size, dtype=torch.long, device=dev)
        self.noise = (
            torch.zeros(batch_size, k, model.config.vocab_size, dtype=torch.float32, device=dev)
            if chooser.do_sample
            else None
        )
        self.is_last = torch.zeros(1, dtype=torch.bool, device=dev)
        self.tail = torch.zeros_like(tail)
        self.finished = torch.zeros(batch_size, dtype=torch.bool, device=dev)
        self.use_cuda_graph = use_cuda_graph
        self.compile = compile
        self.graphs: dict[int, tuple[Any, tuple[torch.Tensor, ...]]] = {}
        self.pool: Any = None

    def _eager(self, attend_len: int) -> tuple[torch.Tensor, ...]:
        return decode_step(*self._args(), attend_len)

    def _args(self) -> tuple[Any, ...]:
        return (
            self.model, self.cache, self.chooser, self.matcher, self.block, self.position,
            self.cache_position, self.state, self.noise, self.is_last, self.tail, self.finished,
        )  # fmt: skip

    def _run(self, attend_len: int) -> tuple[torch.Tensor, ...]:
        shape = (self.block.shape[0], self.cache.max_length, attend_len)
        if not self.compile or shape in _FAILED_SHAPES:
            return self._eager(attend_len)
        try:
            with torch._dynamo.config.patch(recompile_limit=serving.RECOMPILE_LIMIT):
                return _get_compiled_decode_step()(*self._args(), attend_len)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: run eagerly
            _FAILED_SHAPES.add(shape)
            warnings.warn(
                f"compiled decode step unavailable for (batch, cache, attended) = {shape} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); running it eagerly",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._eager(attend_len)

    def _capture(self, attend_len: int) -> None:
        # Warm up on a side stream (compilation, allocator, kernel choice),
        # then capture. Running the step for the current inputs is idempotent
        # (it rewrites the same cache slot), so warm-up leaves state intact.
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._run(attend_len)
        torch.cuda.current_stream().wait_stream(stream)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            outputs = self._run(attend_len)
        self.graphs[attend_len] = (graph, outputs)

    def __call__(
        self,
        block: torch.Tensor,
        position: torch.Tensor,
        cache_position: int,
        state: torch.Tensor,
        tail: torch.Tensor,
        finished: torch.Tensor,
        *,
        is_last: bool,
        attend_len: int,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Returns (block [B, K], state, tail, finished). Under a CUDA graph
        these are the graph's static outputs: valid until the next call."""
        self.block.copy_(block.view_as(self.block))
        self.position.copy_(position.view_as(self.position))
        self.cache_position.fill_(cache_position)
        self.state.copy_(state)
        self.tail.copy_(tail)
        self.finished.copy_(finished)
        self.is_last.fill_(is_last)
        if self.noise is not None and noise is not None:
            self.noise.copy_(noise)
        if not self.use_cuda_graph:
            return self._run(attend_len)
        if attend_len not in self.graphs:
            self._capture(attend_len)
        graph, outputs = self.graphs[attend_len]
        graph.replay()
        return outputs


# --------------------------------------------------------------------------
# generate
# --------------------------------------------------------------------------


def _model_scheme(model: ByGPTForCausalLM) -> str:
    return getattr(model.config, "scheme", "jpblock")


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
    pad_token_id: int | None = PAD_ID,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
    streamer: Any = None,
    *,
    use_cuda_graph: bool | None = None,
    compile: bool = False,
    sync_every: int = 16,
    valid_only: bool = True,
    stop_on_eos: bool = True,
    codec: Any = None,
) -> torch.Tensor:
    """Generate up to ``max_new_tokens`` bytes after each prompt row.

    ``input_ids`` is [B, L] byte ids (tensor, array, nested lists or one
    ``bytes`` row), L a multiple of 4, rows left-padded with pad blocks
    (``attention_mask`` 0, or without a mask: leading all-pad blocks).
    ``max_new_tokens`` counts bytes and is rounded up to whole blocks; the
    total is also capped by the context length. Returns the prompt plus the
    generated blocks as one [B, L'] long tensor.

    Stops: ``eos_token_id`` (see
    :func:`bygpt_model.stopping.normalize_stop_sequences`) and, with
    ``stop_on_eos`` (default), the ``<|eos|>`` block. Sequences match on the
    filler-free generated bytes, starting where a code starts. A row that
    stops keeps the block that completed the match, with the bytes after the
    match turned into filler, and is pad blocks after that; the loop ends
    early (trimming pad-only tail blocks) once every row has stopped.

    ``valid_only`` (default) keeps every generated block valid in the
    model's scheme (``model.config.scheme``, or ``codec``'s automaton when a
    ``bygpt_codec.Codec`` is given): greedy takes the best valid block under
    the heads, sampling draws exactly from the heads restricted to valid
    blocks (after temperature, top-k and top-p per head), and the last block
    ends on a code boundary. ``valid_only=False`` reproduces the raw heads.

    ``use_cuda_graph`` (default: on for CUDA with the cache) captures the
    decode step; ``compile`` runs it through ``torch.compile`` first, with
    bucketed shapes (:mod:`bygpt_model.serving`) and an eager fallback;
    ``sync_every`` is how often the host checks "all stopped".
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
    host = host_tables(codec if codec is not None else _model_scheme(model))
    stops = normalize_stop_sequences(eos_token_id, host)
    if stop_on_eos and special_block(EOS_ID) not in stops:
        stops.append(special_block(EOS_ID))

    real_rows, length = ids.shape
    n = length // k
    dev = model.device
    steps = min(math.ceil(max_new_tokens / k), cfg.max_position_embeddings - n)
    if use_cuda_graph is None:
        use_cuda_graph = True
    use_cuda_graph = use_cuda_graph and use_cache and dev.type == "cuda"
    compile = compile and use_cache

    if streamer is not None:
        streamer.put(ids.cpu())
    if steps == 0:
        if streamer is not None:
            streamer.end()
        return ids.clone()

    if compile:
        # Bucketed batch: extra rows repeat row 0 and are dropped at the end.
        rows = serving.bucket_batch(real_rows)
        if rows > real_rows:
            ids = torch.cat([ids, ids[:1].expand(rows - real_rows, -1)])
            block_mask = torch.cat([block_mask, block_mask[:1].expand(rows - real_rows, -1)])
    b = ids.shape[0]

    tables = device_tables(host, dev)
    out = torch.full((b, (n + steps) * k), pad, dtype=torch.long, device=dev)
    out[:, :length] = ids
    out_blocks = out.view(b, n + steps, k)
    prompt_blocks = ids.view(b, n, k)
    chooser = BlockChooser(
        tables, do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p,
        valid_only=valid_only, pad=pad,
    )  # fmt: skip
    matcher = StopMatcher(stops, dev) if stops else None
    tail = matcher.initial_tail(b, dev) if matcher is not None else torch.zeros(b, 1, dtype=torch.long, device=dev)
    finished = torch.zeros(b, dtype=torch.bool, device=dev)
    state = prompt_end_state(tables, prompt_blocks, block_mask)
    # Steps each row ran before stopping (steps if it never did): the output
    # is trimmed to the longest row, independent of sync_every.
    row_steps = torch.full((b,), steps, dtype=torch.long, device=dev)

    positions = positions_from_block_mask(block_mask)
    next_position = positions[:, -1:] + 1  # [B, 1]; the last block is real
    full_mask = torch.ones(b, n + steps, dtype=torch.bool, device=dev)
    full_mask[:, :n] = block_mask

    def draw_noise() -> torch.Tensor | None:
        if not do_sample:
            return None
        return torch.empty(b, k, cfg.vocab_size, dtype=torch.float32, device=dev).exponential_(1.0, generator=generator)

    def flag(value: bool) -> torch.Tensor:
        return torch.tensor(value, device=dev)

    if use_cache:
        if compile:
            cache_len = serving.bucket_cache_length(n + steps, cfg.max_position_embeddings)
        else:
            cache_len = serving.plain_cache_length(n + steps)
        cache = StaticKVCache(
            cfg.num_hidden_layers, b, cfg.num_key_value_heads, cache_len, cfg.head_dim,
            dtype=model.dtype, device=dev,
        )  # fmt: skip
        cache.key_valid[:, :n] = block_mask
        prompt_pos = torch.arange(n, device=dev)
        hidden = model.forward_hidden(
            prompt_blocks, positions, causal_block_mask(block_mask), cache, prompt_pos, attend_len=n
        )[:, -1]
        step_fn = DecodeStep(model, cache, chooser, matcher, tail, b, use_cuda_graph, compile=compile)
    else:
        hidden = model.forward_hidden(prompt_blocks, positions, causal_block_mask(block_mask))[:, -1]

    block, state, tail, finished_now = choose_next(
        model, chooser, matcher, hidden, state, draw_noise(), flag(steps == 1), tail, finished
    )
    for t in range(steps):
        if matcher is not None:
            row_steps = torch.where(finished_now & ~finished, t + 1, row_steps)
            finished = finished_now
        out_blocks[:, n + t] = block
        if streamer is not None:
            streamer.put(block[:real_rows].cpu())
        if t + 1 == steps:
            break
        if matcher is not None and (t + 1) % sync_every == 0 and bool(finished.all()):
            break
        last = t + 2 == steps
        if use_cache:
            filled = n + t + 1
            block, state, tail, finished_now = step_fn(
                block, next_position, n + t, state, tail, finished,
                is_last=last, attend_len=serving.attend_length(filled, cache_len), noise=draw_noise(),
            )  # fmt: skip
        else:
            # Reference path: recompute the whole sequence every step.
            m = n + t + 1
            seq_mask = full_mask[:, :m]
            hidden = model.forward_hidden(
                out_blocks[:, :m], positions_from_block_mask(seq_mask), causal_block_mask(seq_mask)
            )[:, -1]
            block, state, tail, finished_now = choose_next(
                model, chooser, matcher, hidden, state, draw_noise(), flag(last), tail, finished
            )
        next_position = next_position + 1

    if streamer is not None:
        streamer.end()
    out = out[:real_rows]
    if matcher is None:
        return out
    used = int(row_steps[:real_rows].max())
    return out[:, : (n + used) * k]


__all__ = ["BlockChooser", "DecodeStep", "choose_next", "decode_step", "generate", "select_next_block"]
