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
        attn_mask: torch.Tensor,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            assert cache_position is not None
            k, v = cache.update(self.layer_idx, k, v, cache_position)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, enable_gqa=self.num_heads != self.num_kv_heads
        )
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
        attn_mask: torch.Tensor,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, attn_mask, cache, cache_position)
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
        attn_mask: torch.Tensor,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.embed(blocks)
        cos, sin = self.rotary(position_ids, x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin, attn_mask, cache, cache_position)
        return self.norm(x)


class ByGPTForCausalLM(nn.Module):
    """byGPT with K byte heads: head k predicts byte k of the *next* block.

    ``model(input_ids)`` returns logits of shape [B, N, K, 256];
    ``model.loss(input_ids, attention_mask)`` is the training loss and
    ``model.generate(...)`` the HF-style generation loop.
    """

    def __init__(self, config: ByGPTConfig) -> None:
        super().__init__()
        self.config = config
        self.model = ByGPTModel(config)
        self.lm_heads = nn.ModuleList(
            nn.Linear(config.hidden_size, config.vocab_size, bias=False) for _ in range(config.bytes_per_block)
        )
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

    # -- forward -----------------------------------------------------------

    def _blocks(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Check byte ids and view them as [B, N, K] blocks."""
        k = self.config.bytes_per_block
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, bytes], got shape {tuple(input_ids.shape)}")
        if input_ids.shape[1] % k:
            raise ValueError(f"row length {input_ids.shape[1]} is not a multiple of {k} bytes")
        if input_ids.numel() and not torch.compiler.is_compiling():
            lo, hi = int(input_ids.min()), int(input_ids.max())
            if lo < 0 or hi >= self.config.vocab_size:
                raise ValueError(f"byte ids must lie in 0..{self.config.vocab_size - 1}, got {lo}..{hi}")
        return input_ids.long().view(input_ids.shape[0], -1, k)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        # [B, T, hidden] -> [B, T, K, V]
        return torch.stack([head(hidden) for head in self.lm_heads], dim=-2)

    def forward_blocks(
        self,
        blocks: torch.Tensor,
        position_ids: torch.Tensor,
        attn_mask: torch.Tensor,
        cache: StaticKVCache | None = None,
        cache_position: torch.Tensor | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """The raw pass used by generation: no checks, explicit positions and
        mask, optional cache writes. Returns [B, T, K, V] logits, or [B, K, V]
        for the last position only with ``last_only`` (all generation needs;
        it skips the heads for the rest of a long prompt)."""
        hidden = self.model(blocks, position_ids, attn_mask, cache, cache_position)
        if last_only:
            return self._logits(hidden[:, -1])
        return self._logits(hidden)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [B, N, K, 256] for byte ids [B, L]; position n predicts
        block n + 1. See :func:`block_mask_from_inputs` for the mask."""
        blocks = self._blocks(input_ids)
        block_mask = block_mask_from_inputs(blocks, attention_mask, self.config.pad_token_id)
        if position_ids is None:
            position_ids = positions_from_block_mask(block_mask)
        return self.forward_blocks(blocks, position_ids, causal_block_mask(block_mask))

    def loss(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy over the K heads and all predicted blocks.

        A prediction counts when both the block it is made from and the
        block it predicts are real, so pad blocks (either side) are ignored.
        """
        blocks = self._blocks(input_ids)
        block_mask = block_mask_from_inputs(blocks, attention_mask, self.config.pad_token_id)
        logits = self.forward_blocks(blocks, positions_from_block_mask(block_mask), causal_block_mask(block_mask))
        pred, target = logits[:, :-1], blocks[:, 1:]
        valid = (block_mask[:, :-1] & block_mask[:, 1:]).unsqueeze(-1).expand_as(target)
        ce = F.cross_entropy(pred.reshape(-1, self.config.vocab_size).float(), target.reshape(-1), reduction="none")
        valid = valid.reshape(-1).float()
        return (ce * valid).sum() / valid.sum().clamp(min=1.0)

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
    return config.num_hidden_layers * per_layer + h + embed + heads


__all__ = [
    "ByGPTForCausalLM",
    "ByGPTModel",
    "block_mask_from_inputs",
    "causal_block_mask",
    "count_parameters",
    "expected_parameters",
    "positions_from_block_mask",
]
