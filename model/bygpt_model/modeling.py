"""The reference byGPT model: a Llama-style decoder over 4-byte blocks.

Shapes used throughout: ``B`` batch rows, ``L`` bytes per row, ``N = L / 4``
blocks (= sequence positions), ``K = 4`` bytes per block, ``V = 256`` byte
values. ``input_ids`` are [B, L] byte ids; the model sees them as [B, N, K].
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import ByGPTConfig

if TYPE_CHECKING:
    from .cache import StaticKVCache

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# Label value that marks a byte as "not a target" (the transformers convention).
IGNORE_INDEX = -100


# --------------------------------------------------------------------------
# Masks and positions shared by training, the forward pass and generation.
# --------------------------------------------------------------------------


def block_mask_from_inputs(
    blocks: torch.Tensor, attention_mask: torch.Tensor | None, pad_token_id: int
) -> torch.Tensor:
    """[B, N] bool, True for real blocks.

    With an ``attention_mask`` ([B, L], per byte) a block is real when its
    bytes are masked in; without one, a block made only of pad bytes
    (0xFF 0xFF 0xFF 0xFF) is padding. The codec never emits such a block for
    real text (filler only completes a block), so the two agree on its
    batches.
    """
    if attention_mask is None:
        return (blocks != pad_token_id).any(dim=-1)
    b, n, k = blocks.shape
    return attention_mask.reshape(b, n, k).bool().any(dim=-1)


def positions_from_block_mask(block_mask: torch.Tensor) -> torch.Tensor:
    """Rotary positions counted from each row's first real block.

    This is what makes a left-padded row compute exactly what it would
    compute alone: its first real block is at position 0 either way. Pad
    blocks get position 0 (left padding) or repeat the last real position
    (right padding); they are masked out as keys, so the value is irrelevant.
    """
    return (block_mask.long().cumsum(dim=-1) - 1).clamp(min=0)


def causal_block_mask(block_mask: torch.Tensor) -> torch.Tensor:
    """[B, 1, N, N] bool attention mask: causal, pad keys hidden.

    Every query may also attend to itself. Real queries lose nothing by this
    (their own key is real anyway); a left-pad query would otherwise have no
    key at all, and a fully masked softmax row gives NaN that could leak into
    the loss or the cache.
    """
    n = block_mask.shape[-1]
    causal = torch.ones(n, n, dtype=torch.bool, device=block_mask.device).tril()
    eye = torch.eye(n, dtype=torch.bool, device=block_mask.device)
    return ((causal & block_mask[:, None, None, :]) | eye).contiguous()


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    block_mask: torch.Tensor | None = None,
    *,
    predictions_only: bool = False,
) -> torch.Tensor:
    """The training loss from logits the caller already has.

    ``logits`` [B, N, K, V] (position n predicts block n + 1; with
    ``predictions_only`` they are [B, N - 1, K, V], the last position left
    out), ``labels`` [B, N * K] byte ids with ``IGNORE_INDEX`` (-100) for
    bytes that are not targets, ``block_mask`` [B, N] (True for real blocks;
    None: all real). Mean cross-entropy over the counted bytes, computed in
    float32 without host reads.
    """
    b = labels.shape[0]
    k, v = logits.shape[-2], logits.shape[-1]
    target = labels.reshape(b, -1, k)[:, 1:].long()
    pred = logits if predictions_only else logits[:, :-1]
    counted = target != IGNORE_INDEX
    if block_mask is not None:
        counted = counted & (block_mask[:, :-1] & block_mask[:, 1:])[..., None]
    safe = target.masked_fill(~counted, 0)
    ce = F.cross_entropy(pred.reshape(-1, v).float(), safe.reshape(-1), reduction="none")
    weights = counted.reshape(-1).float()
    return (ce * weights).sum() / weights.sum().clamp(min=1.0)


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 (as Llama does) so bf16 runs stay stable;
        # F.rms_norm is one fused kernel where torch has one, instead of the
        # five of the written-out formula, which matters for a decode step.
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return self.weight * normed.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Llama rotary positions ("rotate half"), tables precomputed for the
    whole context so a decode step only gathers rows (no host work)."""

    def __init__(self, head_dim: int, max_positions: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        # Not persistent: derived from the config, so not saved with weights.
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        # [B, T] -> [B, 1, T, D], broadcasting over heads.
        return self.cos[position_ids][:, None].to(dtype), self.sin[position_ids][:, None].to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    """Grouped-query attention through ``F.scaled_dot_product_attention``."""

    def __init__(self, config: ByGPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        h, d = config.hidden_size, config.head_dim
        self.q_proj = nn.Linear(h, self.num_heads * d, bias=False)
        self.k_proj = nn.Linear(h, self.num_kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, self.num_kv_heads * d, bias=False)
        self.o_proj = nn.Linear(self.num_heads * d, h, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        attn_mask: torch.Tensor | None,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
        attend_len: int | None = None,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            assert cache_position is not None
            k, v = cache.update(self.layer_idx, k, v, cache_position)
            if attend_len is not None:
                # Only the filled part (rounded up to a bucket) is read.
                k, v = k[:, :, :attend_len], v[:, :, :attend_len]
        gqa = self.num_heads != self.num_kv_heads
        if attn_mask is None:
            # Unpadded rows without a cache: plain causal attention, which
            # keeps the flash / memory-efficient kernels eligible.
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, enable_gqa=gqa)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim))


