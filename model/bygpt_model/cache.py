"""A preallocated ("static") key/value cache.

Every tensor here is allocated once per ``generate`` call with its final
size, and the decode step only writes into it in place at a position held in
a device tensor. Nothing changes shape or address between steps, which is
what lets a CUDA graph capture one step and replay it for all later ones.
"""

from __future__ import annotations

import torch


class StaticKVCache:
    """Keys and values for ``num_layers`` layers, ``max_length`` positions.

    ``key_valid[b, j]`` says whether position ``j`` of row ``b`` holds a real
    block that later positions may attend to. Left padding stays ``False``,
    and so do positions not yet written, which makes the decode-time mask
    simply ``key_valid`` (no separate causal mask is needed when the query is
    the newest position).
    """

    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_kv_heads: int,
        max_length: int,
        head_dim: int,
        *,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        shape = (batch_size, num_kv_heads, max_length, head_dim)
        # Zeros, not torch.empty: masked positions get weight exactly 0 in the
        # softmax, and 0 * (uninitialised NaN) would still poison the output.
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.key_valid = torch.zeros(batch_size, max_length, dtype=torch.bool, device=device)
        self.max_length = max_length

    def update(
        self, layer: int, key: torch.Tensor, value: torch.Tensor, cache_position: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``key``/``value`` ([B, H, T, D]) at ``cache_position`` ([T],
        a device tensor) and return the whole cache of this layer."""
        k, v = self.keys[layer], self.values[layer]
        k.index_copy_(2, cache_position, key)
        v.index_copy_(2, cache_position, value)
        return k, v

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))
