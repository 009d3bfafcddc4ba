"""Model configuration and the named presets (``tiny`` for tests, ``6.5b``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bygpt_codec.constants import BLOCK, PAD_ID

# Presets. ``6.5b`` follows the numbers given for byGPT-JP (hidden 4096, 32
# layers, 32 heads, intermediate 11008, 2,880 blocks = 11,520 bytes of
# context); everything else is a Llama-style default, see docs/model.md.
# ``tiny`` is small enough for CPU tests but keeps grouped-query attention
# (4 query heads sharing 2 key/value heads) so that code path is exercised.
_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=176,
        max_position_embeddings=256,
    ),
    # A CPU-sized model for experiments (benchmarks/encoding_lm.py): about
    # 0.9M parameters, a 1,024-byte context.
    "small": dict(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=352,
        max_position_embeddings=256,
    ),
    "6.5b": dict(
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        intermediate_size=11008,
        max_position_embeddings=2880,
    ),
}


HEADS = ("independent", "chained")


@dataclass
class ByGPTConfig:
    """Hyper-parameters of :class:`~bygpt_model.ByGPTForCausalLM`.

    Lengths are counted in *blocks* (one block = ``bytes_per_block`` bytes =
    one sequence position) unless the name says bytes.
    """

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 176
    max_position_embeddings: int = 256
    vocab_size: int = 256
    bytes_per_block: int = BLOCK
    # Width of each per-slot byte embedding before the merge projection;
    # ``None`` means hidden_size // bytes_per_block, so the concatenation of
    # the slots is exactly hidden_size wide.
    byte_embedding_size: int | None = None
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    initializer_range: float = 0.02
    pad_token_id: int = PAD_ID
    # "independent": the card's K heads on one hidden state. "chained": head
    # k also sees bytes 0..k-1 of the block it predicts (see ChainedHeads).
    heads: str = "independent"
    # The byte encoding the model reads and writes (a bygpt_codec scheme):
    # generate keeps its output valid in it and stops at its code boundaries.
    scheme: str = "jpblock"

    def __post_init__(self) -> None:
        from bygpt_codec import SCHEMES

        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, not {self.scheme!r}")
        if self.heads not in HEADS:
            raise ValueError(f"heads must be one of {HEADS}, not {self.heads!r}")
        if self.byte_embedding_size is None:
            self.byte_embedding_size = self.hidden_size // self.bytes_per_block
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be divisible by num_key_value_heads")
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError("the head dimension must be even for rotary positions")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError("pad_token_id must be a byte value")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def max_length_bytes(self) -> int:
        """The context length in bytes (11,520 for ``6.5b``)."""
        return self.max_position_embeddings * self.bytes_per_block

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ByGPTConfig:
        """A named configuration, ``"tiny"``, ``"small"`` or ``"6.5b"``;
        keyword arguments override single fields."""
        key = name.lower()
        if key not in _PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(_PRESETS)}")
        return cls(**{**_PRESETS[key], **overrides})

    @staticmethod
    def preset_names() -> list[str]:
        return sorted(_PRESETS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ByGPTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ByGPTConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