class SwiGLU(nn.Module):
    def __init__(self, config: ByGPTConfig) -> None:
        super().__init__()
        h, i = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ByGPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config, layer_idx)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = SwiGLU(config)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        attn_mask: torch.Tensor | None,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
        attend_len: int | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, attn_mask, cache, cache_position, attend_len)
        return x + self.mlp(self.post_attention_layernorm(x))


class BlockEmbedding(nn.Module):
    """The merge module: one 4-byte block -> one hidden vector.

    Each slot k has its own 256-entry byte table (stored as one
    [K * 256, E] table, row ``k * 256 + byte``), so the same byte means
    different things at different slots. The K slot vectors are concatenated
    and projected to the hidden size: the projection sees the whole block and
    can mix its bytes, which a plain sum could not.
    """

    def __init__(self, config: ByGPTConfig) -> None:
        super().__init__()
        assert config.byte_embedding_size is not None
        self.bytes_per_block = config.bytes_per_block
        self.vocab_size = config.vocab_size
        e = config.byte_embedding_size
        self.byte_embed = nn.Embedding(config.bytes_per_block * config.vocab_size, e)
        self.proj = nn.Linear(config.bytes_per_block * e, config.hidden_size, bias=False)

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        # blocks: [B, T, K] -> [B, T, hidden]
        offsets = torch.arange(self.bytes_per_block, device=blocks.device) * self.vocab_size
        emb = self.byte_embed(blocks + offsets)
        return self.proj(emb.flatten(-2))


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


class ByGPTModel(nn.Module):
    """Embeddings, decoder layers and the final norm (no heads)."""

    def __init__(self, config: ByGPTConfig) -> None:
        super().__init__()
        self.embed = BlockEmbedding(config)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary = RotaryEmbedding(config.head_dim, config.max_position_embeddings, config.rope_theta)

    def forward(
        self,
        blocks: torch.Tensor,
        position_ids: torch.Tensor,
        attn_mask: torch.Tensor | None,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
        attend_len: int | None = None,
    ) -> torch.Tensor:
        """Hidden states [B, T, hidden] after the final norm. ``attn_mask``
        None means causal attention over unpadded rows (no cache);
        ``attend_len`` limits attention to the first slots of the cache."""
        x = self.embed(blocks)
        cos, sin = self.rotary(position_ids, x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, attn_mask, cache, cache_position, attend_len)
        return self.norm(x)


class ChainedHeads(nn.Module):
    """What lets head k (k >= 1) see the bytes before it in its block.

    Head 0 reads the hidden state as an independent head does. For k >= 1,
    the K - 1 earlier bytes of the predicted block are embedded with the
    input's per-slot byte tables, and a small gated MLP mixes them with the
    hidden state::

        h_k = h + down_k(silu(up_k(h) + bytes_k(concat(e_0(b_0), ..., e_{k-1}(b_{k-1})))))
        logits_k = lm_heads[k](h_k)

    In training the earlier bytes are the targets (teacher forcing), so all
    heads run in parallel; in generation they are the bytes just chosen, so a
    step runs the K heads one after the other (K - 1 small MLPs).
    """

    def __init__(self, config: ByGPTConfig) -> None:
        super().__init__()
        h, e, k = config.hidden_size, config.byte_embedding_size, config.bytes_per_block
        assert e is not None
        self.up = nn.ModuleList(nn.Linear(h, h, bias=False) for _ in range(1, k))
        self.bytes_in = nn.ModuleList(nn.Linear(j * e, h, bias=False) for j in range(1, k))
        self.down = nn.ModuleList(nn.Linear(h, h, bias=False) for _ in range(1, k))

    def forward(self, hidden: torch.Tensor, k: int, earlier: torch.Tensor) -> torch.Tensor:
        """The hidden state for head ``k`` >= 1; ``earlier`` [..., k * E] is
        the concatenated embedding of the block's first k bytes."""
        i = k - 1
        return hidden + self.down[i](F.silu(self.up[i](hidden) + self.bytes_in[i](earlier)))


class ByGPTForCausalLM(nn.Module):
    """byGPT with K byte heads: head k predicts byte k of the *next* block.

    ``model(input_ids)`` returns logits of shape [B, N, K, 256];
    ``model.loss(input_ids, attention_mask)`` is the training loss and
    ``model.generate(...)`` the HF-style generation loop. With
    ``config.heads == "chained"`` head k also sees bytes 0..k-1 of the block
    it predicts (:class:`ChainedHeads`).
    """

    def __init__(self, config: ByGPTConfig) -> None:
        super().__init__()
        self.config = config
        self.model = ByGPTModel(config)
        self.lm_heads = nn.ModuleList(
            nn.Linear(config.hidden_size, config.vocab_size, bias=False) for _ in range(config.bytes_per_block)
        )
        # Only chained models have this module, so an independent-heads
        # model's weights (the card's layout) are unchanged.
        self.chain = ChainedHeads(config) if config.heads == "chained" else None
        self.init_weights()

    # -- bookkeeping -------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.lm_heads[0].weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.lm_heads[0].weight.dtype

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def weight_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.parameters())

    @torch.no_grad()
    def init_weights(self) -> None:
        """Llama-style init: normal(0, initializer_range), norms at 1."""
        if self.device.type == "meta":
            return
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, std)
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1.0)

    # -- heads -------------------------------------------------------------

    def embed_earlier(self, block_bytes: torch.Tensor) -> torch.Tensor:
        """[..., k] bytes of slots 0..k-1 -> [..., k * E] (the input tables)."""
        k = block_bytes.shape[-1]
        vocab = self.config.vocab_size
        offsets = torch.arange(k, device=block_bytes.device) * vocab
        return self.model.embed.byte_embed(block_bytes + offsets).flatten(-2)

    def head_logits(self, hidden: torch.Tensor, k: int, earlier: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [..., V] of head ``k``; ``earlier`` [..., k] are bytes 0..k-1
        of the predicted block (used by chained heads only)."""
        if self.chain is not None and k > 0:
            assert earlier is not None, "chained heads need the block's earlier bytes"
            hidden = self.chain(hidden, k, self.embed_earlier(earlier))
        return self.lm_heads[k](hidden)

    def _logits(self, hidden: torch.Tensor, next_blocks: torch.Tensor | None = None) -> torch.Tensor:
        """[..., hidden] -> [..., K, V]. Chained heads are teacher-forced on
        ``next_blocks`` [..., K] when given, else fed their own argmax."""
        k_bytes = self.config.bytes_per_block
        if self.chain is None:
            return torch.stack([head(hidden) for head in self.lm_heads], dim=-2)
        out: list[torch.Tensor] = []
        chosen: list[torch.Tensor] = []
        for k in range(k_bytes):
            if next_blocks is not None:
                earlier = next_blocks[..., :k]
            else:
                earlier = torch.stack(chosen, dim=-1) if chosen else None
            logits = self.head_logits(hidden, k, earlier)
            out.append(logits)
            chosen.append(logits.argmax(dim=-1))
        return torch.stack(out, dim=-2)

    # -- forward -----------------------------------------------------------

    def _blocks(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Check byte ids and view them as [B, N, K] blocks.

        uint8 ids cannot be out of range and are not checked; other dtypes
        cost one host read (skipped while compiling)."""
        k = self.config.bytes_per_block
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, bytes], got shape {tuple(input_ids.shape)}")
        if input_ids.shape[1] % k:
            raise ValueError(f"row length {input_ids.shape[1]} is not a multiple of {k} bytes")
        checked = input_ids.dtype != torch.uint8 and input_ids.numel() and not torch.compiler.is_compiling()
        if checked and bool(((input_ids < 0) | (input_ids >= self.config.vocab_size)).any()):
            lo, hi = int(input_ids.min()), int(input_ids.max())
            raise ValueError(f"byte ids must lie in 0..{self.config.vocab_size - 1}, got {lo}..{hi}")
        return input_ids.long().view(input_ids.shape[0], -1, k)

    def forward_hidden(
        self,
        blocks: torch.Tensor,
        position_ids: torch.Tensor,
        attn_mask: torch.Tensor | None,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
        attend_len: int | None = None,
    ) -> torch.Tensor:
        """The raw pass without heads: [B, T, hidden] (see :class:`ByGPTModel`)."""
        return self.model(blocks, position_ids, attn_mask, cache, cache_position, attend_len)

    def forward_blocks(
        self,
        blocks: torch.Tensor,
        position_ids: torch.Tensor,
        attn_mask: torch.Tensor | None,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """The raw pass: no checks, explicit positions and mask, optional
        cache writes. Returns [B, T, K, V] logits, or [B, K, V] for the last
        position only with ``last_only``. Chained heads are teacher-forced on
        the following input block; at the last position they see their own
        argmax bytes."""
        hidden = self.forward_hidden(blocks, position_ids, attn_mask, cache, cache_position)
        if last_only:
            return self._logits(hidden[:, -1])
        if self.chain is None:
            return self._logits(hidden)
        inner = self._logits(hidden[:, :-1], blocks[:, 1:])
        return torch.cat([inner, self._logits(hidden[:, -1:])], dim=1)

    def _prepare(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, has_padding: bool | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        """(blocks, block_mask or None, positions, attention mask or None)."""
        blocks = self._blocks(input_ids)
        if has_padding is False:
            b, n, _ = blocks.shape
            positions = torch.arange(n, device=blocks.device).expand(b, n)
            return blocks, None, positions, None
        block_mask = block_mask_from_inputs(blocks, attention_mask, self.config.pad_token_id)
        return blocks, block_mask, positions_from_block_mask(block_mask), causal_block_mask(block_mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        *,
        has_padding: bool | None = None,
    ) -> torch.Tensor:
        """Logits [B, N, K, 256] for byte ids [B, L]; position n predicts
        block n + 1. See :func:`block_mask_from_inputs` for the mask.
        ``has_padding=False`` promises that no block is padding: attention is
        then plain causal (no [B, 1, N, N] mask, fused kernels eligible)."""
        blocks, _, positions, mask = self._prepare(input_ids, attention_mask, has_padding)
        if position_ids is not None:
            positions = position_ids
        return self.forward_blocks(blocks, positions, mask)

    def logits_and_loss(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        has_padding: bool | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The logits of :meth:`forward` and the loss of :meth:`loss` (same
        arguments) from one pass of the decoder: what a wrapper that must
        return both (transformers' ``CausalLMOutput``) needs."""
        ignored_inputs = input_ids == IGNORE_INDEX
        if labels is None:
            labels = input_ids
        if input_ids.dtype != torch.uint8:
            input_ids = input_ids.masked_fill(ignored_inputs, self.config.pad_token_id)
        blocks, block_mask, positions, mask = self._prepare(input_ids, attention_mask, has_padding)
        logits = self.forward_blocks(blocks, positions, mask)
        labels = labels.masked_fill(ignored_inputs, IGNORE_INDEX)
        return logits, causal_lm_loss(logits, labels, block_mask)

    def loss(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        has_padding: bool | None = None,
    ) -> torch.Tensor:
        """Mean cross-entropy over the K heads and all predicted bytes.

        Targets are ``labels`` (default: ``input_ids``), byte ids where
        ``IGNORE_INDEX`` (-100) marks bytes that are not targets, as in
        transformers; -100 in ``input_ids`` is read as a pad byte and is not a
        target either. A prediction also does not count when the block it is
        made from or the block it predicts is padding. ``has_padding=False``
        promises there is none: causal attention without a mask, and no host
        reads at all for uint8 ids (the training loop's fast path).
        """
        ignored_inputs = input_ids == IGNORE_INDEX
        if labels is None:
            labels = input_ids
        if input_ids.dtype != torch.uint8:
            input_ids = input_ids.masked_fill(ignored_inputs, self.config.pad_token_id)
        blocks, block_mask, positions, mask = self._prepare(input_ids, attention_mask, has_padding)
        hidden = self.forward_hidden(blocks, positions, mask)
        logits = self._logits(hidden[:, :-1], blocks[:, 1:] if self.chain is not None else None)
        labels = labels.masked_fill(ignored_inputs, IGNORE_INDEX)
        return causal_lm_loss(logits, labels, block_mask, predictions_only=True)

    def generate(self, input_ids: Any = None, **kwargs: Any) -> torch.Tensor:
        """HF-style generation; see :func:`bygpt_model.generate.generate`."""
        from .generate import generate

        return generate(self, input_ids, **kwargs)

    # -- safetensors -------------------------------------------------------

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into directory
        ``path``; returns the weights file."""
        from safetensors.torch import save_file

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        weights = directory / WEIGHTS_NAME
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        # The config rides along as metadata too, so a lone file is loadable.
        save_file(state, str(weights), metadata={"bygpt_config": json.dumps(self.config.to_dict())})
        return weights

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> ByGPTForCausalLM:
        """Load from a directory written by :meth:`save_pretrained` or from a
        single ``.safetensors`` file written by it."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        p = Path(path)
        weights = p / WEIGHTS_NAME if p.is_dir() else p
        if p.is_dir() and (p / CONFIG_NAME).exists():
            config = ByGPTConfig.load(p / CONFIG_NAME)
        else:
            with safe_open(str(weights), framework="pt") as f:
                meta = f.metadata() or {}
            if "bygpt_config" not in meta:
                raise ValueError(f"{weights} carries no bygpt_config metadata and no config.json")
            config = ByGPTConfig.from_dict(json.loads(meta["bygpt_config"]))
        with torch.device("meta"):
            model = cls(config)
        state = load_file(str(weights), device=str(device) if device is not None else "cpu")
        if dtype is not None:
            state = {k: v.to(dtype) for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        # The rotary tables are not saved; rebuild them on the weights' device.
        model.model.rotary = RotaryEmbedding(config.head_dim, config.max_position_embeddings, config.rope_theta).to(
            model.device
        )
        return model


def count_parameters(config: ByGPTConfig) -> int:
    """Parameter count without allocating any weights (built on ``meta``)."""
    with torch.device("meta"):
        return ByGPTForCausalLM(config).num_parameters()


def expected_parameters(config: ByGPTConfig) -> int:
    """The same count in closed form (documents where the parameters are)."""
    h, i, d = config.hidden_size, config.intermediate_size, config.head_dim
    kv = config.num_key_value_heads * d
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    assert config.byte_embedding_size is not None
    e, k, v = config.byte_embedding_size, config.bytes_per_block, config.vocab_size
    embed = k * v * e + k * e * h
    heads = k * h * v
    chain = 0
    if config.heads == "chained":
        chain = (k - 1) * 2 * h * h + sum(j * e * h for j in range(1, k))
    return config.num_hidden_layers * per_layer + h + embed + heads + chain


__all__ = [
    "IGNORE_INDEX",
    "ByGPTForCausalLM",
    "ByGPTModel",
    "ChainedHeads",
    "block_mask_from_inputs",
    "causal_block_mask",
    "causal_lm_loss",
    "count_parameters",
    "expected_parameters",
    "positions_from_block_mask",
]
